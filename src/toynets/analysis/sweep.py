"""Summaries of a sweep: each final metric against each swept parameter.

Rows are plain dicts (one per job: swept parameter values as strings, metrics as floats). For
a parameter x and a metric y, jobs are grouped by the values of the *other* swept parameters
except the seed ("series"); within a series, the jobs sharing a value of x are summarised by
mean and standard deviation (ddof 0) of y, so the spread is the spread over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SEED_KEYS = ("seed", "dataset.seed", "model.seed", "train.seed")


@dataclass(frozen=True)
class Series:
    label: str  # "other=value ..." or "" for a single series
    x: list[str]  # the parameter's values, in sorted order
    mean: list[float]
    std: list[float]
    count: list[int]


def sort_values(values: Sequence[str]) -> list[str]:
    """Distinct values: numbers numerically (0.003 before 0.01), then lists of numbers by their
    numbers ([4] before [8] before [16] before [4, 4]: by length, then element by element),
    then the rest as text."""

    def key(v: str) -> tuple[int, tuple[float, ...], str]:
        try:
            return (0, (float(v),), v)
        except ValueError:
            pass
        inside = v.strip()
        if inside.startswith("[") and inside.endswith("]"):
            try:
                numbers = tuple(float(x) for x in inside[1:-1].split(",") if x.strip())
                return (1, (len(numbers), *numbers), v)
            except ValueError:
                pass
        return (2, (), v)

    return sorted(set(values), key=key)


def metric_by_param(
    rows: Sequence[dict[str, Any]],
    param: str,
    metric: str,
    swept: Sequence[str],
    max_series: int = 6,
) -> list[Series]:
    """Mean and std of `metric` per value of `param`, one series per combination of the other
    swept non-seed parameters (pooled into one series when there are more than `max_series`)."""
    others = [k for k in swept if k != param and k not in SEED_KEYS]
    usable = [r for r in rows if finite(r.get(metric)) and r.get(param) is not None]
    combos = sort_values([_combo(r, others) for r in usable]) if others else [""]
    if len(combos) > max_series:
        others, combos = [], [""]
    xs = sort_values([str(r[param]) for r in usable])
    series = []
    for combo in combos:
        members = [r for r in usable if _combo(r, others) == combo]
        x_used, means, stds, counts = [], [], [], []
        for x in xs:
            values = [float(r[metric]) for r in members if str(r[param]) == x]
            if not values:
                continue
            mean = sum(values) / len(values)
            x_used.append(x)
            means.append(mean)
            stds.append(math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)))
            counts.append(len(values))
        if x_used:
            series.append(Series(combo, x_used, means, stds, counts))
    return series


def best_row(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, Any] | None:
    """The row with the best finite `metric`: highest for accuracies, lowest otherwise."""
    usable = [r for r in rows if finite(r.get(metric))]
    if not usable:
        return None
    sign = -1.0 if "accuracy" in metric else 1.0
    return min(usable, key=lambda r: sign * float(r[metric]))


def _combo(row: dict[str, Any], keys: Sequence[str]) -> str:
    return " ".join(f"{k}={row.get(k)}" for k in keys)


def finite(value: Any) -> bool:
    """Whether `value` is a finite number (or a string of one)."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Gallery:
    """Where each job's picture goes in a sweep's gallery: `cells[(row, column)]` is the index
    of its job in the rows given to `gallery_layout`."""

    row_labels: list[str]
    column_labels: list[str]
    cells: dict[tuple[int, int], int]


def gallery_layout(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> Gallery:
    """A grid of a sweep's jobs by their swept values: a row per value of the first swept key
    (with any keys after the second joined to it), a column per value of the second, the
    seeds side by side within it. Values in `sort_values` order; a key that is not swept, or
    a sweep of seeds alone, gives a single row or column labelled ""."""
    seeds = [k for k in keys if k in SEED_KEYS]
    others = [k for k in keys if k not in SEED_KEYS]
    row_keys = others[:1] + others[2:]
    column_keys = others[1:2] + seeds

    def label(row: dict[str, Any], chosen: Sequence[str]) -> str:
        return " ".join(f"{k}={row.get(k)}" for k in chosen)

    def ordered(chosen: Sequence[str]) -> list[str]:
        combos = {tuple(str(r.get(k)) for k in chosen) for r in rows}
        ranks = [sort_values([c[p] for c in combos]) for p in range(len(chosen))]
        combos = sorted(combos, key=lambda c: [ranks[p].index(v) for p, v in enumerate(c)])
        pairs = [zip(chosen, c, strict=True) for c in combos]  # pragma: no mutate (same lengths)
        return [" ".join(f"{k}={v}" for k, v in pair) for pair in pairs]

    row_labels, column_labels = ordered(row_keys), ordered(column_keys)
    cells = {
        (row_labels.index(label(r, row_keys)), column_labels.index(label(r, column_keys))): i
        for i, r in enumerate(rows)
    }
    return Gallery(row_labels, column_labels, cells)
