"""Curves streamed to the store during training: every point exactly once, the latest
snapshot on the way, the rest at the end (a real store, a real training run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mlflow import MlflowClient

from toynets import tracking
from toynets.config import DatasetConfig, ModelConfig, TrainConfig
from toynets.data import make
from toynets.model import build
from toynets.stream import WARNING_TAG, CurveStream
from toynets.train import fit, seed_everything


class Ticking:
    """A clock that moves `tick` seconds each time it is read."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def train_streamed(store: str, clock, every: float):
    seed_everything(0)
    data = make(DatasetConfig(n_train=200, n_test=100), 0)
    model = build(ModelConfig(hidden=[5]), 2, "softmax", 2, seed=0)
    cfg = TrainConfig(epochs=6, batch_size=50, progress=False)  # 24 steps, 7 evaluations
    recorder = tracking.open_run(store, "stream", "streamed")
    stream = CurveStream(recorder, every=every, clock=clock)
    sent: list[int] = []
    original = stream.send

    def send(history, final=False):
        original(history, final)
        sent.append(len(history.step_loss))

    stream.send = send  # type: ignore[method-assign]
    history = fit(model, data, cfg, "softmax", seed=0, observer=stream)
    stream.finish(history)
    tracking.close_run(recorder)
    return recorder.run_id, history, sent


def read_back(store: str, run_id: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    points = MlflowClient(store).get_metric_history(run_id, name)
    points = sorted(points, key=lambda m: m.step)
    return np.array([m.step for m in points]), np.array([m.value for m in points], np.float32)


def test_every_point_reaches_the_store_once(store: str, tmp_path: Path) -> None:
    # The clock moves 1 s per read and the stream sends every 2 s: several sends mid-training.
    run_id, history, sent = train_streamed(store, Ticking(1.0), every=2.0)
    assert len(sent) >= 3 and sent[-1] == 24 and sent == sorted(sent)
    steps, values = read_back(store, run_id, "train/step_loss")
    np.testing.assert_array_equal(steps, np.arange(24))
    np.testing.assert_array_equal(values, history.step_loss)
    for name, expected in history.metrics.items():
        eval_steps, got = read_back(store, run_id, name)
        np.testing.assert_array_equal(eval_steps, history.eval_step)
        np.testing.assert_array_equal(got, expected)
    client = MlflowClient(store)
    snapshots = np.load(client.download_artifacts(run_id, "weights/snapshots.npz", str(tmp_path)))
    latest = np.load(client.download_artifacts(run_id, "weights/latest.npz", str(tmp_path)))
    assert int(latest["step"]) == 24
    for key in ("W0", "b0", "W1", "b1"):
        np.testing.assert_array_equal(latest[key], snapshots[key][-1])


def test_a_slow_clock_sends_once_at_the_end(store: str) -> None:
    run_id, _, sent = train_streamed(store, Ticking(0.0), every=2.0)
    assert sent == [24]
    steps, _ = read_back(store, run_id, "train/step_loss")
    assert len(steps) == 24
    artifacts = {a.path for a in MlflowClient(store).list_artifacts(run_id, "weights")}
    assert artifacts == {"weights/snapshots.npz"}  # latest.npz only once something streamed


def test_a_warning_is_a_tag_and_a_line(store: str, capsys) -> None:
    recorder = tracking.open_run(store, "stream", "warned")
    stream = CurveStream(recorder)
    stream.warn("the training loss is exploding: 1e+09 at step 3")
    tracking.close_run(recorder)
    run = MlflowClient(store).get_run(recorder.run_id)
    assert run.data.tags[WARNING_TAG] == "the training loss is exploding: 1e+09 at step 3"
    assert "warning: the training loss is exploding" in capsys.readouterr().err
