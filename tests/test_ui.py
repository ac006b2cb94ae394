"""The MLflow UI opens on the runs, as the README walks a new user through it.

MLflow 3.17's UI keeps a "GenAI | Model training" switch in the browser's localStorage and, in a
fresh browser, opens every experiment on an empty GenAI dashboard whatever the experiment's
`mlflow.experimentKind` tag says (MLflow issue 24498). The README therefore has the user pick
"Model training" once, and every job prints a link to its run that carries the view in the
address (`?workflowType=machine_learning`). Both paths are checked here in fresh profiles of
Debian's headless Chromium, against `mlflow ui` started in the user's folder as the README says.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import DefaultRun
from servers import mlflow_server
from toynets.tracking import ML_VIEW

README_STORE = "sqlite:///mlruns/mlflow.db"  # `mlflow ui --backend-store-uri ...` in the README
RUN_NAME = "node_removal circle mlp[20] epochs=8 s0"  # the default_run's job
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def ui(default_run: DefaultRun) -> Iterator[str]:
    """`mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db` in the user's folder."""
    with mlflow_server(README_STORE, subcommand="ui", cwd=default_run.folder, timeout=90) as url:
        yield url


@pytest.fixture
def fresh_page(chromium) -> Iterator:
    """A page in a new browser profile: nothing in localStorage, as on a first visit."""
    context = chromium.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_fresh_browser_following_the_readme_sees_the_runs(
    ui: str, fresh_page, tmp_path: Path
) -> None:
    page = fresh_page
    page.goto(ui)
    page.get_by_text("Model training", exact=True).first.click()  # README: pick it once
    page.get_by_role("link", name="node_removal", exact=True).first.click()  # the experiment
    page.get_by_role("link", name=RUN_NAME, exact=True).first.wait_for()
    page.screenshot(path=str(tmp_path / "runs_table.png"))
    assert re.search(r"#/experiments/\d+/runs\?.*workflowType=machine_learning", page.url)
    assert page.get_by_role("heading", name="Runs").first.is_visible()
    # The run's logged model shows in the table's Models column.
    assert page.get_by_role("link", name="model", exact=True).first.is_visible()


def test_without_the_switch_a_fresh_browser_lands_on_genai(ui: str, fresh_page) -> None:
    """Why the README has the user pick "Model training": MLflow alone opens GenAI."""
    page = fresh_page
    page.goto(ui)
    page.get_by_role("link", name="node_removal", exact=True).first.click()
    page.wait_for_url(re.compile(r"workflowType=genai"))
    assert page.get_by_role("link", name=RUN_NAME, exact=True).count() == 0


def test_the_link_a_job_prints_opens_its_run(
    default_run: DefaultRun, ui: str, fresh_page, tmp_path: Path
) -> None:
    (line,) = [s for s in default_run.result.stdout.splitlines() if "see it:" in s]
    command, _, address = line.split("see it: ", 1)[1].partition("  then  ")
    assert command == f"mlflow ui --backend-store-uri {README_STORE}"
    assert address.startswith("http://127.0.0.1:5000/#/experiments/")
    page = fresh_page
    page.goto(address.replace("http://127.0.0.1:5000", ui))
    page.get_by_text(RUN_NAME, exact=True).first.wait_for()
    for tab in ("Overview", "Model metrics", "Artifacts"):
        assert page.get_by_role("tab", name=tab).first.is_visible(), tab
    page.get_by_role("tab", name="Artifacts").first.click()
    page.get_by_text("node_removal.html", exact=True).first.wait_for()
    page.screenshot(path=str(tmp_path / "run_artifacts.png"))


class WidthSweep(NamedTuple):
    url: str  # of `mlflow ui` on the sweep's store
    sweep: str  # the parent run's id
    folder: Path
    stdout: str  # what the sweep printed


@pytest.fixture(scope="module")
def width_sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WidthSweep]:
    """A 3-job width sweep (`study=train`) in a fresh folder, and `mlflow ui` on its store."""
    from conftest import run_cli
    from toynets import runs

    folder = tmp_path_factory.mktemp("width_sweep")
    done = run_cli(
        "-m", "study=train", "model.hidden=[2],[4],[8]", "train.epochs=3", "study.grid=60",
        "tracking.log_model=false", cwd=folder, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    sweep = str(runs.find("train", uri=uri, role="sweep").run_id.iloc[0])
    with mlflow_server(README_STORE, subcommand="ui", cwd=folder, timeout=90) as url:
        yield WidthSweep(url, sweep, folder, done.stdout)


@pytest.mark.slow  # a sweep and an MLflow UI of its own: ~40 s
def test_the_chart_view_compares_the_decision_maps_of_a_sweep(
    width_sweep: WidthSweep, fresh_page, tmp_path: Path
) -> None:
    """Each job's decision map is an MLflow image under the key `decision_map`: the runs'
    Chart view shows them side by side in one image grid."""
    url, sweep = width_sweep.url, width_sweep.sweep
    page = fresh_page
    page.goto(f"{url}/#/experiments/1/runs?workflowType=machine_learning&compareRunsMode=CHART")
    page.locator(f'[row-id="{sweep}"] button').first.click()  # unfold the sweep's jobs
    for hidden in ("[2]", "[4]", "[8]"):
        page.get_by_role(
            "link", name=f"train circle mlp{hidden} epochs=3 grid=60 s0"
        ).first.wait_for()
    page.get_by_placeholder("Search metric charts").first.fill("decision_map")
    maps = page.locator("img[src*='decision_map']")
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"img[src*='decision_map']\")]"
        ".filter(i => i.complete && i.naturalWidth > 0).length === 3",
        timeout=WAIT_MS,
    )
    assert maps.count() == 3
    sources = {maps.nth(i).get_attribute("src") for i in range(3)}
    assert len(sources) == 3  # three runs' images, not one three times
    # The card is small and lists each run's params above its image; full screen shows them.
    page.locator("button[data-component-id='mlflow.assistant.chat_panel.close']").first.click()
    page.locator("button[data-component-id='fullscreen_button_chartcard']").first.click()
    dialog = page.get_by_role("dialog")
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"[role=dialog] img[src*='decision_map']\")]"
        ".filter(i => i.complete && i.naturalWidth > 0).length === 3",
        timeout=WAIT_MS,
    )
    shown = dialog.locator("img[src*='decision_map']")
    assert {shown.nth(i).get_attribute("src") for i in range(3)} == sources
    page.screenshot(path=str(tmp_path / "image_grid.png"))  # to look at


def _selected(page, selector: str) -> list[str]:
    """The items chosen in one of the Compare view's multi-selects."""
    return (
        page.locator(selector)
        .locator(".du-bois-light-select-selection-item-content")
        .all_text_contents()
    )


@pytest.mark.slow  # shares the width sweep and its MLflow UI with the chart-view test
def test_the_compare_link_of_a_sweep_opens_its_jobs_as_the_readme_says(
    width_sweep: WidthSweep, fresh_page, tmp_path: Path
) -> None:
    """A sweep prints a link to MLflow's Compare view of its jobs and ends its run's
    description with it. MLflow picks the view's axes itself (no run-side setting): the
    parallel coordinates start on the params that differ, sorted, against the first metric
    the first run logged (`train/loss`, the first point of its curve); the scatter plot on the
    first param by name (`dataset.faithful`) against the first metric by name. The README's
    clicks give the swept key against `final/test_loss` and `final/test_accuracy`."""
    (line,) = [s for s in width_sweep.stdout.splitlines() if "compare the jobs:" in s]
    command, _, address = line.split("compare the jobs: ", 1)[1].partition("  then  ")
    assert command == f"mlflow ui --backend-store-uri {README_STORE}"
    assert address.startswith("http://127.0.0.1:5000/#/compare-runs?runs=")
    page = fresh_page
    page.goto(address.replace("http://127.0.0.1:5000", width_sweep.url))
    page.get_by_role("heading", name="Comparing 3 Runs from 1 Experiment").wait_for()
    names = [f"train circle mlp{h} epochs=3 grid=60 s0" for h in ("[2]", "[4]", "[8]")]
    shown = page.get_by_text(re.compile(r"^train circle mlp")).all_text_contents()
    assert shown == names  # the jobs, in job order

    # MLflow's defaults, as the README describes them.
    params_select = ".du-bois-light-select >> nth=0"  # under "Parameters:"
    metrics_select = ".du-bois-light-select >> nth=1"  # under "Metrics:"
    assert _selected(page, params_select) == ["model.hidden"]
    assert _selected(page, metrics_select) == ["train/loss"]
    # README: the x of train/loss under "Metrics:", then pick the two final metrics.
    metrics = page.locator(metrics_select)
    metrics.locator(".du-bois-light-select-selection-item-remove").first.click()
    metrics.click()
    for name in ("final/test_loss", "final/test_accuracy"):
        page.locator(".du-bois-light-select-item-option").get_by_text(name, exact=True).click()
    page.keyboard.press("Escape")
    assert _selected(page, metrics_select) == ["final/test_loss", "final/test_accuracy"]
    axes = page.locator(".js-plotly-plot text.axis-title")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot text.axis-title')]"
        ".map(t => t.textContent).join() === 'model.hidden,final/test_loss,final/test_accuracy'",
        timeout=WAIT_MS,
    )
    assert axes.all_text_contents() == ["model.hidden", "final/test_loss", "final/test_accuracy"]
    page.screenshot(path=str(tmp_path / "parallel_coordinates.png"))

    # README: Scatter Plot, then X-axis -> the swept key; the y axis starts on the accuracy.
    page.get_by_role("tab", name="Scatter Plot").click()
    assert page.locator("#x-axis-selector").get_attribute("value") == "param-dataset.faithful"
    assert page.locator("#y-axis-selector").get_attribute("value") == "metric-final/test_accuracy"
    page.locator("#x-axis-selector").click()
    page.get_by_role("option", name="model.hidden", exact=True).click()
    assert page.locator("#x-axis-selector").get_attribute("value") == "param-model.hidden"
    ticks = page.get_by_role("tabpanel", name="Scatter Plot").locator("svg text")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[role=tabpanel] svg text')]"
        ".some(t => t.textContent === '[8]')",
        timeout=WAIT_MS,
    )
    assert {"[2]", "[4]", "[8]"} <= set(ticks.all_text_contents())
    page.screenshot(path=str(tmp_path / "scatter.png"))

    # The same view is one click away on the sweep's run page.
    page.goto(f"{width_sweep.url}/#/experiments/1/runs/{width_sweep.sweep}?{ML_VIEW}")
    link = page.get_by_role("link", name="Compare the 3 jobs")
    assert link.get_attribute("href") == "#" + address.split("#", 1)[1]
