"""Benchmark: K nets trained as one population against the same K nets one after another.

The nets are the §1 circle net (2 -> 20 relu -> 2 softmax, the default `circle` data of 1000
training points, Adam, batch 32, 20 epochs: 640 steps), K seeds (data, initial weights and
batch order differ). Both ways run in this process, the one-by-one way first without and then
with its compiled function warm (`fit` traces once per process; the population traces once
per population size), so the ratio compares training, not tracing. Checked: the population's
final test losses equal the one-by-one ones (rtol 1e-4).

    python benchmarks/bench_population.py             # K = 100, ~1 min on 2 cores
    python benchmarks/bench_population.py --k 20      # ~15 s
    python benchmarks/bench_population.py --json out.json
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL and sys.path must be set before the imports below)

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("toynets") is None:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))

import numpy as np
from _common import load_average, print_checks, write_json

from toynets import data as datasets
from toynets.config import DatasetConfig, ModelConfig, TrainConfig
from toynets.model import build
from toynets.train import Member, fit, fit_population, seed_everything

TARGET_SPEEDUP = 20.0  # issue 12: 100 nets as one population >= 20x one after another


def member(seed: int) -> Member:
    seed_everything(seed)
    data = datasets.make(DatasetConfig(), seed)
    model = build(ModelConfig(), 2, "softmax", 2, seed=seed)
    return Member(model, data, TrainConfig(progress=False), seed, "softmax")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--k", type=int, default=100, help="nets (default 100)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    k = args.k
    print(f"load average before: {load_average()[0]:.2f}")

    warm = member(0)
    t0 = time.perf_counter()
    fit(warm.model, warm.data, warm.cfg, "softmax", 0)
    first_fit = time.perf_counter() - t0

    one_by_one, seconds = [], []
    for seed in range(k):
        m = member(seed)
        t0 = time.perf_counter()
        one_by_one.append(fit(m.model, m.data, m.cfg, "softmax", seed).final()["final/test_loss"])
        seconds.append(time.perf_counter() - t0)
    sequential = float(np.sum(seconds))

    members = [member(seed) for seed in range(k)]
    t0 = time.perf_counter()
    results = fit_population(members)
    population = time.perf_counter() - t0
    together = [r.final()["final/test_loss"] for r in results]

    speedup = sequential / population
    print(f"first fit in this process (incl. tracing): {first_fit:.2f} s")
    print(f"{k} nets one after another: {sequential:.2f} s ({sequential / k * 1e3:.0f} ms each)")
    print(f"{k} nets as one population (incl. its tracing): {population:.2f} s")
    print(f"speed-up: {speedup:.1f}x (target >= {TARGET_SPEEDUP:g}x)")
    print(f"load average after: {load_average()[0]:.2f}")
    same = np.allclose(together, one_by_one, rtol=1e-4)
    print_checks({"population = one by one (final test loss)": same, "speed-up": speedup >= 20})
    if args.json:
        write_json(
            args.json,
            {
                "k": k,
                "first_fit_s": first_fit,
                "sequential_s": sequential,
                "population_s": population,
                "speedup": speedup,
            },
        )


if __name__ == "__main__":
    main()
