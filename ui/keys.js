// Keys: add (checked with the provider first), test, rotate, roll back, remove, and the lines
// that point tools at Redline. A secret typed here goes to the engine once and is never shown
// again: the engine answers with fingerprints only.

import { h, ago, providerName, whileWorking, newestOnly } from "./format.js";
import { askToConfirmHost, hostOf } from "./confirm.js";

export function mountKeys(container, app) {
  const t = app.transport;
  const message = h("div", { class: "message", role: "status", "aria-live": "polite" });
  const list = h("div", { class: "key-list" });
  const demoNote = h("p", { class: "banner demo small", hidden: true },
    "The demo shows simulated accounts only. A key you add here is stored for real (in the OS keyring): the desktop app then leaves the demo and watches your accounts at once; after “redline demo”, start “redline daemon” to watch them.");
  let providers = [];
  let reminderDays = 90;

  function say(text, isError = false) {
    message.className = `message ${isError ? "error" : "ok"}`;
    message.setAttribute("role", isError ? "alert" : "status");
    message.textContent = text;
  }

  const run = (button, action) => whileWorking(button, action, (error) => say(error.message, true));

  async function reload() {
    try {
      const keys = await t.listKeys();
      list.replaceChildren(...(keys.length ? keys.map(keyCard) : [h("p", { class: "muted" }, "No keys yet: add one below.")]));
    } catch (error) {
      say(`Could not list the keys: ${error.message}`, true);
    }
  }

  function keyCard(key) {
    const actions = h("div", { class: "actions" });
    const panel = h("div", { class: "panel" });
    const old = key.age_days !== null && reminderDays > 0 && key.age_days >= reminderDays;
    const test = key.last_test;
    const card = h("article", { class: "card key-card", "data-key": key.id },
      h("header", {},
        h("div", {},
          h("h3", {}, key.label || key.id),
          h("p", { class: "muted small" }, `${key.id} · ${providerName(key.provider)}${key.base_url ? ` · ${key.base_url}` : ""}`))),
      h("dl", { class: "facts" },
        h("dt", {}, "Key"), h("dd", { class: "fingerprint" }, key.fingerprint || "unknown"),
        h("dt", {}, "Age"), h("dd", {}, key.age_days === null ? "unknown" : `${key.age_days} day${key.age_days === 1 ? "" : "s"}`,
          old ? h("strong", { class: "reminder" }, ` · older than ${reminderDays} days: time to rotate it`) : null),
        h("dt", {}, "Last test"), h("dd", { class: test ? (test.ok ? "test-ok" : "test-failed") : "" },
          test ? [test.ok ? "✓ passed: " : "✕ failed: ", test.message, " (", h("span", { "data-ago": test.at }, ago(test.at)), ")"] : "never tested"),
        key.previous_fingerprint ? [h("dt", {}, "Previous key"), h("dd", {}, `${key.previous_fingerprint} (kept for rollback)`)] : null),
      actions,
      panel);

    const button = (text, onclick, extra = {}) => h("button", { type: "button", onclick, ...extra }, text);
    const testButton = button("Test", () => run(testButton, async () => {
      const result = await t.testKey(key.id);
      say(`${key.id}: ${result.ok ? "the provider accepted the key" : `the test failed: ${result.message}`}`, !result.ok);
      await reload();
    }));
    const rotateButton = button("Rotate…", () => openRotate(), { "aria-expanded": "false" });
    const rollbackButton = key.previous_fingerprint
      ? button("Roll back", () => run(rollbackButton, async () => {
        const info = await t.rollbackKey(key.id);
        say(`${key.id} is back on ${info.fingerprint}; ${info.previous_fingerprint} is kept, so another rollback undoes this.`);
        await reload();
      }))
      : null;
    const removeButton = button("Remove…", () => confirmRemove(), { class: "danger" });
    const setupButton = button("Set up tools", () => openSetup(), { "aria-expanded": "false" });
    actions.append(testButton, rotateButton, ...(rollbackButton ? [rollbackButton] : []), setupButton, removeButton);

    function openRotate() {
      const secret = h("input", { type: "password", name: "secret", autocomplete: "off", spellcheck: "false", required: true, id: `rotate-${key.id}` });
      const verify = h("input", { type: "checkbox", name: "verify", checked: true });
      const save = h("button", { type: "submit" }, "Rotate");
      const form = h("form", { class: "inline-form", "aria-label": `Rotate the key of ${key.id}`, novalidate: true },
        h("label", { for: `rotate-${key.id}` }, "New key (the current one is kept for rollback)"),
        secret,
        h("label", { class: "check" }, verify, " Check the new key with the provider first"),
        h("div", { class: "actions" }, save, button("Cancel", () => closePanel())));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        run(save, async () => {
          const value = secret.value;
          secret.value = "";
          const info = await t.rotateKey(key.id, value, verify.checked);
          say(`Rotated ${key.id}: now using ${info.fingerprint}; ${info.previous_fingerprint || "the old key"} is kept — use Roll back to return to it.`);
          await reload();
        });
      });
      openPanel(form, rotateButton);
      secret.focus();
    }

    function confirmRemove() {
      const yes = button(`Remove ${key.id}`, () => run(yes, async () => {
        await t.removeKey(key.id);
        say(`Removed ${key.id} and its keys from the OS keyring.`);
        await reload();
      }), { class: "danger" });
      const no = button("Keep it", () => closePanel());
      openPanel(h("div", { class: "confirm", role: "alertdialog", "aria-label": `Remove ${key.id}?` },
        h("p", {}, `Remove ${key.id}? Its key and any rollback copy are deleted from the OS keyring; tools using it through Redline stop working.`),
        h("div", { class: "actions" }, yes, no)), removeButton);
      no.focus();
    }

    async function openSetup() {
      const shell = h("select", { "aria-label": "Shell" }, ["sh", "fish", "powershell"].map((s) => h("option", { value: s }, s)));
      const what = h("select", { "aria-label": "For" },
        h("option", { value: "" }, "Every tool"),
        h("option", { value: "openai-sdk" }, "OpenAI SDKs (openai-sdk)"),
        h("option", { value: "anthropic-sdk" }, "Anthropic SDKs (anthropic-sdk)"));
      const pre = h("pre", { class: "snippet", tabindex: "0" }, "Loading…");
      const copied = () => {
        if (!what.value) return "Copied: one commented block per tool. The Tools tab (or `redline connect TOOL " + key.id + "`) writes a tool's settings into its file for you.";
        if (what.value.endsWith("-sdk")) return "Copied. Paste it into your shell profile, or run `eval \"$(redline env " + key.id + " --tool " + what.value + ")\"`.";
        return "Copied: the settings for " + what.selectedOptions[0].dataset.file + ". Connect in the Tools tab writes them into the file for you, keeping the rest.";
      };
      const copy = button("Copy", async () => {
        try {
          await navigator.clipboard.writeText(pre.textContent);
          say(copied());
        } catch {
          say("This browser did not allow copying: select the text and copy it yourself.", true);
        }
      });
      const requests = newestOnly();
      const load = async () => {
        const request = requests.ticket();
        let text;
        try {
          text = await t.toolSetup(key.id, shell.value, what.value);
        } catch (error) {
          text = error.message;
        }
        if (requests.isNewest(request)) pre.textContent = text;
      };
      shell.addEventListener("change", load);
      what.addEventListener("change", load);
      openPanel(h("div", {},
        h("p", { class: "small" }, "What your tools need to go through Redline, which sends the real key. Tools present a Redline tool token, which opens only the proxy, so a rotation needs no change in them."),
        h("div", { class: "actions" }, h("label", {}, "For ", what), h("label", {}, "Shell ", shell), copy, button("Close", () => closePanel())),
        pre), setupButton);
      // The tools by the engine's names, between "Every tool" and the SDKs.
      t.listTools().then((report) => {
        what.options[0].after(...report.tools.map((tool) => h("option", { value: tool.tool, dataset: { file: tool.config_path } }, `${tool.name} (${tool.tool})`)));
      }, () => {});
      await load();
    }

    let opener = null;
    function openPanel(content, from) {
      if (opener) opener.setAttribute("aria-expanded", "false");
      opener = from;
      if (from.hasAttribute("aria-expanded")) from.setAttribute("aria-expanded", "true");
      panel.replaceChildren(content);
    }
    function closePanel() {
      panel.replaceChildren();
      if (opener) {
        if (opener.hasAttribute("aria-expanded")) opener.setAttribute("aria-expanded", "false");
        opener.focus();
      }
      opener = null;
    }
    return card;
  }

  // The add form.
  const id = h("input", { id: "add-id", name: "id", required: true, maxlength: "40", autocomplete: "off", placeholder: "kimi-main", "aria-describedby": "add-id-hint" });
  const provider = h("select", { id: "add-provider", name: "provider", required: true });
  const hint = h("p", { id: "add-hint", class: "muted small" });
  const region = h("select", { id: "add-region", name: "region" });
  const custom = h("input", { id: "add-base-url", name: "base_url", type: "url", placeholder: "https://…", hidden: true, "aria-label": "Custom base URL" });
  const label = h("input", { id: "add-label", name: "label", autocomplete: "off", placeholder: "optional" });
  const secret = h("input", { id: "add-secret", name: "secret", type: "password", required: true, autocomplete: "off", spellcheck: "false", "aria-describedby": "add-hint" });
  const verify = h("input", { id: "add-verify", type: "checkbox", checked: true });
  const save = h("button", { type: "submit" }, "Check and save");
  const addQuestion = h("div", { class: "question" });

  function providerChanged() {
    const p = providers.find((x) => x.id === provider.value);
    hint.textContent = p ? p.key_hint : "";
    region.replaceChildren(
      ...(p ? p.regions.map((r, i) => h("option", { value: i === 0 ? "" : r.api_base }, `${r.name}${i === 0 ? " (default)" : ""}: ${r.api_base}`)) : []),
      h("option", { value: "custom" }, "Another base URL (a gateway or proxy)…"));
    regionChanged();
  }
  function regionChanged() {
    custom.hidden = region.value !== "custom";
    custom.required = region.value === "custom";
  }
  provider.addEventListener("change", providerChanged);
  region.addEventListener("change", regionChanged);
  verify.addEventListener("change", () => {
    save.textContent = verify.checked ? "Check and save" : "Save without checking";
  });

  const form = h("form", { class: "add-form card", "aria-labelledby": "add-title", novalidate: true },
    h("h3", { id: "add-title" }, "Add a key"),
    h("div", { class: "field" }, h("label", { for: "add-provider" }, "Provider"), provider, hint),
    h("div", { class: "field" }, h("label", { for: "add-id" }, "Account id"), id,
      h("p", { id: "add-id-hint", class: "muted small" }, "Lowercase letters, digits and -, up to 40; tools reach it at /<id>/ on Redline’s port.")),
    h("div", { class: "field" }, h("label", { for: "add-region" }, "Region or base URL"), region, custom),
    h("div", { class: "field" }, h("label", { for: "add-label" }, "Label"), label),
    h("div", { class: "field" }, h("label", { for: "add-secret" }, "API key"), secret,
      h("p", { class: "muted small" }, "Stored in the OS keyring. It is never shown again; Redline shows only its fingerprint.")),
    h("label", { class: "check" }, verify, " Check the key with the provider before saving"),
    addQuestion,
    h("div", { class: "actions" }, save));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run(save, async () => {
      const baseUrl = region.value === "custom" ? custom.value.trim() : region.value;
      const request = {
        id: id.value.trim(),
        provider: provider.value,
        base_url: baseUrl || null,
        label: label.value.trim() || null,
        secret: secret.value,
        verify: verify.checked,
      };
      secret.value = "";
      let info;
      try {
        info = await t.addKey(request);
      } catch (error) {
        // A base URL on a host the provider does not own: ask before the key goes there.
        const host = hostOf(baseUrl);
        if (error.code !== "host_not_confirmed" || !host) throw error;
        if (!(await askToConfirmHost(addQuestion, error.message, host))) {
          say("Not stored: the key was sent nowhere.", true);
          return;
        }
        info = await t.addKey({ ...request, confirm_host: host });
      }
      say(`Stored ${info.id} (${info.fingerprint}) in the OS keyring.${info.last_test ? " The provider accepted it." : " It was not checked."} Connect your tools to it under Tools.`);
      id.value = "";
      label.value = "";
      await reload();
    });
  });

  container.replaceChildren(demoNote, message, list, form);
  // Also used by the demo banner's "Add a real key".
  function focusAddForm() {
    form.scrollIntoView({ block: "start" });
    provider.focus({ preventScroll: true });
  }
  app.onStatus((status) => {
    demoNote.hidden = !status.demo;
  });

  (async () => {
    try {
      providers = await t.providers();
      provider.replaceChildren(...providers.map((p) => h("option", { value: p.id }, p.name)));
      providerChanged();
    } catch (error) {
      say(`Could not load the provider list: ${error.message}`, true);
    }
    try {
      reminderDays = (await t.settings()).notifications.rotation_reminder_days;
    } catch {
      // The default reminder stays.
    }
    await reload();
  })();
  return { focusAddForm };
}
