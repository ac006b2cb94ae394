"""An independent NumPy reference for the weight-evolution ("mass shuffling") study, written from
the definitions in the source notebook (004) and its digest, not from the package; float64.

- logistic regression: the mean sigmoid cross-entropy on logits and the accuracy;
- the weight trajectories: the true mean of the weights not singled out, and the source
  notebook's quantity (chosen columns zeroed, then divided by all n);
- Frobenius norms of weight snapshots and the size of the update per training step;
- reading a matrix back from an image drawn with matplotlib's "hot" colormap;
- the moves of a random walk on a lattice of step eta.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np


def _logits(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """z = x @ W + b, one logit per point: x [n, d], W [d, 1], b [1] -> z [n]."""
    W = np.asarray(W, dtype=np.float64).reshape(-1, 1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    x = np.asarray(x, dtype=np.float64)
    return (x @ W + b)[:, 0]


def sigmoid_cross_entropy(W: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Mean sigmoid cross-entropy of a logistic regression, in float64.

    z_i = x_i . W + b; cost = (1/n) * sum_i [max(z_i, 0) - z_i * y_i + log(1 + exp(-|z_i|))],
    the numerically stable form of -y log(sigmoid(z)) - (1 - y) log(1 - sigmoid(z)).
    """
    z = _logits(W, b, x)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    total = 0.0
    for zi, yi in zip(z, y, strict=True):
        total += max(zi, 0.0) - zi * yi + math.log1p(math.exp(-abs(zi)))
    return total / len(z)


def accuracy(W: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of points classified correctly: predicted 1 iff sigmoid(z) >= 0.5, i.e. z >= 0;
    correct iff (z_i >= 0) == (y_i == 1)."""
    z = _logits(W, b, x)
    y = np.asarray(y).reshape(-1)
    correct = 0
    for zi, yi in zip(z, y, strict=True):
        if (zi >= 0) == (yi == 1):
            correct += 1
    return correct / len(z)


def mean_of_rest(paths: np.ndarray, chosen: list[int]) -> np.ndarray:
    """True mean of the weights not chosen: paths [T, n] -> [T], where
    out[t] = (sum over j not in chosen of paths[t, j]) / (number of such j)."""
    paths = np.asarray(paths, dtype=np.float64)
    T, n = paths.shape
    chosen_set = {int(c) for c in chosen}
    total = np.zeros(T)
    count = 0
    for j in range(n):
        if j in chosen_set:
            continue
        total += paths[:, j]
        count += 1
    return total / count


def source_average_of_rest(paths: np.ndarray, chosen: list[int]) -> np.ndarray:
    """The source notebook's "average of rest": copy paths [T, n], set the chosen columns to 0,
    then take the mean over all n columns, i.e. out[t] = (sum over j not in chosen) / n."""
    copy = np.array(paths, dtype=np.float64, copy=True)
    for c in chosen:
        copy[:, c] = 0.0
    return np.mean(copy, axis=1)


def frobenius_norms(W: np.ndarray) -> np.ndarray:
    """||W[t]||_F = sqrt(sum_{i, j} W[t, i, j]^2) for each snapshot t of W [T, a, b] -> [T]."""
    W = np.asarray(W, dtype=np.float64)
    out = np.zeros(W.shape[0])
    for t in range(W.shape[0]):
        out[t] = math.sqrt(float(np.sum(W[t] ** 2)))
    return out


def update_per_step(W: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Size of the update per training step between snapshots: W [T, a, b], steps [T] -> [T - 1],
    out[k - 1] = ||W[k] - W[k - 1]||_F / (steps[k] - steps[k - 1]) for k = 1 .. T - 1."""
    W = np.asarray(W, dtype=np.float64)
    steps = np.asarray(steps, dtype=np.float64)
    out = np.zeros(W.shape[0] - 1)
    for k in range(1, W.shape[0]):
        norm = math.sqrt(float(np.sum((W[k] - W[k - 1]) ** 2)))
        out[k - 1] = norm / (steps[k] - steps[k - 1])
    return out


def decode_hot_frame(
    rgb: np.ndarray,
    box: tuple[int, int, int, int],
    shape: tuple[int, int],
    limit: float,
) -> np.ndarray:
    """Read a matrix back from an RGB image [height, width, 3] (uint8) of it drawn with the "hot"
    colormap over [-limit, limit].

    box = (left, top, right, bottom), right and bottom exclusive, bounds the drawn matrix of
    shape = (rows, columns), cells filling it uniformly (row 0 at the top, column 0 at the left).
    Cell (i, j) is read at the pixel
        x = floor(left + (j + 0.5) * (right - left) / columns),
        y = floor(top + (i + 0.5) * (bottom - top) / rows);
    its colour is matched to the nearest (Euclidean, RGB in 0..255) of hot(t_k) * 255 for
    t_k = k / 4095, k = 0 .. 4095 (the first such k on ties), and the value is
    -limit + 2 * limit * t_k. Returns float [rows, columns].
    """
    left, top, right, bottom = box
    rows, columns = shape
    ts = np.linspace(0.0, 1.0, 4096)
    palette = matplotlib.colormaps["hot"](ts)[:, :3] * 255.0
    image = np.asarray(rgb, dtype=np.float64)
    cell_w = (right - left) / columns
    cell_h = (bottom - top) / rows
    out = np.zeros((rows, columns))
    for i in range(rows):
        y = math.floor(top + (i + 0.5) * cell_h)
        for j in range(columns):
            x = math.floor(left + (j + 0.5) * cell_w)
            colour = image[y, x, :3]
            distances = np.sqrt(np.sum((palette - colour) ** 2, axis=1))
            k = int(np.argmin(distances))
            out[i, j] = -limit + 2.0 * limit * ts[k]
    return out


def moves(before: np.ndarray, after: np.ndarray, eta: float) -> np.ndarray:
    """The lattice moves of a random walk: m = round((after - before) / eta), an integer array.

    Raises AssertionError if any |(after - before) / eta - m| > 1e-3, i.e. a change that is not
    an integer multiple of eta.
    """
    ratio = (np.asarray(after, dtype=np.float64) - np.asarray(before, dtype=np.float64)) / eta
    rounded = np.rint(ratio)
    worst = float(np.max(np.abs(ratio - rounded))) if ratio.size else 0.0
    assert worst <= 1e-3, f"a change is not an integer multiple of eta (off by {worst} steps)"
    return rounded.astype(np.int64)
