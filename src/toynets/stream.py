"""Training curves reach the store while training runs, so that a job stopped by anything
(Ctrl-C, SIGTERM, SIGKILL, a diverging loss, a crash) keeps them up to a few seconds before.

A `CurveStream` is the `toynets.train.Observer` of a job's training: at an evaluation, when at
least `every` seconds have passed since the last write, it sends the points recorded since then
(every metric's new evaluations and the new step losses, in bulk) and the latest weight
snapshot (`weights/latest.npz`); `finish` sends the rest and every snapshot
(`weights/snapshots.npz`). Each point is sent once. Writes go through a run recorder
(`toynets.tracking.RunRecorder`), the only thing here that touches the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from toynets import console

FLUSH_SECONDS = 2.0
WARNING_TAG = "toynets.warning"


class CurveStream:
    """Sends a job's training history to its run in batches (see module doc)."""

    def __init__(
        self,
        recorder: Any,
        every: float = FLUSH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.recorder, self.every, self.clock = recorder, every, clock
        self.sent_steps = 0  # step losses already in the store
        self.sent_evals = 0  # evaluations already in the store
        self.flushes = 0
        self.warnings: list[str] = []
        self._last = clock()

    def evaluated(self, history: Callable[[], Any]) -> None:
        if self.clock() - self._last >= self.every:
            self.send(history())

    def warn(self, message: str) -> None:
        """A warning: on the terminal now, and as the run's `toynets.warning` tag."""
        self.warnings.append(message)
        console.say(f"warning: {message}")
        self.recorder.set_tags({WARNING_TAG: "; ".join(self.warnings)})

    def send(self, history: Any, final: bool = False) -> None:
        """The points of `history` not sent yet, and its latest snapshot (all of them when
        `final`)."""
        evals, steps = len(history.eval_step), len(history.step_loss)
        curves = {
            name: (history.eval_step[self.sent_evals :], values[self.sent_evals : evals])
            for name, values in history.metrics.items()
        }
        curves["train/step_loss"] = (
            range(self.sent_steps, steps),
            history.step_loss[self.sent_steps :],
        )
        with console.interrupts_deferred():  # sent and counted, or neither
            self.recorder.log_curves(curves)
            self.sent_evals, self.sent_steps = evals, steps
        snapshots = history.snapshot_arrays()
        if final:
            self.recorder.log_arrays(snapshots, "weights/snapshots.npz")
        if not final or self.flushes:  # keep latest.npz, once written, the latest
            latest = {name: values[-1] for name, values in snapshots.items()}
            self.recorder.log_arrays(latest, "weights/latest.npz")
        self.flushes += 1
        self._last = self.clock()

    def finish(self, history: Any) -> None:
        """Everything not sent yet: the last points and every weight snapshot."""
        self.send(history, final=True)
