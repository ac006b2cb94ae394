// flow.html: move a point over the input plane (click or drag) and watch its values flow
// through the embedded net, neuron by neuron, with its linear region and its local affine map
// (formulas: toynets.explorer's flow_html docstring). Needs explorer.js first.
(function () {
  "use strict";
  const K_ = ToynetsKit, $ = K_.$;
  const D = K_.readData();
  const SVG = "http://www.w3.org/2000/svg";

  // ---- data ------------------------------------------------------------------------------------
  // fout columns of a W b; a maxout layer has k columns per unit (units = fout / k)
  const layers = D.layers.map((l) => ({
    W: K_.decode(l.W), b: K_.decode(l.b), fin: l.W.shape[0], fout: l.W.shape[1],
    act: l.activation, k: l.k || 1, units: l.W.shape[1] / (l.k || 1),
  }));
  const L = layers.length, head = D.head, K = layers[L - 1].fout, d = layers[0].fin;
  const rest = K_.decode(D.rest), box = D.box, G = D.grid, T = D.thumb;
  const piecewise = D.piecewise, limits = D.limits;
  const PAL = K_.makeLUT(D.palette), DIV = K_.makeLUT(D.diverging);
  const widths = [d, ...layers.map((l) => l.units)];
  const dataX = K_.decode(D.data), nData = D.data.shape[0];

  // ---- the net ---------------------------------------------------------------------------------
  function activate(z, l) {
    const n = l.units, a = new Float64Array(n);
    if (l.act === "maxout") {
      for (let u = 0; u < n; u++) {
        let m = -Infinity;
        for (let j = 0; j < l.k; j++) m = Math.max(m, z[u * l.k + j]);
        a[u] = m;
      }
    } else if (l.act === "softmax") {
      let m = -Infinity, s = 0;
      for (let j = 0; j < n; j++) m = Math.max(m, z[j]);
      for (let j = 0; j < n; j++) { a[j] = Math.exp(z[j] - m); s += a[j]; }
      for (let j = 0; j < n; j++) a[j] /= s;
    } else {
      for (let j = 0; j < n; j++) {
        const v = z[j];
        a[j] = l.act === "relu" ? Math.max(v, 0) : l.act === "sigmoid" ? 1 / (1 + Math.exp(-v))
          : l.act === "tanh" ? Math.tanh(v) : v;
      }
    }
    return a;
  }
  // z = a W + b and a' = f(z) of every layer, hidden then output: [{z, a}]
  function forward(x) {
    let a = x;
    const out = [];
    for (const l of layers) {
      const z = new Float64Array(l.fout);
      for (let j = 0; j < l.fout; j++) {
        let s = 0;
        for (let i = 0; i < l.fin; i++) s += a[i] * l.W[i * l.fout + j];
        z[j] = s + l.b[j];
      }
      a = activate(z, l);
      out.push({ z, a });
    }
    return out;
  }
  // The full input of a point of the plane: x1, x2, then the other inputs at their mean.
  function input(p) {
    const x = new Float64Array(d);
    x[0] = p[0]; x[1] = p[1];
    for (let i = 2; i < d; i++) x[i] = rest[i - 2];
    return x;
  }
  // Activation pattern: per hidden unit 1 (relu z > 0; linear always) or 0; maxout: the
  // index of the winning column. Layers joined by "|".
  function pattern(vals) {
    const parts = [];
    for (let li = 0; li < L - 1; li++) {
      const l = layers[li], z = vals[li].z;
      let s = "";
      for (let u = 0; u < l.units; u++) {
        if (l.act === "maxout") {
          let best = 0;
          for (let j = 1; j < l.k; j++) if (z[u * l.k + j] > z[u * l.k + best]) best = j;
          s += best;
        } else s += l.act === "relu" ? (z[u] > 0 ? "1" : "0") : "1";
      }
      parts.push(s);
    }
    return parts.join("|");
  }
  // The logits' affine map at x: z_L = x A + c, A [d, K] row-major. Composed layer by layer:
  // (A, c) -> (A W, c W + b), then each column times its slope D (relu [z > 0], linear 1,
  // sigmoid a(1 - a), tanh 1 - a^2) plus a - z D; maxout keeps each unit's winning column.
  function affineMap(x, vals) {
    let cols = d, A = new Float64Array(d * d), c = new Float64Array(d);
    for (let i = 0; i < d; i++) A[i * d + i] = 1;
    for (let li = 0; li < L; li++) {
      const l = layers[li], f = l.fout;
      const A2 = new Float64Array(d * f), c2 = new Float64Array(f);
      for (let j = 0; j < f; j++) {
        for (let i = 0; i < d; i++) {
          let s = 0;
          for (let m = 0; m < cols; m++) s += A[i * cols + m] * l.W[m * f + j];
          A2[i * f + j] = s;
        }
        let s = 0;
        for (let m = 0; m < cols; m++) s += c[m] * l.W[m * f + j];
        c2[j] = s + l.b[j];
      }
      if (li === L - 1) return { A: A2, c: c2 };
      const { z, a } = vals[li], u = l.units;
      const A3 = new Float64Array(d * u), c3 = new Float64Array(u);
      for (let j = 0; j < u; j++) {
        if (l.act === "maxout") {
          let best = j * l.k;
          for (let q = 1; q < l.k; q++) if (z[j * l.k + q] > z[best]) best = j * l.k + q;
          for (let i = 0; i < d; i++) A3[i * u + j] = A2[i * f + best];
          c3[j] = c2[best];
          continue;
        }
        const slope = l.act === "relu" ? (z[j] > 0 ? 1 : 0) : l.act === "sigmoid"
          ? a[j] * (1 - a[j]) : l.act === "tanh" ? 1 - a[j] * a[j] : 1;
        for (let i = 0; i < d; i++) A3[i * u + j] = A2[i * f + j] * slope;
        c3[j] = c2[j] * slope + (a[j] - z[j] * slope);
      }
      A = A3; c = c3; cols = u;
    }
    return { A, c };
  }

  // ---- the grid: the net's output and its regions -------------------------------------------------
  const gx1 = Float64Array.from({ length: G }, (_, i) => box[0] + i * (box[1] - box[0]) / (G - 1));
  const gx2 = Float64Array.from({ length: G }, (_, i) => box[2] + i * (box[3] - box[2]) / (G - 1));
  const out = new Float64Array(G * G * K), region = new Int32Array(G * G);
  const regionIds = new Map(), regionSize = [];
  for (let r = 0; r < G; r++) {
    for (let q = 0; q < G; q++) {
      const p = r * G + q, vals = forward(input([gx1[q], gx2[r]]));
      const o = vals[L - 1].a;
      for (let k = 0; k < K; k++) out[p * K + k] = o[k];
      if (piecewise) {
        const key = pattern(vals);
        let id = regionIds.get(key);
        if (id === undefined) { id = regionIds.size; regionIds.set(key, id); regionSize.push(0); }
        region[p] = id; regionSize[id]++;
      }
    }
  }
  let vmin = Infinity, vmax = -Infinity;
  if (head === "linear") {
    for (let p = 0; p < G * G; p++) { vmin = Math.min(vmin, out[p * K]); vmax = Math.max(vmax, out[p * K]); }
    if (!(vmax > vmin)) { vmin -= 0.5; vmax += 0.5; }
  }
  // The map's colours before any highlight, [r, g, b] per grid point.
  const base = new Uint8ClampedArray(G * G * 3);
  for (let p = 0; p < G * G; p++) {
    let rgb;
    if (head === "linear") {
      const i = K_.lut((out[p * K] - vmin) / (vmax - vmin));
      rgb = [K_.LUT[i], K_.LUT[i + 1], K_.LUT[i + 2]];
    } else if (K === 1 || K === 2) {  // P(class 1), viridis reversed as the §1 maps
      const i = K_.lut(1 - out[p * K + K - 1]);
      rgb = [K_.LUT[i], K_.LUT[i + 1], K_.LUT[i + 2]];
    } else {  // the winning class faded to white as the confidence drops
      let arg = 0;
      for (let k = 1; k < K; k++) if (out[p * K + k] > out[p * K + arg]) arg = k;
      const conf = (out[p * K + arg] - 1 / K) / (1 - 1 / K), al = 0.15 + 0.85 * conf;
      rgb = K_.classRGB(arg).map((v) => 255 + (v - 255) * al);
    }
    base.set(rgb, p * 3);
  }
  const edge = new Uint8Array(G * G);
  if (piecewise) {
    for (let r = 0; r < G; r++) {
      for (let q = 0; q < G; q++) {
        const p = r * G + q;
        if ((q + 1 < G && region[p + 1] !== region[p]) || (r + 1 < G && region[p + G] !== region[p])) {
          edge[p] = 1;
        }
      }
    }
  }

  // ---- the map -----------------------------------------------------------------------------------
  const M = { l: 42, r: 10, t: 10, b: 34 };
  const canvas = $("map");
  let g = null, frame = null, painted = null;
  const off = document.createElement("canvas"); off.width = G; off.height = G;
  const og = off.getContext("2d"), image = og.createImageData(G, G);
  // The map into the offscreen canvas (row 0 on top: x2 = box[3]); with regions shown, their
  // boundaries dark and every region but the point's faded towards white.
  function paint(current) {
    const show = piecewise && $("show-regions").checked, im = image.data;
    for (let r = 0; r < G; r++) {
      for (let q = 0; q < G; q++) {
        const p = r * G + q, o = ((G - 1 - r) * G + q) * 4;
        let c0 = base[p * 3], c1 = base[p * 3 + 1], c2 = base[p * 3 + 2];
        if (show && edge[p]) { c0 *= 0.3; c1 *= 0.3; c2 *= 0.3; }
        else if (show && region[p] !== current) {
          c0 = 255 - (255 - c0) * 0.45; c1 = 255 - (255 - c1) * 0.45; c2 = 255 - (255 - c2) * 0.45;
        }
        im[o] = c0; im[o + 1] = c1; im[o + 2] = c2; im[o + 3] = 255;
      }
    }
    og.putImageData(image, 0, 0);
    painted = { current, show };
  }
  function marker(x, y, radius, fill) {
    g.beginPath(); g.arc(x, y, radius, 0, 2 * Math.PI);
    g.fillStyle = fill; g.fill();
    g.lineWidth = 1.5; g.strokeStyle = "#111"; g.stroke();
  }
  function draw() {
    const { S } = frame;
    const show = piecewise && $("show-regions").checked;
    const current = show ? regionOf(state.key) : -2;
    if (!painted || painted.current !== current || painted.show !== show) paint(current);
    g.clearRect(0, 0, M.l + S + M.r, M.t + S + M.b);
    g.imageSmoothingEnabled = true; g.imageSmoothingQuality = "high";
    g.drawImage(off, M.l, M.t, S, S);
    g.save();
    g.beginPath(); g.rect(M.l, M.t, S, S); g.clip();
    if ($("show-data").checked) {
      g.fillStyle = "rgba(255,255,255,.75)"; g.strokeStyle = "rgba(0,0,0,.5)"; g.lineWidth = 0.5;
      for (let p = 0; p < nData; p++) {
        g.beginPath(); g.arc(frame.px(dataX[p * d]), frame.py(dataX[p * d + 1]), 1.8, 0, 2 * Math.PI);
        g.fill(); g.stroke();
      }
    }
    g.font = K_.FONT; g.textBaseline = "bottom"; g.textAlign = "left";
    for (const name of D.names) {
      const [a, b] = D.points[name], x = frame.px(a), y = frame.py(b);
      marker(x, y, 3, "#fff");
      // the name beside the point, on the side towards the middle of the plot
      const w = g.measureText(name).width;
      const lx = x + w + 12 > M.l + S ? x - w - 8 : x + 4, ly = y - 16 < M.t ? y + 4 : y - 16;
      g.fillStyle = "rgba(255,255,255,.85)"; g.fillRect(lx, ly, w + 4, 13);
      g.fillStyle = "#111"; g.fillText(name, lx + 2, ly + 13);
    }
    const x = frame.px(state.point[0]), y = frame.py(state.point[1]);
    g.strokeStyle = "rgba(0,0,0,.55)"; g.lineWidth = 1; g.setLineDash([3, 3]);
    g.beginPath(); g.moveTo(M.l, y); g.lineTo(M.l + S, y); g.moveTo(x, M.t); g.lineTo(x, M.t + S);
    g.stroke(); g.setLineDash([]);
    marker(x, y, 6, "#ff3b30");
    g.restore();
    K_.drawAxes(g, frame);
  }
  function fit() {
    const foot = document.querySelector(".figure .fit").getBoundingClientRect().height;
    const S = K_.plotSide(canvas, M, foot + 24);
    const dpr = window.devicePixelRatio;
    if (frame && frame.S === S && frame.dpr === dpr) return;
    frame = { ...K_.plane(M, S, box), dpr };
    g = K_.setupCanvas(canvas, M.l + S + M.r, M.t + S + M.b);
    canvas.dataset.plot = `${M.l} ${M.t} ${S}`;  // the square plot inside the canvas, CSS px
    draw();
  }
  function planePoint(ev) {
    const rect = canvas.getBoundingClientRect();
    const u = (ev.clientX - rect.left - M.l) / frame.S, v = (ev.clientY - rect.top - M.t) / frame.S;
    const cl = (t) => Math.max(0, Math.min(1, t));
    return [box[0] + cl(u) * (box[1] - box[0]), box[3] - cl(v) * (box[3] - box[2])];
  }
  let dragging = false;
  canvas.addEventListener("pointerdown", (ev) => {
    dragging = true; canvas.setPointerCapture(ev.pointerId); setPoint(planePoint(ev));
  });
  canvas.addEventListener("pointermove", (ev) => {
    const p = planePoint(ev);
    $("hover").textContent = `x₁ ${p[0].toFixed(3)}, x₂ ${p[1].toFixed(3)}`;
    if (dragging) setPoint(p);
  });
  const stop = () => { dragging = false; };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  canvas.addEventListener("pointerleave", () => { $("hover").textContent = ""; });
  $("show-regions").addEventListener("change", () => draw());
  $("show-data").addEventListener("change", () => draw());
  if (!piecewise) $("show-regions").parentElement.hidden = true;

  // ---- the network diagram -----------------------------------------------------------------------
  const GAP = 4, R = 0.38, HALF = 0.44;
  const tallest = Math.max(...widths);
  const pos = widths.map((w, l) => Array.from({ length: w }, (_, i) => [GAP * l, (w - 1) / 2 - i]));
  const labelled = tallest <= 12;
  const vb = [-1.7, -tallest / 2 - 0.6, GAP * (widths.length - 1) + 3.4, tallest + 2.0];
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", vb.join(" "));
  svg.style.maxWidth = `${widths.length * 190 + 80}px`;  // a small net is not blown up
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "the net: neurons coloured by their values at the point");
  $("network").appendChild(svg);
  // SVG's y grows downwards: a point (x, y) of the layout is drawn at (x, -y).
  const el = (name, attrs, parent = svg) => {
    const e = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    parent.appendChild(e);
    return e;
  };
  const rgbOf = (lutArr, t) => { const i = K_.lut(t); return `rgb(${lutArr[i]},${lutArr[i + 1]},${lutArr[i + 2]})`; };
  let wmax = 0;
  for (const l of layers) {
    for (const v of l.W) wmax = Math.max(wmax, Math.abs(v));
    for (const v of l.b) wmax = Math.max(wmax, Math.abs(v));
  }
  wmax = wmax || 1;
  const divColour = (v) => rgbOf(DIV, 0.5 + 0.5 * v / wmax);
  const links = [];  // [layer, i, unit j, line]
  const gLinks = el("g", {}), gBias = el("g", {}), gNodes = el("g", {});
  layers.forEach((l, li) => {
    for (let i = 0; i < widths[li]; i++) {
      for (let j = 0; j < l.units; j++) {
        const [x0, y0] = pos[li][i], [x1, y1] = pos[li + 1][j];
        links.push([li, i, j, el("line", { x1: x0 + HALF, y1: -y0, x2: x1 - HALF, y2: -y1 }, gLinks)]);
      }
    }
  });
  const biasBoxes = layers.map((l, li) => pos[li + 1].map(([x, y]) =>
    el("rect", { x: x - HALF - 0.3, y: -y + HALF * 0.2, width: 0.22, height: 0.22,
      stroke: "#444", "stroke-width": 0.02 }, gBias)));
  // A unit's weights: its column, or for maxout the column winning at the point.
  function drawWeights(vals) {
    for (const [li, i, j, line] of links) {
      const l = layers[li];
      let col = j * l.k;
      if (l.k > 1) {
        const z = vals[li].z;
        for (let q = 1; q < l.k; q++) if (z[j * l.k + q] > z[col]) col = j * l.k + q;
      }
      const w = l.W[i * l.fout + col];
      line.setAttribute("stroke", divColour(w));
      line.setAttribute("stroke-width", (0.015 + 0.09 * Math.abs(w) / wmax).toFixed(4));
      line.dataset.weight = String(w);
    }
    layers.forEach((l, li) => biasBoxes[li].forEach((rect, j) => {
      let col = j * l.k;
      if (l.k > 1) {
        const z = vals[li].z;
        for (let q = 1; q < l.k; q++) if (z[j * l.k + q] > z[col]) col = j * l.k + q;
      }
      rect.setAttribute("fill", divColour(l.b[col]));
      rect.dataset.bias = String(l.b[col]);
    }));
  }
  // Neurons: inputs a circle (#input-i), every other neuron #neuron-<layer>-<unit> (layer 0 the
  // first hidden layer, L - 1 the output) with its z in the left half and a in the right.
  const nodes = widths.map((w, l) => pos[l].map(([x, y], i) => {
    const group = el("g", { id: l === 0 ? `input-${i}` : `neuron-${l - 1}-${i}`, class: "neuron" }, gNodes);
    const circles = el("g", {}, group);
    let left = null, right = null, whole = null;
    if (l === 0) whole = el("circle", { cx: x, cy: -y, r: R, stroke: "#222", "stroke-width": 0.03 }, circles);
    else {
      left = el("path", { d: `M ${x} ${-y - R} A ${R} ${R} 0 0 0 ${x} ${-y + R} Z`,
        stroke: "#222", "stroke-width": 0.03 }, circles);
      right = el("path", { d: `M ${x} ${-y - R} A ${R} ${R} 0 0 1 ${x} ${-y + R} Z`,
        stroke: "#222", "stroke-width": 0.03 }, circles);
    }
    const picture = el("g", { visibility: "hidden" }, group);
    const img = el("image", { x: x - HALF, y: -y - HALF, width: 2 * HALF, height: 2 * HALF,
      preserveAspectRatio: "none" }, picture);
    el("rect", { x: x - HALF, y: -y - HALF, width: 2 * HALF, height: 2 * HALF, fill: "none",
      stroke: "#222", "stroke-width": 0.03 }, picture);
    const dot = el("circle", { r: 0.055, fill: "#ff3b30", stroke: "#111", "stroke-width": 0.015 },
      picture);
    const text = labelled ? el("text", { x: x + (l === 0 ? -R - 0.08 : HALF + 0.08), y: -y + 0.1,
      class: "value", "text-anchor": l === 0 ? "end" : "start", "font-size": 0.22 }, group) : null;
    return { group, circles, picture, img, dot, left, right, whole, text, x, y };
  }));
  widths.forEach((w, l) => {
    const name = l === 0 ? "input" : l === widths.length - 1 ? `output · ${layers[l - 1].act}`
      : `hidden ${l} · ${layers[l - 1].act}`;
    el("text", { x: GAP * l, y: -tallest / 2 - 0.15, class: "layer-label", "text-anchor": "middle",
      "font-size": 0.3 }, gNodes).textContent = name;
  });
  // Pictures of the input plane, one per neuron, each on its own range (computed once).
  function pictures() {
    const c = document.createElement("canvas"); c.width = T; c.height = T;
    const cg = c.getContext("2d"), im = cg.createImageData(T, T);
    const planes = widths.map((w) => Array.from({ length: w }, () => new Float64Array(T * T)));
    for (let r = 0; r < T; r++) {
      for (let q = 0; q < T; q++) {
        const x = input([box[0] + q * (box[1] - box[0]) / (T - 1), box[2] + r * (box[3] - box[2]) / (T - 1)]);
        const vals = forward(x), p = r * T + q;
        for (let i = 0; i < d; i++) planes[0][i][p] = x[i];
        vals.forEach((v, li) => v.a.forEach((a, j) => { planes[li + 1][j][p] = a; }));
      }
    }
    planes.forEach((layer, l) => layer.forEach((values, i) => {
      let lo = Infinity, hi = -Infinity;
      for (const v of values) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      for (let p = 0; p < T * T; p++) {
        const r = Math.floor(p / T), q = p % T, o = ((T - 1 - r) * T + q) * 4;
        const k = K_.lut(hi > lo ? (values[p] - lo) / (hi - lo) : 0.5);
        im.data[o] = PAL[k]; im.data[o + 1] = PAL[k + 1]; im.data[o + 2] = PAL[k + 2]; im.data[o + 3] = 255;
      }
      cg.putImageData(im, 0, 0);
      nodes[l][i].img.setAttribute("href", c.toDataURL());
    }));
  }
  let picturesDrawn = false;
  $("show-pictures").addEventListener("change", () => {
    const on = $("show-pictures").checked;
    if (on && !picturesDrawn) { pictures(); picturesDrawn = true; }
    for (const layer of nodes) {
      for (const n of layer) {
        n.picture.setAttribute("visibility", on ? "visible" : "hidden");
        n.circles.setAttribute("visibility", on ? "hidden" : "visible");
      }
    }
  });
  // The colour of a value in the diagram's column `c` (0 inputs, then z and a of each layer).
  const colour = (c, v) => rgbOf(PAL, (v - limits[c][0]) / (limits[c][1] - limits[c][0]));
  function drawNodes(x, vals) {
    const u = [(state.point[0] - box[0]) / (box[1] - box[0]), (state.point[1] - box[2]) / (box[3] - box[2])];
    nodes.forEach((layer, l) => layer.forEach((n, i) => {
      n.dot.setAttribute("cx", n.x - HALF + 2 * HALF * u[0]);
      n.dot.setAttribute("cy", -n.y + HALF - 2 * HALF * u[1]);
      if (l === 0) {
        n.whole.setAttribute("fill", colour(0, x[i]));
        n.group.dataset.value = String(x[i]);
        if (n.text) n.text.textContent = K_.fmt(x[i], 3);
        return;
      }
      const lay = layers[l - 1], v = vals[l - 1];
      let z = v.z[i * lay.k];  // maxout: its winning column
      for (let q = 1; q < lay.k; q++) z = Math.max(z, v.z[i * lay.k + q]);
      const a = v.a[i];
      n.left.setAttribute("fill", colour(2 * l - 1, z));
      n.right.setAttribute("fill", colour(2 * l, a));
      n.group.dataset.z = String(z);
      n.group.dataset.a = String(a);
      if (n.text) {
        n.text.textContent = "";
        for (const [k, s] of [["z", z], ["a", a]]) {
          el("tspan", { x: n.x + HALF + 0.08, dy: k === "z" ? "-0.06" : "0.26" }, n.text)
            .textContent = `${k} ${K_.fmt(s, 3)}`;
        }
      }
    }));
  }

  // ---- readouts ----------------------------------------------------------------------------------
  const outputName = (k) => head === "linear" ? (K > 1 ? `estimate ${k}` : "estimate")
    : head === "logit" ? "P(class 1)" : `P(class ${k})`;
  for (let k = 0; k < K; k++) {
    const box_ = document.createElement("div");
    box_.innerHTML = `<span class="lab"></span><span class="val" id="output-${k}" data-value=""></span>`;
    box_.firstChild.textContent = outputName(k);
    $("outputs").appendChild(box_);
  }
  const presets = $("presets"), presetButtons = {};
  for (const name of D.names) {
    const b = document.createElement("button");
    b.type = "button"; b.id = `point-${name}`; b.textContent = name;
    const [a1, a2] = D.points[name];
    b.title = `(${a1}, ${a2})`;
    b.addEventListener("click", () => setPoint(D.points[name]));
    presets.appendChild(b); presetButtons[name] = b;
  }
  const zName = head === "linear" ? "ŷ" : head === "logit" ? "logit" : "z";  // the map is of the logits
  function term(v, i, first) {
    const mag = v === 0 ? "0" : Math.abs(v).toPrecision(4), sign = v < 0 ? "−" : first ? "" : "+";
    return `${first ? sign : ` ${sign} `}${mag}${i === null ? "" : `·x${K_.subscript(i + 1)}`}`;
  }
  function drawAffine(map) {
    const lines = [];
    for (let k = 0; k < K; k++) {
      let s = `${zName}${K > 1 ? K_.subscript(k) : ""} = `;
      let flat = true;
      for (let i = 0; i < d; i++) flat = flat && map.A[i * K + k] === 0;
      if (flat) s += `${term(map.c[k], null, true)} (constant here: no path from the inputs is on)`;
      else {
        for (let i = 0; i < d; i++) s += term(map.A[i * K + k], i, i === 0);
        s += term(map.c[k], null, false);
      }
      lines.push(s);
    }
    const f = $("formula");
    f.textContent = "";
    for (const line of lines) { const div = document.createElement("div"); div.textContent = line; f.appendChild(div); }
    f.dataset.a = JSON.stringify(Array.from(map.A));
    f.dataset.c = JSON.stringify(Array.from(map.c));
  }
  function regionOf(key) { return regionIds.has(key) ? regionIds.get(key) : -1; }

  // ---- the state ---------------------------------------------------------------------------------
  const state = { point: D.start.slice(), key: "", vals: null, map: null };
  let renderMs = 0;
  function setPoint(p) {
    const t0 = performance.now();
    state.point = [Math.max(box[0], Math.min(box[1], Number(p[0]))), Math.max(box[2], Math.min(box[3], Number(p[1])))];
    const x = input(state.point), vals = forward(x), map = affineMap(x, vals);
    state.vals = vals; state.map = map; state.key = piecewise ? pattern(vals) : "";
    K_.setValue("x1", state.point[0], state.point[0].toFixed(4));
    K_.setValue("x2", state.point[1], state.point[1].toFixed(4));
    const o = vals[L - 1].a;
    for (let k = 0; k < K; k++) K_.setValue(`output-${k}`, o[k], K_.fmt(o[k], 5));
    drawAffine(map);
    $("pattern").textContent = piecewise ? state.key : "— (smooth units: no regions)";
    $("pattern").dataset.value = state.key;
    if (piecewise) {
      const id = regionOf(state.key), n = regionIds.size;
      $("region-info").textContent = id < 0
        ? `this region is not met on the ${G}×${G} grid (smaller than its cells); ${n} regions are`
        : `region ${id + 1} of ${n} met on the ${G}×${G} grid · ${(100 * regionSize[id] / (G * G)).toFixed(1)} % of the box`;
    }
    for (const [name, b] of Object.entries(presetButtons)) {
      const [a1, a2] = D.points[name];
      b.setAttribute("aria-pressed", String(a1 === state.point[0] && a2 === state.point[1]));
    }
    drawWeights(vals);
    drawNodes(x, vals);
    if (frame) draw();
    renderMs = performance.now() - t0;
  }

  $("affine-caption").textContent = piecewise
    ? "The net is exactly this affine function everywhere in the point's linear region (the highlighted cell of the map)."
    : `Tangent map at the point (exact at the point only): ${layers[0].act} units are smooth, the net has no linear regions.`;
  $("affine-title").textContent = piecewise ? "Local affine map (exact in the region)" : "Tangent map at the point";
  $("map-caption").textContent = (head === "linear" ? "The net's estimate" : "The net's class probabilities")
    + (piecewise ? `; ${regionIds.size} linear regions on the ${G}×${G} grid (dark lines), the point's in full colour.` : ".")
    + " Click or drag to move the point.";
  $("network-caption").textContent = "Each neuron's left half is its linear value z = a·W + b, the right half its activation a = f(z), "
    + `in ${D.paletteName} over the range it takes on the training data (${D.colourNorm}); lines are the weights `
    + "(red positive, blue negative, wider = larger |w|), squares the biases.";
  $("formulas").textContent = "Layer l: z = a·W + b, a' = f(z). In a region of fixed activation pattern the net is affine: "
    + "(A, c) ← (A·W, c·W + b), then each unit's column times its slope (ReLU: 1 if z > 0 else 0). "
    + "Computed in the browser in float64 from the run's weights.";

  setPoint(D.start);
  fit();
  K_.onResize(fit, document.querySelector(".layout"));
  window.toynets = {
    setPoint,
    point: () => state.point.slice(),
    values: () => ({ z: state.vals.map((v) => Array.from(v.z)), a: state.vals.map((v) => Array.from(v.a)) }),
    affine: () => ({ A: Array.from(state.map.A), c: Array.from(state.map.c), d, outputs: K }),
    pattern: () => state.key,
    regionCount: () => regionIds.size,
    regionShare: () => (regionOf(state.key) < 0 ? 0 : regionSize[regionOf(state.key)] / (G * G)),
    lastRenderMs: () => renderMs,
  };
  document.documentElement.dataset.ready = "true";
})();
