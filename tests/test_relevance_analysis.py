"""toynets.analysis.relevance against the independent matrix-form reference of
tests/relevance_reference.py (point by point, written from §2's formulas) and against the
properties §2 states: conservation, the Q-form, the scaling table, the two max formulations."""

from __future__ import annotations

import dataclasses
import itertools
import warnings

import numpy as np
import pytest

import relevance_reference as ref
from toynets.analysis import relevance as rel
from toynets.net import Layer, Net

ACTIVATIONS = ["relu", "tanh", "sigmoid", "linear", "maxout"]


def random_net(activation: str, seed: int, sizes=(3, 5, 4, 3), bias: float = 0.5, k: int = 3):
    """A random net: hidden layers of `activation` (maxout: groups of k), a linear output."""
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, units) in enumerate(itertools.pairwise(sizes)):
        last = i == len(sizes) - 2
        kk = 1 if last or activation != "maxout" else k
        W = rng.normal(size=(fan_in, units * kk))
        b = rng.normal(size=units * kk) * bias
        layers.append(Layer(W, b, "softmax" if last else activation, kk))
    return Net(tuple(layers))


def as_reference(net: Net) -> list[dict]:
    return [
        {
            "W": layer.W.astype(np.float64),
            "b": layer.b.astype(np.float64),
            "act": "linear" if i == len(net.layers) - 1 else layer.activation,
            "k": layer.k,
        }
        for i, layer in enumerate(net.layers)
    ]


def points(net: Net, n: int = 30, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).normal(size=(n, net.n_inputs)) * 1.5
    return x, net.logits(x).argmax(axis=-1)


def explain(net, x, target, method, baseline=None, **settings):
    return rel.explain(net, x, target, [method], rel.Settings(**settings), baseline)[method]


def per_unit(bias: np.ndarray, k: int) -> np.ndarray:
    return bias.reshape(len(bias), -1, k).sum(-1)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_and_gradient_x_input_match_the_jacobian_chain(activation):
    net = random_net(activation, 0)
    x, t = points(net)
    layers = as_reference(net)
    np.testing.assert_allclose(explain(net, x, t, "gradient").inputs, ref.gradient(layers, x, t))
    expected = ref.gradient_x_input(layers, x, t)
    got = explain(net, x, t, "gradient_x_input")
    np.testing.assert_allclose(got.inputs, expected, atol=1e-12)
    assert all(np.all(b == 0) for b in got.biases)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(
    ("method", "eps", "bias"),
    [
        ("lrp0", 0.0, "absorb"),
        ("lrp_epsilon", 0.3, "absorb"),
        ("lrp_conserving", 0.3, "ignore"),
        ("lrp_conserving", 0.0, "ignore"),
    ],
)
def test_lrp_family_matches_the_reference(activation, method, eps, bias):
    net = random_net(activation, 2)
    x, t = points(net)
    expected_inputs, expected_biases = ref.lrp(as_reference(net), x, t, eps=eps, bias=bias)
    got = explain(net, x, t, method, epsilon=eps)
    np.testing.assert_allclose(got.inputs, expected_inputs, rtol=1e-9, atol=1e-9)
    for layer, mine, theirs in zip(net.layers, got.biases, expected_biases, strict=True):
        np.testing.assert_allclose(mine, per_unit(theirs, layer.k), rtol=1e-9, atol=1e-9)
    if bias == "ignore":
        assert all(np.all(b == 0) for b in got.biases)  # the bias keeps nothing


def test_radial_max_rule_matches_the_reference():
    net = random_net("maxout", 3)
    x, t = points(net)
    expected, _ = ref.lrp(as_reference(net), x, t, max_rule="radial")
    got = explain(net, x, t, "lrp0", max_rule="radial")
    np.testing.assert_allclose(got.inputs, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "groups",
    [
        [3.0, 1.0, -2.0],  # positives share by size
        [-1.0, -4.0, -2.0],  # all negative: 1 / (a_i sum 1/a_j)
        [0.0, -1.0, -3.0],  # b = 0: the argmax
        [2.0, 0.0, -1.0],
    ],
)
def test_radial_shares_by_hand(groups):
    expected = ref.radial_shares(np.array(groups))
    np.testing.assert_allclose(rel.radial_shares(np.array([groups]))[0], expected)
    by_hand = {
        (3.0, 1.0, -2.0): [0.75, 0.25, 0.0],
        (-1.0, -4.0, -2.0): [1 / (-1 * -1.75), 1 / (-4 * -1.75), 1 / (-2 * -1.75)],
        (0.0, -1.0, -3.0): [1.0, 0.0, 0.0],
        (2.0, 0.0, -1.0): [1.0, 0.0, 0.0],
    }[tuple(groups)]
    np.testing.assert_allclose(rel.radial_shares(np.array([groups]))[0], by_hand)


@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_alphabeta_and_zplus_match_the_loops(alpha):
    net = random_net("relu", 4)
    x, t = points(net)
    expected, expected_biases = ref.lrp_alphabeta(as_reference(net), x, t, alpha, alpha - 1)
    method = "lrp_zplus" if alpha == 1.0 else "lrp_alphabeta"
    got = explain(net, x, t, method, alpha=alpha)
    np.testing.assert_allclose(got.inputs, expected, rtol=1e-9, atol=1e-9)
    for mine, theirs in zip(got.biases, expected_biases, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_blame_bias_is_the_literal_bias_free_net_and_conserves_exactly(activation):
    """§2 solution 1, built literally in the reference: one constant 1 per bias, carried
    through identity units; the module's biases and inputs are what that net's LRP gives."""
    net = random_net(activation, 5)
    x, t = points(net)
    layers = as_reference(net)
    inputs, biases = ref.blame_bias_augmented(layers, x, t)
    got = explain(net, x, t, "blame_bias")
    np.testing.assert_allclose(got.inputs, inputs, rtol=1e-9, atol=1e-9)
    for layer, mine, theirs in zip(net.layers, got.biases, biases, strict=True):
        np.testing.assert_allclose(mine, per_unit(theirs, layer.k), rtol=1e-9, atol=1e-9)
    output = net.logits(x)[np.arange(len(x)), t]
    error = rel.conservation_error(got, output)
    assert np.abs(error).max() < 1e-12 * max(1.0, np.abs(output).max())
    shared_inputs, shared_total = ref.blame_bias_shared(layers, x, t)
    shared = explain(net, x, t, "blame_bias_shared")
    np.testing.assert_allclose(shared.inputs, shared_inputs, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(shared.biases[0][:, 0], shared_total, rtol=1e-9, atol=1e-9)
    assert len(shared.biases) == 1


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_the_q_form_equals_lrp(activation):
    """Q(a) = R(a)/a by gradient matrices and slope nonlinearities from Q = 1 gives LRP-0's
    input relevance and the relevance the biases absorb (§2, "Simplifying the LRP")."""
    net = random_net(activation, 6)
    x, t = points(net)
    expected, expected_biases = ref.lrp(as_reference(net), x, t)
    got = explain(net, x, t, "lrp_q")
    np.testing.assert_allclose(got.inputs, expected, rtol=1e-9, atol=1e-9)
    for layer, mine, theirs in zip(net.layers, got.biases, expected_biases, strict=True):
        np.testing.assert_allclose(mine, per_unit(theirs, layer.k), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("activation", ["relu", "maxout", "linear"])
def test_lrp0_equals_gradient_x_input_on_a_bias_free_piecewise_linear_net(activation):
    net = random_net(activation, 7, bias=0.0)
    x, t = points(net)
    lrp0 = explain(net, x, t, "lrp0").inputs
    np.testing.assert_allclose(lrp0, explain(net, x, t, "gradient_x_input").inputs, atol=1e-12)
    np.testing.assert_allclose(lrp0, ref.gradient_x_input(as_reference(net), x, t), atol=1e-12)


def test_lrp0_differs_from_gradient_x_input_on_tanh():
    """The equality is the slope rule equalling the gradient; tanh(z)/z != tanh'(z)."""
    net = random_net("tanh", 8, bias=0.0)
    x, t = points(net)
    gap = explain(net, x, t, "lrp0").inputs - explain(net, x, t, "gradient_x_input").inputs
    assert np.abs(gap).max() > 1e-2


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("formulation", ["softmax_limit", "relu_chain"])
@pytest.mark.parametrize("baseline", ["zeros", "point"])
def test_deeplift_matches_the_reference_and_sums_to_the_difference(
    activation, formulation, baseline
):
    net = random_net(activation, 9)
    x, t = points(net)
    base = np.zeros(3) if baseline == "zeros" else np.array([0.4, -0.7, 1.1])
    got = explain(net, x, t, "deeplift", base, deeplift_max=formulation)
    expected = ref.deeplift_rescale(as_reference(net), x, base, t, max_rule=formulation)
    np.testing.assert_allclose(got.inputs, expected, rtol=1e-7, atol=1e-9)
    delta = net.logits(x)[np.arange(len(x)), t] - net.logits(base[None])[0, t]
    np.testing.assert_allclose(got.inputs.sum(-1), delta, atol=1e-10)


def test_the_two_max_formulations_give_different_relevances():
    """§2: max as a softmax limit and as a + relu(b - a) "suggest different relevancies". One
    maxout unit of two pre-activations z = x (identity weights), x = (2, 1), baseline (0, 3):
    max changes by -1; the softmax limit gives it all to z_2 (the baseline's argmax wins the
    limit), the chain a + relu(b - a) splits it (0.5, -1.5)."""
    net = Net(
        (
            Layer(np.eye(2), np.zeros(2), "maxout", 2),
            Layer(np.ones((1, 1)), np.zeros(1), "linear"),
        )
    )
    x, t, base = np.array([[2.0, 1.0]]), np.array([0]), np.array([0.0, 3.0])
    limit = explain(net, x, t, "deeplift", base, deeplift_max="softmax_limit").inputs[0]
    chain = explain(net, x, t, "deeplift", base, deeplift_max="relu_chain").inputs[0]
    np.testing.assert_allclose(limit, [0.0, -1.0])
    np.testing.assert_allclose(chain, [0.5, -1.5])
    assert limit.sum() == pytest.approx(chain.sum())


def test_softmax_limit_is_the_limit_of_the_log_sum_exp_composition():
    """DeepLIFT through T log sum exp(z/T) built from exp, sum and log, each with the rescale
    rule, approaches the module's softmax-limit multipliers as T -> 0."""
    rng = np.random.default_rng(10)
    z, z_ref = rng.normal(size=(50, 4)) * 2, rng.normal(size=(50, 4)) * 2
    T = 1e-3
    top = np.maximum(z, z_ref).max(-1, keepdims=True)  # a common scale: exp never overflows
    u, u_ref = np.exp((z - top) / T), np.exp((z_ref - top) / T)
    m, m_ref = (
        v.max(-1) + T * np.log(np.exp((v - v.max(-1, keepdims=True)) / T).sum(-1))
        for v in (z, z_ref)
    )
    contribution = (m - m_ref)[:, None] * (u - u_ref) / (u.sum(-1) - u_ref.sum(-1))[:, None]
    mine = rel.softmax_limit_multipliers(z, z_ref) * (z - z_ref)
    reach = np.sort(np.maximum(z, z_ref), -1)
    separated = reach[:, -1] - reach[:, -2] > 0.05  # a finite T is the limit away from ties
    assert separated.sum() > 25
    np.testing.assert_allclose(mine[separated], contribution[separated], atol=1e-5)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fullgrad_matches_the_reference_and_is_complete_for_piecewise_linear_nets(activation):
    net = random_net(activation, 11)
    x, t = points(net)
    inputs, biases = ref.fullgrad(as_reference(net), x, t)
    got = explain(net, x, t, "fullgrad")
    np.testing.assert_allclose(got.inputs, inputs, atol=1e-10)
    if activation != "sigmoid":  # the module moves sigmoid's f(0) into the next bias
        for layer, mine, theirs in zip(net.layers, got.biases, biases, strict=True):
            np.testing.assert_allclose(mine, per_unit(theirs, layer.k), atol=1e-10)
    output = net.logits(x)[np.arange(len(x)), t]
    error = np.abs(rel.conservation_error(got, output)).max()
    if activation in rel.PIECEWISE_LINEAR:
        assert error < 1e-10
    else:
        assert error > 1e-3


@pytest.mark.parametrize("activation", ["relu", "maxout", "linear"])
def test_deconvnet_matches_the_reference(activation):
    net = random_net(activation, 12)
    x, t = points(net)
    expected = ref.deconvnet(as_reference(net), x, t)
    np.testing.assert_allclose(explain(net, x, t, "deconvnet").inputs, expected, atol=1e-10)


def test_lrp_epsilon_tends_to_lrp0_away_from_zero():
    net = random_net("relu", 13)
    x, t = points(net, n=200)
    steps = rel.forward(net, x)
    far = np.all([np.all(np.abs(s.z) > 0.1, axis=-1) for s in steps], axis=0)
    assert far.sum() >= 5
    lrp0 = explain(net, x, t, "lrp0").inputs[far]
    gaps = [
        np.abs(explain(net, x, t, "lrp_epsilon", epsilon=eps).inputs[far] - lrp0).max()
        for eps in (1e-1, 1e-2, 1e-3, 1e-4)
    ]
    assert all(a > b for a, b in itertools.pairwise(gaps))
    assert gaps[-1] < 1e-2 * gaps[0]


def scaling_step(alpha: float, a: np.ndarray, as_nonlinearity: str) -> rel.Step:
    """A layer that multiplies every value by alpha, as a matrix alpha I (no bias) or as
    the elementwise nonlinearity f(a) = alpha a."""
    if as_nonlinearity == "matrix":
        W = alpha * np.eye(a.shape[1])
        return rel.Step(a, W, np.zeros(a.shape[1]), a @ W, a @ W, "linear")

    @dataclasses.dataclass(frozen=True)
    class Scaling(rel.Step):
        def f(self, values):
            return alpha * values

        def df(self, z):
            return np.full_like(z, alpha)

    return Scaling(a, np.eye(a.shape[1]), np.zeros(a.shape[1]), a, alpha * a, "scale")


@pytest.mark.parametrize("alpha", [0.5, 3.0])
def test_the_scaling_equivalence_table(alpha):
    """§2's table: a layer multiplying by alpha, seen as the matrix alpha I with the gradient
    rule or as f(a) = alpha a with the gradient, slope or repeat rule, scales relevance by
    alpha; the normalized matrix rule (with the ignore rule) by 1."""
    rng = np.random.default_rng(14)
    a, R = rng.normal(size=(20, 4)), np.abs(rng.normal(size=(20, 4)))
    matrix, nonlinear = scaling_step(alpha, a, "matrix"), scaling_step(alpha, a, "f")
    np.testing.assert_allclose(rel.matrix_gradient(matrix, R)[0], alpha * R)
    for rule in (rel.nonlinearity_gradient, rel.nonlinearity_slope, rel.nonlinearity_repeat):
        np.testing.assert_allclose(rule(nonlinear, R), alpha * R)
    np.testing.assert_allclose(rel.matrix_normalized(matrix, R)[0], R)
    np.testing.assert_allclose(rel.nonlinearity_ignore(nonlinear, R), R)


def test_sigmoid_offset_becomes_the_next_bias():
    """f(z) - f(0) with f(0) = 1/2 moved into the next layer's bias: z and the output are
    unchanged, and the next bias grows by 1/2 the column sums."""
    net = random_net("sigmoid", 15)
    x, _ = points(net)
    steps = rel.forward(net, x)
    np.testing.assert_allclose(steps[-1].z, net.logits(x), atol=1e-12)
    np.testing.assert_allclose(steps[1].b, net.layers[1].b + 0.5 * net.layers[1].W.sum(0))
    np.testing.assert_allclose(steps[0].out, 1 / (1 + np.exp(-steps[0].z)) - 0.5)


@pytest.mark.parametrize(
    ("activation", "refused"),
    [
        ("sigmoid", "deconvnet"),
        ("tanh", "lrp_alphabeta"),
        ("maxout", "lrp_zplus"),
    ],
)
def test_methods_refuse_activations_they_are_not_defined_for(activation, refused):
    net = random_net(activation, 16)
    x, t = points(net)
    assert refused not in rel.valid_methods(activation)
    with pytest.raises(ValueError, match=f"{refused}.*not '{activation}'"):
        rel.explain(net, x, t, [refused])


def test_unknown_method_and_missing_baseline_are_refused():
    net = random_net("relu", 17)
    x, t = points(net)
    with pytest.raises(ValueError, match="unknown method 'lrp1'; choose from gradient"):
        rel.explain(net, x, t, ["lrp1"])
    with pytest.raises(ValueError, match="deeplift compares to a baseline"):
        rel.explain(net, x, t, ["deeplift"])


def test_bias_fraction_and_scale_up_by_hand():
    explanation = rel.Explanation(
        np.array([[1.0, -3.0], [0.0, 0.0], [0.5, 0.5]]),
        [np.array([[4.0, 2.0], [0.0, 0.0], [-9.0, 0.0]]), np.array([[0.0], [0.0], [0.0]])],
    )
    np.testing.assert_allclose(rel.bias_fraction(explanation)[[0, 2]], [6 / 8, 9 / 10])
    assert np.isnan(rel.bias_fraction(explanation)[1])
    reference = np.array([[0.5, 0.5], [1.0, 1.0], [0.25, -0.25]])
    np.testing.assert_allclose(rel.scale_up(explanation.inputs, reference), [4.0, 0.0, 2.0])


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_perturbation_curves_and_aopc_match_the_loop_reference(order):
    net = random_net("relu", 18, sizes=(6, 5, 2))
    x, t = points(net, n=25)
    x[:3, :2] = 0.7  # ties inside some points: the feature order breaks them
    R = explain(net, x, t, "lrp0").inputs
    R[:3, :2] = 1.0
    baseline = np.array([0.1, -0.2, 0.3, 0.0, 0.5, -0.1])
    curve = rel.perturbation_curve(net, x, t, rel.removal_orders(R, order), baseline)
    layers = as_reference(net)
    expected = ref.morf(
        lambda v: ref.forward(layers, v)[np.arange(len(x)), t], x, R, baseline, order=order
    )
    np.testing.assert_allclose(curve, expected, atol=1e-10)
    assert rel.aopc(curve) == pytest.approx(ref.aopc(expected))


def test_random_orders_are_permutations():
    orders = rel.random_orders(500, 5, np.random.default_rng(0))
    assert (np.sort(orders, -1) == np.arange(5)).all()
    first = np.bincount(orders[:, 0], minlength=5) / 500
    np.testing.assert_allclose(first, 0.2, atol=0.06)


def test_relevance_share_by_hand():
    inputs = np.array([[3.0, -1.0, 0.0], [0.0, 0.0, 0.0], [-2.0, 2.0, 4.0]])
    share = rel.relevance_share(inputs)
    np.testing.assert_allclose(share[[0, 2]], [0.75, 0.25])
    assert np.isnan(share[1])


def test_safe_divide_and_the_bias_option_by_hand():
    np.testing.assert_array_equal(
        rel.safe_divide(np.array([1.0, 2.0, 3.0]), np.array([2.0, 0.0, -1.0])), [0.5, 0.0, -3.0]
    )
    step = rel.forward(random_net("relu", 19), np.ones((1, 3)))[0]
    with pytest.raises(ValueError, match="bias='both': choose absorb or ignore"):
        rel.matrix_normalized(step, np.ones((1, step.z.shape[1])), bias="both")


@pytest.mark.parametrize(("activation", "slope_at_zero"), [("tanh", 1.0), ("sigmoid", 0.25)])
def test_the_slope_rule_at_zero_is_the_derivative(activation, slope_at_zero):
    """f(z)/z has the limit f'(0) at z = 0 (sigmoid shifted to f(0) = 0: 1/4)."""
    net = Net(
        (Layer(np.eye(2), np.zeros(2), activation), Layer(np.ones((2, 1)), np.zeros(1), "linear"))
    )
    steps = rel.forward(net, np.array([[0.0, 2.0]]))
    q = rel.nonlinearity_slope(steps[0], np.ones((1, 2)))
    expected_second = (np.tanh(2.0) if activation == "tanh" else 1 / (1 + np.exp(-2.0)) - 0.5) / 2
    np.testing.assert_allclose(q, [[slope_at_zero, expected_second]])


def test_float32_points_are_explained_in_float64():
    """The grid points and a trained net's weights are float32; relevance is computed in
    float64 from their values."""
    wide_net = random_net("tanh", 20)
    net = Net(
        tuple(
            Layer(la.W.astype(np.float32), la.b.astype(np.float32), la.activation)
            for la in wide_net.layers
        )
    )
    x, t = points(net)
    x32 = x.astype(np.float32)
    base32 = np.full(3, 0.1, np.float32)
    for method in ("lrp0", "deeplift", "gradient"):
        wide_net = Net(
            tuple(
                Layer(la.W.astype(np.float64), la.b.astype(np.float64), la.activation)
                for la in net.layers
            )
        )
        wide = explain(wide_net, x32.astype(np.float64), t, method, base32.astype(np.float64))
        narrow = explain(net, x32, t, method, base32)
        np.testing.assert_array_equal(narrow.inputs, wide.inputs)


def test_deeplift_at_the_baseline_is_zero_and_finite():
    """z = z' makes the rescale multiplier 0/0: its limit f'(z) is used, and a point equal to
    the baseline gets no relevance at all."""
    net = random_net("tanh", 21)
    x, t = points(net)
    base = x[0].copy()
    got = explain(net, x, t, "deeplift", base)
    assert np.all(np.isfinite(got.inputs))
    np.testing.assert_array_equal(got.inputs[0], 0.0)
    expected = ref.deeplift_rescale(as_reference(net), x[1:], base, t[1:])
    np.testing.assert_allclose(got.inputs[1:], expected, rtol=1e-7, atol=1e-9)
    steps = rel.forward(net, x[:1], base)
    m = rel.nonlinearity_rescale(steps[0], np.ones((1, steps[0].z.shape[1])))
    np.testing.assert_allclose(m, 1 - np.tanh(steps[0].z) ** 2)


def test_the_output_step_keeps_its_logits():
    net = random_net("sigmoid", 22)
    x, _ = points(net)
    last = rel.forward(net, x)[-1]
    np.testing.assert_allclose(last.out, last.z)
    np.testing.assert_allclose(last.z, net.logits(x), atol=1e-12)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "maxout"])
def test_hidden_relevance_conserves_at_every_level(activation):
    """Blame the bias level by level (§2): at hidden layer l, sum R(a_l) plus the relevance of
    the biases of the layers after l is f(x); the first level is what the first layer's
    matrix rule splits into the inputs and its biases."""
    net = random_net(activation, 30, sizes=(3, 5, 4, 2))
    x, t = points(net)
    hidden = rel.hidden_relevance(net, x, t)
    assert [h.shape for h in hidden] == [(len(x), 5), (len(x), 4)]
    blamed = explain(net, x, t, "blame_bias")
    output = net.logits(x)[np.arange(len(x)), t]
    for level, relevance in enumerate(hidden):
        later = sum(b.sum(-1) for b in blamed.biases[level + 1 :])
        np.testing.assert_allclose(relevance.sum(-1) + later, output, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        hidden[0].sum(-1), blamed.inputs.sum(-1) + blamed.biases[0].sum(-1), atol=1e-10
    )


def test_activation_of_names_the_one_hidden_activation():
    mixed = Net(random_net("relu", 31).layers[:1] + random_net("tanh", 31).layers[1:])
    with pytest.raises(ValueError, match=r"hidden layers mix activations \['relu', 'tanh'\]"):
        rel.activation_of(mixed)
    three = Net(random_net("tanh", 32, sizes=(3, 4, 4, 4, 2)).layers)
    assert rel.activation_of(three) == "tanh"
    no_hidden = Net((Layer(np.ones((2, 1)), np.zeros(1), "linear"),))
    assert rel.activation_of(no_hidden) == "linear"


def test_errors_name_the_bad_value_and_the_choices():
    net = random_net("tanh", 33)
    x, t = points(net)
    with pytest.raises(ValueError, match="unknown method 'lrp1'; choose from gradient, gradient_x"):
        explain(net, x, t, "lrp1")
    with pytest.raises(
        ValueError, match=r"^deeplift compares to a baseline; give baseline=\[d values\]$"
    ):
        explain(net, x, t, "deeplift")
    with pytest.raises(
        ValueError, match="'lrp_zplus' is defined for relu hidden layers, not 'tanh'"
    ):
        explain(net, x, t, "lrp_zplus")
    with pytest.raises(ValueError, match="'deconvnet' is defined for relu, linear, maxout hidden"):
        rel.METHODS["deconvnet"].check("tanh")
    with pytest.raises(ValueError, match="order='first': choose morf or lerf"):
        rel.removal_orders(np.zeros((1, 2)), "first")


def test_relu_derivative_is_zero_at_zero():
    np.testing.assert_array_equal(rel.derivative(np.array([-1.0, 0.0, 2.0]), "relu"), [0, 0, 1])


def test_ratios_of_nothing_are_nan_without_warnings():
    """A point whose relevance is all 0 has no share, fraction or scale-up: NaN, and no
    RuntimeWarning for every such point of a grid."""
    zero = np.zeros((2, 3))
    some = np.array([[0.0, 0.0, 0.0], [1.0, -3.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        share = rel.relevance_share(some, feature=1)
        up = rel.scale_up(zero, zero)
        up_from_nothing = rel.scale_up(some, zero)
        fraction = rel.bias_fraction(rel.Explanation(zero, [np.zeros((2, 1))]))
    assert np.isnan(share[0]) and share[1] == 0.75
    assert np.isnan(up).all() and np.isnan(fraction).all()
    assert up_from_nothing[0] != up_from_nothing[0] and up_from_nothing[1] == np.inf


def test_removal_orders_break_ties_by_feature_index():
    """Many ties (integer relevance over 40 features): the order is by value, then index."""
    relevance = np.random.default_rng(34).integers(0, 3, size=(50, 40)).astype(np.float64)
    index = np.broadcast_to(np.arange(40), relevance.shape)
    morf = np.array([np.lexsort((i, -r)) for i, r in zip(index, relevance, strict=True)])
    lerf = np.array([np.lexsort((i, r)) for i, r in zip(index, relevance, strict=True)])
    np.testing.assert_array_equal(rel.removal_orders(relevance, "morf"), morf)
    np.testing.assert_array_equal(rel.removal_orders(relevance, "lerf"), lerf)


def test_perturbation_puts_the_baseline_in_float64_into_float32_points():
    net = random_net("tanh", 35)
    x, t = points(net)
    x32 = x.astype(np.float32)
    orders = rel.removal_orders(x, "morf")
    base = np.full(3, 0.1)
    got = rel.perturbation_curve(net, x32, t, orders, base)
    np.testing.assert_array_equal(
        got, rel.perturbation_curve(net, x32.astype(np.float64), t, orders, base)
    )


def test_softmax_limit_gives_nothing_to_an_unmoved_entry():
    """max(1, 3) - max(1, 2) = 1 goes to the entry that moved, however large the other."""
    z, z_ref = np.array([[1.0, 3.0], [5.0, 3.0]]), np.array([[1.0, 2.0], [5.0, 2.0]])
    m = rel.softmax_limit_multipliers(z, z_ref)
    np.testing.assert_array_equal(m[0], [0.0, 1.0])
    np.testing.assert_array_equal(m[1] * (z - z_ref)[1], [0.0, 0.0])  # max unchanged: 5 = 5
    tie = rel.softmax_limit_multipliers(np.array([[2.0, 2.0, 0.0]]), np.zeros((1, 3)))
    np.testing.assert_array_equal(tie, [[0.5, 0.5, 0.0]])  # max 2 - 0 shared by the two tied


@pytest.mark.parametrize(
    ("z", "z_ref", "expected"),
    [
        ([1.0, 2.0], [0.0, 1.0], [0.0, 1.0]),  # d = d' = 1 > 0: the relu is on, slope 1
        ([1.0, 1.5], [0.0, 0.5], [0.0, 1.0]),  # d = d' = 0.5 > 0
        ([1.0, 1.0], [0.0, 0.0], [1.0, 0.0]),  # d = d' = 0: slope 0, all on m_1 = z_1
        ([1.0, 0.0], [0.0, -1.0], [1.0, 0.0]),  # d = d' = -1 < 0
    ],
)
def test_relu_chain_at_unchanged_differences_uses_the_slope(z, z_ref, expected):
    """m_2 = z_1 + relu(z_2 - z_1) with d - d' = 0: the rescale rule's 0/0 takes relu'(d)."""
    m = rel.relu_chain_multipliers(np.array([z]), np.array([z_ref]))
    np.testing.assert_array_equal(m[0], expected)
