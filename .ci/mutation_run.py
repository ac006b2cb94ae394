"""Run mutmut's mutants fast: many mutants per worker process, each a pytest session in it.

mutmut forks one process per mutant; each then traces TensorFlow's functions and trains the
test net anew (~10 s before the first assertion). Here each of `MUTATION_JOBS` workers
imports the tests once and runs a pytest session per mutant (MUTANT_UNDER_TEST set; the
trained net is reused across sessions, the study runs anew), so a mutant costs a few seconds.
The tests of a mutant are those mutmut's stats run found calling its function
(mutants/mutmut-stats.json). Results are written to mutmut's own files (mutants/**/*.meta),
so `mutmut results`, `mutmut show` and the next run's cache all see them.

Usage (from the project root; `.ci/mutate` calls it):
    python .ci/mutation_run.py [--survivors] 'toynets.analysis.node_removal.*' ...
First mutmut generates the mutants and collects its stats (`generate`), keeping the results of
functions that did not change; then only mutants without a result are run. Exit codes as
mutmut's: 0 survived, 1 killed, 33 no tests, 36 timeout (`TIMEOUT_SECONDS`).
"""

from __future__ import annotations

import fnmatch
import json
import multiprocessing
import os
import re
import signal
import sys
import time
from pathlib import Path

MUTANTS = Path("mutants")
TIMEOUT_SECONDS = 120
TIMEOUT = 36  # mutmut's exit code for a timeout


class MutantTimeout(Exception):
    pass


def function_of(mutant: str) -> str:
    """toynets.a.b.x_f__mutmut_3 -> toynets.a.b.x_f (mutmut's mangled function name)."""
    return re.sub(r"__mutmut_\d+$", "", mutant)


def pending(patterns: list[str], survivors: bool = False) -> dict[Path, list[str]]:
    """Meta file -> its mutants that match a pattern and have no result yet (or survived, with
    `survivors`: after writing the tests they asked for)."""
    out: dict[Path, list[str]] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        names = [
            n
            for n, code in codes.items()
            if (code is None or (survivors and code == 0))
            and any(fnmatch.fnmatch(n, p) for p in patterns)
        ]
        if names:
            out[meta] = names
    return out


def worker(jobs: list[tuple[str, list[str]]], results: multiprocessing.Queue) -> None:
    """Run each (mutant, tests) in a pytest session of this process."""
    os.chdir(MUTANTS)
    sys.path.insert(0, str(Path("src").resolve()))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import pytest

    def alarm(signum, frame):
        raise MutantTimeout

    signal.signal(signal.SIGALRM, alarm)
    devnull = open(os.devnull, "w")  # noqa: SIM115
    parent = os.getppid()
    for mutant, tests in jobs:
        if os.getppid() != parent:  # the run was stopped: stop too
            return
        os.environ["MUTANT_UNDER_TEST"] = mutant
        start = time.monotonic()
        signal.alarm(TIMEOUT_SECONDS)
        saved = sys.stdout, sys.stderr
        try:
            sys.stdout = sys.stderr = devnull
            code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", *tests]))
        except MutantTimeout:
            code = TIMEOUT
        finally:
            signal.alarm(0)
            sys.stdout, sys.stderr = saved
        code = 0 if code == 0 else (TIMEOUT if code == TIMEOUT else 1)
        results.put((mutant, code, time.monotonic() - start))
    results.put(None)


def selection() -> list[str]:
    """The tests of [tool.mutmut] in pyproject.toml (`pytest_add_cli_args_test_selection`)."""
    import tomllib

    config = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["pytest_add_cli_args_test_selection"])


def generate() -> None:
    """mutmut's own first steps: copy the tree to mutants/, write the mutants of the changed
    functions, collect (or load) which tests call which function. Asked for a mutant name that
    matches nothing, `mutmut run` stops right after them."""
    from mutmut.__main__ import run

    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    try:
        run.main(["toynets.__generate_only__"], standalone_mode=False)
    except AssertionError as error:
        if "nothing matches" not in str(error):
            raise


def main(arguments: list[str]) -> int:
    survivors = "--survivors" in arguments
    patterns = [a for a in arguments if a != "--survivors"] or ["*"]
    generate()
    stats = json.loads((MUTANTS / "mutmut-stats.json").read_text())
    tests_of = stats["tests_by_mangled_function_name"]
    durations = stats["duration_by_test"]
    todo = pending(patterns, survivors)
    files = [f.split("::")[0] for f in selection()]

    def order(test: str) -> tuple[int, float]:
        """Test files in the order [tool.mutmut] lists them (unit tests first: they need no
        trained net), then the quickest first."""
        path = test.split("::")[0]
        return (files.index(path) if path in files else len(files), durations.get(test, 0.0))

    jobs = []
    for names in todo.values():
        for name in names:
            jobs.append((name, sorted(tests_of.get(function_of(name), []), key=order)))
    no_tests = [name for name, tests in jobs if not tests]
    jobs = [(name, tests) for name, tests in jobs if tests]
    count = int(os.environ.get("MUTATION_JOBS", "2"))
    print(f"{len(jobs)} mutants to run in {count} processes ({len(no_tests)} without tests)")
    results: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
    context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
    processes = [
        context.Process(target=worker, args=(jobs[k::count], results), daemon=True)
        for k in range(count)
    ]
    for process in processes:
        process.start()
    codes = {name: 33 for name in no_tests}  # mutmut's "no tests"
    running, done, start = count, 0, time.monotonic()
    while running:
        item = results.get()
        if item is None:
            running -= 1
            continue
        name, code, seconds = item
        codes[name] = code
        done += 1
        verdict = {0: "survived", 1: "killed", TIMEOUT: "timeout"}[code]
        rate = done / (time.monotonic() - start)
        print(f"[{done}/{len(jobs)}] {verdict:8s} {seconds:5.1f} s  {name}  ({rate * 60:.0f}/min)")
        if done % 20 == 0:
            save(todo, codes)
    for process in processes:
        process.join()
    save(todo, codes)
    return 0


def save(todo: dict[Path, list[str]], codes: dict[str, int]) -> None:
    """Write the results into mutmut's meta files."""
    for meta, names in todo.items():
        data = json.loads(meta.read_text())
        for name in names:
            if name in codes:
                data["exit_code_by_key"][name] = codes[name]
        meta.write_text(json.dumps(data, indent=4))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
