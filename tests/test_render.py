"""`toynets.render`: figures saved by the worker process are the figures saved in the job's own
process, whatever happens to the worker; runs log them before they close."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from matplotlib.artist import Artist
from matplotlib.figure import Figure
from mlflow.tracking import MlflowClient
from PIL import Image

from toynets import render, tracking
from toynets.plots.style import save_png
from toynets.plots.training import loss_curves
from toynets.report import Drawing, Report, figure_of


def _figure(seed: int = 0) -> Figure:
    rng = np.random.default_rng(seed)
    figure = Figure(figsize=(4, 3))
    ax = figure.add_subplot()
    ax.plot(rng.normal(size=50).cumsum(), label="walk")
    ax.imshow(rng.uniform(size=(20, 20)), extent=(0, 49, -3, 3), aspect="auto", alpha=0.5)
    ax.set_title(f"figure {seed}")
    ax.legend()
    return figure


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


class Unpicklable:
    """An artist attribute pickle refuses (a lambda)."""

    def __init__(self) -> None:
        self.f = lambda: None


@pytest.fixture
def renderer() -> render.Renderer:
    made = render.Renderer()
    yield made
    made.close()


def test_the_worker_saves_what_the_process_saves(renderer: render.Renderer, tmp_path: Path) -> None:
    figures = [_figure(seed) for seed in range(3)]
    renderings = [
        renderer.submit(f, tmp_path / "worker" / f"{i}.png") for i, f in enumerate(figures)
    ]
    for i, (figure, rendering) in enumerate(zip(figures, renderings, strict=True)):
        here = tmp_path / f"here{i}.png"
        save_png(figure, here)
        assert rendering.result(60) == tmp_path / "worker" / f"{i}.png"
        np.testing.assert_array_equal(_pixels(rendering.target), _pixels(here))
    assert rendering._future is not None  # these went through the worker


def test_a_drawing_is_drawn_by_the_worker_as_it_would_be_here(
    renderer: render.Renderer, tmp_path: Path
) -> None:
    """A `report.Drawing` crosses to the worker as its function's name and arrays; the worker
    draws and saves the figure the job's process would have drawn."""
    rng = np.random.default_rng(3)
    steps = np.arange(0, 200, 20)
    metrics = {
        name: rng.uniform(size=10)
        for name in ("train/loss", "test/loss", "train/accuracy", "test/accuracy")
    }
    drawing = Drawing(loss_curves, (rng.uniform(size=200), steps, metrics), {"title": "t"})
    rendering = renderer.submit(drawing, tmp_path / "worker.png")
    here = tmp_path / "here.png"
    save_png(loss_curves(drawing.args[0], steps, metrics, title="t"), here)
    assert rendering.result(60) == tmp_path / "worker.png"
    assert rendering._future is not None  # drawn in the worker
    np.testing.assert_array_equal(_pixels(rendering.target), _pixels(here))
    assert figure_of(drawing).get_suptitle() == "t"
    figure = _figure(0)
    assert figure_of(figure) is figure


def test_two_workers_save_what_the_process_saves(renderer: render.Renderer, tmp_path: Path) -> None:
    renderer.start(workers=2)
    renderer.start(workers=3)  # the first call decides
    figures = [_figure(seed) for seed in range(4)]
    renderings = [renderer.submit(f, tmp_path / f"{i}.png") for i, f in enumerate(figures)]
    for i, (figure, rendering) in enumerate(zip(figures, renderings, strict=True)):
        save_png(figure, tmp_path / f"here{i}.png")
        assert rendering.result(60) == tmp_path / f"{i}.png"
        np.testing.assert_array_equal(_pixels(rendering.target), _pixels(tmp_path / f"here{i}.png"))
    assert renderer._pool is not None and len(renderer._pool._processes) == 2


def test_figures_the_worker_cannot_take_are_saved_here(
    renderer: render.Renderer, tmp_path: Path
) -> None:
    figure = _figure(1)
    figure.unpicklable = Unpicklable()
    rendering = renderer.submit(figure, tmp_path / "a.png")
    assert rendering._future is None
    assert rendering.result().exists()


def test_a_worker_killed_loses_no_figure(renderer: render.Renderer, tmp_path: Path) -> None:
    renderer.start()
    renderer.submit(_figure(0), tmp_path / "warm.png").result(60)
    (pid,) = list(renderer._pool._processes)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    rendering = renderer.submit(_figure(2), tmp_path / "after.png")
    assert rendering.result(60).exists()  # saved here, or by a fresh worker
    later = renderer.submit(_figure(3), tmp_path / "later.png")
    assert later.result(60).exists()


def test_the_worker_ignores_ctrl_c(renderer: render.Renderer, tmp_path: Path) -> None:
    renderer.submit(_figure(0), tmp_path / "warm.png").result(60)
    (pid,) = list(renderer._pool._processes)
    os.kill(pid, signal.SIGINT)
    rendering = renderer.submit(_figure(1), tmp_path / "b.png")
    assert rendering.result(60).exists()
    assert rendering._future is not None and rendering._future.exception() is None


def _own_renderer_is_none() -> bool:
    return render.own_renderer() is None


def test_only_a_job_s_own_process_has_a_renderer() -> None:
    """A process started by multiprocessing (a joblib worker) saves its figures itself."""
    assert render.own_renderer() is render.RENDERER
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(_own_renderer_is_none).result(60)


def test_the_worker_dies_with_its_process(tmp_path: Path) -> None:
    """Even when the job's process is killed outright, its render worker does not stay."""
    code = (
        "import os, signal, sys\n"
        "from toynets import render\n"
        "r = render.Renderer(); r.start()\n"
        "r._pool.submit(int).result(60)\n"
        "print(list(r._pool._processes)[0], flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    worker = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path(f"/proc/{worker}").exists():
        status = (
            Path(f"/proc/{worker}/status").read_text() if Path(f"/proc/{worker}").exists() else ""
        )
        if "zombie" in status:
            break
        time.sleep(0.1)
    alive = (
        Path(f"/proc/{worker}").exists()
        and "zombie" not in Path(f"/proc/{worker}/status").read_text()
    )
    assert not alive


def test_a_run_logs_its_figures_before_it_closes(
    renderer: render.Renderer, store: str, tmp_path: Path
) -> None:
    report = Report(figures={"a": _figure(0), "b": _figure(1)}, metrics={"m": 1.0})
    with tracking.start_run(store, "t", "now") as rec:
        rec.log_report(report, renderer=renderer)
    with tracking.start_run(store, "t", "later", close_later=True) as later:
        later.log_report(report, renderer=renderer)
    client = MlflowClient(tracking_uri=store)
    assert client.get_run(rec.run_id).info.status == "FINISHED"
    tracking.wait_for_closing()
    for run_id in (rec.run_id, later.run_id):
        assert client.get_run(run_id).info.status == "FINISHED"
        paths = sorted(a.path for a in client.list_artifacts(run_id, "figures"))
        assert paths == ["figures/a.png", "figures/b.png"]
        for name in ("a", "b"):
            saved = client.download_artifacts(run_id, f"figures/{name}.png", str(tmp_path / run_id))
            here = tmp_path / f"{name}.png"
            save_png(report.figures[name], here)
            np.testing.assert_array_equal(_pixels(Path(saved)), _pixels(here))


class Broken(Artist):
    """An artist that cannot be drawn."""

    def draw(self, renderer: object) -> None:
        raise RuntimeError("this artist cannot be drawn")


def test_a_figure_that_cannot_be_saved_fails_its_run(renderer: render.Renderer, store: str) -> None:
    figure = _figure(0)
    figure.axes[0].add_artist(Broken())
    with tracking.start_run(store, "t", "broken", close_later=True) as rec:
        rec.log_report(Report(figures={"x": figure}), renderer=renderer)
    assert rec.pending[0]._future is not None  # handed to the worker
    tracking.wait_for_closing()
    run = MlflowClient(tracking_uri=store).get_run(rec.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "this artist cannot be drawn"
