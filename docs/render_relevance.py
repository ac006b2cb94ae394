"""Write the relevance method tables of docs/relevance.md (from the code's own `METHODS`) and
§2 of docs/reproduction.md (from a sweep's runs), so neither can drift.

    for e in circle halfplane maxout; do
        toynets -m +experiment=relevance_$e 'seed=range(5)' hydra/launcher=joblib \\
            hydra.launcher.n_jobs=2
    done
    python docs/render_relevance.py                    # the newest sweep of each experiment
    python docs/render_relevance.py SWEEP_ID ... --uri sqlite:///mlruns/mlflow.db

Every number of §2 is a mean ± std (min – max) over the seeds of one experiment, read from the
child runs' metrics, their `tables/epsilon_sweep.csv` and `data/relevance.npz`; the prose is
docs/templates/reproduction_relevance.md with those numbers filled in.
"""

from __future__ import annotations

import argparse
import csv
import string
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from toynets import runs
from toynets.analysis import relevance as rel

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))
from render_reproduction import _commit, _day, number, replace_section  # noqa: E402

TEMPLATE = DOCS / "templates" / "reproduction_relevance.md"
PREFIX = "relevance/"
EXPERIMENTS = {"circle relu": "circle", "halfplane relu": "halfplane", "circle maxout": "maxout"}


def method_table() -> str:
    """§2's rule tables for every method: the rule per layer type, where it starts, what it
    conserves, the activations it is defined for."""
    head = [
        "method",
        "what",
        "matrix",
        "nonlinearity",
        "maximum",
        "starts from",
        "conserves",
        "source",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for m in rel.METHODS.values():
        start = (
            "1 (then × input)"
            if m.scale in ("input", "value")
            else (
                "1 (then × (x − baseline))"
                if m.scale == "delta"
                else "1"
                if m.start == "one"
                else "f(x)"
            )
        )
        cells = [
            f"`{m.name}`",
            m.summary,
            m.matrix.replace("_", " "),
            m.nonlinearity,
            m.maximum,
            start,
            m.conserves or "—",
            m.reference,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def validity_table() -> str:
    """Which method runs on which hidden activation."""
    head = ["method", *rel.ACTIVATIONS]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for m in rel.METHODS.values():
        marks = ["yes" if a in m.activations else "refused" for a in rel.ACTIVATIONS]
        lines.append("| " + " | ".join([f"`{m.name}`", *marks]) + " |")
    return "\n".join(lines)


def stats(values: list[float], digits: int = 3) -> str:
    """mean ± std (min – max) over seeds; the value alone when they all agree."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return "—"
    if v.min() == v.max():
        return number(float(v[0]), digits)
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return (
        f"{number(float(v.mean()), digits)} ± {number(std, 2)} "
        f"({number(float(v.min()), digits)} – {number(float(v.max()), digits)})"
    )


def children_by_experiment(
    sweeps: list[str], uri: str | None
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """The FINISHED jobs of each experiment (by dataset and activation), from the first of
    `sweeps` (newest first) that has it; and the sweep each came from."""
    groups: dict[str, list[dict[str, Any]]] = {}
    origin: dict[str, str] = {}
    for sweep in sweeps:
        found = runs.find(
            uri=uri, filter=f"tags.`mlflow.parentRunId` = '{sweep}'", status="FINISHED"
        )
        mine: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for child in found.to_dict("records"):
            key = f"{child['params.dataset.name']} {child['params.model.activation']}"
            if key in EXPERIMENTS:
                mine[EXPERIMENTS[key]].append(child)
        for group, children in mine.items():
            if group not in groups:
                groups[group], origin[group] = children, sweep
    return groups, origin


def facts(groups: dict[str, list[dict[str, Any]]], uri: str | None) -> dict[str, str]:
    out: dict[str, str] = {}

    def metric(group: str, name: str) -> list[float]:
        return [float(c.get(f"metrics.{PREFIX}{name}", np.nan)) for c in groups[group]]

    for group in ("circle", "halfplane", "maxout"):
        out[f"seeds_{group}"] = str(len(groups[group]))
        accuracy = [float(c["metrics.final/test_accuracy"]) for c in groups[group]]
        out[f"accuracy_{group}"] = stats(accuracy)
        for m in ("blame_bias", "lrp_q", "deeplift", "fullgrad", "lrp0"):
            errors = metric(group, f"{m}/conservation_max_error")
            out[f"conservation_{m}_{group}"] = f"{max(errors):.1e}"
        out[f"qform_{group}"] = f"{max(metric(group, 'lrp_q/max_difference_to_lrp0')):.1e}"
        out[f"mostly_{group}"] = stats([100 * v for v in metric(group, "mostly_bias_fraction")])
        out[f"fraction_{group}"] = stats(metric(group, "bias_fraction_median"))
        for m in ("lrp_conserving", "lrp_epsilon", "deeplift"):
            for where in ("mostly_bias", "rest"):
                out[f"up_{m}_{where}_{group}"] = stats(
                    metric(group, f"{m}/scale_up_median_{where}")
                )
        gap = max(metric(group, "lrp0/max_difference_to_gradient_x_input"))
        out[f"lrp0_gxi_{group}"] = f"{gap:.1e}"
    sweeps = defaultdict(list)
    for child in groups["circle"]:
        path = runs.download(child["run_id"], "tables/epsilon_sweep.csv", uri=uri)
        for row in csv.DictReader(path.open()):
            sweeps[(row["method"], float(row["epsilon"]))].append(float(row["max_abs_relevance"]))
    blame = []
    for child in groups["circle"]:
        data = np.load(runs.download(child["run_id"], "data/relevance.npz", uri=uri))
        blame.append(float(np.abs(data["R_blame_bias"]).max()))
    out["max_blame_circle"] = stats(blame)
    for (method, eps), values in sorted(sweeps.items()):
        out[f"sweep_{method}_{eps:g}".replace(".", "_").replace("-", "m")] = stats(values)
    for method in rel.METHODS:
        out[f"x1_{method}"] = stats(metric("halfplane", f"{method}/x1_share"))
        out[f"aopc_{method}"] = stats(metric("halfplane", f"{method}/aopc_morf"), 4)
    best_in: dict[str, int] = defaultdict(int)
    for child in groups["halfplane"]:
        values = {
            m: float(child.get(f"metrics.{PREFIX}{m}/aopc_morf", np.nan)) for m in rel.METHODS
        }
        top = max(v for v in values.values() if np.isfinite(v))
        for m, v in values.items():
            best_in[m] += bool(v >= top - 1e-6)
    ranked = sorted(best_in.items(), key=lambda item: -item[1])
    out["aopc_best"] = "; ".join(
        f"`{m}` in {n} of {len(groups['halfplane'])}" for m, n in ranked if n
    )
    out["aopc_random"] = stats(metric("halfplane", "aopc_random"), 4)
    return out


def relevance_sweeps(uri: str | None) -> list[str]:
    found = runs.find(study="relevance", uri=uri, role="sweep", status="FINISHED")
    if found.empty:
        raise SystemExit("no finished relevance sweep in the store; run the sweeps above first")
    return [str(r) for r in found["run_id"]]


def render(sweeps: list[str], uri: str | None) -> str:
    groups, origin = children_by_experiment(sweeps, uri)
    missing = [g for g in EXPERIMENTS.values() if not groups.get(g)]
    if missing:
        raise SystemExit(f"no finished relevance_{', relevance_'.join(missing)} sweep found")
    values = facts(groups, uri)
    parents = {g: runs.get_run(origin[g], uri) for g in origin}
    values.update(
        sweeps=", ".join(f"`{origin[g]}` ({g})" for g in EXPERIMENTS.values()),
        date=max(_day(p.info.start_time) for p in parents.values()),
        commit=_commit(),
        wall=" + ".join(
            f"{(p.info.end_time - p.info.start_time) / 1000:.0f} s" for p in parents.values()
        ),
    )
    return string.Template(TEMPLATE.read_text()).substitute(values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweeps", nargs="*", help="sweep parent run ids (default: the newest)")
    parser.add_argument("--uri", help="tracking store (default: as toynets: mlruns/mlflow.db)")
    parser.add_argument("--methods-only", action="store_true", help="only docs/relevance.md")
    args = parser.parse_args(argv)
    guide = DOCS / "relevance.md"
    text = guide.read_text()
    text = replace_section(text, method_table(), "methods")
    text = replace_section(text, validity_table(), "validity")
    guide.write_text(text)
    print(f"{guide}: method tables written")
    if not args.methods_only:
        sweeps = args.sweeps or relevance_sweeps(args.uri)
        report = DOCS / "reproduction.md"
        report.write_text(
            replace_section(report.read_text(), render(sweeps, args.uri), "relevance")
        )
        print(f"{report}: §2 written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
