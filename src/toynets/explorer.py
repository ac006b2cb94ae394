"""The interactive node-removal explorer: one self-contained HTML page (DIGEST §1).

The node-removal post (DIGEST §1) shows an "interactive heatmap" that toggles single neurons on
and off. `node_removal_html` writes that figure as one HTML document with the weights and the
test set embedded (inline CSS and JavaScript, no external resource, no request of any kind), so
it opens from disk (file://) and inside the MLflow UI's artifact viewer, which shows HTML
artifacts in a sandboxed iframe (`sandbox="allow-scripts"`: no storage, no navigation needed).

The page is a template with its styles and scripts, files of the package (`toynets/assets/`:
`node_removal.html`, `node_removal.css`, `node_removal.js`, and `explorer.css`, `explorer.js`
that every explorer page shares); `render_page` fills it with the run's data as one JSON blob
and inlines the CSS and JavaScript it names. The layout keeps the map beside the unit buttons
from a 600 px wide window on (the map shrinks to fit, square, drawn at the screen's pixel
ratio), stacks them below that, and shows every row of the Shapley ranking (no inner scroll).

What the page computes, in JavaScript float64 from the embedded weights (float32 arrays are
written with the shortest decimal that reads back to the same float32, so the page works with
exactly the numbers of the `Net`):

- a mask m over all N hidden units, layer after layer (flat index i; label `i` for one hidden
  layer, `layer:index` for several); hidden layer l computes a_{l+1} = m_l * f_l(a_l W_l + b_l),
  as `Net.logits` does (maxout: each unit the maximum of its k contiguous columns of
  a_l W_l + b_l, k given per layer in the data), and the output layer gives the logits
  z = a_L W_L + b_L;
- the test loss, the mean over the n test points of, by head,
  softmax: log sum_k exp(z_k) - z_y (log-sum-exp stable),
  sigmoid: max(z, 0) - z y + log1p(exp(-|z|)) (cross-entropy on the logit),
  linear: (z - y)^2 (squared error of the first output);
- the accuracy (classification): argmax_k z_k = y, or (z > 0) = y for a sigmoid;
- the map over `box` on a `grid` x `grid` raster (inputs 3.. held at the test-set mean):
  binary heads show P(class 1) with viridis reversed as the §1 heatmaps do (yellow = sure
  class 0 / inside the circle, navy = sure class 1 / outside), more classes the winning class
  in the house class colours faded to white as the confidence c = (max_k p_k - 1/K) / (1 - 1/K)
  drops (opacity 0.15 + 0.85 c), a linear head the estimate (viridis on a fixed range); test
  points in the class colours, the true boundary as white dashes on a black halo;
- for every unit, the change of the loss if that unit alone were toggled now, and, when given,
  the Shapley ranking (most negative value first: the unit whose removal hurts most).

Every toggle recomputes the loss, the accuracy and the map at once (the first hidden layer,
which no mask touches, is computed once). The page exposes `window.toynets` with
`setMask(array)`, `mask()`, `loss()`, `accuracy()` (and `toggle(i)`, `lastRenderMs()`) for
scripting; readouts `#loss`, `#accuracy`, `#units-on` hold the full-precision number in their
`data-value` attribute; unit buttons are `#unit-<i>`, Shapley rows `#shapley-row-<i>`.
"""

from __future__ import annotations

import functools
import html
import json
import re
from importlib import resources
from typing import Any

import numpy as np

from toynets.net import HIDDEN_ACTIVATIONS, Net, unit_labels
from toynets.palette import CLASS_COLOURS, colormap_stops

HEADS = {"softmax": "softmax", "sigmoid": "logit", "linear": "linear"}
# The page templates with their CSS and JavaScript, files of the package (package-data).
ASSETS = resources.files("toynets") / "assets"
# {{include FILE}}: an asset inlined; {{data}}: the JSON blob; {{name}}: text, HTML-escaped.
_PLACEHOLDER = re.compile(r"\{\{\s*(?:include\s+([\w.-]+)|(\w+))\s*\}\}")
# What would end or confuse the <script> or <style> element an asset is inlined in.
_UNSAFE_INLINE = re.compile(r"</(?:script|style)|<!--", re.IGNORECASE)


def node_removal_html(
    net: Net,
    x_test: np.ndarray,
    y_test: np.ndarray,
    box: tuple[float, float, float, float],
    shapley: np.ndarray | None = None,
    title: str = "",
    truth_boundary: list[np.ndarray] | None = None,
    grid: int = 120,
) -> str:
    """The explorer page for `net` on (x_test, y_test): the whole HTML document.

    `box` = (x1_min, x1_max, x2_min, x2_max) of the map; `shapley` [N] the Shapley value of each
    hidden unit for the test loss (None hides the ranking); `truth_boundary` polylines [k, 2]
    drawn as white dashes on a black halo; `grid` the map's resolution. See the module
    docstring for the formulas.
    Raises ValueError for inputs the page could not show faithfully.
    """
    head = _head(net)
    x = np.asarray(x_test)
    if x.ndim != 2 or x.shape[1] != net.n_inputs:
        raise ValueError(f"x_test must be [n, {net.n_inputs}], got shape {x.shape}")
    if x.shape[1] < 2:
        raise ValueError("the map needs at least two input features")
    if len(x) == 0:
        raise ValueError("x_test is empty")
    y = _labels(np.asarray(y_test), len(x), head, net.n_outputs)
    box = _box(box)
    if not 2 <= int(grid) <= 1000:
        raise ValueError(f"grid must be in [2, 1000], got {grid}")
    n_units = sum(net.hidden_sizes)
    if shapley is not None:
        shapley = np.asarray(shapley, np.float64).ravel()
        if shapley.shape != (n_units,):
            raise ValueError(f"shapley must have one value per hidden unit ({n_units})")
    rest = x[:, 2:].astype(np.float64).mean(0)
    payload = {
        "title": title,
        "head": head,
        "layers": _layers(net),
        "x": _array(x, "x_test"),
        "y": y,
        "rest": _array(rest, "rest"),
        "box": list(box),
        "grid": int(grid),
        "labels": unit_labels(net.hidden_sizes),
        "classColours": list(CLASS_COLOURS),
        "shapley": None if shapley is None else _array(shapley, "shapley"),
        "truth": [
            _array(np.asarray(p, np.float64).reshape(-1, 2), "truth_boundary")
            for p in (truth_boundary or [])
        ],
    }
    return render_page(
        "node_removal.html",
        payload,
        title=title or "Node removal explorer",
        subtitle=_subtitle(net, len(x)),
    )


def flow_html(
    net: Net,
    points: dict[str, list[float]],
    box: tuple[float, float, float, float],
    limits: list[tuple[float, float]],
    rest: np.ndarray | None = None,
    x_data: np.ndarray | None = None,
    palette: str = "viridis",
    colour_norm: str = "layer",
    grid: int = 150,
    thumb: int = 40,
    title: str = "",
) -> str:
    """The flow explorer page for `net` (DIGEST §4): the whole HTML document.

    The page shows the net's output over `box` on a `grid` x `grid` raster (the estimate in
    viridis, or P(class 1), or the winning class faded by its confidence) and a point, moved
    by a click or a drag (or to one of the named `points` {name: [x1, x2]}, the first is where
    it starts); inputs 3.. are held at `rest`. For the point it computes, in JavaScript float64
    from the embedded weights, every layer's z = a W + b and a = f(z) (`Net.logits`' formulas),
    the activation pattern (ReLU 1 where z > 0, maxout the winning column, layers joined by
    `|`) and the logits' affine map z_L = x A + c composed layer by layer as
    `toynets.analysis.linear_regions.affine_maps` does (exact over the region for a
    piecewise-linear net, the tangent map otherwise). The linear regions are the distinct
    patterns of the grid's points; the point's region is highlighted. The network diagram
    colours each neuron's z (left half) and a (right half) in `palette` over `limits`, one
    (low, high) per diagram column (inputs, then z and a of each layer; see
    `toynets.analysis.flow.colour_limits`), weights and biases on the house diverging scale;
    each neuron can show its picture of the input plane (`thumb` x `thumb`, its own range).
    `x_data` [n, d]: training points the map can show.

    Scripting: `window.toynets` has `setPoint([x1, x2])`, `point()`, `values()` ({z, a} per
    layer), `affine()` ({A [d x outputs, row-major], c}), `pattern()`, `regionCount()`,
    `regionShare()`, `lastRenderMs()`; readouts `#x1`, `#x2`, `#output-<k>` hold the full number
    in `data-value`, neurons `#input-<i>` (`data-value`) and `#neuron-<layer>-<unit>`
    (`data-z`, `data-a`; layer 0 the first hidden layer), `#formula` the map (`data-a`,
    `data-c`), `#pattern` the pattern.
    Raises ValueError for inputs the page could not show faithfully.
    """
    from toynets.analysis.linear_regions import is_piecewise_linear

    head = _head(net)
    if net.n_inputs < 2:
        raise ValueError("the input plane needs at least two input features")
    box = _box(box)
    if not points:
        raise ValueError("give at least one point")
    named = {}
    for name, point in points.items():
        values = [float(v) for v in point]
        if len(values) != 2 or not all(np.isfinite(values)):
            raise ValueError(f"point {name!r} must be two finite numbers, got {point}")
        named[str(name)] = values
    columns = 1 + 2 * len(net.layers)
    if len(limits) != columns or any(not lo < hi for lo, hi in limits):
        raise ValueError(f"limits must be {columns} increasing (low, high) pairs")
    if not 2 <= int(grid) <= 400 or not 2 <= int(thumb) <= 200:
        raise ValueError(f"grid must be in [2, 400] and thumb in [2, 200], got {grid}, {thumb}")
    rest = np.zeros(net.n_inputs - 2) if rest is None else np.asarray(rest, np.float64)
    if rest.shape != (net.n_inputs - 2,):
        raise ValueError(f"rest must hold the {net.n_inputs - 2} inputs after the first two")
    x_data = np.zeros((0, net.n_inputs)) if x_data is None else np.asarray(x_data)
    if x_data.ndim != 2 or x_data.shape[1] != net.n_inputs:
        raise ValueError(f"x_data must be [n, {net.n_inputs}], got shape {x_data.shape}")
    first = next(iter(named.values()))
    start = [min(max(first[0], box[0]), box[1]), min(max(first[1], box[2]), box[3])]
    payload = {
        "title": title,
        "head": head,
        "layers": _layers(net),
        "box": list(box),
        "grid": int(grid),
        "thumb": int(thumb),
        "rest": _array(rest, "rest"),
        "data": _array(x_data, "x_data"),
        "points": named,
        "names": list(named),
        "start": start,
        "limits": [[float(lo), float(hi)] for lo, hi in limits],
        "piecewise": is_piecewise_linear(net),
        "palette": colormap_stops(palette),
        "paletteName": palette,
        "colourNorm": colour_norm,
        "diverging": colormap_stops("RdBu_r"),
        "classColours": list(CLASS_COLOURS),
    }
    units = sum(net.hidden_sizes)
    return render_page(
        "flow.html",
        payload,
        title=title or "Flow explorer",
        subtitle=f"{_architecture(net)} · {units} hidden units",
    )


@functools.cache
def asset(name: str) -> str:
    """The text of the packaged asset `toynets/assets/<name>` (a page template, CSS, JS)."""
    return (ASSETS / name).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """`data` as compact JSON that can stand inside a <script> element: `<`, `>` and `&` are
    written as \\u escapes, so no `</script>` or `<!--` can occur in it."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(template: str, data: Any, **text: str) -> str:
    """The asset page `template` filled in one pass: each `{{include FILE}}` by the asset FILE
    (CSS or JavaScript, inlined, so the page makes no request), `{{data}}` by `data` as
    `script_json`, and each other `{{name}}` by `text[name]`, HTML-escaped. Nothing inserted is
    read for placeholders again. Raises ValueError for a placeholder without a value, and for
    an asset that could not be inlined safely (it holds `</script`, `</style` or `<!--`)."""

    def fill(found: re.Match) -> str:
        include, name = found.groups()
        if include:
            inlined = asset(include)
            unsafe = _UNSAFE_INLINE.search(inlined)
            if unsafe:
                raise ValueError(f"asset {include} cannot be inlined: it holds {unsafe.group()}")
            return inlined
        if name == "data":
            return script_json(data)
        if name not in text:
            raise ValueError(f"{template}: no value for {{{{{name}}}}}")
        return html.escape(text[name])

    return _PLACEHOLDER.sub(fill, asset(template))


def _head(net: Net) -> str:
    activation = net.output_activation
    if activation not in HEADS:
        raise ValueError(f"output activation {activation!r} is not one of {sorted(HEADS)}")
    for i, layer in enumerate(net.layers[:-1]):
        if layer.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"hidden layer {i}: unknown activation {layer.activation!r}")
        if (
            layer.k < 1
            or layer.W.shape[1] % layer.k
            or (layer.k > 1 and layer.activation != "maxout")
        ):
            raise ValueError(
                f"hidden layer {i}: {layer.W.shape[1]} columns do not make "
                f"{layer.activation} units of k={layer.k} columns"
            )
    if activation == "sigmoid" and net.n_outputs != 1:
        raise ValueError("a sigmoid head has one output (the logit)")
    if activation == "softmax" and net.n_outputs < 2:
        raise ValueError("a softmax head needs at least two outputs")
    return HEADS[activation]


def _labels(y: np.ndarray, n: int, head: str, k: int) -> dict:
    y = y.reshape(len(y), -1)[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
    if y.shape != (n,):
        raise ValueError(f"y_test must have {n} entries, got shape {y.shape}")
    if head == "linear":
        return _array(y if y.dtype == np.float32 else y.astype(np.float64), "y_test")
    if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
        raise ValueError("classification labels must be integers")
    labels = y.astype(np.int64)
    top = 2 if head == "logit" else k
    if labels.min() < 0 or labels.max() >= top:
        raise ValueError(f"labels must lie in 0..{top - 1}")
    return {"dtype": "int", "shape": [n], "data": ",".join(map(str, labels.tolist()))}


def _array(a: np.ndarray, name: str) -> dict:
    """{dtype, shape, data}: float32 as the shortest decimals that read back to the same float32
    (the page rounds them with a Float32Array), anything else as float64 reprs."""
    a = np.asarray(a)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinite values")
    if a.dtype == np.float32:
        return {"dtype": "f32", "shape": list(a.shape), "data": ",".join(map(str, a.ravel()))}
    values = a.astype(np.float64).ravel().tolist()
    return {"dtype": "f64", "shape": list(a.shape), "data": ",".join(map(repr, values))}


def _box(box: Any) -> tuple[float, float, float, float]:
    box = tuple(float(v) for v in box)
    if len(box) != 4 or not np.all(np.isfinite(box)) or box[0] >= box[1] or box[2] >= box[3]:
        raise ValueError(f"box must be (x1_min, x1_max, x2_min, x2_max), increasing; got {box}")
    return box


def _layers(net: Net) -> list[dict]:
    """Every layer's W, b, activation and k (columns per unit), for a page's script."""
    return [
        {
            "W": _array(layer.W, f"W{i}"),
            "b": _array(layer.b, f"b{i}"),
            "activation": layer.activation,
            "k": layer.k,
        }
        for i, layer in enumerate(net.layers)
    ]


def _architecture(net: Net) -> str:
    """`2 → 4 relu → 1 linear` (maxout: `5 maxout (k=2)`)."""
    parts = [str(net.n_inputs)]
    parts += [
        f"{layer.units} maxout (k={layer.k})"
        if layer.activation == "maxout"
        else f"{layer.W.shape[1]} {layer.activation}"
        for layer in net.layers
    ]
    return " → ".join(parts)


def _subtitle(net: Net, n: int) -> str:
    return f"{_architecture(net)} · {sum(net.hidden_sizes)} hidden units · {n} test points"
