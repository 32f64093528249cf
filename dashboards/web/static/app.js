// The finsent web view: polls the JSON API and redraws. Read-only; no external code.
// The view lives in the URL (?ns=&ticker=&from=&to=&alert=, or ?hours= for a preset ending
// at the newest event), so a copied URL opens the same view; zooming rewrites it in place.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const state = {
    namespace: null,
    hours: 24,
    from: null, // a free range [from, to) in epoch ms, or null for the preset `hours`
    to: null,
    ticker: null,
    alert: null, // incident id of the alert opened from the list or a band
    shown: null, // the window the server answered with {start, end} (ms)
    alerts: [],
    refreshS: 15,
    token: sessionStorage.getItem("finsent-token"),
    timer: null,
  };
  const COLORS = { negative: "#d64545", neutral: "#9aa5b4", positive: "#2f9e6e", market: "#121a26" };
  const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
  const num = (v) => (v === null || v === undefined ? "–" : v.toLocaleString("en-US"));
  const signed = (v, digits) => {
    if (v === null || v === undefined) return "–";
    const text = Math.abs(v).toFixed(digits);
    if (Number(text) === 0) return text; // no sign on a value that rounds to zero
    return `${v > 0 ? "+" : "−"}${text}`;
  };
  const pp = (v) => (v === null || v === undefined ? "–" : `${signed(v * 100, 1)} pp`);
  const utc = (iso) => (iso ? iso.replace("T", " ").slice(0, 16) + " UTC" : "–");
  const ms = (iso) => Date.parse(iso);

  async function api(path) {
    const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
    const response = await fetch(`/api/v1${path}`, { headers });
    if (response.status === 401) {
      const token = window.prompt("This finsent view needs an access token:");
      if (token) {
        state.token = token;
        sessionStorage.setItem("finsent-token", token);
        return api(path);
      }
    }
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function node(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") n.className = v;
      else if (k === "dataset") Object.assign(n.dataset, v);
      else n.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) n.append(c instanceof Node ? c : String(c));
    return n;
  }

  function kpi(label, value, delta, deltaClass) {
    return node("div", { class: "kpi" }, node("div", { class: "label" }, label), node("div", { class: "value" }, value),
      node("div", { class: `delta ${deltaClass || ""}` }, delta || "\u00a0"));
  }

  function seriesPoints(summary, key) {
    return summary.points.map((p) => [ms(p.t), p[key]]);
  }

  // Ratios over a trailing run of steps: single sparse steps swing between 0 and 100 %.
  function smoothing(summary) {
    return Math.max(1, Math.round(summary.points.length / 10));
  }

  function rolling(summary, key, steps) {
    const out = [];
    let count = 0;
    let part = 0;
    summary.points.forEach((p, i) => {
      count += p.count;
      part += key === "negative_share" ? p.negative : (p.mean_score || 0) * p.count;
      if (i >= steps) {
        const old = summary.points[i - steps];
        count -= old.count;
        part -= key === "negative_share" ? old.negative : (old.mean_score || 0) * old.count;
      }
      out.push([ms(p.t), count > 0 ? part / count : null]);
    });
    return out;
  }

  function smoothingHint(win, steps) {
    const minutes = (win.step_s * steps) / 60;
    return minutes >= 60 ? `${+(minutes / 60).toFixed(1)} h` : `${minutes} min`;
  }

  // What every chart shares: the window, the alert bands and what a zoom, pan or band click does.
  function windowSpec(win, alerts) {
    return {
      start: ms(win.start), end: ms(win.end), stepMs: win.step_s * 1000,
      bands: bands(alerts), onRange: setRange, onBandClick: openAlert,
    };
  }

  function scoreCell(score) {
    const shown = Number(score.toFixed(2));
    return node("span", { class: `score ${shown < 0 ? "neg" : shown > 0 ? "pos" : ""}` }, signed(score, 2));
  }

  // -- the view in the URL ---------------------------------------------------------------

  // A time in the URL: epoch milliseconds or anything Date.parse reads (ISO 8601).
  function parseTime(text) {
    if (text === null || text === "") return null;
    const t = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
    return Number.isFinite(t) ? t : NaN;
  }

  const iso = (t) => new Date(t).toISOString().replace(".000Z", "Z");

  function readUrl() {
    const q = new URLSearchParams(location.search);
    // Older links carry #namespace/ticker.
    const [hashNs, hashTicker] = location.hash.slice(1).split("/").map(decodeURIComponent);
    state.namespace = q.get("ns") || hashNs || null;
    state.ticker = q.get("ticker") || hashTicker || null;
    state.alert = q.get("alert");
    if (q.get("hours") && Number(q.get("hours")) > 0) state.hours = Number(q.get("hours"));
    const from = parseTime(q.get("from"));
    const to = parseTime(q.get("to"));
    if (Number.isNaN(from) || Number.isNaN(to) || (from !== null) !== (to !== null) || (from !== null && from >= to)) {
      return "the URL's from/to is not a range (ISO 8601 or epoch ms, from before to); showing a preset";
    }
    state.from = from;
    state.to = to;
    return null;
  }

  function writeUrl() {
    const q = new URLSearchParams();
    if (state.namespace) q.set("ns", state.namespace);
    if (state.ticker) q.set("ticker", state.ticker);
    if (state.from !== null) {
      q.set("from", iso(state.from));
      q.set("to", iso(state.to));
    } else {
      q.set("hours", String(state.hours));
    }
    if (state.alert) q.set("alert", state.alert);
    history.replaceState(null, "", `${location.pathname}?${q.toString()}`);
  }

  // The API's window parameters for the current view.
  function range() {
    return state.from !== null ? `start=${encodeURIComponent(iso(state.from))}&end=${encodeURIComponent(iso(state.to))}` : `hours=${state.hours}`;
  }

  function setRange(from, to) {
    // The store's finest step is a minute; the API serves at most 400 days.
    const span = Math.min(400 * 86400e3, Math.max(60e3, to - from));
    state.from = Math.round(from);
    state.to = Math.round(from + span);
    syncWindowSelect();
    writeUrl();
    return refresh();
  }

  function syncWindowSelect() {
    const select = $("window");
    select.value = state.from !== null ? "custom" : String(state.hours);
    $("range-custom").textContent = state.from !== null ? `${utc(iso(state.from))} → ${utc(iso(state.to))}` : "custom range";
  }

  // Buttons: move the window by half its length, or double it around its middle.
  function shiftRange(factor) {
    if (!state.shown) return;
    const span = state.shown.end - state.shown.start;
    setRange(state.shown.start + span * factor, state.shown.end + span * factor);
  }

  function zoomOut() {
    if (!state.shown) return;
    const span = state.shown.end - state.shown.start;
    setRange(state.shown.start - span / 2, state.shown.end + span / 2);
  }

  // The CSV of the series a chart shows, over the window the server answered with.
  function csvLink(id, series, win) {
    const a = $(id);
    const q = new URLSearchParams();
    for (const s of series) q.append("series", `${s.kind}:${s.value}`);
    q.set("start", win.start);
    q.set("end", win.end);
    a.href = `/api/v1/namespaces/${encodeURIComponent(state.namespace)}/series.csv?${q.toString()}`;
    a.hidden = false;
  }

  // With a bearer token a plain link would be refused: fetch with the header, save the blob.
  document.addEventListener("click", async (ev) => {
    const a = ev.target.closest && ev.target.closest("a.csv");
    if (!a || !state.token) return;
    ev.preventDefault();
    const response = await fetch(a.href, { headers: { Authorization: `Bearer ${state.token}` } });
    const named = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
    const url = URL.createObjectURL(await response.blob());
    const save = node("a", { href: url, download: named ? named[1] : "finsent.csv" });
    save.click();
    URL.revokeObjectURL(url);
  });

  // Alert windows as chart bands; a click on one opens the alert.
  function bands(alerts) {
    return alerts.map((a) => ({ from: ms(a.window_start), to: ms(a.window_end), kind: a.state === "resolved" ? "resolved" : a.severity, alert: a }));
  }

  // Open an alert: its ticker (the market for a market-wide alert) at its window, with one
  // window of context either side, and its evidence shown in the drill-down.
  function openAlert(a) {
    const start = ms(a.window_start);
    const end = ms(a.window_end);
    const span = end - start;
    state.alert = a.incident_id;
    state.ticker = a.series.kind === "ticker" ? a.series.value : null;
    if (!state.ticker) $("drilldown").hidden = true;
    setRange(start - span, end + span).then(() => {
      const target = state.ticker ? $("drilldown") : $("chart-negative");
      target.scrollIntoView({ block: "start" });
    });
  }

  // -- overview ------------------------------------------------------------------------

  function renderOverview(ov, alertCount) {
    const m = ov.market;
    const k = $("kpis");
    k.replaceChildren(
      kpi("Documents", num(m.totals.count), `previous window ${num(m.previous.count)}`),
      kpi("Negative share", pct(m.totals.negative_share), `${pp(m.change)} vs previous`, m.change > 0 ? "up" : m.change < 0 ? "down" : ""),
      kpi("Mean score", m.totals.mean_score === null ? "–" : signed(m.totals.mean_score, 3), "−1 bearish … +1 bullish"),
      kpi("Tickers", num(ov.tickers_total), `top ${ov.tickers.length} shown`),
      kpi("Alerts", num(alertCount), "state changes in the log", alertCount ? "up" : ""),
    );
    const spec = windowSpec(ov.window, state.alerts);
    state.shown = { start: ms(ov.window.start), end: ms(ov.window.end) };
    const top = ov.tickers.slice(0, 8);
    const steps = smoothing(m);
    for (const id of ["hint-negative", "hint-score"]) $(id).textContent = `trailing ${smoothingHint(ov.window, steps)} · step ${smoothingHint(ov.window, 1)}`;
    const chartTickers = [...top.map((s) => ({ kind: s.kind, value: s.value })), { kind: "all", value: "all" }];
    csvLink("csv-negative", chartTickers, ov.window);
    csvLink("csv-score", chartTickers, ov.window);
    csvLink("csv-volume", [{ kind: "all", value: "all" }], ov.window);
    Charts.line($("chart-negative"), {
      ...spec, label: "negative share by ticker", yMin: 0, yMax: 1, yFormat: (v) => `${Math.round(v * 100)}%`,
      series: [...top.map((s) => ({ name: s.value, points: rolling(s, "negative_share", steps) })),
        { name: "market", color: COLORS.market, dashed: true, points: rolling(m, "negative_share", steps) }],
    });
    Charts.line($("chart-score"), {
      ...spec, label: "mean score by ticker", yMin: -1, yMax: 1, yFormat: (v) => v.toFixed(1),
      series: [...top.map((s) => ({ name: s.value, points: rolling(s, "mean_score", steps) })),
        { name: "market", color: COLORS.market, dashed: true, points: rolling(m, "mean_score", steps) }],
    });
    Charts.bars($("chart-volume"), { ...spec, layers: volumeLayers(m) });
    csvLink("csv-tickers", [...ov.tickers.map((s) => ({ kind: s.kind, value: s.value })), { kind: "all", value: "all" }], ov.window);
    renderTickerTable(ov);
  }

  function volumeLayers(summary) {
    return ["negative", "neutral", "positive"].map((key) => ({
      name: key, color: COLORS[key], values: summary.points.map((p) => [ms(p.t), p[key]]),
    }));
  }

  function renderTickerTable(ov) {
    const table = $("tickers");
    const head = node("tr", {}, node("th", {}, "Ticker"), node("th", { class: "num" }, "Docs"),
      node("th", {}, "Negative share"), node("th", { class: "num" }, "Δ"), node("th", { class: "num" }, "Mean"), node("th", {}, "Trend"));
    const rows = ov.tickers.map((s, i) => {
      const share = s.totals.negative_share || 0;
      const row = node("tr", { class: `clickable${s.value === state.ticker ? " selected" : ""}`, dataset: { ticker: s.value } },
        node("td", { class: "ticker-name" }, s.value),
        node("td", { class: "num" }, num(s.totals.count)),
        node("td", {}, node("div", { class: "share" }, node("div", { class: "bar", title: pct(share) }, node("i", { style: `width:${(share * 100).toFixed(1)}%` })), node("span", {}, pct(s.totals.negative_share)))),
        node("td", { class: `num ${s.change > 0 ? "up" : s.change < 0 ? "down" : ""}` }, pp(s.change)),
        node("td", { class: "num" }, s.totals.mean_score === null ? "–" : scoreCell(s.totals.mean_score)),
        node("td", {}, Charts.spark(rolling(s, "negative_share", smoothing(s)).map((p) => p[1]), Charts.PALETTE[i % Charts.PALETTE.length])));
      row.addEventListener("click", () => openTicker(s.value));
      return row;
    });
    table.replaceChildren(node("thead", {}, head), node("tbody", {}, ...rows));
    if (!rows.length) table.replaceChildren(node("tbody", {}, node("tr", {}, node("td", { class: "none" }, "No tickers in this window"))));
  }

  // -- alerts --------------------------------------------------------------------------

  function alertCard(a) {
    const badge = a.state === "resolved" ? "resolved" : a.severity;
    const evidence = a.evidence.length
      ? node("ol", { class: "evidence" }, ...a.evidence.map(evidenceItem))
      : node("div", { class: "none" }, "no evidence attached");
    const open = node("button", { type: "button", class: "ghost open-alert", title: "Open this alert's series at its window" }, "open at window");
    open.addEventListener("click", (ev) => { ev.preventDefault(); openAlert(a); });
    const opened = a.incident_id === state.alert; // its evidence shows without a click
    return node("details", { class: `alert${opened ? " selected" : ""}`, dataset: { incident: a.incident_id }, ...(opened ? { open: "" } : {}) },
      node("summary", {}, node("span", { class: `badge ${badge}` }, a.state === "resolved" ? "resolved" : a.severity),
        node("strong", {}, `${a.series.kind === "all" ? "market" : a.series.value}`), node("span", {}, a.rule),
        node("span", { class: "stats" }, `${utc(a.window_start)} → ${utc(a.window_end)} · observed ${a.observed.toFixed(3)} vs baseline ${a.baseline.toFixed(3)} · z ${a.z_score.toFixed(1)} · ${a.doc_count} docs`),
        open),
      evidence);
  }

  function evidenceItem(e) {
    const title = e.url ? node("a", { href: e.url, target: "_blank", rel: "noopener noreferrer" }, e.snippet || e.document_id) : node("span", {}, e.snippet || e.document_id);
    return node("li", { dataset: { document: e.document_id } }, title, node("div", { class: "meta" }, scoreCell(e.score), ` · ${utc(e.published_at)} · ${e.document_id}`));
  }

  function renderAlerts(container, alerts) {
    container.replaceChildren(...(alerts.length ? alerts.map(alertCard) : [node("div", { class: "none" }, "No alerts in this namespace")]));
  }

  // -- topics and health -----------------------------------------------------------------

  function renderTopics(view) {
    if (view.topics.length) csvLink("csv-topics", view.topics.map((s) => ({ kind: s.kind, value: s.value })), view.window);
    const rows = view.topics.map((s) => node("tr", {},
      node("td", {}, s.value.replace(/-/g, " ")),
      node("td", { class: "num" }, num(s.totals.count)),
      node("td", {}, node("div", { class: "bar" }, node("i", { style: `width:${((s.totals.negative_share || 0) * 100).toFixed(1)}%` }))),
      node("td", { class: "num" }, pct(s.totals.negative_share)),
      node("td", { class: `num ${s.change > 0 ? "up" : s.change < 0 ? "down" : ""}` }, pp(s.change))));
    $("topics").replaceChildren(
      node("thead", {}, node("tr", {}, node("th", {}, "Topic"), node("th", { class: "num" }, "Docs"), node("th", {}, ""), node("th", { class: "num" }, "Negative"), node("th", { class: "num" }, "Δ"))),
      node("tbody", {}, ...rows));
  }

  const HEALTH_CARDS = [
    ["finsent_ingest_documents_total", "Documents ingested", num],
    ["finsent_inference_documents_total", "Documents scored", num],
    ["finsent_inference_dlq_total", "Dead letters", num],
    ["finsent_inference_consumer_lag_seconds", "Consumer lag", (v) => `${v.toFixed(1)} s`],
    ["finsent_inference_consumer_lag_messages", "Lag (messages)", num],
    ["finsent_inference_batch_size_p50", "Batch size p50", num],
    ["finsent_inference_model_latency_seconds_p95", "Model latency p95", (v) => `${(v * 1000).toFixed(0)} ms`],
    ["finsent_inference_end_to_end_latency_seconds_p95", "End-to-end p95", (v) => `${v.toFixed(2)} s`],
    ["finsent_alerts_state_changes_total", "Alert state changes", num],
    ["finsent_ingest_dead_letters_total", "Ingest dead letters", num],
  ];

  function renderHealth(h) {
    const cards = [];
    if (h.source === "prometheus") {
      for (const s of h.services) {
        cards.push(kpi("Service", node("span", {}, node("span", { class: `dot ${s.up ? "ok" : "bad"}` }), s.up ? "up" : "down"), new URL(s.url).host));
      }
      for (const [name, label, fmt] of HEALTH_CARDS) {
        if (name in h.summary) cards.push(kpi(label, fmt(h.summary[name]), name));
      }
    }
    for (const ns of h.namespaces) {
      cards.push(kpi(`Namespace ${ns.name}`, num(ns.documents), `newest event ${utc(ns.watermark)}`));
    }
    $("health").replaceChildren(...cards);
    $("health-source").textContent = h.source === "prometheus"
      ? `from ${h.services.length} Prometheus endpoint(s) · store backend ${h.store_backend}`
      : `store statistics (backend ${h.store_backend}); set FINSENT_WEB_METRICS_URLS for service metrics`;
  }

  // -- drill-down ------------------------------------------------------------------------

  async function openTicker(ticker) {
    state.ticker = ticker;
    state.alert = null;
    writeUrl();
    for (const row of document.querySelectorAll("#tickers tr[data-ticker]")) row.classList.toggle("selected", row.dataset.ticker === ticker);
    await loadTicker();
    $("drilldown").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  // The opened alert: its window and its own evidence (the documents it fired on).
  function renderOpenAlert(a) {
    const box = $("drill-alert");
    box.hidden = !a;
    if (!a) return;
    box.replaceChildren(
      node("h3", {}, `Alert · ${a.rule} · ${utc(a.window_start)} → ${utc(a.window_end)}`),
      node("div", { class: "stats" }, `${a.state} · ${a.severity} · observed ${a.observed.toFixed(3)} vs baseline ${a.baseline.toFixed(3)} · z ${a.z_score.toFixed(1)} · ${a.doc_count} docs`),
      a.evidence.length ? node("ol", { class: "evidence" }, ...a.evidence.map(evidenceItem)) : node("div", { class: "none" }, "no evidence attached"));
  }

  async function loadTicker() {
    if (!state.ticker) return;
    const d = await api(`/namespaces/${state.namespace}/tickers/${encodeURIComponent(state.ticker)}?${range()}`);
    if (!d) return;
    const box = $("drilldown");
    box.hidden = false;
    if (!changed("ticker", [d, state.alert, state.alerts])) return;
    box.dataset.ticker = d.ticker.value;
    $("drill-title").textContent = d.ticker.value;
    $("drill-hint").textContent = `${utc(d.window.start)} → ${utc(d.window.end)} · step ${d.window.step_s / 60} min`;
    const t = d.ticker;
    $("drill-kpis").replaceChildren(
      kpi("Documents", num(t.totals.count), `previous ${num(t.previous.count)}`),
      kpi("Negative share", pct(t.totals.negative_share), `${pp(t.change)} vs previous`, t.change > 0 ? "up" : t.change < 0 ? "down" : ""),
      kpi("Mean score", t.totals.mean_score === null ? "–" : signed(t.totals.mean_score, 3), `market ${d.market.totals.mean_score === null ? "–" : signed(d.market.totals.mean_score, 3)}`),
      kpi("Alerts", num(d.alerts.length), "for this ticker"));
    const spec = windowSpec(d.window, d.alerts);
    const steps = smoothing(t);
    $("drill-negative-hint").textContent = `trailing ${smoothingHint(d.window, steps)}`;
    csvLink("drill-csv-negative", [{ kind: "ticker", value: t.value }, { kind: "all", value: "all" }], d.window);
    csvLink("drill-csv-volume", [{ kind: "ticker", value: t.value }], d.window);
    Charts.line($("drill-negative"), {
      ...spec, label: `negative share of ${t.value}`, yMin: 0, yMax: 1, yFormat: (v) => `${Math.round(v * 100)}%`,
      series: [{ name: t.value, color: "#2857d6", points: rolling(t, "negative_share", steps) },
        { name: "market", color: COLORS.market, dashed: true, points: rolling(d.market, "negative_share", steps) }],
    });
    Charts.bars($("drill-volume"), { ...spec, layers: volumeLayers(t) });
    renderOpenAlert(state.alert ? [...d.alerts, ...state.alerts].find((a) => a.incident_id === state.alert) : null);
    $("drill-evidence").replaceChildren(...(d.evidence.length ? d.evidence.map(evidenceItem) : [node("li", { class: "none" }, "No evidence kept for this window")]));
    renderAlerts($("drill-alerts"), d.alerts);
  }

  // -- refresh loop ----------------------------------------------------------------------

  async function loadNamespaces() {
    const list = await api("/namespaces");
    const select = $("namespace");
    const current = state.namespace;
    select.replaceChildren(...list.map((n) => node("option", { value: n.name }, `${n.name} (${num(n.documents)})`)));
    if (!list.length) return null;
    const names = list.map((n) => n.name);
    state.namespace = names.includes(current) ? current : names[0];
    select.value = state.namespace;
    return list.find((n) => n.name === state.namespace);
  }

  let generation = 0;

  // A refresh redraws only what changed: a replay's data stands still, and a redraw would
  // reset a tooltip, a table's scroll or a chart selection the analyst is making.
  const drawn = new Map();
  function changed(key, value) {
    const text = JSON.stringify(value);
    if (drawn.get(key) === text || Charts.busy()) return false;
    drawn.set(key, text);
    return true;
  }

  async function refresh() {
    const status = $("status");
    const mine = ++generation; // a newer refresh (a zoom while loading) wins
    document.body.dataset.loaded = "false";
    try {
      const info = await loadNamespaces();
      if (!info) {
        status.textContent = "no data yet";
        return;
      }
      const ns = state.namespace;
      const [ov, alerts, topics, health] = await Promise.all([
        api(`/namespaces/${ns}/overview?${range()}`),
        api(`/namespaces/${ns}/alerts?limit=30`),
        api(`/namespaces/${ns}/topics?${range()}`),
        api("/health"),
      ]);
      if (mine !== generation) return;
      state.alerts = alerts;
      if (ov && changed("overview", [ov, alerts, state.ticker])) renderOverview(ov, alerts.length);
      if (changed("alerts", [alerts, state.alert])) renderAlerts($("alerts"), alerts);
      if (topics && changed("topics", topics)) renderTopics(topics);
      if (changed("health", health)) renderHealth(health);
      if (state.ticker) await loadTicker();
      if (mine !== generation) return;
      status.classList.remove("error");
      const lib = Charts.available() ? "" : " · charts unavailable: run make setup";
      status.textContent = `data as of ${utc(info.watermark)} · refreshed ${new Date().toISOString().slice(11, 19)} UTC${lib}`;
      document.body.dataset.loaded = "true";
    } catch (err) {
      status.classList.add("error");
      status.textContent = `refresh failed: ${err.message}`;
    }
  }

  function schedule() {
    clearInterval(state.timer);
    state.timer = setInterval(refresh, state.refreshS * 1000);
  }

  async function start() {
    try {
      const config = await api("/config");
      state.refreshS = config.refresh_s;
      state.hours = config.default_window_h;
    } catch (err) { /* defaults stay */ }
    const problem = readUrl();
    const windowSelect = $("window");
    if (![...windowSelect.options].some((o) => Number(o.value) === state.hours)) {
      windowSelect.append(node("option", { value: state.hours }, `${state.hours} hours`));
    }
    syncWindowSelect();
    windowSelect.addEventListener("change", () => {
      if (windowSelect.value === "custom") return;
      state.hours = Number(windowSelect.value);
      state.from = state.to = null;
      syncWindowSelect();
      writeUrl();
      refresh();
    });
    $("namespace").addEventListener("change", (ev) => {
      state.namespace = ev.target.value;
      state.ticker = state.alert = null;
      state.from = state.to = null;
      $("drilldown").hidden = true;
      syncWindowSelect();
      writeUrl();
      refresh();
    });
    $("pan-earlier").addEventListener("click", () => shiftRange(-0.5));
    $("pan-later").addEventListener("click", () => shiftRange(0.5));
    $("zoom-out").addEventListener("click", zoomOut);
    $("drill-close").addEventListener("click", () => { state.ticker = state.alert = null; $("drilldown").hidden = true; writeUrl(); });
    if (!Charts.available()) $("lib-missing").hidden = false;
    await refresh();
    if (state.namespace) writeUrl();
    if (problem) {
      $("status").classList.add("error");
      $("status").textContent = problem;
    }
    schedule();
  }

  start();
})();
