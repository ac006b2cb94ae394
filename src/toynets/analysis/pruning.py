"""Pruning whole hidden units (DIGEST §3): which units to remove, and the smaller net.

Layer l computes y_j = f(sum_i x_i w_ij + b_j). Removing the units of hidden layer l that are
not in the kept set I deletes their columns of W_l and entries of b_l, and their rows of
W_{l+1}. With bias compensation (the source's method, used throughout §3) the next layer's
bias takes over what the removed units carried on average:

    b~_j = b_j + sum_{i not in I} xbar_i w_ij,

with xbar_i the mean activation of removed unit i over the training inputs. A removed unit
whose activation is constant therefore changes nothing, and in general the pruned net computes
exactly what the original computes with every removed unit's output replaced by its mean.
All means are taken in the original net, so pruning several layers at once is that
replacement in every layer together. Plain deletion (`compensate=False`) drops the units'
contribution altogether.

Criteria order each hidden layer's units, first removed first (ties keep the lower index):

- `random`: a uniformly random order (nested: a larger fraction removes a superset);
- `activation_std`: smallest standard deviation of the activation over the training inputs
  (§3's "nodes with the smallest standard deviation");
- `mean_abs_activation`: smallest mean |activation| (NNI's activation-mean ranking);
- `weight_norm`: smallest Euclidean norm of the unit's outgoing weights (its row of W_{l+1});
- `shapley`: smallest Shapley value in the game of the layer's units v(S) = -L(S), L the
  training loss with only the units of S on in that layer (the other layers all on): the
  loss reduction a unit brings, averaged over the orders in which units join (Shapley 1953).
  Exact from all 2^n coalitions when the layer has at most `exact_limit` units (the
  node-removal analysis, `toynets.analysis.node_removal.shapley`); beyond that, the unbiased
  estimate of Castro et al. (2009): the mean marginal gain over random permutations.

NumPy only (the exact Shapley sum is the node-removal analysis's `shapley`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toynets.net import Layer, Net, activate

CRITERIA = ("random", "activation_std", "mean_abs_activation", "weight_norm", "shapley")


def hidden_outputs(net: Net, x: np.ndarray) -> list[np.ndarray]:
    """The output a_{l+1} = f_l(a_l W_l + b_l) of every hidden layer on inputs x [n, d],
    each [n, units_l] (float64)."""
    a = x  # each layer computes in float64
    outputs = []
    for layer in net.layers[:-1]:
        a = layer(a)
        outputs.append(a)
    return outputs


def mean_activations(net: Net, x: np.ndarray) -> list[np.ndarray]:
    """xbar of every hidden unit over the inputs x: one [units_l] array per hidden layer."""
    return [a.mean(axis=0) for a in hidden_outputs(net, x)]


def unit_columns(layer: Layer, units: np.ndarray) -> np.ndarray:
    """The columns of W_l (entries of b_l) that belong to `units` (k per unit for maxout)."""
    return (units[:, None] * layer.k + np.arange(layer.k)).reshape(-1)


def prune(
    net: Net,
    removed: Sequence[Sequence[int]],
    means: Sequence[np.ndarray] | None = None,
) -> Net:
    """The net without the hidden units `removed[l]` of each hidden layer l.

    `means` (one [units_l] array per hidden layer, `mean_activations` of the original net on
    the training inputs) turns on the bias compensation b~_j = b_j + sum_{i removed} xbar_i
    w_ij; None deletes the units plainly. Every hidden layer keeps at least one unit.
    """
    hidden = net.hidden_sizes
    if len(removed) != len(hidden):
        raise ValueError(
            f"removed has {len(removed)} lists; the net has {len(hidden)} hidden layers"
        )
    layers = list(net.layers)
    for i, units in enumerate(removed):
        units = np.unique(np.asarray(units, int))
        if units.size and (units.min() < 0 or units.max() >= hidden[i]):
            raise ValueError(f"hidden layer {i} has units 0..{hidden[i] - 1}; got {units.tolist()}")
        if units.size >= hidden[i]:
            raise ValueError(f"hidden layer {i} would lose all its {hidden[i]} units")
        kept = np.setdiff1d(np.arange(hidden[i]), units)
        layer, after = layers[i], layers[i + 1]
        columns = unit_columns(layer, kept)
        bias = after.b
        if means is not None:  # float64 means: the sum in float64, then back to b's type
            bias = bias + np.asarray(means[i])[units] @ after.W[units]
        layers[i] = Layer(layer.W[:, columns], layer.b[columns], layer.activation, layer.k)
        layers[i + 1] = Layer(after.W[kept], bias.astype(after.b.dtype), after.activation, after.k)
    return Net(tuple(layers))


def n_params(net: Net) -> int:
    """Number of weights and biases."""
    return int(sum(layer.W.size + layer.b.size for layer in net.layers))


def order_by(scores: np.ndarray) -> np.ndarray:
    """Unit indices from the smallest score to the largest (ties: lower index first)."""
    return np.argsort(scores, kind="stable")


def activation_std(net: Net, x: np.ndarray) -> list[np.ndarray]:
    """sd_i = sqrt(mean_n (a_ni - abar_i)^2) of every hidden unit over the inputs x."""
    return [a.std(axis=0) for a in hidden_outputs(net, x)]


def mean_abs_activation(net: Net, x: np.ndarray) -> list[np.ndarray]:
    """mean_n |a_ni| of every hidden unit over the inputs x."""
    return [np.abs(a).mean(axis=0) for a in hidden_outputs(net, x)]


def weight_norm(net: Net) -> list[np.ndarray]:
    """||w_i.|| = sqrt(sum_j w_ij^2), the norm of each hidden unit's outgoing weights."""
    return [np.sqrt(np.sum(after.W.astype(np.float64) ** 2, axis=1)) for after in net.layers[1:]]


def permutation_masks(orders: np.ndarray) -> np.ndarray:
    """For each permutation (row of `orders`, [P, n]) the n + 1 coalitions met while its units
    join one by one: [P, n + 1, n] 0/1 masks, coalition t holding the first t units."""
    P, n = orders.shape
    rank = np.empty_like(orders)
    rank[np.arange(P)[:, None], orders] = np.arange(n)
    return (rank[:, None, :] < np.arange(n + 1)[None, :, None]).astype(np.float32)


def sampled_shapley(values: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """phi_i ~ mean over the permutations of v(units before i, and i) - v(units before i),
    from v of the coalitions of `permutation_masks(orders)` ([P, n + 1])."""
    gains = np.diff(np.asarray(values, np.float64), axis=1)  # [P, n]: the t-th unit's gain
    phi = np.zeros(orders.shape[1])
    np.add.at(phi, orders.reshape(-1), gains.reshape(-1))
    return phi / len(orders)


@dataclass(frozen=True)
class ShapleySettings:
    exact_limit: int = 12  # a layer of at most this many units: all 2^n coalitions
    permutations: int = 64  # otherwise: this many random orders
    points: int = 500  # the first this many training points score the coalitions
    seed: int = 0


def example_losses(output_activation: str, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Per-example loss from logits z [..., n, k] and targets y [n]: softmax cross-entropy
    log sum_c e^{z_c} - z_y; sigmoid cross-entropy log(1 + e^z) - y z (one logit); squared
    error (z - y)^2 (linear output)."""
    z = np.asarray(z, np.float64)
    if output_activation == "softmax":
        top = z.max(axis=-1, keepdims=True)
        log_norm = np.log(np.exp(z - top).sum(axis=-1)) + top[..., 0]
        index = np.broadcast_to(np.asarray(y, int)[..., None], (*z.shape[:-1], 1))
        picked = np.take_along_axis(z, index, axis=-1)[..., 0]
        return log_norm - picked
    z0 = z[..., 0]
    if output_activation == "sigmoid":
        return np.maximum(z0, 0) - z0 * y + np.log1p(np.exp(-np.abs(z0)))
    return (z0 - y) ** 2


def example_correct(output_activation: str, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """1.0 where the predicted class (argmax z; z > 0 for one logit) is y."""
    z = np.asarray(z)
    predicted = z.argmax(axis=-1) if output_activation == "softmax" else z[..., 0] > 0
    return (predicted == y).astype(np.float64)


def loss_and_accuracy(net: Net, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean loss of the net on (x, y) and its accuracy (NaN for a linear output)."""
    z = net.logits(x)
    loss = float(example_losses(net.output_activation, y, z).mean())
    if net.output_activation == "linear":
        return loss, float("nan")
    return loss, float(example_correct(net.output_activation, y, z).mean())


def layer_losses(
    net: Net, x: np.ndarray, y: np.ndarray, layer: int, local: np.ndarray, chunk: int = 64
) -> np.ndarray:
    """L(m) for masks `local` [M, units] of hidden layer `layer` (the other layers all on):
    the net's mean loss on (x, y) with that layer's outputs multiplied by m, [M]. The layers
    before it run once; the masked rest runs on `chunk` masks at a time (float32)."""
    a = np.asarray(hidden_outputs(net, x)[layer], np.float32)
    rest = net.layers[layer + 1 :]
    losses = np.empty(len(local))
    for start in range(0, len(local), chunk):
        h = a[None] * np.asarray(local[start : start + chunk], np.float32)[:, None, :]
        for after in rest[:-1]:
            h = activate(h @ after.W.astype(np.float32) + after.b, after.activation, after.k)
        z = h @ rest[-1].W.astype(np.float32) + rest[-1].b
        losses[start : start + chunk] = example_losses(net.output_activation, y, z).mean(axis=-1)
    return losses


def layer_shapley(
    net: Net, x: np.ndarray, y: np.ndarray, settings: ShapleySettings = ShapleySettings()
) -> list[np.ndarray]:
    """The Shapley value of every hidden unit in its layer's game v(S) = -L(S) (module doc):
    one [units_l] array per hidden layer, exact or sampled as `settings` say, on the first
    `settings.points` of the points (x, y)."""
    from toynets.analysis.node_removal import masks_of, shapley

    x, y = x[: settings.points], y[: settings.points]
    rng = np.random.default_rng(settings.seed)
    values = []
    for i, units in enumerate(net.hidden_sizes):
        if units <= settings.exact_limit:
            loss = layer_losses(net, x, y, i, masks_of(np.arange(1 << units), units))
            values.append(shapley(-loss))
            continue
        orders = np.stack([rng.permutation(units) for _ in range(settings.permutations)])
        loss = layer_losses(net, x, y, i, permutation_masks(orders).reshape(-1, units))
        values.append(sampled_shapley(-loss.reshape(len(orders), units + 1), orders))
    return values


def removal_order(
    criterion: str,
    net: Net,
    x: np.ndarray,
    y: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    shapley: ShapleySettings = ShapleySettings(),
) -> list[np.ndarray]:
    """Each hidden layer's units in the order `criterion` removes them (module doc): `x`, `y`
    the training data, `rng` the random order's generator."""
    if criterion == "random":
        if rng is None:
            raise ValueError("the random criterion needs a generator (rng)")
        return [rng.permutation(units) for units in net.hidden_sizes]
    if criterion == "activation_std":
        scores = activation_std(net, x)
    elif criterion == "mean_abs_activation":
        scores = mean_abs_activation(net, x)
    elif criterion == "weight_norm":
        scores = weight_norm(net)
    elif criterion == "shapley":
        if y is None:
            raise ValueError("the shapley criterion needs the training targets (y)")
        scores = layer_shapley(net, x, y, shapley)
    else:
        raise ValueError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
    return [order_by(s) for s in scores]


def n_removed(units: int, fraction: float) -> int:
    """round(fraction x units), at most units - 1 (a layer keeps one unit)."""
    return min(round(fraction * units), units - 1)


def removed_units(order: Sequence[np.ndarray], fractions: Sequence[float]) -> list[np.ndarray]:
    """The first `n_removed` units of each layer's order, for a fraction per hidden layer,
    sorted."""
    if len(order) != len(fractions):
        raise ValueError(f"{len(fractions)} fractions for {len(order)} hidden layers")
    return [np.sort(o[: n_removed(len(o), f)]) for o, f in zip(order, fractions, strict=True)]


def kept_units(sizes: Sequence[int], removed: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The complement of `removed` in each hidden layer, in order."""
    return [np.setdiff1d(np.arange(n), r) for n, r in zip(sizes, removed, strict=True)]


def kernel_between(W: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """W[rows][:, columns]: a full kernel cut down to the units a pruned net kept."""
    return np.asarray(W)[np.ix_(rows, columns)]


@dataclass(frozen=True)
class KernelComparison:
    """Two kernels of the same shape, entry by entry (§3's scatter)."""

    unchanged: float  # fraction of entries equal to the bit (the dashed diagonal)
    shift: np.ndarray  # b - a of every entry that differs
    correlation: float  # Pearson correlation of all entries


def compare_kernels(a: np.ndarray, b: np.ndarray) -> KernelComparison:
    """Entries a_ij, b_ij: the fraction exactly equal, the shifts b - a of the others, and the
    correlation (NaN when either kernel is constant)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"kernels of {a.size} and {b.size} entries cannot be compared")
    same = a == b
    constant = a.std() == 0 or b.std() == 0
    correlation = float("nan") if constant else float(np.corrcoef(a, b)[0, 1])
    return KernelComparison(float(same.mean()), (b - a)[~same], correlation)


def never_updated(initial: np.ndarray, final: np.ndarray) -> np.ndarray:
    """Boolean mask of the entries training left exactly at their initial value."""
    return np.asarray(initial) == np.asarray(final)
