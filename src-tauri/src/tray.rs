//! The tray icon and its menu: server state, Start/Stop, login and quota, who paid for the last
//! request and the extra-usage override, copyable environment snippets, and the way to the
//! dashboard. The menu is rebuilt from the server's state every few seconds and after every
//! action; the icon's colour follows the state (running, stopped, running without a usable
//! login, a quota window past its alert threshold or extra usage in use), and the tooltip shows
//! the 5-hour utilization at a glance. One-click client setup ([`crate::clients`]) and launch at
//! login ([`crate::launch`]) are here too; on platforms whose tray reports clicks (Windows,
//! macOS) a left click opens the window and the right click the menu, while Linux trays always
//! show the menu (and the tooltip only where the tray host supports one).

use crate::host::{Host, Status};
use ccproxy_core::client_setup::Client;
use std::sync::Arc;
use tauri::image::Image;
use tauri::menu::CheckMenuItem;
use tauri::menu::{
    CheckMenuItemBuilder, Menu, MenuBuilder, MenuItem, MenuItemBuilder, Submenu, SubmenuBuilder,
};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Wry};
use tauri_plugin_clipboard_manager::ClipboardExt;

pub const TRAY_ID: &str = "ccproxy";

/// Everything the menu shows, read from the running server.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Snapshot {
    pub status: String,
    pub running: bool,
    pub addr: Option<String>,
    pub login: String,
    pub logged_in: bool,
    pub quota: Option<String>,
    /// The 5-hour utilization, for the tooltip ("5h 25 %").
    pub five_hour: Option<String>,
    /// A quota window is past the first alert threshold, or extra usage is in use.
    pub quota_warning: bool,
    /// "Last request: plan" / "extra usage" / "unknown".
    pub billing: String,
    /// The extra-usage guard refuses requests now.
    pub blocking: bool,
    /// The owner's override is on.
    pub extra_usage_allowed: bool,
    pub cli: String,
    pub token: Option<String>,
    /// The clients CCProxy has set up (one-click client setup).
    pub clients: Vec<Client>,
}

pub async fn snapshot(host: &Arc<Host>) -> Snapshot {
    let status = host.status().await;
    let mut s = Snapshot {
        status: match &status {
            Status::Running { addr } => format!("Running on {addr}"),
            Status::Stopped => "Stopped".into(),
            Status::Error { message } => format!("Error: {}", first_line(message)),
        },
        running: matches!(status, Status::Running { .. }),
        addr: match status {
            Status::Running { addr } => Some(addr.to_string()),
            _ => None,
        },
        login: "Not logged in".into(),
        billing: "Last request: –".into(),
        cli: "Claude Code CLI: –".into(),
        clients: crate::clients::set_up(),
        ..Snapshot::default()
    };
    let read = host
        .with_state(|state| {
            let c = state.credentials.status();
            let logged_in =
                matches!(c.state, "valid" | "expiring") || (c.state == "expired" && c.can_refresh);
            let login = if logged_in {
                format!(
                    "Logged in: {}{}",
                    c.account_email.as_deref().unwrap_or("Claude account"),
                    c.subscription_type
                        .as_deref()
                        .map(|t| format!(" ({t})"))
                        .unwrap_or_default()
                )
            } else {
                "Not logged in".to_string()
            };
            let pct = |v: Option<f64>| {
                v.map(|v| format!("{:.0} %", v * 100.0))
                    .unwrap_or_else(|| "–".into())
            };
            let reading = state.quota.get();
            let quota = reading.as_ref().map(|q| {
                format!(
                    "Quota: 5h {} · 7d {}",
                    pct(q.five_hour_utilization),
                    pct(q.seven_day_utilization)
                )
            });
            let five_hour = reading
                .as_ref()
                .and_then(|q| q.five_hour_utilization)
                .map(|u| format!("5h {}", pct(Some(u))));
            let guard = state.billing.state(ccproxy_core::clock::unix_secs());
            let first = state
                .config
                .billing
                .alert_thresholds
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            let past = |u: Option<f64>| u.is_some_and(|u| u >= first);
            let extra = guard.last_bucket == Some(ccproxy_core::billing::Bucket::ExtraUsage);
            let quota_warning = extra
                || guard.blocking
                || reading.as_ref().is_some_and(|q| {
                    past(q.five_hour_utilization) || past(q.seven_day_utilization)
                });
            let billing = match guard.last_bucket {
                Some(b) => format!("Last request: {}", b.as_str().replace('_', " ")),
                None => "Last request: –".into(),
            };
            let billing = (billing, guard.blocking, guard.allowed_until.is_some());
            let token = state.config.security.auth_token.as_ref().map(|t| {
                use secrecy::ExposeSecret;
                t.expose_secret().to_string()
            });
            let glance = (quota, five_hour, quota_warning);
            // The last "needs Claude Code ≥ X" upstream said of the CLI, if any.
            let floor = state
                .version_floor
                .get(ccproxy_core::version_floor::Side::Cli)
                .map(|f| f.need.unwrap_or_else(|| "a newer version".into()));
            (
                logged_in,
                login,
                glance,
                billing,
                token,
                (state.claude_code.clone(), floor),
            )
        })
        .await;
    if let Some((logged_in, login, glance, billing, token, (sdk, floor))) = read {
        s.logged_in = logged_in;
        s.login = login;
        (s.quota, s.five_hour, s.quota_warning) = glance;
        (s.billing, s.blocking, s.extra_usage_allowed) = billing;
        s.token = token;
        let cli = sdk.cli_status().await;
        s.cli = match (cli["found"].as_bool(), cli["version"].as_str()) {
            (Some(true), Some(v)) => format!("Claude Code CLI: {v}"),
            (Some(false), _) => "Claude Code CLI: not found".into(),
            _ => "Claude Code CLI: checking…".into(),
        };
        if let Some(need) = floor {
            s.cli.push_str(&format!(" · upstream needs {need}"));
        }
    }
    s
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The environment snippets for each client and mode.
pub fn snippets(addr: &str, token: Option<&str>) -> Vec<(String, String, String)> {
    let key = token.unwrap_or("ccproxy");
    let mut out = Vec::new();
    for mode in ["api", "sdk"] {
        let base = format!("http://{addr}/{mode}");
        out.push((
            format!("copy-anthropic-{mode}"),
            format!("Claude Code / Anthropic SDK (/{mode})"),
            format!("export ANTHROPIC_BASE_URL={base}\nexport ANTHROPIC_API_KEY={key}"),
        ));
        out.push((
            format!("copy-openai-{mode}"),
            format!("OpenAI SDK (/{mode})"),
            format!("export OPENAI_BASE_URL={base}/v1\nexport OPENAI_API_KEY={key}"),
        ));
        out.push((
            format!("copy-aider-{mode}"),
            format!("aider (/{mode})"),
            format!(
                "export OPENAI_API_BASE={base}/v1\nexport OPENAI_API_KEY={key}\naider --model openai/claude-sonnet-4-20250514"
            ),
        ));
    }
    out
}

/// The menu's items whose text or state follow the server (the menu itself is built once:
/// replacing it while it is open would close it under the user's pointer).
pub struct Items {
    status: MenuItem<Wry>,
    start: MenuItem<Wry>,
    stop: MenuItem<Wry>,
    login_state: MenuItem<Wry>,
    quota: MenuItem<Wry>,
    billing: MenuItem<Wry>,
    allow_extra_usage: MenuItem<Wry>,
    cli: MenuItem<Wry>,
    copy: Submenu<Wry>,
    dashboard: MenuItem<Wry>,
    login: MenuItem<Wry>,
    /// "Use CCProxy in X" / "Stop using CCProxy in X", per client.
    clients: Vec<(Client, MenuItem<Wry>)>,
    launch_at_login: CheckMenuItem<Wry>,
    quit_and_restore: MenuItem<Wry>,
    /// The information lines last shown.
    shown: String,
    /// What the menu, icon and tooltip show now (with the launch-at-login state): a refresh that
    /// finds the same changes nothing, so the idle tray costs no GTK or D-Bus work.
    last: Option<(Snapshot, bool)>,
}

/// The "Start server at launch" check item's id.
pub const AUTO_START: &str = "auto-start";

/// The "Allow extra usage until the reset" / "Stop allowing extra usage" item's id.
pub const ALLOW_EXTRA_USAGE: &str = "allow-extra-usage";

/// The "Launch at login" check item's id.
pub const LAUNCH_AT_LOGIN: &str = "launch-at-login";

/// The "Restore client settings on Quit" check item's id.
pub const RESTORE_ON_QUIT: &str = "restore-on-quit";

/// The "Check for updates…" item's id.
pub const CHECK_UPDATES: &str = "check-updates";

/// The "Check for updates automatically" check item's id.
pub const AUTO_UPDATES: &str = "auto-updates";

/// The "Quit and restore client settings" item's id.
pub const QUIT_AND_RESTORE: &str = "quit-and-restore";

/// What the start-up state of the menu's check items is.
pub struct Choices {
    pub auto_start: bool,
    pub launch_at_login: bool,
    pub restore_on_quit: bool,
    pub auto_updates: bool,
}

/// "Check for updates…", or why there are none.
fn updates_text() -> &'static str {
    if crate::updates::available() {
        "Check for updates…"
    } else {
        "Updates: off in this build (no signing key)"
    }
}

fn client_text(client: Client, set_up: bool) -> String {
    if set_up {
        format!("Stop using CCProxy in {}", client.name())
    } else {
        format!("Use CCProxy in {}", client.name())
    }
}

fn menu(app: &AppHandle, choices: &Choices) -> tauri::Result<(Menu<Wry>, Items)> {
    let info = |id: &str, text: &str| MenuItemBuilder::with_id(id, text).enabled(false).build(app);
    let mut copy = SubmenuBuilder::with_id(app, "copy", "Copy env snippet").enabled(false);
    for (id, label, _) in snippets("127.0.0.1:8000", None) {
        copy = copy.item(&MenuItemBuilder::with_id(id, label).build(app)?);
    }
    let items = Items {
        status: info("status", "Starting…")?,
        start: MenuItemBuilder::with_id("start", "Start server")
            .enabled(false)
            .build(app)?,
        stop: MenuItemBuilder::with_id("stop", "Stop server")
            .enabled(false)
            .build(app)?,
        login_state: info("login-state", "Not logged in")?,
        quota: info("quota", "Quota: –")?,
        billing: info("billing", "Last request: –")?,
        allow_extra_usage: MenuItemBuilder::with_id(
            ALLOW_EXTRA_USAGE,
            "Allow extra usage until the reset",
        )
        .enabled(false)
        .build(app)?,
        cli: info("cli", "Claude Code CLI: –")?,
        copy: copy.build()?,
        dashboard: MenuItemBuilder::with_id("dashboard", "Open dashboard").build(app)?,
        login: MenuItemBuilder::with_id("login", "Log in…").build(app)?,
        clients: Client::ALL
            .into_iter()
            .map(|c| {
                MenuItemBuilder::with_id(crate::clients::item_id(c), client_text(c, false))
                    .enabled(false)
                    .build(app)
                    .map(|item| (c, item))
            })
            .collect::<tauri::Result<_>>()?,
        launch_at_login: CheckMenuItemBuilder::with_id(LAUNCH_AT_LOGIN, "Launch at login")
            .checked(choices.launch_at_login)
            .build(app)?,
        quit_and_restore: MenuItemBuilder::with_id(
            QUIT_AND_RESTORE,
            "Quit and restore client settings",
        )
        .enabled(false)
        .build(app)?,
        shown: String::new(),
        last: None,
    };
    let mut menu = MenuBuilder::new(app)
        .item(&items.status)
        .item(&items.start)
        .item(&items.stop)
        .separator()
        .item(&items.login_state)
        .item(&items.quota)
        .item(&items.billing)
        .item(&items.allow_extra_usage)
        .item(&items.cli)
        .separator()
        .item(&items.copy)
        .item(&items.dashboard)
        .item(&items.login)
        .item(&MenuItemBuilder::with_id("logs", "Open logs folder").build(app)?)
        .separator();
    for (_, item) in &items.clients {
        menu = menu.item(item);
    }
    let menu = menu
        .separator()
        .item(
            &CheckMenuItemBuilder::with_id(AUTO_START, "Start server at launch")
                .checked(choices.auto_start)
                .build(app)?,
        )
        .item(&items.launch_at_login)
        .item(
            &CheckMenuItemBuilder::with_id(RESTORE_ON_QUIT, "Restore client settings on Quit")
                .checked(choices.restore_on_quit)
                .build(app)?,
        )
        .separator()
        .item(
            &MenuItemBuilder::with_id(CHECK_UPDATES, updates_text())
                .enabled(crate::updates::available())
                .build(app)?,
        )
        .item(
            &CheckMenuItemBuilder::with_id(AUTO_UPDATES, "Check for updates automatically")
                .checked(choices.auto_updates && crate::updates::available())
                .enabled(crate::updates::available())
                .build(app)?,
        )
        .separator()
        .item(&items.quit_and_restore)
        .item(&MenuItemBuilder::with_id("quit", "Quit").build(app)?)
        .build()?;
    Ok((menu, items))
}

impl Items {
    /// Shows `s`; returns the menu's information lines when they changed (the app logs them,
    /// so what the menu says is on record, and the tray test reads it).
    fn show(&mut self, s: &Snapshot, launch_at_login: bool) -> tauri::Result<Option<String>> {
        self.status.set_text(&s.status)?;
        self.start.set_enabled(!s.running)?;
        self.stop.set_enabled(s.running)?;
        self.login_state.set_text(&s.login)?;
        let quota = s
            .quota
            .as_deref()
            .unwrap_or("Quota: – (no upstream response yet)");
        self.quota.set_text(quota)?;
        self.billing.set_text(&s.billing)?;
        let allow = if s.extra_usage_allowed && !s.blocking {
            "Stop allowing extra usage"
        } else {
            "Allow extra usage until the reset"
        };
        let allow_enabled = s.running && (s.blocking || s.extra_usage_allowed);
        self.allow_extra_usage.set_text(allow)?;
        self.allow_extra_usage.set_enabled(allow_enabled)?;
        let allow = if allow_enabled { allow } else { "" };
        self.cli.set_text(&s.cli)?;
        self.copy.set_enabled(s.running)?;
        self.dashboard.set_enabled(s.running)?;
        self.login
            .set_text(if s.logged_in { "Log out" } else { "Log in…" })?;
        self.login.set_enabled(s.running)?;
        for (client, item) in &self.clients {
            let set_up = s.clients.contains(client);
            item.set_text(client_text(*client, set_up))?;
            // Restoring needs no server; setting up writes the running server's address.
            item.set_enabled(set_up || s.running)?;
        }
        self.launch_at_login.set_checked(launch_at_login)?;
        self.quit_and_restore.set_enabled(!s.clients.is_empty())?;
        let clients = if s.clients.is_empty() {
            "Clients set up: none".to_string()
        } else {
            let names: Vec<_> = s.clients.iter().map(|c| c.name()).collect();
            format!("Clients set up: {}", names.join(", "))
        };
        let launch = if launch_at_login {
            "Launch at login: on"
        } else {
            "Launch at login: off"
        };
        let lines = [
            s.status.as_str(),
            s.login.as_str(),
            quota,
            s.billing.as_str(),
            allow,
            s.cli.as_str(),
            clients.as_str(),
            launch,
            updates_text(),
        ]
        .join(" | ");
        if lines == self.shown {
            return Ok(None);
        }
        self.shown.clone_from(&lines);
        Ok(Some(lines))
    }
}

// The icons are embedded PNGs, decoded by every run of the tray test: this cannot fail.
#[allow(clippy::expect_used)]
fn icon(s: &Snapshot) -> Image<'static> {
    let bytes: &'static [u8] = if !s.running {
        include_bytes!("../../icons/tray-stopped.png")
    } else if !s.logged_in {
        include_bytes!("../../icons/tray-login.png")
    } else if s.quota_warning {
        include_bytes!("../../icons/tray-quota.png")
    } else {
        include_bytes!("../../icons/tray-running.png")
    };
    Image::from_bytes(bytes).expect("embedded tray icon")
}

/// Creates the tray icon and its menu; the items are kept in the app's state.
pub fn create(app: &AppHandle, choices: &Choices) -> tauri::Result<TrayIcon> {
    let (menu, items) = menu(app, choices)?;
    app.manage(std::sync::Mutex::new(items));
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(&Snapshot::default()))
        .tooltip("CCProxy")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                let app = tray.app_handle().clone();
                tauri::async_runtime::spawn(
                    async move { crate::open_window(&app, "status").await },
                );
            }
        })
        .on_menu_event(|app, event| {
            let app = app.clone();
            let id = event.id().as_ref().to_string();
            tauri::async_runtime::spawn(async move { crate::on_menu(&app, &id).await });
        })
        .build(app)
}

/// [`refresh`] that sets every item even if the state looks unchanged: after a menu action,
/// since a check item toggles itself even when the action behind it then fails.
pub async fn redraw(app: &AppHandle) {
    if let Some(items) = app.try_state::<std::sync::Mutex<Items>>() {
        items.lock().unwrap_or_else(|e| e.into_inner()).last = None;
    }
    refresh(app).await;
}

/// Updates the menu and icon from the server's current state (when it changed).
pub async fn refresh(app: &AppHandle) {
    let host = app.state::<Arc<Host>>().inner().clone();
    let s = snapshot(&host).await;
    let launch_at_login = crate::launch::is_on(app);
    if let Some(items) = app.try_state::<std::sync::Mutex<Items>>() {
        let mut items = items.lock().unwrap_or_else(|e| e.into_inner());
        let now = (s, launch_at_login);
        if items.last.as_ref() == Some(&now) {
            return;
        }
        let (s, launch_at_login) = items.last.insert(now).clone();
        match items.show(&s, launch_at_login) {
            Ok(Some(lines)) => tracing::info!("tray: {lines}"),
            Ok(None) => {}
            Err(e) => tracing::warn!("tray menu: {e}"),
        }
        drop(items);
        show_icon(app, &s);
        return;
    }
    show_icon(app, &s);
}

/// Sets the icon's colour and tooltip from `s`.
fn show_icon(app: &AppHandle, s: &Snapshot) {
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_icon(Some(icon(s)));
        let glance = s
            .five_hour
            .as_deref()
            .map(|q| format!(" · {q}"))
            .unwrap_or_default();
        let _ = tray.set_tooltip(Some(format!("CCProxy — {}{glance}", s.status)));
    }
}

/// Puts a snippet on the clipboard.
pub async fn copy_snippet(app: &AppHandle, id: &str) -> Option<String> {
    let host = app.state::<Arc<Host>>().inner().clone();
    let s = snapshot(&host).await;
    let addr = s.addr?;
    let text = snippets(&addr, s.token.as_deref())
        .into_iter()
        .find(|(i, _, _)| i == id)?
        .2;
    if let Err(e) = app.clipboard().write_text(text.clone()) {
        tracing::warn!("clipboard: {e}");
    }
    Some(text)
}
