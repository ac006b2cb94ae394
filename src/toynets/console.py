"""What a job prints: one line per stage, progress bars on a terminal, the run; the rest on request.

Quiet by default. Library log lines (MLflow, Keras, matplotlib, Python warnings) go to the job's
log file, `outputs/<date>/<time>/toynets.log` (Hydra's job logging, `conf/config.yaml`), and
TensorFlow's native start-up lines (absl, oneDNN, cpu_feature_guard), which bypass Python and
write straight to file descriptor 2, are held back while TensorFlow loads. `hydra.verbose=true`
or `TOYNETS_VERBOSE=1` prints all of it on the terminal as well.

Stages (`stage`) print `toynets: <what> (<seconds> s)` when they end, on a terminal or not; where
the work is countable they also show a tqdm bar while they run, on a terminal only.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm.auto import tqdm

VERBOSE_ENV = "TOYNETS_VERBOSE"
_job = {"prefix": ""}  # "job 3: " inside a sweep, whose jobs may print at the same time


def verbose() -> bool:
    """Whether the user asked for everything (TOYNETS_VERBOSE=1, or hydra.verbose=true)."""
    return os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def configure(verbose_requested: bool = False, job: int | None = None) -> None:
    """Route library output for a job: to the terminal when verbose, else to the log file;
    `job` (a sweep's job number) prefixes the job's lines.

    Sets `TOYNETS_VERBOSE` so that sweep workers started later behave the same.
    """
    _job["prefix"] = f"job {job}: " if job is not None else ""
    if verbose_requested:
        os.environ[VERBOSE_ENV] = "1"
    root = logging.getLogger()
    if verbose():
        if not any(getattr(h, "_toynets", False) for h in root.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("[%(name)s][%(levelname)s] %(message)s"))
            handler._toynets = True  # type: ignore[attr-defined]
            root.addHandler(handler)
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        logging.captureWarnings(True)  # Python warnings -> logger py.warnings -> the log file


@contextmanager
def native_output_held() -> Iterator[None]:
    """Hold back what native code writes to file descriptor 2 (unless verbose); replay it if
    the block raises, so a failing import still explains itself."""
    if verbose():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow() -> None:
    """Import TensorFlow and Keras without their native start-up lines (see module doc).

    The first import runs with the cyclic garbage collector paused, and what it made is then
    frozen (`gc.freeze`): the import builds several hundred thousand long-lived objects, and
    collecting them over and over as they pile up cost ~0.8 s per process; frozen, they are no
    longer scanned by the collections that follow while the job runs."""
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return
    collecting = gc.isenabled()
    gc.disable()
    try:
        with native_output_held():
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def say(message: str) -> None:
    """One line for the user, on stderr, without breaking a running progress bar."""
    tqdm.write(f"toynets: {_job['prefix']}{message}", file=sys.stderr)


class Stage:
    """A running stage: `advance(k)` moves its bar (if it has one); `detail` ends its line."""

    def __init__(self, bar: Any):
        self._bar = bar
        self.detail = ""

    def advance(self, k: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(k)


@contextmanager
def stage(what: str, total: int | None = None, unit: str = "it") -> Iterator[Stage]:
    """A stage of a job: a bar over `total` units while it runs (terminal only), then the
    line `toynets: <what> (<seconds> s)`. Nothing is printed for a stage that raises."""
    bar = None
    if total is not None:
        bar = tqdm(total=total, desc=what, unit=unit, leave=False, disable=None, file=sys.stderr)
    current = Stage(bar)
    start = time.perf_counter()
    try:
        yield current
    finally:
        if bar is not None:
            bar.close()
    detail = f", {current.detail}" if current.detail else ""
    say(f"{what} ({time.perf_counter() - start:.1f} s{detail})")


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait until the block is done, then act as usual: for a write and the
    bookkeeping of what was written (an interrupt between the two would write it twice)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if received:
            signal.raise_signal(received[0])
