"""Node removal (DIGEST §1): the loss of a net as a function of which hidden units are on.

A mask m in [0, 1]^N covers all hidden units of the net, layer after layer (N = sum of the
hidden widths); unit i is on when m_i = 1. For a test set (x, y) the masked loss is

    v(m) = mean_j loss(y_j, f(x_j; m)),

with f the net whose hidden activations are multiplied by their mask values (`Net.logits`).
Everything here is pure: a `Net` and arrays in, arrays out, evaluated in batched TensorFlow
calls (many masks per call, never one call per mask).

- `loss_and_grad`: v(m) and its gradient dv/dm for a batch of masks (Monte Carlo, §1).
- `enumerate_masks`: v and the accuracy for all 2^N masks, in memory-bounded chunks; for a
  single hidden layer the logits are linear in the mask, z(m) = m A + b with
  A[i, (j, k)] = h_i(x_j) W1[i, k], so a chunk of masks is one matrix product.
- `shapley`, `banzhaf`: exact values of every unit from the 2^N table (beyond the source).
- `hypercube_paths`: random start, random order, flip every unit once (§1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import tensorflow as tf

from toynets.model import tf_activate
from toynets.net import Net

HEAD_OF_ACTIVATION = {"softmax": "softmax", "sigmoid": "logit", "linear": "linear"}
Progress = Callable[[int], None]  # called with the number of masks just done


def n_units(net: Net) -> int:
    return sum(net.hidden_sizes)


def _constants(net: Net) -> list[tuple[tf.Tensor, tf.Tensor, str, int]]:
    """(W, b, activation, k) of every layer, W and b as float32 constants."""
    return [
        (
            tf.constant(layer.W, tf.float32),
            tf.constant(layer.b, tf.float32),
            layer.activation,
            layer.k,
        )
        for layer in net.layers
    ]


def _hidden_forward(layers: list, h: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
    """The output layer's input: every hidden layer of `layers` (`_constants`) applied to h
    [..., n, d], its units multiplied by their columns of masks [..., N] (layer after layer;
    masks broadcast against h's leading axes)."""
    start = 0
    for W, b, activation, k in layers[:-1]:
        units = W.shape[1] // k
        h = tf_activate(tf.matmul(h, W) + b, activation, k) * masks[..., start : start + units]
        start += units
    return h


def masked_logits(layers: list, x: tf.Tensor, masks: tf.Tensor) -> tf.Tensor:
    """Logits [M, n, out] of the net for M masks [M, N] (all hidden units, layer by layer)."""
    h = tf.broadcast_to(x[None], [tf.shape(masks)[0], tf.shape(x)[0], tf.shape(x)[1]])
    W, b, _, _ = layers[-1]
    return tf.matmul(_hidden_forward(layers, h, masks[:, None]), W) + b


def per_example_loss(head: str, y: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
    """Loss per example from logits z [..., out]: softmax CE, sigmoid CE or squared error."""
    if head == "softmax":
        labels = tf.broadcast_to(tf.cast(y, tf.int32), tf.shape(z)[:-1])
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, z)
    target = tf.broadcast_to(tf.cast(y, tf.float32), tf.shape(z)[:-1])
    if head == "logit":
        return tf.nn.sigmoid_cross_entropy_with_logits(target, z[..., 0])
    return tf.square(z[..., 0] - target)


def _correct(head: str, y: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
    if head == "softmax":
        predicted = tf.argmax(z, axis=-1, output_type=tf.int32)
    else:
        predicted = tf.cast(z[..., 0] > 0, tf.int32)
    return tf.cast(tf.equal(predicted, tf.cast(y, tf.int32)), tf.float32)


def mask_logits(net: Net, x: np.ndarray):
    """A TF function: masks [M, N] -> logits [M, n, out] on the points x [n, d].

    One hidden layer: the logits are linear in the mask, z(m) = m A + b with
    A[i, (j, k)] = h_i(x_j) W1[i, k], so M masks cost one [M, N] x [N, n*out] product. Deeper
    nets run the masked forward pass (`masked_logits`) on the whole batch.
    """
    if len(net.layers) == 2:
        hidden, out = net.layers
        h = hidden(x)  # [n, N]
        n_points, k = h.shape[0], out.W.shape[1]
        A = tf.constant((h.T[:, :, None] * out.W[:, None, :]).reshape(h.shape[1], -1), tf.float32)
        b = tf.constant(out.b, tf.float32)
        return lambda m: tf.reshape(tf.matmul(m, A), [tf.shape(m)[0], n_points, k]) + b
    layers, xt = _constants(net), tf.constant(x, tf.float32)
    return lambda m: masked_logits(layers, xt, m)


def _spec(net: Net) -> list[tf.TensorSpec]:
    return [tf.TensorSpec([None, n_units(net)], tf.float32)]


def _chunked(batch, masks: np.ndarray, chunk: int, progress: Progress | None) -> list:
    """batch(masks[s : s + chunk]) for every chunk; `progress(k)` after each, k masks done."""
    out = []
    for start in range(0, len(masks), chunk):
        part = masks[start : start + chunk]
        out.append(batch(tf.constant(part, tf.float32)))
        if progress is not None:
            progress(len(part))
    return out


def loss_and_grad(
    net: Net,
    x: np.ndarray,
    y: np.ndarray,
    masks: np.ndarray,
    chunk: int = 1000,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """v(m) [M] and dv/dm [M, N] for every mask, `chunk` masks per TensorFlow call.

    Each v(m_k) depends only on its own row m_k, so the gradient of sum_k v(m_k) with respect
    to the [M, N] mask matrix is the stack of the per-mask gradients. `progress(k)` is called
    after each chunk with the number of masks it held.
    """
    head, logits, yt = (
        HEAD_OF_ACTIVATION[net.output_activation],
        mask_logits(net, x),
        tf.constant(y),
    )

    @tf.function(input_signature=_spec(net))
    def batch(m: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(m)
            loss = tf.reduce_mean(per_example_loss(head, yt, logits(m)), 1)
        return loss, tape.gradient(loss, m)

    out = _chunked(batch, masks, chunk, progress)
    return np.concatenate([o[0].numpy() for o in out]), np.concatenate([o[1].numpy() for o in out])


def _loss_accuracy_fn(net: Net, x: np.ndarray, y: np.ndarray):
    """A compiled function masks [M, N] -> (v(m), accuracy(m)); XLA fuses the forward pass,
    the loss and the reductions."""
    logits = mask_logits(net, x)
    metrics = _metrics_of_logits(HEAD_OF_ACTIVATION[net.output_activation], y)
    return tf.function(lambda m: metrics(logits(m)), input_signature=_spec(net), jit_compile=True)


def loss_and_accuracy(
    net: Net,
    x: np.ndarray,
    y: np.ndarray,
    masks: np.ndarray,
    chunk: int = 4096,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """v(m) and the accuracy (NaN for regression) for every mask, no gradients."""
    out = _chunked(_loss_accuracy_fn(net, x, y), masks, chunk, progress)
    return np.concatenate([o[0].numpy() for o in out]), np.concatenate([o[1].numpy() for o in out])


def bernoulli_masks(n_masks: int, n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """n_masks masks of n units, each unit on with probability p, independently (§1)."""
    return (rng.random((n_masks, n)) < p).astype(np.float32)


def masks_of(indices: np.ndarray, n: int) -> np.ndarray:
    """The masks numbered `indices` (bit i of the number = unit i on), [len, n] float32."""
    return ((indices[:, None] >> np.arange(n)) & 1).astype(np.float32)


@dataclass(frozen=True)
class Enumeration:
    """v and the accuracy of all 2^N masks; mask number s has unit i on iff bit i of s is 1."""

    loss: np.ndarray  # [2^N]
    accuracy: np.ndarray  # [2^N] (NaN for regression)

    @property
    def n(self) -> int:
        return units_of(self.loss)

    @cached_property
    def sizes(self) -> np.ndarray:
        """Number of units on in each mask (popcount), computed once."""
        return popcount(np.arange(len(self.loss)), self.n)


def units_of(values: np.ndarray) -> int:
    """N for a table of 2^N values."""
    return len(values).bit_length() - 1


def popcount(indices: np.ndarray, n: int) -> np.ndarray:
    return ((indices[:, None] >> np.arange(n)) & 1).sum(1)


def enumerate_masks(
    net: Net,
    x: np.ndarray,
    y: np.ndarray,
    limit: int = 24,
    chunk: int = 1 << 12,
    progress: Progress | None = None,
) -> Enumeration:
    """The loss and accuracy of every one of the 2^N masks, about `chunk` masks per call.

    One hidden layer (logits linear in the mask): meet in the middle. With the units split
    into a low half (a units) and a high half, z(s) = Z_lo[s mod 2^a] + Z_hi[s div 2^a] + b,
    so a block of masks costs one addition per logit instead of N multiply-adds, fused with the
    loss by XLA. Two softmax classes reduce to one logit, z_1 - z_0 (same loss, same argmax).
    XLA writes the per-point loss and correctness before reducing them: 2 x chunk x n_test
    floats per call (33 MB for the §1 net at 4096 masks a call). Keeping them inside the L3
    cache halves the time against 16384 masks a call (measured: 2.5-2.9 s against 5.0 s for
    2^20 masks on 1000 points).
    `progress(k)` is called after each call with the number of masks it scored.
    Raises ValueError when N > limit.
    """
    n = n_units(net)
    if n > limit:
        raise ValueError(
            f"exact enumeration needs 2^{n} masks; the limit is 2^{limit} "
            "(study.exact_limit): use the Monte Carlo estimates for nets this wide"
        )
    total = 1 << n
    loss = np.empty(total, np.float32)
    accuracy = np.empty(total, np.float32)
    if len(net.layers) != 2:
        batch = _loss_accuracy_fn(net, x, y)
        for start in range(0, total, chunk):
            stop = min(start + chunk, total)
            batch_loss, batch_accuracy = batch(tf.constant(masks_of(np.arange(start, stop), n)))
            loss[start:stop], accuracy[start:stop] = batch_loss.numpy(), batch_accuracy.numpy()
            if progress is not None:
                progress(stop - start)
        return Enumeration(loss, accuracy)

    A, b, head = _linear_form(net, x)  # z(m) = m A + b, A [N, n_points, k]
    a = n // 2
    low = np.tensordot(masks_of(np.arange(1 << a), a), A[:a], axes=1)  # [2^a, n_points, k]
    high = np.tensordot(masks_of(np.arange(1 << (n - a)), n - a), A[a:], axes=1) + b
    metrics = _metrics_of_logits(head, y)
    low_t = tf.constant(low, tf.float32)

    @tf.function(
        input_signature=[tf.TensorSpec([None, *high.shape[1:]], tf.float32)], jit_compile=True
    )
    def block(high_rows: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        z = high_rows[:, None] + low_t[None]  # [c, 2^a, n_points, k]
        flat = tf.reshape(z, [-1, *low.shape[1:]])
        return metrics(flat)

    rows = max(1, chunk >> a)
    for start in range(0, 1 << (n - a), rows):
        stop = min(start + rows, 1 << (n - a))
        batch_loss, batch_accuracy = block(tf.constant(high[start:stop], tf.float32))
        loss[start << a : stop << a] = batch_loss.numpy()
        accuracy[start << a : stop << a] = batch_accuracy.numpy()
        if progress is not None:
            progress((stop - start) << a)
    return Enumeration(loss, accuracy)


def _linear_form(net: Net, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """One hidden layer: A [N, n, k], b [k] and the head with z(m) = sum_i m_i A_i + b.
    A two-class softmax becomes one logit z_1 - z_0 (softmax CE = sigmoid CE of it)."""
    hidden, out = net.layers
    h = hidden(x)  # [n, N]
    W, b = out.W.astype(np.float64), out.b.astype(np.float64)
    head = HEAD_OF_ACTIVATION[net.output_activation]
    if head == "softmax" and W.shape[1] == 2:
        W, b, head = W[:, 1:] - W[:, :1], b[1:] - b[:1], "logit"
    return h.T[:, :, None] * W[:, None, :], b, head


def _metrics_of_logits(head: str, y: np.ndarray):
    """logits [M, n, k] -> (mean loss [M], accuracy [M], NaN for regression)."""
    yt = tf.constant(y)

    def metrics(z: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        loss = tf.reduce_mean(per_example_loss(head, yt, z), 1)
        if head == "linear":
            return loss, loss * np.nan
        return loss, tf.reduce_mean(_correct(head, yt, z), 1)

    return metrics


def _subset_weights(n: int) -> np.ndarray:
    """Shapley weight of a coalition of size s not containing i: s! (n - s - 1)! / n!."""
    return np.array(
        [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]
    )


def marginal_contributions(values: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
    """For every coalition S without unit i: (S, v(S + i) - v(S))."""
    n = units_of(values)
    without = np.arange(1 << n)
    without = without[((without >> i) & 1) == 0]
    return without, values[without | (1 << i)].astype(np.float64) - values[without]


def shapley(values: np.ndarray) -> np.ndarray:
    """phi_i = sum_{S not containing i} |S|! (N - |S| - 1)! / N! [v(S + i) - v(S)].

    Shapley (1953). Efficiency: sum_i phi_i = v(all on) - v(all off).
    """
    n = units_of(values)
    weights = _subset_weights(n)
    phi = np.empty(n)
    for i in range(n):
        coalitions, gain = marginal_contributions(values, i)
        phi[i] = np.sum(weights[popcount(coalitions, n)] * gain)
    return phi


def banzhaf(values: np.ndarray) -> np.ndarray:
    """beta_i = 2^-(N-1) sum_{S not containing i} [v(S + i) - v(S)] (Banzhaf 1965)."""
    n = units_of(values)
    return np.array([marginal_contributions(values, i)[1].mean() for i in range(n)])


def exact_distribution_weights(sizes: np.ndarray, n: int, p: float) -> np.ndarray:
    """P(mask) when every unit is on with probability p: p^k (1 - p)^(N - k), k units on."""
    return p**sizes * (1.0 - p) ** (n - sizes)


def expected_distinct_masks(n: int, p: float, draws: int) -> tuple[float, float]:
    """Mean and std of the number D of distinct masks among `draws` independent masks with
    every unit on with probability p (§1: 952 distinct of 1000 at p = 0.75, N = 20).

    A mask m of k units has probability P_k = p^k (1 - p)^(N - k) and is missing from the
    draws with probability a_m = (1 - P_m)^T; a pair m != m' is missing with probability
    (1 - P_m - P_m')^T. With D = sum_m (1 - A_m), A_m the indicator that m is missing:
    E[D] = sum_m (1 - a_m) and Var D = sum_m a_m (1 - a_m) + sum_{m != m'} [(1 - P_m - P_m')^T
    - a_m a_m'], summed over the C(N, k) masks of each size k."""
    k = np.arange(n + 1)
    count = np.array([math.comb(n, int(i)) for i in k], np.float64)
    prob = p**k * (1.0 - p) ** (n - k)
    missing = np.exp(draws * np.log1p(-prob))
    both = prob[:, None] + prob[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):  # both >= 1: never both missing
        both_missing = np.where(both < 1.0, np.exp(draws * np.log1p(-both)), 0.0)
    mean = float(np.sum(count * (1.0 - missing)))
    pairs = np.outer(count, count) - np.diag(count)  # ordered pairs of distinct masks
    covariance = both_missing - np.outer(missing, missing)
    variance = float(np.sum(count * missing * (1.0 - missing)) + np.sum(pairs * covariance))
    return mean, math.sqrt(max(variance, 0.0))


def best_and_worst(enumeration: Enumeration) -> tuple[np.ndarray, np.ndarray]:
    """For each size k = 0..N, the mask numbers with the lowest and the highest loss."""
    sizes = enumeration.sizes
    best, worst = np.empty(enumeration.n + 1, np.int64), np.empty(enumeration.n + 1, np.int64)
    for k in range(enumeration.n + 1):
        members = np.flatnonzero(sizes == k)
        losses = enumeration.loss[members]
        best[k], worst[k] = members[np.argmin(losses)], members[np.argmax(losses)]
    return best, worst


def hypercube_paths(n_paths: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Masks along random paths [n_paths, N+1, N]: a Bernoulli(0.5) start, then the units
    flipped one at a time in a random order until every unit is flipped (§1)."""
    start = rng.random((n_paths, n)) < 0.5
    order = np.argsort(rng.random((n_paths, n)), axis=1)
    flips = np.zeros((n_paths, n + 1, n), bool)
    for t in range(1, n + 1):
        flips[:, t] = flips[:, t - 1]
        flips[np.arange(n_paths), t, order[:, t - 1]] = True
    return (start[:, None, :] ^ flips).astype(np.float32)


def path_covariances(log_loss: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (N+1) x (N+1) covariance of log losses along the paths, and the covariance of the
    start (resp. the end) with the mask d flips away, d = 0..N (equal by path reversal)."""
    cov = np.cov(log_loss, rowvar=False)
    n = cov.shape[0] - 1
    return cov, cov[0, :].copy(), cov[n, ::-1].copy()


def decorrelation_distance(log_loss: np.ndarray, z: float = 1.96) -> int:
    """The number of flips d after which a path's start no longer predicts its log loss: the
    first d >= 1 at which the correlation r_d = (corr(start, d flips later) + corr(end, d flips
    earlier)) / 2 drops below z / sqrt(n_paths), the 5 % significance level of a correlation
    at z = 1.96 (§1: "insignificant after 5-6 flips"). N + 1 if it never does."""
    n_paths, steps = log_loss.shape
    centred = log_loss - log_loss.mean(0)
    sd = np.sqrt((centred**2).mean(0))
    corr = (centred.T @ centred / n_paths) / np.outer(sd, sd)
    from_start, from_end = corr[0, :], corr[steps - 1, ::-1]
    r = (from_start + from_end) / 2
    below = np.flatnonzero(r[1:] < z / math.sqrt(n_paths))
    return int(below[0] + 1) if below.size else steps


def moments(values: np.ndarray) -> dict[str, float]:
    """Mean, std, skewness and excess kurtosis of a sample (population moments, ddof 0):
    with m_k = mean((x - mean)^k), skewness = m_3 / m_2^(3/2) (> 0: a long right tail, §1's
    loss) and kurtosis = m_4 / m_2^2 - 3 (0 for a normal; > 0: heavier tails, §1's gradient)."""
    x = np.asarray(values, np.float64).ravel()
    centred = x - x.mean()
    m2, m3, m4 = ((centred**k).mean() for k in (2, 3, 4))
    with np.errstate(invalid="ignore"):  # a constant sample: 0 / 0, no skewness or kurtosis
        skew, kurtosis = m3 / m2**1.5, m4 / m2**2 - 3.0
    return {
        "mean": float(x.mean()),
        "std": float(np.sqrt(m2)),
        "skew": float(skew),
        "kurtosis": float(kurtosis),
    }


def density_grid(
    samples: np.ndarray, width: float, reach: float = 4.0, per_width: float = 4.0
) -> np.ndarray:
    """Where to evaluate a density smoothed with a Gaussian of `width`: from min(samples) -
    reach x width to max(samples) + reach x width, spaced width / per_width (at most 4000
    points). At both ends every kernel is below exp(-reach^2 / 2) of its peak (3e-4 at
    reach 4), so no tail is cut; the spacing resolves the kernel's shape."""
    values = np.asarray(samples, np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.linspace(-reach * width, reach * width, 101)
    lo, hi = values.min() - reach * width, values.max() + reach * width
    points = int(np.clip(np.ceil((hi - lo) / (width / per_width)) + 1, 101, 4000))
    return np.linspace(lo, hi, points)


def gaussian_smoothed_pdf(
    samples: np.ndarray, grid: np.ndarray, width: float, weights: np.ndarray | None = None
) -> np.ndarray:
    """sum_k w_k N(grid; samples_k, width^2) / sum_k w_k: the PDF smoothed by a Gaussian
    kernel of the given width (0.03 in §1).

    On an evenly spaced grid with many samples (e.g. all 2^20 masks) the sum is computed on a
    lattice of spacing d <= width / 20 that holds every grid point: each sample's weight is
    split between its two lattice neighbours in proportion to closeness (linear binning), and
    the lattice is convolved with the kernel sampled out to 8 widths. Linear binning moves no
    mass's mean; the error is at most d^2 / (8 width^2) <= 3e-4 of a kernel's peak, and the
    cut tails are below exp(-32). Otherwise (a few samples, an uneven grid) the sum is
    evaluated as written.
    """
    samples = np.asarray(samples, np.float64).ravel()
    w = np.ones(len(samples)) if weights is None else np.asarray(weights, np.float64).ravel()
    grid = np.asarray(grid, np.float64)
    norm = w.sum() * width * math.sqrt(2 * math.pi)
    if len(grid) > 2 and len(samples) > 2000 and _evenly_spaced(grid):
        return _lattice_sum(samples, w, grid, width) / norm
    density = np.zeros(len(grid))
    for start in range(0, len(samples), 4096):
        s, ws = samples[start : start + 4096], w[start : start + 4096]
        density += (ws[:, None] * np.exp(-0.5 * ((grid[None] - s[:, None]) / width) ** 2)).sum(0)
    return density / norm


def _evenly_spaced(grid: np.ndarray) -> bool:
    steps = np.diff(grid)
    return bool(steps[0] > 0 and np.allclose(steps, steps[0], rtol=1e-6, atol=0.0))


def _lattice_sum(samples: np.ndarray, w: np.ndarray, grid: np.ndarray, width: float) -> np.ndarray:
    """sum_k w_k exp(-(grid - s_k)^2 / (2 width^2)) by linear binning onto a lattice of
    spacing step / m (m = ceil(20 step / width)) and one convolution (see
    `gaussian_smoothed_pdf`)."""
    step = grid[1] - grid[0]
    m = max(1, math.ceil(20 * step / width))
    d = step / m
    reach = math.ceil(8 * width / d)  # lattice points on each side of a kernel's centre
    origin = grid[0] - reach * d
    size = (len(grid) - 1) * m + 1 + 2 * reach
    position = (samples - origin) / d
    keep = (position >= 0) & (position <= size - 1)  # farther ones add < exp(-32) on the grid
    position, w = position[keep], w[keep]
    left = np.minimum(np.floor(position).astype(np.int64), size - 2)
    right_share = position - left
    lattice = np.bincount(left, w * (1 - right_share), minlength=size)
    lattice += np.bincount(left + 1, w * right_share, minlength=size)
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) * d / width) ** 2)
    smoothed = np.convolve(lattice, kernel, mode="same")
    return smoothed[reach : reach + (len(grid) - 1) * m + 1 : m]


def per_point_gradient(net: Net, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every input point (full net, all units on): its loss and d loss / d m_i [n, N]."""
    layers, head = _constants(net), HEAD_OF_ACTIVATION[net.output_activation]
    masks = tf.ones([len(x), n_units(net)])
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(masks)  # point j has its own mask row, so row j of the gradient is its own
        W, b, _, _ = layers[-1]
        z = tf.matmul(_hidden_forward(layers, xt, masks), W) + b
        loss = per_example_loss(head, tf.constant(y), z)
    return loss.numpy(), tape.gradient(loss, masks).numpy()
