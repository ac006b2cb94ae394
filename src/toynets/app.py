"""`toynets <overrides>`: the Hydra entry point; with `sweep.py` the only code that talks to Hydra.

One job = validate the config -> make the data -> build the model (all before any MLflow run
exists, so bad input costs nothing) -> open the run -> train -> run the study -> log it all.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from toynets import console
from toynets.config import Config, register_configs, validate
from toynets.errors import ConfigError, TrainingDiverged

PACKAGE_DIR = Path(__file__).resolve().parent
# conf/ inside the package: in a checkout a link to the top-level conf/ (the source of truth),
# in a built wheel a copy of it.
CONFIG_DIR = PACKAGE_DIR / "conf"

register_configs()


def describe_model(hidden: list[int], head: str) -> str:
    if hidden:
        return "mlp[" + ",".join(map(str, hidden)) + "]"
    return "linear" if head == "linear" else "logreg"


# Overrides a run's name never shows: the name has them already (dataset, model, study, seed) or
# they do not change the net (where runs are logged, progress bars, what a sweeper optimises).
UNNAMED_KEYS = ("dataset", "dataset.name", "model", "model.hidden", "study", "study.name", "seed")
UNNAMED_PREFIXES = ("tracking", "hydra", "experiment", "objective", "train.progress")
NAME_LENGTH = 120


def _short_value(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return text.replace(" ", "")
    return f"{value:.4g}" if "." in text or "e" in text.lower() else text


def describe_run(
    study: str, dataset: str, model: str, seed: int, overrides: list[str], params: Mapping
) -> str:
    """`<study> <dataset> <model> [key=value ...] s<seed>`: the default run name.

    The key=value pieces are the job's overrides that the other parts do not already show
    (`train.lr=0.003` -> `lr=0.003`, `dataset.faithful=true` -> `faithful=true`, a group choice
    such as `train=fullbatch` -> `train=fullbatch`), each key cut to its last part unless
    another config key ends the same way (`train.seed=3` stays whole), numbers to 4 digits.
    """
    leaves = Counter(str(key).rsplit(".", 1)[-1] for key in params)
    pieces = []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group  # without Hydra's +, ++ or ~
        if override.is_delete() or key in UNNAMED_KEYS or key.startswith(UNNAMED_PREFIXES):
            continue
        leaf = key.rsplit(".", 1)[-1]
        short = leaf if "." in key and leaves[leaf] == 1 else key
        written = str(override.input_line).partition("=")[2]  # as typed: true, not True
        pieces.append(f"{short}={_short_value(written)}")
    name = " ".join([study, dataset, model, *pieces, f"s{seed}"])
    if len(name) > NAME_LENGTH:
        head = " ".join([study, dataset, model])
        kept = []
        for piece in pieces:
            if len(" ".join([head, *kept, piece])) > NAME_LENGTH - 20:
                break
            kept.append(piece)
        name = " ".join([head, *kept, f"+{len(pieces) - len(kept)} more", f"s{seed}"])
    return name


def _git_commit() -> str | None:
    """The commit of the toynets checkout that runs, None for an installed wheel (whose
    site-packages may well sit inside some other repository)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(PACKAGE_DIR), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if len(lines) != 2 or Path(lines[0]).resolve() / "src" / "toynets" != PACKAGE_DIR:
        return None
    return lines[1]


@dataclass
class JobResult:
    run_id: str
    experiment_id: str
    metrics: dict[str, float]  # the final metrics of the run


def run_job(
    cfg: DictConfig,
    hydra_dir: Path | None = None,
    overrides: list[str] | None = None,
    sweep_tags: dict[str, str] | None = None,
) -> JobResult:
    """Run one job for a composed config; return its run id and final metrics."""
    conf: Config = validate(cfg)
    console.import_tensorflow()
    from toynets import data as datasets
    from toynets.model import resolve_head

    seed = conf.seed
    try:
        data = datasets.make(conf.dataset, seed if conf.dataset.seed is None else conf.dataset.seed)
    except ValueError as error:
        raise ConfigError(f"invalid config:\n  - dataset: {error}") from error
    head = resolve_head(conf.model.head, data.task)

    from toynets import studies, tracking
    from toynets.model import build, plain_model, to_net
    from toynets.train import TrainingInterrupted, fit, seed_everything

    study = studies.get(conf.study.name)
    model_name = describe_model(conf.model.hidden, head)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    params = tracking.flatten(resolved)
    run_name = conf.tracking.run_name or describe_run(
        conf.study.name, data.name, model_name, seed, overrides or [], params
    )
    tags = {
        tracking.ROLE_TAG: "job",
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

    with tracking.start_run(
        conf.tracking.uri, conf.tracking.experiment or conf.study.name, run_name, tags
    ) as rec:
        console.say(f"run {rec.run_id} ({run_name!r}) started")
        rec.log_params(params)
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
        with console.stage("train") as step:
            try:
                history = fit(model, data, conf.train, head, train_seed)
            except TrainingInterrupted as stop:  # keep the curves up to Ctrl-C
                _log_history(rec, stop.history)
                raise
            final = {**history.final(), "train/seconds": history.seconds}
            step.detail = _describe_final(len(history.step_loss), final)
        _log_history(rec, history)
        rec.log_metrics(final)

        net = to_net(model)
        rec.log_arrays(net.to_arrays(), "weights/final.npz")

        trained = studies.Trained(model, net, head, data, history, title=run_name, config=conf)
        with console.stage(f"study {conf.study.name}"):
            report = study(trained, conf.study)
        figures = len(report.figures)
        with console.stage(f"log {figures} figures and the results", total=figures) as step:
            rec.log_report(report, progress=step.advance)
        if conf.tracking.log_model:
            with console.stage("log the model"):
                rec.log_keras_model(plain_model(net), data.x_test[:5])
        return JobResult(rec.run_id, rec.experiment_id, {**final, **report.metrics})


def _describe_final(steps: int, final: Mapping[str, float]) -> str:
    """`640 steps, test loss 0.1021, test accuracy 0.970`."""
    parts = [f"{steps} steps"]
    for key in ("final/test_loss", "final/test_accuracy"):
        if key in final:
            parts.append(f"{key.removeprefix('final/').replace('_', ' ')} {final[key]:.4g}")
    return ", ".join(parts)


def _log_history(rec: Any, history: Any) -> None:
    """Training curves (every evaluation, every step) and the weight snapshots."""
    for name, values in history.metrics.items():
        rec.log_series(name, history.eval_step, values)
    rec.log_series("train/step_loss", range(len(history.step_loss)), history.step_loss)
    rec.log_arrays(history.snapshot_arrays(), "weights/snapshots.npz")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> float | None:
    """One job. Returns the objective (e.g. final/test_loss) for sweepers such as Optuna.

    In a sweep a failing job must not stop the others: its error is recorded (FAILED run, or
    `error.txt` in the job folder when it got no run) and None is returned, which Optuna
    records as a failed trial (it refuses NaN and would end the whole study).
    """
    from toynets import sweep

    hydra_cfg = HydraConfig.get()
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    console.configure(bool(hydra_cfg.verbose), hydra_cfg.job.num if in_sweep else None)
    hydra_dir = Path(hydra_cfg.runtime.output_dir)
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
    from toynets.tracking import browse_hint, resolve_uri

    store = resolve_uri(cfg.tracking.uri)
    print(f"toynets: run {result.run_id} logged to {store}")
    print(f"toynets: see it: {browse_hint(store, result.experiment_id, result.run_id)}")
    objective = result.metrics.get(cfg.objective)
    return float(objective) if objective is not None and math.isfinite(objective) else None


def main() -> None:
    """`toynets runs ...` (the run browser) or a Hydra job/sweep."""
    # MLflow's log lines go through Python's logging like everyone's (the job's log file,
    # or the terminal when verbose) instead of MLflow's own handler on stderr.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
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
