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

from toynets.analysis.maps import default_box
from toynets.data import Dataset
from toynets.net import Net
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


def get(name: str) -> Callable[[Trained, Any], Report]:
    """The `run` function of study `name` (module toynets.studies.<name>)."""
    return importlib.import_module(f"toynets.studies.{name}").run
