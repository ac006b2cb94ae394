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
from toynets.palette import CLASS_COLOURS

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
    box = tuple(float(v) for v in box)
    if len(box) != 4 or not np.all(np.isfinite(box)) or box[0] >= box[1] or box[2] >= box[3]:
        raise ValueError(f"box must be (x1_min, x1_max, x2_min, x2_max), increasing; got {box}")
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
        "layers": [
            {
                "W": _array(layer.W, f"W{i}"),
                "b": _array(layer.b, f"b{i}"),
                "activation": layer.activation,
                "k": layer.k,
            }
            for i, layer in enumerate(net.layers)
        ],
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


def _subtitle(net: Net, n: int) -> str:
    parts = [str(net.n_inputs)]
    parts += [
        f"{layer.units} maxout (k={layer.k})"
        if layer.activation == "maxout"
        else f"{layer.W.shape[1]} {layer.activation}"
        for layer in net.layers
    ]
    return f"{' → '.join(parts)} · {sum(net.hidden_sizes)} hidden units · {n} test points"
