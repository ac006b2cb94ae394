"""`toynets` end to end into a temporary store, read back with a plain MlflowClient and runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import mlflow.keras
import numpy as np
import pytest
import yaml
from mlflow.entities import LoggedModelStatus
from mlflow.tracking import MlflowClient

from conftest import DefaultRun, compose_config, run_cli, user_env
from toynets import runs
from toynets.app import run_job
from toynets.net import Net

CONTRACT_FILES = {
    "config.yaml",
    "hydra/config.yaml",
    "hydra/overrides.yaml",
    "weights/final.npz",
    "weights/snapshots.npz",
    "model/MLmodel",
    "figures/loss_curves.png",
    "figures/decision_map.png",
    "tables/history.csv",
    "data/decision_map.npz",
    "data/node_removal_mc.npz",
    "data/node_removal_exact.npz",
    "node_removal.html",
}


def all_artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    """Every file of a run as MLflow 3 resolves runs:/<run_id>/<path>: its own artifacts and
    those of its logged models (under the model's name, e.g. `model/MLmodel`)."""
    found = set()
    for item in client.list_artifacts(run_id, path):
        found |= all_artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    if path is None:
        for output in client.get_run(run_id).outputs.model_outputs:
            model = client.get_logged_model(output.model_id)
            found |= {f"{model.name}/{p}" for p in model_files(client, model.model_id)}
    return found


def model_files(client: MlflowClient, model_id: str, path: str | None = None) -> set[str]:
    found = set()
    for item in client.list_logged_model_artifacts(model_id, path):
        found |= model_files(client, model_id, item.path) if item.is_dir else {item.path}
    return found


def test_default_run_is_complete_in_the_embedded_store(default_run: DefaultRun) -> None:
    folder, uri = default_run.folder, default_run.uri
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("node_removal")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert Path(experiment.artifact_location.removeprefix("file://")).is_relative_to(
        folder / "mlruns"
    )
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "node_removal circle mlp[20] epochs=8 s0"
    assert run.data.tags["study"] == "node_removal" and run.data.tags["dataset"] == "circle"
    assert run.data.tags["overrides"] == "train.epochs=8"
    params = run.data.params
    assert params["model.hidden"] == "[20]" and params["train.lr"] == "0.01"
    assert params["train.epochs"] == "8" and params["dataset.name"] == "circle"
    for key in (
        "final/train_loss",
        "final/test_loss",
        "final/train_accuracy",
        "final/test_accuracy",
    ):
        assert key in run.data.metrics
    history = client.get_metric_history(run.info.run_id, "test/loss")
    assert sorted(m.step for m in history) == [32 * e for e in range(9)]
    steps = client.get_metric_history(run.info.run_id, "train/step_loss")
    assert len(steps) == 8 * 32
    assert all_artifacts(client, run.info.run_id) >= CONTRACT_FILES
    config = yaml.safe_load(
        (
            folder / "mlruns" / "node_removal" / run.info.run_id / "artifacts" / "config.yaml"
        ).read_text()
    )
    assert config["train"]["epochs"] == 8 and config["model"]["hidden"] == [20]


def test_final_npz_reproduces_the_logged_model(default_run: DefaultRun, tmp_path) -> None:
    uri = default_run.uri
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("node_removal").experiment_id])
    local = client.download_artifacts(run.info.run_id, "weights", str(tmp_path))
    with np.load(Path(local) / "final.npz", allow_pickle=False) as npz:
        assert npz["W0"].shape == (2, 20) and npz["W1"].shape == (20, 2)
        assert npz["W0"].dtype == np.float32
        net = Net.from_arrays(dict(npz))
    with np.load(Path(local) / "snapshots.npz", allow_pickle=False) as npz:
        assert list(npz["step"]) == [32 * e for e in range(9)]
        assert npz["W0"].shape == (9, 2, 20)
        np.testing.assert_array_equal(npz["W0"][-1], net.layers[0].W)
    loaded = runs.load(run.info.run_id, uri=uri)
    x = np.random.default_rng(0).uniform(-2, 2, size=(256, 2)).astype(np.float32)
    keras_out = loaded.model()(x).numpy()
    np.testing.assert_allclose(net.predict(x), keras_out, rtol=1e-5, atol=1e-6)
    # Plain MLflow reloads the model by run id too.
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        by_id = mlflow.keras.load_model(f"runs:/{run.info.run_id}/model")
    finally:
        mlflow.set_tracking_uri(previous)
    np.testing.assert_allclose(by_id(x).numpy(), keras_out, rtol=1e-6)
    # The accuracy the run reports is what the stored weights give on the same test set.
    from toynets import data as datasets
    from toynets.config import DatasetConfig

    test = datasets.make(DatasetConfig(), 0)
    accuracy = np.mean(net.predict(test.x_test).argmax(1) == test.y_test)
    assert accuracy == pytest.approx(run.data.metrics["final/test_accuracy"], abs=1e-6)


LOAD_ANYWHERE = """
import json, sys
import mlflow, numpy as np
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.keras.load_model(f"runs:/{sys.argv[2]}/model")
x = np.load(sys.argv[3])
print(json.dumps({"y": np.asarray(model.predict(x, verbose=0)).tolist(),
                  "toynets": sorted(m for m in sys.modules if m.split(".")[0] == "toynets")}))
"""


def test_the_logged_model_loads_without_toynets(default_run: DefaultRun, tmp_path) -> None:
    """A fresh Python that imports only mlflow and numpy loads runs:/<id>/model (plain Keras
    layers) and predicts what the run's own weights predict."""
    uri = default_run.uri
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("node_removal").experiment_id])
    x = np.random.default_rng(1).uniform(-2, 2, size=(64, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = subprocess.run(
        [sys.executable, "-c", LOAD_ANYWHERE, uri, run.info.run_id, str(tmp_path / "x.npy")],
        cwd=tmp_path,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["toynets"] == []
    net = runs.load(run.info.run_id, uri=uri).net
    np.testing.assert_allclose(np.array(answer["y"]), net.predict(x), rtol=0, atol=1e-6)
    assert "without specifying model signature" not in default_run.result.stderr

    # An MLflow 3 logged model of the run ("Logged models"), ready, with signature and example.
    (output,) = run.outputs.model_outputs
    model = client.get_logged_model(output.model_id)
    assert model.name == "model" and model.source_run_id == run.info.run_id
    assert model.status.to_proto() == LoggedModelStatus.READY.to_proto()
    stored = Path(model.artifact_location.removeprefix("file://"))
    info = mlflow.models.Model.load(str(stored / "MLmodel"))
    (inputs,), (outputs,) = info.signature.inputs.inputs, info.signature.outputs.inputs
    assert (str(inputs.type), tuple(inputs.shape)) == ("float32", (-1, 2))
    assert (str(outputs.type), tuple(outputs.shape)) == ("float32", (-1, 2))
    example = json.loads((stored / "input_example.json").read_text())
    assert np.array(example).shape == (5, 2)
    # `toynets runs get` brings the model along with the run's own files.
    got = run_cli("runs", "get", run.info.run_id, "-o", "got", cwd=default_run.folder)
    assert got.returncode == 0, got.stderr
    assert (default_run.folder / "got" / "model" / "MLmodel").exists()
    assert (default_run.folder / "got" / "figures" / "loss_pdf.png").exists()


def test_a_job_prints_its_stages_and_nothing_else(default_run: DefaultRun) -> None:
    """Quiet by default: one line per stage and the run, none of TensorFlow's, MLflow's or
    matplotlib's lines (they are in the job's log file); no bars off a terminal."""
    lines = default_run.result.stderr.splitlines() + default_run.result.stdout.splitlines()
    assert lines and all(line.startswith("toynets: ") for line in lines), lines
    text = "\n".join(lines)
    for stage in (
        "train (",
        "exact: all 2^20 masks (",
        "Monte Carlo: 3000 masks (",
        "hypercube paths: 1000 (",
        "maps over the input plane (",
        "study node_removal (",
        "log 14 figures and the results (",
        "log the model (",
    ):
        assert f"toynets: {stage}" in text, stage
    assert "%|" not in text  # tqdm bars only on a terminal
    (log,) = (default_run.folder / "outputs").glob("*/*/toynets.log")
    assert "Creating initial MLflow database tables" in log.read_text()


def test_runs_find_and_load(default_run: DefaultRun) -> None:
    uri = default_run.uri
    table = runs.find(study="node_removal", uri=uri, **{"model.hidden": [20]})
    assert len(table) == 1 and table.loc[0, "status"] == "FINISHED"
    assert table.loc[0, "params.train.epochs"] == "8"
    assert len(runs.find(study="node_removal", uri=uri, train__lr=0.5)) == 0
    assert len(runs.find(uri=uri, filter="metrics.`final/test_accuracy` > 0.5")) == 1
    run = runs.load(table.loc[0, "run_id"], uri=uri)
    assert run.config.model.hidden == [20] and run.experiment == "node_removal"
    assert run.net is not None and run.net.hidden_sizes == [20]
    assert run.snapshots["W0"].shape[0] == len(run.snapshots["step"])
    assert {"loss_curves", "decision_map", "removal_single", "loss_pdf"} <= set(run.figures)
    assert run.table("history").shape[0] == 9
    assert run.arrays("decision_map")["probability"].shape == (200, 200, 2)
    steps, values = run.history("test/accuracy")
    assert steps[-1] == 256 and values[-1] == run.metrics["final/test_accuracy"]
    with pytest.raises(runs.RunNotFound, match="no run with id 'nope'"):
        runs.load("nope", uri=uri)
    with pytest.raises(runs.RunNotFound, match="no experiment 'pruning'"):
        runs.find(study="pruning", uri=uri)
    with pytest.raises(runs.RunNotFound, match="no '..'"):
        runs.download(run.run_id, "../../mlflow.db", uri=uri)
    with pytest.raises(runs.RunNotFound, match="no artifact 'figures/nope.png'"):
        runs.download(run.run_id, "figures/nope.png", uri=uri)


def test_regression_experiment_and_tracking_uri(store: str, tmp_path: Path) -> None:
    cfg = compose_config(
        [
            "+experiment=fcnn_prod",
            "train.epochs=30",
            "study.grid=40",
            "study.region_grid=60",
            "study.track_regions=false",
            "tracking.log_model=false",
            f"tracking.uri={store}",
        ]
    )
    run_id = run_job(cfg).run_id
    run = runs.load(run_id, uri=store)
    assert run.status == "FINISHED" and run.tags["model"] == "mlp[4]"
    assert "final/test_loss" in run.metrics and "final/test_accuracy" not in run.metrics
    assert run.metrics["final/test_loss"] < 0.02  # x1*x2/4 has variance 1/9 = 0.11 on [-2,2]^2
    assert {"loss_curves", "estimate_map"} <= set(run.figures)  # the flow study's own too
    estimate = run.arrays("estimate_map")
    assert estimate["estimate"].shape == (40, 40)
    g1, g2 = np.meshgrid(estimate["x1"], estimate["x2"])
    np.testing.assert_allclose(estimate["truth"], g1 * g2 / 4, rtol=1e-5, atol=1e-6)
    # Artifacts sit beside the SQLite file of the store, whatever the working folder.
    assert (tmp_path / "mlruns" / "flow" / run_id / "artifacts" / "config.yaml").exists()


def test_divergence_marks_the_run_failed_and_keeps_what_was_logged(store: str) -> None:
    cfg = compose_config(
        [
            "study=train",
            "train.optimizer=sgd",
            "train.lr=1e25",
            "model.init_scale=100",
            f"tracking.uri={store}",
        ]
    )
    with pytest.raises(Exception, match="loss became"):
        run_job(cfg)
    (failed,) = MlflowClient(tracking_uri=store).search_runs(
        [MlflowClient(tracking_uri=store).get_experiment_by_name("train").experiment_id]
    )
    assert failed.info.status == "FAILED"
    assert "loss became" in failed.data.tags["error"]
    assert failed.data.tags["error.type"] == "TrainingDiverged"
    assert failed.data.params["train.lr"] == "1e+25"
    client = MlflowClient(tracking_uri=store)
    assert "config.yaml" in all_artifacts(client, failed.info.run_id)


def test_environment_variable_points_at_another_store(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "store.db"
    result = run_cli(
        "study=train",
        "train.epochs=1",
        "study.grid=20",
        "tracking.log_model=false",
        cwd=tmp_path,
        env={"MLFLOW_TRACKING_URI": f"sqlite:///{other}"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert other.exists() and not (tmp_path / "mlruns").exists()
    assert len(runs.find(study="train", uri=f"sqlite:///{other}")) == 1
