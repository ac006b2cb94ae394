"""`hydra/launcher=population`: a sweep's nets train as populations, each job is still its own
run with everything a single job logs, and the results equal the basic launcher's.

The sweeps run `toynets -m ...` as a user does, in a temporary folder with its own embedded
store; MLflow's client reads the runs back.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import run_cli
from toynets import runs

SMALL = ("study=train", "train.epochs=2", "study.grid=12", "tracking.log_model=false")
# Two widths (padded to one population), two seeds, two learning rates: 8 jobs.
GRID = ("model.hidden=[3],[6]", "seed=0,1", "train.lr=0.01,0.03")


def store(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"


def artifact_paths(client: MlflowClient, run_id: str, folder: str = "") -> set[str]:
    """A run's artifact paths; an MLflow image's name without the time and id MLflow gives it
    (`images/<key>+step+<step>+timestamp+<ms>+<uuid>.png` -> `images/<key>+step+<step>.png`)."""
    paths = set()
    for item in client.list_artifacts(run_id, folder or None):
        if item.is_dir:
            paths |= artifact_paths(client, run_id, item.path)
        else:
            paths.add(re.sub(r"\+timestamp\+\d+\+[-0-9a-f]+", "", item.path))
    return paths


def by_job(folder: Path, experiment: str) -> dict[tuple[str, str, str], dict]:
    """(hidden, seed, lr) -> the job's run (as `runs.find` lists it) of one experiment."""
    table = runs.find(study=experiment, uri=store(folder))
    return {
        (row["params.model.hidden"], row["params.seed"], row["params.train.lr"]): row
        for _, row in table.iterrows()
    }


@pytest.fixture(scope="module")
def two_sweeps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same 8 jobs swept by the basic launcher and by the population launcher, into two
    experiments of one store."""
    folder = tmp_path_factory.mktemp("population")
    for launcher in ("basic", "population"):
        result = run_cli(
            "-m",
            f"hydra/launcher={launcher}",
            f"tracking.experiment={launcher}",
            *GRID,
            *SMALL,
            cwd=folder,
        )
        assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-5000:])
        if launcher == "population":
            assert "train 8 nets as one population" in result.stderr, result.stderr[-3000:]
    return folder


def test_each_member_is_the_run_its_single_job_makes(two_sweeps: Path, tmp_path: Path) -> None:
    """Every job of the population sweep logged what the basic launcher's job logged (the same
    artifact paths, params and metrics), with weights and final losses equal to float32
    round-off over the run (test_population.py: members end <= 2e-7 from single runs)."""
    basic, population = by_job(two_sweeps, "basic"), by_job(two_sweeps, "population")
    assert len(basic) == len(population) == 8
    assert basic.keys() == population.keys()
    client = MlflowClient(tracking_uri=store(two_sweeps))
    for key, alone in basic.items():
        member = population[key]
        assert member["status"] == alone["status"] == "FINISHED"
        assert member["run_name"] == alone["run_name"]
        assert member["population"] == "8"
        # weights/latest.npz is there when training outlasted stream.FLUSH_SECONDS, which
        # depends on the machine's load, not on the launcher.
        timed = {"weights/latest.npz"}
        assert artifact_paths(client, member["run_id"]) - timed == (
            artifact_paths(client, alone["run_id"]) - timed
        )
        mine = runs.load(member["run_id"], uri=store(two_sweeps), dst=tmp_path / "a")
        theirs = runs.load(alone["run_id"], uri=store(two_sweeps), dst=tmp_path / "b")
        assert mine.params.keys() == theirs.params.keys()
        different = {
            k for k in mine.params if mine.params[k] != theirs.params[k] and "experiment" not in k
        }
        assert not different
        assert mine.metrics.keys() == theirs.metrics.keys()
        for name in ("final/test_loss", "final/train_loss", "final/test_accuracy"):
            assert mine.metrics[name] == pytest.approx(theirs.metrics[name], rel=1e-5, abs=1e-6)
        assert len(mine.net.layers) == len(theirs.net.layers)
        for layer, alone_layer in zip(mine.net.layers, theirs.net.layers, strict=True):
            assert layer.activation == alone_layer.activation
            np.testing.assert_allclose(layer.W, alone_layer.W, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(layer.b, alone_layer.b, rtol=1e-5, atol=1e-6)
        assert mine.snapshots.keys() == theirs.snapshots.keys()
        np.testing.assert_array_equal(mine.snapshots["step"], theirs.snapshots["step"])
        for name in mine.snapshots:
            np.testing.assert_allclose(
                mine.snapshots[name], theirs.snapshots[name], rtol=1e-5, atol=1e-6
            )
        steps, losses = mine.history("train/step_loss")
        steps_alone, losses_alone = theirs.history("train/step_loss")
        np.testing.assert_array_equal(steps, steps_alone)
        np.testing.assert_allclose(losses, losses_alone, rtol=1e-5, atol=1e-6)


def test_the_population_sweep_has_its_summary(two_sweeps: Path, tmp_path: Path) -> None:
    parents = runs.find(study="population", uri=store(two_sweeps), role="sweep")
    assert len(parents) == 1
    parent = parents.iloc[0]
    assert parent["status"] == "FINISHED"
    client = MlflowClient(tracking_uri=store(two_sweeps))
    assert client.get_run(parent["run_id"]).data.tags["sweep.launcher"] == "PopulationLauncher"
    path = client.download_artifacts(parent["run_id"], "tables/sweep.csv", str(tmp_path))
    with Path(path).open() as table:
        rows = list(csv.DictReader(table))
    assert len(rows) == 8
    assert {row["status"] for row in rows} == {"FINISHED"}
    children = by_job(two_sweeps, "population").values()
    assert {c["parent_run_id"] for c in children} == {parent["run_id"]}


def test_a_diverging_member_fails_alone_and_groups_follow_the_architecture(
    tmp_path: Path,
) -> None:
    """One hidden layer and two hidden layers cannot share a population: two populations of
    two. In each, the member with a learning rate of 1e20 diverges: its run is FAILED with the
    reason, its population mate FINISHED, and the sweep exits 1."""
    result = run_cli(
        "-m",
        "hydra/launcher=population",
        "model.hidden=[3],[3,3]",
        "train.optimizer=sgd",
        "train.lr=0.05,1e20",
        *SMALL,
        cwd=tmp_path,
    )
    assert result.returncode == 1, (result.stdout[-3000:], result.stderr[-5000:])
    assert result.stderr.count("train 2 nets as one population") == 2, result.stderr[-3000:]
    table = runs.find(study="train", uri=store(tmp_path))
    assert len(table) == 4
    for _, row in table.iterrows():
        assert row["population"] == "2"
        diverging = float(row["params.train.lr"]) > 1
        assert row["status"] == ("FAILED" if diverging else "FINISHED"), row["run_name"]
        if diverging:
            assert "the training loss became" in row["error"]
            assert "likely cause" in row["error"]


def test_a_bad_population_size_is_refused_before_anything(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "hydra/launcher=population",
        "hydra.launcher.max_size=0",
        "seed=0,1",
        *SMALL,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "hydra.launcher.max_size=0" in result.stderr
    assert "integer >= 1" in result.stderr
    assert not (tmp_path / "mlruns").exists()


def test_ctrl_c_while_the_population_trains(tmp_path: Path) -> None:
    """Ctrl-C before any job has a run: the sweep is KILLED, its summary lists every job as
    not started, no job run is left behind, exit status 130."""
    script = Path(sys.executable).parent / "toynets"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "toynets.app"]
    args = ["-m", "hydra/launcher=population", "seed=0,1,2", "train.epochs=100000", *SMALL[:1]]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = subprocess.Popen(
        [*command, *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        parent = None
        while parent is None and time.monotonic() < deadline:
            if (tmp_path / "mlruns" / "mlflow.db").exists():
                found = runs.find(uri=store(tmp_path), status="RUNNING", role="sweep")
                parent = found.run_id[0] if len(found) else None
            time.sleep(0.5)
        assert parent is not None, "the sweep's parent run did not appear"
        time.sleep(12)  # TensorFlow's import, the jobs' data and models, then training
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err[-3000:]
    client = MlflowClient(tracking_uri=store(tmp_path))
    assert client.get_run(parent).info.status == "KILLED"
    assert len(runs.find(uri=store(tmp_path))) == 0  # no job had a run yet
    path = client.download_artifacts(parent, "tables/sweep.csv", str(tmp_path / "summary"))
    with Path(path).open() as table:
        rows = list(csv.DictReader(table))
    assert len(rows) == 3
    assert all("not started" in row["error"] for row in rows), rows
