"""Write §1 of docs/reproduction.md from a sweep's runs, so the report cannot drift from them.

    toynets -m +experiment=node_removal_circle 'seed=range(5)' dataset.faithful=false,true \\
        hydra/launcher=joblib hydra.launcher.n_jobs=2
    python docs/render_reproduction.py                 # the newest sweep with the table
    python docs/render_reproduction.py SWEEP_RUN_ID --uri sqlite:///mlruns/mlflow.db

The table is the sweep parent's `tables/reproduction.csv` (what the MLflow UI shows); the
prose's numbers are computed here from it and from the sweep's child runs, and filled into
docs/templates/reproduction_node_removal.md. The result replaces what stands between the
`<!-- generated: node_removal -->` markers of the report (`--doc` names another file).
"""

from __future__ import annotations

import argparse
import itertools
import math
import shlex
import string
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from toynets import runs
from toynets.analysis.reproduction import group_label, source_of

DOCS = Path(__file__).resolve().parent
TEMPLATE = DOCS / "templates" / "reproduction_node_removal.md"
PREFIX = "node_removal/"
RULES = {"False": "intended rule", "True": "faithful rule"}


def number(value: float, digits: int = 3) -> str:
    """`digits` significant digits: 0.0923, 1.07, 969; whole numbers as such (8, not 8.00);
    below 1e-3 with an exponent (4.4e-17)."""
    if value == round(value) or not math.isfinite(value):
        return f"{value:.0f}" if math.isfinite(value) else f"{value}"
    if abs(value) < 1e-3:
        return f"{value:.{digits - 2}e}"
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:.0f}"
    places = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{places}f}"


def percent(value: float) -> str:
    return f"{value * 100:+.1f} %" if abs(value) < 0.01 else f"{value * 100:+.0f} %"


def cell(row: dict[str, str], group: str) -> str:
    """mean ± std (min – max) of a group's seeds; the value alone when every seed agrees."""
    seeds = int(row[f"{group} seeds"] or 0)
    if seeds == 0:
        return "—"
    mean, low, high = (float(row[f"{group} {s}"]) for s in ("mean", "min", "max"))
    if low == high:
        return number(mean)
    std = float(row[f"{group} std"])
    return f"{number(mean)} ± {number(std, 2)} ({number(low)} – {number(high)})"


def markdown_table(rows: list[dict[str, str]], groups: list[str]) -> str:
    names = [RULES.get(g.partition("=")[2], g) for g in groups]
    head = ["quantity", "source", *(f"ours, {n}" for n in names), "metric"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        said = "; ".join(s for s in (row["source"], row["claim"]) if s) or "—"
        metric = row["metric"].removeprefix(PREFIX)
        cells = [row["quantity"], said, *(cell(row, g) for g in groups), f"`{metric}`"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


class Seeds:
    """Per-seed values of the sweep's children, by rule: `of(metric, rule)` -> list."""

    def __init__(self, children: Any, keys: list[str]) -> None:
        self.by_rule: dict[str, list[dict[str, Any]]] = {}
        for child in children.to_dict("records"):
            params = {k: child.get(f"params.{k}") for k in keys}
            rule = group_label(params, ["dataset.faithful"]).partition("=")[2]
            self.by_rule.setdefault(rule, []).append(child)

    def of(self, metric: str, rule: str) -> list[float]:
        return [float(c[f"metrics.{PREFIX}{metric}"]) for c in self.by_rule[rule]]

    def count(self, metric: str, rule: str, test: Callable[[float], bool]) -> str:
        values = self.of(metric, rule)
        return _share(sum(test(v) for v in values), len(values))


def spread(values: list[float], show: Callable[[float], str] = number) -> str:
    low, high = min(values), max(values)
    return show(low) if low == high else f"{show(low)} to {show(high)}"


def facts(table: dict[str, dict[str, str]], seeds: Seeds, ps: list[float]) -> dict[str, str]:
    """The numbers the prose quotes, each computed from the runs."""
    out: dict[str, str] = {}

    def mean_std(metric: str, rule: str) -> str:
        row = table[PREFIX + metric]
        return cell(row, f"dataset.faithful={rule}")

    def source(metric: str) -> float:
        return float(table[PREFIX + metric]["source"])

    def relative(metric: str, rule: str) -> list[float]:
        return [v / source(metric) - 1 for v in seeds.of(metric, rule)]

    for rule, tag in (("False", "intended"), ("True", "faithful")):
        out[f"full_loss_{tag}"] = mean_std("full_loss", rule)
        out[f"full_accuracy_{tag}"] = mean_std("full_accuracy", rule)
        full = seeds.of("full_loss", rule)
        out[f"full_loss_below_{tag}"] = seeds.count(
            "full_loss", rule, lambda v: v < source("full_loss")
        )
        out[f"full_loss_range_{tag}"] = spread(full)
        for family in ("mean_loss", "std_log_loss", "std_grad", "std_log_grad"):
            values = [r for p in ps for r in relative(f"p{p}/{family}", rule)]
            out[f"{family}_vs_source_{tag}"] = spread(values, percent)
        n_seeds = len(full)
        by_seed = zip(*(seeds.of(f"p{p}/mean_loss", rule) for p in ps), strict=True)
        falling = [all(a > b for a, b in itertools.pairwise(means)) for means in by_seed]
        out[f"falling_{tag}"] = _share(sum(falling), n_seeds)
        errors = [
            abs(mc - exact) / (std / math.sqrt(1000))
            for p in ps
            for mc, exact, std in zip(
                seeds.of(f"p{p}/mean_loss", rule),
                seeds.of(f"p{p}/exact_mean_loss", rule),
                seeds.of(f"p{p}/std_loss", rule),
                strict=True,
            )
        ]
        out[f"exact_z_{tag}"] = f"{max(errors):.1f}"
        wider = [
            v > source(f"p{p}/{family}")
            for family in ("std_log_loss", "std_grad", "std_log_grad")
            for p in ps
            for v in seeds.of(f"p{p}/{family}", rule)
        ]
        out[f"wider_{tag}"] = f"{sum(wider)} of {len(wider)}"
        out[f"on_positive_{tag}"] = seeds.count("p0.5/log_grad_on_mean", rule, lambda v: v > 0)
        out[f"off_negative_{tag}"] = seeds.count("p0.5/log_grad_off_mean", rule, lambda v: v < 0)
        out[f"flips_later_{tag}"] = seeds.count("paths/decorrelation_flips", rule, lambda v: v > 6)
        grad_ratio = [
            v / source(f"p{p}/mean_grad") - 1 for p in ps for v in seeds.of(f"p{p}/mean_grad", rule)
        ]
        out[f"grad_mean_vs_source_{tag}"] = spread(grad_ratio, percent)
        out[f"grad_larger_{tag}"] = (
            "larger in magnitude at every p in every seed"
            if min(grad_ratio) > 0
            else "smaller in magnitude at every p in every seed"
            if max(grad_ratio) < 0
            else "on both sides of it"
        )
        single = [
            m / f - 1 for m, f in zip(seeds.of("single_removal/min_loss", rule), full, strict=True)
        ]
        out[f"cheapest_removal_{tag}"] = spread(single, percent)
        out[f"removal_helps_{tag}"] = _share(sum(v < 0 for v in single), n_seeds)
        out[f"on_mean_{tag}"] = mean_std("p0.5/log_grad_on_mean", rule)
        out[f"off_mean_{tag}"] = mean_std("p0.5/log_grad_off_mean", rule)
        sanity = [
            p / o
            for p, o in zip(
                seeds.of("sanity/p0.5/predicted", rule),
                seeds.of("sanity/p0.5/observed", rule),
                strict=True,
            )
        ]
        out[f"sanity_ratio_{tag}"] = spread(sanity, lambda v: f"{v:.2f}")
        skew = [v for p in ps for v in seeds.of(f"p{p}/skew_loss", rule)]
        out[f"skew_loss_{tag}"] = spread(skew)
        out[f"skew_loss_positive_{tag}"] = (
            "every p and every seed" if min(skew) > 0 else "not every p and seed"
        )
        for family in ("skew_log_loss", "kurtosis_log_loss", "kurtosis_grad"):
            values = [v for p in ps for v in seeds.of(f"p{p}/{family}", rule)]
            out[f"{family}_{tag}"] = spread(values)
        kurtosis = zip(*(seeds.of(f"p{p}/kurtosis_grad", rule) for p in ps), strict=True)
        heavy = [all(k > 0 for k in values) for values in kurtosis]
        out[f"heavy_tails_{tag}"] = _share(sum(heavy), n_seeds)
        out[f"flips_{tag}"] = mean_std("paths/decorrelation_flips", rule)
        out[f"complement_{tag}"] = spread(seeds.of("paths/complement_correlation", rule))
        out[f"complement_positive_{tag}"] = seeds.count(
            "paths/complement_correlation", rule, lambda v: v > 0
        )
        out[f"reversal_gap_{tag}"] = number(max(seeds.of("paths/reversal_gap", rule)), 2)
        out[f"positive_shapley_{tag}"] = mean_std("exact/positive_shapley_units", rule)
        out[f"positive_shapley_range_{tag}"] = spread(
            seeds.of("exact/positive_shapley_units", rule), lambda v: f"{v:.0f}"
        )
        gaps = seeds.of("exact/shapley_efficiency_gap", rule)
        out[f"efficiency_{tag}"] = f"{max(abs(v) for v in gaps):.0e}"
        out[f"seeds_{tag}"] = str(len(full))

    full_masks = table[PREFIX + "p0.75/full_masks"]
    expected_full = float(
        table[PREFIX + "p0.75/expected_full_masks"]["dataset.faithful=False mean"]
    )
    ours_full = float(full_masks["dataset.faithful=False mean"])
    out["full_masks"] = f"{ours_full:.0f}"
    out["expected_full_masks"] = number(expected_full)
    out["p_at_most_ours"] = f"{poisson_cdf(int(ours_full), expected_full):.2f}"
    out["p_at_least_source"] = (
        f"{1 - poisson_cdf(int(source('p0.75/full_masks')) - 1, expected_full):.2f}"
    )
    distinct = float(table[PREFIX + "p0.75/distinct_masks"]["dataset.faithful=False mean"])
    expected = float(table[PREFIX + "p0.75/expected_distinct_masks"]["dataset.faithful=False mean"])
    sd = float(table[PREFIX + "p0.75/expected_distinct_masks_std"]["dataset.faithful=False mean"])
    out["distinct"] = f"{distinct:.0f}"
    out["expected_distinct"] = f"{expected:.0f} ± {sd:.0f}"
    out["distinct_z"] = f"{(distinct - expected) / sd:+.1f}"
    out["source_distinct_z"] = f"{(source('p0.75/distinct_masks') - expected) / sd:+.1f}"
    return out


def _share(hits: int, total: int) -> str:
    if hits == 0:
        return "no seed"
    return "every seed" if hits == total else f"{hits} of {total} seeds"


def poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k) for X ~ Poisson(mean)."""
    return sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k + 1))


def newest_sweep(uri: str | None) -> str:
    found = runs.find(study="node_removal", uri=uri, role="sweep", status="FINISHED")
    for run_id in found["run_id"]:
        try:
            runs.download(run_id, "tables/reproduction.csv", uri=uri)
        except runs.RunNotFound:
            continue
        return str(run_id)
    raise SystemExit("no finished node_removal sweep with tables/reproduction.csv in the store")


def render(sweep_id: str, uri: str | None) -> str:
    import csv

    parent = runs.get_run(sweep_id, uri)
    path = runs.download(sweep_id, "tables/reproduction.csv", uri=uri)
    rows = list(csv.DictReader(path.open()))
    groups = [c.removesuffix(" mean") for c in rows[0] if c.endswith(" mean")]
    if groups != ["dataset.faithful=False", "dataset.faithful=True"]:
        raise SystemExit(f"the sweep must compare dataset.faithful=false,true; it has {groups}")
    children = runs.find(
        uri=uri, filter=f"tags.`mlflow.parentRunId` = '{sweep_id}'", status="FINISHED"
    )
    source = source_of("node_removal")
    assert source is not None
    in_setting = children[[not source.differences(_params(c)) for c in children.to_dict("records")]]
    seeds = Seeds(in_setting, ["dataset.faithful"])
    ps = [0.25, 0.5, 0.75]
    values = facts({r["metric"]: r for r in rows}, seeds, ps)
    values.update(
        table=markdown_table(rows, groups),
        overrides=" ".join(shlex.quote(o) for o in parent.data.tags.get("overrides", "").split()),
        launcher=parent.data.tags.get("sweep.launcher", ""),
        sweep=sweep_id,
        date=_day(parent.info.start_time),
        commit=_commit(),
        wall=f"{(parent.info.end_time - parent.info.start_time) / 1000:.0f} s",
    )
    return string.Template(TEMPLATE.read_text()).substitute(values)


def _params(child: dict[str, Any]) -> dict[str, Any]:
    return {k[len("params.") :]: v for k, v in child.items() if k.startswith("params.")}


def _day(milliseconds: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(milliseconds / 1000, datetime.UTC).strftime("%Y-%m-%d")


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(DOCS), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def replace_section(document: str, section: str, name: str = "node_removal") -> str:
    """`section` in place of what stands between the `<!-- generated: name -->` markers."""
    begin, end = f"<!-- generated: {name} -->", f"<!-- end generated: {name} -->"
    if begin not in document or end not in document:
        raise SystemExit(f"the document has no {begin} ... {end} markers")
    before, _, rest = document.partition(begin)
    _, _, after = rest.partition(end)
    return f"{before}{begin}\n{section.strip()}\n{end}{after}"


def sweep_main(
    argv: list[str] | None,
    description: str,
    newest: Callable[[str | None], str],
    render_sweep: Callable[[str, str | None], str],
    name: str,
    section: str,
) -> int:
    """The command line of a script that writes one section from a sweep: `[SWEEP] [--uri]
    [--doc]`; the sweep defaults to `newest(uri)`, the section (between `name`'s markers) is
    `render_sweep(sweep, uri)`."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("sweep", nargs="?", help="the sweep's parent run id (default: newest)")
    parser.add_argument("--uri", help="tracking store (default: as toynets: mlruns/mlflow.db)")
    parser.add_argument("--doc", type=Path, default=DOCS / "reproduction.md")
    args = parser.parse_args(argv)
    sweep = args.sweep or newest(args.uri)
    text = render_sweep(sweep, args.uri)
    args.doc.write_text(replace_section(args.doc.read_text(), text, name))
    print(f"{args.doc}: {section} written from sweep {sweep}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return sweep_main(argv, __doc__, newest_sweep, render, "node_removal", "§1")


if __name__ == "__main__":
    sys.exit(main())
