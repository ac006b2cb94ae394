"""An independent NumPy reference for the pruning study (DIGEST §3), written from the
definitions, not from `toynets.analysis.pruning`: ReLU nets with a softmax output as lists of
(W [fan_in, fan_out], b) pairs, float64 throughout.

- forward: h_{l+1} = relu(h_l W_l + b_l), logits z = h_L W_L + b_L; a removed unit's output is
  replaced by its mean over the training inputs (what bias compensation amounts to);
- the criteria's scores: activation std (ddof 0), mean |activation|, norm of the outgoing
  weights, and the layer's Shapley value in the game v(S) = -L(S) from the subset formula
  phi_i = sum_{S not containing i} |S|! (n - |S| - 1)! / n! (v(S + i) - v(S));
- the number of removed units: round-half-even of fraction x units, at most units - 1;
- the softmax cross-entropy and accuracy, parameter counts, and the kernel comparison (share
  of entries equal to the bit, median |shift| of the others, Pearson correlation).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

Params = list[tuple[np.ndarray, np.ndarray]]


def params_of(arrays, prefix: str = "") -> Params:
    """(W_i, b_i) pairs from arrays named `<prefix>W0`, `<prefix>b0`, ... (float64)."""
    pairs = []
    for i in itertools.count():
        if f"{prefix}W{i}" not in arrays:
            return pairs
        pairs.append(
            (np.asarray(arrays[f"{prefix}W{i}"], float), np.asarray(arrays[f"{prefix}b{i}"], float))
        )


def hidden(params: Params, x: np.ndarray, replaced: list[dict[int, float]] | None = None):
    """The hidden layers' outputs on x, units of `replaced[l]` set to the given values."""
    h, outs = np.asarray(x, float), []
    for layer, (W, b) in enumerate(params[:-1]):
        h = np.maximum(h @ W + b, 0.0)
        for unit, value in (replaced[layer] if replaced else {}).items():
            h[:, unit] = value
        outs.append(h)
    return outs


def logits(params: Params, x: np.ndarray, replaced=None, on: list[np.ndarray] | None = None):
    """z of the net on x; `replaced` as in `hidden`; `on[l]` multiplies layer l's outputs."""
    h = np.asarray(x, float)
    for layer, (W, b) in enumerate(params[:-1]):
        h = np.maximum(h @ W + b, 0.0)
        for unit, value in (replaced[layer] if replaced else {}).items():
            h[:, unit] = value
        if on is not None:
            h = h * on[layer]
    W, b = params[-1]
    return h @ W + b


def cross_entropy(z: np.ndarray, y: np.ndarray) -> float:
    """mean_n (log sum_c exp z_nc - z_{n, y_n})."""
    top = z.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_sum - z[np.arange(len(y)), y]))


def accuracy(z: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(z.argmax(axis=1) == y))


def n_removed(units: int, fraction: float) -> int:
    return min(round(fraction * units), units - 1)


def n_params(widths: list[int]) -> int:
    """Weights and biases of a dense net of these widths (inputs, hidden..., outputs)."""
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def scores(criterion: str, params: Params, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Each hidden layer's units scored by `criterion` (smallest removed first)."""
    outs = hidden(params, x)
    if criterion == "activation_std":
        return [np.sqrt(((h - h.mean(axis=0)) ** 2).mean(axis=0)) for h in outs]
    if criterion == "mean_abs_activation":
        return [np.abs(h).mean(axis=0) for h in outs]
    if criterion == "weight_norm":
        return [np.sqrt((W**2).sum(axis=1)) for W, _ in params[1:]]
    if criterion == "shapley":
        return [layer_shapley(params, x, y, layer) for layer in range(len(params) - 1)]
    raise ValueError(criterion)


def layer_shapley(params: Params, x: np.ndarray, y: np.ndarray, layer: int) -> np.ndarray:
    """phi_i over all subsets S of the layer's other units, v(S) = -L(only S on)."""
    n = params[layer][0].shape[1]
    widths = [W.shape[1] for W, _ in params[:-1]]

    def value(subset: tuple[int, ...]) -> float:
        on = [np.ones(w) for w in widths]
        on[layer] = np.isin(np.arange(n), subset).astype(float)
        return -cross_entropy(logits(params, x, on=on), y)

    values = {s: value(s) for size in range(n + 1) for s in itertools.combinations(range(n), size)}
    phi = np.zeros(n)
    for s, v in values.items():
        if len(s) == n:
            continue
        weight = math.factorial(len(s)) * math.factorial(n - len(s) - 1) / math.factorial(n)
        for i in set(range(n)) - set(s):
            phi[i] += weight * (values[tuple(sorted((*s, i)))] - v)
    return phi


def kernel_comparison(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(share of entries with a == b, median |b - a| of the others, corr(a, b))."""
    a, b = a.ravel(), b.ravel()
    same = a == b
    moved = np.abs(b - a)[~same]
    median = float(np.median(moved)) if moved.size else 0.0
    return float(same.mean()), median, float(np.corrcoef(a, b)[0, 1])
