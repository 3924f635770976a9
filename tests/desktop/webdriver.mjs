// The real app window through WebDriver: tauri-driver + WebKitWebDriver (webkit2gtk-driver)
// launch the built app, whose window shows the server's web UI; the test invokes the app's own
// Tauri commands from the page (stop and start the server) and checks the port closes and
// reopens, and that the UI in the window renders. On the Settings page, the window's own
// "Launch at login" switch writes the XDG autostart entry (which starts the app with
// --at-login) and removes it again.
//
// Usage: node webdriver.mjs <absolute path of the ccproxy-desktop binary> <port>
// Needs a display (Xvfb) and tauri-driver on PATH; exits non-zero on the first failure.

import { spawn } from "node:child_process";
import assert from "node:assert/strict";
import { writeFileSync, mkdirSync, existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

const [app, port, shots] = process.argv.slice(2);
const driverPort = 4444;
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

const driver = spawn("tauri-driver", ["--port", String(driverPort)], { stdio: "inherit" });
let session;

async function wd(method, path, body) {
  const r = await fetch(`http://127.0.0.1:${driverPort}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const v = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${JSON.stringify(v)}`);
  return v.value;
}

async function health() {
  try { return (await fetch(`http://127.0.0.1:${port}/health`)).status; } catch { return 0; }
}

/** Polls `check` until it is true, for up to a generous 90 s (a slow machine is slower, not red). */
async function until(what, check) {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    try { if (await check()) return; } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

try {
  await until("tauri-driver", async () => (await fetch(`http://127.0.0.1:${driverPort}/status`)).ok);
  session = (await wd("POST", "/session", {
    capabilities: { alwaysMatch: { "tauri:options": { application: app } } },
  })).sessionId;
  const s = `/session/${session}`;
  await until("the server", async () => (await health()) === 200);
  // The window shows the server's UI.
  await until("the UI in the window", async () => {
    const url = await wd("GET", `${s}/url`);
    return url.startsWith(`http://127.0.0.1:${port}/`);
  });
  const statusPage = async () => {
    try {
      const el = await wd("POST", `${s}/element`, { using: "css selector", value: "section[aria-label='Server']" });
      return !!el[ELEMENT];
    } catch { return false; }
  };
  await until("the status page", statusPage);
  // The window was opened as the owner: the key is kept and out of the address bar.
  const owned = await wd("POST", `${s}/execute/sync`, { script: "return [localStorage.getItem('ccproxy.owner'), location.pathname + location.hash];", args: [] });
  assert.ok(owned[0] && owned[0].length >= 43, JSON.stringify(owned));
  assert.equal(owned[1], "/status");
  const title = await wd("GET", `${s}/title`);
  assert.match(title, /CCProxy/);
  const invoke = (cmd) => wd("POST", `${s}/execute/async`, {
    script: "const done = arguments[arguments.length - 1]; window.__TAURI__.core.invoke(arguments[0]).then(done, (e) => done({error: String(e)}));",
    args: [cmd],
  });
  const status = await invoke("server_status");
  assert.equal(status.running, true, JSON.stringify(status));
  assert.equal(status.addr, `127.0.0.1:${port}`);
  const stopped = await invoke("stop_server");
  assert.equal(stopped.state, "stopped", JSON.stringify(stopped));
  await until("the port to close", async () => (await health()) === 0);
  const started = await invoke("start_server");
  assert.equal(started.state, "running", JSON.stringify(started));
  await until("the port to reopen", async () => (await health()) === 200);

  // Launch at login, from the Settings page in the window (off by default).
  const entry = join(homedir(), ".config", "autostart", "CCProxy.desktop");
  assert.equal(existsSync(entry), false, "launch at login must be off by default");
  assert.equal(await invoke("launch_at_login"), false);
  await wd("POST", `${s}/url`, { url: `http://127.0.0.1:${port}/settings` });
  const find = async (css) => (await wd("POST", `${s}/element`, { using: "css selector", value: css }))[ELEMENT];
  let toggle;
  await until("the launch-at-login switch", async () => (toggle = await find("#set-launch-at-login")));
  await wd("POST", `${s}/element/${toggle}/click`, {});
  await until("the autostart entry", async () => existsSync(entry));
  const desktop = readFileSync(entry, "utf8");
  assert.ok(desktop.split("\n").some((l) => l.startsWith("Exec=/") && l.endsWith("/ccproxy-desktop --at-login")), desktop);
  await until("the switch to say so", async () => (await wd("GET", `${s}/element/${await find("#launch-result")}/text`)).includes("starts in the tray"));
  assert.equal(await invoke("launch_at_login"), true);
  await wd("POST", `${s}/element/${await find("#set-launch-at-login")}/click`, {});
  await until("the autostart entry to go", async () => !existsSync(entry));
  assert.equal(await invoke("launch_at_login"), false);
  console.log("ok: the Settings switch adds and removes the launch-at-login entry");
  await wd("POST", `${s}/url`, { url: `http://127.0.0.1:${port}/status` });

  if (shots) {
    mkdirSync(shots, { recursive: true });
    await wd("POST", `${s}/refresh`, {});
    await until("the status page after the refresh", statusPage);
    const png = await wd("GET", `${s}/screenshot`);
    writeFileSync(`${shots}/app-window.png`, Buffer.from(png, "base64"));
  }
  console.log("ok");
} finally {
  if (session) await wd("DELETE", `/session/${session}`).catch(() => {});
  driver.kill();
}
