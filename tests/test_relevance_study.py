"""The relevance study end to end into a real store; every number it reports recomputed from
its definition with the independent reference (tests/relevance_reference.py) on the logged
weights and points."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import DictConfig

import relevance_reference as ref
from conftest import SESSION_FIXTURE_CALLS, compose_config, mutmut_stats, study_report
from toynets import runs
from toynets.analysis import relevance as rel
from toynets.app import run_job
from toynets.config import ConfigError, validate
from toynets.net import Net
from toynets.report import Report
from toynets.studies import relevance as study

SMALL = [
    "study=relevance",
    "model.hidden=[6]",
    "train.epochs=3",
    "study.grid=40",
    "study.n_explain=200",
    "study.n_random_orders=5",
    "study.baseline=[0.25,-0.5]",
    "tracking.log_model=false",
]
METHODS = list(rel.METHODS)


@pytest.fixture(scope="module")
def study_run(tmp_path_factory: pytest.TempPathFactory):
    """The job into a real store, read back by the MLflow client (the artifact contract)."""
    folder = tmp_path_factory.mktemp("relevance")
    (folder / "mlruns").mkdir()
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    result = run_job(compose_config([*SMALL, f"tracking.uri={uri}"]))
    return runs.load(result.run_id, uri=uri, dst=folder / "run")


@dataclass
class StudyResult:
    """The study's report on the same config without a store, read like a loaded run: the
    numbers' tests use it, so a mutation run re-runs the study, not the job, per mutant."""

    report: Report
    net: Net
    config: DictConfig

    @property
    def metrics(self) -> dict[str, float]:
        return self.report.metrics

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        return self.report.arrays[name]

    def table(self, name: str) -> pd.DataFrame:
        return pd.DataFrame(self.report.tables[name])


@pytest.fixture(scope="session")
def relevance() -> StudyResult:
    calls = mutmut_stats()
    before = set(calls) if calls is not None else set()
    trained, report = study_report(SMALL)
    SESSION_FIXTURE_CALLS["relevance"] = set(calls) - before if calls is not None else set()
    return StudyResult(report, trained.net, trained.config)


def reference_layers(net) -> list[dict]:
    last = len(net.layers) - 1
    return [
        {
            "W": np.asarray(layer.W, np.float64),
            "b": np.asarray(layer.b, np.float64),
            "act": "linear" if i == last else layer.activation,
            "k": layer.k,
        }
        for i, layer in enumerate(net.layers)
    ]


def test_every_documented_artifact_is_logged(study_run) -> None:
    run = study_run
    assert run.status == "FINISHED" and run.experiment == "relevance"
    assert {
        "relevance_maps",
        "bias_relevance",
        "breakdown",
        "instability",
        "perturbation",
        "decision_map",
        "loss_curves",
    } <= set(run.figures)
    assert {
        "methods",
        "conservation",
        "perturbation",
        "perturbation_curves",
        "instability",
        "epsilon_sweep",
    } <= set(run.tables)
    assert {"relevance", "relevance_maps"} <= set(run.data)


def test_the_data_contract(study_run) -> None:
    data = study_run.arrays("relevance")
    n, d = data["x"].shape
    assert (n, d) == (200, 2) and data["target"].shape == (n,)
    assert float(data["epsilon"]) == 0.01
    np.testing.assert_array_equal(data["baseline"], [0.25, -0.5])
    for method in METHODS:  # every method is defined for ReLU
        assert data[f"R_{method}"].shape == (n, d)
    assert data["Rbias_blame_bias_0"].shape == (n, 6)
    assert data["Rbias_blame_bias_1"].shape == (n, 2)  # the two output units
    np.testing.assert_array_equal(data["target"], study_run.net.logits(data["x"]).argmax(-1))
    maps = study_run.arrays("relevance_maps")
    assert maps["R_lrp0"].shape == (40, 40, 2) and maps["bias_fraction"].shape == (40, 40)


def test_logged_relevance_is_the_reference_on_the_logged_net(study_run) -> None:
    data, layers = study_run.arrays("relevance"), reference_layers(study_run.net)
    x, t = data["x"], data["target"]
    inputs, biases = ref.blame_bias_augmented(layers, x, t)
    np.testing.assert_allclose(data["R_blame_bias"], inputs, rtol=1e-6, atol=1e-7)
    for i, bias in enumerate(biases):
        np.testing.assert_allclose(data[f"Rbias_blame_bias_{i}"], bias, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        data["Rbias_blame_bias_shared"], ref.blame_bias_shared(layers, x, t)[1], atol=1e-6
    )
    base = data["baseline"]
    np.testing.assert_allclose(
        data["R_deeplift"], ref.deeplift_rescale(layers, x, base, t), atol=1e-7
    )
    np.testing.assert_allclose(data["R_lrp_epsilon"], ref.lrp(layers, x, t, eps=0.01)[0], atol=1e-7)
    np.testing.assert_allclose(
        data["R_lrp_conserving"], ref.lrp(layers, x, t, eps=0.01, bias="ignore")[0], atol=1e-6
    )
    np.testing.assert_allclose(data["R_gradient"], ref.gradient(layers, x, t), atol=1e-7)
    np.testing.assert_allclose(data["output"], ref.explained_output(layers, x, t), atol=1e-9)


def test_conservation_table(relevance) -> None:
    data, table = relevance.arrays("relevance"), relevance.table("conservation")
    x, t = data["x"], data["target"]
    output = data["output"]
    at_baseline = relevance.net.logits(data["baseline"][None])[0, t]
    biases = sum(data[f"Rbias_blame_bias_{i}"].sum(-1) for i in range(2))
    for _, row in table.iterrows():
        explained = output - at_baseline if row.method == "deeplift" else output
        inputs = data[f"R_{row.method}"].sum(-1)
        with_bias = row.method in ("lrp0", "lrp_q", "blame_bias", "blame_bias_shared", "fullgrad")
        error = np.abs(inputs + (biases if with_bias else 0.0) - explained)
        if row.method in ("lrp_epsilon", "lrp_alphabeta", "lrp_zplus"):
            continue  # their bias relevance is not blame-the-bias's; checked below
        assert row.max_abs_error == pytest.approx(error.max(), rel=1e-5, abs=1e-6), row.method
        assert row.mean_abs_error == pytest.approx(error.mean(), rel=1e-5, abs=1e-6), row.method
        assert row.input_sum == pytest.approx(inputs.mean(), rel=1e-5, abs=1e-6), row.method
    exact = table.set_index("method").max_abs_error
    for method in ("blame_bias", "blame_bias_shared", "lrp_q", "deeplift", "fullgrad"):
        assert exact[method] < 1e-5
    assert exact["gradient"] > 1e-2  # df/dx is not a decomposition of f(x)
    eps = relevance.table("conservation").set_index("method").loc["lrp_epsilon"]
    layers = reference_layers(relevance.net)
    r_in, r_bias = ref.lrp(layers, x, t, eps=0.01)
    eps_error = np.abs(r_in.sum(-1) + sum(b.sum(-1) for b in r_bias) - output)
    assert eps.max_abs_error == pytest.approx(eps_error.max(), rel=1e-5, abs=1e-6)
    metric = relevance.metrics["relevance/blame_bias/conservation_max_error"]
    assert metric == pytest.approx(exact["blame_bias"], rel=1e-5)


def test_perturbation_numbers(relevance) -> None:
    data, table = relevance.arrays("relevance"), relevance.table("perturbation")
    layers, x, t = reference_layers(relevance.net), data["x"], data["target"]

    def f(v):
        return ref.forward(layers, v)[np.arange(len(x)), t]

    for _, row in table.iterrows():
        R = data[f"R_{row.method}"]
        morf = ref.aopc(ref.morf(f, x, R, data["baseline"], order="morf"))
        lerf = ref.aopc(ref.morf(f, x, R, data["baseline"], order="lerf"))
        assert row.aopc_morf == pytest.approx(morf, rel=1e-5, abs=1e-6), row.method
        assert row.aopc_lerf == pytest.approx(lerf, rel=1e-5, abs=1e-6), row.method
        share = np.nanmean(np.abs(R[:, 0]) / np.abs(R).sum(-1))
        assert row.x1_share == pytest.approx(share, rel=1e-5, abs=1e-6)
        assert row["rank"] == 1 + np.sum(table.aopc_morf > row.aopc_morf + 1e-9)
        metric = relevance.metrics[f"relevance/{row.method}/aopc_morf"]
        assert metric == pytest.approx(row.aopc_morf, rel=1e-5, abs=1e-6)  # the CSV keeps 6 digits
    curves = relevance.table("perturbation_curves")
    random = curves[curves.method == "random"].mean_output.to_numpy()
    assert random[0] == pytest.approx(data["output"].mean(), abs=1e-5)
    assert random[-1] == pytest.approx(
        f(np.broadcast_to(data["baseline"], x.shape)).mean(), abs=1e-5
    )


def test_instability_numbers(relevance) -> None:
    data, cfg = relevance.arrays("relevance"), relevance.config.study
    layers, x, t = reference_layers(relevance.net), data["x"], data["target"]
    bias = np.abs(sum(data[f"Rbias_blame_bias_{i}"].sum(-1) for i in range(2)))
    fraction = bias / (bias + np.abs(data["R_blame_bias"].sum(-1)))
    mostly = fraction > cfg.bias_dominance
    assert relevance.metrics["relevance/mostly_bias_fraction"] == pytest.approx(mostly.mean())
    assert relevance.metrics["relevance/bias_fraction_median"] == pytest.approx(
        np.nanmedian(fraction), abs=1e-6
    )
    assert relevance.metrics["relevance/sample"] == int(np.nanargmax(fraction))
    table = relevance.table("instability")
    blame = np.abs(data["R_blame_bias"]).sum(-1)
    row = table[(table.method == "lrp_conserving") & (table.points == "rest")].iloc[0]
    up = np.abs(data["R_lrp_conserving"]).sum(-1) / blame
    assert row.median_scale_up == pytest.approx(np.median(up[~mostly & np.isfinite(up)]), rel=1e-5)
    assert row["count"] == int((~mostly).sum())
    assert set(table.method) == {m for m in METHODS if m not in ("gradient", "deconvnet")}
    sweep = relevance.table("epsilon_sweep")
    assert sorted(set(sweep.epsilon)) == sorted(cfg.epsilon_sweep)
    for _, row in sweep.iterrows():
        bias_rule = "ignore" if row.method == "lrp_conserving" else "absorb"
        expected = ref.lrp(layers, x, t, eps=row.epsilon, bias=bias_rule)[0]
        assert row.max_abs_relevance == pytest.approx(np.abs(expected).max(), rel=1e-5)
        distance = np.abs(expected - data["R_blame_bias"]).max()
        assert row.max_distance_to_lrp0 == pytest.approx(distance, rel=1e-4, abs=1e-6)


def test_maps_are_the_methods_on_the_grid(relevance) -> None:
    maps = relevance.arrays("relevance_maps")
    layers = reference_layers(relevance.net)
    g1, g2 = np.meshgrid(maps["x1"], maps["x2"])
    grid = np.stack([g1.ravel(), g2.ravel()], 1).astype(np.float32).astype(np.float64)
    t = ref.forward(layers, grid).argmax(-1)
    pick = np.arange(0, len(grid), 37)
    inputs, biases = ref.blame_bias_augmented(layers, grid[pick], t[pick])
    np.testing.assert_allclose(maps["R_blame_bias"].reshape(-1, 2)[pick], inputs, atol=1e-4)
    np.testing.assert_allclose(maps["bias_0"].ravel()[pick], biases[0].sum(-1), atol=1e-4)


def test_halfplane_relevance_lands_on_x1() -> None:
    """The 15-input half-plane data decides by x1 alone (§5's rule): the relevance of the
    decomposing methods is mostly on x1."""
    _, report = study_report(
        [
            "+experiment=relevance_halfplane",
            "study.grid=30",
            "study.n_explain=150",
            "study.n_random_orders=3",
            "tracking.log_model=false",
        ]
    )
    data = report.arrays["relevance"]
    assert data["x"].shape == (150, 15)
    for method in ("lrp0", "blame_bias", "deeplift", "gradient_x_input"):
        share = np.nanmean(np.abs(data[f"R_{method}"][:, 0]) / np.abs(data[f"R_{method}"]).sum(-1))
        assert share > 0.6, method
        assert report.metrics[f"relevance/{method}/x1_share"] == pytest.approx(share)
    assert report.arrays["relevance_maps"]["R_lrp0"].shape == (30, 30, 15)


def test_helpers() -> None:
    assert study.competition_ranks([3.0, 1.0, 3.0, 2.0]) == [1, 4, 1, 3]
    inputs = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5)
    blocks, names = study.feature_blocks(inputs)
    np.testing.assert_array_equal(blocks[..., 2], inputs[..., 2:].sum(-1))
    assert names == ["$x_1$", "$x_2$", "$x_3..x_5$"]
    labels, values = study._largest(["a", "b", "c", "d"], [0.0, -3.0, 1.0, 0.5], 3)
    assert labels == ["b", "c", "2 other units"] and values == [-3.0, 1.0, 0.5]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["model.activation=tanh", "study.methods=[gradient,lrp_alphabeta]"],
            "lrp_alphabeta is defined for relu hidden layers, not model.activation=tanh",
        ),
        (["study.methods=[lrp1]"], "study.methods[0]='lrp1' is not allowed"),
        (["study.methods=[]"], "study.methods is empty"),
        (["study.baseline=[1.0]"], "study.baseline has 1 values; the data has 2 inputs"),
        (["study.baseline=median"], "study.baseline='median' is not allowed"),
        (["study.target=2"], "study.target=2: the net has 2 output unit"),
        (["study.target=-1"], "study.target=-1 must be predicted or a class index"),
        (["study.sample=5000"], "study.sample=5000 must be in"),
        (["study.epsilon=-0.1"], "study.epsilon=-0.1 must be >= 0"),
        (["study.epsilon_sweep=[0.1,-1]"], r"study.epsilon_sweep\[1\]=-1.0 must be >= 0"),
        (["study.max_rule=median"], "study.max_rule='median' is not allowed"),
        (["study.deeplift_max=mean"], "study.deeplift_max='mean' is not allowed"),
        (["study.alpha=0.5"], "study.alpha=0.5 must be >= 1"),
        (["study.bias_dominance=1"], r"study.bias_dominance=1.0 must be in \(0, 1\)"),
    ],
)
def test_bad_study_values_are_rejected_before_any_run(tmp_path: Path, overrides, message):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ConfigError, match=message.replace("[0]", r"\[0\]")):
        validate(compose_config(["study=relevance", *overrides, f"tracking.uri={uri}"]))
    assert not (tmp_path / "mlflow.db").exists()


def test_a_sigmoid_net_gets_every_method_it_allows() -> None:
    conf = validate(compose_config(["study=relevance", "model.activation=sigmoid"]))
    assert conf.study.methods is None
    assert "deconvnet" not in rel.valid_methods("sigmoid")
    assert "blame_bias" in rel.valid_methods("sigmoid")


def test_the_equalities_of_section_2_are_reported(relevance) -> None:
    data = relevance.arrays("relevance")
    for name, other in (("lrp_q", "lrp0"), ("lrp0", "gradient_x_input")):
        gap = np.abs(data[f"R_{name}"] - data[f"R_{other}"]).max()
        metric = relevance.metrics[f"relevance/{name}/max_difference_to_{other}"]
        assert metric == pytest.approx(gap, abs=1e-12)
        assert metric < 1e-12  # a ReLU net: the Q-form is LRP-0, and LRP-0 is x df/dx
