"""Helpers every benchmark script shares: machine load, other processes' CPU, the toynets
command, and the PASS/FAIL and JSON reporting."""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
from pathlib import Path
from typing import Any


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds the whole machine has been busy, CPU seconds of this process and its
    waited-for children): their increase over a span tells how much CPU other processes took.
    NaN where /proc/stat is missing."""
    own = sum(
        getattr(resource.getrusage(who), field)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for field in ("ru_utime", "ru_stime")
    )
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError):
        return float("nan"), own
    # user nice system idle iowait irq softirq steal ...: work done in this machine (not idle,
    # not iowait, not steal, which is the hypervisor's)
    busy = sum(fields[i] for i in (0, 1, 2, 5, 6) if i < len(fields))
    return busy / os.sysconf("SC_CLK_TCK"), own


def toynets_command() -> list[str]:
    """The installed `toynets` script, else the app run by this interpreter."""
    exe = shutil.which("toynets")
    return [exe] if exe else [sys.executable, "-c", "from toynets.app import main; main()"]


def print_checks(checks: dict[str, bool]) -> None:
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")


def write_json(path: Path, out: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")
