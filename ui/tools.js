// Tools: the AI tools Redline can connect, where each one points now, and Connect (choose the
// account, see the change, confirm) and Disconnect. The engine edits the tool's own config
// file, the same way `redline connect` does; the state words and levels are the engine's.

import { h, level, whileWorking, newestOnly } from "./format.js";

/** A badge in the level the engine gave the tool's state, with the engine's word for it. */
function stateBadge(tool) {
  return h("span", { class: `badge level-${tool.level}` },
    h("span", { class: "glyph", "aria-hidden": "true" }, level(tool.level).glyph), ` ${tool.label}`);
}

/**
 * The engine's preview, easier to read: each setting's JSON value spread over lines. A line
 * that does not read as `  + path = value` stays as it is.
 */
export function readablePreview(text) {
  return text.split("\n").map((line) => {
    const match = line.match(/^(\s*[+~] \S+ = )(.*?)((?: \(was .*\))?)$/);
    if (!match) return line;
    const [, head, value, was] = match;
    let parsed;
    try {
      parsed = JSON.parse(value);
    } catch {
      return line;
    }
    if (parsed === null || typeof parsed !== "object") return line;
    const spread = JSON.stringify(parsed, null, 2).split("\n").map((l, i) => (i === 0 ? l : `      ${l}`)).join("\n");
    return `${head}${spread}${was}`;
  }).join("\n");
}

/** Text with `commands` in code. */
export function withCode(text) {
  return text.split("`").map((part, i) => (i % 2 ? h("code", {}, part) : part));
}

function found(tool) {
  if (tool.on_path) return "installed";
  if (tool.config_exists) return "config file found";
  return "not found on this computer";
}

export function mountTools(container, app) {
  const t = app.transport;
  const message = h("div", { class: "message", role: "status", "aria-live": "polite" });
  const demoNote = h("p", { class: "banner demo small", hidden: true },
    "The demo’s accounts are simulated, so tools cannot be connected to them. Add a real key under Keys; then connect your tools to it here.");
  const list = h("div", { class: "tool-list" });
  let demo = false;
  let lastLoad = 0;
  // The tools whose panel is open: no reload of its own accord rebuilds the cards under them.
  const open = new Map();

  function say(text, isError = false) {
    message.className = `message ${isError ? "error" : "ok"}`;
    message.setAttribute("role", isError ? "alert" : "status");
    message.replaceChildren(...withCode(text));
  }

  const run = (button, action) => whileWorking(button, action, (error) => say(error.message, true));

  let loading = null;
  async function reload() {
    if (loading) return loading;
    loading = (async () => {
      try {
        const report = await t.listTools();
        demo = Boolean(report.demo);
        demoNote.hidden = !demo;
        // The tools on this computer first, each group in the engine's order.
        const tools = [...report.tools.filter((x) => x.detected), ...report.tools.filter((x) => !x.detected)];
        const cards = tools.map(toolCard);
        list.replaceChildren(...cards);
      } catch (error) {
        say(`Could not read the tools’ files: ${error.message}`, true);
      } finally {
        lastLoad = Date.now();
        loading = null;
      }
    })();
    return loading;
  }

  function toolCard(tool) {
    const actions = h("div", { class: "actions" });
    const panel = h("div", { class: "panel" });
    const facts = h("dl", { class: "facts" },
      h("dt", {}, "Config file"),
      h("dd", {}, h("span", { class: "path", title: tool.config_path }, tool.config_file),
        tool.config_exists ? null : h("span", { class: "muted small" }, " (not there yet)")),
      h("dt", {}, "Where it points"),
      h("dd", { class: "summary" }, withCode(tool.summary)));
    const card = h("article", { class: `card tool-card level-${tool.level}`, "data-tool": tool.tool, "aria-labelledby": `tool-${tool.tool}` },
      h("header", {},
        h("div", {},
          h("h3", { id: `tool-${tool.tool}` }, tool.name),
          h("p", { class: "muted small" }, `${tool.tool} · ${found(tool)}`)),
        stateBadge(tool)),
      facts, actions, panel);

    const usable = tool.accounts.filter((a) => a.usable);
    const through = tool.state === "redline" && tool.token !== "unknown";
    const connect = h("button", { type: "button", class: through ? null : "primary", "aria-expanded": "false", onclick: () => openConnect() },
      through ? "Connect to another account…" : "Connect…");
    if (demo || usable.length === 0) connect.disabled = true;
    actions.append(connect);
    if (tool.connected) {
      const disconnect = h("button", { type: "button", class: "danger", "aria-expanded": "false", onclick: () => openDisconnect(disconnect) }, "Disconnect…");
      actions.append(disconnect);
    }
    if (!demo && tool.accounts.length === 0) {
      actions.append(h("span", { class: "muted small" }, "Add a key under Keys first."));
    } else if (!demo && usable.length === 0) {
      actions.append(h("span", { class: "muted small" }, tool.accounts[0].reason));
    }

    let opener = null;
    function openPanel(content, from) {
      if (opener) opener.setAttribute("aria-expanded", "false");
      opener = from;
      from.setAttribute("aria-expanded", "true");
      panel.replaceChildren(content);
      // The change needs room: the card takes the whole row while it is shown.
      card.classList.add("wide");
      open.set(tool.tool, from === connect ? "connect" : "disconnect");
    }
    function closePanel() {
      panel.replaceChildren();
      card.classList.remove("wide");
      if (opener) {
        opener.setAttribute("aria-expanded", "false");
        opener.focus();
      }
      opener = null;
      open.delete(tool.tool);
    }

    function openConnect() {
      const id = `connect-${tool.tool}-account`;
      const account = h("select", { id },
        tool.accounts.map((a) => h("option", { value: a.account, disabled: !a.usable }, a.usable ? a.account : `${a.account} (cannot be used: ${a.reason})`)));
      const firstUsable = usable[0]?.account;
      if (tool.account && usable.some((a) => a.account === tool.account)) account.value = tool.account;
      else if (firstUsable) account.value = firstUsable;
      const preview = h("pre", { class: "snippet preview", tabindex: "0", "aria-label": "The change" }, "Loading the change…");
      const note = h("p", { class: "small" });
      const yes = h("button", { type: "button", class: "primary" }, `Connect ${tool.name}`);
      const no = h("button", { type: "button", onclick: () => closePanel() }, "Cancel");
      // Connect is enabled only under the preview of the account it will use.
      const requests = newestOnly();
      const load = async () => {
        const request = requests.ticket();
        yes.disabled = true;
        preview.textContent = "Loading the change…";
        note.textContent = "";
        try {
          const planned = await t.previewConnect(tool.tool, account.value);
          if (!requests.isNewest(request)) return;
          preview.textContent = readablePreview(planned.preview);
          note.textContent = `${planned.creates ? "Creates" : "Changes"} ${planned.config_file}: ${tool.name} will use ${planned.model} through Redline (${planned.style}), with its own tool token (shown masked), never your key. Everything else in the file stays; Disconnect puts your file back.`;
          yes.disabled = false;
        } catch (error) {
          if (requests.isNewest(request)) preview.textContent = error.message;
        }
      };
      yes.addEventListener("click", () => run(yes, async () => {
        const done = await t.connectTool(tool.tool, account.value);
        say(done.message, !done.proof.ok && done.proof.running !== false);
        open.delete(tool.tool);
        await reload();
      }));
      account.addEventListener("change", load);
      openPanel(h("div", { class: "connect-form", role: "group", "aria-label": `Connect ${tool.name}` },
        h("div", { class: "field" }, h("label", { for: id }, "Account"), account),
        h("p", { class: "small" }, h("strong", {}, "The change")),
        preview,
        note,
        h("div", { class: "actions" }, yes, no)), connect);
      account.focus();
      load();
    }

    function openDisconnect(button) {
      const yes = h("button", { type: "button", class: "danger" }, `Disconnect ${tool.name}`);
      const no = h("button", { type: "button", onclick: () => closePanel() }, "Keep it");
      yes.addEventListener("click", () => run(yes, async () => {
        const done = await t.disconnectTool(tool.tool);
        say(done.message);
        open.delete(tool.tool);
        await reload();
      }));
      openPanel(h("div", { class: "confirm", role: "alertdialog", "aria-label": `Disconnect ${tool.name}?` },
        h("p", {}, `Disconnect ${tool.name}? ${tool.config_file} gets back what it held before Redline connected it; if you edited it since, only Redline’s settings are removed and your edits stay.`),
        h("div", { class: "actions" }, yes, no)), button);
      no.focus();
    }

    return card;
  }

  container.replaceChildren(
    h("p", { class: "small intro" },
      "Redline can point these tools at itself by editing each tool’s own config file: the route for an account, its model and the tool’s own tool token (never your key). Everything else in the file stays, and Disconnect puts your file back. The same as ",
      h("code", {}, "redline connect TOOL ACCOUNT"), "."),
    demoNote, message, list);
  // A file may change outside Redline: read the files again when the view is shown, and while
  // it is, at most every 5 s as the status moves.
  const quietReload = () => {
    if (open.size === 0) reload();
  };
  app.onStatus(() => {
    if (!container.closest("section").hidden && Date.now() - lastLoad > 5000) quietReload();
  });
  // The notice itself is shown under the header (what this view said before is old news);
  // the cards follow the files.
  app.onToolNotice(() => {
    message.replaceChildren();
    quietReload();
  });
  reload();
  return { shown: quietReload };
}
