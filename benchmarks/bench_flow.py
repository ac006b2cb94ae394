"""Benchmark: the flow study (DIGEST §4) and its linear-region analysis.

1. `+experiment=fcnn_prod` and `fcnn_prod_deep`: the job's training, the study as `toynets`
   runs it (`studies.flow.run`, figures not drawn: the render worker draws them in parallel),
   and drawing its figures (what the render worker does). Target: study <= training.
2. The regions met by a 400 x 400 grid for a 2 -> 50 -> 50 ReLU net: `linear_regions.regions`
   (one matrix product per layer, np.unique over the patterns) against a Python loop that
   computes each point's pattern and keeps a set (the obvious way), on a 100 x 100 grid for
   both (the loop is too slow for more). Checked: the same count.
3. The exact region count of n random lines: `arrangement_region_count` (pairs of lines,
   vectorised) against building the planar graph and Euler's formula (tests/flow_reference),
   n = 20 and 50. Checked: the same count.
4. flow.html for the 50 x 50 net in headless Chromium: time to the first picture, and the time
   a move of the point takes (median of 50 moves; a drag stays smooth under ~16 ms).

    python benchmarks/bench_flow.py            # ~1 min on 2 cores
"""

# ruff: noqa: E402  (TF_CPP_MIN_LOG_LEVEL and sys.path must be set before the imports below)

from __future__ import annotations

import importlib.util
import io
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("toynets") is None:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np

import flow_reference as ref
from conftest import compose_config
from toynets import studies
from toynets.analysis import flow as fl
from toynets.analysis import linear_regions as lr
from toynets.config import validate
from toynets.explorer import flow_html
from toynets.model import to_net
from toynets.net import Layer, Net
from toynets.pipeline import prepare, train_seed
from toynets.plots.style import save_png
from toynets.report import figure_of
from toynets.studies import flow
from toynets.train import fit


def job(experiment: str) -> tuple[float, float, float]:
    conf = validate(compose_config([f"+experiment={experiment}"]))
    data, head, model = prepare(conf)
    t = time.perf_counter()
    history = fit(model, data, conf.train, head, train_seed(conf))
    train_seconds = time.perf_counter() - t
    trained = studies.Trained(model, to_net(model), head, data, history, "bench", conf)
    t = time.perf_counter()
    report = flow.run(trained, conf.study)
    study_seconds = time.perf_counter() - t
    t = time.perf_counter()
    for figure in report.figures.values():
        save_png(figure_of(figure), io.BytesIO())
    return train_seconds, study_seconds, time.perf_counter() - t


def wide_net(seed: int = 0) -> Net:
    rng = np.random.default_rng(seed)
    return Net(
        (
            Layer(rng.normal(size=(2, 50)), rng.normal(size=50) * 0.5, "relu"),
            Layer(rng.normal(size=(50, 50)) / 7, rng.normal(size=50) * 0.5, "relu"),
            Layer(rng.normal(size=(50, 1)) / 7, np.zeros(1), "linear"),
        )
    )


def grid(size: int) -> np.ndarray:
    g1, g2 = np.meshgrid(np.linspace(-2, 2, size), np.linspace(-2, 2, size))
    return np.column_stack([g1.ravel(), g2.ravel()])


def loop_count(net: Net, points: np.ndarray) -> int:
    """The obvious way: each point's pattern in a Python loop, a set of them."""
    seen = set()
    for x in points:
        a, bits = x, []
        for layer in net.layers[:-1]:
            z = a @ layer.W + layer.b
            bits.append(z > 0)
            a = np.maximum(z, 0)
        seen.add(np.concatenate(bits).tobytes())
    return len(seen)


def page_times(net: Net) -> tuple[float, float] | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path("/usr/bin/chromium").exists():
        return None
    x = grid(40)
    columns = [x] + [v for pair in fl.layer_values(net, x) for v in (pair.z, pair.a)]
    html = flow_html(net, {"centre": [0, 0]}, (-2, 2, -2, 2), fl.colour_limits(columns, "layer"))
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as driver:
        path = Path(folder) / "flow.html"
        path.write_text(html, encoding="utf-8")
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        t = time.perf_counter()
        page.goto(path.as_uri())
        page.wait_for_selector("html[data-ready]", state="attached", timeout=60_000)
        load = time.perf_counter() - t
        moves = []
        for point in np.random.default_rng(0).uniform(-2, 2, (50, 2)).tolist():
            page.evaluate("p => window.toynets.setPoint(p)", point)
            moves.append(page.evaluate("window.toynets.lastRenderMs()"))
        browser.close()
    return load, float(np.median(moves))


def main() -> int:
    ok = True
    for experiment in ("fcnn_prod", "fcnn_prod_deep"):
        train_s, study_s, draw_s = job(experiment)
        passed = study_s <= train_s
        ok &= passed
        print(
            f"{experiment}: training {train_s:.1f} s, the study {study_s:.2f} s "
            f"({study_s / train_s:.2f}x the training), its figures drawn {draw_s:.1f} s "
            f"[{'PASS' if passed else 'FAIL'} study <= training]"
        )

    net = wide_net()
    t = time.perf_counter()
    fast = lr.regions(net, grid(400)).n_regions
    fast_400 = time.perf_counter() - t
    points = grid(100)
    t = time.perf_counter()
    fast_100 = lr.regions(net, points).n_regions
    vectorised = time.perf_counter() - t
    t = time.perf_counter()
    slow_100 = loop_count(net, points)
    looped = time.perf_counter() - t
    same = fast_100 == slow_100
    ok &= same
    print(
        f"regions of a 2-50-50 ReLU net: {fast} on 400x400 in {fast_400:.2f} s; on 100x100 "
        f"{fast_100} in {vectorised * 1e3:.0f} ms against {looped:.2f} s for a Python loop "
        f"({looped / vectorised:.0f}x) [{'PASS' if same else 'FAIL'} same count]"
    )

    rng = np.random.default_rng(1)
    for n in (20, 50):
        lines = ref.general_position_lines(n, rng)
        box = (-1.0, 1.0, -1.0, 1.0)
        t = time.perf_counter()
        exact = lr.arrangement_region_count(lines, box)
        pairs = time.perf_counter() - t
        t = time.perf_counter()
        euler = ref.arrangement_regions_euler(lines, box)
        graph = time.perf_counter() - t
        same = exact == euler
        ok &= same
        print(
            f"{n} lines: {exact} regions in {pairs * 1e3:.1f} ms by pairs, {graph * 1e3:.0f} ms "
            f"by Euler's formula ({graph / pairs:.0f}x) [{'PASS' if same else 'FAIL'} same]"
        )

    times = page_times(net)
    if times is None:
        print("flow.html: skipped (no Playwright or /usr/bin/chromium)")
    else:
        load, move = times
        smooth = move < 16
        ok &= smooth
        print(
            f"flow.html, 2-50-50 net: ready in {load:.2f} s, a move of the point "
            f"{move:.1f} ms (median of 50) [{'PASS' if smooth else 'FAIL'} < 16 ms]"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
