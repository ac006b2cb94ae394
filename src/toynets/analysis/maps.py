"""Evaluating a net over a grid of the input plane (DIGEST §1 decision heatmaps, §4 estimates)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toynets.net import Net


@dataclass(frozen=True)
class Grid:
    """A `size` x `size` grid over box = (x1_min, x1_max, x2_min, x2_max).

    `points` is [size*size, d]: the first two inputs vary over the box, the others are held
    at `rest` (e.g. the training mean of the irrelevant features of DIGEST §5).
    """

    x1: np.ndarray  # [size]
    x2: np.ndarray  # [size]
    points: np.ndarray  # [size * size, d], row-major with x2 as the slow axis

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.x2), len(self.x1))

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (float(self.x1[0]), float(self.x1[-1]), float(self.x2[0]), float(self.x2[-1]))


def plane_grid(
    box: tuple[float, float, float, float], size: int, rest: np.ndarray | None = None
) -> Grid:
    """Grid points over the box; `rest` gives the values of inputs 3.. (default none)."""
    x1 = np.linspace(box[0], box[1], size)
    x2 = np.linspace(box[2], box[3], size)
    g1, g2 = np.meshgrid(x1, x2)
    plane = np.stack([g1.ravel(), g2.ravel()], axis=1)
    if rest is not None and len(rest):
        plane = np.concatenate([plane, np.broadcast_to(rest, (len(plane), len(rest)))], axis=1)
    return Grid(x1, x2, plane.astype(np.float32))


def default_box(
    domain: tuple[float, float, float, float], zoom: float = 2.0
) -> tuple[float, float, float, float]:
    """The data box scaled by `zoom` about its centre ([-1, 1]^2 -> [-2, 2]^2 for §1)."""
    c1, c2 = (domain[0] + domain[1]) / 2, (domain[2] + domain[3]) / 2
    h1, h2 = (domain[1] - domain[0]) / 2 * zoom, (domain[3] - domain[2]) / 2 * zoom
    return (c1 - h1, c1 + h1, c2 - h2, c2 + h2)


def output_map(net: Net, grid: Grid, masks: list[np.ndarray] | None = None) -> np.ndarray:
    """The net's output over the grid: [rows, cols, outputs] (probabilities or values);
    `masks[i]` multiplies hidden layer i (units removed where 0)."""
    out = net.predict(grid.points, masks)
    return out.reshape(*grid.shape, out.shape[-1])


def class_probability(net: Net, grid: Grid, masks: list[np.ndarray] | None = None) -> np.ndarray:
    """P(y = k | x) over the grid, [rows, cols, n_classes] (a sigmoid head gives 2 classes)."""
    out = output_map(net, grid, masks)
    if net.output_activation == "sigmoid":
        return np.concatenate([1.0 - out, out], axis=-1)
    return out
