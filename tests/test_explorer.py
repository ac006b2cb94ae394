"""The node-removal explorer page (toynets.explorer) in a real headless Chromium.

Debian's /usr/bin/chromium driven by Playwright (`pip install playwright`; no browser download:
`executable_path` points at Debian's build). The page's numbers are checked against an
independent NumPy computation of the masked loss and accuracy, written here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import Opened, artifact_viewer, served
from toynets.explorer import node_removal_html, render_page
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
    if name == "wide":  # two hidden layers of 8 (labels 0:0 … 1:7), three classes
        x = rng.uniform(-2, 2, (400, 2)).astype(np.float32)
        layers = (
            _layer(rng, 2, 8, "tanh", np.float32),
            _layer(rng, 8, 8, "relu", np.float32),
            _layer(rng, 8, 3, "softmax", np.float32),
        )
        y = np.digitize(x[:, 0] + 0.5 * x[:, 1], [-0.7, 0.7])
        return Case(Net(layers), x, y, rng.normal(scale=0.05, size=16))
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


# ---- layout: what a person sees in the artifact viewer -------------------------------------------

BOXES = """() => {
  const box = (el) => { const r = el.getBoundingClientRect();
                        return [r.left, r.top, r.right, r.bottom]; };
  return { width: document.documentElement.clientWidth, height: window.innerHeight,
           scrollWidth: document.documentElement.scrollWidth,
           map: box(document.getElementById("map")), loss: box(document.getElementById("loss")),
           units: Array.from(document.querySelectorAll(".unit"), box),
           figure: box(document.getElementById("figure")),
           side: box(document.querySelector(".side")) };
}"""


def _outside(boxes: dict, name: str) -> list:
    """The boxes of `name` (one or a list) not fully inside the viewport."""
    found = boxes[name] if isinstance(boxes[name][0], list) else [boxes[name]]
    return [
        b
        for b in found
        if not (b[0] >= 0 and b[1] >= 0 and b[2] <= boxes["width"] and b[3] <= boxes["height"])
    ]


@pytest.mark.parametrize("width", [800, 1200, 1600])
@pytest.mark.parametrize("name", ["softmax", "wide"])
def test_map_and_units_side_by_side_in_view(name: str, width: int, tmp_path: Path, open_page):
    """The map, the loss and every unit button fit the window together, before and after a
    unit is toggled by a click (a click scrolls to its target only if it is out of view)."""
    case = _case(name)
    opened = open_page(_write(case, tmp_path).as_uri(), viewport=(width, 800))
    for step in ("load", "click"):
        if step == "click":
            last = case.n_units - 1
            opened.page.click(f"#unit-{last}")
            assert opened.page.get_attribute(f"#unit-{last}", "aria-pressed") == "false"
        boxes = opened.page.evaluate(BOXES)
        for what in ("map", "loss", "units"):
            assert not _outside(boxes, what), (step, what, boxes)
        assert min(b[0] for b in boxes["units"]) >= boxes["map"][2]  # beside the map
        assert boxes["scrollWidth"] <= boxes["width"]  # no sideways scrolling
        assert opened.page.evaluate("window.scrollY") == 0
    assert not opened.errors


def test_a_narrow_tall_viewer_keeps_the_map_in_view(tmp_path: Path, open_page) -> None:
    """514 px: MLflow's artifact viewer beside its assistant panel in a 1280 px window. The
    layout stacks, and the map stays in view while the unit buttons scroll under it."""
    case = _case("softmax")
    opened = open_page(_write(case, tmp_path).as_uri(), viewport=(514, 800))
    boxes = opened.page.evaluate(BOXES)
    assert boxes["side"][1] >= boxes["figure"][3]  # stacked
    opened.page.click("#unit-19")  # scrolls the page to the button, and toggles it
    np.testing.assert_array_equal(opened.mask(), np.r_[np.ones(19), 0])
    boxes = opened.page.evaluate(BOXES)
    assert opened.page.evaluate("window.scrollY") > 0
    assert not _outside(boxes, "map")
    button = boxes["units"][19]
    assert boxes["figure"][3] <= 0.7 * boxes["height"]  # room left for the controls
    assert boxes["figure"][3] <= button[1] < boxes["height"]  # not under the map, on screen
    opened.page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # the table's end
    boxes = opened.page.evaluate(BOXES)
    assert boxes["figure"][1] == 0 and not _outside(boxes, "map")  # stuck at the top
    assert not opened.errors


def test_a_phone_stacks_the_layout(tmp_path: Path, open_page) -> None:
    case = _case("softmax")
    opened = open_page(_write(case, tmp_path).as_uri(), viewport=(400, 800))
    boxes = opened.page.evaluate(BOXES)
    assert boxes["side"][1] >= boxes["figure"][3]  # the controls under the map
    assert not _outside(boxes, "map")
    assert boxes["scrollWidth"] <= boxes["width"]
    opened.page.click("#unit-19")  # scrolled into view, and toggled
    np.testing.assert_array_equal(opened.mask(), np.r_[np.ones(19), 0])
    assert not opened.errors


PLOT = """() => { const c = document.getElementById("map"), r = c.getBoundingClientRect();
  return { plot: c.dataset.plot.split(" ").map(Number), css: [r.width, r.height],
           pixels: [c.width, c.height], dpr: window.devicePixelRatio }; }"""


def test_the_map_is_square_and_drawn_at_the_screen_resolution(tmp_path: Path, chromium) -> None:
    path = _write(_case("softmax"), tmp_path)
    context = chromium.new_context(viewport={"width": 800, "height": 800}, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(path.as_uri())
        page.wait_for_selector("html[data-ready]", state="attached")
        shown = page.evaluate(PLOT)
    finally:
        context.close()
    left, top, side = shown["plot"]
    assert side >= 300  # not shrunk further than it must
    width, height = shown["css"]
    assert width - side - left == pytest.approx(10) and height - side - top == pytest.approx(34)
    assert shown["pixels"] == [round(2 * width), round(2 * height)] and shown["dpr"] == 2


@pytest.mark.parametrize("width", [400, 640, 800, 1200, 1600])
@pytest.mark.parametrize("name", ["softmax", "wide"])
def test_every_shapley_row_is_shown(name: str, width: int, tmp_path: Path, open_page) -> None:
    """All rows on the page (20 units of one layer; 16 of two, labelled layer:index), none
    behind a scroll bar of the table's own, none cut off at the side."""
    case = _case(name)
    opened = open_page(_write(case, tmp_path).as_uri(), viewport=(width, 800))
    shown = opened.page.evaluate(
        """() => { const wrap = document.getElementById("shapley-wrap");
          const w = wrap.getBoundingClientRect();
          return { scroll: [wrap.scrollHeight, wrap.clientHeight, wrap.scrollWidth,
                            wrap.clientWidth],
                   rows: Array.from(document.querySelectorAll("#shapley tbody tr"), (tr) => {
                     const r = tr.getBoundingClientRect();
                     return [tr.cells[1].textContent, r.height,
                             r.left >= w.left - 0.5 && r.right <= w.right + 0.5 &&
                             r.top >= w.top - 0.5 && r.bottom <= w.bottom + 0.5]; }) }; }"""
    )
    scroll_height, client_height, scroll_width, client_width = shown["scroll"]
    assert scroll_height <= client_height and scroll_width <= client_width
    assert len(shown["rows"]) == case.n_units
    assert all(height >= 14 and inside for _, height, inside in shown["rows"]), shown["rows"]
    labels = [label for label, _, _ in shown["rows"]]
    if name == "wide":
        assert sorted(labels) == sorted(f"{layer}:{j}" for layer in range(2) for j in range(8))
    else:
        assert sorted(labels, key=int) == [str(i) for i in range(20)]
    assert not opened.errors


# The brightest "least channel" and the darkest "largest channel" in a square of 2r + 1
# device pixels around (x1, x2): near 255 for white, near 0 for black.
EXTREMES = """([x1, x2, r, box]) => {
  const c = document.getElementById("map"), [l, t, s] = c.dataset.plot.split(" ").map(Number);
  const k = c.width / c.getBoundingClientRect().width;
  const cx = Math.round(k * (l + (x1 - box[0]) / (box[1] - box[0]) * s));
  const cy = Math.round(k * (t + (box[3] - x2) / (box[3] - box[2]) * s));
  const px = c.getContext("2d").getImageData(cx - r, cy - r, 2 * r + 1, 2 * r + 1).data;
  let light = 0, dark = 255;
  for (let q = 0; q < px.length; q += 4) {
    light = Math.max(light, Math.min(px[q], px[q + 1], px[q + 2]));
    dark = Math.min(dark, Math.max(px[q], px[q + 1], px[q + 2]));
  }
  return [light, dark]; }"""


def test_the_true_boundary_shows_on_both_ends_of_the_colormap(tmp_path: Path, open_page):
    """P(class 1) = sigmoid(6 x1): the circle's boundary crosses navy (x1 > 0) and yellow
    (x1 < 0). Along it lie white dashes and a black halo, on both sides; off it, and on the
    same map without a boundary, neither (viridis holds no white and no black)."""
    identity = Layer(np.eye(2, dtype=np.float32), np.zeros(2, np.float32), "linear")
    ramp = Layer(np.array([[6.0], [0.0]], np.float32), np.zeros(1, np.float32), "sigmoid")
    x = np.random.default_rng(1).uniform(-1, 1, (50, 2)).astype(np.float32)
    net, y = Net((identity, ramp)), (x[:, 0] > 0).astype(np.int64)
    radius = np.sqrt(2 / np.pi)
    angles = np.linspace(0, 2 * np.pi, 200)
    circle = np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1)
    on_it = [(radius * np.cos(a), radius * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 12)]
    off_it = [(-1.6, 0.0), (1.6, 0.0), (0.0, 0.0)]

    def extremes(opened: Opened, points: list, r: int = 4) -> list[tuple[int, int]]:
        return [opened.page.evaluate(EXTREMES, [x1, x2, r, list(BOX)]) for x1, x2 in points]

    for name, truth in (("with.html", [circle]), ("without.html", None)):
        path = tmp_path / name
        path.write_text(node_removal_html(net, x, y, BOX, truth_boundary=truth))
        opened = open_page(path.as_uri(), viewport=(1200, 800))
        opened.page.uncheck("#show-points")  # the dots have dark rims of their own
        (_, left), (_, right) = extremes(opened, off_it[:2], 1)
        assert left > 200 and right < 100  # yellow (bright) on the left, navy on the right
        for light, dark in extremes(opened, off_it + ([] if truth else on_it)):
            assert light < 230 and dark > 40, (name, light, dark)
        if truth:
            for (x1, x2), (light, dark) in zip(on_it, extremes(opened, on_it), strict=True):
                assert light >= 230 and dark <= 40, (x1, x2, light, dark)
        assert not opened.errors


def test_served_over_http_and_in_a_sandboxed_iframe(tmp_path: Path, open_page) -> None:
    case = _case("softmax")
    _write(case, tmp_path)
    (tmp_path / "viewer.html").write_text(artifact_viewer("node_removal.html"))
    with served(tmp_path) as base:
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


def test_data_cannot_end_its_script_element() -> None:
    case = _case("softmax")
    title = "</script><script>alert(1)</script><!--"
    html = node_removal_html(case.net, case.x, case.y, BOX, title=title)
    assert html.lower().count("</script") == 3  # the data, the shared helpers, the page's own
    assert "<!--" not in html and "{{" not in html  # every placeholder filled
    assert _payload(html)["title"] == title


def test_a_page_is_filled_in_one_pass(monkeypatch) -> None:
    files = {
        "page.html": "<title>{{title}}</title><style>{{ include a.css }}</style>{{data}}",
        "a.css": "p::after { content: '{{title}}' }",
        "bad.js": "let end = '</SCRIPT>';",
    }
    monkeypatch.setattr("toynets.explorer.asset", files.__getitem__)
    page = render_page("page.html", {"k": "</script>&"}, title="<&>")
    assert page == (
        "<title>&lt;&amp;&gt;</title><style>p::after { content: '{{title}}' }</style>"
        '{"k":"\\u003c/script\\u003e\\u0026"}'
    )
    with pytest.raises(ValueError, match="no value for"):
        render_page("page.html", {})
    files["page.html"] = "<script>{{include bad.js}}</script>"
    with pytest.raises(ValueError, match="cannot be inlined"):
        render_page("page.html", {})


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
