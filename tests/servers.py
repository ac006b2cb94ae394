"""Real servers for integration tests: PostgreSQL and `mlflow server`, on loopback only.

    with postgres_server() as db_url, mlflow_server(db_url, tmp / "artifacts") as url:
        ...  # url = "http://127.0.0.1:<port>"

`postgres_server` skips the test when PostgreSQL's server binaries or a Python driver (psycopg2
or psycopg) are missing (`conftest.missing`: a failure where the set-up promised them);
`.ci/install-services` installs the binaries.
Every wait is bounded; every process started here is stopped (and its files deleted) on exit.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from conftest import missing

HOST = "127.0.0.1"
PG_USER = "toynets"
PG_DATABASE = "mlflow"


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(no log at {path}: {error})"
    return "\n".join(text.splitlines()[-lines:])


# -- PostgreSQL --------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: on PATH, else Debian's newest."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent] if found else []
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")],
    )
    candidates += [Path(p).parent for p in reversed(debian)]
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def postgres_driver() -> str | None:
    """The SQLAlchemy scheme for an importable PostgreSQL driver, or None. The driver is named
    explicitly: a bare `postgresql://` means psycopg2 to SQLAlchemy 2.0 but psycopg (3) to 2.1."""
    for module, scheme in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return scheme
    return None


def _connect(port: int, dbname: str) -> Any:
    """An autocommit connection as PG_USER over TCP on loopback."""
    kwargs = {"host": HOST, "port": port, "user": PG_USER, "dbname": dbname, "connect_timeout": 5}
    if importlib.util.find_spec("psycopg") is not None:
        import psycopg

        return psycopg.connect(**kwargs, autocommit=True)
    import psycopg2

    connection = psycopg2.connect(**kwargs)
    connection.autocommit = True
    return connection


def _run_checked(command: list[str], what: str, timeout: float, **kwargs: Any) -> None:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{what} did not finish in {timeout:.0f} s: {command}") from error
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {result.returncode}): {command}\n{result.stdout}\n{result.stderr}"
        )


@contextmanager
def postgres_server(timeout: float = 30.0) -> Iterator[str]:
    """A throwaway PostgreSQL on 127.0.0.1:<free port>, trust auth, data in a temporary folder;
    yields its SQLAlchemy URL `postgresql+psycopg://toynets@127.0.0.1:<port>/mlflow` (database
    created; `+psycopg2` with that driver). Stopped and deleted on exit. Skips the test when
    PostgreSQL is not available.

    PostgreSQL refuses to run as root: as root, the data folder belongs to the `postgres`
    system user (created by Debian's package) and the server runs through `runuser`.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        missing(
            "PostgreSQL not available: no initdb/pg_ctl/postgres on PATH or in "
            "/usr/lib/postgresql/*/bin (install the Debian package `postgresql`, "
            "e.g. with .ci/install-services)"
        )
    dialect = postgres_driver()
    if dialect is None:
        missing("PostgreSQL not available: no Python driver (pip install 'psycopg[binary]')")
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            missing(
                "PostgreSQL not available: running as root and there is no `postgres` "
                "system user to run the server as"
            )
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        if not Path(runuser).exists():
            missing("PostgreSQL not available: running as root and `runuser` is missing")
        prefix = [runuser, "-u", "postgres", "--"]

    # Not pytest's tmp_path: its parents are private to root, and the server user must reach it.
    root = Path(tempfile.mkdtemp(prefix="toynets-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "postgres.log"
    sockets.mkdir()
    if owner is not None:
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    pg_ctl = str(bin_dir / "pg_ctl")
    started = False
    try:
        _run_checked(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
            timeout=120,
            cwd=root,
        )
        options = (
            f"-c listen_addresses={HOST} -p {port} -k {sockets} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = True
        _run_checked(
            [
                *prefix,
                pg_ctl,
                "start",
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                str(int(timeout)),
                "-o",
                options,
            ],
            "pg_ctl start",
            timeout=timeout + 10,
            cwd=root,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection = _connect(port, "postgres")
                break
            except Exception as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL on {HOST}:{port} refused connections for {timeout:.0f} s: "
                        f"{error}\n{_tail(log)}"
                    ) from error
                time.sleep(0.3)
        try:
            connection.cursor().execute(f"CREATE DATABASE {PG_DATABASE}")
        finally:
            connection.close()
        yield f"{dialect}://{PG_USER}@{HOST}:{port}/{PG_DATABASE}"
    except BaseException:
        print(f"--- PostgreSQL log ({log}) ---\n{_tail(log)}", file=sys.stderr)
        raise
    finally:
        if started:
            for mode in ("fast", "immediate"):
                try:
                    _run_checked(
                        [*prefix, pg_ctl, "stop", "-D", str(data), "-m", mode, "-w", "-t", "30"],
                        "pg_ctl stop",
                        timeout=40,
                        cwd=root,
                    )
                    break
                except RuntimeError as error:
                    if "Is server running?" in str(error):
                        break  # never started, or already gone
                    print(error, file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


# -- mlflow server ----------------------------------------------------------------------------


def mlflow_server_command(
    backend_uri: str, port: int, artifacts_dir: str | Path | None = None, subcommand="server"
) -> list[str]:
    """`mlflow server` (or `mlflow ui`) on 127.0.0.1:<port> with one worker. With
    `artifacts_dir`, artifacts are proxied (`mlflow-artifacts:/` for new experiments) and
    stored in that folder; without it, the server reads artifacts where each experiment's own
    location says."""
    command = [
        sys.executable,
        "-m",
        "mlflow",
        subcommand,
        "--backend-store-uri",
        backend_uri,
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if artifacts_dir is not None:
        destination = Path(artifacts_dir).resolve()
        destination.mkdir(parents=True, exist_ok=True)
        command += ["--serve-artifacts", "--artifacts-destination", destination.as_uri()]
    return command


def http_json(url: str, body: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
    """GET (or POST `body` as JSON) and decode the JSON answer; HTTP errors raise with the body."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise AssertionError(f"{error.code} from {url}: {detail}") from error


def http_bytes(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """(status, body) of a GET; HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _stop_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM the process group (server, uvicorn worker, job runners); SIGKILL what is left
    after `grace` s (or at once once the leader is gone, so no worker outlives it)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=grace)


@contextmanager
def mlflow_server(
    backend_uri: str,
    artifacts_dir: str | Path | None = None,
    timeout: float = 60.0,
    subcommand: str = "server",
    cwd: Path | None = None,
    extra_args: Sequence[str] = (),
    extra_env: dict[str, str] | None = None,
) -> Iterator[str]:
    """`mlflow server` (or `mlflow ui`, as the README starts it) over `backend_uri`
    (PostgreSQL, `sqlite:////abs/mlflow.db`, `sqlite:///mlruns/mlflow.db` relative to `cwd`,
    ...) on 127.0.0.1:<free port>, with `extra_args` (e.g. `--app-name basic-auth`) and
    `extra_env`; yields `http://127.0.0.1:<port>` once `GET /health` answers. The process group
    is stopped on exit; on a failure its log is printed."""
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="toynets-mlflow-server-"))  # the log; deleted after
    workdir = cwd or scratch
    log = scratch / "server.log"
    url = f"http://{HOST}:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    env.pop("MLFLOW_TRACKING_URI", None)
    # MLflow 3's job runner (GenAI scorers) starts ~7 huey consumers: twice the start-up time
    # and a lot of memory, for nothing toynets uses.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    command = [*mlflow_server_command(backend_uri, port, artifacts_dir, subcommand), *extra_args]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=workdir,  # where a default ./mlartifacts or ./mlruns would go
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {process.returncode}: {command}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not answer /health in {timeout:.0f} s")
            time.sleep(0.3)
        yield url
    except BaseException:
        print(
            f"--- mlflow server log ({' '.join(command)}) ---\n{_tail(log, 120)}", file=sys.stderr
        )
        raise
    finally:
        _stop_group(process)
        shutil.rmtree(scratch, ignore_errors=True)
