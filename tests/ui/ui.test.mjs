// Browser tests of the web UI: Debian's chromium driven by playwright-core against a real
// `ccproxy serve` and the mock upstream (its OAuth endpoints too). Every page, in order on one
// server: status, login (browser flow and manual code), logout, connect, dashboard (after real
// requests, with the live tail), API token (generate, require, remove), settings (a change
// restarts the server on a new port and the page follows), dark theme. Each page must load
// without console errors; screenshots go to target/ui-screenshots/.
//
// Needs CCPROXY_BIN and MOCK_BIN (scripts/test.sh sets them) and /usr/bin/chromium.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const repo = resolve(import.meta.dirname, "../..");
const shots = join(repo, "target/ui-screenshots");
mkdirSync(shots, { recursive: true });

const freePort = () => new Promise((ok) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); });
});
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

let mock, serve, home, mockUrl, port, browser, context, page, errors = [];
let serveLog = "";

/** Polls `check` until it is true, for up to a generous 60 s (a slow machine is slower, not red). */
async function until(what, check) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try { if (await check()) return; } catch { /* not yet */ }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function waitHealthy(p) {
  await until(`ccproxy to listen on ${p}:\n${serveLog}`, async () =>
    (await fetch(`http://127.0.0.1:${p}/health`)).ok);
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), "ccproxy-ui-"));
  mock = spawn(process.env.MOCK_BIN, [], { stdio: ["ignore", "pipe", "inherit"] });
  mockUrl = await new Promise((ok) => createInterface({ input: mock.stdout }).once("line", ok));
  port = await freePort();
  const config = join(home, "ccproxy.toml");
  writeFileSync(config, `# written by the UI test\n[server]\nport = ${port}\n`);
  serve = spawn(process.env.CCPROXY_BIN, ["serve", "--config", config], {
    cwd: home,
    env: {
      PATH: process.env.PATH, HOME: home,
      CLAUDE__API_BASE_URL: mockUrl,
      OAUTH__AUTHORIZE_URL: `${mockUrl}/oauth/authorize`,
      OAUTH__TOKEN_URL: `${mockUrl}/v1/oauth/token`,
      OAUTH__PROFILE_URL: `${mockUrl}/api/oauth/profile`,
      OAUTH__REVOKE_URL: `${mockUrl}/v1/oauth/token/revoke`,
      OAUTH__MANUAL_REDIRECT_URI: `${mockUrl}/oauth/code/callback`,
      CLAUDE__CLI_PATH: join(home, "no-claude-here"),
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  serve.stderr.on("data", (d) => { serveLog += d; });
  await waitHealthy(port);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: `http://127.0.0.1:${port}` });
  page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
});

after(async () => {
  await browser?.close();
  serve?.kill("SIGTERM");
  mock?.kill();
  rmSync(home, { recursive: true, force: true });
});

const base = () => `http://127.0.0.1:${port}`;

/** Opens a page of the UI and waits for it to render. */
async function open(hash, ready) {
  errors = [];
  await page.goto("about:blank");
  await page.goto(`${base()}/#${hash}`);
  await page.waitForSelector(ready);
}

function noConsoleErrors() {
  assert.deepEqual(errors, [], "console errors");
}

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

test("status page shows the server, both modes and the quota", async () => {
  await open("status", "section[aria-label='Claude Code mode (/sdk)']");
  const text = await page.textContent("main");
  assert.match(text, /Server\s*Staterunning/);
  assert.match(text, /Credentialsmissing/);
  assert.match(text, /CLInot found/);
  assert.match(text, /no response from upstream has been seen yet/);
  assert.equal(await page.getAttribute("nav a[href='/status']", "aria-current"), "page");
  noConsoleErrors();
  await shot("status");
});

test("log in through the browser flow against the mock, then log out", async () => {
  await open("login", "#login-start");
  const popup = context.waitForEvent("page");
  await page.click("#login-start");
  const authorize = await popup;
  // The mock approves at once and redirects to the server's /callback, which completes the login.
  await authorize.waitForURL(/\/callback\?/);
  assert.match(await authorize.textContent("body"), /Logged in as user@example\.com/);
  await authorize.close();
  await page.waitForSelector("#logout", { timeout: 10000 });
  assert.match(await page.textContent("main"), /user@example\.com/);
  await shot("login-done");
  await page.click("#logout");
  await page.waitForSelector("#login-start", { timeout: 10000 });
  noConsoleErrors();
});

test("log in with a pasted code (manual fallback)", async () => {
  await open("login", "#login-manual");
  await page.click("#login-manual");
  await page.waitForSelector("#manual-code", { state: "visible" });
  const href = await page.getAttribute("#manual-link", "href");
  assert.ok(href.startsWith(`${mockUrl}/oauth/authorize?`), href);
  // Approve as the user would: the mock redirects to the manual page with code and state.
  const approved = await fetch(href, { redirect: "manual" });
  const location = new URL(approved.headers.get("location"));
  const code = `${location.searchParams.get("code")}#${location.searchParams.get("state")}`;
  await page.fill("#manual-code", code);
  await page.click("#manual-submit");
  await page.waitForSelector("#logout", { timeout: 10000 });
  noConsoleErrors();
});

test("every page has a path of its own, and the nav moves between them without a reload", async () => {
  errors = [];
  await page.goto(`${base()}/dashboard`);
  await page.waitForSelector("#total-requests");
  assert.equal(await page.getAttribute("nav a[href='/dashboard']", "aria-current"), "page");
  await page.evaluate(() => { window.__same = true; });
  await page.click("nav a[href='/connect']");
  await page.waitForSelector("pre");
  assert.equal(page.url(), `${base()}/connect`);
  assert.equal(await page.evaluate(() => window.__same), true, "no reload");
  await page.goBack();
  await page.waitForSelector("#total-requests");
  assert.equal(page.url(), `${base()}/dashboard`);
  // The skip link is not a page: it keeps the page shown.
  await page.focus("a.skip");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => location.hash === "#main");
  await page.waitForSelector("#total-requests");
  assert.equal(await page.getAttribute("nav a[href='/dashboard']", "aria-current"), "page");
  noConsoleErrors();
});

test("connect page gives copyable snippets for every client and both modes", async () => {
  await open("connect", "pre");
  const snippets = await page.$$eval("pre", (p) => p.map((e) => e.textContent));
  assert.equal(snippets.length, 6);
  assert.ok(snippets.some((s) => s.includes(`ANTHROPIC_BASE_URL=${base()}/api`)));
  assert.ok(snippets.some((s) => s.includes(`OPENAI_BASE_URL=${base()}/sdk/v1`)));
  await page.click("button[aria-label='Copy OpenAI SDK (api)']");
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(clip, `export OPENAI_BASE_URL=${base()}/api/v1\nexport OPENAI_API_KEY=ccproxy`);
  noConsoleErrors();
  await shot("connect");
});

async function request(body) {
  const r = await fetch(`${base()}/api/v1/messages`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  await r.text();
  return r.status;
}

test("dashboard shows the requests just made, per model, with a live tail", async () => {
  for (let i = 0; i < 3; i++) {
    assert.equal(await request({ model: "claude-sonnet-4-20250514", max_tokens: 5, messages: [{ role: "user", content: "hi" }] }), 200);
  }
  await until("the three requests in the log", async () =>
    (await (await fetch(`${base()}/logs/query`)).json()).data.length === 3);
  await open("dashboard", "#total-requests");
  assert.equal(await page.textContent("#total-requests"), "3");
  assert.match(await page.textContent("#models"), /claude-sonnet-4-20250514/);
  assert.equal(await page.locator("#recent tbody tr").count(), 3);
  assert.equal(await page.locator("#chart-requests canvas").count(), 1, "the chart is drawn");
  await page.check("#f-live");
  await page.waitForSelector("#f-live[data-connected]");
  assert.equal(await request({ model: "claude-3-5-haiku-20241022", max_tokens: 5, messages: [{ role: "user", content: "again" }] }), 200);
  await page.locator("#recent tbody tr").nth(3).waitFor({ timeout: 10000 });
  assert.match(await page.textContent("#recent tbody tr"), /claude-3-5-haiku/);
  // Filters.
  await page.uncheck("#f-live");
  await page.selectOption("#f-status", "4xx");
  await page.waitForSelector("#recent tbody tr", { state: "detached", timeout: 5000 });
  noConsoleErrors();
  await shot("dashboard");
});

test("the quota panel projects the pace of use from the log's readings", async () => {
  // The log's four readings, spread over the last hour as an hour of use would have left them:
  // 10 % → 25 % (the latest reading) in an hour is 15 % an hour, so the rest lasts five hours.
  const db = join(home, ".local/share/ccproxy/requests.db");
  execFileSync("python3", ["-c", `import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); now = int(time.time() * 1000)
c.execute("UPDATE requests SET ts = ? - ((SELECT MAX(id) FROM requests) - id) * 1200000, quota_5h = 0.25 - ((SELECT MAX(id) FROM requests) - id) * 0.05", (now,))
c.commit()`, db]);
  await open("dashboard", "#quota-pace-five_hour");
  assert.match(await page.textContent("#quota-pace-five_hour"), /^At this pace the 5-hour limit is reached at .* \(in (4 h 59|5 h 0) min\)$/);
  assert.match(await page.getAttribute("#quota-pace-five_hour", "title"), /^15 % an hour, from 4 readings/);
  // The weekly reading stayed the same: no limit in sight.
  assert.equal(await page.textContent("#quota-pace-seven_day"), "At this pace the weekly limit is not reached before the reset");
  noConsoleErrors();
  await shot("dashboard-quota-pace");
});

test("the dashboard says when the request log had trouble (its file deleted while running)", async () => {
  const db = join(home, ".local/share/ccproxy/requests.db");
  for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
  assert.equal(await request({ model: "claude-sonnet-4-20250514", max_tokens: 5, messages: [{ role: "user", content: "after" }] }), 200);
  await until("the log to report the problem", async () =>
    (await (await fetch(`${base()}/logs/status`)).json()).problem);
  await open("dashboard", "#log-problem");
  assert.match(await page.textContent("#log-problem"), /^Request log: /);
  await shot("dashboard-log-problem");
});

test("only the owner may change settings: a plain page cannot, the owner link can", async () => {
  await page.goto("about:blank");
  await page.goto(base() + "/");
  await page.evaluate(() => localStorage.removeItem("ccproxy.owner"));
  await open("settings", "#settings-save");
  assert.match(await page.textContent("#settings-owner"), /ccproxy ui/);
  await page.fill("#set-claude-pool_size", "5");
  await page.click("#settings-save");
  await page.waitForSelector("text=needs proof that you own this server");
  assert.doesNotMatch(readFileSync(join(home, "ccproxy.toml"), "utf8"), /pool_size/);
  // What the tray app and `ccproxy ui` open: the key is kept and leaves the address bar.
  const published = JSON.parse(readFileSync(join(home, ".local/share/ccproxy/owner.json"), "utf8"));
  assert.ok(published.link.startsWith(`${base()}/status#owner=`), published.link);
  const key = published.link.split("#owner=")[1];
  errors = []; // the refusal above is a 403 the browser reports in the console
  await page.goto("about:blank");
  await page.goto(published.link.replace("/status#", "/settings#"));
  await page.waitForSelector("#settings-save");
  assert.equal(page.url(), `${base()}/settings`);
  assert.equal(await page.evaluate(() => localStorage.getItem("ccproxy.owner")), key);
  assert.equal(await page.locator("#settings-owner").count(), 0);
  noConsoleErrors();
});

test("extra usage: the guard's banner, the owner's override, the alerts and who paid", async () => {
  const hi = { model: "claude-sonnet-4-20250514", max_tokens: 5, messages: [{ role: "user", content: "hi" }] };
  const billed = await fetch(`${base()}/api/v1/messages`, {
    method: "POST", headers: { "content-type": "application/json", "x-mock": "quota-extra-usage" }, body: JSON.stringify(hi),
  });
  await billed.text();
  assert.equal(billed.headers.get("x-ccproxy-billing"), "extra_usage");
  assert.equal(await request(hi), 429, "the next one is refused before it is sent");
  // The owner's page (the key is kept from the previous test) offers the override.
  await open("status", "#billing-blocked");
  assert.match(await page.textContent("#billing-blocked"), /5-hour window.*resets .*\(in /);
  assert.match(await page.textContent("#alert-list"), /Extra usage in use/);
  assert.match(await page.textContent("section[aria-label='API mode (/api)']"), /Last request paid byextra usage/);
  await shot("status-extra-usage-blocked");
  await page.click("#allow-extra-usage");
  await page.waitForSelector("#billing-allowed");
  assert.equal(await request(hi), 200, "allowed until the reset");
  await until("the requests in the log", async () =>
    (await (await fetch(`${base()}/logs/query?billing=extra_usage`)).json()).data.length === 1);
  await open("dashboard", "#extra-usage-requests");
  assert.equal(await page.textContent("#extra-usage-requests"), "1");
  await page.selectOption("#f-billing", "extra_usage");
  await until("the filtered table", async () => (await page.locator("#recent tbody tr").count()) === 1);
  assert.match(await page.textContent("#recent tbody tr"), /extra usage/);
  await page.click("#dismiss-alerts");
  assert.equal(await page.locator("#alert-list").count(), 0);
  errors = errors.filter((e) => !/429/.test(e)); // the refused request above, as the browser reports it
  noConsoleErrors();
  await shot("dashboard-extra-usage");
});

test("one-click setup: the owner previews, applies and restores Claude Code's settings file", async () => {
  // The owner key is kept from the owner test above.
  const file = join(home, ".claude", "settings.json");
  mkdirSync(join(home, ".claude"), { recursive: true });
  const mine = '{\n  "model": "opus"\n}\n';
  writeFileSync(file, mine);
  errors = [];
  await open("connect", "#setup-claude-code-apply");
  assert.match(await page.textContent("#setup-claude-code-changes"), /env\.ANTHROPIC_BASE_URL/);
  assert.match(await page.textContent("#setup-claude-code-changes"), new RegExp(`${base()}/api`));
  await page.click("#setup-claude-code-apply");
  await page.waitForSelector("#setup-claude-code-restore");
  assert.match(await page.textContent("#setup-claude-code-state"), /Uses CCProxy/);
  const written = JSON.parse(readFileSync(file, "utf8"));
  assert.equal(written.model, "opus");
  assert.equal(written.env.ANTHROPIC_BASE_URL, `${base()}/api`);
  await shot("connect-setup");
  await page.click("#setup-claude-code-restore");
  await page.waitForSelector("#setup-claude-code-apply");
  assert.match(await page.textContent("#setup-claude-code-result"), /back to exactly/);
  assert.equal(readFileSync(file, "utf8"), mine);
  assert.ok(existsSync(file));
  noConsoleErrors();
});

test("an API token is generated, shown once, required, then removed", async () => {
  await open("token", "#token-generate");
  await page.click("#token-generate");
  const value = await page.inputValue("#token-value");
  assert.match(value, /^[A-Za-z0-9_-]{20,}$/);
  await page.click("#token-save");
  await page.waitForSelector("text=restarted with the new settings", { timeout: 15000 });
  assert.equal((await fetch(`${base()}/api/status`)).status, 401, "now required");
  assert.equal((await fetch(`${base()}/api/status`, { headers: { "x-api-key": value } })).status, 200);
  assert.equal(await page.evaluate(() => localStorage.getItem("ccproxy.token")), value);
  await open("token", "#token-revoke");
  assert.match(await page.textContent("main"), /requires an API token/);
  await page.click("#token-revoke");
  await page.waitForSelector("text=restarted with the new settings", { timeout: 15000 });
  assert.equal((await fetch(`${base()}/api/status`)).status, 200, "open again");
  noConsoleErrors();
});

test("settings are saved to the file and the server restarts on the new port", async () => {
  await open("settings", "#settings-save");
  assert.equal(await page.inputValue("#set-claude-pool_size"), "2");
  const newPort = await freePort();
  await page.fill("#set-server-port", String(newPort));
  await page.fill("#set-claude-pool_size", "3");
  await page.fill("#set-claude-allowed_tools", "Read, Bash(git:*)");
  await page.click("#settings-save");
  await page.waitForURL(`http://127.0.0.1:${newPort}/settings`, { timeout: 60000 });
  port = newPort;
  await page.waitForSelector("#settings-save");
  assert.equal(await page.inputValue("#set-claude-pool_size"), "3");
  // The owner key came along to the new origin (storage is per origin).
  assert.ok(await page.evaluate(() => localStorage.getItem("ccproxy.owner")));
  const file = readFileSync(join(home, "ccproxy.toml"), "utf8");
  assert.match(file, /# written by the UI test/);
  assert.match(file, new RegExp(`port = ${newPort}`));
  assert.match(file, /allowed_tools = \["Read", "Bash\(git:\*\)"\]/);
  // A bad value is refused with the reason, and nothing restarts.
  await page.selectOption("#set-claude-permission_mode", "bypassPermissions");
  await page.click("#settings-save");
  await page.waitForSelector("text=allow_bypass_permissions");
  await shot("settings");
});

test("dark theme and keyboard navigation", async () => {
  await page.emulateMedia({ colorScheme: "dark" });
  await open("status", "section[aria-label='Server']");
  const bg = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  assert.equal(bg, "rgb(27, 26, 24)");
  await shot("status-dark");
  await page.emulateMedia({ colorScheme: "light" });
  // Every form control has a label.
  for (const hash of ["login", "settings", "dashboard"]) {
    await open(hash, "main section");
    const unlabeled = await page.$$eval("main input, main select", (els) =>
      els.filter((e) => !e.labels || e.labels.length === 0).map((e) => e.id || e.outerHTML));
    assert.deepEqual(unlabeled, [], `unlabeled controls on #${hash}`);
  }
  // The nav is reachable by keyboard.
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement.textContent);
  assert.equal(focused, "Status");
  noConsoleErrors();
});
