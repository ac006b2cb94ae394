"""Relevance maps: every method on a 200 x 200 grid, batched, against a per-point loop.

The relevance study explains every point of its maps with every method (DIGEST §2). Batched,
each rule is a few [points, units] array operations per layer; the baseline calls the same
`explain` once per point, as a naive implementation would. The loop is timed on a subset of
the grid and scaled to the whole grid (it is linear in the points).

Target (issue 11): all methods on the 200 x 200 grid together within 5 s on this 2-core
machine.

    python benchmarks/bench_relevance.py [--grid 200] [--loop-points 400] [--json out.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _common import load_average, print_checks, write_json

from toynets.analysis import relevance as rel
from toynets.analysis.maps import plane_grid
from toynets.net import Layer, Net


def circle_net(hidden: int = 20, activation: str = "relu", k: int = 1, seed: int = 0) -> Net:
    """A net of §1's shape (2 -> hidden -> 2) with random weights: timing does not depend on
    what it learned."""
    rng = np.random.default_rng(seed)
    return Net(
        (
            Layer(rng.normal(size=(2, hidden * k)), rng.normal(size=hidden * k), activation, k),
            Layer(rng.normal(size=(hidden, 2)), rng.normal(size=2), "softmax"),
        )
    )


def time_all_methods(net: Net, points: np.ndarray, repeats: int = 3) -> float:
    """The fastest of `repeats` batched runs of every method valid for the net (seconds)."""
    methods = rel.valid_methods(rel.activation_of(net))
    target = net.logits(points).argmax(-1)
    baseline = np.zeros(points.shape[1])
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        rel.explain(net, points, target, methods, rel.Settings(), baseline)
        best = min(best, time.perf_counter() - start)
    return best


def time_per_point(net: Net, points: np.ndarray) -> float:
    """Seconds for every method, one `explain` call per point."""
    methods = rel.valid_methods(rel.activation_of(net))
    target = net.logits(points).argmax(-1)
    baseline = np.zeros(points.shape[1])
    start = time.perf_counter()
    for i in range(len(points)):
        rel.explain(net, points[i : i + 1], target[i : i + 1], methods, rel.Settings(), baseline)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grid", type=int, default=200)
    p.add_argument("--loop-points", type=int, default=400)
    p.add_argument("--json", type=Path, default=None, metavar="PATH")
    args = p.parse_args(argv)
    print(f"load average before: {load_average()[0]:.2f}")
    points = np.asarray(plane_grid((-2, 2, -2, 2), args.grid).points, np.float64)
    out: dict[str, dict] = {}
    for name, net in (
        ("relu 20", circle_net()),
        ("maxout 10x3", circle_net(10, "maxout", 3)),
        ("tanh 20", circle_net(20, "tanh")),
    ):
        batched = time_all_methods(net, points)
        subset = points[:: max(1, len(points) // args.loop_points)][: args.loop_points]
        looped = time_per_point(net, subset) * len(points) / len(subset)
        methods = len(rel.valid_methods(rel.activation_of(net)))
        out[name] = {
            "methods": methods,
            "points": len(points),
            "batched_s": batched,
            "per_point_loop_s (scaled)": looped,
            "ratio": looped / batched,
        }
        print(
            f"{name:12s} {methods} methods on {len(points)} points: batched {batched:.3f} s, "
            f"per-point loop {looped:.1f} s (from {len(subset)} points), "
            f"{looped / batched:.0f}x faster batched"
        )
    print_checks(
        {
            f"every method on the {args.grid} x {args.grid} grid within 5 s": all(
                v["batched_s"] <= 5.0 for v in out.values()
            )
        }
    )
    print(f"load average after: {load_average()[0]:.2f}")
    if args.json is not None:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
