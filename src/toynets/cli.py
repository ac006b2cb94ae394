"""`toynets runs ...`: list, fetch and clean runs from the shell.

    toynets runs ls [--study S] [--status S] [--role R] [--filter F] [--limit N] [KEY=VALUE ...]
    toynets runs get RUN_ID [ARTIFACT] [-o DIR]
    toynets runs clean

All take `--uri` (default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from toynets.errors import ConfigError

SUMMARY_METRICS = ("final/test_loss", "final/test_accuracy")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toynets runs",
        description="Browse the runs of a store (the embedded one under ./mlruns by default).",
    )
    uri_help = "tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)"
    parser.add_argument("--uri", help=uri_help)
    # `--uri` also after the command (`toynets runs ls --uri ...`); SUPPRESS keeps a value given
    # before the command when none is given after it.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--uri", default=argparse.SUPPRESS, help=uri_help)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ls = commands.add_parser(
        "ls",
        parents=[after],
        help="list runs, newest first",
        description="List runs, newest first. KEY=VALUE keeps runs whose param KEY equals "
        "VALUE (e.g. model.hidden=[20] train.lr=0.01).",
        epilog="examples:\n  toynets runs ls --study train model.hidden=[20]\n"
        '  toynets runs ls --filter "metrics.`final/test_accuracy` > 0.95"\n'
        "  toynets runs ls --status FAILED",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ls.add_argument("params", nargs="*", metavar="KEY=VALUE")
    ls.add_argument("--study", help="the study (MLflow experiment) to list")
    ls.add_argument("--status", choices=["RUNNING", "FINISHED", "FAILED", "KILLED"])
    ls.add_argument(
        "--role",
        choices=["job", "sweep", "all"],
        default="all",
        help="jobs (runs that trained a net), sweeps (their parent runs) or all (default)",
    )
    ls.add_argument("--filter", help="an MLflow filter string, e.g. \"params.seed = '0'\"")
    ls.add_argument("--limit", type=int, default=30, help="rows to show (default 30, 0 = all)")
    ls.add_argument(
        "--columns",
        nargs="*",
        default=[],
        help="more columns, e.g. params.train.lr metrics.train/seconds",
    )

    get = commands.add_parser(
        "get",
        parents=[after],
        help="download a run's artifacts",
        description="Download all artifacts of a run, or one file or folder of them.",
        epilog="examples:\n  toynets runs get 3f2a... -o run\n"
        "  toynets runs get 3f2a... figures/decision_map.png -o .",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    get.add_argument("run_id")
    get.add_argument("artifact", nargs="?", default="", help="a path inside the run")
    get.add_argument("-o", "--output", default=".", help="destination folder (default .)")

    commands.add_parser(
        "clean",
        parents=[after],
        help="mark RUNNING runs whose process is gone as KILLED",
        description="Mark the RUNNING runs of this machine whose process has ended (killed, "
        "crashed) as KILLED, keeping what they logged. Every sweep does this when it starts.",
    )
    return parser


def _params(pairs: Sequence[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{pair!r} is not KEY=VALUE (e.g. model.hidden=[20])")
        params[key] = value
    return params


def runs_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    from toynets import runs, tracking

    try:
        if args.command == "ls":
            table = runs.find(
                study=args.study,
                uri=args.uri,
                status=args.status,
                filter=args.filter,
                role=args.role,
                **_params(args.params),
            )
            if table.empty:
                print("no runs")
                return 0
            columns = ["run_id", "status", "role", "run_name"]
            columns += [f"params.{k}" for k in _params(args.params)]
            columns += [f"metrics.{m}" for m in SUMMARY_METRICS if f"metrics.{m}" in table]
            columns += [c for c in args.columns if c in table]
            shown = table[columns].rename(columns=lambda c: c.split(".", 1)[-1])
            if args.limit:
                shown = shown.head(args.limit)
            print(shown.to_string(index=False, na_rep="-", float_format=lambda v: f"{v:.4g}"))
            if args.limit and len(table) > args.limit:
                print(f"... {len(table) - args.limit} more (--limit 0 shows all)")
        elif args.command == "get":
            path = runs.download(args.run_id, args.artifact, args.output, uri=args.uri)
            print(path)
        else:
            cleaned = tracking.clean_stale_runs(args.uri)
            for run_id in cleaned:
                print(f"{run_id} KILLED")
            print(f"{len(cleaned)} run(s) marked KILLED")
    except (runs.RunNotFound, ConfigError) as error:
        print(f"toynets runs: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # MLflow's own errors (bad filter string, unreachable server)
        print(f"toynets runs: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    return 0
