"""Reading runs back: find runs by study and params, load a run's config, weights and artifacts.

    from toynets import runs
    table = runs.find(study="train", **{"model.hidden": [20]})   # a pandas DataFrame
    run = runs.load(table.run_id[0])
    run.net.predict(x); run.snapshots["W0"]; run.figures["decision_map"]; run.model()

Everything goes through `MlflowClient`, so it works the same on the embedded store and on a
tracking server. Reading never creates a store: a local one that does not exist raises
`toynets.errors.StoreNotFound` ("no store at ..."). This module and `toynets.tracking` are the
only ones that import MLflow.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
from mlflow.exceptions import MlflowException
from omegaconf import DictConfig, OmegaConf

from toynets.net import Net
from toynets.tracking import ROLE_TAG, client_for, resolve_uri

# A run is many small files; one progress bar per file is noise.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class RunNotFound(LookupError):
    """No run, experiment or artifact with that name in the store."""


def _param_value(value: Any) -> str:
    """A Python value as toynets logs it as a param (lists as `[4, 8]`)."""
    return str(list(value)) if isinstance(value, tuple) else str(value)


ROLES = ("job", "sweep", "all")


def find(
    study: str | None = None,
    uri: str | None = None,
    status: str | None = None,
    filter: str | None = None,
    role: str = "job",
    **params: Any,
) -> Any:
    """A DataFrame of runs, newest first: run_id, run_name, experiment_id, artifact_uri,
    status, start_time, role, tags, the flattened config as `params.<key>` and the latest
    value of every metric as `metrics.<key>`.

    `study` picks the experiment; `params` keep runs whose param equals the value (write
    dotted keys as `**{"model.hidden": [20]}` or with `__`: `train__lr=0.01`); `filter` is
    any MLflow filter string, e.g. "metrics.`final/test_accuracy` > 0.95"; `role` is "job"
    (runs that trained a net, the default), "sweep" (the parent runs of sweeps) or "all".
    """
    import pandas as pd

    if role not in ROLES:
        raise ValueError(f"role={role!r} is not allowed; choose one of {', '.join(ROLES)}")

    client = client_for(uri, create=False)
    if study is not None:
        experiment = client.get_experiment_by_name(study)
        if experiment is None:
            names = sorted(e.name for e in client.search_experiments())
            raise RunNotFound(
                f"no experiment {study!r} in {resolve_uri(uri)}; experiments: {names or 'none'}"
            )
        experiment_ids = [experiment.experiment_id]
    else:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
    clauses = [filter] if filter else []
    for key, value in params.items():
        clauses.append(f"params.`{key.replace('__', '.')}` = '{_param_value(value)}'")
    if status:
        clauses.append(f"attributes.status = '{status.upper()}'")
    if role == "sweep":
        clauses.append(f"tags.`{ROLE_TAG}` = 'sweep'")
    rows = []
    for run in _search_all(client, experiment_ids, " and ".join(clauses)):
        run_role = run.data.tags.get(ROLE_TAG, "job")
        if role == "job" and run_role == "sweep":
            continue
        row: dict[str, Any] = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "experiment_id": run.info.experiment_id,
            "artifact_uri": run.info.artifact_uri,
            "status": run.info.status,
            "start_time": pd.to_datetime(run.info.start_time, unit="ms"),
            "role": run_role,
            "study": run.data.tags.get("study"),
            "dataset": run.data.tags.get("dataset"),
            "model": run.data.tags.get("model"),
            "seed": run.data.tags.get("seed"),
            "job": run.data.tags.get("toynets.job"),
            "parent_run_id": run.data.tags.get("mlflow.parentRunId"),
            "population": run.data.tags.get("toynets.population"),  # nets trained together
            "error": run.data.tags.get("error"),
        }
        row.update({f"params.{k}": v for k, v in run.data.params.items()})
        row.update({f"metrics.{k}": v for k, v in run.data.metrics.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["run_id", "run_name", "status"])


def _search_all(client: Any, experiment_ids: list[str], filter_string: str) -> list[Any]:
    runs, token = [], None
    while True:
        page = client.search_runs(
            experiment_ids,
            filter_string,
            order_by=["attributes.start_time DESC"],
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


@dataclass
class LoadedRun:
    """A run read back: config, weights and paths to its downloaded artifacts."""

    run_id: str
    run_name: str
    status: str
    experiment: str
    config: DictConfig
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    net: Net | None
    snapshots: dict[str, np.ndarray]
    artifact_dir: Path
    figures: dict[str, Path] = field(default_factory=dict)
    tables: dict[str, Path] = field(default_factory=dict)
    data: dict[str, Path] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    uri: str = ""

    def model(self) -> Any:
        """The Keras model the run logged as `model` (runs:/<run_id>/model), downloaded and
        loaded on first call: plain Keras layers, all units on."""
        import mlflow.keras

        import toynets.model  # noqa: F401  (older runs logged the masked model: NodeMask)

        path = self.artifact_dir / "model"
        if not path.exists():
            download(self.run_id, "model", self.artifact_dir, uri=self.uri)
        return mlflow.keras.load_model(str(path))

    def table(self, name: str) -> Any:
        import pandas as pd

        return pd.read_csv(self.tables[name])

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        with np.load(self.data[name], allow_pickle=False) as npz:
            return dict(npz)

    def history(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of a metric's whole history, e.g. "test/loss"."""
        return history(self.run_id, metric, self.uri)


def history(run_id: str, metric: str, uri: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of a run's metric over its whole history, e.g. "test/loss" or
    "flow/training_regions", without downloading the run."""
    points = client_for(uri, create=False).get_metric_history(run_id, metric)
    if not points:
        raise RunNotFound(f"run {run_id} has no metric {metric!r}")
    points = sorted(points, key=lambda m: m.step)
    return np.array([m.step for m in points]), np.array([m.value for m in points])


def get_run(run_id: str, uri: str | None = None) -> Any:
    """The MLflow Run, or RunNotFound naming the id and the store."""
    client = client_for(uri, create=False)
    try:
        return client.get_run(run_id)
    except MlflowException as error:
        raise RunNotFound(f"no run with id {run_id!r} in {resolve_uri(uri)}") from error


def logged_models(run_id: str, uri: str | None = None) -> dict[str, str]:
    """Name -> id of the MLflow 3 logged models of a run (toynets logs one: `model`)."""
    run = get_run(run_id, uri)
    client = client_for(uri, create=False)
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    return {client.get_logged_model(o.model_id).name: o.model_id for o in outputs}


def download(
    run_id: str, artifact: str = "", dst: str | Path | None = None, uri: str | None = None
) -> Path:
    """Download one artifact of a run (a file or folder; "" = all of them, the logged model
    `model/` included); return its local path.

    A path under a logged model's name (`model/MLmodel`) is read from that model, as MLflow 3
    resolves `runs:/<run_id>/model/MLmodel`.
    """
    if Path(artifact).is_absolute() or ".." in Path(artifact).parts:
        raise RunNotFound(f"artifact path {artifact!r} must stay inside the run (no '..')")
    path = artifact.strip("/")
    models = logged_models(run_id, uri)
    dst = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix=f"toynets-{run_id[:8]}-"))
    dst.mkdir(parents=True, exist_ok=True)
    client = client_for(uri, create=False)
    top, _, inside = path.partition("/")
    if path:
        parent = str(Path(path).parent) if "/" in path else None
        if top in models:
            within = str(Path(inside).parent) if "/" in inside else None
            listed = client.list_logged_model_artifacts(models[top], within)
            names = {top} | {f"{top}/{a.path}" for a in listed}
        else:
            names = {a.path for a in client.list_artifacts(run_id, parent)}
            names |= set(models) if parent is None else set()
        if path not in names:
            raise RunNotFound(
                f"run {run_id} has no artifact {artifact!r}; there: {sorted(names) or 'nothing'}"
            )
    if top in models:
        return _download_model(client, models[top], inside, dst / top, uri)
    local = Path(client.download_artifacts(run_id, path, str(dst)))
    if not path:
        for name, model_id in models.items():
            _download_model(client, model_id, "", dst / name, uri)
    return local


def artifact_file(
    run_id: str, artifact: str, artifact_uri: str, dst: str | Path, uri: str | None = None
) -> Path | None:
    """One file among a run's own artifacts (not a logged model's), or None if it has none:
    read in place when the run's artifacts lie in a local folder (`artifact_uri` file://, as
    in a SQLite store), else downloaded into `dst`. For reading many runs: no listing and no
    model lookup, which `download` makes (~40 ms a run on SQLite)."""
    address = urlsplit(artifact_uri)
    if address.scheme in ("", "file"):
        local = Path(unquote(address.path)) / artifact
        return local if local.is_file() else None
    try:
        client = client_for(uri, create=False)
        return Path(client.download_artifacts(run_id, artifact, str(dst)))
    except (MlflowException, OSError):
        return None


def _download_model(client: Any, model_id: str, inside: str, dst: Path, uri: str | None) -> Path:
    """A logged model's files, or the file or folder `inside` it, into folder `dst`."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    dst.mkdir(parents=True, exist_ok=True)
    location = client.get_logged_model(model_id).artifact_location
    repository = get_artifact_repository(location, tracking_uri=resolve_uri(uri))
    return Path(repository.download_artifacts(inside, str(dst)))


def load(run_id: str, uri: str | None = None, dst: str | Path | None = None) -> LoadedRun:
    """Everything of a run but the Keras model (call `.model()` for it)."""
    run = get_run(run_id, uri)
    client = client_for(uri, create=False)
    root = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix=f"toynets-{run_id[:8]}-"))
    root.mkdir(parents=True, exist_ok=True)
    for item in client.list_artifacts(run_id):
        if item.path != "model":
            client.download_artifacts(run_id, item.path, str(root))

    def files_in(folder: str, suffix: str) -> dict[str, Path]:
        return {p.stem: p for p in sorted((root / folder).glob(f"*{suffix}"))}

    config_path = root / "config.yaml"
    config = OmegaConf.load(config_path) if config_path.exists() else OmegaConf.create({})
    final = root / "weights" / "final.npz"
    snapshots_path = root / "weights" / "snapshots.npz"
    snapshots: dict[str, np.ndarray] = {}
    if snapshots_path.exists():
        with np.load(snapshots_path, allow_pickle=False) as npz:
            snapshots = dict(npz)
    experiment = client.get_experiment(run.info.experiment_id).name
    return LoadedRun(
        run_id=run_id,
        run_name=run.info.run_name,
        status=run.info.status,
        experiment=experiment,
        config=config,  # type: ignore[arg-type]
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        net=Net.load(final) if final.exists() else None,
        snapshots=snapshots,
        artifact_dir=root,
        figures={**files_in("figures", ".png"), **files_in("figures", ".gif")},
        tables=files_in("tables", ".csv"),
        data=files_in("data", ".npz"),
        files={p.name: p for p in root.iterdir() if p.is_file() and p.name != "config.yaml"},
        uri=resolve_uri(uri),
    )
