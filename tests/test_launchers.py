"""Hydra launchers and sweepers: each test runs only when its plugin is installed.

    pip install -e ".[tune]"    hydra-optuna-sweeper: hydra/sweeper=optuna, +experiment=tune_circle
    pip install -e ".[slurm]"   hydra-submitit-launcher: hydra/launcher=submitit_local, slurm
    pip install -e ".[ray]"     hydra-ray-launcher: hydra/launcher=ray_cluster
    hydra-joblib-launcher:      hydra/launcher=joblib

The sweeps run `toynets -m ...` as a user does, in a temporary folder whose embedded store
(`mlruns/mlflow.db`) must end up holding one FINISHED run per job. A sweep may also log a parent
run (tag `toynets.role` = `sweep`); it is not one of the jobs. The Ray tests start their own
single-node Ray cluster on loopback and stop it (only the processes they started) afterwards.
See docs/sweeps_launchers.md.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf

from conftest import CONF_DIR, run_cli
from toynets import runs

OPTUNA = "hydra_plugins.hydra_optuna_sweeper"
SUBMITIT = "hydra_plugins.hydra_submitit_launcher"
RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher"
JOBLIB = "hydra_plugins.hydra_joblib_launcher"
QUICK = ("study=train", "train.epochs=1", "tracking.log_model=false")

# Ray on loopback only: without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, Ray replaces
# --node-ip-address=127.0.0.1 by the machine's outward address and listens on it. No usage
# statistics are sent, and SIGTERM stops the head at once instead of draining for 30 s.
RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
}
RAY_START_TIMEOUT = 90  # seconds for the head to answer `ray status`
RAY_STOP_TIMEOUT = 60  # seconds for it to exit after SIGTERM, then SIGKILL


# -- helpers -----------------------------------------------------------------------------------


def store_uri(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"


def parent_runs(folder: Path) -> list[Any]:
    """Sweep parent runs (tag toynets.role = sweep) in the folder's store, if toynets logs any."""
    client = MlflowClient(tracking_uri=store_uri(folder))
    experiment = client.get_experiment_by_name("train")
    if experiment is None:
        return []
    return client.search_runs(
        [experiment.experiment_id], "tags.`toynets.role` = 'sweep'", max_results=100
    )


def job_runs(folder: Path) -> Any:
    """The runs of the sweep's jobs (parent runs left out), as `runs.find` gives them."""
    table = runs.find(study="train", uri=store_uri(folder))
    parents = {run.info.run_id for run in parent_runs(folder)}
    return table[~table.run_id.isin(parents)]


def assert_jobs_finished(result: subprocess.CompletedProcess, folder: Path, n_jobs: int) -> Any:
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-5000:])
    jobs = job_runs(folder)
    assert len(jobs) == n_jobs, jobs[["run_name", "status"]]
    assert set(jobs.status) == {"FINISHED"}, jobs[["run_name", "status"]]
    return jobs


def hydra_config(overrides: list[str]) -> DictConfig:
    """The composed config with Hydra's own node (launcher, sweeper), as `--cfg hydra` shows."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- joblib (local, parallel processes) ----------------------------------------------------------


@pytest.mark.slow
def test_joblib_runs_every_job(tmp_path: Path) -> None:
    pytest.importorskip(JOBLIB)
    result = run_cli(
        "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", *QUICK, cwd=tmp_path
    )
    jobs = assert_jobs_finished(result, tmp_path, 2)
    assert sorted(jobs["params.seed"]) == ["0", "1"]


# -- submitit: local processes and SLURM ---------------------------------------------------------


def test_slurm_config_extends_submitit_slurm() -> None:
    pytest.importorskip(SUBMITIT)
    launcher = hydra_config(["hydra/launcher=slurm", "hydra.launcher.partition=cpu"]).hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.cpus_per_task, launcher.mem_gb) == ("cpu", 2, 4)
    assert (launcher.timeout_min, launcher.array_parallelism, launcher.max_num_timeout) == (
        30,
        32,
        0,
    )
    raw = OmegaConf.to_container(launcher, resolve=False)
    assert raw["submitit_folder"] == "${hydra.sweep.dir}/.submitit/%j"  # the plugin's own keys
    assert hydra_config(["hydra/launcher=slurm"]).hydra.launcher.partition is None


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("TOYNETS_TEST_SLURM_PARTITION"),
    reason="opt-in: set TOYNETS_TEST_SLURM_PARTITION (a SLURM cluster that sees this folder)",
)
def test_slurm_runs_every_job(tmp_path: Path) -> None:
    """`hydra/launcher=slurm` on a real cluster: sbatch must be on PATH and tmp_path (and this
    interpreter) visible to the compute nodes (set TMPDIR or --basetemp to a shared folder)."""
    pytest.importorskip(SUBMITIT)
    if shutil.which("sbatch") is None:
        pytest.skip("sbatch is not on PATH")
    partition = os.environ["TOYNETS_TEST_SLURM_PARTITION"]
    result = run_cli(
        "-m",
        "hydra/launcher=slurm",
        f"hydra.launcher.partition={partition}",
        "hydra.launcher.timeout_min=10",
        "seed=0,1",
        *QUICK,
        cwd=tmp_path,
    )
    jobs = assert_jobs_finished(result, tmp_path, 2)
    assert sorted(jobs["params.seed"]) == ["0", "1"]
    (script,) = tmp_path.glob("multirun/*/*/.submitit/*/*_submission.sh")
    text = script.read_text()
    assert f"--partition={partition}" in text and "--cpus-per-task=2" in text
    assert "--mem=4GB" in text and "--array=0-1%2" in text  # min(array_parallelism, jobs)


@pytest.mark.slow
def test_submitit_local_runs_every_job(tmp_path: Path) -> None:
    pytest.importorskip(SUBMITIT)
    result = run_cli("-m", "hydra/launcher=submitit_local", "seed=0,1", *QUICK, cwd=tmp_path)
    jobs = assert_jobs_finished(result, tmp_path, 2)
    assert sorted(jobs["params.seed"]) == ["0", "1"]
    assert list(tmp_path.glob("multirun/*/*/.submitit/*/*_result.pkl"))  # submitit ran them


# -- Optuna ------------------------------------------------------------------------------------


def optimization_results(folder: Path) -> dict[str, Any]:
    (path,) = folder.glob("multirun/*/*/optimization_results.yaml")
    return yaml.safe_load(path.read_text())


@pytest.mark.slow
def test_optuna_sweep_runs_n_trials_and_writes_the_best(tmp_path: Path) -> None:
    pytest.importorskip(OPTUNA)
    result = run_cli(
        "-m",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.seed=0",
        "train.lr=interval(0.001,0.1)",
        "model.hidden=choice([4],[8],[16])",
        "study=train",
        "train.epochs=2",
        "tracking.log_model=false",
        cwd=tmp_path,
    )
    jobs = assert_jobs_finished(result, tmp_path, 4)
    best = optimization_results(tmp_path)
    assert best["name"] == "optuna"
    assert set(best["best_params"]) == {"train.lr", "model.hidden"}
    assert 0.001 <= best["best_params"]["train.lr"] <= 0.1
    assert best["best_params"]["model.hidden"] in ("[4]", "[8]", "[16]")  # choices come as text
    # Each trial's objective is its job's final/test_loss (the `objective` key, minimized).
    assert math.isclose(best["best_value"], jobs["metrics.final/test_loss"].min(), rel_tol=1e-6)

    # Depends on the sweep parent-run feature (src/toynets/sweep.py): checked when it logs one.
    parents = parent_runs(tmp_path)
    if parents:
        (parent,) = parents
        recorded = {**parent.data.params, **parent.data.tags}
        assert "best.train.lr" in recorded, sorted(recorded)
        assert math.isclose(float(recorded["best.train.lr"]), best["best_params"]["train.lr"])


def test_tune_circle_experiment_composes() -> None:
    pytest.importorskip(OPTUNA)
    cfg = hydra_config(["+experiment=tune_circle"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("optuna_sweeper.OptunaSweeper")
    assert (sweeper.direction, sweeper.n_trials, sweeper.storage) == ("minimize", 20, None)
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler" and sweeper.sampler.seed == 0
    assert sweeper.params["train.lr"] == "tag(log, interval(0.001, 0.1))"
    assert sweeper.params["model.hidden"] == "choice([4], [8], [16], [32])"
    assert cfg.dataset.name == "circle" and cfg.objective == "final/test_loss"


@pytest.mark.slow
def test_tune_circle_experiment_runs(tmp_path: Path) -> None:
    pytest.importorskip(OPTUNA)
    result = run_cli(
        "-m", "+experiment=tune_circle", "hydra.sweeper.n_trials=2", *QUICK, cwd=tmp_path
    )
    jobs = assert_jobs_finished(result, tmp_path, 2)
    lrs = jobs["params.train.lr"].astype(float)
    assert lrs.between(0.001, 0.1).all()
    assert "best_params" in optimization_results(tmp_path)


# -- Ray ---------------------------------------------------------------------------------------


def test_ray_cluster_config_extends_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip(RAY_LAUNCHER)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    launcher = hydra_config(["hydra/launcher=ray_cluster"]).hydra.launcher
    assert launcher._target_.endswith("ray_launcher.RayLauncher")
    assert launcher.ray.init.address == "auto"
    assert launcher.ray.init.object_store_memory is None  # ray.init refuses it for a cluster
    assert (launcher.ray.remote.num_cpus, launcher.ray.remote.max_retries) == (1, 0)
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6379")
    assert hydra_config(["hydra/launcher=ray_cluster"]).hydra.launcher.ray.init.address == (
        "10.1.2.3:6379"
    )


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the head's process group (started by us), SIGKILL if it outlives the bound."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=RAY_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with suppress(ProcessLookupError):  # workers the raylet started in the same group
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def ray_head() -> Iterator[dict[str, str]]:
    """A one-node Ray cluster on 127.0.0.1 (`ray start --head --block`), stopped on teardown.

    Yields the environment a driver needs: RAY_ADDRESS=127.0.0.1:<port> and RAY_ENV. The head
    runs in its own temporary folder, so its workers' cwd is not the folder toynets starts in.
    """
    pytest.importorskip("ray")
    pytest.importorskip(RAY_LAUNCHER)
    script = Path(sys.executable).parent / "ray"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "ray.scripts.scripts"]
    port = free_port()
    address = f"127.0.0.1:{port}"
    # Short: Ray's socket paths under --temp-dir must fit in 107 characters.
    folder = Path(tempfile.mkdtemp(prefix="toynets-ray-"))
    env = {**os.environ, **RAY_ENV, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("RAY_ADDRESS", None)
    log_path = folder / "head.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                *command,
                "start",
                "--head",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--include-dashboard=false",
                "--disable-usage-stats",
                "--num-cpus=2",
                "--object-store-memory=100000000",
                f"--temp-dir={folder}",
                "--block",
            ],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + RAY_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"ray start exited with {process.returncode}:\n{log_path.read_text()}")
            status = subprocess.run(
                [*command, "status", f"--address={address}"],
                env=env,
                capture_output=True,
                timeout=30,
            )
            if status.returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"no Ray head at {address} after {RAY_START_TIMEOUT} s")
            time.sleep(1)
        yield {**RAY_ENV, "RAY_ADDRESS": address}
    finally:
        _stop(process)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_ray_cluster_runs_every_job_into_the_callers_store(
    ray_head: dict[str, str], tmp_path: Path
) -> None:
    # An absolute sweep dir: relative paths resolve on the worker, against the head's cwd.
    sweep_dir = tmp_path / "multirun" / "ray"
    result = run_cli(
        "-m",
        "hydra/launcher=ray_cluster",
        f"hydra.sweep.dir={sweep_dir}",
        "seed=0,1",
        *QUICK,
        cwd=tmp_path,
        env=ray_head,
    )
    jobs = assert_jobs_finished(result, tmp_path, 2)
    assert sorted(jobs["params.seed"]) == ["0", "1"]
    assert sorted(p.parent.name for p in sweep_dir.glob("*/.hydra")) == ["0", "1"]
