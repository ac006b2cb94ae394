"""The reproduction table of a sweep: a source's numbers beside the mean, std (ddof 1), min and
max over seeds of the jobs in its setting, per group of the other swept keys."""

from __future__ import annotations

import csv
import io
import math
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import PROJECT_ROOT, run_cli
from toynets.analysis.reproduction import Reference, Source, reproduction_table, source_of

TOY = Source(
    name="toy",
    setting={"model.hidden": [20], "train.lr": 0.01, "dataset.faithful": False},
    references=(Reference("loss", "m/loss", 0.5), Reference("flips", "m/flips", claim="5-6")),
)


def test_the_table_summarises_each_group_over_its_seeds() -> None:
    rows = [
        {"seed": "0", "dataset.faithful": "False", "m/loss": 0.4, "m/flips": 7.0},
        {"seed": "1", "dataset.faithful": "False", "m/loss": 0.7, "m/flips": 9.0},
        {"seed": "2", "dataset.faithful": "False", "m/loss": 0.4, "m/flips": 8.0},
        {"seed": "0", "dataset.faithful": "True", "m/loss": 0.2, "m/flips": float("nan")},
    ]
    table = reproduction_table(rows, TOY, ["seed", "dataset.faithful"])
    assert table["quantity"] == ["loss", "flips"] and table["source"] == [0.5, ""]
    assert table["claim"] == ["", "5-6"]
    intended = "dataset.faithful=False"
    assert table[f"{intended} mean"][0] == pytest.approx(0.5)
    # sample std: sqrt(((-0.1)^2 + 0.2^2 + (-0.1)^2) / 2) = sqrt(0.03)
    assert table[f"{intended} std"][0] == pytest.approx(math.sqrt(0.03))
    assert table[f"{intended} min"][0] == 0.4 and table[f"{intended} max"][0] == 0.7
    assert table[f"{intended} seeds"] == [3, 3]
    assert table[f"{intended} std"][1] == pytest.approx(1.0)
    faithful = "dataset.faithful=True"
    assert table[f"{faithful} mean"] == [0.2, ""]  # a NaN is no value
    assert table[f"{faithful} std"] == ["", ""]  # one seed has no spread
    assert table[f"{faithful} seeds"] == [1, 0]
    assert table[f"{faithful} min"][1] == "" and table[f"{faithful} max"][1] == ""
    assert table["metric"] == ["m/loss", "m/flips"]
    alone = reproduction_table(rows[:2], TOY, ["seed"])
    assert alone["all mean"][0] == pytest.approx(0.55)
    assert alone["all std"][0] == pytest.approx(math.sqrt(0.045))  # two seeds have a spread


def test_groups_are_the_swept_keys_that_vary() -> None:
    """A swept key with one value among the compared jobs names no group; two that vary
    name each group together."""
    rows = [
        {"seed": s, "train.lr": "0.01", "a": a, "b": b, "m/loss": 1.0}
        for s in ("0", "1")
        for a in ("x", "y")
        for b in ("1", "2")
    ]
    table = reproduction_table(rows, TOY, ["seed", "train.lr", "a", "b"])
    means = [c.removesuffix(" mean") for c in table if c.endswith(" mean")]
    assert means == ["a=x b=1", "a=x b=2", "a=y b=1", "a=y b=2"]
    assert table["a=x b=1 seeds"] == [2, 0]


def test_a_job_outside_the_setting_is_named_by_what_differs() -> None:
    logged = {"model.hidden": "[20]", "train.lr": "0.01", "dataset.faithful": "False"}
    assert TOY.differences(logged) == []
    assert TOY.differences({**logged, "train.lr": "0.02"}) == ["train.lr=0.02 (source: 0.01)"]
    assert TOY.differences({**logged, "model.hidden": "[20, 20]"})
    assert TOY.differences({k: v for k, v in logged.items() if k != "train.lr"})


def test_node_removal_declares_section_1() -> None:
    """The node-removal study's source: DIGEST §1's numbers, each for a metric the study logs
    (test_node_removal_numbers checks those metrics)."""
    source = source_of("node_removal")
    assert source is not None and source.name == "DIGEST §1" and source_of("train") is None
    numbers = {r.metric.removeprefix("node_removal/"): r.source for r in source.references}
    assert numbers["full_loss"] == 0.117
    assert numbers["p0.75/mean_loss"] == 0.5844 and numbers["p0.25/std_log_loss"] == 0.4478
    assert numbers["p0.75/distinct_masks"] == 952 and numbers["p0.5/log_grad_off_mean"] == -0.1726
    assert numbers["sanity/p0.5/predicted"] == -0.475
    assert len(numbers) == len(source.references)  # one row per metric
    assert source.setting["model.hidden"] == [20] and source.setting["study.mc_seed"] == 17


CHEAP = [  # §1's setting, with the study's costly parts made small (not part of the setting)
    "study.grid=16",
    "study.map_grid=12",
    "study.n_paths=100",
    "study.n_random_subsets=0",
    "tracking.log_model=false",
]


@pytest.mark.slow
def test_a_sweep_over_seeds_logs_the_reproduction_table(tmp_path: Path) -> None:
    """`toynets -m seed=0,1 dataset.faithful=false,true` in §1's setting, plus jobs outside it
    (lr 0.02): the parent's tables/reproduction.csv against the children's own metrics, and
    the report section docs/render_reproduction.py writes from them."""
    result = run_cli(
        "-m", "seed=0,1", "dataset.faithful=false,true", "train.lr=0.01,0.02", *CHEAP, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tables/reproduction.csv: DIGEST §1's numbers beside 4 job(s)" in result.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("node_removal")
    found = client.search_runs([experiment.experiment_id])
    parent = next(r for r in found if r.data.tags.get("toynets.role") == "sweep")
    path = client.download_artifacts(parent.info.run_id, "tables/reproduction.csv", str(tmp_path))
    rows = {r["metric"]: r for r in csv.DictReader(io.StringIO(Path(path).read_text()))}
    children = [r for r in found if r is not parent and r.data.params["train.lr"] == "0.01"]
    assert len(children) == 4
    for faithful in ("False", "True"):
        group = [r for r in children if r.data.params["dataset.faithful"] == faithful]
        for metric in ("node_removal/full_loss", "node_removal/p0.5/mean_grad"):
            values = [r.data.metrics[metric] for r in group]
            row = rows[metric]
            label = f"dataset.faithful={faithful}"
            assert float(row[f"{label} mean"]) == pytest.approx(statistics.mean(values), 1e-5)
            assert float(row[f"{label} std"]) == pytest.approx(statistics.stdev(values), 1e-5)
            assert float(row[f"{label} min"]) == pytest.approx(min(values), 1e-5)
            assert row[f"{label} seeds"] == "2"
    assert float(rows["node_removal/full_loss"]["source"]) == 0.117

    doc = tmp_path / "reproduction.md"
    doc.write_text(
        "# Report\n\n<!-- generated: node_removal -->\nstale section\n"
        "<!-- end generated: node_removal -->\n"
    )
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    script = PROJECT_ROOT / "docs" / "render_reproduction.py"
    made = subprocess.run(
        [sys.executable, str(script), "--uri", uri, "--doc", str(doc)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    text = doc.read_text()
    assert text.startswith("# Report") and "stale section" not in text and "$" not in text
    assert parent.info.run_id in text and "'seed=0,1'" not in text
    line = next(x for x in text.splitlines() if x.startswith("| full-net test loss |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == "0.117"
    for cell, faithful in zip(cells[2:4], ("False", "True"), strict=True):
        values = [
            r.data.metrics["node_removal/full_loss"]
            for r in children
            if r.data.params["dataset.faithful"] == faithful
        ]
        mean, _, std = cell.partition(" (")[0].partition(" ± ")
        assert float(mean) == pytest.approx(statistics.mean(values), rel=5e-3)
        assert float(std) == pytest.approx(statistics.stdev(values), rel=5e-2)
    assert "the source's 952 lies at z = -2.4" in text  # (952 - 966.19) / 6.01
