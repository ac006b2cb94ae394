"""Write §3 of docs/reproduction.md from pruning runs, so the report cannot drift from them.

    toynets +experiment=pruning_spiral study.seeds=5   # 5 seeds in one job (default 3)
    python docs/render_pruning.py                  # the newest FINISHED pruning_spiral run
    python docs/render_pruning.py RUN_ID ... --uri sqlite:///mlruns/mlflow.db

The rows of every given run's `tables/pruning.csv` and `tables/pruning_kernels.csv` are pooled
(a seed seen twice counts once); every number is a mean ± std (min – max) over the seeds,
filled into docs/templates/reproduction_pruning.md.
"""

from __future__ import annotations

import argparse
import string
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from toynets import runs

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))
from render_reproduction import number, replace_section  # noqa: E402

TEMPLATE = DOCS / "templates" / "reproduction_pruning.md"
FRACTION = 0.5


def spread(values: pd.Series | np.ndarray) -> str:
    """mean ± std (min – max) over seeds; the value alone when they agree."""
    v = np.asarray(values, float)
    if v.size == 1 or v.min() == v.max():
        return number(float(v.mean()))
    return (
        f"{number(float(v.mean()))} ± {number(float(v.std(ddof=1)), 2)} "
        f"({number(float(v.min()))} – {number(float(v.max()))})"
    )


def safe_fraction(table: pd.DataFrame, criterion: str, points: float = 0.02) -> str:
    """The largest swept fraction up to which `pruned` stays within `points` of `trained`
    (mean accuracy over seeds) at every swept fraction."""
    rows = table[table.criterion == criterion]
    means = rows.groupby(["condition", "fraction"]).test_accuracy.mean()
    safe = "none"
    for fraction in sorted(set(rows.fraction)):
        if means["pruned", fraction] < means["trained", fraction] - points:
            break
        safe = number(fraction)
    return safe


def first_verdict(first: pd.Series, pruned: pd.Series, margin: float = 0.05) -> str:
    """Whether every seed's pruned-first net beats its trained-then-pruned one by `margin`."""
    gap = (first - pruned).dropna()
    if len(gap) and (gap > margin).all():
        return f"Confirmed for random pruning, in every seed by more than {margin:g}"
    return f"Not in every seed for random pruning (smallest gain {number(float(gap.min()))})"


def std_verdict(pruned: pd.Series, trained: pd.Series, points: float = 0.02) -> str:
    """Whether std pruning of half the units stays within `points` of the trained accuracy
    (mean over seeds)."""
    if pruned.mean() >= trained.mean() - points:
        return f"Confirmed for this net, within {points:g} of the trained accuracy"
    return f"Not for this net, more than {points:g} below the trained accuracy"


def values(
    table: pd.DataFrame, condition: str, criterion: str | None = None, fraction: float = FRACTION
) -> pd.Series:
    rows = table[(table.condition == condition) & np.isclose(table.fraction, fraction)]
    if criterion is not None:
        rows = rows[rows.criterion == criterion]
    return rows.groupby("seed").test_accuracy.first()


def render(run_ids: list[str], uri: str | None) -> str:
    tables, kernels, commands = [], [], []
    for run_id in run_ids:
        run = runs.load(run_id, uri=uri)
        tables.append(run.table("pruning"))
        kernels.append(run.table("pruning_kernels"))
        commands.append(f"toynets {run.tags.get('overrides', '')}".strip())
    table = pd.concat(tables).drop_duplicates(["condition", "criterion", "fraction", "seed"])
    kernel = pd.concat(kernels).drop_duplicates(["criterion", "seed"])
    kernel = kernel[kernel.criterion.isin(["random", "activation_std"])]
    k = {c: kernel[kernel.criterion == c] for c in ("random", "activation_std")}
    correlation = k["activation_std"].correlation
    verdict = (
        "seen (every seed's correlation above 0.3)"
        if (correlation > 0.3).all()
        else f"weak here (correlation at most {number(float(correlation.max()))} in any seed)"
    )
    seeds = sorted(set(table.seed))
    fields = {
        "seeds": str(len(seeds)),
        "seed_list": ", ".join(str(s) for s in seeds),
        "runs": ", ".join(f"`{r}`" for r in run_ids),
        "command": "\n".join(dict.fromkeys(commands)),
        "trained": spread(values(table, "trained", "random")),
        "trained_min": number(float(values(table, "trained", "random").min())),
        "fresh": spread(values(table, "pruned_first_fresh", "random")),
        "std_safe_fraction": safe_fraction(table, "activation_std"),
        "std_tenth": spread(values(table, "pruned", "activation_std", 0.1)),
        "random_tenth": spread(values(table, "pruned", "random", 0.1)),
        "never_updated": spread(k["random"].groupby("seed").never_updated_trained.first()),
        "correlation_verdict": verdict,
        "first_verdict": first_verdict(
            values(table, "pruned_first", "random"), values(table, "pruned", "random")
        ),
        "std_verdict": std_verdict(
            values(table, "pruned", "activation_std"), values(table, "trained", "random")
        ),
    }
    for criterion in ("random", "activation_std"):
        fields[f"pruned_{criterion}"] = spread(values(table, "pruned", criterion))
        fields[f"finetuned_{criterion}"] = spread(values(table, "pruned_finetuned", criterion))
        fields[f"first_{criterion}"] = spread(values(table, "pruned_first", criterion))
        fields[f"unchanged_{criterion}"] = spread(k[criterion].unchanged)
        fields[f"correlation_{criterion}"] = spread(k[criterion].correlation)
        fields[f"shift_{criterion}"] = spread(k[criterion].shift_abs_median)
    return string.Template(TEMPLATE.read_text()).substitute(fields)


def newest_run(uri: str | None) -> list[str]:
    found = runs.find(study="pruning", uri=uri)
    found = found[(found.status == "FINISHED") & (found["params.dataset.name"] == "spiral")]
    found = found[found["params.model.hidden"] == "[50, 50]"]
    if found.empty:
        raise SystemExit("no FINISHED pruning_spiral run: run toynets +experiment=pruning_spiral")
    return [str(found.sort_values("start_time").iloc[-1].run_id)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="pruning run ids (default: the newest)")
    parser.add_argument("--uri", help="tracking store (default: as toynets: mlruns/mlflow.db)")
    parser.add_argument("--doc", type=Path, default=DOCS / "reproduction.md")
    args = parser.parse_args(argv)
    run_ids = args.runs or newest_run(args.uri)
    args.doc.write_text(replace_section(args.doc.read_text(), render(run_ids, args.uri), "pruning"))
    print(f"{args.doc}: §3 written from {', '.join(run_ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
