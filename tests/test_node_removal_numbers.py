"""Every number the node-removal study reports, recomputed here from its definition (DIGEST
§1) with NumPy on the study's own masks, losses and gradients: the per-p statistics, the mask
counts, the exact means, the sanity check, the path covariances, the complement correlation,
the fixed test set and the kernel width. The study runs on a 6-unit circle net (`circle`,
conftest), so all 2^6 masks are enumerated as well."""

from __future__ import annotations

import numpy as np
import pytest

PS = (0.25, 0.5, 0.75)
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
        loss, grad = mc["loss"][at(mc, p)], mc["grad"][at(mc, p)]
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
        for name, value in expected.items():
            assert table[name][k] == pytest.approx(value, rel=1e-5), (p, name)
            assert metrics[f"node_removal/p{p}/{name}"] == pytest.approx(value, rel=1e-5)


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
    # Monte Carlo masks are Bernoulli(p): their mean is near p.
    for p in PS:
        assert mc["masks"][at(mc, p)].mean() == pytest.approx(p, abs=0.05)


def test_sanity_check_of_section_1(circle) -> None:
    """N (p_hi - p_lo) x mean gradient at p_mid against mean L(p_hi) - mean L(p_lo): §1's
    10 x mean gradient at 0.5 ~ L(0.75) - L(0.25) for N = 20."""
    _, report = circle
    mc = report.arrays["node_removal_mc"]
    mean_loss = {p: mc["loss"][at(mc, p)].mean() for p in PS}
    mean_grad = mc["grad"][at(mc, 0.5)].mean()
    predicted = N * (0.75 - 0.25) * mean_grad
    observed = mean_loss[0.75] - mean_loss[0.25]
    assert report.metrics["node_removal/sanity/p0.5/predicted"] == pytest.approx(predicted, 1e-5)
    assert report.metrics["node_removal/sanity/p0.5/observed"] == pytest.approx(observed, 1e-5)


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
    units = report.tables["node_removal_units"]
    for i in range(N):
        assert units["loss_without_unit"][i] == exact["loss"][((1 << N) - 1) ^ (1 << i)]
