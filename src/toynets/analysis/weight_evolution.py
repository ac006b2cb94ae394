"""Weights over training (DIGEST §5, after Monteiro, "Weight evolution and mass shuffling in
a shallow NN"): trajectories of single weights, the mean of the rest, each layer's norm and
how far it moves. Snapshots in, arrays out: `W` is one layer's kernel over the snapshots,
[T, fan_in, fan_out], as in `weights/snapshots.npz`.

The source follows W[0] and W[1] (the kernel of x1 and x2 in a logistic regression on 15
inputs) against "the average of the rest", computed as the mean over all 15 entries with the
two chosen ones set to 0: the sum of the other 13 divided by 15, 13/15 of their mean.
`mean_of_rest` is the true mean; `source_average_of_rest` is the source's number, kept to
show the difference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def trajectories(W: np.ndarray) -> np.ndarray:
    """Every entry of a kernel over the snapshots: [T, fan_in * fan_out], entry (i, j) (input
    i, unit j) in column i * fan_out + j (row-major, as `W[t].ravel()`)."""
    return W.reshape(len(W), -1)  # pragma: no mutate (NumPy reads any negative size as -1)


def _rest(n: int, chosen: Sequence[int]) -> np.ndarray:
    chosen = [int(c) for c in chosen]
    bad = [c for c in chosen if not 0 <= c < n]
    if bad:
        raise ValueError(
            f"chosen entries {bad} are not among the kernel's {n} entries (0..{n - 1})"
        )
    rest = np.setdiff1d(np.arange(n), chosen)
    if rest.size == 0:
        raise ValueError("every entry is chosen: there is no rest to average")
    return rest


def mean_of_rest(paths: np.ndarray, chosen: Sequence[int]) -> np.ndarray:
    """(1 / (n - c)) sum_{i not chosen} w_i(t): the mean of the entries not chosen, [T], for
    `paths` [T, n] (`trajectories`) and c distinct chosen columns; summed in float64."""
    return paths[:, _rest(paths.shape[1], chosen)].mean(axis=1, dtype=np.float64)


def source_average_of_rest(paths: np.ndarray, chosen: Sequence[int]) -> np.ndarray:
    """The source's "average of rest": the chosen entries set to 0, then the mean over all n,
    i.e. (1 / n) sum_{i not chosen} w_i(t) = (n - c) / n x `mean_of_rest` (13/15 of it there)."""
    n = paths.shape[1]
    return paths[:, _rest(n, chosen)].sum(axis=1, dtype=np.float64) / n


def symmetric_limit(W: np.ndarray) -> float:
    """max |w| over every entry of every snapshot: the colour range [-limit, limit] of a movie,
    symmetric about 0 and fixed over its frames (1.0 for a kernel that stays 0)."""
    if W.size == 0:
        return 1.0
    limit = float(np.max(np.abs(W)))
    return limit if limit > 0 else 1.0


def norms(W: np.ndarray) -> np.ndarray:
    """||W(t)||_F = sqrt(sum_ij w_ij(t)^2) at every snapshot, [T]."""
    squares = trajectories(W).astype(np.float64) ** 2  # pragma: no mutate (astype(None) too)
    return np.sqrt(np.sum(squares, axis=1))


def update_sizes(W: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """||W(t_k) - W(t_{k-1})||_F / (t_k - t_{k-1}): how far the kernel moved per step between
    consecutive snapshots, [T - 1] (at steps t_1 .. t_{T-1}; a lower bound of the mean step
    length, equal to it when every step moves the same way)."""
    paths = trajectories(W).astype(np.float64)  # pragma: no mutate (astype(None) is float64 too)
    moved = np.sqrt(np.sum(np.diff(paths, axis=0) ** 2, axis=1))
    return moved / np.diff(np.asarray(steps))


def relative_update_sizes(W: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """`update_sizes` / ||W(t_{k-1})||_F: the step per unit of the kernel's size, [T - 1]
    (inf where the kernel was 0)."""
    before = norms(W)[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before > 0, update_sizes(W, steps) / before, np.inf)


def frame_indices(n: int, limit: int | None) -> np.ndarray:
    """The snapshots a movie shows: all n, or `limit` of them evenly spaced with the first
    and the last (`limit` >= 2)."""
    if limit is None:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, min(limit, n))).astype(int))
