// Charts of the finsent web view, drawn by uPlot (vendored by `make setup` from the Maven
// Central webjar into static/vendor/uplot, never a CDN). Exposes window.Charts:
//   line(el, spec), bars(el, spec): an interactive chart; drag selects a range to zoom into
//     (spec.onRange), Shift+drag pans (spec.onRange at the end), alert bands are shaded
//     (spec.bands) and clicking one calls spec.onBandClick.
//   spark(values, color): a tiny inline SVG sparkline (no library needed).
//   available(): whether uPlot loaded; busy(): whether a drag on a chart is under way.
(function () {
  "use strict";

  const SVG = "http://www.w3.org/2000/svg";
  const HEIGHT = 240;
  const PALETTE = ["#2857d6", "#d64545", "#2f9e6e", "#d98a0b", "#7b4fd6", "#0f8fa8",
    "#c2417f", "#6b7a1f", "#8a5a2b", "#4b5d79", "#e0641b", "#1f7a8c"];
  const BAND = { critical: "rgba(214, 69, 69, 0.16)", warning: "rgba(217, 138, 11, 0.16)", resolved: "rgba(47, 158, 110, 0.12)" };
  const COUNTS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6]; // whole documents
  const MISSING = "Chart library not installed: run `make setup` (it fetches uPlot), then reload.";

  const available = () => typeof window.uPlot === "function";

  function message(container, text, cls) {
    destroy(container);
    const div = document.createElement("div");
    div.className = cls || "empty";
    div.textContent = text;
    container.replaceChildren(div);
  }

  function destroy(container) {
    if (container._uplot) container._uplot.destroy();
    container._uplot = null;
    container.replaceChildren();
  }

  const utc = (s) => new Date(s * 1e3).toISOString().slice(0, 16).replace("T", " ") + " UTC";

  // Time axis labels in UTC, 24-hour: "14:00", or the date at midnight and on long spans.
  function timeLabels(u, splits) {
    const span = u.scales.x.max - u.scales.x.min;
    return splits.map((s) => {
      const text = new Date(s * 1e3).toISOString();
      const hm = text.slice(11, 16);
      return span > 3 * 86400 || hm === "00:00" ? text.slice(5, 10) : hm;
    });
  }

  // Alert windows [from, to) (ms) shaded under the series; a click inside one opens it.
  function bandsPlugin(spec) {
    const bands = spec.bands || [];
    let down = null;
    const at = (u, ev) => {
      const t = u.posToVal(ev.offsetX, "x") * 1e3;
      return bands.find((b) => b.from <= t && t < b.to);
    };
    return {
      hooks: {
        init: [(u) => {
          u.over.addEventListener("mousedown", (ev) => { down = [ev.clientX, ev.clientY]; });
          u.over.addEventListener("click", (ev) => {
            const moved = down && Math.hypot(ev.clientX - down[0], ev.clientY - down[1]) > 3;
            const band = moved ? null : at(u, ev);
            if (band && spec.onBandClick) spec.onBandClick(band.alert);
          });
          u.over.addEventListener("mousemove", (ev) => { u.over.style.cursor = at(u, ev) ? "pointer" : ""; });
        }],
        drawClear: [(u) => {
          const { left, top, width, height } = u.bbox;
          let shown = 0;
          u.ctx.save();
          for (const b of bands) {
            const x0 = Math.max(left, u.valToPos(b.from / 1e3, "x", true));
            const x1 = Math.min(left + width, u.valToPos(b.to / 1e3, "x", true));
            if (x1 <= x0) continue;
            u.ctx.fillStyle = BAND[b.kind] || BAND.warning;
            u.ctx.fillRect(x0, top, x1 - x0, height);
            shown++;
          }
          u.ctx.restore();
          u.root.parentNode && (u.root.parentNode.dataset.bands = shown);
        }],
      },
    };
  }

  // Shift+drag moves the window; the new range is reported once the button is released.
  function panPlugin(spec) {
    return {
      hooks: {
        init: [(u) => {
          u.root.addEventListener("mousedown", (ev) => {
            if (!ev.shiftKey || !u.over.contains(ev.target)) return;
            ev.stopPropagation(); // uPlot's own drag-select must not start
            ev.preventDefault();
            const x0 = ev.clientX;
            u._panning = true;
            const { min, max } = u.scales.x;
            const perPx = (max - min) / u.over.clientWidth;
            const move = (e) => u.setScale("x", { min: min - (e.clientX - x0) * perPx, max: max - (e.clientX - x0) * perPx });
            const up = (e) => {
              window.removeEventListener("mousemove", move);
              window.removeEventListener("mouseup", up);
              const shift = (e.clientX - x0) * perPx;
              if (Math.abs(e.clientX - x0) > 3 && spec.onRange) spec.onRange((min - shift) * 1e3, (max - shift) * 1e3);
            };
            window.addEventListener("mousemove", move);
            window.addEventListener("mouseup", up);
          }, true);
        }],
      },
    };
  }

  function make(container, spec, series, data, yRange, yFormat, yIncrs) {
    destroy(container);
    if (!available()) return message(container, MISSING, "missing-lib");
    const opts = {
      width: container.clientWidth || 600,
      height: HEIGHT,
      tzDate: (s) => window.uPlot.tzDate(new Date(s * 1e3), "Etc/UTC"),
      // The x range is the window asked for, not the data's extent; while panning it follows the mouse.
      scales: { x: { time: true, range: (u, min, max) => (u._panning ? [min, max] : [spec.start / 1e3, spec.end / 1e3]) }, y: { range: yRange } },
      series: [{ value: (u, v) => (v === null || v === undefined ? "–" : utc(v)) }, ...series],
      axes: [{ stroke: "#6a7585", grid: { stroke: "#eef1f5" }, values: timeLabels },
        { stroke: "#6a7585", grid: { stroke: "#eef1f5" }, size: 52, incrs: yIncrs, values: (u, vals) => vals.map(yFormat) }],
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { live: true },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 4) return;
          const from = u.posToVal(u.select.left, "x") * 1e3;
          const to = u.posToVal(u.select.left + u.select.width, "x") * 1e3;
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          if (spec.onRange) spec.onRange(from, to);
        }],
      },
      plugins: [bandsPlugin(spec), panPlugin(spec)],
    };
    const u = new window.uPlot(opts, data, container);
    container._uplot = u;
    container.dataset.from = String(spec.start);
    container.dataset.to = String(spec.end);
    return u;
  }

  const seconds = (points) => points.map((p) => p[0] / 1e3);

  // spec: {start, end, series: [{name, color?, points: [[ms, value|null]], dashed?}], yMin?, yMax?, yFormat, bands?}
  function line(container, spec) {
    const series = spec.series.map((s, i) => ({ ...s, color: s.color || PALETTE[i % PALETTE.length] }));
    const drawn = series.reduce((n, s) => n + s.points.filter((p) => p[1] !== null).length, 0);
    container.dataset.points = String(drawn);
    if (!available()) return message(container, MISSING, "missing-lib");
    if (drawn === 0) return message(container, "No data in this window");
    const yFormat = spec.yFormat || String;
    const data = [seconds(series[0].points), ...series.map((s) => s.points.map((p) => p[1]))];
    const yRange = spec.yMin !== undefined ? [spec.yMin, spec.yMax] : undefined;
    make(container, spec, series.map((s) => ({
      label: s.name, stroke: s.color, width: s.width || 2, dash: s.dashed ? [5, 4] : undefined,
      spanGaps: false, points: { size: series[0].points.length > 60 ? 3 : 5 },
      value: (u, v) => (v === null || v === undefined ? "–" : yFormat(v)),
    })), data, yRange, yFormat);
  }

  // spec: {start, end, stepMs, layers: [{name, color, values: [[ms, n]]}], bands?} stacked bars.
  function bars(container, spec) {
    const layers = spec.layers;
    const times = layers[0].values.map((p) => p[0]);
    const raw = layers.map((l) => l.values.map((p) => p[1] || 0));
    const drawn = raw.reduce((n, vals) => n + vals.filter((v) => v > 0).length, 0);
    container.dataset.points = String(drawn);
    if (!available()) return message(container, MISSING, "missing-lib");
    if (drawn === 0) return message(container, "No data in this window");
    // Stacked: each layer is drawn as the running total, biggest first, so the ones on
    // top of the stack are painted last; the legend shows each layer's own count.
    const stacked = raw.map((_, i) => times.map((__, k) => raw.slice(0, i + 1).reduce((a, v) => a + v[k], 0)));
    const order = layers.map((_, i) => layers.length - 1 - i);
    const bar = window.uPlot.paths.bars({ size: [0.9, Infinity], align: 1 });
    const max = Math.max(...stacked[stacked.length - 1]);
    make(container, spec, order.map((i) => ({
      label: layers[i].name, stroke: layers[i].color, fill: layers[i].color, width: 0, paths: bar, points: { show: false },
      value: (u, v, si, idx) => (idx === null ? "–" : String(raw[i][idx])),
    })), [times.map((t) => t / 1e3), ...order.map((i) => stacked[i])], [0, max * 1.1], String, COUNTS);
  }

  // A tiny inline sparkline (no axes) as an SVG element.
  function spark(values, color) {
    const width = 90;
    const height = 22;
    const svg = document.createElementNS(SVG, "svg");
    for (const [k, v] of Object.entries({ width, height, viewBox: `0 0 ${width} ${height}`, class: "spark" })) svg.setAttribute(k, String(v));
    const pts = values.map((v, i) => [i, v]).filter((p) => p[1] !== null);
    if (pts.length < 1) return svg;
    const n = Math.max(1, values.length - 1);
    const d = pts.map(([i, v], k) => `${k ? "L" : "M"}${((i / n) * (width - 2) + 1).toFixed(1)},${(height - 2 - v * (height - 4)).toFixed(1)}`).join("");
    const path = document.createElementNS(SVG, "path");
    for (const [k, v] of Object.entries({ d, fill: "none", stroke: color, "stroke-width": 1.5 })) path.setAttribute(k, String(v));
    svg.appendChild(path);
    return svg;
  }

  // While a mouse button is down on a chart (a zoom or pan under way), the page does not
  // redraw: a refresh would destroy the selection. Capture runs before uPlot's handlers.
  let pressed = false;
  document.addEventListener("mousedown", (ev) => { pressed = Boolean(ev.target.closest && ev.target.closest(".u-over")); }, true);
  document.addEventListener("mouseup", () => { pressed = false; }, true);
  const busy = () => pressed;

  // Charts follow the page width.
  window.addEventListener("resize", () => {
    for (const el of document.querySelectorAll(".chart")) {
      if (el._uplot) el._uplot.setSize({ width: el.clientWidth, height: HEIGHT });
    }
  });

  window.Charts = { line, bars, spark, available, busy, MISSING, PALETTE };
})();
