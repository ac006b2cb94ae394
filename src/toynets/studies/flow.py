"""The `flow` study: DIGEST §4, how a small net computes, point by point and region by region.

For each explained point (`study.points` by coordinates, default §4's zones centre (0, 0),
NE (1, 1), NW (-1, 1), N (0, 2); `study.samples` by training-set index) the flow diagram
`figures/flow_<name>.png`: every neuron's linear value z and activation a, the biases and the
weights, coloured in `study.palette` over ranges taken from the training data
(`study.colour_norm`). `figures/flow_maps.png` is the diagram with each neuron's picture of the
whole input plane (the source's visFCNN2D), `figures/first_layer.png` the first-layer weights
and lines x2 = -(x1 w_0j + b_j) / w_1j over the linear regions.

For a piecewise-linear net (ReLU, linear, maxout hidden layers), the linear regions met on a
`study.region_grid` grid (`figures/linear_regions.png`, `tables/regions.csv`), for one ReLU
hidden layer their exact number in the box (`toynets.analysis.linear_regions`), the ReLU
units dead on the training data (`flow/dead_units`), and the regions' count
at every weight snapshot of the training (`figures/region_count.png`, metric curves
`flow/training_regions` and, for one ReLU layer, `flow/training_regions_exact`).

`tables/linear_regions.csv` gives, for every explained point, x1, x2, its activation pattern
and the logits' affine map there, `a1, a2, ..., c` (z = a1 x1 + a2 x2 + ... + c): exact over
the point's region for a piecewise-linear net, the tangent map at the point for a smooth one
(pattern empty). A net with several outputs has one row per output (column `output`).
`tables/flow_points.csv` (per point: the prediction, the truth, the pattern, the area of its
region on the grid and, for one ReLU layer, exactly: the polygon of its cell), `data/flow.npz`
(every layer's z and a at the points, the region labels) and the interactive `flow.html`
complete it. Metrics are named `flow/...`.
"""

from __future__ import annotations

import numpy as np

from toynets import console
from toynets.analysis import flow
from toynets.analysis import linear_regions as lr
from toynets.config import FlowConfig, point_names
from toynets.net import Net
from toynets.plots import flow as figures
from toynets.report import Drawing, Report
from toynets.studies import Trained, final_step, input_plane, map_box, snapshot_net
from toynets.studies import train as train_study

PREFIX = "flow"


def explained_points(trained: Trained, cfg: FlowConfig) -> tuple[list[str], np.ndarray]:
    """The names and inputs [m, d] of the points the study explains: `cfg.points` (inputs
    after the first two at their training mean), then the training points `cfg.samples`."""
    data = trained.data
    rest = rest_inputs(data)
    names, rows = [], []
    for name, x1, x2 in point_names(cfg.points):
        names.append(name)
        rows.append(np.concatenate([[x1, x2], rest]))
    for index in cfg.samples:
        names.append(f"sample{index}")
        rows.append(data.x_train[index])
    return names, np.array(rows, np.float64).reshape(len(names), data.n_features)


def rest_inputs(data) -> np.ndarray:
    """The inputs after the first two at their training mean: where the input plane cuts
    through a net with more inputs (empty for two)."""
    return data.x_train[:, 2:].mean(axis=0)


def run(trained: Trained, cfg: FlowConfig) -> Report:
    report = train_study.run(trained, cfg)
    net, data = trained.net, trained.data
    names, x = explained_points(trained, cfg)
    box = map_box(data, cfg)
    piecewise = lr.is_piecewise_linear(net)

    values = flow.layer_values(net, x)
    columns = _diagram_columns(net, data.x_train)
    limits = flow.colour_limits(columns, cfg.colour_norm)
    for i, name in enumerate(names):
        report.figures[f"flow_{name}"] = Drawing(
            figures.flow_diagram,
            (_weights(net), [x[i], *[(v.z[i], v.a[i]) for v in values]], limits),
            {"palette": cfg.palette, "title": _point_title(trained, name, x[i], values, i)},
        )
    with console.stage("neuron maps"):
        thumb_grid, _ = input_plane(data, cfg, cfg.thumbnail_grid)
        thumbs = flow.layer_values(net, thumb_grid.points)
        report.images["flow_maps"] = final_step(trained)
        report.figures["flow_maps"] = Drawing(
            figures.flow_maps,
            (
                _weights(net),
                [v.a.T.reshape(v.a.shape[1], *thumb_grid.shape) for v in thumbs],
                thumb_grid.box,
                x[0, :2],
            ),
            {"palette": cfg.palette, "title": f"{trained.title} · {names[0]}"},
        )

    pattern = lr.patterns(net, x) if piecewise else np.zeros((len(x), 0), np.int8)
    texts = lr.pattern_strings(pattern, net.hidden_sizes) if piecewise else [""] * len(x)
    maps = lr.affine_maps(net, x)
    report.tables["linear_regions"] = linear_regions_table(x, texts, maps)
    report.arrays["flow"] = {
        "names": np.array(names),
        "x": x,
        **{f"z{i}": v.z for i, v in enumerate(values)},
        **{f"a{i}": v.a for i, v in enumerate(values)},
        "A": maps.A,
        "c": maps.c,
        "pattern": pattern,
    }
    lines = _lines(net, rest_inputs(data))
    exact = _exact_count(net, lines, box)
    point_area = np.full(len(x), np.nan)
    if piecewise:
        with console.stage("linear regions"):
            grid, _ = input_plane(data, cfg, cfg.region_grid)
            found = lr.regions(net, grid.points)
            area = lr.region_areas(found, box)
            region_label = found.label.reshape(grid.shape)
            report.metrics[f"{PREFIX}/regions"] = float(found.n_regions)
            report.metrics[f"{PREFIX}/dead_units"] = float(dead_units(net, data.x_train).sum())
            if exact is not None:
                report.metrics[f"{PREFIX}/regions_exact"] = float(exact)
            point_area, error = _point_regions(net, pattern, maps, grid.points, found, area)
            report.metrics[f"{PREFIX}/affine_max_error"] = error
            report.tables["regions"] = regions_table(found, area, net.hidden_sizes)
            report.arrays["flow"].update(
                {"grid_x1": grid.x1, "grid_x2": grid.x2, "region_label": region_label}
            )
            report.images["linear_regions"] = final_step(trained)
            report.figures["linear_regions"] = Drawing(
                figures.region_map,
                (grid.x1, grid.x2, region_label, x[:, :2], names),
                {"lines": lines, "exact": exact, "title": trained.title},
            )
        if cfg.track_regions and trained.history.snapshots:
            _track_regions(report, trained, cfg, exact is not None)
    report.tables["flow_points"] = points_table(trained, names, x, values, texts, point_area)
    if exact is not None:  # one ReLU layer: the exact cells
        report.tables["flow_points"]["region_area_exact"] = [
            lr.polygon_area(lr.cell_polygon(lines, point, box)) for point in x
        ]
    W0 = net.layers[0]
    report.figures["first_layer"] = Drawing(
        figures.first_layer,
        (W0.W, W0.b, lines, box, x[:, :2], names),
        {"activation": W0.activation, "title": trained.title},
    )
    with console.stage("explorer page"):
        report.files["flow.html"] = _explorer(trained, cfg, names, x, box, limits)
    if not piecewise:
        report.notes.append(
            f"{net.layers[0].activation} hidden units are smooth: the net has no linear "
            "regions; tables/linear_regions.csv gives the tangent map at each point (exact at "
            "the point only) and an empty pattern."
        )
    return report


def dead_units(net: Net, x: np.ndarray) -> np.ndarray:
    """The ReLU units that are off (z <= 0) at every input of x [n, d], flat over the hidden
    layers (bool [units]; never for other activations): they pass nothing, whatever the
    point, and no gradient reaches their weights."""
    off = lr.patterns(net, x) == 0
    relu = np.concatenate(
        [np.full(layer.units, layer.activation == "relu") for layer in net.layers[:-1]]
    )
    return off.all(axis=0) & relu


def linear_regions_table(x: np.ndarray, texts: list[str], maps: lr.AffineMaps) -> dict:
    """`x1, x2, pattern, a1, ..., ad, c` per point (the contract), and `output` per output
    when there are several."""
    n, d, outputs = maps.A.shape
    rows = [(i, k) for i in range(n) for k in range(outputs)]
    table: dict = {
        "x1": [float(x[i, 0]) for i, _ in rows],
        "x2": [float(x[i, 1]) for i, _ in rows],
        "pattern": [texts[i] for i, _ in rows],
    }
    for j in range(d):
        table[f"a{j + 1}"] = [float(maps.A[i, j, k]) for i, k in rows]
    table["c"] = [float(maps.c[i, k]) for i, k in rows]
    if outputs > 1:
        table["output"] = [k for _, k in rows]
    return table


def regions_table(found: lr.Regions, area: np.ndarray, hidden_sizes: list[int]) -> dict:
    """The regions met on the grid, largest first: pattern, area, share of the box."""
    order = np.argsort(-found.count, kind="stable")
    texts = lr.pattern_strings(found.pattern[order], hidden_sizes)
    return {
        "pattern": texts,
        "area": area[order],
        "share": found.count[order] / found.count.sum(),
        "grid_points": found.count[order],
    }


def points_table(trained, names, x, values, texts, point_area) -> dict:
    """Per explained point: its name, x1, x2, the prediction (regression: the estimate; else
    the predicted class and its probability), the truth where known, its pattern and the
    grid area of its region."""
    out = values[-1].a
    table: dict = {"point": names, "x1": x[:, 0], "x2": x[:, 1]}
    if trained.data.task == "regression":
        table["prediction"] = out[:, 0]
    else:
        probability = np.concatenate([1 - out, out], 1) if out.shape[1] == 1 else out
        table["predicted_class"] = probability.argmax(1)
        table["probability"] = probability.max(1)
    if trained.data.truth is not None:
        table["truth"] = trained.data.truth(x)
    table["pattern"] = texts
    table["region_area"] = point_area
    return table


def _diagram_columns(net: Net, x: np.ndarray) -> list[np.ndarray]:
    """The values each column of a flow diagram takes over the inputs x: the inputs, then each
    layer's z and a (the colour ranges come from these)."""
    columns = [np.asarray(x, np.float64)]
    for v in flow.layer_values(net, x):
        columns += [v.z, v.a]
    return columns


def _weights(net: Net) -> list[tuple[np.ndarray, np.ndarray, str, int]]:
    return [(layer.W, layer.b, layer.activation, layer.k) for layer in net.layers]


def _point_title(trained: Trained, name: str, x: np.ndarray, values, i: int) -> str:
    out = values[-1].a[i]
    shown = ", ".join(f"{v:.4g}" for v in out)
    where = ", ".join(f"{v:.3g}" for v in x[:2])
    return f"{trained.title} · {name} ({where}) → {shown}"


def _lines(net: Net, rest: np.ndarray) -> np.ndarray | None:
    """The first hidden layer's z = 0 lines with the other inputs at `rest` (None for a
    maxout layer, a net without hidden layer or a single input)."""
    first = net.layers[0]
    if len(net.layers) < 2 or first.activation == "maxout" or first.W.shape[0] < 2:
        return None
    return lr.first_layer_lines(net, rest)


def _exact_count(net: Net, lines: np.ndarray | None, box) -> int | None:
    """The exact number of regions in the box, for one ReLU hidden layer."""
    if lines is None or len(net.layers) != 2 or net.layers[0].activation != "relu":
        return None
    return lr.arrangement_region_count(lines, box)


def _point_regions(net, own, maps, points, found, area) -> tuple[np.ndarray, float]:
    """Each explained point's region area (NaN when no grid point shares its pattern `own`)
    and the largest |affine map - logits| over the grid points of those regions."""
    point_area = np.full(len(own), np.nan)
    error = 0.0
    index = {tuple(p): r for r, p in enumerate(found.pattern)}
    for i, p in enumerate(own):
        r = index.get(tuple(p))
        if r is None:
            continue
        point_area[i] = area[r]
        inside = points[found.label == r]
        predicted = inside @ maps.A[i] + maps.c[i]
        error = max(error, float(np.abs(predicted - net.logits(inside)).max()))
    return point_area, error


def _track_regions(report: Report, trained: Trained, cfg: FlowConfig, exact_too: bool) -> None:
    """The regions at each weight snapshot: on a `track_grid` grid, and exactly for one ReLU
    hidden layer; metric curves over the training steps and `figures/region_count.png`."""
    history, net = trained.history, trained.net
    steps = np.asarray(history.snapshot_step)
    grid, _ = input_plane(trained.data, cfg, cfg.track_grid)
    box = map_box(trained.data, cfg)
    rest = rest_inputs(trained.data)
    counts, exact = [], []
    with console.stage("regions during training", total=len(steps), unit="snapshot") as stage:
        for t in range(len(steps)):
            at = snapshot_net(net, history, t)
            counts.append(lr.regions(at, grid.points).n_regions)
            if exact_too:
                exact.append(lr.arrangement_region_count(lr.first_layer_lines(at, rest), box))
            stage.advance(1)
    report.curves[f"{PREFIX}/training_regions"] = (steps, np.array(counts, float))
    curves = {f"grid {cfg.track_grid}²": np.array(counts)}
    if exact:
        report.curves[f"{PREFIX}/training_regions_exact"] = (steps, np.array(exact, float))
        curves["exact"] = np.array(exact)
    report.arrays["flow"].update({"track_step": steps, "track_regions": np.array(counts)})
    report.figures["region_count"] = Drawing(
        figures.region_count, (steps, curves), {"title": trained.title}
    )


def _explorer(trained: Trained, cfg: FlowConfig, names, x, box, limits) -> str:
    from toynets.explorer import flow_html

    data = trained.data
    show = np.linspace(0, len(data.x_train) - 1, min(300, len(data.x_train))).astype(int)
    return flow_html(
        trained.net,
        points=dict(zip(names, x[:, :2].tolist(), strict=True)),
        box=box,
        rest=rest_inputs(data),
        x_data=data.x_train[show],
        limits=limits,
        palette=cfg.palette,
        colour_norm=cfg.colour_norm,
        grid=cfg.explorer_grid,
        thumb=cfg.thumbnail_grid,
        title=trained.title,
    )
