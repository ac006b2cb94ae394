"""The `train` study's numbers against a NumPy forward pass written here from the definitions:
the map grid (the data box scaled about its centre, or `study.box`), the class probabilities
or regression estimate on it, the agreement with the true rule / the RMSE against it, the
history table, and what each figure is drawn from."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from toynets.data import Dataset
from toynets.net import Layer, Net
from toynets.plots.maps import decision_figure, regression_figure
from toynets.plots.training import loss_curves
from toynets.report import Drawing
from toynets.studies import Trained
from toynets.studies import train as study

RNG = np.random.default_rng(11)


def forward(x: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]], head: str) -> np.ndarray:
    """ReLU hidden layers, then softmax / sigmoid / identity."""
    h = x.astype(np.float64)
    for W, b in layers[:-1]:
        h = np.maximum(h @ W + b, 0.0)
    W, b = layers[-1]
    z = h @ W + b
    if head == "softmax":
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)
    if head == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return z


def net_of(layers: list[tuple[np.ndarray, np.ndarray]], head: str) -> Net:
    kinds = ["relu"] * (len(layers) - 1) + [head]
    return Net(
        tuple(
            Layer(W.astype(np.float32), b.astype(np.float32), kind, 1)
            for (W, b), kind in zip(layers, kinds, strict=True)
        )
    )


def history() -> SimpleNamespace:
    steps = np.arange(0, 101, 25)
    metrics = {
        "train/loss": RNG.uniform(0.1, 1, 5),
        "test/loss": RNG.uniform(0.1, 1, 5),
        "test/accuracy": RNG.uniform(0.5, 1, 5),
    }
    return SimpleNamespace(step_loss=RNG.uniform(0.1, 1, 100), eval_step=steps, metrics=metrics)


def circle_rule(x: np.ndarray) -> np.ndarray:
    return (x[:, 0] ** 2 + x[:, 1] ** 2 < 0.5).astype(np.int32)


def plane_rule(x: np.ndarray) -> np.ndarray:
    return (x[:, 0] - 2 * x[:, 1] + 0.5 * x[:, 2] - x[:, 3]).astype(np.float32)


def dataset(task: str, d: int, truth) -> Dataset:
    x_train = RNG.uniform(-1, 1, (40, d)).astype(np.float32)
    x_train[:, 2:] += np.arange(1, d - 1)  # inputs 3.. away from 0: their mean matters
    x_test = RNG.uniform(-1, 1, (30, d)).astype(np.float32)
    y = (lambda x: truth(x)) if truth is not None else (lambda x: (x[:, 0] > 0).astype(np.int32))
    return Dataset(
        name="hand",
        task=task,
        n_classes=0 if task == "regression" else 2,
        x_train=x_train,
        y_train=y(x_train),
        x_test=x_test,
        y_test=y(x_test),
        domain=(-1.0, 3.0, -2.0, 0.0),
        truth=truth,
    )


def layers_for(d: int, outputs: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (RNG.normal(size=(d, 6)), RNG.normal(size=6)),
        (RNG.normal(size=(6, outputs)), RNG.normal(size=outputs)),
    ]


def run(data: Dataset, layers, head: str, box=None, zoom: float = 2.0, size: int = 7):
    trained = Trained(None, net_of(layers, head), head, data, history(), title="hand net")
    cfg = SimpleNamespace(box=box, box_zoom=zoom, grid=size)
    return trained, study.run(trained, cfg)


def grid_points(x1: np.ndarray, x2: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Row i, column j of a map is the point (x1[j], x2[i], rest...)."""
    points = [[a, b, *rest] for b in x2 for a in x1]
    return np.array(points, np.float32)


def assert_drawn_from(drawing: object, function: object, args: tuple) -> None:
    """A map figure handed to the renderer as `function(x1, x2, values, x, y, truth,
    title="hand net")`: the grid axes to round-off, every other array exactly."""
    assert isinstance(drawing, Drawing) and drawing.function is function
    assert len(drawing.args) == len(args) == 6
    for i, (given, expected) in enumerate(zip(drawing.args, args, strict=True)):
        if i < 2:
            np.testing.assert_allclose(given, expected, atol=1e-12)
        else:
            np.testing.assert_array_equal(given, expected)
    assert drawing.kwargs == {"title": "hand net"}


def test_decision_map_is_the_softmax_on_the_zoomed_data_box() -> None:
    data = dataset("binary", 2, circle_rule)
    layers = layers_for(2, 2)
    _, report = run(data, layers, "softmax", zoom=1.5)
    # domain (-1, 3, -2, 0): centre (1, -1), half widths 2 and 1, times 1.5
    x1, x2 = np.linspace(-2.0, 4.0, 7), np.linspace(-2.5, 0.5, 7)
    maps = report.arrays["decision_map"]
    assert set(maps) == {"x1", "x2", "probability", "truth"}
    np.testing.assert_allclose(maps["x1"], x1, atol=1e-12)
    np.testing.assert_allclose(maps["x2"], x2, atol=1e-12)
    points = grid_points(x1, x2, np.array([]))
    expected = forward(points, layers, "softmax").reshape(7, 7, 2)
    np.testing.assert_allclose(maps["probability"], expected, rtol=1e-5, atol=1e-6)
    truth = circle_rule(points).reshape(7, 7)
    np.testing.assert_array_equal(maps["truth"], truth)
    agreement = np.mean(expected.argmax(-1) == truth)
    assert 0 < agreement < 1  # the check below can tell a wrong comparison
    assert report.metrics == {"train/map_agreement": pytest.approx(agreement, abs=1e-12)}

    assert_drawn_from(
        report.figures["decision_map"],
        decision_figure,
        (x1, x2, maps["probability"], data.x_test, data.y_test, truth),
    )


def test_history_table_and_loss_curves() -> None:
    data = dataset("binary", 2, None)
    trained, report = run(data, layers_for(2, 2), "softmax")
    h = trained.history
    table = report.tables["history"]
    assert list(table) == ["step", "train/loss", "test/loss", "test/accuracy"]
    np.testing.assert_array_equal(table["step"], h.eval_step)
    for name, values in h.metrics.items():
        np.testing.assert_array_equal(table[name], values)
    drawing = report.figures["loss_curves"]
    assert drawing.function is loss_curves
    assert drawing.args[0] is h.step_loss and drawing.args[1] is h.eval_step
    assert drawing.args[2] is h.metrics
    assert drawing.kwargs == {"title": "hand net"}
    assert set(report.figures) == {"loss_curves", "decision_map"}
    # No rule: no truth in the map, no agreement.
    assert set(report.arrays["decision_map"]) == {"x1", "x2", "probability"}
    assert report.metrics == {}


def test_a_sigmoid_head_gives_both_class_probabilities_and_box_wins_over_zoom() -> None:
    data = dataset("binary", 2, circle_rule)
    layers = layers_for(2, 1)
    _, report = run(data, layers, "sigmoid", box=(-0.5, 0.5, 0.0, 2.0), zoom=3.0, size=5)
    x1, x2 = np.linspace(-0.5, 0.5, 5), np.linspace(0.0, 2.0, 5)
    maps = report.arrays["decision_map"]
    np.testing.assert_allclose(maps["x1"], x1, atol=1e-12)
    np.testing.assert_allclose(maps["x2"], x2, atol=1e-12)
    p = forward(grid_points(x1, x2, np.array([])), layers, "sigmoid").reshape(5, 5)
    expected = np.stack([1 - p, p], -1)
    np.testing.assert_allclose(maps["probability"], expected, rtol=1e-5, atol=1e-6)


def test_regression_maps_the_estimate_with_later_inputs_at_their_training_mean() -> None:
    data = dataset("regression", 4, plane_rule)
    layers = layers_for(4, 1)
    _, report = run(data, layers, "linear", zoom=1.0, size=6)
    x1, x2 = np.linspace(-1.0, 3.0, 6), np.linspace(-2.0, 0.0, 6)
    rest = data.x_train[:, 2:].astype(np.float64).mean(0)
    assert np.all(np.abs(rest) > 0.5)
    points = grid_points(x1, x2, rest)
    estimate = forward(points, layers, "linear")[:, 0].reshape(6, 6)
    maps = report.arrays["estimate_map"]
    assert set(maps) == {"x1", "x2", "estimate", "truth"}
    np.testing.assert_allclose(maps["estimate"], estimate, rtol=1e-5, atol=1e-5)
    truth = plane_rule(points).reshape(6, 6)
    np.testing.assert_allclose(maps["truth"], truth, rtol=1e-6, atol=1e-6)
    rmse = np.sqrt(np.mean((estimate - truth) ** 2))
    assert report.metrics["train/map_rmse"] == pytest.approx(rmse, rel=1e-5)
    assert set(report.metrics) == {"train/map_rmse"}
    assert set(report.figures) == {"loss_curves", "estimate_map"}
    assert_drawn_from(
        report.figures["estimate_map"],
        regression_figure,
        (x1, x2, maps["estimate"], data.x_train, data.y_train, maps["truth"]),
    )
