// node_removal.html: toggle hidden units of the embedded net; the test loss, the accuracy and
// the map follow at once (formulas: toynets.explorer's docstring). Needs explorer.js first.
(function () {
  "use strict";
  const K_ = ToynetsKit, $ = K_.$;
  const D = K_.readData();

  // ---- data ------------------------------------------------------------------------------------
  // fout columns of a W b; a maxout layer has k columns per unit (units = fout / k)
  const layers = D.layers.map((l) => ({
    W: K_.decode(l.W), b: K_.decode(l.b), fin: l.W.shape[0], fout: l.W.shape[1],
    act: l.activation, k: l.k || 1, units: l.W.shape[1] / (l.k || 1),
  }));
  const L = layers.length, head = D.head, K = layers[L - 1].fout;
  const X = K_.decode(D.x), n = D.x.shape[0], d = D.x.shape[1];
  const Y = K_.decode(D.y), rest = K_.decode(D.rest);
  const widths = layers.slice(0, -1).map((l) => l.units);
  const N = widths.reduce((a, b) => a + b, 0);
  const labels = D.labels;
  const classify = head !== "linear";
  const binary = head === "logit" || (head === "softmax" && K === 2);
  const shapley = D.shapley ? K_.decode(D.shapley) : null;
  const truth = D.truth.map(K_.decode);
  const G = D.grid, box = D.box;

  // ---- the net ---------------------------------------------------------------------------------
  // f(a) in place; maxout writes the maximum of each contiguous group of k values of a
  // [P, units * k] into out [P, units] and returns out.
  function activate(a, name, k, out) {
    if (name === "maxout") {
      for (let u = 0, o = 0; u < out.length; u++, o += k) {
        let mx = a[o];
        for (let j = 1; j < k; j++) if (a[o + j] > mx) mx = a[o + j];
        out[u] = mx;
      }
      return out;
    }
    if (name === "relu") { for (let i = 0; i < a.length; i++) if (a[i] < 0) a[i] = 0; }
    else if (name === "sigmoid") {
      for (let i = 0; i < a.length; i++) a[i] = 1 / (1 + Math.exp(-a[i]));
    }
    else if (name === "tanh") { for (let i = 0; i < a.length; i++) a[i] = Math.tanh(a[i]); }
    return a;
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
      if (L > 1) H0 = activate(H0, l0.act, l0.k, l0.k > 1 ? new Float64Array(P * l0.units) : null);
    }
    return { P, H0, bufs: layers.map((l) => new Float64Array(P * l.fout)),
             outs: layers.map((l) => (l.k > 1 ? new Float64Array(P * l.units) : null)),
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
      if (l < L - 1) h = activate(h, ly.act, ly.k, ctx.outs[l]);
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

  // ---- the grid --------------------------------------------------------------------------------
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

  // ---- colours ---------------------------------------------------------------------------------
  const LUT = K_.LUT, lut = K_.lut;
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

  // ---- drawing ---------------------------------------------------------------------------------
  // The map is a square of side S (fitted to the window: K_.plotSide) inside margins M; the
  // colour bar (or the class legend) is a canvas of its own under it.
  const M = { l: 42, r: 10, t: 10, b: 34 };
  const canvas = $("map"), bar = $("colorbar");
  let g = null, frame = null;
  const off = document.createElement("canvas"); off.width = G; off.height = G;
  const og = off.getContext("2d"), image = og.createImageData(G, G);

  function paint(Z) {
    const im = image.data;
    for (let p = 0; p < G * G; p++) {
      const o = p * K, q = p * 4;
      let r, gr, bl;
      if (binary) {
        const p1 = 1 / (1 + Math.exp(head === "logit" ? -Z[o] : Z[o] - Z[o + 1]));
        const i = lut(1 - p1); r = LUT[i]; gr = LUT[i + 1]; bl = LUT[i + 2];
      } else if (classify) {  // the winner's colour, faded to white as confidence drops
        let mx = -Infinity, arg = 0, s = 0;
        for (let k = 0; k < K; k++) if (Z[o + k] > mx) { mx = Z[o + k]; arg = k; }
        for (let k = 0; k < K; k++) s += Math.exp(Z[o + k] - mx);
        const conf = (1 / s - 1 / K) / (1 - 1 / K), a = 0.15 + 0.85 * conf;
        const c = K_.classRGB(arg);
        r = 255 + (c[0] - 255) * a; gr = 255 + (c[1] - 255) * a; bl = 255 + (c[2] - 255) * a;
      } else {
        const i = lut((Z[o] - vmin) / (vmax - vmin)); r = LUT[i]; gr = LUT[i + 1]; bl = LUT[i + 2];
      }
      im[q] = r; im[q + 1] = gr; im[q + 2] = bl; im[q + 3] = 255;
    }
    og.putImageData(image, 0, 0);
  }
  // At most 600 test points are drawn (evenly spaced, as the project's figures do).
  const shown = Array.from(new Set(Array.from({ length: Math.min(600, n) },
    (_, k) => Math.floor(k * (n - 1) / Math.max(1, Math.min(600, n) - 1)))));
  function draw() {
    const { S } = frame;
    g.clearRect(0, 0, M.l + S + M.r, M.t + S + M.b);
    g.imageSmoothingEnabled = true; g.imageSmoothingQuality = "high";
    g.drawImage(off, M.l, M.t, S, S);
    g.save();
    g.beginPath(); g.rect(M.l, M.t, S, S); g.clip();
    if ($("show-points").checked) {
      const radius = Math.max(1.6, Math.min(2.8, 2.3 * S / 440));
      g.lineWidth = 0.6; g.strokeStyle = "rgba(0,0,0,.7)";
      for (const p of shown) {
        g.beginPath();
        g.arc(frame.px(X[p * d]), frame.py(X[p * d + 1]), radius, 0, 2 * Math.PI);
        g.fillStyle = classify ? K_.classColour(Y[p])
          : K_.lutCSS(lut((Y[p] - vmin) / (vmax - vmin)));
        g.fill(); g.stroke();
      }
      if (classify && $("show-errors").checked) {
        g.lineWidth = 1.3; g.strokeStyle = "#ff1f1f";
        for (const p of shown) {
          if (correct[p]) continue;
          g.beginPath();
          g.arc(frame.px(X[p * d]), frame.py(X[p * d + 1]), radius + 2, 0, 2 * Math.PI);
          g.stroke();
        }
      }
    }
    K_.drawBoundary(g, frame, truth);  // above the points, as in every figure
    g.restore();
    K_.drawAxes(g, frame);
  }

  // Under the map: a colour bar (binary: P(class 1); regression: the estimate) or, for more
  // classes, a legend of the class colours; then the boundary's key.
  const KEY_W = 26, KEY_TEXT = "true boundary";
  function legendItems(width, c) {
    const items = [];
    c.font = K_.FONT;
    const names = [];
    if (classify && !binary) for (let k = 0; k < K; k++) names.push(["class", k]);
    if (truth.length) names.push(["boundary", KEY_TEXT]);
    let x = 0, y = 0;
    for (const [kind, what] of names) {
      const label = kind === "class" ? "class " + what : what;
      const w = (kind === "class" ? 17 : KEY_W + 5) + c.measureText(label).width;
      if (x && x + w > width) { x = 0; y += 18; }
      items.push({ kind, what, label, x, y });
      x += w + 14;
    }
    return { items, height: items.length ? y + 18 : 0 };
  }
  function barHeight(S) {  // CSS px of the canvas under a map of side S
    if (!classify || binary) return 48;
    return legendItems(M.l + S + M.r - 8, bar.getContext("2d")).height + 4;
  }
  function drawColorbar() {
    const { S } = frame, w = M.l + S + M.r, h = barHeight(S), c = K_.setupCanvas(bar, w, h);
    c.font = K_.FONT; c.textBaseline = "middle"; c.textAlign = "left";
    if (classify && !binary) {
      for (const it of legendItems(w - 8, c).items) {
        const x = 8 + it.x, y = 2 + it.y + 8;
        if (it.kind === "class") {
          c.fillStyle = K_.classColour(it.what); c.fillRect(x, y - 6, 12, 12);
          c.fillStyle = "#4b5563"; c.fillText(it.label, x + 17, y);
        } else {
          K_.boundaryKey(c, x, y, KEY_W);
          c.fillStyle = "#4b5563"; c.fillText(it.label, x + KEY_W + 5, y);
        }
      }
      return;
    }
    const y0 = 2, bh = 10;
    for (let i = 0; i < S; i++) {
      const t = (i + 0.5) / S;
      c.fillStyle = K_.lutCSS(lut(binary ? 1 - t : t)); c.fillRect(M.l + i, y0, 1.5, bh);
    }
    c.strokeStyle = "#9ca3af"; c.lineWidth = 1; c.strokeRect(M.l + .5, y0 + .5, S - 1, bh - 1);
    c.fillStyle = "#4b5563"; c.textBaseline = "top"; c.textAlign = "center";
    const lo = binary ? 0 : vmin, hi = binary ? 1 : vmax;
    for (const [v, s] of K_.niceTicks(lo, hi, Math.max(2, Math.min(5, Math.round(S / 80))))) {
      const x = M.l + (v - lo) / (hi - lo) * S;
      c.fillRect(x - .5, y0 + bh, 1, 3); c.fillText(s, x, y0 + bh + 4);
    }
    c.textBaseline = "middle"; c.textAlign = "right";
    c.fillText(binary ? "P(class 1)" : "estimate", M.l + S, 38);
    if (truth.length) {
      K_.boundaryKey(c, M.l, 38, KEY_W);
      c.textAlign = "left"; c.fillText(KEY_TEXT, M.l + KEY_W + 5, 38);
    }
  }
  // Fits the map to the window (K_.plotSide) and redraws it when its size changes.
  function fit() {
    const foot = $("map-foot").getBoundingClientRect().height;
    let S = K_.plotSide(canvas, M, barHeight(440) + foot + 24);
    S = K_.plotSide(canvas, M, barHeight(S) + foot + 24);
    const dpr = window.devicePixelRatio;  // a zoom changes it: redraw at the new resolution
    if (frame && frame.S === S && frame.dpr === dpr) return;
    frame = { ...K_.plane(M, S, box), dpr };
    g = K_.setupCanvas(canvas, M.l + S + M.r, M.t + S + M.b);
    canvas.dataset.plot = `${M.l} ${M.t} ${S}`;  // the square plot inside the canvas, CSS px
    draw();
    drawColorbar();
  }

  // ---- readouts, units, table ------------------------------------------------------------------
  const { fmt, signed, setValue } = K_;
  const unitsBox = $("unit-layers"), buttons = [];
  const maxAbs = shapley ? Math.max(1e-300, ...Array.from(shapley, Math.abs)) : 1;
  let start = 0;
  widths.forEach((w, l) => {
    const name = document.createElement("div");
    name.className = "layer-name";
    const act = layers[l].k > 1 ? `${layers[l].act} (k=${layers[l].k})` : layers[l].act;
    name.textContent = `layer ${l} · ${act} · ${w} units` +
      (widths.length > 1 ? ` (${l}:0 … ${l}:${w - 1})` : "");
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
        `<td class="bar-cell"><div class="bar"><div class="fill" ` +
        `style="${v < 0 ? "right:50%" : "left:50%"};width:${wpct.toFixed(2)}%;` +
        `background:${v < 0 ? "#2563eb" : "#c2410c"}"></div><div class="mid"></div></div></td>` +
        `<td><span class="dot"></span></td><td class="num flip">…</td>`;
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

  // ---- wiring ----------------------------------------------------------------------------------
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
    const r = canvas.getBoundingClientRect(), S = frame.S;
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
  cap.push(classify ? `Dots: ${dots} by label (class 0 orange, class 1 blue), ringed red ` +
    "when misclassified." : `Dots: ${dots}, coloured by target.`);
  if (truth.length) cap.push("White dashes on black: the true boundary.");
  if (d === 3) cap.push("Input x₃ held at its test-set mean.");
  if (d > 3) cap.push(`Inputs x₃…x${K_.subscript(d)} held at their test-set mean.`);
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
  fit();
  K_.onResize(fit, document.querySelector(".layout"));
  update();
  document.documentElement.dataset.ready = "true";
})();
