"""The compiled trainer against a hand-written NumPy reference, its schedule and its guards."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from toynets import data as datasets
from toynets.config import DatasetConfig, ModelConfig, TrainConfig
from toynets.model import build
from toynets.train import (
    Schedule,
    TrainingDiverged,
    explain_divergence,
    exploding,
    fit,
    seed_everything,
)


def linear_data(n: int = 50, d: int = 3, seed: int = 0) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5][:d]) + 0.3 + 0.1 * rng.normal(size=n)).astype(np.float32)
    return SimpleNamespace(x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])


def sgd_reference(x, y, w, b, lr: float, steps: int, batch: int, seed: int):
    """Mini-batch SGD on mean squared error, written out: w -= lr * 2/m X_B^T (X_B w + b - y_B),
    batches cut from one fresh permutation per epoch (the last batch may be smaller)."""
    w, b = w.astype(np.float64).copy(), b.astype(np.float64).copy()
    rng, n = np.random.default_rng(seed), len(x)
    losses, order = [], []
    while len(order) < steps:
        perm = rng.permutation(n) if batch < n else np.arange(n)
        order += [perm[i : i + batch] for i in range(0, n, batch)]
    for idx in order[:steps]:
        xb, yb = x[idx].astype(np.float64), y[idx].astype(np.float64)
        r = xb @ w[:, 0] + b[0] - yb
        losses.append(np.mean(r**2))
        w[:, 0] -= lr * 2 / len(idx) * xb.T @ r
        b[0] -= lr * 2 * r.mean()
    return w, b, np.array(losses)


@pytest.mark.parametrize(("batch", "steps"), [(None, 40), (16, 23), (50, 7)])
def test_sgd_matches_numpy_reference(batch: int | None, steps: int) -> None:
    data = linear_data()
    model = build(ModelConfig(hidden=[]), 3, "linear", 0, seed=1)
    w0, b0 = (v.numpy() for v in model.trainable_variables)
    cfg = TrainConfig(
        optimizer="sgd",
        lr=0.05,
        epochs=None,
        steps=steps,
        batch_size=batch,
        snapshot_every=5,
        progress=False,
    )
    history = fit(model, data, cfg, "linear", seed=11)
    w, b, losses = sgd_reference(data.x_train, data.y_train, w0, b0, 0.05, steps, batch or 50, 11)
    np.testing.assert_allclose(model.trainable_variables[0].numpy(), w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.trainable_variables[1].numpy(), b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(history.step_loss, losses, rtol=1e-4, atol=1e-6)


def test_schedule_snapshots_and_evaluations() -> None:
    data = linear_data(n=50)
    model = build(ModelConfig(hidden=[4]), 3, "linear", 0, seed=1)
    init = model.get_layer("dense_0").kernel.numpy().copy()
    cfg = TrainConfig(
        optimizer="adam",
        lr=0.01,
        epochs=3,
        batch_size=16,
        snapshot_every=5,
        eval_every=4,
        progress=False,
    )
    history = fit(model, data, cfg, "linear", seed=0)
    assert history.schedule.steps_per_epoch == 4 and history.schedule.steps == 12
    assert list(history.snapshot_step) == [0, 5, 10, 12]
    assert list(history.eval_step) == [0, 4, 8, 12]
    assert history.snapshots["W0"].shape == (4, 3, 4) and history.snapshots["b1"].shape == (4, 1)
    np.testing.assert_array_equal(history.snapshots["W0"][0], init)
    np.testing.assert_array_equal(history.snapshots["W0"][-1], model.get_layer("dense_0").kernel)
    assert set(history.metrics) == {"train/loss", "test/loss"}
    assert set(history.final()) == {"final/train_loss", "final/test_loss"}


def test_schedule_defaults() -> None:
    by_epochs = Schedule.of(TrainConfig(epochs=20, batch_size=32), 1000)
    assert (by_epochs.steps, by_epochs.snapshot_every, by_epochs.eval_every) == (640, 32, 32)
    by_steps = Schedule.of(TrainConfig(epochs=None, steps=30000, batch_size=None), 800)
    assert by_steps.full_batch and by_steps.snapshot_every == 300
    assert by_steps.chunk_end(0) == 300 and by_steps.chunk_end(29900) == 30000


def _train_once(seed: int):
    seed_everything(seed)
    data = datasets.make(DatasetConfig(name="spiral", n_train=200, n_test=50), seed)
    model = build(ModelConfig(hidden=[8, 8]), 2, "softmax", 2, seed=seed)
    history = fit(
        model, data, TrainConfig(epochs=3, batch_size=32, progress=False), "softmax", seed
    )
    return [v.numpy() for v in model.trainable_variables], history


def test_same_seed_gives_bit_identical_weights() -> None:
    first, h1 = _train_once(0)
    second, h2 = _train_once(0)
    other, _ = _train_once(1)
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(h1.step_loss, h2.step_loss)
    assert np.array_equal(h1.snapshots["W1"], h2.snapshots["W1"])
    assert not np.array_equal(first[0], other[0])


def test_divergence_stops_with_a_clear_error() -> None:
    data = linear_data()
    model = build(ModelConfig(hidden=[]), 3, "linear", 0, seed=1)
    cfg = TrainConfig(
        optimizer="sgd", lr=1e20, epochs=None, steps=50, batch_size=None, progress=False
    )
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at step \d+") as error:
        fit(model, data, cfg, "linear", seed=0)
    # The history up to the step before the first non-finite loss comes with the error.
    history = error.value.history
    assert len(history.step_loss) == error.value.step >= 1
    assert np.isfinite(history.step_loss).all()
    assert not np.isfinite(error.value.value)


class Recording:
    """An Observer that keeps what it hears."""

    def __init__(self) -> None:
        self.evaluations: list[tuple[int, int]] = []
        self.warnings: list[str] = []

    def evaluated(self, history) -> None:
        built = history()
        self.evaluations.append((int(built.eval_step[-1]), len(built.step_loss)))

    def warn(self, message: str) -> None:
        self.warnings.append(message)


def test_the_observer_hears_every_evaluation_with_its_history() -> None:
    data = linear_data()
    model = build(ModelConfig(hidden=[4]), 3, "linear", 0, seed=1)
    cfg = TrainConfig(lr=0.01, epochs=None, steps=30, batch_size=10, eval_every=7, progress=False)
    observer = Recording()
    fit(model, data, cfg, "linear", seed=0, observer=observer)
    # Evaluations at 7, 14, 21, 28 and the last step; each history ends at that step.
    assert observer.evaluations == [(7, 7), (14, 14), (21, 21), (28, 28), (30, 30)]
    assert observer.warnings == []


def test_an_exploding_loss_is_reported_once() -> None:
    data = linear_data()
    model = build(ModelConfig(hidden=[]), 3, "linear", 0, seed=1)
    # SGD on least squares diverges geometrically for lr above 2 / lambda_max(2 X^T X / n).
    cfg = TrainConfig(optimizer="sgd", lr=1.5, epochs=None, steps=12, batch_size=None)
    cfg.progress = False
    observer = Recording()
    history = fit(model, data, cfg, "linear", seed=0, observer=observer)
    assert np.isfinite(history.step_loss).all()
    assert len(observer.warnings) == 1 and "exploding" in observer.warnings[0]
    start = history.metrics["train/loss"][0]
    first = int(np.flatnonzero(history.step_loss > 1e3 * start)[0])
    assert f"at step {first}," in observer.warnings[0]


@pytest.mark.parametrize(
    ("start", "losses", "expected"),
    [
        (0.7, [0.7, 600.0, 701.0, 1e9], 2),  # first above 1000 x 0.7 = 700
        (0.7, [0.7, 699.0], None),
        (1e-6, [0.5, 0.9, 1.5], 2),  # tiny starts: 1000 x 1e-3 = 1, and above 1
        (0.0, [0.99], None),
        (0.7, [700.0], None),  # over, not at, the limit
    ],
)
def test_exploding_threshold(start: float, losses: list[float], expected: int | None) -> None:
    assert exploding(start, np.array(losses)) == expected


def _config(**changes):
    from toynets.config import Config

    config = Config()
    for key, value in changes.items():
        group, name = key.split("__")
        setattr(getattr(config, group), name, value)
    return config


@pytest.mark.parametrize(
    ("changes", "named", "not_named"),
    [
        ({"train__optimizer": "sgd", "train__lr": 100.0}, ["train.lr=100", "sgd"], ["init_scale"]),
        ({"model__init_scale": 1000.0, "train__lr": 0.001}, ["model.init_scale=1000"], ["lr="]),
        ({"model__init_scale": 50.0, "train__lr": 1.0}, ["init_scale=50", "train.lr=1 "], []),
        ({"train__lr": 0.005}, ["train.lr=0.005"], ["init_scale"]),  # nothing odd: the rate
    ],
)
def test_divergence_names_the_likely_cause(changes, named, not_named) -> None:
    config = _config(**changes)
    message = explain_divergence(TrainingDiverged("the training loss became nan at step 3"), config)
    assert message.startswith("the training loss became nan at step 3; likely cause")
    for text in named:
        assert text in message
    for text in not_named:
        assert text not in message


def test_section_1_circle_net_reaches_95_percent() -> None:
    seed_everything(0)
    data = datasets.make(DatasetConfig(), 0)
    model = build(ModelConfig(), 2, "softmax", 2, seed=0)
    history = fit(model, data, TrainConfig(progress=False), "softmax", seed=0)
    assert history.final()["final/test_accuracy"] >= 0.95
    assert history.schedule.steps == 640


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"train__optimizer": "sgd", "train__lr": 100.0},
            "likely cause: train.lr=100 with train.optimizer=sgd (its usual rate is 0.01; try "
            "train.lr=0.01)",
        ),
        (
            {"model__init_scale": 50.0, "train__lr": 1.0},
            "likely causes: model.init_scale=50 makes the initial weights 50x larger than "
            "glorot_uniform draws them (try 1); train.lr=1 with train.optimizer=adam (its usual "
            "rate is 0.001; try train.lr=0.001)",
        ),
        (  # 10 x the usual rate is not over it: the initial weights alone
            {"model__init_scale": 1.5, "train__lr": 0.01},
            "likely cause: model.init_scale=1.5 makes the initial weights 1.5x larger than "
            "glorot_uniform draws them (try 1)",
        ),
        (  # nothing odd: the rate, with a tenth of it to try
            {"train__lr": 0.005},
            "likely cause: train.lr=0.005 with train.optimizer=adam (its usual rate is 0.001; "
            "try train.lr=0.0005)",
        ),
    ],
)
def test_divergence_message_in_full(changes, expected) -> None:
    message = explain_divergence(
        TrainingDiverged("the training loss became inf at step 9"), _config(**changes)
    )
    assert message == f"the training loss became inf at step 9; {expected}"
