"""Sweep summary figures: a final metric against each swept parameter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from toynets.analysis.sweep import Series, sort_values
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
