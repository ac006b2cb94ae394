"""Benchmark: the pruning study of `+experiment=pruning_spiral` (all conditions, criteria and
fractions, 3 seeds), and its training as populations against the same nets one by one.

1. The whole study on the job's trained net, timed as `toynets` runs it (`studies.pruning.run`,
   figures not drawn: the render worker draws them in parallel). Target: job <= 90 s.
2. K pruned-first nets of the study (random criterion, fractions 0.1 .. 0.9, seeds 0 .. 2,
   padded to 50 units) trained as one population against the same K trained one after
   another with `fit` (its compiled function warm). Checked: the test losses agree within
   5 % (500 float32 steps of ReLU nets drift apart by round-off).

    python benchmarks/bench_pruning.py            # ~2 min on 2 cores
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL and sys.path must be set before the imports below)

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("toynets") is None:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np

from conftest import compose_config
from toynets import studies
from toynets.analysis import pruning as pr
from toynets.config import validate
from toynets.model import from_net, to_net
from toynets.pipeline import prepare, train_seed
from toynets.studies import pruning
from toynets.train import Member, fit, fit_population


def main() -> int:
    conf = validate(compose_config(["+experiment=pruning_spiral"]))
    data, head, model = prepare(conf)
    t = time.perf_counter()
    history = fit(model, data, conf.train, head, train_seed(conf))
    train_seconds = time.perf_counter() - t
    trained = studies.Trained(model, to_net(model), head, data, history, "bench", conf)
    t = time.perf_counter()
    pruning.run(trained, conf.study)
    study_seconds = time.perf_counter() - t
    print(f"job's training: {train_seconds:.1f} s; the study (all of it): {study_seconds:.1f} s")

    net, initial = trained.net, pruning.snapshot_net(trained.net, history, 0)
    starts = []
    for seed in range(3):
        order = pr.removal_order("random", net, data.x_train, rng=np.random.default_rng(seed))
        for f in np.arange(0.1, 0.95, 0.1):
            removed = pr.removed_units(order, [f, f])
            starts.append(pr.prune(initial, removed, pr.mean_activations(initial, data.x_train)))
    schedule = pruning.study_schedule(conf.train)
    seed = train_seed(conf)
    t = time.perf_counter()
    together = fit_population([Member(s, data, schedule, seed, head) for s in starts])
    population_seconds = time.perf_counter() - t
    fit(from_net(starts[0]), data, schedule, head, seed)  # warm the one-net function
    t = time.perf_counter()
    alone = []
    for s in starts:
        alone.append(fit(from_net(s), data, schedule, head, seed))
    alone_seconds = time.perf_counter() - t
    a = np.array([h.metrics["test/loss"][-1] for h in together])
    b = np.array([h.metrics["test/loss"][-1] for h in alone])
    gap = float(np.max(np.abs(a - b) / np.abs(b)))
    same = gap < 0.05
    ratio = alone_seconds / population_seconds
    print(
        f"{len(starts)} pruned-first nets: one population {population_seconds:.1f} s, one by one "
        f"{alone_seconds:.1f} s: {ratio:.1f}x; largest relative gap of the test losses {gap:.2g}"
    )
    ok = same and train_seconds + study_seconds <= 90
    total = train_seconds + study_seconds
    print("PASS" if ok else "FAIL", f"job (training + study) {total:.1f} s <= 90 s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
