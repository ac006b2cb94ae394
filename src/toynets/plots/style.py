"""The house style of toynets' figures: one size scale, one palette, one way to save.

Sizes. A figure is laid out in inches at 100 screen pixels per inch: a single panel is
`WIDTH` = 7.5 in (750 px) wide, which fits MLflow's artifact preview (about 880 px) without
shrinking its 11-point text; grids stay within `WIDE` = 10 in and grow downwards instead (the
preview scales a figure to its width, ~700 px next to MLflow's assistant panel, and scrolls).
PNGs are saved at `DPI` = 200, twice that scale, so they stay crisp on a 2x screen and on a
projector; `MAX_PIXELS` = 2000 caps the width of any figure drawn wider than `WIDE`.

Palette (`toynets.palette`, shared with the explorer pages, and re-exported here):
- classes: `CLASS_COLOURS`, TensorFlow Playground's orange (class 0) and blue (class 1), then
  Okabe-Ito colours for more classes;
- a hidden unit on / off: `ON` (bluish green) / `OFF` (vermillion);
- series (train/test, one curve per p, ...): `SERIES`, the Okabe-Ito colour-blind-safe cycle;
- Monte Carlo / exact / fitted normal: line styles `MONTE_CARLO` (solid), `EXACT` (dashed),
  `NORMAL` (dotted), named in every legend that uses them;
- maps of the §1 kind keep viridis (the source's colormap); signed maps use `DIVERGING`
  centred on 0, and signed bars its ends `POSITIVE` (red) and `NEGATIVE` (blue); the true
  boundary is `BOUNDARY`: white dashes on a black halo, visible on both
  ends of any colormap and drawn above the data points.

`house_style` wraps a function that draws a figure: everything inside it (and the tick labels
matplotlib makes later, at save time) takes the style's fonts and colours, without touching
the caller's own matplotlib settings. `save_png` writes a figure the house way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, ParamSpec, TypeVar

import matplotlib
import numpy as np
from cycler import cycler
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, NullLocator
from PIL import Image

from toynets.palette import CLASS_COLOURS as CLASS_COLOURS  # the palette, re-exported
from toynets.palette import OFF as OFF
from toynets.palette import ON as ON
from toynets.palette import SERIES as SERIES

DPI = 200
MAX_PIXELS = 2000  # the widest PNG
WIDTH = 7.5  # inches: one panel, 750 px at 1x
WIDE = 10.0  # inches: the widest figure (MLflow's preview shows it ~700 px wide)
FONT = 11.0  # points: body text and axis labels
SMALL = 10.0  # points: tick labels, legends

TRAIN, TEST = SERIES[0], SERIES[1]
MONTE_CARLO, EXACT, NORMAL = "-", "--", ":"
DIVERGING = "RdBu_r"
POSITIVE, NEGATIVE = "#b2182b", "#2166ac"  # the red and blue ends of DIVERGING (bars of signs)
FAINT = "0.6"  # reference lines, mini-batch noise

BOUNDARY = {
    "colors": "white",
    "linewidths": 1.6,
    "linestyles": [(0, (4.0, 2.5))],
    "path_effects": [patheffects.withStroke(linewidth=3.6, foreground="black")],
    "zorder": 5,
}

RC = {
    "font.size": FONT,
    "axes.titlesize": FONT,
    "axes.labelsize": FONT,
    "xtick.labelsize": SMALL,
    "ytick.labelsize": SMALL,
    "legend.fontsize": SMALL,
    "legend.framealpha": 0.85,
    "figure.titlesize": FONT + 2,
    "figure.dpi": 100,
    "savefig.dpi": DPI,
    "axes.prop_cycle": cycler(color=SERIES),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlepad": 5.0,
    "axes.titley": 1.0,  # fixed: placing titles automatically costs ~10 ms per panel
    "grid.alpha": 0.3,
    "image.cmap": "viridis",
    "lines.linewidth": 1.6,
    "figure.constrained_layout.use": True,
}

P = ParamSpec("P")
R = TypeVar("R")


def house_style(draw: Callable[P, R]) -> Callable[P, R]:
    """Run a figure-drawing function under the house style (`RC`); the returned figure's tick
    labels keep the style's size wherever it is drawn later."""

    @functools.wraps(draw)
    def styled(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(RC):
            result = draw(*args, **kwargs)
        if isinstance(result, Figure):
            for ax in result.axes:
                ax.tick_params(labelsize=SMALL)
        return result

    return styled


def save_png(figure: Figure, target: str | Path | IO[bytes], dpi: float | None = None) -> None:
    """The figure as an RGB PNG at `dpi` (default `figure_dpi(figure)`), drawn under the house
    style. Figures are opaque, so the alpha channel matplotlib writes is dropped, and zlib runs
    at level 1: together ~25 % less time than `savefig`'s RGBA at level 6
    (benchmarks/bench_figures.py), for somewhat larger files."""
    before = figure.get_dpi()
    try:
        with matplotlib.rc_context(RC):
            figure.set_dpi(dpi or figure_dpi(figure))
            canvas = FigureCanvasAgg(figure)
            canvas.draw()
            size = canvas.get_width_height(physical=True)
            image = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
            image.convert("RGB").save(target, format="png", compress_level=1)
    finally:
        figure.set_dpi(before)


def save_gif(
    frames: Iterable[np.ndarray | Image.Image], target: str | Path, frame_ms: int = 150
) -> None:
    """Frames as a GIF that loops forever, each shown `frame_ms` (Pillow). An RGB frame
    [height, width, 3] gets an adaptive 256-colour palette of its own, converted as it comes
    (a byte per pixel kept, not three: a generator of hundreds of frames is never held in
    memory as RGB); palette images ("P", e.g. sharing one palette) are written as they are,
    without Pillow's palette optimisation (7x slower for them, for 20 % smaller files)."""
    images, converted = [], False
    for frame in frames:
        if not (isinstance(frame, Image.Image) and frame.mode == "P"):
            frame = Image.fromarray(np.asarray(frame, np.uint8))
            frame = frame.convert("P", palette=Image.Palette.ADAPTIVE)
            converted = True
        images.append(frame)
    if not images:
        raise ValueError("a GIF needs at least one frame")
    images[0].save(
        target,
        save_all=True,
        append_images=images[1:],
        duration=frame_ms,
        loop=0,
        optimize=converted,
    )


def figure_dpi(figure: Figure) -> float:
    """`DPI`, lowered for figures wider than `MAX_PIXELS` / `DPI` inches so that no PNG is
    wider than `MAX_PIXELS`: a wide grid is shown shrunk anyway (MLflow's preview is about
    880 px wide, a slide 1920 px), and PNG encoding costs in proportion to the pixels."""
    return min(DPI, MAX_PIXELS / figure.get_figwidth())


def panel_grid(
    n: int,
    columns: int,
    panel: tuple[float, float],
    title_lines: int = 1,
    colorbar: bool = False,
    margins: tuple[float, float, float, float] = (0.75, 0.25, 0.6, 0.55),
    gap: float = 0.18,
    widest: float = WIDE,
) -> tuple[Figure, np.ndarray, Axes | None]:
    """A figure of n panels in rows of `columns`, each `panel` = (width, height) inches
    (shrunk to keep the figure within `widest` inches), with room for `title_lines` lines of panel
    title, a suptitle, and a colorbar axes on the right if asked. `margins` = (left, right,
    bottom, top) in inches, top above the first row's titles; `gap` between panels. Laid out
    by hand: constrained layout costs ~50 ms per panel at save time, most of a grid's
    rendering.

    Returns (figure, axes [rows * columns] with the unused ones hidden, colorbar axes)."""
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    left, right, bottom, top = margins
    title = title_lines * FONT * 1.25 / 72 + 0.08
    bar = 1.05 if colorbar else 0.0
    scale = min(1.0, (widest - left - right - bar - gap * (columns - 1)) / (panel[0] * columns))
    w, h = panel[0] * scale, panel[1] * scale
    width = left + columns * w + (columns - 1) * gap + right + bar
    height = bottom + rows * h + (rows - 1) * (gap + title) + title + top
    fig = Figure(figsize=(width, height), layout="none")
    axes = fig.subplots(
        rows,
        columns,
        squeeze=False,
        gridspec_kw={
            "left": left / width,
            "right": (width - right - bar) / width,
            "bottom": bottom / height,
            "top": (height - top - title) / height,
            "wspace": gap / w,
            "hspace": (gap + title) / h,
        },
    ).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    cax = None
    if colorbar:
        grid_top, grid_bottom = height - top - title, bottom
        span = min(grid_top - grid_bottom, 4.0)
        middle = (grid_top + grid_bottom) / 2
        cax = fig.add_axes(
            (
                (width - bar + 0.15) / width,
                (middle - span / 2) / height,
                0.14 / width,
                span / height,
            )
        )
    return fig, axes, cax


CHARACTER_WIDTH = 0.6  # a character's mean advance in DejaVu Sans, in units of the font size


def fitting_font_size(text: str, width: float, largest: float, smallest: float = 7.0) -> float:
    """The font size (points) at which the longest line of `text` fits in `width` inches,
    at most `largest`, at least `smallest` (a run name with many overrides would be cut off)."""
    longest = max((len(line) for line in text.split("\n")), default=0)
    if longest == 0:
        return largest
    return float(np.clip(width * 72 / (CHARACTER_WIDTH * longest), smallest, largest))


def suptitle(fig: Figure, text: str) -> None:
    """A figure title in the top margin of a `panel_grid` figure, smaller when it would be
    wider than the figure."""
    size = fitting_font_size(text, fig.get_figwidth() - 0.2, FONT + 1)
    fig.suptitle(text, y=1 - 0.12 / fig.get_figheight(), va="top", fontsize=size)


def class_colours(n_classes: int) -> ListedColormap:
    """The class palette as a colormap with one colour per class (class k at value k)."""
    return ListedColormap([CLASS_COLOURS[k % len(CLASS_COLOURS)] for k in range(n_classes)])


def class_points(ax: Axes, x: np.ndarray, y: np.ndarray, n_classes: int, limit: int = 1000) -> None:
    """Data points coloured by class, each class its own labelled scatter (for a legend): at
    most `limit` of them (evenly spread over the sample), smaller and more transparent the
    more there are."""
    idx = np.linspace(0, len(x) - 1, min(limit, len(x))).astype(int)
    size, alpha = point_size(len(idx))
    labels = np.asarray(y)[idx].astype(int)
    for k in range(n_classes):
        pick = idx[labels == k]
        ax.scatter(
            x[pick, 0],
            x[pick, 1],
            s=size,
            color=CLASS_COLOURS[k % len(CLASS_COLOURS)],
            alpha=alpha,
            edgecolors="white",
            linewidths=0.4,
            label=f"class {k}",
            zorder=3,
        )


def point_size(n: int) -> tuple[float, float]:
    """(marker area in pt^2, alpha) for a scatter of n points: 16 and nearly opaque up to 200
    points, down to 5 and 0.6 from 1000 on."""
    size = float(np.clip(3200.0 / max(n, 1), 5.0, 16.0))
    alpha = float(np.clip(1.0 - n / 2500.0, 0.6, 0.9))
    return size, alpha


def boundary(ax: Axes, x1: np.ndarray, x2: np.ndarray, truth: np.ndarray) -> list:
    """The true boundary between the classes of `truth` (labels on the grid), in the house
    `BOUNDARY` style, each stretch drawn once (dashes of two copies would not line up).

    For each pair of classes (a, b): S_k, the indicator of class k smoothed by `smooth` so the
    line runs between grid points instead of along their edges, and the zero contour of
    S_a - S_b where S_a + S_b > 0.99 (only a and b nearby), for the pairs that `touch`."""
    labels = np.asarray(truth)
    smoothed = {k: smooth(labels == k) for k in np.unique(labels)}
    lines = []
    for a, b in touching(labels):
        near = smoothed[a] + smoothed[b] > 0.99
        field = np.ma.masked_where(~near, smoothed[a] - smoothed[b])
        if field.count() and field.min() < 0 < field.max():
            lines.append(ax.contour(x1, x2, field, levels=[0.0], **BOUNDARY))
    return lines


def touching(labels: np.ndarray) -> list[tuple]:
    """The pairs of labels (a < b) that are horizontal or vertical neighbours on the grid."""
    pairs = set()
    for first, second in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])):
        differ = first != second
        low = np.minimum(first[differ], second[differ])
        high = np.maximum(first[differ], second[differ])
        pairs |= {(a.item(), b.item()) for a, b in np.unique(np.stack([low, high], 1), axis=0)}
    return sorted(pairs)


def smooth(field: np.ndarray, passes: int = 2) -> np.ndarray:
    """A 2-D field blurred by the binomial kernel [1, 2, 1] / 4 along both axes, `passes`
    times, edges repeated."""
    out = np.asarray(field, float)
    for _ in range(passes):
        for axis in (0, 1):
            padded = np.concatenate(
                [np.take(out, [0], axis), out, np.take(out, [-1], axis)], axis=axis
            )
            n = out.shape[axis]
            out = (
                np.take(padded, range(0, n), axis)
                + 2 * np.take(padded, range(1, n + 1), axis)
                + np.take(padded, range(2, n + 2), axis)
            ) / 4
    return out


def boundary_handle(label: str = "true boundary") -> Line2D:
    """A legend entry for the boundary line, in the `BOUNDARY` style."""
    return Line2D(
        [],
        [],
        color=BOUNDARY["colors"],
        lw=BOUNDARY["linewidths"],
        ls=BOUNDARY["linestyles"][0],
        path_effects=BOUNDARY["path_effects"],
        label=label,
    )


def line_style_handles(styles: Sequence[tuple[str, str]]) -> list[Line2D]:
    """Legend entries that explain line styles: (linestyle, meaning) pairs, drawn in black."""
    return [Line2D([], [], color="0.15", ls=ls, lw=1.6, label=meaning) for ls, meaning in styles]


def integer_ticks(ax: Axes, x: bool = True, y: bool = False) -> None:
    """Ticks only at integers on the chosen axes (steps, unit indices, flips)."""
    if x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if y:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def outer_labels(
    axes: np.ndarray,
    xlabel: str,
    ylabel: str,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float, float] | None = None,
    ticks: int | None = None,
) -> None:
    """Shared axes for a grid of panels, made by hand: the same limits everywhere, and ticks,
    tick labels and axis labels only on the outer panels: x on the lowest visible panel of
    each column (also above an empty slot of the last row), y on the first column. Inner
    panels get no ticks at all (matplotlib's shared axes still compute every panel's ticks,
    ~15 ms each at save time). `ticks` limits the ticks per side (so neighbours' labels never
    touch)."""
    visible = [ax for ax in axes.ravel() if ax.get_visible()]
    xlim = xlim or visible[0].get_xlim()
    ylim = ylim or visible[0].get_ylim()
    lowest: dict[int, Axes] = {}
    for ax in visible:
        spec = ax.get_subplotspec()
        column, row = spec.colspan.start, spec.rowspan.start
        if column not in lowest or row > lowest[column].get_subplotspec().rowspan.start:
            lowest[column] = ax
    for ax in visible:
        ax.set(xlim=xlim, ylim=ylim)
        bottom = lowest[ax.get_subplotspec().colspan.start] is ax
        left = ax.get_subplotspec().is_first_col()
        for outer, axis, label in ((bottom, ax.xaxis, xlabel), (left, ax.yaxis, ylabel)):
            if not outer:
                axis.set_major_locator(NullLocator())
                axis.set_minor_locator(NullLocator())
            elif ticks is not None:
                axis.set_major_locator(MaxNLocator(nbins=ticks, steps=[1, 2, 2.5, 5, 10]))
            axis.set_label_text(label if outer else "")


def plane_labels(axes: np.ndarray) -> None:
    """`outer_labels` x1 / x2 for a grid of input-plane maps, at most 3 ticks a side."""
    outer_labels(axes, "$x_1$", "$x_2$", ticks=3)


def density_range(
    grid: np.ndarray, curves: Sequence[np.ndarray], floor: float = 2e-3
) -> tuple[float, float]:
    """The x-range where some curve is above `floor` x its peak: the density plots' x-limits,
    chosen from the data so that every tail reaches (almost) zero inside the plot."""
    keep = np.zeros(len(grid), bool)
    for curve in curves:
        curve = np.nan_to_num(np.asarray(curve, float))
        peak = curve.max() if curve.size else 0.0
        if peak > 0:
            keep |= curve > floor * peak
    if not keep.any():
        return float(grid[0]), float(grid[-1])
    inside = np.flatnonzero(keep)
    lo, hi = grid[max(inside[0] - 1, 0)], grid[min(inside[-1] + 1, len(grid) - 1)]
    return float(lo), float(hi)
