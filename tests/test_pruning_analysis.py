"""`toynets.analysis.pruning` against hand computations and definitions written out here."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from toynets.analysis import pruning as pr
from toynets.net import Layer, Net

RNG = np.random.default_rng(5)


def random_net(sizes=(4, 5), n_in=2, n_out=2, activation="relu", out="softmax", k=1) -> Net:
    rng = np.random.default_rng(11)
    widths = [n_in, *sizes, n_out]
    layers = []
    for i in range(len(widths) - 1):
        last = i == len(widths) - 2
        cols = widths[i + 1] * (1 if last else k)
        W = rng.normal(size=(widths[i], cols))
        b = rng.normal(size=cols) * 0.3
        layers.append(Layer(W, b, out if last else activation, 1 if last else k))
    return Net(tuple(layers))


def forward_with_constants(net: Net, x: np.ndarray, constants: list[dict[int, float]]):
    """Logits of `net` with hidden unit i of layer l forced to constants[l][i] (written out
    from the definition: a_{l+1} = f(a_l W_l + b_l), then the forced units overwritten)."""
    a = x.astype(np.float64)
    for layer, forced in zip(net.layers[:-1], constants, strict=True):
        z = a @ layer.W + layer.b
        if layer.activation == "maxout":
            a = z.reshape(len(z), -1, layer.k).max(-1)
        elif layer.activation == "relu":
            a = np.maximum(z, 0)
        else:
            a = np.tanh(z)
        a = a.copy()
        for unit, value in forced.items():
            a[:, unit] = value
    return a @ net.layers[-1].W + net.layers[-1].b


def test_compensation_equals_a_hand_computed_case() -> None:
    # 1 input -> 3 relu units -> 1 linear output; x in {1, 3}.
    # h = relu(x * [1, -1, 2] + [0, 4, -1]) -> at x=1: [1, 3, 1]; at x=3: [3, 1, 5]
    # means xbar = [2, 2, 3]; output y = h @ [1, 10, 100] + 0.5
    net = Net(
        (
            Layer(np.array([[1.0, -1.0, 2.0]]), np.array([0.0, 4.0, -1.0]), "relu"),
            Layer(np.array([[1.0], [10.0], [100.0]]), np.array([0.5]), "linear"),
        )
    )
    x = np.array([[1.0], [3.0]])
    means = pr.mean_activations(net, x)
    np.testing.assert_allclose(means[0], [2.0, 2.0, 3.0])
    pruned = pr.prune(net, [[1, 2]], means)
    # b~ = 0.5 + 2 * 10 + 3 * 100 = 320.5; the kept unit 0 keeps its weights
    np.testing.assert_allclose(pruned.layers[1].b, [320.5])
    np.testing.assert_allclose(pruned.layers[1].W, [[1.0]])
    np.testing.assert_allclose(pruned.layers[0].W, [[1.0]])
    np.testing.assert_allclose(pruned.layers[0].b, [0.0])
    # outputs: h0 + 320.5 -> [321.5, 323.5]
    np.testing.assert_allclose(pruned.logits(x)[:, 0], [321.5, 323.5])
    plain = pr.prune(net, [[1, 2]])
    np.testing.assert_allclose(plain.layers[1].b, [0.5])
    np.testing.assert_allclose(plain.logits(x)[:, 0], [1.5, 3.5])


def test_removing_a_constant_unit_changes_nothing() -> None:
    net = random_net((5, 4))
    # unit 2 of layer 0 has no incoming weights: relu(0.7) = 0.7 for every input
    W0 = net.layers[0].W.copy()
    b0 = net.layers[0].b.copy()
    W0[:, 2], b0[2] = 0.0, 0.7
    # unit 1 of layer 1 too (constant 1.3)
    W1 = net.layers[1].W.copy()
    b1 = net.layers[1].b.copy()
    W1[:, 1], b1[1] = 0.0, 1.3
    net = Net((Layer(W0, b0, "relu"), Layer(W1, b1, "relu"), net.layers[2]))
    x = RNG.normal(size=(200, 2))
    pruned = pr.prune(net, [[2], [1]], pr.mean_activations(net, x))
    x_new = RNG.normal(size=(300, 2)) * 3  # points the means never saw
    assert np.abs(pruned.logits(x_new) - net.logits(x_new)).max() < 1e-6
    assert pruned.hidden_sizes == [4, 3]
    plain = pr.prune(net, [[2], [1]])
    assert np.abs(plain.logits(x_new) - net.logits(x_new)).max() > 0.01


@pytest.mark.parametrize("activation,k", [("relu", 1), ("tanh", 1), ("maxout", 2)])
def test_pruned_net_is_the_original_with_removed_units_at_their_mean(activation, k) -> None:
    net = random_net((6, 5), n_in=3, n_out=3, activation=activation, k=k)
    x = RNG.normal(size=(400, 3))
    removed = [[0, 3, 4], [2]]
    means = pr.mean_activations(net, x)
    pruned = pr.prune(net, removed, means)
    constants = [{u: means[layer][u] for u in units} for layer, units in enumerate(removed)]
    x_new = RNG.normal(size=(100, 3))
    expected = forward_with_constants(net, x_new, constants)
    np.testing.assert_allclose(pruned.logits(x_new), expected, atol=1e-9)
    assert pruned.hidden_sizes == [3, 4]
    assert pruned.layers[0].W.shape == (3, 3 * k)
    # the means are the averages of the hidden outputs over x, computed here directly
    first = Net((net.layers[0], Layer(np.eye(6), np.zeros(6), "linear")))
    h0 = forward_with_constants(first, x, [{}])
    np.testing.assert_allclose(means[0], h0.mean(0), atol=1e-12)


def test_prune_refuses_what_it_cannot_do() -> None:
    net = random_net((3, 2))
    with pytest.raises(ValueError, match="2 hidden layers"):
        pr.prune(net, [[0]])
    with pytest.raises(ValueError, match=r"units 0\.\.2"):
        pr.prune(net, [[3], []])
    with pytest.raises(ValueError, match="lose all its 2 units"):
        pr.prune(net, [[], [0, 1]])
    assert (
        pr.prune(net, [[], []]).logits(np.ones((1, 2))).tolist()
        == net.logits(np.ones((1, 2))).tolist()
    )


def test_n_params_counts_weights_and_biases() -> None:
    net = random_net((4, 5))  # 2*4+4 + 4*5+5 + 5*2+2 = 12 + 25 + 12
    assert pr.n_params(net) == 49
    assert pr.n_params(pr.prune(net, [[0], [1, 2]])) == (2 * 3 + 3) + (3 * 3 + 3) + (3 * 2 + 2)


def test_activation_criteria_against_numpy() -> None:
    net = random_net((6, 4))
    x = RNG.normal(size=(300, 2))
    h0 = np.maximum(x @ net.layers[0].W + net.layers[0].b, 0)
    h1 = np.maximum(h0 @ net.layers[1].W + net.layers[1].b, 0)
    for got, h in zip(pr.activation_std(net, x), (h0, h1), strict=True):
        np.testing.assert_allclose(got, np.sqrt(((h - h.mean(0)) ** 2).mean(0)))
    for got, h in zip(pr.mean_abs_activation(net, x), (h0, h1), strict=True):
        np.testing.assert_allclose(got, np.abs(h).mean(0))
    norms = pr.weight_norm(net)
    by_hand = [math.sqrt(sum(w * w for w in row)) for row in net.layers[1].W]
    np.testing.assert_allclose(norms[0], by_hand)
    np.testing.assert_allclose(norms[1], np.linalg.norm(net.layers[2].W, axis=1))
    order = pr.removal_order("activation_std", net, x)
    expected = [np.argsort(h.std(0), kind="stable").tolist() for h in (h0, h1)]
    assert [o.tolist() for o in order] == expected
    assert pr.removal_order("weight_norm", net, x)[1].tolist() == np.argsort(norms[1]).tolist()
    by_mean = np.argsort(np.abs(h0).mean(0)).tolist()
    assert pr.removal_order("mean_abs_activation", net, x)[0].tolist() == by_mean


def test_ties_keep_the_lower_index_first() -> None:
    assert pr.order_by(np.array([1.0, 0.0, 1.0, 0.0])).tolist() == [1, 3, 0, 2]
    # many ties (dead units all score 0): by score, then by index
    scores = np.random.default_rng(4).integers(0, 3, size=500).astype(float)
    expected = sorted(range(500), key=lambda i: (scores[i], i))
    assert pr.order_by(scores).tolist() == expected


def test_random_orders_are_permutations_and_nested() -> None:
    net = random_net((6, 4))
    order = pr.removal_order("random", net, None, rng=np.random.default_rng(3))
    assert sorted(order[0].tolist()) == list(range(6)) and sorted(order[1].tolist()) == [0, 1, 2, 3]
    small = pr.removed_units(order, [0.34, 0.25])
    large = pr.removed_units(order, [0.67, 0.5])
    assert [len(s) for s in small] == [2, 1] and [len(s) for s in large] == [4, 2]
    assert all(set(s) <= set(big) for s, big in zip(small, large, strict=True))
    with pytest.raises(ValueError, match="rng"):
        pr.removal_order("random", net, None)
    with pytest.raises(ValueError, match="activation_std"):
        pr.removal_order("largest", net, np.zeros((1, 2)))


def test_removed_units_round_and_keep_one_unit() -> None:
    order = [np.array([4, 0, 3, 1, 2]), np.array([1, 0])]
    assert pr.n_removed(5, 0.5) == 2  # round(2.5) = 2 (to even)
    assert pr.n_removed(5, 0.3) == 2  # round(1.5) = 2
    assert pr.n_removed(10, 0.25) == 2
    assert pr.n_removed(5, 0.99) == 4
    assert pr.n_removed(2, 0.9) == 1
    assert pr.n_removed(20, 0.0) == 0
    got = pr.removed_units(order, [0.6, 0.5])
    assert [g.tolist() for g in got] == [[0, 3, 4], [1]]
    with pytest.raises(ValueError, match="1 fractions for 2"):
        pr.removed_units(order, [0.5])
    assert [k.tolist() for k in pr.kept_units([5, 2], got)] == [[1, 2], [0]]


def brute_force_shapley(value, n: int) -> np.ndarray:
    """phi_i = mean over all n! orders of v(before i + i) - v(before i)."""
    phi = np.zeros(n)
    orders = list(itertools.permutations(range(n)))
    for order in orders:
        on: set[int] = set()
        for unit in order:
            before = value(frozenset(on))
            on.add(unit)
            phi[unit] += value(frozenset(on)) - before
    return phi / len(orders)


def numpy_loss(net: Net, x, y, layer: int, on: frozenset) -> float:
    """Softmax cross-entropy of the net with only the units `on` of hidden layer `layer`."""
    a = x.astype(np.float64)
    for i, lay in enumerate(net.layers[:-1]):
        a = np.maximum(a @ lay.W + lay.b, 0)
        if i == layer:
            a = a * np.array([1.0 if u in on else 0.0 for u in range(a.shape[1])])
    z = a @ net.layers[-1].W + net.layers[-1].b
    z = z - z.max(1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]))


def test_shapley_exact_and_sampled_against_all_orders() -> None:
    net = random_net((4, 3), n_out=3)
    x = RNG.normal(size=(60, 2))
    y = RNG.integers(0, 3, size=60)
    exact = pr.layer_shapley(net, x, y, pr.ShapleySettings(exact_limit=12))
    for layer, n in enumerate(net.hidden_sizes):
        reference = brute_force_shapley(lambda s, lay=layer: -numpy_loss(net, x, y, lay, s), n)
        np.testing.assert_allclose(exact[layer], reference, atol=1e-5)
    # every order once: the sampled formula is the exact average
    orders = np.array(list(itertools.permutations(range(4))))
    values = -pr.layer_losses(net, x, y, 0, pr.permutation_masks(orders).reshape(-1, 4))
    sampled = pr.sampled_shapley(values.reshape(len(orders), 5), orders)
    np.testing.assert_allclose(sampled, exact[0], atol=1e-5)
    # the random estimate, through layer_shapley, is close with many orders
    estimate = pr.layer_shapley(
        net, x, y, pr.ShapleySettings(exact_limit=0, permutations=3000, seed=1)
    )
    np.testing.assert_allclose(estimate[0], exact[0], atol=0.05 * np.abs(exact[0]).max() + 1e-3)
    # efficiency: the values add up to v(all) - v(none) = L(none) - L(all)
    full = numpy_loss(net, x, y, 0, frozenset(range(4)))
    empty = numpy_loss(net, x, y, 0, frozenset())
    assert exact[0].sum() == pytest.approx(empty - full, abs=1e-5)
    order = pr.removal_order("shapley", net, x, y)
    assert order[0].tolist() == np.argsort(exact[0], kind="stable").tolist()
    with pytest.raises(ValueError, match="targets"):
        pr.removal_order("shapley", net, x)


def test_shapley_scores_only_the_first_points() -> None:
    net = random_net((3, 3))
    x = RNG.normal(size=(50, 2))
    y = RNG.integers(0, 2, size=50)
    few = pr.layer_shapley(net, x, y, pr.ShapleySettings(points=20))
    direct = pr.layer_shapley(net, x[:20], y[:20])
    np.testing.assert_allclose(few[0], direct[0])


def test_permutation_masks_by_hand() -> None:
    masks = pr.permutation_masks(np.array([[2, 0, 1]]))
    assert masks[0].tolist() == [[0, 0, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1]]
    # gains of v = number of units on squared: order 2, 0, 1 -> 1, 3, 5
    values = (masks.sum(-1) ** 2).astype(float)
    assert pr.sampled_shapley(values, np.array([[2, 0, 1]])).tolist() == [3.0, 5.0, 1.0]


@pytest.mark.parametrize("output", ["softmax", "sigmoid", "linear"])
def test_losses_and_accuracy_against_definitions(output: str) -> None:
    k = 3 if output == "softmax" else 1
    z = RNG.normal(size=(40, k)) * 3
    if output == "softmax":
        y = RNG.integers(0, 3, size=40)
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        expected = -np.log(p[np.arange(40), y])
        correct = z.argmax(1) == y
    elif output == "sigmoid":
        y = RNG.integers(0, 2, size=40)
        p = 1 / (1 + np.exp(-z[:, 0]))
        expected = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        correct = (p > 0.5) == y
    else:
        y = RNG.normal(size=40)
        expected = (z[:, 0] - y) ** 2
        correct = None
    np.testing.assert_allclose(pr.example_losses(output, y, z), expected, rtol=1e-10)
    net = Net((Layer(np.eye(k), np.zeros(k), output),))
    loss, accuracy = pr.loss_and_accuracy(net, z, y)
    assert loss == pytest.approx(expected.mean())
    if correct is None:
        assert math.isnan(accuracy)
    else:
        assert accuracy == pytest.approx(correct.mean())


def test_compare_kernels_by_hand() -> None:
    a = np.array([[0.1, 0.2], [0.3, 0.4]])
    b = np.array([[0.1, 0.8], [0.3, -0.2]])
    c = pr.compare_kernels(a, b)
    assert c.unchanged == 0.5
    np.testing.assert_allclose(c.shift, [0.6, -0.6])
    assert c.correlation == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    assert math.isnan(pr.compare_kernels(a, np.ones((2, 2))).correlation)
    with pytest.raises(ValueError, match="4 and 2"):
        pr.compare_kernels(a, np.ones(2))
    assert pr.never_updated(a, b).tolist() == [[True, False], [True, False]]
    W = np.arange(12).reshape(3, 4)
    assert pr.kernel_between(W, np.array([0, 2]), np.array([1, 3])).tolist() == [[1, 3], [9, 11]]


def test_pruned_arrays_keep_their_type() -> None:
    net = random_net((4, 3))
    net32 = Net(
        tuple(
            Layer(x.W.astype(np.float32), x.b.astype(np.float32), x.activation) for x in net.layers
        )
    )
    x = RNG.normal(size=(50, 2))
    pruned = pr.prune(net32, [[1], [0]], pr.mean_activations(net32, x))
    assert {layer.W.dtype for layer in pruned.layers} == {np.dtype(np.float32)}
    assert {layer.b.dtype for layer in pruned.layers} == {np.dtype(np.float32)}


def test_losses_stay_finite_whatever_the_scale_of_each_row() -> None:
    # rows far apart: the log-sum-exp shift is each row's own maximum
    z = np.array([[1000.0, 999.0], [0.0, -1.0], [-800.0, -805.0]])
    y = np.array([1, 0, 0])
    expected = [np.log1p(np.exp(-1.0)) + 1.0, np.log1p(np.exp(-1.0)), np.log1p(np.exp(-5.0))]
    np.testing.assert_allclose(pr.example_losses("softmax", y, z), expected, rtol=1e-9)
    # labels given as floats pick the same class
    np.testing.assert_allclose(pr.example_losses("softmax", y.astype(float), z), expected)


def test_float32_logits_are_scored_in_float64() -> None:
    z = np.random.default_rng(8).normal(size=(30, 3)).astype(np.float32) * 4
    y = np.arange(30) % 3
    z64 = z.astype(np.float64)
    expected = np.log(np.exp(z64).sum(1)) - z64[np.arange(30), y]
    np.testing.assert_allclose(pr.example_losses("softmax", y, z), expected, rtol=1e-9)


def test_a_logit_of_zero_is_class_0() -> None:
    z = np.array([[0.0], [1e-9], [-1e-9]])
    assert pr.example_correct("sigmoid", np.array([0, 1, 0]), z).tolist() == [1.0, 1.0, 1.0]
    assert pr.example_correct("sigmoid", np.array([1, 0, 1]), z).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("layer", [0, 1])
def test_layer_losses_on_a_maxout_net(layer: int) -> None:
    """Masks on either layer of a 2 -> 4 -> 3 maxout net (k = 2): the layers after the
    masked one are maxout layers too."""
    net = random_net((4, 3), n_out=3, activation="maxout", k=2)
    x = RNG.normal(size=(40, 2))
    y = np.arange(40) % 3
    units = net.hidden_sizes[layer]
    local = np.array([[1] * units, [0] * units, [1, 0] * (units // 2) + [1] * (units % 2)], float)
    got = pr.layer_losses(net, x, y, layer, local)
    for mask, loss in zip(local, got, strict=True):
        h = x
        for i, hidden in enumerate(net.layers[:-1]):
            z = h @ hidden.W + hidden.b
            h = z.reshape(len(z), -1, 2).max(-1) * (mask if i == layer else 1.0)
        z = h @ net.layers[-1].W + net.layers[-1].b
        expected = np.mean(np.log(np.exp(z).sum(1)) - z[np.arange(40), y])
        assert loss == pytest.approx(expected, rel=1e-5)


def test_sampled_shapley_is_seeded() -> None:
    net = random_net((5, 3))
    x = RNG.normal(size=(40, 2))
    y = np.arange(40) % 2
    settings = pr.ShapleySettings(exact_limit=0, permutations=6, seed=3)
    first = pr.layer_shapley(net, x, y, settings)
    again = pr.layer_shapley(net, x, y, settings)
    other = pr.layer_shapley(net, x, y, pr.ShapleySettings(exact_limit=0, permutations=6, seed=4))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.allclose(first[0], other[0])


def test_a_layer_of_exactly_the_exact_limit_is_enumerated() -> None:
    net = random_net((4, 3))
    x = RNG.normal(size=(60, 2))
    y = np.arange(60) % 2
    exact = pr.layer_shapley(net, x, y, pr.ShapleySettings(exact_limit=12))
    # limit 4: the 4-unit layer is enumerated (2 random orders would not give its values)
    boundary = pr.layer_shapley(net, x, y, pr.ShapleySettings(exact_limit=4, permutations=2))
    np.testing.assert_allclose(boundary[0], exact[0], rtol=1e-6)
    sampled = pr.layer_shapley(net, x, y, pr.ShapleySettings(exact_limit=3, permutations=2))
    assert not np.allclose(sampled[0], exact[0], rtol=1e-3)


def test_removal_order_scores_shapley_with_the_given_settings() -> None:
    net = random_net((6, 3))
    x = RNG.normal(size=(80, 2))
    y = np.arange(80) % 2
    settings = pr.ShapleySettings(exact_limit=0, permutations=3, points=15, seed=2)
    order = pr.removal_order("shapley", net, x, y, shapley=settings)
    scores = pr.layer_shapley(net, x, y, settings)
    assert [o.tolist() for o in order] == [np.argsort(s, kind="stable").tolist() for s in scores]
    default = pr.removal_order("shapley", net, x, y)
    assert [o.tolist() for o in order] != [o.tolist() for o in default]


def test_errors_say_what_is_missing() -> None:
    net = random_net((3, 2))
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"^the random criterion needs a generator \(rng\)$"):
        pr.removal_order("random", net, x)
    with pytest.raises(ValueError, match=r"^the shapley criterion needs the training targets"):
        pr.removal_order("shapley", net, x)
    choose = "choose one of random, activation_std, mean_abs_activation, weight_norm, shapley$"
    with pytest.raises(ValueError, match=choose):
        pr.removal_order("largest", net, x)
    with pytest.raises(ValueError):
        pr.kept_units([5, 2], [np.array([0])])


def test_a_constant_kernel_has_no_correlation_and_no_warning() -> None:
    a = np.array([[0.1, 0.2], [0.3, 0.4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(pr.compare_kernels(a, np.ones((2, 2))).correlation)
        assert math.isnan(pr.compare_kernels(np.ones((2, 2)), a).correlation)
