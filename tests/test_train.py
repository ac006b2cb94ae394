"""The compiled trainer against a hand-written NumPy reference, its schedule and its guards."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from toynets import data as datasets
from toynets.config import DatasetConfig, ModelConfig, TrainConfig
from toynets.model import build
from toynets.train import Schedule, TrainingDiverged, fit, seed_everything


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
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at step \d+.*train.lr"):
        fit(model, data, cfg, "linear", seed=0)


def test_section_1_circle_net_reaches_95_percent() -> None:
    seed_everything(0)
    data = datasets.make(DatasetConfig(), 0)
    model = build(ModelConfig(), 2, "softmax", 2, seed=0)
    history = fit(model, data, TrainConfig(progress=False), "softmax", seed=0)
    assert history.final()["final/test_accuracy"] >= 0.95
    assert history.schedule.steps == 640
