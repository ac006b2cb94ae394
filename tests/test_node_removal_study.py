"""The node_removal study end to end into a real store, checked against its own definitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import compose_config, logged_study
from toynets import runs
from toynets.analysis import node_removal as nr
from toynets.app import run_job
from toynets.config import ConfigError, validate

SMALL = [
    "study=node_removal",
    "model.hidden=[6]",
    "train.epochs=4",
    "study.n_masks=300",
    "study.n_paths=200",
    "study.grid=40",
    "study.map_grid=24",
    "study.test_size=400",
    "study.n_random_subsets=2",
    "study.subsets=[[0],[1,2]]",
    "tracking.log_model=false",
]


@pytest.fixture(scope="module")
def study_run(tmp_path_factory: pytest.TempPathFactory):
    run = logged_study(tmp_path_factory.mktemp("node_removal"), SMALL)
    return run.uri, run


def test_every_documented_artifact_is_logged(study_run) -> None:
    _, run = study_run
    assert run.status == "FINISHED" and run.experiment == "node_removal"
    expected_figures = {
        "loss_curves",
        "decision_map",
        "removal_single",
        "removal_subsets",
        "loss_pdf",
        "log_loss_pdf",
        "grad_pdf",
        "log_grad_pdf",
        "grad_on_off",
        "grad_per_unit",
        "path_covariance",
        "gradient_maps",
        "loss_map",
        "shapley",
    }
    assert expected_figures <= set(run.figures)
    # the maps the runs' Chart view compares, as MLflow images at the last training step
    from mlflow import MlflowClient

    images = MlflowClient(run.uri).list_artifacts(run.run_id, "images")
    keys = sorted(a.path.split("/")[1].split("+")[0] for a in images if a.path.endswith(".png"))
    assert keys == ["decision_map", "removal_single"]
    final = int(run.snapshots["step"][-1])
    assert all(f"+step+{final}+" in a.path for a in images)
    assert {
        "node_removal_mc",
        "node_removal_on_off",
        "node_removal_units",
        "node_removal_best_worst",
        "history",
    } <= set(run.tables)
    assert {"node_removal_mc", "node_removal_exact", "node_removal_paths"} <= set(run.data)
    html = run.files["node_removal.html"].read_text()
    assert html.lstrip().lower().startswith("<!doctype html") and "http" not in html.split(
        "<body", 1
    )[0].lower().replace("http-equiv", "")


def test_monte_carlo_data_reproduces_its_losses(study_run) -> None:
    _, run = study_run
    mc = run.arrays("node_removal_mc")
    assert mc["masks"].shape == (900, 6) and mc["grad"].shape == (900, 6)
    assert sorted(set(mc["p"].tolist())) == pytest.approx([0.25, 0.5, 0.75])
    assert mc["x_test"].shape == (400, 2)
    # Recompute a few masks with the logged weights: the NumPy forward pass agrees.
    for k in (0, 450, 899):
        z = run.net.logits(mc["x_test"], [mc["masks"][k]])
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        loss = -logp[np.arange(400), mc["y_test"]].mean()
        assert mc["loss"][k] == pytest.approx(loss, rel=1e-4)
    table = run.table("node_removal_mc")
    for p in (0.25, 0.5, 0.75):
        pick = mc["p"] == np.float32(p)
        row = table[table.p == p].iloc[0]
        assert row.mean_loss == pytest.approx(mc["loss"][pick].mean(), rel=1e-5)
        assert row.masks_all_units_on == int(mc["masks"][pick].all(1).sum())
        # Monte Carlo mean within 5 standard errors of the exact mean at the same p.
        se = mc["loss"][pick].std() / np.sqrt(pick.sum())
        assert abs(row.mean_loss - row.exact_mean_loss) < 5 * se
        assert run.metrics[f"node_removal/p{p}/mean_loss"] == pytest.approx(row.mean_loss, rel=1e-5)


def test_exact_values_obey_their_definitions(study_run) -> None:
    _, run = study_run
    exact = run.arrays("node_removal_exact")
    assert exact["loss"].shape == (64,)
    assert exact["shapley_loss"].sum() == pytest.approx(
        float(exact["loss_full"] - exact["loss_empty"]), abs=1e-5
    )
    np.testing.assert_allclose(exact["shapley_loss"], nr.shapley(exact["loss"]))
    np.testing.assert_allclose(exact["banzhaf_loss"], nr.banzhaf(exact["loss"]))
    assert exact["loss_full"] == pytest.approx(run.metrics["node_removal/full_loss"], rel=1e-5)
    units = run.table("node_removal_units")
    assert list(units.unit) == list(range(6))
    for i in range(6):
        assert units.loss_without_unit[i] == pytest.approx(exact["loss"][63 ^ (1 << i)], rel=1e-5)
    best_worst = run.table("node_removal_best_worst")
    assert best_worst.best_loss.iloc[0] == pytest.approx(exact["loss_empty"], rel=1e-5)
    assert best_worst.best_loss.iloc[-1] == pytest.approx(exact["loss_full"], rel=1e-5)
    assert abs(run.metrics["node_removal/exact/shapley_efficiency_gap"]) < 1e-5


def test_paths_metrics(study_run) -> None:
    _, run = study_run
    paths = run.arrays("node_removal_paths")
    assert paths["masks"].shape == (200, 7, 6) and paths["log_loss"].shape == (200, 7)
    expected = np.corrcoef(paths["log_loss"][:, 0], paths["log_loss"][:, -1])[0, 1]
    assert run.metrics["node_removal/paths/complement_correlation"] == pytest.approx(expected)


def test_bad_study_values_are_rejected_before_any_run(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for overrides, message in [
        (["study.ps=[0.5,1.5]"], "study.ps[1]=1.5 is a probability"),
        (["model.hidden=[30]", "study.exact=true"], "2^30 masks"),
        (["study.subsets=[[25]]"], "units [25] do not exist"),
        (["study.kernel_width=0"], "study.kernel_width=0.0 must be > 0"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("^", r"\^")):
            validate(compose_config(["study=node_removal", *overrides, f"tracking.uri={uri}"]))
    assert not (tmp_path / "mlflow.db").exists()
    validate(compose_config(["study=node_removal", "model.hidden=[30]", "study.exact=false"]))


@pytest.mark.parametrize(
    ("overrides", "units"),
    [
        (["dataset=fcnn_prod", "model.hidden=[4]"], 4),  # regression, linear head
        (["dataset=fcnn_squares", "model.hidden=[3,2]"], 5),
    ],  # 4 classes, two hidden layers
)
def test_study_runs_on_regression_and_deep_multiclass_nets(tmp_path: Path, overrides, units):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = compose_config(
        [
            "study=node_removal",
            *overrides,
            "train.epochs=2",
            "study.n_masks=50",
            "study.n_paths=20",
            "study.grid=20",
            "study.map_grid=16",
            "study.test_size=100",
            "tracking.log_model=false",
            f"tracking.uri={uri}",
        ]
    )
    run = runs.load(run_job(cfg).run_id, uri=uri, dst=tmp_path / "run")
    assert run.status == "FINISHED"
    exact = run.arrays("node_removal_exact")
    assert exact["loss"].shape == (1 << units,)
    assert exact["shapley_loss"].sum() == pytest.approx(
        float(exact["loss_full"] - exact["loss_empty"]), abs=1e-4
    )
    assert "node_removal.html" in run.files and "gradient_maps" in run.figures


def test_exact_auto_enumerates_up_to_the_limit_and_says_when_it_does_not(tmp_path: Path) -> None:
    from toynets.studies.node_removal import enumerates

    for exact, n, limit, expected in [
        ("auto", 6, 6, True),
        ("auto", 7, 6, False),
        (True, 7, 24, True),
        (False, 3, 24, False),
    ]:
        cfg = validate(compose_config([f"study.exact={str(exact).lower()}"])).study
        cfg.exact_limit = limit
        assert enumerates(cfg, n) is expected, (exact, n, limit)
    # A net wider than the limit: Monte Carlo alone, and the run says why.
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_job(compose_config([*SMALL, "study.exact_limit=5", f"tracking.uri={uri}"]))
    run = runs.load(result.run_id, uri=uri, dst=tmp_path / "run")
    assert run.tags["mlflow.note.content"] == (
        "exact enumeration skipped: 6 hidden units is over study.exact_limit=5 (2^6 masks); "
        "Monte Carlo only"
    )
    assert "node_removal_exact" not in run.data and "shapley" not in run.figures
    assert "node_removal/exact/loss_full" not in run.metrics
    assert np.isnan(run.table("node_removal_mc")["exact_mean_loss"]).all()
