// The finsent web view: polls the JSON API and redraws. Read-only; no external code.
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const state = {
    namespace: null,
    hours: 24,
    ticker: null,
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

  function windowSpec(win) {
    return { start: ms(win.start), end: ms(win.end), stepMs: win.step_s * 1000 };
  }

  function scoreCell(score) {
    const shown = Number(score.toFixed(2));
    return node("span", { class: `score ${shown < 0 ? "neg" : shown > 0 ? "pos" : ""}` }, signed(score, 2));
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
    const spec = windowSpec(ov.window);
    const top = ov.tickers.slice(0, 8);
    const steps = smoothing(m);
    for (const id of ["hint-negative", "hint-score"]) $(id).textContent = `trailing ${smoothingHint(ov.window, steps)} · step ${smoothingHint(ov.window, 1)}`;
    Charts.line($("chart-negative"), {
      ...spec, label: "negative share by ticker", yMin: 0, yMax: 1, yFormat: (v) => `${Math.round(v * 100)}%`,
      series: [...top.map((s) => ({ name: s.value, points: rolling(s, "negative_share", steps) })),
        { name: "market", color: COLORS.market, dashed: true, points: rolling(m, "negative_share", steps) }],
      onLegendClick: (name) => name !== "market" && openTicker(name),
    });
    Charts.line($("chart-score"), {
      ...spec, label: "mean score by ticker", yMin: -1, yMax: 1, yFormat: (v) => v.toFixed(1),
      series: [...top.map((s) => ({ name: s.value, points: rolling(s, "mean_score", steps) })),
        { name: "market", color: COLORS.market, dashed: true, points: rolling(m, "mean_score", steps) }],
      onLegendClick: (name) => name !== "market" && openTicker(name),
    });
    Charts.bars($("chart-volume"), { ...spec, layers: volumeLayers(m) });
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
    return node("details", { class: "alert" },
      node("summary", {}, node("span", { class: `badge ${badge}` }, a.state === "resolved" ? "resolved" : a.severity),
        node("strong", {}, `${a.series.kind === "all" ? "market" : a.series.value}`), node("span", {}, a.rule),
        node("span", { class: "stats" }, `${utc(a.window_start)} · observed ${a.observed.toFixed(3)} vs baseline ${a.baseline.toFixed(3)} · z ${a.z_score.toFixed(1)} · ${a.doc_count} docs`)),
      evidence);
  }

  function evidenceItem(e) {
    const title = e.url ? node("a", { href: e.url, target: "_blank", rel: "noopener noreferrer" }, e.snippet || e.document_id) : node("span", {}, e.snippet || e.document_id);
    return node("li", {}, title, node("div", { class: "meta" }, scoreCell(e.score), ` · ${utc(e.published_at)} · ${e.document_id}`));
  }

  function renderAlerts(container, alerts) {
    container.replaceChildren(...(alerts.length ? alerts.map(alertCard) : [node("div", { class: "none" }, "No alerts in this namespace")]));
  }

  // -- topics and health -----------------------------------------------------------------

  function renderTopics(view) {
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
    history.replaceState(null, "", `#${encodeURIComponent(state.namespace)}/${encodeURIComponent(ticker)}`);
    for (const row of document.querySelectorAll("#tickers tr[data-ticker]")) row.classList.toggle("selected", row.dataset.ticker === ticker);
    await loadTicker();
    $("drilldown").scrollIntoView({ behavior: "smooth", block: "start" });
  }

  async function loadTicker() {
    if (!state.ticker) return;
    const d = await api(`/namespaces/${state.namespace}/tickers/${encodeURIComponent(state.ticker)}?hours=${state.hours}`);
    if (!d) return;
    const box = $("drilldown");
    box.hidden = false;
    $("drill-title").textContent = d.ticker.value;
    $("drill-hint").textContent = `${utc(d.window.start)} → ${utc(d.window.end)} · step ${d.window.step_s / 60} min`;
    const t = d.ticker;
    $("drill-kpis").replaceChildren(
      kpi("Documents", num(t.totals.count), `previous ${num(t.previous.count)}`),
      kpi("Negative share", pct(t.totals.negative_share), `${pp(t.change)} vs previous`, t.change > 0 ? "up" : t.change < 0 ? "down" : ""),
      kpi("Mean score", t.totals.mean_score === null ? "–" : signed(t.totals.mean_score, 3), `market ${d.market.totals.mean_score === null ? "–" : signed(d.market.totals.mean_score, 3)}`),
      kpi("Alerts", num(d.alerts.length), "for this ticker"));
    const spec = windowSpec(d.window);
    const steps = smoothing(t);
    $("drill-negative-hint").textContent = `trailing ${smoothingHint(d.window, steps)}`;
    Charts.line($("drill-negative"), {
      ...spec, label: `negative share of ${t.value}`, yMin: 0, yMax: 1, yFormat: (v) => `${Math.round(v * 100)}%`,
      series: [{ name: t.value, color: "#2857d6", points: rolling(t, "negative_share", steps) },
        { name: "market", color: COLORS.market, dashed: true, points: rolling(d.market, "negative_share", steps) }],
    });
    Charts.bars($("drill-volume"), { ...spec, layers: volumeLayers(t) });
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

  async function refresh() {
    const status = $("status");
    try {
      const info = await loadNamespaces();
      if (!info) {
        status.textContent = "no data yet";
        return;
      }
      const ns = state.namespace;
      const [ov, alerts, topics, health] = await Promise.all([
        api(`/namespaces/${ns}/overview?hours=${state.hours}`),
        api(`/namespaces/${ns}/alerts?limit=30`),
        api(`/namespaces/${ns}/topics?hours=${state.hours}`),
        api("/health"),
      ]);
      if (ov) renderOverview(ov, alerts.length);
      renderAlerts($("alerts"), alerts);
      if (topics) renderTopics(topics);
      renderHealth(health);
      if (state.ticker) await loadTicker();
      status.classList.remove("error");
      status.textContent = `data as of ${utc(info.watermark)} · refreshed ${new Date().toISOString().slice(11, 19)} UTC`;
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
    const [ns, ticker] = location.hash.slice(1).split("/").map(decodeURIComponent);
    if (ns) state.namespace = ns;
    if (ticker) state.ticker = ticker;
    try {
      const config = await api("/config");
      state.refreshS = config.refresh_s;
      state.hours = config.default_window_h;
    } catch (err) { /* defaults stay */ }
    const windowSelect = $("window");
    if (![...windowSelect.options].some((o) => Number(o.value) === state.hours)) {
      windowSelect.append(node("option", { value: state.hours }, `${state.hours} hours`));
    }
    windowSelect.value = String(state.hours);
    windowSelect.addEventListener("change", () => { state.hours = Number(windowSelect.value); refresh(); });
    $("namespace").addEventListener("change", (ev) => {
      state.namespace = ev.target.value;
      state.ticker = null;
      $("drilldown").hidden = true;
      history.replaceState(null, "", `#${encodeURIComponent(state.namespace)}`);
      refresh();
    });
    $("drill-close").addEventListener("click", () => { state.ticker = null; $("drilldown").hidden = true; });
    await refresh();
    schedule();
  }

  start();
})();
