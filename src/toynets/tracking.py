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
import fcntl
import io
import os
import random
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from toynets.report import Report, Table

DEFAULT_STORE = Path("mlruns")
# Tag of every toynets run: "job" (trained a net) or "sweep" (the parent run of a multirun).
ROLE_TAG = "toynets.role"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
BATCH = 1000  # MLflow's limit of metrics in one log_batch call
MAX_PARAM_LENGTH = 6000


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


def browse_hint(uri: str, experiment_id: str, run_id: str) -> str:
    """How to see a run in the MLflow UI: the `mlflow ui` command for a local store, then the
    address of the run's page (in the UI's classic model-training view)."""
    page = f"#/experiments/{experiment_id}/runs/{run_id}?{ML_VIEW}"
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/{page}"
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        if database.is_relative_to(Path.cwd()):
            uri = f"sqlite:///{database.relative_to(Path.cwd())}"
    return f"mlflow ui --backend-store-uri {uri}  then  {UI_ADDRESS}/{page}"


def _local_artifact_root(uri: str) -> Path | None:
    """For a SQLite store: the folder beside the database that holds the artifacts."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).resolve().parent
    return None


RETRY_SECONDS = 60.0  # how long a write keeps retrying a locked SQLite store


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


def client_for(uri: str | None = None) -> RetryingClient:
    """A client of the store; an embedded store is created (once, under a lock) if missing.

    MLflow creates and migrates a SQLite store's tables on first use; several processes doing
    that at once corrupt it ("table _alembic_tmp_experiments already exists"), hence the lock.
    """
    uri = resolve_uri(uri)
    root = _local_artifact_root(uri)
    if root is None:
        return RetryingClient(MlflowClient(tracking_uri=uri))
    root.mkdir(parents=True, exist_ok=True)
    with _store_lock(root):  # constructing the client creates and migrates the tables
        return RetryingClient(MlflowClient(tracking_uri=uri))


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


def write_csv(table: Table) -> str:
    """A table (column -> values) as CSV text."""
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
        return repr(value)
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


class RunRecorder:
    """Writes to one MLflow run; every write goes through MlflowClient in batches."""

    def __init__(self, client: RetryingClient, run_id: str, experiment_id: str = ""):
        self.client, self.run_id, self.experiment_id = client, run_id, experiment_id
        self._scratch = tempfile.TemporaryDirectory(prefix="toynets-")
        self.scratch = Path(self._scratch.name)

    # -- params, tags, metrics ------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
        for start in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [RunTag(k, str(v)) for k, v in tags.items()]
        self.client.log_batch(self.run_id, tags=items)

    def log_metrics(self, metrics: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self._log_batches(items)

    def log_series(self, name: str, steps: np.ndarray, values: np.ndarray) -> None:
        """A metric history (one point per step), sent 1000 points per call."""
        now = int(time.time() * 1000)
        items = [Metric(name, float(v), now, int(s)) for s, v in zip(steps, values, strict=True)]
        self._log_batches(items)

    def _log_batches(self, items: list[Metric]) -> None:
        if len(items) > BATCH and _bulk_insert_metrics(self.client, self.run_id, items):
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
        target = self.scratch / "figures" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, dpi=110)
        self.log_file(target, "figures")

    def log_report(self, report: Report, progress: Callable[[int], None] | None = None) -> None:
        """Every part of a study's report at its contract path; its notes become the run's
        description. `progress(1)` after each figure (rendering them is most of the time)."""
        if report.metrics:
            self.log_metrics(report.metrics)
        if report.notes:
            self.set_tags({"mlflow.note.content": "\n\n".join(report.notes)})
        for name, table in report.tables.items():
            self.log_text(write_csv(table), f"tables/{name}.csv")
        for name, arrays in report.arrays.items():
            self.log_arrays(arrays, f"data/{name}.npz")
        for name, figure in report.figures.items():
            self.log_figure(figure, name)
            if progress is not None:
                progress(1)
        for name, content in report.files.items():
            self.log_text(content, name)

    def log_keras_model(self, model: Any, input_example: np.ndarray) -> None:
        """The model as this run's MLflow 3 logged model `model`: loadable as runs:/<id>/model,
        listed in the run's "Logged models" column and the experiment's Models tab, with the
        signature inferred from `input_example` (which is stored with it).

        The steps of `mlflow.keras.log_model`, taken through the retrying client (parallel jobs
        share one SQLite store) and with the model folder made before MLflow writes the input
        example into it (`log_model` with an input example fails otherwise: MLflow issue
        16183).
        """
        import mlflow.keras
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.models import Model, infer_signature

        example = np.asarray(input_example, np.float32)
        signature = infer_signature(example, np.asarray(model(example)))
        run = self.client.get_run(self.run_id)
        logged = self.client.create_logged_model(
            run.info.experiment_id,
            name="model",
            source_run_id=self.run_id,
            params=dict(run.data.params),
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
                pip_requirements=_requirements(),
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


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("tensorflow-cpu", "tensorflow", "keras", "numpy"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins


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


def close_run(recorder: RunRecorder, error: BaseException | None = None) -> None:
    """FINISHED, or FAILED (KILLED for Ctrl-C) with the error as tags `error`, `error.type`."""
    client, run_id = recorder.client, recorder.run_id
    try:
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
) -> Iterator[RunRecorder]:
    """One MLflow run: FINISHED on success; on an exception FAILED (KILLED on Ctrl-C) with the
    error as tags `error` and `error.type`; what was logged before stays."""
    recorder = open_run(uri, experiment, run_name, tags, parent_run_id)
    try:
        yield recorder
    except BaseException as error:
        close_run(recorder, error)
        raise
    close_run(recorder)
