"""Maps over the input plane: decision heatmaps (DIGEST §1) and estimate/error maps (§4)."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator

from toynets.plots import style


def box_of(x1: np.ndarray, x2: np.ndarray) -> list[float]:
    """The extent [x1_min, x1_max, x2_min, x2_max] of a grid."""
    return [float(x1[0]), float(x1[-1]), float(x2[0]), float(x2[-1])]


def decision_map(
    ax: Axes,
    x1: np.ndarray,
    x2: np.ndarray,
    probability: np.ndarray,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    truth: np.ndarray | None = None,
    title: str = "",
    legend: bool = True,
) -> AxesImage:
    """Binary: P(class 1) with viridis reversed (yellow = sure class 0, navy = sure class 1,
    as the §1 heatmaps show inside/outside). More classes: the winning class in the class
    palette, faded towards white as the confidence drops to chance. `truth` (labels on the
    grid) draws the true boundary above the points (`style.BOUNDARY`); x, y the data points."""
    box = box_of(x1, x2)
    n_classes = probability.shape[-1]
    if n_classes == 2:
        image = ax.imshow(
            probability[..., 1],
            origin="lower",
            extent=box,
            cmap="viridis_r",
            vmin=0,
            vmax=1,
            aspect="equal",
            interpolation="bilinear",
        )
    else:
        winner = probability.argmax(-1)
        image = ax.imshow(
            winner,
            origin="lower",
            extent=box,
            cmap=style.class_colours(n_classes),
            vmin=-0.5,
            vmax=n_classes - 0.5,
            aspect="equal",
            interpolation="nearest",
        )
        confidence = (probability.max(-1) - 1 / n_classes) / (1 - 1 / n_classes)
        ax.imshow(
            np.ones_like(winner),
            origin="lower",
            extent=box,
            cmap="gray",
            vmin=0,
            vmax=1,
            alpha=np.clip(0.85 * (1 - confidence), 0, 1),
            aspect="equal",
            interpolation="nearest",
        )
    if x is not None and y is not None:
        style.class_points(ax, x, y, n_classes)
    if truth is not None:
        style.boundary(ax, x1, x2, truth)
    if legend and (x is not None or truth is not None):
        handles = ax.get_legend_handles_labels()[0]
        if truth is not None:
            handles.append(style.boundary_handle())
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.13),
            ncols=len(handles),
            markerscale=2.0,
            handletextpad=0.3,
            frameon=False,
        )
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title, xlim=box[:2], ylim=box[2:])
    return image


@style.house_style
def decision_figure(
    x1: np.ndarray,
    x2: np.ndarray,
    probability: np.ndarray,
    x: np.ndarray | None,
    y: np.ndarray | None,
    truth: np.ndarray | None,
    title: str = "",
) -> Figure:
    """The decision map of a classifier with its test points and the true boundary. Laid out
    by hand (`style.panel_grid`, room below for the legend): every job of a sweep draws it."""
    fig, axes, cax = style.panel_grid(
        1, 1, (4.0, 3.7), colorbar=True, margins=(0.8, 0.2, 0.95, 0.32 if title else 0.12)
    )
    ax = axes[0]
    image = decision_map(ax, x1, x2, probability, x, y, truth)
    ax.xaxis.set_major_locator(MaxNLocator(5))
    n_classes = probability.shape[-1]
    bar = fig.colorbar(image, cax=cax)
    if n_classes == 2:
        bar.set_label("P(class 1)")
    else:
        bar.set_ticks(range(n_classes))
        bar.set_label("winning class (faded: less sure)")
    what = "test points" if x is not None else ""
    ax.set_title(f"decision map{' with ' + what if what else ''}")
    if title:
        style.suptitle(fig, title)
    return fig


@style.house_style
def regression_figure(
    x1: np.ndarray,
    x2: np.ndarray,
    estimate: np.ndarray,
    x: np.ndarray | None,
    y: np.ndarray | None,
    truth: np.ndarray | None = None,
    title: str = "",
) -> Figure:
    """The model's estimate, the ground truth and their difference over the plane (§4); the
    estimate and the truth share one colour scale, the error is centred on 0."""
    box = box_of(x1, x2)
    panels = [("model estimate", estimate, "viridis", "output")]
    if truth is not None:
        panels += [
            ("ground truth", truth, "viridis", "output"),
            ("error: estimate - truth", estimate - truth, style.DIVERGING, "error"),
        ]
    fig = Figure(figsize=(min(style.WIDE, 4.4 * len(panels)), 3.9))
    axes = fig.subplots(1, len(panels), squeeze=False, sharex=True, sharey=True)[0]
    lo = min(np.min(estimate), np.min(truth) if truth is not None else np.inf)
    hi = max(np.max(estimate), np.max(truth) if truth is not None else -np.inf)
    for k, (ax, (name, values, cmap, label)) in enumerate(zip(axes, panels, strict=True)):
        if cmap == style.DIVERGING:
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
            aspect="equal",
            interpolation="bilinear",
        )
        fig.colorbar(image, ax=ax, shrink=0.8).set_label(label)
        ax.set(xlabel="$x_1$", ylabel="$x_2$" if k == 0 else "", title=name)
    if x is not None:
        size, _ = style.point_size(len(x))
        idx = np.linspace(0, len(x) - 1, min(400, len(x))).astype(int)
        axes[0].scatter(
            x[idx, 0],
            x[idx, 1],
            s=size * 0.5,
            facecolors="none",
            edgecolors="white",
            linewidths=0.5,
            alpha=0.5,
            label=f"{len(idx)} of {len(x)} training points",
        )
        axes[0].legend(loc="upper right", markerscale=2.0)
    if title:
        fig.suptitle(title)
    return fig
