// CCProxy web UI. Plain JavaScript, no build step: every page reads the server's HTTP API only,
// so the same UI works in the desktop app's window and in any browser at http://127.0.0.1:8000/.
"use strict";

const TOKEN_KEY = "ccproxy.token";
const token = () => localStorage.getItem(TOKEN_KEY) || "";
// The owner key (see the server's `owner` module): the desktop window and `ccproxy ui` open a
// page as `/status#owner=KEY`; it is kept for this origin and taken out of the address bar.
const OWNER_KEY = "ccproxy.owner";
const owner = () => localStorage.getItem(OWNER_KEY) || "";

/** The page shown: every page has a path (`/dashboard`); `/#dashboard` works too. */
function pageOf() {
  const named = location.hash.slice(1).split("&").find((part) => part && !part.includes("="));
  return pages[named] ? named : location.pathname.slice(1);
}
let shown = null;

function takeOwnerKey() {
  const params = new URLSearchParams(location.hash.slice(1));
  const given = params.get("owner");
  if (!given) return;
  localStorage.setItem(OWNER_KEY, given);
  const named = location.hash.slice(1).split("&").find((part) => part && !part.includes("="));
  history.replaceState(null, "", location.pathname + (named ? "#" + named : ""));
}

/** `h("div", {class: "x"}, "text", child)` → an element; text is never parsed as HTML. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function notice(text, bad) {
  const n = document.getElementById("notice");
  n.textContent = text;
  n.className = bad ? "bad" : "";
  n.hidden = !text;
}

/** A call to the server's API; asks for the API token once when the server wants one. */
async function api(path, options = {}) {
  const headers = Object.assign({ accept: "application/json" }, options.headers || {});
  if (token()) headers["x-api-key"] = token();
  if (owner()) headers["x-ccproxy-owner"] = owner();
  if (options.json !== undefined) {
    headers["content-type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, Object.assign({}, options, { headers }));
  if (response.status === 401 && !options.noAuthPrompt) {
    await askToken();
    return api(path, Object.assign({}, options, { noAuthPrompt: true }));
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!response.ok) {
    const message = (body && body.error && (body.error.message || body.error)) || response.statusText;
    const err = new Error(typeof message === "string" ? message : JSON.stringify(message));
    err.status = response.status;
    throw err;
  }
  return body;
}

function askToken() {
  const dialog = document.getElementById("auth-dialog");
  const input = document.getElementById("auth-input");
  input.value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (input.value) localStorage.setItem(TOKEN_KEY, input.value.trim());
      resolve();
    }, { once: true });
    dialog.showModal();
  });
}

async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = h("textarea", {}, text);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const was = button.textContent;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = was; }, 1500);
}

const fmt = {
  int: (n) => (n ?? 0).toLocaleString("en-US"),
  usd: (n) => "$" + (n ?? 0).toFixed(4),
  ms: (n) => (n === null || n === undefined ? "–" : n.toFixed(1) + " ms"),
  pct: (n) => (n === null || n === undefined ? "–" : Math.round(n * 100) + " %"),
  time: (ms) => new Date(ms).toLocaleString(),
  reset: (secs) => (secs ? new Date(secs * 1000).toLocaleString() + fmt.inTime(secs) : "–"),
  // " (in 38 min)" until a Unix time in seconds.
  inTime: (secs) => {
    const s = Math.round(secs - Date.now() / 1000);
    if (s <= 0) return "";
    const m = Math.round(s / 60);
    return m < 60 ? ` (in ${m} min)` : m < 2880 ? ` (in ${Math.floor(m / 60)} h ${m % 60} min)` : ` (in ${Math.round(m / 1440)} days)`;
  },
  bucket: (b) => ({ plan: "plan", extra_usage: "extra usage", unknown: "unknown" })[b] || "–",
};

function card(title, ...body) {
  return h("section", { class: "card", "aria-label": title }, h("h3", {}, title), ...body);
}

function dl(pairs) {
  return h("dl", {}, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function stateClass(s) {
  return { valid: "ok", expiring: "warn", expired: "warn", missing: "bad", dead: "bad" }[s] || "";
}

// ---------------------------------------------------------------- who pays: alerts and the guard

const DISMISSED = "ccproxy.alerts.dismissed";

/** The banner on Status and Dashboard: the extra-usage guard when it acts, and recent alerts
 * (the last day's, until dismissed). */
async function alertsBanner() {
  const [alerts, status] = await Promise.all([api("/api/alerts"), api("/api/status")]);
  const box = h("div", { id: "alerts", role: "region", "aria-label": "Alerts" });
  const billing = status.billing || {};
  const allow = async (yes, button) => {
    button.disabled = true;
    try {
      await api("/api/billing/allow-extra-usage", { method: "POST", json: { allow: yes } });
      await route();
    } catch (err) {
      notice(`Could not change it: ${err.message}`, true);
      button.disabled = false;
    }
  };
  if (billing.blocking && billing.block) {
    const b = billing.block;
    const button = h("button", { id: "allow-extra-usage", type: "button" }, "Allow extra usage until the reset");
    button.addEventListener("click", () => allow(true, button));
    box.append(h("div", { class: "banner bad", id: "billing-blocked", role: "alert" },
      h("strong", {}, "Requests are paused so that nothing is billed to extra usage. "),
      `${b.reason} (${b.window} window); resets ${fmt.reset(b.resets_at)}. `,
      owner() ? button : h("span", { class: "muted" }, "Open this page from the tray app (or `ccproxy ui`) to allow it.")));
  } else if (billing.allowed_until) {
    const button = h("button", { id: "stop-extra-usage", type: "button" }, "Stop allowing");
    button.addEventListener("click", () => allow(false, button));
    box.append(h("div", { class: "banner warn", id: "billing-allowed", role: "status" },
      `Extra usage is allowed until ${fmt.reset(billing.allowed_until)}. `, owner() ? button : ""));
  }
  const dismissed = Number(localStorage.getItem(DISMISSED) || 0);
  const dayAgo = Date.now() - 86_400_000;
  const recent = (alerts.alerts || []).filter((a) => a.id > dismissed && a.at > dayAgo).reverse().slice(0, 5);
  if (recent.length) {
    const dismiss = h("button", { type: "button", id: "dismiss-alerts" }, "Dismiss");
    dismiss.addEventListener("click", () => {
      localStorage.setItem(DISMISSED, String(alerts.latest || 0));
      document.getElementById("alert-list").remove();
    });
    box.append(h("div", { class: "banner", id: "alert-list" },
      h("ul", {}, recent.map((a) => h("li", { class: a.severity === "critical" ? "bad" : "warn" },
        h("strong", {}, a.title), ` — ${a.message} `, h("span", { class: "muted" }, new Date(a.at).toLocaleTimeString())))),
      dismiss));
  }
  return box;
}

// ---------------------------------------------------------------- pages

const pages = {};

pages.status = async (main) => {
  const [health, status, sdk, quota, login] = await Promise.all([
    api("/health"), api("/api/status"), api("/sdk/status"), api("/api/quota"), api("/oauth/status"),
  ]);
  const cred = status.credentials || {};
  const cli = sdk.cli || {};
  main.append(h("h2", {}, "Status"), await alertsBanner(), h("div", { class: "grid" },
    card("Server", dl([
      ["State", h("span", { class: "ok" }, "running")],
      ["Address", location.host],
      ["Version", health.version],
      ["Uptime", Math.round(status.uptime_secs / 60) + " min"],
      ["API token", status.auth_token_required ? "required" : "not set"],
    ])),
    card("API mode (/api)", dl([
      ["Credentials", h("span", { class: stateClass(cred.state) }, cred.state || "?")],
      ["Account", login.account_email || "–"],
      ["Subscription", login.subscription_type || "–"],
      ["Source", cred.source || "–"],
      ["Upstream", status.upstream],
      ["Extra usage", ({ block: "blocked (default)", warn: "sent, with an alert", allow: "sent" })[(status.billing || {}).policy] || "–"],
      ["Last request paid by", fmt.bucket((status.billing || {}).last_bucket)],
    ])),
    card("Claude Code mode (/sdk)", dl([
      ["CLI", cli.found ? h("span", { class: cli.usable ? "ok" : "bad" }, "claude " + (cli.version || "?")) :
        h("span", { class: cli.found === false ? "bad" : "muted" }, cli.found === false ? "not found" : "checking…")],
      ["Path", cli.path || cli.problem || "–"],
      ["Warm processes", `${sdk.pool.warm} of ${sdk.pool.size}`],
      ["Running", `${sdk.pool.running} of ${sdk.pool.max_concurrent}`],
      ["Waiting for tool results", String(sdk.pool.waiting_for_tool_results ?? 0)],
      ["Permission mode", sdk.permission_mode],
      ...(sdk.version_floor ? [["Upstream needs", h("span", { class: "bad" }, "Claude Code " + (sdk.version_floor.need || "newer"))]] : []),
    ])),
    quotaCard(quota),
  ));
};

function quotaCard(quota) {
  if (!quota.available) return card("Quota", h("p", { class: "muted" }, quota.message));
  const q = quota.quota;
  const meter = (label, used, reset) => [
    h("div", {}, `${label}: ${fmt.pct(used)}`, h("span", { class: "muted" }, ` · resets ${fmt.reset(reset)}`)),
    h("div", { class: "meter", role: "meter", "aria-label": label + " used", "aria-valuemin": 0,
      "aria-valuemax": 100, "aria-valuenow": Math.round((used || 0) * 100) },
      h("span", { style: `width:${Math.min(100, (used || 0) * 100)}%` })),
  ];
  // Where the pace of use in the window so far leads (from the request log's readings).
  const pace = (label, p) => {
    if (!p) return [];
    const text = p.limit_at == null
      ? `At this pace the ${label} limit is not reached before the reset`
      : p.limit_at * 1000 <= Date.now() ? `The ${label} limit is reached`
      : `At this pace the ${label} limit is reached at ${fmt.reset(p.limit_at)}`;
    return [h("p", { class: p.limit_at == null ? "muted" : "warn", id: `quota-pace-${p.window}`,
      title: `${fmt.pct(p.per_hour)} an hour, from ${p.samples} readings in this window` }, text)];
  };
  const projection = quota.projection || {};
  // Windows beyond 5-hour and weekly (per-model weekly windows …), as upstream named them.
  const raw = q.raw || {};
  const others = Object.keys(raw).filter((k) => k.endsWith("-utilization") && !["5h-utilization", "7d-utilization", "overage-utilization"].includes(k))
    .flatMap((k) => { const w = k.slice(0, -"-utilization".length); return meter(w, Number(raw[k]), Number(raw[w + "-reset"]) || null); });
  const states = ["slow-status", "grace-status"].filter((k) => raw[k]).map((k) => `${k.split("-")[0]}: ${raw[k]}`);
  return card("Quota", h("p", {}, "Status: ", h("strong", {}, q.status || "–"),
    h("span", { class: "muted" }, ` · last request paid by ${fmt.bucket(quota.bucket)}`)),
    ...meter("5-hour", q.five_hour_utilization, q.five_hour_reset),
    ...pace("5-hour", projection.five_hour),
    ...meter("Weekly", q.seven_day_utilization, q.seven_day_reset),
    ...pace("weekly", projection.seven_day),
    ...others,
    ...(q.overage_utilization != null ? meter("Extra usage", q.overage_utilization, q.overage_reset) : []),
    h("p", { class: "muted" }, `Extra usage: ${q.overage_status || "–"}${q.overage_disabled_reason ? " (" + q.overage_disabled_reason + ")" : ""}` +
      (states.length ? " · " + states.join(" · ") : "")),
    h("p", { class: quota.stale ? "warn" : "muted", id: "quota-age" },
      `Read ${Math.round((quota.age_secs || 0) / 60)} min ago${quota.stale ? " — stale: the windows may have moved since" : ""}`));
}

pages.login = async (main) => {
  const status = await api("/oauth/status");
  const result = h("p", { id: "login-result", role: "status" });
  main.append(h("h2", {}, "Login"));
  if (status.logged_in) {
    main.append(card("Logged in",
      dl([["Account", status.account_email || "–"], ["Subscription", status.subscription_type || "–"],
        ["Source", status.credentials.source || "–"]]),
      h("div", { class: "row" }, h("button", { id: "logout", onclick: async (e) => {
        e.target.disabled = true;
        try {
          const r = await api("/oauth/logout", { method: "POST" });
          result.textContent = r.logged_out ? "Logged out." : "CCProxy had no login of its own to remove.";
          setTimeout(route, 800);
        } catch (err) { result.textContent = "Logout failed: " + err.message; e.target.disabled = false; }
      } }, "Log out")), result));
    return;
  }
  const link = h("a", { id: "manual-link", target: "_blank", rel: "noopener" }, "Open the Claude login page");
  const codeInput = h("input", { id: "manual-code", type: "text", autocomplete: "off" });
  const manual = h("div", { hidden: true },
    h("p", {}, "Open the link, approve, then paste the code shown (it looks like ", h("code", {}, "code#state"), ")."),
    h("p", {}, link),
    h("label", { for: "manual-code" }, "Code"),
    codeInput,
    h("div", { class: "row" }, h("button", { id: "manual-submit", class: "primary", onclick: async () => {
      const value = codeInput.value.trim();
      const [code, state] = value.split("#");
      if (!code || !state) { result.textContent = "Paste the whole code, including the part after #."; return; }
      result.textContent = "Checking the code…";
      try {
        const r = await api(`/oauth/callback?code=${encodeURIComponent(code)}&state=${encodeURIComponent(state)}`);
        result.textContent = r.message;
        setTimeout(route, 800);
      } catch (err) { result.textContent = "Login failed: " + err.message; }
    } }, "Finish login")));
  main.append(card("Sign in with your Claude account",
    h("p", {}, "CCProxy uses your own Claude subscription (Pro, Max, Team). Approve the login in your browser."),
    h("div", { class: "row" },
      h("button", { id: "login-start", class: "primary", onclick: async () => {
        result.textContent = "Waiting for you to approve in the browser…";
        const r = await api("/oauth/login");
        window.open(r.authorize_url, "_blank", "noopener");
        const deadline = Date.now() + r.expires_in_secs * 1000;
        while (Date.now() < deadline && pageOf() === "login") {
          await new Promise((ok) => setTimeout(ok, 1000));
          const s = await api("/oauth/status");
          if (s.logged_in) { result.textContent = "Logged in as " + (s.account_email || "your account") + "."; setTimeout(route, 800); return; }
        }
      } }, "Log in"),
      h("button", { id: "login-manual", onclick: async () => {
        const r = await api("/oauth/login?manual=true");
        link.href = r.authorize_url;
        manual.hidden = false;
        codeInput.focus();
      } }, "Use a code instead")),
    manual, result));
};

pages.token = async (main) => {
  const settings = await api("/api/settings");
  const set = settings.values["security.auth_token"];
  const shown = h("div", { hidden: true });
  const result = h("p", { role: "status" });
  main.append(h("h2", {}, "API token"), card("Clients must send a token",
    h("p", {}, set.value ? "This server requires an API token (x-api-key or Authorization: Bearer)." :
      "No token is set: any program on this machine can use the proxy."),
    set.locked_by ? h("p", { class: "locked" }, `The token is set by ${set.locked_by}; change it there.`) : null,
    h("div", { class: "row" },
      h("button", { id: "token-generate", class: "primary", disabled: !!set.locked_by, onclick: async () => {
        const r = await api("/api/token", { method: "POST" });
        shown.replaceChildren(
          h("label", { for: "token-value" }, "New token (shown once: copy it now)"),
          h("input", { id: "token-value", type: "text", readonly: true, value: r.token }),
          h("div", { class: "row" },
            h("button", { onclick: (e) => copy(r.token, e.target) }, "Copy"),
            settings.editable ? h("button", { id: "token-save", class: "primary", onclick: async () => {
              await saveSettings({ "security.auth_token": r.token }, result, () => localStorage.setItem(TOKEN_KEY, r.token));
            } }, "Require this token") : h("span", { class: "muted" }, "(settings are read-only on this server)")));
        shown.hidden = false;
      } }, "Generate a token"),
      set.value && settings.editable && !set.locked_by ? h("button", { id: "token-revoke", onclick: async () => {
        await saveSettings({ "security.auth_token": null }, result, () => localStorage.removeItem(TOKEN_KEY));
      } }, "Remove the token") : null),
    shown, result));
};

pages.connect = async (main) => {
  const status = await api("/api/status");
  const base = location.origin;
  const key = status.auth_token_required ? (token() || "<your API token>") : "ccproxy";
  const snippet = (title, text) => card(title, h("pre", {}, text),
    h("button", { "aria-label": "Copy " + title, onclick: (e) => copy(text, e.target) }, "Copy"));
  main.append(h("h2", {}, "Connect your tools"), await clientSetupSection(),
    h("h3", {}, "Or by hand"),
    h("p", {}, "Paste into a shell. ", h("code", {}, "/api"), " calls Anthropic's API with your login; ",
      h("code", {}, "/sdk"), " runs each request through the Claude Code CLI."));
  for (const mode of ["api", "sdk"]) {
    main.append(h("h3", {}, mode === "api" ? "API mode (/api)" : "Claude Code mode (/sdk)"), h("div", { class: "grid" },
      snippet(`Claude Code / Anthropic SDK (${mode})`, `export ANTHROPIC_BASE_URL=${base}/${mode}\nexport ANTHROPIC_API_KEY=${key}`),
      snippet(`OpenAI SDK (${mode})`, `export OPENAI_BASE_URL=${base}/${mode}/v1\nexport OPENAI_API_KEY=${key}`),
      snippet(`aider (${mode})`, `export OPENAI_API_BASE=${base}/${mode}/v1\nexport OPENAI_API_KEY=${key}\naider --model openai/claude-sonnet-4-20250514`)));
  }
};

/**
 * One-click setup of the clients whose user configuration file CCProxy can edit (Claude Code's
 * settings.json, Codex CLI's config.toml): a preview of the keys it writes, then apply or
 * restore. The server keeps a backup and restores the file exactly.
 */
async function clientSetupSection() {
  const section = h("section", { id: "client-setup", "aria-labelledby": "client-setup-title" });
  // A client previewed in another mode than the one it was set up in.
  const previews = {};
  const draw = async () => {
    let list;
    // Only the owner may see or change the files: without proof, say how to get it (and make
    // no request the server would refuse).
    if (!owner() && !token()) {
      section.replaceChildren(h("h3", { id: "client-setup-title" }, "One-click setup"),
        h("p", { class: "muted", id: "client-setup-owner" },
          "Open this page from the tray app (or `ccproxy ui`) to set up Claude Code and the Codex CLI in one click."));
      return;
    }
    try {
      list = await api("/api/client-setup");
    } catch (e) {
      section.replaceChildren(h("h3", { id: "client-setup-title" }, "One-click setup"),
        h("p", { class: "muted" }, e.status === 403
          ? "Open this page from the tray app (or `ccproxy ui`) to set up your tools in one click."
          : "One-click setup is unavailable: " + e.message));
      return;
    }
    const cards = list.clients.map((listed) => {
      const c = previews[listed.client] || listed;
      const id = "setup-" + c.client;
      const mode = h("select", { id: id + "-mode", "aria-label": c.name + " mode" },
        ["api", "sdk"].map((m) => h("option", { value: m }, m === "api" ? "API mode (/api)" : "Claude Code mode (/sdk)")));
      mode.value = c.mode || "api";
      const result = h("p", { class: "muted", id: id + "-result", role: "status" });
      const act = async (button, method, json) => {
        button.disabled = true;
        try {
          const r = await api("/api/client-setup/" + c.client, { method, json });
          delete previews[c.client];
          await draw();
          const again = document.getElementById(id + "-result");
          if (again) again.textContent = r.message || `${c.name} now uses CCProxy (${r.file}).`;
        } catch (e) {
          result.textContent = e.message;
          result.className = "bad";
          button.disabled = false;
        }
      };
      const changes = (c.changes || []).length
        ? h("table", { class: "changes", id: id + "-changes" },
          h("thead", {}, h("tr", {}, ["Key", "Now", "After"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, c.changes.map((ch) => h("tr", {}, h("td", {}, h("code", {}, ch.key)),
            h("td", {}, ch.before == null ? h("span", { class: "muted" }, "not set") : h("code", {}, ch.before)),
            h("td", {}, h("code", {}, ch.after))))))
        : "";
      mode.onchange = async () => {
        try {
          previews[c.client] = Object.assign({}, listed,
            await api("/api/client-setup/" + c.client, { method: "POST", json: { mode: mode.value, dry_run: true } }),
            { applied: listed.applied });
          await draw();
        } catch (e) { result.textContent = e.message; result.className = "bad"; }
      };
      const apply = h("button", { id: id + "-apply", class: "primary", onclick: (e) => act(e.target, "POST", { mode: mode.value }) },
        c.applied ? `Update ${c.name} setup` : `Use CCProxy in ${c.name}`);
      const restore = h("button", { id: id + "-restore", class: "secondary", onclick: (e) => act(e.target, "DELETE") },
        `Stop using CCProxy in ${c.name}`);
      const state = c.error ? h("p", { class: "bad" }, c.error)
        : h("p", { id: id + "-state" }, c.applied && !(c.changes || []).length ? "✓ Uses CCProxy" : "Not set up",
          " · ", h("code", {}, c.file));
      return card(c.name, state, changes,
        c.client === "codex" ? h("div", {}, mode) : "",
        c.error ? "" : h("div", { class: "actions" }, (c.changes || []).length ? apply : "", c.applied ? restore : ""),
        result);
    });
    section.replaceChildren(h("h3", { id: "client-setup-title" }, "One-click setup"),
      h("p", { class: "muted" }, "Writes only CCProxy's keys into the tool's own settings file, with a backup; " +
        "“Stop using” puts back exactly what was there (if you edited the file since, only CCProxy's keys are removed)."),
      h("div", { class: "grid" }, cards));
  };
  await draw();
  return section;
}

let live = null;
pages.dashboard = async (main) => {
  const windowSel = h("select", { id: "window" }, ["1h", "24h", "7d", "30d"].map((w) => h("option", { value: w }, w)));
  windowSel.value = sessionStorage.getItem("ccproxy.window") || "24h";
  const content = h("div");
  main.append(h("h2", {}, "Dashboard"), await alertsBanner(), h("div", { class: "filters" },
    h("div", {}, h("label", { for: "window" }, "Window"), windowSel)), content);
  const draw = async () => {
    sessionStorage.setItem("ccproxy.window", windowSel.value);
    const [summary, quota, logStatus] = await Promise.all([
      api("/logs/summary?window=" + windowSel.value), api("/api/quota"), api("/logs/status").catch(() => null)]);
    const t = summary.totals || {};
    // Trouble storing records (the database deleted, a failed write) is shown, never hidden.
    const problem = logStatus && logStatus.problem
      ? h("p", { class: "bad", id: "log-problem", role: "alert" },
        `Request log: ${logStatus.problem.message}` +
        (logStatus.unstored ? ` (${fmt.int(logStatus.unstored)} records could not be stored)` : ""))
      : "";
    const requestsChart = h("div", { class: "chart", id: "chart-requests", role: "img", "aria-label": "Requests over time" });
    const latencyChart = h("div", { class: "chart", id: "chart-latency", role: "img", "aria-label": "Latency over time" });
    content.replaceChildren(
      problem,
      h("div", { class: "grid" },
        card("Requests", h("div", { class: "big", id: "total-requests" }, fmt.int(t.requests)), h("div", { class: "muted" }, `${fmt.int(t.errors)} errors`)),
        card("Tokens", h("div", { class: "big" }, fmt.int((t.input_tokens || 0) + (t.output_tokens || 0))),
          h("div", { class: "muted" }, `${fmt.int(t.input_tokens)} in · ${fmt.int(t.output_tokens)} out · ${fmt.int(t.cache_read_tokens)} cache read`)),
        card("Cost (API prices)", h("div", { class: "big" }, fmt.usd(t.cost_usd))),
        card("Extra usage", h("div", { class: "big " + ((summary.extra_usage || {}).requests ? "bad" : ""), id: "extra-usage-requests" }, fmt.int((summary.extra_usage || {}).requests)),
          h("div", { class: "muted" }, `requests billed to extra usage · ${fmt.usd((summary.extra_usage || {}).cost_usd)} at API prices`)),
        card("Latency", h("div", { class: "big" }, fmt.ms(t.avg_duration_ms)), h("div", { class: "muted" }, `first token ${fmt.ms(t.avg_ttft_ms)}`)),
        quotaCard(quota)),
      card("Requests over time", requestsChart),
      card("Latency over time", latencyChart),
      card("Per model", h("div", { class: "table-wrap" }, h("table", { id: "models" },
        h("thead", {}, h("tr", {}, ["Model", "Requests", "Input", "Output", "Cost"].map((c, i) => h("th", { class: i ? "num" : "", scope: "col" }, c)))),
        h("tbody", {}, (summary.models || []).map((m) => h("tr", {},
          h("td", {}, m.model), h("td", { class: "num" }, fmt.int(m.requests)), h("td", { class: "num" }, fmt.int(m.input_tokens)),
          h("td", { class: "num" }, fmt.int(m.output_tokens)), h("td", { class: "num" }, fmt.usd(m.cost_usd)))))))),
      await recentCard());
    const series = summary.series || [];
    const xs = series.map((b) => b.bucket_start / 1000);
    const width = () => Math.max(300, content.clientWidth - 40);
    // The whole window on the x axis, and points where a bucket has only one value.
    const scales = { x: { time: true, range: () => [summary.since / 1000, Date.now() / 1000] } };
    const points = { show: true, size: 5 };
    if (xs.length && window.uPlot) {
      new uPlot({ width: width(), height: 200, scales, series: [{}, { label: "requests", stroke: "#b4532a", points }, { label: "errors", stroke: "#b3261e", points }] },
        [xs, series.map((b) => b.requests), series.map((b) => b.errors)], requestsChart);
      new uPlot({ width: width(), height: 200, scales, series: [{}, { label: "avg ms", stroke: "#2f7d32", points }, { label: "first token ms", stroke: "#9a6700", points }] },
        [xs, series.map((b) => b.avg_duration_ms), series.map((b) => b.avg_ttft_ms)], latencyChart);
    } else {
      requestsChart.append(h("p", { class: "muted" }, "No requests in this window yet."));
    }
  };
  windowSel.addEventListener("change", draw);
  await draw();
};

function rowOf(r) {
  return h("tr", {},
    h("td", {}, new Date(r.ts).toLocaleTimeString()), h("td", {}, r.mode), h("td", {}, r.route),
    h("td", {}, r.model_served || r.model_requested || "–"),
    h("td", { class: "num " + (r.status >= 400 ? "bad" : "") }, r.status),
    h("td", { class: "num" }, fmt.int(r.input_tokens)), h("td", { class: "num" }, fmt.int(r.output_tokens)),
    h("td", { class: "num" }, r.duration_ms.toFixed(0)), h("td", { class: "num" }, r.cost_usd == null ? "–" : fmt.usd(r.cost_usd)),
    h("td", { class: r.billing === "extra_usage" ? "bad" : "" }, fmt.bucket(r.billing)));
}

async function recentCard() {
  const mode = h("select", { id: "f-mode" }, h("option", { value: "" }, "any"), h("option", { value: "api" }, "api"), h("option", { value: "sdk" }, "sdk"));
  const status = h("select", { id: "f-status" }, ["", "2xx", "4xx", "5xx"].map((s) => h("option", { value: s }, s || "any")));
  const model = h("input", { id: "f-model", type: "text", placeholder: "any", size: 24 });
  const billing = h("select", { id: "f-billing" }, ["", "plan", "extra_usage", "unknown"].map((b) => h("option", { value: b }, b ? fmt.bucket(b) : "any")));
  const tailBox = h("input", { id: "f-live", type: "checkbox" });
  const body = h("tbody");
  const query = () => {
    const p = new URLSearchParams({ limit: "50" });
    if (mode.value) p.set("mode", mode.value);
    if (status.value) p.set("status", status.value);
    if (model.value.trim()) p.set("model", model.value.trim());
    if (billing.value) p.set("billing", billing.value);
    return p;
  };
  const load = async () => {
    const r = await api("/logs/query?" + query());
    body.replaceChildren(...(r.data || []).map(rowOf));
  };
  const tail = async () => {
    if (live) { live.abort(); live = null; }
    delete tailBox.dataset.connected;
    if (!tailBox.checked) return;
    live = new AbortController();
    const headers = token() ? { "x-api-key": token() } : {};
    try {
      const response = await fetch("/logs/stream?" + query(), { headers, signal: live.signal });
      // The server subscribes before it answers: from here on no request is missed.
      tailBox.dataset.connected = "true";
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let at;
        while ((at = buf.indexOf("\n\n")) >= 0) {
          const frame = buf.slice(0, at);
          buf = buf.slice(at + 2);
          const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
          if (!data) continue;
          try {
            body.prepend(rowOf(JSON.parse(data)));
            while (body.children.length > 200) body.lastChild.remove();
          } catch { /* a keep-alive or partial frame */ }
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") notice("Live tail stopped: " + e.message, true);
    }
    delete tailBox.dataset.connected;
  };
  for (const el of [mode, status, billing]) el.addEventListener("change", () => { load(); tail(); });
  model.addEventListener("change", () => { load(); tail(); });
  tailBox.addEventListener("change", tail);
  await load();
  return card("Recent requests",
    h("div", { class: "filters" },
      h("div", {}, h("label", { for: "f-mode" }, "Mode"), mode),
      h("div", {}, h("label", { for: "f-status" }, "Status"), status),
      h("div", {}, h("label", { for: "f-model" }, "Model"), model),
      h("div", {}, h("label", { for: "f-billing" }, "Paid by"), billing),
      h("div", {}, h("label", { for: "f-live" }, "Live tail"), tailBox)),
    h("div", { class: "table-wrap" }, h("table", { id: "recent" },
      h("thead", {}, h("tr", {}, ["Time", "Mode", "Route", "Model", "Status", "In", "Out", "ms", "Cost", "Paid by"].map((c, i) => h("th", { class: i > 3 && i < 9 ? "num" : "", scope: "col" }, c)))),
      body)));
}

/** Saves settings; the server restarts, possibly on a new address, and the page follows. */
async function saveSettings(changes, result, before) {
  result.textContent = "Saving…";
  try {
    const r = await api("/api/settings", { method: "PUT", json: changes });
    if (before) before();
    result.textContent = "Saved. Restarting the server…";
    const target = r.url || location.origin;
    for (let i = 0; i < 100; i++) {
      await new Promise((ok) => setTimeout(ok, 200));
      try {
        const health = await fetch(target + "/health", { cache: "no-store" });
        if (health.ok && i > 1) {
          if (target !== location.origin) {
            // Storage is per origin: the owner key goes along to the new address.
            location.href = target + "/" + (pageOf() || "settings") + (owner() ? "#owner=" + owner() : "");
            return;
          }
          result.textContent = "Saved; the server restarted with the new settings.";
          setTimeout(route, 600);
          return;
        }
      } catch { /* not up yet */ }
    }
    result.textContent = "Saved, but the server did not come back at " + target + ".";
  } catch (err) {
    result.textContent = "Not saved: " + err.message;
  }
}

pages.settings = async (main) => {
  const s = await api("/api/settings");
  const result = h("p", { id: "settings-result", role: "status" });
  const inputs = {};
  const labels = {
    "server.host": "Bind address", "server.port": "Port",
    "claude.permission_mode": "Claude Code permission mode", "claude.allowed_tools": "Allowed tools (comma-separated)",
    "claude.disallowed_tools": "Disallowed tools (comma-separated)", "claude.max_turns": "Max turns per request",
    "claude.pool_size": "Warm CLI processes", "claude.max_concurrent": "Concurrent Claude Code requests",
    "claude.max_queued": "Queued Claude Code requests", "claude.session_idle_secs": "Session idle time-out (s)",
    "claude.tool_result_timeout_secs": "Wait for a client's tool results (s)",
    "claude.builtin_tools_with_client_tools": "Keep the CLI's own tools when a request brings its tools",
    "billing.extra_usage": "When upstream would bill extra usage",
    "observability.request_log": "Keep the request log", "observability.retention_days": "Keep records for (days)",
    "observability.metrics": "Serve /metrics",
  };
  const fields = [];
  for (const [key, v] of Object.entries(s.values)) {
    if (v.kind === "secret") continue;
    const id = "set-" + key.replace(/\./g, "-");
    let input;
    if (v.kind === "boolean") input = h("input", { id, type: "checkbox" });
    else if (key === "billing.extra_usage") input = h("select", { id }, [["block", "block the request (default)"], ["warn", "send it, with an alert"], ["allow", "send it"]].map(([v, t]) => h("option", { value: v }, t)));
    else if (key === "claude.permission_mode") input = h("select", { id }, ["default", "acceptEdits", "plan", "bypassPermissions"].map((m) => h("option", { value: m }, m)));
    else input = h("input", { id, type: v.kind === "integer" ? "number" : "text", min: v.kind === "integer" ? 0 : undefined });
    if (v.kind === "boolean") input.checked = !!v.value;
    else if (v.kind === "list") input.value = (v.value || []).join(", ");
    else input.value = v.value ?? "";
    input.disabled = !s.editable || !!v.locked_by;
    inputs[key] = { input, v };
    fields.push(h("div", {}, h("label", { for: id }, labels[key] || key), input,
      v.locked_by ? h("div", { class: "locked" }, `Set by ${v.locked_by}.`) : null));
  }
  const save = h("button", { id: "settings-save", class: "primary", disabled: !s.editable, onclick: async () => {
    const changes = {};
    for (const [key, { input, v }] of Object.entries(inputs)) {
      if (input.disabled) continue;
      let value;
      if (v.kind === "boolean") value = input.checked;
      else if (v.kind === "integer") value = input.value === "" ? null : Number(input.value);
      else if (v.kind === "list") value = input.value.split(",").map((x) => x.trim()).filter(Boolean);
      else value = input.value.trim() || null;
      if (JSON.stringify(value) !== JSON.stringify(v.value)) changes[key] = value;
    }
    if (!Object.keys(changes).length) { result.textContent = "Nothing changed."; return; }
    await saveSettings(changes, result);
  } }, "Save and restart");
  main.append(h("h2", {}, "Settings"), card("Server and Claude Code mode",
    s.editable ? h("p", { class: "muted" }, "Saved to ", h("code", {}, s.file), "; the server restarts to apply them.") :
      h("p", { class: "muted" }, "This server was started without a settings file, so these are read-only."),
    s.editable && !owner() && !s.values["security.auth_token"].value ?
      h("p", { id: "settings-owner", class: "muted" }, "Only the server's owner may change settings: open this page from the tray app, or run ",
        h("code", {}, "ccproxy ui"), ".") : null,
    h("div", { class: "grid" }, fields), h("div", { class: "row" }, save), result));
  const desktop = await desktopCard();
  if (desktop) main.append(desktop);
};

/** The desktop app's own settings, shown only in its window (where its commands can be invoked). */
async function desktopCard() {
  const invoke = window.__TAURI__?.core?.invoke;
  if (!invoke) return null;
  const note = h("p", { id: "launch-result", role: "status", class: "muted" });
  const input = h("input", { id: "set-launch-at-login", type: "checkbox" });
  try { input.checked = await invoke("launch_at_login"); } catch (e) { note.textContent = String(e); input.disabled = true; }
  input.onchange = async () => {
    input.disabled = true;
    try {
      input.checked = await invoke("set_launch_at_login", { on: input.checked });
      note.textContent = input.checked ? "CCProxy starts in the tray when you log in." : "CCProxy no longer starts when you log in.";
    } catch (e) {
      input.checked = !input.checked;
      note.textContent = String(e);
    }
    input.disabled = false;
  };
  return card("Desktop app",
    h("div", { class: "grid" }, h("div", {}, h("label", { for: "set-launch-at-login" }, "Launch at login (in the tray, without opening this window)"), input)),
    note);
}

// ---------------------------------------------------------------- routing

async function route() {
  if (live) { live.abort(); live = null; }
  takeOwnerKey();
  const name = pageOf() || "status";
  shown = name;
  const page = pages[name] ? name : "status";
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "/" + page) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  main.replaceChildren();
  notice("");
  document.title = "CCProxy — " + page.charAt(0).toUpperCase() + page.slice(1);
  try {
    await pages[page](main);
  } catch (err) {
    notice(`Could not load this page: ${err.message}`, true);
  }
}

window.addEventListener("hashchange", () => {
  takeOwnerKey();
  // `#main` (the skip link) is not a page: only a change of page renders anew.
  if ((pageOf() || "status") !== shown) { route(); document.getElementById("main").focus(); }
});
window.addEventListener("popstate", () => route());
// The nav's links are real paths; a plain click changes the page without a reload.
document.querySelector("nav").addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  history.pushState(null, "", a.getAttribute("href"));
  route();
  document.getElementById("main").focus();
});
route();
