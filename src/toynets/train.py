"""Training in compiled chunks: many optimizer steps per `tf.function` call.

Keras `fit(epochs=N)` with one batch per epoch spends ~23 ms of Python per step on a tiny net;
here a chunk of steps runs inside one graph (`for k in tf.range(n)`), so a step costs what its
arithmetic costs. A chunk ends wherever something must leave the graph: an evaluation
(`eval_every`), a weight snapshot (`snapshot_every`) or the last step.

Mini-batches follow Keras' order: each epoch is a fresh permutation of the training set cut
into ceil(n / batch_size) batches, the last one possibly smaller. Full batch (batch_size null
or >= n) skips the shuffle. The same seed gives bit-identical weights (with
`enable_op_determinism`, set by `seed_everything`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from toynets.config import Config, TrainConfig
from toynets.data import Dataset
from toynets.errors import Terminated, TrainingDiverged
from toynets.model import correct, dense_layers, logits, loss_per_example

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}


EXPLOSION = 1e3  # a training loss this many times its start (and above 1) is exploding


class Observer(Protocol):
    """Told about training as it goes (e.g. to stream the curves to the store)."""

    def evaluated(self, history: Callable[[], History]) -> None:
        """After every evaluation; `history()` builds the history so far (not free: call it
        only when needed)."""

    def warn(self, message: str) -> None:
        """Something the user should know now (an exploding loss)."""


def exploding(start: float, losses: np.ndarray) -> int | None:
    """Index of the first loss above EXPLOSION x max(start, 1e-3) and above 1, else None."""
    limit = max(EXPLOSION * max(start, 1e-3), 1.0)
    over = np.flatnonzero(losses > limit)
    return int(over[0]) if over.size else None


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training; `history` holds what was recorded until then."""

    def __init__(self, history: History, terminated: bool = False):
        how = "terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C)"
        super().__init__(f"training {how} at step {len(history.step_loss)}")
        self.history, self.terminated = history, terminated


def seed_everything(seed: int) -> None:
    """Start a job clean: drop Keras state left by an earlier job in this process, seed
    Python, NumPy and TensorFlow, and make TF's kernels deterministic."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass
class Schedule:
    """How many steps, in which batches, and when to evaluate and snapshot."""

    n: int
    batch_size: int
    steps: int
    eval_every: int
    snapshot_every: int

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch_size)

    @property
    def full_batch(self) -> bool:
        return self.batch_size >= self.n

    @classmethod
    def of(cls, cfg: TrainConfig, n: int) -> Schedule:
        batch = min(cfg.batch_size or n, n)
        per_epoch = math.ceil(n / batch)
        steps = cfg.steps if cfg.steps is not None else int(cfg.epochs or 1) * per_epoch
        default = per_epoch if cfg.steps is None else max(1, steps // 100)
        snapshot_every = cfg.snapshot_every or default
        eval_every = cfg.eval_every or snapshot_every
        return cls(n, batch, steps, eval_every, snapshot_every)

    def chunk_end(self, step: int) -> int:
        """The next step after `step` at which the loop must leave the graph."""
        nxt = min((step // k + 1) * k for k in (self.eval_every, self.snapshot_every))
        return min(nxt, self.steps)


@dataclass
class History:
    """What training recorded. `step_loss[s]` is the mini-batch loss before update s."""

    step_loss: np.ndarray  # [steps]
    eval_step: np.ndarray  # [E]
    metrics: dict[str, np.ndarray]  # "train/loss", "test/loss" (+ "/accuracy"), each [E]
    snapshot_step: np.ndarray  # [T]
    snapshots: dict[str, np.ndarray]  # W{i} [T, fan_in, fan_out], b{i} [T, fan_out]
    seconds: float
    schedule: Schedule
    extra: dict[str, float] = field(default_factory=dict)

    def final(self) -> dict[str, float]:
        """`final/train_loss`, `final/test_loss` (+ accuracies): the last evaluation."""
        return {f"final/{k.replace('/', '_')}": float(v[-1]) for k, v in self.metrics.items()}

    def snapshot_arrays(self) -> dict[str, np.ndarray]:
        """The snapshots.npz contract: `step` [T] and per layer `W{i}`, `b{i}`."""
        return {"step": self.snapshot_step, **self.snapshots}


class Trainer:
    """Compiled training of a masked MLP from `toynets.model` on a `Dataset`."""

    def __init__(self, model: keras.Model, data: Dataset, cfg: TrainConfig, head: str, seed: int):
        self.model, self.data, self.cfg, self.head = model, data, cfg, head
        self.schedule = Schedule.of(cfg, len(data.x_train))
        self.rng = np.random.default_rng(seed)
        self.optimizer = OPTIMIZERS[cfg.optimizer](learning_rate=cfg.lr)
        self.variables = model.trainable_variables
        self.optimizer.build(self.variables)
        self.x = tf.constant(data.x_train)
        self.y = tf.constant(data.y_train)
        self.x_test = tf.constant(data.x_test)
        self.y_test = tf.constant(data.y_test)
        spec = tf.TensorSpec([], tf.int32)
        self._run = tf.function(
            self._steps,
            input_signature=[spec, spec, tf.TensorSpec([None, None], tf.int32), spec],
            # XLA fuses the whole full-batch loop (~3x faster); a mini-batch's dynamic size
            # would make XLA recompile, so those chunks run as a plain graph.
            jit_compile=self.schedule.full_batch,
        )
        self._evaluate = tf.function(self._metrics)

    def _loss(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(loss_per_example(self.head, y, logits(self.model, x)))

    def _steps(
        self, start: tf.Tensor, n_steps: tf.Tensor, order: tf.Tensor, first_epoch: tf.Tensor
    ) -> tf.Tensor:
        """Steps start .. start+n_steps-1; order[e - first_epoch] is epoch e's permutation."""
        losses = tf.TensorArray(tf.float32, size=n_steps)
        per_epoch, batch = self.schedule.steps_per_epoch, self.schedule.batch_size
        for k in tf.range(n_steps):
            if self.schedule.full_batch:
                x, y = self.x, self.y
            else:
                step = start + k
                row = order[step // per_epoch - first_epoch]
                j = step % per_epoch
                idx = row[j * batch : tf.minimum((j + 1) * batch, self.schedule.n)]
                x, y = tf.gather(self.x, idx), tf.gather(self.y, idx)
            with tf.GradientTape() as tape:
                loss = self._loss(x, y)
            grads = tape.gradient(loss, self.variables)
            self.optimizer.apply_gradients(zip(grads, self.variables, strict=True))
            losses = losses.write(k, loss)
        return losses.stack()

    def _metrics(self) -> dict[str, tf.Tensor]:
        out = {}
        for split, x, y in (("train", self.x, self.y), ("test", self.x_test, self.y_test)):
            z = logits(self.model, x)
            out[f"{split}/loss"] = tf.reduce_mean(loss_per_example(self.head, y, z))
            if self.head != "linear":
                out[f"{split}/accuracy"] = tf.reduce_mean(correct(self.head, y, z))
        return out

    def _order(self, start: int, stop: int) -> tuple[np.ndarray, int]:
        """Permutations for the epochs that steps start..stop-1 touch (drawn once per epoch, in
        order; those of epochs already past are dropped)."""
        if self.schedule.full_batch:
            return np.zeros((1, 0), np.int32), 0
        per_epoch = self.schedule.steps_per_epoch
        first, last = start // per_epoch, (stop - 1) // per_epoch
        while self._drawn <= last:
            self._epochs[self._drawn] = self.rng.permutation(self.schedule.n).astype(np.int32)
            self._drawn += 1
        for epoch in [e for e in self._epochs if e < first]:
            del self._epochs[epoch]
        return np.stack([self._epochs[e] for e in range(first, last + 1)]), first

    def snapshot(self) -> list[np.ndarray]:
        return [
            v.numpy().copy()
            for layer in dense_layers(self.model)
            for v in (layer.kernel, layer.bias)
        ]

    def fit(self, observer: Observer | None = None) -> History:
        """Train; Ctrl-C raises TrainingInterrupted and a non-finite loss TrainingDiverged, both
        carrying the history up to the last chunk. `observer` hears of every evaluation and of
        a loss that explodes (once)."""
        s = self.schedule
        self._epochs: dict[int, np.ndarray] = {}
        self._drawn = 0
        step_loss = np.empty(s.steps, np.float32)
        eval_steps, evals = [0], [self._evaluate()]
        snap_steps, snaps = [0], [self.snapshot()]
        start_loss = float(evals[0]["train/loss"])
        warned = False
        t0 = time.perf_counter()
        step = 0

        def history() -> History:
            # A Ctrl-C between two appends leaves one list a step ahead: keep what both have.
            n_evals, n_snaps = min(len(eval_steps), len(evals)), min(len(snap_steps), len(snaps))
            metrics = {
                k: np.array([float(e[k]) for e in evals[:n_evals]], np.float32) for k in evals[0]
            }
            snapshots = {}
            for i in range(len(snaps[0]) // 2):
                snapshots[f"W{i}"] = np.stack([snap[2 * i] for snap in snaps[:n_snaps]])
                snapshots[f"b{i}"] = np.stack([snap[2 * i + 1] for snap in snaps[:n_snaps]])
            return History(
                step_loss[:step],
                np.array(eval_steps[:n_evals]),
                metrics,
                np.array(snap_steps[:n_snaps]),
                snapshots,
                time.perf_counter() - t0,
                s,
            )

        bar = tqdm(
            total=s.steps,
            unit="step",
            desc="train",
            leave=False,
            disable=None if self.cfg.progress else True,
        )
        try:
            with bar:
                while step < s.steps:
                    stop = s.chunk_end(step)
                    order, first = self._order(step, stop)
                    losses = self._run_chunk(step, stop - step, order, first)
                    step_loss[step:stop] = losses
                    bad = np.flatnonzero(~np.isfinite(losses))
                    if bad.size:
                        step += int(bad[0])  # the steps before it are kept
                        value = float(losses[bad[0]])
                        raise TrainingDiverged(
                            f"the training loss became {value} at step {step}",
                            step,
                            value,
                            history(),
                        )
                    if not warned and (at := exploding(start_loss, losses)) is not None:
                        warned = True
                        if observer is not None:
                            observer.warn(
                                f"the training loss is exploding: {losses[at]:.3g} at step "
                                f"{step + at}, over {EXPLOSION:g} x its start ({start_loss:.3g})"
                            )
                    step = stop
                    if step % s.eval_every == 0 or step == s.steps:
                        # Value first, then both lists: a Ctrl-C inside the evaluation must
                        # not leave a step without its value.
                        value = self._evaluate()
                        eval_steps.append(step)
                        evals.append(value)
                    if step % s.snapshot_every == 0 or step == s.steps:
                        weights = self.snapshot()
                        snap_steps.append(step)
                        snaps.append(weights)
                    if observer is not None and eval_steps[-1] == step:
                        observer.evaluated(history)
                    bar.update(stop - bar.n)
                    bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        except KeyboardInterrupt as stop:
            raise TrainingInterrupted(history(), isinstance(stop, Terminated)) from None
        return history()

    def _run_chunk(self, step: int, n_steps: int, order: np.ndarray, first: int) -> np.ndarray:
        args = (tf.constant(step), tf.constant(n_steps), tf.constant(order), tf.constant(first))
        return self._run(*args).numpy()


def fit(
    model: keras.Model,
    data: Dataset,
    cfg: TrainConfig,
    head: str,
    seed: int,
    observer: Observer | None = None,
) -> History:
    """Train `model` in place on `data`; return the recorded history."""
    return Trainer(model, data, cfg, head, seed).fit(observer)


# A learning rate this many times the optimizer's usual one is the likely cause of divergence.
USUAL_LR = {"adam": 1e-3, "rmsprop": 1e-3, "sgd": 1e-2}


def likely_causes(config: Config) -> list[str]:
    """The settings of this job that most likely made the loss diverge, most likely first:
    initial weights scaled up (model.init_scale > 1), a learning rate over 10x the optimizer's
    usual one; the learning rate itself when neither applies."""
    model, train = config.model, config.train
    causes = []
    if model.init_scale > 1:
        causes.append(
            f"model.init_scale={model.init_scale:g} makes the initial weights "
            f"{model.init_scale:g}x larger than {model.initializer} draws them (try 1)"
        )
    usual = USUAL_LR[train.optimizer]
    if train.lr > 10 * usual or not causes:
        causes.append(
            f"train.lr={train.lr:g} with train.optimizer={train.optimizer} (its usual rate is "
            f"{usual:g}; try train.lr={min(train.lr / 10, usual):g})"
        )
    return causes


def explain_divergence(error: TrainingDiverged, config: Config) -> str:
    """`the training loss became nan at step 37; likely cause: train.lr=100 ...`."""
    causes = likely_causes(config)
    label = "likely cause" if len(causes) == 1 else "likely causes"
    return f"{error}; {label}: {'; '.join(causes)}"
