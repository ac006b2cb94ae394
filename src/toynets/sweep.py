"""Sweeps (`toynets -m ...`): one parent MLflow run per sweep, one child run per job.

A Hydra callback (registered in conf/config.yaml) does the parent's work in the launching
process, whatever the launcher (basic, joblib, submitit, Ray) or sweeper (basic, Optuna):

- `on_multirun_start`: create the store and the experiment once, before any job starts (a
  fresh SQLite store opened by parallel jobs at once gets corrupted); mark RUNNING runs whose
  process is gone as KILLED; open the parent run with the sweep's config and overrides; hand
  its id (and the resolved store) to every job through `hydra.job.env_set`.
- `on_multirun_end`: summarise the children into the parent: `tables/sweep.csv` (swept
  params, status, error, final metrics of every job, including jobs that never got a run),
  `figures/sweep_<metric>.png` (each final metric against each swept parameter, mean and
  spread over seeds), the best job, and Optuna's best trial when Optuna ran the sweep.

Like `app.py`, this module belongs to the Hydra side; the summary itself is computed by
`toynets.analysis.sweep` and drawn by `toynets.plots.sweep`.
"""

from __future__ import annotations

import math
import os
import socket
import time
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

PARENT_ENV = "TOYNETS_PARENT_RUN_ID"
JOB_TAG = "toynets.job"

# The sweep this process launched (for Ctrl-C) and how it ended (for the exit code).
ACTIVE: dict[str, str] = {}
OUTCOME: dict[str, int] = {"failed": 0}


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
        except Exception:  # an interval: not a list of values
            values[key] = override.get_value_element_as_str()
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

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from toynets import tracking

        base = job_config(config)
        self.uri = tracking.resolve_uri(base["tracking"]["uri"])
        tracking.client_for(self.uri)  # create the store now, once
        cleaned = tracking.clean_stale_runs(self.uri)
        if cleaned:
            print(f"toynets: marked {len(cleaned)} run(s) whose process is gone as KILLED")
        study = base["study"]["name"]
        experiment = base["tracking"]["experiment"] or study
        swept = swept_values(config)
        keys = list(swept)
        overrides = " ".join(config.hydra.overrides.task)
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
                "sweep.dir": str(Path(config.hydra.sweep.dir).resolve()),
                "sweep.launcher": launcher,
                "sweep.sweeper": sweeper,
                "mlflow.note.content": f"toynets -m {overrides}",
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
        ACTIVE.update(uri=self.uri, run_id=self.parent_run_id)
        # Every job composes its config from these overrides (whatever the launcher). The
        # sweep folder is made absolute: Ray runs jobs in the folder where `ray start` ran.
        sweep_dir = str(Path(config.hydra.sweep.dir).resolve())
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

        rows, keys = summarise(self.uri, self.parent_run_id, config)
        recorder = tracking.RunRecorder(tracking.client_for(self.uri), self.parent_run_id)
        log_summary(recorder, rows, keys, config)
        tracking.close_run(recorder)
        ACTIVE.clear()
        failed = sum(1 for r in rows if r["status"] != "FINISHED")
        OUTCOME["failed"] = failed
        print(
            f"toynets: sweep {self.parent_run_id}: {len(rows)} jobs, "
            f"{len(rows) - failed} FINISHED, {failed} not; summary in tables/sweep.csv"
        )


def summarise(uri: str, parent_run_id: str, config: DictConfig) -> tuple[list[dict], list[str]]:
    """One row per job: job number, run, status, error, swept params, final metrics."""
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
            "status": child["status"],
            "error": child["error"] if isinstance(child.get("error"), str) else "",
        }
        for key in keys:
            row[key] = _param(child, key)
        row.update(
            {
                k[len("metrics.") :]: v
                for k, v in child.items()
                if k.startswith("metrics.final/") and _is_number(v)
            }
        )
        rows.append(row)
        seen_jobs.add(str(child.get("job")))
    rows += _jobs_without_runs(Path(config.hydra.sweep.dir), keys, seen_jobs)
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


def _jobs_without_runs(sweep_dir: Path, keys: list[str], seen: set[str]) -> list[dict]:
    """Jobs whose folder exists but that created no run (rejected config, crash at start)."""
    rows = []
    for overrides_file in sorted(sweep_dir.glob("*/.hydra/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        hydra_file = job_dir / ".hydra" / "hydra.yaml"
        job = _job_number(hydra_file) if hydra_file.exists() else job_dir.name
        if str(job) in seen:
            continue
        overrides = yaml.safe_load(overrides_file.read_text()) or []
        values = dict(o.split("=", 1) for o in overrides if "=" in o)
        error_file = job_dir / "error.txt"
        rows.append(
            {
                "job": job,
                "run_id": "",
                "run_name": _name(overrides, keys),
                "status": "NO_RUN",
                "error": error_file.read_text().strip() if error_file.exists() else "",
                **{k: values.get(k) for k in keys},
            }
        )
    return rows


def _job_number(hydra_file: Path) -> Any:
    hydra_cfg = yaml.safe_load(hydra_file.read_text()) or {}
    return hydra_cfg.get("hydra", {}).get("job", {}).get("num")


def log_summary(recorder: Any, rows: list[dict], keys: list[str], config: DictConfig) -> None:
    """tables/sweep.csv, figures/sweep_<metric>.png, counts, best job, Optuna's best trial."""
    from toynets.analysis.sweep import SEED_KEYS, best_row, metric_by_param
    from toynets.plots.sweep import metric_vs_params

    metrics = sorted({k for r in rows for k in r if k.startswith("final/")})
    columns = ["job", "run_id", "run_name", "status", *keys, *metrics, "error"]
    recorder.log_text(_csv(rows, columns), "tables/sweep.csv")
    finished = sum(1 for r in rows if r["status"] == "FINISHED")
    recorder.log_metrics(
        {"sweep/jobs": len(rows), "sweep/finished": finished, "sweep/failed": len(rows) - finished}
    )
    plotted = [k for k in keys if k not in SEED_KEYS] or keys
    for metric in metrics:
        panels = [(k, metric_by_param(rows, k, metric, keys)) for k in plotted]
        panels = [(k, s) for k, s in panels if s]
        if panels:
            figure = metric_vs_params(metric, panels)
            recorder.log_figure(figure, "sweep_" + metric.removeprefix("final/"))
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


def _csv(rows: list[dict], columns: list[str]) -> str:
    from toynets.tracking import write_csv

    return write_csv(
        {c: [r.get(c, "") if r.get(c) is not None else "" for r in rows] for c in columns}
    )


def abort_active(status: str, reason: str) -> None:
    """The sweep ended early (Ctrl-C, or an error in the sweeper or launcher): the parent gets
    `status` and the reason, children whose process is gone are marked KILLED; everything
    logged stays."""
    if not ACTIVE:
        return
    from toynets import tracking

    client = tracking.client_for(ACTIVE["uri"])
    client.set_tag(ACTIVE["run_id"], "error", reason)
    client.set_terminated(ACTIVE["run_id"], status=status)
    tracking.clean_stale_runs(ACTIVE["uri"])
    ACTIVE.clear()


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
