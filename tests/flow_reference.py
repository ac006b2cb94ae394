"""An independent NumPy reference for the flow / linear-regions study, written from the
definitions, not from `toynets.analysis.linear_regions` or `toynets.studies.flow`; float64.

A net is a list of layers (W [fan_in, fan_out], b [fan_out], activation[, k]); a layer computes
a_next = f(a W + b). Hidden activations: relu, linear, sigmoid, tanh, maxout (k pre-activations
per unit, unit u the max of columns u*k .. u*k+k-1, k the 4th tuple element); the output layer's:
linear, sigmoid, softmax.

- forward values (z, a) of every layer; the ReLU activation pattern of each point (z > 0);
- the affine map x -> z_L of a ReLU net in the region of one pattern, by masked matrix products,
  and the same map by central finite differences at a point;
- the number of distinct patterns on a grid (brute force), and the exact number of regions that
  lines cut a rectangle into, from the planar graph and Euler's formula.
"""

from __future__ import annotations

import itertools

import numpy as np

Layer = tuple  # (W, b, activation) or (W, b, "maxout", k)
Box = tuple[float, float, float, float]  # (x1_min, x1_max, x2_min, x2_max)


def _unpack(layer: Layer) -> tuple[np.ndarray, np.ndarray, str, int]:
    """(W, b, activation, k) of a layer given as a 3- or 4-tuple (k = 1 unless maxout)."""
    W, b, activation = layer[:3]
    k = int(layer[3]) if len(layer) > 3 else 1
    return np.asarray(W, float), np.asarray(b, float), activation, k


def _activate(z: np.ndarray, activation: str, k: int) -> np.ndarray:
    """f(z) for one layer, from the formulas."""
    if activation == "relu":
        return np.where(z > 0, z, 0.0)
    if activation == "linear":
        return z
    if activation == "sigmoid":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-z))
    if activation == "tanh":
        return np.tanh(z)
    if activation == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if activation == "maxout":
        n, columns = z.shape
        return z.reshape(n, columns // k, k).max(axis=2)
    raise ValueError(f"unknown activation {activation!r}")


def forward_values(layers: list[Layer], x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(z, a) per layer, output layer included, for inputs x [n, d]."""
    a, values = np.asarray(x, float), []
    for layer in layers:
        W, b, activation, k = _unpack(layer)
        z = a @ W + b
        a = _activate(z, activation, k)
        values.append((z, a))
    return values


def relu_pattern(layers: list[Layer], x: np.ndarray) -> np.ndarray:
    """Bool [n, hidden units]: unit active where z > 0, hidden layers concatenated in order.
    One point at a time, on purpose."""
    rows = []
    for point in np.asarray(x, float):
        a, row = point, []
        for layer in layers[:-1]:
            W, b, activation, _ = _unpack(layer)
            assert activation == "relu", "relu_pattern needs relu hidden layers"
            z = a @ W + b
            row.extend(bool(value > 0) for value in z)
            a = np.where(z > 0, z, 0.0)
        rows.append(row)
    return np.array(rows, dtype=bool).reshape(len(rows), -1)


def affine_map_of_pattern(
    layers: list[Layer], pattern: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(A [d, outputs], c [outputs]) with z_L = x A + c in the region of `pattern` of a ReLU net:
    each hidden layer is the affine map a -> (a W + b) * m, and the maps are composed."""
    pattern = np.asarray(pattern, bool)
    A = np.eye(_unpack(layers[0])[0].shape[0])
    c = np.zeros(A.shape[0])
    start = 0
    for layer in layers[:-1]:
        W, b, activation, _ = _unpack(layer)
        assert activation == "relu", "affine_map_of_pattern needs relu hidden layers"
        m = pattern[start : start + W.shape[1]].astype(float)
        start += W.shape[1]
        A, c = (A @ W) * m, (c @ W + b) * m
    assert start == pattern.size, "pattern length is not the number of hidden units"
    W, b, _, _ = _unpack(layers[-1])
    return A @ W, c @ W + b


def affine_map_by_differences(
    layers: list[Layer], x0: np.ndarray, h: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """(A, c) of z_L near x0 [d] by central differences: A[i] = (z_L(x0 + h e_i) -
    z_L(x0 - h e_i)) / 2h, c = z_L(x0) - x0 A."""
    x0 = np.asarray(x0, float)

    def logits(x: np.ndarray) -> np.ndarray:
        return forward_values(layers, x[None, :])[-1][0][0]

    steps = np.eye(x0.size) * h
    A = np.array([(logits(x0 + e) - logits(x0 - e)) / (2 * h) for e in steps])
    return A, logits(x0) - x0 @ A


def grid_pattern_count(layers: list[Layer], box: Box, size: int) -> int:
    """Distinct ReLU patterns on a size x size grid over box (endpoints included); inputs beyond
    the first two held at 0."""
    x1_min, x1_max, x2_min, x2_max = box
    g1, g2 = np.meshgrid(np.linspace(x1_min, x1_max, size), np.linspace(x2_min, x2_max, size))
    x = np.zeros((size * size, _unpack(layers[0])[0].shape[0]))
    x[:, 0], x[:, 1] = g1.ravel(), g2.ravel()
    return len({tuple(row) for row in relu_pattern(layers, x)})


def _distinct_lines(lines: np.ndarray, eps: float) -> list[np.ndarray]:
    """Lines scaled to |(a1, a2)| = 1, without a1 = a2 = 0 ones and without repeats (n ~ -n)."""
    kept: list[np.ndarray] = []
    for line in np.asarray(lines, float).reshape(-1, 3):
        norm = np.hypot(line[0], line[1])
        if norm == 0:
            continue
        line = line / norm
        same = [
            np.abs(s * line[:2] - k[:2]).max() < 1e-9 and abs(s * line[2] - k[2]) < eps
            for k in kept
            for s in (1, -1)
        ]
        if not any(same):
            kept.append(line)
    return kept


def _clip(line: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray] | None:
    """End points of the line's chord across the box, or None if it misses the open box."""
    x1_min, x1_max, x2_min, x2_max = box
    eps = 1e-9 * max(x1_max - x1_min, x2_max - x2_min)
    p0, d = -line[2] * line[:2], np.array([-line[1], line[0]])  # foot point, unit direction
    t_lo, t_hi = -np.inf, np.inf
    for i, (lo, hi) in enumerate([(x1_min, x1_max), (x2_min, x2_max)]):
        if d[i] == 0:
            if not lo <= p0[i] <= hi:
                return None
            continue
        t1, t2 = sorted([(lo - p0[i]) / d[i], (hi - p0[i]) / d[i]])
        t_lo, t_hi = max(t_lo, t1), min(t_hi, t2)
    if t_hi - t_lo <= eps:
        return None  # misses the box, or touches it at one point (a corner)
    mid = p0 + (t_lo + t_hi) / 2 * d
    inside = x1_min + eps < mid[0] < x1_max - eps and x2_min + eps < mid[1] < x2_max - eps
    return (p0 + t_lo * d, p0 + t_hi * d) if inside else None  # not along a side


def arrangement_regions_euler(lines: np.ndarray, box: Box) -> int:
    """Regions that the lines a1 x1 + a2 x2 + c = 0 cut the open box into: faces = E - V + 1 of
    the planar graph of the box's sides and the lines' chords (not 1 + lines + crossings)."""
    x1_min, x1_max, x2_min, x2_max = box
    eps = 1e-9 * max(x1_max - x1_min, x2_max - x2_min)
    chords = [(line, ends) for line in _distinct_lines(lines, eps) if (ends := _clip(line, box))]
    points = [np.array(p, float) for p in itertools.product((x1_min, x1_max), (x2_min, x2_max))]
    points += [end for _, ends in chords for end in ends]
    for (l1, _), (l2, _) in itertools.combinations(chords, 2):
        M = np.array([l1[:2], l2[:2]])
        if abs(np.linalg.det(M)) < 1e-12:
            continue  # parallel
        p = np.linalg.solve(M, -np.array([l1[2], l2[2]]))
        if x1_min + eps < p[0] < x1_max - eps and x2_min + eps < p[1] < x2_max - eps:
            points.append(p)
    vertices: list[np.ndarray] = []
    for p in points:  # merge coincident points
        if not any(np.abs(p - v).max() < eps for v in vertices):
            vertices.append(p)
    V = np.array(vertices)
    on_lines = [np.abs(V @ line[:2] + line[2]) < 2 * eps for line, _ in chords]
    on_sides = [
        (np.abs(V[:, axis] - value) < 2 * eps)
        for axis, value in [(0, x1_min), (0, x1_max), (1, x2_min), (1, x2_max)]
    ]
    # a line or side with m vertices on it is cut into m - 1 edges
    edges = sum(int(on.sum()) - 1 for on in on_lines + on_sides)
    return edges - len(vertices) + 1


def general_position_lines(n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, 3] lines (a1, a2, c) through uniform points of [-1, 1]^2 at uniform angles, redrawn
    until no two are parallel (|sin angle| > 1e-3) and no three meet (gap > 1e-6)."""
    while True:
        theta = rng.uniform(0, np.pi, n)
        normal = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        lines = np.column_stack([normal, -(normal * rng.uniform(-1, 1, (n, 2))).sum(axis=1)])
        ok = True
        for i, j in itertools.combinations(range(n), 2):
            M = lines[[i, j], :2]
            if abs(np.linalg.det(M)) < 1e-3:
                ok = False
                break
            p = np.linalg.solve(M, -lines[[i, j], 2])
            gaps = np.abs(lines[:, :2] @ p + lines[:, 2])
            gaps[[i, j]] = np.inf
            if gaps.min() < 1e-6:
                ok = False
                break
        if ok:
            return lines
