"""Benchmark: a sweep of small jobs with Hydra's joblib launcher against the basic (sequential)
launcher, side by side, and where each job's time goes.

The sweep: `toynets -m seed=0,1,...,15 study=train train.epochs=2 study.grid=20
tracking.log_model=false`, 16 small circle-net jobs (64 optimizer steps each, the `train` study
pinned whatever the default study is), each sweep in a fresh temporary folder (with a
fresh store): with the basic launcher (every job in the launching process, one after the other)
and with `hydra/launcher=joblib hydra.launcher.n_jobs=2` (loky worker processes), `--repeats`
times each (2), alternating which goes first. Measured:

1. the wall time of each sweep (the `toynets -m` process) and the speed-up of joblib (median
   basic wall / median joblib wall);
2. per-job overhead:
   a. a fresh process starting and importing what a job needs (what every joblib worker, or a
      launcher that starts one process per job, pays once), timed several times;
   b. inside each sweep, from MLflow's records (`toynets.runs.find` for the runs, the client for
      their end times and the timestamps of their metrics): the run's duration, its
      `train/seconds`, the gaps between runs in one process, the time before the first job and
      after the last one, and per job the segments before training, training, history logging
      and weights + study + figures.

Checked: every sweep logged 16 FINISHED children and one parent (tag `toynets.role=sweep`),
and the same seed gives the same `final/test_loss` in every sweep, whatever the launcher
(bit-identical).

    python benchmarks/bench_sweep.py            # ~3.5 min on 2 cores
    python benchmarks/bench_sweep.py --quick    # 8 jobs, 1 sweep each, ~1.5 min
    python benchmarks/bench_sweep.py --json out.json
"""

# ruff: noqa: E402  (sys.path must be set before the imports below)

from __future__ import annotations

import argparse
import importlib.util
import itertools
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("toynets") is None:  # not installed: use the source tree
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
    )

from _common import cpu_seconds, load_average, print_checks, toynets_command, write_json

from toynets import runs, tracking

OTHER_CPU_WARN = 5.0  # CPU seconds of other processes during a sweep worth a warning

IMPORTS = {
    "python (nothing)": "pass",
    "toynets.app, .train, .tracking, mlflow.keras": (
        "import toynets.app, toynets.train, toynets.tracking, mlflow.keras"
    ),
    "+ toynets.studies.train, mlflow SQL store": (
        "import toynets.app, toynets.train, toynets.tracking, mlflow.keras, "
        "toynets.studies.train, mlflow.store.tracking.sqlalchemy_store, mlflow.store.db.utils"
    ),
}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def mean(values: list[float]) -> float:
    return statistics.mean(values) if values else float("nan")


# ---------------------------------------------------------------------------------------------
# a. a fresh process importing what a job needs


def process_costs(repeats: int, root: Path) -> dict[str, list[float]]:
    """Wall seconds of `python -c "import ..."` (a whole process: start, imports, exit)."""
    out: dict[str, list[float]] = {}
    for label, code in IMPORTS.items():
        out[label] = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", code], cwd=root, capture_output=True, text=True
            )
            out[label].append(time.perf_counter() - t0)
            if done.returncode != 0:
                raise RuntimeError(f"python -c {code!r} failed:\n{done.stderr}")
    return out


# ---------------------------------------------------------------------------------------------
# b. the sweeps


@dataclass
class Job:
    seed: str
    status: str
    pid: str
    start: float  # seconds since the epoch, from MLflow (ms resolution)
    end: float
    train: float  # train/seconds
    history: float  # timestamp of the first metric history (logged right after training)
    final: float  # timestamp of the final/* metrics (after the history)
    test_loss: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Sweep:
    kind: str  # basic / joblib
    label: str
    jobs_asked: int
    launched: float  # time.time() just before the `toynets -m` process started
    wall: float
    other_cpu: float  # CPU seconds used meanwhile by processes other than this benchmark's
    parents: list[dict] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    parent_start: float = float("nan")  # the sweep's parent run, from MLflow
    parent_end: float = float("nan")

    @property
    def finished(self) -> int:
        return sum(j.status == "FINISHED" for j in self.jobs)

    @property
    def ok(self) -> bool:
        return (
            len(self.parents) == 1
            and self.parents[0]["status"] == "FINISHED"
            and len(self.jobs) == self.jobs_asked
            and self.finished == self.jobs_asked
        )

    def gaps(self) -> list[float]:
        """Seconds from a run's end to the next run's start in the same process."""
        out = []
        for pid in {j.pid for j in self.jobs}:
            mine = sorted((j for j in self.jobs if j.pid == pid), key=lambda j: j.start)
            out += [b.start - a.end for a, b in itertools.pairwise(mine)]
        return out

    def segments(self) -> dict[str, float]:
        """Mean seconds per job of each part of the sweep (see the README)."""
        jobs = self.jobs
        first = min(j.start for j in jobs)
        last = max(j.end for j in jobs)
        exit_ = self.launched + self.wall
        return {
            "wall / jobs": self.wall / len(jobs),
            "launch -> parent run opens (total, not per job)": self.parent_start - self.launched,
            "parent opens -> first run starts (total)": first - self.parent_start,
            "first run start -> last run end, / jobs": (last - first) / len(jobs),
            "last run ends -> parent closes (total)": self.parent_end - last,
            "parent closes -> process exit (total)": exit_ - self.parent_end,
            "between runs in one process (Hydra, data, ...)": mean(self.gaps()),
            "run duration (start -> end)": mean([j.duration for j in jobs]),
            "  before training (params, config, build, ...)": mean(
                [j.history - j.start - j.train for j in jobs]
            ),
            "  training (train/seconds)": mean([j.train for j in jobs]),
            "  history logging (metrics, snapshots)": mean([j.final - j.history for j in jobs]),
            "  final metrics -> end (weights, study, PNGs)": mean([j.end - j.final for j in jobs]),
        }


def _first_timestamp(client: tracking.RetryingClient, run_id: str, keys: list[str]) -> float:
    stamps = [m.timestamp for k in keys for m in client.get_metric_history(run_id, k)]
    return min(stamps) / 1e3 if stamps else float("nan")


def collect(sweep: Sweep, uri: str) -> None:
    """The parent and child runs of the sweep's store, with their times."""
    parents = runs.find(uri=uri, role="sweep")
    sweep.parents = parents[["run_id", "status"]].to_dict("records")
    if len(parents) != 1:
        return
    children = runs.find(uri=uri, filter=f"tags.`mlflow.parentRunId` = '{parents.run_id[0]}'")
    client = tracking.client_for(uri)
    parent = client.get_run(parents.run_id[0]).info
    sweep.parent_start = parent.start_time / 1e3
    sweep.parent_end = (parent.end_time or parent.start_time) / 1e3
    for row in children.to_dict("records"):
        run = client.get_run(row["run_id"])  # runs.find has no end time
        history = _first_timestamp(client, row["run_id"], ["train/loss", "train/step_loss"])
        final = _first_timestamp(client, row["run_id"], ["final/test_loss"])
        sweep.jobs.append(
            Job(
                seed=str(row.get("params.seed")),
                status=row["status"],
                pid=run.data.tags.get(tracking.PID_TAG, "?"),
                start=run.info.start_time / 1e3,
                end=(run.info.end_time or run.info.start_time) / 1e3,
                train=float(row.get("metrics.train/seconds", float("nan"))),
                history=history,
                final=final,
                test_loss=float(row.get("metrics.final/test_loss", float("nan"))),
            )
        )


def run_sweep(root: Path, kind: str, label: str, overrides: list[str], jobs: int) -> Sweep:
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=root))
    load = " ".join(f"{v:.2f}" for v in load_average())
    print(f"running the {label} sweep ({jobs} jobs); load average {load}", flush=True)
    busy0, own0 = cpu_seconds()
    launched = time.time()
    t0 = time.perf_counter()
    done = subprocess.run(
        [*toynets_command(), "-m", *overrides], cwd=folder, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    busy1, own1 = cpu_seconds()
    if done.returncode != 0:
        print(f"warning: {label} sweep exited with {done.returncode}:\n{done.stderr[-2000:]}")
    sweep = Sweep(kind, label, jobs, launched, wall, max(0.0, (busy1 - busy0) - (own1 - own0)))
    collect(sweep, f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
    return sweep


# ---------------------------------------------------------------------------------------------
# report


def sweep_table(sweeps: list[Sweep]) -> str:
    width = max(len(s.label) for s in sweeps)
    head = (
        f"{'launcher':<{width}}  {'jobs':>4}  {'wall s':>7}  {'s/job':>6}  {'speed-up':>8}  "
        f"{'FINISHED':>8}  {'parent':>6}  {'processes':>9}  {'other CPU':>9}"
    )
    lines = [head, "-" * len(head)]
    reference = median([s.wall for s in sweeps if s.kind == "basic"])
    for s in sweeps:
        lines.append(
            f"{s.label:<{width}}  {s.jobs_asked:>4d}  {s.wall:>7.2f}  "
            f"{s.wall / s.jobs_asked:>6.2f}  {reference / s.wall:>7.2f}x  "
            f"{f'{s.finished}/{s.jobs_asked}':>8}  {len(s.parents):>6d}  "
            f"{len({j.pid for j in s.jobs}):>9d}  {s.other_cpu:>8.1f}s"
        )
    return "\n".join(lines)


def segments_table(sweeps: list[Sweep]) -> str:
    """Each launcher's segments, the mean over its repeats."""
    names = list(dict.fromkeys(s.kind for s in sweeps))
    each = {n: [s.segments() for s in sweeps if s.kind == n] for n in names}
    parts = [{k: mean([d[k] for d in each[n]]) for k in each[n][0]} for n in names]
    width = max(len(k) for k in parts[0])
    head = f"{'seconds (mean per job unless said)':<{width}}" + "".join(f"  {n:>8}" for n in names)
    lines = [head, "-" * len(head)]
    for key in parts[0]:
        lines.append(f"{key:<{width}}" + "".join(f"  {p[key]:>8.3f}" for p in parts))
    return "\n".join(lines)


def costs_table(costs: dict[str, list[float]]) -> str:
    width = max(len(k) for k in costs)
    head = f"{'fresh process: python -c import ...':<{width}}  {'median':>6}  runs"
    lines = [head, "-" * (len(head) + 12)]
    for label, values in costs.items():
        runs_text = ", ".join(f"{v:.2f}" for v in values)
        lines.append(f"{label:<{width}}  {median(values):>6.2f}  {runs_text}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=None, help="jobs per sweep (16; quick 8)")
    p.add_argument("--n-jobs", type=int, default=2, help="joblib workers (2)")
    p.add_argument(
        "--repeats", type=int, default=None, help="sweeps per launcher, alternated (2; quick 1)"
    )
    p.add_argument("--epochs", type=int, default=2, help="train.epochs of each job (2)")
    p.add_argument("--study", default="train", help="study of each job (train)")
    p.add_argument("--grid", type=int, default=20, help="study.grid of each job (20)")
    p.add_argument(
        "--import-repeats", type=int, default=None, help="fresh-process timings (3; quick 2)"
    )
    p.add_argument(
        "--quick", action="store_true", help="8 jobs, 1 sweep per launcher, 2 import timings"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the numbers")
    args = p.parse_args(argv)
    if args.jobs is None:
        args.jobs = 8 if args.quick else 16
    if args.import_repeats is None:
        args.import_repeats = 2 if args.quick else 3
    if args.repeats is None:
        args.repeats = 1 if args.quick else 2
    for key in ("jobs", "n_jobs", "epochs", "grid", "import_repeats", "repeats"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    wall0 = time.perf_counter()
    load_start = load_average()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}; "
        "load average " + " ".join(f"{v:.2f}" for v in load_start)
    )
    overrides = [
        "seed=" + ",".join(str(s) for s in range(args.jobs)),
        f"study={args.study}",
        f"train.epochs={args.epochs}",
        f"study.grid={args.grid}",
        "tracking.log_model=false",
    ]
    print(f"sweep: toynets -m {' '.join(overrides)}")
    root = Path(tempfile.mkdtemp(prefix="toynets-bench-sweep-"))
    try:
        kinds = {
            "basic": ("basic (sequential)", overrides),
            "joblib": (
                f"joblib n_jobs={args.n_jobs}",
                [*overrides, "hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.n_jobs}"],
            ),
        }
        sweeps = []
        for r in range(args.repeats):  # ABBA...: a drift of the machine's load hits both alike
            order = ["basic", "joblib"] if r % 2 == 0 else ["joblib", "basic"]
            for kind in order:
                label, extra = kinds[kind]
                sweeps.append(run_sweep(root, kind, f"{label} #{r + 1}", extra, args.jobs))
        costs = process_costs(args.import_repeats, root)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    basics = [s for s in sweeps if s.kind == "basic"]
    joblibs = [s for s in sweeps if s.kind == "joblib"]

    print()
    print(sweep_table(sweeps))
    basic_wall = median([s.wall for s in basics])
    joblib_wall = median([s.wall for s in joblibs])
    speed_up = basic_wall / joblib_wall
    print(
        f"median wall: basic {basic_wall:.2f} s, joblib {joblib_wall:.2f} s, speed-up "
        f"{speed_up:.2f}x\nspeed-up: median basic wall / wall; processes: distinct processes "
        "that wrote the job runs;\nother CPU: CPU seconds taken meanwhile by processes outside "
        "this benchmark (load)"
    )
    shared = [s.label for s in sweeps if s.other_cpu > OTHER_CPU_WARN]
    if shared:
        print(
            f"warning: other processes took > {OTHER_CPU_WARN:g} CPU-s during {', '.join(shared)}: "
            "those walls are inflated"
        )
    if all(s.jobs for s in sweeps):
        print()
        print(segments_table(sweeps))
        print(
            f"mean over the {args.repeats} sweep(s) of each launcher, from MLflow: run "
            "start/end times,\ntrain/seconds, and the timestamps of the first metric history "
            "(logged right after\ntraining) and of final/test_loss"
        )
    print()
    print(costs_table(costs))
    print(f"wall time of the whole process, median of {args.import_repeats}")

    reference = {j.seed: j.test_loss for j in basics[0].jobs}
    same = [
        seed
        for seed, loss in reference.items()
        if all(any(j.seed == seed and j.test_loss == loss for j in sweep.jobs) for sweep in sweeps)
    ]
    n, k = args.jobs, args.repeats
    checks = {
        f"basic: {n} FINISHED children + 1 parent (toynets.role=sweep), {k} sweep(s)": all(
            s.ok for s in basics
        ),
        f"joblib: {n} FINISHED children + 1 parent (toynets.role=sweep), {k} sweep(s)": all(
            s.ok for s in joblibs
        ),
        f"same final/test_loss per seed in every sweep ({len(same)}/{n} bit-identical)": (
            len(same) == n
        ),
        f"joblib n_jobs={args.n_jobs} faster than sequential (speed-up {speed_up:.2f}x > 1)": (
            speed_up > 1.0
        ),
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
            "overrides": overrides,
            "environment": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "machine": platform.machine(),
                "load_average_start": load_start,
                "load_average_end": load_end,
            },
            "sweeps": [
                {
                    "kind": s.kind,
                    "label": s.label,
                    "wall_seconds": s.wall,
                    "other_cpu_seconds": s.other_cpu,
                    "speed_up": basic_wall / s.wall,
                    "finished": s.finished,
                    "parents": s.parents,
                    "segments": s.segments() if s.jobs else {},
                    "jobs": [j.__dict__ for j in s.jobs],
                }
                for s in sweeps
            ],
            "median_wall_seconds": {"basic": basic_wall, "joblib": joblib_wall},
            "speed_up": speed_up,
            "fresh_process_seconds": costs,
            "checks": checks,
            "wall_seconds": total,
        }
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
