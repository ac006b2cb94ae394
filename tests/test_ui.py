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

import pytest

from conftest import DefaultRun
from servers import mlflow_server

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
