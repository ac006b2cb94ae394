"""Every `toynets ...` command of the README works as written, so the README cannot drift.

The commands are read from the README's ```bash blocks. Those that train are composed with
`--cfg job` (Hydra prints the config and stops) and checked by `validate`, exactly the checks a
job makes before it creates any run; for a sweep, every combination of its values. Those that
do not train (`--help`, `--cfg`, `runs ...`, shell completion) run for real, against a store
holding one finished run. The slow suite runs the single-job commands for real as well.
"""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from conftest import PROJECT_ROOT, TOYNETS, compose_config, run_cli, user_env
from toynets.config import validate

README = PROJECT_ROOT / "README.md"
NOT_TRAINING = ("--help", "--cfg", "--shell-completion", "-sc", "--hydra-help")


def strip_comment(line: str) -> str:
    """A shell line without its trailing `# comment` (a # outside quotes, after a space)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote and line[i - 1] != "\\" else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def readme_commands() -> list[str]:
    """The `toynets ...` commands of the README's bash blocks as written (a `&&` chain counts
    each part), without their trailing comments."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in strip_comment(line).split("&&"):
                if part.strip().split(" ")[0] == "toynets":
                    commands.append(part.strip())
    return commands


COMMANDS = readme_commands()
JOBS = [c for c in COMMANDS if not set(shlex.split(c)) & {*NOT_TRAINING, "runs"}]
OTHERS = [c for c in COMMANDS if c not in JOBS]


def test_the_readme_has_the_commands_this_file_expects() -> None:
    assert "toynets" in JOBS  # the main job
    assert any(c.startswith("toynets runs get RUN_ID") for c in OTHERS)
    assert any("--cfg job" in c for c in OTHERS) and any("-m" in c.split() for c in JOBS)
    assert len(JOBS) >= 10


def combinations(overrides: list[str]) -> list[list[str]]:
    """Every single job a sweep's overrides describe (one list for a plain job); Hydra's own
    settings (`hydra/launcher=...`, `hydra.launcher.n_jobs=4`) left out."""
    parsed = OverridesParser.create().parse_overrides(
        [o for o in overrides if not o.startswith("hydra")]
    )
    choices = []
    for override in parsed:
        key = override.get_key_element()
        if override.is_sweep_override():
            choices.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        else:
            choices.append([f"{key}={override.get_value_element_as_str()}"])
    return [list(c) for c in itertools.product(*choices)]


@pytest.mark.parametrize("command", JOBS)
def test_every_readme_job_composes_and_validates(command: str, tmp_path: Path) -> None:
    words = shlex.split(command)[1:]
    overrides = [w for w in words if w not in ("-m", "--multirun")]
    jobs = combinations(overrides)
    # Hydra prints a sweep's config one job at a time: its first job, with the launcher.
    first = [*(o for o in overrides if o.startswith("hydra")), *jobs[0]]
    shown = run_cli(*(first if overrides != words else words), "--cfg", "job", cwd=tmp_path)
    assert shown.returncode == 0, f"{command}\n{shown.stderr[-3000:]}"
    assert "dataset:" in shown.stdout and "study:" in shown.stdout
    assert not (tmp_path / "mlruns").exists()  # printing the config creates nothing
    for job in jobs:
        validate(compose_config(job))


@pytest.fixture(scope="module")
def store_with_a_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder whose ./mlruns holds one finished `train` run (the runs commands need one)."""
    folder = tmp_path_factory.mktemp("readme")
    result = run_cli("study=train", "model.hidden=[8]", "train.epochs=2", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_id,) = re.findall(r"toynets: run (\w+) logged", result.stdout)
    return folder, run_id


@pytest.mark.parametrize("command", OTHERS)
def test_every_other_readme_command_runs(command: str, store_with_a_run) -> None:
    folder, run_id = store_with_a_run
    line = command.replace("RUN_ID", run_id)
    result = subprocess.run(
        ["bash", "-c", line.replace("toynets", shlex.quote(str(TOYNETS)), 1)],
        cwd=folder,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{line}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert result.stdout.strip(), line


SINGLE_JOBS = [c for c in JOBS if "-m" not in shlex.split(c) and "tracking=server" not in c]


@pytest.mark.slow
@pytest.mark.parametrize("command", SINGLE_JOBS)
def test_every_readme_job_runs_for_real(command: str, tmp_path: Path) -> None:
    result = run_cli(*shlex.split(command)[1:], cwd=tmp_path, timeout=1800)
    assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
    assert "toynets: run " in result.stdout
