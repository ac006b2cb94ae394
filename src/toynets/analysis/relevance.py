"""Relevance propagation (DIGEST §2, "how to blame the bias"): rules per layer type, composed
into named methods, with the relevance that lands on the biases reported, not dropped.

Every forward value has a backward value (its *signal*). A net is a chain of three layer
types, each with its own backward rules (§2):

    matrix        z_j = sum_i a_i w_ij + b_j
    nonlinearity  a = f(z), elementwise (relu, sigmoid, tanh, linear)
    maximum       a_u = max_{i in group u} z_i (a maxout layer, groups of k)

Rules (signal of the output -> signal of the input; "R" below):

    matrix gradient      R(a_i) = sum_j w_ij R(z_j)                  bias signal R(z_j)
    matrix normalized    R(a_i) = sum_j a_i w_ij / blip(z_j) R(z_j),  blip(s) = s + eps sign(s)
                         bias="absorb": z_j includes b_j and the bias keeps b_j R(z_j)/blip(z_j)
                         (Bach et al. 2015); bias="ignore": the denominator is the bias-free
                         sum_i a_i w_ij, so everything lands on the inputs (Samek et al. 2015,
                         eq. 6: the LRP §2 analyses)
    matrix alpha-beta    R(a_i) = sum_j (alpha z_ij+ / P_j - beta z_ij- / N_j) R(z_j),
                         z_ij = a_i w_ij, P_j / N_j the positive / negative sums with the bias
    nonlinearity         ignore R(z) = R(a); gradient f'(z) R(a); slope (f(z)/z) R(a);
                         repeat f(R(a)); rescale (f(z) - f(z')) / (z - z') R(a) against the
                         baseline's z' (DeepLIFT, Shrikumar et al. 2017)
    maximum              gradient (all to the argmax); radial (s_i R(a), §2's s_i); for
                         DeepLIFT the softmax limit or the chain max = a + relu(b - a)

Before propagating, a hidden nonlinearity with f(0) != 0 (sigmoid, f(0) = 1/2) is written as
g(z) = f(z) - f(0) and its f(0) moves into the next layer's bias (§2: "a nonlinearity with
f(0) != 0 can be considered to have a bias added to it"), so z and the output are unchanged.

A method starts at the explained output f(x) = z_L[target] (the pre-softmax logit) with 1
(gradient-like signals, turned into relevance by multiplying with the input, the bias, or the
difference from the baseline) or with f(x) itself (relevance). `METHODS` lists them; pure
NumPy, float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from toynets.net import Net, activate

ACTIVATIONS = ("relu", "sigmoid", "tanh", "linear", "maxout")
PIECEWISE_LINEAR = ("relu", "linear", "maxout")


@dataclass(frozen=True)
class Step:
    """One layer of the forward pass, z = a W + b and out = f(z) - f(0) (`out` = z for the
    output layer); `ref` is the same layer run on the baseline (DeepLIFT), if any."""

    a: np.ndarray  # [n, fan_in]
    W: np.ndarray  # [fan_in, units * k]
    b: np.ndarray  # [units * k], with the previous layer's f(0) folded in
    z: np.ndarray  # [n, units * k]
    out: np.ndarray  # [n, units]
    activation: str  # "output" for the last layer
    k: int = 1
    ref: Step | None = None

    def f(self, values: np.ndarray) -> np.ndarray:
        """The layer's elementwise nonlinearity (applied to signals by the repeat rule only,
        which is defined for activations with f(0) = 0)."""
        return activate(values, self.activation)

    def df(self, z: np.ndarray) -> np.ndarray:
        """Its derivative f'(z)."""
        return derivative(z, self.activation)


def offset(activation: str) -> float:
    """f(0): 1/2 for sigmoid, 0 for every other hidden activation."""
    return 0.5 if activation == "sigmoid" else 0.0


def forward(net: Net, x: np.ndarray, baseline: np.ndarray | None = None) -> list[Step]:
    """The layers of `net` on points x [n, d] in float64, each hidden f shifted to f(0) = 0
    with f(0) added to the next bias; with `baseline` [d], every hidden step carries its `ref`
    (the output layer's is not needed: no rule acts on it)."""
    refs = forward(net, np.asarray(baseline)[None]) if baseline is not None else None
    steps: list[Step] = []
    # float64 throughout. NumPy's promotion makes any one of these three conversions redundant
    # given the others, so mutating one alone changes nothing (the float32 test checks them all).
    a = np.asarray(x, np.float64)  # pragma: no mutate
    shift = np.zeros(net.n_inputs)
    for i, layer in enumerate(net.layers):
        W = np.asarray(layer.W, np.float64)  # pragma: no mutate
        b = np.asarray(layer.b, np.float64)  # pragma: no mutate
        b = b + shift @ W  # the previous layer's f(0), folded into this bias
        z = a @ W + b
        ref = refs[i] if refs is not None else None
        if i == len(net.layers) - 1:
            steps.append(Step(a, W, b, z, z, "output"))  # k = 1; no rule needs its ref
        else:
            f0 = offset(layer.activation)
            out = activate(z, layer.activation, layer.k) - f0
            steps.append(Step(a, W, b, z, out, layer.activation, layer.k, ref))
            a, shift = out, np.full(layer.units, f0)
    return steps


def explained_output(steps: list[Step], target: np.ndarray) -> np.ndarray:
    """f(x) = z_L[target] per point [n]."""
    return steps[-1].z[np.arange(len(target)), target]


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, and 0 where the denominator is 0 (a 0/0 share is none)."""
    numerator, denominator = np.broadcast_arrays(numerator, denominator)
    out = np.zeros(numerator.shape)
    return np.divide(numerator, denominator, out=out, where=denominator != 0)


def blip(s: np.ndarray, eps: float) -> np.ndarray:
    """s + eps sign(s): a straight line with a jump of 2 eps at 0 (§2's stabiliser)."""
    return s + eps * np.sign(s)


def derivative(z: np.ndarray, activation: str) -> np.ndarray:
    """f'(z) of an elementwise activation (relu: 1 for z > 0, else 0)."""
    if activation == "relu":
        return np.where(z > 0, 1.0, 0.0)
    if activation == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if activation == "tanh":
        return 1.0 - np.tanh(z) ** 2
    return np.ones_like(z)


# --- matrix rules: (step, R(z) [n, J]) -> (R(a) [n, I], bias signal [n, J]) ------------------


def matrix_gradient(step: Step, Rz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """R(a_i) = sum_j w_ij R(z_j); the bias signal is R(z_j) = df/db_j for a gradient."""
    return Rz @ step.W.T, Rz


def matrix_normalized(
    step: Step, Rz: np.ndarray, eps: float = 0.0, bias: str = "absorb"
) -> tuple[np.ndarray, np.ndarray]:
    """R(a_i) = a_i sum_j w_ij R(z_j) / blip(z_j); with bias="absorb" the bias keeps
    b_j R(z_j) / blip(z_j), with bias="ignore" z_j is the bias-free sum and the bias gets 0."""
    if bias not in ("absorb", "ignore"):
        raise ValueError(f"bias={bias!r}: choose absorb or ignore")
    denominator = step.z if bias == "absorb" else step.z - step.b
    share = safe_divide(Rz, blip(denominator, eps))
    kept = step.b * share if bias == "absorb" else np.zeros_like(share)
    return step.a * (share @ step.W.T), kept


def matrix_alphabeta(
    step: Step, Rz: np.ndarray, alpha: float, beta: float
) -> tuple[np.ndarray, np.ndarray]:
    """R(a_i) = sum_j (alpha z_ij+ / P_j - beta z_ij- / N_j) R(z_j) with z_ij = a_i w_ij and
    P_j = sum_i z_ij+ + b_j+, N_j = sum_i z_ij- + b_j- (Bach et al. 2015); the bias keeps
    (alpha b_j+ / P_j - beta b_j- / N_j) R(z_j). Uses z_ij+ = a+ w+ + a- w-, z_ij- = a+ w- + a- w+.
    """
    a_pos, a_neg = np.maximum(step.a, 0), np.minimum(step.a, 0)
    w_pos, w_neg = np.maximum(step.W, 0), np.minimum(step.W, 0)
    b_pos, b_neg = np.maximum(step.b, 0), np.minimum(step.b, 0)
    positive = a_pos @ w_pos + a_neg @ w_neg + b_pos
    negative = a_pos @ w_neg + a_neg @ w_pos + b_neg
    s_pos, s_neg = safe_divide(alpha * Rz, positive), safe_divide(beta * Rz, negative)
    Ra = a_pos * (s_pos @ w_pos.T) + a_neg * (s_pos @ w_neg.T)
    Ra -= a_pos * (s_neg @ w_neg.T) + a_neg * (s_neg @ w_pos.T)
    return Ra, b_pos * s_pos - b_neg * s_neg


# --- nonlinearity rules: (step, R(a) [n, J]) -> R(z) [n, J] ----------------------------------


def nonlinearity_ignore(step: Step, Ra: np.ndarray) -> np.ndarray:
    """R(z) = R(a)."""
    return Ra


def nonlinearity_gradient(step: Step, Ra: np.ndarray) -> np.ndarray:
    """R(z) = f'(z) R(a)."""
    return step.df(step.z) * Ra


def nonlinearity_slope(step: Step, Ra: np.ndarray) -> np.ndarray:
    """R(z) = (f(z) / z) R(a) with f(0) = 0 (f'(0) at z = 0); equals the gradient for ReLU."""
    slope = np.where(step.z == 0, step.df(step.z), safe_divide(step.out, step.z))
    return slope * Ra


def nonlinearity_repeat(step: Step, Ra: np.ndarray) -> np.ndarray:
    """R(z) = f(R(a)): the nonlinearity applied to the signal (deconvnet; not linear in R)."""
    return step.f(Ra)


def nonlinearity_rescale(step: Step, Ra: np.ndarray) -> np.ndarray:
    """DeepLIFT's rescale rule: R(z) = (f(z) - f(z')) / (z - z') R(a), z' the baseline's
    pre-activation; f'(z) where |z - z'| < 1e-9 (the limit)."""
    assert step.ref is not None
    dz = step.z - step.ref.z
    ratio = safe_divide(step.out - step.ref.out, dz)
    return np.where(np.abs(dz) < 1e-9, step.df(step.z), ratio) * Ra


# --- maximum rules (maxout): (step, R(a) [n, units]) -> R(z) [n, units * k] -----------------


def _groups(values: np.ndarray, k: int) -> np.ndarray:
    return values.reshape(*values.shape[:-1], -1, k)


def _one_hot_argmax(groups: np.ndarray) -> np.ndarray:
    return np.eye(groups.shape[-1])[groups.argmax(axis=-1)]


def max_gradient(step: Step, Ra: np.ndarray) -> np.ndarray:
    """R(z_i) = R(a) for the argmax of the group (the first on a tie), 0 for the others."""
    chosen = _one_hot_argmax(_groups(step.z, step.k))
    return (chosen * Ra[..., None]).reshape(step.z.shape)


def radial_shares(groups: np.ndarray) -> np.ndarray:
    """§2's radial s_i for b = max_i a_i over the last axis: s_i = a_i / sum_{a_j > 0} a_j for
    a_i > 0 (0 for a_i <= 0 then); s_i = 1 / (a_i sum_j 1 / a_j) when all are negative; the
    argmax when b = 0. The s_i are >= 0 and sum to 1."""
    positive = np.maximum(groups, 0)
    total = positive.sum(axis=-1, keepdims=True)
    some_positive = total > 0
    all_negative = (groups < 0).all(axis=-1, keepdims=True)
    inverse = 1.0 / np.where(all_negative, groups, -1.0)  # pragma: no mutate (-1: rows not used)
    negative_shares = inverse / inverse.sum(axis=-1, keepdims=True)
    shares = np.where(some_positive, safe_divide(positive, total), _one_hot_argmax(groups))
    return np.where(all_negative, negative_shares, shares)


def max_radial(step: Step, Ra: np.ndarray) -> np.ndarray:
    """R(z_i) = s_i R(a) with §2's radial shares s_i."""
    return (radial_shares(_groups(step.z, step.k)) * Ra[..., None]).reshape(step.z.shape)


def softmax_limit_multipliers(z: np.ndarray, z_ref: np.ndarray) -> np.ndarray:
    """DeepLIFT multipliers of max over the last axis written as lim_{T -> 0} T log sum exp(z/T)
    and run through the rescale rule: the contribution of z_i is proportional to
    exp(z_i/T) - exp(z'_i/T), so as T -> 0 the whole difference max z - max z' goes to the i
    with z_i != z'_i whose max(z_i, z'_i) is largest (ties share it equally)."""
    delta = z - z_ref
    moved = np.abs(delta) > 1e-12
    reach = np.where(moved, np.maximum(z, z_ref), -np.inf)
    top = moved & (reach == reach.max(axis=-1, keepdims=True))
    count = np.maximum(top.sum(axis=-1, keepdims=True), 1)
    change = z.max(axis=-1, keepdims=True) - z_ref.max(axis=-1, keepdims=True)
    return np.where(top, safe_divide(change, delta) / count, 0.0)


def relu_chain_multipliers(z: np.ndarray, z_ref: np.ndarray) -> np.ndarray:
    """DeepLIFT multipliers of max(z_1..z_k) computed as m_1 = z_1, m_i = m_{i-1} +
    relu(z_i - m_{i-1}), each relu with the rescale rule r_i = delta relu(d_i) / delta d_i:
    back from the top, z_i gets g_i r_i and m_{i-1} gets g_i (1 - r_i)."""
    k = z.shape[-1]
    m, m_ref = z[..., 0], z_ref[..., 0]
    rates = []
    for i in range(1, k):
        d, d_ref = z[..., i] - m, z_ref[..., i] - m_ref
        dd = d - d_ref
        step_rate = safe_divide(np.maximum(d, 0) - np.maximum(d_ref, 0), dd)
        rates.append(np.where(np.abs(dd) < 1e-9, d > 0, step_rate))
        m, m_ref = m + np.maximum(d, 0), m_ref + np.maximum(d_ref, 0)
    multipliers = np.zeros(z.shape)
    g = np.ones(z.shape[:-1])
    for i in range(k - 1, 0, -1):
        multipliers[..., i] = g * rates[i - 1]
        g = g * (1.0 - rates[i - 1])
    multipliers[..., 0] = g
    return multipliers


def max_rescale(step: Step, Ra: np.ndarray, formulation: str) -> np.ndarray:
    """DeepLIFT through a maxout group, max as the softmax limit or the relu chain (§2: "the
    two give different relevances")."""
    assert step.ref is not None
    rule = {"softmax_limit": softmax_limit_multipliers, "relu_chain": relu_chain_multipliers}
    groups, ref_groups = _groups(step.z, step.k), _groups(step.ref.z, step.k)
    multipliers = rule[formulation](groups, np.broadcast_to(ref_groups, groups.shape))
    return (multipliers * Ra[..., None]).reshape(step.z.shape)


# --- propagation and methods -----------------------------------------------------------------

MatrixRule = Callable[[Step, np.ndarray], tuple[np.ndarray, np.ndarray]]
UnitRule = Callable[[Step, np.ndarray], np.ndarray]


def propagate(
    steps: list[Step],
    start: np.ndarray,
    matrix: MatrixRule,
    nonlinearity: UnitRule,
    maximum: UnitRule,
    hidden: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Back from the output signal `start` [n, outputs] to the inputs: (input signal [n, d],
    bias signal per layer [n, units * k]); `hidden`, if given, receives the signal at each
    hidden layer's output [n, units], first layer first."""
    signal, bias = start, []
    for i in range(len(steps) - 1, -1, -1):
        step = steps[i]
        if hidden is not None and step.activation != "output":
            hidden.insert(0, signal)
        if step.activation == "maxout":
            signal = maximum(step, signal)
        elif step.activation != "output":
            signal = nonlinearity(step, signal)
        signal, bias_signal = matrix(step, signal)
        bias.insert(0, bias_signal)
    return signal, bias


@dataclass(frozen=True)
class Method:
    """A named composition of rules (§2's tables).

    start: the output signal, "one" (1 at the target: gradient-like) or "output" (f(x));
    scale: how signals become relevance, "none" (already relevance), "input" (times the input;
    biases get 0), "value" (times the input and times each bias: x df/dx, b df/db) or "delta"
    (times x - baseline; biases get 0).
    """

    name: str
    summary: str
    activations: tuple[str, ...]
    matrix: str
    nonlinearity: str
    maximum: str
    start: str
    scale: str
    conserves: str  # what sum(input) + sum(bias) equals, or "" for none
    reference: str

    @property
    def decomposes_output(self) -> bool:
        """Whether its relevances are parts of the output (not df/dx-like signals)."""
        return not (self.start == "one" and self.scale == "none")

    def check(self, activation: str) -> None:
        if activation not in self.activations:
            raise ValueError(
                f"method {self.name!r} is defined for {', '.join(self.activations)} hidden "
                f"layers, not {activation!r}"
            )


@dataclass(frozen=True)
class Settings:
    """The parameters of the rules: eps of the blip, alpha of alpha-beta (beta = alpha - 1),
    the maximum rule of the LRP family, and the max formulation of DeepLIFT."""

    epsilon: float = 0.01
    alpha: float = 2.0
    max_rule: str = "gradient"  # gradient | radial (lrp0, lrp_epsilon, lrp_conserving, blame_*)
    deeplift_max: str = "softmax_limit"  # softmax_limit | relu_chain


_LRP_RULES = {"matrix": "normalized", "nonlinearity": "ignore", "maximum": "lrp"}
_GRADIENT_RULES = {"matrix": "gradient", "nonlinearity": "gradient", "maximum": "gradient"}
_METHOD_LIST = [
    Method(
        "gradient",
        "df/dx",
        ACTIVATIONS,
        **_GRADIENT_RULES,
        start="one",
        scale="none",
        conserves="",
        reference="Simonyan et al. 2014",
    ),
    Method(
        "gradient_x_input",
        "x df/dx",
        ACTIVATIONS,
        **_GRADIENT_RULES,
        start="one",
        scale="input",
        conserves="f(x) for piecewise-linear nets without biases",
        reference="Shrikumar et al. 2016",
    ),
    Method(
        "deconvnet",
        "the nonlinearity applied to the backward signal",
        PIECEWISE_LINEAR,
        matrix="gradient",
        nonlinearity="repeat",
        maximum="gradient",
        start="one",
        scale="none",
        conserves="",
        reference="Zeiler & Fergus 2014",
    ),
    Method(
        "lrp0",
        "normalized; the biases absorb their share",
        ACTIVATIONS,
        **_LRP_RULES,
        start="output",
        scale="none",
        conserves="f(x) with the absorbed bias share",
        reference="Bach et al. 2015",
    ),
    Method(
        "lrp_epsilon",
        "normalized with blip(z) = z + eps sign(z)",
        ACTIVATIONS,
        **{**_LRP_RULES, "matrix": "normalized_eps"},
        start="output",
        scale="none",
        conserves="f(x) up to what eps absorbs",
        reference="Bach et al. 2015",
    ),
    Method(
        "lrp_conserving",
        "the LRP §2 analyses: bias-free denominators put all of f(x) on the inputs",
        ACTIVATIONS,
        **{**_LRP_RULES, "matrix": "normalized_conserving"},
        start="output",
        scale="none",
        conserves="f(x) on the inputs, up to eps",
        reference="Samek et al. 2015, eq. 6",
    ),
    Method(
        "lrp_alphabeta",
        "positive and negative parts, alpha - beta = 1",
        ("relu",),
        matrix="alphabeta",
        nonlinearity="ignore",
        maximum="gradient",
        start="output",
        scale="none",
        conserves="",
        reference="Bach et al. 2015",
    ),
    Method(
        "lrp_zplus",
        "positive parts only (alpha = 1, beta = 0)",
        ("relu",),
        matrix="zplus",
        nonlinearity="ignore",
        maximum="gradient",
        start="output",
        scale="none",
        conserves="f(x) where it is > 0",
        reference="Bach et al. 2015",
    ),
    Method(
        "lrp_q",
        "§2's Q = R/a form of lrp0: gradient matrices, slope nonlinearities, from Q = 1",
        ACTIVATIONS,
        matrix="gradient",
        nonlinearity="slope",
        maximum="gradient",
        start="one",
        scale="value",
        conserves="f(x) exactly (inputs and biases)",
        reference="§2",
    ),
    Method(
        "blame_bias",
        "§2 solution 1: a constant 1 per bias; the biases' relevance is reported",
        ACTIVATIONS,
        **_LRP_RULES,
        start="output",
        scale="none",
        conserves="f(x) exactly (inputs and biases)",
        reference="§2",
    ),
    Method(
        "blame_bias_shared",
        "§2 solution 1 with one shared 1: the biases' total",
        ACTIVATIONS,
        **_LRP_RULES,
        start="output",
        scale="none",
        conserves="f(x) exactly (inputs and the shared 1)",
        reference="§2",
    ),
    Method(
        "deeplift",
        "§2 solution 2: differences from a baseline, rescale rule",
        ACTIVATIONS,
        matrix="gradient",
        nonlinearity="rescale",
        maximum="rescale",
        start="one",
        scale="delta",
        conserves="f(x) - f(baseline) exactly",
        reference="Shrikumar et al. 2017",
    ),
    Method(
        "fullgrad",
        "x df/dx and b df/db of every bias",
        ACTIVATIONS,
        **_GRADIENT_RULES,
        start="one",
        scale="value",
        conserves="f(x) for piecewise-linear nets",
        reference="Srinivas & Fleuret 2019",
    ),
]
# The table is data, built once at import (mutmut mutates functions only); each method's
# rules are checked against the independent reference in tests/test_relevance_analysis.py.
METHODS: dict[str, Method] = {method.name: method for method in _METHOD_LIST}


def _rules(method: Method, settings: Settings) -> tuple[MatrixRule, UnitRule, UnitRule]:
    eps = settings.epsilon
    matrix: MatrixRule = {
        "gradient": matrix_gradient,
        "normalized": matrix_normalized,
        "normalized_eps": partial(matrix_normalized, eps=eps),
        "normalized_conserving": partial(matrix_normalized, eps=eps, bias="ignore"),
        "alphabeta": partial(matrix_alphabeta, alpha=settings.alpha, beta=settings.alpha - 1),
        "zplus": partial(matrix_alphabeta, alpha=1.0, beta=0.0),
    }[method.matrix]
    nonlinearity: UnitRule = {
        "ignore": nonlinearity_ignore,
        "gradient": nonlinearity_gradient,
        "slope": nonlinearity_slope,
        "repeat": nonlinearity_repeat,
        "rescale": nonlinearity_rescale,
    }[method.nonlinearity]
    maximum: UnitRule = {
        "gradient": max_gradient,
        "lrp": max_radial if settings.max_rule == "radial" else max_gradient,
        "rescale": partial(max_rescale, formulation=settings.deeplift_max),
    }[method.maximum]
    return matrix, nonlinearity, maximum


@dataclass(frozen=True)
class Explanation:
    """Relevance of one method: `inputs` [n, d] and `biases[i]` [n, units of layer i] (a
    maxout unit sums its k biases); blame_bias_shared has one entry, the biases' total [n, 1]."""

    inputs: np.ndarray
    biases: list[np.ndarray] = field(default_factory=list)

    @property
    def bias_total(self) -> np.ndarray:
        return sum((b.sum(axis=-1) for b in self.biases), np.zeros(len(self.inputs)))


def activation_of(net: Net) -> str:
    """The hidden activation of `net` ("linear" without hidden layers); one is allowed."""
    kinds = {layer.activation for layer in net.layers[:-1]}
    if len(kinds) > 1:
        raise ValueError(f"hidden layers mix activations {sorted(kinds)}; one is allowed")
    return kinds.pop() if kinds else "linear"


def valid_methods(activation: str) -> list[str]:
    """The methods defined for nets of this hidden activation, in `METHODS` order."""
    return [name for name, method in METHODS.items() if activation in method.activations]


def explain(
    net: Net,
    x: np.ndarray,
    target: np.ndarray,
    methods: list[str],
    settings: Settings = Settings(),
    baseline: np.ndarray | None = None,
) -> dict[str, Explanation]:
    """The relevance of each method for f(x) = z_L[target] at the points x [n, d].

    DeepLIFT needs `baseline` [d]; every method checks the net's activation first.
    """
    activation = activation_of(net)
    for name in methods:
        if name not in METHODS:
            raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")
        METHODS[name].check(activation)
    if "deeplift" in methods and baseline is None:
        raise ValueError("deeplift compares to a baseline; give baseline=[d values]")
    steps = forward(net, x, baseline)
    target = np.asarray(target)
    one = np.zeros(steps[-1].z.shape)
    one[np.arange(len(target)), target] = 1.0
    starts = {"one": one, "output": one * explained_output(steps, target)[:, None]}
    x64 = steps[0].a
    out: dict[str, Explanation] = {}
    for name in methods:
        method = METHODS[name]
        signal, bias_signals = propagate(steps, starts[method.start], *_rules(method, settings))
        if method.scale == "value":
            inputs = x64 * signal
            biases = [step.b * s for step, s in zip(steps, bias_signals, strict=True)]
        elif method.scale in ("input", "delta"):
            reference = np.asarray(baseline) if method.scale == "delta" else 0.0
            inputs = (x64 - reference) * signal
            biases = [np.zeros_like(s) for s in bias_signals]
        elif not method.decomposes_output:  # df/dx-like signals: no bias part
            inputs, biases = signal, [np.zeros_like(s) for s in bias_signals]
        else:
            inputs, biases = signal, bias_signals
        biases = [_per_unit(b, step.k) for b, step in zip(biases, steps, strict=True)]
        if name == "blame_bias_shared":
            total = sum(b.sum(axis=-1) for b in biases)
            biases = [np.asarray(total)[:, None]]
        out[name] = Explanation(inputs, biases)
    return out


def hidden_relevance(
    net: Net, x: np.ndarray, target: np.ndarray, settings: Settings = Settings()
) -> list[np.ndarray]:
    """Blame the bias, level by level: R(a) [n, units] at every hidden layer's output. At
    each level sum R(a) + the bias relevance of the layers after it = f(x)."""
    steps = forward(net, x)
    target = np.asarray(target)
    start = np.zeros(steps[-1].z.shape)
    start[np.arange(len(target)), target] = explained_output(steps, target)
    hidden: list[np.ndarray] = []
    propagate(steps, start, *_rules(METHODS["blame_bias"], settings), hidden=hidden)
    return hidden


def _per_unit(bias_relevance: np.ndarray, k: int) -> np.ndarray:
    return _groups(bias_relevance, k).sum(axis=-1)


# --- diagnostics -----------------------------------------------------------------------------


def conservation_error(explanation: Explanation, explained: np.ndarray) -> np.ndarray:
    """sum(input relevance) + sum(bias relevance) - the explained quantity, per point."""
    return explanation.inputs.sum(axis=-1) + explanation.bias_total - explained


def bias_fraction(explanation: Explanation) -> np.ndarray:
    """How much of a decision the biases carry, in [0, 1]: |sum bias R| / (|sum input R| +
    |sum bias R|) (NaN where both are 0). Near 1 the decision is mostly bias (§2's problem)."""
    on_biases, on_inputs = np.abs(explanation.bias_total), np.abs(explanation.inputs.sum(-1))
    with np.errstate(invalid="ignore"):  # 0/0 only: the denominator holds the numerator
        return on_biases / (on_biases + on_inputs)


def scale_up(inputs: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """sum_i |R_i| / sum_i |R_ref_i| per point: how much larger a method's input relevance is
    than a reference's (blame the bias: where the biases carry the decision, a method that
    puts all of f(x) on the inputs scales tiny contributions up)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(inputs).sum(axis=-1) / np.abs(reference).sum(axis=-1)


# --- region perturbation (Samek et al. 2015) -------------------------------------------------


def removal_orders(relevance: np.ndarray, order: str) -> np.ndarray:
    """Feature indices per point [n, d] in removal order: "morf" most relevant (largest R)
    first, "lerf" least relevant first; ties in feature order."""
    if order == "morf":
        return np.argsort(-relevance, axis=-1, stable=True)
    if order == "lerf":
        return np.argsort(relevance, axis=-1, stable=True)
    raise ValueError(f"order={order!r}: choose morf or lerf")


def perturbation_curve(
    net: Net, x: np.ndarray, target: np.ndarray, orders: np.ndarray, baseline: np.ndarray
) -> np.ndarray:
    """f after removing 0, 1, .. d features in `orders` [n, d] (set to the baseline): [n, d+1]."""
    x = np.asarray(x, np.float64)
    n, d = x.shape
    rows = np.arange(n)
    curve = np.empty((n, d + 1))
    current = x.copy()
    curve[:, 0] = net.logits(current)[rows, target]
    for step in range(d):
        removed = orders[:, step]
        current[rows, removed] = np.asarray(baseline)[removed]
        curve[:, step + 1] = net.logits(current)[rows, target]
    return curve


def random_orders(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random removal order per point [n, d]."""
    return rng.permuted(np.broadcast_to(np.arange(d), (n, d)), axis=-1)


def aopc(curve: np.ndarray) -> float:
    """Area over the perturbation curve: mean over points of 1/(L+1) sum_{k=0..L}
    (f(x^(0)) - f(x^(k))), L = d removals (Samek et al. 2015, eq. 12)."""
    return float(np.mean(curve[:, :1] - curve))


def relevance_share(inputs: np.ndarray, feature: int = 0) -> np.ndarray:
    """|R_feature| / sum_i |R_i| per point (NaN where all are 0)."""
    total = np.abs(inputs).sum(axis=-1)
    with np.errstate(invalid="ignore"):  # 0/0 only: the total holds the numerator
        return np.abs(inputs[:, feature]) / total
