"""Shared fixtures: Hydra composition in-process, a real MLflow store in a temporary folder, the
README's main job run once as a user runs it, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from toynets.config import register_configs

register_configs()  # the root schema that conf/config.yaml's defaults start with

# A test run started in the background by a non-interactive shell (CI's script may be) has
# SIGINT ignored, and so would every toynets it starts: Python then installs no Ctrl-C handler,
# as is right for a background job. The tests that press Ctrl-C need toynets as a terminal
# starts it, with SIGINT at its default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT_ROOT / "conf"
EXPERIMENTS = sorted(p.stem for p in (PROJECT_ROOT / "experiments").glob("*.yaml"))


def compose_config(overrides: list[str] | None = None) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides or [])


SMALL_NODE_REMOVAL = [
    "study=node_removal",
    "model.hidden=[6]",
    "train.epochs=3",
    "study.n_masks=300",
    "study.n_paths=100",
    "study.grid=60",
    "study.map_grid=24",
    "study.test_size=400",
    "study.n_random_subsets=2",
    "study.subsets=[[0],[1,2]]",
    "study.ps=[0.3,0.5,0.8]",  # not all float32 numbers: the masks of each p are found all the same
]


TRAINED: dict[tuple[str, ...], object] = {}  # overrides -> Trained, once per process


def study_report(overrides: list[str]):
    """(Trained, Report) of the study on a trained net, without any MLflow run: the job's own
    `prepare` and `fit` (once per process for the same overrides: training is seeded, and a
    mutation run of many pytest sessions in one process trains once), then the study."""
    from toynets import studies
    from toynets.app import prepare
    from toynets.config import validate
    from toynets.model import to_net
    from toynets.train import fit

    conf = validate(compose_config(overrides))
    if tuple(overrides) not in TRAINED:
        data, head, model = prepare(conf)
        history = fit(model, data, conf.train, head, conf.seed, None)
        TRAINED[tuple(overrides)] = studies.Trained(
            model, to_net(model), head, data, history, "test", conf
        )
    trained = TRAINED[tuple(overrides)]
    return trained, studies.get(conf.study.name)(trained, conf.study)


def rendered_section(script: str, name: str, uri: str, folder: Path) -> str:
    """docs/`script` run on the store `uri` as the docs say, filling section `name` of a copy of
    the report whose section holds a stale text: the report's text, checked to be written with
    no placeholder left."""
    doc = folder / "reproduction.md"
    marker = f"<!-- generated: {name} -->\nstale\n<!-- end generated: {name} -->"
    doc.write_text(f"# Report\n\n{marker}\n")
    made = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "docs" / script), "--uri", uri, "--doc", str(doc)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    text = doc.read_text()
    assert "stale" not in text and "$" not in text
    return text


def logged_study(folder: Path, overrides: list[str]):
    """The job of `overrides` into a fresh store in `folder`, read back by the MLflow client
    (a `toynets.runs.LoadedRun`, its artifacts under `folder / "run"`)."""
    from toynets import runs
    from toynets.app import run_job

    (folder / "mlruns").mkdir()
    uri = f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}"
    result = run_job(compose_config([*overrides, f"tracking.uri={uri}"]))
    return runs.load(result.run_id, uri=uri, dst=folder / "run")


def credited_study_report(fixture: str, overrides: list[str]):
    """`study_report` for the session fixture named `fixture`, the mutated functions it calls
    credited to every test that uses the fixture (`_credit_session_fixtures`)."""
    calls = mutmut_stats()
    before = set(calls) if calls is not None else set()
    result = study_report(overrides)
    SESSION_FIXTURE_CALLS[fixture] = set(calls) - before if calls is not None else set()
    return result


def mutmut_stats() -> set[str] | None:
    """During mutmut's stats run (`.ci/mutate`; MUTANT_UNDER_TEST=stats), the set of mutated
    functions the running test has called so far, else None."""
    if os.environ.get("MUTANT_UNDER_TEST") != "stats":
        return None
    from mutmut.state import state

    return state()._stats


# mutmut runs a mutant only against the tests that called its function in the stats run; a
# session fixture calls them once, inside whichever test asks first. The functions a session
# fixture called are credited to every test that uses it (`_credit_session_fixtures`), so a
# mutant of the study is run against all the tests of the study's numbers.
SESSION_FIXTURE_CALLS: dict[str, set[str]] = {}


@pytest.fixture(autouse=True)
def _credit_session_fixtures(request: pytest.FixtureRequest) -> None:
    calls = mutmut_stats()
    if calls is not None:
        for name in request.fixturenames:
            calls |= SESSION_FIXTURE_CALLS.get(name, set())


@pytest.fixture(scope="session")
def circle():
    """The node-removal study of a 6-unit circle net (all 2^6 masks enumerated)."""
    return credited_study_report("circle", SMALL_NODE_REMOVAL)


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A fresh embedded MLflow store (SQLite + local artifacts) in a temporary folder (made
    here: toynets never creates a store's folder outside the working folder by itself)."""
    (tmp_path / "mlruns").mkdir(exist_ok=True)
    return f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


TOYNETS = Path(sys.executable).parent / "toynets"  # the console script of this interpreter


def user_env(env: dict[str, str | None] | None = None) -> dict[str, str]:
    """The environment a user's shell would give toynets: this one without the variables the
    test run sets for itself (TF's log level, a store), plus `env` (None removes a variable)."""
    full = dict(os.environ)
    for name in ("MLFLOW_TRACKING_URI", "TF_CPP_MIN_LOG_LEVEL", "TOYNETS_VERBOSE"):
        full.pop(name, None)
    for name, value in (env or {}).items():
        if value is None:
            full.pop(name, None)
        else:
            full[name] = value
    return full


def run_cli(
    *args: str, cwd: Path, env: dict[str, str | None] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """`toynets ARGS` as a user runs it (same interpreter), in folder `cwd` (made if missing)."""
    cwd.mkdir(parents=True, exist_ok=True)
    command = [str(TOYNETS)] if TOYNETS.exists() else [sys.executable, "-m", "toynets.app"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=user_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class DefaultRun:
    """The README's main command, run once in an empty folder (embedded default store)."""

    folder: Path
    uri: str
    result: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> DefaultRun:
    """`toynets` (the §1 circle net taken apart) as a user runs it; shorter training keeps the
    test quick."""
    folder = tmp_path_factory.mktemp("user")
    result = run_cli("train.epochs=8", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (folder / "mlruns" / "mlflow.db").exists()
    return DefaultRun(folder, f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}", result)


def missing(what: str) -> None:
    """Skip a test for lack of a program or service, or fail it where the set-up promised to
    install it (TOYNETS_REQUIRE_SERVICES=1: CI and the README's test command)."""
    if os.environ.get("TOYNETS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what}; .ci/install-services should have installed it")
    pytest.skip(what)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",  # this machine has no network beyond loopback
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """Debian's headless Chromium, launched once through Playwright (which downloads
    nothing: `executable_path` points at Debian's build). Each `new_context()` of it is a
    fresh browser profile: no cookies, no localStorage."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing (apt-get install chromium; see .ci/install-services)")
    driver = sync_playwright().start()
    try:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()
    finally:
        driver.stop()


# ---- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(chromium) -> Iterator:
    """A fresh browser profile (Debian's headless Chromium) for the module."""
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    try:
        context.set_default_timeout(10_000)
        context.set_default_navigation_timeout(15_000)
        yield context
    finally:
        context.close()


@dataclass
class Opened:
    page: object
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def value(self, selector: str) -> float:
        return float(self.page.get_attribute(selector, "data-value"))

    def canvas(self) -> str:
        return self.page.evaluate("document.getElementById('map').toDataURL()")

    def mask(self) -> np.ndarray:
        return np.array(self.page.evaluate("window.toynets.mask()"))


@pytest.fixture
def open_page(browser) -> Iterator:
    pages = []

    def opener(url: str, explorer: bool = True, viewport: tuple[int, int] | None = None) -> Opened:
        page = browser.new_page()
        pages.append(page)
        if viewport:
            page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
        opened = Opened(page)
        page.on("console", lambda m: m.type == "error" and opened.errors.append(m.text))
        page.on("pageerror", lambda e: opened.errors.append(str(e)))
        page.on("request", lambda r: opened.requests.append(r.url))
        page.goto(url, timeout=15_000)
        if explorer:  # the page sets data-ready once drawn
            page.wait_for_selector("html[data-ready]", state="attached", timeout=10_000)
        return opened

    yield opener
    for page in pages:
        page.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """`folder` served over HTTP on a free local port: yields the base URL."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def artifact_viewer(page: str) -> str:
    """A page that shows `page` as MLflow's artifact viewer shows an HTML artifact: fetched,
    then as a blob URL in <iframe sandbox="allow-scripts"> (an opaque origin, no storage, no
    navigation)."""
    return f"""<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>
<iframe id="artifact" sandbox="allow-scripts" style="width:1000px;height:800px;border:0"></iframe>
<script>
fetch("{page}").then(r => r.text()).then(t => {{
  const blob = new Blob([t], {{type: "text/html"}});
  document.getElementById("artifact").src = URL.createObjectURL(blob);
}});
</script></body></html>"""
