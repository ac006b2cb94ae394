"""Sweeps (`toynets -m ...`): one parent MLflow run per sweep, one child run per job.

A Hydra callback (registered in conf/config.yaml) does the parent's work in the launching
process, whatever the launcher (basic, joblib, submitit, Ray) or sweeper (basic, Optuna):

- `on_multirun_start`: claim the sweep's own folder (two sweeps started in the same second
  get two); create the store and the experiment once, before any job starts (a fresh SQLite
  store opened by parallel jobs at once gets corrupted); mark RUNNING runs whose process is
  gone as KILLED; open the parent run with the sweep's config and overrides; hand its id (and
  the resolved store) to every job through `hydra.job.env_set`.
- `on_multirun_end`: summarise the children into the parent: `tables/sweep.csv` (swept
  params, status, error, final metrics of every job, including jobs that never got a run),
  `figures/sweep_<metric>.png` (each final metric against each swept parameter, mean and
  spread over seeds), the best job, and Optuna's best trial when Optuna ran the sweep.
- `abort_active` (Ctrl-C, an error of the sweeper or launcher): stop the workers, end every
  child still RUNNING as KILLED, write the table, mark the parent.

toynets' joblib launcher (`launcher.py`) reports here the jobs it was handed (`expect_jobs`)
and those whose worker process died (`fail_lost_job`), so that every job gets its row.

Like `app.py`, this module belongs to the Hydra side; the summary itself is computed by
`toynets.analysis.sweep` and drawn by `toynets.plots.sweep`.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

PARENT_ENV = "TOYNETS_PARENT_RUN_ID"
JOB_TAG = "toynets.job"
# What `hydra/launcher=joblib` names; toynets builds its own subclass instead (launcher.py).
JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
# toynets' own launcher plugin (src/hydra_plugins/toynets_population_launcher).
POPULATION_LAUNCHER = (
    "hydra_plugins.toynets_population_launcher.population_launcher.PopulationLauncher"
)

# The sweep this process launched (uri, run_id, config: for Ctrl-C) and how it ended (for the
# exit code).
ACTIVE: dict[str, Any] = {}
OUTCOME: dict[str, int] = {"failed": 0}
ABORT_WAIT_SECONDS = 5.0  # how long an aborted sweep waits for running jobs to close their runs
WORKER_DIED = "WorkerDied"  # error.type of a run whose process died under it
PARAMS = "params"  # a summary row's key for the job's whole config (flattened, as logged)


@dataclass
class Ledger:
    """What a launcher of ours tells the summary: every job it was handed (number ->
    overrides) and why a job ended without its process (number -> reason), so that a job
    gets its row in `sweep.csv` even when it never got a run."""

    jobs: dict[int, list[str]] = field(default_factory=dict)
    lost: dict[int, str] = field(default_factory=dict)


LEDGER = Ledger()


def swept_values(config: DictConfig) -> dict[str, str]:
    """What the sweep varies, key -> its values: the sweep overrides (`model.hidden=[4],[8]`
    -> `[4],[8]`; `range(1,4)` -> `1,2,3`) and Optuna's params (their search space)."""
    values: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(list(config.hydra.overrides.task)):
        if not override.is_sweep_override():
            continue
        key = override.get_key_element().lstrip("+~")
        try:
            values[key] = ",".join(override.sweep_string_iterator())
        except Exception:  # a search space (Optuna's interval): as typed
            values[key] = str(override.input_line).partition("=")[2]
    for key, space in (OmegaConf.select(config, "hydra.sweeper.params") or {}).items():
        values.setdefault(str(key).lstrip("+~"), str(space))
    return values


def swept_keys(config: DictConfig) -> list[str]:
    """Keys the sweep varies (see `swept_values`)."""
    return list(swept_values(config))


def shared_params(params: dict[str, Any], swept: list[str]) -> dict[str, Any]:
    """The params that every job of the sweep has alike: all but the swept keys, the keys of a
    swept group (`dataset` -> `dataset.*`), and all of them when experiments are swept."""
    if "experiment" in swept:
        return {}
    return {
        k: v for k, v in params.items() if not any(k == s or k.startswith(s + ".") for s in swept)
    }


def job_config(config: DictConfig) -> dict[str, Any]:
    """The config without Hydra's own node, resolved (what a job sees, before its overrides)."""
    container = OmegaConf.to_container(config, resolve=False)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    return OmegaConf.to_container(OmegaConf.create(container), resolve=True)  # type: ignore


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SweepCallback(Callback):
    """Parent run bookkeeping for multiruns (does nothing for single runs)."""

    def __init__(self) -> None:
        self.parent_run_id: str | None = None
        self.uri: str | None = None
        self.study: str | None = None  # the jobs' study (the base config's when they differ)
        self.note = ""  # the parent run's description

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns an exception of a callback into a warning and goes on: a sweep that must
        # not start (bad input, exit code 2) ends here with SystemExit instead.
        from toynets.errors import ConfigError

        try:
            self._start(config)
        except ConfigError as error:
            print(f"toynets: {error}", file=sys.stderr)
            raise SystemExit(2) from None

    def _start(self, config: DictConfig) -> None:
        from toynets import composing, tracking

        composing.install()  # every job is composed several times; the files are read once
        check_launcher(config)
        studies = check_jobs(config)
        use_our_launcher(config)
        sweep_dir = str(sweep_folder(config))
        LEDGER.jobs.clear()
        LEDGER.lost.clear()
        base = job_config(config)
        self.uri = tracking.check_uri(base["tracking"]["uri"])
        tracking.client_for(self.uri)  # create the store now, once
        cleaned = tracking.clean_stale_runs(self.uri)
        if cleaned:
            print(f"toynets: marked {len(cleaned)} run(s) whose process is gone as KILLED")
        study = base["study"]["name"]
        experiment = base["tracking"]["experiment"] or study
        if studies is not None and len(studies) == 1:  # every job's study, not the base's
            study, experiment = next(iter(studies))
        self.study = study
        swept = swept_values(config)
        keys = list(swept)
        overrides = " ".join(config.hydra.overrides.task)
        self.note = f"toynets -m {overrides}"
        sweeper = str(OmegaConf.select(config, "hydra.sweeper._target_") or "").split(".")[-1]
        launcher = str(OmegaConf.select(config, "hydra.launcher._target_") or "").split(".")[-1]
        recorder = tracking.open_run(
            self.uri,
            experiment,
            run_name=f"sweep {study} {time.strftime('%Y-%m-%d %H:%M:%S')}",
            tags={
                tracking.ROLE_TAG: "sweep",
                "study": study,
                "dataset": base["dataset"]["name"],
                "overrides": overrides,
                "sweep.params": " ".join(keys),
                "sweep.dir": sweep_dir,
                "sweep.launcher": launcher,
                "sweep.sweeper": sweeper,
                "mlflow.note.content": self.note,
            },
        )
        self.parent_run_id = recorder.run_id
        recorder.log_params(
            {
                **shared_params(tracking.flatten(base), keys),
                **{f"sweep.{key}": values for key, values in swept.items()},
            }
        )
        recorder.log_text(OmegaConf.to_yaml(base), "config.yaml")
        recorder.close()
        ACTIVE.update(uri=self.uri, run_id=self.parent_run_id, config=config)
        # Every job composes its config from these overrides (whatever the launcher). The
        # sweep folder is made absolute: Ray runs jobs in the folder where `ray start` ran.
        with open_dict(config):
            config.hydra.sweep.dir = sweep_dir
            config.hydra.overrides.hydra.append(f"hydra.sweep.dir={_quote(sweep_dir)}")
            config.hydra.overrides.hydra.append(
                f"++hydra.job.env_set.{PARENT_ENV}={self.parent_run_id}"
            )
            if base["tracking"]["uri"] is None:
                config.hydra.overrides.hydra.append(
                    f"++hydra.job.env_set.MLFLOW_TRACKING_URI={_quote(self.uri)}"
                )
        print(f"toynets: sweep run {self.parent_run_id} in experiment {experiment!r}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.parent_run_id is None or self.uri is None:
            return
        from toynets import tracking

        stop_workers()
        tracking.wait_for_closing()  # the runs of jobs whose figures were still being saved
        rows, keys = summarise(self.uri, self.parent_run_id, config)
        recorder = tracking.RunRecorder(tracking.client_for(self.uri), self.parent_run_id)
        log_summary(recorder, rows, keys, config, study=self.study, uri=self.uri)
        comparison = link_comparison(recorder, rows, self.note)
        tracking.close_run(recorder)
        ACTIVE.clear()
        failed = sum(1 for r in rows if r["status"] != "FINISHED")
        OUTCOME["failed"] = failed
        print(
            f"toynets: sweep {self.parent_run_id}: {len(rows)} jobs, "
            f"{len(rows) - failed} FINISHED, {failed} not; summary in tables/sweep.csv"
        )
        if comparison is not None:
            print(f"toynets: compare the jobs: {comparison_hint(self.uri, comparison)}")


COMPARE_PRINTED = 20  # jobs: the Compare view's address of more is too long to print


def link_comparison(recorder: Any, rows: list[dict], note: str) -> tuple[int, str] | None:
    """Ends the parent run's description with a link to MLflow's Compare view of the jobs
    that have a run, in job order; returns (their number, the view's page), or None when
    there are fewer than two to compare."""
    from toynets import tracking

    jobs = [row for row in rows if row["run_id"]]
    if len(jobs) < 2:
        return None
    page = tracking.compare_page(
        [row["experiment_id"] for row in jobs], [row["run_id"] for row in jobs]
    )
    link = f"[Compare the {len(jobs)} jobs]({page}) in MLflow's Compare view."
    recorder.set_tags({"mlflow.note.content": f"{note}\n\n{link}"})
    return len(jobs), page


def comparison_hint(uri: str, comparison: tuple[int, str]) -> str:
    """What the sweep prints to open the Compare view of its jobs: the address up to
    `COMPARE_PRINTED` jobs, else where the link is."""
    from toynets import tracking

    count, page = comparison
    if count > COMPARE_PRINTED:
        return f"the sweep run's description links to the Compare view of its {count} jobs"
    return tracking.ui_hint(uri, page)


def check_launcher(config: DictConfig) -> None:
    """Refuse launcher options of toynets' launchers that cannot work, before anything is
    created (Hydra builds the launcher only after the sweep has started)."""
    from toynets.errors import ConfigError

    if OmegaConf.select(config, "hydra.launcher._target_") != POPULATION_LAUNCHER:
        return
    max_size = OmegaConf.select(config, "hydra.launcher.max_size")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise ConfigError(population_size_problem(max_size))


def population_size_problem(max_size: object) -> str:
    return (
        f"invalid config:\n  - hydra.launcher.max_size={max_size}: the most nets trained as one "
        "population, an integer >= 1 (1: every job trains alone)"
    )


MAX_CHECKED_JOBS = 1000  # a basic sweep's jobs validated before it starts (each ~0.1 s)


def check_jobs(config: DictConfig) -> set[tuple[str, str]] | None:
    """Compose and validate every job of a basic sweep (its combinations are known up front)
    before anything is created: one bad value refuses the whole sweep with a ConfigError that
    names the job and the problem (exit code 2), instead of running the good jobs and failing
    the bad one. Sweepers that choose values as they go (Optuna) are checked job by job.

    Returns the (study, MLflow experiment) pairs of the checked jobs (None when they are not
    known up front): a sweep over `+experiment=a,b` may run another study than the base."""
    sweeper = str(OmegaConf.select(config, "hydra.sweeper._target_") or "")
    if not sweeper.endswith("BasicSweeper"):
        return None
    from hydra import compose
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    from toynets.app import _hydra_error
    from toynets.config import bool_override_problems, validate
    from toynets.errors import ConfigError

    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    assert isinstance(task, list)
    parsed = OverridesParser.create().parse_overrides([str(o) for o in task])
    jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    problems = []
    studies = set()
    for number, job in enumerate(jobs[:MAX_CHECKED_JOBS]):
        try:
            cfg = compose(config_name=str(config.hydra.job.config_name), overrides=list(job))
            checked = validate(cfg)
            studies.add((checked.study.name, checked.tracking.experiment or checked.study.name))
            found = bool_override_problems(list(job))
        except ConfigError as error:
            found = str(error).removeprefix("invalid config:\n  - ").split("\n  - ")
        except Exception as error:  # Hydra's own: a value of the wrong type, say
            found = [_hydra_error(error) or f"{type(error).__name__}: {error}"]
        problems += [f"job {number} ({' '.join(job)}): {p}" for p in found]
    if problems:
        shown = problems[:10] + ([f"... {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ConfigError("invalid sweep, no job was started:\n  - " + "\n  - ".join(shown))
    return studies if len(jobs) <= MAX_CHECKED_JOBS else None


def summarise(
    uri: str, parent_run_id: str, config: DictConfig, not_run: str = "the job did not run"
) -> tuple[list[dict], list[str]]:
    """One row per job: job number, run, status, error, swept params, final metrics. Jobs
    without a run come from their folders (a rejected config's `error.txt`) and from what the
    launcher reported (`LEDGER`); a job handed to it that never started says `not_run`."""
    from toynets import runs

    keys = swept_keys(config)
    children = runs.find(uri=uri, filter=f"tags.`mlflow.parentRunId` = '{parent_run_id}'")
    rows: list[dict[str, Any]] = []
    seen_jobs = set()
    for child in children.to_dict("records"):
        row: dict[str, Any] = {
            "job": child.get("job"),
            "run_id": child["run_id"],
            "run_name": child["run_name"],
            "experiment_id": child["experiment_id"],
            "artifact_uri": child["artifact_uri"],
            "status": child["status"],
            "error": child["error"] if isinstance(child.get("error"), str) else "",
        }
        for key in keys:
            row[key] = _param(child, key)
        row.update(
            {
                k[len("metrics.") :]: v
                for k, v in child.items()
                if k.startswith("metrics.") and _is_number(v)
            }
        )
        row[PARAMS] = {
            k[len("params.") :]: v
            for k, v in child.items()
            if k.startswith("params.") and isinstance(v, str)
        }
        rows.append(row)
        seen_jobs.add(str(child.get("job")))
    rows += _jobs_without_runs(Path(config.hydra.sweep.dir), keys, seen_jobs, parent_run_id)
    seen_jobs |= {str(row["job"]) for row in rows}
    rows += [
        _no_run_row(num, overrides, keys, LEDGER.lost.get(num, not_run))
        for num, overrides in LEDGER.jobs.items()
        if str(num) not in seen_jobs
    ]
    rows.sort(key=lambda r: int(r["job"]) if str(r["job"]).isdigit() else 1 << 30)
    return rows, keys


def _param(child: dict[str, Any], key: str) -> Any:
    """A swept key's value in a child's params (a group choice like `dataset` -> its name)."""
    for column in (f"params.{key}", f"params.{key}.name"):
        if column in child and child[column] is not None:
            return child[column]
    return None


def _is_number(value: Any) -> bool:
    try:
        return not math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _jobs_without_runs(sweep_dir: Path, keys: list[str], seen: set[str], parent: str) -> list:
    """Jobs of this sweep whose folder exists but that created no run (rejected config, crash
    or death at start); folders another sweep left in the same folder are not ours."""
    rows = []
    for overrides_file in sorted(sweep_dir.glob("*/.hydra/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        hydra_file = job_dir / ".hydra" / "hydra.yaml"
        hydra_cfg = _hydra_of(hydra_file)
        if _parent_of(hydra_cfg) not in (None, parent):
            continue
        job = hydra_cfg.get("job", {}).get("num", job_dir.name)
        if str(job) in seen:
            continue
        overrides = yaml.safe_load(overrides_file.read_text()) or []
        error_file = job_dir / "error.txt"
        error = error_file.read_text().strip() if error_file.exists() else ""
        lost = LEDGER.lost.get(int(job)) if str(job).isdigit() else None
        rows.append(_no_run_row(job, overrides, keys, error or lost or ""))
    return rows


def _no_run_row(job: Any, overrides: list[str], keys: list[str], error: str) -> dict:
    """A job without a run: its swept values from its overrides, status NO_RUN, why."""
    values = dict(o.split("=", 1) for o in overrides if "=" in o)
    return {
        "job": job,
        "run_id": "",
        "run_name": _name(overrides, keys),
        "status": "NO_RUN",
        "error": error,
        **{k: values.get(k) for k in keys},
    }


def _hydra_of(hydra_file: Path) -> dict[str, Any]:
    """The `hydra` node a job folder recorded (empty if it has none)."""
    if not hydra_file.exists():
        return {}
    return (yaml.safe_load(hydra_file.read_text()) or {}).get("hydra", {}) or {}


def _parent_of(hydra_cfg: dict[str, Any]) -> str | None:
    """The parent run a job folder was made for (None when it does not say)."""
    parent = (hydra_cfg.get("job", {}).get("env_set") or {}).get(PARENT_ENV)
    return str(parent) if parent else None


def log_summary(
    recorder: Any,
    rows: list[dict],
    keys: list[str],
    config: DictConfig,
    figures: bool = True,
    study: str | None = None,
    uri: str | None = None,
) -> None:
    """tables/sweep.csv, counts, figures/sweep_<metric>.png (unless `figures` is False: an
    aborted sweep is quick to end), best job, Optuna's best trial; the reproduction table of
    `study` (default: the base config's)."""
    from toynets.analysis.sweep import SEED_KEYS, best_row, metric_by_param

    metrics = sorted({k for r in rows for k in r if k.startswith("final/")})
    columns = ["job", "run_id", "run_name", "status", *keys, *metrics, "error"]
    recorder.log_text(_csv(rows, columns), "tables/sweep.csv")
    finished = sum(1 for r in rows if r["status"] == "FINISHED")
    recorder.log_metrics(
        {"sweep/jobs": len(rows), "sweep/finished": finished, "sweep/failed": len(rows) - finished}
    )
    plotted = [k for k in keys if k not in SEED_KEYS] or keys
    for metric in metrics if figures else []:
        from toynets.plots.sweep import metric_vs_params

        panels = [(k, metric_by_param(rows, k, metric, keys)) for k in plotted]
        panels = [(k, s) for k, s in panels if s]
        if panels:
            figure = metric_vs_params(metric, panels)
            recorder.log_figure(figure, "sweep_" + metric.removeprefix("final/"))
    if figures and uri is not None:
        log_galleries(recorder, rows, keys, uri)
    log_reproduction(recorder, rows, keys, study or str(OmegaConf.select(config, "study.name")))
    objective = str(OmegaConf.select(config, "objective") or "final/test_loss")
    best = best_row(rows, objective)
    if best is not None:
        recorder.set_tags({"best.run_id": best["run_id"], "best.run_name": best["run_name"]})
        recorder.log_metrics({f"best/{objective.removeprefix('final/')}": float(best[objective])})
    optuna = Path(config.hydra.sweep.dir) / "optimization_results.yaml"
    if optuna.exists():
        results = yaml.safe_load(optuna.read_text()) or {}
        recorder.log_file(optuna, None)
        best_params = results.get("best_params") or {}
        recorder.log_params({f"best.{k}": v for k, v in best_params.items()})
        if results.get("best_value") is not None:
            recorder.log_metrics({"best/value": float(results["best_value"])})
    multirun = Path(config.hydra.sweep.dir) / "multirun.yaml"
    if multirun.exists():
        recorder.log_file(multirun, None)


GALLERY_WIDTH = 480  # pixels of each job's picture in it


def log_galleries(recorder: Any, rows: list[dict], keys: list[str], uri: str) -> None:
    """`figures/sweep_gallery_<name>.png` on the parent: the map `<name>` of every FINISHED
    job, laid out by the swept values (`analysis.sweep.gallery_layout`), each captioned with
    its final test accuracy (test loss for regression)."""
    import numpy as np
    from PIL import Image

    from toynets import runs
    from toynets.analysis.sweep import gallery_layout
    from toynets.plots.sweep import sweep_gallery
    from toynets.studies.train import MAP_FIGURES

    finished = [r for r in rows if r["status"] == "FINISHED"]
    if not finished:
        return
    layout = gallery_layout(finished, keys)
    captions = [_gallery_caption(r) for r in finished]
    pictures: dict[str, list[np.ndarray | None]] = {}
    for index, row in enumerate(finished):
        folder = recorder.scratch / "gallery" / row["run_id"]
        for name in MAP_FIGURES:  # a job draws one of them
            path = runs.artifact_file(
                row["run_id"], f"figures/{name}.png", row["artifact_uri"], folder, uri
            )
            if path is not None:
                with Image.open(path) as image:
                    height = round(image.height * GALLERY_WIDTH / image.width)
                    small = image.convert("RGB").resize(
                        (GALLERY_WIDTH, height), Image.Resampling.LANCZOS, reducing_gap=1.0
                    )
                pictures.setdefault(name, [None] * len(finished))[index] = np.asarray(small)
                break
    for name, images in pictures.items():
        figure = sweep_gallery(images, layout, captions, title=f"{name} of every job")
        recorder.log_figure(figure, f"sweep_gallery_{name}")


GALLERY_CAPTIONS = (("final/test_accuracy", "test accuracy"), ("final/test_loss", "test loss"))


def _gallery_caption(row: dict) -> str:
    for metric, label in GALLERY_CAPTIONS:
        if metric in row and math.isfinite(float(row[metric])):
            return f"{label} {float(row[metric]):.3g}"
    return "no test metric"


def log_reproduction(recorder: Any, rows: list[dict], keys: list[str], study: str) -> None:
    """`tables/reproduction.csv`: when the study reproduces a source document, its numbers
    beside the mean, std, min and max over the seeds of the sweep's FINISHED jobs that ran in
    the source's setting, per group of the other swept keys (`dataset.faithful`, say)."""
    from toynets.analysis.reproduction import reproduction_table, source_of
    from toynets.tracking import write_csv

    source = source_of(study)
    if source is None:
        return
    matching = [
        r for r in rows if r["status"] == "FINISHED" and not source.differences(r.get(PARAMS) or {})
    ]
    if not matching:
        print(f"toynets: no job ran in {source.name}'s setting; no tables/reproduction.csv")
        return
    recorder.log_text(
        write_csv(reproduction_table(matching, source, keys)), "tables/reproduction.csv"
    )
    print(
        f"toynets: tables/reproduction.csv: {source.name}'s numbers beside "
        f"{len(matching)} job(s) in its setting"
    )


def _csv(rows: list[dict], columns: list[str]) -> str:
    from toynets.tracking import write_csv

    return write_csv(
        {c: [r.get(c, "") if r.get(c) is not None else "" for r in rows] for c in columns}
    )


def expect_jobs(jobs: dict[int, list[str]]) -> None:
    """A launcher was handed these jobs (number -> overrides): each gets a row in the summary,
    even if it never starts (the sweep was interrupted first)."""
    LEDGER.jobs.update(jobs)


def fail_lost_job(num: int, reason: str) -> None:
    """Job `num` ended without its process (its worker died, or was killed at the launcher's
    timeout): its run, if it got one and nobody closed it, is marked FAILED with `reason` as
    tag `error`; without a run, the summary gives the job a NO_RUN row with the reason."""
    LEDGER.lost[num] = reason
    if not ACTIVE:
        return
    from toynets import tracking

    client = tracking.client_for(ACTIVE["uri"])
    for run in _children(client, ACTIVE["run_id"], f"tags.`{JOB_TAG}` = '{num}'"):
        if run.info.status == "RUNNING":
            client.set_tag(run.info.run_id, "error", reason)
            client.set_tag(run.info.run_id, "error.type", WORKER_DIED)
            client.set_terminated(run.info.run_id, status="FAILED")


def _children(client: Any, parent: str, condition: str = "") -> list:
    """The child runs of sweep `parent` (in any experiment), with an extra filter condition."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    query = f"tags.`mlflow.parentRunId` = '{parent}'" + (f" and {condition}" if condition else "")
    return client.search_runs(experiments, query, max_results=5000) if experiments else []


def launched_here() -> bool:
    """Whether this process launched the sweep it runs a job of (basic or population launcher)."""
    return bool(ACTIVE)


def abort_active(status: str, reason: str) -> None:
    """The sweep ended early (Ctrl-C, or an error in the sweeper or launcher): the workers of
    our launcher stop their jobs (whose runs close as KILLED, keeping what they logged), every
    child still RUNNING a few seconds later is marked KILLED with `reason`, the parent gets
    `tables/sweep.csv` (a row per job, those that never started included), `status` and the
    reason. Runs of this host whose process is gone are cleaned as at a sweep's start."""
    if not ACTIVE:
        return
    from toynets import tracking

    uri, run_id, config = ACTIVE["uri"], ACTIVE["run_id"], ACTIVE.get("config")
    client = tracking.client_for(uri)
    try:
        stop_workers(signal.SIGINT)
        tracking.wait_for_closing()  # jobs that finished, but for their figures
        end_running_children(client, run_id, reason)
        if config is not None:
            rows, keys = summarise(uri, run_id, config, not_run=f"not started: {reason}")
            recorder = tracking.RunRecorder(client, run_id)
            log_summary(recorder, rows, keys, config, figures=False)
            recorder.close()
    except Exception as error:  # the parent is marked below whatever happens
        print(f"toynets: the sweep's summary could not be written: {error}", file=sys.stderr)
    finally:
        client.set_tag(run_id, "error", reason)
        client.set_terminated(run_id, status=status)
        tracking.clean_stale_runs(uri)
        ACTIVE.clear()


def end_running_children(
    client: Any, parent: str, reason: str, wait: float = ABORT_WAIT_SECONDS
) -> list[str]:
    """Wait up to `wait` seconds while children of `parent` are RUNNING and their process may
    still close them (another process alive on this host, or one on another host), then mark
    those still RUNNING as KILLED with `reason`; returns their ids."""
    deadline = time.monotonic() + wait
    running = _children(client, parent, "attributes.status = 'RUNNING'")
    while running and time.monotonic() < deadline:
        if not any(_may_still_close(run.data.tags) for run in running):
            break
        time.sleep(0.25)
        running = _children(client, parent, "attributes.status = 'RUNNING'")
    ended = []
    for run in running:
        if client.get_run(run.info.run_id).info.status != "RUNNING":
            continue  # closed by its job meanwhile
        client.set_tag(run.info.run_id, "error", reason)
        client.set_tag(run.info.run_id, "error.type", "SweepAborted")
        client.set_terminated(run.info.run_id, status="KILLED")
        ended.append(run.info.run_id)
    return ended


def _may_still_close(tags: dict[str, str]) -> bool:
    """Whether the process that writes a run may still close it: alive (or on another host,
    where we cannot tell), and not this process (whose own job, if any, has unwound)."""
    from toynets.tracking import PID_TAG, process_alive

    return process_alive(tags) is not False and tags.get(PID_TAG) != str(os.getpid())


def use_our_launcher(config: DictConfig) -> None:
    """`hydra/launcher=joblib` selects the plugin's JoblibLauncher: have Hydra build toynets'
    subclass of it instead (`launcher.py`: the same config and per-job function, worker
    processes whose death fails only their own job)."""
    if OmegaConf.select(config, "hydra.launcher._target_") == JOBLIB_LAUNCHER:
        from toynets import launcher

        launcher.install()


def stop_workers(signum: int | None = None) -> None:
    """Stop the worker processes of toynets' launcher, if this process started any (with
    `signum`, running jobs are interrupted first: their runs close as KILLED)."""
    launcher = sys.modules.get("toynets.launcher")
    if launcher is not None:
        launcher.stop_all(signum, launcher.GRACE_SECONDS if signum else launcher.STOP_SECONDS)


def sweep_folder(config: DictConfig) -> Path:
    """The sweep's folder, absolute, created. A folder named after the time (`${now:...}` in
    `hydra.sweep.dir`, as the default `multirun/<date>/<time>`) is claimed for this sweep
    alone: if a sweep started in the same second has it, this one takes `<time>_2` (`_3`,
    ...). A folder named as is (`hydra.sweep.dir=runs/lr`) is used as given, as Hydra does,
    even if an earlier sweep used it (their job folders then mix; the summary keeps to its own
    jobs)."""
    written = OmegaConf.to_container(config.hydra.sweep, resolve=False)
    assert isinstance(written, dict)
    path = Path(str(config.hydra.sweep.dir)).resolve()
    if "${now:" in str(written.get("dir", "")):
        return claim_folder(path)
    if any(path.glob("*/.hydra")):
        print(f"toynets: {path} holds job folders of an earlier sweep; this sweep writes there too")
    path.mkdir(parents=True, exist_ok=True)
    return path


def claim_folder(path: Path) -> Path:
    """`path`, or else `path_2`, `path_3`, ...: the first one this process creates itself
    (mkdir is atomic: of two processes claiming the same name, one gets it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        candidate = path if n == 1 else path.with_name(f"{path.name}_{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")


def _name(overrides: list[str], swept: list[str]) -> str:
    """A job's name: its values of the swept keys (`model.hidden=[8] seed=1`)."""
    named = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    return " ".join(named or overrides)


def job_tags() -> dict[str, str]:
    """Tags of a sweep job: its parent and its number (empty outside sweeps)."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return {}
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = HydraConfig.get()
    return {
        "mlflow.parentRunId": parent,
        JOB_TAG: str(hydra_cfg.job.num),
        "toynets.job_dir": str(Path(hydra_cfg.runtime.output_dir).resolve()),
        "toynets.worker": socket.gethostname(),
    }
