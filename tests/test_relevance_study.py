"""The relevance study end to end into a real store; every number it reports recomputed from
its definition with the independent reference (tests/relevance_reference.py) on the logged
weights and points."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from omegaconf import DictConfig

import relevance_reference as ref
from conftest import TRAINED, compose_config, credited_study_report, logged_study, study_report
from toynets.analysis import relevance as rel
from toynets.config import ConfigError, RelevanceConfig, validate
from toynets.data import Dataset
from toynets.net import Layer, Net
from toynets.report import Report, figure_of
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
ORDERS = ("morf", "lerf")


@pytest.fixture(scope="module")
def study_run(tmp_path_factory: pytest.TempPathFactory):
    """The job into a real store, read back by the MLflow client (the artifact contract)."""
    return logged_study(tmp_path_factory.mktemp("relevance"), SMALL)


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
    trained, report = credited_study_report("relevance", SMALL)
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


FIGURES = {
    "loss_curves",
    "decision_map",
    "relevance_maps",
    "bias_relevance",
    "breakdown",
    "instability",
    "perturbation",
}


def _title() -> str:
    """The title of the fixture's run (conftest's trained net of SMALL)."""
    return TRAINED[tuple(SMALL)].title


def _random_net(
    widths: list[int], activation: str = "relu", k: int = 1, seed: int = 0, output="softmax"
) -> Net:
    """A net of random weights: widths = [inputs, hidden..., outputs] (maxout: k per unit)."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, units) in enumerate(pairwise(widths)):
        last = i == len(widths) - 2
        kk = 1 if last else k
        W, b = rng.normal(size=(fan_in, units * kk)), 0.5 * rng.normal(size=units * kk)
        layers.append(Layer(W, b, output if last else activation, kk))
    return Net(tuple(layers))


def _dataset(x_train: np.ndarray, x_test: np.ndarray, net: Net) -> Dataset:
    """A hand-made two-class dataset labelled by `net`."""

    def labels(v: np.ndarray) -> np.ndarray:
        return net.logits(v).argmax(-1).astype(np.int32)

    box = (-2.0, 2.0, -2.0, 2.0)
    return Dataset("hand", "binary", 2, x_train, labels(x_train), x_test, labels(x_test), box, None)


def _top_units(labels: list[str], values: np.ndarray, keep: int = 12) -> tuple[list, list]:
    """The breakdown's entries of one hidden layer: every unit if all (at most `keep`) are
    nonzero, else the keep - 1 of largest |R| (nonzero, in unit order) and the rest as one sum."""
    nonzero = np.flatnonzero(values)
    if len(values) <= keep and len(nonzero) == len(values):
        return list(labels), list(values)
    largest = nonzero[np.argsort(-np.abs(values[nonzero]), stable=True)][: keep - 1]
    shown = sorted(largest)
    rest = [i for i in range(len(values)) if i not in shown]
    return (
        [labels[i] for i in shown] + [f"{len(rest)} other units"],
        [values[i] for i in shown] + [float(values[rest].sum())],
    )


def _expected_levels(layers, x_point, target: int, max_rule: str = "gradient") -> list[tuple]:
    """One decision by blame the bias, from the reference: (heading, labels, values) per level,
    the inputs and every layer's biases, then per hidden layer its units' R(a) (the input
    relevance of the net above it, fed a) and the biases after it."""
    t = np.array([target])
    r_in, r_bias = ref.lrp(layers, x_point[None], t, max_rule=max_rule)  # eps 0: blame the bias
    bias = [float(b.sum()) for b in r_bias]
    n_hidden = len(layers) - 1
    bias_labels = [f"biases of layer {i}" for i in range(n_hidden)] + ["output bias"]
    names = [f"$x_{{{i + 1}}}$" for i in range(len(x_point))]
    levels = [("inputs and all biases", names + bias_labels, [*r_in[0], *bias])]
    inputs, _ = ref._trace(layers, x_point)
    for i in range(n_hidden):
        a = inputs[i + 1]
        r_a = ref.lrp(layers[i + 1 :], a[None], t, max_rule=max_rule)[0][0]
        units = [f"unit {u}" if n_hidden == 1 else f"unit {i}:{u}" for u in range(len(a))]
        shown, kept = _top_units(units, r_a)
        levels.append(
            (
                f"hidden layer {i} and the biases after it",
                shown + bias_labels[i + 1 :],
                kept + bias[i + 1 :],
            )
        )
    return levels


def _check_breakdown(figure, layers, x_point, target: int, heading: str, max_rule="gradient"):
    """The breakdown figure of one decision: its title (`heading`, then x as given and the
    unit explained) and, level by level, the labels and bars of the reference, each level
    summing to f(x) (the last bar)."""
    output = float(ref.explained_output(layers, x_point[None], [target])[0])
    assert (
        figure.get_suptitle()
        == f"{heading}, output unit {target}\none decision, f(x) = {output:.4g}"
    )
    levels = _expected_levels(layers, x_point, target, max_rule)
    assert len(figure.axes) == len(levels)
    for ax, (name, labels, values) in zip(figure.axes, levels, strict=True):
        assert ax.get_title().startswith(f"{name}: sum = "), ax.get_title()
        assert [label.get_text() for label in ax.get_yticklabels()] == [*labels, "f(x)"]
        bars = [bar.get_width() for bar in ax.patches]
        np.testing.assert_allclose(bars, [*values, output], rtol=1e-6, atol=1e-9, err_msg=name)
        assert sum(values) == pytest.approx(output, rel=1e-6, abs=1e-9), name


def _breakdown_of(net: Net, x_point: np.ndarray, target: int):
    """The study's breakdown figure of one point of a hand-made net, titled "hand"."""
    x, t, settings, report = x_point[None], np.array([target]), rel.Settings(), Report()
    blamed = rel.explain(net, x, t, ["blame_bias"], settings)["blame_bias"]
    output = float(net.logits(x)[0, target])
    study._breakdown(net, x, t, blamed, output, settings, report, SimpleNamespace(title="hand"))
    return report.figures["breakdown"]


def _check_relevance_arrays(relevance) -> None:
    """relevance.npz as documented: the first n_explain test points in float64, the unit each
    explains, eps, the baseline, f(x), every method's input relevance and blame the bias's
    relevance per bias (per layer, and their total: the shared 1's)."""
    data, cfg = relevance.arrays("relevance"), relevance.config.study
    layers = reference_layers(relevance.net)
    assert set(data) == {
        "x",
        "target",
        "epsilon",
        "baseline",
        "output",
        *(f"R_{method}" for method in METHODS),
        "Rbias_blame_bias_0",
        "Rbias_blame_bias_1",
        "Rbias_blame_bias_shared",
    }
    x = data["x"]
    assert x.dtype == np.float64 and len(x) == cfg.n_explain
    np.testing.assert_array_equal(x, TRAINED[tuple(SMALL)].data.x_test[: cfg.n_explain])
    assert data["epsilon"].dtype == np.float64 and float(data["epsilon"]) == cfg.epsilon
    assert data["baseline"].dtype == np.float64
    np.testing.assert_array_equal(data["baseline"], list(cfg.baseline))
    np.testing.assert_array_equal(data["target"], ref.forward(layers, x).argmax(-1))
    explained = ref.explained_output(layers, x, data["target"])
    np.testing.assert_allclose(data["output"], explained, atol=1e-9)
    shared = data["Rbias_blame_bias_shared"]
    assert shared.shape == (len(x),)
    np.testing.assert_allclose(shared, explained - data["R_blame_bias"].sum(-1), atol=1e-9)
    per_layer = data["Rbias_blame_bias_0"].sum(-1) + data["Rbias_blame_bias_1"].sum(-1)
    np.testing.assert_allclose(shared, per_layer, atol=1e-9)


def _check_method_table(table: dict) -> None:
    """§2's rule table: per method run (in METHODS order), its rules, the signal it starts
    from, the activations it is defined for, what it conserves and its source."""
    columns = ["method", "matrix", "nonlinearity", "maximum", "starts_from", "activations"]
    assert list(table) == [*columns, "conserves", "source"]
    rows = pd.DataFrame(table).set_index("method")
    assert list(rows.index) == METHODS
    for name, method in rel.METHODS.items():
        row = rows.loc[name]
        assert [row.matrix, row.nonlinearity, row.maximum] == [
            method.matrix,
            method.nonlinearity,
            method.maximum,
        ]
        assert row.starts_from == ("1" if method.start == "one" else "f(x)"), name
        assert row.activations.split(" ") == list(method.activations), name
        assert row.conserves == (method.conserves or "-"), name
        assert row.source == method.reference, name
    everywhere = "relu sigmoid tanh linear maxout"
    assert rows.loc["gradient"].tolist() == [
        "gradient",
        "gradient",
        "gradient",
        "1",
        everywhere,
        "-",
        "Simonyan et al. 2014",
    ]
    assert rows.loc["lrp0", "starts_from"] == "f(x)" and rows.loc["lrp_q", "starts_from"] == "1"
    assert rows.loc["deconvnet", "activations"] == "relu linear maxout"
    assert rows.loc["lrp_zplus", "activations"] == "relu"
    assert rows.loc["blame_bias", "conserves"] == "f(x) exactly (inputs and biases)"
    assert rows.loc["lrp_alphabeta", "conserves"] == "-"


def _check_bias_dominance_threshold() -> None:
    """A decision is mostly bias when the biases carry MORE than `bias_dominance` of it; the
    point broken down is the one they carry most, never one with no relevance at all (0/0)."""
    net = _random_net([2, 3, 2], seed=1)
    x, target = np.zeros((4, 2)), np.zeros(4, int)
    inputs = np.array([[0.0, 0.0], [0.1, 0.0], [0.25, 0.25], [0.05, 0.0]])
    bias = np.array([0.0, 0.9, 0.5, 0.95])  # fractions: 0/0, 0.9 exactly, 0.5, 0.95
    blamed = rel.Explanation(inputs, [bias[:, None]])
    cfg, report = RelevanceConfig(bias_dominance=0.9, epsilon_sweep=[0.1]), Report()
    explained = {"blame_bias": blamed}
    sample = study._instability(net, x, target, explained, blamed, cfg, rel.Settings(), report)
    assert sample == 3
    assert report.metrics["relevance/mostly_bias_fraction"] == 0.25
    table = pd.DataFrame(report.tables["instability"])
    assert table.points.tolist() == ["mostly_bias", "rest"] and table["count"].tolist() == [1, 3]


def _check_helpers_on_hand_made_inputs() -> None:
    """The study's helpers on small hand-made inputs and nets, against the reference."""
    # ranks: a value larger by exactly the tolerance is not larger
    assert study.competition_ranks([0.5, 0.6], tolerance=0.1) == [1, 1]
    # up to two inputs, the map rows are the inputs themselves
    two = np.arange(12.0).reshape(3, 2, 2)
    blocks, names = study.feature_blocks(two)
    np.testing.assert_array_equal(blocks, two)
    assert names == ["$x_{1}$", "$x_{2}$"] and study.feature_blocks(two[..., :1])[1] == ["$x_{1}$"]
    # _largest: all kept when at most `keep` and none is 0; else keep - 1 largest |v| + the rest
    assert study._largest(["a", "b", "c"], [1.0, -2.0, 3.0], 3) == (
        ["a", "b", "c"],
        [1.0, -2.0, 3.0],
    )
    assert study._largest(["a", "b", "c"], [1.0, 0.0, 3.0], 5) == (
        ["a", "c", "1 other units"],
        [1.0, 3.0, 0.0],
    )
    labels, values = study._largest(["a", "b", "c", "d", "e"], [0.1, 0.2, 5.0, -4.0, 0.3], 3)
    assert labels == ["c", "d", "3 other units"] and values == pytest.approx([5.0, -4.0, 0.6])

    # baseline_point: zeros, the training mean (float64 of the float32 data) or the given point
    rng = np.random.default_rng(0)
    net = _random_net([3, 4, 3], seed=2)  # three classes
    x_train = rng.normal(3.0, 1.0, size=(1001, 3)).astype(np.float32)
    data = _dataset(x_train, x_train[:5], net)
    zeros = study.baseline_point("zeros", data)
    assert zeros.dtype == np.float64 and zeros.tolist() == [0.0, 0.0, 0.0]
    mean = study.baseline_point("mean", data)
    assert mean.dtype == np.float64 and mean.shape == (3,)
    np.testing.assert_allclose(mean, x_train.astype(np.float64).mean(axis=0), rtol=1e-12)
    given = study.baseline_point([1, -2, 3], data)
    assert given.dtype == np.float64 and given.tolist() == [1.0, -2.0, 3.0]

    # targets: the winning class of a softmax head, the one output of a logit head, or a class
    x = rng.normal(size=(30, 3))
    layers = reference_layers(net)
    predicted = study.targets(net, x, "predicted")
    np.testing.assert_array_equal(predicted, ref.forward(layers, x).argmax(-1))
    assert len(set(predicted.tolist())) > 1
    for head, target, unit in (
        (net, 2, 2),
        (_random_net([3, 4, 1], seed=3, output="sigmoid"), "predicted", 0),
    ):
        chosen = study.targets(head, x, target)
        assert chosen.shape == (30,) and np.issubdtype(chosen.dtype, np.integer)
        assert (chosen == unit).all()

    # explain_and_blame: the methods asked for, and blame the bias whether asked for or not
    inputs, biases = ref.blame_bias_augmented(layers, x, predicted)
    for methods in (["gradient", "lrp0"], ["blame_bias"]):
        explained, blamed = study.explain_and_blame(
            net, x, predicted, methods, rel.Settings(), None
        )
        assert list(explained) == methods
        np.testing.assert_allclose(blamed.inputs, inputs, atol=1e-9)
        for mine, theirs in zip(blamed.biases, biases, strict=True):
            np.testing.assert_allclose(mine, theirs, atol=1e-9)

    # the breakdown of nets of two hidden layers: x in the title, its first 4 values only
    for point, shown in (
        ([0.5, -1.25, 2.0, 0.125], "0.5, -1.25, 2, 0.125"),
        ([0.5, -1.25, 2.0, 0.125, 3.0], "0.5, -1.25, 2, 0.125, ..."),
    ):
        deep = _random_net([len(point), 4, 3, 2], seed=len(point))
        x_point = np.array(point)
        target = int(deep.logits(x_point[None]).argmax())
        heading = f"hand\nx = ({shown})"
        _check_breakdown(
            _breakdown_of(deep, x_point, target), reference_layers(deep), x_point, target, heading
        )


def _maxout_study() -> tuple[Report, Net, Dataset]:
    """The study on a hand-made 3-input net of three maxout layers (13, 3, 2 units, k = 2),
    with the non-default rules and baseline, a subset of methods without blame_bias nor
    lrp_q, and fewer points explained than the test set has."""
    net = _random_net([3, 13, 3, 2, 2], "maxout", k=2, seed=3)
    rng = np.random.default_rng(4)
    data = _dataset(
        rng.normal(size=(40, 3)).astype(np.float32),
        rng.normal(size=(12, 3)).astype(np.float32),
        net,
    )
    trained = dataclasses.replace(TRAINED[tuple(SMALL)], net=net, data=data, title="maxout")
    cfg = RelevanceConfig(
        grid=5,
        methods=["gradient", "lrp0", "deeplift"],
        epsilon_sweep=[0.1, 0.0],
        max_rule="radial",
        deeplift_max="relu_chain",
        baseline="mean",
        n_explain=10,
        n_random_orders=2,
    )
    return study.run(trained, cfg), net, data


def _check_maxout_study() -> None:
    """The config reaches the analysis: max_rule (radial) in LRP and blame the bias (also in
    the breakdown's hidden levels), deeplift_max (relu_chain), baseline (the training mean),
    n_explain, methods; blame the bias is computed though not asked for; the maps of a
    3-input net hold x3 at its training mean."""
    report, net, data = _maxout_study()
    layers = reference_layers(net)
    arrays = report.arrays["relevance"]
    x, t = arrays["x"], arrays["target"]
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x, data.x_test[:10])
    baseline = data.x_train.astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(arrays["baseline"], baseline, rtol=1e-12)
    assert {key for key in arrays if key.startswith("R_")} == {"R_gradient", "R_lrp0", "R_deeplift"}
    radial = ref.lrp(layers, x, t, max_rule="radial")
    assert not np.allclose(radial[0], ref.lrp(layers, x, t)[0])  # the max rule matters here
    np.testing.assert_allclose(arrays["R_lrp0"], radial[0], rtol=1e-7, atol=1e-9)
    for i, columns in enumerate(radial[1]):
        per_unit = columns.reshape(len(x), -1, layers[i]["k"]).sum(-1)
        np.testing.assert_allclose(arrays[f"Rbias_blame_bias_{i}"], per_unit, atol=1e-9)
    chain = ref.deeplift_rescale(layers, x, baseline, t, max_rule="relu_chain")
    assert not np.allclose(chain, ref.deeplift_rescale(layers, x, baseline, t))
    np.testing.assert_allclose(arrays["R_deeplift"], chain, rtol=1e-7, atol=1e-9)
    assert not [name for name in report.metrics if "max_difference_to" in name]
    assert list(pd.DataFrame(report.tables["methods"]).method) == ["gradient", "lrp0", "deeplift"]
    s = int(report.metrics["relevance/sample"])
    point = ", ".join(f"{v:.3g}" for v in x[s])  # 3 inputs: all shown
    heading = f"maxout\nx = ({point})"
    _check_breakdown(report.figures["breakdown"], layers, x[s], int(t[s]), heading, "radial")
    maps = report.arrays["relevance_maps"]
    g1, g2 = np.meshgrid(maps["x1"], maps["x2"])
    x3 = np.full(g1.size, data.x_train[:, 2].astype(np.float64).mean())
    grid = np.stack([g1.ravel(), g2.ravel(), x3], 1).astype(np.float32).astype(np.float64)
    on_grid = ref.lrp(layers, grid, ref.forward(layers, grid).argmax(-1), max_rule="radial")[0]
    assert maps["R_lrp0"].shape == (5, 5, 3)
    np.testing.assert_allclose(maps["R_lrp0"].reshape(-1, 3), on_grid, rtol=1e-4, atol=1e-5)


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
    for _, row in table.iterrows():  # deeplift explains the difference to the baseline
        assert row.explains == ("f(x) - f(baseline)" if row.method == "deeplift" else "f(x)")
        metric = relevance.metrics[f"relevance/{row.method}/conservation_mean_error"]
        assert metric == pytest.approx(row.mean_abs_error, rel=1e-9, abs=1e-15), row.method
    bias_sum = table.set_index("method").bias_sum
    for method in ("blame_bias", "blame_bias_shared", "lrp0", "lrp_q", "fullgrad"):  # exact
        on_biases = (output - data[f"R_{method}"].sum(-1)).mean()
        assert bias_sum[method] == pytest.approx(on_biases, rel=1e-6, abs=1e-9), method
    assert bias_sum["blame_bias"] == pytest.approx(biases.mean(), rel=1e-6, abs=1e-9)
    on_biases = sum(b.sum(-1) for b in r_bias).mean()
    assert bias_sum["lrp_epsilon"] == pytest.approx(on_biases, rel=1e-5, abs=1e-7)
    for method in ("gradient", "gradient_x_input", "deconvnet", "deeplift", "lrp_conserving"):
        assert bias_sum[method] == 0.0, method  # no bias part
    _check_relevance_arrays(relevance)
    _check_method_table(relevance.report.tables["methods"])


def test_perturbation_numbers(relevance) -> None:
    data, table = relevance.arrays("relevance"), relevance.table("perturbation")
    layers, x, t = reference_layers(relevance.net), data["x"], data["target"]

    def f(v):
        return ref.forward(layers, v)[np.arange(len(x)), t]

    assert list(table.method) == METHODS  # every method, in order
    curves = relevance.table("perturbation_curves")
    d = x.shape[1]
    mean_morf = {}
    for _, row in table.iterrows():
        R = data[f"R_{row.method}"]
        curve = {order: ref.morf(f, x, R, data["baseline"], order=order) for order in ORDERS}
        morf, lerf = ref.aopc(curve["morf"]), ref.aopc(curve["lerf"])
        assert row.aopc_morf == pytest.approx(morf, rel=1e-5, abs=1e-6), row.method
        assert row.aopc_lerf == pytest.approx(lerf, rel=1e-5, abs=1e-6), row.method
        assert row.morf_minus_lerf == pytest.approx(morf - lerf, rel=1e-5, abs=1e-6), row.method
        share = np.nanmean(np.abs(R[:, 0]) / np.abs(R).sum(-1))
        assert row.x1_share == pytest.approx(share, rel=1e-5, abs=1e-6)
        assert row["rank"] == 1 + np.sum(table.aopc_morf > row.aopc_morf + 1e-9)
        metric = relevance.metrics[f"relevance/{row.method}/aopc_morf"]
        assert metric == pytest.approx(row.aopc_morf, rel=1e-5, abs=1e-6)  # the CSV keeps 6 digits
        metric = relevance.metrics[f"relevance/{row.method}/aopc_lerf"]
        assert metric == pytest.approx(lerf, rel=1e-5, abs=1e-6), row.method
        metric = relevance.metrics[f"relevance/{row.method}/x1_share"]
        assert metric == pytest.approx(share, rel=1e-5, abs=1e-6), row.method
        for order in ORDERS:  # the mean curve after 0..d removals
            rows = curves[(curves.method == row.method) & (curves.order == order)]
            assert rows.removed.tolist() == list(range(d + 1))
            np.testing.assert_allclose(rows.mean_output, curve[order].mean(0), atol=1e-9)
        mean_morf[row.method] = curve["morf"].mean(0)
    random = curves[curves.method == "random"]
    assert random.order.tolist() == ["random"] * (d + 1)
    assert random.removed.tolist() == list(range(d + 1))
    random = random.mean_output.to_numpy()
    assert random[0] == pytest.approx(data["output"].mean(), abs=1e-5)
    assert random[-1] == pytest.approx(
        f(np.broadcast_to(data["baseline"], x.shape)).mean(), abs=1e-5
    )
    # The random orders are order_seed's: the orders drawn (by the analysis' own sampler) from
    # that seed, each removed by the reference as the ranks of a relevance.
    cfg = relevance.config.study
    rng, draws = np.random.default_rng(cfg.order_seed), []
    for _ in range(cfg.n_random_orders):
        orders = rel.random_orders(len(x), d, rng)
        ranks = np.empty((len(x), d))
        np.put_along_axis(ranks, orders, np.arange(d, 0, -1.0)[None], axis=1)
        draws.append(ref.morf(f, x, ranks, data["baseline"], order="morf"))
    expected = np.mean(draws, axis=0)
    np.testing.assert_allclose(random, expected.mean(0), atol=1e-9)
    aopc_random = relevance.metrics["relevance/aopc_random"]
    assert aopc_random == pytest.approx(ref.aopc(expected), rel=1e-9, abs=1e-12)
    figure = relevance.report.figures["perturbation"]
    assert figure.get_suptitle() == _title()
    lines = {line.get_label(): line.get_ydata() for line in figure.axes[0].lines}
    assert list(lines) == [*METHODS, "random order"]  # the MoRF curve of each method
    for method, curve in mean_morf.items():
        np.testing.assert_allclose(lines[method], curve, atol=1e-9, err_msg=method)
    np.testing.assert_allclose(lines["random order"], expected.mean(0), atol=1e-9)


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
    assert table.points.tolist() == ["mostly_bias", "rest"] * (len(table) // 2)
    for _, row in table.iterrows():  # the median scale-up of each group, table and metric
        up = np.abs(data[f"R_{row.method}"]).sum(-1) / blame
        pick = (mostly if row.points == "mostly_bias" else ~mostly) & np.isfinite(up)
        assert pick.any()
        assert row.median_scale_up == pytest.approx(np.median(up[pick]), rel=1e-5), row.method
        metric = relevance.metrics[f"relevance/{row.method}/scale_up_median_{row.points}"]
        assert metric == pytest.approx(np.median(up[pick]), rel=1e-5), row.method
    sweep = relevance.table("epsilon_sweep")
    assert sorted(set(sweep.epsilon)) == sorted(cfg.epsilon_sweep)
    for _, row in sweep.iterrows():
        bias_rule = "ignore" if row.method == "lrp_conserving" else "absorb"
        expected = ref.lrp(layers, x, t, eps=row.epsilon, bias=bias_rule)[0]
        assert row.max_abs_relevance == pytest.approx(np.abs(expected).max(), rel=1e-5)
        distance = np.abs(expected - data["R_blame_bias"]).max()
        assert row.max_distance_to_lrp0 == pytest.approx(distance, rel=1e-4, abs=1e-6)
        up = np.abs(expected).sum(-1) / blame
        median = np.median(up[mostly & np.isfinite(up)])  # where the decision is mostly bias
        assert row.median_scale_up_mostly_bias == pytest.approx(median, rel=1e-4), row.epsilon
    figure = relevance.report.figures["instability"]
    scatter = {points.get_label(): points.get_offsets() for points in figure.axes[0].collections}
    assert list(scatter) == ["lrp_conserving", "lrp_epsilon"]  # against blame the bias
    for method, offsets in scatter.items():
        up = np.abs(data[f"R_{method}"]).sum(-1) / blame
        np.testing.assert_allclose(np.asarray(offsets), np.stack([fraction, up], 1), rtol=1e-6)
    s = int(relevance.metrics["relevance/sample"])  # the breakdown is of this point
    heading = f"{_title()}\nx = ({x[s, 0]:.3g}, {x[s, 1]:.3g})"
    _check_breakdown(relevance.report.figures["breakdown"], layers, x[s], int(t[s]), heading)
    _check_bias_dominance_threshold()


def test_maps_are_the_methods_on_the_grid(relevance) -> None:
    final = int(relevance.report.images["decision_map"])
    assert relevance.report.images == {"decision_map": final, "relevance_maps": final}
    maps = relevance.arrays("relevance_maps")
    layers = reference_layers(relevance.net)
    g1, g2 = np.meshgrid(maps["x1"], maps["x2"])
    grid = np.stack([g1.ravel(), g2.ravel()], 1).astype(np.float32).astype(np.float64)
    t = ref.forward(layers, grid).argmax(-1)
    pick = np.arange(0, len(grid), 37)
    inputs, biases = ref.blame_bias_augmented(layers, grid[pick], t[pick])
    np.testing.assert_allclose(maps["R_blame_bias"].reshape(-1, 2)[pick], inputs, atol=1e-4)
    np.testing.assert_allclose(maps["bias_0"].ravel()[pick], biases[0].sum(-1), atol=1e-4)
    np.testing.assert_allclose(maps["bias_1"].ravel()[pick], biases[1].sum(-1), atol=1e-4)
    n = len(maps["x1"])
    assert set(maps) == {
        "x1",
        "x2",
        "output",
        "bias_fraction",
        *(f"R_{method}" for method in METHODS),
        "bias_0",
        "bias_1",
    }
    for key, values in maps.items():  # stored in float32 (the grid axes excepted)
        assert values.dtype == (np.float64 if key in ("x1", "x2") else np.float32), key
    assert maps["output"].shape == maps["bias_fraction"].shape == (n, n)
    output = ref.explained_output(layers, grid[pick], t[pick])
    np.testing.assert_allclose(maps["output"].ravel()[pick], output, rtol=1e-5, atol=1e-5)
    on_biases = np.abs(sum(b.sum(-1) for b in biases))
    fraction = on_biases / (on_biases + np.abs(inputs.sum(-1)))
    np.testing.assert_allclose(maps["bias_fraction"].ravel()[pick], fraction, atol=1e-5)
    figures = relevance.report.figures
    assert set(figures) == FIGURES
    assert all(isinstance(figure_of(figure), Figure) for figure in figures.values())
    relevance_maps = figures["relevance_maps"]
    assert relevance_maps.get_suptitle().startswith(f"{_title()}: input relevance per method")
    assert [ax.get_title() for ax in relevance_maps.axes[: len(METHODS)]] == METHODS
    colour_bars = [ax.get_ylabel() for ax in relevance_maps.axes]  # one per input block
    assert [label for label in colour_bars if label.startswith("relevance of")] == [
        "relevance of $x_{1}$",
        "relevance of $x_{2}$",
    ]
    assert figures["bias_relevance"].get_suptitle() == f"{_title()}: blame the bias (§2)"
    _check_maxout_study()


def test_halfplane_relevance_lands_on_x1() -> None:
    """The 15-input half-plane data decides by x1 alone (§5's rule): the relevance of the
    decomposing methods is mostly on x1."""
    trained, report = study_report(
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
    colour_bars = [ax.get_ylabel() for ax in report.figures["relevance_maps"].axes]
    colour_bars = [label for label in colour_bars if label.startswith("relevance of")]
    assert colour_bars[:2] == ["relevance of $x_1$", "relevance of $x_2$"]
    assert len(colour_bars) == 3  # x3..x15 summed into one block
    s, t = int(report.metrics["relevance/sample"]), data["target"]
    point = ", ".join(f"{v:.3g}" for v in data["x"][s, :4])  # 15 inputs: the first 4 shown
    heading = f"{trained.title}\nx = ({point}, ...)"
    layers = reference_layers(trained.net)
    _check_breakdown(report.figures["breakdown"], layers, data["x"][s], int(t[s]), heading)


def test_helpers() -> None:
    assert study.competition_ranks([3.0, 1.0, 3.0, 2.0]) == [1, 4, 1, 3]
    inputs = np.arange(2 * 3 * 5, dtype=float).reshape(2, 3, 5)
    blocks, names = study.feature_blocks(inputs)
    np.testing.assert_array_equal(blocks[..., 2], inputs[..., 2:].sum(-1))
    assert names == ["$x_1$", "$x_2$", "$x_3..x_{5}$"]
    labels, values = study._largest(["a", "b", "c", "d"], [0.0, -3.0, 1.0, 0.5], 3)
    assert labels == ["b", "c", "2 other units"] and values == [-3.0, 1.0, 0.5]
    _check_helpers_on_hand_made_inputs()


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
