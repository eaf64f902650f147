// The dashboard's pure helpers (ui/format.js): durations, countdowns and amounts in words.

import { test } from "node:test";
import assert from "node:assert/strict";
import { duration, resetsIn, ago, usedOfLimit, percent, ratioLevel, windowName, causeName, level } from "../../ui/format.js";

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
  assert.equal(windowName({ kind: "monthly", scope: "booster" }), "Monthly (booster)");
  assert.equal(windowName({ kind: "five_hour", scope: null }), "5-hour window");
});

test("levels follow the thresholds and always have words", () => {
  assert.equal(ratioLevel(0.79), "ok");
  assert.equal(ratioLevel(0.8), "warn");
  assert.equal(ratioLevel(0.95), "critical");
  assert.equal(ratioLevel(0.6, { warn: 50, critical: 60 }), "critical");
  assert.equal(ratioLevel(null), "unknown");
  for (const name of ["ok", "warn", "critical", "unknown", "something-new"]) {
    assert.ok(level(name).word && level(name).glyph, name);
  }
  assert.equal(causeName("quota_exhausted"), "Quota used up");
  assert.equal(causeName("brand_new"), "brand_new");
});
