"""`toynets <overrides>`: the Hydra entry point; with `sweep.py` the only code that talks to Hydra.

One job = validate the config -> make the data -> build the model (all before any MLflow run
exists, so bad input costs nothing) -> open the run -> train -> run the study -> log it all.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from toynets import console
from toynets.config import (
    Config,
    bool_override_problems,
    field_type,
    register_configs,
    validate,
)
from toynets.errors import ConfigError, Terminated, TrainingDiverged
from toynets.pipeline import prepare, train_seed

PACKAGE_DIR = Path(__file__).resolve().parent
# conf/ inside the package: in a checkout a link to the top-level conf/ (the source of truth),
# in a built wheel a copy of it.
CONFIG_DIR = PACKAGE_DIR / "conf"

register_configs()


def describe_model(hidden: list[int], head: str) -> str:
    if hidden:
        return "mlp[" + ",".join(map(str, hidden)) + "]"
    return "linear" if head == "linear" else "logreg"


# Overrides a run's name never shows: the name has them already (dataset, model, study, seed) or
# they do not change the net (where runs are logged, progress bars, what a sweeper optimises).
UNNAMED_KEYS = ("dataset", "dataset.name", "model", "model.hidden", "study", "study.name", "seed")
UNNAMED_PREFIXES = ("tracking", "hydra", "experiment", "objective", "train.progress")
NAME_LENGTH = 120


def _short_value(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        return text.replace(" ", "")
    return f"{value:.4g}" if "." in text or "e" in text.lower() else text


def describe_run(
    study: str, dataset: str, model: str, seed: int, overrides: list[str], params: Mapping
) -> str:
    """`<study> <dataset> <model> [key=value ...] s<seed>`: the default run name.

    The key=value pieces are the job's overrides that the other parts do not already show
    (`train.lr=0.003` -> `lr=0.003`, `dataset.faithful=true` -> `faithful=true`, a group choice
    such as `train=fullbatch` -> `train=fullbatch`), each key cut to its last part unless
    another config key ends the same way (`train.seed=3` stays whole), numbers to 4 digits.
    """
    leaves = Counter(str(key).rsplit(".", 1)[-1] for key in params)
    pieces = []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group  # without Hydra's +, ++ or ~
        if override.is_delete() or key in UNNAMED_KEYS or key.startswith(UNNAMED_PREFIXES):
            continue
        leaf = key.rsplit(".", 1)[-1]
        short = leaf if "." in key and leaves[leaf] == 1 else key
        written = str(override.input_line).partition("=")[2]  # as typed: true, not True
        pieces.append(f"{short}={_short_value(written)}")
    name = " ".join([study, dataset, model, *pieces, f"s{seed}"])
    if len(name) > NAME_LENGTH:
        head = " ".join([study, dataset, model])
        kept = []
        for piece in pieces:
            if len(" ".join([head, *kept, piece])) > NAME_LENGTH - 20:
                break
            kept.append(piece)
        name = " ".join([head, *kept, f"+{len(pieces) - len(kept)} more", f"s{seed}"])
    return name


def _git_commit() -> str | None:
    """The commit of the toynets checkout that runs, None for an installed wheel (whose
    site-packages may well sit inside some other repository)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(PACKAGE_DIR), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if len(lines) != 2 or Path(lines[0]).resolve() / "src" / "toynets" != PACKAGE_DIR:
        return None
    return lines[1]


@dataclass
class JobResult:
    run_id: str
    experiment_id: str
    metrics: dict[str, float]  # the final metrics of the run


@dataclass
class Pretrained:
    """A job's net trained before the job ran, together with other jobs' nets in one
    population (`hydra/launcher=population`): what `prepare` made of the job's config, and
    what training gave, its History or its TrainingDiverged."""

    data: Any
    head: str
    model: Any  # the Keras model, trained
    result: Any  # History | TrainingDiverged
    population: int  # how many nets trained together

    def history(self) -> Any:
        """The History; raises the TrainingDiverged of a member whose loss stopped being finite."""
        if isinstance(self.result, TrainingDiverged):
            raise self.result
        return self.result


# Sweep job number -> its net, trained by the population launcher in this process; the job
# takes it (`_hydra_main`) instead of training its own.
PRETRAINED: dict[int, Pretrained] = {}


def run_job(
    cfg: DictConfig,
    hydra_dir: Path | None = None,
    overrides: list[str] | None = None,
    sweep_tags: dict[str, str] | None = None,
    pretrained: Pretrained | None = None,
    close_later: bool = False,
) -> JobResult:
    """Run one job for a composed config; return its run id and final metrics.

    Everything that can refuse the job (the config, the memory estimate, the store, the data,
    the model) comes before the run is opened: bad input leaves the store as it was. A job
    whose net was trained in a population (`pretrained`, made from this same config) logs
    that net and its history instead of training one. Figures are saved by a worker process
    (`toynets.render`) while the job logs the rest; with `close_later` (a sweep's jobs in the
    launching process) the run is closed once they are logged, while the next job runs.
    """
    conf: Config = validate(cfg)
    typos = bool_override_problems(overrides or [])
    if typos:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(typos))
    from toynets import tracking

    tracking.check_uri(conf.tracking.uri)
    if pretrained is None:
        data, head, model = prepare(conf)
    else:
        data, head, model = pretrained.data, pretrained.head, pretrained.model
    seed = conf.seed

    from toynets import render, studies
    from toynets.model import plain_model, to_net
    from toynets.stream import CurveStream
    from toynets.train import TrainingInterrupted, explain_divergence, fit

    study = studies.get(conf.study.name)
    model_name = describe_model(conf.model.hidden, head)
    recorded = recorded_config(cfg)
    params = tracking.flatten(recorded)
    run_name = params.get("tracking.run_name") or describe_run(  # ${oc.env:..} as written
        conf.study.name, data.name, model_name, seed, overrides or [], params
    )
    tags = {
        tracking.ROLE_TAG: "job",
        "study": conf.study.name,
        "dataset": data.name,
        "model": model_name,
        "seed": seed,
        "overrides": " ".join(overrides or []),
        **(sweep_tags or {}),
    }
    if pretrained is not None:
        tags[POPULATION_TAG] = str(pretrained.population)
    commit = _git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit

    renderer = render.own_renderer()
    if renderer is not None:
        renderer.start()
    with tracking.start_run(
        conf.tracking.uri,
        conf.tracking.experiment or conf.study.name,
        run_name,
        tags,
        close_later=close_later,
    ) as rec:
        console.say(f"run {rec.run_id} ({run_name!r}) started")
        rec.log_params(params)
        rec.log_text(OmegaConf.to_yaml(recorded), "config.yaml")
        if hydra_dir is not None and (hydra_dir / ".hydra").is_dir():
            rec.log_dir(hydra_dir / ".hydra", "hydra")

        stream = CurveStream(rec, every=conf.tracking.stream_every or math.inf)
        trained_in = "" if pretrained is None else f" (in a population of {pretrained.population})"
        with console.stage(f"train{trained_in}") as step:
            try:
                if pretrained is None:
                    history = fit(model, data, conf.train, head, train_seed(conf), stream)
                else:
                    history = pretrained.history()
            except TrainingInterrupted as stop:  # keep the curves up to Ctrl-C or SIGTERM
                stream.finish(stop.history)
                raise
            except TrainingDiverged as diverged:
                stream.finish(diverged.history)
                diverged.args = (explain_divergence(diverged, conf),)
                raise
            final = {**history.final(), "train/seconds": history.seconds}
            step.detail = _describe_final(len(history.step_loss), final)
        stream.finish(history)
        rec.log_metrics(final)

        net = to_net(model)
        rec.log_arrays(net.to_arrays(), "weights/final.npz")

        trained = studies.Trained(model, net, head, data, history, title=run_name, config=conf)
        with console.stage(f"study {conf.study.name}"):
            report = study(trained, conf.study)
        figures = len(report.figures)
        with console.stage(f"log {figures} figures and the results", total=figures) as step:
            rec.log_report(report, progress=step.advance, renderer=renderer)
        if conf.tracking.log_model:
            with console.stage("log the model"):
                example = np.asarray(data.x_test[:5], np.float32)
                # The output for the signature from the net's NumPy forward pass: the same
                # numbers as the model's, without a first Keras call (~50 ms).
                rec.log_keras_model(plain_model(net), example, net.predict(example))
        return JobResult(rec.run_id, rec.experiment_id, {**final, **report.metrics})


POPULATION_TAG = "toynets.population"  # a job trained in a population: how many nets it had


def train_populations(
    jobs: Mapping[int, DictConfig], max_size: int
) -> tuple[dict[int, Pretrained], list[list[int]]]:
    """Train the nets of a sweep's jobs (job number -> composed config, Hydra's node
    removed) in populations: jobs whose architecture, schedule and data sizes agree train as
    one (`toynets.train.group_members`, at most `max_size` nets each). Returns each grouped
    job's Pretrained and the groups (job numbers), singletons included. A job whose config or
    data refuses itself is left out: it fails with its own error when it runs.
    """
    console.import_tensorflow()
    from toynets.train import Member, fit_population, group_members

    prepared: dict[int, tuple[Any, str, Any]] = {}
    members: list[Member] = []
    for num, cfg in jobs.items():
        try:
            conf = validate(cfg)
            prepared[num] = prepare(conf)
        except ConfigError:
            continue
        data, head, model = prepared[num]
        members.append(Member(model, data, conf.train, train_seed(conf), head=head))
    numbers = list(prepared)  # job number of each member
    pretrained: dict[int, Pretrained] = {}
    groups = []
    for indices in group_members(members, max_size):
        group = [numbers[i] for i in indices]
        groups.append(group)
        if len(group) < 2:
            continue  # trains as a single job
        with console.stage(f"train {len(group)} nets as one population") as step:
            results = fit_population([members[i] for i in indices])
            step.detail = f"jobs {_span(group)}"
        for num, result in zip(group, results, strict=True):
            data, head, model = prepared[num]
            pretrained[num] = Pretrained(data, head, model, result, len(group))
    return pretrained, groups


def _span(numbers: list[int]) -> str:
    """`0-15` for consecutive numbers, else `0, 2, 5`."""
    if numbers == list(range(numbers[0], numbers[0] + len(numbers))) and len(numbers) > 2:
        return f"{numbers[0]}-{numbers[-1]}"
    return ", ".join(map(str, numbers))


def recorded_config(cfg: DictConfig) -> dict[str, Any]:
    """The config as a run records it (params, config.yaml): resolved, except that values
    taken from the environment (`${oc.env:...}`) stay as written, and a password in a URI is
    replaced by ***, so that no secret reaches the store."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    written = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(resolved, dict) and isinstance(written, dict)
    return _keep_env_refs(resolved, written)


def _keep_env_refs(resolved: Any, written: Any) -> Any:
    if isinstance(resolved, dict) and isinstance(written, dict):
        return {k: _keep_env_refs(v, written.get(k)) for k, v in resolved.items()}
    if isinstance(resolved, list) and isinstance(written, list) and len(resolved) == len(written):
        return [_keep_env_refs(v, w) for v, w in zip(resolved, written, strict=True)]
    if isinstance(written, str) and "${oc.env" in written.replace(" ", ""):
        return written
    if isinstance(resolved, str):
        return _hide_password(resolved)
    return resolved


def _hide_password(text: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`."""
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return text
    credentials, at, location = rest.partition("@")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}{at}{location}"


def _describe_final(steps: int, final: Mapping[str, float]) -> str:
    """`640 steps, test loss 0.1021, test accuracy 0.970`."""
    parts = [f"{steps} steps"]
    for key in ("final/test_loss", "final/test_accuracy"):
        if key in final:
            parts.append(f"{key.removeprefix('final/').replace('_', ' ')} {final[key]:.4g}")
    return ", ".join(parts)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> float | None:
    """One job. Returns the objective (e.g. final/test_loss) for sweepers such as Optuna.

    In a sweep a failing job must not stop the others: its error is recorded (FAILED run, or
    `error.txt` in the job folder when it got no run) and None is returned, which Optuna
    records as a failed trial (it refuses NaN and would end the whole study).
    """
    from toynets import sweep

    hydra_cfg = HydraConfig.get()
    in_sweep = hydra_cfg.mode == RunMode.MULTIRUN
    console.configure(bool(hydra_cfg.verbose), hydra_cfg.job.num if in_sweep else None)
    hydra_dir = Path(hydra_cfg.runtime.output_dir)
    pretrained = PRETRAINED.pop(hydra_cfg.job.num, None) if in_sweep else None
    try:
        with _sigterm_as_interrupt():
            result = run_job(
                cfg,
                hydra_dir,
                _task_overrides(hydra_cfg),
                sweep.job_tags(),
                pretrained,
                # In the process that launched the sweep, whose end waits for the runs to close.
                close_later=in_sweep and sweep.launched_here(),
            )
    except Exception as error:
        uri = OmegaConf.select(cfg, "tracking.uri", throw_on_resolution_failure=False)
        code, message = _failure(error, uri)
        if not in_sweep:
            if code is None:
                raise  # not one of ours: main() says what it is
            print(f"toynets: {message}", file=sys.stderr)
            raise SystemExit(code) from None
        print(f"toynets: job {hydra_cfg.job.num} failed: {message}", file=sys.stderr)
        (hydra_dir / "error.txt").write_text(message)  # for jobs that never got a run
        return None
    from toynets.tracking import browse_hint, resolve_uri

    store = resolve_uri(cfg.tracking.uri)
    print(f"toynets: run {result.run_id} logged to {store}")
    print(f"toynets: see it: {browse_hint(store, result.experiment_id, result.run_id)}")
    objective = result.metrics.get(cfg.objective)
    return float(objective) if objective is not None and math.isfinite(objective) else None


def _task_overrides(hydra_cfg: Any) -> list[str]:
    """The job's overrides as typed (`${oc.env:X}` stays as written, never expanded)."""
    overrides = OmegaConf.to_container(hydra_cfg.overrides.task, resolve=False)
    assert isinstance(overrides, list)
    return [str(o) for o in overrides]


def _failure(error: BaseException, uri: str | None = None) -> tuple[int | None, str]:
    """The exit code and one-sentence message of a job's error: 2 for bad input (the config,
    the store), 1 for a run that failed; None for an error that is not one of these."""
    if isinstance(error, ConfigError):
        return 2, str(error)
    if isinstance(error, TrainingDiverged):
        return 1, str(error)
    from toynets import tracking

    explained = tracking.explain(error, uri)
    if explained is not None:
        return 1, explained
    return None, f"{type(error).__name__}: {error}"


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises `Terminated` (a KeyboardInterrupt) in the main thread, so that a job
    stopped by `kill`, `timeout` or a scheduler ends as one stopped by Ctrl-C: run KILLED,
    curves kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminated(error: BaseException) -> bool:
    """Whether a KeyboardInterrupt came from SIGTERM (directly or as the cause of training's)."""
    return isinstance(error, Terminated) or bool(getattr(error, "terminated", False))


def _hydra_error(error: Exception) -> str | None:
    """One sentence for an error of Hydra's (an override it cannot parse or apply, a config
    group option that does not exist), None for any other error."""
    from hydra.errors import HydraException, OverrideParseException

    if isinstance(error, OverrideParseException):
        return (
            f"cannot read the override {error.override!r}: {_parse_reason(error)}; overrides "
            "are KEY=VALUE, e.g. train.lr=0.003 or model.hidden=[8,8] (toynets --help lists "
            "the keys)"
        )
    if not isinstance(error, HydraException):
        return None
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if "Available options" in str(error):  # an unknown group option: list the known ones
        head = lines[0].removeprefix("In 'config': ")
        options = []
        for line in lines[2:]:
            if line.startswith("Config search path"):
                break
            options.append(line)
        return f"{head}; {lines[1].rstrip(':').lower()}: {', '.join(options)}"
    cause = error.__cause__
    reason = str(cause).splitlines()[0] if cause is not None and str(cause) else ""
    message = lines[0] if lines else type(error).__name__
    if not reason and len(lines) > 1:  # Hydra's own advice (e.g. for `key=a,b` without -m)
        return "; ".join(line.rstrip(".") for line in lines if "HYDRA_FULL_ERROR" not in line)
    full_key = getattr(cause, "full_key", None)
    if full_key and "not in" in reason:  # an unknown key: say which keys there are
        group = str(full_key).rpartition(".")[0]
        known = _schema_keys(group)
        if known:
            reason += f"; {group or 'the top level'} has: {', '.join(known)}"
    return f"{message.rstrip('.')}: {reason}" if reason else message


LEXER_PREFIX = "LexerNoViableAltException: "


def _parse_reason(error: Any) -> str:
    """Why Hydra's override grammar refused an override, in words: the character it stopped
    at (Hydra shows it with a caret under the text), or its parser's message."""
    lines = str(error.message).splitlines()
    if lines and lines[0].startswith(LEXER_PREFIX) and len(lines) > 1 and "^" in lines[1]:
        at = lines[1].index("^") - len(LEXER_PREFIX)
        text = str(error.override)
        if 0 <= at < len(text):
            return f"the character {text[at]!r} at position {at + 1} is not allowed there"
    return lines[0] if lines else "it does not follow Hydra's override grammar"


def _schema_keys(group: str) -> list[str]:
    """The keys of a config group's dataclass (`train` -> optimizer, lr, ...)."""
    from dataclasses import fields, is_dataclass

    node = field_type(group) if group else Config
    return [f.name for f in fields(node)] if is_dataclass(node) else []


def _wants_traceback(argv: list[str]) -> bool:
    return console.verbose() or any(a.replace(" ", "") == "hydra.verbose=true" for a in argv)


def main() -> None:
    """`toynets runs ...` (the run browser) or a Hydra job/sweep.

    Exit codes: 0 done, 2 bad input (nothing recorded), 1 a run or sweep job failed, 130
    Ctrl-C, 143 SIGTERM (runs KILLED, what they logged kept).
    """
    # MLflow's log lines go through Python's logging like everyone's (the job's log file,
    # or the terminal when verbose) instead of MLflow's own handler on stderr.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    if sys.argv[1:2] == ["runs"]:
        from toynets.cli import runs_main

        raise SystemExit(runs_main(sys.argv[2:]))
    from toynets import sweep

    # Hydra prints its own errors with a hint about HYDRA_FULL_ERROR and exits 1; with it set
    # it raises them to us, and each becomes one sentence (and exit code 2) below.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        with _sigterm_as_interrupt():
            _hydra_main()
    except KeyboardInterrupt as stop:
        terminated = _terminated(stop)
        how = "terminated (SIGTERM)" if terminated else "interrupted (Ctrl-C)"
        sweep.abort_active("KILLED", f"sweep {how}")
        print(f"toynets: {how}; the run is marked KILLED, what it logged is kept", file=sys.stderr)
        raise SystemExit(143 if terminated else 130) from None
    except SystemExit:  # how Hydra reports an error raised by the sweeper or the launcher
        sweep.abort_active("FAILED", "the sweep stopped with an error (see its output)")
        raise
    except Exception as error:
        hydra_message = _hydra_error(error)
        code, message = (2, hydra_message) if hydra_message else _failure(error)
        sweep.abort_active("FAILED", message)
        if _wants_traceback(sys.argv):
            traceback.print_exc()
        print(f"toynets: {message}", file=sys.stderr)
        if code is None:
            print(
                "toynets: this looks like a bug in toynets; TOYNETS_VERBOSE=1 shows the traceback",
                file=sys.stderr,
            )
        raise SystemExit(code or 1) from None
    if sweep.OUTCOME["failed"]:
        raise SystemExit(1)


def command() -> None:
    """The `toynets` command: `main()`, then the process ends at once with its exit code.

    Python's own shutdown after TensorFlow has run takes 1.5-2.5 s (the teardown of its
    modules and threads), and none of it is needed: by then every run is closed. The exit
    handlers still run (the figure worker, launcher pools, MLflow's), and the log files and
    the terminal streams are flushed, before `os._exit`.
    """
    try:
        main()
        code: Any = 0
    except SystemExit as stop:
        code = stop.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # what Python does with SystemExit("message")
        code = 1
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    command()
