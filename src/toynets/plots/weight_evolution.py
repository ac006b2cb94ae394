"""Figures of the weight-evolution study (DIGEST §5), drawn from the study's arrays: a movie
of each kernel over training, every weight's trajectory, chosen weights against the mean of
the rest, each layer's norm and update size, and optimizers against each other."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from PIL import Image

from toynets.plots import style

MOVIE_CMAP = "hot"  # the source's colormap: -limit black, 0 red, +limit white
MOVIE_WIDTH = 7.0  # inches at 100 px per inch: the movie's frames are 700 px wide
MAX_TICKS = 24  # label every input / unit up to this many


def _movie_figure(
    first: np.ndarray, limit: float, layer: str, names: Sequence[str] | None, title: str
) -> tuple[Figure, object, object]:
    """The movie's figure with the kernel [fan_in, fan_out] shown as W^T (a row per unit, a
    column per input) and the title; returns (figure, image, the step's text right above the
    matrix, still empty)."""
    fan_in, fan_out = first.shape
    height = float(np.clip(1.55 + 0.32 * fan_out, 2.0, 6.0))
    fig, axes, cax = style.panel_grid(
        1, 1, (MOVIE_WIDTH - 2.0, height - 1.2), colorbar=True, margins=(0.75, 0.2, 0.55, 0.5)
    )
    ax = axes[0]
    image = ax.imshow(
        first.T,
        cmap=MOVIE_CMAP,
        vmin=-limit,
        vmax=limit,
        aspect="auto",
        interpolation="nearest",
    )
    fig.colorbar(image, cax=cax, label="weight")
    if fan_in <= MAX_TICKS:
        ax.set_xticks(np.arange(fan_in), names if names is not None else np.arange(fan_in))
        if names is not None and fan_in > 10:
            ax.tick_params(axis="x", labelrotation=90)
    if fan_out <= MAX_TICKS:
        ax.set_yticks(np.arange(fan_out))
    else:
        ax.set_yticks([])
    ax.set(xlabel="input" if layer == "W0" else "unit of the layer below", ylabel="unit")
    for spine in ax.spines.values():
        spine.set_visible(True)
    units = "unit" if fan_out == 1 else "units"
    heading = f"{layer}: {fan_in} inputs -> {fan_out} {units}"
    style.suptitle(fig, f"{title}\n{heading}" if title else heading)
    step = ax.text(1.0, 1.03, "", transform=ax.transAxes, ha="right", va="bottom")
    return fig, image, step


LEVELS = 192  # colours of the movie's colormap in its GIF palette
GREYS = 64  # and greys, black to white, for everything else (text, axes, the page)


def movie_palette() -> np.ndarray:
    """The movie's one palette [256, 3] uint8: `LEVELS` colours of `MOVIE_CMAP`, level k the
    colour of (k + 0.5) / LEVELS of its range, then `GREYS` greys from black to white."""
    levels = colormaps[MOVIE_CMAP]((np.arange(LEVELS) + 0.5) / LEVELS)[:, :3]
    greys = np.repeat(np.linspace(0, 1, GREYS)[:, None], 3, axis=1)
    return np.round(np.concatenate([levels, greys]) * 255).astype(np.uint8)


def value_levels(values: np.ndarray, limit: float) -> np.ndarray:
    """Palette index of each value: floor((v + limit) / (2 limit) x LEVELS), clipped to the
    levels (values beyond the range take its end colours)."""
    scaled = np.floor((np.asarray(values, np.float64) + limit) / (2 * limit) * LEVELS)
    return np.clip(scaled, 0, LEVELS - 1).astype(np.uint8)


def _pixel_box(artist, height: int) -> tuple[int, int, int, int]:
    box = artist.get_window_extent()
    return (round(box.x0), round(height - box.y1), round(box.x1), round(height - box.y0))


@style.house_style
def weight_movie(
    W: np.ndarray,
    steps: Sequence[int],
    limit: float,
    layer: str = "W0",
    names: Sequence[str] | None = None,
    title: str = "",
    dpi: float = 100,
) -> Iterator[Image.Image]:
    """Frames of a kernel over training: W [F, fan_in, fan_out] at the training `steps` [F],
    drawn as W^T (a row per unit, a column per input) in `MOVIE_CMAP` over [-limit, limit]
    (fixed for the whole movie, symmetric about 0), the step above it.

    Every frame is a palette image (`movie_palette`) made without drawing it whole: the
    figure is drawn once without the matrix and the step and mapped onto the palette; each
    frame then paints the matrix's cells with their levels (`value_levels`) and the step,
    drawn by matplotlib, as greys. ~1 ms a frame where drawing and quantising RGB frames took
    ~16 ms; the GIF needs no quantising either."""
    fig, image, text = _movie_figure(W[0], limit, layer, names, title)
    image.set_visible(False)
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    width, height = canvas.get_width_height(physical=True)
    palette = movie_palette()
    palette_image = Image.new("P", (1, 1))
    palette_image.putpalette(palette.ravel().tolist())
    rgb = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    background = np.asarray(
        rgb.convert("RGB").quantize(palette=palette_image, dither=Image.Dither.NONE)
    ).copy()
    left, top, right, bottom = _pixel_box(image, height)
    fan_in, fan_out = W.shape[1:]
    # The cell under each pixel's centre: imshow's extent spans the axes exactly.
    rows = np.floor((np.arange(top, bottom) + 0.5 - top) / (bottom - top) * fan_out).astype(int)
    columns = np.floor((np.arange(left, right) + 0.5 - left) / (right - left) * fan_in).astype(int)
    # The step's text: the box of the widest step string, drawn anew as greys every frame.
    text.set_text(f"step {10 * max(int(s) for s in steps) + 8}")
    x0, y0, x1, y1 = _pixel_box(text, height)
    y1 = min(y1, top - 1)
    text.set_animated(True)
    empty = canvas.copy_from_bbox(fig.bbox)
    for matrix, step in zip(W, steps, strict=True):
        frame = background.copy()
        cells = value_levels(matrix.T, limit)  # [fan_out, fan_in]
        frame[top:bottom, left:right] = cells[rows][:, columns]
        canvas.restore_region(empty)
        text.set_text(f"step {int(step)}")
        fig.draw_artist(text)
        grey = np.asarray(canvas.buffer_rgba())[y0:y1, x0:x1, :3].mean(axis=-1)
        frame[y0:y1, x0:x1] = LEVELS + np.round(grey / 255 * (GREYS - 1)).astype(np.uint8)
        out = Image.fromarray(frame, "P")
        out.putpalette(palette.ravel().tolist())
        yield out


def movie_matrix_box(
    shape: tuple[int, int], names: Sequence[str] | None = None, title: str = "", dpi: float = 100
) -> tuple[int, int, int, int]:
    """Where `weight_movie` draws the matrix in its frames, in pixels: (left, top, right,
    bottom) from the frame's top-left corner (for reading values back from a frame)."""
    fig, image, _ = _movie_figure(np.zeros(shape), 1.0, "W0", names, title)
    fig.set_dpi(dpi)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return _pixel_box(image, canvas.get_width_height(physical=True)[1])


def _lines(ax, steps: np.ndarray, paths: np.ndarray, **kwargs) -> LineCollection:
    """Every column of paths [T, n] as one line against steps, in one collection (fast for
    thousands of weights)."""
    segments = np.stack([np.broadcast_to(steps, paths.T.shape), paths.T], axis=-1)
    lines = LineCollection(segments, **kwargs)
    ax.add_collection(lines)
    ax.autoscale_view()
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("s") else f"{n} {noun}s"


@style.house_style
def weight_trajectories(
    steps: np.ndarray,
    kernels: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    chosen: Sequence[int],
    chosen_labels: Sequence[str],
    title: str = "",
) -> Figure:
    """Every weight over training, a panel per layer: kernels [T, n_i] (`trajectories`) as
    thin lines, the layer's biases [T, m_i] dashed, and in the first layer the `chosen`
    columns highlighted in the series colours."""
    n = len(kernels)
    fig, axes, _ = style.panel_grid(
        n, 1, (6.4, 2.8), margins=(0.8, 0.25, 0.6, 0.5 if title else 0.15), gap=0.6
    )
    for i, (ax, paths, bias) in enumerate(zip(axes, kernels, biases, strict=True)):
        many = paths.shape[1] > 40
        _lines(
            ax,
            steps,
            paths,
            colors=style.FAINT if i == 0 else "0.35",
            linewidths=0.5 if many else 0.9,
        )
        _lines(ax, steps, bias, colors="0.2", linewidths=0.9, linestyles="--")
        if i == 0:
            for column, label, colour in zip(chosen, chosen_labels, style.SERIES, strict=False):
                ax.plot(steps, paths[:, column], color=colour, lw=2.0, label=label)
        ax.axhline(0, color="0.3", lw=0.6)
        handles = style.line_style_handles([("-", "weights"), ("--", "biases")])
        ax.legend(handles=[*ax.get_legend_handles_labels()[0], *handles], loc="best", ncols=2)
        ax.set(
            xlabel="step",
            ylabel="value",
            title=f"layer {i}: {paths.shape[1]} weights, {_count(bias.shape[1], 'bias')}",
        )
        ax.grid(True)
    if title:
        style.suptitle(fig, title)
    return fig


@style.house_style
def chosen_against_rest(
    steps: np.ndarray,
    chosen_paths: np.ndarray,
    chosen_labels: Sequence[str],
    rest_mean: np.ndarray,
    source_average: np.ndarray,
    n_rest: int,
    n_total: int,
    title: str = "",
) -> Figure:
    """The chosen weights [T, c] against the mean of the other `n_rest` (solid black) and the
    source's "average of rest" (their sum over all `n_total`, dotted): §5's figure, corrected."""
    fig, axes, _ = style.panel_grid(
        1, 1, (6.4, 3.2), margins=(0.8, 0.25, 0.6, 0.5 if title else 0.15)
    )
    ax = axes[0]
    for column, (label, colour) in enumerate(zip(chosen_labels, style.SERIES, strict=False)):
        ax.plot(steps, chosen_paths[:, column], color=colour, lw=1.8, label=label)
    ax.plot(steps, rest_mean, color="black", lw=1.8, label=f"mean of the other {n_rest}")
    ax.plot(
        steps,
        source_average,
        color="black",
        lw=1.4,
        ls=":",
        label=f"source: their sum / {n_total} ({n_rest}/{n_total} of the mean)",
    )
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set(xlabel="step", ylabel="weight", title="chosen weights and the mean of the rest")
    ax.grid(True)
    ax.legend(loc="best")
    if title:
        style.suptitle(fig, title)
    return fig


def _two_panels(title: str) -> tuple[Figure, np.ndarray]:
    """Two panels side by side, room above for the title."""
    fig, axes, _ = style.panel_grid(
        2, 2, (3.45, 2.8), margins=(0.8, 0.2, 0.6, 0.5 if title else 0.15), gap=0.95
    )
    return fig, axes


@style.house_style
def layer_dynamics(
    steps: np.ndarray,
    norms: dict[str, np.ndarray],
    updates: dict[str, np.ndarray],
    title: str = "",
) -> Figure:
    """Each layer's ||W||_F at every snapshot (left) and how far it moved per step between
    snapshots (right, log scale, plotted at the later snapshot)."""
    fig, axes = _two_panels(title)
    for name, values in norms.items():
        axes[0].plot(steps, values, label=name)
    for name, values in updates.items():
        shown = np.where(values > 0, values, np.nan)
        axes[1].plot(steps[1:], shown, label=name)
    if any(np.any(v > 0) for v in updates.values()):
        axes[1].set_yscale("log")
    axes[0].set(xlabel="step", ylabel="||W||_F", title="size of each kernel")
    axes[1].set(xlabel="step", ylabel="||ΔW||_F per step", title="how fast it moves")
    for ax in axes:
        ax.grid(True)
        ax.legend(loc="best")
    if title:
        style.suptitle(fig, title)
    return fig


@style.house_style
def optimizer_comparison(
    labels: Sequence[str],
    steps: Sequence[np.ndarray],
    losses: Sequence[np.ndarray],
    seconds: Sequence[np.ndarray],
    title: str = "",
) -> Figure:
    """The training cost of nets trained from the same initial weights on the same data by
    different optimizers, against the step (left) and the wall-clock training time (right)."""
    fig, axes = _two_panels(title)
    for label, step, loss, second in zip(labels, steps, losses, seconds, strict=True):
        (line,) = axes[0].plot(step, loss, label=label)
        axes[1].plot(second, loss, color=line.get_color(), label=label)
    every = np.concatenate([np.asarray(loss, float) for loss in losses])
    for ax in axes:
        if np.all(every[np.isfinite(every)] > 0):
            ax.set_yscale("log")
        ax.grid(True)
        ax.legend(loc="best")
    axes[0].set(xlabel="step", ylabel="training cost", title="cost per step")
    axes[1].set(xlabel="training time (s)", ylabel="training cost", title="cost per second")
    if title:
        style.suptitle(fig, title)
    return fig
