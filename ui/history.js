// Redline dashboard: the History section. Charts drawn as inline SVG from
// GET /api/v1/history?account=ID&range=day|week; no build step, no chart library.
// Colours follow the page (currentColor and the page's CSS variables) so light and dark both
// work, and every series carries a text label and its own line style: colour is never the
// only signal. Every value from the server goes in through textContent, never as HTML.

import { transport as dashboardTransport } from "./transport.js";
import { causeName, windowShortName, compact, millis, newestOnly } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
// Charts are drawn at the width they are shown at, so text is its real size from a 360 px
// popover to a full window.
const MIN_WIDTH = 280;
const MAX_WIDTH = 960;
const HEIGHT = 180;
const PAD = { left: 44, right: 96, top: 12, bottom: 24 };
const DASHES = ["", "6 3", "2 3", "10 4 2 4", "1 5"];

/** Draws the History section into `container`, asking the engine through `transport`
 * (`ui/transport.js`: HTTP in a browser, Tauri commands in the desktop app). */
export async function renderHistory(container, transport = dashboardTransport) {
  const state = { account: null, range: "day" };
  container.replaceChildren();
  const controls = el("div", { class: "history-controls" });
  const body = el("div", { class: "history-body", "aria-live": "polite" });
  container.append(controls, body);

  let accounts = [];
  try {
    const status = await transport.status();
    accounts = Array.isArray(status && status.accounts) ? status.accounts : [];
  } catch (err) {
    body.replaceChildren(failure(`Could not load the accounts: ${describe(err)}`));
    return;
  }
  if (accounts.length === 0) {
    body.replaceChildren(message("No accounts yet: add a key to start a history."));
    return;
  }
  state.account = String(accounts[0].id);

  const select = el("select", { "aria-label": "Account" });
  for (const account of accounts) {
    const option = el("option", { value: String(account.id) });
    option.textContent = account.label ? `${account.label} (${account.id})` : String(account.id);
    select.append(option);
  }
  select.addEventListener("change", () => {
    state.account = select.value;
    load();
  });
  const ranges = el("span", { role: "group", "aria-label": "Range" });
  const buttons = ["day", "week"].map((range) => {
    const button = el("button", { type: "button", "data-range": range });
    button.textContent = range === "day" ? "Last day" : "Last week";
    button.addEventListener("click", () => {
      state.range = range;
      load();
    });
    ranges.append(button);
    return button;
  });
  const label = el("label");
  label.append(text("Account "), select);
  controls.append(label, text(" "), ranges);

  const requests = newestOnly();
  async function load() {
    const request = requests.ticket();
    for (const button of buttons) {
      button.setAttribute("aria-pressed", String(button.dataset.range === state.range));
    }
    body.replaceChildren(message("Loading the history…"));
    const width = Math.round(Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, body.clientWidth || 640)));
    try {
      const history = await transport.history(state.account, state.range);
      if (!requests.isNewest(request)) return;
      body.replaceChildren(...charts(history || {}, width));
    } catch (err) {
      if (requests.isNewest(request)) body.replaceChildren(failure(`Could not load the history: ${describe(err)}`));
    }
  }
  await load();
}

/** The four charts, or a plain message when there is nothing yet. */
function charts(history, width) {
  const from = Date.parse(history.from);
  const to = Date.parse(history.to);
  if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
    return [message("The history answer was not understood.")];
  }
  const windows = Array.isArray(history.windows) ? history.windows : [];
  // Room on the right for the longest end-of-line label ("month (booster) 100%", about 6.5 px
  // a character at 11 px), the same for every chart so their time axes line up.
  const longest = Math.max(0, ...windows.map((w) => `${windowName(w.window)} 100%`.length));
  const right = Math.max(PAD.right, Math.min(width / 2, 8 + longest * 6.5));
  const span = { from, to, week: history.range === "week", width, right };
  const throttles = Array.isArray(history.throttles) ? history.throttles : [];
  const requests = Array.isArray(history.requests) ? history.requests : [];
  return [usageChart(windows, span), throttleChart(throttles, span), trafficChart(requests, span), tokenChart(requests, span)];
}

function usageChart(windows, span) {
  const figure = chartFigure("Quota used");
  const series = windows
    .map((w) => ({
      name: windowName(w.window),
      points: (Array.isArray(w.points) ? w.points : [])
        .filter((p) => p.used_ratio != null)
        .map((p) => [Date.parse(p.at), Number(p.used_ratio)])
        .filter(([t, v]) => Number.isFinite(t) && Number.isFinite(v)),
    }))
    .filter((s) => s.points.length > 0);
  if (series.length === 0) {
    figure.append(message("No usage recorded in this range yet."));
    return figure;
  }
  const svg = frame(span, 1, (v) => `${Math.round(v * 100)}%`, "Share of each window used");
  const x = xScale(span);
  const y = yScale(1);
  const summary = [];
  const labels = [];
  series.forEach((s, i) => {
    const d = s.points
      .map(([t, v], j) => `${j ? "L" : "M"}${x(t).toFixed(1)},${y(Math.min(v, 1)).toFixed(1)}`)
      .join(" ");
    svg.append(
      svgEl("path", {
        d,
        fill: "none",
        stroke: "currentColor",
        "stroke-width": "2",
        "stroke-dasharray": DASHES[i % DASHES.length],
      }),
    );
    // A dot on the latest sample: a series of one sample has no line to draw.
    const [lastT, lastV] = s.points[s.points.length - 1];
    svg.append(svgEl("circle", { cx: x(lastT), cy: y(Math.min(lastV, 1)), r: 3, fill: "currentColor" }));
    const peak = Math.max(...s.points.map(([, v]) => v));
    labels.push({ x: x(lastT) + 6, y: y(Math.min(lastV, 1)) + 4, text: `${s.name} ${pct(lastV)}` });
    summary.push(`${s.name}: now ${pct(lastV)}, highest ${pct(peak)}`);
  });
  // End-of-line labels, nudged apart so they never overlap.
  labels.sort((a, b) => a.y - b.y);
  labels.forEach((l, i) => {
    if (i > 0) l.y = Math.max(l.y, labels[i - 1].y + 12);
    const label = svgEl("text", { x: l.x, y: l.y, "font-size": "11", fill: "currentColor" });
    label.textContent = l.text;
    svg.append(label);
  });
  figure.append(svg, note(summary.join(" · ")));
  return figure;
}

function throttleChart(hours, span) {
  const figure = chartFigure("Throttles per hour, by cause");
  const rows = hours
    .map((h) => ({ at: Date.parse(h.at), total: Number(h.total) || 0, byCause: h.by_cause || {} }))
    .filter((h) => Number.isFinite(h.at) && h.total > 0);
  if (rows.length === 0) {
    figure.append(message("No throttles in this range."));
    return figure;
  }
  const max = evenCeiling(Math.max(...rows.map((h) => h.total)));
  const svg = frame(span, max, (v) => String(Math.round(v)), "Refusals per hour");
  const x = xScale(span);
  const y = yScale(max);
  const causes = [...new Set(rows.flatMap((h) => Object.keys(h.byCause)))].sort();
  const hourWidth = Math.max(2, x(span.from + 3600e3) - x(span.from) - 1);
  const plotEnd = span.width - span.right;
  for (const hour of rows) {
    // The current hour is cut at the end of the range.
    const width = Math.max(2, Math.min(hourWidth, plotEnd - x(hour.at)));
    let base = 0;
    causes.forEach((cause, i) => {
      const n = Number(hour.byCause[cause]) || 0;
      if (n === 0) return;
      const rect = svgEl("rect", {
        x: x(hour.at),
        y: y(base + n),
        width,
        height: Math.max(1, y(base) - y(base + n)),
        fill: "currentColor",
        "fill-opacity": String(0.85 - (i % 4) * 0.2),
      });
      const title = svgEl("title");
      title.textContent = `${moment(hour.at, span.week)}: ${n} × ${causeName(cause)}`;
      rect.append(title);
      svg.append(rect);
      base += n;
    });
  }
  figure.append(svg);
  // The numbers as text, one line per cause, so nothing depends on telling shades apart.
  const totals = causes.map((cause) => {
    const n = rows.reduce((sum, h) => sum + (Number(h.byCause[cause]) || 0), 0);
    return `${causeName(cause)}: ${n}`;
  });
  const worst = rows.reduce((a, b) => (b.total > a.total ? b : a));
  figure.append(
    note(`${totals.join(" · ")}. Worst hour: ${moment(worst.at, span.week)} with ${worst.total}.`),
  );
  return figure;
}

function trafficChart(buckets, span) {
  const figure = chartFigure("Requests and in flight");
  const rows = buckets
    .map((b) => ({
      at: Date.parse(b.at),
      requests: Number(b.requests) || 0,
      errors: Number(b.errors) || 0,
      inFlight: b.in_flight_max == null ? null : Number(b.in_flight_max),
      queueMax: b.queue_wait_ms_max == null ? null : Number(b.queue_wait_ms_max),
    }))
    .filter((b) => Number.isFinite(b.at));
  const total = rows.reduce((sum, b) => sum + b.requests, 0);
  const flights = rows.filter((b) => Number.isFinite(b.inFlight));
  if (total === 0 && flights.length === 0) {
    figure.append(message("No proxied requests in this range."));
    return figure;
  }
  const maxRequests = evenCeiling(Math.max(1, ...rows.map((b) => b.requests)));
  const maxFlight = Math.max(1, ...flights.map((b) => b.inFlight));
  const svg = frame(span, maxRequests, (v) => String(Math.round(v)), "Requests per bucket");
  const x = xScale(span);
  const y = yScale(maxRequests);
  const step = rows.length > 1 ? x(rows[1].at) - x(rows[0].at) : 4;
  // Bars at least 2 px wide, so a single busy bucket still shows.
  for (const b of rows.filter((b) => b.requests > 0)) {
    const bar = svgEl("rect", {
      x: x(b.at),
      y: y(b.requests),
      width: Math.max(2, step - 1),
      height: Math.max(1, y(0) - y(b.requests)),
      fill: "currentColor",
      "fill-opacity": "0.35",
    });
    const title = svgEl("title");
    title.textContent = `${moment(b.at, span.week)}: ${b.requests} requests, ${b.errors} errors`;
    bar.append(title);
    svg.append(bar);
  }
  if (flights.length > 0) {
    // In flight on its own scale, drawn as a dashed line and labelled on the right.
    const yf = yScale(maxFlight);
    const d = flights
      .map((b, j) => `${j ? "L" : "M"}${(x(b.at) + step / 2).toFixed(1)},${yf(b.inFlight).toFixed(1)}`)
      .join(" ");
    svg.append(
      svgEl("path", { d, fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-dasharray": "4 2" }),
    );
    const label = svgEl("text", { x: span.width - span.right + 6, y: yf(maxFlight) + 10, "font-size": "11", fill: "currentColor" });
    label.textContent = `in flight (max ${maxFlight})`;
    svg.append(label);
  }
  const barsLabel = svgEl("text", { x: span.width - span.right + 6, y: HEIGHT - PAD.bottom - 4, "font-size": "11", fill: "currentColor" });
  barsLabel.textContent = "bars: requests";
  svg.append(barsLabel);
  const errors = rows.reduce((sum, b) => sum + b.errors, 0);
  const busiest = flights.length ? flights.reduce((a, b) => (b.inFlight > a.inFlight ? b : a)) : null;
  const parts = [`${total} requests, ${errors} with an error`];
  if (busiest) parts.push(`most in flight: ${busiest.inFlight} at ${moment(busiest.at, span.week)}`);
  // A request that went straight through still spends a fraction of a millisecond passing the
  // queue: only a wait a person would notice is named.
  const waits = rows.filter((b) => Number.isFinite(b.queueMax) && b.queueMax >= 5);
  if (waits.length) {
    const longest = waits.reduce((a, b) => (b.queueMax > a.queueMax ? b : a));
    parts.push(`longest wait in Redline's queue: ${millis(longest.queueMax)} at ${moment(longest.at, span.week)}`);
  }
  figure.append(svg, note(parts.join(" · ")));
  return figure;
}

/** Input and output tokens per bucket, two lines on one scale, each labelled and dashed its own way. */
function tokenChart(buckets, span) {
  const figure = chartFigure("Tokens in and out");
  const rows = buckets
    .map((b) => ({ at: Date.parse(b.at), input: Number(b.input_tokens) || 0, output: Number(b.output_tokens) || 0 }))
    .filter((b) => Number.isFinite(b.at));
  const totalIn = rows.reduce((sum, b) => sum + b.input, 0);
  const totalOut = rows.reduce((sum, b) => sum + b.output, 0);
  if (totalIn + totalOut === 0) {
    figure.append(message("No tokens counted in this range."));
    return figure;
  }
  const max = evenCeiling(Math.max(1, ...rows.map((b) => Math.max(b.input, b.output))));
  const svg = frame(span, max, (v) => compact(v), "Tokens per bucket, input and output");
  const x = xScale(span);
  const y = yScale(max);
  const step = rows.length > 1 ? x(rows[1].at) - x(rows[0].at) : 4;
  [["input", "in", ""], ["output", "out", "6 3"]].forEach(([field, name, dash]) => {
    const d = rows
      .map((b, j) => `${j ? "L" : "M"}${(x(b.at) + step / 2).toFixed(1)},${y(b[field]).toFixed(1)}`)
      .join(" ");
    svg.append(svgEl("path", { d, fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-dasharray": dash }));
    const peak = rows.reduce((a, b) => (b[field] > a[field] ? b : a));
    const label = svgEl("text", { x: span.width - span.right + 6, y: y(peak[field]) + (field === "input" ? 4 : 16), "font-size": "11", fill: "currentColor" });
    label.textContent = `${name}: ${field === "input" ? "solid" : "dashed"}`;
    svg.append(label);
  });
  figure.append(svg, note(`${compact(totalIn)} input tokens, ${compact(totalOut)} output tokens in this range`));
  return figure;
}

/** An SVG with the time axis, a value axis from 0 to `max` and gridlines. */
function frame(span, max, format, description) {
  const svg = svgEl("svg", {
    viewBox: `0 0 ${span.width} ${HEIGHT}`,
    width: "100%",
    role: "img",
    "aria-label": description,
    style: "max-width:100%;height:auto;overflow:visible;color:var(--fg, currentColor)",
  });
  const x = xScale(span);
  const y = yScale(max);
  const muted = "var(--muted, currentColor)";
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    svg.append(
      svgEl("line", {
        x1: PAD.left,
        x2: span.width - span.right,
        y1: y(value),
        y2: y(value),
        stroke: muted,
        "stroke-opacity": fraction === 0 ? "0.8" : "0.3",
      }),
    );
    const label = svgEl("text", { x: PAD.left - 6, y: y(value) + 4, "font-size": "10", "text-anchor": "end", fill: muted });
    label.textContent = format(value);
    svg.append(label);
  }
  // As many time labels as fit without touching (about 70 px each).
  const ticks = Math.max(2, Math.min(span.week ? 7 : 6, Math.floor((span.width - PAD.left - span.right) / 70)));
  for (let i = 0; i <= ticks; i++) {
    const t = span.from + ((span.to - span.from) * i) / ticks;
    const label = svgEl("text", { x: x(t), y: HEIGHT - 6, "font-size": "10", "text-anchor": "middle", fill: muted });
    label.textContent = clock(t, span.week);
    svg.append(label);
  }
  return svg;
}

function xScale({ from, to, width, right }) {
  return (t) => PAD.left + ((t - from) / (to - from)) * (width - PAD.left - right);
}

/** Counts are labelled at 0, half and the top: an even top keeps the half a whole number. */
function evenCeiling(n) {
  return Math.ceil(n / 2) * 2;
}

function yScale(max) {
  return (v) => HEIGHT - PAD.bottom - (v / (max || 1)) * (HEIGHT - PAD.top - PAD.bottom);
}

/** One hour or bucket: the time, and in a week also the day. */
function moment(t, week) {
  const time = new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  return week ? `${new Date(t).toLocaleDateString(undefined, { weekday: "short", day: "numeric" })} ${time}` : time;
}

/** An axis label: the time in a day, the day in a week. */
function clock(t, week) {
  const date = new Date(t);
  return week
    ? date.toLocaleDateString(undefined, { weekday: "short", day: "numeric" })
    : date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** `5h`, `week (opus)` from a series key (`five_hour`, `weekly:opus`). */
function windowName(key) {
  const [kind, scope] = String(key || "").split(":");
  return windowShortName({ kind, scope });
}

function pct(v) {
  return `${Math.round(v * 100)}%`;
}

function describe(err) {
  if (err && err.error && err.error.message) return err.error.message;
  return (err && err.message) || String(err);
}

function chartFigure(title) {
  const figure = el("figure", { class: "history-chart" });
  const caption = el("figcaption");
  caption.textContent = title;
  figure.append(caption);
  return figure;
}

function message(textContent) {
  const p = el("p", { class: "history-message" });
  p.textContent = textContent;
  return p;
}

function failure(textContent) {
  const p = el("p", { class: "history-message error", role: "alert" });
  p.textContent = textContent;
  return p;
}

function note(textContent) {
  const p = el("p", { class: "history-note" });
  p.textContent = textContent;
  return p;
}

function text(value) {
  return document.createTextNode(value);
}

function el(name, attributes = {}) {
  const node = document.createElement(name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function svgEl(name, attributes = {}) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}
