"""The flow explorer page (toynets.explorer.flow_html) in a real headless Chromium: what it
shows for a point (every neuron's z and a, the output, the pattern, the affine map) equals the
independent NumPy reference (tests/flow_reference.py) to 1e-6, after a click, a drag, a preset
and a scripted move; its region count equals the brute-force count on the same grid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import flow_reference as ref
from conftest import artifact_viewer, served
from toynets.analysis.flow import colour_limits, layer_values
from toynets.explorer import flow_html
from toynets.net import Layer, Net

TOL = 1e-6
BOX = (-2.0, 2.0, -2.0, 2.0)
POINTS = {"centre": [0.0, 0.0], "NE": [1.0, 1.0], "N": [0.0, 2.0]}


def _net(name: str) -> Net:
    rng = np.random.default_rng(sum(map(ord, name)))

    def layer(fan_in, units, act, k=1, dtype=np.float32):
        W = rng.normal(size=(fan_in, units * k)) * 1.4 / np.sqrt(fan_in)
        return Layer(W.astype(dtype), (rng.normal(size=units * k) * 0.5).astype(dtype), act, k)

    if name == "relu":  # §4's shape: 2 -> 4 relu -> 1 linear
        return Net((layer(2, 4, "relu"), layer(4, 1, "linear")))
    if name == "deep":  # two relu layers, three classes
        return Net((layer(2, 6, "relu"), layer(6, 5, "relu"), layer(5, 3, "softmax")))
    if name == "sigmoid":  # smooth: tangent maps, no regions
        return Net((layer(2, 4, "sigmoid"), layer(4, 1, "linear")))
    if name == "maxout":  # a logit head
        return Net((layer(2, 3, "maxout", k=2), layer(3, 1, "sigmoid")))
    if name == "three_inputs":  # the third input held at rest = 0.4
        return Net((layer(3, 5, "relu", dtype=np.float64), layer(5, 1, "linear", dtype=np.float64)))
    raise ValueError(name)


REST = {"three_inputs": np.array([0.4])}


def _page(name: str, folder: Path, grid: int = 60) -> tuple[Net, Path]:
    net = _net(name)
    rest = REST.get(name, np.zeros(net.n_inputs - 2))
    x = np.random.default_rng(0).uniform(-2, 2, (200, net.n_inputs))
    columns = [x] + [v for pair in layer_values(net, x) for v in (pair.z, pair.a)]
    html = flow_html(
        net,
        POINTS,
        BOX,
        colour_limits(columns, "layer"),
        rest=rest,
        x_data=x,
        grid=grid,
        thumb=10,
        title=f"flow {name}",
    )
    path = folder / "flow.html"
    path.write_text(html, encoding="utf-8")
    return net, path


def _layers(net: Net) -> list[tuple]:
    return [(layer.W, layer.b, layer.activation, layer.k) for layer in net.layers]


def _input(net: Net, name: str, point) -> np.ndarray:
    return np.concatenate([point, REST.get(name, np.zeros(net.n_inputs - 2))])[None, :]


def _check_point(opened, net: Net, name: str) -> None:
    """Everything the page shows for its current point against the reference."""
    page = opened.page
    point = np.array(page.evaluate("window.toynets.point()"))
    assert opened.value("#x1") == pytest.approx(point[0], abs=1e-12)
    assert opened.value("#x2") == pytest.approx(point[1], abs=1e-12)
    x = _input(net, name, point)
    values = ref.forward_values(_layers(net), x)
    for i in range(net.n_inputs):
        assert float(page.get_attribute(f"#input-{i}", "data-value")) == pytest.approx(
            x[0, i], abs=TOL
        )
    for layer, ((z, a), spec) in enumerate(zip(values, net.layers, strict=True)):
        z_unit = z[0].reshape(-1, spec.k).max(axis=1)  # maxout: the winning column
        for unit in range(len(a[0])):
            selector = f"#neuron-{layer}-{unit}"
            assert float(page.get_attribute(selector, "data-z")) == pytest.approx(
                z_unit[unit], abs=TOL
            )
            assert float(page.get_attribute(selector, "data-a")) == pytest.approx(
                a[0, unit], abs=TOL
            )
    shown = page.evaluate("window.toynets.values()")
    for (z, a), page_z, page_a in zip(values, shown["z"], shown["a"], strict=True):
        np.testing.assert_allclose(page_z, z[0], atol=TOL)
        np.testing.assert_allclose(page_a, a[0], atol=TOL)
    for k, value in enumerate(values[-1][1][0]):
        assert opened.value(f"#output-{k}") == pytest.approx(value, abs=TOL)
    # the affine map: the masked product for a relu net, finite differences otherwise
    affine = page.evaluate("window.toynets.affine()")
    A = np.array(affine["A"]).reshape(net.n_inputs, net.n_outputs)
    c = np.array(affine["c"])
    formula = page.query_selector("#formula")
    np.testing.assert_allclose(json.loads(formula.get_attribute("data-a")), A.ravel())
    np.testing.assert_allclose(json.loads(formula.get_attribute("data-c")), c)
    layers = _layers(net)
    if all(layer.activation == "relu" for layer in net.layers[:-1]):
        pattern = ref.relu_pattern(layers, x)[0]
        bounds = np.cumsum([0, *net.hidden_sizes])
        text = "|".join(
            "".join(str(int(b)) for b in pattern[bounds[i] : bounds[i + 1]])
            for i in range(len(net.hidden_sizes))
        )
        assert page.evaluate("window.toynets.pattern()") == text
        assert page.get_attribute("#pattern", "data-value") == text
        A_ref, c_ref = ref.affine_map_of_pattern(layers, pattern)
        np.testing.assert_allclose(A, A_ref, atol=TOL)
        np.testing.assert_allclose(c, c_ref, atol=TOL)
    else:
        A_ref, c_ref = ref.affine_map_by_differences(layers, x[0])
        np.testing.assert_allclose(A, A_ref, atol=1e-5)
        np.testing.assert_allclose(c, c_ref, atol=1e-5)
    z_out = values[-1][0][0]
    np.testing.assert_allclose(x[0] @ A + c, z_out, atol=TOL)


@pytest.mark.parametrize("name", ["relu", "deep", "sigmoid", "maxout", "three_inputs"])
def test_the_page_shows_numpys_values_for_any_point(name: str, tmp_path, open_page) -> None:
    net, path = _page(name, tmp_path)
    opened = open_page(path.as_uri())
    assert opened.page.evaluate("window.toynets.point()") == POINTS["centre"]
    _check_point(opened, net, name)
    rng = np.random.default_rng(3)
    for point in rng.uniform(-2, 2, (4, 2)).tolist():
        opened.page.evaluate("p => window.toynets.setPoint(p)", point)
        np.testing.assert_allclose(opened.page.evaluate("window.toynets.point()"), point)
        _check_point(opened, net, name)
    assert not opened.errors
    assert set(opened.requests) == {path.as_uri()}  # the file itself and nothing else


def _plot(opened) -> tuple[float, float, float, dict]:
    left, top, side = map(float, opened.page.get_attribute("#map", "data-plot").split())
    return left, top, side, opened.page.query_selector("#map").bounding_box()


def _pixel(opened, x1: float, x2: float) -> tuple[float, float]:
    left, top, side, rect = _plot(opened)
    return (
        rect["x"] + left + (x1 - BOX[0]) / (BOX[1] - BOX[0]) * side,
        rect["y"] + top + (BOX[3] - x2) / (BOX[3] - BOX[2]) * side,
    )


def test_click_drag_and_presets_move_the_point(tmp_path, open_page) -> None:
    net, path = _page("deep", tmp_path)
    opened = open_page(path.as_uri())
    page = opened.page
    _, _, side, _ = _plot(opened)
    step = (BOX[1] - BOX[0]) / side  # one CSS pixel in the plane
    # a click
    page.mouse.click(*_pixel(opened, 1.2, -0.7))
    np.testing.assert_allclose(page.evaluate("window.toynets.point()"), [1.2, -0.7], atol=step)
    _check_point(opened, net, "deep")
    # a drag: the point follows the pointer while the button is down, and stays after
    page.mouse.move(*_pixel(opened, -1.5, 1.5))
    page.mouse.down()
    page.mouse.move(*_pixel(opened, -0.5, 0.5), steps=5)
    np.testing.assert_allclose(page.evaluate("window.toynets.point()"), [-0.5, 0.5], atol=step)
    page.mouse.move(*_pixel(opened, 0.8, 1.1), steps=5)
    page.mouse.up()
    page.mouse.move(*_pixel(opened, -1.9, -1.9))  # a move without the button changes nothing
    np.testing.assert_allclose(page.evaluate("window.toynets.point()"), [0.8, 1.1], atol=step)
    _check_point(opened, net, "deep")
    # the presets
    for name, point in POINTS.items():
        page.click(f"#point-{name}")
        assert page.evaluate("window.toynets.point()") == point
        assert page.get_attribute(f"#point-{name}", "aria-pressed") == "true"
        _check_point(opened, net, "deep")
    assert not opened.errors


def test_the_region_count_is_the_patterns_on_the_grid(tmp_path, open_page) -> None:
    for name in ("relu", "deep"):
        net, path = _page(name, tmp_path, grid=60)
        opened = open_page(path.as_uri())
        assert opened.page.evaluate("window.toynets.regionCount()") == ref.grid_pattern_count(
            _layers(net), BOX, 60
        )
        # the point's share of the grid is its pattern's share
        g1, g2 = np.meshgrid(np.linspace(-2, 2, 60), np.linspace(-2, 2, 60))
        grid = np.column_stack([g1.ravel(), g2.ravel()])
        patterns = ref.relu_pattern(_layers(net), grid)
        own = ref.relu_pattern(_layers(net), np.array([[0.0, 0.0]]))[0]
        share = np.all(patterns == own, axis=1).mean()
        assert opened.page.evaluate("window.toynets.regionShare()") == pytest.approx(share)
        assert "region" in opened.page.inner_text("#region-info")
        assert not opened.errors


def test_a_smooth_net_says_it_has_no_regions(tmp_path, open_page) -> None:
    _, path = _page("sigmoid", tmp_path)
    opened = open_page(path.as_uri())
    page = opened.page
    assert page.is_hidden("#show-regions")
    assert "tangent map" in page.inner_text("#affine-title").lower()
    assert "no regions" in page.inner_text("#pattern")


def test_neuron_pictures(tmp_path, open_page) -> None:
    _, path = _page("deep", tmp_path)
    opened = open_page(path.as_uri())
    page = opened.page
    images = "[...document.querySelectorAll('#network image')]"
    assert page.evaluate(f"{images}.every(i => !i.getAttribute('href'))")  # drawn on demand
    page.click("#show-pictures")
    hrefs = page.evaluate(f"{images}.map(i => i.getAttribute('href'))")
    assert len(hrefs) == 2 + 6 + 5 + 3
    assert all(h.startswith("data:image/png;base64,") for h in hrefs)
    assert len(set(hrefs)) == len(hrefs)  # every neuron its own picture
    visible = page.evaluate(
        "[...document.querySelectorAll('.neuron > g')].map(g => g.getAttribute('visibility'))"
    )
    assert visible.count("visible") == 2 + 6 + 5 + 3
    assert not opened.errors


def test_the_map_shows_the_point_and_redraws_fast(tmp_path, open_page) -> None:
    _, path = _page("deep", tmp_path, grid=150)
    opened = open_page(path.as_uri())
    page = opened.page
    before = page.evaluate("document.getElementById('map').toDataURL()")
    page.evaluate("window.toynets.setPoint([1.5, -1.5])")
    assert page.evaluate("document.getElementById('map').toDataURL()") != before
    times = []
    for point in np.random.default_rng(1).uniform(-2, 2, (20, 2)).tolist():
        page.evaluate("p => window.toynets.setPoint(p)", point)
        times.append(page.evaluate("window.toynets.lastRenderMs()"))
    assert np.median(times) < 50  # a drag stays smooth
    assert not opened.errors


def test_rejects_what_it_cannot_show() -> None:
    net = _net("relu")
    limits = [(0.0, 1.0)] * 5
    with pytest.raises(ValueError, match="at least one point"):
        flow_html(net, {}, BOX, limits)
    with pytest.raises(ValueError, match="two finite numbers"):
        flow_html(net, {"a": [1.0, float("nan")]}, BOX, limits)
    with pytest.raises(ValueError, match="limits must be 5 increasing"):
        flow_html(net, POINTS, BOX, limits[:4])
    with pytest.raises(ValueError, match="box must be"):
        flow_html(net, POINTS, (1.0, 0.0, 0.0, 1.0), limits)
    with pytest.raises(ValueError, match="grid must be in"):
        flow_html(net, POINTS, BOX, limits, grid=1000)
    one_input = Net(
        (Layer(np.ones((1, 2)), np.zeros(2), "relu"), Layer(np.ones((2, 1)), np.zeros(1), "linear"))
    )
    with pytest.raises(ValueError, match="two input features"):
        flow_html(one_input, POINTS, BOX, limits)


def test_in_mlflows_sandboxed_artifact_viewer(tmp_path, open_page) -> None:
    """Served over HTTP and shown as MLflow shows an HTML artifact (a blob URL in a
    sandboxed iframe): it draws, the presets and a drag move the point, no request but its own."""
    net, _ = _page("deep", tmp_path)
    (tmp_path / "viewer.html").write_text(artifact_viewer("flow.html"))
    with served(tmp_path) as base:
        viewer = open_page(f"{base}/viewer.html", explorer=False)
        frame = viewer.page.frame_locator("#artifact")
        frame.locator("html[data-ready]").wait_for(state="attached", timeout=10_000)
        frame.locator("#point-NE").click()
        expected = ref.forward_values(_layers(net), np.array([[1.0, 1.0]]))[-1][1][0]
        for k, value in enumerate(expected):
            shown = float(frame.locator(f"#output-{k}").get_attribute("data-value"))
            assert shown == pytest.approx(value, abs=TOL)
        box = frame.locator("#map").bounding_box()
        left, top, side = map(float, frame.locator("#map").get_attribute("data-plot").split())
        start = (box["x"] + left + side * 0.25, box["y"] + top + side * 0.25)  # (-1, 1)
        end = (box["x"] + left + side * 0.75, box["y"] + top + side * 0.75)  # (1, -1)
        viewer.page.mouse.move(*start)
        viewer.page.mouse.down()
        viewer.page.mouse.move(*end, steps=4)
        viewer.page.mouse.up()
        x1 = float(frame.locator("#x1").get_attribute("data-value"))
        x2 = float(frame.locator("#x2").get_attribute("data-value"))
        assert (x1, x2) == pytest.approx((1.0, -1.0), abs=4 / side)
        expected = ref.forward_values(_layers(net), np.array([[x1, x2]]))[-1][1][0]
        shown = float(frame.locator("#output-0").get_attribute("data-value"))
        assert shown == pytest.approx(expected[0], abs=TOL)
        assert not viewer.errors
        requests = {u for u in viewer.requests if not u.startswith(("blob:", "data:"))}
        assert requests == {f"{base}/viewer.html", f"{base}/flow.html"}
