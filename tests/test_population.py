"""Population training: K nets at once equal each net trained alone, and the optimizers written
out on stacked tensors equal Keras' own."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from toynets import data as datasets
from toynets.config import DatasetConfig, ModelConfig, TrainConfig
from toynets.errors import TrainingDiverged
from toynets.model import build
from toynets.population import apply_update, optimizer_state
from toynets.train import (
    History,
    Member,
    fit,
    fit_population,
    group_members,
    population_problem,
    seed_everything,
)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_the_stacked_optimizers_are_keras_own(optimizer: str) -> None:
    """Five steps of random gradients on three members with their own learning rates: each
    member's weights equal what its own Keras optimizer makes of them."""
    rng = np.random.default_rng(0)
    lrs = np.array([0.1, 0.01, 0.003], np.float32)
    weights = [
        rng.normal(size=(3, 4, 5)).astype(np.float32),
        rng.normal(size=(3, 5)).astype(np.float32),
    ]
    gradients = [[rng.normal(size=w.shape).astype(np.float32) for w in weights] for _ in range(5)]
    mine = [tf.constant(w) for w in weights]
    state = [tf.constant(s) for s in optimizer_state(optimizer, weights)]
    for t, grads in enumerate(gradients):
        mine, state = apply_update(
            optimizer, mine, [tf.constant(g) for g in grads], state, tf.constant(t, tf.int64), lrs
        )
    optimizers = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
    for k, lr in enumerate(lrs):
        variables = [keras.Variable(w[k]) for w in weights]
        theirs = optimizers.get(optimizer, keras.optimizers.SGD)(learning_rate=float(lr))
        for grads in gradients:
            theirs.apply_gradients(zip([g[k] for g in grads], variables, strict=True))
        for got, expected in zip(mine, variables, strict=True):
            np.testing.assert_allclose(got.numpy()[k], expected.numpy(), rtol=2e-6, atol=1e-7)


def _job(width: int, seed: int, lr: float, optimizer: str = "adam", batch: int | None = 25):
    """A member as a single job would make it: data, model and batch order from its seed."""
    seed_everything(seed)
    data = datasets.make(DatasetConfig(name="spiral", n_train=100, n_test=40), seed)
    model = build(ModelConfig(hidden=[width, 6]), 2, "softmax", 2, seed=seed)
    cfg = TrainConfig(optimizer=optimizer, lr=lr, epochs=8, batch_size=batch, progress=False)
    return Member(model, data, cfg, seed, "softmax")


CONFIGS = [(4, 0, 0.01), (9, 1, 0.03), (6, 2, 0.003), (9, 3, 0.01)]


@pytest.mark.parametrize(("optimizer", "batch"), [("adam", 25), ("sgd", None), ("rmsprop", 30)])
def test_each_member_trains_as_it_would_alone(optimizer: str, batch: int | None) -> None:
    """Widths 4, 6, 9 padded to 9, four seeds (data, initial weights, batch order) and three
    learning rates in one population; each member ends where its single run ends.

    Tolerance: the batched matmul may sum in another order than the single one, a float32
    round-off difference per step that training carries on. Measured: members end <= 2e-7
    from their single runs (adam, rmsprop; sgd <= 1e-10), as far as a single run whose
    initial kernel moves by one float32 ulp ends from itself (6e-8 .. 2.4e-7); the test
    allows 1e-6 + 1e-5 relative."""
    members = [_job(w, s, lr, optimizer, batch) for w, s, lr in CONFIGS]
    together = fit_population(members)
    for (width, seed, lr), member, history in zip(CONFIGS, members, together, strict=True):
        alone = _job(width, seed, lr, optimizer, batch)
        single = fit(alone.model, alone.data, alone.cfg, "softmax", seed)
        np.testing.assert_allclose(history.step_loss, single.step_loss, rtol=1e-5, atol=1e-6)
        for a, b in zip(
            member.model.trainable_variables, alone.model.trainable_variables, strict=True
        ):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        final, expected = history.final(), single.final()
        assert final["final/test_loss"] == pytest.approx(expected["final/test_loss"], rel=1e-5)
        assert history.snapshots["W0"].shape == single.snapshots["W0"].shape
        np.testing.assert_array_equal(history.snapshot_step, single.snapshot_step)


def test_a_diverging_member_stops_alone() -> None:
    members = [_job(4, 0, 0.05, "sgd"), _job(4, 1, 1e20, "sgd"), _job(5, 2, 0.05, "sgd")]
    results = fit_population(members)
    diverged = results[1]
    assert isinstance(diverged, TrainingDiverged)
    assert np.isfinite(diverged.history.step_loss).all()
    assert len(diverged.history.step_loss) == diverged.step >= 1
    for (width, seed), result in zip([(4, 0), (5, 2)], [results[0], results[2]], strict=True):
        alone = _job(width, seed, 0.05, "sgd")
        single = fit(alone.model, alone.data, alone.cfg, "softmax", seed)
        np.testing.assert_allclose(result.step_loss, single.step_loss, rtol=1e-5, atol=1e-6)


def _regression(seed: int, steps: int | None = None, outlier: bool = False) -> Member:
    """Least squares on 60 points, one chunk per step; with `outlier`, point 37 is at 1e20,
    so the squared error of the one batch holding it overflows to inf, and only that one."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3)).astype(np.float32)
    y = (x @ np.array([1.5, -2.0, 0.5]) + 0.3).astype(np.float32)
    if outlier:
        x[37] = 1e20
    data = SimpleNamespace(x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    model = build(ModelConfig(hidden=[4]), 3, "linear", 0, seed=seed)
    epochs = None if steps is not None else 3
    cfg = TrainConfig(lr=0.01, epochs=epochs, steps=steps, batch_size=10, progress=False)
    cfg.eval_every = 1
    return Member(model, data, cfg, seed, "linear")


def test_a_stopped_member_stays_stopped() -> None:
    """After the batch whose loss is inf, the member does not train on (its later batches
    would be finite): its weights are those of its single run cut before that step."""
    members = [_regression(0), _regression(1, outlier=True)]
    results = fit_population(members)
    stopped = results[1]
    assert isinstance(stopped, TrainingDiverged) and stopped.value == np.inf
    assert 1 <= stopped.step < 6  # within the first epoch, not at its first batch
    cut = _regression(1, steps=stopped.step, outlier=True)
    fit(cut.model, cut.data, cut.cfg, "linear", 1)
    for a, b in zip(
        members[1].model.trainable_variables, cut.model.trainable_variables, strict=True
    ):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    assert isinstance(results[0], History) and len(results[0].step_loss) == 18


def test_nets_that_cannot_share_a_schedule_are_refused() -> None:
    first, other = _job(4, 0, 0.01), _job(4, 1, 0.01)
    other.cfg.batch_size = 10
    with pytest.raises(ValueError, match=r"train.batch_size differs \(25 vs 10\)"):
        fit_population([first, other])


def test_members_are_grouped_by_what_they_can_share() -> None:
    """Widths may differ within a population; depth, activation, head, schedule and data sizes
    may not. Each member joins the first group that takes it, up to `max_size` members."""

    def member(hidden, activation="relu", head="softmax", batch=25, n_train=100) -> Member:
        data = datasets.make(DatasetConfig(name="spiral", n_train=n_train, n_test=40), 0)
        model = build(ModelConfig(hidden=hidden, activation=activation), 2, head, 2, seed=0)
        return Member(model, data, TrainConfig(batch_size=batch, progress=False), 0, head)

    members = [
        member([4]),  # 0
        member([4, 4]),  # 1: deeper
        member([9]),  # 2: wider, joins 0
        member([4], activation="tanh"),  # 3
        member([4], head="logit"),  # 4
        member([4], batch=10),  # 5
        member([4], n_train=80),  # 6
        member([5, 2]),  # 7: joins 1
        member([6]),  # 8: joins 0
    ]
    assert group_members(members, 10) == [[0, 2, 8], [1, 7], [3], [4], [5], [6]]
    assert group_members(members, 2) == [[0, 2], [1, 7], [3], [4], [5], [6], [8]]
    assert group_members(members, 1) == [[i] for i in range(9)]
    problems = [population_problem(members[0], members[i]) for i in (1, 3, 4, 5, 6)]
    assert problems == [
        "the hidden layers differ (relu vs relu, relu)",
        "the hidden layers differ (relu vs tanh)",
        "the output head differs (softmax vs logit)",
        "train.batch_size differs (25 vs 10)",
        "the data's x_train differs in shape or type ((100, 2) vs (80, 2))",
    ]
    maxout = build(ModelConfig(hidden=[3], activation="maxout", maxout_k=2), 2, "softmax", 2, 0)
    other = Member(maxout, members[0].data, members[0].cfg, 0, "softmax")
    assert population_problem(members[0], other) == (
        "the hidden layers differ (relu vs maxout(k=2))"
    )
    with pytest.raises(ValueError, match="at least 1 net"):
        group_members(members, 0)
