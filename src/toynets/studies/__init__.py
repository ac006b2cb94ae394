"""Studies: one file each, named after it. A study turns a trained net into a `Report`.

Every study module exposes `run(trained: Trained, cfg) -> Report`, where `cfg` is its config
dataclass (registered in `toynets.config.STUDY_SCHEMAS`). A study that reproduces a source
document has the source's setting and numbers in `assets/sources/<name>.yaml`
(`toynets.analysis.reproduction.source_of`). Studies compose pure analyses
(`toynets.analysis`) and figures (`toynets.plots`); they never touch MLflow or Hydra.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from toynets.analysis.maps import Grid, default_box, plane_grid
from toynets.data import Dataset
from toynets.net import Layer, Net
from toynets.report import Report
from toynets.train import History


@dataclass
class Trained:
    """A trained model with everything a study may need."""

    model: Any  # keras.Model
    net: Net
    head: str
    data: Dataset
    history: History
    title: str = ""
    config: Any = None  # the job's validated Config


def map_box(data: Dataset, cfg: Any) -> tuple[float, float, float, float]:
    """The input-plane box of a study's maps: `cfg.box` if given, else the data box scaled
    by `cfg.box_zoom` about its centre."""
    if cfg.box is not None:
        return tuple(float(v) for v in cfg.box)
    return default_box(data.domain, cfg.box_zoom)


def input_plane(data: Dataset, cfg: Any, size: int) -> tuple[Grid, np.ndarray | None]:
    """The grid of a study's maps, `size` points a side over `map_box(data, cfg)` with the
    inputs after the first two at their training mean, and the true labels on it (None for a
    dataset without a rule)."""
    rest = data.x_train[:, 2:].mean(axis=0) if data.n_features > 2 else None
    grid = plane_grid(map_box(data, cfg), size, rest)
    truth = data.truth(grid.points).reshape(grid.shape) if data.truth is not None else None
    return grid, truth


def snapshot_net(net: Net, history: History, t: int) -> Net:
    """`net` (a trained net's layers) with the weights of its weight snapshot t (0: before
    training, -1: the last)."""
    snaps = history.snapshots
    return Net(
        tuple(
            Layer(snaps[f"W{i}"][t], snaps[f"b{i}"][t], layer.activation, layer.k)
            for i, layer in enumerate(net.layers)
        )
    )


def final_step(trained: Trained) -> int:
    """The training step of the trained weights (the last evaluation, at the end of the
    training): the step at which a study's pictures are logged as MLflow images
    (`Report.images`)."""
    return int(trained.history.eval_step[-1])


def get(name: str) -> Callable[[Trained, Any], Report]:
    """The `run` function of study `name` (module toynets.studies.<name>)."""
    return importlib.import_module(f"toynets.studies.{name}").run
