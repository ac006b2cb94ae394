"""The only module that talks to MLflow: stores, experiments, runs, metrics and artifacts.

Contract (docs/architecture.md): the default store is embedded, `sqlite:///mlruns/mlflow.db`
with artifacts under `mlruns/<experiment>/`, both relative to where `toynets` starts;
`tracking.uri=` or `MLFLOW_TRACKING_URI` points elsewhere (a server). One experiment per study,
one run per job. Artifacts: `config.yaml`, `hydra/`, `weights/final.npz`,
`weights/snapshots.npz`, `model/` (an MLflow Keras model), `figures/<name>.png`,
`tables/<name>.csv`, `data/<name>.npz`, and a study's own files (e.g. `<study>.html`).
"""

from __future__ import annotations

import csv
import errno
import fcntl
import functools
import io
import json
import os
import random
import re
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from toynets.errors import ConfigError, StoreNotFound
from toynets.report import Report, Table, file_suffix

DEFAULT_STORE = Path("mlruns")
# Tag of every toynets run: "job" (trained a net) or "sweep" (the parent run of a multirun).
ROLE_TAG = "toynets.role"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
BATCH = 1000  # MLflow's limit of metrics in one log_batch call
# More metric points than this go into a SQL store in one bulk insert (`_bulk_insert_metrics`):
# MLflow's log_batch costs ~25 ms for a few hundred points, the bulk insert a few ms.
BULK_POINTS = 50
MAX_PARAM_LENGTH = 6000

# MLflow's own HTTP settings retry a failed request 7 times with a backoff factor of 2 and wait
# up to 120 s for each answer: a tracking server that is down costs a call about 4 minutes, one
# that hangs up to 20. toynets' processes (and the processes they start) use these instead,
# unless the environment sets them: 5 tries 0, 2, 4 and 8 s apart (plus up to 1 s of jitter
# each), 15 s for an answer, so a dead server fails a call in about 15-20 s and a hung one in
# about 1.5 minutes, while a server that restarts within ~15 s goes unnoticed.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "1.0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "15",
}
PROBE_SECONDS = 3.0  # how long `check_uri` waits for a tracking server or a database to answer
# The request `check_uri` sends a tracking server: cheap, and refused without valid credentials
# by MLflow's basic-auth app (which leaves /health open).
PROBE_ENDPOINT = "/api/2.0/mlflow/experiments/search"
DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")  # MLflow's SQLAlchemy stores besides sqlite
URI_FORMS = (
    "sqlite:///PATH (a database file, relative to the working folder; sqlite:////PATH for an "
    "absolute path), file:///PATH (a folder), http://HOST:PORT or https://... (a tracking "
    "server), postgresql://..., mysql://... or mssql://... (a database), or databricks"
)


def use_http_defaults() -> None:
    """Set MLflow's HTTP retry and timeout settings to `HTTP_DEFAULTS` where the environment
    does not set them (called when this module is imported)."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


use_http_defaults()


def resolve_uri(uri: str | None = None) -> str:
    """`uri`, else $MLFLOW_TRACKING_URI, else the embedded store under ./mlruns."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(DEFAULT_STORE / 'mlflow.db').resolve()}"


UI_ADDRESS = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default
# MLflow 3.17's UI opens an experiment on its GenAI view unless the browser chose "Model
# training" before (kept in localStorage) or the address says so (MLflow issue 24498).
ML_VIEW = "workflowType=machine_learning"


def run_page(experiment_id: str, run_id: str) -> str:
    """A run's page in the UI (its classic model-training view)."""
    return f"#/experiments/{experiment_id}/runs/{run_id}?{ML_VIEW}"


def compare_page(experiment_ids: list[str], run_ids: list[str]) -> str:
    """The UI's Compare view of these runs: parallel coordinates, scatter, box and contour
    plots of their params and metrics, and every value side by side. MLflow's own route
    (`getCompareRunPageRoute`: JSON lists of run and experiment ids), percent-encoded so that
    it stays one link in Markdown and in a terminal."""
    runs = quote(json.dumps(run_ids, separators=(",", ":")))
    experiments = quote(json.dumps(sorted(set(experiment_ids)), separators=(",", ":")))
    return f"#/compare-runs?runs={runs}&experiments={experiments}"


def ui_hint(uri: str, page: str) -> str:
    """How to open a page of the MLflow UI on this store: its address under a tracking
    server; for a local store, the `mlflow ui` command, then the address it serves."""
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/{page}"
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        if database.is_relative_to(Path.cwd()):
            uri = f"sqlite:///{database.relative_to(Path.cwd())}"
    return f"mlflow ui --backend-store-uri {uri}  then  {UI_ADDRESS}/{page}"


def browse_hint(uri: str, experiment_id: str, run_id: str) -> str:
    """How to see a run in the MLflow UI (`ui_hint` of its page)."""
    return ui_hint(uri, run_page(experiment_id, run_id))


def _local_artifact_root(uri: str) -> Path | None:
    """For a SQLite store: the folder beside the database that holds the artifacts."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).resolve().parent
    return None


def _env_seconds(name: str, default: float) -> float:
    """A number of seconds from environment variable `name`, else `default`."""
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


# How long a call keeps retrying a locked SQLite store (TOYNETS_LOCK_RETRY_SECONDS sets it; note
# that each try of MLflow's own sessions waits up to 20 s for the lock: SQLite's busy timeout).
RETRY_SECONDS = _env_seconds("TOYNETS_LOCK_RETRY_SECONDS", 60.0)


def _locked(error: BaseException) -> bool:
    text = f"{error} {error.__cause__ or ''}".lower()
    return "database is locked" in text or "database table is locked" in text


def with_retry(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """call(*args), retried with jittered exponential backoff while SQLite says it is locked."""
    delay, deadline = 0.05, time.monotonic() + RETRY_SECONDS
    while True:
        try:
            return call(*args, **kwargs)
        except Exception as error:
            if not _locked(error) or time.monotonic() > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 2.0)


class RetryingClient:
    """An MlflowClient whose every call retries on "database is locked" (parallel jobs)."""

    def __init__(self, client: MlflowClient):
        self._client = client

    @property
    def tracking_uri(self) -> str:
        return self._client.tracking_uri

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute
        return lambda *args, **kwargs: with_retry(attribute, *args, **kwargs)


@contextmanager
def _store_lock(root: Path) -> Iterator[None]:
    """An exclusive lock on the store folder: one process at a time creates or migrates it."""
    with open(root / ".toynets.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def _shared_store_lock(root: Path) -> Iterator[None]:
    """Wait while another process creates or migrates the store (it holds `_store_lock`), then
    read. Creates nothing: a store without the lock file (or an unreadable one) is read as is."""
    try:
        handle = os.open(root / ".toynets.lock", os.O_RDONLY)
    except OSError:
        handle = None
    if handle is None:
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield
    finally:
        os.close(handle)  # releases the lock


_LAST_URI: dict[str, str] = {}  # the store this process used last: what `explain` names


def client_for(uri: str | None = None, create: bool = True) -> RetryingClient:
    """A client of the store; an embedded store is created (once, under a lock) if missing.

    MLflow creates and migrates a SQLite store's tables on first use; several processes doing
    that at once corrupt it ("table _alembic_tmp_experiments already exists"), hence the lock.
    With `create=False` (reading) nothing is created: a local store (SQLite or file:) that does
    not exist raises `StoreNotFound`, a damaged one `ConfigError`.
    """
    given, uri = uri, resolve_uri(uri)
    _LAST_URI["uri"] = uri
    root = _local_artifact_root(uri)
    if not create:
        if root is None:
            if _scheme(uri) == "file":
                _check_folder_store(uri, _subject(given, "uri"), "uri", reading=True)
            return RetryingClient(with_retry(MlflowClient, tracking_uri=uri))
        with _shared_store_lock(root):
            _check_sqlite(uri, _subject(given, "uri"), "uri", reading=True)
            return RetryingClient(with_retry(MlflowClient, tracking_uri=uri))
    if root is None:
        return RetryingClient(with_retry(MlflowClient, tracking_uri=uri))
    root.mkdir(parents=True, exist_ok=True)
    with _store_lock(root):  # constructing the client creates and migrates the tables
        return RetryingClient(with_retry(MlflowClient, tracking_uri=uri))


def experiment_id(client: RetryingClient, name: str) -> str:
    """The id of experiment `name`, created (tagged for the Runs view) if it does not exist."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    root = _local_artifact_root(client.tracking_uri)
    location = (root / _safe(name)).as_uri() if root is not None else None
    try:
        exp_id = client.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by a parallel job
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id
    client.set_experiment_tag(exp_id, EXPERIMENT_KIND_TAG, "custom_model_development")
    return exp_id


# -- the store's URI, checked before any run exists ---------------------------------------------

Problem = tuple[str, str]  # (what is wrong, what to do)


def check_uri(uri: str | None, *, name: str = "tracking.uri", reading: bool = False) -> str:
    """The resolved tracking URI (`resolve_uri`), or ConfigError: one sentence naming where the
    value came from (`name`, else MLFLOW_TRACKING_URI, else the default store), the value (a
    password hidden) and what is wrong or allowed. Creates nothing.

    - The scheme must be one MLflow accepts: sqlite:///PATH, file:, http(s)://, postgresql://,
      mysql://, mssql://, databricks, or a scheme a plugin registers.
    - SQLite and file: stores: no file in the way of the path; an existing store must be
      writable and readable as SQLite; a missing folder is allowed inside the working folder
      (the store creates it, as ./mlruns is) and refused elsewhere.
      With `reading=True` the store must exist instead (`StoreNotFound`, a ConfigError,
      "no store at ..."), writable or not.
    - http(s): one request to the server's REST API (`PROBE_ENDPOINT`, with the credentials
      MLflow would send), `PROBE_SECONDS` at most, no retries: nothing listening, a refusal
      (401, 403), a failure (5xx) or a server that is not MLflow's are refused.
    - postgresql, mysql: one connection, `PROBE_SECONDS` at most.
    """
    resolved = resolve_uri(uri)
    subject = _subject(uri, name)
    scheme = _scheme(resolved)
    if scheme == "sqlite":
        if reading:
            with _shared_store_lock(_sqlite_path(resolved, subject).parent):
                _check_sqlite(resolved, subject, name, reading=True)
        else:
            _check_sqlite(resolved, subject, name, reading=False)
    elif scheme == "file":
        _check_folder_store(resolved, subject, name, reading)
    elif scheme in ("http", "https"):
        _probe_server(resolved, subject, name)
    elif scheme in DATABASE_SCHEMES:
        _probe_database(resolved, subject, name, scheme)
    elif scheme != "databricks" and (not scheme or scheme not in _plugin_schemes()):
        raise ConfigError(f"{subject} is not a tracking URI MLflow accepts; use {URI_FORMS}")
    return resolved


def _scheme(uri: str) -> str:
    """`sqlite`, `http`, `postgresql` (for postgresql+psycopg too), ...; "" for no scheme."""
    if uri == "databricks":
        return "databricks"
    try:
        scheme = urlsplit(uri).scheme.lower()
    except ValueError:
        return ""
    dialect = scheme.split("+", 1)[0]
    return dialect if dialect in (*DATABASE_SCHEMES, "sqlite") else scheme


def _plugin_schemes() -> set[str]:
    """Schemes that installed MLflow plugins register for tracking stores."""
    from importlib.metadata import entry_points

    return {entry.name for entry in entry_points(group="mlflow.tracking_store")}


def _masked(uri: str) -> str:
    """The URI with its password (if any) replaced by ***."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    user = parts.netloc.rpartition("@")[0].split(":", 1)[0]
    netloc = f"{user}:***@{parts.netloc.rpartition('@')[2]}"
    return parts._replace(netloc=netloc).geturl()


def _subject(uri: str | None, name: str) -> str:
    """Where the URI came from and its value: `tracking.uri='...'`, `MLFLOW_TRACKING_URI='...'
    (used when tracking.uri is not set)` or `the default store 'sqlite:///...'`."""
    if uri:
        return f"{name}={_masked(uri)!r}"
    from_env = os.environ.get("MLFLOW_TRACKING_URI")
    if from_env:
        return f"MLFLOW_TRACKING_URI={_masked(from_env)!r} (used when {name} is not set)"
    return f"the default store {resolve_uri(None)!r}"


def _can_write(path: Path) -> bool:
    """Whether this process may write `path` (a file) or create files in it (a folder)."""
    mode = os.W_OK | (os.X_OK if path.is_dir() else 0)
    return os.access(path, mode)


def _file_in_the_way(folder: Path) -> Path | None:
    """The first existing part of `folder` (or `folder` itself) that is not a folder."""
    for part in [*reversed(folder.parents), folder]:
        if part.exists() and not part.is_dir():
            return part
    return None


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _inside_working_folder(path: Path) -> bool:
    cwd = Path.cwd().resolve()
    return path.resolve().is_relative_to(cwd)


def _sqlite_path(uri: str, subject: str) -> Path:
    """The database file of a `sqlite:///PATH` URI, absolute; ConfigError if it names none."""
    raw = uri[len("sqlite:///") :].partition("?")[0] if uri.startswith("sqlite:///") else ""
    if raw in ("", ":memory:") or raw.startswith("file:"):
        raise ConfigError(
            f"{subject} names no database file; write sqlite:///PATH (relative to the working "
            "folder) or sqlite:////ABSOLUTE/PATH, e.g. sqlite:///mlruns/mlflow.db"
        )
    return Path(os.path.abspath(raw))


def _damaged(subject: str, database: Path, detail: str) -> ConfigError:
    return ConfigError(
        f"{subject} cannot be used: the store {database} is damaged, not a readable SQLite "
        f"database ({detail}); toynets has not changed it: move it aside (a new store is made "
        "in its place) or restore it from a backup"
    )


def _sqlite_state(database: Path) -> tuple[str, str]:
    """("ok" | "empty" | "damaged", detail) of an existing SQLite file, read without writing:
    "empty" when it holds no MLflow tables. A database locked by a writer counts as ok."""
    try:
        connection = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=0.2)
    except sqlite3.Error as error:
        return "damaged", str(error)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {row[0] for row in rows}
    except sqlite3.DatabaseError as error:
        return ("ok", "") if "locked" in str(error) else ("damaged", str(error))
    finally:
        connection.close()
    return ("ok", "") if "alembic_version" in tables else ("empty", "")


def _check_sqlite(uri: str, subject: str, name: str, reading: bool) -> None:
    """The SQLite checks of `check_uri` (see there)."""
    database = _sqlite_path(uri, subject)
    in_the_way = _file_in_the_way(database.parent)
    if in_the_way is not None:
        raise ConfigError(
            f"{subject} cannot be used: {in_the_way} is a file, not a folder; choose a path "
            "whose folders exist"
        )
    if database.is_dir():
        raise ConfigError(
            f"{subject} cannot be used: {database} is a folder, not a database file; name a "
            f"file in it, e.g. sqlite:///{database / 'mlflow.db'}"
        )
    if reading:
        _check_readable_sqlite(uri, database, subject, name)
    elif database.exists():
        if not (_can_write(database) and _can_write(database.parent)):
            raise ConfigError(
                f"{subject} cannot be used: the store {database} is read-only (the file or its "
                "folder is not writable); make both writable (chmod u+w) or give another "
                f"{name}"
            )
        state, detail = _sqlite_state(database)
        if state == "damaged":
            raise _damaged(subject, database, detail)
    else:
        _check_new_folder(database.parent, subject, name)


def _check_readable_sqlite(uri: str, database: Path, subject: str, name: str) -> None:
    if not database.exists():
        raise StoreNotFound(
            f"no store at {_masked(uri)} ({database} does not exist); give {name} or "
            "MLFLOW_TRACKING_URI for an existing store, or run a toynets job to create this one"
        )
    if not os.access(database, os.R_OK):
        raise ConfigError(f"{subject} cannot be used: {database} is not readable (permissions)")
    state, detail = _sqlite_state(database)
    if state == "damaged":
        raise _damaged(subject, database, detail)
    if state == "empty":
        raise StoreNotFound(
            f"no store at {_masked(uri)}: {database} is an SQLite file without MLflow's tables; "
            f"check {name}"
        )


def _check_new_folder(folder: Path, subject: str, name: str) -> None:
    """A store about to be made in `folder`: an existing folder must be writable; a missing one
    is made by the store inside the working folder only."""
    if folder.is_dir():
        if not _can_write(folder):
            raise ConfigError(
                f"{subject} cannot be used: folder {folder} is not writable; choose a folder "
                f"you can write to ({name}=...) or make it writable"
            )
        return
    if not _inside_working_folder(folder):
        raise ConfigError(
            f"{subject} cannot be used: folder {folder} does not exist; create it first "
            f"(mkdir -p {folder}) or choose an existing folder"
        )
    existing = _nearest_existing(folder)
    if not _can_write(existing):
        raise ConfigError(
            f"{subject} cannot be used: folder {folder} cannot be made, {existing} is not "
            f"writable; choose a folder you can write to ({name}=...)"
        )


def _check_folder_store(uri: str, subject: str, name: str, reading: bool) -> None:
    """The checks of `check_uri` for a `file:` store (MLflow's folder of YAML files)."""
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise ConfigError(f"{subject} names no local folder; write file:///ABSOLUTE/PATH")
    root = Path(os.path.abspath(unquote(parts.path)))
    in_the_way = _file_in_the_way(root)
    if in_the_way is not None:
        raise ConfigError(
            f"{subject} cannot be used: {in_the_way} is a file, not a folder; choose a folder"
        )
    if reading:
        if not root.is_dir():
            raise StoreNotFound(
                f"no store at {uri} (folder {root} does not exist); give {name} or "
                "MLFLOW_TRACKING_URI for an existing store"
            )
    elif root.is_dir():
        if not _can_write(root):
            raise ConfigError(
                f"{subject} cannot be used: the store {root} is read-only (not writable); "
                f"make it writable (chmod u+w) or give another {name}"
            )
    else:
        _check_new_folder(root, subject, name)


def _probe_server(uri: str, subject: str, name: str) -> None:
    """One request to a tracking server's REST API, `PROBE_SECONDS` at most, no retries."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    if not urlsplit(uri).hostname:
        raise ConfigError(f"{subject} names no host; write http://HOST:PORT, e.g. {UI_ADDRESS}")
    try:
        response = http_request(
            get_default_host_creds(uri),
            PROBE_ENDPOINT,
            "GET",
            max_retries=0,
            backoff_factor=0,
            backoff_jitter=0,
            retry_codes=frozenset(),
            timeout=PROBE_SECONDS,
            params={"max_results": 1},
        )
    except Exception as error:
        what, todo = _diagnose(error, uri) or (
            f"cannot reach {_masked(uri)} ({_first_line(error)})",
            "check the address",
        )
        raise _refusal(subject, name, (what, todo)) from None
    problem = _status_problem(response.status_code, uri)
    if problem is None and not _is_json_object(response.text):
        problem = _not_mlflow(uri, "an answer that is not MLflow's")
    if problem is not None:
        raise _refusal(subject, name, problem)


def _refusal(subject: str, name: str, problem: Problem) -> ConfigError:
    """`subject: what; todo` as one sentence, the advice naming `name` (e.g. --uri)."""
    what, todo = problem
    return ConfigError(f"{subject}: {what}; {todo.replace('tracking.uri', name)}")


def _is_json_object(text: str) -> bool:
    import json

    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def _probe_database(uri: str, subject: str, name: str, dialect: str) -> None:
    """One connection to a PostgreSQL or MySQL database, `PROBE_SECONDS` at most. (MSSQL's
    drivers name their timeouts differently: its URIs are left to MLflow.)"""
    if dialect == "mssql":
        return
    try:
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        engine = sqlalchemy.create_engine(
            uri,
            poolclass=NullPool,
            connect_args={"connect_timeout": max(2, round(PROBE_SECONDS))},
        )
    except Exception as error:  # no driver (ModuleNotFoundError, NoSuchModuleError), bad URL
        raise ConfigError(
            f"{subject} cannot be used: {_first_line(error)}; for PostgreSQL install the driver "
            "with pip install 'toynets[server]' (psycopg) and write postgresql+psycopg://..."
        ) from None
    try:
        with engine.connect():
            pass
    except Exception as error:
        what, todo = _diagnose(error, uri) or (
            f"cannot connect to the database ({_first_line(error)})",
            "check that it runs, the address, the user and the password",
        )
        raise _refusal(subject, name, (what, todo)) from None
    finally:
        engine.dispose()


# -- store and server errors as sentences -----------------------------------------------------


def explain(error: BaseException, uri: str | None = None) -> str | None:
    """What is wrong with the store or server behind `error`, and what to do, in one or two
    lines naming the database file or URL; None for any other error.

    Covers a read-only store (database, folder or artifact files not writable), a store locked
    for longer than the retries wait (`RETRY_SECONDS`), a damaged store (not a database,
    malformed), a store that cannot be opened, a full disk, a tracking server that does not
    answer or refuses (401, 403) or fails (5xx), and a database server that cannot be reached
    or refuses the login. Walks the exception chain (`__cause__`, `__context__`): MLflow wraps
    the errors of SQLAlchemy and requests in its own. `uri` is the store's URI; by default the
    one this process used last (`client_for`), else `resolve_uri()`.
    """
    problem = _diagnose(error, uri or _LAST_URI.get("uri") or resolve_uri(None))
    return None if problem is None else f"{problem[0]}\n{problem[1]}"


def _chain(error: BaseException) -> list[BaseException]:
    """The error, its causes and contexts (and urllib3's `reason`), each once."""
    found: list[BaseException] = []
    pending: list[Any] = [error]
    while pending:
        item = pending.pop(0)
        if not isinstance(item, BaseException) or any(item is seen for seen in found):
            continue
        found.append(item)
        pending += [item.__cause__, item.__context__, getattr(item, "reason", None)]
    return found


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _store_name(uri: str) -> str:
    """The database file of a SQLite store, else the URI (password hidden)."""
    if uri.startswith("sqlite:///"):
        return os.path.abspath(uri[len("sqlite:///") :].partition("?")[0])
    return _masked(uri)


def _diagnose(error: BaseException, uri: str) -> Problem | None:
    chain = _chain(error)
    texts = [str(item) for item in chain]
    for diagnose in (_sqlite_problem, _file_problem, _server_problem, _database_problem):
        problem = diagnose(chain, texts, uri)
        if problem is not None:
            return problem
    return None


SQLITE_DAMAGED = ("file is not a database", "database disk image is malformed", "file is encrypted")


def _sqlite_problem(chain: list[BaseException], texts: list[str], uri: str) -> Problem | None:
    text = " ".join(texts).lower()
    store = _store_name(uri)
    detail = next((m for m in SQLITE_DAMAGED if m in text), None)
    if detail is not None:
        return (
            f"store {store} is damaged: it is not a readable SQLite database ({detail})",
            "toynets has not changed it; move it aside (a new store is made in its place) or "
            "restore it from a backup",
        )
    if "readonly database" in text:
        return (
            f"store {store} is read-only: the database file or its folder cannot be written "
            "(attempt to write a readonly database)",
            "make both writable (chmod u+w), or log to another store with tracking.uri=... or "
            "MLFLOW_TRACKING_URI",
        )
    if "database is locked" in text or "database table is locked" in text:
        return (
            f"store {store} stayed locked for more than {RETRY_SECONDS:.0f} s: another process "
            "holds it (database is locked)",
            "wait for that process or stop it; for many parallel jobs use a tracking server "
            "(README: A tracking server)",
        )
    if "unable to open database file" in text:
        return (
            f"cannot open store {store} (unable to open database file): its folder is missing "
            "or not accessible",
            "check the path and the permissions of its folder",
        )
    return None


WRITE_ERRNOS = {errno.EACCES: "permission denied", errno.EPERM: "not permitted"}


def _file_problem(chain: list[BaseException], texts: list[str], uri: str) -> Problem | None:
    for item in chain:
        if not isinstance(item, OSError) or not item.filename:
            continue
        if item.errno == errno.ENOSPC:
            return (
                f"cannot write {item.filename}: no space left on the device",
                "free some disk space, or log to another store",
            )
        if item.errno == errno.EROFS or item.errno in WRITE_ERRNOS:
            reason = "read-only file system" if item.errno == errno.EROFS else "permission denied"
            return (
                f"cannot write {item.filename}: {reason}",
                "make its folder writable, or log to another store with tracking.uri=... or "
                "MLFLOW_TRACKING_URI",
            )
    return None


def _server_problem(chain: list[BaseException], texts: list[str], uri: str) -> Problem | None:
    if _scheme(uri) not in ("http", "https"):
        return None
    import requests

    url = _masked(uri)
    status = _http_status(chain)
    if status is not None:
        return _status_problem(status, uri)
    unreachable = (
        f"no tracking server answers at {url} ({_connection_reason(chain)})",
        "start it (README: A tracking server), or check tracking.uri / MLFLOW_TRACKING_URI",
    )
    if _connection_reason(chain) in ("connection refused", "host name not found"):
        return unreachable
    if any(isinstance(item, (requests.exceptions.Timeout, TimeoutError)) for item in chain):
        return (
            f"the tracking server at {url} did not answer in time",
            "check that it runs and is not overloaded (MLFLOW_HTTP_REQUEST_TIMEOUT sets the "
            "wait, in seconds)",
        )
    if any(
        isinstance(item, (requests.exceptions.ConnectionError, ConnectionError)) for item in chain
    ):
        return unreachable
    return None


def _connection_reason(chain: list[BaseException]) -> str:
    import urllib3

    if any(isinstance(item, ConnectionRefusedError) for item in chain):
        return "connection refused"
    if any(isinstance(item, urllib3.exceptions.NameResolutionError) for item in chain):
        return "host name not found"
    if any(isinstance(item, ConnectionResetError) for item in chain):
        return "connection reset"
    return _first_line(chain[-1])


def _http_status(chain: list[BaseException]) -> int | None:
    """The HTTP status of a refused or failed request (401, 403, 5xx) found in the chain."""
    from mlflow.exceptions import RestException

    for item in chain:
        match = re.search(
            r"too many (\d{3}) error responses|failed with error code (\d{3})", str(item)
        )
        if match:
            return int(match.group(1) or match.group(2))
        if isinstance(item, RestException):  # an error the server described in JSON
            status = item.get_http_status_code()
            if status in (401, 403) or status >= 500:
                return status
    return None


def _status_problem(status: int, uri: str) -> Problem | None:
    """What an HTTP status from a tracking server means; None for 200."""
    url = _masked(uri)
    if status == 200:
        return None
    if status == 401:
        return (
            f"the tracking server at {url} refused the request: 401 Unauthorized (no or wrong "
            "user name and password)",
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) "
            "to an account of that server",
        )
    if status == 403:
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        return (
            f"the tracking server at {url} refused the request: 403 Forbidden (the account "
            f"{user or 'used'} may not do this)",
            "ask the server's admin for EDIT permission on the experiment, or log to an "
            "experiment of your own with tracking.experiment=...",
        )
    if status >= 500:
        return (
            f"the tracking server at {url} failed: HTTP {status}",
            "see the server's log (its database may be down or full)",
        )
    return _not_mlflow(uri, f"HTTP {status}")


def _not_mlflow(uri: str, answer: str) -> Problem:
    return (
        f"{_masked(uri)} is not an MLflow tracking server: GET {PROBE_ENDPOINT} got {answer}",
        "check the address (and any path before /api)",
    )


DB_REFUSED = ("password authentication failed", "access denied for user", "no password supplied")
DB_UNREACHABLE = (
    "connection refused",
    "could not connect",
    "connection failed",
    "timeout expired",
    "could not translate host name",
    "can't connect to mysql server",
)


def _database_problem(chain: list[BaseException], texts: list[str], uri: str) -> Problem | None:
    if _scheme(uri) not in DATABASE_SCHEMES:
        return None
    text = " ".join(texts).lower()
    parts = urlsplit(uri)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 'default port'}"
    detail = _first_line(chain[-1])
    if any(marker in text for marker in DB_REFUSED):
        return (
            f"the database at {where} refused the login ({detail})",
            "check the user and the password; keep the password in ~/.pgpass or PGPASSWORD "
            "(PostgreSQL), never in the URI",
        )
    if "does not exist" in text and "database" in text:
        return (
            f"the database server at {where} has no database {parts.path.lstrip('/')!r}",
            "create it (createdb) or fix the name",
        )
    if any(marker in text for marker in DB_UNREACHABLE):
        return (
            f"no database answers at {where} ({detail})",
            "start it, or check the host and port in tracking.uri / MLFLOW_TRACKING_URI",
        )
    return None


# -- process bookkeeping: which RUNNING runs have lost their process ---------------------------
HOST_TAG, PID_TAG, PID_START_TAG = "toynets.host", "toynets.pid", "toynets.pid_start"


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` in clock ticks since boot (Linux), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def process_tags() -> dict[str, str]:
    """Who is writing this run: host, pid and the pid's start time (pids get reused)."""
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        PID_START_TAG: _process_start(pid) or "",
    }


def process_alive(tags: Mapping[str, str]) -> bool | None:
    """Whether the process that wrote a run still runs; None if it ran on another host."""
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return None
    started = _process_start(int(tags[PID_TAG]))
    return started is not None and started == tags.get(PID_START_TAG, started)


def clean_stale_runs(uri: str | None = None) -> list[str]:
    """Mark RUNNING runs of this host whose process is gone (SIGKILL, power loss) as KILLED."""
    client = client_for(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    cleaned = []
    for run in client.search_runs(experiments, "attributes.status = 'RUNNING'", max_results=5000):
        if process_alive(run.data.tags) is False:
            client.set_tag(
                run.info.run_id,
                "error",
                f"process {run.data.tags.get(PID_TAG)} on "
                f"{run.data.tags.get(HOST_TAG)} ended without closing the run",
            )
            client.set_tag(run.info.run_id, "error.type", "ProcessGone")
            client.set_terminated(run.info.run_id, status="KILLED")
            cleaned.append(run.info.run_id)
    return cleaned


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'model': {'hidden': [20]}} -> {'model.hidden': [20]} (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


SIGNIFICANT_DIGITS = 6


def write_csv(table: Table) -> str:
    """A table (column -> values) as CSV text, floats to `SIGNIFICANT_DIGITS` significant
    digits (float32 results carry about 7; 17-digit reprs only hide the number)."""
    columns = list(table)
    lengths = {len(table[c]) for c in columns}
    if len(lengths) > 1:
        raise ValueError(f"table columns differ in length: {lengths}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in zip(*(table[c] for c in columns), strict=True):
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.{SIGNIFICANT_DIGITS}g}"
    return value


def _bulk_insert_metrics(client: RetryingClient, run_id: str, items: list[Metric]) -> bool:
    """Long histories into a SQL store in one transaction; False where this cannot be done.

    MLflow's `log_batch` builds one ORM object per point and takes ~0.25 s per 1000 points on
    SQLite (30000 steps: ~7 s). This inserts the same rows through MLflow's own table model in
    one executemany, and updates the latest values with MLflow's own routine, so what the store
    holds is what `log_batch` would have written. Other stores (a tracking server) return False
    and get `log_batch`.
    """
    try:
        from mlflow.store.tracking.dbmodels.models import SqlMetric
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
        from sqlalchemy import insert

        store = client._client._tracking_client.store
        if not isinstance(store, SqlAlchemyStore):
            return False
    except (ImportError, AttributeError):
        return False
    rows, latest = [], {}
    for metric in items:
        is_nan, value = store.sanitize_metric_value(metric.value)
        row = {
            "run_uuid": run_id,
            "key": metric.key,
            "value": value,
            "timestamp": metric.timestamp,
            "step": metric.step,
            "is_nan": is_nan,
        }
        rows.append(row)
        previous = latest.get(metric.key)
        if previous is None or (row["step"], row["timestamp"], value) > (
            previous["step"],
            previous["timestamp"],
            previous["value"],
        ):
            latest[metric.key] = row

    def write() -> None:
        with store.ManagedSessionMaker(read_only=False) as session:
            store._check_run_is_active(store._get_run(run_uuid=run_id, session=session))
            session.execute(insert(SqlMetric), rows)
            store._update_latest_metrics_if_necessary(
                [SqlMetric(**row) for row in latest.values()], session
            )
            session.commit()

    with_retry(write)
    return True


IMAGE_WIDTH = 640  # pixels: a figure logged as an MLflow image (the UI shows 256 px copies)


class RunRecorder:
    """Writes to one MLflow run; every write goes through MlflowClient in batches."""

    def __init__(self, client: RetryingClient, run_id: str, experiment_id: str = ""):
        self.client, self.run_id, self.experiment_id = client, run_id, experiment_id
        self._scratch = tempfile.TemporaryDirectory(prefix="toynets-")
        self.scratch = Path(self._scratch.name)
        self.pending: list[Any] = []  # figures being saved by a renderer (`log_report`)
        self.image_steps: dict[str, int] = {}  # figures also logged as MLflow images: step
        self.params: dict[str, str] = {}  # the params logged through this recorder

    # -- params, tags, metrics ------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        self.params.update((p.key, p.value) for p in items)
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [RunTag(k, str(v)) for k, v in tags.items()]
        self.client.log_batch(self.run_id, tags=items)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self._log_batches(items)

    def log_series(self, name: str, steps: Any, values: Any) -> None:
        """A metric history (one point per step)."""
        self.log_curves({name: (steps, values)})

    def log_curves(self, curves: Mapping[str, tuple[Any, Any]]) -> None:
        """Metric histories, name -> (steps, values), written together: in one transaction
        into a SQL store, else 1000 points per `log_batch` call."""
        now = int(time.time() * 1000)
        items = [
            Metric(name, float(v), now, int(s))
            for name, (steps, values) in curves.items()
            for s, v in zip(steps, values, strict=True)
        ]
        self._log_batches(items)

    def _log_batches(self, items: list[Metric]) -> None:
        if len(items) > BULK_POINTS and _bulk_insert_metrics(self.client, self.run_id, items):
            return
        for start in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, metrics=items[start : start + BATCH])

    # -- artifacts --------------------------------------------------------------------------
    def log_file(self, path: str | Path, artifact_dir: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_dir)

    def log_dir(self, path: str | Path, artifact_dir: str) -> None:
        self.client.log_artifacts(self.run_id, str(path), artifact_dir)

    def log_text(self, text: str | bytes, artifact_path: str) -> None:
        target = self.scratch / artifact_path
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.write_bytes if isinstance(text, bytes) else target.write_text)(text)
        self.log_file(target, str(Path(artifact_path).parent) if "/" in artifact_path else None)

    def log_arrays(self, arrays: Mapping[str, np.ndarray], artifact_path: str) -> None:
        """Arrays as one .npz (no pickles: strings are stored as unicode arrays)."""
        target = self.scratch / artifact_path
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, **{k: np.asarray(v) for k, v in arrays.items()})
        self.log_file(target, str(Path(artifact_path).parent))

    def log_figure(self, figure: Any, name: str) -> None:
        """A matplotlib figure (or a `report.Drawing`, drawn here) as `figures/<name>.png`, a
        `report.Movie` as `figures/<name>.gif`, saved the house way (`plots.style`)."""
        from toynets.render import save

        target = self._figure_path(name, figure)
        save(figure, target)
        self.log_file(target, "figures")
        self._log_images(target)

    def log_report(
        self,
        report: Report,
        progress: Callable[[int], None] | None = None,
        renderer: Any = None,
    ) -> None:
        """Every part of a study's report at its contract path; its notes become the run's
        description. `progress(1)` after each figure (rendering them is most of the time).
        With a `renderer` (`toynets.render`), the figures are saved by its worker process
        while the job goes on, and logged when the run closes (`log_pending_figures`)."""
        if report.metrics:
            self.log_metrics(report.metrics)
        if report.curves:
            self.log_curves(report.curves)
        if report.notes:
            self.set_tags({"mlflow.note.content": "\n\n".join(report.notes)})
        self.image_steps.update(report.images)
        for name, table in report.tables.items():
            self.log_text(write_csv(table), f"tables/{name}.csv")
        for name, arrays in report.arrays.items():
            self.log_arrays(arrays, f"data/{name}.npz")
        for name, figure in report.figures.items():
            if renderer is not None:
                self.pending.append(renderer.submit(figure, self._figure_path(name, figure)))
            else:
                self.log_figure(figure, name)
            if progress is not None:
                progress(1)
        for name, content in report.files.items():
            self.log_text(content, name)

    def log_pending_figures(self, timeout: float | None = None) -> None:
        """Log the figures handed to a renderer, each once its PNG is saved."""
        while self.pending:
            target = self.pending[0].result(timeout)
            self.log_file(target, "figures")
            self._log_images(target)
            self.pending.pop(0)

    def _log_images(self, target: Path) -> None:
        """A saved figure as MLflow images under the key `<name>`: a movie's slider frames
        (saved beside its GIF by `render.save`) with their steps, a figure of the report's
        `images` at its step, reduced by the smallest whole factor that makes it at most
        `IMAGE_WIDTH` pixels wide. The run's image chart shows them with a step slider, the
        runs' Chart view side by side."""
        from PIL import Image

        from toynets.render import slider_folder

        folder = slider_folder(target)
        frames = sorted(folder.glob("*.png"), key=lambda p: int(p.stem)) if folder.is_dir() else []
        steps = [int(path.stem) for path in frames]
        if target.stem in self.image_steps and target.suffix == ".png":
            frames.append(target)
            steps.append(self.image_steps[target.stem])
        for path, step in zip(frames, steps, strict=True):
            with Image.open(path) as image:
                image.load()
            factor = -(-image.width // IMAGE_WIDTH)
            if factor > 1:  # each pixel the mean of a factor x factor block: 1 ms, not 17
                image = image.reduce(factor)
            self.client.log_image(self.run_id, image, key=target.stem, step=step)

    def _figure_path(self, name: str, figure: Any) -> Path:
        return self.scratch / "figures" / f"{name}{file_suffix(figure)}"

    def log_keras_model(
        self, model: Any, input_example: np.ndarray, output_example: np.ndarray | None = None
    ) -> None:
        """The model as this run's MLflow 3 logged model `model`: loadable as runs:/<id>/model,
        listed in the run's "Logged models" column and the experiment's Models tab, with the
        signature inferred from `input_example` (which is stored with it) and the model's
        output on it (`output_example`, computed here if not given).

        The steps of `mlflow.keras.log_model`, taken through the retrying client (parallel jobs
        share one SQLite store) and with the model folder made before MLflow writes the input
        example into it (`log_model` with an input example fails otherwise: MLflow issue
        16183).
        """
        import mlflow.keras
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model, infer_signature

        example = np.asarray(input_example, np.float32)
        output = np.asarray(model(example) if output_example is None else output_example)
        signature = infer_signature(example, output.astype(np.float32))
        experiment_id, params = self.experiment_id, self.params
        if not experiment_id or not params:  # a recorder of a run it did not open
            run = self.client.get_run(self.run_id)
            experiment_id, params = run.info.experiment_id, dict(run.data.params)
        logged = self.client.create_logged_model(
            experiment_id,
            name="model",
            source_run_id=self.run_id,
            params=params,
            model_type="keras",
        )
        target = self.scratch / "model"
        target.mkdir(parents=True)
        description = Model(
            artifact_path=logged.artifact_location,
            run_id=self.run_id,
            model_uuid=logged.model_id,
            model_id=logged.model_id,
        )
        with _no_requirement_check():
            mlflow.keras.save_model(
                model,
                str(target),
                mlflow_model=description,
                signature=signature,
                input_example=example,
                # Naming the requirements skips MLflow's inference, which reloads the model in a
                # subprocess (seconds per run).
                pip_requirements=list(_requirements()),
            )
        self.client.log_model_artifacts(logged.model_id, str(target))
        self.client.log_outputs(self.run_id, [LoggedModelOutput(logged.model_id, step=0)])
        self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)

    def close(self) -> None:
        self._scratch.cleanup()


@contextmanager
def _no_requirement_check() -> Iterator[None]:
    """Skip MLflow's check that the running environment satisfies the model's requirements:
    they are read from this very environment, and the check scans every installed package's
    file list (~0.9 s per process)."""
    import mlflow.utils.environment as environment

    original = getattr(environment, "warn_dependency_requirement_mismatches", None)
    if original is None:
        yield
        return
    environment.warn_dependency_requirement_mismatches = lambda requirements: None
    try:
        yield
    finally:
        environment.warn_dependency_requirement_mismatches = original


@functools.cache  # the same for every model of the process; reading them takes ~10 ms each
def _requirements() -> tuple[str, ...]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("tensorflow-cpu", "tensorflow", "keras", "numpy"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return tuple(pins)


def open_run(
    uri: str | None,
    experiment: str,
    run_name: str,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
) -> RunRecorder:
    """Create a RUNNING run (in experiment `experiment`, created if needed); close it with
    `close_run`. Tags record the writing process so that `clean_stale_runs` can find it."""
    client = client_for(uri)
    exp_id = experiment_id(client, experiment)
    all_tags = {**process_tags(), **{str(k): str(v) for k, v in (tags or {}).items()}}
    if parent_run_id:
        all_tags["mlflow.parentRunId"] = parent_run_id
    run = client.create_run(exp_id, run_name=run_name, tags=all_tags)
    return RunRecorder(client, run.info.run_id, exp_id)


PENDING_FIGURE_SECONDS = 30.0  # how long a failing run waits for figures already being saved


def close_run(recorder: RunRecorder, error: BaseException | None = None) -> None:
    """FINISHED, or FAILED (KILLED for Ctrl-C) with the error as tags `error`, `error.type`.
    Figures still being saved are logged first (a run that failed keeps those that can be)."""
    client, run_id = recorder.client, recorder.run_id
    try:
        if error is None:
            try:
                recorder.log_pending_figures()
            except Exception as failure:
                error = failure
        else:  # the run's own error is what it reports
            with suppress(Exception):
                recorder.log_pending_figures(timeout=PENDING_FIGURE_SECONDS)
        if error is None:
            client.set_terminated(run_id, status="FINISHED")
            return
        message = str(error) or type(error).__name__
        client.set_tag(run_id, "error", message[:5000])
        client.set_tag(run_id, "error.type", type(error).__name__)
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        client.set_terminated(run_id, status=status)
    finally:
        recorder.close()


@contextmanager
def start_run(
    uri: str | None,
    experiment: str,
    run_name: str,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
    close_later: bool = False,
) -> Iterator[RunRecorder]:
    """One MLflow run: FINISHED on success; on an exception FAILED (KILLED on Ctrl-C) with the
    error as tags `error` and `error.type`; what was logged before stays. With `close_later`,
    a run whose figures are still being saved is closed by a background thread once they are
    logged (`wait_for_closing` waits for it), so that the next job can start meanwhile."""
    recorder = open_run(uri, experiment, run_name, tags, parent_run_id)
    try:
        yield recorder
    except BaseException as error:
        close_run(recorder, error)
        raise
    if close_later and recorder.pending:
        _CLOSING.append(_closer().submit(close_run, recorder))
    else:
        close_run(recorder)


_CLOSER: list[Any] = []  # the thread that closes runs later (`start_run(close_later=True)`)
_CLOSING: list[Any] = []  # its futures, one per run


def _closer() -> Any:
    if not _CLOSER:
        from concurrent.futures import ThreadPoolExecutor

        _CLOSER.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="toynets-close"))
    return _CLOSER[0]


def wait_for_closing() -> None:
    """Wait until every run handed to the background thread is closed (a sweep's end, Ctrl-C,
    the process's exit)."""
    while _CLOSING:
        try:
            _CLOSING.pop(0).result()
        except Exception as error:  # the store failed: the run stays RUNNING, cleaned later
            print(f"toynets: a run could not be closed: {error}", file=sys.stderr)
