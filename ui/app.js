// The dashboard: follows the engine's status live and shows one section at a time
// (#overview, #events, #keys, #tools, #settings, #history).

import { transport } from "./transport.js";
import { h, level, resetsIn, ago, useVocabulary } from "./format.js";
import { renderOverview } from "./overview.js";
import { mountEvents } from "./events.js";
import { mountKeys } from "./keys.js";
import { mountSettings } from "./settings.js";
import { mountTools, withCode } from "./tools.js";

const VIEWS = ["overview", "events", "keys", "tools", "settings", "history"];

const app = {
  transport,
  status: null,
  listeners: new Set(),
  /** Calls `callback(status)` on every status change (at most a few times a second). */
  onStatus(callback) {
    this.listeners.add(callback);
    if (this.status) callback(this.status);
  },
  toolListeners: new Set(),
  /** Calls `callback(notice)` for each notice of the engine's watch over the tools' files. */
  onToolNotice(callback) {
    this.toolListeners.add(callback);
  },
};

const mounted = {};

function show(view) {
  if (!VIEWS.includes(view)) view = "overview";
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.dataset.view !== view;
  }
  for (const link of document.querySelectorAll("#tabs a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!mounted[view]) mounted[view] = mount(view);
  else mounted[view].shown?.();
}

function mount(view) {
  const container = document.getElementById(view);
  switch (view) {
    case "events":
      return mountEvents(container, app);
    case "keys":
      return mountKeys(container, app);
    case "tools":
      return mountTools(container, app);
    case "settings":
      return mountSettings(container, app);
    case "history":
      return mountHistory(container);
    default:
      return true;
  }
}

/** The history charts are another module; the dashboard works without them. */
async function mountHistory(container) {
  container.textContent = "Loading the history…";
  try {
    const { renderHistory } = await import("./history.js");
    container.textContent = "";
    await renderHistory(container, transport);
  } catch (error) {
    container.textContent = `History is not available in this version of Redline (${error.message}). The overview shows what is happening now.`;
  }
}

function showOverall(status) {
  const overall = document.getElementById("overall");
  const l = level(status.level);
  const count = status.accounts.length;
  overall.className = `overall level-${status.level}`;
  overall.replaceChildren();
  const glyph = document.createElement("span");
  glyph.className = "glyph";
  glyph.setAttribute("aria-hidden", "true");
  glyph.textContent = l.glyph;
  overall.append(
    glyph,
    count === 0
      ? " No accounts yet: add a key under Keys."
      : ` ${l.word}: ${l.sentence} (${count} account${count === 1 ? "" : "s"})`,
  );
  document.getElementById("demo-banner").hidden = !status.demo;
  document.title = `${l.word} · Redline`;
}

// Status can change several times a second under load: draw at most every 400 ms.
let pending = null;
let lastDraw = 0;
function receive(status) {
  app.status = status;
  if (pending) return;
  const wait = Math.max(0, 400 - (Date.now() - lastDraw));
  pending = setTimeout(() => {
    pending = null;
    lastDraw = Date.now();
    draw(app.status);
  }, wait);
}

function draw(status) {
  showOverall(status);
  renderOverview(document.getElementById("cards"), status, document.getElementById("agents-line"));
  for (const listener of app.listeners) listener(status);
}

function connection(ok, message) {
  const banner = document.getElementById("connection");
  banner.hidden = ok;
  if (!ok) banner.textContent = message || "Lost the connection to Redline; trying again… Is it still running?";
}

/** A notice of the tool watch: a line under the header (with a way to the Tools view), and
 * to the views that follow them. */
function toolNotice(notice) {
  const banner = document.getElementById("tool-notice");
  banner.querySelector(".text").replaceChildren(h("strong", {}, `${notice.summary}.`), " ", ...withCode(notice.body));
  banner.hidden = false;
  for (const listener of app.toolListeners) listener(notice);
}

/** Countdowns and "ago" times tick every second without waiting for a status change. */
function tick() {
  const now = Date.now();
  for (const element of document.querySelectorAll("[data-resets-at]")) {
    element.textContent = resetsIn(element.dataset.resetsAt, now);
  }
  for (const element of document.querySelectorAll("[data-ago]")) {
    element.textContent = ago(element.dataset.ago, now);
  }
}

async function refreshNow(button) {
  button.disabled = true;
  button.textContent = "Refreshing…";
  try {
    receive(await transport.refresh());
    connection(true);
  } catch (error) {
    connection(false, error.message);
  } finally {
    button.disabled = false;
    button.textContent = "Refresh now";
  }
}

/** The demo banner's way out: the Keys view, with the add form's first field focused. */
function addRealKey() {
  if (location.hash !== "#keys") history.pushState(null, "", "#keys");
  show("keys");
  mounted.keys.focusAddForm();
}

/** The engine's words for levels, causes, providers and windows, before anything is drawn. */
async function loadVocabulary() {
  try {
    useVocabulary(await transport.vocabulary());
  } catch (error) {
    // The page still works, showing ids where names would be.
    connection(false, `Could not load Redline's words for the dashboard: ${error.message}`);
  }
}

async function start() {
  await loadVocabulary();
  const refresh = document.getElementById("refresh");
  refresh.addEventListener("click", () => refreshNow(refresh));
  document.getElementById("add-real-key").addEventListener("click", addRealKey);
  const notice = document.getElementById("tool-notice");
  notice.querySelector(".dismiss").addEventListener("click", () => {
    notice.hidden = true;
  });
  notice.querySelector("a").addEventListener("click", () => {
    notice.hidden = true;
  });
  window.addEventListener("hashchange", () => show(location.hash.slice(1)));
  show(location.hash.slice(1));
  try {
    receive(await transport.status());
  } catch (error) {
    connection(false, error.message);
  }
  transport.subscribe(
    receive,
    (ok) => {
      if (ok) connection(true);
      else
        transport.status().then(
          () => connection(false),
          (error) => connection(false, error.message),
        );
    },
    toolNotice,
  );
  setInterval(tick, 1000);
}

start();
