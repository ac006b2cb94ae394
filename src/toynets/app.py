"""`toynets <overrides>`: the Hydra entry point, and the only module that talks to Hydra.

One job = validate the config -> make the data -> build the model (all before any MLflow run
exists, so bad input costs nothing) -> open the run -> train -> run the study -> log it all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hydra
from hydra.core.hydra_config import HydraConfig
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


def run_job(
    cfg: DictConfig, hydra_dir: Path | None = None, overrides: list[str] | None = None
) -> str:
    """Run one job for a composed config; return the MLflow run id."""
    conf: Config = validate(cfg)
    from toynets import data as datasets
    from toynets.model import resolve_head

    seed = conf.seed
    try:
        data = datasets.make(conf.dataset, seed if conf.dataset.seed is None else conf.dataset.seed)
    except ValueError as error:
        raise ConfigError(f"invalid config:\n  - dataset: {error}") from error
    head = resolve_head(conf.model.head, data.task, data.n_classes)

    from toynets import studies, tracking
    from toynets.model import build, to_net
    from toynets.train import fit, seed_everything

    study = studies.get(conf.study.name)
    model_name = describe_model(conf.model.hidden, head)
    run_name = conf.tracking.run_name or f"{conf.study.name} {data.name} {model_name} s{seed}"
    tags = {
        "study": conf.study.name,
        "dataset": data.name,
        "model": model_name,
        "seed": seed,
        "overrides": " ".join(overrides or []),
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
        history = fit(
            model, data, conf.train, head, seed if conf.train.seed is None else conf.train.seed
        )
        for name, values in history.metrics.items():
            rec.log_series(name, history.eval_step, values)
        rec.log_series("train/step_loss", range(len(history.step_loss)), history.step_loss)
        rec.log_metrics({**history.final(), "train/seconds": history.seconds})

        net = to_net(model)
        rec.log_arrays(net.to_arrays(), "weights/final.npz")
        rec.log_arrays(history.snapshot_arrays(), "weights/snapshots.npz")

        trained = studies.Trained(model, net, head, data, history, title=run_name)
        rec.log_report(study(trained, conf.study))
        if conf.tracking.log_model:
            rec.log_keras_model(model)
        return rec.run_id


def _overrides() -> list[str]:
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []


@hydra.main(version_base="1.3", config_path=str(PROJECT_ROOT / "conf"), config_name="config")
def _hydra_main(cfg: DictConfig) -> Any:
    hydra_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        run_id = run_job(cfg, hydra_dir, _overrides())
    except ConfigError as error:
        print(f"toynets: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except TrainingDiverged as error:
        print(f"toynets: {error} (the run is marked FAILED)", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"toynets: run {run_id} logged to {_describe_store(cfg)}")
    return run_id


def _describe_store(cfg: DictConfig) -> str:
    from toynets.tracking import resolve_uri

    return resolve_uri(cfg.tracking.uri)


def main() -> None:
    _hydra_main()


if __name__ == "__main__":
    main()
