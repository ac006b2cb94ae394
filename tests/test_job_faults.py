"""A job stopped by SIGKILL, SIGTERM or a diverging loss keeps what it recorded: the curves up
to a few seconds before, read back with a real MLflow client; and what comes from the
environment never reaches the store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from conftest import TOYNETS, run_cli, user_env
from toynets import tracking

LONG = ["study=train", "train.epochs=20000", "tracking.log_model=false"]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [str(TOYNETS), *args],
        cwd=cwd,
        env=user_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def streamed_points(
    process: subprocess.Popen, folder: Path, at_least: int, timeout: float = 300
) -> tuple[str, int]:
    """Wait until the job's run holds `at_least` step losses; return its id and the count."""
    database = folder / "mlruns" / "mlflow.db"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if process.poll() is not None:
            raise AssertionError(f"the job ended early: {process.communicate()[1][-2000:]}")
        if not database.exists():
            continue
        try:  # waits (a shared lock) while the job creates the store's tables
            client = tracking.client_for(f"sqlite:///{database}", create=False)
            experiments = [e.experiment_id for e in client.search_experiments()]
            runs = client.search_runs(experiments, max_results=1)
        except Exception:
            continue
        if runs:
            run_id = runs[0].info.run_id
            count = len(client.get_metric_history(run_id, "train/step_loss"))
            if count >= at_least:
                return run_id, count
    raise AssertionError(f"no run with {at_least} streamed step losses in {timeout} s")


def client_of(folder: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")


@pytest.mark.slow
def test_sigkill_keeps_the_streamed_curves_and_the_latest_weights(tmp_path: Path) -> None:
    process = start(LONG, tmp_path)
    try:
        run_id, seen = streamed_points(process, tmp_path, at_least=1000)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.communicate()
    client = client_of(tmp_path)
    steps = client.get_metric_history(run_id, "train/step_loss")
    assert len(steps) >= seen and np.isfinite([m.value for m in steps]).all()
    assert sorted(m.step for m in steps) == list(range(len(steps)))  # no gap, no repeat
    assert client.get_metric_history(run_id, "test/loss")
    latest = np.load(client.download_artifacts(run_id, "weights/latest.npz", str(tmp_path)))
    assert 0 < int(latest["step"]) <= len(steps) and latest["W0"].shape == (2, 20)
    # A killed process cannot close its run: `runs clean` does, keeping every point.
    assert client.get_run(run_id).info.status == "RUNNING"
    cleaned = run_cli("runs", "clean", cwd=tmp_path)
    assert cleaned.returncode == 0 and run_id in cleaned.stdout
    assert client.get_run(run_id).info.status == "KILLED"
    assert len(client.get_metric_history(run_id, "train/step_loss")) == len(steps)


@pytest.mark.slow
def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path) -> None:
    process = start(LONG, tmp_path)
    try:
        run_id, seen = streamed_points(process, tmp_path, at_least=500)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        process.kill()
    assert process.returncode == 143, err[-2000:]
    assert took < 15, took
    assert "terminated (SIGTERM); the run is marked KILLED" in err
    assert "Traceback" not in err
    client = client_of(tmp_path)
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    error = run.data.tags["error"]
    match = re.fullmatch(r"training terminated \(SIGTERM\) at step (\d+)", error)
    assert match, error
    steps = client.get_metric_history(run_id, "train/step_loss")
    assert len(steps) == int(match.group(1)) >= seen
    snapshots = np.load(client.download_artifacts(run_id, "weights/snapshots.npz", str(tmp_path)))
    assert snapshots["step"][-1] <= len(steps) and len(snapshots["step"]) > 1


def test_a_diverging_job_fails_keeping_its_curves_and_names_the_cause(tmp_path: Path) -> None:
    result = run_cli(
        "dataset=fcnn_prod",
        "study=train",
        "train.optimizer=sgd",
        "train.lr=100",
        "tracking.log_model=false",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    match = re.search(
        r"the training loss became (nan|inf) at step (\d+); likely cause: (.*)", result.stderr
    )
    assert match, result.stderr
    assert "train.lr=100 with train.optimizer=sgd" in match.group(3)
    client = client_of(tmp_path)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FAILED" and "likely cause: train.lr=100" in run.data.tags["error"]
    steps = client.get_metric_history(run.info.run_id, "train/step_loss")
    assert len(steps) == int(match.group(2)) and np.isfinite([m.value for m in steps]).all()


def test_an_exploding_loss_warns_on_the_terminal_and_in_a_tag(tmp_path: Path) -> None:
    result = run_cli(
        "study=train", "train.lr=1e6", "train.epochs=2", "tracking.log_model=false", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warning: the training loss is exploding" in result.stderr
    client = client_of(tmp_path)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FINISHED"
    assert run.data.tags["toynets.warning"].startswith("the training loss is exploding")


def test_environment_values_never_reach_the_store(tmp_path: Path) -> None:
    """`${oc.env:...}` stays as written in the run name, tags, params and config.yaml."""
    secret = "s3cr3t-value-91"
    env = {"TOYNETS_TEST_NAME": secret}
    result = run_cli(
        "study=train",
        "train.epochs=1",
        "tracking.log_model=false",
        "tracking.run_name=${oc.env:TOYNETS_TEST_NAME}",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    client = client_of(tmp_path)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.run_name == "${oc.env:TOYNETS_TEST_NAME}"
    recorded = " ".join(
        [*run.data.tags.values(), *run.data.params.values(), run.info.run_name or ""]
    )
    config = Path(client.download_artifacts(run.info.run_id, "config.yaml", str(tmp_path)))
    assert secret not in recorded and secret not in config.read_text()
    assert secret not in os.environ.get("TOYNETS_TEST_NAME", "")
