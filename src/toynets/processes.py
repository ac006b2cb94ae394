"""Helper processes that must not outlive the process that started them."""

from __future__ import annotations

import ctypes
import os
import sys

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies (Linux)


def die_with(parent: int, signum: int) -> None:
    """On Linux, have the kernel send `signum` to this process when `parent` dies, even by
    SIGKILL (elsewhere a helper ends when its pipe to the parent closes); exit at once if the
    parent is already gone."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signum)
        except (OSError, AttributeError):
            return
    if os.getppid() != parent:  # the parent died before we got here
        raise SystemExit(0)
