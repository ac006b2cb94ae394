"""Write §5 of docs/reproduction.md from a sweep of §5's two experiments, so the report cannot
drift from the runs.

    toynets -m +experiment=weight_evolution_halfplane,weight_evolution_sine 'seed=range(5)'
    python docs/render_weight_evolution.py                 # the newest such sweep
    python docs/render_weight_evolution.py SWEEP_RUN_ID --uri sqlite:///mlruns/mlflow.db

The sweep's FINISHED child runs are grouped by dataset (halfplane, sine); every number is a
mean ± std (min – max) over the seeds: the cost at step 0 and at the end (the `train/loss`
history), the accuracies (run metrics), the chosen weights and the rest (each run's
`weights/snapshots.npz`), the movie's frames (its GIF), and on the half-plane the random walk
against Adam (`tables/optimizers.csv`). Filled into docs/templates/reproduction_weight_evolution.md,
between the `<!-- generated: weight_evolution -->` markers.
"""

from __future__ import annotations

import string
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from toynets import runs
from toynets.analysis import weight_evolution as evolution

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))
from render_pruning import spread  # noqa: E402
from render_reproduction import number, sweep_main  # noqa: E402

TEMPLATE = DOCS / "templates" / "reproduction_weight_evolution.md"
COMMAND = "toynets -m +experiment=weight_evolution_halfplane,weight_evolution_sine 'seed=range(5)'"
STUDY = "weight_evolution"
# §5's numbers: dataset -> (cost at step 0, cost at the end, train accuracy, test accuracy)
SOURCE = {
    "halfplane": (4.3329387, 0.035131622, 1.0, 0.995),
    "sine": (1.3417832, 0.2209907, 0.890625, 0.85),
}


def newest_sweep(uri: str | None) -> str:
    sweeps = runs.find(STUDY, uri=uri, role="sweep")
    if sweeps.empty:
        raise SystemExit(f"no weight_evolution sweep in the store; run:\n  {COMMAND}")
    return str(sweeps.run_id.iloc[0])


def children(sweep: str, uri: str | None) -> dict[str, pd.DataFrame]:
    """The sweep's FINISHED jobs, by dataset."""
    jobs = runs.find(
        STUDY, uri=uri, status="FINISHED", filter=f"tags.`mlflow.parentRunId` = '{sweep}'"
    )
    out = {}
    for name in SOURCE:
        rows = jobs[jobs["params.dataset.name"] == name]
        if rows.empty:
            raise SystemExit(f"sweep {sweep} has no finished {name} job; run:\n  {COMMAND}")
        out[name] = rows.sort_values("seed")
    return out


def run_facts(run_id: str, uri: str | None, folder: Path) -> dict[str, float]:
    """One run's numbers: its cost at step 0, its weights at the start and the end, its movie."""
    _, loss = runs.history(run_id, "train/loss", uri)
    snapshots = np.load(runs.download(run_id, "weights/snapshots.npz", folder / run_id, uri))
    W0 = snapshots["W0"][:, :, 0]  # [T, 15]: every weight into the logit
    rest = np.abs(W0[:, 2:])
    gif = runs.download(run_id, "figures/weights_W0.gif", folder / run_id, uri)
    with Image.open(gif) as movie:
        frames = movie.n_frames
    mean = evolution.mean_of_rest(W0, [0, 1])
    source = evolution.source_average_of_rest(W0, [0, 1])
    bias = float(snapshots["b0"][-1, 0])
    return {
        "boundary": -bias / float(W0[-1, 0]),
        "start_cost": float(loss[0]),
        "snapshots": float(len(snapshots["step"])),
        "frames": float(frames),
        "gif_mb": gif.stat().st_size / 1e6,
        "w1_start": float(W0[0, 0]),
        "w1_end": float(W0[-1, 0]),
        "w2_start": float(abs(W0[0, 1])),
        "w2_end": float(abs(W0[-1, 1])),
        "rest_abs_start": float(rest[0].mean()),
        "rest_abs_end": float(rest[-1].mean()),
        "rest_mean_end": float(mean[-1]),
        "source_ratio": round(float(source[-1] / mean[-1]), 6) if mean[-1] else float("nan"),
    }


def optimizer_rows(run_ids: list[str], uri: str | None, folder: Path) -> pd.DataFrame:
    tables = []
    for run_id in run_ids:
        table = pd.read_csv(runs.download(run_id, "tables/optimizers.csv", folder / run_id, uri))
        tables.append(table.assign(run_id=run_id))
    return pd.concat(tables, ignore_index=True)


def seed_table(rows: pd.DataFrame, facts: list[dict[str, float]]) -> str:
    lines = [
        "| seed | cost at step 0 | final cost | train accuracy | test accuracy | w(x1) | "
        "\\|w(x2)\\| | mean \\|w\\| of the 13 others | boundary on the x1 axis, -b / w(x1) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (_, row), fact in zip(rows.iterrows(), facts, strict=True):
        lines.append(
            f"| {int(row['seed'])} | {number(fact['start_cost'])} | "
            f"{number(row['metrics.final/train_loss'])} | "
            f"{number(row['metrics.final/train_accuracy'])} | "
            f"{number(row['metrics.final/test_accuracy'])} | "
            f"{number(fact['w1_start'])} → {number(fact['w1_end'])} | "
            f"{number(fact['w2_start'])} → {number(fact['w2_end'])} | "
            f"{number(fact['rest_abs_start'])} → {number(fact['rest_abs_end'])} | "
            f"{number(fact['boundary'])} |"
        )
    return "\n".join(lines)


def count(flags: list[bool]) -> str:
    return f"{sum(flags)} of {len(flags)} seeds"


def place(values, source: float) -> str:
    """Where the source's number lies against the seeds' range."""
    v = np.asarray(values, float)
    if source > v.max():
        return f"above every seed's ({number(float(v.max()))} at most)"
    if source < v.min():
        return f"below every seed's ({number(float(v.min()))} at least)"
    return "within the seeds' range"


def render(sweep: str, uri: str | None) -> str:
    jobs = children(sweep, uri)
    out: dict[str, str] = {"command": COMMAND, "sweep": sweep}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        facts = {
            name: [run_facts(r, uri, folder) for r in rows.run_id] for name, rows in jobs.items()
        }
        walk = optimizer_rows(list(jobs["halfplane"].run_id), uri, folder)
    for name, rows in jobs.items():
        start, end, train, test = SOURCE[name]
        f = facts[name]
        out[f"{name}_seeds"] = str(len(rows))
        out[f"{name}_source"] = (
            f"{number(start)} → {number(end)}, accuracy {number(train)} / {number(test)}"
        )
        out[f"{name}_start"] = spread([x["start_cost"] for x in f])
        out[f"{name}_end"] = spread(rows["metrics.final/train_loss"])
        out[f"{name}_train"] = spread(rows["metrics.final/train_accuracy"])
        out[f"{name}_test"] = spread(rows["metrics.final/test_accuracy"])
        out[f"{name}_table"] = seed_table(rows, f)
        out[f"{name}_w1_grows"] = count([x["w1_end"] > max(x["w1_start"], 0) for x in f])
        out[f"{name}_w2_shrinks"] = count([x["w2_end"] < x["w2_start"] for x in f])
        out[f"{name}_rest_grows"] = count([x["rest_abs_end"] > x["rest_abs_start"] for x in f])
        out[f"{name}_rest_end"] = spread([x["rest_abs_end"] for x in f])
        out[f"{name}_w1_end"] = spread([x["w1_end"] for x in f])
        out[f"{name}_start_place"] = place([x["start_cost"] for x in f], start)
        out[f"{name}_end_place"] = place(rows["metrics.final/train_loss"], end)
        out[f"{name}_train_place"] = place(rows["metrics.final/train_accuracy"], train)
        out[f"{name}_test_place"] = place(rows["metrics.final/test_accuracy"], test)
        out[f"{name}_boundary"] = spread([x["boundary"] for x in f])
    half = facts["halfplane"]
    out["seed_list"] = ", ".join(str(int(s)) for s in jobs["halfplane"]["seed"])
    out["snapshots"] = spread([x["snapshots"] for x in half])
    out["frames"] = spread([x["frames"] for x in half])
    out["gif_mb"] = spread([x["gif_mb"] for x in half])
    out["source_ratio"] = spread(
        [x["source_ratio"] for x in half if np.isfinite(x["source_ratio"])]
    )
    wrong = (1 - jobs["halfplane"]["metrics.final/train_accuracy"].to_numpy(float)) * 800
    out["wrong"] = spread(np.round(wrong))
    out["train_perfect"] = count(
        [x == 1.0 for x in jobs["halfplane"]["metrics.final/train_accuracy"]]
    )
    out["test_099"] = count([x >= 0.99 for x in jobs["halfplane"]["metrics.final/test_accuracy"]])
    adam = walk[walk.optimizer == "adam"]
    rw = walk[walk.optimizer == "random_walk"]
    out["rw_lr"] = f"{float(rw.lr.iloc[0]):g}"
    out["adam_loss"] = spread(adam.train_loss)
    out["rw_loss"] = spread(rw.train_loss)
    out["adam_rate"] = spread(adam.steps_per_second / 1000)
    out["rw_rate"] = spread(rw.steps_per_second / 1000)
    out["adam_test"] = spread(adam.test_accuracy)
    out["rw_test"] = spread(rw.test_accuracy)
    lower = [float(r) < float(a) for r, a in zip(rw.train_loss, adam.train_loss, strict=True)]
    out["rw_lower"] = count(lower)
    text = string.Template(TEMPLATE.read_text()).substitute(out)
    return text


def main(argv: list[str] | None = None) -> int:
    return sweep_main(argv, __doc__, newest_sweep, render, "weight_evolution", "§5")


if __name__ == "__main__":
    sys.exit(main())
