"""`toynets runs ...`: list, fetch and clean runs from the shell.

    toynets runs ls [--study S] [--status S] [--role R] [--filter F] [--limit N] [KEY=VALUE ...]
    toynets runs get RUN_ID [ARTIFACT] [-o DIR]
    toynets runs sheet RUN_ID [-o PATH] [--width PX]
    toynets runs clean

All take `--uri` (default: $MLFLOW_TRACKING_URI, else sqlite:///mlruns/mlflow.db), checked
first (`tracking.check_uri`): a store that does not exist is never created ("no store at ...").
A bad input or a store or server problem is one sentence on stderr and exit status 2; `--debug`
adds the traceback and MLflow's log lines.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path

from toynets.errors import ConfigError

SUMMARY_METRICS = ("final/test_loss", "final/test_accuracy")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="toynets runs",
        description="Browse the runs of a store (the embedded one under ./mlruns by default).",
    )
    uri_help = "tracking URI (default: $MLFLOW_TRACKING_URI or sqlite:///mlruns/mlflow.db)"
    debug_help = "on an error, show the traceback and MLflow's log lines"
    parser.add_argument("--uri", help=uri_help)
    parser.add_argument("--debug", action="store_true", help=debug_help)
    # `--uri` and `--debug` also after the command (`toynets runs ls --uri ...`); SUPPRESS keeps
    # a value given before the command when none is given after it.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--uri", default=argparse.SUPPRESS, help=uri_help)
    after.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
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

    sheet = commands.add_parser(
        "sheet",
        parents=[after],
        help="draw all figures of a run on one page (a PNG)",
        description="Draw every figure of a run (figures/*.png, a GIF's last frame) on one\n"
        "page, each under its name, with the run's name and id on top: a contact sheet\n"
        "for review. `python -m toynets.plots.sheet RUN_ID ...` is the same command.",
        epilog="examples:\n  toynets runs sheet 3f2a...\n"
        "  toynets runs sheet 3f2a... -o review/sheet.png --width 1600",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sheet.add_argument("run_id")
    sheet.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="the PNG to write, or a folder for it (default ./contact_sheet_<run id[:8]>.png)",
    )
    sheet.add_argument(
        "--width", type=int, default=2400, metavar="PX", help="the page's width (default 2400)"
    )

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
    """`toynets runs ARGV`; returns the exit status (0, or 2 with one sentence on stderr)."""
    args = _parser().parse_args(argv)
    debug = args.debug or os.environ.get("TOYNETS_VERBOSE") == "1"
    _route_logs(debug)
    from toynets import tracking

    try:
        uri = tracking.check_uri(args.uri, name="--uri", reading=True)
        return _run(args, uri)  # imports toynets.runs (pandas): only once the store is known good
    except ConfigError as error:
        return _refuse(str(error), debug)
    except Exception as error:  # MLflow's own errors (bad filter string), the store's, a server's
        from toynets.runs import RunNotFound

        if isinstance(error, RunNotFound):
            return _refuse(str(error), debug)
        explained = tracking.explain(error, tracking.resolve_uri(args.uri))
        return _refuse(explained or _mlflow_error(error, args), debug)


def _mlflow_error(error: Exception, args: argparse.Namespace) -> str:
    """MLflow's message; a filter MLflow refuses is named as the option that gave it."""
    if getattr(error, "error_code", None) == "INVALID_PARAMETER_VALUE" and (
        getattr(args, "filter", None) or getattr(args, "params", None)
    ):
        given = f"--filter {args.filter!r}" if args.filter else "KEY=VALUE"
        return (
            f"{given} is not a filter MLflow accepts: {error} "
            '(e.g. --filter "metrics.`final/test_accuracy` > 0.95")'
        )
    return f"{type(error).__name__}: {error}"


def _route_logs(debug: bool) -> None:
    """MLflow logs its store errors with their tracebacks: shown with --debug, else dropped
    (the error itself is reported in one sentence)."""
    if debug:
        logging.basicConfig(level=logging.WARNING)
    else:
        logging.getLogger().addHandler(logging.NullHandler())


def _refuse(message: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    print(f"toynets runs: {message}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace, uri: str) -> int:
    from toynets import runs, tracking

    if args.command == "ls":
        table = runs.find(
            study=args.study,
            uri=uri,
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
        print(runs.download(args.run_id, args.artifact, args.output, uri=uri))
    elif args.command == "sheet":
        print(_sheet(args, uri))
    else:
        cleaned = tracking.clean_stale_runs(uri)
        for run_id in cleaned:
            print(f"{run_id} KILLED")
        print(f"{len(cleaned)} run(s) marked KILLED")
    return 0


def _sheet(args: argparse.Namespace, uri: str) -> Path:
    """`runs sheet`: the run's contact sheet written where -o says; its path. The output and
    the width are checked before the run is fetched."""
    from toynets import runs
    from toynets.plots import sheet

    low, high = sheet.WIDTHS
    if not low <= args.width <= high:
        raise ConfigError(f"--width {args.width} is not a page width; give {low} to {high} pixels")
    output = Path(args.output or ".")
    if output.is_dir():
        output = output / f"contact_sheet_{args.run_id[:8]}.png"
    if not output.parent.is_dir():
        raise ConfigError(f"-o {args.output}: there is no folder {str(output.parent)!r}")
    run = runs.get_run(args.run_id, uri)
    with tempfile.TemporaryDirectory(prefix="toynets-sheet-") as folder:
        try:
            local = runs.download(args.run_id, "figures", folder, uri=uri)
        except runs.RunNotFound:  # no figures/ folder at all
            local = Path(folder)
        files = sorted(p for p in local.iterdir() if p.suffix.lower() in (".png", ".gif"))
        figures = {(p.stem if p.suffix.lower() == ".png" else p.name): p for p in files}
        if not figures:
            raise runs.RunNotFound(f"run {args.run_id} has no figures (figures/*.png or *.gif)")
        return sheet.write_sheet(figures, run.info.run_name, run.info.run_id, output, args.width)
