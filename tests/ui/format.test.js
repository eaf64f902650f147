// The dashboard's pure helpers (ui/format.js): durations, countdowns and amounts in words, and
// the engine's words for the ids in the status.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  duration, resetsIn, ago, usedOfLimit, percent, windowName, windowShortName, causeName, causeIds, adviceTitle,
  providerName, level, useVocabulary, compact, millis, newestOnly,
} from "../../ui/format.js";
import { readablePreview } from "../../ui/tools.js";

const UI = resolve(dirname(fileURLToPath(import.meta.url)), "../../ui");

/** Part of what `GET /api/v1/vocabulary` answers, in its shape. */
const VOCABULARY = {
  levels: [
    { id: "ok", word: "OK", glyph: "✓", sentence: "Everything is fine.", phrase: "all well" },
    { id: "warn", word: "Warning", glyph: "!", sentence: "Something is getting close to a limit.", phrase: "nearing a limit" },
  ],
  causes: [
    { id: "concurrency", name: "Concurrency limit", advice_title: "Run fewer agents at once", retry_helps: true },
    { id: "quota_exhausted", name: "Quota used up", advice_title: "Wait for the reset or top up", retry_helps: false },
  ],
  providers: [{ id: "kimi-code", name: "Kimi Code (coding plan)" }],
  windows: [
    { id: "five_hour", name: "5-hour window", short: "5h" },
    { id: "monthly", name: "Monthly", short: "month" },
  ],
};

test("durations read like a person would say them", () => {
  assert.equal(duration(0), "0s");
  assert.equal(duration(59.4), "59s");
  assert.equal(duration(250), "4m 10s");
  assert.equal(duration(3600), "1h");
  assert.equal(duration(4320), "1h 12m");
  assert.equal(duration(86400 * 3 + 3600 * 23), "3d 23h");
  assert.equal(duration(-5), "0s", "a clock that went backwards is not negative");
});

test("countdowns and ages count from now", () => {
  const now = Date.parse("2026-11-29T12:00:00Z");
  assert.equal(resetsIn("2026-11-29T13:12:00Z", now), "resets in 1h 12m");
  assert.equal(resetsIn("2026-11-29T11:00:00Z", now), "resets now");
  assert.equal(ago("2026-11-29T11:59:48Z", now), "12s ago");
});

test("windows say used of limit in their unit", () => {
  assert.equal(usedOfLimit({ used: 2100, limit: 10000, unit: "requests" }), "2,100 / 10,000 requests");
  assert.equal(usedOfLimit({ used: 50, limit: 200, unit: "usd" }), "$50.00 / $200.00");
  assert.equal(usedOfLimit({ used: 86, limit: 100, unit: "percent" }), "86%");
  assert.equal(usedOfLimit({ used: null, limit: 100, unit: "tokens" }), "? / 100 tokens");
  assert.equal(percent(0.861), "86%");
  assert.equal(percent(null), "?");
});

test("token counts and timings read short", () => {
  assert.equal(compact(950), "950");
  assert.equal(compact(12345), "12.3k");
  assert.equal(compact(123456), "123k");
  assert.equal(compact(4.5e6), "4.5M");
  assert.equal(compact(null), "?");
  assert.equal(millis(0.12), "0 ms");
  assert.equal(millis(450), "450 ms");
  assert.equal(millis(1500), "1.5 s");
  assert.equal(millis(12345), "12 s");
  assert.equal(millis(null), "–", "no samples");
});

test("names come from the engine's vocabulary, and an id it does not name is shown as it is", () => {
  useVocabulary({});
  assert.equal(causeName("quota_exhausted"), "quota_exhausted");
  assert.equal(level("warn").word, "warn");
  assert.deepEqual(causeIds(), []);

  useVocabulary(VOCABULARY);
  assert.equal(causeName("quota_exhausted"), "Quota used up");
  assert.equal(adviceTitle("concurrency"), "Run fewer agents at once");
  assert.deepEqual(causeIds(), ["concurrency", "quota_exhausted"], "in the engine's order");
  assert.equal(providerName("kimi-code"), "Kimi Code (coding plan)");
  assert.equal(windowName({ kind: "monthly", scope: "booster" }), "Monthly (booster)");
  assert.equal(windowName({ kind: "five_hour", scope: null }), "5-hour window");
  assert.equal(windowShortName({ kind: "five_hour", scope: "opus" }), "5h (opus)");
  assert.deepEqual(level("warn"), VOCABULARY.levels[1]);

  // A newer engine's ids still read as something.
  assert.equal(causeName("brand_new"), "brand_new");
  assert.equal(adviceTitle("brand_new"), "");
  assert.equal(providerName("gemini"), "gemini");
  assert.equal(windowName({ kind: "two_hour", scope: null }), "two hour");
  assert.ok(level("something-new").word && level("something-new").glyph);
});

test("the page keeps no thresholds and no copies of the engine's names", () => {
  const sources = readdirSync(UI).filter((name) => name.endsWith(".js"))
    .map((name) => [name, readFileSync(join(UI, name), "utf8")]);
  assert.ok(sources.length > 5, "the dashboard's modules are read");
  for (const [name, text] of sources) {
    // Words only the engine's vocabulary should hold: a provider, a cause, a window name.
    for (const copy of ["Kimi Code", "Quota used up", "too many at once", "5-hour window"]) {
      assert.ok(!text.includes(copy), `ui/${name} holds its own copy of "${copy}"`);
    }
    assert.doesNotMatch(text, /warn: 80|critical: 95|ratioLevel/, `ui/${name} judges a level itself`);
  }
});

test("a connect preview spreads each setting's JSON value over lines and keeps the rest", () => {
  const preview = [
    "~/.openclaw/openclaw.json (OpenClaw) → Redline for kimi-main:",
    '  + models.providers.redline-kimi-main = {"api":"anthropic-messages","apiKey":"rl_…cb7f"}',
    '  ~ agents.defaults.model.primary = "redline-kimi-main/kimi-for-coding" (was "kimi/k2")',
    '  ~ env = {"A":"1"} (was {"B":"2"})',
    "  = model (already so)",
  ].join("\n");
  assert.equal(readablePreview(preview), [
    "~/.openclaw/openclaw.json (OpenClaw) → Redline for kimi-main:",
    "  + models.providers.redline-kimi-main = {",
    '        "api": "anthropic-messages",',
    '        "apiKey": "rl_…cb7f"',
    "      }",
    '  ~ agents.defaults.model.primary = "redline-kimi-main/kimi-for-coding" (was "kimi/k2")',
    "  ~ env = {",
    '        "A": "1"',
    '      } (was {"B":"2"})',
    "  = model (already so)",
  ].join("\n"));
});

test("only the newest request's answer is applied, whatever order the answers come in", () => {
  const requests = newestOnly();
  const first = requests.ticket();
  assert.equal(requests.isNewest(first), true, "alone, a request is the newest");
  const second = requests.ticket();
  assert.equal(requests.isNewest(first), false, "the first answer, arriving late, is dropped");
  assert.equal(requests.isNewest(second), true);
  const other = newestOnly();
  assert.equal(other.isNewest(other.ticket()), true, "each view counts its own requests");
  assert.equal(requests.isNewest(second), true);
});
