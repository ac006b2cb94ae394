"""Sweep summary figures: a final metric against each swept parameter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from toynets.analysis.sweep import Gallery, Series, sort_values
from toynets.plots import style


@style.house_style
def metric_vs_params(metric: str, panels: Sequence[tuple[str, list[Series]]]) -> Figure:
    """One panel per swept parameter: mean +- std (over seeds) per series, values as
    categories in sorted order, the number of jobs behind each point when it is not 1."""
    fig = Figure(figsize=(min(style.WIDE, 4.6 * max(1, len(panels))), 3.8))
    axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, (param, series) in zip(axes, panels, strict=False):
        categories = sort_values([x for s in series for x in s.x])
        position = {x: i for i, x in enumerate(categories)}
        for k, s in enumerate(series):
            xs = np.array([position[x] for x in s.x], float) + (k - (len(series) - 1) / 2) * 0.06
            ax.errorbar(
                xs, s.mean, yerr=s.std, marker="o", capsize=3, lw=1.5, label=s.label or None
            )
        ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 4 else 0)
        ax.set(xlabel=param, ylabel=metric)
        ax.grid(True)
        if any(s.label for s in series):
            ax.legend()
    fig.suptitle(f"{metric} (mean ± std over seeds)")
    return fig


GALLERY_PANEL = 1.7  # inches: the narrowest picture of a sweep gallery


@style.house_style
def sweep_gallery(
    images: Sequence[np.ndarray | None],
    gallery: Gallery,
    captions: Sequence[str],
    title: str = "",
) -> Figure:
    """Every job's picture (RGB [h, w, 3], None for a job without one) in the grid of
    `gallery` (`analysis.sweep.gallery_layout`): a row per value of the first swept key,
    labelled on the left, a column per value of the second and seed, labelled on top; each
    panel captioned with its job's `captions` entry (its final test metric)."""
    rows, columns = len(gallery.row_labels), len(gallery.column_labels)
    shapes = [image.shape for image in images if image is not None]
    aspect = shapes[0][0] / shapes[0][1] if shapes else 1.0
    left, gap = (0.9 if any(gallery.row_labels) else 0.15), 0.1
    # Up to WIDE inches while the panels keep GALLERY_PANEL inches (their captions' width);
    # a sweep of more columns gets a wider figure, to zoom into.
    width = max(GALLERY_PANEL, min(3.2, (style.WIDE - 1.2) / columns))
    headers = [label.replace(" ", "\n") for label in gallery.column_labels]  # a key a line
    fig, axes, _ = style.panel_grid(
        rows * columns,
        columns,
        (width, width * aspect),
        title_lines=1 + max(h.count("\n") + 1 for h in headers),
        margins=(left, 0.15, 0.15, 0.5 if title else 0.15),
        gap=gap,
        widest=max(style.WIDE, left + 0.15 + columns * (width + gap)),
    )
    grid = axes.reshape(rows, columns)
    for ax in axes:
        ax.set_axis_off()
    for (row, column), index in gallery.cells.items():
        ax = grid[row, column]
        if images[index] is not None:
            ax.imshow(images[index], interpolation="antialiased")
        else:
            ax.text(0.5, 0.5, "no picture", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{headers[column]}\n{captions[index]}", fontsize=style.SMALL)
    for row, label in enumerate(gallery.row_labels):
        if label:
            grid[row, 0].text(
                -0.04, 0.5, label.replace(" ", "\n"), transform=grid[row, 0].transAxes,
                ha="right", va="center", rotation=90, fontsize=style.SMALL,
            )  # fmt: skip
    if title:
        style.suptitle(fig, title)
    return fig
