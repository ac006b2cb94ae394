"""The node-removal explorer page (toynets.explorer) in a real headless Chromium.

Debian's /usr/bin/chromium driven by Playwright (`pip install playwright`; no browser download:
`executable_path` points at Debian's build). The page's numbers are checked against an
independent NumPy computation of the masked loss and accuracy, written here.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from toynets.explorer import node_removal_html
from toynets.net import Layer, Net

TOL = 1e-4
BOX = (-2.0, 2.0, -2.0, 2.0)


# ---- nets, data and the NumPy reference ---------------------------------------------------------


@dataclass(frozen=True)
class Case:
    net: Net
    x: np.ndarray
    y: np.ndarray
    shapley: np.ndarray | None = None

    @property
    def n_units(self) -> int:
        return sum(self.net.hidden_sizes)


def _layer(rng: np.random.Generator, fan_in: int, fan_out: int, act: str, dtype, scale=1.5):
    W = (rng.normal(size=(fan_in, fan_out)) * scale / np.sqrt(fan_in)).astype(dtype)
    return Layer(W, (rng.normal(size=fan_out) * 0.5).astype(dtype), act)


def _case(name: str) -> Case:
    rng = np.random.default_rng(sum(map(ord, name)))
    x = rng.uniform(-1, 1, (300, 2)).astype(np.float32)
    inside = (x**2).sum(1) <= 2 / np.pi
    if name == "softmax":  # the §1 shape: 2 -> 20 relu -> 2 softmax
        net = Net(
            (_layer(rng, 2, 20, "relu", np.float32), _layer(rng, 20, 2, "softmax", np.float32))
        )
        return Case(net, x, (~inside).astype(np.int64), rng.normal(scale=0.05, size=20))
    if name == "deep":  # 3 features (the third held at its mean on the map), two hidden layers
        x = rng.normal(size=(250, 3)).astype(np.float32)
        layers = (
            _layer(rng, 3, 6, "tanh", np.float64),
            _layer(rng, 6, 5, "relu", np.float64),
            _layer(rng, 5, 3, "softmax", np.float64),
        )
        y = np.digitize(x[:, 0] + 0.5 * x[:, 1] * x[:, 2], [-0.5, 0.5])
        return Case(Net(layers), x, y.astype(np.int32), rng.normal(scale=0.05, size=11))
    if name == "sigmoid":
        net = Net(
            (_layer(rng, 2, 8, "sigmoid", np.float32), _layer(rng, 8, 1, "sigmoid", np.float32))
        )
        return Case(net, x, inside.astype(np.int64))
    if name == "linear":
        net = Net(
            (_layer(rng, 2, 10, "relu", np.float32), _layer(rng, 10, 1, "linear", np.float32))
        )
        return Case(net, x, (x[:, 0] * x[:, 1]).astype(np.float32), rng.normal(size=10))
    raise ValueError(name)


def reference(case: Case, mask: np.ndarray) -> tuple[float, float]:
    """Mean test loss and accuracy (NaN for regression) of the masked net, in NumPy float64."""
    functions = {
        "relu": lambda z: np.maximum(z, 0.0),
        "tanh": np.tanh,
        "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
        "linear": lambda z: z,
    }
    a, start = np.asarray(case.x, np.float64), 0
    for layer in case.net.layers[:-1]:
        width = layer.W.shape[1]
        z = a @ layer.W.astype(np.float64) + layer.b.astype(np.float64)
        a = functions[layer.activation](z) * np.asarray(mask[start : start + width], np.float64)
        start += width
    out = case.net.layers[-1]
    z = a @ out.W.astype(np.float64) + out.b.astype(np.float64)
    y = case.y
    if out.activation == "softmax":
        top = z.max(1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(z - top).sum(1))
        loss = lse - z[np.arange(len(z)), y]
        return float(loss.mean()), float((z.argmax(1) == y).mean())
    z = z[:, 0]
    if out.activation == "sigmoid":
        yf = y.astype(np.float64)
        loss = np.maximum(z, 0) - z * yf + np.log1p(np.exp(-np.abs(z)))
        return float(loss.mean()), float(((z > 0).astype(int) == y).mean())
    return float(((z - y.astype(np.float64)) ** 2).mean()), float("nan")


def _write(case: Case, folder: Path, name: str = "node_removal.html") -> Path:
    angle = np.linspace(0, 2 * np.pi, 100)
    circle = np.sqrt(2 / np.pi) * np.stack([np.cos(angle), np.sin(angle)], 1)
    path = folder / name
    html = node_removal_html(
        case.net, case.x, case.y, BOX, case.shapley, title="test net", truth_boundary=[circle]
    )
    path.write_text(html, encoding="utf-8")
    return path


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

    def opener(url: str, explorer: bool = True) -> Opened:
        page = browser.new_page()
        pages.append(page)
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


def _check_readouts(opened: Opened, case: Case, mask: np.ndarray) -> None:
    loss, accuracy = reference(case, mask)
    assert opened.value("#loss") == pytest.approx(loss, abs=TOL)
    assert opened.page.evaluate("window.toynets.loss()") == pytest.approx(loss, abs=TOL)
    shown = opened.page.inner_text("#loss")
    assert len(re.sub(r"[^0-9]", "", shown).lstrip("0")) >= 6, shown  # 6 significant digits
    assert float(shown) == pytest.approx(loss, rel=1e-5)
    if np.isnan(accuracy):
        assert np.isnan(opened.value("#accuracy"))
    else:
        assert opened.value("#accuracy") == pytest.approx(accuracy, abs=1e-12)
        assert opened.page.evaluate("window.toynets.accuracy()") == pytest.approx(accuracy)
    assert opened.value("#units-on") == int((mask != 0).sum())


# ---- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["softmax", "deep", "sigmoid", "linear"])
def test_page_matches_numpy(name: str, tmp_path: Path, open_page) -> None:
    case = _case(name)
    path = _write(case, tmp_path)
    opened = open_page(path.as_uri())
    n = case.n_units
    _check_readouts(opened, case, np.ones(n))

    # Click the unit whose removal changes the loss most: the map changes, the loss follows.
    effects = [
        abs(reference(case, 1 - np.eye(n)[i])[0] - reference(case, np.ones(n))[0]) for i in range(n)
    ]
    unit = int(np.argmax(effects))
    before = opened.canvas()
    opened.page.click(f"#unit-{unit}")
    assert opened.page.get_attribute(f"#unit-{unit}", "aria-pressed") == "false"
    assert opened.canvas() != before
    mask = np.ones(n)
    mask[unit] = 0
    np.testing.assert_array_equal(opened.mask(), mask)
    _check_readouts(opened, case, mask)
    opened.page.click(f"#unit-{unit}")
    assert opened.canvas() == before  # back on: the same picture
    _check_readouts(opened, case, np.ones(n))

    rng = np.random.default_rng(5)
    for _ in range(4):
        mask = (rng.random(n) < 0.5).astype(float)
        opened.page.evaluate("m => window.toynets.setMask(m)", mask.tolist())
        _check_readouts(opened, case, mask)

    assert not opened.errors
    assert set(opened.requests) == {path.as_uri()}  # the file itself and nothing else


def test_buttons_and_labels(tmp_path: Path, open_page) -> None:
    case = _case("deep")
    opened = open_page(_write(case, tmp_path).as_uri())
    n = case.n_units
    assert opened.page.inner_text("#unit-0") == "0:0"
    assert opened.page.inner_text(f"#unit-{n - 1}") == "1:4"  # flat index 10 = layer 1, unit 4
    assert "x₃ held at its test-set mean" in opened.page.inner_text("#map-caption")
    opened.page.click("#all-off")
    np.testing.assert_array_equal(opened.mask(), np.zeros(n))
    _check_readouts(opened, case, np.zeros(n))
    opened.page.click("#unit-7")
    opened.page.click("#invert")
    expected = np.ones(n)
    expected[7] = 0
    np.testing.assert_array_equal(opened.mask(), expected)
    _check_readouts(opened, case, expected)
    opened.page.click("#random")
    mask = opened.mask()
    assert set(mask.tolist()) <= {0.0, 1.0}
    _check_readouts(opened, case, mask)
    opened.page.click("#all-on")
    _check_readouts(opened, case, np.ones(n))
    with pytest.raises(Exception, match="setMask needs 11 values"):
        opened.page.evaluate("window.toynets.setMask([1, 0])")
    assert not opened.errors


def test_shapley_ranking(tmp_path: Path, open_page) -> None:
    case = _case("softmax")
    opened = open_page(_write(case, tmp_path).as_uri())
    rows = opened.page.eval_on_selector_all(
        "#shapley tbody tr", "rows => rows.map(r => [r.id, Number(r.dataset.value)])"
    )
    values = [v for _, v in rows]
    assert len(rows) == case.n_units
    assert values == sorted(values)  # most negative (removing it hurts most) first
    assert [r for r, _ in rows] == [f"shapley-row-{i}" for i in np.argsort(case.shapley)]
    np.testing.assert_allclose(values, np.sort(case.shapley), rtol=0, atol=1e-15)

    unit = int(np.argsort(case.shapley)[3])
    opened.page.click(f"#shapley-row-{unit}")
    mask = np.ones(case.n_units)
    mask[unit] = 0
    np.testing.assert_array_equal(opened.mask(), mask)
    assert opened.page.get_attribute(f"#unit-{unit}", "aria-pressed") == "false"
    assert "off" in opened.page.get_attribute(f"#shapley-row-{unit}", "class")
    _check_readouts(opened, case, mask)
    opened.page.click(f"#shapley-row-{unit}")
    _check_readouts(opened, case, np.ones(case.n_units))

    no_ranking = Case(case.net, case.x, case.y, None)
    hidden = open_page(_write(no_ranking, tmp_path, "plain.html").as_uri())
    assert hidden.page.is_hidden("#shapley-card")
    assert not opened.errors and not hidden.errors


def test_redraw_is_fast(tmp_path: Path, open_page) -> None:
    """20 units, a 120 x 120 map: a toggle recomputes loss, accuracy and map well under 50 ms."""
    opened = open_page(_write(_case("softmax"), tmp_path).as_uri())
    per_toggle = opened.page.evaluate(
        """() => { const t = performance.now();
                   for (let k = 0; k < 40; k++) window.toynets.toggle(k % 20);
                   return (performance.now() - t) / 40; }"""
    )
    assert per_toggle < 50, f"{per_toggle:.1f} ms per toggle"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


# MLflow's artifact viewer fetches an HTML artifact and shows it as a blob URL in
# <iframe sandbox="allow-scripts">: an opaque origin, no storage, no navigation.
VIEWER = """<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>
<iframe id="artifact" sandbox="allow-scripts" style="width:1000px;height:800px;border:0"></iframe>
<script>
fetch("node_removal.html").then(r => r.text()).then(t => {
  document.getElementById("artifact").src = URL.createObjectURL(new Blob([t], {type: "text/html"}));
});
</script></body></html>"""


def test_served_over_http_and_in_a_sandboxed_iframe(tmp_path: Path, open_page) -> None:
    case = _case("softmax")
    _write(case, tmp_path)
    (tmp_path / "viewer.html").write_text(VIEWER)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(tmp_path))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        opened = open_page(f"{base}/node_removal.html")
        _check_readouts(opened, case, np.ones(case.n_units))
        opened.page.click("#unit-4")
        mask = np.ones(case.n_units)
        mask[4] = 0
        _check_readouts(opened, case, mask)
        assert not opened.errors
        assert set(opened.requests) == {f"{base}/node_removal.html"}

        viewer = open_page(f"{base}/viewer.html", explorer=False)
        frame = viewer.page.frame_locator("#artifact")
        frame.locator("html[data-ready]").wait_for(state="attached", timeout=10_000)
        loss = float(frame.locator("#loss").get_attribute("data-value"))
        assert loss == pytest.approx(reference(case, np.ones(case.n_units))[0], abs=TOL)
        frame.locator("#unit-4").click()
        loss = float(frame.locator("#loss").get_attribute("data-value"))
        assert loss == pytest.approx(reference(case, mask)[0], abs=TOL)
        assert not viewer.errors
        assert {u for u in viewer.requests if not u.startswith("blob:")} == {
            f"{base}/viewer.html",
            f"{base}/node_removal.html",
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ---- the document itself (no browser) -----------------------------------------------------------


def _payload(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="toynets-data">(.*?)</script>', html)
    return json.loads(found.group(1))


def test_document_is_self_contained_and_exact() -> None:
    case = _case("softmax")
    html = node_removal_html(case.net, case.x, case.y, BOX, case.shapley, title="<b>&</b>")
    assert "<title>&lt;b&gt;&amp;&lt;/b&gt;</title>" in html
    assert not re.search(r"https?://|<script[^>]*\bsrc=|<link[^>]*stylesheet|fetch\(|@import", html)
    data = _payload(html)
    assert data["title"] == "<b>&</b>"
    W = data["layers"][0]["W"]
    assert W["dtype"] == "f32" and W["shape"] == [2, 20]
    parsed = np.array(W["data"].split(","), dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(parsed, case.net.layers[0].W.ravel())  # float32 exactly
    deep = _case("deep")
    data = _payload(node_removal_html(deep.net, deep.x, deep.y, BOX))
    assert data["layers"][1]["W"]["dtype"] == "f64"
    parsed = np.array(data["layers"][1]["W"]["data"].split(","), dtype=np.float64)
    np.testing.assert_array_equal(parsed, deep.net.layers[1].W.ravel())
    np.testing.assert_allclose(
        np.array(data["rest"]["data"].split(","), float),
        deep.x[:, 2:].astype(np.float64).mean(0),
        rtol=1e-12,
    )
    assert data["labels"][:2] == ["0:0", "0:1"] and data["labels"][-1] == "1:4"


def test_rejects_what_it_cannot_show() -> None:
    case = _case("softmax")
    net, x, y = case.net, case.x, case.y
    with pytest.raises(ValueError, match="x_test must be"):
        node_removal_html(net, x[:, :1], y, BOX)
    with pytest.raises(ValueError, match="labels must lie in"):
        node_removal_html(net, x, y + 2, BOX)
    with pytest.raises(ValueError, match="one value per hidden unit"):
        node_removal_html(net, x, y, BOX, shapley=np.zeros(3))
    with pytest.raises(ValueError, match="box"):
        node_removal_html(net, x, y, (1.0, -1.0, 0.0, 1.0))
    bad = Net((Layer(net.layers[0].W * np.nan, net.layers[0].b, "relu"), net.layers[1]))
    with pytest.raises(ValueError, match="NaN"):
        node_removal_html(bad, x, y, BOX)
