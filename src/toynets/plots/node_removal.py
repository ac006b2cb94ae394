"""Figures of the node-removal study (DIGEST §1), drawn from the study's arrays."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from toynets.plots.maps import decision_map


def map_grid(
    x1: np.ndarray,
    x2: np.ndarray,
    probabilities: Sequence[np.ndarray],
    titles: Sequence[str],
    truth: np.ndarray | None,
    columns: int = 7,
    suptitle: str = "",
) -> Figure:
    """Small decision maps side by side (P(y=1), yellow = sure 0, navy = sure 1)."""
    rows = math.ceil(len(probabilities) / columns)
    fig = Figure(figsize=(2.2 * columns, 2.3 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, probability, title in zip(axes, probabilities, titles, strict=False):
        decision_map(ax, x1, x2, probability, truth=truth, title=title)
        ax.set(xlabel="", ylabel="", xticks=[], yticks=[])
        ax.title.set_fontsize(8)
    for ax in axes[len(probabilities) :]:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def pdfs(
    grid: np.ndarray,
    curves: dict[str, np.ndarray],
    xlabel: str,
    vline: tuple[float, str] | None = None,
    dotted: dict[str, np.ndarray] | None = None,
    dashed: dict[str, np.ndarray] | None = None,
    title: str = "",
) -> Figure:
    """Smoothed densities per p (solid), fitted normals (dotted), exact densities (dashed)."""
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for k, (label, density) in enumerate(curves.items()):
        ax.plot(grid, density, color=f"C{k}", lw=1.6, label=label)
        if dotted and label in dotted:
            ax.plot(grid, dotted[label], color=f"C{k}", lw=1.2, ls=":")
        if dashed and label in dashed:
            ax.plot(grid, dashed[label], color=f"C{k}", lw=1.0, ls="--", alpha=0.8)
    if vline is not None:
        ax.axvline(vline[0], color="0.5", lw=1.5, label=vline[1])
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def per_unit_pdfs(
    grid: np.ndarray, on: list[np.ndarray], off: list[np.ndarray], xlabel: str
) -> Figure:
    """One panel per unit: the density of a quantity when the unit is on and when it is off."""
    n = len(on)
    columns = min(5, n)
    rows = math.ceil(n / columns)
    fig = Figure(figsize=(2.6 * columns, 2.0 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for i in range(n):
        axes[i].plot(grid, on[i], color="C2", lw=1.2, label="on")
        axes[i].plot(grid, off[i], color="C3", lw=1.2, label="off")
        axes[i].set_title(f"unit {i}", fontsize=8)
        axes[i].tick_params(labelsize=7)
    for ax in axes[n:]:
        ax.axis("off")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{xlabel} at p = 0.5, split by whether the unit is on")
    return fig


def path_covariance(cov: np.ndarray, from_start: np.ndarray, from_end: np.ndarray) -> Figure:
    """The covariance of log losses along hypercube paths, and its decay with distance."""
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    image = left.imshow(cov, cmap="viridis", origin="upper")
    fig.colorbar(image, ax=left, shrink=0.85)
    left.set(xlabel="step", ylabel="step", title="covariance of log loss along the paths")
    distance = np.arange(len(from_start))
    right.plot(distance, from_start, "o-", label="start vs step d")
    right.plot(distance, from_end, "s--", label="end vs step N - d")
    right.axhline(0, color="0.6", lw=0.8)
    right.set(xlabel="flips d", ylabel="covariance", title="by distance (equal by reversal)")
    right.grid(alpha=0.3)
    right.legend()
    return fig


def unit_maps(
    x1: np.ndarray, x2: np.ndarray, maps: np.ndarray, title: str, symmetric: bool = True
) -> Figure:
    """One input-plane image per unit (e.g. d loss / d m_i), a shared colour scale."""
    n = maps.shape[-1]
    columns = min(5, n)
    rows = math.ceil(n / columns)
    fig = Figure(figsize=(2.5 * columns, 2.3 * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    span = float(np.nanmax(np.abs(maps))) or 1.0
    box = [x1[0], x1[-1], x2[0], x2[-1]]
    image = None
    for i in range(n):
        image = axes[i].imshow(
            maps[..., i],
            origin="lower",
            extent=box,
            cmap="RdBu_r",
            vmin=-span if symmetric else None,
            vmax=span if symmetric else None,
            aspect="auto",
        )
        axes[i].set_title(f"unit {i}", fontsize=8)
        axes[i].set(xticks=[], yticks=[])
    for ax in axes[n:]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=axes.tolist(), shrink=0.6)
    fig.suptitle(title)
    return fig


def single_map(x1, x2, values: np.ndarray, title: str, label: str) -> Figure:
    fig = Figure(figsize=(5.6, 4.6), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(
        values, origin="lower", extent=[x1[0], x1[-1], x2[0], x2[-1]], cmap="magma", aspect="auto"
    )
    fig.colorbar(image, ax=ax).set_label(label)
    ax.set(xlabel="$x_1$", ylabel="$x_2$", title=title)
    return fig


def unit_values(values: dict[str, np.ndarray], title: str) -> Figure:
    """Bars per unit for several values (e.g. Shapley and Banzhaf of the loss)."""
    names = list(values)
    n = len(next(iter(values.values())))
    fig = Figure(figsize=(max(6.0, 0.45 * n + 2), 3.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        ax.bar(np.arange(n) + (k - (len(names) - 1) / 2) * width, values[name], width, label=name)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set(xlabel="unit", xticks=range(n), title=title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return fig
