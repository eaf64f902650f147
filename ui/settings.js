// Settings: the same names as `redline config set`, validated and saved by the engine. Only
// changed values are sent, all together, so a refused change saves nothing. A base URL on a
// host the provider does not own is saved only after the user confirms that host.

import { h } from "./format.js";
import { askToConfirmHost, hostOf } from "./confirm.js";

const GLOBAL = [
  { key: "thresholds.warn", label: "Warn at (% of a window used)", type: "number", min: 1, max: 100, read: (s) => s.thresholds.warn },
  { key: "thresholds.critical", label: "Critical at (% used)", type: "number", min: 1, max: 100, read: (s) => s.thresholds.critical },
  { key: "poll.interval_s", label: "Check usage every (seconds, at least 15)", type: "number", min: 15, max: 86400, read: (s) => s.poll.interval_s },
  { key: "notifications.enabled", label: "Desktop notifications", type: "checkbox", read: (s) => s.notifications.enabled },
  { key: "notifications.rotation_reminder_days", label: "Remind me to rotate keys older than (days, 0 = never)", type: "number", min: 0, max: 3650, read: (s) => s.notifications.rotation_reminder_days },
  { key: "proxy.listen", label: "Proxy and dashboard address", type: "text", read: (s) => s.proxy.listen },
  { key: "proxy.queue_max_wait_s", label: "Longest wait in Redline's queue (seconds)", type: "number", min: 1, max: 3600, read: (s) => s.proxy.queue_max_wait_s },
  { key: "proxy.queue_max_len", label: "Most requests waiting per key (0 = refuse at once beyond the cap)", type: "number", min: 0, max: 100000, read: (s) => s.proxy.queue_max_len },
  { key: "proxy.retry_429", label: "Retry a provider's 429 before the tool sees it (tools retry too: off is safer)", type: "checkbox", read: (s) => s.proxy.retry_429 },
  { key: "proxy.connect_timeout_s", label: "Give up connecting to a provider after (seconds)", type: "number", min: 1, max: 300, read: (s) => s.proxy.connect_timeout_s },
  { key: "proxy.first_byte_timeout_s", label: "Give up when no answer starts within (seconds; models may think for minutes)", type: "number", min: 5, max: 3600, read: (s) => s.proxy.first_byte_timeout_s },
  { key: "proxy.idle_timeout_s", label: "Cut off an answer that stops for (seconds)", type: "number", min: 5, max: 3600, read: (s) => s.proxy.idle_timeout_s },
];

// What the engine says about a setting it applies only when it restarts.
function restartNote(settings, key) {
  const restart = settings.restart;
  if (!restart || !restart.settings.includes(key)) return null;
  return `${key} takes effect when Redline restarts: ${restart.how}.`;
}

function fieldId(key) {
  return `setting-${key.replaceAll(".", "-")}`;
}

function input(field, value, note = null) {
  const id = fieldId(field.key);
  if (field.type === "checkbox") {
    const box = h("input", { type: "checkbox", id, name: field.key, checked: Boolean(value) });
    return { element: h("label", { class: "check" }, box, ` ${field.label}`), read: () => String(box.checked), initial: String(Boolean(value)) };
  }
  const noteId = note ? `${id}-note` : null;
  const box = h("input", { type: field.type, id, name: field.key, value: String(value ?? ""), min: field.min, max: field.max, inputmode: field.type === "number" ? "numeric" : null, "aria-describedby": noteId });
  return {
    element: h("div", { class: "field" }, h("label", { for: id }, field.label), box, note ? h("p", { class: "muted small", id: noteId }, note) : null),
    read: () => box.value.trim(),
    initial: String(value ?? ""),
  };
}

export function mountSettings(container, app) {
  const t = app.transport;
  const message = h("div", { class: "message", role: "status", "aria-live": "polite" });
  // The engine validates and says what to do; the browser's own checks would speak first.
  const form = h("form", { class: "settings-form", "aria-label": "Settings", novalidate: true });
  const question = h("div", { class: "question" });
  let fields = [];

  function say(text, isError = false) {
    message.className = `message ${isError ? "error" : "ok"}`;
    message.setAttribute("role", isError ? "alert" : "status");
    message.textContent = text;
  }

  function draw(settings) {
    fields = [];
    const general = GLOBAL.map((field) => {
      const made = input(field, field.read(settings), restartNote(settings, field.key));
      fields.push({ key: field.key, ...made });
      return made.element;
    });
    const accounts = Object.entries(settings.accounts).map(([id, account]) => {
      const cap = input({ key: `accounts.${id}.concurrency_cap`, label: "Most requests at once through Redline (0 = no cap, or auto for the provider's limit)", type: "text" }, account.concurrency_cap);
      const label = input({ key: `accounts.${id}.label`, label: "Label", type: "text" }, account.label ?? "");
      const base = input({ key: `accounts.${id}.base_url`, label: "Base URL (empty: the provider's own; the account's key is sent there)", type: "url" }, account.base_url ?? "");
      fields.push({ key: `accounts.${id}.concurrency_cap`, ...cap }, { key: `accounts.${id}.label`, ...label }, { key: `accounts.${id}.base_url`, ...base });
      return h("fieldset", {}, h("legend", {}, id), label.element, base.element, cap.element);
    });
    const save = h("button", { type: "submit" }, "Save settings");
    question.replaceChildren();
    form.replaceChildren(
      h("fieldset", {}, h("legend", {}, "Levels, polling and notifications"), general.slice(0, 5)),
      h("fieldset", {}, h("legend", {}, "Local proxy"), general.slice(5)),
      ...accounts,
      autostart(),
      h("p", { class: "muted small" }, `Saved in ${settings.path}. The running engine applies changes at once, except those noted to wait for a restart.`),
      question,
      h("div", { class: "actions" }, save));
  }

  function autostart() {
    const box = h("input", { type: "checkbox", id: "setting-autostart", disabled: true });
    const note = h("p", { class: "muted small" });
    const set = h("fieldset", {}, h("legend", {}, "Start at login"), h("label", { class: "check" }, box, " Start Redline when I log in"), note);
    if (!t.inApp) {
      note.textContent = "Only the desktop app can start at login; redline daemon runs only when you start it.";
      return set;
    }
    t.autostart().then(
      (enabled) => {
        box.checked = Boolean(enabled);
        box.disabled = false;
        box.addEventListener("change", () => t.setAutostart(box.checked).then(
          () => say(box.checked ? "Redline will start when you log in." : "Redline will no longer start at login."),
          (error) => say(error.message, true)));
      },
      (error) => {
        note.textContent = `Start at login is not available: ${error.message}`;
      });
    return set;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {};
    for (const field of fields) {
      const value = field.read();
      if (value !== field.initial) changes[field.key] = value;
    }
    if (Object.keys(changes).length === 0) {
      say("Nothing changed.");
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      let saved;
      try {
        saved = await t.saveSettings(changes);
      } catch (error) {
        // A base URL on a host the provider does not own: ask, and send it again confirmed.
        const host = Object.entries(changes)
          .filter(([key]) => key.endsWith(".base_url"))
          .map(([, url]) => hostOf(url))
          .find(Boolean);
        if (error.code !== "host_not_confirmed" || !host) throw error;
        if (!(await askToConfirmHost(question, error.message, host))) {
          say("Not saved: the key is still sent where it was.", true);
          return;
        }
        saved = await t.saveSettings({ ...changes, confirm_host: host });
      }
      draw(saved);
      const names = Object.keys(changes).join(", ");
      const notes = Object.keys(changes).map((key) => restartNote(saved, key)).filter(Boolean);
      say([`Saved ${names}.`, ...notes].join(" "));
    } catch (error) {
      say(`Not saved: ${error.message}`, true);
      const key = Object.keys(changes).find((k) => error.message.includes(k));
      if (key) document.getElementById(fieldId(key))?.focus();
    } finally {
      button.disabled = false;
    }
  });

  container.replaceChildren(message, form);
  t.settings().then(draw, (error) => say(`Could not load the settings: ${error.message}`, true));
  return true;
}
