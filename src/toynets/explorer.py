"""The interactive node-removal explorer: one self-contained HTML page (DIGEST §1).

The node-removal post (DIGEST §1) shows an "interactive heatmap" that toggles single neurons on
and off. `node_removal_html` writes that figure as one HTML document with the weights and the
test set embedded (inline CSS and JavaScript, no external resource, no request of any kind), so
it opens from disk (file://) and inside the MLflow UI's artifact viewer, which shows HTML
artifacts in a sandboxed iframe (`sandbox="allow-scripts"`: no storage, no navigation needed).

What the page computes, in JavaScript float64 from the embedded weights (float32 arrays are
written with the shortest decimal that reads back to the same float32, so the page works with
exactly the numbers of the `Net`):

- a mask m over all N hidden units, layer after layer (flat index i; label `i` for one hidden
  layer, `layer:index` for several); hidden layer l computes a_{l+1} = m_l * f_l(a_l W_l + b_l),
  as `Net.logits` does, and the output layer gives the logits z = a_L W_L + b_L;
- the test loss, the mean over the n test points of, by head,
  softmax: log sum_k exp(z_k) - z_y (log-sum-exp stable),
  sigmoid: max(z, 0) - z y + log1p(exp(-|z|)) (cross-entropy on the logit),
  linear: (z - y)^2 (squared error of the first output);
- the accuracy (classification): argmax_k z_k = y, or (z > 0) = y for a sigmoid;
- the map over `box` on a `grid` x `grid` raster (inputs 3.. held at the test-set mean):
  binary heads show P(class 1) with viridis reversed as the §1 heatmaps do (yellow = sure
  class 0 / inside the circle, navy = sure class 1 / outside), more classes the winning class
  shaded by confidence, a linear head the estimate (viridis on a fixed range);
- for every unit, the change of the loss if that unit alone were toggled now, and, when given,
  the Shapley ranking (most negative value first: the unit whose removal hurts most).

Every toggle recomputes the loss, the accuracy and the map at once (the first hidden layer,
which no mask touches, is computed once). The page exposes `window.toynets` with
`setMask(array)`, `mask()`, `loss()`, `accuracy()` (and `toggle(i)`, `lastRenderMs()`) for
scripting; readouts `#loss`, `#accuracy`, `#units-on` hold the full-precision number in their
`data-value` attribute; unit buttons are `#unit-<i>`, Shapley rows `#shapley-row-<i>`.
"""

from __future__ import annotations

import html
import json

import numpy as np

from toynets.net import HIDDEN_ACTIVATIONS, Net

HEADS = {"softmax": "softmax", "sigmoid": "logit", "linear": "linear"}


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
    drawn dashed red; `grid` the map's resolution. See the module docstring for the formulas.
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
    one_layer = len(net.hidden_sizes) == 1
    labels = [
        str(j) if one_layer else f"{layer}:{j}"
        for layer, width in enumerate(net.hidden_sizes)
        for j in range(width)
    ]
    payload = {
        "title": title,
        "head": head,
        "layers": [
            {
                "W": _array(layer.W, f"W{i}"),
                "b": _array(layer.b, f"b{i}"),
                "activation": layer.activation,
            }
            for i, layer in enumerate(net.layers)
        ],
        "x": _array(x, "x_test"),
        "y": y,
        "rest": _array(rest, "rest"),
        "box": list(box),
        "grid": int(grid),
        "labels": labels,
        "shapley": None if shapley is None else _array(shapley, "shapley"),
        "truth": [
            _array(np.asarray(p, np.float64).reshape(-1, 2), "truth_boundary")
            for p in (truth_boundary or [])
        ],
    }
    data = json.dumps(payload, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (
        _TEMPLATE.replace("__TITLE__", html.escape(title or "Node removal explorer"))
        .replace("__SUBTITLE__", html.escape(_subtitle(net, len(x))))
        .replace("__DATA__", data)
    )


def _head(net: Net) -> str:
    activation = net.output_activation
    if activation not in HEADS:
        raise ValueError(f"output activation {activation!r} is not one of {sorted(HEADS)}")
    for i, layer in enumerate(net.layers[:-1]):
        if layer.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"hidden layer {i}: unknown activation {layer.activation!r}")
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
    parts += [f"{layer.W.shape[1]} {layer.activation}" for layer in net.layers]
    return f"{' → '.join(parts)} · {sum(net.hidden_sizes)} hidden units · {n} test points"


_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>__TITLE__</title>
<style>
:root {
  --ink: #1b2230; --muted: #6b7280; --faint: #9ca3af; --line: #e5e7eb; --bg: #f5f6f8;
  --card: #ffffff; --on: #21918c; --on-dark: #1a7571; --worse: #c2410c; --better: #2563eb;
}
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--ink); }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  sans-serif; }
header { padding: 16px 22px 0; }
h1 { font-size: 19px; font-weight: 650; margin: 0; letter-spacing: -0.01em; }
h2 { font-size: 13px; font-weight: 650; margin: 0 0 6px; text-transform: uppercase;
  letter-spacing: .05em; color: var(--muted); }
.sub { margin: 2px 0 0; color: var(--muted); font-size: 13px; }
main { display: flex; flex-wrap: wrap; gap: 14px; padding: 12px 22px 8px;
  align-items: flex-start; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  box-shadow: 0 1px 2px rgba(16, 24, 40, .04); padding: 12px 14px; }
.figure { flex: 0 0 auto; }
.map-row { display: flex; align-items: flex-start; }
canvas { display: block; }
#map { cursor: crosshair; }
.map-foot { display: flex; justify-content: space-between; align-items: center; gap: 10px;
  margin-top: 4px; font-size: 12px; color: var(--muted); }
.map-foot label { margin-right: 10px; cursor: pointer; white-space: nowrap; }
#hover { font-variant-numeric: tabular-nums; min-height: 1.45em; text-align: right; }
.caption { font-size: 12px; color: var(--muted); margin: 6px 0 0; max-width: 560px; }
.side { flex: 1 1 380px; min-width: 320px; max-width: 620px; display: flex;
  flex-direction: column; gap: 14px; }
.stats { display: grid; grid-template-columns: 1.3fr 1fr .8fr; gap: 8px; }
.stat .lab { font-size: 11px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .05em; }
.stat .val { display: block; font-size: 24px; font-weight: 650; line-height: 1.2;
  font-variant-numeric: tabular-nums; letter-spacing: -0.01em; }
.stat .ref { display: block; font-size: 12px; color: var(--muted);
  font-variant-numeric: tabular-nums; }
.worse { color: var(--worse); } .better { color: var(--better); }
.controls { display: flex; flex-wrap: wrap; gap: 6px; margin: 2px 0 8px; }
.controls button { font: inherit; font-size: 12.5px; padding: 3px 10px; border-radius: 6px;
  border: 1px solid #d1d5db; background: #fff; color: var(--ink); cursor: pointer; }
.controls button:hover { background: #f3f4f6; }
.layer-name { font-size: 12px; color: var(--muted); margin: 6px 0 4px; }
.units { display: grid; grid-template-columns: repeat(auto-fill, minmax(46px, 1fr)); gap: 5px; }
.unit { position: relative; overflow: hidden; cursor: pointer; border-radius: 6px;
  border: 1px solid var(--on-dark); background: var(--on); color: #fff; padding: 6px 0 8px;
  font: 600 12px/1 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  transition: background .08s; }
.unit:hover { filter: brightness(1.08); }
.unit[aria-pressed="false"] { background: #fff; color: var(--faint); border-color: #d1d5db;
  text-decoration: line-through; }
.unit .imp { position: absolute; left: 0; bottom: 0; height: 3px;
  background: rgba(255, 255, 255, .8); }
.unit[aria-pressed="false"] .imp { background: #d1d5db; }
table { width: 100%; border-collapse: collapse; font-size: 12.5px;
  font-variant-numeric: tabular-nums; }
th { text-align: left; font-size: 11px; font-weight: 600; color: var(--muted);
  text-transform: uppercase; letter-spacing: .04em; padding: 4px 6px;
  border-bottom: 1px solid var(--line); position: sticky; top: 0; background: #fff; }
td { padding: 3px 6px; border-bottom: 1px solid #f1f2f4; white-space: nowrap; }
td.num, th.num { text-align: right; }
tbody tr { cursor: pointer; }
tbody tr:hover { background: #f4f8f8; }
tbody tr.off td { color: var(--faint); }
tbody tr.off .fill { opacity: .35; }
.table-wrap { max-height: 360px; overflow: auto; }
.bar { position: relative; height: 10px; min-width: 90px; }
.bar .mid { position: absolute; left: 50%; top: -3px; bottom: -3px; width: 1px;
  background: #cbd5e1; }
.bar .fill { position: absolute; top: 0; bottom: 0; border-radius: 2px; }
.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%;
  background: var(--on); }
tr.off .dot { background: #fff; border: 1px solid #cbd5e1; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
footer { padding: 4px 22px 18px; font-size: 11.5px; color: var(--muted); max-width: 1200px; }
</style>
</head>
<body>
<header>
  <h1>__TITLE__</h1>
  <p class="sub">__SUBTITLE__</p>
</header>
<main>
  <section class="card figure">
    <div class="map-row">
      <canvas id="map" aria-label="decision map"></canvas>
      <canvas id="colorbar" aria-label="colour bar"></canvas>
    </div>
    <div class="map-foot">
      <div>
        <label><input type="checkbox" id="show-points" checked> test points</label>
        <label id="errors-label"><input type="checkbox" id="show-errors" checked>
          ring the misclassified</label>
      </div>
      <div id="hover"></div>
    </div>
    <p class="caption" id="map-caption"></p>
  </section>
  <section class="side">
    <div class="card">
      <div class="stats">
        <div class="stat"><span class="lab">test loss</span>
          <span class="val" id="loss" data-value=""></span>
          <span class="ref" id="loss-ref"></span></div>
        <div class="stat"><span class="lab">accuracy</span>
          <span class="val" id="accuracy" data-value=""></span>
          <span class="ref" id="accuracy-ref"></span></div>
        <div class="stat"><span class="lab">units on</span>
          <span class="val" id="units-on" data-value=""></span>
          <span class="ref" id="units-ref"></span></div>
      </div>
    </div>
    <div class="card">
      <h2>Hidden units</h2>
      <div class="controls">
        <button id="all-on" type="button">all on</button>
        <button id="all-off" type="button">all off</button>
        <button id="invert" type="button">invert</button>
        <button id="random" type="button">random p=0.5</button>
      </div>
      <div id="unit-layers"></div>
    </div>
    <div class="card" id="shapley-card" hidden>
      <h2>Shapley ranking</h2>
      <div class="table-wrap">
        <table id="shapley">
          <thead><tr><th class="num">#</th><th>unit</th><th class="num">φ (loss)</th>
            <th></th><th>on</th>
            <th class="num" title="change of the test loss if this unit alone were toggled now"
              >toggle → Δloss</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <p class="caption">φ<sub>i</sub> = unit i's Shapley value for the test loss: the change
        of the loss when it is switched on, averaged over all orders (Σφ = loss(all on) −
        loss(all off)). Negative means the unit lowers the loss, so removing it hurts: the most
        harmful to remove comes first. Click a row to toggle the unit.</p>
    </div>
  </section>
</main>
<footer id="formulas"></footer>
<script type="application/json" id="toynets-data">__DATA__</script>
<script>
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("toynets-data").textContent);
  const $ = (id) => document.getElementById(id);

  // ---- data ------------------------------------------------------------------------------
  function arr(o) {
    const v = o.data.length ? o.data.split(",").map(Number) : [];
    if (o.dtype === "f32") return Float64Array.from(new Float32Array(v));
    if (o.dtype === "int") return Int32Array.from(v);
    return Float64Array.from(v);
  }
  const layers = D.layers.map((l) => ({
    W: arr(l.W), b: arr(l.b), fin: l.W.shape[0], fout: l.W.shape[1], act: l.activation,
  }));
  const L = layers.length, head = D.head, K = layers[L - 1].fout;
  const X = arr(D.x), n = D.x.shape[0], d = D.x.shape[1], Y = arr(D.y), rest = arr(D.rest);
  const widths = layers.slice(0, -1).map((l) => l.fout);
  const N = widths.reduce((a, b) => a + b, 0);
  const labels = D.labels;
  const classify = head !== "linear";
  const binary = head === "logit" || (head === "softmax" && K === 2);
  const shapley = D.shapley ? arr(D.shapley) : null;
  const truth = D.truth.map(arr);
  const G = D.grid, box = D.box;

  // ---- the net -------------------------------------------------------------------------------
  function activate(a, name) {
    if (name === "relu") { for (let i = 0; i < a.length; i++) if (a[i] < 0) a[i] = 0; }
    else if (name === "sigmoid") {
      for (let i = 0; i < a.length; i++) a[i] = 1 / (1 + Math.exp(-a[i]));
    }
    else if (name === "tanh") { for (let i = 0; i < a.length; i++) a[i] = Math.tanh(a[i]); }
  }
  function affine(A, P, fin, W, fout, b, out) {  // out = A W + b, A [P, fin], W [fin, fout]
    out.fill(0);
    for (let p = 0; p < P; p++) {
      const ao = p * fin, oo = p * fout;
      for (let i = 0; i < fin; i++) {
        const a = A[ao + i];
        if (a === 0) continue;
        const wo = i * fout;
        for (let j = 0; j < fout; j++) out[oo + j] += a * W[wo + j];
      }
      for (let j = 0; j < fout; j++) out[oo + j] += b[j];
    }
    return out;
  }
  // A context caches the first layer (no mask touches it) for a set of P points.
  function context(points, P, H0) {
    const l0 = layers[0];
    if (!H0) {
      H0 = affine(points, P, l0.fin, l0.W, l0.fout, l0.b, new Float64Array(P * l0.fout));
      if (L > 1) activate(H0, l0.act);
    }
    return { P, H0, bufs: layers.map((l) => new Float64Array(P * l.fout)),
             weff: layers.map((l) => new Float64Array(l.fin * l.fout)) };
  }
  // Logits [P, K] for mask m: (m_l * a_l) W_l = a_l (diag(m_l) W_l).
  function forward(ctx, m) {
    if (L === 1) return ctx.H0;
    let h = ctx.H0, off = 0;
    for (let l = 1; l < L; l++) {
      const ly = layers[l], we = ctx.weff[l];
      for (let i = 0; i < ly.fin; i++) {
        const mi = m[off + i], r = i * ly.fout;
        for (let j = 0; j < ly.fout; j++) we[r + j] = mi * ly.W[r + j];
      }
      off += ly.fin;
      h = affine(h, ctx.P, ly.fin, we, ly.fout, ly.b, ctx.bufs[l]);
      if (l < L - 1) activate(h, ly.act);
    }
    return h;
  }
  function metrics(Z, correct) {
    let total = 0, hits = 0;
    for (let p = 0; p < n; p++) {
      const o = p * K;
      let loss, ok = false;
      if (head === "softmax") {
        let mx = -Infinity, arg = 0;
        for (let k = 0; k < K; k++) if (Z[o + k] > mx) { mx = Z[o + k]; arg = k; }
        let s = 0;
        for (let k = 0; k < K; k++) s += Math.exp(Z[o + k] - mx);
        loss = mx + Math.log(s) - Z[o + Y[p]];
        ok = arg === Y[p];
      } else if (head === "logit") {
        const z = Z[o], y = Y[p];
        loss = Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
        ok = (z > 0 ? 1 : 0) === y;
      } else {
        const e = Z[o] - Y[p];
        loss = e * e;
      }
      total += loss;
      if (ok) hits++;
      if (correct) correct[p] = ok ? 1 : 0;
    }
    return { loss: total / n, accuracy: classify ? hits / n : NaN, hits };
  }

  // ---- the grid ------------------------------------------------------------------------------
  const gridPoints = new Float64Array(G * G * d);
  for (let r = 0; r < G; r++) {
    const x2 = box[3] - (r + 0.5) * (box[3] - box[2]) / G;  // row 0 at the top
    for (let c = 0; c < G; c++) {
      const o = (r * G + c) * d;
      gridPoints[o] = box[0] + (c + 0.5) * (box[1] - box[0]) / G;
      gridPoints[o + 1] = x2;
      for (let k = 2; k < d; k++) gridPoints[o + k] = rest[k - 2];
    }
  }
  const testCtx = context(X, n), gridCtx = context(gridPoints, G * G);
  const flipCtx = context(null, n, testCtx.H0);
  const mask = new Float64Array(N).fill(1);
  const correct = new Uint8Array(n);
  const full = metrics(forward(testCtx, mask), null);
  let current = full, lastMs = 0;

  // ---- colours -------------------------------------------------------------------------------
  const VIRIDIS = ["440154", "48186a", "472d7b", "424086", "3b528b", "33638d", "2c728e",
    "26828e", "21918c", "1fa088", "28ae80", "3fbc73", "5ec962", "84d44b", "addc30", "d8e219",
    "fde725"].map((h) => [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const LUT = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255 * (VIRIDIS.length - 1), k = Math.min(Math.floor(t), VIRIDIS.length - 2);
    const f = t - k;
    for (let c = 0; c < 3; c++) {
      LUT[i * 3 + c] = Math.round(VIRIDIS[k][c] * (1 - f) + VIRIDIS[k + 1][c] * f);
    }
  }
  const lut = (t) => 3 * Math.max(0, Math.min(255, Math.round(t * 255)));
  const css = (i) => `rgb(${LUT[i]},${LUT[i + 1]},${LUT[i + 2]})`;
  const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];
  const TAB_RGB = TAB10.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  let vmin = 0, vmax = 1;  // regression: fixed range, the all-on map and the targets
  if (!classify) {
    const Z = forward(gridCtx, mask);
    vmin = Infinity; vmax = -Infinity;
    for (let p = 0; p < G * G; p++) {
      vmin = Math.min(vmin, Z[p * K]); vmax = Math.max(vmax, Z[p * K]);
    }
    for (let p = 0; p < n; p++) { vmin = Math.min(vmin, Y[p]); vmax = Math.max(vmax, Y[p]); }
    if (!(vmax > vmin)) { vmin -= 0.5; vmax += 0.5; }
  }

  // ---- drawing -------------------------------------------------------------------------------
  const S = 440, M = { l: 42, r: 10, t: 10, b: 34 };
  const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
  const canvas = $("map"), bar = $("colorbar");
  function setup(c, w, h) {
    c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    c.style.width = w + "px"; c.style.height = h + "px";
    const g = c.getContext("2d"); g.setTransform(dpr, 0, 0, dpr, 0, 0); return g;
  }
  const g = setup(canvas, M.l + S + M.r, M.t + S + M.b);
  const off = document.createElement("canvas"); off.width = G; off.height = G;
  const og = off.getContext("2d"), image = og.createImageData(G, G);
  const px = (x1) => M.l + (x1 - box[0]) / (box[1] - box[0]) * S;
  const py = (x2) => M.t + (box[3] - x2) / (box[3] - box[2]) * S;

  function paint(Z) {
    const im = image.data;
    for (let p = 0; p < G * G; p++) {
      const o = p * K, q = p * 4;
      let r, gr, bl;
      if (binary) {
        const p1 = 1 / (1 + Math.exp(head === "logit" ? -Z[o] : Z[o] - Z[o + 1]));
        const i = lut(1 - p1); r = LUT[i]; gr = LUT[i + 1]; bl = LUT[i + 2];
      } else if (classify) {
        let mx = -Infinity, arg = 0, s = 0;
        for (let k = 0; k < K; k++) if (Z[o + k] > mx) { mx = Z[o + k]; arg = k; }
        for (let k = 0; k < K; k++) s += Math.exp(Z[o + k] - mx);
        const conf = (1 / s - 1 / K) / (1 - 1 / K), a = 0.12 + 0.88 * conf;
        const c = TAB_RGB[arg % 10];
        r = 255 + (c[0] - 255) * a; gr = 255 + (c[1] - 255) * a; bl = 255 + (c[2] - 255) * a;
      } else {
        const i = lut((Z[o] - vmin) / (vmax - vmin)); r = LUT[i]; gr = LUT[i + 1]; bl = LUT[i + 2];
      }
      im[q] = r; im[q + 1] = gr; im[q + 2] = bl; im[q + 3] = 255;
    }
    og.putImageData(image, 0, 0);
  }
  function niceTicks(a, b, count) {
    const raw = (b - a) / count, mag = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / mag;
    const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
    const out = [];
    for (let v = Math.ceil(a / step - 1e-9) * step; v <= b + step * 1e-9; v += step) {
      out.push([v, (Math.abs(v) < step * 1e-9 ? 0 : v).toFixed(digits)]);
    }
    return out;
  }
  // At most 600 test points are drawn (evenly spaced, as the project's figures do).
  const shown = Array.from(new Set(Array.from({ length: Math.min(600, n) },
    (_, k) => Math.floor(k * (n - 1) / Math.max(1, Math.min(600, n) - 1)))));
  const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
  function draw() {
    g.clearRect(0, 0, M.l + S + M.r, M.t + S + M.b);
    g.imageSmoothingEnabled = true; g.imageSmoothingQuality = "high";
    g.drawImage(off, M.l, M.t, S, S);
    g.save();
    g.beginPath(); g.rect(M.l, M.t, S, S); g.clip();
    if ($("show-points").checked) {
      g.lineWidth = 0.7; g.strokeStyle = "rgba(255,255,255,.9)";
      for (const p of shown) {
        g.beginPath(); g.arc(px(X[p * d]), py(X[p * d + 1]), 2.3, 0, 2 * Math.PI);
        g.fillStyle = classify ? TAB10[Y[p] % 10] : css(lut((Y[p] - vmin) / (vmax - vmin)));
        g.fill(); g.stroke();
      }
      if (classify && $("show-errors").checked) {
        g.lineWidth = 1.3; g.strokeStyle = "#ff1f1f";
        for (const p of shown) {
          if (correct[p]) continue;
          g.beginPath(); g.arc(px(X[p * d]), py(X[p * d + 1]), 4.3, 0, 2 * Math.PI); g.stroke();
        }
      }
    }
    if (truth.length) {
      g.setLineDash([7, 5]); g.lineWidth = 2; g.strokeStyle = "#e8362d";
      for (const t of truth) {
        g.beginPath();
        for (let k = 0; k < t.length / 2; k++) {
          const x = px(t[2 * k]), y = py(t[2 * k + 1]);
          if (k) g.lineTo(x, y); else g.moveTo(x, y);
        }
        g.stroke();
      }
      g.setLineDash([]);
    }
    g.restore();
    g.strokeStyle = "#9ca3af"; g.lineWidth = 1; g.strokeRect(M.l + .5, M.t + .5, S - 1, S - 1);
    g.fillStyle = "#4b5563"; g.font = FONT; g.textAlign = "center"; g.textBaseline = "top";
    for (const [v, s] of niceTicks(box[0], box[1], 5)) {
      const x = px(v); g.fillRect(x - .5, M.t + S, 1, 4); g.fillText(s, x, M.t + S + 6);
    }
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const [v, s] of niceTicks(box[2], box[3], 5)) {
      const y = py(v); g.fillRect(M.l - 4, y - .5, 4, 1); g.fillText(s, M.l - 6, y);
    }
    g.font = "italic 12px Georgia, serif"; g.textAlign = "center"; g.textBaseline = "alphabetic";
    g.fillText("x₁", M.l + S / 2, M.t + S + 31);
    g.save(); g.translate(11, M.t + S / 2); g.rotate(-Math.PI / 2);
    g.fillText("x₂", 0, 0); g.restore();
  }
  function drawColorbar() {
    if (classify && !binary) {
      const w = 78, c = setup(bar, w, M.t + S + M.b);
      c.font = FONT; c.textBaseline = "middle";
      for (let k = 0; k < K; k++) {
        const y = M.t + 8 + k * 20;
        c.fillStyle = TAB10[k % 10]; c.fillRect(8, y - 6, 12, 12);
        c.fillStyle = "#4b5563"; c.fillText("class " + k, 25, y);
      }
      return;
    }
    const c = setup(bar, 74, M.t + S + M.b), x0 = 8, w = 14;
    for (let i = 0; i < S; i++) {
      const t = 1 - (i + 0.5) / S;  // top = 1
      c.fillStyle = css(lut(binary ? 1 - t : t)); c.fillRect(x0, M.t + i, w, 1.5);
    }
    c.strokeStyle = "#9ca3af"; c.strokeRect(x0 + .5, M.t + .5, w - 1, S - 1);
    c.fillStyle = "#4b5563"; c.font = FONT; c.textBaseline = "middle"; c.textAlign = "left";
    const lo = binary ? 0 : vmin, hi = binary ? 1 : vmax;
    for (const [v, s] of niceTicks(lo, hi, 4)) {
      const y = M.t + (hi - v) / (hi - lo) * S;
      c.fillRect(x0 + w, y - .5, 3, 1); c.fillText(s, x0 + w + 5, y);
    }
    c.save(); c.translate(x0 + w + 44, M.t + S / 2); c.rotate(-Math.PI / 2);
    c.textAlign = "center"; c.fillText(binary ? "P(class 1)" : "estimate", 0, 0); c.restore();
  }

  // ---- readouts, units, table ----------------------------------------------------------------
  const fmt = (v, digits) => (Number.isFinite(v) ? v.toPrecision(digits) : "—");
  const signed = (v, digits) => (Math.abs(v) < 5e-7 ? "±0"
    : (v > 0 ? "+" : "−") + Math.abs(v).toPrecision(digits));
  function setValue(id, value, text) {
    const el = $(id); el.textContent = text; el.dataset.value = String(value);
  }
  const unitsBox = $("unit-layers"), buttons = [];
  const maxAbs = shapley ? Math.max(1e-300, ...Array.from(shapley, Math.abs)) : 1;
  let start = 0;
  widths.forEach((w, l) => {
    const name = document.createElement("div");
    name.className = "layer-name";
    name.textContent = `layer ${l} · ${layers[l].act} · ${w} units` +
      (widths.length > 1 ? ` (buttons ${l}:0 … ${l}:${w - 1})` : "");
    const grid = document.createElement("div"); grid.className = "units";
    for (let j = 0; j < w; j++) {
      const i = start + j, b = document.createElement("button");
      b.type = "button"; b.className = "unit"; b.id = "unit-" + i; b.textContent = labels[i];
      b.setAttribute("aria-pressed", "true");
      if (shapley) {
        const imp = document.createElement("span"); imp.className = "imp";
        imp.style.width = (100 * Math.abs(shapley[i]) / maxAbs).toFixed(1) + "%";
        b.appendChild(imp);
      }
      b.addEventListener("click", () => toggle(i));
      grid.appendChild(b); buttons.push(b);
    }
    start += w;
    unitsBox.appendChild(name); unitsBox.appendChild(grid);
  });
  if (!N) unitsBox.textContent = "This net has no hidden units.";
  const rows = [];
  if (shapley) {
    $("shapley-card").hidden = false;
    const order = Array.from({ length: N }, (_, i) => i)
      .sort((a, b) => shapley[a] - shapley[b] || a - b);
    const body = $("shapley").tBodies[0];
    order.forEach((i, rank) => {
      const tr = document.createElement("tr");
      tr.id = "shapley-row-" + i; tr.dataset.unit = i; tr.dataset.value = String(shapley[i]);
      tr.tabIndex = 0;
      const v = shapley[i], wpct = 50 * Math.abs(v) / maxAbs;
      tr.innerHTML = `<td class="num">${rank + 1}</td><td class="mono">${labels[i]}</td>` +
        `<td class="num">${signed(v, 4)}</td>` +
        `<td><div class="bar"><div class="fill" style="${v < 0 ? "right:50%" : "left:50%"};` +
        `width:${wpct.toFixed(2)}%;background:${v < 0 ? "#2563eb" : "#c2410c"}"></div>` +
        `<div class="mid"></div></div></td><td><span class="dot"></span></td>` +
        `<td class="num flip">…</td>`;
      tr.addEventListener("click", () => toggle(i));
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(i); }
      });
      body.appendChild(tr); rows[i] = tr;
    });
  }
  function readouts() {
    setValue("loss", current.loss, fmt(current.loss, 6));
    const dl = current.loss - full.loss;
    const ref = $("loss-ref");
    ref.textContent = `all on ${fmt(full.loss, 6)} · Δ ${signed(dl, 3)}`;
    ref.className = "ref " + (dl > 1e-12 ? "worse" : dl < -1e-12 ? "better" : "");
    if (classify) {
      setValue("accuracy", current.accuracy, fmt(current.accuracy, 6));
      $("accuracy-ref").textContent = `${current.hits} / ${n} correct`;
    } else {
      setValue("accuracy", NaN, "—");
      $("accuracy-ref").textContent = "regression";
    }
    let on = 0;
    for (let i = 0; i < N; i++) if (mask[i] !== 0) on++;
    setValue("units-on", on, `${on} / ${N}`);
    $("units-ref").textContent = N ? `${(100 * on / N).toFixed(0)} % kept` : "";
    for (let i = 0; i < N; i++) {
      const isOn = mask[i] !== 0;
      buttons[i].setAttribute("aria-pressed", String(isOn));
      if (rows[i]) rows[i].classList.toggle("off", !isOn);
    }
  }
  let flipToken = 0;
  function flips() {  // the loss change of toggling each unit alone, a few units per tick
    const token = ++flipToken, m2 = Float64Array.from(mask);
    let i = 0;
    function chunk() {
      if (token !== flipToken) return;
      const t0 = performance.now();
      while (i < N && performance.now() - t0 < 15) {
        m2[i] = mask[i] !== 0 ? 0 : 1;
        const delta = metrics(forward(flipCtx, m2), null).loss - current.loss;
        m2[i] = mask[i];
        buttons[i].title = `unit ${labels[i]}` +
          (shapley ? ` · φ = ${signed(shapley[i], 4)}` : "") +
          ` · toggling it: loss ${fmt(current.loss + delta, 6)} (${signed(delta, 3)})`;
        if (rows[i]) {
          const cell = rows[i].querySelector(".flip");
          cell.textContent = signed(delta, 3);
          cell.className = "num flip " + (delta > 0 ? "worse" : delta < 0 ? "better" : "");
        }
        i++;
      }
      if (i < N) setTimeout(chunk, 0);
    }
    setTimeout(chunk, 0);
  }
  function update() {
    const t0 = performance.now();
    current = metrics(forward(testCtx, mask), correct);
    paint(forward(gridCtx, mask));
    draw();
    readouts();
    lastMs = performance.now() - t0;
    flips();
  }
  function toggle(i) { mask[i] = mask[i] !== 0 ? 0 : 1; update(); }

  // ---- wiring --------------------------------------------------------------------------------
  $("all-on").addEventListener("click", () => { mask.fill(1); update(); });
  $("all-off").addEventListener("click", () => { mask.fill(0); update(); });
  $("invert").addEventListener("click", () => {
    for (let i = 0; i < N; i++) mask[i] = mask[i] !== 0 ? 0 : 1;
    update();
  });
  $("random").addEventListener("click", () => {
    for (let i = 0; i < N; i++) mask[i] = Math.random() < 0.5 ? 1 : 0;
    update();
  });
  $("show-points").addEventListener("change", draw);
  $("show-errors").addEventListener("change", draw);
  if (!classify) $("errors-label").hidden = true;
  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect();
    const cx = e.clientX - r.left - M.l, cy = e.clientY - r.top - M.t;
    if (cx < 0 || cy < 0 || cx > S || cy > S) { $("hover").textContent = ""; return; }
    const pt = new Float64Array(d);
    pt[0] = box[0] + cx / S * (box[1] - box[0]); pt[1] = box[3] - cy / S * (box[3] - box[2]);
    for (let k = 2; k < d; k++) pt[k] = rest[k - 2];
    const z = forward(context(pt, 1), mask);
    let text;
    if (head === "logit") text = `P(class 1) = ${(1 / (1 + Math.exp(-z[0]))).toFixed(3)}`;
    else if (head === "softmax") {
      let mx = -Infinity, arg = 0, s = 0;
      for (let k = 0; k < K; k++) if (z[k] > mx) { mx = z[k]; arg = k; }
      for (let k = 0; k < K; k++) s += Math.exp(z[k] - mx);
      text = binary ? `P(class 1) = ${(Math.exp(z[1] - mx) / s).toFixed(3)}`
        : `class ${arg} (P = ${(1 / s).toFixed(3)})`;
    } else text = `estimate ${z[0].toPrecision(4)}`;
    $("hover").textContent = `x₁ ${pt[0].toFixed(2)}, x₂ ${pt[1].toFixed(2)}: ${text}`;
  });
  canvas.addEventListener("mouseleave", () => { $("hover").textContent = ""; });

  const cap = [];
  if (binary) {
    cap.push("P(class 1) over the input plane: yellow = sure class 0, navy = sure class 1 " +
      "(viridis reversed, as the node-removal post's circle maps: yellow inside, navy outside).");
  } else if (classify) {
    cap.push("The winning class over the input plane, paler where the net is less sure.");
  } else {
    cap.push("The net's estimate over the input plane (viridis, fixed range " +
      `${fmt(vmin, 3)} to ${fmt(vmax, 3)}).`);
  }
  const dots = shown.length < n ? `${shown.length} of the ${n} test points` : "the test points";
  cap.push(classify ? `Dots: ${dots} by label, ringed red when misclassified.`
    : `Dots: ${dots}, coloured by target.`);
  if (truth.length) cap.push("Dashed red: the true boundary.");
  const sub = (k) => String(k).replace(/\d/g, (c) => String.fromCharCode(0x2080 + Number(c)));
  if (d === 3) cap.push("Input x₃ held at its test-set mean.");
  if (d > 3) cap.push(`Inputs x₃…x${sub(d)} held at their test-set mean.`);
  $("map-caption").textContent = cap.join(" ");
  const formula = head === "softmax" ? "softmax cross-entropy log Σₖ exp(zₖ) − z_y"
    : head === "logit" ? "sigmoid cross-entropy max(z, 0) − z·y + log1p(exp(−|z|))"
    : "squared error (z − y)²";
  $("formulas").textContent = `Test loss = mean over the ${n} test points of the ${formula}` +
    (classify ? "; accuracy = share of test points whose predicted class is the label" : "") +
    `. Each hidden unit's activation is multiplied by its mask value (1 = on, 0 = removed). ` +
    "Computed in this page (float64) from the embedded weights; nothing is fetched. " +
    "toynets.explorer, DIGEST §1.";

  window.toynets = {
    units: N, labels: labels.slice(),
    setMask(m) {
      if (!m || m.length !== N) throw new Error(`setMask needs ${N} values, got ${m && m.length}`);
      const v = Array.from(m, Number);
      if (!v.every(Number.isFinite)) throw new Error("setMask needs finite numbers");
      v.forEach((x, i) => { mask[i] = x; });
      update();
      return current.loss;
    },
    mask: () => Array.from(mask),
    loss: () => current.loss,
    accuracy: () => current.accuracy,
    toggle(i) { toggle(i); return current.loss; },
    lastRenderMs: () => lastMs,
  };
  drawColorbar();
  update();
  document.documentElement.dataset.ready = "true";
})();
</script>
</body>
</html>
"""
