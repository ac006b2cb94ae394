"""Figures of the pruning study (DIGEST §3), drawn from the study's arrays: decision maps
during training (GIF frames), kernels of two nets against each other, and accuracy against
the pruned fraction."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from toynets.plots import style
from toynets.plots.node_removal import map_grid


@style.house_style
def decision_movie(
    x1: np.ndarray,
    x2: np.ndarray,
    probabilities: np.ndarray,
    steps: Sequence[int],
    titles: Sequence[str],
    truth: np.ndarray | None,
    columns: int = 4,
    suptitle: str = "",
    dpi: float = 100,
) -> list[np.ndarray]:
    """Frames (RGB [height, width, 3]) of decision maps while nets train: `probabilities`
    [T, panels, g, g, classes] at the training `steps` [T]. The grid of `map_grid` is drawn
    once without its maps; each frame pastes the maps, what lies above them (the true
    boundary, the frame) and the title with the step onto that background (blitting: ~20x
    faster than drawing every frame)."""
    fig = map_grid(
        x1, x2, list(probabilities[0]), titles, truth, columns=columns, suptitle=suptitle
    )
    axes = [ax for ax in fig.axes if ax.images]
    title = fig._suptitle
    layers = [[*ax.images, *ax.collections, *ax.lines, *ax.spines.values()] for ax in axes]
    for artist in [title, *(a for layer in layers for a in layer)]:
        artist.set_animated(True)
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for t, step in enumerate(steps):
        canvas.restore_region(background)
        for ax, artists, probability in zip(axes, layers, probabilities[t], strict=False):
            _update_map(ax, probability)
            for artist in artists:
                ax.draw_artist(artist)
        title.set_text(f"{suptitle}: step {int(step)}")
        fig.draw_artist(title)
        frames.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())
    return frames


def _update_map(ax, probability: np.ndarray) -> None:
    """Put a new class probability [g, g, classes] into a panel drawn by `decision_map`."""
    n_classes = probability.shape[-1]
    if n_classes == 2:
        ax.images[0].set_data(probability[..., 1])
        return
    confidence = (probability.max(-1) - 1 / n_classes) / (1 - 1 / n_classes)
    ax.images[0].set_data(probability.argmax(-1))
    ax.images[1].set_alpha(np.clip(0.85 * (1 - confidence), 0, 1))


@style.house_style
def kernel_scatter(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    titles: Sequence[str],
    xlabel: str,
    ylabel: str,
    unchanged: Sequence[float],
    init_limit: float | None = None,
    zoom: float | None = None,
    suptitle: str = "",
) -> Figure:
    """§3's kernel plots, one column per pair (a, b) of kernels of equal shape: b_ij against
    a_ij with the diagonal (the weights equal in both lie on it; their share is in the
    title); if `zoom` is given, the same within +-zoom below (§3's "zoomed in to show
    detail": the diagonal of weights never updated, and the lines parallel to it of weights
    moved by the same amount); last the histogram of the shifts b - a of the others.
    `init_limit`: the initialiser's range (+-limit), shaded."""
    n = len(pairs)
    rows = 3 if zoom else 2
    fig, axes, _ = style.panel_grid(
        rows * n, n, (2.6, 2.4), title_lines=2, margins=(1.0, 0.25, 0.6, 0.55), gap=0.45
    )
    span = max(max(np.abs(a).max(), np.abs(b).max()) for a, b in pairs) * 1.05
    for k, ((a, b), title) in enumerate(zip(pairs, titles, strict=True)):
        a, b = np.ravel(a), np.ravel(b)
        same = a == b
        ax = axes[k]
        _kernel_points(ax, a, b, same, span, init_limit)
        ax.set_title(f"{title}\n{unchanged[k]:.1%} equal to the bit", fontsize=style.SMALL)
        if zoom:
            close = axes[n + k]
            _kernel_points(close, a, b, same, zoom, init_limit)
            close.set_title(f"zoomed to \u00b1{zoom:.2g}", fontsize=style.SMALL)
        for row in range(rows - 1):
            axes[row * n + k].set_xlabel(xlabel)
            if k == 0:
                axes[row * n + k].set_ylabel(ylabel)
        shift = b[~same] - a[~same]
        hist = axes[(rows - 1) * n + k]
        if shift.size:
            hist.hist(shift, bins=40, color=style.SERIES[0])
        hist.set_xlabel("shift b - a")
        if k == 0:
            hist.set_ylabel("weights")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="upper right", fontsize=style.SMALL, markerscale=3, frameon=False
    )
    if suptitle:
        style.suptitle(fig, suptitle)
    return fig


def _kernel_points(ax, a, b, same, span: float, init_limit: float | None) -> None:
    """b against a within +-span: the moved weights, then the ones equal to the bit on top."""
    if init_limit is not None:
        ax.axvspan(-init_limit, init_limit, color=style.FAINT, alpha=0.15, lw=0)
    ax.plot([-span, span], [-span, span], color=style.FAINT, lw=0.8, ls="--", zorder=1)
    ax.scatter(a[~same], b[~same], s=3, alpha=0.5, color=style.SERIES[0], lw=0, label="moved")
    ax.scatter(a[same], b[same], s=3, color=style.SERIES[1], lw=0, label="never updated")
    ax.set(xlim=(-span, span), ylim=(-span, span), aspect="equal")
    ax.xaxis.set_major_locator(MaxNLocator(3, symmetric=True))
    ax.yaxis.set_major_locator(MaxNLocator(3, symmetric=True))


@style.house_style
def fraction_curves(
    fractions: np.ndarray,
    panels: Sequence[str],
    series: Sequence[str],
    mean: np.ndarray,
    spread: np.ndarray,
    metric: str,
    suptitle: str = "",
) -> Figure:
    """One panel per criterion: `metric` against the pruned fraction for every condition
    (`series`), mean over seeds with a band of +- one standard deviation. `mean`, `spread`
    [panels, series, fractions]."""
    fig, axes, _ = style.panel_grid(
        len(panels), min(3, len(panels)), (3.0, 2.4), margins=(0.75, 0.25, 1.0, 0.55)
    )
    for ax, name, m, s in zip(axes, panels, mean, spread, strict=False):
        for j, label in enumerate(series):
            colour = style.SERIES[j % len(style.SERIES)]
            ax.plot(fractions, m[j], marker="o", ms=3, color=colour, label=label)
            ax.fill_between(fractions, m[j] - s[j], m[j] + s[j], color=colour, alpha=0.15, lw=0)
        ax.set_title(name)
        ax.grid(True)
    style.outer_labels(np.asarray(axes), "fraction of hidden units removed", metric)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=min(len(series), 3), frameon=False)
    if suptitle:
        style.suptitle(fig, suptitle)
    return fig
