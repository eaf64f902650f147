// Pure helpers: words and numbers for what the engine reports, and a tiny DOM builder.

// The engine's words for the ids in the status (GET /api/v1/vocabulary): level words and
// glyphs, cause, provider and window names. The engine judges every level; this page only
// prints them. Until the words arrive, and for an id this engine does not know, the id itself
// is shown.
const words = { levels: new Map(), causes: new Map(), providers: new Map(), windows: new Map() };
let causeList = [];

/** Takes the engine's vocabulary; every name below comes from it. */
export function useVocabulary(vocabulary) {
  for (const list of Object.keys(words)) {
    const entries = Array.isArray(vocabulary?.[list]) ? vocabulary[list] : [];
    words[list] = new Map(entries.map((entry) => [entry.id, entry]));
  }
  causeList = [...words.causes.keys()];
}

/** A level's word, glyph and sentence, so colour is never the only signal. */
export function level(name) {
  return words.levels.get(name) || { id: name, word: String(name), glyph: "?", sentence: "", phrase: String(name) };
}

export function causeName(cause) {
  return words.causes.get(cause)?.name || cause;
}

/** What to do about a cause, in a few words (empty when the engine has none). */
export function adviceTitle(cause) {
  return words.causes.get(cause)?.advice_title || "";
}

/** Every cause the engine classifies refusals into, in its order. */
export function causeIds() {
  return causeList;
}

export function providerName(id) {
  return words.providers.get(id)?.name || id;
}

/** A window's name, with its scope: `Monthly (booster)`. */
export function windowName(window) {
  const name = words.windows.get(window.kind)?.name || String(window.kind).replaceAll("_", " ");
  return window.scope ? `${name} (${window.scope})` : name;
}

/** `5h`, `week (opus)`: for charts. */
export function windowShortName(window) {
  const name = words.windows.get(window.kind)?.short || String(window.kind).replaceAll("_", " ");
  return window.scope ? `${name} (${window.scope})` : name;
}

/** `1d 3h`, `1h 12m`, `4m 10s`, `12s`. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return h ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** `resets in 1h 12m`, or `resets now` once the moment has passed. */
export function resetsIn(resetsAt, now = Date.now()) {
  const seconds = (Date.parse(resetsAt) - now) / 1000;
  return seconds > 0 ? `resets in ${duration(seconds)}` : "resets now";
}

/** `12s ago`, `4m 10s ago`. */
export function ago(at, now = Date.now()) {
  return `${duration((now - Date.parse(at)) / 1000)} ago`;
}

export function number(value, unit) {
  if (value === null || value === undefined) return "?";
  if (unit === "usd" || unit === "cny") {
    return `${unit === "usd" ? "$" : "¥"}${value.toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  }
  return value.toLocaleString("en", { maximumFractionDigits: 1 });
}

const UNITS = { requests: "requests", tokens: "tokens", credits: "credits", percent: "%", usd: "", cny: "" };

/** `420 / 1,000 requests`, `86 / 100 %`, `$50.00 / $200.00`. */
export function usedOfLimit(window) {
  const unit = UNITS[window.unit] ?? window.unit;
  const used = number(window.used, window.unit);
  const limit = number(window.limit, window.unit);
  if (window.unit === "percent") return `${used}%`;
  return `${used} / ${limit}${unit ? ` ${unit}` : ""}`;
}

export function percent(ratio) {
  return ratio === null || ratio === undefined ? "?" : `${Math.round(ratio * 100)}%`;
}

/**
 * Builds an element: `h("p", {class: "x", onclick: f}, "text", child)`. Text is always set as
 * text, never parsed as HTML, so nothing the engine reports can inject markup.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/**
 * Runs `action` with `button` disabled and saying "Working…", then puts it back; an error goes
 * to `onError`.
 */
export async function whileWorking(button, action, onError) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Working…";
  try {
    await action();
  } catch (error) {
    onError(error);
  } finally {
    button.disabled = false;
    button.textContent = label;
  }
}

/**
 * A bar from 0 to 100 %, coloured by the level the engine gave it (styled through a CSS
 * variable: the page's CSP forbids inline styles).
 */
export function bar(ratio, levelName, label) {
  const fill = h("span", { class: "fill" });
  fill.style.setProperty("--ratio", String(Math.max(0, Math.min(1, ratio ?? 0))));
  return h("span", { class: `bar level-${levelName}`, role: "img", "aria-label": label }, fill);
}

/** A level badge: glyph, word and colour. */
export function badge(levelName, extra = "") {
  const l = level(levelName);
  return h(
    "span",
    { class: `badge level-${levelName}` },
    h("span", { class: "glyph", "aria-hidden": "true" }, l.glyph),
    ` ${l.word}${extra}`,
  );
}

/** `950`, `12.3k`, `4.5M`: token counts, short. */
export function compact(value) {
  if (value === null || value === undefined) return "?";
  const n = Number(value);
  for (const [size, suffix] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (n >= size) {
      const v = n / size;
      return `${v >= 100 ? Math.round(v) : v.toFixed(1)}${suffix}`;
    }
  }
  return String(Math.round(n));
}

/** `450 ms`, `1.2 s`, `12 s`; `–` when there were no samples. */
export function millis(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 1000)} s`;
}

/**
 * Answers can come back out of order (a quick change of account, range or shell): a view that
 * asks again before the last answer came takes a ticket per request and applies an answer only
 * while its ticket is the newest, never one for a choice the user has already left.
 */
export function newestOnly() {
  let newest = 0;
  return {
    ticket: () => ++newest,
    isNewest: (ticket) => ticket === newest,
  };
}
