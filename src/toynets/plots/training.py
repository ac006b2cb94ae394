"""Loss and accuracy curves."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from toynets.plots import style


@style.house_style
def loss_curves(
    step_loss: np.ndarray, eval_step: np.ndarray, metrics: dict[str, np.ndarray], title: str = ""
) -> Figure:
    """Mini-batch loss per step (faint), train/test loss at each evaluation, and accuracy.
    Laid out by hand (`style.panel_grid`): every job of a sweep draws it."""
    has_acc = any(k.endswith("accuracy") for k in metrics)
    fig, axes, _ = style.panel_grid(
        2 if has_acc else 1,
        2,
        (3.45 if has_acc else 5.6, 2.65),
        margins=(0.75, 0.15, 0.55, 0.32 if title else 0.12),
        gap=0.95,
    )
    ax = axes[0]
    steps = np.arange(len(step_loss))
    ax.plot(steps, step_loss, color=style.FAINT, lw=0.6, alpha=0.7, label="mini-batch")
    for split, colour in (("train", style.TRAIN), ("test", style.TEST)):
        if f"{split}/loss" in metrics:
            ax.plot(eval_step, metrics[f"{split}/loss"], color=colour, lw=1.8, label=split)
    positive = np.concatenate([step_loss, *metrics.values()])
    if np.all(positive[np.isfinite(positive)] > 0):
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss", title="loss")
    ax.grid(True)
    ax.legend()
    if has_acc:
        ax = axes[1]
        for split, colour in (("train", style.TRAIN), ("test", style.TEST)):
            ax.plot(eval_step, metrics[f"{split}/accuracy"], color=colour, lw=1.8, label=split)
        ax.set(xlabel="step", ylabel="accuracy", title="accuracy", ylim=(None, 1.005))
        ax.grid(True)
        ax.legend(loc="lower right")
    if title:
        style.suptitle(fig, title)
    return fig
