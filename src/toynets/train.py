"""Training in compiled chunks: many optimizer steps per `tf.function` call.

Keras `fit(epochs=N)` with one batch per epoch spends ~23 ms of Python per step on a tiny net;
here a chunk of steps runs inside one graph (`for k in tf.range(n)`), so a step costs what its
arithmetic costs. A chunk ends wherever something must leave the graph: an evaluation
(`eval_every`), a weight snapshot (`snapshot_every`) or the last step.

Mini-batches follow Keras' order: each epoch is a fresh permutation of the training set cut
into ceil(n / batch_size) batches, the last one possibly smaller. Full batch (batch_size null
or >= n) skips the shuffle. The same seed gives bit-identical weights (with
`enable_op_determinism`, set by `seed_everything`).

What trains is always a population (`toynets.population`): `fit` trains one net, and
`fit_population` trains K nets at once, each as it would train alone (to float32 round-off).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from toynets.config import Config, TrainConfig
from toynets.data import Dataset
from toynets.errors import Terminated, TrainingDiverged
from toynets.net import Net
from toynets.population import (
    architecture_of,
    compiled,
    describe_kinds,
    optimizer_state,
    stack,
    unstack,
)

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
    """Ctrl-C during training; `histories` hold what was recorded for each member until then
    (`history`: the first, the one of a single job)."""

    def __init__(self, histories: list[History], terminated: bool = False):
        how = "terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C)"
        super().__init__(f"training {how} at step {len(histories[0].step_loss)}")
        self.histories, self.history, self.terminated = histories, histories[0], terminated


def seed_everything(seed: int) -> None:
    """Start a job clean: drop Keras state left by an earlier job in this process, seed
    Python, NumPy and TensorFlow, and make TF's kernels deterministic. (Without Keras' full
    garbage collection, which takes 0.3 s once TensorFlow and MLflow are loaded: Python's own
    collector frees the old models as it goes.)"""
    keras.backend.clear_session(free_memory=False)
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
    eval_seconds: np.ndarray | None = None  # [E] training seconds at each evaluation (not
    # counting the compilation, nor the evaluations and snapshots before it)

    def final(self) -> dict[str, float]:
        """`final/train_loss`, `final/test_loss` (+ accuracies): the last evaluation."""
        return {f"final/{k.replace('/', '_')}": float(v[-1]) for k, v in self.metrics.items()}

    def snapshot_arrays(self) -> dict[str, np.ndarray]:
        """The snapshots.npz contract: `step` [T] and per layer `W{i}`, `b{i}`."""
        return {"step": self.snapshot_step, **self.snapshots}


@dataclass
class Member:
    """One net of a population: its initialised Keras model (trained in place; or a `Net`,
    which stays as it is: its trained weights are then its History's last snapshot, and no
    Keras model is built, ~60 ms each), its data, its training config (learning rate per
    member; the schedule shared), its seed for the batch order, its output head, and who
    hears about its training."""

    model: keras.Model | Net
    data: Dataset
    cfg: TrainConfig
    seed: int
    head: str
    observer: Observer | None = None


class Trainer:
    """Compiled training of a population of masked MLPs from `toynets.model` (one or many,
    see `toynets.population`): every member steps at once, each on its own batches."""

    def __init__(self, members: Sequence[Member]):
        first = members[0]
        self.members = list(members)
        self.schedule = Schedule.of(first.cfg, len(first.data.x_train))
        for member in members[1:]:
            problem = population_problem(first, member)
            if problem:
                raise ValueError(f"these nets cannot train as one population: {problem}")
        self.population = stack([m.model for m in members], first.head, first.cfg.optimizer)
        self._train_chunk, self._evaluate = compiled(
            self.population.architecture, self.schedule.full_batch
        )
        self.weights = [tf.constant(w) for w in self.population.weights]
        self.state = [
            tf.constant(s)
            for s in optimizer_state(
                first.cfg.optimizer, self.population.weights, [m.seed for m in members]
            )
        ]
        self.masks = [tf.constant(m) for m in self.population.masks]
        self.active = tf.ones([len(members)], tf.float32)
        self.lr = tf.constant([m.cfg.lr for m in members], tf.float32)
        self.rngs = [np.random.default_rng(m.seed) for m in members]

        def stacked(name: str) -> tf.Tensor:
            return tf.constant(np.stack([getattr(m.data, name) for m in members]))

        self.x, self.y = stacked("x_train"), stacked("y_train")
        self.x_test, self.y_test = stacked("x_test"), stacked("y_test")

    def _order(self, start: int, stop: int) -> np.ndarray:
        """Each member's permutations for the epochs that steps start..stop-1 touch [K, E, n]
        (drawn once per epoch, in order, from the member's own generator)."""
        if self.schedule.full_batch:
            return np.zeros((len(self.members), 1, 0), np.int32)
        per_epoch = self.schedule.steps_per_epoch
        first, last = start // per_epoch, (stop - 1) // per_epoch
        while self._drawn <= last:
            self._epochs[self._drawn] = np.stack(
                [rng.permutation(self.schedule.n).astype(np.int32) for rng in self.rngs]
            )
            self._drawn += 1
        for epoch in [e for e in self._epochs if e < first]:
            del self._epochs[epoch]
        return np.stack([self._epochs[e] for e in range(first, last + 1)], axis=1)

    def _compile(self) -> None:
        """Trace and compile the chunk function before the training clock starts, so that
        `History.eval_seconds` measures steps, not compilation: a mini-batch chunk is traced
        by a call of one step; XLA compiles a full-batch chunk for its number of steps (the
        size of its loss array), so the first chunk is run once. The results are dropped."""
        n = self.schedule.chunk_end(0) if self.schedule.full_batch else 1
        self._train_chunk(
            self.weights,
            self.state,
            self.active,
            tf.constant(0, tf.int64),
            self.masks,
            self.lr,
            self.x,
            self.y,
            tf.constant(self._order(0, self.schedule.chunk_end(0))),
            tf.constant(0),
            tf.constant(n),
            tf.constant(self.schedule.batch_size),
        )

    def evaluate(self) -> dict[str, np.ndarray]:
        values = self._evaluate(self.weights, self.masks, self.x, self.y, self.x_test, self.y_test)
        return {k: v.numpy() for k, v in values.items()}

    def fit(self) -> list[History | TrainingDiverged]:
        """Train every member; each gets its History, or TrainingDiverged (carrying its history
        up to the step before its first non-finite loss) when its loss stopped being finite:
        that member stops there, the others go on. Ctrl-C raises TrainingInterrupted with every
        member's history so far. The models hold the trained weights in every case."""
        s, K = self.schedule, len(self.members)
        self._epochs: dict[int, np.ndarray] = {}
        self._drawn = 0
        step_loss = np.empty((s.steps, K), np.float32)
        eval_steps, evals = [0], [self.evaluate()]
        snap_steps, snaps = [0], [[w.numpy() for w in self.weights]]
        start_loss = evals[0]["train/loss"]
        stopped = np.full(K, s.steps)  # the step at which each member's loss was not finite
        warned = np.zeros(K, bool)
        self._compile()
        eval_times = [0.0]
        overhead = 0.0  # seconds between chunks: evaluations, snapshots, observers, the bar
        t0 = time.perf_counter()
        step = 0

        def history(k: int) -> History:
            end = min(step, int(stopped[k]))
            # A Ctrl-C between two appends leaves one list a step ahead: keep what both have.
            n_evals = min(len(eval_steps), len(eval_times), len(evals))
            n_snaps = min(len(snap_steps), len(snaps))
            kept_evals = [i for i in range(n_evals) if eval_steps[i] <= end]
            kept_snaps = [i for i in range(n_snaps) if snap_steps[i] <= end]
            metrics = {
                name: np.array([evals[i][name][k] for i in kept_evals], np.float32)
                for name in evals[0]
            }
            snapshots = {}
            per_step = [self.population.member_weights(snaps[j], k) for j in kept_snaps]
            for i in range(len(self.population.shapes[k])):
                snapshots[f"W{i}"] = np.stack([w[2 * i] for w in per_step])
                snapshots[f"b{i}"] = np.stack([w[2 * i + 1] for w in per_step])
            return History(
                step_loss[:end, k].copy(),
                np.array([eval_steps[i] for i in kept_evals]),
                metrics,
                np.array([snap_steps[i] for i in kept_snaps]),
                snapshots,
                time.perf_counter() - t0,
                s,
                eval_seconds=np.array([eval_times[i] for i in kept_evals]),
            )

        bar = tqdm(
            total=s.steps,
            unit="step",
            desc="train" if K == 1 else f"train {K} nets",
            leave=False,
            disable=None if self.members[0].cfg.progress else True,
        )
        try:
            with bar:
                while step < s.steps and (stopped == s.steps).any():
                    stop = s.chunk_end(step)
                    self.weights, self.state, self.active, losses = self._train_chunk(
                        self.weights,
                        self.state,
                        self.active,
                        tf.constant(step, tf.int64),
                        self.masks,
                        self.lr,
                        self.x,
                        self.y,
                        tf.constant(self._order(step, stop)),
                        tf.constant(step),
                        tf.constant(stop - step),
                        tf.constant(s.batch_size),
                    )
                    losses = losses.numpy()
                    clock = time.perf_counter()
                    elapsed = clock - t0 - overhead
                    step_loss[step:stop] = losses
                    for k in range(K):
                        bad = np.flatnonzero(~np.isfinite(losses[:, k]))
                        if bad.size and stopped[k] == s.steps:
                            stopped[k] = step + int(bad[0])
                        at = None if warned[k] else exploding(start_loss[k], losses[:, k])
                        if at is not None:
                            warned[k] = True
                            observer = self.members[k].observer
                            if observer is not None and at + step < stopped[k]:
                                observer.warn(
                                    f"the training loss is exploding: {losses[at, k]:.3g} at "
                                    f"step {step + at}, over {EXPLOSION:g} x its start "
                                    f"({start_loss[k]:.3g})"
                                )
                    step = stop
                    if step % s.eval_every == 0 or step == s.steps:
                        # Value first, then both lists: a Ctrl-C inside the evaluation must
                        # not leave a step without its value.
                        value = self.evaluate()
                        eval_steps.append(step)
                        eval_times.append(elapsed)
                        evals.append(value)
                    if step % s.snapshot_every == 0 or step == s.steps:
                        weights = [w.numpy() for w in self.weights]
                        snap_steps.append(step)
                        snaps.append(weights)
                    if eval_steps[-1] == step:
                        for k, member in enumerate(self.members):
                            if member.observer is not None and stopped[k] == s.steps:
                                member.observer.evaluated(functools.partial(history, k))
                    bar.update(stop - bar.n)
                    finite = losses[-1][np.isfinite(losses[-1])]
                    shown = f"{finite.mean():.4f}" if finite.size else "not finite"
                    bar.set_postfix(loss=shown, refresh=False)
                    overhead += time.perf_counter() - clock
        except KeyboardInterrupt as interrupt:
            histories = [history(k) for k in range(K)]
            raise TrainingInterrupted(histories, isinstance(interrupt, Terminated)) from None
        finally:
            unstack(self.population, [w.numpy() for w in self.weights], self.models)
        results: list[History | TrainingDiverged] = []
        for k in range(K):
            if stopped[k] == s.steps:
                results.append(history(k))
                continue
            value = float(step_loss[stopped[k], k])
            results.append(
                TrainingDiverged(
                    f"the training loss became {value} at step {stopped[k]}",
                    int(stopped[k]),
                    value,
                    history(k),
                )
            )
        return results

    @property
    def models(self) -> list[keras.Model]:
        return [member.model for member in self.members]


def population_problem(first: Member, other: Member) -> str | None:
    """Why `other` cannot train in one population with `first` (None if it can): the
    architecture (hidden layers and their activations, head), the schedule (steps, batch size,
    evaluation and snapshot cadence), the optimizer and the data's sizes must agree; seeds,
    learning rates, initial weights, hidden widths and data may differ."""
    mine = architecture_of(first.model, first.head, first.cfg.optimizer)
    theirs = architecture_of(other.model, other.head, other.cfg.optimizer)
    if mine.kinds != theirs.kinds:
        return f"the hidden layers differ ({describe_kinds(mine)} vs {describe_kinds(theirs)})"
    if mine.head != theirs.head:
        return f"the output head differs ({mine.head} vs {theirs.head})"
    for name in ("optimizer", "batch_size", "epochs", "steps", "eval_every", "snapshot_every"):
        if getattr(first.cfg, name) != getattr(other.cfg, name):
            return (
                f"train.{name} differs ({getattr(first.cfg, name)} vs {getattr(other.cfg, name)})"
            )
    for name in ("x_train", "y_train", "x_test", "y_test"):
        a, b = getattr(first.data, name), getattr(other.data, name)
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"the data's {name} differs in shape or type ({a.shape} vs {b.shape})"
    return None


def fit(
    model: keras.Model,
    data: Dataset,
    cfg: TrainConfig,
    head: str,
    seed: int,
    observer: Observer | None = None,
) -> History:
    """Train `model` in place on `data`; return the recorded history (a population of one).
    A non-finite loss raises TrainingDiverged, Ctrl-C TrainingInterrupted."""
    result = fit_population([Member(model, data, cfg, seed, head, observer)])[0]
    if isinstance(result, TrainingDiverged):
        raise result
    return result


def fit_population(members: Sequence[Member]) -> list[History | TrainingDiverged]:
    """Train K nets at once (see `toynets.population`); member k's result equals training it
    alone with `fit`, to float32 round-off. Each gets its History or its TrainingDiverged.
    The members must be able to train together (`population_problem`; `group_members` sorts
    any list of nets into such groups)."""
    return Trainer(members).fit()


def group_members(members: Sequence[Member], max_size: int) -> list[list[int]]:
    """Indices of `members` sorted into populations: each member joins the first group it can
    train with (`population_problem` against the group's first member) that has fewer than
    `max_size` members, else starts a group. Groups and their members keep the given order."""
    if max_size < 1:
        raise ValueError(f"a population holds at least 1 net, got max_size={max_size}")
    groups: list[list[int]] = []
    for index, member in enumerate(members):
        for group in groups:
            if len(group) < max_size and population_problem(members[group[0]], member) is None:
                group.append(index)
                break
        else:
            groups.append([index])
    return groups


# A learning rate this many times the optimizer's usual one is the likely cause of divergence.
USUAL_LR = {"adam": 1e-3, "rmsprop": 1e-3, "sgd": 1e-2, "random_walk": 1e-2}


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
