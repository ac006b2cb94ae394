"""The house style (`toynets.plots.style`) and the figures of the studies, read back from the
matplotlib objects the studies hand to tracking: labels, legends, colours, ranges, ticks."""

from __future__ import annotations

import io
import itertools

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from PIL import Image

from conftest import study_report
from toynets.net import unit_labels
from toynets.plots import node_removal as figures
from toynets.plots import style
from toynets.plots.maps import decision_figure
from toynets.report import figure_of


def drawn(fig: Figure) -> Figure:
    FigureCanvasAgg(fig).draw()
    return fig


def colorbars(fig: Figure) -> list:
    return [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def panels(fig: Figure) -> list:
    """The visible axes that are not colorbars."""
    return [ax for ax in fig.axes if ax.get_visible() and not hasattr(ax, "_colorbar")]


def legend_texts(fig: Figure) -> list[str]:
    legends = [*fig.legends, *(a for ax in fig.axes for a in ax.get_children())]
    out = []
    for legend in legends:
        if isinstance(legend, matplotlib.legend.Legend):
            out += [t.get_text() for t in legend.get_texts()]
    return out


# -- the style's pieces, against hand-computed cases ------------------------------------------


def test_smooth_is_the_binomial_kernel_along_both_axes() -> None:
    field = np.zeros((7, 7))
    field[3, 3] = 1.0
    kernel = np.array([1, 2, 1]) / 4
    once = np.zeros((7, 7))
    once[2:5, 2:5] = np.outer(kernel, kernel)
    np.testing.assert_allclose(style.smooth(field, passes=1), once)
    twice = np.convolve(kernel, kernel)  # [1, 4, 6, 4, 1] / 16
    expected = np.zeros((7, 7))
    expected[1:6, 1:6] = np.outer(twice, twice)
    np.testing.assert_allclose(style.smooth(field), expected)
    # Edges repeated: a constant field stays constant, a step keeps its ends.
    np.testing.assert_allclose(style.smooth(np.full((4, 5), 2.5)), 2.5)
    step = np.tile((np.arange(6) >= 3).astype(float), (3, 1))
    smoothed = style.smooth(step, passes=1)
    np.testing.assert_allclose(smoothed[:, 0], 0.0)
    np.testing.assert_allclose(smoothed[:, 2:4], [[0.25, 0.75]] * 3)


def test_smooth_repeats_the_edges_of_any_field() -> None:
    """Against np.pad(mode="edge") and np.convolve: an asymmetric field, bool input."""
    rng = np.random.default_rng(1)
    field = rng.random((5, 7))

    def reference(f: np.ndarray) -> np.ndarray:
        for axis in (0, 1):
            padded = np.pad(f, [(1, 1) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
            f = np.apply_along_axis(
                lambda v: np.convolve(v, [0.25, 0.5, 0.25], "valid"), axis, padded
            )
        return f

    np.testing.assert_allclose(style.smooth(field, passes=1), reference(field))
    np.testing.assert_allclose(style.smooth(field), reference(reference(field)))
    labels = field > 0.5
    np.testing.assert_allclose(style.smooth(labels), reference(reference(labels.astype(float))))


def test_touching_lists_neighbouring_label_pairs() -> None:
    labels = np.array(
        [
            [0, 0, 1, 1],
            [0, 0, 1, 1],
            [3, 3, 2, 2],
            [5, 3, 2, 2],
        ]
    )
    # 0|1 across a column, 0|3 and 1|2 across a row, 3|2 and 3|5 both ways; 0|2 only diagonal.
    assert style.touching(labels) == [(0, 1), (0, 3), (1, 2), (2, 3), (3, 5)]
    assert style.touching(np.zeros((3, 3), int)) == []


def test_boundary_follows_the_true_circle_between_grid_points() -> None:
    x = np.linspace(-1, 1, 101)
    g1, g2 = np.meshgrid(x, x)
    radius = np.sqrt(2 / np.pi)
    truth = (g1**2 + g2**2 > radius**2).astype(int)
    fig = Figure()
    ax = fig.subplots()
    lines = style.boundary(ax, x, x, truth)
    assert len(lines) == 1  # two classes: one pair, drawn once
    vertices = np.concatenate([p.vertices for p in lines[0].get_paths()])
    r = np.hypot(vertices[:, 0], vertices[:, 1])
    spacing = x[1] - x[0]
    assert np.abs(r - radius).max() < spacing / 2  # staircase edges would be ~spacing off
    assert lines[0].get_zorder() > 3  # above the points (zorder 3)


def test_boundary_draws_each_pair_of_touching_classes_once() -> None:
    x = np.linspace(-2, 2, 80)
    g1, g2 = np.meshgrid(x, x)
    quadrants = (np.arctan2(g2, g1) / np.pi + 1).clip(0, 1.999) * 2  # 0..3 around the origin
    truth = quadrants.astype(int)
    ax = Figure().subplots()
    lines = style.boundary(ax, x, x, truth)
    # 0|1, 1|2, 2|3, 3|0 touch along the axes; 0|2 and 1|3 only meet at the origin.
    assert len(lines) == 4
    for line in lines:
        vertices = np.concatenate([p.vertices for p in line.get_paths()])
        on_an_axis = np.minimum(np.abs(vertices[:, 0]), np.abs(vertices[:, 1]))
        assert on_an_axis.max() < (x[1] - x[0])


def test_density_range_keeps_every_tail() -> None:
    grid = np.linspace(-5, 5, 1001)
    narrow = np.exp(-0.5 * (grid / 0.1) ** 2)
    shifted = np.exp(-0.5 * ((grid - 2) / 0.5) ** 2)
    lo, hi = style.density_range(grid, [narrow, shifted], floor=1e-3)
    # exp(-z^2 / 2) = 1e-3 at z = 3.717: narrow ends at -0.372, shifted at 2 + 1.859.
    assert lo == pytest.approx(-0.3717, abs=0.011)
    assert hi == pytest.approx(3.859, abs=0.011)
    assert style.density_range(grid, [np.zeros_like(grid)]) == (-5.0, 5.0)
    # The default floor, 0.2 % of each curve's own peak: exp(-z^2 / 2) = 2e-3 at z = 3.526.
    lo, hi = style.density_range(grid, [5.0 * narrow, np.array([])])
    assert lo == pytest.approx(-0.3526, abs=0.011) and hi == pytest.approx(0.3526, abs=0.011)
    # One grid point past the last one above the floor, clipped to the grid.
    small = np.arange(10.0)
    curve = np.array([0, 0, 0, 1, 5, 10, 5, 1, 0, 0.0])
    assert style.density_range(small, [curve], floor=0.15) == (3.0, 7.0)
    assert style.density_range(small, [curve[::-1] + curve], floor=0.15) == (2.0, 7.0)
    edges = np.array([10, 5, 0, 0, 0, 0, 0, 0, 0, 4.0])
    assert style.density_range(small, [edges], floor=0.3) == (0.0, 9.0)


def test_density_grid_reaches_past_every_kernel() -> None:
    from toynets.analysis import node_removal as nr  # imports TensorFlow

    samples = np.array([0.3, -1.2, 2.0, np.nan])
    grid = nr.density_grid(samples, 0.05)
    assert grid[0] == pytest.approx(-1.2 - 0.2) and grid[-1] == pytest.approx(2.0 + 0.2)
    assert np.diff(grid).max() <= 0.05 / 4 + 1e-12
    density = nr.gaussian_smoothed_pdf(samples[:3], grid, 0.05)
    peak = density.max()
    assert density[0] < 4e-4 * peak and density[-1] < 4e-4 * peak
    assert len(nr.density_grid(np.array([0.0]), 1e-6, reach=4)) >= 101
    # (10 + 8 x 0.1) / (0.1 / 4) intervals, one more point
    np.testing.assert_allclose(
        nr.density_grid(np.array([0.0, 10.0]), 0.1), np.linspace(-0.4, 10.4, 433)
    )
    np.testing.assert_allclose(
        nr.density_grid(np.array([np.nan]), 0.1), np.linspace(-0.4, 0.4, 101)
    )
    assert len(nr.density_grid(np.array([0.0, 1e6]), 1e-3)) == 4000


def test_point_size_shrinks_and_fades_with_more_points() -> None:
    sizes = [style.point_size(n) for n in (10, 100, 200, 500, 1000, 5000)]
    assert sizes[0] == (16.0, 0.9) and sizes[-1] == (5.0, 0.6)
    assert style.point_size(400) == pytest.approx((3200 / 400, 1 - 400 / 2500), abs=1e-12)
    assert all(a[0] >= b[0] and a[1] >= b[1] for a, b in itertools.pairwise(sizes))


def test_unit_labels() -> None:
    assert unit_labels([3]) == ["0", "1", "2"]
    assert unit_labels([2, 3]) == ["0:0", "0:1", "1:0", "1:1", "1:2"]


def test_save_png_is_crisp_and_bounded() -> None:
    for width, expected in ((6.0, 1200), (7.5, 1500), (12.0, 2000)):
        fig = Figure(figsize=(width, 3))
        fig.subplots().plot([0, 1], [0, 1])
        buffer = io.BytesIO()
        style.save_png(fig, buffer)
        assert Image.open(io.BytesIO(buffer.getvalue())).size[0] == expected


def test_house_style_leaves_the_callers_settings_alone() -> None:
    before = matplotlib.rcParams["font.size"], matplotlib.rcParams["axes.prop_cycle"]
    fig = figures.pdfs(np.linspace(0, 1, 11), {"a": np.ones(11)}, "x")
    assert (matplotlib.rcParams["font.size"], matplotlib.rcParams["axes.prop_cycle"]) == before
    ax = panels(fig)[0]
    assert ax.xaxis.label.get_fontsize() == style.FONT
    assert all(t.get_fontsize() == style.SMALL for t in drawn(fig).axes[0].get_xticklabels())


# -- the study's figures ----------------------------------------------------------------------


def test_every_figure_labels_its_axes_and_colorbars(circle) -> None:
    _, report = circle
    for name, item in report.figures.items():
        fig = drawn(figure_of(item))
        for bar in colorbars(fig):
            assert bar.ax.get_ylabel() or bar.ax.get_xlabel(), f"{name}: colorbar unlabelled"
        for ax in panels(fig):
            ticks_x = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
            ticks_y = [t for t in ax.get_yticklabels() if t.get_visible() and t.get_text()]
            # a label of its own, or one for the whole figure (panels with their own ranges)
            x_label = ax.get_xlabel() or (fig._supxlabel and fig._supxlabel.get_text())
            y_label = ax.get_ylabel() or (fig._supylabel and fig._supylabel.get_text())
            assert not ticks_x or x_label, f"{name}: x ticks without a label"
            assert not ticks_y or y_label, f"{name}: y ticks without a label"
            assert ax.get_title() or fig.get_suptitle(), f"{name}: panel without a title"


def test_removal_maps_name_the_removed_units(circle) -> None:
    _, report = circle
    single = [ax.get_title() for ax in panels(report.figures["removal_single"])]
    assert single == ["all units"] + [f"without {i}" for i in range(6)]
    subsets = [ax.get_title() for ax in panels(report.figures["removal_subsets"])]
    assert subsets[:2] == ["without 0", "without 1, 2"]
    # The random half-removals: three distinct units each, named.
    for title in subsets[2:]:
        units = [int(u) for u in title.removeprefix("without ").replace("\n", " ").split(", ")]
        assert len(set(units)) == 3 and all(0 <= u < 6 for u in units)


def test_maps_show_the_data_box_with_the_boundary_above_the_points(circle) -> None:
    _, report = circle
    ax = panels(figure_of(report.figures["decision_map"]))[0]
    assert ax.get_xlim() == (-1.0, 1.0) and ax.get_ylim() == (-1.0, 1.0)
    from matplotlib.collections import PathCollection
    from matplotlib.contour import ContourSet

    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert {p.get_label() for p in points} == {"class 0", "class 1"}
    assert {to_hex(p.get_facecolor()[0], keep_alpha=False) for p in points} == set(
        style.CLASS_COLOURS[:2]
    )
    assert contours and min(c.get_zorder() for c in contours) > max(p.get_zorder() for p in points)
    assert "true boundary" in legend_texts(figure_of(report.figures["decision_map"]))


def test_box_zoom_widens_the_maps() -> None:
    _, report = study_report(["study=train", "train.epochs=1", "study.grid=20", "study.box_zoom=2"])
    ax = panels(figure_of(report.figures["decision_map"]))[0]
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-2.0, 2.0)


def test_densities_cut_no_tail(circle) -> None:
    _, report = circle
    for name in ("loss_pdf", "log_loss_pdf", "grad_pdf", "log_grad_pdf", "grad_on_off"):
        ax = panels(report.figures[name])[0]
        lo, hi = ax.get_xlim()
        for line in ax.get_lines():
            x, y = (np.asarray(v, float) for v in line.get_data())
            if len(x) < 50:  # the vertical line of the full net
                continue
            inside = (x >= lo) & (x <= hi)
            assert y[inside][[0, -1]].max() < 0.01 * y.max(), (name, line.get_label())
    for ax in panels(report.figures["grad_per_unit"]):
        lo, hi = ax.get_xlim()
        for line in ax.get_lines()[:2]:
            x, y = (np.asarray(v, float) for v in line.get_data())
            inside = (x >= lo) & (x <= hi)
            assert y[inside][[0, -1]].max() < 0.01 * y.max()


def test_per_unit_panels_have_their_own_ranges(circle) -> None:
    """§1's remark on neuron 11 needs each unit's densities on its own axes: each panel's
    x-range is where its own curves are above 0.2 % of their peak, its y-range its own peak."""
    _, report = circle
    ranges = []
    for ax in panels(report.figures["grad_per_unit"]):
        curves = [np.asarray(line.get_ydata(), float) for line in ax.get_lines()[:2]]
        x = np.asarray(ax.get_lines()[0].get_xdata(), float)
        above = np.flatnonzero(np.any([c > 2e-3 * c.max() for c in curves], axis=0))
        lo, hi = ax.get_xlim()
        assert x[max(above[0] - 1, 0)] == pytest.approx(lo)
        assert x[min(above[-1] + 1, len(x) - 1)] == pytest.approx(hi)
        assert ax.get_ylim() == pytest.approx((0.0, 1.05 * max(c.max() for c in curves)))
        assert ax.xaxis.get_ticklocs().size >= 2  # every panel reads on its own
        ranges.append((lo, hi))
    assert len(set(ranges)) > 1


def test_on_and_off_share_one_palette(circle) -> None:
    _, report = circle
    for name in ("grad_on_off", "grad_per_unit"):
        fig = report.figures[name]
        lines = [line for ax in panels(fig) for line in ax.get_lines() if line.get_label()]
        colours = {line.get_label(): to_hex(line.get_color()) for line in lines}
        assert colours["unit on"] == style.ON and colours["unit off"] == style.OFF, name


def test_density_legends_explain_the_line_styles(circle) -> None:
    _, report = circle
    texts = legend_texts(report.figures["loss_pdf"])
    assert "Monte Carlo, 300 masks per p" in texts and "exact" in texts
    assert {"p = 0.3", "p = 0.5", "p = 0.8"} <= set(texts)
    assert "fitted normal" in legend_texts(report.figures["log_loss_pdf"])


def test_path_covariance_ticks_whole_flips(circle) -> None:
    _, report = circle
    for ax in panels(drawn(report.figures["path_covariance"])):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= max(ax.get_xlim())]
        assert ticks and all(float(t).is_integer() for t in ticks)
    left = panels(report.figures["path_covariance"])[0]
    assert left.get_xlim() == (-0.5, 6.5)  # 7 masks on a path of a 6-unit net


def test_shapley_bars_per_layer() -> None:
    values = {"Shapley value": np.arange(5.0) - 2, "Banzhaf value": np.ones(5)}
    fig = drawn(figures.unit_values(values, "t", "value", hidden_sizes=[2, 3]))
    ax = panels(fig)[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0:0", "0:1", "1:0", "1:1", "1:2"]
    assert ax.get_ylabel() == "value"
    assert "hidden layer 0" in [t.get_text() for t in ax.texts]
    assert legend_texts(fig) == ["Shapley value", "Banzhaf value"]
    heights = [p.get_height() for p in ax.patches[:5]]
    assert heights == [-2.0, -1.0, 0.0, 1.0, 2.0]


def test_multiclass_decision_map_uses_the_class_palette() -> None:
    x = np.linspace(-1, 1, 30)
    probability = np.zeros((30, 30, 3))
    probability[:, :10, 0] = probability[:, 10:20, 1] = probability[:, 20:, 2] = 1.0
    points = np.array([[-0.9, 0.0], [0.0, 0.0], [0.9, 0.0]])
    fig = decision_figure(x, x, probability, points, np.array([0, 1, 2]), None)
    ax = panels(fig)[0]
    image = ax.get_images()[0]
    rgba = image.cmap(image.norm(np.array([0, 1, 2])))
    assert [to_hex(c, keep_alpha=False) for c in rgba] == list(style.CLASS_COLOURS[:3])
    bar = colorbars(fig)[0]
    assert list(bar.get_ticks()) == [0, 1, 2]


# -- the study's numbers behind the density figures, from the definitions ---------------------


def test_on_off_split_from_the_definition(circle) -> None:
    """At p = 0.5: d log loss / d m_i = (d loss / d m_i) / loss, pooled over the masks and
    units where unit i is on (off); the table, the metrics and the two curves agree."""
    _, report = circle
    mc = report.arrays["node_removal_mc"]
    pick = mc["p"] == np.float32(0.5)
    log_grad = mc["grad"][pick] / mc["loss"][pick][:, None]
    masks = mc["masks"][pick]
    table = report.tables["node_removal_on_off"]
    assert list(table["unit_state"]) == ["on", "off"]
    for k, state in enumerate(("on", "off")):
        values = log_grad[masks == (1 if state == "on" else 0)]
        assert table["mean_log_grad"][k] == pytest.approx(values.mean(), rel=1e-6)
        assert table["std_log_grad"][k] == pytest.approx(values.std(), rel=1e-6)
        assert report.metrics[f"node_removal/p0.5/log_grad_{state}_mean"] == pytest.approx(
            values.mean(), rel=1e-6
        )
        assert report.metrics[f"node_removal/p0.5/log_grad_{state}_std"] == pytest.approx(
            values.std(), rel=1e-6
        )
    ax = panels(report.figures["grad_on_off"])[0]
    curves = {line.get_label(): line for line in ax.get_lines()}
    x = np.asarray(curves["unit on"].get_xdata(), float)
    on = log_grad[masks == 1]
    expected = np.exp(-0.5 * ((x[:, None] - on[None]) / 0.03) ** 2).sum(1)
    expected /= len(on) * 0.03 * np.sqrt(2 * np.pi)
    np.testing.assert_allclose(curves["unit on"].get_ydata(), expected, atol=3e-4 * expected.max())
    fig = report.figures["grad_per_unit"]
    assert fig._supxlabel.get_text() == "d log loss / d $m_i$"
    for i, ax in enumerate(panels(fig)):
        for line, state in zip(ax.get_lines()[:2], (1, 0), strict=True):
            x = np.asarray(line.get_xdata(), float)[::5]
            values = log_grad[masks[:, i] == state, i]
            expected = np.exp(-0.5 * ((x[:, None] - values[None]) / 0.03) ** 2).sum(1)
            expected /= len(values) * 0.03 * np.sqrt(2 * np.pi)
            np.testing.assert_allclose(np.asarray(line.get_ydata())[::5], expected, atol=1e-6)


def test_fitted_normals_have_the_sample_moments(circle) -> None:
    """The dotted curves of log_loss_pdf and grad_pdf: N(mean, std^2) of the sample at each p."""
    _, report = circle
    mc = report.arrays["node_removal_mc"]
    samples = {"log_loss_pdf": np.log(mc["loss"]), "grad_pdf": mc["grad"]}
    for name, values in samples.items():
        ax = panels(report.figures[name])[0]
        dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert len(dotted) == 3
        for line, p in zip(dotted, (0.3, 0.5, 0.8), strict=True):
            sample = values[mc["p"] == np.float32(p)].ravel()
            x = np.asarray(line.get_xdata(), float)
            mu, sigma = sample.mean(), sample.std()
            normal = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
            np.testing.assert_allclose(line.get_ydata(), normal, rtol=1e-5, atol=1e-12)


def test_normal_reach_is_four_stds_each_side() -> None:
    from toynets.studies.node_removal import normal_reach

    values = np.array([0.0, 2.0, 10.0, 10.0, 7.0])
    p_of = np.array([0.25, 0.25, 0.5, 0.5, 0.75], np.float32)
    # p = 0.25: mean 1, std 1; p = 0.5: mean 10, std 0; p = 0.75: one value, 7.
    assert list(normal_reach(values, p_of, [0.25, 0.5, 0.75])) == [-3.0, 5.0, 10, 10, 7, 7]
    assert list(normal_reach(values, p_of, [0.25], sigmas=2)) == [-1.0, 3.0]


def test_best_and_worst_subsets_from_the_enumeration(circle) -> None:
    """For every size k: the units kept by the mask of k units with the lowest (highest)
    exact loss, found here by brute force over all 2^6 masks."""
    _, report = circle
    loss = report.arrays["node_removal_exact"]["loss"]
    table = report.tables["node_removal_best_worst"]
    sizes = np.array([bin(s).count("1") for s in range(64)])
    for k in range(7):
        masks = np.flatnonzero(sizes == k)
        for column, pick in (("best", np.argmin), ("worst", np.argmax)):
            s = masks[pick(loss[masks])]
            assert table[f"{column}_units_kept"][k] == " ".join(
                str(i) for i in range(6) if s & (1 << i)
            )
            assert table[f"{column}_loss"][k] == loss[s]
    assert list(table["n_units_kept"]) == list(range(7))


def test_removal_maps_draw_the_true_boundary(circle) -> None:
    from matplotlib.contour import ContourSet

    _, report = circle
    for name in ("removal_single", "removal_subsets"):
        for ax in panels(report.figures[name]):
            assert any(isinstance(c, ContourSet) for c in ax.collections), name


def test_removal_titles_wrap_at_22_characters_between_units() -> None:
    from toynets.studies.node_removal import removal_title

    assert removal_title([]) == "all units"
    assert removal_title(["3"]) == "without 3"
    # "without 10, 11, 12, 13," would be 23 characters: 13 goes to the next line.
    assert removal_title(["10", "11", "12", "13", "14"]) == "without 10, 11, 12,\n13, 14"
    assert removal_title(["0:1", "1:7"]) == "without 0:1, 1:7"
    assert removal_title(["x" * 30]) == "without\n" + "x" * 30  # a name is never cut


def test_gradient_and_loss_maps_from_the_definition(circle) -> None:
    """data/node_removal_gradient_maps.npz on the study's `grid` (60 a side here): the loss of
    each point's true label under the full net, recomputed with the NumPy forward pass; the
    loss map draws the true boundary and both colour bars say what they show."""
    from matplotlib.contour import ContourSet

    trained, report = circle
    maps = report.arrays["node_removal_gradient_maps"]
    assert set(maps) == {"x1", "x2", "grad", "loss"}
    assert maps["loss"].shape == (60, 60) and maps["grad"].shape == (60, 60, 6)
    g1, g2 = np.meshgrid(maps["x1"], maps["x2"])
    points = np.stack([g1.ravel(), g2.ravel()], 1)
    label = trained.data.truth(points)
    probability = trained.net.predict(points)
    loss = -np.log(probability[np.arange(len(points)), label])
    np.testing.assert_allclose(maps["loss"].ravel(), loss, rtol=1e-4, atol=1e-6)
    loss_map = report.figures["loss_map"]
    assert any(isinstance(c, ContourSet) for c in panels(loss_map)[0].collections)
    assert colorbars(loss_map)[0].ax.get_ylabel() == "loss"
    assert panels(loss_map)[0].get_title() == "loss of the true label, all units on"
    label = colorbars(report.figures["gradient_maps"])[0].ax.get_ylabel()
    assert label == "d loss / d $m_i$ (> 0: the unit raises the loss)"
    titles = [ax.get_title() for ax in panels(report.figures["gradient_maps"])]
    assert titles == [f"unit {i}" for i in range(6)]


def test_kernel_scatter_shows_every_weight_and_zooms_in() -> None:
    from matplotlib.collections import PathCollection

    from toynets.plots.pruning import kernel_scatter

    rng = np.random.default_rng(0)
    a = rng.uniform(-0.3, 0.3, size=(6, 5))
    b = a + rng.choice([-0.59, 0.0, 0.59], size=a.shape) + rng.normal(0, 0.01, size=a.shape)
    b[0] = a[0]  # a row never updated
    fig = kernel_scatter([(a, b)], ["random"], "trained", "pruned first", [0.2], 0.3, zoom=0.6)
    top, zoomed, hist = fig.axes[:3]
    for ax, limit in ((top, np.abs(np.r_[a.ravel(), b.ravel()]).max() * 1.05), (zoomed, 0.6)):
        assert ax.get_xlim() == pytest.approx((-limit, limit))
        moved, same = [c for c in ax.collections if isinstance(c, PathCollection)]
        equal = (a == b).ravel()
        np.testing.assert_allclose(moved.get_offsets(), np.c_[a.ravel(), b.ravel()][~equal])
        np.testing.assert_allclose(same.get_offsets(), np.c_[a.ravel(), b.ravel()][equal])
    assert "20.0% equal to the bit" in top.get_title()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["moved", "never updated"]
    counts = sum(patch.get_height() for patch in hist.patches)
    assert counts == (a != b).sum() == 25
    two_rows = kernel_scatter([(a, b)], ["random"], "x", "y", [0.2])
    assert len([ax for ax in two_rows.axes if ax.get_visible()]) == 2


def test_a_long_figure_title_is_set_smaller_to_fit() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from toynets.plots.style import FONT, fitting_font_size, panel_grid, suptitle

    short = "train circle mlp s0"
    long = "weight_evolution halfplane logreg train=fullbatch optimizer=random_walk lr=0.001 s0"
    assert fitting_font_size(short, 7.0, FONT + 1) == FONT + 1
    assert fitting_font_size("", 7.0, FONT + 1) == FONT + 1
    assert fitting_font_size(long, 7.0, FONT + 1) == pytest.approx(7.0 * 72 / (0.6 * len(long)))
    assert fitting_font_size(long * 3, 7.0, FONT + 1) == 7.0  # never below 7 points
    assert fitting_font_size(f"{short}\n{long}", 7.0, 12) == fitting_font_size(long, 7.0, 12)
    for text in (short, long):
        fig, _, _ = panel_grid(1, 1, (5.0, 3.0))
        suptitle(fig, text)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        box = fig._suptitle.get_window_extent(canvas.get_renderer())
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width, text
