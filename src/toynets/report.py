"""`Report`: what a study hands to tracking; plain Python, NumPy and matplotlib objects only.

Tracking stores each part at a fixed artifact path (the contract of docs/architecture.md):
`metrics` as run metrics, `tables[name]` as `tables/<name>.csv`, `arrays[name]` as
`data/<name>.npz`, `figures[name]` (a matplotlib figure, or a `Drawing` of one) as
`figures/<name>.png`, a `Movie` as `figures/<name>.gif`, `curves[name]` = (steps, values) as
a metric's history over the training steps, `images[name]` = step: the figure `name` also
as an MLflow image under the key `name` at that training step (the UI's image grid compares
it across runs), and `files[name]` (text or bytes)
at `<name>` itself (e.g. `node_removal.html`); `notes` (sentences a reader of the run should
see, e.g. that a step was skipped) become the run's description.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Table = dict[str, list[Any] | np.ndarray]  # column name -> values, all of one length


@dataclass(frozen=True)
class Drawing:
    """A figure still to be drawn: `function(*args, **kwargs)` returns it. A study hands this
    instead of the figure where drawing it is worth taking off the job's critical path: the
    render worker (`toynets.render`) draws and saves it while the job goes on. `function` is a
    module-level function of `toynets.plots` (pickled by name), the arguments arrays and plain
    values."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)

    def figure(self) -> Any:
        return self.function(*self.args, **self.kwargs)


@dataclass(frozen=True)
class Movie:
    """An animation still to be drawn: `function(*args, **kwargs)` returns (or yields) its
    frames (RGB arrays [height, width, 3] of one size), saved as a looping GIF that shows each
    for `frame_ms` milliseconds (MLflow's artifact viewer plays it). Drawn where it is saved,
    as a `Drawing` is. With `steps` (the training step each frame shows), the frames at the
    indices `slider` are also logged as MLflow images with their steps: the run's image chart
    scrubs through them with its step slider."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    frame_ms: int = 150
    steps: tuple[int, ...] = ()
    slider: tuple[int, ...] = ()

    def frames(self) -> Iterable[np.ndarray]:
        return self.function(*self.args, **self.kwargs)


def file_suffix(item: Any) -> str:
    """The file type a report's `figures` entry is saved as: `.gif` for a Movie, else `.png`."""
    return ".gif" if isinstance(item, Movie) else ".png"


def figure_of(item: Any) -> Any:
    """The matplotlib figure of a report's `figures` entry (a Drawing is drawn now)."""
    return item.figure() if isinstance(item, Drawing) else item


@dataclass
class Report:
    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # name -> Figure, Drawing or Movie
    images: dict[str, int] = field(default_factory=dict)  # figure name -> its training step
    files: dict[str, str | bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
