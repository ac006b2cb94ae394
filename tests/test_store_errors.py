"""A store or server toynets cannot use is one sentence, never a traceback, and nothing changes.

`tracking.check_uri` (before any run exists) and `tracking.explain` (an error met later), and
`toynets runs ...` (exit status 2) against real stores and servers:

- a bad URI (scheme, a file in the path, a folder outside the working folder that is missing);
- a missing store when reading: never created;
- a damaged store (garbage bytes): its bytes stay as they were;
- a read-only store: chmod 0444/0555, and, when the tests run as root (for whom modes do not
  stop writes), toynets runs without the capabilities that let root ignore them (setpriv from
  util-linux drops CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from the bounding
  set): root is then refused as any user is, by the file system itself;
- a store locked by another process (this test holds SQLite's exclusive lock);
- a tracking server: nothing listening, one that refuses (401) or fails (500) (a tiny
  http.server), a real `mlflow server` stopped while a run writes to it, and MLflow's
  basic-auth app (401 without credentials, 403 for a user without permission);
- a database server that does not answer.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import TOYNETS, missing, run_cli, user_env
from servers import HOST, free_port, mlflow_server
from toynets import tracking
from toynets.errors import ConfigError, StoreNotFound

STALE_PID = "999999999"  # a process that cannot exist: its RUNNING run is stale


# -- helpers ------------------------------------------------------------------------------------


def make_store(folder: Path) -> str:
    """A real embedded store made by toynets: experiment `train`, a FINISHED run with a param, a
    metric and an artifact, and a RUNNING run whose process is gone (for `runs clean`)."""
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    recorder = tracking.open_run(uri, "train", "finished run")
    recorder.log_params({"train.lr": 0.01})
    recorder.log_metrics({"final/test_loss": 0.1})
    recorder.log_text("train:\n  lr: 0.01\n", "config.yaml")
    tracking.close_run(recorder)
    stale = tracking.open_run(uri, "train", "stale run", tags={tracking.PID_TAG: STALE_PID})
    stale.close()
    return uri


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for the module; each test copies its database (`store`)."""
    folder = tmp_path_factory.mktemp("template")
    make_store(folder)
    return folder / "mlflow.db"


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Path:
    """A copy of the template store's database in a folder of its own: its path."""
    folder = tmp_path / "store"
    folder.mkdir()
    shutil.copy(template, folder / "mlflow.db")
    (folder / ".toynets.lock").touch()  # as toynets leaves it in every store it made
    return folder / "mlflow.db"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under `folder`: path -> sha256 of its bytes ("folder")."""
    return {
        str(p.relative_to(folder)): "folder"
        if p.is_dir()
        else hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
    }


def runs_cli(*args: str, cwd: Path, env: dict | None = None, prefix: tuple = ()) -> tuple:
    """`toynets runs ARGS` as a user runs it: (result, seconds)."""
    start = time.monotonic()
    if prefix:
        cwd.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [*prefix, str(TOYNETS), "runs", *args],
            cwd=cwd,
            env=user_env(env),
            capture_output=True,
            text=True,
            timeout=120,
        )
    else:
        result = run_cli("runs", *args, cwd=cwd, env=env, timeout=120)
    return result, time.monotonic() - start


def assert_refused(result: subprocess.CompletedProcess, *expected: str) -> None:
    """Exit status 2, a sentence on stderr holding each of `expected`, no traceback."""
    said = f"exit {result.returncode}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr}"
    assert result.returncode == 2, said
    assert "Traceback" not in result.stderr + result.stdout, said
    assert result.stderr.startswith("toynets runs: "), said
    for text in expected:
        assert text in result.stderr, f"{text!r} missing\n{said}"


def config_error(uri: str | None, **options) -> str:
    with pytest.raises(ConfigError) as caught:
        tracking.check_uri(uri, **options)
    return str(caught.value)


# -- check_uri: bad URIs, refused at once, creating nothing ---------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("not a uri", ["tracking.uri='not a uri'", "is not a tracking URI", "sqlite:///PATH"]),
        ("junk://x", ["tracking.uri='junk://x'", "http://HOST:PORT", "postgresql://"]),
        ("sqlite://", ["names no database file", "sqlite:////ABSOLUTE/PATH"]),
        ("sqlite:////etc/passwd/x.db", ["/etc/passwd is a file, not a folder"]),
        ("http://", ["names no host"]),
    ],
)
def test_check_uri_refuses_a_bad_uri(uri: str, expected: list[str]) -> None:
    message = config_error(uri)
    for text in expected:
        assert text in message, message
    assert "\n" not in message


def test_check_uri_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "junk://x")
    message = config_error(None)
    assert message.startswith("MLFLOW_TRACKING_URI='junk://x' (used when tracking.uri is not set)")


def test_check_uri_hides_a_password() -> None:
    message = config_error("postgresql+psycopg://me:secret@127.0.0.1:1/mlflow")
    assert "secret" not in message and "me:***@127.0.0.1:1" in message


def test_a_missing_folder_outside_the_working_folder_is_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere" / "deeper"
    work.mkdir()
    monkeypatch.chdir(work)
    message = config_error(f"sqlite:///{elsewhere / 'x.db'}")
    assert f"folder {elsewhere} does not exist; create it first (mkdir -p {elsewhere})" in message
    assert not (tmp_path / "elsewhere").exists()
    message = config_error(f"file://{elsewhere}")
    assert "does not exist" in message and not (tmp_path / "elsewhere").exists()


def test_the_default_store_is_checked_fast_and_created_by_the_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    start = time.perf_counter()
    uri = tracking.check_uri(None)
    new_store = time.perf_counter() - start
    assert uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert not (tmp_path / "mlruns").exists()  # checking creates nothing
    tracking.client_for(None)  # the client makes the store, as before
    assert (tmp_path / "mlruns" / "mlflow.db").is_file()
    start = time.perf_counter()
    assert tracking.check_uri(None) == uri
    existing_store = time.perf_counter() - start
    assert new_store < 0.5 and existing_store < 0.5, (new_store, existing_store)
    # A missing folder inside the working folder is fine: the store makes it.
    assert tracking.check_uri("sqlite:///sub/dir/x.db") == "sqlite:///sub/dir/x.db"
    assert not (tmp_path / "sub").exists()


# -- a store that does not exist: reading never creates it ----------------------------------------


@pytest.mark.parametrize("command", [["ls"], ["get", "0" * 32], ["clean"]])
def test_runs_on_a_missing_store_create_nothing(command: list[str], tmp_path: Path) -> None:
    result, _ = runs_cli("--uri", "sqlite:///nope/x.db", *command, cwd=tmp_path)
    assert_refused(result, f"no store at sqlite:///nope/x.db ({tmp_path / 'nope' / 'x.db'} does")
    assert "--uri" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_runs_in_a_folder_without_a_store(tmp_path: Path) -> None:
    result, _ = runs_cli("ls", cwd=tmp_path)
    assert_refused(result, f"no store at sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    assert not (tmp_path / "mlruns").exists()


def test_reading_a_missing_store_from_python(tmp_path: Path) -> None:
    from toynets import runs

    with pytest.raises(StoreNotFound, match="no store at"):
        runs.find(uri=f"sqlite:///{tmp_path / 'nope' / 'x.db'}")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # an SQLite file, but no MLflow store
    with pytest.raises(StoreNotFound, match="without MLflow's tables"):
        runs.find(uri=f"sqlite:///{empty}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]
    assert empty.stat().st_size == 0


# -- a damaged store ------------------------------------------------------------------------------

GARBAGE = bytes(range(256)) * 64  # not an SQLite header


def test_a_damaged_store_is_named_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    database = folder / "mlflow.db"
    database.write_bytes(GARBAGE)
    uri = f"sqlite:///{database}"
    before = snapshot(folder)

    message = config_error(uri)  # a job would stop here, before any run
    assert f"the store {database} is damaged" in message and "backup" in message

    result, _ = runs_cli("ls", "--uri", uri, cwd=tmp_path)
    assert_refused(result, f"the store {database} is damaged", "file is not a database")
    assert "move it aside" in result.stderr and "restore it from a backup" in result.stderr

    with pytest.raises(Exception) as caught:  # MLflow's own error, explained
        MlflowClient(tracking_uri=uri).search_experiments()
    explained = tracking.explain(caught.value, uri)
    assert explained is not None
    what, todo = explained.splitlines()
    assert what == (
        f"store {database} is damaged: it is not a readable SQLite database "
        "(file is not a database)"
    )
    assert todo.startswith("toynets has not changed it; move it aside")

    debug, _ = runs_cli("ls", "--uri", uri, "--debug", cwd=tmp_path)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    assert snapshot(folder) == before and database.read_bytes() == GARBAGE


# -- a read-only store ----------------------------------------------------------------------------

DROP_CAPABILITIES = (
    "setpriv",
    "--bounding-set=-dac_override,-dac_read_search,-fowner",
    "--inh-caps=-all",
    "--",
)


def unprivileged_prefix(probe: Path) -> tuple[str, ...]:
    """What to run toynets under so that file modes bind it: nothing for a plain user; for
    root, setpriv without the capabilities that bypass them. Checked on `probe` (a file made
    read-only): skips when no write is refused."""
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            missing("running as root and setpriv (util-linux) is missing: cannot drop privileges")
        prefix = DROP_CAPABILITIES
    code = f"try:\n    open({str(probe)!r}, 'ab')\nexcept PermissionError:\n    print('refused')"
    write = subprocess.run(
        [*prefix, sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    if write.stdout.strip() != "refused":
        pytest.skip(f"no way to make a store read-only here: {write.stderr[-500:] or 'writable'}")
    return prefix


@contextmanager
def read_only(database: Path) -> Iterator[None]:
    """The database 0444 and its folder 0555, restored afterwards."""
    database.chmod(0o444)
    database.parent.chmod(0o555)
    try:
        yield
    finally:
        database.parent.chmod(0o755)
        database.chmod(0o644)


def check_uri_as(prefix: list[str], uri: str) -> subprocess.CompletedProcess:
    """`tracking.check_uri(uri)` in a process started through `prefix` (without root's
    file-permission capabilities)."""
    return subprocess.run(
        [
            *prefix,
            sys.executable,
            "-c",
            f"from toynets import tracking; tracking.check_uri({uri!r})",
        ],
        capture_output=True,
        text=True,
        env=user_env(),
        check=False,
    )


def test_a_read_only_store_is_read_but_never_written(store: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{store}"
    before = snapshot(store.parent)
    with read_only(store):
        prefix = unprivileged_prefix(store)
        listing, _ = runs_cli("ls", "--uri", uri, cwd=tmp_path / "work", prefix=prefix)
        assert listing.returncode == 0, listing.stderr
        assert "finished run" in listing.stdout and "stale run" in listing.stdout

        cleaning, _ = runs_cli("clean", "--uri", uri, cwd=tmp_path / "work", prefix=prefix)
        assert_refused(
            cleaning,
            f"store {store} is read-only: the database file or its folder cannot be written",
            "make both writable",
        )

        check = check_uri_as(prefix, uri)
        assert "ConfigError" in check.stderr, check.stderr
        assert (
            f"tracking.uri={uri!r} cannot be used: the store {store} is read-only" in check.stderr
        )
    assert snapshot(store.parent) == before


def test_a_folder_that_is_not_writable_is_refused_before_a_run(tmp_path: Path) -> None:
    folder = tmp_path / "locked-folder"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        prefix = unprivileged_prefix(folder / "probe")
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        check = check_uri_as(prefix, uri)
        assert f"cannot be used: folder {folder} is not writable" in check.stderr, check.stderr
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


# -- a locked store -------------------------------------------------------------------------------


def test_a_store_locked_for_too_long(store: Path, tmp_path: Path) -> None:
    uri = f"sqlite:///{store}"
    before = snapshot(store.parent)
    holder = sqlite3.connect(store, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # what a stuck writer holds
        result, seconds = runs_cli(
            "ls", "--uri", uri, cwd=tmp_path, env={"TOYNETS_LOCK_RETRY_SECONDS": "1"}
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_refused(
        result,
        f"store {store} stayed locked for more than 1 s: another process holds it",
        "use a tracking server",
    )
    assert seconds < 45, seconds
    assert snapshot(store.parent) == before


# -- tracking servers -----------------------------------------------------------------------------


@contextmanager
def answering(status: int, body: bytes = b"nope") -> Iterator[str]:
    """A tiny HTTP server on loopback answering every request with `status` and `body`."""

    class Handler(BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_listening_is_refused_within_seconds(tmp_path: Path) -> None:
    url = f"http://{HOST}:{free_port()}"
    start = time.monotonic()
    message = config_error(url)
    assert time.monotonic() - start < 3
    assert message == (
        f"tracking.uri={url!r}: no tracking server answers at {url} (connection refused); "
        "start it (README: A tracking server), or check tracking.uri / MLFLOW_TRACKING_URI"
    )
    result, seconds = runs_cli("ls", "--uri", url, cwd=tmp_path)
    assert_refused(result, f"--uri={url!r}: no tracking server answers at {url}")
    assert seconds < 15, seconds
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, ["401 Unauthorized", "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"]),
        (403, ["403 Forbidden", "EDIT permission"]),
        (500, ["failed: HTTP 500", "see the server's log"]),
        (404, ["is not an MLflow tracking server", "got HTTP 404"]),
    ],
)
def test_a_server_that_refuses_or_fails(
    status: int, expected: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with answering(status) as url:
        result, _ = runs_cli("ls", "--uri", url, cwd=tmp_path)
        assert_refused(result, f"--uri={url!r}: ", *expected)
        if status == 404:
            return
        # The same refusal met by MLflow's client later (no retries here, to be quick).
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        with pytest.raises(Exception) as caught:
            tracking.client_for(url).search_experiments()
        explained = tracking.explain(caught.value, url)
        assert explained is not None and len(explained.splitlines()) == 2
        for text in expected:
            assert text in explained, explained


def test_toynets_processes_fail_fast_on_a_dead_server() -> None:
    """MLflow's defaults retry 7 times with backoff 2 (about 4 minutes); toynets sets its own
    unless the environment does."""
    code = "import os, toynets.tracking; print(os.environ['MLFLOW_HTTP_REQUEST_MAX_RETRIES'])"
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=user_env(), check=True
    )
    assert shown.stdout.strip() == tracking.HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    mine = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=user_env({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "7"}),
        check=True,
    )
    assert mine.stdout.strip() == "7"  # the user's setting wins


@pytest.mark.slow
def test_a_server_stopped_while_a_run_writes(tmp_path: Path) -> None:
    for name, value in tracking.HTTP_DEFAULTS.items():
        if os.environ.get(name) != value:
            pytest.skip(f"{name} is set to {os.environ.get(name)!r} by the environment")
    with mlflow_server(f"sqlite:///{tmp_path / 'server' / 'mlflow.db'}", tmp_path / "art") as url:
        recorder = tracking.open_run(url, "train", "interrupted")
        recorder.log_metrics({"train/loss": 1.0})
        listing, _ = runs_cli("ls", "--uri", url, cwd=tmp_path / "work")
        assert listing.returncode == 0 and "interrupted" in listing.stdout, listing.stderr
    start = time.monotonic()
    with pytest.raises(Exception) as caught:
        recorder.log_metrics({"train/loss": 0.5})
    seconds = time.monotonic() - start
    recorder.close()
    assert 10 < seconds < 40, seconds  # retried for a while (MLflow's own defaults: ~4 min)
    assert tracking.explain(caught.value, url) == (
        f"no tracking server answers at {url} (connection refused)\n"
        "start it (README: A tracking server), or check tracking.uri / MLFLOW_TRACKING_URI"
    )
    result, seconds = runs_cli("ls", "--uri", url, cwd=tmp_path / "work")
    assert_refused(result, f"no tracking server answers at {url} (connection refused)")
    assert seconds < 15, seconds


# -- MLflow's basic-auth app ----------------------------------------------------------------------

ADMIN_PASSWORD = "toynets-admin-password-1"


@contextmanager
def basic_auth_server(folder: Path) -> Iterator[str]:
    """`mlflow server --app-name basic-auth` on loopback, its users in `folder`; yields its URL.
    The admin is `admin` / ADMIN_PASSWORD. Skips without Flask-WTF (`mlflow[auth]`)."""
    if importlib.util.find_spec("flask_wtf") is None:
        missing("MLflow's basic-auth app needs Flask-WTF (pip install 'mlflow[auth]')")
    folder.mkdir(parents=True)
    config = folder / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{folder / 'basic_auth.db'}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 60\n"  # one password hash per user, not one per request
    )
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "toynets-test-secret",
    }
    with mlflow_server(
        f"sqlite:///{folder / 'mlflow.db'}",
        folder / "art",
        cwd=folder,
        extra_args=["--app-name", "basic-auth"],
        extra_env=env,
    ) as url:
        yield url


def create_user(url: str, name: str, password: str) -> None:
    import json

    request = urllib.request.Request(
        f"{url}/api/2.0/mlflow/users/create",
        data=json.dumps({"username": name, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    credentials = __import__("base64").b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    request.add_header("Authorization", f"Basic {credentials}")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


@pytest.mark.slow
def test_basic_auth_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with basic_auth_server(tmp_path / "server") as url:
        create_user(url, "alice", "alice-password-1")
        create_user(url, "bob", "bob-password-12")
        work = tmp_path / "work"

        anonymous, _ = runs_cli("ls", "--uri", url, cwd=work)
        assert_refused(anonymous, "401 Unauthorized", "MLFLOW_TRACKING_USERNAME")
        wrong = {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "wrong"}
        assert_refused(runs_cli("ls", "--uri", url, cwd=work, env=wrong)[0], "401 Unauthorized")

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "alice-password-1")
        assert tracking.check_uri(url) == url
        recorder = tracking.open_run(url, "train", "alice's run")
        recorder.log_metrics({"final/test_loss": 0.25})
        recorder.log_text("hello\n", "config.yaml")
        tracking.close_run(recorder)
        alice = {
            "MLFLOW_TRACKING_USERNAME": "alice",
            "MLFLOW_TRACKING_PASSWORD": "alice-password-1",
        }
        listing, _ = runs_cli("ls", "--uri", url, cwd=work, env=alice)
        assert listing.returncode == 0 and "alice's run" in listing.stdout, listing.stderr

        # bob may read alice's experiment (default_permission = READ) but not write to it.
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "bob")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "bob-password-12")
        with pytest.raises(Exception) as caught:
            tracking.open_run(url, "train", "bob's run")
        assert tracking.explain(caught.value, url) == (
            f"the tracking server at {url} refused the request: 403 Forbidden (the account bob "
            "may not do this)\nask the server's admin for EDIT permission on the experiment, or "
            "log to an experiment of your own with tracking.experiment=..."
        )


# -- database servers -----------------------------------------------------------------------------


def test_a_database_that_does_not_answer() -> None:
    if importlib.util.find_spec("psycopg") is None:
        missing("no PostgreSQL driver (pip install 'psycopg[binary]')")
    import sqlalchemy

    uri = f"postgresql+psycopg://toynets@{HOST}:{free_port()}/mlflow"
    start = time.monotonic()
    message = config_error(uri)
    assert time.monotonic() - start < 5
    assert f"no database answers at {HOST}:" in message and "Connection refused" in message
    with pytest.raises(sqlalchemy.exc.OperationalError) as caught:  # as MLflow's engine meets it
        sqlalchemy.create_engine(uri).connect()
    explained = tracking.explain(caught.value, uri)
    assert explained is not None and explained.startswith(f"no database answers at {HOST}:")


def test_other_errors_are_not_explained(tmp_path: Path) -> None:
    assert tracking.explain(ValueError("something else")) is None
    assert tracking.explain(KeyError("x"), f"sqlite:///{tmp_path / 'x.db'}") is None
