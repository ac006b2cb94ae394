"""An independent NumPy reference for relevance propagation, written only to check the
relevance module of toynets in tests (it shares no code with it and imports nothing from
toynets).

It is deliberately not a vectorised backward pass: every method runs point by point, with
explicit Jacobian / multiplier matrices chained layer by layer, or with explicit loops over the
inputs i and outputs j of a layer. Clarity over speed (tests use ≤ 50 points, widths ≤ 10).

Network
-------
``layers`` is a list of dicts ``{"W": [I, J], "b": [J], "act": str, "k": int}``. Layer l
computes z_l = a_l W_l + b_l and a_{l+1} = f_l(z_l), with a_0 = x. Hidden acts: relu, tanh,
sigmoid, linear and maxout (W is [I, units*k]; unit u = max of the pre-activation columns
u*k .. u*k+k-1, contiguous groups); k = 1 otherwise. The last layer is the output layer, act
"linear" (logits). The explained output of point p is f(x_p) = z_L[p, target_p].

Two extensions, produced by the constructions below and accepted by every function:

- act ``"sigmoid_centered"``: g(z) = sigmoid(z) - 1/2 (made by `center_activations`);
- an optional ``"blocks"`` list of ``(act, k, units)`` triples, which splits the columns of W
  into contiguous blocks with their own nonlinearity and overrides "act"/"k" (used for the
  bias carriers of `bias_augmented_net` / `bias_shared_net`).

Conventions (where the definitions leave a choice)
--------------------------------------------------
- relu'(0) := 0; sign(0) := 0.
- Maxout argmax ties go to the first (lowest) column of the group (``np.argmax``), for the
  gradient, the LRP "gradient" max rule, deconvnet and the DeepLIFT "softmax_limit" rule.
- LRP: a term whose denominator is exactly 0 is 0 (its R(z_j) is dropped).
- Relevance arrays per layer are indexed like ``layers``: ``R_bias[l]`` is [n, J_l] with J_l the
  number of columns of layers[l]["W"] (units*k for maxout).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]
Layer = dict[str, Any]

ELEMENTWISE = ("relu", "tanh", "sigmoid", "sigmoid_centered", "linear")
RESCALE_TOL = 1e-9  # DeepLIFT: |z - z_ref| below this uses f'(z) instead of the difference quotient


# ---------------------------------------------------------------------------------------------
# Activations and the structure of a layer
# ---------------------------------------------------------------------------------------------


def act_value(act: str, z: ArrayLike) -> Array:
    """Elementwise f(z): relu max(0, z); tanh; sigmoid 1 / (1 + e^-z), computed as
    (1 + tanh(z / 2)) / 2 to avoid overflow; sigmoid_centered sigmoid(z) - 1/2; linear z."""
    z = np.asarray(z, dtype=np.float64)
    if act == "relu":
        return np.maximum(z, 0.0)
    if act == "tanh":
        return np.tanh(z)
    if act == "sigmoid":
        return 0.5 * (1.0 + np.tanh(0.5 * z))
    if act == "sigmoid_centered":
        return 0.5 * np.tanh(0.5 * z)
    if act == "linear":
        return z.copy()
    raise ValueError(f"unknown elementwise activation {act!r}")


def act_derivative(act: str, z: ArrayLike) -> Array:
    """Elementwise f'(z): relu 1[z > 0] (so relu'(0) := 0); tanh 1 - tanh(z)^2; sigmoid and
    sigmoid_centered s (1 - s) with s = sigmoid(z); linear 1."""
    z = np.asarray(z, dtype=np.float64)
    if act == "relu":
        return (z > 0).astype(np.float64)
    if act == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if act in ("sigmoid", "sigmoid_centered"):
        s = act_value("sigmoid", z)
        return s * (1.0 - s)
    if act == "linear":
        return np.ones_like(z)
    raise ValueError(f"unknown elementwise activation {act!r}")


def layer_blocks(layer: Layer) -> list[tuple[str, int, int]]:
    """The (act, k, units) blocks of a layer, covering the columns of W in order: the layer's
    "blocks" if given, else one block (act, k, J / k) (k = 1 unless act is maxout)."""
    n_cols = np.asarray(layer["W"]).shape[1]
    if "blocks" in layer:
        blocks = [(str(act), int(k), int(units)) for act, k, units in layer["blocks"]]
    else:
        act = str(layer["act"])
        k = int(layer.get("k", 1))
        if act != "maxout" and k != 1:
            raise ValueError(f"k = {k} for a {act} layer; only maxout has k > 1")
        if n_cols % k:
            raise ValueError(f"{n_cols} columns do not split into maxout groups of {k}")
        blocks = [(act, k, n_cols // k)]
    if sum(k * units for _, k, units in blocks) != n_cols:
        raise ValueError("the blocks do not cover the columns of W")
    for act, _, _ in blocks:
        if act != "maxout" and act not in ELEMENTWISE:
            raise ValueError(f"unknown activation {act!r}")
    return blocks


def unit_groups(layer: Layer) -> list[tuple[str, list[int]]]:
    """One (act, columns) pair per output unit, in unit order: the columns of z that feed the
    unit (k contiguous columns for a maxout unit, one column otherwise)."""
    groups: list[tuple[str, list[int]]] = []
    col = 0
    for act, k, units in layer_blocks(layer):
        width = k if act == "maxout" else 1
        for _ in range(units):
            groups.append((act, list(range(col, col + width))))
            col += width
    return groups


def unit_values(layer: Layer, z: Array) -> Array:
    """a = f(z) for one point: a_u = max_{c in group u} z_c for maxout units, f(z_c) otherwise."""
    out = np.zeros(len(unit_groups(layer)))
    for u, (act, cols) in enumerate(unit_groups(layer)):
        out[u] = np.max(z[cols]) if act == "maxout" else act_value(act, z[cols[0]])
    return out


def derivative_matrix(layer: Layer, z: Array) -> Array:
    """The Jacobian da/dz [J, U] of one point: D[c, u] = f'(z_c) for an elementwise unit u fed
    by column c; for a maxout unit a 0/1 selection, D[c*, u] = 1 at c* = argmax of its group."""
    groups = unit_groups(layer)
    D = np.zeros((len(z), len(groups)))
    for u, (act, cols) in enumerate(groups):
        if act == "maxout":
            D[cols[int(np.argmax(z[cols]))], u] = 1.0
        else:
            D[cols[0], u] = act_derivative(act, z[cols[0]])
    return D


def _check_net(layers: Sequence[Layer]) -> None:
    if not layers:
        raise ValueError("empty network")
    for act, k, _ in layer_blocks(layers[-1]):
        if act != "linear" or k != 1:
            raise ValueError("the output layer must be linear")
    for li in range(1, len(layers)):
        width = len(unit_groups(layers[li - 1]))
        n_in = np.asarray(layers[li]["W"]).shape[0]
        if n_in != width:
            raise ValueError(f"layer {li} takes {n_in} inputs, not {width}")


def _trace(layers: Sequence[Layer], x_point: Array) -> tuple[list[Array], list[Array]]:
    """Forward pass of one point: (inputs a_l of every layer, pre-activations z_l = a_l W_l +
    b_l of every layer)."""
    inputs: list[Array] = []
    pre: list[Array] = []
    a = np.asarray(x_point, dtype=np.float64)
    for li, layer in enumerate(layers):
        z = a @ np.asarray(layer["W"], dtype=np.float64) + np.asarray(layer["b"], np.float64)
        inputs.append(a)
        pre.append(z)
        if li < len(layers) - 1:
            a = unit_values(layer, z)
    return inputs, pre


def _points(x: ArrayLike, target: ArrayLike | None = None) -> tuple[Array, NDArray[np.int64]]:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("x must be [n, d]")
    t = np.zeros(len(x), dtype=np.int64) if target is None else np.asarray(target, np.int64)
    if t.shape != (len(x),):
        raise ValueError("target must be [n]")
    return x, t


def _zeros_per_layer(layers: Sequence[Layer], n: int) -> list[Array]:
    return [np.zeros((n, np.asarray(layer["W"]).shape[1])) for layer in layers]


# ---------------------------------------------------------------------------------------------
# 1-3. Forward, gradient, gradient x input
# ---------------------------------------------------------------------------------------------


def forward(layers: Sequence[Layer], x: ArrayLike) -> Array:
    """Logits z_L [n, out], point by point: z_l = a_l W_l + b_l, a_{l+1} = f_l(z_l)."""
    _check_net(layers)
    x, _ = _points(x)
    return np.array([_trace(layers, xp)[1][-1] for xp in x]).reshape(len(x), -1)


def explained_output(layers: Sequence[Layer], x: ArrayLike, target: ArrayLike) -> Array:
    """f(x) = z_L[target] per point, [n]."""
    x, t = _points(x, target)
    logits = forward(layers, x)
    return np.array([logits[p, t[p]] for p in range(len(x))])


def gradient(layers: Sequence[Layer], x: ArrayLike, target: ArrayLike) -> Array:
    """df/dx [n, d] as the product of per-point Jacobians, chained from the input side:
    M = W_0 D_0 W_1 D_1 ... D_{L-1} W_L ([d, out], D_l = da_{l+1}/dz_l from
    `derivative_matrix`), and df/dx = M[:, target]."""
    _check_net(layers)
    x, t = _points(x, target)
    grads = np.zeros_like(x)
    for p in range(len(x)):
        _, pre = _trace(layers, x[p])
        M = np.eye(x.shape[1])
        for li, layer in enumerate(layers):
            M = M @ np.asarray(layer["W"], dtype=np.float64)
            if li < len(layers) - 1:
                M = M @ derivative_matrix(layer, pre[li])
        grads[p] = M[:, t[p]]
    return grads


def gradient_x_input(layers: Sequence[Layer], x: ArrayLike, target: ArrayLike) -> Array:
    """x * df/dx, [n, d]."""
    x, t = _points(x, target)
    return x * gradient(layers, x, t)


# ---------------------------------------------------------------------------------------------
# 4. LRP (epsilon / normalized rule) and the f(0) = 0 rewrite
# ---------------------------------------------------------------------------------------------


def center_activations(layers: Sequence[Layer]) -> list[Layer]:
    """The same function with every hidden nonlinearity satisfying f(0) = 0.

    For hidden layer l let c = f_l(0) per unit (sigmoid: 1/2; relu, tanh, linear, maxout: 0).
    Replace f_l by g(z) = f_l(z) - c (sigmoid becomes "sigmoid_centered") and add the offset to
    the next layer's bias: b_{l+1} <- b_{l+1} + c W_{l+1} (for a whole sigmoid layer
    1/2 * column sums of W_{l+1}). Exact: (g(z_l) + c) W_{l+1} + b_{l+1} = g(z_l) W_{l+1} +
    (b_{l+1} + c W_{l+1}). Returns new layer dicts {"W", "b", "blocks"}; the input is not
    changed."""
    _check_net(layers)
    out: list[Layer] = [
        {
            "W": np.array(layer["W"], dtype=np.float64),
            "b": np.array(layer["b"], dtype=np.float64),
            "blocks": layer_blocks(layer),
        }
        for layer in layers
    ]
    for li in range(len(out) - 1):
        layer = out[li]
        offset = unit_values(layer, np.zeros(layer["W"].shape[1]))
        if np.any(offset != 0.0):
            out[li + 1]["b"] = out[li + 1]["b"] + offset @ out[li + 1]["W"]
            layer["blocks"] = [
                ("sigmoid_centered" if act == "sigmoid" else act, k, units)
                for act, k, units in layer["blocks"]
            ]
            if np.any(unit_values(layer, np.zeros(layer["W"].shape[1])) != 0.0):
                raise ValueError(f"layer {li}: no f(0) = 0 rewrite for this activation")
    return out


def radial_shares(a: ArrayLike) -> Array:
    """The "radial" split of a max b = max_i a_i over its arguments: R(a_i) = s_i R(b) with

    - s_i = a_i / sum_{a_j > 0} a_j if a_i > 0 (and s_i = 0 for a_i <= 0) when b > 0;
    - s_i = 1 / (a_i sum_j 1/a_j) when all a_j < 0 (b < 0);
    - s = one-hot of the (first) argmax when b == 0 exactly.

    In every case sum_i s_i = 1."""
    a = np.asarray(a, dtype=np.float64)
    b = np.max(a)
    s = np.zeros_like(a)
    if b == 0.0:
        s[int(np.argmax(a))] = 1.0
    elif b > 0.0:
        positive_total = sum(float(v) for v in a if v > 0)
        for i, v in enumerate(a):
            s[i] = v / positive_total if v > 0 else 0.0
    else:
        inverse_total = sum(1.0 / float(v) for v in a)
        for i, v in enumerate(a):
            s[i] = 1.0 / (v * inverse_total)
    return s


def _lrp_matrix(layer: Layer, a: Array, R_z: Array, eps: float, bias: str) -> tuple[Array, Array]:
    """One matrix layer z_j = sum_i a_i w_ij + b_j, normalized rule with explicit loops:

    R(a_i) = sum_j a_i w_ij / blip(d_j) R(z_j),  blip(v) = v + eps sign(v),

    d_j = s_j + b_j = z_j (bias "absorb"; then R(bias_j) = b_j / blip(z_j) R(z_j)) or
    d_j = s_j = sum_i a_i w_ij (bias "ignore"; R(bias_j) = 0). A term with blip(d_j) == 0 is 0."""
    W = np.asarray(layer["W"], dtype=np.float64)
    b = np.asarray(layer["b"], dtype=np.float64)
    n_in, n_out = W.shape
    R_a = np.zeros(n_in)
    R_b = np.zeros(n_out)
    for j in range(n_out):
        s_j = 0.0
        for i in range(n_in):
            s_j += a[i] * W[i, j]
        d_j = s_j + b[j] if bias == "absorb" else s_j
        denominator = d_j + eps * np.sign(d_j)
        if denominator == 0.0:
            continue
        for i in range(n_in):
            R_a[i] += a[i] * W[i, j] / denominator * R_z[j]
        if bias == "absorb":
            R_b[j] = b[j] / denominator * R_z[j]
    return R_a, R_b


def _lrp_units(layer: Layer, z: Array, R_a: Array, max_rule: str) -> Array:
    """Nonlinearity rule "ignore": R(z_c) = R(a_u) for an elementwise unit; for a maxout unit
    R(z_c) = s_c R(a_u) with s the one-hot argmax (max_rule "gradient") or `radial_shares` of
    the group's pre-activations (max_rule "radial")."""
    R_z = np.zeros(len(z))
    for u, (act, cols) in enumerate(unit_groups(layer)):
        if act == "maxout":
            group = z[cols]
            if max_rule == "gradient":
                shares = np.zeros(len(cols))
                shares[int(np.argmax(group))] = 1.0
            elif max_rule == "radial":
                shares = radial_shares(group)
            else:
                raise ValueError(f"unknown max_rule {max_rule!r}")
            for position, c in enumerate(cols):
                R_z[c] = shares[position] * R_a[u]
        else:
            R_z[cols[0]] = R_a[u]
    return R_z


def lrp(
    layers: Sequence[Layer],
    x: ArrayLike,
    target: ArrayLike,
    eps: float = 0.0,
    bias: str = "absorb",
    max_rule: str = "gradient",
) -> tuple[Array, list[Array]]:
    """LRP with the normalized (epsilon) rule, nonlinearity rule "ignore".

    The net is first rewritten by `center_activations` (every hidden f(0) = 0; the sigmoid
    offsets become biases of the next layer, so R_bias of that layer refers to the rewritten
    bias). Start: R(z_L) = one-hot(target) * f(x). Matrix layers: see `_lrp_matrix`
    (R(a_i) = sum_j a_i w_ij / blip(z_j) R(z_j), blip(v) = v + eps sign(v), bias "absorb":
    R(bias_j) = b_j / blip(z_j) R(z_j); bias "ignore": denominators s_j = sum_i a_i w_ij and
    R(bias_j) = 0). Nonlinearities: R(z) = R(a); maxout: `_lrp_units`.

    Returns (R_input [n, d], R_bias: list per layer of [n, J_l]). With eps = 0 and "absorb",
    R_input.sum(1) + sum_l R_bias[l].sum(1) = f(x)."""
    if bias not in ("absorb", "ignore"):
        raise ValueError(f"unknown bias rule {bias!r}")
    return _relevance_backward(
        layers, x, target, lambda layer, a, R_z: _lrp_matrix(layer, a, R_z, eps, bias), max_rule
    )


# ---------------------------------------------------------------------------------------------
# 5. LRP alpha-beta
# ---------------------------------------------------------------------------------------------


def _alphabeta_matrix(
    layer: Layer, a: Array, R_z: Array, alpha: float, beta: float
) -> tuple[Array, Array]:
    """One matrix layer with contributions z_ij = a_i w_ij and the bias as one more
    contribution: P_j = sum_i z_ij^+ + b_j^+, N_j = sum_i z_ij^- + b_j^- (v^+ = max(v, 0),
    v^- = min(v, 0)),

    R(a_i) = sum_j (alpha z_ij^+ / P_j - beta z_ij^- / N_j) R(z_j),
    R(bias_j) = (alpha b_j^+ / P_j - beta b_j^- / N_j) R(z_j),

    with 0/0 = 0 (a part whose P_j or N_j is 0 gives nothing)."""
    W = np.asarray(layer["W"], dtype=np.float64)
    b = np.asarray(layer["b"], dtype=np.float64)
    n_in, n_out = W.shape
    R_a = np.zeros(n_in)
    R_b = np.zeros(n_out)
    for j in range(n_out):
        P_j = max(b[j], 0.0)
        N_j = min(b[j], 0.0)
        for i in range(n_in):
            z_ij = a[i] * W[i, j]
            P_j += max(z_ij, 0.0)
            N_j += min(z_ij, 0.0)

        def share(v: float, P_j: float = P_j, N_j: float = N_j) -> float:
            positive = alpha * max(v, 0.0) / P_j if P_j != 0.0 else 0.0
            negative = beta * min(v, 0.0) / N_j if N_j != 0.0 else 0.0
            return positive - negative

        for i in range(n_in):
            R_a[i] += share(a[i] * W[i, j]) * R_z[j]
        R_b[j] = share(b[j]) * R_z[j]
    return R_a, R_b


def lrp_alphabeta(
    layers: Sequence[Layer], x: ArrayLike, target: ArrayLike, alpha: float, beta: float
) -> tuple[Array, list[Array]]:
    """LRP alpha-beta (alpha - beta = 1; meant for ReLU nets): start R(z_L) = one-hot(target)
    * f(x), matrix layers by `_alphabeta_matrix`, nonlinearity rule "ignore" (maxout: all to the
    argmax). The net goes through `center_activations` first (a no-op for ReLU nets).
    Returns (R_input [n, d], R_bias per layer [n, J_l])."""
    if not np.isclose(alpha - beta, 1.0):
        raise ValueError("alpha - beta must be 1")
    return _relevance_backward(
        layers,
        x,
        target,
        lambda layer, a, R_z: _alphabeta_matrix(layer, a, R_z, alpha, beta),
        "gradient",
    )


def _relevance_backward(layers, x, target, matrix_rule, max_rule):
    """Point by point: R(z_L) = one-hot(target) * f(x), then back through each layer,
    `matrix_rule(layer, a, R(z)) -> (R(a), R(bias))` and `_lrp_units` between layers
    (centred activations first). Returns (R_input [n, d], R_bias per layer [n, J_l])."""
    net = center_activations(layers)
    x, t = _points(x, target)
    R_input = np.zeros_like(x)
    R_bias = _zeros_per_layer(net, len(x))
    for p in range(len(x)):
        inputs, pre = _trace(net, x[p])
        R_z = np.zeros(len(pre[-1]))
        R_z[t[p]] = pre[-1][t[p]]
        for li in range(len(net) - 1, -1, -1):
            R_a, R_bias[li][p] = matrix_rule(net[li], inputs[li], R_z)
            if li > 0:
                R_z = _lrp_units(net[li - 1], pre[li - 1], R_a, max_rule)
            else:
                R_input[p] = R_a
    return R_input, R_bias


# ---------------------------------------------------------------------------------------------
# 6. Blame the bias: literal bias-free networks with constant inputs
# ---------------------------------------------------------------------------------------------


def bias_augmented_net(layers: Sequence[Layer]) -> tuple[list[Layer], list[slice]]:
    """The bias-free network with one constant-1 input per bias (after `center_activations`).

    Let J_l be the columns of layer l and C_l = J_l + J_{l+1} + ... + J_L the biases from layer
    l on. Layer l of the new net takes [a_l (I_l units), 1 x C_l carriers] and gives
    [z_l (J_l columns), 1 x C_{l+1} carriers] with

        W'_l = [[W_l,              0      ],
                [diag(b_l),        0      ],     (the J_l carriers of layer l's biases)
                [0,        identity(C_{l+1})]], b'_l = 0.

    The carriers of the layer-l biases are the first J_l of the C_l: 1 * b_lj lands exactly
    where b_lj was; the others pass through unchanged. The carrier columns form their own block
    ("linear", k=1, C_{l+1}) after the layer's blocks, so maxout groups are untouched and the
    carriers stay 1. The input is [x, 1 x C_0]; returns (new layers, the slice of the input
    holding the carriers of each layer's biases)."""
    net = center_activations(layers)
    widths = [layer["W"].shape[1] for layer in net]
    carriers_from = [sum(widths[li:]) for li in range(len(net) + 1)]  # C_l, C_{L+1} = 0
    new: list[Layer] = []
    for li, layer in enumerate(net):
        n_in, n_out = layer["W"].shape
        c_in, c_out = carriers_from[li], carriers_from[li + 1]
        W = np.zeros((n_in + c_in, n_out + c_out))
        W[:n_in, :n_out] = layer["W"]
        for j in range(n_out):
            W[n_in + j, j] = layer["b"][j]
        for c in range(c_out):
            W[n_in + n_out + c, n_out + c] = 1.0
        blocks = list(layer["blocks"]) + ([("linear", 1, c_out)] if c_out else [])
        new.append({"W": W, "b": np.zeros(n_out + c_out), "blocks": blocks})
    d = np.asarray(layers[0]["W"]).shape[0]
    slices = [slice(d + sum(widths[:li]), d + sum(widths[: li + 1])) for li in range(len(net))]
    return new, slices


def bias_shared_net(layers: Sequence[Layer]) -> list[Layer]:
    """The bias-free network with ONE constant-1 input carried through every layer (after
    `center_activations`): layer l takes [a_l, 1] and gives [z_l, 1] (no carrier out of the
    output layer) with W'_l = [[W_l, 0], [b_l, 1]], b'_l = 0; the carrier column is its own
    ("linear", 1, 1) block. The input is [x, 1]."""
    net = center_activations(layers)
    new: list[Layer] = []
    for li, layer in enumerate(net):
        n_in, n_out = layer["W"].shape
        carry = 1 if li < len(net) - 1 else 0
        W = np.zeros((n_in + 1, n_out + carry))
        W[:n_in, :n_out] = layer["W"]
        W[n_in, :n_out] = layer["b"]
        if carry:
            W[n_in, n_out] = 1.0
        blocks = list(layer["blocks"]) + ([("linear", 1, 1)] if carry else [])
        new.append({"W": W, "b": np.zeros(n_out + carry), "blocks": blocks})
    return new


def blame_bias_augmented(
    layers: Sequence[Layer], x: ArrayLike, target: ArrayLike
) -> tuple[Array, list[Array]]:
    """`lrp(eps=0, bias="absorb")` of the literal bias-free net of `bias_augmented_net` on the
    input [x, 1, ..., 1]: returns (relevance of the real inputs [n, d], relevance of the
    constant 1 of every bias, per layer [n, J_l])."""
    x, t = _points(x, target)
    net, slices = bias_augmented_net(layers)
    n_const = net[0]["W"].shape[0] - x.shape[1]
    R, _ = lrp(net, np.hstack([x, np.ones((len(x), n_const))]), t, eps=0.0, bias="absorb")
    return R[:, : x.shape[1]], [R[:, s] for s in slices]


def blame_bias_shared(
    layers: Sequence[Layer], x: ArrayLike, target: ArrayLike
) -> tuple[Array, Array]:
    """`lrp(eps=0, bias="absorb")` of `bias_shared_net` on [x, 1]: returns (relevance of the
    real inputs [n, d], relevance of the shared constant [n], the total of all biases)."""
    x, t = _points(x, target)
    R, _ = lrp(bias_shared_net(layers), np.hstack([x, np.ones((len(x), 1))]), t, eps=0.0)
    return R[:, : x.shape[1]], R[:, x.shape[1]]


# ---------------------------------------------------------------------------------------------
# 7. DeepLIFT, rescale rule
# ---------------------------------------------------------------------------------------------


def rescale_multiplier(act: str, z: float, z_ref: float) -> float:
    """DeepLIFT rescale multiplier of an elementwise f: (f(z) - f(z_ref)) / (z - z_ref), or
    f'(z) when |z - z_ref| < 1e-9."""
    if abs(z - z_ref) < RESCALE_TOL:
        return float(act_derivative(act, z))
    return float((act_value(act, z) - act_value(act, z_ref)) / (z - z_ref))


def max_multipliers(a: ArrayLike, a_ref: ArrayLike, max_rule: str) -> Array:
    """Multipliers m_i of the arguments of b = max_i a_i, with sum_i m_i (a_i - a_ref_i) =
    max(a) - max(a_ref) (summation to delta).

    "softmax_limit": max(a) = lim_{T -> 0} T log sum_i exp(a_i / T). Derivation: for T > 0 this
    is the chain e_i = exp(a_i / T) (elementwise), S = sum_i e_i (linear), out = T log S
    (elementwise). The rescale rule gives e_i the multiplier de_i / da_i (d = difference to the
    reference), the sum multiplier 1 and the log d out / dS, so the contribution of a_i is
    C_i = da_i (de_i / da_i)(d out / dS) = d out * de_i / dS: the difference is shared in
    proportion to de_i = exp(a_i / T) - exp(a_ref_i / T). Let M = max a, M' = max a_ref.
    If M > M', divide by exp(M / T): de_i / dS = (exp((a_i - M)/T) - exp((a_ref_i - M)/T)) /
    (sum_j exp((a_j - M)/T) - sum_j exp((a_ref_j - M)/T)); every exponent is < 0 except
    a_i = M, so the ratio -> [a_i = M] (a unique argmax). If M < M', divide by exp(M' / T): the
    ratio -> [a_ref_i = M'] (numerator and denominator both -> -1 there). And d out -> M - M'.
    So the whole difference M - M' goes to i* = argmax(a) if M >= M' (at M = M' the difference
    is 0 and the limit depends on the path; we pick x's argmax) else to i* = argmax(a_ref):
    m_i* = (M - M') / (a_i* - a_ref_i*), all others 0. a_i* = a_ref_i* forces M = M' (a_i* =
    M >= M' >= a_ref_i*, or the mirror image), then m_i* := 1 (the gradient of the max).
    Ties inside a group: the first index (the literal limit would split them evenly).

    "relu_chain": max(a_1..a_k) as m_1 = a_1, m_i = m_{i-1} + relu(a_i - m_{i-1}), each relu
    with its own rescale multiplier rho_i for the difference d_i = a_i - m_{i-1}. In the chain,
    multipliers of m_i w.r.t. a: mu_1 = e_1, mu_i = mu_{i-1} + rho_i (e_i - mu_{i-1}); the
    answer is mu_k."""
    a = np.asarray(a, dtype=np.float64)
    a_ref = np.asarray(a_ref, dtype=np.float64)
    m = np.zeros(len(a))
    if max_rule == "softmax_limit":
        top, top_ref = np.max(a), np.max(a_ref)
        i = int(np.argmax(a)) if top >= top_ref else int(np.argmax(a_ref))
        if abs(a[i] - a_ref[i]) < RESCALE_TOL:
            m[i] = 1.0
        else:
            m[i] = (top - top_ref) / (a[i] - a_ref[i])
        return m
    if max_rule == "relu_chain":
        m[0] = 1.0
        running, running_ref = a[0], a_ref[0]
        for i in range(1, len(a)):
            d, d_ref = a[i] - running, a_ref[i] - running_ref
            rho = rescale_multiplier("relu", d, d_ref)
            unit = np.zeros(len(a))
            unit[i] = 1.0
            m = m + rho * (unit - m)
            running = running + max(d, 0.0)
            running_ref = running_ref + max(d_ref, 0.0)
        return m
    raise ValueError(f"unknown max_rule {max_rule!r}")


def rescale_matrix(layer: Layer, z: Array, z_ref: Array, max_rule: str) -> Array:
    """DeepLIFT multipliers of a nonlinearity for one point, [J, U]: diagonal entries
    `rescale_multiplier` for elementwise units, `max_multipliers` in the column of a maxout
    unit."""
    groups = unit_groups(layer)
    D = np.zeros((len(z), len(groups)))
    for u, (act, cols) in enumerate(groups):
        if act == "maxout":
            D[cols, u] = max_multipliers(z[cols], z_ref[cols], max_rule)
        else:
            D[cols[0], u] = rescale_multiplier(act, z[cols[0]], z_ref[cols[0]])
    return D


def deeplift_rescale(
    layers: Sequence[Layer],
    x: ArrayLike,
    baseline: ArrayLike,
    target: ArrayLike,
    max_rule: str = "softmax_limit",
) -> Array:
    """DeepLIFT with the rescale rule (Shrikumar et al. 2017). Per point, with x and the
    baseline (one point [d]) run forward: the multipliers of f = z_L[target] w.r.t. the input
    are chained in matrix form, M = W_0 D_0 W_1 D_1 ... W_L with D_l = `rescale_matrix` (matrix
    layers multiply by W, their bias differences are 0), and R = (x - baseline) * M[:, target],
    so that sum_i R_i = f(x) - f(baseline). Returns R [n, d]."""
    _check_net(layers)
    x, t = _points(x, target)
    reference = np.broadcast_to(np.asarray(baseline, dtype=np.float64), (x.shape[1],))
    _, pre_ref = _trace(layers, reference)
    R = np.zeros_like(x)
    for p in range(len(x)):
        _, pre = _trace(layers, x[p])
        M = np.eye(x.shape[1])
        for li, layer in enumerate(layers):
            M = M @ np.asarray(layer["W"], dtype=np.float64)
            if li < len(layers) - 1:
                M = M @ rescale_matrix(layer, pre[li], pre_ref[li], max_rule)
        R[p] = (x[p] - reference) * M[:, t[p]]
    return R


# ---------------------------------------------------------------------------------------------
# 8-9. FullGrad, deconvnet
# ---------------------------------------------------------------------------------------------


def fullgrad(layers: Sequence[Layer], x: ArrayLike, target: ArrayLike) -> tuple[Array, list[Array]]:
    """FullGrad parts: (x * df/dx [n, d], per layer b_l * df/db_l [n, J_l]), with the biases of
    the net as given (no f(0) rewrite). df/db_l = df/dz_l = (D_l W_{l+1} D_{l+1} ... W_L)
    [:, target] for a hidden layer l (the Jacobian chain started at z_l), one-hot(target) for
    the output layer. For piecewise-linear nets with f(0) = 0 units (relu, maxout, linear)
    x . df/dx + sum_l b_l . df/db_l = f(x)."""
    _check_net(layers)
    x, t = _points(x, target)
    parts = _zeros_per_layer(layers, len(x))
    last = len(layers) - 1
    for p in range(len(x)):
        _, pre = _trace(layers, x[p])
        for li, layer in enumerate(layers):
            if li == last:
                dz = np.zeros(len(pre[li]))
                dz[t[p]] = 1.0
            else:
                M = derivative_matrix(layer, pre[li])
                for m in range(li + 1, len(layers)):
                    M = M @ np.asarray(layers[m]["W"], dtype=np.float64)
                    if m < last:
                        M = M @ derivative_matrix(layers[m], pre[m])
                dz = M[:, t[p]]
            parts[li][p] = np.asarray(layer["b"], dtype=np.float64) * dz
    return x * gradient(layers, x, t), parts


def _deconv_units(layer: Layer, z: Array, R_a: Array) -> Array:
    """Deconvnet nonlinearity rule "repeat": R(z_c) = f(R(a_u)) for relu (max(0, R)), linear
    (R) and tanh (tanh R); a maxout unit sends R(a_u) to its argmax column. Sigmoid has no
    "repeat" rule here (f(0) != 0 would create relevance): ValueError."""
    R_z = np.zeros(len(z))
    for u, (act, cols) in enumerate(unit_groups(layer)):
        if act == "maxout":
            R_z[cols[int(np.argmax(z[cols]))]] = R_a[u]
        elif act in ("relu", "linear", "tanh"):
            R_z[cols[0]] = act_value(act, R_a[u])
        else:
            raise ValueError(f"no deconvnet rule for {act!r}")
    return R_z


def deconvnet(layers: Sequence[Layer], x: ArrayLike, target: ArrayLike) -> Array:
    """Deconvnet: R(z_L) = one-hot(target); matrix layers R(a) = W R(z) (the gradient rule);
    nonlinearities by `_deconv_units` (relu: R(z) = relu(R(a))). Returns R(x) [n, d]."""
    _check_net(layers)
    x, t = _points(x, target)
    R_input = np.zeros_like(x)
    for p in range(len(x)):
        _, pre = _trace(layers, x[p])
        R_z = np.zeros(len(pre[-1]))
        R_z[t[p]] = 1.0
        for li in range(len(layers) - 1, -1, -1):
            R_a = np.asarray(layers[li]["W"], dtype=np.float64) @ R_z
            if li > 0:
                R_z = _deconv_units(layers[li - 1], pre[li - 1], R_a)
            else:
                R_input[p] = R_a
    return R_input


# ---------------------------------------------------------------------------------------------
# 10. Region perturbation (MoRF / LeRF) and AOPC
# ---------------------------------------------------------------------------------------------


def removal_order(R_point: ArrayLike, order: str = "morf") -> list[int]:
    """Feature indices in removal order: highest R first ("morf") or lowest R first ("lerf");
    ties by feature index (stable), for both orders."""
    R_point = np.asarray(R_point, dtype=np.float64)
    if order == "morf":
        return sorted(range(len(R_point)), key=lambda i: (-R_point[i], i))
    if order == "lerf":
        return sorted(range(len(R_point)), key=lambda i: (R_point[i], i))
    raise ValueError(f"unknown order {order!r}")


def morf(
    f_of_x: Callable[[Array], ArrayLike],
    x: ArrayLike,
    R: ArrayLike,
    baseline: ArrayLike,
    order: str = "morf",
) -> Array:
    """Region perturbation (Samek et al. 2015), one feature per step: per point, features are
    set to the baseline value one at a time in `removal_order`; curve[:, k] = f after k
    removals (curve[:, 0] = f(x), curve[:, d] = f(baseline)).

    f_of_x maps an [n, d] array to [n], row p being a perturbed copy of x[p] (so a per-point
    target can be used, e.g. lambda v: forward(layers, v)[np.arange(n), target]); it is called
    once per step k = 0..d. baseline: a scalar, [d] or [n, d]. Returns curve [n, d + 1]."""
    x = np.asarray(x, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    n, d = x.shape
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float64), (n, d))
    orders = [removal_order(R[p], order) for p in range(n)]
    current = x.copy()
    curve = np.zeros((n, d + 1))
    for k in range(d + 1):
        if k > 0:
            for p in range(n):
                i = orders[p][k - 1]
                current[p, i] = base[p, i]
        curve[:, k] = np.asarray(f_of_x(current.copy()), dtype=np.float64).reshape(n)
    return curve


def aopc(curve: ArrayLike) -> float:
    """Area over the perturbation curve: mean over points of (1 / (d + 1)) sum_{k=0}^{d}
    (curve[:, 0] - curve[:, k])."""
    curve = np.asarray(curve, dtype=np.float64)
    n, steps = curve.shape
    total = 0.0
    for p in range(n):
        total += sum(curve[p, 0] - curve[p, k] for k in range(steps)) / steps
    return total / n
