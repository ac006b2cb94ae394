"""Figures written to PNG in a worker process, off the job's critical path.

Saving a figure (`plots.style.save_png`: drawing it with Agg and encoding the PNG) takes
0.1-0.3 s, several times what logging the rest of a small job's results takes. A `Renderer`
hands each figure, pickled, to one worker process that saves it while the job goes on (logs its
model, closes, the next job of a sweep trains); `Rendering.result()` waits for the file.

The worker ignores SIGINT (a terminal's Ctrl-C reaches every process of its group): the job
that is being stopped still gets the figures it already handed over. It exits when the job's
process closes the pool (at exit), and is killed when that process dies (even by SIGKILL, on
Linux). Only a job's own process has one (`own_renderer`): a process started by
multiprocessing (a joblib worker of toynets' launcher) runs no atexit handlers and would wait
for the idle worker forever when it ends, and its pool already runs a job per core. A
figure that cannot be pickled, or a worker that died, is saved in the calling process
instead: a figure is never lost to the pool.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

RENDER_ENV = "TOYNETS_RENDER_PROCESS"  # "0": save figures in the job's own process


class Rendering:
    """A figure being saved to `target`; `result()` returns the path once the file exists."""

    def __init__(self, figure: Any, target: Path, future: Future | None):
        self.figure, self.target, self._future = figure, target, future

    def result(self, timeout: float | None = None) -> Path:
        """Wait for the file; save it here if the worker could not (died, or was never used)."""
        if self._future is not None:
            try:
                self._future.result(timeout)
                return self.target
            except BrokenProcessPool:
                pass  # the worker died: the figure is still here
        save(self.figure, self.target)
        return self.target


class Renderer:
    """Worker processes that save figures: one, started on first use, unless `start` asks for
    more (a population sweep's jobs hand over figures faster than one worker draws them)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, figure: Any, target: Path) -> Rendering:
        """Start saving `figure` to `target` (PNG or GIF, the house way); the figure must not change
        until the rendering's result is in."""
        if os.environ.get(RENDER_ENV, "1") == "0":
            return Rendering(figure, target, None)
        try:
            payload = pickle.dumps(figure, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # an artist that cannot be pickled: save it here
            return Rendering(figure, target, None)
        try:
            future = self._worker().submit(_save_pickled, payload, str(target))
        except (BrokenProcessPool, RuntimeError):
            self.close()
            return Rendering(figure, target, None)
        return Rendering(figure, target, future)

    def start(self, workers: int = 1) -> None:
        """Start the workers now (each imports matplotlib, ~1 s) while the job does other work.
        The first call (or `submit`) sets how many there are; later calls change nothing."""
        if os.environ.get(RENDER_ENV, "1") != "0":
            pool = self._worker(workers)
            for _ in range(workers):  # the pool starts a process per task while none is idle
                pool.submit(int)

    def _worker(self, workers: int = 1) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=get_context("spawn"),
                initializer=_worker_start,
                initargs=(os.getpid(),),
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=False)
            self._pool = None


RENDERER = Renderer()  # the job process's renderer (a sweep's jobs in one process share it)
atexit.register(RENDERER.close)


def own_renderer() -> Renderer | None:
    """This process's renderer; None in a process started by multiprocessing, which saves
    its figures itself (see the module doc)."""
    return RENDERER if multiprocessing.parent_process() is None else None


def _worker_start(parent: int) -> None:
    from toynets.processes import die_with

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with(parent, signal.SIGKILL)  # nothing of the worker's is worth keeping without its job
    import matplotlib

    matplotlib.use("Agg")
    from toynets.plots import style  # noqa: F401  (the import is the worker's set-up cost)


def _save_pickled(payload: bytes, target: str) -> None:
    save(pickle.loads(payload), Path(target))


def save(figure: Any, target: Path) -> None:
    """Save a figure, or draw a `report.Drawing` and save that, the house way
    (`plots.style.save_png`), or draw a `report.Movie`'s frames and save them as a GIF
    (`plots.style.save_gif`); the worker and the job's own process both save through it."""
    from toynets.plots.style import save_gif, save_png
    from toynets.report import Movie, figure_of

    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(figure, Movie):
        save_gif(_with_slider_frames(figure, target), target, figure.frame_ms)
    else:
        save_png(figure_of(figure), target)


def slider_folder(target: Path) -> Path:
    """Where a movie's slider frames are saved beside its GIF: `<name>.frames/<step>.png`."""
    return target.with_suffix(".frames")


def _with_slider_frames(movie: Any, target: Path) -> Any:
    """A movie's frames, passed on one by one; its slider frames are saved as PNGs on the way
    (into `slider_folder(target)`, named by step) for tracking to log as MLflow images."""
    from PIL import Image

    keep = {int(i) for i in movie.slider}
    folder = slider_folder(target)
    if keep:
        folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(movie.frames()):
        if i in keep:
            image = (
                frame
                if isinstance(frame, Image.Image)
                else Image.fromarray(np.asarray(frame, np.uint8))
            )
            image.convert("RGB").save(folder / f"{int(movie.steps[i])}.png", compress_level=1)
        yield frame
