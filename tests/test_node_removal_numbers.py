"""Every number the node-removal study reports, recomputed here from its definition (DIGEST
§1) with NumPy on the study's own masks, losses and gradients: the per-p statistics, the mask
counts, the exact means, the sanity check, the path covariances, the complement correlation,
the fixed test set and the kernel width. The study runs on a 6-unit circle net (`circle`,
conftest), so all 2^6 masks are enumerated as well."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.contour import ContourSet

from conftest import SMALL_NODE_REMOVAL, study_report

PS = (0.3, 0.5, 0.8)  # conftest's SMALL_NODE_REMOVAL
N = 6
KERNEL = 0.03


def at(mc: dict, p: float) -> np.ndarray:
    return mc["p"] == np.float32(p)


def test_per_p_statistics(circle) -> None:
    """mean/std of loss L, log L, d L / d m_i and d log L / d m_i = (d L / d m_i) / L over
    the masks drawn at p (the gradients pooled over masks and units)."""
    _, report = circle
    mc, table, metrics = report.arrays["node_removal_mc"], report.tables["node_removal_mc"], {}
    metrics = report.metrics
    assert list(table["p"]) == list(PS)
    for k, p in enumerate(PS):
        # float64 reference: float32 sums of 300 x N values drift by ~1e-5 relative
        loss = mc["loss"][at(mc, p)].astype(np.float64)
        grad = mc["grad"][at(mc, p)].astype(np.float64)
        assert loss.shape == (300,) and grad.shape == (300, N)
        log_grad = grad / loss[:, None]
        expected = {
            "mean_loss": np.mean(loss),
            "std_loss": np.sqrt(np.mean((loss - loss.mean()) ** 2)),
            "mean_log_loss": np.mean(np.log(loss)),
            "std_log_loss": np.sqrt(np.mean((np.log(loss) - np.log(loss).mean()) ** 2)),
            "mean_grad": grad.sum() / grad.size,
            "std_grad": np.sqrt(np.mean((grad - grad.mean()) ** 2)),
            "mean_log_grad": log_grad.sum() / log_grad.size,
            "std_log_grad": np.sqrt(np.mean((log_grad - log_grad.mean()) ** 2)),
        }
        for name, sample in (("loss", loss), ("log_loss", np.log(loss)), ("grad", grad)):
            z = (sample - sample.mean()) / sample.std()
            expected[f"skew_{name}"] = np.mean(z**3)
            expected[f"kurtosis_{name}"] = np.mean(z**4) - 3
        for name, value in expected.items():
            assert table[name][k] == pytest.approx(value, rel=1e-5), (p, name)
            assert metrics[f"node_removal/p{p}/{name}"] == pytest.approx(value, rel=1e-5)
    # §1's shapes: the loss is right-skewed at every p
    assert all(value > 0 for value in table["skew_loss"])


def test_mask_counts_and_the_exact_means(circle) -> None:
    """Masks with every unit on, distinct masks, and E_p[L] = sum_s p^|s| (1-p)^(N-|s|) L(s)
    over all 2^N masks s (bit i of s: unit i on)."""
    _, report = circle
    mc, table = report.arrays["node_removal_mc"], report.tables["node_removal_mc"]
    exact = report.arrays["node_removal_exact"]["loss"]
    sizes = np.array([bin(s).count("1") for s in range(1 << N)])
    for k, p in enumerate(PS):
        masks = mc["masks"][at(mc, p)]
        assert set(np.unique(masks)) <= {0.0, 1.0}
        full = sum(all(row == 1) for row in masks)
        distinct = len({tuple(row) for row in masks.astype(int)})
        assert table["masks_all_units_on"][k] == full
        assert report.metrics[f"node_removal/p{p}/full_masks"] == full
        assert table["distinct_masks"][k] == distinct
        expected = float(np.sum(p**sizes * (1 - p) ** (N - sizes) * exact))
        assert table["exact_mean_loss"][k] == pytest.approx(expected, rel=1e-6)
        assert report.metrics[f"node_removal/p{p}/exact_mean_loss"] == pytest.approx(expected)
        assert report.metrics[f"node_removal/p{p}/expected_full_masks"] == pytest.approx(300 * p**N)
    # Monte Carlo masks are Bernoulli(p): their mean is near p.
    for p in PS:
        assert mc["masks"][at(mc, p)].mean() == pytest.approx(p, abs=0.05)


def test_sanity_check_of_section_1(circle) -> None:
    """N (p_hi - p_lo) x mean gradient at p_mid against mean L(p_hi) - mean L(p_lo): §1's
    10 x mean gradient at 0.5 ~ L(0.75) - L(0.25) for N = 20 (here p = 0.3, 0.5, 0.8)."""
    _, report = circle
    mc = report.arrays["node_removal_mc"]
    mean_loss = {p: mc["loss"][at(mc, p)].mean() for p in PS}
    mean_grad = mc["grad"][at(mc, 0.5)].mean()
    predicted = N * (0.8 - 0.3) * mean_grad
    observed = mean_loss[0.8] - mean_loss[0.3]
    assert report.metrics["node_removal/sanity/p0.5/predicted"] == pytest.approx(predicted, 1e-5)
    assert report.metrics["node_removal/sanity/p0.5/observed"] == pytest.approx(observed, 1e-5)
    sanity = {k for k in report.metrics if k.startswith("node_removal/sanity/")}
    assert sanity == {"node_removal/sanity/p0.5/predicted", "node_removal/sanity/p0.5/observed"}


def test_path_covariances_and_the_complement(circle) -> None:
    """Paths flip every unit once: N + 1 masks, neighbours differ in one unit, the last is the
    complement of the first. Covariance (n - 1 in the denominator) of the log losses between
    steps; the start/end gap is max_d |cov(0, d) - cov(N, N - d)|."""
    _, report = circle
    paths = report.arrays["node_removal_paths"]
    masks, log_loss = paths["masks"], paths["log_loss"]
    assert masks.shape == (100, N + 1, N)
    assert np.all(np.abs(np.diff(masks, axis=1)).sum(-1) == 1)
    np.testing.assert_array_equal(masks[:, -1], 1 - masks[:, 0])
    centred = log_loss - log_loss.mean(0)
    cov = centred.T @ centred / (len(log_loss) - 1)
    np.testing.assert_allclose(paths["cov"], cov, rtol=1e-6, atol=1e-9)
    gap = max(abs(cov[0, d] - cov[N, N - d]) for d in range(N + 1))
    assert report.metrics["node_removal/paths/reversal_gap"] == pytest.approx(gap, rel=1e-6)
    a, b = log_loss[:, 0] - log_loss[:, 0].mean(), log_loss[:, -1] - log_loss[:, -1].mean()
    correlation = (a @ b) / np.sqrt((a @ a) * (b @ b))
    assert report.metrics["node_removal/paths/complement_correlation"] == pytest.approx(
        correlation, rel=1e-6
    )
    sd = np.sqrt(np.diag(cov))
    r = [
        (cov[0, d] / (sd[0] * sd[d]) + cov[N, N - d] / (sd[N] * sd[N - d])) / 2
        for d in range(N + 1)
    ]
    first = next((d for d in range(1, N + 1) if r[d] < 1.96 / np.sqrt(100)), N + 1)
    assert report.metrics["node_removal/paths/decorrelation_flips"] == first


def test_the_fixed_test_set_is_drawn_with_test_seed(circle) -> None:
    """Every mask is scored on `test_size` = 400 fresh points drawn with `test_seed` = 23."""
    import dataclasses

    from toynets import data as datasets

    trained, report = circle
    mc = report.arrays["node_removal_mc"]
    cfg = dataclasses.replace(trained.config.dataset, n_train=1, n_test=400, seed=23)
    np.testing.assert_array_equal(mc["x_test"], datasets.make(cfg, 23).x_test)
    np.testing.assert_array_equal(mc["y_test"], datasets.make(cfg, 23).y_test)
    other = dataclasses.replace(cfg, seed=24)
    assert not np.array_equal(mc["x_test"], datasets.make(other, 24).x_test)
    # The loss of the full net on that set is the study's full loss.
    probability = trained.net.predict(mc["x_test"])
    full = -np.mean(np.log(probability[np.arange(400), mc["y_test"]]))
    assert report.metrics["node_removal/full_loss"] == pytest.approx(full, rel=1e-4)


def test_kernel_width_is_the_configured_one(circle) -> None:
    """The loss PDF's solid curve at p is (1 / n) sum_k N(x; L_k, 0.03^2) over the n masks
    drawn at p, written out for each plotted x."""
    _, report = circle
    mc = report.arrays["node_removal_mc"]
    ax = report.figures["loss_pdf"].axes[0]
    solid = [
        line for line in ax.get_lines() if line.get_linestyle() == "-" and len(line.get_xdata()) > 2
    ]
    assert len(solid) == 3
    for line, p in zip(solid, PS, strict=True):
        losses = mc["loss"][at(mc, p)].astype(np.float64)
        x = np.asarray(line.get_xdata(), float)[::7]
        expected = [
            np.mean(np.exp(-((xi - losses) ** 2) / (2 * KERNEL**2))) / (KERNEL * np.sqrt(2 * np.pi))
            for xi in x
        ]
        np.testing.assert_allclose(
            np.asarray(line.get_ydata())[::7], expected, atol=1e-6, rtol=1e-6
        )


def test_most_important_unit_and_efficiency(circle) -> None:
    """The most important unit has the most negative Shapley value for the loss (removing it
    hurts most); Shapley values add up to L(all on) - L(none)."""
    _, report = circle
    exact = report.arrays["node_removal_exact"]
    shapley = exact["shapley_loss"]
    assert report.metrics["node_removal/exact/most_important_unit"] == float(np.argmin(shapley))
    gap = shapley.sum() - (exact["loss"][(1 << N) - 1] - exact["loss"][0])
    assert report.metrics["node_removal/exact/shapley_efficiency_gap"] == pytest.approx(
        gap, abs=1e-9
    )
    assert abs(gap) < 1e-5
    assert report.metrics["node_removal/exact/positive_shapley_units"] == sum(
        value > 0 for value in shapley
    )


def test_single_removals(circle) -> None:
    """The loss without unit i (every other unit on): the table's column and its min, median
    and max, against the 2^N table's masks with one bit cleared."""
    _, report = circle
    exact = report.arrays["node_removal_exact"]["loss"]
    without = np.array([exact[((1 << N) - 1) & ~(1 << i)] for i in range(N)], np.float64)
    units = report.tables["node_removal_units"]
    np.testing.assert_allclose(units["loss_without_unit"], without, rtol=1e-5)
    ordered = np.sort(without)
    summary = {"min": ordered[0], "median": (ordered[2] + ordered[3]) / 2, "max": ordered[-1]}
    for name, value in summary.items():
        metric = report.metrics[f"node_removal/single_removal/{name}_loss"]
        assert metric == pytest.approx(value, rel=1e-5), name


def numpy_probability(net, points: np.ndarray, removed: list[int]) -> np.ndarray:
    """P(class 1) of a one-hidden-layer softmax net with the `removed` units set to 0."""
    (w1, b1), (w2, b2) = ((layer.W, layer.b) for layer in net.layers)
    hidden = np.maximum(points @ w1 + b1, 0.0)
    hidden[:, removed] = 0.0
    z = hidden @ w2 + b2
    z = z - z.max(1, keepdims=True)
    return (np.exp(z) / np.exp(z).sum(1, keepdims=True))[:, 1]


def test_removal_maps_show_the_net_without_those_units(circle) -> None:
    """Each small map is P(class 1) over `map_grid` = 24 points a side of the data box, of
    the net without the units its title names: all, each one, then the chosen sets."""
    trained, report = circle
    x1 = x2 = np.linspace(-1.0, 1.0, 24)
    g1, g2 = np.meshgrid(x1, x2)
    points = np.stack([g1.ravel(), g2.ravel()], 1)
    single = [[]] + [[i] for i in range(N)]
    chosen = [[0], [1, 2]]
    for name, removals in (("removal_single", single), ("removal_subsets", chosen)):
        axes = [ax for ax in report.figures[name].axes if ax.get_images()]
        for ax, removed in zip(axes, removals, strict=False):
            image = np.asarray(ax.get_images()[0].get_array())
            expected = numpy_probability(trained.net, points, removed).reshape(24, 24)
            np.testing.assert_allclose(image, expected, atol=1e-5, err_msg=f"{name} {removed}")
        # rows of 5 maps (the sets, 2 chosen and 2 random: rows of at most 4)
        lefts = {round(ax.get_position().x0, 4) for ax in axes}
        assert len(lefts) == min(len(axes), 5 if name == "removal_single" else 4), name


def test_removal_maps_name_their_sets_and_say_what_they_show(circle) -> None:
    """The random sets are n // 2 distinct units drawn with mc_seed + 1; each figure and the
    gradient maps carry their title."""
    trained, report = circle
    rng = np.random.default_rng(trained.config.study.mc_seed + 1)
    drawn = [sorted(rng.choice(N, size=N // 2, replace=False).tolist()) for _ in range(2)]
    assert all(len(set(units)) == N // 2 for units in drawn)
    sets = [[0], [1, 2], *drawn]
    axes = [ax for ax in report.figures["removal_subsets"].axes if ax.get_images()]
    expected = [("without " + ", ".join(str(u) for u in units)) for units in sets]
    assert [" ".join(ax.get_title().split()) for ax in axes] == expected
    for name, title in {
        "removal_single": "decision map with one hidden unit removed (",
        "removal_subsets": f"decision map with sets of the {N} hidden units removed (",
        "gradient_maps": "d loss / d $m_i$ over the input plane, all units on (",
    }.items():
        assert report.figures[name]._suptitle.get_text().startswith(title), name
    # the maps the runs' Chart view compares, as MLflow images at the last training step
    final = int(trained.history.snapshot_step[-1])
    cfg = trained.config
    assert final == cfg.train.epochs * -(-cfg.dataset.n_train // cfg.train.batch_size)
    assert report.images == {"decision_map": final, "removal_single": final}


def test_a_regression_net_gets_no_decision_maps() -> None:
    overrides = [*SMALL_NODE_REMOVAL, "dataset=fcnn_prod", "study.subsets=[[0]]"]
    trained, report = study_report(overrides)
    assert not {"removal_single", "removal_subsets"} & set(report.figures)
    assert report.images == {"estimate_map": int(trained.history.snapshot_step[-1])}
    # the loss map: the squared error against the real-valued target, all units on
    maps = report.arrays["node_removal_gradient_maps"]
    g1, g2 = np.meshgrid(maps["x1"], maps["x2"])
    points = np.stack([g1.ravel(), g2.ravel()], 1)
    target = trained.data.truth(points)
    assert np.abs(target - np.round(target)).max() > 0.1  # not whole numbers
    error = (trained.net.predict(points)[:, 0] - target) ** 2
    np.testing.assert_allclose(maps["loss"].ravel(), error, rtol=1e-4, atol=1e-6)
    # no class boundary to draw over the loss map of a real-valued target
    (panel,) = [ax for ax in report.figures["loss_map"].axes if ax.get_images()]
    assert not any(isinstance(c, ContourSet) for c in panel.collections)


def test_the_units_of_two_layers_are_named_layer_index() -> None:
    overrides = [o for o in SMALL_NODE_REMOVAL if not o.startswith("model.hidden")]
    _, report = study_report([*overrides, "model.hidden=[3,3]"])
    names = ["0:0", "0:1", "0:2", "1:0", "1:1", "1:2"]
    gradients = [ax for ax in report.figures["gradient_maps"].axes if ax.get_images()]
    assert [ax.get_title() for ax in gradients] == [f"unit {name}" for name in names]
    singles = [ax for ax in report.figures["removal_single"].axes if ax.get_images()]
    titles = [" ".join(ax.get_title().split()) for ax in singles]
    assert titles == ["all units", *[f"without {name}" for name in names]]


def test_five_removal_sets_come_in_rows_of_four() -> None:
    """Single removals in rows of five (7 maps: 5 + 2), the sets in rows of at most four."""
    overrides = [o for o in SMALL_NODE_REMOVAL if not o.startswith("study.n_random_subsets")]
    _, report = study_report([*overrides, "study.n_random_subsets=3"])
    for name, maps, columns in (("removal_single", 7, 5), ("removal_subsets", 5, 4)):
        axes = [ax for ax in report.figures[name].axes if ax.get_images()]
        assert len(axes) == maps, name
        lefts = sorted({round(ax.get_position().x0, 4) for ax in axes})
        tops = sorted({round(ax.get_position().y1, 4) for ax in axes}, reverse=True)
        assert (len(lefts), len(tops)) == (columns, 2), name
    assert {"gradient_maps", "loss_map"} <= set(report.figures)


def test_layer_masks_split_a_flat_mask_by_layer() -> None:
    from toynets.net import Layer, Net
    from toynets.studies.node_removal import layer_masks

    rng = np.random.default_rng(0)
    sizes = [2, 3, 2, 4, 2]
    pairs = itertools.pairwise(sizes)
    net = Net(tuple(Layer(rng.normal(size=(a, b)), np.zeros(b), "relu") for a, b in pairs))
    mask = np.arange(9.0)
    parts = layer_masks(net, mask)
    assert [list(p) for p in parts] == [[0, 1, 2], [3, 4], [5, 6, 7, 8]]


def test_the_fixed_test_set_overrides_the_dataset_seed_and_can_be_switched_off(circle) -> None:
    """`test_seed` draws the set whatever `dataset.seed` says; `test_seed=None` scores the
    masks on the dataset's own test set."""
    import dataclasses

    from toynets import data as datasets
    from toynets.studies.node_removal import fixed_test_set

    trained, _ = circle
    cfg = trained.config.study
    seeded = dataclasses.replace(
        trained,
        config=dataclasses.replace(
            trained.config, dataset=dataclasses.replace(trained.config.dataset, seed=5)
        ),
    )
    x, y = fixed_test_set(seeded, cfg)
    fresh = datasets.make(dataclasses.replace(trained.config.dataset, n_train=1, n_test=400), 23)
    np.testing.assert_array_equal(x, fresh.x_test)
    np.testing.assert_array_equal(y, fresh.y_test)
    x, y = fixed_test_set(trained, dataclasses.replace(cfg, test_seed=None))
    np.testing.assert_array_equal(x, trained.data.x_test)
    np.testing.assert_array_equal(y, trained.data.y_test)


@pytest.mark.parametrize(
    ("exact", "limit", "units", "expected"),
    [
        ("auto", 24, 24, True),  # at the limit: enumerated
        ("auto", 24, 25, False),
        ("auto", 6, 5, True),
        (True, 24, 30, True),
        (False, 24, 6, False),
    ],
)
def test_exact_enumeration_follows_exact_and_its_limit(exact, limit, units, expected) -> None:
    from toynets.config import NodeRemovalConfig
    from toynets.studies.node_removal import enumerates

    cfg = NodeRemovalConfig(name="node_removal", exact=exact, exact_limit=limit)
    assert enumerates(cfg, units) is expected


def brute_shapley(values: np.ndarray, n: int) -> np.ndarray:
    """Shapley values by every order of the n units: the mean marginal contribution."""
    out = np.zeros(n)
    orders = list(itertools.permutations(range(n)))
    for order in orders:
        mask = 0
        for unit in order:
            out[unit] += values[mask | (1 << unit)] - values[mask]
            mask |= 1 << unit
    return out / len(orders)


def test_the_exact_arrays_and_tables_hold_what_their_names_say(circle) -> None:
    """data/node_removal_exact.npz and tables/node_removal_units.csv as documented: loss and
    accuracy of every mask (mask 2^N - 1 is the full net, 0 the empty one), Shapley values of
    both by brute force over all orders, units named 0..N-1."""
    _, report = circle
    exact = report.arrays["node_removal_exact"]
    assert set(exact) == {
        "shapley_loss", "banzhaf_loss", "shapley_accuracy", "banzhaf_accuracy",
        "loss_full", "loss_empty", "loss", "accuracy",
    }  # fmt: skip
    assert exact["loss_full"] == exact["loss"][-1] and exact["loss_empty"] == exact["loss"][0]
    assert exact["loss_full"] == pytest.approx(report.metrics["node_removal/full_loss"], 1e-5)
    assert exact["accuracy"][-1] == pytest.approx(report.metrics["node_removal/full_accuracy"])
    np.testing.assert_allclose(exact["shapley_accuracy"], brute_shapley(exact["accuracy"], N),
                               atol=1e-9)  # fmt: skip
    np.testing.assert_allclose(exact["shapley_loss"], brute_shapley(exact["loss"], N), atol=1e-6)
    for i in range(N):  # Banzhaf: the mean contribution over the 2^(N-1) coalitions without i
        without = np.flatnonzero((np.arange(1 << N) & (1 << i)) == 0)
        gain = exact["accuracy"][without | (1 << i)] - exact["accuracy"][without]
        assert exact["banzhaf_accuracy"][i] == pytest.approx(gain.mean())
    units = report.tables["node_removal_units"]
    assert list(units["unit"]) == [str(i) for i in range(N)]
    columns = ["shapley_loss", "banzhaf_loss", "shapley_accuracy", "banzhaf_accuracy"]
    assert list(units) == ["unit", "loss_without_unit", *columns]
    for column in columns:
        np.testing.assert_array_equal(units[column], exact[column])
    shapley = report.figures["shapley"]
    legend = shapley.axes[0].get_legend()
    assert {"Shapley value", "Banzhaf value"} <= {t.get_text() for t in legend.texts}
    assert shapley.axes[0].get_ylabel() == "value (< 0: the unit lowers the loss)"


def test_masks_are_drawn_with_mc_seed(circle) -> None:
    """One generator seeded with `mc_seed`, the masks of each p in turn (§1: seed 17)."""
    from toynets.analysis.node_removal import bernoulli_masks

    trained, report = circle
    cfg = trained.config.study
    rng = np.random.default_rng(cfg.mc_seed)
    again = np.concatenate([bernoulli_masks(300, N, p, rng) for p in PS])
    np.testing.assert_array_equal(report.arrays["node_removal_mc"]["masks"], again)


def test_paths_are_drawn_with_path_seed(circle) -> None:
    from toynets.analysis.node_removal import hypercube_paths

    trained, report = circle
    paths = report.arrays["node_removal_paths"]["masks"]
    cfg = trained.config.study
    again = hypercube_paths(cfg.n_paths, N, np.random.default_rng(cfg.path_seed))
    np.testing.assert_array_equal(paths, again)


def test_each_p_reports_exactly_these_statistics(circle) -> None:
    """Mean and std of loss, log loss, gradient and log-loss gradient; skewness and kurtosis of
    the first three (not of the log-loss gradient); mask counts and their expectations."""
    _, report = circle
    names = {k.split("/", 2)[2] for k in report.metrics if k.startswith("node_removal/p0.3/")}
    expected = {
        f"{s}_{q}" for q in ("loss", "log_loss", "grad", "log_grad") for s in ("mean", "std")
    }
    expected |= {f"{s}_{q}" for q in ("loss", "log_loss", "grad") for s in ("skew", "kurtosis")}
    expected |= {"full_masks", "distinct_masks", "exact_mean_loss", "expected_full_masks",
                 "expected_distinct_masks", "expected_distinct_masks_std"}  # fmt: skip
    assert names == expected


@pytest.mark.parametrize(("ps", "chosen"), [([0.2, 0.4, 0.6, 0.9], 0.6), ([0.5, 0.9, 0.95], 0.5)])
def test_the_on_off_split_is_at_one_half_or_else_the_middle_p(ps, chosen) -> None:
    """§1 splits at p = 0.5; without it, at the middle p of the list. Synthetic masks and
    gradients: the split's means and stds from their definition."""
    from toynets.config import NodeRemovalConfig
    from toynets.report import Report
    from toynets.studies.node_removal import _on_off

    rng = np.random.default_rng(2)
    cfg = NodeRemovalConfig(name="node_removal", ps=ps, n_masks=40)
    p_of = np.repeat(np.asarray(ps, np.float32), 40)
    masks = (rng.random((len(p_of), 3)) < 0.5).astype(np.float32)
    log_grad = rng.normal(size=masks.shape) + masks
    report = Report()
    _on_off(masks, log_grad, p_of, cfg, report, [3])
    pick = p_of == np.float32(chosen)
    on, off = log_grad[pick][masks[pick] == 1], log_grad[pick][masks[pick] == 0]
    metrics = report.metrics
    assert metrics[f"node_removal/p{chosen}/log_grad_on_mean"] == pytest.approx(on.mean())
    assert metrics[f"node_removal/p{chosen}/log_grad_off_std"] == pytest.approx(off.std())
    assert len([k for k in metrics if "log_grad_on_mean" in k]) == 1


def test_the_on_off_figures_say_what_they_show(circle) -> None:
    """The on/off figure's axis and legend (its masks counted), the per-unit figure's p."""
    _, report = circle
    ax = report.figures["grad_on_off"].axes[0]
    assert ax.get_xlabel() == "d log loss / d $m_i$"
    legend = ax.get_legend()
    assert {t.get_text() for t in legend.texts} == {"unit on", "unit off"}
    assert legend.get_title().get_text() == "Monte Carlo, 300 masks"  # those drawn at p = 0.5
    assert "at p = 0.5," in report.figures["grad_per_unit"]._suptitle.get_text()
