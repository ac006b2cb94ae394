"""The score of a mutmut run over some mutant name patterns, and the diff of every survivor.

Usage: python .ci/mutation_report.py 'toynets.analysis.node_removal.*' ...
Killed and timed-out mutants count as caught; the score is caught / (caught + survived).
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from collections import Counter


def main(patterns: list[str]) -> int:
    listing = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    status: dict[str, str] = {}
    for line in listing.splitlines():
        name, _, outcome = line.strip().rpartition(": ")
        if name and any(fnmatch.fnmatch(name, p) for p in patterns):
            status[name] = outcome
    counts = Counter(status.values())
    caught = counts["killed"] + counts["timeout"]
    survived = sorted(n for n, s in status.items() if s == "survived")
    for name in survived:
        shown = subprocess.run(
            [sys.executable, "-m", "mutmut", "show", name], capture_output=True, text=True
        ).stdout
        print("\n".join(line for line in shown.splitlines() if not line.startswith(("---", "+++"))))
    tested = caught + len(survived)
    score = f"{100 * caught / tested:.1f} %" if tested else "n/a"
    print(f"\nmutants: {len(status)} ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})")
    print(f"score: {caught} caught of {tested} tested = {score}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["*"]))
