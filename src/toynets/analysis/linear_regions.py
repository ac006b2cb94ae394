"""Linear regions of a net: activation patterns, exact local affine maps, region counts (DIGEST §4).

A ReLU unit is on (z > 0) or off, so every input x has an activation pattern: one digit per
hidden unit, layer after layer. Where the pattern is fixed the net is an affine function of x.
Hidden layer l with the pattern's slopes D_l (a diagonal of 0/1 for ReLU) maps the affine form
a = x A + c of its input to

    z = a W_l + b_l = x (A W_l) + (c W_l + b_l),    a' = f(z) = z D_l + e_l

(ReLU: D_l = [z > 0], e_l = 0; linear: D_l = 1, e_l = 0; maxout: the winning column of each
unit). Composed over the layers and the output layer, the logits are z_L = x A + c in the whole
region: the source's one-layer formula `sum([W0; b0] (W1 * m)) + b1` for any depth. For a smooth
activation (sigmoid, tanh) the same recursion with D_l = f'(z), e_l = f(z) - z f'(z) gives the
tangent map at x: exact at x only (first-order Taylor), and there are no regions.

Each full pattern's region is convex (its constraints are linear in x once the earlier layers'
pattern is fixed), so the regions met on a grid are the distinct patterns among its points. For
one hidden layer the regions are the cells of the arrangement of the first-layer lines
x1 w_0j + x2 w_1j + b_j = 0 (§4's "diamond"), counted exactly by `arrangement_region_count`:
n lines in general position cut the plane into 1 + n + C(n, 2) regions (211 for n = 20).

Hanin & Rolnick, "Complexity of linear regions in deep networks", ICML 2019.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from toynets.net import Net, activate

PIECEWISE_LINEAR = ("relu", "linear", "maxout")
LAYER_SEPARATOR = "|"  # between the hidden layers of a pattern string


@dataclass(frozen=True)
class AffineMaps:
    """The logits' affine map at each of n points: z_L(x) = x @ A[i] + c[i] near point i."""

    A: np.ndarray  # [n, d, outputs]
    c: np.ndarray  # [n, outputs]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Each point's map at the inputs x [n, d]: [n, outputs]."""
        return (np.asarray(x)[:, :, None] * self.A).sum(axis=1) + self.c


def is_piecewise_linear(net: Net) -> bool:
    """True when every hidden layer is ReLU, linear or maxout: the net has linear regions."""
    return all(layer.activation in PIECEWISE_LINEAR for layer in net.layers[:-1])


def _require_piecewise_linear(net: Net) -> None:
    smooth = sorted({lay.activation for lay in net.layers[:-1]} - set(PIECEWISE_LINEAR))
    if smooth:
        raise ValueError(
            f"linear regions need piecewise-linear hidden layers ({', '.join(PIECEWISE_LINEAR)});"
            f" this net has {', '.join(smooth)}"
        )


def patterns(net: Net, x: np.ndarray) -> np.ndarray:
    """The activation pattern of each input x [n, d]: int8 [n, hidden units], layer after layer.
    ReLU: 1 where z > 0, else 0; linear: 1; maxout: the index (0..k-1) of the winning column."""
    _require_piecewise_linear(net)
    a = np.asarray(x)
    digits = []
    for layer in net.layers[:-1]:
        z = a @ layer.W + layer.b
        if layer.activation == "relu":
            digits.append(z > 0)
        elif layer.activation == "maxout":
            digits.append(z.reshape(len(z), layer.units, layer.k).argmax(axis=-1))
        else:
            digits.append(np.ones_like(z, dtype=bool))
        a = activate(z, layer.activation, layer.k)
    if not digits:
        return np.zeros((len(a), 0), np.int8)
    return np.concatenate(digits, axis=1).astype(np.int8)


def pattern_strings(pattern: np.ndarray, hidden_sizes: list[int]) -> list[str]:
    """Patterns [n, units] as text, one digit per unit and `|` between layers: `1010`,
    `10110|01101`."""
    bounds = np.cumsum([0, *hidden_sizes])
    return [
        LAYER_SEPARATOR.join(
            "".join(map(str, row[lo:hi].tolist())) for lo, hi in itertools.pairwise(bounds)
        )
        for row in np.asarray(pattern)
    ]


def affine_maps(net: Net, x: np.ndarray) -> AffineMaps:
    """The logits' affine map at each input x [n, d] (module docstring): exact over the point's
    linear region for a piecewise-linear net, the tangent map at the point otherwise."""
    x = np.asarray(x)
    n, d = x.shape
    A = np.broadcast_to(np.eye(d), (n, d, d))  # the input layer: a = x I + 0
    c = np.zeros((n, d))
    a = x
    for layer in net.layers[:-1]:
        A = A @ layer.W
        c = c @ layer.W + layer.b
        z = a @ layer.W + layer.b
        a = activate(z, layer.activation, layer.k)
        if layer.activation == "maxout":
            groups = z.reshape(n, layer.units, layer.k)
            winner = np.arange(layer.units) * layer.k + groups.argmax(axis=-1)  # [n, units]
            A = np.take_along_axis(A, winner[:, None, :], axis=2)  # pragma: no mutate (= -1)
            c = np.take_along_axis(c, winner, axis=1)  # pragma: no mutate (the last axis)
            continue
        slope = _slope(z, a, layer.activation)
        A = A * slope[:, None, :]
        c = c * slope + (a - z * slope)
    out = net.layers[-1]
    return AffineMaps(A @ out.W, c @ out.W + out.b)


def _slope(z: np.ndarray, a: np.ndarray, activation: str) -> np.ndarray:
    """f'(z) of a hidden activation, given a = f(z) (ReLU: 1 where z > 0, 0 at the kink, as
    `patterns` counts the unit off there); `activate` has refused any other name."""
    if activation == "relu":
        return (z > 0).astype(np.float64)
    if activation == "linear":
        return np.ones(z.shape)
    if activation == "sigmoid":
        return a * (1.0 - a)
    return 1.0 - a**2  # tanh


@dataclass(frozen=True)
class Regions:
    """The linear regions met by n points: `label[i]` indexes `pattern` (one row per region,
    in the sorted order of their keys) and `count` the points in each."""

    label: np.ndarray  # [n]
    pattern: np.ndarray  # [regions, units]
    count: np.ndarray  # [regions]

    @property
    def n_regions(self) -> int:
        return len(self.count)


def regions(net: Net, x: np.ndarray) -> Regions:
    """The distinct activation patterns among the inputs x [n, d] and which one each meets."""
    found = patterns(net, x)
    if found.shape[1] == 0:  # no hidden unit: one region
        return Regions(np.zeros(len(found), np.int64), found[:1], np.array([len(found)]))
    keys = _row_keys(found)
    _, first, label, count = np.unique(
        keys,
        axis=0 if keys.ndim == 2 else None,
        return_index=True,
        return_inverse=True,
        return_counts=True,
    )
    return Regions(label.reshape(len(found)), found[first], count)


def _row_keys(pattern: np.ndarray) -> np.ndarray:
    """Each row of a pattern as a short key that sorts fast: 0/1 patterns packed 64 units to a
    uint64 ([n] for up to 64 units, else [n, words]); others (maxout digits) as they are.
    Equal rows have equal keys and different rows different ones."""
    if not np.isin(pattern, (0, 1)).all():  # maxout pieces 0..k-1
        return pattern
    packed = np.packbits(pattern.astype(np.uint8), axis=1)
    words = -(-packed.shape[1] // 8)
    padded = np.zeros((len(packed), words * 8), np.uint8)
    padded[:, : packed.shape[1]] = packed
    keys = padded.view(np.uint64)
    return keys[:, 0] if words == 1 else keys


def region_areas(found: Regions, box: tuple[float, float, float, float]) -> np.ndarray:
    """Each region's area on a regular grid over `box`: its share of the grid points times the
    box's area [regions]."""
    area = (box[1] - box[0]) * (box[3] - box[2])
    return found.count / found.count.sum() * area


def first_layer_lines(net: Net, rest: np.ndarray | None = None) -> np.ndarray:
    """The lines where the first hidden layer's units have z = 0 in the (x1, x2) plane, one per
    column j of W0: x1 w_0j + x2 w_1j + (b_j + sum_{i>=2} rest_i w_ij) = 0, as rows
    (w_0j, w_1j, const) [n, 3]; `rest` holds inputs 3.. (default 0). For ReLU units they bound
    the linear regions (§4's lines x2 = -(x1 w_0j + b_j) / w_1j). A maxout layer has no such
    lines (its boundaries lie between pairs of columns)."""
    layer = net.layers[0]
    if layer.activation == "maxout" or len(net.layers) < 2:
        raise ValueError("first-layer lines need a first hidden layer that is not maxout")
    if layer.W.shape[0] < 2:
        raise ValueError("first-layer lines need at least two inputs")
    const = np.asarray(layer.b, np.float64)
    if rest is not None and len(rest):
        const = const + np.asarray(rest) @ layer.W[2:]
    return np.column_stack([layer.W[0], layer.W[1], const])


def arrangement_region_count(
    lines: np.ndarray, box: tuple[float, float, float, float] | None = None, tol: float = 1e-9
) -> int:
    """The number of regions the lines a1 x1 + a2 x2 + c = 0 (rows of `lines` [n, 3]) cut the
    open rectangle `box` (None: the whole plane) into.

    Adding the lines one at a time, a line that crosses the convex box and meets the earlier
    ones at k distinct points inside it is cut into k + 1 pieces, each splitting one region in
    two. Summed: regions = 1 + L + sum_p (m_p - 1), over the L distinct lines that cross the
    box and the distinct crossing points p inside it, m_p the lines through p. In general
    position over the plane that is 1 + n + C(n, 2). The sum is taken over pairs of lines: a
    point where m lines cross is the crossing of C(m, 2) pairs, each adding 2 / m. Lines with
    a1 = a2 = 0 cut nothing; a line given twice counts once. `tol` (relative to the lines'
    scale and the box) decides which lines and points coincide."""
    kept = _distinct_lines(_rows(lines, 3), tol)
    if box is not None:
        kept = kept[[crosses_box(line, box) for line in kept]]
    if len(kept) < 2:
        return 1 + len(kept)
    i, j = np.triu_indices(len(kept), k=1)  # pragma: no mutate (k=0 adds i = j: never crossing)
    p, q = kept[i], kept[j]
    det = p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]
    crossing = np.abs(det) > tol  # pragma: no mutate (>= differs at det = tol only)
    p, q, det = p[crossing], q[crossing], det[crossing]
    points = np.column_stack(  # Cramer's rule
        [
            (p[:, 1] * q[:, 2] - q[:, 1] * p[:, 2]) / det,
            (q[:, 0] * p[:, 2] - p[:, 0] * q[:, 2]) / det,
        ]
    )
    scale = 1.0 if box is None else max(box[1] - box[0], box[3] - box[2])  # pragma: no mutate
    if box is not None:
        margin = tol * scale  # pragma: no mutate (a crossing on the box's edge is outside)
        points = points[
            (box[0] + margin < points[:, 0])  # pragma: no mutate (<= differs at the margin)
            & (points[:, 0] < box[1] - margin)  # pragma: no mutate
            & (box[2] + margin < points[:, 1])  # pragma: no mutate
            & (points[:, 1] < box[3] - margin)  # pragma: no mutate
        ]
    reach = tol * np.maximum(scale, np.abs(points).max(axis=1))
    through = np.abs(points @ kept[:, :2].T + kept[:, 2]) <= reach[:, None]  # pragma: no mutate
    m = np.maximum(through.sum(axis=1), 2)
    return 1 + len(kept) + round(float(np.sum(2.0 / m)))


def _distinct_lines(lines: np.ndarray, tol: float) -> np.ndarray:
    """The lines with a normal (a1, a2) != 0, each scaled to a unit normal pointing into the
    half-plane a1 > 0 (or a1 = 0, a2 > 0), each once: two lines are the same when their
    scaled rows agree within `tol` (relative to the constant)."""
    norm = np.hypot(lines[:, 0], lines[:, 1])
    lines = lines[norm > 0] / norm[norm > 0, None]
    flip = (lines[:, 0] < 0) | ((lines[:, 0] == 0) & (lines[:, 1] < 0))
    lines = np.where(flip[:, None], -lines, lines)
    close = np.all(
        np.abs(lines[:, None, :] - lines[None, :, :])
        <= tol * np.maximum(1.0, np.abs(lines[None, :, 2:])),  # pragma: no mutate (tolerance)
        axis=2,
    )
    repeat = np.tril(close, k=-1).any(axis=1)  # the same as an earlier line
    return lines[~repeat]


def _rows(values: np.ndarray, width: int) -> np.ndarray:
    """`values` (a list or an array, possibly empty) as float rows [n, width]."""
    array = np.asarray(values, np.float64)
    return array.reshape(array.size // width, width)


def crosses_box(line: np.ndarray, box: tuple[float, float, float, float]) -> bool:
    """Whether the line a1 x1 + a2 x2 + c = 0 (`line` = (a1, a2, c)) passes through the open
    box: its corners lie strictly on both sides. A ReLU unit whose line misses the box is on
    everywhere in it (a linear piece) or off everywhere."""
    corners = np.array([[box[0], box[2]], [box[0], box[3]], [box[1], box[2]], [box[1], box[3]]])
    side = corners @ line[:2] + line[2]
    return bool(side.min() < 0 < side.max())


def _intersection(p: np.ndarray, q: np.ndarray, tol: float) -> np.ndarray | None:
    """Where two lines (unit normals) meet, None for parallel lines (Cramer's rule)."""
    det = p[0] * q[1] - p[1] * q[0]
    if abs(det) <= tol:  # pragma: no mutate (< differs at det = tol only)
        return None
    return np.array([(p[1] * q[2] - q[1] * p[2]) / det, (q[0] * p[2] - p[0] * q[2]) / det])


def cell_polygon(
    lines: np.ndarray,
    point: np.ndarray,
    box: tuple[float, float, float, float] | None = None,
    tol: float = 1e-9,
) -> np.ndarray | None:
    """The cell of the arrangement of `lines` (rows a1, a2, c) that holds `point` (its first
    two coordinates), as its vertices [m, 2] counter-clockwise, clipped to `box` when given
    (no vertex when the cell misses the box); None for a cell without a box that is
    unbounded.
    The cell is {x : s_j (a_j . x + c_j) >= 0 for every line j}, s_j the side `point` lies
    on (a point on a line is put on its positive side): the intersection of half-planes,
    whose vertices are the crossings of two of its lines that satisfy all."""
    x1, x2 = (float(v) for v in np.asarray(point)[:2])
    kept = _distinct_lines(_rows(lines, 3), tol)
    positive = kept[:, 0] * x1 + kept[:, 1] * x2 + kept[:, 2] >= 0
    halves = np.where(positive[:, None], kept, -kept)  # each row: a . x + c >= 0 in the cell
    if box is not None:
        left, right, bottom, top = (float(v) for v in box)
        edges = [[1.0, 0.0, -left], [-1.0, 0.0, right], [0.0, 1.0, -bottom], [0.0, -1.0, top]]
        halves = np.vstack([halves, edges])
    elif not _bounded(np.arctan2(halves[:, 1], halves[:, 0])):
        return None
    vertices = []
    scale = 1.0 + float(np.abs(halves[:, 2]).max())
    for i, j in itertools.combinations(range(len(halves)), 2):
        q = _intersection(halves[i], halves[j], tol)
        slack = tol * scale  # pragma: no mutate (tolerance)
        inside = q is not None and np.all(halves[:, :2] @ q + halves[:, 2] >= -slack)
        if inside and not any(np.all(np.abs(q - v) <= slack) for v in vertices):
            vertices.append(q)
    if len(vertices) < 3:
        return np.zeros((0, 2))
    corners = np.array(vertices)
    middle = corners.mean(axis=0)
    angle = np.arctan2(corners[:, 1] - middle[1], corners[:, 0] - middle[0])
    return corners[np.argsort(angle)]


def _bounded(angles: np.ndarray) -> bool:
    """Whether half-planes whose inner normals point at these `angles` bound a cell: every
    direction leaves through one of them, i.e. the normals leave no angular gap of pi or
    more around the circle (three normals at least)."""
    if len(angles) < 3:
        return False
    around = np.sort(angles)
    gaps = np.diff(np.append(around, around[0] + 2 * np.pi))
    return bool(gaps.max() < np.pi)


def polygon_area(vertices: np.ndarray) -> float:
    """The area of a polygon from its vertices in order (the shoelace formula)."""
    v = _rows(vertices, 2)
    if len(v) < 3:
        return 0.0  # pragma: no mutate (the formula gives 0 too)
    x, y = v[:, 0], v[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def sides(lines: np.ndarray, vertices: np.ndarray, tol: float = 1e-7) -> list[int]:
    """The indices of the `lines` that bound a cell with these `vertices`: the lines two of its
    vertices lie on (within `tol`, a distance)."""
    v = _rows(vertices, 2)
    out = []
    for j, (a1, a2, c) in enumerate(_rows(lines, 3)):
        norm = np.hypot(a1, a2)
        if norm == 0:
            continue
        distance = np.abs(v[:, 0] * a1 + v[:, 1] * a2 + c) / norm
        if np.sum(distance <= tol) >= 2:
            out.append(j)
    return out
