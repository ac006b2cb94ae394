"""Benchmark: rendering the figures of a job, the house style against the code before it.

The figures of the default job (`+experiment=node_removal_circle`: the §1 net, 14 figures)
and of an [8, 8] net on the 4-class quadrants (`dataset=fcnn_quadrants model.hidden=[8,8]`)
are built by the study and written to PNG the way tracking writes them, by two versions of
toynets in the same run:

- **before**: the source tree at `--baseline` (default `ef47d75`, the last commit before the
  house style), extracted with `git archive`; it saved with `figure.savefig(path, dpi=110)`;
- **after**: this checkout, `toynets.plots.style.save_png` (RGB, 200 dpi, at most 2000 px wide).

Each version runs in its own fresh process (`--repeats` times, alternating) that trains the
net, runs the study (figure construction is part of it) and then times the save of every
figure (CPU seconds of the process: saving runs on one thread); the table gives, per figure,
the median save time of each version, their ratio, the PNG size and width. The study's own
wall time is printed too: it includes building the figures and, in the "after" version, the
finer 200 x 200 gradient maps.

    python benchmarks/bench_figures.py              # ~3 min on 2 cores
    python benchmarks/bench_figures.py --quick      # default job only, 1 repeat
    python benchmarks/bench_figures.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from _common import load_average, print_checks, write_json

ROOT = Path(__file__).resolve().parents[1]

JOBS = {
    "default job (node_removal_circle, [20])": ["+experiment=node_removal_circle"],
    "[8, 8] net, 4 classes": [
        "study=node_removal",
        "dataset=fcnn_quadrants",
        "model.hidden=[8,8]",
    ],
}

# Runs inside the measured version's process: train, study, save each figure, print JSON.
CHILD = r"""
import io, json, os, sys, time
from hydra import compose, initialize_config_dir
import toynets.config
from toynets.config import register_configs, validate
from toynets import console
register_configs()
conf_dir = os.path.join(os.path.dirname(toynets.config.__file__), "conf")
with initialize_config_dir(config_dir=conf_dir, version_base="1.3"):
    cfg = compose(config_name="config", overrides=sys.argv[1:])
conf = validate(cfg)
console.import_tensorflow()
from toynets import data as datasets, studies
from toynets.model import build, resolve_head, to_net
from toynets.train import fit, seed_everything
try:
    from toynets.plots.style import save_png
    version = "after"
except ImportError:
    def save_png(figure, target):
        figure.savefig(target, dpi=110)
    version = "before"
data = datasets.make(conf.dataset, conf.seed)
head = resolve_head(conf.model.head, data.task)
seed_everything(conf.seed)
model = build(conf.model, data.n_features, head, data.n_classes, conf.seed)
history = fit(model, data, conf.train, head, conf.seed, None)
trained = studies.Trained(model, to_net(model), head, data, history, "bench", conf)
t0 = time.perf_counter()
report = studies.get(conf.study.name)(trained, conf.study)
study = time.perf_counter() - t0
from PIL import Image
figures = {}
warm = io.BytesIO()
next(iter(report.figures.values())).savefig(warm, format="png", dpi=50)  # font cache
for name, figure in report.figures.items():
    buffer = io.BytesIO()
    t0 = time.process_time()  # CPU seconds: saving is single-threaded, and other load drops out
    save_png(figure, buffer)
    seconds = time.process_time() - t0
    width = Image.open(io.BytesIO(buffer.getvalue())).size[0]
    figures[name] = {"seconds": seconds, "bytes": len(buffer.getvalue()), "width": width}
print("BENCH" + json.dumps({"version": version, "study": study, "figures": figures}))
"""


def extract(ref: str, into: Path) -> Path:
    """The `src/` tree of commit `ref` (with `conf/` and `experiments/`, which its relative
    links point at) under `into`; returns the `src` folder."""
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(
            ["git", "archive", ref, "src", "conf", "experiments"], cwd=ROOT, stdout=out, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def measure(src: Path | None, overrides: list[str], workdir: Path) -> dict:
    """One fresh process of the 'before' code (`src`) or this checkout's (None)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *overrides],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"measuring {overrides} failed:\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][5:])
    expected = "before" if src is not None else "after"
    if result["version"] != expected:
        raise RuntimeError(f"the {expected!r} process imported the other version of toynets")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="ef47d75", help="git ref of the 'before' code")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="default job only, 1 repeat")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    jobs = dict(list(JOBS.items())[:1]) if args.quick else JOBS

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, load {load_average()}")
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        before_src = extract(args.baseline, Path(tmp))
        for label, overrides in jobs.items():
            runs: dict[str, list[dict]] = {"before": [], "after": []}
            for _ in range(repeats):
                runs["before"].append(measure(before_src, overrides, Path(tmp)))
                runs["after"].append(measure(None, overrides, Path(tmp)))
            results[label] = runs
            report(label, runs)
    checks = {}
    for label, runs in results.items():
        before = sum(median_of(runs["before"], n) for n in runs["before"][0]["figures"])
        after = sum(median_of(runs["after"], n) for n in runs["after"][0]["figures"])
        checks[f"{label}: all figures saved in no more time than before"] = after <= before
    print()
    print_checks(checks)
    if args.json:
        write_json(args.json, {"results": results, "checks": checks})


def median_of(runs: list[dict], name: str) -> float:
    return statistics.median(r["figures"][name]["seconds"] for r in runs if name in r["figures"])


def report(label: str, runs: dict[str, list[dict]]) -> None:
    names = list(runs["after"][0]["figures"])
    print(f"\n{label}: {len(names)} figures, median of {len(runs['after'])} process(es)")
    header = f"{'figure':18} {'before ms':>9} {'after ms':>9} {'ratio':>6}"
    print(f"{header} {'before':>14} {'after':>14}")
    total_before = total_after = 0.0
    for name in names:
        after = median_of(runs["after"], name)
        size_after = runs["after"][0]["figures"][name]
        has_before = name in runs["before"][0]["figures"]
        before = median_of(runs["before"], name) if has_before else float("nan")
        size_before = runs["before"][0]["figures"].get(name, {"bytes": 0, "width": 0})
        total_before += before if has_before else 0.0
        total_after += after
        print(
            f"{name:18} {before * 1000:9.0f} {after * 1000:9.0f} {after / before:6.2f} "
            f"{size_before['width']:5d}px {size_before['bytes'] // 1024:5d}kB "
            f"{size_after['width']:5d}px {size_after['bytes'] // 1024:5d}kB"
        )
    print(
        f"{'total':18} {total_before * 1000:9.0f} {total_after * 1000:9.0f} "
        f"{total_after / total_before:6.2f}"
    )
    study = {v: statistics.median(r["study"] for r in runs[v]) for v in runs}
    print(f"study (incl. drawing): before {study['before']:.2f} s, after {study['after']:.2f} s")


if __name__ == "__main__":
    main()
