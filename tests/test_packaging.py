"""Installed, not only checked out: a built wheel carries conf/ and experiments/ and runs anywhere.

The wheel is built from this checkout (`pip wheel`, no network: the build backend is already
installed). It is used twice, from a folder that has nothing to do with the checkout: unpacked
on PYTHONPATH, and installed into a fresh virtual environment (which sees this environment's
TensorFlow, MLflow and Hydra through --system-site-packages, and its own toynets first).
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from conftest import CONF_DIR, EXPERIMENTS, PROJECT_ROOT, user_env

ARGS = ["+experiment=node_removal_circle", "--cfg", "job"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", str(PROJECT_ROOT), "--no-deps",
            "--no-build-isolation", "-q", "-w", str(out),
        ],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (built,) = out.glob("toynets-*.whl")
    return built


def test_the_wheel_carries_every_config_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"toynets/conf/{p.relative_to(CONF_DIR)}"
        for p in CONF_DIR.rglob("*.yaml")
        if "experiment" not in p.relative_to(CONF_DIR).parts
    }
    expected |= {f"toynets/conf/experiment/{name}.yaml" for name in EXPERIMENTS}
    assert expected <= names, sorted(expected - names)
    assert len(expected) > 30


ASSET_DIR = PROJECT_ROOT / "src" / "toynets" / "assets"


def test_the_wheel_carries_the_page_assets(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"toynets/assets/{p.relative_to(ASSET_DIR).as_posix()}"
        for p in ASSET_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert {"toynets/assets/node_removal.html", "toynets/assets/explorer.js"} <= expected
    assert "toynets/assets/sources/node_removal.yaml" in expected  # DIGEST §1's numbers
    assert expected <= names, sorted(expected - names)


def test_the_wheel_carries_the_launcher_plugin(wheel: Path) -> None:
    """`hydra/launcher=population`: Hydra finds plugins in the `hydra_plugins` namespace
    package, which must not get an __init__.py of ours (it would hide every other plugin)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    plugin = "hydra_plugins/toynets_population_launcher/"
    assert {plugin + "__init__.py", plugin + "population_launcher.py"} <= names
    assert "hydra_plugins/__init__.py" not in names


# Writes the explorer page of a tiny net as the installed toynets does, reads the node-removal
# study's source numbers, prints its assets' folder.
WRITE_PAGE = """
import numpy as np
from toynets import explorer
from toynets.net import Layer, Net
net = Net((Layer(np.eye(2, dtype=np.float32), np.zeros(2, np.float32), "relu"),
           Layer(np.eye(2, dtype=np.float32), np.zeros(2, np.float32), "softmax")))
x = np.array([[0.5, -0.5], [-0.5, 0.5]], np.float32)
page = explorer.node_removal_html(net, x, np.array([0, 1]), (-1.0, 1.0, -1.0, 1.0))
open("node_removal.html", "w", encoding="utf-8").write(page)
from toynets.analysis.reproduction import source_of  # DIGEST §1's numbers, from the package
assert source_of("node_removal").setting["model.hidden"] == [20]
print(explorer.ASSETS)
"""


def _writes_the_page(python: str, elsewhere: Path, env: dict[str, str]) -> Path:
    """Runs WRITE_PAGE in `elsewhere`; checks the page it wrote is whole; its assets' folder."""
    shown = subprocess.run(
        [python, "-c", WRITE_PAGE],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-3000:]
    page = (elsewhere / "node_removal.html").read_text(encoding="utf-8")
    assert "{{" not in page and 'id="toynets-data"' in page
    for name in ("explorer.js", "node_removal.js", "explorer.css", "node_removal.css"):
        first = next(line for line in (ASSET_DIR / name).read_text().splitlines() if line)
        assert first in page, name  # inlined
    return Path(shown.stdout.strip())


def _cfg_job(python: str, elsewhere: Path, env: dict[str, str]) -> tuple[str, str]:
    """`python -m toynets.app +experiment=node_removal_circle --cfg job`, and where toynets
    was imported from."""
    shown = subprocess.run(
        [python, "-m", "toynets.app", *ARGS],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-3000:]
    where = subprocess.run(
        [python, "-c", "import toynets.app; print(toynets.app.CONFIG_DIR)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr[-3000:]
    return shown.stdout, where.stdout.strip()


def _looks_like_the_circle_experiment(config: str) -> None:
    assert "name: circle" in config and "name: node_removal" in config
    assert "- 20" in config and "head: softmax" in config


def test_an_unpacked_wheel_runs_from_an_unrelated_folder(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config, conf_dir = _cfg_job(sys.executable, elsewhere, user_env({"PYTHONPATH": str(site)}))
    _looks_like_the_circle_experiment(config)
    assert Path(conf_dir) == site / "toynets" / "conf"
    assert _writes_the_page(sys.executable, elsewhere, user_env({"PYTHONPATH": str(site)})) == (
        site / "toynets" / "assets"
    )
    assert not (elsewhere / "mlruns").exists()


def test_a_wheel_installed_in_a_fresh_venv_runs(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = str(env_dir / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config, conf_dir = _cfg_job(python, elsewhere, user_env())
    _looks_like_the_circle_experiment(config)
    assert Path(conf_dir).is_relative_to(env_dir) and Path(conf_dir, "config.yaml").is_file()
    assert not Path(conf_dir).is_symlink()
    assert _writes_the_page(python, elsewhere, user_env()).is_relative_to(env_dir)
