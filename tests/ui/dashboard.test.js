// The dashboard end to end: Debian's headless Chromium, driven by playwright-core, against the
// real `redline daemon` (the demo, or real keys in the real Secret Service) and fake providers
// in their own process. Run inside a private keyring:
//   cargo build --bin redline --example fake_provider
//   dbus-run-session -- scripts/with-test-keyring.sh node --test tests/ui/dashboard.test.js
// Each test saves screenshots into artifacts/.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const target = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(root, "target");
const REDLINE = process.env.REDLINE_BIN || join(target, "debug/redline");
const FAKE = process.env.FAKE_PROVIDER_BIN || join(target, "debug/examples/fake_provider");
const ARTIFACTS = join(root, "artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

const KEY = "sk-kimi-UiFirstKeyAbcdefghijklmno1111";
const NEW_KEY = "sk-kimi-UiSecondKeyPqrstuvwxyzAB2222";
const WRONG_KEY = "sk-kimi-UiWrongKeyCdefghijklmnopq3333";

let browser;
const children = [];
/** Every sandbox made, removed once the processes that use them have ended. */
const sandboxes = [];

before(async () => {
  assert.ok(process.env.REDLINE_TEST_SECRET_SERVICE, "run inside dbus-run-session -- scripts/with-test-keyring.sh");
  for (const binary of [REDLINE, FAKE]) {
    assert.ok(existsSync(binary), `${binary} is missing: run \`cargo build --bin redline --example fake_provider\` first (or set CARGO_TARGET_DIR)`);
  }
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (scripts/setup-linux.sh test)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
  const ended = children
    .filter((child) => child.exitCode === null && child.signalCode === null)
    .map((child) => new Promise((done) => child.once("exit", done)));
  for (const child of children) child.kill("SIGKILL");
  await Promise.all(ended);
  for (const dir of sandboxes) rmSync(dir, { recursive: true, force: true });
});

/** A temp REDLINE_HOME and a keyring service of its own. */
function sandbox() {
  const dir = mkdtempSync(join(tmpdir(), "redline-ui-"));
  sandboxes.push(dir);
  mkdirSync(join(dir, "user-home"));
  return {
    dir,
    env: {
      ...process.env,
      REDLINE_HOME: join(dir, "redline-home"),
      REDLINE_KEYRING_SERVICE: `redline-ui-test-${dir.split("-").pop()}`,
      HOME: join(dir, "user-home"),
    },
  };
}

/** Reads a child's stderr until `done(text)`; resolves with all of it. */
function readUntil(child, stream, done, what) {
  return new Promise((resolvePromise, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${text}`)), 20000);
    stream.on("data", (chunk) => {
      text += chunk;
      if (done(text)) {
        clearTimeout(timer);
        resolvePromise(text);
      }
    });
    child.on("exit", (code) => reject(new Error(`${what} exited (${code}): ${text}`)));
  });
}

/** `redline daemon` on a free port; `log()` is everything it printed so far. */
async function daemon(box, { demo = false, env = {} } = {}) {
  const args = ["daemon", "--listen", "127.0.0.1:0", ...(demo ? ["--demo"] : [])];
  const child = spawn(REDLINE, args, { env: { ...box.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  child.stderr.setEncoding("utf8");
  let log = "";
  child.stderr.on("data", (chunk) => { log += chunk; });
  const banner = await readUntil(child, child.stderr, (t) => t.includes("Ctrl-C stops it."), "redline daemon");
  const origin = banner.match(/listening on (http:\/\/\S+)/)[1];
  const token = demo ? banner.match(/#token=(\S+)/)[1] : execFileSync(REDLINE, ["token", "--admin"], { env: box.env }).toString().trim();
  return {
    origin,
    token,
    log: () => log,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * A fake provider process accepting `keys` (given in its environment, not its arguments);
 * `hold` keeps every chat answer back while it runs.
 */
async function fakeProvider(provider, keys, { hold = false } = {}) {
  const child = spawn(FAKE, [provider], {
    env: { ...process.env, FAKE_PROVIDER_KEYS: keys.join(","), ...(hold ? { FAKE_PROVIDER_HOLD: "1" } : {}) },
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.push(child);
  child.stdout.setEncoding("utf8");
  const line = await readUntil(child, child.stdout, (t) => t.includes("\n"), "the fake provider");
  return line.trim();
}

/** A signed-in page on the dashboard: the link with #token= trades it for a session cookie. */
async function open(server, { width = 1200, height = 900, colorScheme = "light" } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme });
  const page = await context.newPage();
  await page.goto(`${server.origin}/#token=${server.token}`);
  await page.waitForURL(`${server.origin}/ui/`);
  // From here on, the dashboard must not log a single error.
  const problems = [];
  page.on("pageerror", (error) => problems.push(error.message));
  page.on("console", (message) => {
    // Refusals the test provokes are logged by the browser as failed loads; scripts must not fail.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(message.text());
  });
  await page.locator("#overall").filter({ hasNotText: "Connecting" }).waitFor();
  page.problems = problems;
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * Holds back the answers to the requests `isHeld` picks among those `pattern` routes, to test
 * answers that arrive out of order. `deliver()` lets them go, waits until the held answer has
 * reached the page and two animation frames more (the page has handled it), and stops routing.
 */
async function holdBack(page, pattern, isHeld) {
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route(pattern, async (route) => {
    if (isHeld(route.request())) await held;
    await route.continue();
  });
  return {
    async deliver() {
      const finished = page.waitForEvent("requestfinished", isHeld);
      release();
      await finished;
      await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
      await page.unroute(pattern);
    },
  };
}

function card(page, id) {
  return page.locator(`article.card[data-account="${id}"]`);
}

/** Every file below `dir`, for the secret search. */
function filesBelow(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesBelow(path) : [path];
  });
}

test("the overview renders the demo's accounts and levels", async () => {
  const box = sandbox();
  const server = await daemon(box, { demo: true });
  const page = await open(server);
  const kimi = card(page, "kimi-demo");
  const claude = card(page, "claude-demo");
  await kimi.waitFor();
  await assert.doesNotReject(page.locator("#demo-banner").filter({ hasText: "simulated" }).waitFor());
  // Claude's 5-hour window is 86 % used: a warning, in words, not only in colour; its bar
  // is amber because the engine says so.
  await claude.locator(".badge", { hasText: "Warning" }).waitFor();
  assert.equal(await claude.locator(".window .bar").first().getAttribute("class"), "bar level-warn");
  assert.match(await claude.locator(".window").first().innerText(), /5-hour window[\s\S]*86% used[\s\S]*resets in \dh( \d+m)?/);
  await kimi.getByText(/in flight \d+ \/ 30/).waitFor();
  assert.match(await kimi.innerText(), /Weekly[\s\S]*2,100 \/ 10,000 requests · 21% used/);
  assert.match(await page.locator("#overall").innerText(), /Warning|Critical/);
  await page.getByRole("button", { name: "Refresh now" }).click();
  await page.getByRole("button", { name: "Refresh now" }).and(page.locator(":enabled")).waitFor();
  await claude.locator(".badge", { hasText: "Warning" }).waitFor();
  await shot(page, "overview");

  // A 360 px popover and the dark theme.
  const narrow = await open(server, { width: 360, height: 800, colorScheme: "dark" });
  await card(narrow, "kimi-demo").waitFor();
  const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 360 px window`);
  await shot(narrow, "overview-360-dark");
  assert.deepEqual([...page.problems, ...narrow.problems], []);
  await server.stop();
});

test("each card shows what the proxy saw, with a row per tool", async () => {
  const box = sandbox();
  const server = await daemon(box, { demo: true });
  const page = await open(server);
  const kimi = card(page, "kimi-demo");
  // The demo's agents (half Claude Code, half Kimi CLI by their User-Agent) go through the
  // real proxy; once their first answers are in, the card carries the traffic.
  const traffic = kimi.locator(".traffic");
  await traffic.locator('[data-fact="tokens"]').filter({ hasText: /[1-9][\d.]*k? \/ [1-9][\d.]*k? today/ }).waitFor({ timeout: 30000 });
  assert.match(await traffic.locator('[data-fact="requests"]').innerText(), /^[1-9]\d* in 5 min · [1-9]\d* in the hour$/);
  assert.match(await traffic.locator('[data-fact="errors"]').innerText(), /^\d+( \(\+\d+ cancelled\))? in 5 min · \d+/);
  assert.match(await traffic.locator('[data-fact="tokens"]').innerText(), /^[\d.]+k? \/ [\d.]+k? in 5 h · [1-9][\d.]*k? \/ [1-9][\d.]*k? today$/);
  assert.match(await traffic.locator('[data-fact="first-token"]').innerText(), /^\d+(\.\d)? m?s median$/);
  assert.match(await traffic.locator('[data-fact="speed"]').innerText(), /^\d+ tokens\/s median$/);
  assert.equal(await traffic.locator('[data-fact="queue"]').count(), 0, "no cap and nothing queued: no queue line");
  // One row per tool, named as text.
  const rows = traffic.locator("table.tools tbody tr");
  await rows.filter({ hasText: "Kimi CLI" }).waitFor();
  assert.deepEqual((await rows.locator("th").allInnerTexts()).sort(), ["Claude Code", "Kimi CLI"]);
  const claude = rows.filter({ has: page.locator('th:text-is("Claude Code")') });
  // The account's first answers may all be Kimi CLI's: wait for Claude Code's own.
  await claude.locator('td[data-label="Requests 5 min / hour"]').filter({ hasText: /^\d+ \/ [1-9]\d*$/ }).waitFor({ timeout: 30000 });
  await claude.locator('td[data-label="Tokens today in / out"]').filter({ hasText: /^[1-9][\d.]*k? \/ [1-9][\d.]*k?$/ }).waitFor({ timeout: 30000 });
  // The figures are the engine's: the card and GET /api/v1/status agree on the tools.
  const status = await page.evaluate(() => fetch("/api/v1/status").then((r) => r.json()));
  const kimiStatus = status.accounts.find((a) => a.id === "kimi-demo");
  assert.deepEqual(kimiStatus.traffic.tools.map((t) => t.tool).sort(), ["Claude Code", "Kimi CLI"]);
  assert.ok(kimiStatus.traffic.tokens.today.output > 0, "tokens are counted");
  // Claude's demo account sends nothing through the proxy: no traffic block at all.
  assert.equal(await card(page, "claude-demo").locator(".traffic").count(), 0);
  await shot(page, "overview-traffic");

  const narrow = await open(server, { width: 360, height: 800, colorScheme: "dark" });
  await card(narrow, "kimi-demo").locator("table.tools tbody tr").first().waitFor();
  const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 360 px window`);
  await shot(narrow, "overview-traffic-360-dark");
  assert.deepEqual([...page.problems, ...narrow.problems], []);
  await server.stop();
});

test("each bar has the level the engine judged against the user's thresholds", async () => {
  const box = sandbox();
  const provider = await fakeProvider("kimi-code", [KEY]);
  // The fake reports 40 % of the 5-hour window and 20 % of the week used. Against thresholds
  // of 30 and 35 the engine calls the first critical and the second ok; fixed thresholds of
  // 80 and 95 would call both ok.
  const redline = (args, input) => execFileSync(REDLINE, args, { env: box.env, input });
  redline(["config", "set", "thresholds.warn", "30"]);
  redline(["config", "set", "thresholds.critical", "35"]);
  redline(["keys", "add", "kimi-main", "--provider", "kimi-code", "--base-url", provider, "--label", "Kimi at work"], KEY);
  const server = await daemon(box);
  const page = await open(server);
  const kimi = card(page, "kimi-main");
  const fiveHour = kimi.locator(".window", { hasText: "5-hour window" });
  const weekly = kimi.locator(".window", { hasText: "Weekly" });
  await fiveHour.locator(".bar.level-critical").waitFor();
  assert.match(await fiveHour.innerText(), /40% used/);
  assert.equal(await fiveHour.locator(".bar").getAttribute("aria-label"), "5-hour window: 40% used, Critical");
  assert.equal(await weekly.locator(".bar").getAttribute("class"), "bar level-ok");
  // The card says the same as its bar, in words too; the provider's name is the engine's.
  await kimi.locator(".badge", { hasText: "Critical" }).waitFor();
  await kimi.getByText("5h window 40% used").waitFor();
  await kimi.getByText("kimi-main · Kimi Code (coding plan)").waitFor();
  await shot(page, "levels-user-thresholds");

  // Thresholds raised in Settings: the engine judges again and the bar follows at once.
  await page.locator("#tabs").getByRole("link", { name: "Settings" }).click();
  await page.getByLabel(/^Critical at/).fill("60");
  await page.getByLabel(/^Warn at/).fill("50");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByText(/Saved .*thresholds\.critical/).waitFor();
  await page.locator("#tabs").getByRole("link", { name: "Overview" }).click();
  await fiveHour.locator(".bar.level-ok").waitFor();
  assert.equal(await fiveHour.locator(".bar").getAttribute("aria-label"), "5-hour window: 40% used, OK");
  await server.stop();
  assert.deepEqual(page.problems, []);
});

test("the demo banner's button opens the add-key form with its first field focused", async () => {
  const box = sandbox();
  const server = await daemon(box, { demo: true });
  const form = (page) => page.getByRole("form", { name: "Add a key" });
  const focusedId = (page) => page.evaluate(() => document.activeElement?.id);

  // Light theme, with the mouse.
  const page = await open(server);
  const banner = page.locator("#demo-banner");
  await banner.getByRole("button", { name: "Add a real key" }).click();
  await form(page).waitFor();
  assert.equal(await focusedId(page), "add-provider", "the form's first field has the focus");
  assert.equal(await page.getByLabel("Provider", { exact: true }).evaluate((e) => e === document.activeElement), true);
  assert.equal(new URL(page.url()).hash, "#keys");
  assert.equal(await page.locator("#tabs a[aria-current=page]").innerText(), "Keys");
  assert.ok(await form(page).isVisible() && !(await page.locator("#view-overview").isVisible()));
  await shot(page, "demo-add-real-key");

  // 360 px and dark, from the keyboard alone: the button is reachable with Tab and fits.
  const narrow = await open(server, { width: 360, height: 800, colorScheme: "dark" });
  const button = narrow.locator("#demo-banner").getByRole("button", { name: "Add a real key" });
  await button.waitFor();
  const box360 = await button.boundingBox();
  assert.ok(box360.x >= 0 && box360.x + box360.width <= 360, `the button fits in 360 px: ${JSON.stringify(box360)}`);
  for (let tabs = 0; (await focusedId(narrow)) !== "add-real-key"; tabs++) {
    assert.ok(tabs < 20, "Tab reaches the banner's button");
    await narrow.keyboard.press("Tab");
  }
  await narrow.keyboard.press("Enter");
  await form(narrow).waitFor();
  assert.equal(await focusedId(narrow), "add-provider");
  const inView = await narrow.getByLabel("Provider", { exact: true }).evaluate((e) => {
    const r = e.getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight;
  });
  assert.ok(inView, "the focused field is scrolled into view");
  const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a 360 px window`);
  await shot(narrow, "demo-add-real-key-360-dark");
  assert.deepEqual([...page.problems, ...narrow.problems], []);
  await server.stop();
});

test("the level changes live as the demo throttles, and the events list says why", async () => {
  const box = sandbox();
  const server = await daemon(box, { demo: true, env: { REDLINE_DEMO_PHASE_SECONDS: "3" } });
  const page = await open(server);
  const kimi = card(page, "kimi-demo");
  await kimi.waitFor();
  await page.evaluate(() => { window.notReloaded = true; });
  // The workload goes past the concurrency limit of 30 in its third phase.
  await kimi.locator(".badge", { hasText: "Critical" }).waitFor({ timeout: 30000 });
  await kimi.getByText("Last throttle:").waitFor();
  assert.match(await kimi.locator(".last").innerText(), /Concurrency limit \(HTTP 429[\s\S]*Run fewer agents at once\. [\s\S]*Lower parallel agents/);
  assert.match(await kimi.locator(".chart").innerText(), /Concurrency limit\s+\d+/);
  await page.locator("#overall", { hasText: "Critical" }).waitFor();
  assert.equal(await page.evaluate(() => window.notReloaded), true, "updated without a reload");
  await shot(page, "overview-throttled");

  await page.locator("#tabs").getByRole("link", { name: "Events" }).click();
  const rows = page.locator("table.events tbody tr");
  await rows.first().waitFor();
  assert.match(await rows.first().innerText(), /kimi-demo[\s\S]*(Claude Code|Kimi CLI)[\s\S]*429[\s\S]*Concurrency limit/);
  await page.getByLabel("Cause", { exact: true }).selectOption("quota_exhausted");
  await page.getByText(/Showing 0 of the latest \d+/).waitFor();
  await page.getByLabel("Cause", { exact: true }).selectOption("concurrency");
  await page.getByLabel("Account", { exact: true }).selectOption("kimi-demo");
  await rows.first().waitFor();
  await page.getByText(/Showing [1-9]\d* of the latest \d+/).waitFor();
  await shot(page, "events");
  assert.deepEqual(page.problems, []);
  await server.stop();
});

test("a key is added against a fake provider, rotated and rolled back", async () => {
  const box = sandbox();
  const provider = await fakeProvider("kimi-code", [KEY, NEW_KEY]);
  const server = await daemon(box);
  const page = await open(server);
  await page.getByText("No accounts yet").first().waitFor();
  await page.locator("#tabs").getByRole("link", { name: "Keys" }).click();

  await page.getByLabel("Provider", { exact: true }).selectOption("kimi-code");
  await page.getByText("starts with sk-kimi-").waitFor();
  await page.getByLabel("Account id", { exact: true }).fill("kimi-main");
  await page.getByLabel("Region or base URL", { exact: true }).selectOption("custom");
  await page.getByLabel("Custom base URL", { exact: true }).fill(provider);
  await page.getByLabel("Label", { exact: true }).fill("Kimi at work");
  await page.getByLabel("API key", { exact: true }).fill(KEY);
  await page.getByRole("button", { name: "Check and save" }).click();
  await page.getByText("Stored kimi-main (sk-kimi-…1111) in the OS keyring. The provider accepted it.").waitFor();
  assert.equal(await page.getByLabel("API key", { exact: true }).inputValue(), "", "the secret is not kept in the form");
  const keyCard = page.locator('article[data-key="kimi-main"]');
  await keyCard.getByText("passed: the provider accepted the key").waitFor();
  await shot(page, "keys-added");

  // The setup text for sh is asked for first; that answer is held back until fish's is shown,
  // and must not replace it when it comes.
  const first = /\/api\/v1\/keys\/kimi-main\/setup\?shell=sh$/;
  const shAnswer = await holdBack(page, first, (request) => first.test(request.url()));
  await keyCard.getByRole("button", { name: "Set up tools" }).click();
  const shell = keyCard.getByLabel("Shell", { exact: true });
  await shell.selectOption("fish");
  const snippet = keyCard.locator(".snippet");
  const fish = `set -gx OPENAI_BASE_URL '${server.origin}/kimi-main/coding/v1'`;
  await snippet.filter({ hasText: fish }).waitFor();
  await shAnswer.deliver();
  assert.ok((await snippet.innerText()).includes(fish), "the fish setup stays under Shell: fish");
  await shell.selectOption("sh");
  await snippet.filter({ hasText: `export OPENAI_BASE_URL='${server.origin}/kimi-main/coding/v1'` }).waitFor();

  await keyCard.getByRole("button", { name: "Rotate…" }).click();
  await keyCard.getByLabel(/^New key/).fill(NEW_KEY);
  await keyCard.getByRole("button", { name: "Rotate", exact: true }).click();
  await page.getByText(/Rotated kimi-main: now using sk-kimi-…2222; sk-kimi-…1111 is kept/).waitFor();
  const rotated = page.locator('article[data-key="kimi-main"]');
  await rotated.getByText("sk-kimi-…1111 (kept for rollback)").waitFor();
  await shot(page, "keys-rotated");

  await rotated.getByRole("button", { name: "Roll back" }).click();
  await page.getByText(/kimi-main is back on sk-kimi-…1111/).waitFor();
  await page.locator('article[data-key="kimi-main"] .fingerprint', { hasText: "sk-kimi-…1111" }).waitFor();
  await shot(page, "keys-rolled-back");

  // The running engine watches the new account at once.
  await page.locator("#tabs").getByRole("link", { name: "Overview" }).click();
  await card(page, "kimi-main").locator(".badge", { hasText: "OK" }).waitFor();
  await card(page, "kimi-main").getByText("5-hour window").waitFor();

  const html = await page.content();
  await server.stop();
  for (const secret of [KEY, NEW_KEY]) {
    const middle = secret.slice(8, 24);
    assert.ok(!html.includes(middle), "the page never shows a secret");
    assert.ok(!server.log().includes(middle), "the daemon never logs a secret");
    for (const file of filesBelow(box.dir)) {
      assert.ok(!readFileSync(file).includes(middle), `${file} holds a secret`);
    }
  }
  assert.deepEqual(page.problems, []);
});

test("a bad key shows the verification error and is not stored", async () => {
  const box = sandbox();
  const provider = await fakeProvider("kimi-code", [KEY]);
  const server = await daemon(box, { env: { REDLINE_PROVIDER_HOSTS: "https://api.moonshot.ai=http://127.0.0.1:9,https://api.moonshot.cn=http://127.0.0.1:9" } });
  const page = await open(server, { colorScheme: "dark" });
  await page.locator("#tabs").getByRole("link", { name: "Keys" }).click();
  await page.getByLabel("Provider", { exact: true }).selectOption("kimi-code");
  await page.getByLabel("Account id", { exact: true }).fill("kimi-main");
  await page.getByLabel("Region or base URL", { exact: true }).selectOption("custom");
  await page.getByLabel("Custom base URL", { exact: true }).fill(provider);
  await page.getByLabel("API key", { exact: true }).fill(WRONG_KEY);
  await page.getByRole("button", { name: "Check and save" }).click();
  const alert = page.getByRole("alert").filter({ hasText: "rejected the key" });
  await alert.waitFor();
  assert.match(await alert.innerText(), /the key was not stored: Kimi Code \(coding plan\) rejected the key: HTTP 401/);
  await page.getByText("No keys yet: add one below.").waitFor();

  // A malformed id is named too; the form works from the keyboard alone.
  await page.getByLabel("Account id", { exact: true }).fill("Kimi Main");
  await page.getByLabel("API key", { exact: true }).fill(WRONG_KEY);
  await page.getByLabel("API key", { exact: true }).press("Enter");
  await page.getByRole("alert").filter({ hasText: 'invalid account id "Kimi Main"' }).waitFor();
  await shot(page, "keys-bad-key");
  assert.ok(!(await page.content()).includes(WRONG_KEY.slice(8, 24)));
  await server.stop();
  assert.deepEqual(page.problems, []);
});

test("settings are validated, saved, and still there after a restart", async () => {
  const box = sandbox();
  const first = await daemon(box);
  const page = await open(first);
  await page.locator("#tabs").getByRole("link", { name: "Settings" }).click();
  const warn = page.getByLabel(/^Warn at/);
  await warn.waitFor();
  assert.equal(await warn.inputValue(), "80");
  assert.match(await page.locator("#settings").innerText(), /Only the desktop app can start at login/);
  // The address waits for a restart, and the page says how to restart this daemon.
  assert.match(await page.locator("#setting-proxy-listen-note").innerText(), /^proxy\.listen takes effect when Redline restarts: \S/);
  assert.equal(await page.locator("#setting-proxy-queue_max_wait_s-note").count(), 0, "the queue wait applies at once");

  await page.getByLabel(/^Check usage every/).fill("5");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByRole("alert").filter({ hasText: "poll.interval_s: must be a whole number from 15" }).waitFor();
  await shot(page, "settings-refused");

  await page.getByLabel(/^Check usage every/).fill("120");
  await warn.fill("70");
  await page.getByLabel("Desktop notifications", { exact: true }).uncheck();
  await page.getByLabel(/^Longest wait in Redline's queue/).fill("7");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByText(/Saved .*thresholds\.warn/).waitFor();
  assert.doesNotMatch(await page.locator("#settings .message").innerText(), /restart/);

  await page.getByLabel(/^Proxy and dashboard address/).fill("127.0.0.1:4391");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByText(/Saved proxy\.listen\. proxy\.listen takes effect when Redline restarts: \S/).waitFor();
  await first.stop();

  const second = await daemon(box);
  const again = await open(second);
  await again.locator("#tabs").getByRole("link", { name: "Settings" }).click();
  await again.getByLabel(/^Warn at/).waitFor();
  assert.equal(await again.getByLabel(/^Warn at/).inputValue(), "70");
  assert.equal(await again.getByLabel(/^Check usage every/).inputValue(), "120");
  assert.equal(await again.getByLabel("Desktop notifications", { exact: true }).isChecked(), false);
  assert.equal(await again.getByLabel(/^Longest wait in Redline's queue/).inputValue(), "7");
  await shot(again, "settings-after-restart");
  await second.stop();
  assert.deepEqual([...page.problems, ...again.problems], []);
});

test("a base URL on a host the provider does not own is saved only once the user confirms it", async () => {
  const box = sandbox();
  const provider = await fakeProvider("kimi-code", [KEY]);
  const redline = (args, input) => execFileSync(REDLINE, args, { env: box.env, input });
  redline(["keys", "add", "kimi-main", "--provider", "kimi-code", "--base-url", provider], KEY);
  const configText = () => readFileSync(join(box.env.REDLINE_HOME, "config.toml"), "utf8");
  const server = await daemon(box);
  const page = await open(server);
  await page.locator("#tabs").getByRole("link", { name: "Settings" }).click();
  const base = page.locator("#setting-accounts-kimi-main-base_url");
  await base.waitFor();
  assert.equal(await base.inputValue(), provider);

  await base.fill("https://gateway.invalid/coding/v1");
  await page.getByRole("button", { name: "Save settings" }).click();
  const question = page.getByRole("alertdialog", { name: "Send the key to gateway.invalid?" });
  await question.waitFor();
  assert.match(await question.innerText(), /does not belong to Kimi Code/);
  await shot(page, "settings-confirm-host");
  await question.getByRole("button", { name: "Cancel" }).click();
  await page.getByRole("alert").filter({ hasText: "Not saved" }).waitFor();
  assert.ok(!configText().includes("gateway.invalid"), "nothing saved without the answer");

  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByRole("button", { name: "Send the key to gateway.invalid" }).click();
  await page.getByText(/Saved .*accounts\.kimi-main\.base_url/).waitFor();
  assert.match(configText(), /base_url = "https:\/\/gateway\.invalid\/coding\/v1"/);
  await server.stop();
  assert.deepEqual(page.problems, []);
});

test("the history view draws the demo's recorded series and follows the range and account", async () => {
  const box = sandbox();
  const server = await daemon(box, { demo: true, env: { REDLINE_DEMO_PHASE_SECONDS: "3" } });
  const page = await open(server);
  const fetched = [];
  page.on("request", (request) => {
    if (request.url().includes("/api/v1/history")) fetched.push(new URL(request.url()).search);
  });
  // Once the card says the demo throttled, the history database has the refusals too.
  await card(page, "kimi-demo").locator(".badge", { hasText: "Critical" }).waitFor({ timeout: 30000 });
  await page.locator("#tabs").getByRole("link", { name: "History" }).click();
  const history = page.locator("#history");
  const account = history.getByLabel("Account", { exact: true });
  await account.waitFor();
  assert.deepEqual(await account.locator("option").allInnerTexts(), ["Claude (demo) (claude-demo)", "Kimi Code (demo) (kimi-demo)"]);
  await account.selectOption("kimi-demo");
  const figures = history.locator("figure.history-chart");
  const throttles = figures.filter({ hasText: "Throttles per hour" });
  const quota = figures.filter({ hasText: "Quota used" });
  // The history is written on its own thread, and usage is sampled when a poll lands (at the
  // latest once a minute): ask again until the refusals and the usage are in.
  async function until(range, what, ready) {
    const deadline = Date.now() + 75000;
    while (!(await ready())) {
      assert.ok(Date.now() < deadline, `no ${what} in the history: ${await history.innerText()}`);
      await history.getByRole("button", { name: range }).click();
      await figures.nth(2).waitFor();
    }
  }
  await until("Last day", "concurrency throttle and usage", async () =>
    (await throttles.getByText(/Concurrency limit: [1-9]/).count()) > 0 && (await quota.locator("svg").count()) > 0);
  assert.deepEqual(await figures.locator("figcaption").allInnerTexts(), ["Quota used", "Throttles per hour, by cause", "Requests and in flight", "Tokens in and out"]);
  // Every section is a labelled SVG chart with its values in words, not only in shades.
  for (const figure of await figures.all()) {
    const svg = figure.locator("svg[role=img]");
    assert.ok((await svg.getAttribute("aria-label")).length > 0);
    assert.ok((await svg.locator("text").count()) > 3, "axis and series labels are text");
  }
  assert.match(await quota.innerText(), /5h: now 42%, highest 42%[\s\S]*week: now 21%/);
  assert.match(await quota.locator("svg").textContent(), /5h 42%/);
  assert.match(await throttles.locator(".history-note").innerText(), /^Concurrency limit: [1-9]\d*\. Worst hour: \d{1,2}:00.* with [1-9]\d*\.$/);
  const traffic = figures.filter({ hasText: "Requests and in flight" });
  const requests = Number((await traffic.locator(".history-note").innerText()).match(/^(\d+) requests, (\d+) with an error/)[1]);
  assert.ok(requests > 0, "the demo's traffic is counted");
  assert.ok((await traffic.locator("svg rect").count()) > 0, "and drawn as bars");
  // The demo's answers report usage: the token series is drawn, input and output labelled.
  const tokens = figures.filter({ hasText: "Tokens in and out" });
  assert.match(await tokens.locator(".history-note").innerText(), /^[1-9][\d.]*k? input tokens, [1-9][\d.]*k? output tokens in this range$/);
  assert.equal(await tokens.locator("svg path").count(), 2);
  assert.match(await tokens.locator("svg").textContent(), /in: solid[\s\S]*out: dashed|out: dashed[\s\S]*in: solid/);
  const dayAxis = await figures.first().locator("svg > text").allTextContents();
  assert.ok(dayAxis.some((t) => /^\d{1,2}:\d{2}/.test(t)), `a day is labelled by the clock: ${dayAxis}`);
  await shot(page, "history");

  // The week re-fetches and redraws on a week's axis.
  await history.getByRole("button", { name: "Last week" }).click();
  await history.getByRole("button", { name: "Last week", pressed: true }).waitFor();
  await figures.first().locator("svg").waitFor();
  assert.equal(fetched.at(-1), "?account=kimi-demo&range=week");
  const weekAxis = await figures.first().locator("svg > text").allTextContents();
  assert.ok(!weekAxis.some((t) => /^\d{1,2}:\d{2}/.test(t)) && weekAxis.some((t) => /[A-Za-z]/.test(t)), `a week is labelled by days: ${weekAxis}`);
  await throttles.getByText(/Concurrency limit: [1-9]\d*\. Worst hour: \S+ \S+ \d{1,2}:00/).waitFor();
  await shot(page, "history-week");

  // Claude's demo account never throttles and sends nothing through the proxy: said in words.
  await account.selectOption("claude-demo");
  await throttles.getByText("No throttles in this range.").waitFor();
  assert.equal(fetched.at(-1), "?account=claude-demo&range=week");
  await figures.filter({ hasText: "Requests and in flight" }).getByText("No proxied requests in this range.").waitFor();
  await until("Last week", "usage of claude-demo", async () => (await quota.locator("svg").count()) > 0);
  assert.match(await quota.innerText(), /5h: now 86%/);

  // An account the engine does not know: the endpoint's error as a plain message.
  await account.evaluate((select) => select.add(new Option("gone", "gone-account")));
  await account.selectOption("gone-account");
  await history.getByRole("alert").filter({ hasText: 'Could not load the history: no account named "gone-account": see the status for the ids' }).waitFor();
  assert.equal(await figures.count(), 0);
  await shot(page, "history-error");

  // Dark and 360 px wide: the charts fit and stay readable. The view first asks for the first
  // account's history; that answer is held back until the account chosen meanwhile is drawn,
  // and must not replace it when it comes (CI once saw Claude's charts under "kimi-demo").
  const narrow = await open(server, { width: 360, height: 800, colorScheme: "dark" });
  const claude = /\/api\/v1\/history\?account=claude-demo&/;
  const claudeAnswer = await holdBack(narrow, claude, (request) => claude.test(request.url()));
  await narrow.locator("#tabs").getByRole("link", { name: "History" }).click();
  await narrow.locator("#history").getByLabel("Account", { exact: true }).selectOption("kimi-demo");
  const charts = narrow.locator("#history figure.history-chart svg");
  await charts.nth(2).waitFor();
  const drawn = await charts.count();
  await claudeAnswer.deliver();
  assert.match(await narrow.locator("#history").innerText(), /Concurrency limit: [1-9]/, "kimi-demo's charts stay");
  assert.equal(await charts.count(), drawn);
  const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the history is ${overflow}px wider than a 360 px window`);
  const colours = await narrow.locator("#history figure svg").first().evaluate((svg) => getComputedStyle(svg).color);
  assert.notEqual(colours, "rgb(0, 0, 0)", "dark mode draws in the page's light foreground");
  await shot(narrow, "history-360-dark");
  assert.deepEqual([...page.problems, ...narrow.problems], []);
  await server.stop();
});

test("the Tools view shows the change, connects a tool with its own token, notices it going astray, and disconnect restores the file", async () => {
  const box = sandbox();
  const provider = await fakeProvider("kimi-code", [KEY]);
  const redline = (args, input) => execFileSync(REDLINE, args, { env: box.env, input });
  redline(["keys", "add", "kimi-main", "--provider", "kimi-code", "--base-url", provider, "--label", "Kimi at work"], KEY);
  redline(["keys", "add", "kimi-side", "--provider", "kimi-code", "--base-url", provider, "--label", "Kimi at home"], KEY);
  // The user's own OpenClaw file, with a comment and a trailing comma.
  const file = join(box.env.HOME, ".openclaw", "openclaw.json");
  mkdirSync(dirname(file), { recursive: true });
  const original = "// my gateway\n{\n  gateway: { port: 18789 },\n}\n";
  writeFileSync(file, original);
  const server = await daemon(box);
  const page = await open(server);
  await page.locator("#tabs").getByRole("link", { name: "Tools" }).click();
  assert.equal(new URL(page.url()).hash, "#tools");
  const openclaw = page.locator('article[data-tool="openclaw"]');
  await openclaw.locator(".badge", { hasText: "Not configured" }).waitFor();
  assert.match(await openclaw.locator(".path").innerText(), /\.openclaw\/openclaw\.json$/);
  // Codex cannot use a Kimi Code account: it says so, and offers no Connect.
  const codex = page.locator('article[data-tool="codex"]');
  await codex.getByText(/Codex speaks OpenAI responses; Kimi Code/).waitFor();
  assert.equal(await codex.getByRole("button", { name: "Connect…" }).isDisabled(), true);
  await shot(page, "tools");

  // Connect: the change first, the token masked; nothing written until confirmed.
  await openclaw.getByRole("button", { name: "Connect…" }).click();
  assert.equal(await openclaw.getByLabel("Account", { exact: true }).inputValue(), "kimi-main");
  const preview = openclaw.locator("pre.preview");
  await preview.filter({ hasText: "redline-kimi-main" }).waitFor();
  const token = redline(["token", "--tool", "openclaw"]).toString().trim();
  assert.ok(!(await preview.innerText()).includes(token), "the preview masks the token");
  assert.match(await openclaw.locator(".connect-form").innerText(), /will use kimi-for-coding through Redline/);
  assert.equal(readFileSync(file, "utf8"), original, "nothing written yet");
  await shot(page, "tools-preview");
  await openclaw.getByRole("button", { name: "Connect OpenClaw" }).click();
  await page.getByText(/OpenClaw now goes through Redline for kimi-main \(answered in [\d.]+ s\)\./).waitFor();
  const connected = page.locator('article[data-tool="openclaw"]');
  await connected.locator(".badge", { hasText: "Through Redline" }).waitFor();
  assert.match(await connected.locator(".summary").innerText(), /through Redline on account kimi-main with tool token openclaw/);
  const written = readFileSync(file, "utf8");
  assert.ok(written.startsWith("// my gateway\n") && written.includes(token), written);
  assert.ok(!written.includes(KEY) && !written.includes(server.token), "never the key or the admin credential");
  await shot(page, "tools-connected");

  // The user points it elsewhere by hand: the engine's watch says so under the header.
  writeFileSync(file, original.replace("gateway:", 'models: { providers: { kimi: { baseUrl: "https://api.kimi.com/coding/", apiKey: "x" } } },\n  gateway:'));
  const notice = page.locator("#tool-notice");
  await notice.filter({ hasText: "OpenClaw no longer goes through Redline" }).waitFor({ timeout: 20000 });
  assert.match(await notice.innerText(), /redline connect openclaw kimi-main/);
  // The card says it too, amber: Redline connected it, and it went astray.
  const astray = page.locator('article[data-tool="openclaw"].level-warn');
  await astray.locator(".summary", { hasText: "Redline connected it to kimi-main" }).waitFor();
  assert.equal(await page.locator("#tools .message").isHidden(), true, "the earlier success is not shown beside it");
  await shot(page, "tools-notice");
  await notice.getByRole("button", { name: "Dismiss this notice" }).click();
  assert.equal(await notice.isHidden(), true);

  // Disconnect asks, then takes Redline's part out and keeps the user's edit.
  await page.locator('article[data-tool="openclaw"]').getByRole("button", { name: "Disconnect…" }).click();
  await page.getByRole("alertdialog", { name: "Disconnect OpenClaw?" }).getByRole("button", { name: "Disconnect OpenClaw" }).click();
  await page.getByText(/OpenClaw no longer goes through Redline: removed Redline's settings from .* and kept your changes since\./).waitFor();
  assert.ok(readFileSync(file, "utf8").includes("api.kimi.com"), "the user's edit stays");
  // The message comes first, then the card is drawn again from the engine's tools list.
  await page.locator('article[data-tool="openclaw"]').getByRole("button", { name: "Disconnect…" }).waitFor({ state: "detached" });

  // Connected and disconnected with nothing changed in between: byte for byte.
  writeFileSync(file, original);
  await page.locator('article[data-tool="openclaw"]').getByRole("button", { name: "Connect…" }).click();
  await page.locator('article[data-tool="openclaw"] pre.preview').filter({ hasText: "redline-kimi-main" }).waitFor();
  await page.getByRole("button", { name: "Connect OpenClaw" }).click();
  await page.locator('article[data-tool="openclaw"] .badge', { hasText: "Through Redline" }).waitFor();
  await page.locator('article[data-tool="openclaw"]').getByRole("button", { name: "Disconnect…" }).click();
  await page.getByRole("button", { name: "Disconnect OpenClaw" }).click();
  await page.getByText(/OpenClaw no longer goes through Redline: restored .* as it was\./).waitFor();
  assert.equal(readFileSync(file, "utf8"), original);

  // 360 px and dark: the cards fit.
  const narrow = await open(server, { width: 360, height: 800, colorScheme: "dark" });
  await narrow.locator("#tabs").getByRole("link", { name: "Tools" }).click();
  // The preview for the first account is held back until the one chosen meanwhile is shown; it
  // must not replace it, or Connect would write another change than the one on screen.
  const mainPreview = await holdBack(narrow, "**/api/v1/tools/openclaw/preview",
    (request) => request.url().endsWith("/api/v1/tools/openclaw/preview") && request.postDataJSON()?.account === "kimi-main");
  const narrowClaw = narrow.locator('article[data-tool="openclaw"]');
  await narrowClaw.getByRole("button", { name: "Connect…" }).click();
  await narrowClaw.getByLabel("Account", { exact: true }).selectOption("kimi-side");
  const narrowPreview = narrowClaw.locator("pre.preview");
  await narrowPreview.filter({ hasText: "redline-kimi-side" }).waitFor();
  await mainPreview.deliver();
  assert.ok((await narrowPreview.innerText()).includes("redline-kimi-side"), "the preview stays the chosen account's");
  assert.ok(!(await narrowPreview.innerText()).includes("redline-kimi-main"));
  assert.equal(await narrowClaw.getByRole("button", { name: "Connect OpenClaw" }).isEnabled(), true);
  const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the Tools view is ${overflow}px wider than a 360 px window`);
  await shot(narrow, "tools-360-dark");

  const html = await page.content();
  assert.ok(!html.includes(token) && !html.includes(KEY.slice(8, 24)), "the page never shows a token or key");
  await server.stop();
  assert.ok(!server.log().includes(KEY.slice(8, 24)));
  assert.deepEqual([...page.problems, ...narrow.problems], []);
});

/** A free loopback port (the listener is closed before it is returned). */
function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

/** Debian's redis-server on a free loopback port, nothing saved; `stop()` kills it. */
async function redisServer() {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  child.stdout.setEncoding("utf8");
  await readUntil(child, child.stdout, (t) => t.includes("Ready to accept connections"), "redis-server");
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
  };
}

test("a cap shared through Redis shows this machine beside the whole group, and says when the server is out of reach", async () => {
  const redis = await redisServer();
  // The provider keeps every answer back: requests stay in flight as long as the test needs.
  const provider = await fakeProvider("kimi-code", [KEY], { hold: true });
  const machines = [];
  for (const name of ["laptop", "desktop"]) {
    const box = sandbox();
    const redline = (args, input) => execFileSync(REDLINE, args, { env: box.env, input });
    redline(["keys", "add", "kimi-main", "--provider", "kimi-code", "--base-url", provider], KEY);
    redline(["config", "set", "accounts.kimi-main.concurrency_cap", "2"]);
    redline(["config", "set", "proxy.queue_max_wait_s", "300"]);
    redline(["config", "set", "shared.redis_url", redis.url]);
    const server = await daemon(box, { env: { REDLINE_MACHINE: name } });
    machines.push({ server, token: redline(["token"]).toString().trim() });
  }
  const [laptop, desktop] = machines;
  const stop = new AbortController();
  const send = (machine) => fetch(`${machine.server.origin}/kimi-main/coding/v1/chat/completions`, {
    method: "POST",
    signal: stop.signal,
    headers: { authorization: `Bearer ${machine.token}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "kimi-for-coding", messages: [{ role: "user", content: "hi" }] }),
  }).catch(() => null);
  try {
    // The laptop takes both slots of the group…
    const sent = [send(laptop), send(laptop)];
    const onLaptop = card(await open(laptop.server), "kimi-main").locator(".shared");
    await onLaptop.locator('[data-fact="here"]', { hasText: "2 in flight" }).waitFor({ timeout: 20000 });
    await onLaptop.locator('[data-fact="group"]', { hasText: "2 / 2 in flight · 1 machine" }).waitFor({ timeout: 20000 });
    // …so the desktop's two requests wait for one, and both machines see the whole group.
    sent.push(send(desktop), send(desktop));
    const page = await open(desktop.server);
    const shared = card(page, "kimi-main").locator(".shared");
    await shared.locator('[data-fact="here"]', { hasText: "0 in flight · 2 queued" }).waitFor({ timeout: 20000 });
    await shared.locator('[data-fact="group"]', { hasText: "2 / 2 in flight · 2 queued · 2 machines" }).waitFor({ timeout: 20000 });
    await onLaptop.locator('[data-fact="group"]', { hasText: "2 / 2 in flight · 2 queued · 2 machines" }).waitFor({ timeout: 20000 });
    assert.match(await shared.innerText(), /machine desktop/);
    await shot(page, "shared-cap");

    // The server goes away: this machine's own cap takes over at once, amber, and the card
    // no longer shows the group's last figures as if they were current.
    await redis.stop();
    await card(page, "kimi-main").locator(".reasons li.level-warn", { hasText: "shared limit unavailable, using this machine's cap" }).waitFor({ timeout: 20000 });
    await shared.locator('[data-fact="group"]', { hasText: "unknown: server out of reach" }).waitFor({ timeout: 20000 });
    await shared.locator('[data-fact="here"]', { hasText: "2 in flight" }).waitFor({ timeout: 20000 });
    assert.equal(await shared.getAttribute("data-state"), "unavailable");
    await shot(page, "shared-cap-unavailable");
    assert.deepEqual(page.problems, []);
  } finally {
    stop.abort();
  }
});
