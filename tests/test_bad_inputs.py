"""The battery of bad inputs (issue 8, item 7): each one is refused before any run exists.

Each case runs `toynets ...` as a user would, in a folder of its own that already holds a real
embedded store (one FINISHED run with a param, a metric and an artifact, made by MLflow's own
client), and must

1. exit with status 2 (1 is a run that failed, 130 Ctrl-C) within 30 s;
2. name on stderr the key, override or option at fault and what is allowed (`Case.expect`,
   case-insensitive);
3. print no traceback;
4. leave the store as it was: the same runs with the same statuses and no new experiment (read
   back with MlflowClient), the same files under mlruns/ and the same database content;
   nothing created where a bad `tracking.uri` points, nothing new in the working folder but
   Hydra's own `outputs/` (`multirun/` for a sweep).

The cases run once per session, four at a time (one subprocess each, about a second when
refused), and each parametrized test reads its own result.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from conftest import TOYNETS, user_env

TIMEOUT = 30.0  # seconds a refusal may take, waiting on an unreachable server included
WORKERS = 4
# An input that slips through (a net of 10^8 units, 10^9 points) must fail rather than exhaust
# the machine: every case runs under an address-space limit. A whole toynets job fits in 3 GiB.
MEMORY_LIMIT = 4 << 30
_LIMITED_EXEC = (
    "import os, resource, sys\n"
    "_, hard = resource.getrlimit(resource.RLIMIT_AS)\n"
    f"limit = {MEMORY_LIMIT} if hard == resource.RLIM_INFINITY else min({MEMORY_LIMIT}, hard)\n"
    "resource.setrlimit(resource.RLIMIT_AS, (limit, hard))\n"
    "os.execv(sys.argv[1], sys.argv[1:])\n"
)
COMMAND = [str(TOYNETS)] if TOYNETS.exists() else [sys.executable, "-m", "toynets.app"]
# The file lock toynets takes on a store folder while it creates or migrates the store: it holds
# no data, and a command that must read the store to refuse (`runs get NOT_A_RUN_ID`) takes it.
IGNORED_STORE_FILES = {".toynets.lock"}
# What a refused job may leave in its working folder: Hydra's job folder (and its log).
HYDRA_FOLDERS = {"outputs", "multirun"}

# A store toynets cannot use: the message names it and says what to do about it.
STORE = ("mlflow.db", "store")
ADVICE = (
    "tracking.uri",
    "chmod",
    "permission",
    "writable",
    "another",
    "move",
    "rename",
    "remove",
    "delete",
    "restore",
    "backup",
)
# The estimate with its unit: "37.3 GiB", "12 GB", "2.28 TiB".
MEMORY = re.compile(r"\d\s*[gtp]i?b\b", re.IGNORECASE)

Expected = str | tuple[str, ...] | re.Pattern


@dataclass(frozen=True)
class Case:
    """`toynets ARGS` (as typed in a shell) and what its message must contain: every item of
    `expect`, where an item is a substring, a tuple of alternatives (any one) or a pattern."""

    id: str
    command: str
    expect: tuple[Expected, ...]
    env: Mapping[str, str] | None = None
    store: str = "seeded"  # "seeded", "read-only" (db and its folder) or "corrupt" (garbage db)
    elsewhere: tuple[str, ...] = ()  # where a bad tracking.uri points: must stay as it was

    @property
    def args(self) -> list[str]:
        return shlex.split(self.command)

    @property
    def heavy(self) -> bool:
        """Whether refusing it takes loading MLflow (a store, a server, `runs`, a sweep): a few
        seconds of CPU, against under one for a config error."""
        command = self.command
        return (
            command.startswith(("runs", "-m"))
            or "tracking.uri" in command
            or self.store != "seeded"
            or bool(self.env)
        )


def case(id: str, command: str, *expect: Expected, **options) -> object:
    return pytest.param(Case(id, command, expect, **options), id=id)


SEED_KEY = re.compile(r"(?<![\w.])seed\s*=\s*-1\b", re.IGNORECASE)  # `seed`, not dataset.seed

CASES = [
    # -- too big for memory: refused by an estimate against max_memory_gb (a top-level key) --
    case("mem-hidden-1e8", "model.hidden=[100000000]", "model.hidden", "max_memory_gb", MEMORY),
    case("mem-steps-1e12", "train.steps=1000000000000", "train.steps", "max_memory_gb", MEMORY),
    case("mem-grid-1e5", "study.grid=100000", "study.grid", "max_memory_gb", MEMORY),
    case(
        # 1e9 is a float: the integer key refuses it before the memory estimate is made
        "mem-n-train-1e9-float",
        "dataset.n_train=1e9",
        "dataset.n_train",
        "Integer",
    ),
    case(
        "mem-n-train-1e9", "dataset.n_train=1000000000", "dataset.n_train", "max_memory_gb", MEMORY
    ),
    case("mem-n-test-1e9", "dataset.n_test=1000000000", "dataset.n_test", "max_memory_gb", MEMORY),
    case("mem-n-paths-1e9", "study.n_paths=1000000000", "study.n_paths", "max_memory_gb", MEMORY),
    case("mem-map-grid-1e5", "study.map_grid=100000", "study.map_grid", "max_memory_gb", MEMORY),
    case("mem-n-masks-1e9", "study.n_masks=1000000000", "study.n_masks", "max_memory_gb", MEMORY),
    case(
        "mem-deep-wide-train",
        "study=train model.hidden=[20000,20000,20000]",
        "model.hidden",
        "max_memory_gb",
        MEMORY,
    ),
    case("max-memory-zero", "max_memory_gb=0", "max_memory_gb", "> 0"),
    case("max-memory-negative", "max_memory_gb=-1", "max_memory_gb", "> 0"),
    case("max-memory-nan", "max_memory_gb=nan", "max_memory_gb", "finite"),
    case("max-memory-text", "max_memory_gb=lots", "max_memory_gb", ("number", "float")),
    # -- not finite --
    case("lr-nan", "train.lr=nan", "train.lr", "finite"),
    case("lr-inf", "train.lr=inf", "train.lr", "finite"),
    case("lr-minus-inf", "train.lr=-inf", "train.lr", "finite"),
    case("lr-overflow", "train.lr=1e400", "train.lr", "finite"),
    case("init-scale-nan", "model.init_scale=nan", "model.init_scale", "finite"),
    case("noise-nan", "dataset.noise=nan", "dataset.noise", "finite"),
    case("spiral-noise-inf", "dataset=spiral dataset.noise=inf", "dataset.noise", "finite"),
    case(
        "kernel-width-inf",
        "study=node_removal study.kernel_width=inf",
        "study.kernel_width",
        "finite",
    ),
    case("box-nan", "study.box=[0,nan,0,1]", "study.box", "finite"),
    case("train-box-minus-inf", "study=train study.box=[0,1,-inf,1]", "study.box", "finite"),
    case("ps-nan", "study=node_removal study.ps=[nan]", "study.ps", ("finite", "[0, 1]")),
    # -- node removal needs hidden units --
    case(
        "node-removal-no-hidden",
        "study=node_removal model.hidden=[]",
        "model.hidden",
        "hidden unit",
    ),
    case(
        "node-removal-logreg",
        "+experiment=logreg_halfplane study=node_removal",
        "model.hidden",
        "hidden unit",
    ),
    # -- seeds: integers in [0, 4294967295] --
    case("seed-1e20", "seed=100000000000000000000", "seed", "integer"),
    case("seed-negative", "seed=-1", SEED_KEY, "integer"),
    case("seed-float", "seed=1.5", "seed", "integer"),
    case("seed-text", "seed=abc", "seed", "integer"),
    case("train-seed-negative", "train.seed=-5", "train.seed", "integer"),
    case("model-seed-2p32", "model.seed=4294967296", "model.seed", "integer"),
    case("dataset-seed-negative", "dataset.seed=-2", "dataset.seed", "integer"),
    case("mc-seed-negative", "study=node_removal study.mc_seed=-1", "study.mc_seed", "integer"),
    case(
        "test-seed-negative", "study=node_removal study.test_seed=-3", "study.test_seed", "integer"
    ),
    # -- tracking.uri: nothing is created where it points, and no server means a quick no --
    case("uri-junk-scheme", "tracking.uri=junk://x", "tracking.uri"),
    case("uri-nothing-listens", "tracking.uri=http://127.0.0.1:1", "tracking.uri"),
    case("uri-https-nothing-listens", "tracking.uri=https://127.0.0.1:1", "tracking.uri"),
    case("uri-unknown-host", "tracking.uri=http://no-such-host.invalid:5000", "tracking.uri"),
    case(
        "uri-postgres-nothing-listens",
        "tracking.uri=postgresql+psycopg://nobody@127.0.0.1:1/mlflow",
        "tracking.uri",
    ),
    case(
        "uri-db-under-a-file",
        "tracking.uri=sqlite:////etc/passwd/x.db",
        "tracking.uri",
        elsewhere=("/etc/passwd",),
    ),
    case("uri-not-a-uri", "tracking.uri='not a uri'", "tracking.uri"),
    case(
        "uri-missing-folder",
        "tracking.uri=sqlite:////nonexistent_dir_xyz/x.db",
        "tracking.uri",
        elsewhere=("/nonexistent_dir_xyz",),
    ),
    # The user never typed tracking.uri here: the variable is named too.
    case(
        "env-uri-junk",
        "study=train",
        "tracking.uri",
        "MLFLOW_TRACKING_URI",
        env={"MLFLOW_TRACKING_URI": "junk://x"},
    ),
    # -- tracking.experiment: a name, not a path --
    case("experiment-dotdot", "tracking.experiment=..", "tracking.experiment"),
    case("experiment-dot", "tracking.experiment=.", "tracking.experiment"),
    case("experiment-parent-path", "tracking.experiment=../x", "tracking.experiment"),
    case("experiment-slash", "tracking.experiment=a/b", "tracking.experiment"),
    case("experiment-empty", "tracking.experiment=''", "tracking.experiment"),
    # -- a store toynets cannot use --
    case("store-read-only", "study=train train.epochs=1", STORE, ADVICE, store="read-only"),
    case("store-corrupt", "study=train train.epochs=1", STORE, ADVICE, store="corrupt"),
    case("runs-ls-store-corrupt", "runs ls", STORE, ADVICE, store="corrupt"),
    # -- what Hydra's override parser or OmegaConf refuses: the override is quoted back --
    case("full-width-digits", "train.lr=０.０１", "train.lr=０.０１"),
    case("unclosed-list", "model.hidden=[8,", "model.hidden=[8,"),
    case("extra-bracket", "model.hidden=[8,8]]", "model.hidden=[8,8]]"),
    case(
        "yaml-python-tag",
        "train.lr=!!python/object:os.system",
        "train.lr=!!python/object:os.system",
    ),
    case("env-not-set", "'train.lr=${oc.env:NOPE_NOT_SET}'", "train.lr", "NOPE_NOT_SET"),
    case("missing-interpolation", "'model.hidden=${model.nope}'", "model.hidden", "model.nope"),
    case("comma-without-m", "train.lr=1,2", "train.lr=1,2", ("-m", "multirun")),
    case("no-equals", "train.lr", "train.lr"),
    case("double-dot-key", "train..lr=1", "train..lr=1"),
    # -- unknown keys, groups and options: what there is instead --
    case("unknown-key", "train.foo=1", "train.foo", "optimizer"),
    case("unknown-key-plus", "+train.foo=1", "train.foo", "optimizer"),
    case("unknown-top-key", "nope=1", "nope", "seed"),
    case("unknown-top-key-plus", "+nope=1", "nope", "seed"),
    case("unknown-study-key-plus", "study=node_removal +study.foo=1", "study.foo", "n_masks"),
    case("delete-required-key", "~train.lr", "train.lr"),
    case("dataset-nope", "dataset=nope", "dataset", "nope", "circle"),
    case("dataset-name-nope", "dataset.name=nope", "dataset.name", "circle"),
    case("model-nope", "model=nope", "model", "nope", "mlp"),
    case("train-nope", "train=nope", "train", "nope", "fullbatch"),
    case("study-nope", "study=nope", "study", "nope", "node_removal"),
    case("tracking-nope", "tracking=nope", "tracking", "nope", "local"),
    case("experiment-nope", "+experiment=nope", "experiment", "nope", "node_removal_circle"),
    case("activation-swish", "model.activation=swish", "model.activation", "choose one of"),
    case("head-sigmoid", "model.head=sigmoid", "model.head", "choose one of"),
    case(
        "initializer-orthogonal",
        "model.initializer=orthogonal",
        "model.initializer",
        "choose one of",
    ),
    case("optimizer-lbfgs", "train.optimizer=lbfgs", "train.optimizer", "choose one of"),
    case(
        "weight-evolution-compare-unknown",
        "+experiment=weight_evolution_halfplane study.compare=[[walk,0.1]]",
        "study.compare[0]",
        "random_walk",
    ),
    case(
        "weight-evolution-chosen-beyond-inputs",
        "+experiment=weight_evolution_halfplane study.chosen=[0,15]",
        "study.chosen",
        "0..14",
    ),
    case(
        "weight-evolution-movie-of-every-step",
        "+experiment=weight_evolution_halfplane train.snapshot_every=1 study.movie_frames=null",
        "study.movie_frames",
        "max_memory_gb",
        MEMORY,
    ),
    case(
        "regression-softmax-head",
        "dataset=fcnn_prod model.head=softmax",
        "model.head",
        "regression",
    ),
    # -- out of range --
    case("lr-zero", "train.lr=0", "train.lr", "> 0"),
    case("lr-negative", "train.lr=-1", "train.lr", "> 0"),
    case("lr-underflow", "train.lr=1e-400", "train.lr", "> 0"),
    case("epochs-zero", "train.epochs=0", "train.epochs", "> 0"),
    case("batch-size-zero", "train.batch_size=0", "train.batch_size", "> 0"),
    case("steps-negative", "train.steps=-3", "train.steps", "> 0"),
    case("fullbatch-steps-zero", "train=fullbatch train.steps=0", "train.steps", "> 0"),
    case("eval-every-zero", "train.eval_every=0", "train.eval_every", "> 0"),
    case("snapshot-every-negative", "train.snapshot_every=-1", "train.snapshot_every", "> 0"),
    case(
        "epochs-and-steps-null", "train.epochs=null train.steps=null", "train.epochs", "train.steps"
    ),
    case("n-train-negative", "dataset.n_train=-5", "dataset.n_train", "> 0"),
    case("n-test-zero", "dataset.n_test=0", "dataset.n_test", "> 0"),
    case("noise-negative", "dataset.noise=-1", "dataset.noise", ">= 0"),
    case(
        "playground-noise-high",
        "dataset=playground_circle dataset.noise=0.9",
        "dataset.noise",
        "0.5",
    ),
    case(
        "circle-three-features", "dataset.n_features=3", "dataset.n_features", re.compile(r"\b2\b")
    ),
    case(
        "halfplane-one-feature",
        "dataset=halfplane dataset.n_features=1",
        "dataset.n_features",
        re.compile(r"(>=|at least)\s*2\b"),
    ),
    case("hidden-zero", "model.hidden=[0]", "model.hidden", ("positive", "> 0")),
    case("hidden-negative", "model.hidden=[-4]", "model.hidden", ("positive", "> 0")),
    case("hidden-middle-zero", "model.hidden=[8,0,8]", "model.hidden", ("positive", "> 0")),
    case("train-grid-zero", "study=train study.grid=0", "study.grid", "> 0"),
    case("train-box-reversed", "study=train study.box=[1,0,0,1]", "study.box", "min"),
    case("ps-above-one", "study=node_removal study.ps=[1.5]", "study.ps", "[0, 1]"),
    case(
        "pruning-criterion-nope",
        "study=pruning study.criteria=[random,biggest]",
        "study.criteria",
        ("biggest", "activation_std", "shapley"),
    ),
    case("pruning-fraction-one", "study=pruning study.fraction=1.0", "study.fraction", "[0, 1)"),
    case(
        "pruning-fractions-negative",
        "study=pruning study.fractions=[0,-0.1]",
        "study.fractions[1]",
        "[0, 1)",
    ),
    case(
        "pruning-fraction-per-layer-count",
        "+experiment=pruning_spiral study.fraction=[0.5]",
        "study.fraction",
        ("one per hidden layer", "model.hidden=[50, 50]"),
    ),
    case(
        "pruning-layer-out-of-range",
        "+experiment=pruning_spiral study.layers=[2]",
        "study.layers",
        "0..1",
    ),
    case("pruning-no-hidden", "study=pruning model.hidden=[]", "model.hidden=[]", "hidden"),
    case("pruning-seeds-zero", "study=pruning study.seeds=0", "study.seeds", "> 0"),
    case("pruning-one-frame", "study=pruning study.movie_frames=1", "study.movie_frames", ">= 2"),
    case("pruning-layers-empty", "study=pruning study.layers=[]", "study.layers", "null for all"),
    case(
        "pruning-criteria-repeated",
        "study=pruning study.criteria=[random,shapley,random]",
        "study.criteria",
        "repeats random",
    ),
    case(
        "pruning-seeds-past-max",
        "study=pruning seed=4294967295 study.seeds=2",
        "study.seeds=2",
        "4294967296",
    ),
    case(
        "pruning-fraction-label-taken",
        "+experiment=pruning_spiral study.fraction=[0.2,0.8]",
        "study.fraction=[0.2, 0.8]",
        "share 0.5",
    ),
    case(
        "mem-pruning-seeds",
        "study=pruning study.seeds=100000",
        "study.seeds",
        "max_memory_gb",
        MEMORY,
    ),
    case(
        "mem-pruning-grid", "study=pruning study.grid=100000", "study.grid", "max_memory_gb", MEMORY
    ),
    case("ps-empty", "study=node_removal study.ps=[]", "study.ps", "empty"),
    case("n-masks-zero", "study=node_removal study.n_masks=0", "study.n_masks", "> 0"),
    case(
        "n-random-subsets-negative",
        "study=node_removal study.n_random_subsets=-1",
        "study.n_random_subsets",
        ">= 0",
    ),
    case("exact-maybe", "study=node_removal study.exact=maybe", "study.exact", "choose one of"),
    case("exact-limit-40", "study=node_removal study.exact_limit=40", "study.exact_limit", "30"),
    case(
        "exact-true-too-wide",
        "study=node_removal model.hidden=[30] study.exact=true",
        "study.exact",
        "exact_limit",
    ),
    case(
        "subsets-unit-99",
        "study=node_removal study.subsets=[[99]]",
        "study.subsets",
        ("0..19", "0 to 19", "0-19"),
    ),
    case("objective-loss", "objective=loss", "objective", "final/test_loss"),
    # -- wrong types --
    case("epochs-text", "train.epochs=abc", "train.epochs", "integer"),
    case("batch-size-float", "train.batch_size=1.5", "train.batch_size", "integer"),
    case("hidden-text", "model.hidden=abc", "model.hidden", ("list", "integers")),
    case("lr-list", "train.lr=[1]", "train.lr", ("number", "float")),
    case("progress-maybe", "train.progress=maybe", "train.progress", ("bool", "true")),
    case("faithful-two", "dataset.faithful=2", "dataset.faithful", ("bool", "true")),
    case("log-model-maybe", "tracking.log_model=maybe", "tracking.log_model", ("bool", "true")),
    # -- several problems at once: every one is named --
    case(
        "lr-and-activation",
        "train.lr=-1 model.activation=swish",
        "train.lr",
        "> 0",
        "model.activation",
        "choose one of",
    ),
    case(
        "seed-lr-n-test",
        "seed=-1 train.lr=nan dataset.n_test=0",
        SEED_KEY,
        "train.lr",
        "dataset.n_test",
    ),
    # -- sweeps: a sweep with a bad value is refused as a whole, before its first job, like a
    # single job (status 2, no parent run). Every combination is known when the sweep starts
    # and checking them costs nothing, whereas running the good jobs first would spend their
    # whole training to end in an error and leave a half sweep (a parent, some children). --
    case("sweep-one-bad-lr", "-m study=train train.lr=0.01,-1", "train.lr", "> 0"),
    case("sweep-one-bad-seed", "-m study=train seed=0,-1", SEED_KEY, "integer"),
    case(
        "sweep-one-bad-activation",
        "-m study=train model.activation=relu,swish",
        "model.activation",
        "choose one of",
    ),
    # -- toynets runs ...: a sentence and status 2 --
    case(
        "runs-get-unknown-id",
        "runs get NOT_A_RUN_ID",
        "NOT_A_RUN_ID",
        ("no run", "not found", "does not exist"),
    ),
    case("runs-get-unknown-artifact", "runs get {run_id} nope/missing.txt", "nope/missing.txt"),
    case("runs-get-dotdot", "runs get {run_id} ../../../etc/passwd", "../../../etc/passwd"),
    case(
        "runs-ls-bad-filter", "runs ls --filter 'metrics.x >>> 1'", ("--filter", "metrics.x >>> 1")
    ),
    case("runs-ls-unknown-study", "runs ls --study nope", "nope", ("study", "experiment")),
    case("runs-ls-not-key-value", "runs ls model.hidden", "model.hidden", "KEY=VALUE"),
    case("runs-ls-limit-text", "runs ls --limit abc", "--limit", "abc"),
    case("runs-ls-status-done", "runs ls --status DONE", "--status", "choose from"),
    case("runs-unknown-command", "runs frobnicate", "frobnicate", "choose from"),
    case("runs-ls-uri-junk", "runs ls --uri junk://x", ("--uri", "junk://x")),
    case(
        "runs-uri-missing-folder",
        "runs --uri sqlite:////nonexistent_dir_xyz_runs/x.db ls",
        ("--uri", "nonexistent_dir_xyz_runs"),
        elsewhere=("/nonexistent_dir_xyz_runs",),
    ),
    case(
        "runs-ls-uri-nothing-listens", "runs ls --uri http://127.0.0.1:1", ("--uri", "127.0.0.1:1")
    ),
]


# -- the store every case starts from -----------------------------------------------------------
@dataclass(frozen=True)
class Seed:
    folder: Path  # holds mlruns/mlflow.db and mlruns/train/<run id>/artifacts/config.yaml
    run_id: str


def make_seed(folder: Path) -> Seed:
    """A real embedded store as toynets lays it out: experiment `train` with its artifacts under
    mlruns/train, one FINISHED run with a param, a metric and an artifact."""
    root = folder / "mlruns"
    root.mkdir(parents=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.create_experiment("train", artifact_location=(root / "train").as_uri())
    run = client.create_run(experiment, run_name="train circle mlp[20] s0")
    client.log_param(run.info.run_id, "train.lr", "0.01")
    client.log_metric(run.info.run_id, "final/test_loss", 0.1)
    client.log_text(run.info.run_id, "train:\n  lr: 0.01\n", "config.yaml")
    client.set_terminated(run.info.run_id, "FINISHED")
    return Seed(folder, run.info.run_id)


def copy_seed(seed: Seed, folder: Path) -> None:
    """The seed's folder tree into `folder`, its artifact locations moved along (MLflow stores
    them as absolute paths): a store of the case's own, written to nowhere else."""
    shutil.copytree(seed.folder, folder, dirs_exist_ok=True)
    old, new = str(seed.folder), str(folder)
    database = sqlite3.connect(folder / "mlruns" / "mlflow.db")
    try:
        with database:
            database.execute(
                "UPDATE experiments SET artifact_location = replace(artifact_location, ?, ?)",
                (old, new),
            )
            database.execute(
                "UPDATE runs SET artifact_uri = replace(artifact_uri, ?, ?)", (old, new)
            )
    finally:
        database.close()


GARBAGE = bytes(range(256)) * 64  # not an SQLite header, not text


def _writable(root: Path) -> bool:
    try:
        os.close(os.open(root / "mlflow.db", os.O_WRONLY))
        return True
    except OSError:
        pass
    try:
        handle, probe = tempfile.mkstemp(dir=root)
    except OSError:
        return False
    os.close(handle)
    os.unlink(probe)
    return True


def make_read_only(root: Path) -> str | None:
    """The database 0444 and its folder 0555 (read-only but readable: the runs stay listable).
    Root ignores those modes, so there the immutable attribute (chattr +i) does it. Returns why
    neither works, None when the store cannot be written."""
    (root / "mlflow.db").chmod(0o444)
    root.chmod(0o555)
    if not _writable(root):
        return None
    try:
        chattr = subprocess.run(
            ["chattr", "+i", str(root / "mlflow.db"), str(root)], capture_output=True, text=True
        )
        why = chattr.stderr.strip()
    except OSError as error:
        why = str(error)
    if not _writable(root):
        return None
    return (
        f"uid {os.getuid()} writes to a 0444 file in a 0555 folder, and chattr +i fails "
        f"({why}): no way to make the store read-only here"
    )


def make_writable(root: Path) -> None:
    """Undo make_read_only (pytest deletes old temporary folders)."""
    with contextlib.suppress(OSError):
        subprocess.run(
            ["chattr", "-i", str(root / "mlflow.db"), str(root)], capture_output=True, check=False
        )
    root.chmod(0o755)
    (root / "mlflow.db").chmod(0o644)


# -- what a case may not change -------------------------------------------------------------------
def _files(root: Path, database_by_content: bool) -> dict[str, str]:
    """Path under mlruns/ -> sha256 of the file ("folder" for a folder). A readable database
    shows as "db": `_content` compares what it holds, since opening a store may rewrite pages
    without changing a row (MLflow 3.17 and toynets leave the bytes alone too, today). A
    corrupt one is compared byte for byte."""
    files = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.name in IGNORED_STORE_FILES:
            continue
        if path.is_dir():
            files[name] = "folder"
        elif database_by_content and name == "mlflow.db":
            files[name] = "db"
        else:
            files[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def _content(database: Path) -> list[str]:
    """The database as SQL statements, read without writing to it."""
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            return list(connection.iterdump())
        finally:
            connection.close()
    except sqlite3.Error as error:  # a case that broke the store
        return [f"unreadable: {error}"]


def _where(path: str) -> tuple | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mode, stat.st_size, stat.st_mtime_ns)


_MLFLOW = threading.Lock()  # one MlflowClient at a time (MLflow's store registry is global)


def _runs(root: Path) -> tuple[set, set]:
    """(experiments, runs) as MLflow reads them: {(id, name, stage)}, {(run id, status)}."""
    with _MLFLOW:
        client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
        experiments = client.search_experiments(view_type=ViewType.ALL)
        ids = [e.experiment_id for e in experiments]
        runs = client.search_runs(ids, run_view_type=ViewType.ALL, max_results=1000)
    return (
        {(e.experiment_id, e.name, e.lifecycle_stage) for e in experiments},
        {(r.info.run_id, r.info.status) for r in runs},
    )


def _differences(before: Mapping, after: Mapping, what: str) -> list[str]:
    changes = [f"{what}{k} appeared" for k in after.keys() - before.keys()]
    changes += [f"{what}{k} disappeared" for k in before.keys() - after.keys()]
    changes += [f"{what}{k} changed" for k in before.keys() & after.keys() if before[k] != after[k]]
    return sorted(changes)


# -- running the battery --------------------------------------------------------------------------
@dataclass
class Outcome:
    id: str
    command: str
    returncode: int | None  # None: killed at the timeout
    seconds: float
    stdout: str
    stderr: str
    changes: list[str] = field(default_factory=list)  # what the case changed in the store
    skipped: str | None = None  # why the case cannot be set up here
    broken: str | None = None  # the battery's own error on this case

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_case(case: Case, seed: Seed, folder: Path) -> Outcome:
    copy_seed(seed, folder)
    root = folder / "mlruns"
    if case.store == "corrupt":
        (root / "mlflow.db").write_bytes(GARBAGE)
    readable = case.store != "corrupt"
    if case.store == "read-only":
        why = make_read_only(root)
        if why is not None:
            make_writable(root)
            return Outcome(case.id, case.command, None, 0.0, "", "", skipped=why)
    try:
        top = {p.name for p in folder.iterdir()}
        files = _files(root, database_by_content=readable)
        content = _content(root / "mlflow.db") if readable else []
        elsewhere = {path: _where(path) for path in case.elsewhere}
        args = [a.replace("{run_id}", seed.run_id) for a in case.args]
        start = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-c", _LIMITED_EXEC, *COMMAND, *args],
                cwd=folder,
                env=user_env(dict(case.env or {})),
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
            returncode, stdout, stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as killed:
            returncode = None
            stdout, stderr = (
                (out.decode(errors="replace") if isinstance(out, bytes) else out or "")
                for out in (killed.stdout, killed.stderr)
            )
        seconds = time.monotonic() - start
        changes = _differences(files, _files(root, database_by_content=readable), "mlruns/")
        if readable and _content(root / "mlflow.db") != content:
            changes.append("mlruns/mlflow.db: its content changed")
        for name in sorted({p.name for p in folder.iterdir()} - top - HYDRA_FOLDERS):
            changes.append(f"{name} appeared in the working folder")
        for path, was in elsewhere.items():
            if _where(path) != was:
                changes.append(f"{path} was {'created' if was is None else 'changed'}")
                if was is None:  # what the case created outside its folder goes
                    shutil.rmtree(path, ignore_errors=True)
    finally:
        if case.store == "read-only":
            make_writable(root)
    if readable:
        changes += _read_back(root, *SEEDED[seed.run_id])
    return Outcome(case.id, case.command, returncode, seconds, stdout, stderr, changes)


def _read_back(root: Path, experiments_before: set, runs_before: set) -> list[str]:
    """What MLflow reads in the store now that it did not read in the seed, and back."""
    try:
        experiments, runs = _runs(root)
    except Exception as error:  # a case that broke the store
        return [f"MLflow cannot read the store any more: {type(error).__name__}: {error}"]
    changes = [f"new experiment {e}" for e in sorted(experiments - experiments_before)]
    changes += [
        f"experiment gone or changed: {e}" for e in sorted(experiments_before - experiments)
    ]
    changes += [f"new run {r}" for r in sorted(runs - runs_before)]
    changes += [f"run gone or changed: {r}" for r in sorted(runs_before - runs)]
    return changes


def _run_case(case: Case, seed: Seed, folder: Path) -> Outcome:
    """run_case, its own failures (not toynets') kept as the case's outcome."""
    try:
        return run_case(case, seed, folder)
    except Exception as error:
        broken = f"{type(error).__name__}: {error}"
        return Outcome(case.id, case.command, None, 0.0, "", "", broken=broken)


SEEDED: dict[str, tuple[set, set]] = {}  # seed run id -> its experiments and runs as MLflow reads


def run_battery(cases: Iterable[Case], base: Path, workers: int = WORKERS) -> dict[str, Outcome]:
    """Every case in a copy of one seeded store under `base`, `workers` at a time."""
    cases = list(cases)
    seed = make_seed(base / "seed")
    SEEDED[seed.run_id] = _runs(seed.folder / "mlruns")
    # The heavy cases spread evenly among the light ones: four of them at once on two cores
    # would each take four times as long.
    cases = sorted(cases, key=lambda c: _position(c, cases))
    folders = [base / case.id for case in cases]
    with ThreadPoolExecutor(workers) as pool:
        outcomes = pool.map(_run_case, cases, [seed] * len(cases), folders)
        return {outcome.id: outcome for outcome in outcomes}


def _position(case: Case, cases: list[Case]) -> float:
    """Where `case` falls, 0 to 1, among the cases as heavy as it is."""
    alike = [c for c in cases if c.heavy == case.heavy]
    return (alike.index(case) + 0.5) / len(alike)


def matches(expected: Expected, text: str) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.search(text) is not None
    if isinstance(expected, tuple):
        return any(matches(alternative, text) for alternative in expected)
    return expected.lower() in text.lower()


@pytest.fixture(scope="session")
def battery(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """The outcome of every case this session selected, all run at once."""
    selected = [
        item.callspec.params["bad"]
        for item in request.session.items
        if getattr(item, "function", None) is test_bad_input_is_refused
    ]
    return run_battery(selected, tmp_path_factory.mktemp("bad_inputs"))


@pytest.mark.parametrize("bad", CASES)
def test_bad_input_is_refused(bad: Case, battery: dict[str, Outcome]) -> None:
    outcome = battery[bad.id]
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    assert outcome.broken is None, f"the battery could not run this case: {outcome.broken}"
    problems = []
    if outcome.returncode is None:
        problems.append(f"still running after {TIMEOUT:.0f} s (killed)")
    elif outcome.returncode != 2:
        problems.append(f"exit status {outcome.returncode}, not 2")
    if "Traceback" in outcome.output:
        problems.append("a traceback")
    missing = [e for e in bad.expect if not matches(e, outcome.stderr)]
    if missing:
        problems.append(f"stderr lacks {missing}")
    if outcome.changes:
        problems.append(f"the store changed: {outcome.changes}")
    said = outcome.stderr[-3000:] or outcome.stdout[-3000:]
    assert not problems, (
        f"`toynets {bad.command}` ({outcome.seconds:.1f} s): {'; '.join(problems)}\n{said}"
    )


def test_battery_is_large_and_named() -> None:
    ids = [c.values[0].id for c in CASES]
    assert len(ids) >= 70
    assert len(set(ids)) == len(ids)
