"""Figures of the node-removal study (DIGEST §1), drawn from the study's arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from toynets.net import unit_labels
from toynets.plots import style
from toynets.plots.maps import box_of, decision_map


@style.house_style
def map_grid(
    x1: np.ndarray,
    x2: np.ndarray,
    probabilities: Sequence[np.ndarray],
    titles: Sequence[str],
    truth: np.ndarray | None,
    columns: int = 5,
    suptitle: str = "",
) -> Figure:
    """Small decision maps side by side on shared axes: P(class 1) for a binary net (yellow =
    sure class 0, navy = sure class 1), the winning class for more classes; the true boundary
    dashed white on black. Titles may hold line breaks."""
    n_classes = probabilities[0].shape[-1]
    lines = max(str(t).count("\n") + 1 for t in titles)
    side = min(2.4, (style.WIDE - 2.0) / min(columns, len(probabilities)))
    fig, axes, cax = style.panel_grid(
        len(probabilities),
        columns,
        (side, side),
        title_lines=lines,
        colorbar=True,
        gap=0.32,
    )
    image = None
    for ax, probability, title in zip(axes, probabilities, titles, strict=False):
        image = decision_map(ax, x1, x2, probability, truth=truth, title=title, legend=False)
        ax.title.set_fontsize(style.FONT)
    style.plane_labels(axes)
    bar = fig.colorbar(image, cax=cax)
    if n_classes == 2:
        bar.set_label("P(class 1)")
    else:
        bar.set_ticks(range(n_classes))
        bar.set_label("winning class")
    if suptitle:
        note = "; dashed: the true boundary" if truth is not None else ""
        style.suptitle(fig, f"{suptitle} (shared axes{note})")
    return fig


@style.house_style
def pdfs(
    grid: np.ndarray,
    curves: dict[str, np.ndarray],
    xlabel: str,
    vline: tuple[float, str] | None = None,
    dotted: dict[str, np.ndarray] | None = None,
    dashed: dict[str, np.ndarray] | None = None,
    title: str = "",
    solid_means: str = "Monte Carlo",
    colours: dict[str, str] | None = None,
) -> Figure:
    """Smoothed densities, one colour per series: the sample (`MONTE_CARLO`, solid), fitted
    normals (`NORMAL`, dotted), exact densities (`EXACT`, dashed); the legend names the colours
    and, separately, the line styles. The x-range is where some curve is above 0.2 % of its
    peak, so no tail is cut."""
    fig = Figure(figsize=(style.WIDTH * 1.15, style.WIDTH * 0.55))
    ax = fig.subplots()
    for k, (label, density) in enumerate(curves.items()):
        colour = (colours or {}).get(label, style.SERIES[k % len(style.SERIES)])
        ax.plot(grid, density, color=colour, ls=style.MONTE_CARLO, label=label)
        if dotted and label in dotted:
            ax.plot(grid, dotted[label], color=colour, lw=1.2, ls=style.NORMAL)
        if dashed and label in dashed:
            ax.plot(grid, dashed[label], color=colour, lw=1.3, ls=style.EXACT)
    shown = [*curves.values(), *(dashed or {}).values(), *(dotted or {}).values()]
    lo, hi = style.density_range(grid, shown)
    if vline is not None:
        ax.axvline(vline[0], color=style.FAINT, lw=2.0, label=vline[1], zorder=0)
        lo, hi = min(lo, vline[0]), max(hi, vline[0])
    pad = 0.02 * (hi - lo)
    ax.set(xlim=(lo - pad, hi + pad), ylim=(0, None), xlabel=xlabel, ylabel="density")
    ax.set_title(title)
    ax.grid(True)
    styles = [(style.MONTE_CARLO, solid_means)]
    if dashed:
        styles.append((style.EXACT, "exact"))
    if dotted:
        styles.append((style.NORMAL, "fitted normal"))
    outside = {"alignment": "left", "borderaxespad": 0.0}
    # One line style: no legend of styles; the colour legend's title says what the lines are.
    heading = "colour" if len(styles) > 1 else solid_means
    series = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title=heading, **outside)
    if len(styles) > 1:
        ax.add_artist(series)
        ax.legend(
            handles=style.line_style_handles(styles),
            loc="lower left",
            bbox_to_anchor=(1.02, 0.0),
            title="line",
            **outside,
        )
    return fig


@style.house_style
def per_unit_pdfs(
    grid: np.ndarray,
    on: list[np.ndarray],
    off: list[np.ndarray],
    xlabel: str,
    labels: Sequence[str] | None = None,
    p: float = 0.5,
) -> Figure:
    """One panel per unit: the density of a quantity over the masks in which the unit is on
    (`style.ON`) and those in which it is off (`style.OFF`). Each panel has its own x- and
    y-range: a unit that matters little has a narrow, tall density (§1's neuron 11) that shared
    axes would flatten into a spike."""
    n = len(on)
    labels = list(labels) if labels is not None else [str(i) for i in range(n)]
    fig, axes, _ = style.panel_grid(n, 4, (2.0, 1.3), margins=(0.8, 0.2, 0.6, 0.75), gap=0.45)
    for i in range(n):
        ax = axes[i]
        ax.plot(grid, on[i], color=style.ON, lw=1.4, label="unit on")
        ax.plot(grid, off[i], color=style.OFF, lw=1.4, label="unit off")
        ax.set_title(f"unit {labels[i]}")
        ax.axvline(0, color=style.FAINT, lw=0.8, zorder=0)
        top = float(np.nanmax([np.nanmax(on[i]), np.nanmax(off[i])])) * 1.05 or 1.0
        ax.set(xlim=style.density_range(grid, [on[i], off[i]]), ylim=(0.0, top))
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]))
        ax.tick_params(labelsize=style.SMALL - 1)
    height, width = fig.get_figheight(), fig.get_figwidth()
    fig.supxlabel(xlabel, y=0.12 / height, va="bottom", fontsize=style.FONT)
    fig.supylabel("density", x=0.12 / width, ha="left", fontsize=style.FONT)
    handles, names = axes[0].get_legend_handles_labels()
    top = 1 - 0.42 / fig.get_figheight()
    fig.legend(handles, names, loc="upper right", bbox_to_anchor=(0.99, top + 0.01), ncols=2)
    style.suptitle(fig, f"{xlabel} at p = {p}, split by whether the unit is on (own axes)")
    return fig


@style.house_style
def path_covariance(cov: np.ndarray, from_start: np.ndarray, from_end: np.ndarray) -> Figure:
    """§1's hypercube paths: the covariance of the log loss between the masks after i and j
    flips (left) and, by distance d (right), the covariance of the start with the mask d flips
    later and of the end with the mask d flips earlier (equal, since a reversed path is a
    path)."""
    fig = Figure(figsize=(style.WIDE * 0.85, 4.2))
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.25])
    steps = len(cov) - 1
    image = left.imshow(
        cov,
        cmap="viridis",
        origin="upper",
        extent=[-0.5, steps + 0.5, steps + 0.5, -0.5],
        interpolation="nearest",
    )
    fig.colorbar(image, ax=left, shrink=0.85).set_label("covariance of log loss")
    style.integer_ticks(left, x=True, y=True)
    left.set(xlabel="flips done (mask j)", ylabel="flips done (mask i)")
    left.set_title("covariance between the masks of a path")
    distance = np.arange(len(from_start))
    right.plot(distance, from_start, "o-", color=style.SERIES[0], label="start vs d flips later")
    right.plot(
        distance, from_end, "s--", color=style.SERIES[1], mfc="none", label="end vs d flips earlier"
    )
    right.axhline(0, color=style.FAINT, lw=0.8)
    style.integer_ticks(right, x=True)
    right.set(xlabel="distance d (flips)", ylabel="covariance of log loss")
    right.set_title("by distance along the path (equal by reversal)")
    right.grid(True)
    right.legend()
    return fig


@style.house_style
def unit_maps(
    x1: np.ndarray,
    x2: np.ndarray,
    maps: np.ndarray,
    title: str,
    label: str,
    unit_names: Sequence[str] | None = None,
) -> Figure:
    """One input-plane image per unit (e.g. d loss / d m_i) on shared axes and one colour
    scale, symmetric about 0 (`style.DIVERGING`: red raises, blue lowers), clipped at the
    99.5th percentile of |values| (a few points on a sharp boundary would wash out the rest)."""
    n = maps.shape[-1]
    names = list(unit_names) if unit_names is not None else [str(i) for i in range(n)]
    fig, axes, cax = style.panel_grid(n, 4, (1.9, 1.9), colorbar=True, gap=0.32)
    span = float(np.nanquantile(np.abs(maps), 0.995)) or float(np.nanmax(np.abs(maps))) or 1.0
    box = box_of(x1, x2)
    image = None
    for i in range(n):
        image = axes[i].imshow(
            maps[..., i],
            origin="lower",
            extent=box,
            cmap=style.DIVERGING,
            vmin=-span,
            vmax=span,
            aspect="equal",
            interpolation="nearest",
        )
        axes[i].set_title(f"unit {names[i]}")
    style.plane_labels(axes)
    fig.colorbar(image, cax=cax, extend="both").set_label(label)
    style.suptitle(fig, f"{title} (shared axes and colour scale, clipped at 99.5 % of |values|)")
    return fig


@style.house_style
def single_map(
    x1: np.ndarray,
    x2: np.ndarray,
    values: np.ndarray,
    title: str,
    label: str,
    truth: np.ndarray | None = None,
) -> Figure:
    """One quantity over the input plane (magma), optionally with the true boundary between
    the classes of `truth` (labels on the grid)."""
    fig = Figure(figsize=(style.WIDTH * 0.75, style.WIDTH * 0.62))
    ax = fig.subplots()
    image = ax.imshow(
        values,
        origin="lower",
        extent=box_of(x1, x2),
        cmap="magma",
        aspect="equal",
        interpolation="bilinear",
    )
    fig.colorbar(image, ax=ax).set_label(label)
    if truth is not None:
        style.boundary(ax, x1, x2, truth)
        ax.legend(handles=[style.boundary_handle()], loc="upper right")
    ax.set(xlabel="$x_1$", ylabel="$x_2$")
    ax.set_title(title)
    return fig


@style.house_style
def unit_values(
    values: dict[str, np.ndarray],
    title: str,
    ylabel: str,
    hidden_sizes: Sequence[int] | None = None,
) -> Figure:
    """Bars per hidden unit for several values (e.g. the Shapley and Banzhaf values of the
    loss), grouped by hidden layer when there are several; the legend beside the axes."""
    names = list(values)
    n = len(next(iter(values.values())))
    sizes = list(hidden_sizes) if hidden_sizes else [n]
    labels = unit_labels(sizes)
    fig = Figure(figsize=(min(style.WIDE, max(style.WIDTH, 0.42 * n + 2.0)), 4.0))
    ax = fig.subplots()
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        offset = (k - (len(names) - 1) / 2) * width
        ax.bar(np.arange(n) + offset, values[name], width, label=name, color=style.SERIES[k])
    ax.axhline(0, color="0.3", lw=0.8)
    start = 0
    for layer, size in enumerate(sizes):
        if len(sizes) > 1:
            if start:
                ax.axvline(start - 0.5, color=style.FAINT, lw=1.0, ls=":")
            ax.text(
                start + (size - 1) / 2,
                1.0,
                f"hidden layer {layer}",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=style.SMALL,
            )
        start += size
    ax.set_xticks(range(n), labels, rotation=90 if len(sizes) > 1 and n > 12 else 0)
    ax.set(xlabel="hidden unit" + (" (layer:index)" if len(sizes) > 1 else ""), ylabel=ylabel)
    ax.set_xlim(-0.6, n - 0.4)
    ax.grid(True, axis="y")
    ax.set_title(title, pad=18 if len(sizes) > 1 else 5)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return fig
