"""Maps over the input plane: decision heatmaps (DIGEST §1) and estimate/error maps (§4)."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure


def _extent(box: tuple[float, float, float, float]) -> list[float]:
    return [box[0], box[1], box[2], box[3]]


def _points(ax: Axes, x: np.ndarray, y: np.ndarray, classes: bool, limit: int = 600) -> None:
    """Scatter up to `limit` data points, coloured by label."""
    idx = np.linspace(0, len(x) - 1, min(limit, len(x))).astype(int)
    cmap = "tab10" if classes else "coolwarm"
    ax.scatter(
        x[idx, 0],
        x[idx, 1],
        c=y[idx],
        cmap=cmap,
        s=7,
        edgecolors="white",
        linewidths=0.3,
        vmin=0 if classes else None,
        vmax=9 if classes else None,
    )


def _boundary(
    ax: Axes, x1: np.ndarray, x2: np.ndarray, truth: np.ndarray | None, levels: list[float]
) -> None:
    if truth is not None:
        ax.contour(x1, x2, truth, levels=levels, colors="red", linewidths=1.4, linestyles="--")


def decision_map(
    ax: Axes,
    x1: np.ndarray,
    x2: np.ndarray,
    probability: np.ndarray,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    truth: np.ndarray | None = None,
    title: str = "",
) -> object:
    """Binary: P(y=1) with viridis reversed (yellow = sure class 0, navy = sure class 1, as the
    §1 heatmaps show inside/outside). Multiclass: the winning class, shaded by confidence.
    `truth` (labels on the grid) draws the true boundary dashed red."""
    box = [x1[0], x1[-1], x2[0], x2[-1]]
    n_classes = probability.shape[-1]
    if n_classes == 2:
        image = ax.imshow(
            probability[..., 1],
            origin="lower",
            extent=box,
            cmap="viridis_r",
            vmin=0,
            vmax=1,
            aspect="auto",
            interpolation="nearest",
        )
        _boundary(ax, x1, x2, truth, [0.5])
    else:
        winner = probability.argmax(-1)
        colours = ListedColormap([f"C{k}" for k in range(n_classes)])
        image = ax.imshow(
            winner,
            origin="lower",
            extent=box,
            cmap=colours,
            vmin=-0.5,
            vmax=n_classes - 0.5,
            aspect="auto",
            interpolation="nearest",
        )
        ax.imshow(
            np.ones_like(winner),
            origin="lower",
            extent=box,
            cmap="gray",
            vmin=0,
            vmax=1,
            alpha=1 - (probability.max(-1) - 1 / n_classes) / (1 - 1 / n_classes),
            aspect="auto",
            interpolation="nearest",
        )
        _boundary(ax, x1, x2, truth, [k + 0.5 for k in range(n_classes - 1)])
    if x is not None and y is not None:
        _points(ax, x, y, classes=True)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title, xlim=box[:2], ylim=box[2:])
    return image


def decision_figure(x1, x2, probability, x, y, truth, title: str = "") -> Figure:
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    image = decision_map(ax, x1, x2, probability, x, y, truth, title=title)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("P(y = 1)" if probability.shape[-1] == 2 else "class")
    return fig


def regression_figure(x1, x2, estimate, x, y, truth=None, title: str = "") -> Figure:
    """The model's estimate, the ground truth and their difference over the plane (§4)."""
    box = [x1[0], x1[-1], x2[0], x2[-1]]
    panels = [("estimate", estimate, "viridis")]
    if truth is not None:
        panels += [
            ("ground truth", truth, "viridis"),
            ("estimate - truth", estimate - truth, "RdBu_r"),
        ]
    fig = Figure(figsize=(5.2 * len(panels), 4.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    lo = min(np.min(estimate), np.min(truth) if truth is not None else np.inf)
    hi = max(np.max(estimate), np.max(truth) if truth is not None else -np.inf)
    for ax, (name, values, cmap) in zip(axes, panels, strict=True):
        if cmap == "RdBu_r":
            span = float(np.max(np.abs(values))) or 1.0
            vmin, vmax = -span, span
        else:
            vmin, vmax = lo, hi
        image = ax.imshow(
            values,
            origin="lower",
            extent=box,
            cmap=cmap,
            vmin=vmin,
            vmax=vmax,
            aspect="auto",
            interpolation="nearest",
        )
        fig.colorbar(image, ax=ax, shrink=0.85)
        ax.set(xlabel="$x_1$", ylabel="$x_2$", title=name)
    if x is not None:
        axes[0].scatter(x[:, 0], x[:, 1], c="white", s=2, alpha=0.4)
    if title:
        fig.suptitle(title)
    return fig
