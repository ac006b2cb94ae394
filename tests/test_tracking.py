"""The tracking layer against a real SQLite store: bulk metrics, retries, concurrent creation."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from toynets import tracking


def test_bulk_metric_history_equals_log_batch(store: str) -> None:
    values = np.random.default_rng(0).normal(size=2500)
    values[[3, 1700]] = [np.nan, np.inf]
    fast = tracking.open_run(store, "t", "fast")
    fast.log_series("loss", range(2500), values)  # > BULK_POINTS: the bulk path
    slow = tracking.open_run(store, "t", "slow")
    now = int(time.time() * 1000)
    for start in range(0, 2500, 1000):  # MLflow's own path, as a reference
        slow.client.log_batch(
            slow.run_id,
            metrics=[
                Metric("loss", float(v), now, s)
                for s, v in zip(
                    range(start, start + 1000), values[start : start + 1000], strict=False
                )
            ],
        )
    client = MlflowClient(tracking_uri=store)
    got = sorted((m.step, m.value) for m in client.get_metric_history(fast.run_id, "loss"))
    want = sorted((m.step, m.value) for m in client.get_metric_history(slow.run_id, "loss"))
    assert len(got) == len(want) == 2500
    for (s1, v1), (s2, v2) in zip(got, want, strict=True):
        assert s1 == s2 and (v1 == v2 or (math.isnan(v1) and math.isnan(v2)))
    assert client.get_run(fast.run_id).data.metrics["loss"] == pytest.approx(values[-1])
    assert client.get_run(fast.run_id).data.metrics == client.get_run(slow.run_id).data.metrics
    for recorder in (fast, slow):
        tracking.close_run(recorder)


def test_curves_written_together_equal_log_batch(store: str) -> None:
    """A training history's curves in one call (the bulk path for more than BULK_POINTS points,
    log_batch for fewer) hold what MLflow's log_batch writes, point by point and latest."""
    rng = np.random.default_rng(1)
    curves = {
        "train/step_loss": (range(640), rng.normal(size=640)),
        "test/loss": (np.arange(0, 660, 32), rng.normal(size=21)),
        "test/accuracy": (np.arange(0, 660, 32), rng.uniform(size=21)),
    }
    few = {"final/x": ([0], [1.5]), "final/y": ([3], [np.nan])}
    client = MlflowClient(tracking_uri=store)
    for written in (curves, few):
        fast, slow = tracking.open_run(store, "t", "fast"), tracking.open_run(store, "t", "slow")
        fast.log_curves(written)
        now = int(time.time() * 1000)
        reference = [
            Metric(name, float(v), now, int(s))
            for name, (steps, values) in written.items()
            for s, v in zip(steps, values, strict=True)
        ]
        slow.client.log_batch(slow.run_id, metrics=reference)
        for name in written:
            got = sorted((m.step, m.value) for m in client.get_metric_history(fast.run_id, name))
            want = sorted((m.step, m.value) for m in client.get_metric_history(slow.run_id, name))
            assert len(got) == len(want) == len(written[name][1])
            np.testing.assert_array_equal(np.array(got), np.array(want))
        latest_fast = client.get_run(fast.run_id).data.metrics
        latest_slow = client.get_run(slow.run_id).data.metrics
        assert latest_fast.keys() == latest_slow.keys() == written.keys()
        np.testing.assert_array_equal(
            [latest_fast[k] for k in written], [latest_slow[k] for k in written]
        )
        for recorder in (fast, slow):
            tracking.close_run(recorder)


def test_bulk_metrics_refuse_a_deleted_run(store: str) -> None:
    """As log_batch does: the run must be active (not deleted)."""
    recorder = tracking.open_run(store, "t", "gone")
    recorder.client.delete_run(recorder.run_id)
    with pytest.raises(Exception, match="(?i)must be in the 'active' state"):
        recorder.log_series("loss", range(1500), np.zeros(1500))


def test_retry_waits_out_a_locked_database() -> None:
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return "ok"

    assert tracking.with_retry(flaky) == "ok" and len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise ValueError("something else")

    calls.clear()
    with pytest.raises(ValueError, match="something else"):
        tracking.with_retry(broken)
    assert len(calls) == 1  # other errors are not retried


def test_eight_processes_creating_one_fresh_store(tmp_path: Path) -> None:
    """Without the store lock this corrupts the store ("_alembic_tmp_... already exists")."""
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    script = (
        "import sys; from toynets import tracking\n"
        "r = tracking.open_run(sys.argv[1], 'race', 'job' + sys.argv[2])\n"
        "r.log_series('m', range(1200), [0.5] * 1200)\n"
        "tracking.close_run(r)\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, uri, str(k)], stderr=subprocess.PIPE, text=True
        )
        for k in range(8)
    ]
    errors = [p.communicate(timeout=300)[1] for p in processes]
    assert all(p.returncode == 0 for p in processes), "\n".join(errors)[-3000:]
    client = MlflowClient(tracking_uri=uri)
    found = client.search_runs([client.get_experiment_by_name("race").experiment_id])
    assert len(found) == 8 and {r.info.status for r in found} == {"FINISHED"}
    assert {len(client.get_metric_history(r.info.run_id, "m")) for r in found} == {1200}


def test_flatten_and_csv() -> None:
    flat = tracking.flatten({"model": {"hidden": [4, 8], "act": "relu"}, "seed": 0})
    assert flat == {"model.hidden": [4, 8], "model.act": "relu", "seed": 0}
    text = tracking.write_csv({"a": [1, 2], "b": [np.float32(0.5), "x,y"]})
    assert text == 'a,b\n1,0.5\n2,"x,y"\n'
    with pytest.raises(ValueError, match="differ in length"):
        tracking.write_csv({"a": [1], "b": [1, 2]})


def test_default_store_is_under_the_working_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.resolve_uri() == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking.resolve_uri() == "http://127.0.0.1:5000"
    assert tracking.resolve_uri("sqlite:///x.db") == "sqlite:///x.db"
