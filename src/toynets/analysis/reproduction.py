"""A source document's numbers beside ours, over seeds: the reproduction table of a sweep.

A study that reproduces a source document declares a `Source`: the setting the source ran
(config keys and values, as toynets logs them as params) and its `Reference`s, each one of our
run metrics with the source's number or, where the source gives none, its claim in words.
`reproduction_table` takes the finished jobs of a sweep that are in that setting, groups them
by the swept keys other than the seed (e.g. `dataset.faithful`), and gives for each reference
the mean, the sample standard deviation (ddof 1), the min and max of the metric over the seeds
of each group, next to the source's value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from toynets.analysis.sweep import SEED_KEYS, finite, sort_values

STATISTICS = ("mean", "std", "min", "max", "seeds")  # the columns of each group, in order


def source_of(study: str) -> Source | None:
    """The source document `study` reproduces, if any: its setting and numbers, from the
    package's `assets/sources/<study>.yaml` (read without TensorFlow: a sweep's launching
    process calls this)."""
    path = resources.files("toynets") / "assets" / "sources" / f"{study}.yaml"
    if not path.is_file():
        return None
    return Source.from_dict(yaml.safe_load(path.read_bytes()))  # YAML is UTF-8


@dataclass(frozen=True)
class Reference:
    quantity: str  # in words, as the report's table names it
    metric: str  # our run metric
    source: float | None = None  # the source's number, when it gives one
    claim: str = ""  # what the source says in words (or where its number comes from)


@dataclass(frozen=True)
class Source:
    name: str  # e.g. "DIGEST §1"
    setting: Mapping[str, Any]  # config key -> value the source used (compared as logged)
    references: tuple[Reference, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Source:
        """From the YAML form: name, setting (key: value), references (list of quantity,
        metric, source, claim)."""
        return cls(
            name=str(data["name"]),
            setting=dict(data["setting"]),
            references=tuple(Reference(**item) for item in data["references"]),
        )

    def differences(self, params: Mapping[str, Any]) -> list[str]:
        """The setting's keys where `params` (a job's config, flattened) differ from it."""
        return [
            f"{key}={params.get(key)!s} (source: {value!s})"
            for key, value in self.setting.items()
            if str(params.get(key)) != str(value)
        ]


def group_label(row: Mapping[str, Any], keys: Sequence[str]) -> str:
    """`key=value ...` over `keys` ("all" when there are none)."""
    return " ".join(f"{k}={row.get(k)}" for k in keys) or "all"


def reproduction_table(
    rows: Sequence[Mapping[str, Any]], source: Source, swept: Sequence[str]
) -> dict[str, list]:
    """One row per reference: quantity, metric, source, claim, and per group of jobs
    `<group> mean|std|min|max|seeds` over the jobs' values of the metric (std: ddof 1, empty
    for one seed). Groups are the values of the swept keys, seeds aside, that vary among the
    jobs (`dataset.faithful=False`), or `all`. `rows` are the jobs to compare (FINISHED, in
    the source's setting): dicts of swept keys and metric values."""
    keys = [k for k in swept if k not in SEED_KEYS and len({str(r.get(k)) for r in rows}) > 1]
    groups = sort_values([group_label(r, keys) for r in rows])
    table: dict[str, list] = {"quantity": [], "metric": [], "source": [], "claim": []}
    for group in groups:
        for statistic in STATISTICS:
            table[f"{group} {statistic}"] = []
    for reference in source.references:
        table["quantity"].append(reference.quantity)
        table["metric"].append(reference.metric)
        table["source"].append(reference.source if reference.source is not None else "")
        table["claim"].append(reference.claim)
        for group in groups:
            values = [
                float(r[reference.metric])
                for r in rows
                if group_label(r, keys) == group and finite(r.get(reference.metric))
            ]
            for statistic, value in summary(values).items():
                table[f"{group} {statistic}"].append(value)
    return table


def summary(values: Sequence[float]) -> dict[str, Any]:
    """mean, std (ddof 1), min, max and the number of `values` ("seeds"); empty cells where
    undefined (no values; the std of one)."""
    n = len(values)
    if n == 0:
        return {"mean": "", "std": "", "min": "", "max": "", "seeds": 0}
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else ""
    return {"mean": mean, "std": std, "min": min(values), "max": max(values), "seeds": n}
