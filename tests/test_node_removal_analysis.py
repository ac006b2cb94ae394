"""Node-removal analysis against independent references: NumPy forward passes, finite
differences, brute-force Shapley/Banzhaf by permutations, and closed forms."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest

from toynets.analysis import node_removal as nr
from toynets.net import Layer, Net


def random_net(hidden: list[int], out: int, output: str, seed: int = 0, d: int = 2) -> Net:
    rng = np.random.default_rng(seed)
    sizes = [d, *hidden, out]
    layers = [
        Layer(rng.normal(size=(a, b)), rng.normal(size=b) * 0.5, "relu")
        for a, b in itertools.pairwise(sizes)
    ]
    layers[-1] = Layer(layers[-1].W, layers[-1].b, output)
    return Net(tuple(layers))


def numpy_loss(net: Net, x, y, mask: np.ndarray) -> tuple[float, float]:
    """Mean loss and accuracy of the masked net, from Net.logits (NumPy, float64)."""
    masks, start = [], 0
    for width in net.hidden_sizes:
        masks.append(mask[start : start + width])
        start += width
    z = net.logits(x, masks)
    if net.output_activation == "softmax":
        z = z - z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -logp[np.arange(len(y)), y].mean(), (z.argmax(1) == y).mean()
    if net.output_activation == "sigmoid":
        t = z[:, 0]
        loss = np.maximum(t, 0) - t * y + np.log1p(np.exp(-abs(t)))
        return loss.mean(), ((t > 0) == y).mean()
    return ((z[:, 0] - y) ** 2).mean(), math.nan


CASES = [
    ([5], 2, "softmax"),
    ([4], 3, "softmax"),
    ([5], 1, "sigmoid"),
    ([3, 3], 2, "softmax"),
    ([4], 1, "linear"),
]


def data_for(net: Net, n: int = 40, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 2)).astype(np.float32)
    k = net.n_outputs
    if net.output_activation == "linear":
        return x, rng.normal(size=n).astype(np.float32)
    return x, rng.integers(0, max(k, 2), size=n).astype(np.int32)


@pytest.mark.parametrize(("hidden", "out", "output"), CASES)
def test_batched_loss_and_grad_match_numpy_and_finite_differences(hidden, out, output) -> None:
    net = random_net(hidden, out, output)
    x, y = data_for(net)
    n = nr.n_units(net)
    masks = np.random.default_rng(2).uniform(0, 1, size=(7, n)).astype(np.float32)
    loss, grad = nr.loss_and_grad(net, x, y, masks, chunk=3)
    h = 1e-6  # float64 reference; ReLU kinks lie within h of a mask value only by chance
    for k in range(len(masks)):
        assert loss[k] == pytest.approx(numpy_loss(net, x, y, masks[k])[0], rel=1e-4, abs=1e-5)
        for i in range(n):
            up, down = masks[k].astype(np.float64), masks[k].astype(np.float64)
            up[i] += h
            down[i] -= h
            fd = (numpy_loss(net, x, y, up)[0] - numpy_loss(net, x, y, down)[0]) / (2 * h)
            assert grad[k, i] == pytest.approx(fd, rel=2e-3, abs=2e-4)


@pytest.mark.parametrize(("hidden", "out", "output"), CASES)
def test_enumeration_matches_numpy_for_every_mask(hidden, out, output) -> None:
    net = random_net(hidden, out, output, seed=3)
    x, y = data_for(net, seed=4)
    n = nr.n_units(net)
    table = nr.enumerate_masks(net, x, y, chunk=5)  # several chunks, a partial last one
    assert table.loss.shape == (1 << n,)
    for s in range(1 << n):
        mask = np.array([(s >> i) & 1 for i in range(n)], float)
        loss, accuracy = numpy_loss(net, x, y, mask)
        assert table.loss[s] == pytest.approx(loss, rel=1e-4, abs=1e-5)
        if output != "linear":
            assert table.accuracy[s] == pytest.approx(accuracy, abs=1e-6)
    assert np.array_equal(table.sizes, [bin(s).count("1") for s in range(1 << n)])
    loss2, accuracy2 = nr.loss_and_accuracy(net, x, y, nr.masks_of(np.arange(1 << n), n))
    np.testing.assert_allclose(loss2, table.loss, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(accuracy2, table.accuracy, atol=1e-6)


@pytest.mark.parametrize(("hidden", "out", "output"), [CASES[0], CASES[3]])
def test_progress_reports_every_mask_once_chunk_by_chunk(hidden, out, output) -> None:
    """One hidden layer (meet in the middle) and two (plain chunks): the callback's counts are
    the masks of each call, in order, adding up to all of them."""
    net = random_net(hidden, out, output, seed=5)
    x, y = data_for(net)
    n = nr.n_units(net)
    seen: list[int] = []
    nr.enumerate_masks(net, x, y, chunk=8, progress=seen.append)
    assert sum(seen) == 1 << n and len(seen) > 1 and all(k > 0 for k in seen)
    masks = np.ones((11, n))  # float64 masks are fine: every chunk goes in as float32
    counted: list[int] = []
    nr.loss_and_grad(net, x, y, masks, chunk=4, progress=counted.append)
    assert counted == [4, 4, 3]
    counted.clear()
    nr.loss_and_accuracy(net, x, y, masks, chunk=5, progress=counted.append)
    assert counted == [5, 5, 1]


def shapley_by_permutations(v: dict[frozenset, float], n: int) -> np.ndarray:
    """The definition: the average over all n! orders of each player's marginal gain."""
    phi = np.zeros(n)
    orders = list(itertools.permutations(range(n)))
    for order in orders:
        members: set[int] = set()
        for i in order:
            before = v[frozenset(members)]
            members.add(i)
            phi[i] += v[frozenset(members)] - before
    return phi / len(orders)


def test_shapley_and_banzhaf_against_the_definitions() -> None:
    n = 5
    rng = np.random.default_rng(5)
    values = rng.normal(size=1 << n)
    v = {frozenset(i for i in range(n) if (s >> i) & 1): values[s] for s in range(1 << n)}
    np.testing.assert_allclose(nr.shapley(values), shapley_by_permutations(v, n), atol=1e-12)
    banzhaf = [np.mean([v[S | {i}] - v[S] for S in v if i not in S]) for i in range(n)]
    np.testing.assert_allclose(nr.banzhaf(values), banzhaf, atol=1e-12)
    assert nr.shapley(values).sum() == pytest.approx(values[-1] - values[0])  # efficiency


def test_shapley_of_an_additive_game_is_each_players_weight() -> None:
    weights = np.array([0.5, -1.0, 2.0, 0.0])
    values = nr.masks_of(np.arange(16), 4) @ weights
    np.testing.assert_allclose(nr.shapley(values), weights, atol=1e-12)
    np.testing.assert_allclose(nr.banzhaf(values), weights, atol=1e-12)


def test_enumeration_refuses_wide_nets() -> None:
    net = random_net([30], 2, "softmax")
    with pytest.raises(ValueError) as error:
        nr.enumerate_masks(net, np.zeros((2, 2), np.float32), np.zeros(2, np.int32))
    assert str(error.value) == (
        "exact enumeration needs 2^30 masks; the limit is 2^24 (study.exact_limit): use the "
        "Monte Carlo estimates for nets this wide"
    )
    # A net exactly at the limit is enumerated, into float32 tables (the .npz contract).
    net = random_net([4], 2, "softmax")
    x, y = data_for(net)
    table = nr.enumerate_masks(net, x, y, limit=4)
    assert table.loss.dtype == np.float32 and table.accuracy.dtype == np.float32
    deep = nr.enumerate_masks(random_net([2, 2], 2, "softmax"), x, y, limit=4)
    assert deep.loss.dtype == np.float32 and deep.accuracy.dtype == np.float32


def test_exact_distribution_weights_sum_to_one_and_give_the_binomial() -> None:
    n = 6
    sizes = nr.popcount(np.arange(1 << n), n)
    w = nr.exact_distribution_weights(sizes, n, 0.3)
    assert w.sum() == pytest.approx(1.0)
    assert w[sizes == 2].sum() == pytest.approx(math.comb(6, 2) * 0.3**2 * 0.7**4)


def test_best_and_worst_of_each_size() -> None:
    n = 4
    values = np.random.default_rng(6).normal(size=1 << n)
    table = nr.Enumeration(values, values * np.nan)
    best, worst = nr.best_and_worst(table)
    assert len(best) == len(worst) == n + 1
    for k in range(n + 1):
        members = [s for s in range(1 << n) if bin(s).count("1") == k]
        assert best[k] == min(members, key=lambda s: values[s])
        assert worst[k] == max(members, key=lambda s: values[s])


def test_hypercube_paths_flip_every_unit_once() -> None:
    paths = nr.hypercube_paths(50, 7, np.random.default_rng(7))
    assert paths.shape == (50, 8, 7)
    steps = np.abs(np.diff(paths, axis=1)).sum(2)
    assert np.all(steps == 1)  # one flip per step
    np.testing.assert_array_equal(paths[:, -1], 1 - paths[:, 0])  # the end is the complement
    flipped = np.abs(np.diff(paths, axis=1)).argmax(2)
    assert all(sorted(row) == list(range(7)) for row in flipped)  # each unit exactly once


def test_path_covariances_by_distance_agree_under_reversal() -> None:
    rng = np.random.default_rng(8)
    log_loss = rng.normal(size=(4000, 6)).cumsum(1)
    log_loss = np.concatenate([log_loss, log_loss[:, ::-1]])  # reversal-symmetric sample
    cov, from_start, from_end = nr.path_covariances(log_loss)
    np.testing.assert_allclose(cov, np.cov(log_loss.T))
    np.testing.assert_allclose(from_start, from_end, rtol=1e-10)


def test_gaussian_smoothed_pdf_integrates_to_one_and_matches_a_normal() -> None:
    # Normal quantiles instead of random draws: no sampling noise in the comparison.
    quantiles = (np.arange(4000) + 0.5) / 4000
    samples = 0.5 + 0.2 * np.array([NormalDist().inv_cdf(q) for q in quantiles])
    grid = np.linspace(-1, 2, 3001)
    pdf = nr.gaussian_smoothed_pdf(samples, grid, 0.03)
    assert np.trapezoid(pdf, grid) == pytest.approx(1.0, abs=1e-3)
    width = math.sqrt(0.2**2 + 0.03**2)  # a normal smoothed by a Gaussian stays normal
    expected = np.exp(-0.5 * ((grid - 0.5) / width) ** 2) / (width * math.sqrt(2 * math.pi))
    assert np.max(np.abs(pdf - expected)) < 0.01 * expected.max()


def test_gaussian_smoothed_pdf_on_a_lattice_equals_the_sum_of_kernels() -> None:
    """Many samples on an even grid take the lattice path: it must agree with the sum as
    written, sample by sample, to 3e-4 of the peak (heavy tails, weights, samples far past
    the grid's ends, a grid finer and one coarser than width / 20)."""
    rng = np.random.default_rng(3)
    samples = np.concatenate([0.3 * rng.standard_t(2, 5000), [-40.0, 9.0]])
    weights = rng.random(len(samples))
    for width, grid in [
        (0.03, np.linspace(-3, 4, 2801)),  # step 0.0025 < width / 4
        (0.05, np.linspace(-2.5, 2.0, 90)),  # step 0.05 = width
    ]:
        kernels = (
            w * np.exp(-0.5 * ((grid - s) / width) ** 2)
            for s, w in zip(samples, weights, strict=True)
        )
        direct = sum(kernels) / (weights.sum() * width * math.sqrt(2 * math.pi))
        pdf = nr.gaussian_smoothed_pdf(samples, grid, width, weights)
        assert np.max(np.abs(pdf - direct)) < 3e-4 * direct.max()
    uneven = np.sort(rng.uniform(-1, 1, 300))  # not evenly spaced: the sum as written
    kernels = (
        w * np.exp(-0.5 * ((uneven - s) / 0.03) ** 2)
        for s, w in zip(samples, weights, strict=False)
    )
    direct = sum(kernels) / (weights.sum() * 0.03 * math.sqrt(2 * math.pi))
    np.testing.assert_allclose(nr.gaussian_smoothed_pdf(samples, uneven, 0.03, weights), direct)


def test_per_point_gradient_matches_finite_differences() -> None:
    net = random_net([5], 2, "softmax", seed=10)
    x, y = data_for(net, n=6, seed=11)
    loss, grad = nr.per_point_gradient(net, x, y)
    ones = np.ones(5)
    for j in range(len(x)):
        assert loss[j] == pytest.approx(
            numpy_loss(net, x[j : j + 1], y[j : j + 1], ones)[0], rel=1e-5
        )
        for i in range(5):
            up, down = ones.copy(), ones.copy()
            up[i] += 1e-4
            down[i] -= 1e-4
            fd = (
                numpy_loss(net, x[j : j + 1], y[j : j + 1], up)[0]
                - numpy_loss(net, x[j : j + 1], y[j : j + 1], down)[0]
            ) / 2e-4
            assert grad[j, i] == pytest.approx(fd, rel=1e-3, abs=1e-5)


@pytest.mark.filterwarnings("error")  # a constant sample gives NaN quietly
def test_moments_of_a_hand_computed_sample() -> None:
    """x = (0, 0, 0, 4): mean 1, m2 = 3, m3 = (3 x -1 + 27) / 4 = 6, m4 = (3 + 81) / 4 = 21."""
    described = nr.moments(np.array([0.0, 0.0, 0.0, 4.0]))
    assert described["mean"] == 1.0
    assert described["std"] == pytest.approx(math.sqrt(3))
    assert described["skew"] == pytest.approx(6 / 3**1.5)
    assert described["kurtosis"] == pytest.approx(21 / 9 - 3)
    constant = nr.moments(np.full(5, 2.0))
    assert constant["std"] == 0 and np.isnan(constant["skew"]) and np.isnan(constant["kurtosis"])
    mirrored = nr.moments(np.array([0.0, 0.0, 0.0, -4.0]))
    assert mirrored["skew"] == pytest.approx(-6 / 3**1.5)  # a left tail: negative
    normal = nr.moments(np.random.default_rng(0).normal(size=200_000))
    assert abs(normal["skew"]) < 0.02 and abs(normal["kurtosis"]) < 0.04


@pytest.mark.filterwarnings("error")  # N = 1: P_m + P_m' = 1, log 0 handled quietly
@pytest.mark.parametrize(
    ("n", "p", "draws"), [(1, 0.3, 3), (2, 0.5, 3), (3, 0.75, 4), (3, 0.25, 2)]
)
def test_expected_distinct_masks_against_every_sequence_of_draws(n, p, draws) -> None:
    """Mean and std of the number of distinct masks, enumerating all (2^n)^draws sequences."""
    probability = [
        p ** bin(m).count("1") * (1 - p) ** (n - bin(m).count("1")) for m in range(1 << n)
    ]
    mean = second = 0.0
    for sequence in itertools.product(range(1 << n), repeat=draws):
        weight = math.prod(probability[m] for m in sequence)
        distinct = len(set(sequence))
        mean += weight * distinct
        second += weight * distinct**2
    got_mean, got_std = nr.expected_distinct_masks(n, p, draws)
    assert got_mean == pytest.approx(mean, rel=1e-12)
    assert got_std == pytest.approx(math.sqrt(second - mean**2), rel=1e-9)


def test_expected_distinct_masks_of_section_1() -> None:
    """§1: 1000 masks at p = 0.75 over 20 units; a simulation agrees with the closed form."""
    mean, std = nr.expected_distinct_masks(20, 0.75, 1000)
    assert mean == pytest.approx(966.19, abs=0.01) and std == pytest.approx(6.01, abs=0.01)
    rng = np.random.default_rng(1)
    counts = [
        len(np.unique(np.packbits(rng.random((1000, 20)) < 0.75, axis=1), axis=0))
        for _ in range(400)
    ]
    assert np.mean(counts) == pytest.approx(mean, abs=4 * std / 20)
    assert np.std(counts) == pytest.approx(std, rel=0.2)


def test_decorrelation_distance_of_hand_made_paths() -> None:
    """Paths whose steps 0-2 share one normal and the rest are independent: the start
    decorrelates after 3 flips (and the end, by symmetry, too)."""
    rng = np.random.default_rng(3)
    n_paths = 20_000
    shared = rng.normal(size=(n_paths, 1))
    log_loss = rng.normal(size=(n_paths, 8)) * 0.1
    log_loss[:, :3] += shared
    log_loss[:, 5:] += rng.normal(size=(n_paths, 1))  # the end shares with its 2 neighbours
    assert nr.decorrelation_distance(log_loss) == 3
    never = np.repeat(rng.normal(size=(n_paths, 1)), 5, axis=1)
    assert nr.decorrelation_distance(never) == 5  # N + 1 = the number of steps


def test_only_evenly_spaced_increasing_grids_take_the_lattice_path() -> None:
    """The lattice sum needs a grid of one positive step (to 1e-6 relative)."""
    assert nr._evenly_spaced(np.linspace(-0.2, 0.3, 51))
    assert nr._evenly_spaced(np.linspace(1.0, 3.0, 5))  # a step above 1
    assert not nr._evenly_spaced(np.array([0.0, 0.2, 0.3, 0.4]))  # the first step differs
    assert not nr._evenly_spaced(np.array([0.0, 0.1, 0.2, 0.35]))  # the last step differs
    assert not nr._evenly_spaced(np.linspace(1.0, 0.0, 11))  # decreasing
    assert not nr._evenly_spaced(np.zeros(5))  # no step at all
    assert not nr._evenly_spaced(np.array([0.0, 1.0, 2.0, 3.000005]))  # 5e-6 off: uneven
    assert nr._evenly_spaced(np.array([0.0, 1.0, 2.0, 3.0000005]))  # 5e-7 off: even
    tiny = np.arange(5) * 1e-9
    assert not nr._evenly_spaced(tiny + np.array([0, 0, 0, 0, 5e-10]))  # relative, not absolute


def reference_decorrelation(log_loss: np.ndarray) -> int:
    """First d with (corr(L_0, L_d) + corr(L_N, L_{N-d})) / 2 < 1.96 / sqrt(paths), else N+1."""
    paths, steps = log_loss.shape
    last = steps - 1
    for d in range(1, steps):
        a = np.corrcoef(log_loss[:, 0], log_loss[:, d])[0, 1]
        b = np.corrcoef(log_loss[:, last], log_loss[:, last - d])[0, 1]
        if (a + b) / 2 < 1.96 / math.sqrt(paths):
            return d
    return steps


@pytest.mark.parametrize("seed", range(40))
def test_decorrelation_distance_against_its_definition(seed) -> None:
    """Random walks of random lengths, noise, scales and offsets per step, few paths (so the
    threshold 1.96 / sqrt(paths) is large): the distance as np.corrcoef defines it."""
    rng = np.random.default_rng(seed)
    paths, steps = int(rng.integers(20, 80)), int(rng.integers(4, 12))
    walk = rng.normal(size=(paths, steps)).cumsum(1) * rng.uniform(0.2, 1.0)
    noise = rng.normal(size=(paths, steps)) * rng.uniform(0.5, 3.0)
    scale, offset = rng.uniform(0.1, 5.0, steps), rng.uniform(-10, 10, steps)
    log_loss = (walk + noise) * scale + offset
    assert nr.decorrelation_distance(log_loss) == reference_decorrelation(log_loss)
