"""Write §4 of docs/reproduction.md from a sweep of §4's three nets, so the report cannot drift
from the runs.

    toynets -m +experiment=fcnn_prod,fcnn_prod_deep,fcnn_prod_sigmoid 'seed=range(5)'
    python docs/render_flow.py                      # the newest such sweep
    python docs/render_flow.py SWEEP_RUN_ID --uri sqlite:///mlruns/mlflow.db

The sweep's FINISHED child runs are grouped by net (model.hidden, model.activation); every
number is a mean ± std (min – max) over the seeds of a net: final losses (run metrics), region
counts (metrics and the `flow/training_regions*` histories), the zone maps of the 4-unit ReLU
net (each run's `tables/linear_regions.csv`) and the cell of the origin (from each run's
`weights/final.npz`: `toynets.analysis.linear_regions.cell_polygon`). Filled into
docs/templates/reproduction_flow.md, between the `<!-- generated: flow -->` markers.
"""

from __future__ import annotations

import string
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from toynets import runs
from toynets.analysis import linear_regions as lr
from toynets.net import Net

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))
from render_pruning import spread  # noqa: E402
from render_reproduction import number, sweep_main  # noqa: E402

TEMPLATE = DOCS / "templates" / "reproduction_flow.md"
COMMAND = "toynets -m +experiment=fcnn_prod,fcnn_prod_deep,fcnn_prod_sigmoid 'seed=range(5)'"
# §4's nets: (model.hidden as logged, activation) -> (name in the text, the source's loss)
NETS = {
    ("[4]", "relu"): ("relu", 0.00139),
    ("[5, 5]", "relu"): ("deep", 0.00035),
    ("[4]", "sigmoid"): ("sigmoid", 0.00594),
}
# §4's zones of the relu [4] net: point -> the source's (a1, a2, c) and its mask's active units
ZONES = {
    "centre": ((0.0, 0.0), (0.01618018, -0.01367438, -0.00330321), 2),
    "NE": ((1.0, 1.0), (0.22788628, 0.36691769, -0.33453995), 1),
    "NW": ((-1.0, 1.0), (0.23262142, -0.39528124, 0.35789349), 3),
    "N": ((0.0, 2.0), (0.44432752, -0.01468917, 0.02665675), 2),
}


def newest_sweep(uri: str | None) -> str:
    sweeps = runs.find("flow", uri=uri, role="sweep")
    if sweeps.empty:
        raise SystemExit(f"no flow sweep in the store; run:\n  {COMMAND}")
    return str(sweeps.run_id.iloc[0])


def children(sweep: str, uri: str | None) -> dict[str, pd.DataFrame]:
    """The sweep's FINISHED jobs, by net (NETS' names)."""
    jobs = runs.find(
        "flow", uri=uri, status="FINISHED", filter=f"tags.`mlflow.parentRunId` = '{sweep}'"
    )
    out = {}
    for (hidden, activation), (name, _) in NETS.items():
        rows = jobs[
            (jobs["params.model.hidden"] == hidden)
            & (jobs["params.model.activation"] == activation)
            & (jobs["params.dataset.name"] == "fcnn_prod")
        ]
        if rows.empty:
            raise SystemExit(f"sweep {sweep} has no finished {name} net; run:\n  {COMMAND}")
        out[name] = rows.sort_values("seed")
    return out


def ratio(values: np.ndarray, source: float) -> str:
    """Our values over the source's: the range over the seeds."""
    r = np.asarray(values, float) / source
    low, high = number(float(r.min()), 2), number(float(r.max()), 2)
    return f"{low}× – {high}×" if low != high else f"{low}×"


def order_verdict(medians: dict[str, float]) -> str:
    """Whether the medians over the seeds rank the nets as the source's losses do."""
    ours = sorted(medians, key=medians.get)
    source = sorted(medians, key=lambda name: dict(NETS.values())[name])
    words = {"relu": "the 4-unit ReLU net", "deep": "the deep net", "sigmoid": "the sigmoid net"}
    ranked = f"{words[ours[0]]} fits best and {words[ours[-1]]} worst"
    if ours == source:
        return f"By the median over the seeds {ranked}, as in the source"
    return f"By the median over the seeds {ranked}, unlike the source's ranking"


def growth_verdict(start: list[float], end: list[float]) -> str:
    """How far the region count moves from its start, over every seed."""
    factors = [max(e / s, s / e) for s, e in zip(start, end, strict=True)]
    worst = max(factors)
    same_order = (
        "the same order, as Hanin & Rolnick 2019 report"
        if worst < 10
        else ("not the same order, unlike what Hanin & Rolnick 2019 report")
    )
    return f"within a factor {number(worst, 2)} of where it starts in every seed ({same_order})"


def within(values: np.ndarray, source: float) -> str:
    v = np.asarray(values, float)
    below = int(np.sum(v <= source))
    return f"{below} of {len(v)} seeds at or below it" if below else "no seed reaches it"


def render(sweep: str, uri: str | None) -> str:
    nets = children(sweep, uri)
    out: dict[str, str] = {"command": COMMAND, "sweep": sweep}
    for (_, _), (name, source) in NETS.items():
        rows = nets[name]
        loss = rows["metrics.final/train_loss"].to_numpy(float)
        out[f"{name}_seeds"] = str(len(rows))
        out[f"{name}_source"] = number(source)
        out[f"{name}_loss"] = spread(loss)
        out[f"{name}_median"] = number(float(np.median(loss)))
        out[f"{name}_test"] = spread(rows["metrics.final/test_loss"].to_numpy(float))
        out[f"{name}_ratio"] = ratio(loss, source)
        out[f"{name}_within"] = within(loss, source)
        out[f"{name}_rmse"] = spread(rows["metrics.train/map_rmse"].to_numpy(float))
    out["seed_list"] = ", ".join(str(s) for s in nets["relu"].seed)
    medians = {n: float(np.median(nets[n]["metrics.final/train_loss"])) for n in nets}
    out["order_verdict"] = order_verdict(medians)
    starts, ends = [], []
    curves = (("relu", "flow/training_regions_exact"), ("deep", "flow/training_regions"))
    for name, metric in curves:
        start, end = [], []
        for run_id in nets[name].run_id:
            _, counts = runs.history(run_id, metric, uri)
            start.append(counts[0])
            end.append(counts[-1])
        out[f"{name}_regions_start"] = spread(np.array(start))
        out[f"{name}_regions_end"] = spread(np.array(end))
        starts += start
        ends += end
        if name == "relu":
            through_origin = all(c == 8 for c in start)
    out["growth_verdict"] = growth_verdict(starts, ends)
    out["init_note"] = (
        "in every seed: the biases start at zero, so the four lines all pass through the origin "
        "and cut the plane into 8 sectors"
        if through_origin
        else "(not all seeds start with the 8 sectors of four lines through the origin)"
    )
    out["relu_regions_grid"] = spread(nets["relu"]["metrics.flow/regions"].to_numpy(float))
    out["relu_regions_exact"] = spread(nets["relu"]["metrics.flow/regions_exact"].to_numpy(float))
    out["relu_regions_max"] = str(1 + 4 + 6)
    out["deep_regions"] = spread(nets["deep"]["metrics.flow/regions"].to_numpy(float))
    out["affine_error"] = (
        f"{max(nets[n]['metrics.flow/affine_max_error'].max() for n in ('relu', 'deep')):.0e}"
    )
    out["seed_table"] = seed_table(nets)
    out["worst_seeds"] = worst_seeds(nets)
    out.update(zones(nets["relu"], uri))
    return string.Template(TEMPLATE.read_text()).substitute(out)


def seed_table(nets: dict[str, pd.DataFrame]) -> str:
    """Per seed, the ReLU nets' final loss, regions and dead units (what a bad seed lacks)."""
    lines = [
        "| seed | 4-unit: loss | regions (exact) | dead units | deep: loss | regions (grid) "
        "| dead units |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    relu, deep = nets["relu"].set_index("seed"), nets["deep"].set_index("seed")
    for seed in relu.index.intersection(deep.index):
        cells = [seed]
        for rows, regions in ((relu, "flow/regions_exact"), (deep, "flow/regions")):
            row = rows.loc[seed]
            cells += [
                number(float(row["metrics.final/train_loss"])),
                f"{row[f'metrics.{regions}']:.0f}",
                f"{row['metrics.flow/dead_units']:.0f}",
            ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def worst_seeds(nets: dict[str, pd.DataFrame]) -> str:
    """What the seed with the largest loss of each ReLU net has that the others do not."""
    said = []
    for name, regions, words in (
        ("relu", "flow/regions_exact", "4-unit"),
        ("deep", "flow/regions", "deep"),
    ):
        rows = nets[name]
        worst = rows.loc[rows["metrics.final/train_loss"].idxmax()]
        fewest = worst[f"metrics.{regions}"] == rows[f"metrics.{regions}"].min()
        dead = int(worst["metrics.flow/dead_units"])
        facts = [
            f"{worst[f'metrics.{regions}']:.0f} regions"
            + (" (the fewest of its seeds)" if fewest else "")
        ]
        facts.append(f"{dead} dead unit{'s' if dead != 1 else ''}" if dead else "no dead unit")
        said.append(f"the worst {words} net (seed {worst.seed}) has {' and '.join(facts)}")
    return "; ".join(said)


def zones(rows: pd.DataFrame, uri: str | None) -> dict[str, str]:
    """The zone table of the relu [4] nets, and the cell of the origin."""
    maps: dict[str, list[np.ndarray]] = {zone: [] for zone in ZONES}
    active: dict[str, list[int]] = {zone: [] for zone in ZONES}
    diamonds, areas = 0, []
    with tempfile.TemporaryDirectory() as folder:
        for run_id in rows.run_id:
            table = pd.read_csv(
                runs.download(run_id, "tables/linear_regions.csv", Path(folder) / run_id, uri),
                dtype={"pattern": str},
            )
            for zone, (point, _, _) in ZONES.items():
                row = table[(table.x1 == point[0]) & (table.x2 == point[1])].iloc[0]
                maps[zone].append(row[["a1", "a2", "c"]].to_numpy(float))
                active[zone].append(str(row.pattern).count("1"))
            net = Net.load(runs.download(run_id, "weights/final.npz", Path(folder) / run_id, uri))
            lines = lr.first_layer_lines(net)
            cell = lr.cell_polygon(lines, [0.0, 0.0])
            if cell is not None and len(lr.sides(lines, cell)) == 4:
                diamonds += 1
                areas.append(lr.polygon_area(cell))
    lines_out = [
        "| zone | point | source: a1, a2, c | ours: a1 | ours: a2 | ours: c "
        "| tangent of x1 x2 / 4 | units on: source, ours |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for zone, ((x1, x2), source, on) in ZONES.items():
        ours = np.array(maps[zone])
        tangent = (x2 / 4 + 0.0, x1 / 4 + 0.0, -x1 * x2 / 4 + 0.0)  # + 0.0: no "-0"
        lines_out.append(
            f"| {zone} | ({number(x1)}, {number(x2)}) | "
            f"{', '.join(number(v) for v in source)} | "
            + " | ".join(spread(ours[:, k]) for k in range(3))
            + f" | {', '.join(number(v) for v in tangent)}"
            + f" | {on}, {spread(np.array(active[zone]))} |"
        )
    n = len(rows)
    return {
        "zone_table": "\n".join(lines_out),
        "diamonds": "every seed" if diamonds == n else f"{diamonds} of {n} seeds",
        "diamond_area": spread(np.array(areas)) if areas else "—",
    }


def main(argv: list[str] | None = None) -> int:
    return sweep_main(argv, __doc__, newest_sweep, render, "flow", "§4")


if __name__ == "__main__":
    sys.exit(main())
