// Events: the latest throttles and errors the proxy saw, filterable by account and cause.

import { h, causeName, causeIds } from "./format.js";

export function mountEvents(container, app) {
  const account = h("select", { id: "events-account" }, h("option", { value: "" }, "All accounts"));
  const cause = h("select", { id: "events-cause" },
    h("option", { value: "" }, "All causes"),
    causeIds().map((id) => h("option", { value: id }, causeName(id))));
  const note = h("p", { class: "muted small", role: "status" });
  const table = h("div", { class: "table-wrap" });
  let events = [];

  const draw = () => {
    const wanted = events.filter((e) => (!account.value || e.account === account.value) && (!cause.value || e.cause === cause.value));
    note.textContent = events.length === 0
      ? "No throttles or errors yet. Requests your tools send through Redline's proxy show up here."
      : `Showing ${wanted.length} of the latest ${events.length}, newest first.`;
    if (wanted.length === 0) {
      table.replaceChildren();
      return;
    }
    table.replaceChildren(h("table", { class: "events" },
      h("thead", {}, h("tr", {}, ["Time", "Account", "Tool", "Status", "Cause", "Retry after", "Message"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, wanted.map((e) => h("tr", {},
        h("td", { "data-label": "Time" }, h("time", { datetime: e.at }, new Date(e.at).toLocaleTimeString())),
        h("td", { "data-label": "Account" }, e.account),
        h("td", { "data-label": "Tool" }, e.tool),
        h("td", { "data-label": "Status" }, String(e.status)),
        h("td", { "data-label": "Cause" }, causeName(e.cause)),
        h("td", { "data-label": "Retry after" }, e.retry_after_s ? `${Math.ceil(e.retry_after_s)}s` : "—"),
        h("td", { "data-label": "Message" }, h("span", {}, e.message), e.advice ? h("span", { class: "advice" }, e.advice) : null))))));
  };

  const syncAccounts = (status) => {
    const ids = status.accounts.map((a) => a.id);
    const have = [...account.options].slice(1).map((o) => o.value);
    if (ids.join() !== have.join()) {
      const chosen = account.value;
      account.replaceChildren(h("option", { value: "" }, "All accounts"), ...ids.map((id) => h("option", { value: id }, id)));
      account.value = ids.includes(chosen) ? chosen : "";
    }
  };

  let loading = null;
  let lastLoad = 0;
  const load = async () => {
    if (loading) return;
    loading = (async () => {
      try {
        events = await app.transport.throttles(500);
        draw();
      } catch (error) {
        note.textContent = `Could not load the events: ${error.message}`;
      } finally {
        lastLoad = Date.now();
        loading = null;
      }
    })();
  };

  account.addEventListener("change", draw);
  cause.addEventListener("change", draw);
  container.replaceChildren(
    h("div", { class: "filters" },
      h("div", {}, h("label", { for: "events-account" }, "Account"), account),
      h("div", {}, h("label", { for: "events-cause" }, "Cause"), cause),
      h("button", { type: "button", onclick: load }, "Reload")),
    note,
    table);
  app.onStatus((status) => {
    syncAccounts(status);
    // Reload when visible, at most every 2 s.
    if (!container.closest("section").hidden && Date.now() - lastLoad > 2000) load();
  });
  load();
  return true;
}
