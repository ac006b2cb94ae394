"""Checks of the NumPy relevance reference (tests/relevance_reference.py) itself, before it is
trusted to check toynets' relevance module: against finite differences, conservation laws,
literal constructions (bias-free nets with constant inputs, the temperature limit of a
log-sum-exp max) and numbers computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

import relevance_reference as ref

ACTS = ["relu", "tanh", "sigmoid", "linear", "maxout"]


def random_net(
    seed: int, act: str, d: int = 3, widths: tuple[int, ...] = (4, 3), out: int = 3, k: int = 2
) -> list[dict]:
    """Hidden layers of `act` (maxout groups of k), then a linear output layer."""
    rng = np.random.default_rng(seed)
    layers = []
    fan_in = d
    for width in [*widths, out]:
        hidden = len(layers) < len(widths)
        kk = k if hidden and act == "maxout" else 1
        layers.append(
            {
                "W": rng.normal(size=(fan_in, width * kk)) / np.sqrt(fan_in),
                "b": 0.5 * rng.normal(size=width * kk),
                "act": act if hidden else "linear",
                "k": kk,
            }
        )
        fan_in = width
    return layers


def random_points(seed: int, n: int = 20, d: int = 3, out: int = 3) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(1000 + seed)
    return rng.normal(size=(n, d)), rng.integers(0, out, size=n)


def total(R_input: np.ndarray, R_bias: list[np.ndarray]) -> np.ndarray:
    return R_input.sum(axis=1) + sum(R.sum(axis=1) for R in R_bias)


# The hand-computed example: 2 inputs, 3 ReLU units (the third dead), 2 logits, target 0.
#   z1 = x W1 + b1 = [1*1 + 2*2 - 1, 1*(-1) + 2*1 + 1, 1*(-1) + 2*(-1) + 0] = [4, 2, -3]
#   a1 = [4, 2, 0];  z2 = a1 W2 + b2 = [4 - 2 + 0 + 0.5, 0 + 2 + 0 + 0] = [2.5, 2];  f(x) = 2.5
HAND_NET = [
    {
        "W": np.array([[1.0, -1, -1], [2, 1, -1]]),
        "b": np.array([-1.0, 1, 0]),
        "act": "relu",
        "k": 1,
    },
    {"W": np.array([[1.0, 0], [-1, 1], [1, 1]]), "b": np.array([0.5, 0]), "act": "linear", "k": 1},
]
HAND_X = np.array([[1.0, 2.0]])
HAND_T = np.array([0])


# ---------------------------------------------------------------------------------------------
# Random nets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ACTS)
def test_gradient_matches_central_differences(act: str) -> None:
    layers = random_net(1, act)
    x, t = random_points(1)
    grad = ref.gradient(layers, x, t)
    h = 1e-6
    numeric = np.zeros_like(x)
    for i in range(x.shape[1]):
        step = np.zeros(x.shape[1])
        step[i] = h
        up = ref.explained_output(layers, x + step, t)
        down = ref.explained_output(layers, x - step, t)
        numeric[:, i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grad, numeric, atol=1e-6)
    np.testing.assert_allclose(ref.gradient_x_input(layers, x, t), x * grad)


def test_forward_is_the_plain_composition() -> None:
    layers = random_net(2, "maxout", k=3)
    x, _ = random_points(2)
    a = x
    for layer in layers[:-1]:
        z = a @ layer["W"] + layer["b"]
        a = z.reshape(len(x), -1, layer["k"]).max(axis=2)
    np.testing.assert_allclose(ref.forward(layers, x), a @ layers[-1]["W"] + layers[-1]["b"])


@pytest.mark.parametrize("act", ["relu", "maxout", "linear"])
def test_lrp0_is_gradient_x_input_on_piecewise_linear_nets(act: str) -> None:
    """The bias-free case of the brief, and (Ancona et al. 2018) the same with biases absorbed."""
    x, t = random_points(3)
    layers = random_net(3, act)
    bias_free = [{**layer, "b": np.zeros_like(layer["b"])} for layer in layers]
    for net in (bias_free, layers):
        R, _ = ref.lrp(net, x, t)
        np.testing.assert_allclose(R, ref.gradient_x_input(net, x, t), atol=1e-10)


@pytest.mark.parametrize(
    ("act", "max_rule"), [(act, "gradient") for act in ACTS] + [("maxout", "radial")]
)
def test_lrp_absorb_conserves_the_output(act: str, max_rule: str) -> None:
    layers = random_net(4, act, k=3)
    x, t = random_points(4, n=30)
    R_input, R_bias = ref.lrp(layers, x, t, eps=0.0, bias="absorb", max_rule=max_rule)
    assert R_input.shape == x.shape
    assert [R.shape for R in R_bias] == [(30, layer["W"].shape[1]) for layer in layers]
    np.testing.assert_allclose(
        total(R_input, R_bias), ref.explained_output(layers, x, t), atol=1e-10
    )


def test_sigmoid_rewrite_keeps_the_function_and_centres_the_units() -> None:
    layers = random_net(5, "sigmoid")
    x, _ = random_points(5)
    centred = ref.center_activations(layers)
    np.testing.assert_allclose(ref.forward(centred, x), ref.forward(layers, x), atol=1e-12)
    for before, after in zip(layers[:-1], centred[:-1], strict=True):
        assert after["blocks"] == [("sigmoid_centered", 1, before["W"].shape[1])]
        assert np.all(ref.unit_values(after, np.zeros(before["W"].shape[1])) == 0.0)
    # The next layer's bias takes the offsets: b + f(0) W = b + 1/2 column sums of W.
    for before, after in zip(layers[1:], centred[1:], strict=True):
        np.testing.assert_allclose(after["b"], before["b"] + 0.5 * before["W"].sum(axis=0))
    np.testing.assert_array_equal(centred[0]["b"], layers[0]["b"])
    assert layers[0]["act"] == "sigmoid" and "blocks" not in layers[0]  # input left unchanged


def test_lrp_bias_ignore_gives_the_bias_nothing() -> None:
    layers = random_net(6, "relu")
    x, t = random_points(6)
    R_input, R_bias = ref.lrp(layers, x, t, bias="ignore")
    assert all(np.all(R == 0.0) for R in R_bias)
    assert not np.allclose(R_input, ref.lrp(layers, x, t)[0])


@pytest.mark.parametrize("act", ACTS)
def test_blame_the_bias_literal_nets_match_absorbed_lrp(act: str) -> None:
    layers = random_net(7, act, k=3)
    x, t = random_points(7)
    n_biases = sum(layer["W"].shape[1] for layer in layers)
    augmented, slices = ref.bias_augmented_net(layers)
    assert augmented[0]["W"].shape[0] == x.shape[1] + n_biases
    assert all(np.all(layer["b"] == 0.0) for layer in augmented)
    assert [s.stop - s.start for s in slices] == [layer["W"].shape[1] for layer in layers]
    ones = np.ones((len(x), n_biases))
    np.testing.assert_allclose(
        ref.forward(augmented, np.hstack([x, ones])), ref.forward(layers, x), atol=1e-12
    )
    shared = ref.bias_shared_net(layers)
    assert all(np.all(layer["b"] == 0.0) for layer in shared)
    np.testing.assert_allclose(
        ref.forward(shared, np.hstack([x, np.ones((len(x), 1))])),
        ref.forward(layers, x),
        atol=1e-12,
    )

    R_absorb, R_bias_absorb = ref.lrp(layers, x, t, eps=0.0, bias="absorb")
    R_input, R_bias = ref.blame_bias_augmented(layers, x, t)
    np.testing.assert_allclose(R_input, R_absorb, atol=1e-12)
    for mine, absorbed in zip(R_bias, R_bias_absorb, strict=True):
        np.testing.assert_allclose(mine, absorbed, atol=1e-12)
    f = ref.explained_output(layers, x, t)
    np.testing.assert_allclose(total(R_input, R_bias), f, atol=1e-10)

    R_input_shared, R_shared = ref.blame_bias_shared(layers, x, t)
    np.testing.assert_allclose(R_input_shared, R_absorb, atol=1e-12)
    np.testing.assert_allclose(R_shared, sum(R.sum(axis=1) for R in R_bias), atol=1e-12)
    np.testing.assert_allclose(R_input_shared.sum(axis=1) + R_shared, f, atol=1e-10)


@pytest.mark.parametrize(
    ("act", "max_rule"), [(act, "softmax_limit") for act in ACTS] + [("maxout", "relu_chain")]
)
def test_deeplift_sums_to_delta(act: str, max_rule: str) -> None:
    layers = random_net(8, act, k=3)
    x, t = random_points(8)
    for baseline in (np.zeros(3), np.array([0.3, -1.0, 0.5])):
        R = ref.deeplift_rescale(layers, x, baseline, t, max_rule=max_rule)
        delta = ref.explained_output(layers, x, t) - ref.explained_output(
            layers, np.tile(baseline, (len(x), 1)), t
        )
        np.testing.assert_allclose(R.sum(axis=1), delta, atol=1e-10)


def test_deeplift_softmax_limit_is_the_small_temperature_limit() -> None:
    """DeepLIFT's rescale rule through max_T(a) = T log sum exp(a / T), composed literally as
    exp (elementwise), sum, T log (elementwise), at T = 1e-3, with pre-activations |a| < 0.7 so
    that exp(a / T) stays finite, on points whose maxima are separated by more than 0.03
    (neglected terms ~ exp(-30))."""
    T, gap = 1e-3, 0.03
    rng = np.random.default_rng(9)
    d, units, k = 3, 2, 3
    layers = [
        {"W": 0.15 * rng.normal(size=(d, units * k)), "b": 0.05 * rng.normal(size=units * k),
         "act": "maxout", "k": k},
        {"W": rng.normal(size=(units, 2)), "b": rng.normal(size=2), "act": "linear", "k": 1},
    ]  # fmt: skip
    x = rng.uniform(-1, 1, size=(200, d))

    def separated(a: np.ndarray) -> bool:
        top2 = np.sort(a)[-2:]
        return top2[1] - top2[0] > gap

    while True:  # a baseline whose groups have clear maxima
        baseline = rng.uniform(-1, 1, size=d)
        z_ref = baseline @ layers[0]["W"] + layers[0]["b"]
        if all(separated(z_ref[u * k : u * k + k]) for u in range(units)):
            break

    kept, multipliers = [], []
    for p in range(len(x)):
        z = x[p] @ layers[0]["W"] + layers[0]["b"]
        assert np.max(np.abs(z)) < 0.7 and np.max(np.abs(z_ref)) < 0.7
        groups = [slice(u * k, u * k + k) for u in range(units)]
        if not all(
            separated(z[g]) and separated(z_ref[g]) and abs(z[g].max() - z_ref[g].max()) > gap
            for g in groups
        ):
            continue
        D = np.zeros((units * k, units))
        for u, g in enumerate(groups):
            e, e_ref = np.exp(z[g] / T), np.exp(z_ref[g] / T)
            m_exp = (e - e_ref) / (z[g] - z_ref[g])
            S, S_ref = e.sum(), e_ref.sum()
            m_log = (T * np.log(S) - T * np.log(S_ref)) / (S - S_ref)
            D[g, u] = m_exp * m_log
        kept.append(p)
        multipliers.append(layers[0]["W"] @ D @ layers[1]["W"][:, 0])
    assert len(kept) >= 20
    R_T = (x[kept] - baseline) * np.array(multipliers)
    t = np.zeros(len(kept), dtype=int)
    R = ref.deeplift_rescale(layers, x[kept], baseline, t, max_rule="softmax_limit")
    np.testing.assert_allclose(R, R_T, atol=1e-9)
    assert not np.allclose(R, ref.deeplift_rescale(layers, x[kept], baseline, t, "relu_chain"))


def test_deeplift_max_rules_differ_but_sum_to_the_same_delta() -> None:
    """f = max(x1, x2) (identity into one maxout unit of 2), x = (2, 1), baseline (0, 3).
    softmax_limit: max x = 2 < 3 = max baseline, so all of f(x) - f(ref) = -1 goes to the
    baseline's argmax, x2: multiplier -1 / (1 - 3) = 1/2, R = (0, -1).
    relu_chain: d = x2 - x1 = -1 vs d_ref = 3 - 0 = 3, rho = (relu(-1) - relu(3)) / (-1 - 3)
    = 3/4, multipliers mu = (1 - 3/4, 3/4), R = (2 * 1/4, -2 * 3/4) = (0.5, -1.5)."""
    layers = [
        {"W": np.eye(2), "b": np.zeros(2), "act": "maxout", "k": 2},
        {"W": np.ones((1, 1)), "b": np.zeros(1), "act": "linear", "k": 1},
    ]
    x, baseline, t = np.array([[2.0, 1.0]]), np.array([0.0, 3.0]), np.array([0])
    soft = ref.deeplift_rescale(layers, x, baseline, t, max_rule="softmax_limit")
    chain = ref.deeplift_rescale(layers, x, baseline, t, max_rule="relu_chain")
    np.testing.assert_allclose(soft, [[0.0, -1.0]])
    np.testing.assert_allclose(chain, [[0.5, -1.5]])
    assert soft.sum() == pytest.approx(-1.0) and chain.sum() == pytest.approx(-1.0)


def test_alphabeta_alpha1_beta0_on_a_hand_computed_2_2_1_net() -> None:
    """x = (2, 1); W1 = [[1, 2], [-1, 1]], b1 = (0.5, -1): z1 = (2 - 1 + 0.5, 4 + 1 - 1)
    = (1.5, 4), a1 = (1.5, 4). W2 = [[2], [-0.5]], b2 = 1: f = 3 - 2 + 1 = 2.
    Output: contributions (3, -2), bias 1, P = 3 + 1 = 4: R(a1) = (3/4 * 2, 0) = (1.5, 0),
    R(b2) = 1/4 * 2 = 0.5. Layer 1, unit 1: contributions (2*1, 1*(-1)) = (2, -1), bias 0.5,
    P = 2.5, R = 1.5: R(x) = (2/2.5 * 1.5, 0) = (1.2, 0), R(b1_1) = 0.5/2.5 * 1.5 = 0.3;
    unit 2 has R = 0. Total 1.2 + 0.3 + 0.5 = 2."""
    layers = [
        {"W": np.array([[1.0, 2], [-1, 1]]), "b": np.array([0.5, -1]), "act": "relu", "k": 1},
        {"W": np.array([[2.0], [-0.5]]), "b": np.array([1.0]), "act": "linear", "k": 1},
    ]
    R_input, R_bias = ref.lrp_alphabeta(layers, np.array([[2.0, 1.0]]), np.array([0]), 1.0, 0.0)
    np.testing.assert_allclose(R_input, [[1.2, 0.0]])
    np.testing.assert_allclose(R_bias[0], [[0.3, 0.0]])
    np.testing.assert_allclose(R_bias[1], [[0.5]])


def test_alphabeta_alpha1_beta0_conserves_on_random_relu_nets() -> None:
    layers = random_net(10, "relu")
    x, t = random_points(10)
    R_input, R_bias = ref.lrp_alphabeta(layers, x, t, 1.0, 0.0)
    f = ref.explained_output(layers, x, t)
    # Conserved wherever P_j > 0 for every column with R(z_j) != 0: surely when f(x) > 0 (then
    # P_target >= f > 0, and a hidden column gets relevance only from a_j > 0, i.e. z_j > 0).
    # A logit with no positive contribution (P = 0) passes nothing on (0/0 = 0).
    assert np.sum(f > 0) >= 5
    np.testing.assert_allclose(total(R_input, R_bias)[f > 0], f[f > 0])
    for p in np.flatnonzero(f <= 0):
        assert total(R_input, R_bias)[p] == pytest.approx(f[p]) or (
            np.all(R_input[p] == 0) and all(np.all(b[p] == 0) for b in R_bias)
        )


def test_radial_shares_hand_cases() -> None:
    # b > 0, all positive: s = a / sum(a) = (1, 3, 4) / 8
    np.testing.assert_allclose(ref.radial_shares([1.0, 3.0, 4.0]), [1 / 8, 3 / 8, 4 / 8])
    # a_i < 0 < b gets 0; positives share: (2, -1, 1) -> (2/3, 0, 1/3)
    np.testing.assert_allclose(ref.radial_shares([2.0, -1.0, 1.0]), [2 / 3, 0.0, 1 / 3])
    # all negative: sum 1/a = -1 - 1/2 - 1/4 = -7/4; s_i = 1 / (a_i * -7/4) = (4/7, 2/7, 1/7)
    np.testing.assert_allclose(ref.radial_shares([-1.0, -2.0, -4.0]), [4 / 7, 2 / 7, 1 / 7])
    # b == 0 exactly: everything to the argmax
    np.testing.assert_array_equal(ref.radial_shares([-1.0, 0.0, -2.0]), [0.0, 1.0, 0.0])


@pytest.mark.parametrize(
    ("x", "radial", "gradient"),
    [
        ([1.0, 3.0, 4.0], [0.5, 1.5, 2.0], [0.0, 0.0, 4.0]),  # f = 4: 4 * (1, 3, 4) / 8
        ([2.0, -1.0, 1.0], [4 / 3, 0.0, 2 / 3], [2.0, 0.0, 0.0]),  # f = 2: 2 * (2/3, 0, 1/3)
        ([-1.0, -2.0, -4.0], [-4 / 7, -2 / 7, -1 / 7], [-1.0, 0.0, 0.0]),  # f = -1
    ],
)
def test_lrp_max_rules_on_a_single_maxout_unit(x: list, radial: list, gradient: list) -> None:
    """f = max(x1, x2, x3): identity into one maxout unit of 3, then weight 1. Every matrix
    layer passes R unchanged (a_i w / z = 1), so R(x) = s * f."""
    layers = [
        {"W": np.eye(3), "b": np.zeros(3), "act": "maxout", "k": 3},
        {"W": np.ones((1, 1)), "b": np.zeros(1), "act": "linear", "k": 1},
    ]
    t = np.array([0])
    R_radial, _ = ref.lrp(layers, np.array([x]), t, max_rule="radial")
    R_gradient, _ = ref.lrp(layers, np.array([x]), t, max_rule="gradient")
    np.testing.assert_allclose(R_radial, [radial])
    np.testing.assert_allclose(R_gradient, [gradient])


@pytest.mark.parametrize("act", ACTS)
def test_lrp_eps_converges_to_eps_zero(act: str) -> None:
    layers = random_net(11, act)
    x, t = random_points(11, n=50)
    keep = []
    for p in range(len(x)):
        a, pre = x[p], []
        for layer in ref.center_activations(layers):
            z = a @ layer["W"] + layer["b"]
            pre.append(z)
            a = ref.unit_values(layer, z)
        if all(np.all(np.abs(z) > 0.1) for z in pre):
            keep.append(p)
    assert len(keep) >= 5
    x, t = x[keep], t[keep]
    R0, B0 = ref.lrp(layers, x, t, eps=0.0)
    errors = []
    for eps in (1e-2, 1e-4, 1e-6, 1e-8):
        R, B = ref.lrp(layers, x, t, eps=eps)
        bias_errors = [np.abs(b - b0).max() for b, b0 in zip(B, B0, strict=True)]
        errors.append(max(np.abs(R - R0).max(), *bias_errors))
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-6
    assert errors[0] > 0


@pytest.mark.parametrize("act", ["relu", "maxout", "linear"])
def test_fullgrad_is_complete_on_piecewise_linear_nets(act: str) -> None:
    layers = random_net(12, act, k=3)
    x, t = random_points(12)
    xg, parts = ref.fullgrad(layers, x, t)
    np.testing.assert_allclose(xg, ref.gradient_x_input(layers, x, t))
    np.testing.assert_allclose(total(xg, parts), ref.explained_output(layers, x, t), atol=1e-10)


def test_fullgrad_is_not_complete_for_tanh() -> None:
    layers = random_net(13, "tanh")
    x, t = random_points(13)
    xg, parts = ref.fullgrad(layers, x, t)
    assert np.max(np.abs(total(xg, parts) - ref.explained_output(layers, x, t))) > 1e-3


def test_deconvnet_on_linear_nets_is_the_gradient() -> None:
    layers = random_net(14, "linear")
    x, t = random_points(14)
    np.testing.assert_allclose(ref.deconvnet(layers, x, t), ref.gradient(layers, x, t))


def test_deconvnet_on_one_relu_layer_is_w1_relu_w2() -> None:
    layers = random_net(15, "relu", widths=(5,))
    x, t = random_points(15)
    expected = np.array([layers[0]["W"] @ np.maximum(layers[1]["W"][:, c], 0) for c in t])
    np.testing.assert_allclose(ref.deconvnet(layers, x, t), expected)


def test_morf_curve_ends_ties_and_aopc() -> None:
    layers = random_net(16, "tanh")
    x, t = random_points(16, n=10)
    n = len(x)

    def f(v: np.ndarray) -> np.ndarray:
        return ref.forward(layers, v)[np.arange(n), t]

    R = ref.gradient_x_input(layers, x, t)
    baseline = np.array([0.1, -0.2, 0.3])
    for order in ("morf", "lerf"):
        curve = ref.morf(f, x, R, baseline, order)
        assert curve.shape == (n, 4)
        np.testing.assert_allclose(curve[:, 0], f(x))
        np.testing.assert_allclose(curve[:, -1], f(np.tile(baseline, (n, 1))))
        expected = np.mean([(curve[p, 0] - curve[p]).sum() / 4 for p in range(n)])
        assert ref.aopc(curve) == pytest.approx(expected)
    # Orders: highest first / lowest first; ties by feature index in both.
    assert ref.removal_order([0.5, 2.0, -1.0, 2.0], "morf") == [1, 3, 0, 2]
    assert ref.removal_order([0.5, 2.0, -1.0, 2.0], "lerf") == [2, 0, 1, 3]
    assert ref.removal_order([1.0, 1.0, 1.0], "lerf") == [0, 1, 2]
    # A linear f: removing feature i moves f by w_i (baseline 0).
    w = np.array([3.0, -1.0, 2.0])
    curve = ref.morf(lambda v: v @ w, np.ones((1, 3)), np.array([[1.0, 5.0, 3.0]]), 0.0)
    np.testing.assert_allclose(curve, [[4.0, 5.0, 3.0, 0.0]])  # removes x2, x3, x1


# ---------------------------------------------------------------------------------------------
# The hand-computed 2-input ReLU example (HAND_NET, x = (1, 2), target 0, f(x) = 2.5)
# ---------------------------------------------------------------------------------------------


def test_hand_forward_gradient_and_gradient_x_input() -> None:
    np.testing.assert_allclose(ref.forward(HAND_NET, HAND_X), [[2.5, 2.0]])
    # df/da1 = W2[:, 0] = (1, -1, 1); relu' = (1, 1, 0): df/dz1 = (1, -1, 0);
    # df/dx = W1 (1, -1, 0) = (1 + 1, 2 - 1) = (2, 1); x * grad = (2, 2)
    np.testing.assert_allclose(ref.gradient(HAND_NET, HAND_X, HAND_T), [[2.0, 1.0]])
    np.testing.assert_allclose(ref.gradient_x_input(HAND_NET, HAND_X, HAND_T), [[2.0, 2.0]])


def test_hand_lrp() -> None:
    # eps = 0, absorb. R(z2) = (2.5, 0); z2_1 = 2.5 so R(a1_i) = a1_i w_i1 = (4, -2, 0),
    # R(b2) = (0.5, 0). Layer 1: R(z1)/z1 = (4/4, -2/2, 0) = (1, -1, 0);
    # R(x_i) = x_i sum_j w_ij c_j = (1 * (1 + 1), 2 * (2 - 1)) = (2, 2); R(b1) = b1 c = (-1, -1, 0).
    R, B = ref.lrp(HAND_NET, HAND_X, HAND_T)
    np.testing.assert_allclose(R, [[2.0, 2.0]])
    np.testing.assert_allclose(B[0], [[-1.0, -1.0, 0.0]])
    np.testing.assert_allclose(B[1], [[0.5, 0.0]])
    # eps = 1: blip(2.5) = 3.5, c2 = 2.5/3.5 = 5/7: R(a1) = (20/7, -10/7, 0), R(b2) = (5/14, 0).
    # blip(z1) = (5, 3, -4): c1 = (20/7 / 5, -10/7 / 3, 0) = (4/7, -10/21, 0);
    # R(x) = (1 * (4/7 + 10/21), 2 * (8/7 - 10/21)) = (22/21, 4/3); R(b1) = (-4/7, -10/21, 0).
    R, B = ref.lrp(HAND_NET, HAND_X, HAND_T, eps=1.0)
    np.testing.assert_allclose(R, [[22 / 21, 4 / 3]])
    np.testing.assert_allclose(B[0], [[-4 / 7, -10 / 21, 0.0]])
    np.testing.assert_allclose(B[1], [[5 / 14, 0.0]])
    # bias ignore: s2 = 2.5 - 0.5 = 2: R(a1) = (4, -2, 0) * 2.5/2 = (5, -2.5, 0);
    # s1 = z1 - b1 = (5, 1, -3): c1 = (1, -2.5, 0); R(x) = (1 * (1 + 2.5), 2 * (2 - 2.5)).
    R, B = ref.lrp(HAND_NET, HAND_X, HAND_T, bias="ignore")
    np.testing.assert_allclose(R, [[3.5, -1.0]])
    assert all(np.all(b == 0.0) for b in B)


def test_hand_lrp_alphabeta() -> None:
    # alpha = 2, beta = 1. Output: contributions (4, -2, 0), bias 0.5: P = 4.5, N = -2, R = 2.5:
    # R(a1) = (2 * 4/4.5 * 2.5, -(-2)/(-2) * 2.5, 0) = (40/9, -5/2, 0), R(b2) = (2 * 0.5/4.5 *
    # 2.5, 0) = (5/9, 0). Layer 1, unit 1: contributions (1, 4), bias -1: P = 5, N = -1,
    # R = 40/9: R(x) += (2/5, 8/5) * 40/9 = (16/9, 64/9), R(b1_1) = -(-1/-1) * 40/9 = -40/9.
    # Unit 2: contributions (-1, 2), bias 1: P = 3, N = -1, R = -5/2: R(x) += (-1 * -5/2,
    # 4/3 * -5/2) = (5/2, -10/3), R(b1_2) = 2/3 * -5/2 = -5/3. Unit 3: R = 0.
    R, B = ref.lrp_alphabeta(HAND_NET, HAND_X, HAND_T, 2.0, 1.0)
    np.testing.assert_allclose(R, [[16 / 9 + 5 / 2, 64 / 9 - 10 / 3]])
    np.testing.assert_allclose(B[0], [[-40 / 9, -5 / 3, 0.0]])
    np.testing.assert_allclose(B[1], [[5 / 9, 0.0]])
    assert total(R, B)[0] == pytest.approx(2.5)


def test_hand_blame_bias() -> None:
    # 2 inputs + 3 + 2 bias constants. Equal to absorbed LRP-0: R(x) = (2, 2),
    # R(b1) = (-1, -1, 0), R(b2) = (0.5, 0); shared constant: -1 - 1 + 0.5 = -1.5.
    net, slices = ref.bias_augmented_net(HAND_NET)
    assert [layer["W"].shape for layer in net] == [(7, 5), (5, 2)]
    assert slices == [slice(2, 5), slice(5, 7)]
    R, B = ref.blame_bias_augmented(HAND_NET, HAND_X, HAND_T)
    np.testing.assert_allclose(R, [[2.0, 2.0]])
    np.testing.assert_allclose(B[0], [[-1.0, -1.0, 0.0]])
    np.testing.assert_allclose(B[1], [[0.5, 0.0]])
    R, shared = ref.blame_bias_shared(HAND_NET, HAND_X, HAND_T)
    np.testing.assert_allclose(R, [[2.0, 2.0]])
    np.testing.assert_allclose(shared, [-1.5])


def test_hand_deeplift() -> None:
    # Baseline 0: z1_ref = b1 = (-1, 1, 0), a1_ref = (0, 1, 0), f(ref) = 0 - 1 + 0 + 0.5 = -0.5.
    # Multipliers: dz1 = (5, 1, -3), da1 = (4, 1, 0): m = (4/5, 1, 0).
    # W1 (m * W2[:, 0]) = W1 (0.8, -1, 0) = (0.8 + 1, 1.6 - 1) = (1.8, 0.6); R = x * (1.8, 0.6).
    R = ref.deeplift_rescale(HAND_NET, HAND_X, np.zeros(2), HAND_T)
    np.testing.assert_allclose(R, [[1.8, 1.2]])
    assert R.sum() == pytest.approx(2.5 - (-0.5))


def test_hand_fullgrad() -> None:
    # x * grad = (2, 2); b1 * df/dz1 = (-1, 1, 0) * (1, -1, 0) = (-1, -1, 0);
    # b2 * onehot = (0.5, 0). Sum: 4 - 2 + 0.5 = 2.5 = f(x).
    xg, parts = ref.fullgrad(HAND_NET, HAND_X, HAND_T)
    np.testing.assert_allclose(xg, [[2.0, 2.0]])
    np.testing.assert_allclose(parts[0], [[-1.0, -1.0, 0.0]])
    np.testing.assert_allclose(parts[1], [[0.5, 0.0]])


def test_hand_deconvnet() -> None:
    # R(a1) = W2 (1, 0) = (1, -1, 1); relu -> (1, 0, 1) (the dead unit 3 passes: relu of the
    # signal, not the derivative); R(x) = W1 (1, 0, 1) = (1 - 1, 2 - 1) = (0, 1).
    np.testing.assert_allclose(ref.deconvnet(HAND_NET, HAND_X, HAND_T), [[0.0, 1.0]])


def test_hand_morf_and_aopc() -> None:
    # Baseline (-1, 0). f(-1, 2): z1 = (2, 4, -1), f = 2 - 4 + 0.5 = -1.5.
    # f(1, 0): z1 = (0, 0, -1), f = 0.5. f(-1, 0): z1 = (-2, 2, 1), f = 0 - 2 + 1 + 0.5 = -0.5.
    def f(v: np.ndarray) -> np.ndarray:
        return ref.forward(HAND_NET, v)[:, 0]

    baseline = np.array([-1.0, 0.0])
    # R = (0, 1): MoRF removes x2 first, LeRF x1 first.
    morf = ref.morf(f, HAND_X, np.array([[0.0, 1.0]]), baseline, "morf")
    lerf = ref.morf(f, HAND_X, np.array([[0.0, 1.0]]), baseline, "lerf")
    np.testing.assert_allclose(morf, [[2.5, 0.5, -0.5]])
    np.testing.assert_allclose(lerf, [[2.5, -1.5, -0.5]])
    assert ref.aopc(morf) == pytest.approx((0 + 2 + 3) / 3)
    assert ref.aopc(lerf) == pytest.approx((0 + 4 + 3) / 3)
    # R = (2, 2) is a tie: both orders remove x1 first.
    tie = np.array([[2.0, 2.0]])
    np.testing.assert_allclose(ref.morf(f, HAND_X, tie, baseline, "morf"), [[2.5, -1.5, -0.5]])
    np.testing.assert_allclose(ref.morf(f, HAND_X, tie, baseline, "lerf"), [[2.5, -1.5, -0.5]])
