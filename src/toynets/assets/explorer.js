// toynets explorer pages: the helpers every page shares (node_removal.html, flow.html, ...).
// Loaded before the page's own script; all of it is the one global `ToynetsKit`.
const ToynetsKit = (() => {
  "use strict";
  const $ = (id) => document.getElementById(id);

  // ---- data ------------------------------------------------------------------------------------
  // The page's JSON blob (<script type="application/json" id="toynets-data">).
  // The page's data; its `classColours` (toynets.palette) become the kit's class palette.
  function readData(id = "toynets-data") {
    const data = JSON.parse($(id).textContent);
    if (data.classColours) setClassColours(data.classColours);
    return data;
  }
  // {dtype, shape, data}: "f32" decimals are rounded to float32 (they were written as the
  // shortest decimal that reads back to the same float32), then computed with in float64.
  function decode(o) {
    const v = o.data.length ? o.data.split(",").map(Number) : [];
    if (o.dtype === "f32") return Float64Array.from(new Float32Array(v));
    if (o.dtype === "int") return Int32Array.from(v);
    return Float64Array.from(v);
  }

  // ---- colours -----------------------------------------------------------------------------------
  const hexRGB = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  const VIRIDIS = ["#440154", "#48186a", "#472d7b", "#424086", "#3b528b", "#33638d", "#2c728e",
    "#26828e", "#21918c", "#1fa088", "#28ae80", "#3fbc73", "#5ec962", "#84d44b", "#addc30",
    "#d8e219", "#fde725"];
  // A colormap on 256 steps from evenly spaced "#rrggbb" stops: [r, g, b] after each other;
  // lut(t) is the offset of t in [0, 1].
  function makeLUT(stops) {
    const rgb = stops.map(hexRGB), out = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) {
      const t = i / 255 * (rgb.length - 1), k = Math.min(Math.floor(t), rgb.length - 2);
      const f = t - k;
      for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.round(rgb[k][c] * (1 - f) + rgb[k + 1][c] * f);
    }
    return out;
  }
  const LUT = makeLUT(VIRIDIS);
  const lut = (t) => 3 * Math.max(0, Math.min(255, Math.round(t * 255)));
  const lutCSS = (i) => `rgb(${LUT[i]},${LUT[i + 1]},${LUT[i + 2]})`;
  // The house class palette, set from the page's data (toynets.palette.CLASS_COLOURS).
  let CLASS_COLOURS = ["#000000"], CLASS_RGB = [[0, 0, 0]];
  function setClassColours(colours) {
    CLASS_COLOURS = colours.slice();
    CLASS_RGB = CLASS_COLOURS.map(hexRGB);
  }
  const classColour = (k) => CLASS_COLOURS[k % CLASS_COLOURS.length];
  const classRGB = (k) => CLASS_RGB[k % CLASS_RGB.length];

  // ---- canvases ----------------------------------------------------------------------------------
  const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif';
  // A canvas of w x h CSS px drawn at the screen's resolution (crisp on a 2x screen).
  function setupCanvas(c, w, h) {
    const dpr = Math.max(1, Math.min(3, window.devicePixelRatio || 1));
    c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    c.style.width = w + "px"; c.style.height = h + "px";
    const g = c.getContext("2d"); g.setTransform(dpr, 0, 0, dpr, 0, 0); return g;
  }
  // The side S of a square plot: its canvas (S plus `margins` {l, r, t, b}) must fit the
  // width its card may take (the layout's width less --reserve, the columns beside it) and
  // the window's height below the canvas's top, keeping `below` px under it in view.
  const STICKY_SHARE = 0.55;
  function plotSide(canvas, margins, below, lo = 180, hi = 640) {
    const card = canvas.closest(".card"), layout = card.parentElement;
    const ls = getComputedStyle(layout), cs = getComputedStyle(card);
    const px = (s, ...keys) => keys.reduce((sum, k) => sum + (parseFloat(s[k]) || 0), 0);
    const reserve = parseFloat(ls.getPropertyValue("--reserve")) || 0;
    const byWidth = layout.clientWidth - px(ls, "paddingLeft", "paddingRight") - reserve -
      px(cs, "paddingLeft", "paddingRight", "borderLeftWidth", "borderRightWidth") -
      margins.l - margins.r;
    // A sticky card (stacked layout, tall window) keeps to STICKY_SHARE of the window, so the
    // controls have room to scroll under it; any other card may fill the window's height.
    const sticky = cs.position === "sticky";
    const top = sticky ? canvas.getBoundingClientRect().top - card.getBoundingClientRect().top
      : canvas.getBoundingClientRect().top + window.scrollY;
    const byHeight = window.innerHeight * (sticky ? STICKY_SHARE : 1) - top - margins.t -
      margins.b - below;
    return Math.floor(Math.max(lo, Math.min(hi, byWidth, byHeight)));
  }
  // Calls fit() once the window or the layout changes size (at most once a frame).
  function onResize(fit, layout) {
    let queued = false;
    const later = () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; fit(); });
    };
    window.addEventListener("resize", later);
    if (window.ResizeObserver && layout) new ResizeObserver(later).observe(layout);
  }
  // Round ticks [value, label] covering [a, b], about `count` of them.
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
  // The plane's frame: the square plot at (M.l, M.t) of side S showing `box`
  // (x1_min, x1_max, x2_min, x2_max); px/py map data to canvas coordinates.
  function plane(M, S, box) {
    return {
      M, S, box,
      px: (x1) => M.l + (x1 - box[0]) / (box[1] - box[0]) * S,
      py: (x2) => M.t + (box[3] - x2) / (box[3] - box[2]) * S,
    };
  }
  // The frame, ticks and x1 / x2 labels around a plane's plot.
  function drawAxes(g, f) {
    const { M, S, box } = f;
    g.strokeStyle = "#9ca3af"; g.lineWidth = 1; g.strokeRect(M.l + .5, M.t + .5, S - 1, S - 1);
    g.fillStyle = "#4b5563"; g.font = FONT; g.textAlign = "center"; g.textBaseline = "top";
    const count = Math.max(3, Math.min(6, Math.round(S / 80)));
    for (const [v, s] of niceTicks(box[0], box[1], count)) {
      const x = f.px(v); g.fillRect(x - .5, M.t + S, 1, 4); g.fillText(s, x, M.t + S + 6);
    }
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const [v, s] of niceTicks(box[2], box[3], count)) {
      const y = f.py(v); g.fillRect(M.l - 4, y - .5, 4, 1); g.fillText(s, M.l - 6, y);
    }
    g.font = "italic 12px Georgia, serif"; g.textAlign = "center"; g.textBaseline = "alphabetic";
    g.fillText("x₁", M.l + S / 2, M.t + S + 31);
    g.save(); g.translate(11, M.t + S / 2); g.rotate(-Math.PI / 2);
    g.fillText("x₂", 0, 0); g.restore();
  }
  // Polylines (flat [x1, x2, x1, x2, ...] arrays) in data coordinates as one path.
  function tracePolylines(g, f, lines) {
    g.beginPath();
    for (const t of lines) {
      for (let k = 0; k < t.length / 2; k++) {
        const x = f.px(t[2 * k]), y = f.py(t[2 * k + 1]);
        if (k) g.lineTo(x, y); else g.moveTo(x, y);
      }
    }
  }
  // The true boundary in the house style: white dashes over a wider near-black halo, visible
  // on both ends of any colormap.
  const BOUNDARY = { halo: "rgba(12,12,12,.9)", haloWidth: 4.6, line: "#ffffff", width: 2,
    dash: [7, 5] };
  function drawBoundary(g, f, lines) {
    if (!lines.length) return;
    g.save();
    g.lineJoin = "round"; g.lineCap = "butt";
    tracePolylines(g, f, lines);
    g.setLineDash([]); g.lineWidth = BOUNDARY.haloWidth; g.strokeStyle = BOUNDARY.halo;
    g.stroke();
    g.setLineDash(BOUNDARY.dash); g.lineWidth = BOUNDARY.width; g.strokeStyle = BOUNDARY.line;
    g.stroke();
    g.restore();
  }
  // A legend entry for the boundary, drawn at (x, y) (its left end, mid-height), w px long.
  function boundaryKey(g, x, y, w) {
    g.save();
    g.beginPath(); g.moveTo(x, y); g.lineTo(x + w, y);
    g.lineWidth = BOUNDARY.haloWidth; g.strokeStyle = BOUNDARY.halo; g.stroke();
    g.setLineDash([5, 3]); g.lineWidth = BOUNDARY.width; g.strokeStyle = BOUNDARY.line;
    g.stroke();
    g.restore();
  }

  // ---- numbers -----------------------------------------------------------------------------------
  const fmt = (v, digits) => (Number.isFinite(v) ? v.toPrecision(digits) : "—");
  const signed = (v, digits) => (Math.abs(v) < 5e-7 ? "±0"
    : (v > 0 ? "+" : "−") + Math.abs(v).toPrecision(digits));
  // A readout: `text` shown, the full-precision `value` in its data-value attribute.
  function setValue(id, value, text) {
    const el = $(id); el.textContent = text; el.dataset.value = String(value);
  }
  // "x₁₂": k in subscript digits.
  const subscript = (k) => String(k).replace(/\d/g,
    (c) => String.fromCharCode(0x2080 + Number(c)));

  return {
    $, readData, decode, makeLUT, LUT, lut, lutCSS, classColour, classRGB, FONT, setupCanvas, plotSide,
    onResize, niceTicks, plane, drawAxes, drawBoundary, boundaryKey, fmt, signed, setValue,
    subscript,
  };
})();
