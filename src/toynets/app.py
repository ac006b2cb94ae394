"""`toynets <overrides>`: the Hydra entry point; with `sweep.py` the only code that talks to Hydra.

One job = validate the config -> make the data -> build the model (all before any MLflow run
exists, so bad input costs nothing) -> open the run -> train -> run the study -> log it all.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from toynets.config import Config, register_configs, validate
from toynets.errors import ConfigError, TrainingDiverged

PROJECT_ROOT = Path(__file__).resolve().parents[2]

register_configs()


def describe_model(hidden: list[int], head: str) -> str:
    if hidden:
        return "mlp[" + ",".join(map(str, hidden)) + "]"
    return "linear" if head == "linear" else "logreg"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass
class JobResult:
    run_id: str
    metrics: dict[str, float]  # the final metrics of the run


def run_job(
    cfg: DictConfig,
    hydra_dir: Path | None = None,
    overrides: list[str] | None = None,
    sweep_tags: dict[str, str] | None = None,
) -> JobResult:
    """Run one job for a composed config; return its run id and final metrics."""
    conf: Config = validate(cfg)
    from toynets import data as datasets
    from toynets.model import resolve_head

    seed = conf.seed
    try:
        data = datasets.make(conf.dataset, seed if conf.dataset.seed is None else conf.dataset.seed)
    except ValueError as error:
        raise ConfigError(f"invalid config:\n  - dataset: {error}") from error
    head = resolve_head(conf.model.head, data.task)

    from toynets import studies, tracking
    from toynets.model import build, to_net
    from toynets.train import TrainingInterrupted, fit, seed_everything

    study = studies.get(conf.study.name)
    model_name = describe_model(conf.model.hidden, head)
    run_name = (
        conf.tracking.run_name
        or (sweep_tags or {}).get("mlflow.runName")
        or f"{conf.study.name} {data.name} {model_name} s{seed}"
    )
    tags = {
        "study": conf.study.name,
        "dataset": data.name,
        "model": model_name,
        "seed": seed,
        "overrides": " ".join(overrides or []),
        **(sweep_tags or {}),
    }
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)

    with tracking.start_run(
        conf.tracking.uri, conf.tracking.experiment or conf.study.name, run_name, tags
    ) as rec:
        rec.log_params(tracking.flatten(resolved))
        rec.log_text(OmegaConf.to_yaml(resolved), "config.yaml")
        if hydra_dir is not None and (hydra_dir / ".hydra").is_dir():
            rec.log_dir(hydra_dir / ".hydra", "hydra")

        seed_everything(seed)
        model = build(
            conf.model,
            data.n_features,
            head,
            data.n_classes,
            seed if conf.model.seed is None else conf.model.seed,
        )
        train_seed = seed if conf.train.seed is None else conf.train.seed
        try:
            history = fit(model, data, conf.train, head, train_seed)
        except TrainingInterrupted as stop:  # keep the curves up to Ctrl-C
            _log_history(rec, stop.history)
            raise
        final = {**history.final(), "train/seconds": history.seconds}
        _log_history(rec, history)
        rec.log_metrics(final)

        net = to_net(model)
        rec.log_arrays(net.to_arrays(), "weights/final.npz")

        trained = studies.Trained(model, net, head, data, history, title=run_name, config=conf)
        report = study(trained, conf.study)
        rec.log_report(report)
        if conf.tracking.log_model:
            rec.log_keras_model(model)
        return JobResult(rec.run_id, {**final, **report.metrics})


def _log_history(rec: Any, history: Any) -> None:
    """Training curves (every evaluation, every step) and the weight snapshots."""
    for name, values in history.metrics.items():
        rec.log_series(name, history.eval_step, values)
    rec.log_series("train/step_loss", range(len(history.step_loss)), history.step_loss)
    rec.log_arrays(history.snapshot_arrays(), "weights/snapshots.npz")


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
def _hydra_main(cfg: DictConfig) -> float | None:
    """One job. Returns the objective (e.g. final/test_loss) for sweepers such as Optuna.

    In a sweep a failing job must not stop the others: its error is recorded (FAILED run, or
    `error.txt` in the job folder when it got no run) and None is returned, which Optuna
    records as a failed trial (it refuses NaN and would end the whole study).
    """
    from toynets import sweep

    hydra_cfg = HydraConfig.get()
    hydra_dir = Path(hydra_cfg.runtime.output_dir)
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        result = run_job(cfg, hydra_dir, list(hydra_cfg.overrides.task), sweep.job_tags())
    except Exception as error:
        known = isinstance(error, (ConfigError, TrainingDiverged))
        if not in_sweep:
            if not known:
                raise
            print(f"toynets: {error}", file=sys.stderr)
            raise SystemExit(2 if isinstance(error, ConfigError) else 1) from None
        message = str(error) if known else f"{type(error).__name__}: {error}"
        print(f"toynets: job {hydra_cfg.job.num} failed: {message}", file=sys.stderr)
        (hydra_dir / "error.txt").write_text(message)  # for jobs that never got a run
        return None
    print(f"toynets: run {result.run_id} logged to {_describe_store(cfg)}")
    objective = result.metrics.get(cfg.objective)
    return float(objective) if objective is not None and math.isfinite(objective) else None


def _describe_store(cfg: DictConfig) -> str:
    from toynets.tracking import resolve_uri

    return resolve_uri(cfg.tracking.uri)


def main() -> None:
    """`toynets runs ...` (the run browser) or a Hydra job/sweep."""
    if sys.argv[1:2] == ["runs"]:
        from toynets.cli import runs_main

        raise SystemExit(runs_main(sys.argv[2:]))
    from toynets import sweep

    try:
        _hydra_main()
    except KeyboardInterrupt:
        sweep.abort_active("KILLED", "sweep interrupted (Ctrl-C)")
        print(
            "toynets: interrupted; the run is marked KILLED, what it logged is kept",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    except SystemExit:  # how Hydra reports an error raised by the sweeper or the launcher
        sweep.abort_active("FAILED", "the sweep stopped with an error (see its output)")
        raise
    if sweep.OUTCOME["failed"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
