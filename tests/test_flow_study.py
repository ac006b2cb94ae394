"""The flow study end to end into a real store, read back by the MLflow client; every number it
reports recomputed from the logged weights by the independent reference
(tests/flow_reference.py: masked products, brute-force grids, Euler's formula)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from PIL import Image

import flow_reference as ref
from conftest import compose_config, credited_study_report, logged_study, study_report
from toynets.config import validate
from toynets.errors import ConfigError

SMALL = [
    "+experiment=fcnn_prod",
    "dataset.n_train=400",
    "dataset.n_test=200",
    "train.epochs=8",
    "study.grid=40",
    "study.region_grid=80",
    "study.track_grid=50",
    "study.thumbnail_grid=12",
    "study.explorer_grid=40",
    "study.samples=[3]",
    "tracking.log_model=false",
]
ZONES = {"centre": (0.0, 0.0), "NE": (1.0, 1.0), "NW": (-1.0, 1.0), "N": (0.0, 2.0)}
BOX = (-2.0, 2.0, -2.0, 2.0)


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory: pytest.TempPathFactory):
    return logged_study(tmp_path_factory.mktemp("flow"), SMALL)


@pytest.fixture(scope="session")
def flow_report():
    return credited_study_report("flow_report", SMALL)


def _layers(net) -> list[tuple]:
    return [(layer.W, layer.b, layer.activation, layer.k) for layer in net.layers]


def _points(run) -> tuple[list[str], np.ndarray]:
    x_train = run_x_train(run)
    names = [*ZONES, "sample3"]
    return names, np.array([*ZONES.values(), x_train[3]], float)


def run_x_train(run) -> np.ndarray:
    from toynets.data import make

    return make(validate(compose_config(SMALL)).dataset, 0).x_train


def _grid(size: int) -> np.ndarray:
    g1, g2 = np.meshgrid(np.linspace(-2, 2, size), np.linspace(-2, 2, size))
    return np.column_stack([g1.ravel(), g2.ravel()])


def _pattern_text(bits: np.ndarray) -> str:
    return "".join(str(int(b)) for b in bits)


def test_every_documented_artifact_is_logged(flow_run) -> None:
    run = flow_run
    assert run.status == "FINISHED" and run.experiment == "flow"
    figures = {f"flow_{name}" for name in [*ZONES, "sample3"]}
    figures |= {"flow_maps", "first_layer", "linear_regions", "region_count"}
    figures |= {"loss_curves", "estimate_map"}
    assert figures <= set(run.figures)
    for name in figures:
        with Image.open(run.figures[name]) as image:
            assert min(image.size) > 300
    assert {"linear_regions", "flow_points", "regions", "history"} <= set(run.tables)
    assert "flow" in run.data and "flow.html" in run.files
    assert {"flow/regions", "flow/regions_exact", "flow/affine_max_error"} <= set(run.metrics)
    assert run.params["study.name"] == "flow"


def test_linear_regions_table_is_each_points_pattern_and_affine_map(flow_run) -> None:
    """The contract table: x1, x2, pattern, a1, a2, c; the pattern and the map of the masked
    product (the source's [W0; b0] (W1 * m) + b1) from the logged weights."""
    table = flow_run.table("linear_regions")
    assert list(table.columns) == ["x1", "x2", "pattern", "a1", "a2", "c"]
    _, x = _points(flow_run)
    layers = _layers(flow_run.net)
    patterns = ref.relu_pattern(layers, x)
    assert len(table) == len(x)
    np.testing.assert_allclose(table[["x1", "x2"]].to_numpy(), x, rtol=1e-5)
    for i in range(len(x)):
        assert str(table.pattern[i]).zfill(4) == _pattern_text(patterns[i])
        A, c = ref.affine_map_of_pattern(layers, patterns[i])
        np.testing.assert_allclose([table.a1[i], table.a2[i]], A[:, 0], rtol=1e-5, atol=1e-9)
        assert table.c[i] == pytest.approx(c[0], rel=1e-5, abs=1e-9)
        # the map reproduces the net at the point
        z = ref.forward_values(layers, x[i : i + 1])[-1][0][0, 0]
        assert table.a1[i] * x[i, 0] + table.a2[i] * x[i, 1] + table.c[i] == pytest.approx(
            z, abs=1e-5
        )


def test_region_counts_against_brute_force_and_euler(flow_run) -> None:
    layers = _layers(flow_run.net)
    assert flow_run.metrics["flow/regions"] == ref.grid_pattern_count(layers, BOX, 80)
    W, b = flow_run.net.layers[0].W, flow_run.net.layers[0].b
    lines = np.column_stack([W[0], W[1], b])
    assert flow_run.metrics["flow/regions_exact"] == ref.arrangement_regions_euler(lines, BOX)
    assert flow_run.metrics["flow/regions"] <= flow_run.metrics["flow/regions_exact"] <= 11
    on = ref.relu_pattern(layers, run_x_train(flow_run)).any(axis=0)
    assert flow_run.metrics["flow/dead_units"] == np.sum(~on)


def test_regions_table_and_the_points_regions(flow_run) -> None:
    layers = _layers(flow_run.net)
    grid = _grid(80)
    grid_patterns = [_pattern_text(p) for p in ref.relu_pattern(layers, grid)]
    counts: dict[str, int] = {}
    for p in grid_patterns:
        counts[p] = counts.get(p, 0) + 1
    regions = flow_run.table("regions")
    shown = {str(p).zfill(4): n for p, n in zip(regions.pattern, regions.grid_points, strict=True)}
    assert shown == counts
    assert list(regions.grid_points) == sorted(regions.grid_points, reverse=True)
    np.testing.assert_allclose(regions.area, regions.grid_points / 80**2 * 16, rtol=1e-5)
    assert regions.share.sum() == pytest.approx(1.0, abs=1e-5)

    points = flow_run.table("flow_points")
    names, x = _points(flow_run)
    assert list(points.point) == names
    out = ref.forward_values(layers, x)[-1][1][:, 0]
    np.testing.assert_allclose(points.prediction, out, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(points.truth, x[:, 0] * x[:, 1] / 4, rtol=1e-5, atol=1e-9)
    for i, p in enumerate(ref.relu_pattern(layers, x)):
        n = counts.get(_pattern_text(p))
        expected = np.nan if n is None else n / 80**2 * 16
        np.testing.assert_allclose(points.region_area[i], expected, rtol=1e-5)
    # the exact area of each point's cell, against a fine brute-force grid
    fine = _grid(600)
    fine_patterns = ref.relu_pattern(layers, fine)
    for i, p in enumerate(ref.relu_pattern(layers, x)):
        share = np.all(fine_patterns == p, axis=1).mean()
        assert points.region_area_exact[i] == pytest.approx(share * 16, abs=0.05)


def test_the_affine_maps_error_is_the_largest_over_the_points_regions(flow_run) -> None:
    layers = _layers(flow_run.net)
    grid = _grid(80)
    grid_pattern = ref.relu_pattern(layers, grid)
    _, x = _points(flow_run)
    worst = 0.0
    for p in ref.relu_pattern(layers, x):
        inside = grid[np.all(grid_pattern == p, axis=1)]
        if len(inside):
            A, c = ref.affine_map_of_pattern(layers, p)
            z = ref.forward_values(layers, inside)[-1][0]
            worst = max(worst, float(np.abs(inside @ A + c - z).max()))
    assert flow_run.metrics["flow/affine_max_error"] == pytest.approx(worst, abs=1e-12)
    assert flow_run.metrics["flow/affine_max_error"] < 1e-5


def test_regions_during_training_are_counted_at_every_snapshot(flow_run) -> None:
    steps, counts = flow_run.history("flow/training_regions")
    _, exact = flow_run.history("flow/training_regions_exact")
    snapshots = flow_run.snapshots
    np.testing.assert_array_equal(steps, snapshots["step"])
    assert len(steps) == 9  # 8 epochs of 4 batches: a snapshot before and after each epoch
    for t in (0, 4, len(steps) - 1):
        layers = [
            (snapshots[f"W{i}"][t], snapshots[f"b{i}"][t], layer.activation, layer.k)
            for i, layer in enumerate(flow_run.net.layers)
        ]
        assert counts[t] == ref.grid_pattern_count(layers, BOX, 50)
        W, b = layers[0][0], layers[0][1]
        lines = np.column_stack([W[0], W[1], b])
        assert exact[t] == ref.arrangement_regions_euler(lines, BOX)
    assert counts[-1] == ref.grid_pattern_count(_layers(flow_run.net), BOX, 50)
    arrays = flow_run.arrays("flow")
    np.testing.assert_array_equal(arrays["track_step"], steps)
    np.testing.assert_array_equal(arrays["track_regions"], counts)


def test_flow_arrays_are_every_layers_values_at_the_points(flow_run) -> None:
    arrays = flow_run.arrays("flow")
    names, x = _points(flow_run)
    assert list(arrays["names"]) == names
    np.testing.assert_allclose(arrays["x"], x, rtol=1e-6)
    for i, (z, a) in enumerate(ref.forward_values(_layers(flow_run.net), x)):
        np.testing.assert_allclose(arrays[f"z{i}"], z, atol=1e-6)
        np.testing.assert_allclose(arrays[f"a{i}"], a, atol=1e-6)
    np.testing.assert_array_equal(arrays["pattern"], ref.relu_pattern(_layers(flow_run.net), x))
    labels = arrays["region_label"]
    assert labels.shape == (80, 80) and labels.max() + 1 == flow_run.metrics["flow/regions"]


def test_report_numbers_without_a_store(flow_report) -> None:
    """The same numbers straight from the report (what the mutation run checks)."""
    trained, report = flow_report
    final = int(trained.history.snapshot_step[-1])
    assert report.images == {"estimate_map": final, "flow_maps": final, "linear_regions": final}
    net = trained.net
    layers = _layers(net)
    x = np.array([*ZONES.values(), trained.data.x_train[3]])
    patterns = ref.relu_pattern(layers, x)
    table = report.tables["linear_regions"]
    for i in range(len(x)):
        A, c = ref.affine_map_of_pattern(layers, patterns[i])
        assert table["pattern"][i] == _pattern_text(patterns[i])
        np.testing.assert_allclose(
            [table["a1"][i], table["a2"][i], table["c"][i]], [*A[:, 0], c[0]], atol=1e-12
        )
    np.testing.assert_allclose([table["x1"], table["x2"]], x.T, atol=1e-12)
    assert report.metrics["flow/regions"] == ref.grid_pattern_count(layers, BOX, 80)
    on = ref.relu_pattern(layers, trained.data.x_train).any(axis=0)
    assert report.metrics["flow/dead_units"] == np.sum(~on)
    lines = np.column_stack([net.layers[0].W[0], net.layers[0].W[1], net.layers[0].b])
    assert report.metrics["flow/regions_exact"] == ref.arrangement_regions_euler(lines, BOX)
    steps, exact = report.curves["flow/training_regions_exact"]
    np.testing.assert_array_equal(steps, trained.history.snapshot_step)
    assert exact[-1] == report.metrics["flow/regions_exact"]
    points = report.tables["flow_points"]
    out = ref.forward_values(layers, x)[-1][1][:, 0]
    np.testing.assert_allclose(points["prediction"], out, atol=1e-12)
    counts = report.tables["regions"]["grid_points"]
    assert counts.sum() == 80 * 80 and len(counts) == report.metrics["flow/regions"]
    # the diagrams' colour ranges: the training data's values, each column its own
    drawing = report.figures["flow_NE"]
    limits = drawing.args[2]
    values = ref.forward_values(layers, trained.data.x_train)
    columns = [trained.data.x_train] + [v for pair in values for v in pair]
    assert limits == [(float(c.min()), float(c.max())) for c in columns]
    x_ne, *flowing = drawing.args[1]
    np.testing.assert_allclose(x_ne, [1.0, 1.0])
    for (z, a), (rz, ra) in zip(flowing, ref.forward_values(layers, x[1:2]), strict=True):
        np.testing.assert_allclose(z, rz[0], atol=1e-12)
        np.testing.assert_allclose(a, ra[0], atol=1e-12)


def test_the_first_layer_figure_and_maps_get_the_weights(flow_report) -> None:
    trained, report = flow_report
    W0, b0, lines, box, points, names = report.figures["first_layer"].args
    np.testing.assert_array_equal(points[:4], list(ZONES.values()))
    np.testing.assert_array_equal(W0, trained.net.layers[0].W)
    np.testing.assert_array_equal(b0, trained.net.layers[0].b)
    np.testing.assert_allclose(lines, np.column_stack([W0[0], W0[1], b0]))
    assert box == BOX and names == [*ZONES, "sample3"]
    _, maps, thumb_box, point = report.figures["flow_maps"].args
    assert thumb_box == BOX and point.tolist() == [0.0, 0.0]
    g = _grid(12)
    for (_, a), m in zip(ref.forward_values(_layers(trained.net), g), maps, strict=True):
        np.testing.assert_allclose(m, a.T.reshape(-1, 12, 12), atol=1e-6)


def test_a_smooth_net_gets_tangent_maps_and_no_regions() -> None:
    overrides = [*SMALL[1:], "+experiment=fcnn_prod_sigmoid"]
    trained, report = study_report(overrides)
    layers = _layers(trained.net)
    table = report.tables["linear_regions"]
    assert set(table["pattern"]) == {""}
    x = np.array([*ZONES.values(), trained.data.x_train[3]])
    for i in range(len(x)):
        A, c = ref.affine_map_by_differences(layers, x[i])
        np.testing.assert_allclose([table["a1"][i], table["a2"][i]], A[:, 0], atol=1e-6)
        assert table["c"][i] == pytest.approx(c[0], abs=1e-6)
    assert not any(key.startswith("flow/regions") for key in report.metrics)
    assert "linear_regions" not in report.figures and "regions" not in report.tables
    assert report.notes == [
        "sigmoid hidden units are smooth: the net has no linear regions; "
        "tables/linear_regions.csv gives the tangent map at each point (exact at the point "
        "only) and an empty pattern."
    ]
    pattern = report.arrays["flow"]["pattern"]
    assert pattern.shape == (5, 0) and pattern.dtype == np.int8
    assert "flow.html" in report.files and "first_layer" in report.figures
    points = report.tables["flow_points"]
    assert points["pattern"] == [""] * 5  # no region: no pattern and no area
    area = points["region_area"]
    assert len(area) == 5 and all(isinstance(a, float) and np.isnan(a) for a in area)


def test_a_deep_smooth_net_has_no_patterns_in_any_layer() -> None:
    """Two tanh layers: an empty pattern, not one empty string per layer (`|`)."""
    overrides = [*SMALL[1:], "+experiment=fcnn_prod_sigmoid", "model.hidden=[4,3]"]
    overrides += ["model.activation=tanh", "train.epochs=2"]
    _, report = study_report([o for o in overrides if o != "train.epochs=8"])
    assert set(report.tables["linear_regions"]["pattern"]) == {""}
    assert report.tables["flow_points"]["pattern"] == [""] * 5


def test_deep_and_classification_nets() -> None:
    """Two ReLU layers and a softmax head: one row per point and output (column `output`),
    every row the masked product of its pattern."""
    overrides = [
        "study=flow",
        "dataset=fcnn_xor",
        "dataset.n_train=300",
        "model.hidden=[5,4]",
        "train.epochs=3",
        "study.region_grid=60",
        "study.track_regions=false",
        "study.thumbnail_grid=8",
        "study.explorer_grid=30",
        "study.grid=30",
        "study.points=[[a,0.5,-0.5]]",
    ]
    trained, report = study_report(overrides)
    layers = _layers(trained.net)
    table = report.tables["linear_regions"]
    assert list(table) == ["x1", "x2", "pattern", "a1", "a2", "c", "output"]
    assert table["output"] == [0, 1]
    pattern = ref.relu_pattern(layers, np.array([[0.5, -0.5]]))[0]
    assert table["pattern"][0] == f"{_pattern_text(pattern[:5])}|{_pattern_text(pattern[5:])}"
    A, c = ref.affine_map_of_pattern(layers, pattern)
    for k in range(2):
        np.testing.assert_allclose(
            [table["a1"][k], table["a2"][k], table["c"][k]], [*A[:, k], c[k]], atol=1e-12
        )
    box = trained.data.domain
    assert report.metrics["flow/regions"] == ref.grid_pattern_count(layers, box, 60)
    assert "flow/regions_exact" not in report.metrics  # two hidden layers: no line arrangement
    assert not report.curves


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "study.palette=jet",
            "study.palette='jet' is not allowed; choose one of viridis, rainbow, cool",
        ),
        ("study.colour_norm=unit", "study.colour_norm='unit' is not allowed"),
        ("study.points=[['a b',0,0]]", "study.points[0]: the name 'a b' must be 1-40 letters"),
        ("study.points=[[NE,1]]", "study.points[0]=['NE', 1] must be [name, x1, x2] or [x1, x2]"),
        ("study.points=[[1,2],[p0,3,4]]", "study.points names p0 more than once"),
        ("study.samples=[2500]", "dataset.n_train=2500 points, 0..2499"),
        ("study.samples=[-1]", "study.samples[0]=-1 must be a training point's index"),
        ("study.explorer_grid=1000", "study.explorer_grid=1000 must be <= 400"),
        ("study.region_grid=1", "study.region_grid=1 must be >= 2"),
        ("study.track_grid=0", "study.track_grid=0 must be > 0"),
        ("study.region_grid=100000", "study.region_grid=100000"),
    ],
)
def test_bad_settings_are_refused(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        validate(compose_config(["+experiment=fcnn_prod", override]))
    assert message in str(error.value)


def test_no_point_at_all_is_refused() -> None:
    with pytest.raises(ConfigError, match="study.points and study.samples are both empty"):
        validate(compose_config(["+experiment=fcnn_prod", "study.points=[]"]))


def test_the_experiments_are_the_sources_nets() -> None:
    for name, hidden, activation, lr, palette in [
        ("fcnn_prod", [4], "relu", 0.005, "viridis"),
        ("fcnn_prod_deep", [5, 5], "relu", 0.005, "rainbow"),
        ("fcnn_prod_sigmoid", [4], "sigmoid", 0.001, "cool"),
    ]:
        cfg = validate(compose_config([f"+experiment={name}"]))
        assert (cfg.model.hidden, cfg.model.activation, cfg.train.lr) == (hidden, activation, lr)
        assert (cfg.train.epochs, cfg.train.batch_size, cfg.dataset.n_train) == (250, 100, 2500)
        assert cfg.dataset.name == "fcnn_prod" and cfg.study.name == "flow"
        assert cfg.study.palette == palette
        assert [(n, *v) for n, v in ZONES.items()] == [tuple(p) for p in cfg.study.points]
    assert math.isclose(validate(compose_config(["+experiment=fcnn_prod"])).train.lr, 0.005)


def test_dead_units_are_off_at_every_training_point() -> None:
    from toynets.net import Layer, Net
    from toynets.studies.flow import dead_units

    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (500, 2))
    W0 = rng.normal(size=(2, 4))
    W0[:, 1] = 0.0  # unit 1: z = b = -0.5 everywhere
    W0[:, 3] = [1.0, 0.0]  # unit 3: z = x1 - 3 < 0 on [-2, 2]
    b0 = np.array([0.1, -0.5, 0.2, -3.0])
    hidden = Layer(rng.normal(size=(4, 6)), np.full(6, -100.0), "maxout", 2)  # never "dead"
    net = Net((Layer(W0, b0, "relu"), hidden, Layer(np.ones((3, 1)), np.zeros(1), "linear")))
    first_layer_only = [_layers(net)[0], (np.ones((4, 1)), np.zeros(1), "linear")]
    expected = ~ref.relu_pattern(first_layer_only, x).any(axis=0)
    np.testing.assert_array_equal(dead_units(net, x)[:4], expected)
    assert dead_units(net, x).tolist() == [False, True, False, True, False, False, False]


@pytest.mark.slow
def test_the_report_section_is_written_from_a_sweep(tmp_path) -> None:
    """A sweep of §4's three nets (tiny settings) lands with its parent in the jobs' study;
    docs/render_flow.py fills §4 of a copy of docs/reproduction.md from its runs: the losses
    over the seeds, the zone table from every run's linear_regions.csv, the per-seed table."""

    import pandas as pd

    from conftest import rendered_section, run_cli
    from toynets import runs

    small = [
        "study=flow",  # the sweep's base config is composed without the swept experiments
        "dataset.n_train=300",
        "dataset.n_test=100",
        "train.epochs=4",
        "study.grid=20",
        "study.region_grid=40",
        "study.track_grid=20",
        "study.thumbnail_grid=8",
        "study.explorer_grid=20",
        "tracking.log_model=false",
    ]
    done = run_cli(
        "-m", "+experiment=fcnn_prod,fcnn_prod_deep,fcnn_prod_sigmoid", "seed=0,1", *small,
        cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "in experiment 'flow'" in done.stdout + done.stderr  # not the base's node_removal
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    sweeps = runs.find("flow", uri=uri, role="sweep")
    assert len(sweeps) == 1
    text = rendered_section("render_flow.py", "flow", uri, tmp_path)
    assert sweeps.run_id[0] in text
    jobs = runs.find("flow", uri=uri, status="FINISHED")
    relu = jobs[
        (jobs["params.model.hidden"] == "[4]") & (jobs["params.model.activation"] == "relu")
    ]
    loss = relu.sort_values("seed")["metrics.final/train_loss"].to_numpy(float)
    line = next(x for x in text.splitlines() if x.startswith("| 2 → 4 ReLU"))
    cell = line.strip("|").split("|")[2].strip()
    mean, _, rest = cell.partition(" ± ")
    assert float(mean) == pytest.approx(loss.mean(), rel=6e-3)
    low, _, high = rest.partition(" (")[2].rstrip(")").partition(" – ")
    assert (float(low), float(high)) == pytest.approx((loss.min(), loss.max()), rel=6e-3)
    # the zone table's NE a1: the mean over the runs' tables
    a1 = []
    for run_id in relu.run_id:
        table = pd.read_csv(runs.download(run_id, "tables/linear_regions.csv", uri=uri))
        a1.append(float(table[(table.x1 == 1) & (table.x2 == 1)].a1.iloc[0]))
    row = next(x for x in text.splitlines() if x.startswith("| NE |"))
    shown = row.strip("|").split("|")[3].strip().partition(" ± ")[0]
    assert float(shown) == pytest.approx(np.mean(a1), rel=6e-3, abs=1e-3)
    for seed in (0, 1):
        assert any(x.startswith(f"| {seed} | ") for x in text.splitlines())


# ---- the report's every part, from the report (what the mutation run checks) -------------------


def _clipped_area(lines: np.ndarray, point: np.ndarray, box) -> float:
    """The area of the cell of `point` clipped to `box`, by cutting the box polygon with one
    half-plane after the other (Sutherland-Hodgman), then the shoelace formula."""
    polygon = [(box[0], box[2]), (box[1], box[2]), (box[1], box[3]), (box[0], box[3])]
    for a1, a2, c in lines:
        side = 1.0 if a1 * point[0] + a2 * point[1] + c >= 0 else -1.0
        inside = lambda q: side * (a1 * q[0] + a2 * q[1] + c) >= 0  # noqa: E731, B023
        cut = []
        for k, q in enumerate(polygon):
            r = polygon[(k + 1) % len(polygon)]
            if inside(q):
                cut.append(q)
            if inside(q) != inside(r):
                fq, fr = a1 * q[0] + a2 * q[1] + c, a1 * r[0] + a2 * r[1] + c
                t = fq / (fq - fr)
                cut.append((q[0] + t * (r[0] - q[0]), q[1] + t * (r[1] - q[1])))
        polygon = cut
        if not polygon:
            return 0.0
    x, y = np.array(polygon).T
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def test_report_points_regions_and_arrays(flow_report) -> None:
    trained, report = flow_report
    net, layers = trained.net, _layers(trained.net)
    x = np.array([*ZONES.values(), trained.data.x_train[3]])
    grid = _grid(80)
    grid_patterns = ref.relu_pattern(layers, grid)
    texts = [_pattern_text(p) for p in grid_patterns]
    counts: dict[str, int] = {}
    for t in texts:
        counts[t] = counts.get(t, 0) + 1
    # the points
    points = report.tables["flow_points"]
    assert list(points) == [
        "point", "x1", "x2", "prediction", "truth", "pattern", "region_area", "region_area_exact"
    ]  # fmt: skip
    assert points["point"] == [*ZONES, "sample3"]
    np.testing.assert_allclose(points["x1"], x[:, 0], atol=1e-12)
    np.testing.assert_allclose(points["x2"], x[:, 1], atol=1e-12)
    np.testing.assert_allclose(points["truth"], x[:, 0] * x[:, 1] / 4, atol=1e-12)
    own = [_pattern_text(p) for p in ref.relu_pattern(layers, x)]
    assert points["pattern"] == own
    expected = [counts[t] / 80**2 * 16 if t in counts else np.nan for t in own]
    np.testing.assert_allclose(points["region_area"], expected, atol=1e-12)
    W, b = net.layers[0].W.astype(float), net.layers[0].b.astype(float)
    lines = np.column_stack([W[0], W[1], b])
    exact = [_clipped_area(lines, p, BOX) for p in x]
    np.testing.assert_allclose(points["region_area_exact"], exact, atol=1e-9)
    # the regions, largest first (ties in the order np.unique sorted them)
    regions = report.tables["regions"]
    assert list(regions) == ["pattern", "area", "share", "grid_points"]
    assert dict(zip(regions["pattern"], regions["grid_points"].tolist(), strict=True)) == counts
    assert list(regions["grid_points"]) == sorted(counts.values(), reverse=True)
    np.testing.assert_allclose(regions["area"], regions["grid_points"] / 80**2 * 16)
    np.testing.assert_allclose(regions["share"], regions["grid_points"] / 80**2)
    # the arrays
    arrays = report.arrays["flow"]
    np.testing.assert_array_equal(arrays["grid_x1"], np.linspace(-2, 2, 80))
    np.testing.assert_array_equal(arrays["grid_x2"], np.linspace(-2, 2, 80))
    labels = arrays["region_label"]
    assert labels.shape == (80, 80)
    same_label = labels.ravel()[:, None] == labels.ravel()[None, ::97]
    same_pattern = np.array(texts)[:, None] == np.array(texts)[None, ::97]
    np.testing.assert_array_equal(same_label, same_pattern)
    np.testing.assert_array_equal(arrays["A"][:, :, 0], [
        ref.affine_map_of_pattern(layers, p)[0][:, 0] for p in ref.relu_pattern(layers, x)
    ])  # fmt: skip
    np.testing.assert_array_equal(arrays["c"][:, 0], [
        ref.affine_map_of_pattern(layers, p)[1][0] for p in ref.relu_pattern(layers, x)
    ])  # fmt: skip
    np.testing.assert_array_equal(arrays["pattern"], ref.relu_pattern(layers, x))
    assert list(arrays["names"]) == [*ZONES, "sample3"]
    np.testing.assert_array_equal(arrays["x"], x)
    # the affine maps' error over their regions' grid points
    worst = 0.0
    for p in ref.relu_pattern(layers, x):
        inside = grid[np.all(grid_patterns == p, axis=1)]
        if len(inside):
            A, c = ref.affine_map_of_pattern(layers, p)
            z = ref.forward_values(layers, inside)[-1][0]
            worst = max(worst, float(np.abs(inside @ A + c - z).max()))
    assert report.metrics["flow/affine_max_error"] == pytest.approx(worst, abs=1e-12)


def test_report_regions_during_training(flow_report) -> None:
    trained, report = flow_report
    history, net = trained.history, trained.net
    steps, counts = report.curves["flow/training_regions"]
    steps_exact, exact = report.curves["flow/training_regions_exact"]
    np.testing.assert_array_equal(steps, history.snapshot_step)
    np.testing.assert_array_equal(steps_exact, history.snapshot_step)
    for t in range(len(steps)):
        layers = [
            (history.snapshots[f"W{i}"][t], history.snapshots[f"b{i}"][t], layer.activation, 1)
            for i, layer in enumerate(net.layers)
        ]
        W, b = layers[0][0], layers[0][1]
        assert exact[t] == ref.arrangement_regions_euler(np.column_stack([W[0], W[1], b]), BOX)
        if t in (0, len(steps) // 2, len(steps) - 1):
            assert counts[t] == ref.grid_pattern_count(layers, BOX, 50)
    arrays = report.arrays["flow"]
    np.testing.assert_array_equal(arrays["track_step"], steps)
    np.testing.assert_array_equal(arrays["track_regions"], counts)
    drawing = report.figures["region_count"]
    shown_steps, curves = drawing.args
    np.testing.assert_array_equal(shown_steps, steps)
    assert list(curves) == ["grid 50²", "exact"]
    np.testing.assert_array_equal(curves["grid 50²"], counts)
    np.testing.assert_array_equal(curves["exact"], exact)
    assert drawing.kwargs == {"title": "test"}


def test_report_figures_draw_with_their_titles(flow_report) -> None:
    from matplotlib.figure import Figure

    from toynets.plots.style import DIVERGING
    from toynets.report import figure_of

    trained, report = flow_report
    x = np.array([*ZONES.values(), trained.data.x_train[3]])
    out = ref.forward_values(_layers(trained.net), x)[-1][1][:, 0]
    for i, name in enumerate([*ZONES, "sample3"]):
        drawing = report.figures[f"flow_{name}"]
        where = ", ".join(f"{v:.3g}" for v in x[i])
        assert drawing.kwargs == {
            "palette": "viridis",
            "title": f"test · {name} ({where}) → {out[i]:.4g}",
        }
    assert report.figures["flow_maps"].kwargs == {"palette": "viridis", "title": "test · centre"}
    first = report.figures["first_layer"]
    assert first.kwargs == {"activation": "relu", "title": "test"}
    regions = report.figures["linear_regions"]
    x1, x2, labels, points, names = regions.args
    np.testing.assert_array_equal(labels, report.arrays["flow"]["region_label"])
    np.testing.assert_array_equal(points, x[:, :2])
    assert names == [*ZONES, "sample3"] and len(x1) == len(x2) == 80
    W, b = trained.net.layers[0].W, trained.net.layers[0].b
    np.testing.assert_allclose(regions.kwargs["lines"], np.column_stack([W[0], W[1], b]))
    assert regions.kwargs["exact"] == report.metrics["flow/regions_exact"]
    assert regions.kwargs["title"] == "test"
    for name, drawing in report.figures.items():
        figure = figure_of(drawing)
        assert isinstance(figure, Figure), name
        assert figure.axes, name
    assert DIVERGING  # the weights' scale of every diagram


def test_report_explorer_page_holds_the_net_and_the_points(flow_report) -> None:
    import json
    import re

    from toynets.analysis.flow import colour_limits
    from toynets.palette import colormap_stops

    trained, report = flow_report
    html = report.files["flow.html"]
    found = re.search(r'<script type="application/json" id="toynets-data">(.*?)</script>', html)
    data = json.loads(found.group(1))
    assert data["title"] == "test" and data["head"] == "linear"
    assert data["names"] == [*ZONES, "sample3"]
    sample = trained.data.x_train[3]
    expected_points = {**{k: list(v) for k, v in ZONES.items()}, "sample3": list(sample[:2])}
    assert data["points"].keys() == expected_points.keys()
    for name, point in expected_points.items():
        np.testing.assert_allclose(data["points"][name], point, atol=1e-12)
    assert data["start"] == [0.0, 0.0] and data["box"] == list(BOX)
    assert (data["grid"], data["thumb"], data["piecewise"]) == (40, 12, True)
    assert data["rest"]["shape"] == [0]
    shown = np.array(data["data"]["data"].split(","), float).reshape(data["data"]["shape"])
    every = np.linspace(0, len(trained.data.x_train) - 1, 300).astype(int)
    np.testing.assert_allclose(shown, trained.data.x_train[every], rtol=1e-6)
    values = ref.forward_values(_layers(trained.net), trained.data.x_train)
    columns = [trained.data.x_train] + [v for pair in values for v in pair]
    np.testing.assert_allclose(data["limits"], colour_limits(columns, "layer"), atol=1e-12)
    assert data["palette"] == colormap_stops("viridis") and data["paletteName"] == "viridis"
    assert data["colourNorm"] == "layer"
    for i, layer in enumerate(trained.net.layers):
        W = np.array(data["layers"][i]["W"]["data"].split(","), float)
        np.testing.assert_array_equal(W.astype(np.float32), layer.W.ravel())


def test_the_study_says_what_it_does(capsys) -> None:
    from toynets.studies import flow

    trained, _ = study_report(SMALL)
    flow.run(trained, validate(compose_config(SMALL)).study)
    said = capsys.readouterr().err
    for stage in ("neuron maps", "linear regions", "regions during training", "explorer page"):
        assert re.search(rf"toynets: {stage} \(\d+\.\d s\)", said), stage


def test_points_of_wider_inputs_hold_the_rest_at_the_training_mean() -> None:
    overrides = [
        "study=flow",
        "dataset=halfplane",
        "dataset.n_features=3",
        "dataset.n_train=300",
        "model.hidden=[4]",
        "train.epochs=3",
        "study.grid=20",
        "study.region_grid=40",
        "study.thumbnail_grid=8",
        "study.explorer_grid=20",
        "study.track_regions=false",
        "study.samples=[3]",
    ]
    trained, report = study_report(overrides)
    rest = trained.data.x_train[:, 2].mean()
    x = report.arrays["flow"]["x"]
    np.testing.assert_allclose(x[:4], [[*p, rest] for p in ZONES.values()], atol=1e-12)
    np.testing.assert_array_equal(x[4], trained.data.x_train[3])
    W, b = trained.net.layers[0].W, trained.net.layers[0].b
    lines = report.figures["first_layer"].args[2]
    np.testing.assert_allclose(lines, np.column_stack([W[0], W[1], b + rest * W[2]]), atol=1e-6)
    table = report.tables["linear_regions"]
    assert list(table) == ["x1", "x2", "pattern", "a1", "a2", "a3", "c", "output"]
    layers = _layers(trained.net)
    for i, p in enumerate(ref.relu_pattern(layers, x)):
        A, c = ref.affine_map_of_pattern(layers, p)
        for k in range(2):
            row = [table[key][2 * i + k] for key in ("a1", "a2", "a3", "c")]
            np.testing.assert_allclose(row, [*A[:, k], c[k]], atol=1e-12)
    points = report.tables["flow_points"]
    probability = ref.forward_values(layers, x)[-1][1]
    assert list(points["predicted_class"]) == list(probability.argmax(1))
    np.testing.assert_allclose(points["probability"], probability.max(1), atol=1e-12)
    assert not report.curves and "region_count" not in report.figures
    # The figures draw the points in the plane of x1 and x2.
    np.testing.assert_array_equal(report.figures["flow_maps"].args[3], x[0, :2])
    np.testing.assert_array_equal(report.figures["linear_regions"].args[3], x[:, :2])
    np.testing.assert_array_equal(report.figures["first_layer"].args[4], x[:, :2])
    # Each point's exact cell in that plane (x3 at its mean), against the share of a fine grid
    # of the box with the point's pattern (a cell of one layer's lines is convex).
    lo1, hi1, lo2, hi2 = report.figures["first_layer"].args[3]
    n = 500
    x1 = lo1 + (np.arange(n) + 0.5) * (hi1 - lo1) / n  # cell centres
    x2 = lo2 + (np.arange(n) + 0.5) * (hi2 - lo2) / n
    g1, g2 = np.meshgrid(x1, x2)
    plane = np.column_stack([g1.ravel(), g2.ravel(), np.full(g1.size, rest)])
    patterns = ref.relu_pattern(layers, plane)
    own = ref.relu_pattern(layers, np.column_stack([x[:, :2], np.full(len(x), rest)]))
    box_area = (hi1 - lo1) * (hi2 - lo2)
    for i, pattern in enumerate(own):
        share = (patterns == pattern).all(1).mean() * box_area
        assert points["region_area_exact"][i] == pytest.approx(share, abs=0.01 * box_area), i


def test_a_logit_head_reports_the_class_and_its_probability() -> None:
    overrides = [
        "study=flow",
        "dataset=fcnn_xor",
        "dataset.n_train=300",
        "model.hidden=[3]",
        "model.head=logit",
        "train.epochs=2",
        "study.grid=20",
        "study.region_grid=30",
        "study.thumbnail_grid=8",
        "study.explorer_grid=20",
        "study.track_regions=false",
    ]
    trained, report = study_report(overrides)
    x = report.arrays["flow"]["x"]
    p1 = ref.forward_values(_layers(trained.net), x)[-1][1][:, 0]  # P(class 1)
    points = report.tables["flow_points"]
    assert list(points["predicted_class"]) == list((p1 > 0.5).astype(int))
    np.testing.assert_allclose(points["probability"], np.maximum(p1, 1 - p1), atol=1e-12)
    np.testing.assert_array_equal(points["truth"], (x[:, 0] * x[:, 1] > 0).astype(int))
    assert "output" not in report.tables["linear_regions"]  # one logit
