"""Tests for toynets.data: shapes, determinism and every rule against hand-written references."""

from __future__ import annotations

import dataclasses
import math
import types

import numpy as np
import pytest

from toynets import data
from toynets.data import DATASETS, Dataset, dataset_names, make

EXPECTED_NAMES = {
    "circle",
    "spiral",
    "fcnn_prod",
    "fcnn_sum_squares",
    "fcnn_polynom",
    "fcnn_and",
    "fcnn_or",
    "fcnn_xor",
    "fcnn_stripe",
    "fcnn_square",
    "fcnn_circle",
    "fcnn_squares",
    "fcnn_circles",
    "fcnn_quadrants",
    "halfplane",
    "sine",
    "playground_circle",
    "playground_xor",
    "playground_gauss",
    "playground_spiral",
    "playground_reg_plane",
    "playground_reg_gauss",
}
SECTION5 = {"halfplane", "sine"}
ALL = dataset_names()


def cfg(name: str, /, **over: object) -> types.SimpleNamespace:
    """A minimal config: small sizes, noise 0, the dataset's own n_features."""
    base = {
        "name": name,
        "n_train": 400,
        "n_test": 300,
        "seed": None,
        "noise": 0.0,
        "n_features": DATASETS[name].defaults["n_features"],
        "faithful": False,
    }
    base.update(over)
    return types.SimpleNamespace(**base)


def binomial_tol(p: float, n: int, k: float = 5.0) -> float:
    return k * math.sqrt(p * (1 - p) / n)


# ----------------------------------------------------------------------------- registry


def test_registry_names_and_specs() -> None:
    assert set(ALL) == EXPECTED_NAMES
    assert len(ALL) == len(EXPECTED_NAMES)
    for name, spec in DATASETS.items():
        assert spec.name == name
        assert set(spec.defaults) == {"n_train", "n_test", "noise", "n_features"}
        assert data.DEFAULTS[name] == spec.defaults
        expected_k = {"binary": 2, "regression": 0}.get(spec.task, spec.n_classes)
        assert spec.n_classes == expected_k
        x1_min, x1_max, x2_min, x2_max = spec.domain
        assert x1_min < x1_max and x2_min < x2_max
        assert spec.description
        assert spec.defaults["n_features"] == (15 if name in SECTION5 else 2)
    assert DATASETS["halfplane"].defaults["n_train"] == 800
    assert DATASETS["halfplane"].defaults["n_test"] == 200
    assert DATASETS["sine"].defaults["n_train"] == 320
    assert DATASETS["sine"].defaults["n_test"] == 80


def test_make_with_spec_defaults_works_for_every_name() -> None:
    for name, spec in DATASETS.items():
        ds = make(types.SimpleNamespace(name=name, seed=None, faithful=False, **spec.defaults), 1)
        assert ds.x_train.shape[0] == spec.defaults["n_train"]
        assert ds.x_test.shape[0] == spec.defaults["n_test"]


# ----------------------------------------------------------------------------- every dataset


@pytest.mark.parametrize("name", ALL)
def test_shapes_dtypes_and_ranges(name: str) -> None:
    ds = make(cfg(name), seed=0)
    d = 15 if name in SECTION5 else 2
    assert isinstance(ds, Dataset)
    assert ds.name == name
    assert ds.x_train.shape == (400, d) and ds.x_test.shape == (300, d)
    assert ds.y_train.shape == (400,) and ds.y_test.shape == (300,)
    assert ds.n_features == d
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    for arr in (ds.x_train, ds.x_test, ds.y_train, ds.y_test):
        assert np.all(np.isfinite(arr))
    if ds.task == "regression":
        assert ds.n_classes == 0
        assert ds.y_train.dtype == np.float32 and ds.y_test.dtype == np.float32
    else:
        assert ds.y_train.dtype == np.int32 and ds.y_test.dtype == np.int32
        for y in (ds.y_train, ds.y_test):
            assert y.min() >= 0 and y.max() < ds.n_classes
        assert set(np.unique(ds.y_train)) == set(range(ds.n_classes))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("name", [n for n in ALL if DATASETS[n].task == "multiclass"])
def test_every_class_present_with_enough_points(name: str) -> None:
    ds = make(cfg(name, n_train=2000, n_test=2000), seed=3)
    for y in (ds.y_train, ds.y_test):
        assert set(np.unique(y)) == set(range(ds.n_classes))


@pytest.mark.parametrize("name", ALL)
def test_determinism_and_seed_dependence(name: str) -> None:
    a = make(cfg(name), seed=11)
    b = make(cfg(name), seed=11)
    c = make(cfg(name), seed=12)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes()
    assert not np.array_equal(a.x_train, c.x_train)
    assert not np.array_equal(a.x_test, c.x_test)


@pytest.mark.parametrize("name", ALL)
def test_cfg_seed_overrides_argument(name: str) -> None:
    a = make(cfg(name, seed=5), seed=0)
    b = make(cfg(name), seed=5)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)


@pytest.mark.parametrize("name", ALL)
def test_train_and_test_differ(name: str) -> None:
    ds = make(cfg(name, n_train=300, n_test=300), seed=0)
    assert not np.array_equal(ds.x_train, ds.x_test)
    # no point is shared between train and test; exception: without noise both arms of the
    # playground spiral start at the origin (as in dataset.ts), with opposite labels
    train_rows = {row.tobytes() for row in ds.x_train}
    shared = [row for row in ds.x_test if row.tobytes() in train_rows]
    if name == "playground_spiral":
        assert all(np.all(row == 0) for row in shared)
    else:
        assert not shared


@pytest.mark.parametrize("name", [n for n in ALL if DATASETS[n].truth is not None])
def test_noise_free_labels_equal_truth(name: str) -> None:
    ds = make(cfg(name), seed=2)
    assert ds.truth is not None
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        got = ds.truth(x)
        assert got.shape == y.shape and got.dtype == y.dtype
        np.testing.assert_array_equal(got, y)


@pytest.mark.parametrize(
    "name",
    [n for n in ALL if n == "circle" or n.startswith("fcnn_") or "reg_" in n or "xor" in n],
)
def test_uniform_inputs_fill_the_domain(name: str) -> None:
    ds = make(cfg(name, n_train=2000), seed=0)
    x1_min, x1_max, x2_min, x2_max = ds.domain
    x = ds.x_train
    assert np.all((x[:, 0] >= x1_min) & (x[:, 0] <= x1_max))
    assert np.all((x[:, 1] >= x2_min) & (x[:, 1] <= x2_max))
    width = x1_max - x1_min
    assert x[:, 0].min() < x1_min + 0.02 * width and x[:, 0].max() > x1_max - 0.02 * width


# ----------------------------------------------------------------------------- section 1 circle


@pytest.mark.parametrize(("faithful", "inside"), [(False, 0.5), (True, math.pi / 4 * 0.7978845608)])
def test_circle_fraction_inside(faithful: bool, inside: float) -> None:
    # P(x1^2 + x2^2 <= c) on U[-1,1]^2 is pi c / 4 for c <= 1; c = 2/pi -> 1/2,
    # c = sqrt(2/pi) = 0.7979 -> 0.627
    n = 20000
    ds = make(cfg("circle", n_train=n, n_test=10, faithful=faithful), seed=4)
    frac_inside = float(np.mean(ds.y_train == 0))
    assert abs(frac_inside - inside) < binomial_tol(inside, n)
    r2 = (ds.x_train.astype(np.float64) ** 2).sum(axis=1)
    threshold = np.sqrt(2 / np.pi) if faithful else 2 / np.pi
    np.testing.assert_array_equal(ds.y_train, (r2 > threshold).astype(np.int32))


def test_circle_faithful_switches_truth() -> None:
    assert make(cfg("circle"), 0).truth is data.circle_truth
    assert make(cfg("circle", faithful=True), 0).truth is data.circle_truth_as_written
    # faithful is ignored where there is no as-written variant
    assert make(cfg("fcnn_xor", faithful=True), 0).truth is data.fcnn_xor
    pts = np.array([[0.85, 0.0], [0.95, 0.0], [0.0, 0.7], [0.0, 0.9]], dtype=np.float32)
    np.testing.assert_array_equal(data.circle_truth(pts), [1, 1, 0, 1])
    np.testing.assert_array_equal(data.circle_truth_as_written(pts), [0, 1, 0, 1])


def test_label_flip_noise() -> None:
    n, p = 20000, 0.2
    ds = make(cfg("circle", n_train=n, n_test=10, noise=p), seed=5)
    wrong = float(np.mean(ds.y_train != data.circle_truth(ds.x_train)))
    assert abs(wrong - p) < binomial_tol(p, n)
    # multiclass: a flipped label goes to another class, uniformly
    ds = make(cfg("fcnn_quadrants", n_train=n, n_test=10, noise=p), seed=5)
    clean = data.fcnn_quadrants(ds.x_train)
    flipped = ds.y_train != clean
    assert abs(flipped.mean() - p) < binomial_tol(p, n)
    shift = (ds.y_train[flipped] - clean[flipped]) % 4
    assert set(np.unique(shift)) == {1, 2, 3}
    assert np.all(np.abs(np.bincount(shift)[1:] / flipped.sum() - 1 / 3) < 0.05)


def test_regression_gaussian_noise() -> None:
    ds = make(cfg("fcnn_prod", n_train=20000, n_test=10, noise=0.1), seed=6)
    resid = ds.y_train.astype(np.float64) - data.fcnn_prod(ds.x_train)
    assert abs(resid.mean()) < 0.005
    assert abs(resid.std() - 0.1) < 0.005


# ----------------------------------------------------------------------------- section 3 spiral


def test_spiral_geometry() -> None:
    ds = make(cfg("spiral", n_train=4000, n_test=10, noise=0.0), seed=7)
    x = ds.x_train.astype(np.float64)
    r = np.hypot(x[:, 0], x[:, 1])
    assert r.max() <= 1.0 + 1e-6
    assert abs(ds.y_train.mean() - 0.5) < binomial_tol(0.5, 4000)
    # noise-free points lie on r (cos t, sin t), t = 2 pi 1.75 r + c pi
    t = 2 * np.pi * 1.75 * r + np.pi * ds.y_train
    np.testing.assert_allclose(x, np.stack([r * np.cos(t), r * np.sin(t)], 1), atol=1e-5)
    lo, hi = ds.domain[0], ds.domain[1]
    noisy = make(cfg("spiral", n_train=4000, n_test=10, noise=0.05), seed=7)
    assert np.mean((noisy.x_train > lo) & (noisy.x_train < hi)) > 0.999


# ----------------------------------------------------------------------------- section 4 FCNN


def test_fcnn_rules_on_hand_checked_points() -> None:
    pts = np.array(
        [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [0.2, 0.1], [1.9, 1.9], [-2.0, 0.0]],
        dtype=np.float32,
    )
    # quadrants: 0 third, 1 fourth, 2 first, 3 second; atan2(0, -2) = pi -> 4 -> clipped to 3
    np.testing.assert_array_equal(data.fcnn_quadrants(pts), [0, 1, 2, 3, 2, 2, 3])
    # squares: int(|x1| + |x2|): 2, 2, 2, 2, 0, 3.8 -> 3, 2
    np.testing.assert_array_equal(data.fcnn_squares(pts), [2, 2, 2, 2, 0, 3, 2])
    # circles: int(r^2 / 2): 1, 1, 1, 1, 0, 7.22/2 -> 3, 4/2 = 2
    np.testing.assert_array_equal(data.fcnn_circles(pts), [1, 1, 1, 1, 0, 3, 2])
    corners = np.array([[2.0, 2.0], [-2.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(data.fcnn_squares(corners), [3, 3])  # 4 -> clipped
    np.testing.assert_array_equal(data.fcnn_circles(corners), [3, 3])  # 8/2 = 4 -> clipped
    np.testing.assert_array_equal(data.fcnn_and(pts), [0, 0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(data.fcnn_or(pts), [0, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(data.fcnn_xor(pts), [1, 0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(data.fcnn_stripe(pts), [1, 0, 1, 0, 1, 1, 0])
    np.testing.assert_array_equal(data.fcnn_square(pts), [0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(data.fcnn_circle(pts), [0, 0, 0, 0, 1, 0, 0])
    p = np.array([[1.0, 2.0], [-2.0, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(data.fcnn_prod(p), [0.5, -0.25])
    np.testing.assert_allclose(data.fcnn_sum_squares(p), [1.25, 1.0625])
    np.testing.assert_allclose(data.fcnn_polynom(p), [(1 - 6 - 4) / 4, (4 + 3 - 0.25) / 4])


def test_fcnn_classification_matches_independent_reference() -> None:
    ds = make(cfg("fcnn_circles", n_train=3000), seed=8)
    x = ds.x_train.astype(np.float64)
    ref = np.minimum([int((a * a + b * b) / 2) for a, b in x], 3)
    np.testing.assert_array_equal(ds.y_train, ref)
    ds = make(cfg("fcnn_quadrants", n_train=3000), seed=8)
    x = ds.x_train.astype(np.float64)
    ref = np.minimum([int(2 * (math.atan2(b, a) / math.pi + 1)) for a, b in x], 3)
    np.testing.assert_array_equal(ds.y_train, ref)


# ----------------------------------------------------------------------------- section 5


def test_halfplane_rule_and_irrelevant_features() -> None:
    ds = make(cfg("halfplane", n_train=800, n_test=200, n_features=15), seed=9)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        np.testing.assert_array_equal(y, (x[:, 0] >= 0).astype(np.int32))
    x = np.concatenate([ds.x_train, ds.x_test]).astype(np.float64)
    assert abs(x[:, 2:].std() - 0.01) < 0.0005
    assert abs(x[:, :2].std() - 10) < 0.5


def test_sine_rule_and_irrelevant_features() -> None:
    ds = make(cfg("sine", n_train=320, n_test=80, n_features=15), seed=9)
    x = ds.x_train.astype(np.float64)
    np.testing.assert_array_equal(ds.y_train, (x[:, 0] >= 5 * np.sin(x[:, 1])).astype(np.int32))
    assert abs(x[:, 2:].std() - 0.1) < 0.005


@pytest.mark.parametrize("n_features", [2, 3, 40])
def test_section5_feature_count(n_features: int) -> None:
    ds = make(cfg("halfplane", n_features=n_features), seed=0)
    assert ds.n_features == n_features
    assert ds.truth is not None
    np.testing.assert_array_equal(ds.truth(ds.x_test), ds.y_test)


@pytest.mark.parametrize("seed", range(5))
def test_stratified_split_keeps_class_balance(seed: int) -> None:
    ds = make(cfg("halfplane", n_train=800, n_test=200), seed=seed)
    y_all = np.concatenate([ds.y_train, ds.y_test])
    frac = y_all.mean()
    assert abs(ds.y_test.mean() - frac) <= 1 / 200 + 1e-12
    assert abs(ds.y_train.mean() - frac) <= 1 / 800 + 1e-12


def test_stratified_split_helper() -> None:
    rng = np.random.default_rng(0)
    y = np.array([0] * 70 + [1] * 20 + [2] * 10)
    train, test = data.stratified_split(rng, y, 30)
    assert len(test) == 30 and len(train) == 70
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))
    np.testing.assert_array_equal(np.bincount(y[test]), [21, 6, 3])


# ----------------------------------------------------------------------------- playground


def test_playground_circle_geometry() -> None:
    ds = make(cfg("playground_circle", n_train=250, n_test=250), seed=1)
    x = np.concatenate([ds.x_train, ds.x_test]).astype(np.float64)
    y = np.concatenate([ds.y_train, ds.y_test])
    r = np.hypot(x[:, 0], x[:, 1])
    assert y.sum() == 250  # half inside, half in the ring
    assert np.all(r[y == 1] <= 2.5 + 1e-5)
    assert np.all((r[y == 0] >= 3.5 - 1e-5) & (r[y == 0] <= 5 + 1e-5))


def test_playground_xor_padding_and_noise() -> None:
    ds = make(cfg("playground_xor", n_train=2000, n_test=10), seed=1)
    x = ds.x_train.astype(np.float64)
    assert np.all(np.abs(x) >= 0.3 - 1e-6) and np.all(np.abs(x) <= 5.3 + 1e-5)
    np.testing.assert_array_equal(ds.y_train, (x[:, 0] * x[:, 1] >= 0).astype(np.int32))
    noisy = make(cfg("playground_xor", n_train=2000, n_test=10, noise=0.5), seed=1)
    wrong = np.mean(noisy.y_train != data.playground_xor_truth(noisy.x_train))
    assert 0.05 < wrong < 0.45


@pytest.mark.parametrize(("noise", "variance"), [(0.0, 0.5), (0.5, 4.0)])
def test_playground_gauss_variance(noise: float, variance: float) -> None:
    ds = make(cfg("playground_gauss", n_train=4000, n_test=10, noise=noise), seed=1)
    for label, centre in ((1, 2.0), (0, -2.0)):
        pts = ds.x_train[ds.y_train == label].astype(np.float64)
        assert np.all(np.abs(pts.mean(axis=0) - centre) < 0.15)
        assert np.all(np.abs(pts.var(axis=0) / variance - 1) < 0.1)


def test_playground_spiral_is_fixed_without_noise() -> None:
    a = make(cfg("playground_spiral", n_train=250, n_test=250), seed=1)
    b = make(cfg("playground_spiral", n_train=250, n_test=250), seed=2)

    def pooled(ds: Dataset) -> np.ndarray:
        x = np.concatenate([ds.x_train, ds.x_test])
        y = np.concatenate([ds.y_train, ds.y_test])[:, None].astype(np.float32)
        rows = np.concatenate([x, y], axis=1)
        return rows[np.lexsort(rows.T[::-1])]

    np.testing.assert_array_equal(pooled(a), pooled(b))  # same points, other shuffle
    # reference: arm of 250 points, r = 5 i / 250, t = 3.5 pi i / 250 (+ pi for label 0)
    i = np.arange(250) / 250
    t = 3.5 * np.pi * i
    ref = np.concatenate(
        [
            np.stack([5 * i * np.sin(t), 5 * i * np.cos(t), np.ones(250)], 1),
            np.stack([5 * i * np.sin(t + np.pi), 5 * i * np.cos(t + np.pi), np.zeros(250)], 1),
        ]
    ).astype(np.float32)
    np.testing.assert_allclose(pooled(a), ref[np.lexsort(ref.T[::-1])], atol=1e-5)


def test_playground_regression_references() -> None:
    pts = np.array([[-4, 2.5], [0, 2.5], [4, -2.5], [0, 0], [-4, 1.5], [6, 6]], dtype=np.float32)
    np.testing.assert_allclose(data.playground_reg_gauss_truth(pts), [1, -1, -1, 0, 0.5, 0])
    np.testing.assert_allclose(data.playground_reg_plane_truth(pts[:3]), [-0.15, 0.25, 0.15])
    ds = make(cfg("playground_reg_plane"), seed=1)
    x = ds.x_train.astype(np.float64)
    np.testing.assert_allclose(ds.y_train, (x[:, 0] + x[:, 1]) / 10, rtol=1e-6, atol=1e-7)
    noisy = make(cfg("playground_reg_gauss", noise=0.3), seed=1)
    assert not np.array_equal(noisy.y_train, data.playground_reg_gauss_truth(noisy.x_train))


# ----------------------------------------------------------------------------- errors


def test_unknown_name_lists_allowed_names() -> None:
    with pytest.raises(ValueError, match="nope") as err:
        make(cfg("circle", name="nope"), seed=0)
    for name in ALL:
        assert name in str(err.value)


@pytest.mark.parametrize("name", ["circle", "fcnn_xor", "playground_spiral"])
def test_two_d_sets_reject_other_feature_counts(name: str) -> None:
    with pytest.raises(ValueError, match="has exactly 2 features"):
        make(cfg(name, n_features=15), seed=0)


def test_section5_needs_two_features() -> None:
    with pytest.raises(ValueError, match="n_features >= 2"):
        make(cfg("sine", n_features=1), seed=0)


@pytest.mark.parametrize(
    ("name", "noise"),
    [("circle", 1.5), ("fcnn_squares", -0.1), ("playground_xor", 0.6), ("fcnn_prod", -1.0)],
)
def test_noise_out_of_range(name: str, noise: float) -> None:
    with pytest.raises(ValueError, match="noise"):
        make(cfg(name, noise=noise), seed=0)


def test_bad_sizes() -> None:
    with pytest.raises(ValueError, match="n_train"):
        make(cfg("circle", n_train=0), seed=0)
    with pytest.raises(ValueError, match="n_test"):
        make(cfg("circle", n_test=2.5), seed=0)


def test_zero_test_points_allowed() -> None:
    for name in ("circle", "halfplane", "playground_gauss"):
        ds = make(cfg(name, n_test=0), seed=0)
        assert ds.x_test.shape == (0, ds.n_features) and ds.y_test.shape == (0,)
