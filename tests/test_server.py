"""`toynets` against a real `mlflow server` on loopback, and MLflow's REST API over a sweep.

- PostgreSQL backend store + proxied artifacts: a parallel sweep with `tracking=server`, read
  back with `toynets.runs` (skips when PostgreSQL or its driver is missing; `.ci/install-services`
  installs the server).
- A local store made by a sweep, served by `mlflow server`: runs, nesting, params, metrics and
  artifacts as the UI fetches them, through plain HTTP.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from conftest import run_cli
from servers import http_bytes, http_json, mlflow_server, postgres_server
from toynets import runs

SWEEP_ROLE_TAG = "toynets.role"  # "sweep" on the parent run of a multirun
PARENT_TAG = "mlflow.parentRunId"
PNG = b"\x89PNG\r\n\x1a\n"
JOB = ("study=train", "train.epochs=2", "study.grid=20")


def launcher_overrides(n_jobs: int = 2) -> list[str]:
    """Hydra's joblib launcher (parallel jobs) when its plugin is installed, else none."""
    if importlib.util.find_spec("hydra_plugins.hydra_joblib_launcher") is None:
        return []
    return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}"]


def check_ok(result: Any) -> None:
    output = f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"toynets failed (exit {result.returncode}):\n{output}"


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    """A REST run's tags as a dict."""
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def assert_nested(tags_by_run: dict[str, dict[str, str]]) -> str:
    """Exactly one run is the sweep's parent (tag toynets.role=sweep) and every other run is
    its child (mlflow.parentRunId). Returns the parent's run id."""
    parents = [rid for rid, tags in tags_by_run.items() if tags.get(SWEEP_ROLE_TAG) == "sweep"]
    assert len(parents) == 1, f"expected one run tagged {SWEEP_ROLE_TAG}=sweep, got {parents}"
    (parent,) = parents
    for rid, tags in tags_by_run.items():
        if rid != parent:
            assert tags.get(PARENT_TAG) == parent, f"run {rid} is not a child of {parent}: {tags}"
    return parent


# -- tracking=server: PostgreSQL backend, proxied artifacts -------------------------------------


@pytest.mark.parametrize("launcher", ["joblib", "population"])
def test_sweep_against_a_tracking_server_with_postgres(tmp_path: Path, launcher: str) -> None:
    """A parallel sweep (joblib's worker processes), or one whose nets train as a population
    before each job logs its run, against the server."""
    artifacts = tmp_path / "server-artifacts"
    work = tmp_path / "work"
    work.mkdir()
    overrides = launcher_overrides() if launcher == "joblib" else ["hydra/launcher=population"]
    with postgres_server() as db_url, mlflow_server(db_url, artifacts) as url:
        result = run_cli(
            "-m",
            *overrides,
            "tracking=server",
            "seed=0,1",
            *JOB,
            cwd=work,
            env={"MLFLOW_TRACKING_URI": url},
        )
        check_ok(result)

        table = runs.find(study="train", uri=url, role="all")
        tags = {rid: runs.get_run(rid, uri=url).data.tags for rid in table.run_id}
        jobs = table[[tags[rid].get(SWEEP_ROLE_TAG) != "sweep" for rid in table.run_id]]
        assert sorted(jobs.status) == ["FINISHED", "FINISHED"]
        assert sorted(jobs.seed) == ["0", "1"]
        trained_together = ["2", "2"] if launcher == "population" else [None, None]
        assert [tags[rid].get("toynets.population") for rid in jobs.run_id] == trained_together
        # conf/tracking/server.yaml takes the URI from the environment: recorded as written
        written = "${oc.env:MLFLOW_TRACKING_URI,http://127.0.0.1:5000}"
        assert set(jobs["params.tracking.uri"]) == {written}
        assert_nested(tags)  # one sweep run, the jobs its children

        run_id = jobs[jobs.seed == "1"].run_id.iloc[0]
        artifact_uri = runs.get_run(run_id, uri=url).info.artifact_uri
        assert artifact_uri.startswith("mlflow-artifacts:")
        # One file of a run, through the server (the sweep gallery reads the jobs' maps so).
        (parent,) = [rid for rid in table.run_id if tags[rid].get(SWEEP_ROLE_TAG) == "sweep"]
        parent_uri = runs.get_run(parent, uri=url).info.artifact_uri
        name = "figures/sweep_gallery_decision_map.png"
        gallery = runs.artifact_file(parent, name, parent_uri, tmp_path / "gallery", url)
        assert gallery is not None and gallery.read_bytes().startswith(PNG)
        missing = runs.artifact_file(run_id, "figures/nothing.png", artifact_uri, tmp_path, url)
        assert missing is None
        run = runs.load(run_id, uri=url, dst=tmp_path / "loaded")
        assert run.status == "FINISHED" and run.experiment == "train"
        assert run.params["model.hidden"] == "[20]" and run.params["train.epochs"] == "2"
        assert run.config.seed == 1 and run.config.train.epochs == 2
        assert math.isfinite(run.metrics["final/test_loss"])
        assert 0.0 <= run.metrics["final/test_accuracy"] <= 1.0
        assert {"loss_curves", "decision_map"} <= set(run.figures)
        assert run.figures["loss_curves"].read_bytes().startswith(PNG)
        assert run.snapshots["W0"].shape[1:] == (2, 20)
        steps, values = run.history("test/loss")
        assert len(steps) == len(run.table("history")) and np.isfinite(values).all()
        x = np.random.default_rng(0).uniform(-1, 1, size=(16, 2)).astype(np.float32)
        assert run.net is not None
        np.testing.assert_allclose(run.net.predict(x), run.model()(x).numpy(), rtol=1e-5, atol=1e-6)

    # Artifacts went through the server into its destination, nothing into a local store.
    assert not (work / "mlruns").exists()
    assert len(list(artifacts.rglob("figures/loss_curves.png"))) == 2
    assert len(list(artifacts.rglob("models/m-*/artifacts/MLmodel"))) == 2  # logged models


# -- REST API over a store made by a sweep -------------------------------------------------------


@pytest.fixture(scope="module")
def swept_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-job sweep (`-m seed=0,1`) into the embedded store of an empty folder."""
    folder = tmp_path_factory.mktemp("swept")
    result = run_cli(
        "-m",
        "seed=0,1",
        "study=train",
        "train.epochs=1",
        "study.grid=20",
        "tracking.log_model=false",
        cwd=folder,
    )
    check_ok(result)
    return folder / "mlruns"


def test_rest_api_serves_a_sweep(swept_store: Path) -> None:
    with mlflow_server(f"sqlite:///{swept_store / 'mlflow.db'}") as url:
        api = f"{url}/api/2.0/mlflow"
        experiment = http_json(f"{api}/experiments/get-by-name?experiment_name=train")["experiment"]
        assert experiment["artifact_location"].startswith("file://")
        found = http_json(
            f"{api}/runs/search",
            {"experiment_ids": [experiment["experiment_id"]], "max_results": 100},
        )["runs"]
        tags_by_run = {r["info"]["run_id"]: tags_of(r) for r in found}
        jobs = [r for r in found if tags_of(r).get(SWEEP_ROLE_TAG) != "sweep"]
        assert sorted(tags_of(r)["seed"] for r in jobs) == ["0", "1"]

        for run in jobs:
            run_id = run["info"]["run_id"]
            assert run["info"]["status"] == "FINISHED"
            params = {p["key"]: p["value"] for p in run["data"]["params"]}
            metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
            assert params["model.hidden"] == "[20]" and params["train.epochs"] == "1"
            assert params["seed"] == tags_of(run)["seed"]
            assert math.isfinite(metrics["final/test_loss"])
            assert tags_of(run)["study"] == "train" and tags_of(run)["dataset"] == "circle"

            # The full history, as the run's own tables/history.csv has it.
            local = Path(run["info"]["artifact_uri"].removeprefix("file://"))
            with open(local / "tables" / "history.csv") as handle:
                rows = list(csv.DictReader(handle))
            history = http_json(
                f"{api}/metrics/get-history?run_id={run_id}&metric_key={quote('test/loss')}"
            )["metrics"]
            assert sorted(m["step"] for m in history) == [int(r["step"]) for r in rows]
            by_step = {m["step"]: m["value"] for m in history}
            for row in rows:
                assert by_step[int(row["step"])] == pytest.approx(float(row["test/loss"]))

            # Artifact listings and one file, as the UI's artifact browser fetches them.
            listing = http_json(f"{api}/artifacts/list?run_id={run_id}")["files"]
            top = {f["path"]: f["is_dir"] for f in listing}
            assert top["figures"] and top["weights"] and not top["config.yaml"]
            assert "model" not in top  # tracking.log_model=false
            figures = http_json(f"{api}/artifacts/list?run_id={run_id}&path=figures")["files"]
            assert "figures/loss_curves.png" in {f["path"] for f in figures}
            weights = http_json(f"{api}/artifacts/list?run_id={run_id}&path=weights")["files"]
            assert {"weights/final.npz", "weights/snapshots.npz"} <= {f["path"] for f in weights}
            status, body = http_bytes(
                f"{url}/get-artifact?path=figures/loss_curves.png&run_uuid={run_id}"
            )
            assert status == 200 and body.startswith(PNG)
            assert len(body) == (local / "figures" / "loss_curves.png").stat().st_size

        # Nesting: the sweep is one parent run, the jobs its children.
        assert_nested(tags_by_run)
