"""Figures of the relevance study (DIGEST §2), drawn from the study's arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import SymLogNorm
from matplotlib.figure import Figure

from toynets.plots import style
from toynets.plots.maps import box_of

COLUMNS = 5  # methods per row of a map block


def _span(values: Sequence[np.ndarray], quantile: float = 0.99) -> float:
    """The symmetric colour limit: the `quantile` of |values| over all of them (a few extreme
    points would wash out the rest), never 0."""
    flat = np.concatenate([np.abs(np.asarray(v, float)).ravel() for v in values])
    flat = flat[np.isfinite(flat)]
    if not flat.size:
        return 1.0
    return float(np.quantile(flat, quantile)) or float(flat.max()) or 1.0


def _signed_image(
    ax: Axes, x1: np.ndarray, x2: np.ndarray, values: np.ndarray, span: float, log: bool = False
):
    """Signed values in `style.DIVERGING` over [-span, span]; `log`: symmetric-log scale,
    linear within span / 100 of 0 (methods whose scales differ by orders of magnitude)."""
    norm = SymLogNorm(span / 100, vmin=-span, vmax=span) if log else None
    limits = {} if log else {"vmin": -span, "vmax": span}
    return ax.imshow(
        values,
        origin="lower",
        extent=box_of(x1, x2),
        cmap=style.DIVERGING,
        norm=norm,
        aspect="equal",
        interpolation="nearest",
        **limits,
    )


@style.house_style
def relevance_maps(
    x1: np.ndarray,
    x2: np.ndarray,
    maps: dict[str, np.ndarray],
    feature_names: Sequence[str],
    title: str = "",
) -> Figure:
    """Input relevance over the plane: one block per input (`maps[method]` [rows, cols, F],
    F = len(feature_names)), the methods side by side in each block, one colour scale per block
    (symmetric-log, clipped at the 99th percentile of |R| over the block's methods, linear
    within 1 % of it, so methods of very different scales all show; red: evidence for the
    explained output, blue: against)."""
    methods = list(maps)
    per_block = -(-len(methods) // COLUMNS) * COLUMNS
    blocks = len(feature_names)
    side = 1.75
    fig, axes, cax = style.panel_grid(
        blocks * per_block,
        COLUMNS,
        (side, side),
        colorbar=True,
        gap=0.3,
        margins=(0.75, 0.25, 0.6, 0.75),
    )
    if cax is not None:
        cax.remove()  # one colour bar per block instead, beside its rows
    for f, name in enumerate(feature_names):
        block = axes[f * per_block : (f + 1) * per_block]
        span = _span([maps[m][..., f] for m in methods])
        image = None
        for ax, method in zip(block, methods, strict=False):
            image = _signed_image(ax, x1, x2, maps[method][..., f], span, log=True)
            ax.set_title(method, fontsize=style.SMALL)
        for ax in block[len(methods) :]:
            ax.set_visible(False)
        top, bottom = block[0].get_position(), block[len(methods) - 1].get_position()
        right = max(ax.get_position().x1 for ax in block[:COLUMNS])
        bar = fig.add_axes((right + 0.02, bottom.y0, 0.014, top.y1 - bottom.y0))
        fig.colorbar(image, cax=bar, extend="both").set_label(f"relevance of {name}")
    style.plane_labels(axes)
    style.suptitle(
        fig,
        (title + ": " if title else "")
        + "input relevance per method (one symmetric-log colour scale per input)",
    )
    return fig


@style.house_style
def bias_maps(
    x1: np.ndarray,
    x2: np.ndarray,
    layer_maps: Sequence[np.ndarray],
    fraction: np.ndarray,
    fractions_at_points: np.ndarray,
    title: str = "",
) -> Figure:
    """Blame the bias: the relevance each layer's biases carry (summed over its units, one
    colour scale), the fraction of the decision they carry, |sum bias R| / (|sum input R| +
    |sum bias R|), as a map and as a histogram over the explained points."""
    n = len(layer_maps) + 2
    fig, axes, _ = style.panel_grid(
        n, min(n, 4), (2.5, 2.5), gap=1.15, margins=(0.7, 0.6, 0.6, 0.6)
    )
    span = _span(layer_maps)
    for i, values in enumerate(layer_maps):
        image = _signed_image(axes[i], x1, x2, values, span)
        last = i == len(layer_maps) - 1
        axes[i].set_title("output bias" if last else f"biases of hidden layer {i}")
        fig.colorbar(image, ax=axes[i], extend="both", fraction=0.046, pad=0.04)
    ax = axes[len(layer_maps)]
    image = ax.imshow(
        fraction,
        origin="lower",
        extent=box_of(x1, x2),
        cmap="magma",
        vmin=0,
        vmax=1,
        aspect="equal",
        interpolation="nearest",
    )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title("fraction on the biases")
    for a in axes[: len(layer_maps) + 1]:
        a.set(xticks=[], yticks=[])
    ax = axes[n - 1]
    finite = fractions_at_points[np.isfinite(fractions_at_points)]
    ax.hist(finite, bins=20, range=(0, 1), color=style.SERIES[0])
    ax.set(xlabel="fraction on the biases", ylabel="test points", xlim=(0, 1))
    ax.set_title("its distribution")
    style.suptitle(fig, (title + ": " if title else "") + "blame the bias (§2)")
    return fig


def _waterfall(ax: Axes, labels: Sequence[str], values: Sequence[float], total: float) -> None:
    """Horizontal waterfall: each bar starts where the previous ended; the last bar is the
    total (what the bars sum to)."""
    start = 0.0
    for row, value in enumerate(values):
        colour = style.POSITIVE if value >= 0 else style.NEGATIVE
        ax.barh(row, value, left=start, color=colour, height=0.7)
        start += value
    ax.barh(len(values), total, color="0.25", height=0.7)
    ax.axvline(0.0, color=style.FAINT, lw=0.8)
    ax.set_yticks(range(len(values) + 1), [*labels, "f(x)"])
    ax.invert_yaxis()


@style.house_style
def breakdown(
    levels: Sequence[tuple[str, Sequence[str], Sequence[float]]],
    output: float,
    title: str = "",
) -> Figure:
    """One decision, level by level: at each level the relevances (inputs or hidden units,
    and the biases still ahead) add up to the explained output f(x) (blame the bias
    conserves it). `levels` holds (heading, labels, values)."""
    heights = [0.5 + 0.28 * (len(labels) + 1) for _, labels, _ in levels]
    fig = Figure(figsize=(style.WIDTH, sum(heights) + 0.9 * len(levels) + 0.3))
    axes = fig.subplots(len(levels), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (heading, labels, values) in zip(axes[:, 0], levels, strict=True):
        _waterfall(ax, labels, values, output)
        ax.set_title(f"{heading}: sum = {sum(values):.4g}", fontsize=style.FONT)
        ax.tick_params(axis="y", labelsize=style.SMALL - 1)
    axes[-1, 0].set_xlabel("relevance (cumulative)")
    fig.suptitle((title + "\n" if title else "") + f"one decision, f(x) = {output:.4g}")
    fig.set_layout_engine("constrained")
    return fig


@style.house_style
def instability(
    fraction: np.ndarray,
    scale_up: dict[str, np.ndarray],
    threshold: float,
    sweep: dict[str, list],
    blame_bias_max: float,
) -> Figure:
    """§2's problem in numbers. Left: per explained point, the fraction of the decision the
    biases carry (blame the bias) against how much larger a method's input relevance is than
    blame-the-bias's (log); right of the dashed line the decision is mostly bias. Right: the
    largest |R_i| against eps: the LRP that puts all of f(x) on the inputs grows as eps -> 0
    (the blip is what keeps it finite), lrp_epsilon and blame the bias do not."""
    fig = Figure(figsize=(style.WIDE, 4.3), layout="constrained")
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1.0]})
    for colour, (method, values) in zip(style.SERIES, scale_up.items(), strict=False):
        positive = np.where(values > 0, values, np.nan)
        left.scatter(fraction, positive, s=9, alpha=0.6, color=colour, label=method, lw=0)
    left.axhline(1.0, color="0.2", lw=1.2, label="blame_bias (= 1)")
    left.axvline(threshold, color=style.FAINT, ls="--", lw=1)
    left.set_yscale("log")
    left.set(
        xlabel="fraction of the decision on the biases",
        ylabel="sum |R_i| / sum |R_i of blame_bias|",
        xlim=(0, 1),
    )
    left.grid(True)
    left.legend(markerscale=2, loc="upper left")
    left.set_title("input relevance against blame the bias")
    epsilons = np.asarray(sweep["epsilon"], float)
    floor = min(e for e in epsilons if e > 0) / 10 if (epsilons > 0).any() else 1e-6
    methods = list(dict.fromkeys(sweep["method"]))
    for colour, method in zip(style.SERIES, methods, strict=False):
        pick = np.asarray(sweep["method"]) == method
        eps = np.where(epsilons[pick] > 0, epsilons[pick], floor)
        order = np.argsort(eps)
        values = np.asarray(sweep["max_abs_relevance"], float)[pick][order]
        right.plot(eps[order], values, marker="o", color=colour, label=method)
    right.axhline(blame_bias_max, color="0.2", lw=1.2, label="blame_bias")
    right.set_xscale("log")
    right.set_yscale("log")
    right.set(xlabel=f"eps (eps = 0 drawn at {floor:g})", ylabel="max |R_i| over the points")
    right.grid(True)
    right.legend(loc="upper right")
    right.set_title("the blip keeps LRP finite")
    fig.suptitle("LRP when a decision is mostly bias (§2)")
    return fig


@style.house_style
def perturbation(
    curves: dict[str, np.ndarray],
    random_curve: np.ndarray,
    aopc: dict[str, tuple[float, float]],
    title: str = "",
) -> Figure:
    """Region perturbation (Samek et al. 2015): the mean explained output after removing the
    k most relevant inputs (MoRF; set to the baseline), per method, against random orders;
    and each method's AOPC of MoRF (higher: its top inputs matter more) and of LeRF (lower is
    better), methods sorted by MoRF AOPC."""
    fig = Figure(figsize=(style.WIDE, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
    steps = np.arange(len(random_curve))
    for i, (method, curve) in enumerate(curves.items()):
        colour = style.SERIES[i % len(style.SERIES)]
        ls = ("-", "--", ":")[i // len(style.SERIES) % 3]
        left.plot(steps, curve, color=colour, ls=ls, lw=1.5, marker="o", ms=3, label=method)
    left.plot(steps, random_curve, color="0.2", lw=2.2, ls=(0, (1, 1)), label="random order")
    left.set(xlabel="inputs removed (most relevant first)", ylabel="mean f(x)")
    style.integer_ticks(left)
    left.grid(True)
    left.legend(fontsize=style.SMALL - 2, ncols=2, loc="upper right", framealpha=0.7)
    left.set_title("MoRF curves")
    ranked = sorted(aopc, key=lambda m: aopc[m][0])
    rows = np.arange(len(ranked))
    right.barh(rows - 0.2, [aopc[m][0] for m in ranked], 0.4, color=style.SERIES[0], label="MoRF")
    right.barh(rows + 0.2, [aopc[m][1] for m in ranked], 0.4, color=style.SERIES[1], label="LeRF")
    right.set_yticks(rows, ranked)
    right.axvline(0.0, color=style.FAINT, lw=0.8)
    right.set(xlabel="AOPC")
    right.legend(loc="lower right")
    right.set_title("area over the perturbation curve")
    if title:
        fig.suptitle(title)
    return fig
