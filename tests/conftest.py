"""Shared fixtures: Hydra composition in-process and a real MLflow store in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from toynets.app import PROJECT_ROOT

CONF_DIR = PROJECT_ROOT / "conf"
EXPERIMENTS = sorted(p.stem for p in (PROJECT_ROOT / "experiments").glob("*.yaml"))


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides or [])


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A fresh embedded MLflow store (SQLite + local artifacts) in a temporary folder."""
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`toynets ARGS` as a user runs it (same interpreter), in folder `cwd`."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    if env and "MLFLOW_TRACKING_URI" in env:
        full_env["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    script = Path(sys.executable).parent / "toynets"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "toynets.app"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
