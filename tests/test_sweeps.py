"""Sweeps: parent and child runs, the summary, parallel jobs on a fresh store, and faults."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from conftest import run_cli
from toynets import runs, tracking

FAST = ["study=train", "train.epochs=2", "study.grid=20", "tracking.log_model=false"]


def store_of(folder: Path) -> str:
    return f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"


def all_runs(uri: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, max_results=1000)


def sweep_csv(client: MlflowClient, parent_id: str, tmp: Path) -> list[dict[str, str]]:
    path = client.download_artifacts(parent_id, "tables/sweep.csv", str(tmp))
    return list(csv.DictReader(io.StringIO(Path(path).read_text())))


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`toynets -m model.hidden=[4],[8] seed=0,1` with the basic launcher."""
    folder = tmp_path_factory.mktemp("sweep")
    result = run_cli("-m", "model.hidden=[4],[8]", "seed=0,1", *FAST, cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    (folder / "stdout.txt").write_text(result.stdout)
    return folder


def test_sweep_has_a_parent_and_named_children(sweep_store: Path, tmp_path: Path) -> None:
    uri = store_of(sweep_store)
    found = all_runs(uri)
    parents = [r for r in found if r.data.tags.get("toynets.role") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    children = [r for r in found if r is not parent]
    assert len(children) == 4
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in children)
    assert sorted(r.info.run_name for r in children) == [
        "train circle mlp[4] epochs=2 grid=20 s0",
        "train circle mlp[4] epochs=2 grid=20 s1",
        "train circle mlp[8] epochs=2 grid=20 s0",
        "train circle mlp[8] epochs=2 grid=20 s1",
    ]
    assert all(r.data.tags["toynets.role"] == "job" for r in children)
    assert parent.data.tags["sweep.params"] == "model.hidden seed"
    assert "model.hidden=[4],[8] seed=0,1" in parent.data.tags["overrides"]
    assert parent.data.metrics["sweep/jobs"] == 4 and parent.data.metrics["sweep/failed"] == 0

    # The summary table equals what the children themselves recorded.
    client = MlflowClient(tracking_uri=uri)
    rows = {row["run_id"]: row for row in sweep_csv(client, parent.info.run_id, tmp_path)}
    assert set(rows) == {r.info.run_id for r in children}
    for child in children:
        row = rows[child.info.run_id]
        assert row["status"] == "FINISHED"
        assert row["model.hidden"] == child.data.params["model.hidden"]
        assert row["seed"] == child.data.params["seed"]
        for metric in ("final/test_loss", "final/test_accuracy"):
            # sweep.csv holds 6 significant digits
            assert float(row[metric]) == pytest.approx(child.data.metrics[metric], rel=1e-5)
    best = min(children, key=lambda r: r.data.metrics["final/test_loss"])
    assert parent.data.tags["best.run_id"] == best.info.run_id
    figures = {a.path for a in client.list_artifacts(parent.info.run_id, "figures")}
    assert {"figures/sweep_test_loss.png", "figures/sweep_test_accuracy.png"} <= figures
    # The gallery: every job's decision map, a row per width, a column per seed.
    assert "figures/sweep_gallery_decision_map.png" in figures
    gallery = client.download_artifacts(
        parent.info.run_id, "figures/sweep_gallery_decision_map.png", str(tmp_path)
    )
    with Image.open(gallery) as image:
        assert image.height > image.width * 0.9  # 2 rows of 2 panels and their captions


def test_the_parent_holds_what_jobs_share_and_never_poses_as_a_job(sweep_store: Path) -> None:
    uri = store_of(sweep_store)
    found = all_runs(uri)
    (parent,) = [r for r in found if r.data.tags.get("toynets.role") == "sweep"]
    children = [r for r in found if r.info.run_id != parent.info.run_id]
    params = parent.data.params
    # Swept keys are recorded as the list of their values, never as one job's value.
    assert params["sweep.model.hidden"] == "[4],[8]" and params["sweep.seed"] == "0,1"
    assert "model.hidden" not in params and "seed" not in params
    # Every other param is one that all four jobs have, with the same value.
    shared = {k: v for k, v in params.items() if not k.startswith("sweep.")}
    assert shared["train.epochs"] == "2" and shared["study.grid"] == "20"
    for child in children:
        assert {k: child.data.params[k] for k in shared} == shared
    assert set(children[0].data.params) - set(shared) == {"model.hidden", "seed"}

    # runs.find returns jobs unless asked for sweeps.
    jobs = runs.find(study="train", uri=uri, **{"model.hidden": [4]})
    assert sorted(jobs.run_name) == [
        "train circle mlp[4] epochs=2 grid=20 s0",
        "train circle mlp[4] epochs=2 grid=20 s1",
    ]
    assert set(runs.find(study="train", uri=uri, train__epochs=2).role) == {"job"}
    assert len(runs.find(study="train", uri=uri, train__epochs=2)) == 4
    sweeps = runs.find(study="train", uri=uri, role="sweep")
    assert list(sweeps.run_id) == [parent.info.run_id]
    assert len(runs.find(study="train", uri=uri, role="all")) == 5
    with pytest.raises(ValueError, match="role='parents' is not allowed"):
        runs.find(study="train", uri=uri, role="parents")

    # The README's plain-MLflow filter returns jobs only as well.
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        found = mlflow.search_runs(
            experiment_names=["train"],
            filter_string="params.`train.epochs` = '2' and tags.`toynets.role` = 'job'",
        )
    finally:
        mlflow.set_tracking_uri(previous)
    assert sorted(found.run_id) == sorted(r.info.run_id for r in children)

    # `toynets runs ls` marks the parent.
    listing = run_cli("runs", "ls", "--uri", uri, cwd=sweep_store)
    assert listing.returncode == 0, listing.stderr
    rows = [line.split() for line in listing.stdout.splitlines()[1:]]
    roles = {row[0]: row[2] for row in rows}
    assert roles[parent.info.run_id] == "sweep"
    assert {roles[c.info.run_id] for c in children} == {"job"}
    only_jobs = run_cli("runs", "ls", "--uri", uri, "--role", "job", cwd=sweep_store)
    assert parent.info.run_id not in only_jobs.stdout and len(only_jobs.stdout.splitlines()) == 5


def test_the_sweep_links_to_the_compare_view_of_its_jobs(sweep_store: Path) -> None:
    found = all_runs(store_of(sweep_store))
    (parent,) = [r for r in found if r.data.tags.get("toynets.role") == "sweep"]
    jobs = sorted(
        (r for r in found if r is not parent), key=lambda r: int(r.data.tags["toynets.job"])
    )
    command, link = parent.data.tags["mlflow.note.content"].split("\n\n")
    assert command.startswith("toynets -m model.hidden=[4],[8] seed=0,1")
    match = re.fullmatch(
        r"\[Compare the 4 jobs\]\((#/compare-runs\?runs=(\S+)&experiments=(\S+))\) "
        r"in MLflow's Compare view\.",
        link,
    )
    assert match, link
    # MLflow's route: JSON lists of the runs, in job order, and of their experiments.
    assert json.loads(unquote(match[2])) == [r.info.run_id for r in jobs]
    assert json.loads(unquote(match[3])) == [jobs[0].info.experiment_id]
    assert not re.search(r"[\s\"()\[\]]", match[1])  # one link in Markdown and in a terminal
    printed = (sweep_store / "stdout.txt").read_text()
    assert (
        "toynets: compare the jobs: mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db"
        f"  then  http://127.0.0.1:5000/{match[1]}\n"
    ) in printed


def test_one_artifact_of_a_run_in_a_local_store_is_read_in_place(sweep_store: Path) -> None:
    found = all_runs(store_of(sweep_store))
    job = next(r for r in found if r.data.tags.get("toynets.role") == "job")
    artifact_uri = job.info.artifact_uri
    assert artifact_uri.startswith("file://")
    path = runs.artifact_file(job.info.run_id, "tables/history.csv", artifact_uri, "unused")
    assert path is not None and path.is_relative_to(sweep_store / "mlruns")
    client = MlflowClient(tracking_uri=store_of(sweep_store))
    copy = client.download_artifacts(job.info.run_id, "tables/history.csv", str(sweep_store / "x"))
    assert path.read_bytes() == Path(copy).read_bytes()
    assert runs.artifact_file(job.info.run_id, "figures/nothing.png", artifact_uri, "-") is None


def test_a_compare_link_needs_two_runs_and_is_printed_for_a_few() -> None:
    from toynets.sweep import COMPARE_PRINTED, comparison_hint, link_comparison

    one_run = [{"run_id": "a", "experiment_id": "1"}, {"run_id": "", "experiment_id": None}]
    assert link_comparison(None, one_run, "toynets -m seed=0,1") is None
    page = tracking.compare_page(["2", "1", "2"], ["a", "b", "c"])
    # ["a","b","c"] and ["1","2"], percent-encoded by hand
    runs_part = "%5B%22a%22%2C%22b%22%2C%22c%22%5D"
    assert page == f"#/compare-runs?runs={runs_part}&experiments=%5B%221%22%2C%222%22%5D"
    server = "http://tracking.example:5000"
    assert comparison_hint(server, (COMPARE_PRINTED, page)) == f"{server}/{page}"
    assert comparison_hint(server, (COMPARE_PRINTED + 1, page)) == (
        f"the sweep run's description links to the Compare view of its {COMPARE_PRINTED + 1} jobs"
    )


def test_parallel_sweep_on_a_fresh_store_loses_nothing(tmp_path: Path) -> None:
    """8 jobs, 4 processes at a time, all opening a store that does not exist yet."""
    result = run_cli(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=4",
        "model.hidden=[4],[8]",
        "seed=0,1,2,3",
        *FAST,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for job in range(8):  # jobs printing at once tell whose line is whose
        assert f"toynets: job {job}: train (" in result.stderr, job
    uri = store_of(tmp_path)
    client = MlflowClient(tracking_uri=uri)
    found = all_runs(uri)
    (parent,) = [r for r in found if r.data.tags.get("toynets.role") == "sweep"]
    children = [r for r in found if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 8 and all(r.info.status == "FINISHED" for r in children)
    assert parent.data.tags["sweep.launcher"] == "JoblibLauncher"
    assert len({r.data.tags["toynets.pid"] for r in children}) > 1  # really other processes
    for child in children:  # 2 epochs of 32 steps: 3 evaluations, 64 step losses
        assert len(client.get_metric_history(child.info.run_id, "test/loss")) == 3
        assert len(client.get_metric_history(child.info.run_id, "train/step_loss")) == 64
    rows = sweep_csv(client, parent.info.run_id, tmp_path)
    assert len(rows) == 8 and {row["status"] for row in rows} == {"FINISHED"}
    assert parent.data.metrics["sweep/finished"] == 8
    # Same seed, same result, whichever process ran it (cf. the basic launcher's run above).
    by_name = {r.info.run_name: r.data.metrics["final/test_loss"] for r in children}
    assert len(set(by_name.values())) == 8


def test_failing_jobs_do_not_stop_the_sweep(tmp_path: Path) -> None:
    result = run_cli(
        "-m",
        "train.optimizer=sgd",
        "model.init_scale=100",
        "train.lr=0.1,1e25",
        "model.hidden=[4]",
        *FAST,
        cwd=tmp_path,
    )
    assert result.returncode == 1  # the sweep ran to its end and reports the failure
    uri = store_of(tmp_path)
    client = MlflowClient(tracking_uri=uri)
    found = all_runs(uri)
    (parent,) = [r for r in found if r.data.tags.get("toynets.role") == "sweep"]
    assert parent.info.status == "FINISHED"
    table = sweep_csv(client, parent.info.run_id, tmp_path)
    rows = {float(row["train.lr"]): row for row in table}
    assert len(rows) == 2
    assert rows[0.1]["status"] == "FINISHED" and rows[0.1]["error"] == ""
    assert rows[0.1]["run_name"] == (
        "train circle mlp[4] optimizer=sgd init_scale=100 lr=0.1 epochs=2 grid=20 s0"
    )
    diverged = rows[1e25]
    assert diverged["status"] == "FAILED" and "loss became" in diverged["error"]
    assert "likely cause" in diverged["error"]
    assert parent.data.metrics["sweep/failed"] == 1
    failed_run = client.get_run(diverged["run_id"])
    assert failed_run.data.tags["error.type"] == "TrainingDiverged"


def test_a_sweep_with_a_bad_value_is_refused_before_any_job(tmp_path: Path) -> None:
    result = run_cli("-m", "train.lr=0.1,1e25", "model.hidden=[4],[0]", *FAST, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "invalid sweep, no job was started" in result.stderr
    # the two jobs with model.hidden=[0] (numbered as Hydra numbers them), nothing else
    assert result.stderr.count("model.hidden[0]=0 must be a positive width") == 2
    assert "job 1 (" in result.stderr and "job 3 (" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    script = Path(sys.executable).parent / "toynets"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "toynets.app"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(
        [*command, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_running(uri: str, db: Path, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if db.exists():  # toynets' client waits while the other process creates the store
            running = runs.find(uri=uri, status="RUNNING")
            if len(running):
                return running.run_id[0]
        time.sleep(0.5)
    raise AssertionError("no RUNNING run appeared")


LONG = ["study=train", "train.epochs=100000", "tracking.log_model=false", "study.grid=20"]


def test_killed_job_is_cleaned_by_runs_clean(tmp_path: Path) -> None:
    uri = store_of(tmp_path)
    process = _start(LONG, tmp_path)
    try:
        run_id = _wait_for_running(uri, tmp_path / "mlruns" / "mlflow.db")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(run_id).info.status == "RUNNING"  # nobody closed it
    cleaned = run_cli("runs", "clean", cwd=tmp_path)
    assert cleaned.returncode == 0 and f"{run_id} KILLED" in cleaned.stdout
    run = client.get_run(run_id)
    assert run.info.status == "KILLED" and "ended without closing" in run.data.tags["error"]
    assert run.data.params["train.epochs"] == "100000"  # what it logged is kept
    again = run_cli("runs", "clean", cwd=tmp_path)
    assert "0 run(s) marked KILLED" in again.stdout


def test_ctrl_c_marks_the_run_killed_and_keeps_the_curves(tmp_path: Path) -> None:
    uri = store_of(tmp_path)
    process = _start(LONG, tmp_path)
    try:
        run_id = _wait_for_running(uri, tmp_path / "mlruns" / "mlflow.db")
        time.sleep(6)  # let training run for a while
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err[-2000:]
    assert "KILLED" in err
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    steps = client.get_metric_history(run_id, "train/step_loss")
    assert len(steps) > 100 and np.isfinite([m.value for m in steps]).all()
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "weights"} <= artifacts


def test_runs_cli_lists_gets_and_reports_bad_input(sweep_store: Path, tmp_path: Path) -> None:
    listing = run_cli("runs", "ls", "--study", "train", "model.hidden=[8]", cwd=sweep_store)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.strip().splitlines()
    assert "run_id" in lines[0] and "test_loss" in lines[0]
    assert len(lines) == 3 and all("[8]" in line for line in lines[1:])
    filtered = run_cli("runs", "ls", "--filter", "params.seed = '1'", cwd=sweep_store)
    assert len(filtered.stdout.strip().splitlines()) == 3  # header + 2 runs (the parent has 0)

    run_id = runs.find(study="train", uri=store_of(sweep_store), **{"model.hidden": "[8]"}).run_id[
        0
    ]
    got = run_cli(
        "runs", "get", run_id, "figures/loss_curves.png", "-o", str(tmp_path), cwd=sweep_store
    )
    assert got.returncode == 0, got.stderr
    assert Path(got.stdout.strip()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    for args, message in [
        (["get", "0" * 32], "no run with id '00000000000000000000000000000000'"),
        (["get", run_id, "../../../mlflow.db"], "must stay inside the run"),
        (["get", run_id, "figures/nope.png"], "no artifact 'figures/nope.png'"),
        (["ls", "--study", "nope"], "no experiment 'nope'"),
        (["ls", "hidden"], "'hidden' is not KEY=VALUE"),
    ]:
        bad = run_cli("runs", *args, cwd=sweep_store)
        assert bad.returncode == 2 and message in bad.stderr, (args, bad.stderr)
        assert "Traceback" not in bad.stderr


def test_stale_runs_of_other_hosts_are_left_alone(tmp_path: Path) -> None:
    uri = store_of(tmp_path)
    recorder = tracking.open_run(uri, "train", "elsewhere", tags={"toynets.host": "other-host"})
    mine = tracking.open_run(uri, "train", "mine", tags={"toynets.pid": "999999999"})
    recorder.close()
    mine.close()
    assert tracking.clean_stale_runs(uri) == [mine.run_id]
    client = MlflowClient(tracking_uri=uri)
    assert client.get_run(recorder.run_id).info.status == "RUNNING"


def test_swept_values_sort_as_numbers_and_lists_of_numbers() -> None:
    from toynets.analysis.sweep import sort_values

    given = ["[16]", "relu", "[4]", "0.01", "[8, 8]", "[8]", "0.003", "1e-4", "tanh", "[4,4]"]
    assert sort_values(given) == [
        "1e-4",
        "0.003",
        "0.01",
        "[4]",
        "[8]",
        "[16]",
        "[4,4]",
        "[8, 8]",
        "relu",
        "tanh",
    ]
    assert sort_values(["[a]", "[2]", "2"]) == ["2", "[2]", "[a]"]


def test_the_gallery_lays_jobs_out_by_their_swept_values() -> None:
    from toynets.analysis.sweep import gallery_layout

    rows = [{"model.hidden": h, "seed": s} for h in ("[16]", "[4]", "[8]") for s in ("1", "0")]
    layout = gallery_layout(rows, ["model.hidden", "seed"])
    assert layout.row_labels == ["model.hidden=[4]", "model.hidden=[8]", "model.hidden=[16]"]
    assert layout.column_labels == ["seed=0", "seed=1"]
    for index, row in enumerate(rows):
        r = ["[4]", "[8]", "[16]"].index(row["model.hidden"])
        assert layout.cells[(r, int(row["seed"]))] == index
    two = [
        {"model.hidden": h, "train.lr": lr, "seed": "0"}
        for h in ("[8]", "[4]")
        for lr in ("0.1", "0.01")
    ]
    layout = gallery_layout(two, ["model.hidden", "train.lr", "seed"])
    assert layout.row_labels == ["model.hidden=[4]", "model.hidden=[8]"]
    assert layout.column_labels == ["train.lr=0.01 seed=0", "train.lr=0.1 seed=0"]
    assert layout.cells == {(1, 1): 0, (1, 0): 1, (0, 1): 2, (0, 0): 3}
    three = [{"a": a, "b": "x", "c": c} for a in ("1", "2") for c in ("3", "4")]
    layout = gallery_layout(three, ["a", "b", "c"])  # keys after the second join the rows
    assert layout.row_labels == ["a=1 c=3", "a=1 c=4", "a=2 c=3", "a=2 c=4"]
    assert layout.column_labels == ["b=x"] and len(layout.cells) == 4
    seeds = gallery_layout([{"seed": s} for s in "201"], ["seed"])
    assert seeds.row_labels == [""] and seeds.column_labels == ["seed=0", "seed=1", "seed=2"]
    assert seeds.cells == {(0, 2): 0, (0, 0): 1, (0, 1): 2}


def test_the_gallery_figure_puts_each_picture_in_its_cell() -> None:
    from toynets.analysis.sweep import gallery_layout
    from toynets.plots.sweep import sweep_gallery

    rows = [{"model.hidden": h, "seed": s} for h in ("[4]", "[8]") for s in ("0", "1")]
    layout = gallery_layout(rows, ["model.hidden", "seed"])
    pictures = [np.full((30, 40, 3), 60 * i, np.uint8) for i in range(4)]
    pictures[3] = None
    captions = [f"test accuracy 0.{i}" for i in range(4)]
    fig = sweep_gallery(pictures, layout, captions, title="decision_map of every job")
    axes = fig.axes
    assert len(axes) == 4
    for (r, c), index in layout.cells.items():
        ax = axes[r * 2 + c]
        assert ax.get_title() == f"seed={c}\ntest accuracy 0.{index}"
        if pictures[index] is None:
            assert not ax.images and ax.texts[0].get_text() == "no picture"
        else:
            np.testing.assert_array_equal(ax.images[0].get_array(), pictures[index])
    labels = [t.get_text() for ax in axes[::2] for t in ax.texts if t.get_rotation() == 90]
    assert labels == ["model.hidden=[4]", "model.hidden=[8]"]
    assert fig._suptitle.get_text() == "decision_map of every job"


def test_a_gallery_of_many_jobs_grows_wide_and_its_captions_never_overlap() -> None:
    """100 jobs (5 widths x 2 rates x 10 seeds): 20 columns of pictures at least
    GALLERY_PANEL inches wide, a key per line above each, no caption over its neighbour's
    (their extents measured as drawn), and no PNG wider than the house limit."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from toynets.analysis.sweep import gallery_layout
    from toynets.plots import style
    from toynets.plots.sweep import GALLERY_PANEL, sweep_gallery

    rows = [
        {"model.hidden": f"[{h}]", "train.lr": lr, "seed": str(s)}
        for h in (4, 8, 12, 16, 20)
        for lr in ("0.003", "0.01")
        for s in range(10)
    ]
    layout = gallery_layout(rows, ["model.hidden", "train.lr", "seed"])
    assert len(layout.column_labels) == 20
    pictures = [np.zeros((52, 60, 3), np.uint8)] * 100
    captions = ["test accuracy 0.947"] * 100
    fig = sweep_gallery(pictures, layout, captions, title="decision_map of every job")
    assert fig.get_figwidth() >= 20 * GALLERY_PANEL
    first = [ax for ax in fig.axes if ax.get_visible()][:20]
    assert first[0].get_title() == "train.lr=0.003\nseed=0\ntest accuracy 0.947"
    assert first[-1].get_title() == "train.lr=0.01\nseed=9\ntest accuracy 0.947"
    fig.set_dpi(style.figure_dpi(fig))
    renderer = FigureCanvasAgg(fig).get_renderer()
    spans = [ax.title.get_window_extent(renderer) for ax in first]
    assert all(left.x1 < right.x0 for left, right in itertools.pairwise(spans))
    assert fig.get_figwidth() * style.figure_dpi(fig) <= style.MAX_PIXELS + 1
