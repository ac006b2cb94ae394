"""`Report`: what a study hands to tracking; plain Python, NumPy and matplotlib objects only.

Tracking stores each part at a fixed artifact path (the contract of docs/architecture.md):
`metrics` as run metrics, `tables[name]` as `tables/<name>.csv`, `arrays[name]` as
`data/<name>.npz`, `figures[name]` as `figures/<name>.png`, and `files[name]` (text or bytes)
at `<name>` itself (e.g. `node_removal.html`); `notes` (sentences a reader of the run should
see, e.g. that a step was skipped) become the run's description.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

Table = dict[str, list[Any] | np.ndarray]  # column name -> values, all of one length


@dataclass
class Report:
    metrics: dict[str, float] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # name -> matplotlib Figure
    files: dict[str, str | bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
