"""Sweeps survive their workers: a worker killed in the middle of its job, a job past the
launcher's timeout, Ctrl-C on a parallel sweep, two sweeps started at the same moment.

Each sweep runs as a user runs it (a subprocess, toynets' joblib launcher with 2 worker
processes) on a real MLflow store in a temporary folder, and each test checks that nothing is
lost (every job has its row in the parent's `tables/sweep.csv`), that every run is closed
with the right status and `error` tag, and that no worker process outlives its sweep."""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from mlflow.entities import Run

from conftest import CONF_DIR, TOYNETS, run_cli, user_env
from toynets import sweep, tracking

PARALLEL = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
SMALL = ["study=train", "study.grid=20", "tracking.log_model=false"]
SECONDS = 180  # an upper bound for any sweep here (a few times what it takes on 2 busy cores)


def store_of(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"


def start_sweep(args: list[str], cwd: Path) -> subprocess.Popen:
    """`toynets -m ARGS` in its own process group (the test signals the group as a terminal
    does on Ctrl-C)."""
    return subprocess.Popen(
        [str(TOYNETS), "-m", *args],
        cwd=cwd,
        env=user_env({"TF_CPP_MIN_LOG_LEVEL": "3"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def all_runs(uri: str) -> list[Run]:
    client = tracking.client_for(uri)  # under the store's lock: the sweep may be creating it
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(experiments, max_results=1000) if experiments else []


def wait_for_jobs(uri: str, jobs: set[str], process: subprocess.Popen) -> list[Run]:
    """The runs of sweep jobs `jobs` (job numbers) once all of them are RUNNING."""
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        if Path(uri.removeprefix("sqlite:///")).exists():
            running = [
                r
                for r in all_runs(uri)
                if r.info.status == "RUNNING" and r.data.tags.get(sweep.JOB_TAG) in jobs
            ]
            if len(running) == len(jobs):
                return running
        time.sleep(0.25)
    raise AssertionError(f"jobs {sorted(jobs)} never ran together")


def parent_and_children(uri: str) -> tuple[Run, list[Run]]:
    found = all_runs(uri)
    (parent,) = [r for r in found if r.data.tags.get(tracking.ROLE_TAG) == "sweep"]
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    return parent, children


def sweep_table(uri: str, parent: Run, tmp: Path) -> list[dict[str, str]]:
    client = tracking.client_for(uri)
    path = client.download_artifacts(parent.info.run_id, "tables/sweep.csv", str(tmp))
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))


def processes_in(folder: Path) -> list[str]:
    """Live processes (zombies aside) working in `folder`: a sweep's workers are."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            in_folder = os.readlink(entry / "cwd") == str(folder)
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if in_folder and state != "Z":
            found.append(f"{entry.name}: {command[:120]}")
    return found


def assert_no_process_left(folder: Path) -> None:
    """Nothing of the sweep runs any more (Python's resource tracker, a helper of the
    launching process, takes a moment to notice that it has ended)."""
    deadline = time.monotonic() + 10
    while processes_in(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_in(folder) == []


@pytest.mark.slow
def test_a_worker_killed_mid_job_fails_that_job_alone(tmp_path: Path) -> None:
    """Job 0 trains until its worker is killed (SIGKILL, as the out-of-memory killer does);
    jobs 1 and 2 are short and run in the other worker and in a fresh one."""
    uri = store_of(tmp_path)
    process = start_sweep([*PARALLEL, *SMALL, "train.epochs=100000,2,2"], tmp_path)
    try:
        (victim,) = wait_for_jobs(uri, {"0"}, process)
        os.kill(int(victim.data.tags[tracking.PID_TAG]), signal.SIGKILL)
        _, err = process.communicate(timeout=SECONDS)
    finally:
        process.kill()
    assert process.returncode == 1, err[-3000:]  # the sweep ran to its end, one job failed
    assert "TerminatedWorkerError" not in err and "Traceback" not in err
    assert "toynets: job 0 failed: the worker process died (SIGKILL)" in err

    parent, children = parent_and_children(uri)
    assert parent.info.status == "FINISHED"
    status = {r.data.tags[sweep.JOB_TAG]: r.info.status for r in children}
    assert status == {"0": "FAILED", "1": "FINISHED", "2": "FINISHED"}
    (killed,) = [r for r in children if r.info.run_id == victim.info.run_id]
    assert killed.data.tags["error"] == "the worker process died (SIGKILL)"
    assert killed.data.tags["error.type"] == "WorkerDied"
    assert killed.data.params["train.epochs"] == "100000"  # what it logged is kept
    rows = {row["job"]: row for row in sweep_table(uri, parent, tmp_path)}
    assert sorted(rows) == ["0", "1", "2"]
    assert rows["0"]["status"] == "FAILED" and rows["0"]["run_id"] == victim.info.run_id
    assert rows["0"]["error"] == "the worker process died (SIGKILL)"
    assert all(rows[job]["status"] == "FINISHED" and rows[job]["error"] == "" for job in "12")
    assert parent.data.metrics["sweep/failed"] == 1 and parent.data.metrics["sweep/finished"] == 2
    assert_no_process_left(tmp_path)


def test_a_job_past_the_launchers_timeout_ends_without_stopping_the_sweep(tmp_path: Path) -> None:
    """`hydra.launcher.timeout=1`: both jobs are killed while their worker still imports
    TensorFlow, before any run exists; each gets a NO_RUN row that says why."""
    result = run_cli(
        "-m", *PARALLEL, "hydra.launcher.timeout=1", "seed=0,1", *SMALL, "train.epochs=2",
        cwd=tmp_path, timeout=SECONDS,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]
    parent, children = parent_and_children(store_of(tmp_path))
    assert parent.info.status == "FINISHED" and children == []
    rows = sweep_table(store_of(tmp_path), parent, tmp_path)
    assert [(row["job"], row["seed"], row["status"]) for row in rows] == [
        ("0", "0", "NO_RUN"),
        ("1", "1", "NO_RUN"),
    ]
    assert all("ran longer than hydra.launcher.timeout=1 s" in row["error"] for row in rows)
    assert parent.data.metrics["sweep/failed"] == 2
    assert_no_process_left(tmp_path)


@pytest.mark.parametrize("to", ["group", pytest.param("sweep", marks=pytest.mark.slow)])
def test_ctrl_c_on_a_parallel_sweep_ends_every_job_at_once(tmp_path: Path, to: str) -> None:
    """SIGINT to the process group (a terminal's Ctrl-C), or to the sweep's process alone
    (which passes it on): the two running jobs close their runs as KILLED and keep their
    curves, the two waiting jobs never start, the workers stop, the parent gets its table."""
    uri = store_of(tmp_path)
    process = start_sweep([*PARALLEL, *SMALL, "train.epochs=100000", "seed=0,1,2,3"], tmp_path)
    try:
        started = wait_for_jobs(uri, {"0", "1"}, process)
        time.sleep(5)  # into training
        if to == "group":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        _, err = process.communicate(timeout=SECONDS)
        took = time.monotonic() - interrupted
    finally:
        process.kill()
    assert process.returncode == 130, err[-3000:]
    assert took < 30, took  # the jobs' grace is 10 s; marking and the table take a few more
    assert_no_process_left(tmp_path)  # checked at once: nothing is left to clean later

    parent, children = parent_and_children(uri)
    assert parent.info.status == "KILLED"
    assert parent.data.tags["error"] == "sweep interrupted (Ctrl-C)"
    assert sorted(r.info.run_id for r in children) == sorted(r.info.run_id for r in started)
    assert {r.info.status for r in children} == {"KILLED"}
    client = tracking.client_for(uri)
    trained = [r for r in children if r.data.tags["error"].startswith("training interrupted")]
    assert trained, [r.data.tags["error"] for r in children]
    for run in trained:  # the curves up to Ctrl-C are kept, every step of them
        steps = int(re.search(r"at step (\d+)", run.data.tags["error"]).group(1))
        assert len(client.get_metric_history(run.info.run_id, "train/step_loss")) == steps
        assert len(client.get_metric_history(run.info.run_id, "test/loss")) >= 1
    rows = {row["job"]: row for row in sweep_table(uri, parent, tmp_path)}
    assert sorted(rows) == ["0", "1", "2", "3"]
    assert {rows[job]["status"] for job in "01"} == {"KILLED"}
    for job in "23":
        assert rows[job]["status"] == "NO_RUN"
        assert rows[job]["error"] == "not started: sweep interrupted (Ctrl-C)"
    assert [r for r in all_runs(uri) if r.info.status == "RUNNING"] == []


def test_an_aborted_sweep_ends_the_runs_its_jobs_left_running(tmp_path: Path) -> None:
    """A job whose process died without closing its run is marked KILLED at once; one whose
    process still runs gets the wait (a few seconds) to close it first."""
    uri = store_of(tmp_path)
    parent = tracking.open_run(uri, "train", "sweep", tags={tracking.ROLE_TAG: "sweep"})
    gone = tracking.open_run(uri, "train", "gone", {tracking.PID_TAG: "999999999"}, parent.run_id)
    other = subprocess.Popen(["sleep", "60"])
    try:
        alive_tags = {
            tracking.PID_TAG: str(other.pid),
            tracking.PID_START_TAG: tracking._process_start(other.pid) or "",
        }
        alive = tracking.open_run(uri, "train", "alive", alive_tags, parent.run_id)
        client = tracking.client_for(uri)
        began = time.monotonic()
        ended = sweep.end_running_children(client, parent.run_id, "sweep interrupted", wait=1.5)
        took = time.monotonic() - began
    finally:
        other.kill()
        other.wait()
    assert sorted(ended) == sorted([gone.run_id, alive.run_id]) and took >= 1.5
    for recorder in (gone, alive):
        run = client.get_run(recorder.run_id)
        assert run.info.status == "KILLED"
        assert run.data.tags["error"] == "sweep interrupted"
        assert run.data.tags["error.type"] == "SweepAborted"
        recorder.close()
    assert client.get_run(parent.run_id).info.status == "RUNNING"  # the parent is not a child
    parent.close()
    begun = time.monotonic()
    assert sweep.end_running_children(client, parent.run_id, "again", wait=5) == []
    assert time.monotonic() - begun < 5  # nothing RUNNING: no wait


@pytest.mark.slow
def test_two_sweeps_started_at_once_get_a_folder_each(tmp_path: Path) -> None:
    """Two sweeps in the same folder whose sweep folders resolve to the same name (a folder
    named after the day: as the default's <date>/<time> for sweeps started in the same
    second): the second takes `<name>_2`, and each job logs its own overrides."""
    named = "hydra.sweep.dir=multirun/${now:%Y-%m-%d}"
    common = [*SMALL, "train.epochs=2", named]
    first = start_sweep(["seed=0,1", *common], tmp_path)
    second = start_sweep(["seed=5,6", *common], tmp_path)
    try:
        for process in (first, second):
            _, err = process.communicate(timeout=SECONDS)
            assert process.returncode == 0, err[-3000:]
    finally:
        first.kill()
        second.kill()

    uri = store_of(tmp_path)
    found = all_runs(uri)
    parents = [r for r in found if r.data.tags.get(tracking.ROLE_TAG) == "sweep"]
    folders = sorted(Path(p.data.tags["sweep.dir"]) for p in parents)
    assert len(folders) == 2 and folders[1].name == folders[0].name + "_2"
    client = tracking.client_for(uri)
    for parent in parents:
        folder = Path(parent.data.tags["sweep.dir"])
        children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        seeds = sorted(r.data.params["seed"] for r in children)
        assert seeds in (["0", "1"], ["5", "6"])
        rows = sweep_table(uri, parent, tmp_path / parent.info.run_id)
        assert sorted(row["seed"] for row in rows) == seeds
        assert {row["status"] for row in rows} == {"FINISHED"}
        for child in children:
            assert Path(child.data.tags["toynets.job_dir"]).parent == folder
            logged = client.download_artifacts(
                child.info.run_id, "hydra/overrides.yaml", str(tmp_path / child.info.run_id)
            )
            assert f"seed={child.data.params['seed']}" in yaml.safe_load(Path(logged).read_text())
    assert_no_process_left(tmp_path)


def _sweep_config(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True)


def test_the_default_sweep_folder_is_claimed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _sweep_config([])
    first, second, third = (sweep.sweep_folder(config) for _ in range(3))
    assert first.parent.parent == tmp_path / "multirun" and first.is_dir()  # <date>/<time>
    assert second == first.with_name(first.name + "_2") and second.is_dir()
    assert third == first.with_name(first.name + "_3")


def test_a_sweep_folder_named_as_is_is_used_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _sweep_config(["hydra.sweep.dir=runs/lr"])
    assert sweep.sweep_folder(config) == sweep.sweep_folder(config) == tmp_path / "runs" / "lr"
