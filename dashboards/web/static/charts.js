// Small hand-drawn SVG charts: no library, nothing fetched from the network.
// Exposes window.Charts.line(el, spec) and window.Charts.bars(el, spec).
(function () {
  "use strict";

  const NS = "http://www.w3.org/2000/svg";
  const PAD = { top: 10, right: 14, bottom: 24, left: 46 };
  const PALETTE = ["#2857d6", "#d64545", "#2f9e6e", "#d98a0b", "#7b4fd6", "#0f8fa8",
    "#c2417f", "#6b7a1f", "#8a5a2b", "#4b5d79", "#e0641b", "#1f7a8c"];

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  function clear(container) {
    while (container.firstChild) container.removeChild(container.firstChild);
  }

  function empty(container, text) {
    clear(container);
    const div = document.createElement("div");
    div.className = "empty";
    div.textContent = text || "No data in this window";
    container.appendChild(div);
  }

  function niceTicks(min, max, count) {
    if (max <= min) max = min + 1;
    const raw = (max - min) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) ticks.push(+v.toFixed(10));
    return ticks;
  }

  function timeLabel(ms, spanMs) {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, "0");
    const day = `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}`;
    const hm = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}`;
    if (spanMs > 3 * 86400e3) return day.slice(5);
    if (hm === "00:00") return day.slice(5);
    return hm;
  }

  function frame(container, spec, yMin, yMax) {
    clear(container);
    const width = container.clientWidth || 600;
    const height = container.clientHeight || 260;
    const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": spec.label || "chart" }, container);
    const w = width - PAD.left - PAD.right;
    const h = height - PAD.top - PAD.bottom;
    const x = (t) => PAD.left + ((t - spec.start) / (spec.end - spec.start)) * w;
    const y = (v) => PAD.top + h - ((v - yMin) / (yMax - yMin)) * h;
    const axis = el("g", { class: "axis" }, svg);
    for (const v of niceTicks(yMin, yMax, 4)) {
      el("line", { class: "gridline", x1: PAD.left, x2: PAD.left + w, y1: y(v), y2: y(v) }, axis);
      const label = el("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, axis);
      label.textContent = (spec.yFormat || String)(v);
    }
    const span = spec.end - spec.start;
    const maxTicks = Math.max(2, Math.min(8, Math.floor(w / 90)));
    // Round UTC steps (15 min … 7 days), so ticks fall on whole hours and midnights.
    const steps = [15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080].map((m) => m * 60e3);
    const step = steps.find((s) => span / s <= maxTicks) || steps[steps.length - 1];
    for (let t = Math.ceil(spec.start / step) * step; t <= spec.end; t += step) {
      if (x(t) < PAD.left + 16 || x(t) > PAD.left + w - 16) continue;
      el("line", { class: "gridline", x1: x(t), x2: x(t), y1: PAD.top, y2: PAD.top + h }, axis);
      const label = el("text", { x: x(t), y: height - 6, "text-anchor": "middle" }, axis);
      label.textContent = timeLabel(t, span);
    }
    return { svg, x, y, w, h, width, height };
  }

  function tooltip(container, f, spec, rows) {
    const tip = document.createElement("div");
    tip.className = "tooltip";
    tip.hidden = true;
    container.appendChild(tip);
    const cursor = el("line", { x1: 0, x2: 0, y1: PAD.top, y2: PAD.top + f.h, stroke: "#98a4b5", "stroke-dasharray": "3 3", visibility: "hidden" }, f.svg);
    const overlay = el("rect", { x: PAD.left, y: PAD.top, width: f.w, height: f.h, fill: "transparent" }, f.svg);
    overlay.addEventListener("mousemove", (ev) => {
      const box = f.svg.getBoundingClientRect();
      const px = ((ev.clientX - box.left) / box.width) * f.width;
      const t = spec.start + ((px - PAD.left) / f.w) * (spec.end - spec.start);
      const lines = rows(t);
      if (!lines) return;
      cursor.setAttribute("x1", f.x(lines.t));
      cursor.setAttribute("x2", f.x(lines.t));
      cursor.setAttribute("visibility", "visible");
      tip.textContent = "";
      const head = document.createElement("div");
      head.textContent = new Date(lines.t).toISOString().slice(0, 16).replace("T", " ") + " UTC";
      tip.appendChild(head);
      for (const line of lines.items) {
        const row = document.createElement("div");
        row.textContent = line;
        tip.appendChild(row);
      }
      tip.hidden = false;
      const left = Math.min(ev.clientX - box.left + 12, box.width - tip.offsetWidth - 4);
      tip.style.left = `${Math.max(0, left)}px`;
      tip.style.top = "8px";
    });
    overlay.addEventListener("mouseleave", () => { tip.hidden = true; cursor.setAttribute("visibility", "hidden"); });
  }

  function legend(container, series, onClick) {
    const div = document.createElement("div");
    div.className = "legend";
    series.forEach((s) => {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = s.color;
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(s.name));
      if (onClick) item.addEventListener("click", () => onClick(s.name));
      div.appendChild(item);
    });
    container.parentNode.insertBefore(div, container.nextSibling);
    return div;
  }

  function nearest(points, t) {
    let best = null;
    for (const p of points) if (best === null || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
    return best;
  }

  // spec: {start, end, series: [{name, color?, points: [[ms, value|null]], dashed?}], yMin?, yMax?, yFormat, onLegendClick?}
  function line(container, spec) {
    const old = container.nextSibling;
    if (old && old.classList && old.classList.contains("legend")) old.remove();
    const series = spec.series.map((s, i) => ({ ...s, color: s.color || PALETTE[i % PALETTE.length] }));
    const values = series.flatMap((s) => s.points.map((p) => p[1]).filter((v) => v !== null));
    if (values.length === 0) return empty(container);
    const yMin = spec.yMin !== undefined ? spec.yMin : Math.min(...values);
    const yMax = spec.yMax !== undefined ? spec.yMax : Math.max(...values) * 1.1 || 1;
    const f = frame(container, spec, yMin, yMax);
    let drawn = 0;
    for (const s of series) {
      const g = el("g", { class: "series", "data-name": s.name }, f.svg);
      let d = "";
      let pen = false;
      for (const [t, v] of s.points) {
        if (v === null) { pen = false; continue; }
        d += `${pen ? "L" : "M"}${f.x(t).toFixed(1)},${f.y(v).toFixed(1)}`;
        pen = true;
      }
      el("path", { d, fill: "none", stroke: s.color, "stroke-width": s.width || 2, "stroke-linejoin": "round", "stroke-dasharray": s.dashed ? "5 4" : "none" }, g);
      const radius = s.points.length > 60 ? 1.4 : 2.2;
      for (const [t, v] of s.points) {
        if (v === null) continue;
        el("circle", { class: "point", cx: f.x(t).toFixed(1), cy: f.y(v).toFixed(1), r: radius, fill: s.color }, g);
        drawn++;
      }
    }
    f.svg.setAttribute("data-points", drawn);
    tooltip(container, f, spec, (t) => {
      const items = [];
      let at = null;
      for (const s of series) {
        const p = nearest(s.points.filter((q) => q[1] !== null), t);
        if (!p) continue;
        at = at === null ? p[0] : at;
        items.push(`${s.name}: ${(spec.yFormat || String)(p[1])}`);
      }
      return at === null ? null : { t: at, items };
    });
    legend(container, series, spec.onLegendClick);
  }

  // spec: {start, end, stepMs, layers: [{name, color, values: [[ms, n]]}]} stacked bars.
  function bars(container, spec) {
    const old = container.nextSibling;
    if (old && old.classList && old.classList.contains("legend")) old.remove();
    const totals = new Map();
    for (const layer of spec.layers) for (const [t, v] of layer.values) totals.set(t, (totals.get(t) || 0) + v);
    const max = Math.max(0, ...totals.values());
    if (max === 0) return empty(container);
    const f = frame(container, spec, 0, max * 1.1);
    const bw = Math.max(1, (spec.stepMs / (spec.end - spec.start)) * f.w - 1);
    const base = new Map();
    let drawn = 0;
    for (const layer of spec.layers) {
      const g = el("g", { class: "layer", "data-name": layer.name }, f.svg);
      for (const [t, v] of layer.values) {
        if (!v) continue;
        const below = base.get(t) || 0;
        el("rect", { class: "point", x: f.x(t).toFixed(1), y: f.y(below + v).toFixed(1), width: bw.toFixed(1), height: Math.max(0.5, f.y(below) - f.y(below + v)).toFixed(1), fill: layer.color }, g);
        base.set(t, below + v);
        drawn++;
      }
    }
    f.svg.setAttribute("data-points", drawn);
    tooltip(container, f, spec, (t) => {
      const times = [...totals.keys()];
      if (!times.length) return null;
      const at = times.reduce((a, b) => (Math.abs(b - t) < Math.abs(a - t) ? b : a));
      const items = spec.layers.map((l) => `${l.name}: ${(l.values.find((p) => p[0] === at) || [0, 0])[1]}`);
      return { t: at, items };
    });
    legend(container, spec.layers.map((l) => ({ name: l.name, color: l.color })));
  }

  // A tiny inline sparkline (no axes) as an SVG element.
  function spark(values, color) {
    const width = 90;
    const height = 22;
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "spark" });
    const pts = values.map((v, i) => [i, v]).filter((p) => p[1] !== null);
    if (pts.length < 1) return svg;
    const n = Math.max(1, values.length - 1);
    const d = pts.map(([i, v], k) => `${k ? "L" : "M"}${((i / n) * (width - 2) + 1).toFixed(1)},${(height - 2 - v * (height - 4)).toFixed(1)}`).join("");
    el("path", { d, fill: "none", stroke: color, "stroke-width": 1.5 }, svg);
    return svg;
  }

  window.Charts = { line, bars, spark, empty, PALETTE };
})();
