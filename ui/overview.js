// The overview: one card per account with its windows, concurrency, the traffic the proxy saw
// (per tool too), throttles and key.

import {
  h, bar, badge, level, windowName, usedOfLimit, percent, resetsIn, ago, causeName, adviceTitle, providerName, number,
  compact, millis,
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
    shared(account),
    traffic(account),
    throttles(account),
    key(account),
  );
}

function reasons(account) {
  // A doubtful window says why under its own bar.
  const shown = account.reasons.filter((r) => r.code !== "window_doubtful");
  if (!shown.length) return null;
  return h("ul", { class: "reasons" }, shown.map((r) => h("li", { class: `level-${r.level}` }, r.message)));
}

function windows(account) {
  if (!account.windows.length) {
    return h("p", { class: "muted small" }, account.updated_at ? "This provider reports no usage windows." : "Waiting for the first answer from the provider…");
  }
  // Each bar in the colour of the level the engine judged for its window.
  // A doubtful window (the provider's 0 % beside requests Redline forwarded) is shown as
  // doubtful, with the engine's reason, never as a fine bar.
  return h("div", { class: "windows" }, account.windows.map((w) => {
    const doubt = w.doubtful ? " (doubtful)" : "";
    const used = `${percent(w.used_ratio)} used${doubt}`;
    const shownBar = bar(w.used_ratio, w.level, `${windowName(w)}: ${used}, ${level(w.level).word}`);
    if (w.doubtful) shownBar.classList.add("doubtful");
    return h("div", { class: "window", "data-level": w.level, "data-doubtful": w.doubtful ? "true" : null },
      h("div", { class: "row" },
        h("span", { class: "name" }, windowName(w)),
        h("span", { class: "value" }, w.unit === "percent" ? used : `${usedOfLimit(w)} · ${used}`)),
      shownBar,
      w.doubtful ? h("p", { class: "small doubt" }, h("strong", {}, "Doubtful: "), w.doubtful) : null,
      w.resets_at ? h("p", { class: "muted small", "data-resets-at": w.resets_at }, resetsIn(w.resets_at)) : null);
  }));
}

function balances(account) {
  if (!account.balances || !account.balances.length) return null;
  return h("p", { class: "small" }, "Balance: ", account.balances
    .map((b) => `${number(b.amount)} ${b.currency}${b.kind && b.kind !== "total" ? ` (${b.kind})` : ""}`)
    .join(", "));
}

function concurrency(account, agents) {
  const c = account.concurrency;
  const cap = c.cap ?? null;
  if (c.in_flight === null && c.limit === null && cap === null) return null;
  const inFlight = c.in_flight ?? 0;
  // Against the cap in force beside the provider's limit: requests beyond the lower one wait
  // (the cap) or are refused (the limit).
  const ceiling = cap !== null && c.limit ? Math.min(cap, c.limit) : (cap ?? c.limit);
  const ratio = ceiling ? inFlight / ceiling : null;
  let words;
  if (cap !== null && c.limit) words = `in flight ${inFlight} / cap ${cap} (provider limit ${c.limit})`;
  else if (cap !== null) words = `in flight ${inFlight} / cap ${cap}`;
  else if (c.limit) words = `in flight ${inFlight} / ${c.limit}`;
  else words = `in flight ${inFlight} (no known limit)`;
  if (c.queued) words += ` · ${c.queued} queued`;
  const peak = c.peak !== null && c.peak !== undefined ? ` · peak ${c.peak} in the last 5 minutes` : "";
  const throughProxy = c.in_flight === null ? " · counted only for requests through Redline's proxy" : "";
  return h("div", { class: "concurrency", "data-level": c.level },
    h("div", { class: "row" }, h("span", { class: "name" }, "Concurrency"), h("span", { class: "value" }, `${words}${peak}${throughProxy}`)),
    ratio === null ? null : bar(ratio, c.level, `${words}, ${level(c.level).word}`),
    agents.length ? h("p", { class: "muted small" }, `Agents on this machine: ${agentSummary(agents)}`) : null);
}

/**
 * The cap shared with other machines (`shared.redis_url`): this machine beside the whole group,
 * or, while the server is out of reach, this machine alone (the engine's amber reason says why).
 */
function shared(account) {
  const s = account.shared;
  if (!s) return null;
  const cap = account.concurrency.cap ?? null;
  const ofCap = (n) => (cap === null ? String(n) : `${n} / ${cap}`);
  const queued = (n) => (n ? ` · ${n} queued` : "");
  const here = `${s.here_in_flight} in flight${queued(s.here_queued)}`;
  let group;
  if (s.state === "unavailable") group = "unknown: server out of reach, this machine's cap alone";
  else if (s.group_in_flight === null || s.group_in_flight === undefined) group = "not read yet";
  else {
    const machines = s.machines ? ` · ${s.machines} machine${s.machines === 1 ? "" : "s"}` : "";
    group = `${ofCap(s.group_in_flight)} in flight${queued(s.group_queued)}${machines}`;
  }
  return h("div", { class: "shared", "data-state": s.state },
    h("div", { class: "row" }, h("span", { class: "name" }, "Shared cap"), h("span", { class: "value muted" }, `machine ${s.machine}`)),
    h("dl", { class: "facts shared-facts" },
      h("dt", {}, "Here"), h("dd", { "data-fact": "here" }, here),
      h("dt", {}, "Whole group"), h("dd", { "data-fact": "group" }, group)));
}

/** Whether the proxy saw anything of the account: without the proxy in use, nothing is shown. */
function hasTraffic(t) {
  return Boolean(t) && (t.in_flight > 0 || t.queued > 0 || t.peak > 0
    || t.requests.last_hour > 0 || t.errors.last_hour > 0 || t.cancelled.last_hour > 0
    || tokensSeen(t.tokens.last_5h) || tokensSeen(t.tokens.today));
}

function tokensSeen(usage) {
  return Boolean(usage) && (usage.input > 0 || usage.output > 0);
}

function inOut(usage) {
  return `${compact(usage.input)} / ${compact(usage.output)}`;
}

function failures(errors, cancelled) {
  return cancelled ? `${errors} (+${cancelled} cancelled)` : String(errors);
}

function perSecond(rate) {
  return rate === null || rate === undefined ? "–" : `${Math.round(rate)} tokens/s`;
}

/** What the proxy saw: requests, errors, queue, tokens and speed, then a row per tool. */
function traffic(account) {
  const t = account.traffic;
  if (!hasTraffic(t)) return null;
  const facts = [
    ["requests", "Requests", `${t.requests.last_5m} in 5 min · ${t.requests.last_hour} in the hour`],
    ["errors", "Errors", `${failures(t.errors.last_5m, t.cancelled.last_5m)} in 5 min · ${failures(t.errors.last_hour, t.cancelled.last_hour)} in the hour`],
    t.cap !== null || t.queued > 0
      ? ["queue", "Queue", `${t.queued} waiting now · wait ${millis(t.queue_wait_ms.p50)} median, ${millis(t.queue_wait_ms.p95)} p95`]
      : null,
    ["tokens", "Tokens in / out", `${inOut(t.tokens.last_5h)} in 5 h · ${inOut(t.tokens.today)} today`],
    ["first-token", "First token", `${millis(t.first_token_ms_p50)} median`],
    ["speed", "Output speed", `${perSecond(t.output_tokens_per_s_p50)} median`],
  ].filter(Boolean);
  return h("div", { class: "traffic" },
    h("div", { class: "row" },
      h("span", { class: "name" }, "Through Redline's proxy"),
      h("span", { class: "value muted" }, `peak ${t.peak} in flight in 5 min`)),
    h("dl", { class: "facts traffic-facts" }, facts.flatMap(([id, name, value]) => [
      h("dt", {}, name), h("dd", { "data-fact": id }, value)])),
    t.tools.length ? tools(t.tools) : null);
}

const TOOL_COLUMNS = ["Tool", "Now", "Requests 5 min / hour", "Errors (hour)", "Tokens today in / out", "First token", "Speed"];

function tools(list) {
  return h("div", { class: "table-wrap" },
    h("table", { class: "tools" },
      h("caption", { class: "small" }, "By tool"),
      h("thead", {}, h("tr", {}, TOOL_COLUMNS.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, list.map((tool) => {
        const now = [tool.in_flight ? `${tool.in_flight} in flight` : null, tool.queued ? `${tool.queued} queued` : null]
          .filter(Boolean).join(", ") || "idle";
        const cells = [
          now,
          `${tool.requests.last_5m} / ${tool.requests.last_hour}`,
          failures(tool.errors.last_hour, tool.cancelled.last_hour),
          inOut(tool.tokens.today),
          millis(tool.first_token_ms_p50),
          perSecond(tool.output_tokens_per_s_p50),
        ];
        // The tool's name comes from its User-Agent: text, never markup.
        return h("tr", { "data-tool": tool.tool },
          h("th", { scope: "row" }, tool.tool),
          cells.map((value, i) => h("td", { "data-label": TOOL_COLUMNS[i + 1] }, value)));
      }))));
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
