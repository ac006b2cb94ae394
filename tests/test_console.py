"""What a job prints: stage lines always, bars on a terminal only, library noise only on request."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from conftest import TOYNETS, run_cli, user_env
from toynets import console

SMALL = [
    "study=node_removal",
    "model.hidden=[6]",
    "train.epochs=1",
    "study.n_masks=200",
    "study.n_paths=50",
    "study.grid=20",
    "study.map_grid=20",
    "tracking.log_model=false",
]
# An absl log line as TensorFlow's C++ writes it: "I0000 00:00:1795454212.539868  2940 port.cc:153]"
NATIVE_LOG_LINE = re.compile(r"^[IWE]\d{4} [\d:.]+ +\d+ \w+\.cc:\d+\] ", re.M)
TRAIN_ONLY = ["study=train", "train.epochs=1", "study.grid=20", "tracking.log_model=false"]


def test_native_output_is_held_back_and_replayed_on_failure(capfd, monkeypatch) -> None:
    monkeypatch.delenv(console.VERBOSE_ENV, raising=False)
    with console.native_output_held():
        os.write(2, b"I0000 port.cc:153] noise from C++\n")
    assert "noise from C++" not in capfd.readouterr().err
    with pytest.raises(ImportError), console.native_output_held():
        os.write(2, b"why the import failed\n")
        raise ImportError("no such library")
    assert "why the import failed" in capfd.readouterr().err
    monkeypatch.setenv(console.VERBOSE_ENV, "1")
    with console.native_output_held():
        os.write(2, b"shown when verbose\n")
    assert "shown when verbose" in capfd.readouterr().err


def test_a_stage_prints_one_line_when_it_ends(capsys) -> None:
    with console.stage("count", total=3) as step:
        for _ in range(3):
            step.advance()
        step.detail = "3 things"
    err = capsys.readouterr().err
    assert err.startswith("toynets: count (") and err.rstrip().endswith("s, 3 things)")
    with pytest.raises(RuntimeError), console.stage("broken"):
        raise RuntimeError("stop")
    assert "broken" not in capsys.readouterr().err


@pytest.mark.parametrize("how", ["hydra.verbose=true", "TOYNETS_VERBOSE=1"])
def test_verbose_brings_the_library_lines_back(how: str, tmp_path: Path) -> None:
    quiet = run_cli(*TRAIN_ONLY, cwd=tmp_path / "quiet")
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert not NATIVE_LOG_LINE.search(quiet.stderr) and "INFO" not in quiet.stderr
    overrides, env = ([how], None) if how.startswith("hydra") else ([], dict([how.split("=")]))
    loud = run_cli(*TRAIN_ONLY, *overrides, cwd=tmp_path / "loud", env=env)
    assert loud.returncode == 0, loud.stderr[-2000:]
    # TensorFlow's native start-up lines (which ones depends on the processor: oneDNN's line
    # only where oneDNN is on by default)
    assert NATIVE_LOG_LINE.search(loud.stderr), loud.stderr[:2000]
    assert "Creating initial MLflow database tables" in loud.stderr
    assert "toynets: train (" in loud.stderr


def _run_on_a_terminal(args: list[str], cwd: Path, timeout: float = 300) -> str:
    """`toynets ARGS` with stdout and stderr on a 40 x 160 pseudo-terminal; what it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    process = subprocess.Popen(
        [str(TOYNETS), *args],
        cwd=cwd,
        env=user_env(),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    shown, deadline = b"", time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed: the job ended
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break
    finally:
        os.close(master)
        process.wait(timeout=60)
    assert process.returncode == 0, shown.decode(errors="replace")[-3000:]
    return shown.decode(errors="replace")


def test_countable_stages_show_bars_on_a_terminal(tmp_path: Path) -> None:
    shown = _run_on_a_terminal(SMALL, tmp_path)
    for bar in ("train:", "exact: all 2^6 masks:", "Monte Carlo: 600 masks:", "log 14 figures"):
        assert bar in shown and "%|" in shown, bar
    assert "mask/s" in shown and "step/s" in shown
    for line in ("toynets: exact: all 2^6 masks (", "toynets: Monte Carlo: 600 masks ("):
        assert line in shown


def test_interrupts_wait_for_the_end_of_a_deferred_block() -> None:
    import os
    import signal

    from toynets import console

    done = []
    with pytest.raises(KeyboardInterrupt), console.interrupts_deferred():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("written")
        done.append("counted")
    assert done == ["written", "counted"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


GC_PROBE = """
import gc, sys
from toynets import console
gc.disable() if sys.argv[1] == "off" else None
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info))
console.import_tensorflow()
frozen = gc.get_freeze_count()
console.import_tensorflow()  # already imported: nothing more is frozen
print(gc.isenabled(), frozen, gc.get_freeze_count() == frozen, len(collections))
"""


@pytest.mark.parametrize("collector", ["on", "off"])
def test_importing_tensorflow_freezes_what_it_made_and_restores_the_collector(
    collector: str,
) -> None:
    # A fresh process: TensorFlow is not imported yet.
    out = subprocess.run(
        [sys.executable, "-c", GC_PROBE, collector],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=user_env(),
    ).stdout.split()
    enabled, frozen, unchanged, collections = out
    assert enabled == str(collector == "on")  # as the caller left it
    assert int(frozen) > 100_000  # TensorFlow's and Keras's objects, out of later collections
    assert unchanged == "True"
    assert collections == "0"  # no collection ran while TensorFlow was imported
