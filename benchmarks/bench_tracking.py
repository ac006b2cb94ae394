"""Benchmark: what MLflow costs toynets, side by side with plain MLflow client calls.

Two measurements, each against a baseline in the same run:

a. Logging a 30000-step metric history into a fresh embedded SQLite store. toynets'
   `RunRecorder.log_series` (histories longer than 1000 points go into the SQL store in one
   transaction, `tracking._bulk_insert_metrics`) against MLflow's `MlflowClient.log_batch` in
   chunks of 1000 (what toynets did before) and against one `MlflowClient.log_metric` call per
   step (run for a subset of the steps and extrapolated to the whole history). Every method
   writes into its own fresh store; the histories are read back and compared with what was sent
   (length, steps and values, and the run's latest value).
b. MLflow's share of a job's wall time. The job (`toynets` with no overrides, the 20-unit circle
   net with the default study; `--job KEY=VALUE ...` for another) runs several times in fresh
   processes in one temporary folder (so the first run creates the store, the next ones find
   it). A small driver script imports what the job imports, in the job's order, timing each
   group (so MLflow's per-process import cost is known), wraps every public function of
   `toynets.tracking` and `toynets.runs` and every method of `tracking.RunRecorder` with a timer
   that counts only the outermost tracking call, then calls `toynets.app.main()`. Reported: the
   share of the process's wall time spent in tracking calls, without and with MLflow's import.
   For reference the plain `toynets` command is timed the same number of times (no driver), and
   so are `import tensorflow` and `import mlflow` in fresh processes.

    python benchmarks/bench_tracking.py                     # ~4 min on 2 cores
    python benchmarks/bench_tracking.py --job study=train   # ~2.5 min
    python benchmarks/bench_tracking.py --quick             # 1 repeat, 2 runs of the job
    python benchmarks/bench_tracking.py --json out.json
"""

# ruff: noqa: E402  (sys.path must be set before the imports below)

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("toynets") is None:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
    )

import mlflow
import numpy as np
from _common import cpu_seconds, load_average, print_checks, toynets_command, write_json
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from toynets import tracking

KEY = "train/step_loss"
TARGET_LOG_SECONDS = 1.0  # toynets, 30000 points into a fresh SQLite store
TARGET_SHARE = 0.10  # tracking calls over the default job's wall time
PNG = "Figure.savefig (PNG)"  # the driver's label of figure rendering inside tracking calls


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------------------------------------
# a. a 30000-step history into a fresh store


@dataclass
class LogRow:
    method: str
    points: int  # points the timing covers (the whole history unless extrapolated)
    measured_points: int  # points actually written per repeat
    seconds: list[float]  # per repeat, for `points` (extrapolated where measured < points)
    open_seconds: list[float]  # fresh store + experiment + run, per repeat (not in `seconds`)
    verified: bool

    @property
    def median(self) -> float:
        return median(self.seconds)


def loss_like(n: int) -> np.ndarray:
    """A float32 history shaped like a mini-batch loss curve (what `train/step_loss` holds)."""
    rng = np.random.default_rng(0)
    steps = np.arange(n)
    return (0.7 * np.exp(-steps / (n / 6)) + 0.05 + 0.05 * rng.random(n)).astype(np.float32)


def _fresh_uri(root: Path, label: str) -> str:
    folder = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=root))
    return f"sqlite:///{folder / 'mlflow.db'}"


def _read_back(uri: str, run_id: str, steps: range, values: np.ndarray) -> bool:
    """The stored history equals what was sent: same steps, same values, same latest value."""
    client = MlflowClient(tracking_uri=uri)
    points = sorted(client.get_metric_history(run_id, KEY), key=lambda m: m.step)
    expected = [float(v) for v in values[: len(steps)]]
    same = (
        len(points) == len(steps)
        and [m.step for m in points] == list(steps)
        and [m.value for m in points] == expected
    )
    latest = client.get_run(run_id).data.metrics.get(KEY)
    return same and latest == expected[-1]


def _toynets(rec: tracking.RunRecorder, n: int, values: np.ndarray) -> tuple[float, range]:
    t0 = time.perf_counter()
    rec.log_series(KEY, range(n), values)
    return time.perf_counter() - t0, range(n)


def _log_batch(rec: tracking.RunRecorder, n: int, values: np.ndarray) -> tuple[float, range]:
    client = MlflowClient(tracking_uri=rec.client.tracking_uri)
    t0 = time.perf_counter()
    now = int(time.time() * 1000)
    items = [Metric(KEY, float(v), now, s) for s, v in enumerate(values[:n])]
    for start in range(0, n, 1000):
        client.log_batch(rec.run_id, metrics=items[start : start + 1000])
    return time.perf_counter() - t0, range(n)


def _log_metric(rec: tracking.RunRecorder, calls: int, values: np.ndarray) -> tuple[float, range]:
    client = MlflowClient(tracking_uri=rec.client.tracking_uri)
    t0 = time.perf_counter()
    now = int(time.time() * 1000)
    for step in range(calls):
        client.log_metric(rec.run_id, KEY, float(values[step]), timestamp=now, step=step)
    return time.perf_counter() - t0, range(calls)


def bench_logging(root: Path, n: int, calls: int, repeats: int) -> list[LogRow]:
    values = loss_like(n)
    # the first store of the process pays for lazy imports (SQLAlchemy, alembic): not timed
    tracking.close_run(tracking.open_run(_fresh_uri(root, "warm-up"), "bench", "warm-up"))
    methods = [
        ("toynets RunRecorder.log_series", _toynets, n),
        ("MlflowClient.log_batch, 1000 per call", _log_batch, n),
        (f"MlflowClient.log_metric per step ({calls} calls, x{n / calls:g})", _log_metric, calls),
    ]
    rows = []
    for label, method, measured in methods:
        row = LogRow(label, n, measured, [], [], True)
        for _ in range(repeats):
            t0 = time.perf_counter()
            rec = tracking.open_run(_fresh_uri(root, "log"), "bench", label)
            row.open_seconds.append(time.perf_counter() - t0)
            seconds, steps = method(rec, measured, values)
            tracking.close_run(rec)
            row.seconds.append(seconds * n / measured)
            row.verified &= _read_back(rec.client.tracking_uri, rec.run_id, steps, values)
        rows.append(row)
    return rows


def logging_table(rows: list[LogRow]) -> str:
    width = max(len(r.method) for r in rows)
    head = (
        f"{'method':<{width}}  {'points':>6}  {'seconds':>8}  {'min':>8}  "
        f"{'ms/1000':>8}  {'ratio':>7}  {'read back':>9}"
    )
    lines = [head, "-" * len(head)]
    reference = rows[0].median
    for r in rows:
        lines.append(
            f"{r.method:<{width}}  {r.points:>6d}  {r.median:>8.3f}  {min(r.seconds):>8.3f}  "
            f"{1e3 * r.median / (r.points / 1000):>8.1f}  {r.median / reference:>6.1f}x  "
            f"{'equal' if r.verified else 'DIFFERS':>9}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# b. MLflow's share of the default job

# Runs in a fresh process: `python driver.py OUT.json [toynets overrides]`, cwd = the job folder.
DRIVER = r'''
import time

T0 = time.perf_counter()
import atexit
import functools
import importlib
import inspect
import json
import sys

OUT, ARGS = sys.argv[1], sys.argv[2:]
R = {"imports": {}, "calls": {}, "inside": {}}
DEPTH = [0]


def _write():  # registered first, so it runs after every other atexit handler (MLflow's too)
    end = time.perf_counter()
    R["atexit_seconds"] = end - R.get("main_end", end)
    R["process_seconds"] = end - T0
    R.pop("main_end", None)
    with open(OUT, "w") as handle:
        json.dump(R, handle)


atexit.register(_write)


def timed_import(label, *modules):
    t0 = time.perf_counter()
    for module in modules:
        importlib.import_module(module)
    R["imports"][label] = time.perf_counter() - t0


# what the job imports, in the job's order (app.py, then run_job's imports)
timed_import("hydra, omegaconf (toynets.app)", "toynets.app")
timed_import("tensorflow, keras (toynets.model, .train)", "toynets.data", "toynets.model",
             "toynets.train")
import pkgutil

import toynets.studies

STUDIES = [f"toynets.studies.{m.name}" for m in pkgutil.iter_modules(toynets.studies.__path__)]
timed_import("matplotlib, the studies (toynets.studies.*)", *STUDIES)
timed_import("mlflow (toynets.tracking, .runs)", "toynets.tracking", "toynets.runs")
timed_import("mlflow SQL store (sqlalchemy, alembic)", "mlflow.store.tracking.sqlalchemy_store",
             "mlflow.store.db.utils")
timed_import("mlflow.keras", "mlflow.keras")
BEFORE = set(sys.modules)


def outer(label, fn):
    """Counts fn's time in R["calls"] when no other tracking call is running."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        DEPTH[0] += 1
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - t0
            DEPTH[0] -= 1
            if DEPTH[0] == 0:
                count = R["calls"].setdefault(label, [0, 0.0])
                count[0] += 1
                count[1] += seconds
    return wrapper


def inside(label, fn):
    """Counts fn's time in R["inside"] when it runs within a tracking call (a breakdown)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            if DEPTH[0] > 0:
                count = R["inside"].setdefault(label, [0, 0.0])
                count[0] += 1
                count[1] += time.perf_counter() - t0
    return wrapper


import matplotlib.figure
import mlflow.keras
from mlflow.tracking import MlflowClient

import toynets.runs
import toynets.tracking

for module in (toynets.tracking, toynets.runs):
    for name, obj in list(vars(module).items()):
        if name.startswith("_") or not inspect.isfunction(obj):
            continue
        if not obj.__module__.startswith("toynets.") or hasattr(obj, "__wrapped__"):
            continue  # other libraries' functions; @contextmanager start_run (its open_run and
            # close_run are timed, the job's body between them is not)
        setattr(module, name, outer(f"{obj.__module__.split('.')[-1]}.{name}", obj))
for cls in (toynets.tracking.RunRecorder, toynets.runs.LoadedRun):
    for name, obj in list(vars(cls).items()):
        if inspect.isfunction(obj):
            setattr(cls, name, outer(f"{cls.__name__}.{name}", obj))
toynets.tracking._bulk_insert_metrics = inside(
    "tracking._bulk_insert_metrics", toynets.tracking._bulk_insert_metrics
)
matplotlib.figure.Figure.savefig = inside("Figure.savefig (PNG)", matplotlib.figure.Figure.savefig)
mlflow.keras.save_model = inside("mlflow.keras.save_model", mlflow.keras.save_model)
for name in ("__init__", "create_experiment", "create_run", "log_batch", "log_artifact",
             "log_artifacts", "set_terminated", "get_experiment_by_name", "set_experiment_tag"):
    setattr(MlflowClient, name, inside(f"MlflowClient.{name}", getattr(MlflowClient, name)))

sys.argv = ["toynets", *ARGS]
from toynets.app import main

R["before_main_seconds"] = time.perf_counter() - T0
t0 = time.perf_counter()
try:
    main()
    R["exit"] = 0
except SystemExit as stop:
    R["exit"] = stop.code
R["main_seconds"] = time.perf_counter() - t0
R["main_end"] = time.perf_counter()
R["imported_in_job"] = sorted(
    m for m in set(sys.modules) - BEFORE
    if m.split(".")[0] in ("mlflow", "sqlalchemy", "alembic", "toynets")
)
'''

IMPORT_SNIPPETS = {
    "python (nothing)": "pass",
    "import tensorflow": "import tensorflow",
    "import mlflow": "import mlflow",
    "import mlflow + MlflowClient(sqlite)": (
        "import mlflow.store.tracking.sqlalchemy_store, mlflow.store.db.utils; "
        "from mlflow.tracking import MlflowClient"
    ),
}


def run_timed(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done


def import_times(repeats: int, root: Path) -> dict[str, dict[str, list[float]]]:
    """Per snippet, in fresh processes: the import's own seconds (timed inside the process) and
    the whole process's wall time (interpreter start, import, module teardown at exit)."""
    out: dict[str, dict[str, list[float]]] = {}
    for label, code in IMPORT_SNIPPETS.items():
        out[label] = {"import": [], "process": []}
        script = f"import time; t0 = time.perf_counter(); {code}; print(time.perf_counter() - t0)"
        for _ in range(repeats):
            wall, done = run_timed([sys.executable, "-c", script], root)
            out[label]["import"].append(float(done.stdout.strip().splitlines()[-1]))
            out[label]["process"].append(wall)
    return out


def imports_table(imports: dict[str, dict[str, list[float]]]) -> str:
    width = max(len(k) for k in imports)
    head = f"{'in a fresh process':<{width}}  {'import':>6}  {'process':>7}  {'rest':>5}"
    lines = [head, "-" * len(head)]
    for label, times in imports.items():
        imp, wall = median(times["import"]), median(times["process"])
        lines.append(f"{label:<{width}}  {imp:>6.2f}  {wall:>7.2f}  {wall - imp:>5.2f}")
    return "\n".join(lines)


@dataclass
class JobRow:
    run: int
    store: str  # fresh / existing
    wall: float  # the driver's process as seen from here
    process: dict  # what the driver measured inside

    @property
    def tracking(self) -> float:
        return sum(seconds for _, seconds in self.process["calls"].values())

    @property
    def mlflow_import(self) -> float:
        return sum(s for k, s in self.process["imports"].items() if k.startswith("mlflow"))

    @property
    def share(self) -> float:
        return self.tracking / self.wall

    @property
    def share_with_import(self) -> float:
        return (self.tracking + self.mlflow_import) / self.wall

    @property
    def png(self) -> float:
        """Time of Figure.savefig inside tracking calls: matplotlib drawing, not MLflow."""
        return self.process["inside"].get(PNG, [0, 0.0])[1]

    @property
    def share_without_png(self) -> float:
        return (self.tracking - self.png) / self.wall


def bench_job(
    root: Path, runs: int, overrides: list[str]
) -> tuple[list[JobRow], list[float], list[str]]:
    """The job's rows, the plain command's walls and the experiments (studies) it logged to."""
    driver = root / "driver.py"
    driver.write_text(DRIVER)
    profiled, plain = root / "job-profiled", root / "job-plain"
    profiled.mkdir()
    plain.mkdir()
    rows, plain_walls = [], []
    for run in range(runs):  # interleaved, so a change of machine load hits both alike
        seconds, _ = run_timed([*toynets_command(), *overrides], plain)
        plain_walls.append(seconds)
        out = root / f"driver-{run}.json"
        seconds, _ = run_timed([sys.executable, str(driver), str(out), *overrides], profiled)
        process = json.loads(out.read_text())
        if process.get("exit") not in (0, None):
            raise RuntimeError(f"the job exited with {process['exit']}")
        rows.append(JobRow(run + 1, "fresh" if run == 0 else "existing", seconds, process))
    client = tracking.client_for(f"sqlite:///{profiled / 'mlruns' / 'mlflow.db'}")
    studies = sorted(e.name for e in client.search_experiments() if e.name != "Default")
    return rows, plain_walls, studies


def job_table(rows: list[JobRow], plain: list[float]) -> str:
    head = (
        f"{'run':>3}  {'store':<8}  {'toynets':>8}  {'driver':>7}  {'main()':>7}  "
        f"{'mlflow imp':>10}  {'tracking':>8}  {'share':>6}  {'+import':>7}  {'-PNG':>6}"
    )
    lines = [head, "-" * len(head)]
    for r, wall in zip(rows, plain, strict=True):
        lines.append(
            f"{r.run:>3d}  {r.store:<8}  {wall:>8.2f}  {r.wall:>7.2f}  "
            f"{r.process['main_seconds']:>7.2f}  {r.mlflow_import:>10.2f}  {r.tracking:>8.2f}  "
            f"{100 * r.share:>5.1f}%  {100 * r.share_with_import:>6.1f}%  "
            f"{100 * r.share_without_png:>5.1f}%"
        )
    return "\n".join(lines)


def breakdown_table(rows: list[JobRow]) -> str:
    """Seconds per tracking call (outermost) and inside them, mean over the existing-store runs
    (all runs if there is only the fresh one)."""
    chosen = [r for r in rows if r.store == "existing"] or rows
    lines = []
    for title, key in (("tracking call (outermost)", "calls"), ("of which, inside", "inside")):
        labels = sorted(
            {k for r in chosen for k in r.process[key]},
            key=lambda k: -sum(r.process[key].get(k, [0, 0.0])[1] for r in chosen),
        )
        width = max([len(title), *map(len, labels)])
        head = f"{title:<{width}}  {'calls':>5}  {'seconds':>7}  {'% wall':>6}"
        lines += ["", head, "-" * len(head)] if lines else [head, "-" * len(head)]
        for label in labels:
            calls = statistics.mean(r.process[key].get(label, [0, 0.0])[0] for r in chosen)
            seconds = statistics.mean(r.process[key].get(label, [0, 0.0])[1] for r in chosen)
            share = statistics.mean(r.process[key].get(label, [0, 0.0])[1] / r.wall for r in chosen)
            lines.append(f"{label:<{width}}  {calls:>5.0f}  {seconds:>7.3f}  {100 * share:>5.1f}%")
    return "\n".join(lines)


def process_table(rows: list[JobRow]) -> str:
    """Where the driver's wall time goes: imports, main(), exit."""
    chosen = [r for r in rows if r.store == "existing"] or rows
    parts: dict[str, list[float]] = {}
    for r in chosen:
        p = r.process
        items = {
            **{f"import {k}": v for k, v in p["imports"].items()},
            "main(): tracking calls": r.tracking,
            "main(): the rest (Hydra, data, training, study)": p["main_seconds"] - r.tracking,
            "atexit handlers": p["atexit_seconds"],
            "interpreter start + stop, driver overhead": r.wall - p["process_seconds"],
        }
        for key, value in items.items():
            parts.setdefault(key, []).append(value)
    width = max(len(k) for k in parts)
    head = f"{'part of the driver process':<{width}}  {'seconds':>7}  {'% wall':>6}"
    lines = [head, "-" * len(head)]
    wall = statistics.mean(r.wall for r in chosen)
    for key, values in parts.items():
        lines.append(
            f"{key:<{width}}  {statistics.mean(values):>7.2f}  "
            f"{100 * statistics.mean(values) / wall:>5.1f}%"
        )
    lines.append(f"{'total (driver wall)':<{width}}  {wall:>7.2f}  {100.0:>5.1f}%")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


class OtherCpu:
    """CPU seconds taken by processes outside this benchmark between start() and stop()."""

    def start(self) -> None:
        self._start, self._wall = cpu_seconds(), time.perf_counter()

    def stop(self) -> str:
        (busy0, own0), (busy1, own1) = self._start, cpu_seconds()
        self.seconds = max(0.0, (busy1 - busy0) - (own1 - own0))
        self.wall = time.perf_counter() - self._wall
        return (
            f"other processes took {self.seconds:.1f} CPU-s during these {self.wall:.0f} s "
            "(0 = the machine was ours)"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=30000, help="history length (30000)")
    p.add_argument(
        "--log-metric-calls",
        type=int,
        default=None,
        help="log_metric calls, extrapolated to --points (500; quick 200)",
    )
    p.add_argument(
        "--repeats", type=int, default=None, help="fresh stores per logging method (3; quick 1)"
    )
    p.add_argument("--runs", type=int, default=None, help="jobs per kind (3; quick 2)")
    p.add_argument(
        "--job",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="overrides of the timed job (none: the default job, e.g. --job study=train)",
    )
    p.add_argument("--quick", action="store_true", help="1 repeat per method, 2 runs of the job")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the numbers")
    args = p.parse_args(argv)
    defaults = (
        {"log_metric_calls": 200, "repeats": 1, "runs": 2}
        if args.quick
        else {"log_metric_calls": 500, "repeats": 3, "runs": 3}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("points", "log_metric_calls", "repeats"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.runs < 2:
        p.error("--runs must be >= 2 (a fresh store, then an existing one)")
    args.log_metric_calls = min(args.log_metric_calls, args.points)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # "Creating initial tables", per store
    logging.getLogger("alembic").setLevel(logging.WARNING)
    wall0 = time.perf_counter()
    load_start = load_average()
    print(
        f"python {platform.python_version()}, mlflow {mlflow.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.machine()}; load average "
        + " ".join(f"{v:.2f}" for v in load_start)
    )
    root = Path(tempfile.mkdtemp(prefix="toynets-bench-tracking-"))
    try:
        print(
            f"\na. {args.points} points of {KEY!r} into a fresh SQLite store "
            f"(median of {args.repeats}, a fresh store each)"
        )
        other_a, other_b = OtherCpu(), OtherCpu()
        other_a.start()
        log_rows = bench_logging(root, args.points, args.log_metric_calls, args.repeats)
        other_a_text = other_a.stop()
        print(logging_table(log_rows))
        print(
            "ratio: seconds over toynets; ms/1000: per 1000 points; the log_metric row is "
            f"{args.log_metric_calls} calls x{args.points / args.log_metric_calls:g}"
        )
        opens = [s for r in log_rows for s in r.open_seconds]
        print(
            f"not in the table: creating a fresh store + experiment + run (open_run) "
            f"{median(opens):.2f} s (median of {len(opens)})"
        )
        print(other_a_text)

        print(
            f"\nb. the job `toynets{''.join(' ' + o for o in args.job)}`, {args.runs} runs in "
            "fresh processes; load average " + " ".join(f"{v:.2f}" for v in load_average())
        )
        other_b.start()
        imports = import_times(args.runs, root)
        job_rows, plain, studies = bench_job(root, args.runs, args.job)
        other_b_text = other_b.stop()
        print(job_table(job_rows, plain))
        print(f"the job logged to experiment(s) {', '.join(studies)} (one per study)")
        print(other_b_text)
        print(
            "seconds. toynets: wall of the plain command; driver: wall of the instrumented\n"
            "process; main(): toynets.app.main() in it; mlflow imp: importing mlflow, its SQL\n"
            "store and mlflow.keras (before main()); tracking: time in toynets.tracking/runs\n"
            "calls; share: tracking / driver; +import: (tracking + mlflow imp) / driver;\n"
            "-PNG: (tracking - Figure.savefig inside it) / driver, i.e. without matplotlib"
        )
        print()
        print(process_table(job_rows))
        print()
        print(breakdown_table(job_rows))
        print()
        for store in ("fresh", "existing"):
            lazy = sorted(
                {
                    m
                    for r in job_rows
                    if r.store == store
                    for m in r.process["imported_in_job"]
                    if not m.startswith("toynets")
                }
            )
            if any(r.store == store for r in job_rows):
                shown = ", ".join(lazy[:6]) + (", ..." if len(lazy) > 6 else "")
                print(
                    f"{store} store: {len(lazy)} mlflow/sqlalchemy/alembic modules first imported "
                    f"inside the job (counted as tracking time){': ' + shown if lazy else ''}"
                )
        print()
        print(imports_table(imports))
        print(
            f"median of {args.runs}; import: timed inside the process; process: its wall time; "
            "rest: interpreter start + teardown at exit"
        )
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    toynets_row = log_rows[0]
    existing = [r for r in job_rows if r.store == "existing"]
    fresh = [r for r in job_rows if r.store == "fresh"]
    share = statistics.mean(r.share for r in existing) if existing else float("nan")
    share_import = (
        statistics.mean(r.share_with_import for r in existing) if existing else float("nan")
    )
    share_fresh = fresh[0].share
    pct = 100 * TARGET_SHARE
    checks = {
        f"toynets log_series of {args.points} points <= {TARGET_LOG_SECONDS:g} s "
        f"(got {toynets_row.median:.3f} s)": toynets_row.median <= TARGET_LOG_SECONDS,
        "histories read back equal what was sent (every method)": all(r.verified for r in log_rows),
        f"tracking share of the job <= {pct:g} %, existing store (got {100 * share:.1f} %)": share
        <= TARGET_SHARE,
        f"tracking share of the job <= {pct:g} %, fresh store "
        f"(got {100 * share_fresh:.1f} %)": share_fresh <= TARGET_SHARE,
        f"tracking + MLflow import share <= {pct:g} %, existing store "
        f"(got {100 * share_import:.1f} %)": share_import <= TARGET_SHARE,
    }
    print()
    print_checks(checks)
    load_end = load_average()
    total = time.perf_counter() - wall0
    print(
        f"\nbenchmark wall time {total:.0f} s; load average at the end "
        + " ".join(f"{v:.2f}" for v in load_end)
    )

    if args.json is not None:
        out = {
            "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "environment": {
                "python": platform.python_version(),
                "mlflow": mlflow.__version__,
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
                "load_average_start": load_start,
                "load_average_end": load_end,
                "job_overrides": args.job,
                "job_experiments": studies,
                "other_cpu_seconds": {"a": other_a.seconds, "b": other_b.seconds},
            },
            "logging": [{**asdict(r), "median_seconds": r.median} for r in log_rows],
            "job": [
                {
                    "run": r.run,
                    "store": r.store,
                    "plain_wall_seconds": wall,
                    "driver_wall_seconds": r.wall,
                    "tracking_seconds": r.tracking,
                    "mlflow_import_seconds": r.mlflow_import,
                    "share": r.share,
                    "share_with_import": r.share_with_import,
                    "process": r.process,
                }
                for r, wall in zip(job_rows, plain, strict=True)
            ],
            "imports_fresh_process": imports,
            "checks": checks,
            "wall_seconds": total,
        }
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
