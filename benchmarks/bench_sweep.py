"""Benchmark: what a sweep costs against one single job, per launcher (issue 12's targets).

The job is `toynets study=train` (the §1 circle net: 2 -> 20 relu -> 2, 640 Adam steps, the
200 x 200 maps, two figures, the logged model). Side by side, in fresh temporary folders, each
with its store already made (as after a user's first run there; making a new store, MLflow's
~50 schema migrations, is timed apart), `--repeats` rounds (2) in rotated order:

- the single job (`toynets study=train seed=0`);
- the basic launcher's 8-job seed sweep (every job in the launching process);
- the population launcher's 16-job seed sweep (`hydra/launcher=population`: the 16 nets train
  as one population, then each job logs its run);
- joblib's 16-job sweep with 2 workers (`--no-joblib` leaves it out);

then once: the population launcher's 100-job sweep (`model.hidden=[4],[8],[12],[16],[20]
train.lr=0.003,0.01 seed=0..9`), `bench_population.py --k 100` (training 100 nets as one
population against one after another), and fresh processes that only import what a job
imports (the process start). Reported, from the wall times and MLflow's records (run start and
end, `train/seconds`, metric timestamps): each sweep's wall time over the single job's, where
a sweep's time goes, and the targets as PASS/FAIL lines (exit status 0 either way):

1. a single job costs at most 2x its training beyond the process start, and so does each job
   of the basic sweep after the first (sweep wall - single job wall, per added job);
2. the population sweep of 16 jobs <= 1.5x the single job, the basic one of 8 <= 1.6x;
3. 100 nets as one population >= 20x faster than one after another;
4. the 100-job population sweep <= 60 s.

Checked too: every job FINISHED with one parent per sweep; the same seed gives a bit-identical
`final/test_loss` in the single job, the basic and the joblib sweeps, and the population's
members the same to 1e-4 (float32 round-off of batched training).

    python benchmarks/bench_sweep.py            # ~6 min on 2 cores
    python benchmarks/bench_sweep.py --quick    # 1 round, no joblib, ~3 min
    python benchmarks/bench_sweep.py --json out.json
"""

# ruff: noqa: E402  (sys.path must be set before the imports below)

from __future__ import annotations

import argparse
import importlib.util
import itertools
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

# In a job's order: the app and MLflow, then TensorFlow through `console.import_tensorflow` (the
# collector paused, the import's objects frozen), then what the job imports after it.
_JOB_IMPORT = (
    "import toynets.app, toynets.tracking; import toynets.console as c; c.import_tensorflow(); "
)
IMPORTS = {
    "python (nothing)": "pass",
    "toynets.app, .train, .tracking, mlflow.keras": (
        _JOB_IMPORT + "import toynets.train, mlflow.keras"
    ),
    "+ toynets.studies.train, mlflow SQL store": (
        _JOB_IMPORT + "import toynets.train, mlflow.keras, toynets.studies.train, "
        "mlflow.store.tracking.sqlalchemy_store, mlflow.store.db.utils"
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
            len(self.parents) == (0 if self.kind == "single" else 1)
            and all(parent["status"] == "FINISHED" for parent in self.parents)
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

    def median_train(self) -> float:
        return median([j.train for j in self.jobs])

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
    """The parent and child runs of the sweep's store (the one run of a single job), with
    their times."""
    parents = runs.find(uri=uri, role="sweep")
    sweep.parents = parents[["run_id", "status"]].to_dict("records")
    client = tracking.client_for(uri)
    if sweep.kind == "single":
        children = runs.find(uri=uri)
    elif len(parents) != 1:
        return
    else:
        children = runs.find(uri=uri, filter=f"tags.`mlflow.parentRunId` = '{parents.run_id[0]}'")
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


def new_store(folder: Path) -> str:
    """The URI of the embedded store in `folder`, made now (schema and default experiment)."""
    (folder / "mlruns").mkdir()
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    tracking.client_for(uri)
    return uri


def store_creation(root: Path, repeats: int) -> list[float]:
    """Seconds to make a new store in this process (MLflow and its SQL store imported)."""
    times = []
    for _ in range(repeats):
        folder = Path(tempfile.mkdtemp(prefix="store-", dir=root))
        t0 = time.perf_counter()
        new_store(folder)
        times.append(time.perf_counter() - t0)
    return times


def run_sweep(root: Path, kind: str, label: str, overrides: list[str], jobs: int) -> Sweep:
    """`toynets -m OVERRIDES` (`toynets OVERRIDES` for kind "single") in a fresh folder whose
    store exists already."""
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=root))
    uri = new_store(folder)
    load = " ".join(f"{v:.2f}" for v in load_average())
    print(f"running {label} ({jobs} jobs); load average {load}", flush=True)
    busy0, own0 = cpu_seconds()
    launched = time.time()
    t0 = time.perf_counter()
    multirun = [] if kind == "single" else ["-m"]
    done = subprocess.run(
        [*toynets_command(), *multirun, *overrides], cwd=folder, capture_output=True, text=True
    )
    wall = time.perf_counter() - t0
    busy1, own1 = cpu_seconds()
    if done.returncode != 0:
        print(f"warning: {label} sweep exited with {done.returncode}:\n{done.stderr[-2000:]}")
    sweep = Sweep(kind, label, jobs, launched, wall, max(0.0, (busy1 - busy0) - (own1 - own0)))
    collect(sweep, uri)
    return sweep


# ---------------------------------------------------------------------------------------------
# report


def sweep_table(sweeps: list[Sweep]) -> str:
    width = max(len(s.label) for s in sweeps)
    head = (
        f"{'launcher':<{width}}  {'jobs':>4}  {'wall s':>7}  {'s/job':>6}  {'x single':>8}  "
        f"{'FINISHED':>8}  {'parent':>6}  {'processes':>9}  {'other CPU':>9}"
    )
    lines = [head, "-" * len(head)]
    reference = median([s.wall for s in sweeps if s.kind == "single"])
    for s in sweeps:
        lines.append(
            f"{s.label:<{width}}  {s.jobs_asked:>4d}  {s.wall:>7.2f}  "
            f"{s.wall / s.jobs_asked:>6.2f}  {s.wall / reference:>7.2f}x  "
            f"{f'{s.finished}/{s.jobs_asked}':>8}  {len(s.parents):>6d}  "
            f"{len({j.pid for j in s.jobs}):>9d}  {s.other_cpu:>8.1f}s"
        )
    return "\n".join(lines)


def segments_table(sweeps: list[Sweep]) -> str:
    """Each launcher's segments, the mean over its repeats."""
    names = list(dict.fromkeys(s.kind for s in sweeps if s.kind != "single"))
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
    p.add_argument("--jobs", type=int, default=16, help="jobs of the population sweep (16)")
    p.add_argument("--basic-jobs", type=int, default=8, help="jobs of the basic sweep (8)")
    p.add_argument("--n-jobs", type=int, default=2, help="joblib workers (2)")
    p.add_argument("--no-joblib", action="store_true", help="leave the joblib sweep out")
    p.add_argument(
        "--repeats", type=int, default=None, help="rounds of single/basic/population (2; quick 1)"
    )
    p.add_argument("--study", default="train", help="study of each job (train)")
    p.add_argument("--epochs", type=int, default=None, help="train.epochs (the config's: 20)")
    p.add_argument("--grid", type=int, default=None, help="study.grid (the config's: 200)")
    p.add_argument("--big", type=int, default=10, help="seeds of the 100-job sweep (10; 0: skip)")
    p.add_argument("--k", type=int, default=100, help="nets of bench_population.py (100; 0: skip)")
    p.add_argument(
        "--import-repeats", type=int, default=None, help="fresh-process timings (3; quick 2)"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 round, no joblib, 2 import timings, 20 nets in bench_population",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="write the numbers")
    args = p.parse_args(argv)
    if args.import_repeats is None:
        args.import_repeats = 2 if args.quick else 3
    if args.repeats is None:
        args.repeats = 1 if args.quick else 2
    if args.quick:
        args.no_joblib, args.k = True, min(args.k, 20)
    for key in ("jobs", "basic_jobs", "n_jobs", "import_repeats", "repeats"):
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be >= 1")
    return args


def population_training(k: int, root: Path) -> dict:
    """bench_population.py's K nets as one population against one after another."""
    out = root / "population.json"
    print(f"running bench_population.py --k {k}", flush=True)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_population.py"),
            "--k",
            str(k),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"bench_population.py failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    wall0 = time.perf_counter()
    load_start = load_average()
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}; "
        "load average " + " ".join(f"{v:.2f}" for v in load_start)
    )
    job = [f"study={args.study}"]
    job += [f"train.epochs={args.epochs}"] if args.epochs else []
    job += [f"study.grid={args.grid}"] if args.grid else []

    def seeds(n: int) -> str:
        return "seed=" + ",".join(str(s) for s in range(n))

    kinds = {
        "single": ("single job", [*job, "seed=0"], 1),
        "basic": (
            f"basic, {args.basic_jobs} jobs",
            [*job, seeds(args.basic_jobs)],
            args.basic_jobs,
        ),
        "population": (
            f"population, {args.jobs} jobs",
            [*job, seeds(args.jobs), "hydra/launcher=population"],
            args.jobs,
        ),
    }
    if not args.no_joblib:
        kinds["joblib"] = (
            f"joblib n_jobs={args.n_jobs}, {args.jobs} jobs",
            [
                *job,
                seeds(args.jobs),
                "hydra/launcher=joblib",
                f"hydra.launcher.n_jobs={args.n_jobs}",
            ],
            args.jobs,
        )
    widths = "model.hidden=[4],[8],[12],[16],[20]"
    big = [*job, widths, "train.lr=0.003,0.01", seeds(args.big), "hydra/launcher=population"]
    print(f"the job: toynets {' '.join(job)}")
    root = Path(tempfile.mkdtemp(prefix="toynets-bench-sweep-"))
    try:
        sweeps = []
        for r in range(args.repeats):  # rotated: a drift of the machine's load hits all alike
            order = list(kinds)[r % len(kinds) :] + list(kinds)[: r % len(kinds)]
            for kind in order:
                label, overrides, n = kinds[kind]
                sweeps.append(run_sweep(root, kind, f"{label} #{r + 1}", overrides, n))
        big_sweep = None
        if args.big:
            big_sweep = run_sweep(
                root, "population100", f"{10 * args.big} jobs", big, 10 * args.big
            )
        population = population_training(args.k, root) if args.k else None
        costs = process_costs(args.import_repeats, root)
        creation = store_creation(root, args.import_repeats)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    by_kind = {kind: [s for s in sweeps if s.kind == kind] for kind in kinds}
    walls = {kind: median([s.wall for s in found]) for kind, found in by_kind.items()}
    print()
    print(sweep_table(sweeps + ([big_sweep] if big_sweep else [])))
    print(
        "x single: wall / median wall of the single job; processes: distinct processes that "
        "wrote the job runs;\nother CPU: CPU seconds taken meanwhile by processes outside this "
        "benchmark (load)"
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
    print(
        f"making a new store (a folder's first run pays it once): {median(creation):.2f} s, "
        f"median of {len(creation)}"
    )

    start = median(costs[list(IMPORTS)[-1]])  # the process start of a job: what it imports
    single = walls["single"]
    single_train = median([j.train for s in by_kind["single"] for j in s.jobs])
    single_cost = single - start
    n_basic = args.basic_jobs
    marginal = (walls["basic"] - single) / max(1, n_basic - 1)
    sweep_train = median([j.train for s in by_kind["basic"] for j in s.jobs])
    print()
    print(
        f"single job: {single:.2f} s wall, {start:.2f} s of process start (imports), "
        f"{single_cost:.2f} s beyond it; training {single_train:.2f} s (first trace included)"
    )
    print(
        f"basic sweep: each job after the first adds {marginal:.2f} s; a job's training "
        f"{sweep_train:.2f} s (trace reused)"
    )
    if population:
        print(
            f"bench_population.py --k {population['k']}: one after another "
            f"{population['sequential_s']:.2f} s, one population {population['population_s']:.2f} s"
        )

    reference = {j.seed: j.test_loss for j in by_kind["basic"][0].jobs}
    exact = [s for s in sweeps if s.kind in ("basic", "joblib", "single")]
    same = [
        seed
        for seed, loss in reference.items()
        if all(j.test_loss == loss for s in exact for j in s.jobs if j.seed == seed)
    ]
    close = [
        seed
        for seed, loss in reference.items()
        if all(
            abs(j.test_loss - loss) <= 1e-4 * abs(loss)
            for s in by_kind["population"]
            for j in s.jobs
            if j.seed == seed
        )
    ]
    checks = {
        f"all jobs FINISHED, 1 parent per sweep, none for the single job ({len(sweeps)})": all(
            s.ok for s in sweeps
        ),
        f"same final/test_loss per seed, single/basic/joblib ({len(same)}/{n_basic} identical)": (
            len(same) == n_basic
        ),
        f"population members' final/test_loss within 1e-4 of the basic sweep's ({len(close)}/"
        f"{n_basic})": len(close) == n_basic,
        f"a single study=train job costs <= 2x its training beyond the process start "
        f"({single_cost:.2f} s vs 2 x {single_train:.2f} s)": single_cost <= 2 * single_train,
        f"a job of a basic sweep costs <= 2x its training ({marginal:.2f} s vs 2 x "
        f"{sweep_train:.2f} s)": marginal <= 2 * sweep_train,
        f"population sweep of {args.jobs} jobs <= 1.5x one single job "
        f"({walls['population'] / single:.2f}x)": walls["population"] <= 1.5 * single,
        f"basic sweep of {n_basic} jobs <= 1.6x one single job "
        f"({walls['basic'] / single:.2f}x)": walls["basic"] <= 1.6 * single,
    }
    if population:
        checks[
            f"{population['k']} nets as one population >= 20x one after another "
            f"({population['speedup']:.1f}x)"
        ] = population["speedup"] >= 20
    if big_sweep:
        checks[
            f"{big_sweep.jobs_asked}-job population sweep <= 60 s ({big_sweep.wall:.1f} s, "
            f"{big_sweep.finished} FINISHED)"
        ] = big_sweep.wall <= 60 and big_sweep.ok
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
            "job": job,
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
                    "finished": s.finished,
                    "parents": s.parents,
                    "segments": s.segments() if s.jobs and s.kind != "single" else {},
                    "jobs": [j.__dict__ for j in s.jobs],
                }
                for s in sweeps + ([big_sweep] if big_sweep else [])
            ],
            "median_wall_seconds": walls,
            "process_start_seconds": start,
            "population_training": population,
            "fresh_process_seconds": costs,
            "new_store_seconds": creation,
            "checks": checks,
            "wall_seconds": total,
        }
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
