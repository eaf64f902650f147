// The overview: one card per account with its windows, concurrency, throttles and key.

import {
  h, bar, badge, level, windowName, usedOfLimit, percent, resetsIn, ago, causeName, adviceTitle, providerName, number,
} from "./format.js";

export function renderOverview(container, status, agentsLine) {
  const agents = Array.isArray(status.agents) ? status.agents : [];
  agentsLine.hidden = agents.length === 0;
  agentsLine.textContent = agents.length ? `Agents running on this machine: ${agentSummary(agents)}.` : "";
  if (status.accounts.length === 0) {
    container.replaceChildren(
      h("div", { class: "empty" },
        h("p", {}, "No accounts yet."),
        h("p", {}, "Add an API key under ", h("a", { href: "#keys" }, "Keys"), ", or run ", h("code", {}, "redline demo"), " to see how Redline looks with simulated providers.")),
    );
    return;
  }
  container.replaceChildren(...status.accounts.map((account) => card(account, agents)));
}

function agentSummary(agents) {
  const counts = new Map();
  for (const agent of agents) counts.set(agent.tool, (counts.get(agent.tool) || 0) + 1);
  return [...counts].map(([tool, n]) => (n > 1 ? `${tool} ×${n}` : tool)).join(", ");
}

function card(account, agents) {
  const title = account.label || account.id;
  return h(
    "article",
    { class: `card level-${account.level}`, "data-account": account.id, "aria-label": `${title}: ${level(account.level).word}` },
    h("header", {},
      h("div", {},
        h("h3", {}, title),
        h("p", { class: "muted small" }, `${account.id} · ${providerName(account.provider)}${account.plan ? ` · plan ${account.plan}` : ""}`)),
      badge(account.level)),
    reasons(account),
    windows(account),
    balances(account),
    concurrency(account, agents),
    throttles(account),
    key(account),
  );
}

function reasons(account) {
  if (!account.reasons.length) return null;
  return h("ul", { class: "reasons" }, account.reasons.map((r) => h("li", { class: `level-${r.level}` }, r.message)));
}

function windows(account) {
  if (!account.windows.length) {
    return h("p", { class: "muted small" }, account.updated_at ? "This provider reports no usage windows." : "Waiting for the first answer from the provider…");
  }
  // Each bar in the colour of the level the engine judged for its window.
  return h("div", { class: "windows" }, account.windows.map((w) => h("div", { class: "window", "data-level": w.level },
    h("div", { class: "row" },
      h("span", { class: "name" }, windowName(w)),
      h("span", { class: "value" }, w.unit === "percent" ? `${percent(w.used_ratio)} used` : `${usedOfLimit(w)} · ${percent(w.used_ratio)} used`)),
    bar(w.used_ratio, w.level, `${windowName(w)}: ${percent(w.used_ratio)} used, ${level(w.level).word}`),
    w.resets_at ? h("p", { class: "muted small", "data-resets-at": w.resets_at }, resetsIn(w.resets_at)) : null)));
}

function balances(account) {
  if (!account.balances || !account.balances.length) return null;
  return h("p", { class: "small" }, "Balance: ", account.balances
    .map((b) => `${number(b.amount)} ${b.currency}${b.kind && b.kind !== "total" ? ` (${b.kind})` : ""}`)
    .join(", "));
}

function concurrency(account, agents) {
  const c = account.concurrency;
  if (c.in_flight === null && c.limit === null) return null;
  const inFlight = c.in_flight ?? 0;
  const ratio = c.limit ? inFlight / c.limit : null;
  const words = c.limit ? `in flight ${inFlight} / ${c.limit}` : `in flight ${inFlight} (no known limit)`;
  const peak = c.peak !== null && c.peak !== undefined ? ` · peak ${c.peak} in the last 5 minutes` : "";
  const throughProxy = c.in_flight === null ? " · counted only for requests through Redline's proxy" : "";
  return h("div", { class: "concurrency", "data-level": c.level },
    h("div", { class: "row" }, h("span", { class: "name" }, "Concurrency"), h("span", { class: "value" }, `${words}${peak}${throughProxy}`)),
    ratio === null ? null : bar(ratio, c.level, `${words}, ${level(c.level).word}`),
    agents.length ? h("p", { class: "muted small" }, `Agents on this machine: ${agentSummary(agents)}`) : null);
}

function throttles(account) {
  const t = account.throttles;
  const causes = Object.entries(t.by_cause || {});
  const most = Math.max(1, ...causes.map(([, n]) => n));
  return h("div", { class: "throttles" },
    h("div", { class: "row" },
      h("span", { class: "name" }, "Throttles in the last hour"),
      h("span", { class: "value" }, t.recent === 0 ? "none" : String(t.recent))),
    causes.length
      ? h("ul", { class: "chart", "aria-label": "Throttles by cause" }, causes.map(([cause, n]) => {
        const fill = h("span", { class: "fill" });
        fill.style.setProperty("--ratio", String(n / most));
        return h("li", {}, h("span", { class: "cause" }, causeName(cause)), h("span", { class: "bar level-critical" }, fill), h("span", { class: "count" }, String(n)));
      }))
      : null,
    t.last ? lastThrottle(t.last) : null);
}

function lastThrottle(last) {
  const retry = last.retry_after_s ? `, retry after ${Math.ceil(last.retry_after_s)}s` : "";
  return h("div", { class: "last" },
    h("p", { class: "small" },
      h("strong", {}, "Last throttle: "),
      `${causeName(last.cause)} (HTTP ${last.status}${retry}), `,
      h("span", { "data-ago": last.at }, ago(last.at)), "."),
    h("p", { class: "small advice" }, adviceTitle(last.cause) ? h("strong", {}, `${adviceTitle(last.cause)}. `) : null, last.advice || last.message));
}

const HEALTH = { ok: "accepted by the provider", rejected: "REFUSED by the provider: rotate it under Keys", unknown: "not checked yet" };

function key(account) {
  const k = account.key;
  const parts = [];
  if (k.fingerprint) parts.push(k.fingerprint);
  parts.push(HEALTH[k.health] || k.health);
  if (k.age_days !== null && k.age_days !== undefined) parts.push(`${k.age_days} day${k.age_days === 1 ? "" : "s"} old`);
  const usedBy = Array.isArray(k.used_by) && k.used_by.length
    ? h("p", { class: "muted small" }, "Used by: ", k.used_by.map((u) => `${u.tool} (${u.source}${u.key === "previous" ? ", still on the previous key" : ""})`).join(", "))
    : null;
  return h("div", { class: `key health-${k.health}` },
    h("p", { class: "small" }, h("strong", {}, "Key: "), parts.join(" · ")),
    usedBy);
}
