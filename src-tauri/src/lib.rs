//! The CCProxy desktop app: a tray icon that starts and stops the proxy server (hosted
//! in-process through `ccproxy-core`'s handle), and a window that shows the server's own web UI.
//!
//! - One instance: a second launch opens the first one's window.
//! - The window is created when asked for and destroyed when closed, so no WebView (nor WebKit's
//!   web process) is kept while only the tray shows — WebKit's network process and web context
//!   stay once a window has opened; the app keeps running in the tray until **Quit**, which stops the
//!   server gracefully.
//! - App settings (whether to start the server at launch and whether to restore client settings
//!   on Quit, check items in the menu; the last window size) live in the `tauri-plugin-store`
//!   file `settings.json`; launch at login is the OS's own entry ([`launch`]); server settings
//!   live in the same config file as `ccproxy serve`'s, edited on the UI's Settings page.
//! - Without a tray host (some Linux desktops) the window opens at launch, so the app is never
//!   unreachable; launched at login ([`launch`]) it stays in the tray regardless.
//! - Updates ([`updates`]) install only bundles signed with the key built in.

pub mod clients;
pub mod host;
pub mod launch;
pub mod tray;
pub mod updates;

use host::{Host, Status};
use std::sync::Arc;
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tauri_plugin_shell::ShellExt;
use tauri_plugin_store::StoreExt;

/// The app's own settings file (tauri-plugin-store).
pub(crate) const STORE: &str = "settings.json";

/// Opens (or focuses) the window on the server's web UI, at `page` (`status`, `dashboard`, …),
/// as its owner (the link carries the owner key: settings can be changed from the window).
pub async fn open_window(app: &AppHandle, page: &str) {
    let host = app.state::<Arc<Host>>().inner().clone();
    let url = match host.status().await {
        Status::Running { addr } => ccproxy_core::owner::link(addr, page),
        _ => {
            host.start().await;
            tray::refresh(app).await;
            match host.status().await {
                Status::Running { addr } => ccproxy_core::owner::link(addr, page),
                _ => return,
            }
        }
    };
    if let Some(w) = app.get_webview_window("main") {
        if let Ok(u) = url.parse() {
            let _ = w.navigate(u);
        }
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    let Ok(parsed) = url.parse() else { return };
    let (width, height) = app
        .store(STORE)
        .ok()
        .and_then(|s| s.get("window"))
        .and_then(|v| Some((v["width"].as_f64()?, v["height"].as_f64()?)))
        .unwrap_or((1000.0, 760.0));
    let built = WebviewWindowBuilder::new(app, "main", WebviewUrl::External(parsed))
        .title("CCProxy")
        .inner_size(width, height)
        .min_inner_size(480.0, 400.0)
        .build();
    match built {
        Ok(w) => {
            let _ = w.set_focus();
        }
        Err(e) => tracing::error!("cannot open the window: {e}"),
    }
}

/// Handles a tray menu item.
pub async fn on_menu(app: &AppHandle, id: &str) {
    let host = app.state::<Arc<Host>>().inner().clone();
    match id {
        "start" => {
            host.start().await;
        }
        "stop" => {
            host.stop().await;
        }
        "dashboard" => open_window(app, "dashboard").await,
        "login" if !tray::snapshot(&host).await.logged_in => open_window(app, "login").await,
        "login" => {
            let done = host
                .with_state(|s| (s.http.clone(), s.config.clone()))
                .await;
            if let Some((http, config)) = done {
                if let Some(store) = config.ccproxy_store() {
                    if let Err(e) = ccproxy_core::login::logout(&http, &config.oauth, &store).await
                    {
                        tracing::warn!("logout: {e}");
                    }
                }
            }
        }
        "logs" => {
            if let Some(dir) = ccproxy_core::config::data_dir() {
                let _ = std::fs::create_dir_all(&dir);
                #[allow(deprecated)]
                if let Err(e) = app.shell().open(dir.display().to_string(), None) {
                    tracing::warn!("cannot open {}: {e}", dir.display());
                }
            }
        }
        "quit" => {
            host.stop().await;
            app.exit(0);
            return;
        }
        tray::QUIT_AND_RESTORE => {
            clients::restore_all(app);
            host.stop().await;
            app.exit(0);
            return;
        }
        tray::RESTORE_ON_QUIT => clients::toggle_restore_on_quit(app),
        tray::CHECK_UPDATES => updates::check_now(app).await,
        tray::AUTO_UPDATES => updates::toggle_automatic(app),
        tray::LAUNCH_AT_LOGIN => {
            // The check item toggled itself; the entry decides, and the refresh shows it.
            let _ = launch::set(app, !launch::is_on(app));
        }
        other if clients::of_item(other).is_some() => {
            if let Some(client) = clients::of_item(other) {
                clients::toggle(app, &host, client).await;
            }
        }
        tray::ALLOW_EXTRA_USAGE => {
            // The owner's one-click override, time-limited to the window's reset; chosen again,
            // it ends.
            host.with_state(|s| {
                let now = ccproxy_core::clock::unix_secs();
                let on = s.billing.state(now).allowed_until.is_some();
                s.billing.allow_until_reset(!on, now);
                if on {
                    tracing::info!("the extra-usage override was ended from the tray");
                } else {
                    tracing::warn!("extra usage allowed from the tray until the reset");
                }
            })
            .await;
        }
        tray::AUTO_START => {
            // The check item toggles itself; remember its new state.
            if let Ok(store) = app.store(STORE) {
                let now = !store
                    .get("auto_start")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(true);
                store.set("auto_start", serde_json::json!(now));
            }
        }
        other if other.starts_with("copy-") => {
            tray::copy_snippet(app, other).await;
        }
        _ => {}
    }
    tray::redraw(app).await;
}

/// `invoke("server_status")`: the server's state.
#[tauri::command]
async fn server_status(app: AppHandle) -> tray::Snapshot {
    tray::snapshot(app.state::<Arc<Host>>().inner()).await
}

/// `invoke("start_server")`
#[tauri::command]
async fn start_server(app: AppHandle) -> Status {
    let status = app.state::<Arc<Host>>().inner().start().await;
    tray::refresh(&app).await;
    status
}

/// `invoke("stop_server")`: stops the server (the window, showing its UI, stays open).
#[tauri::command]
async fn stop_server(app: AppHandle) -> Status {
    let status = app.state::<Arc<Host>>().inner().stop().await;
    tray::refresh(&app).await;
    status
}

/// `invoke("copy_snippet", {id})`: what the tray's Copy env snippet item does.
#[tauri::command]
async fn copy_snippet(app: AppHandle, id: String) -> Option<String> {
    tray::copy_snippet(&app, &id).await
}

/// `invoke("launch_at_login")`: whether the app launches at login.
#[tauri::command]
fn launch_at_login(app: AppHandle) -> bool {
    launch::is_on(&app)
}

/// `invoke("set_launch_at_login", {on})`: turns it on or off (the Settings page's switch);
/// returns the state now.
#[tauri::command]
async fn set_launch_at_login(app: AppHandle, on: bool) -> Result<bool, String> {
    let now = launch::set(&app, on);
    tray::refresh(&app).await;
    now
}

/// Whether a tray host is there to show the icon: a StatusNotifierItem watcher on the session
/// bus, or an XEmbed system tray on the X display (what libayatana-appindicator falls back to).
/// Elsewhere than Linux there always is one. Call on the main thread, at start-up (it reads the
/// environment: `CCPROXY_ASSUME_TRAY` skips the check).
#[allow(clippy::disallowed_methods)]
fn tray_host_present() -> bool {
    #[cfg(target_os = "linux")]
    {
        if std::env::var_os("CCPROXY_ASSUME_TRAY").is_some() {
            return true;
        }
        let sni = std::process::Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.kde.StatusNotifierWatcher",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"));
        sni || xembed_tray()
    }
    #[cfg(not(target_os = "linux"))]
    true
}

/// Whether an XEmbed system tray owns the `_NET_SYSTEM_TRAY_S<screen>` selection.
#[cfg(target_os = "linux")]
fn xembed_tray() -> bool {
    let Ok(xlib) = x11_dl::xlib::Xlib::open() else {
        return false;
    };
    // SAFETY: plain Xlib calls on a display opened and closed here; every pointer passed is
    // either that display or a NUL-terminated string that outlives the call.
    #[allow(unsafe_code)]
    unsafe {
        let display = (xlib.XOpenDisplay)(std::ptr::null());
        if display.is_null() {
            return false;
        }
        let screen = (xlib.XDefaultScreen)(display);
        // A formatted number holds no NUL byte, so this cannot fail.
        #[allow(clippy::expect_used)]
        let name = std::ffi::CString::new(format!("_NET_SYSTEM_TRAY_S{screen}")).expect("no NUL");
        let atom = (xlib.XInternAtom)(display, name.as_ptr(), 0);
        let owner = (xlib.XGetSelectionOwner)(display, atom);
        (xlib.XCloseDisplay)(display);
        owner != 0
    }
}

/// On X11, GDK opens GLX when it connects to the display, only to pick visuals for GL drawing —
/// which loads Mesa (and, with software rendering, LLVM): about 10 MB of private memory and 50 MB
/// resident, held all day by an app that mostly has no window. The app draws nothing with GDK's
/// GL; the window's WebKit view then composites into shared-memory buffers instead. A `GDK_GL`
/// the user set wins. Must run before GTK starts and before any thread does.
#[allow(clippy::disallowed_methods)]
fn without_gdk_gl() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("GDK_GL").is_none() {
        std::env::set_var("GDK_GL", "disable");
    }
}

/// Starts the app.
pub fn run() {
    without_gdk_gl();
    let _ = tracing_subscriber_init();
    let host = Host::new();
    let args: Vec<String> = std::env::args().collect();
    let at_login = launch::launched_at_login(&args);
    let context = tauri::generate_context!();
    // The server starts before the GUI: clients can connect while GTK and the tray come up.
    let auto_start = auto_start_choice(&context.config().identifier);
    if auto_start {
        let host = host.clone();
        tauri::async_runtime::spawn(async move { host.start().await });
    }
    // Without its app the program has nothing to run: failing to build it ends the process
    // with Tauri's reason, as every Tauri app does.
    #[allow(clippy::expect_used)]
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            // Launched again, the app shows itself (so it can always be reopened, tray icon or
            // not); a second login entry's launch does not.
            if launch::launched_at_login(&args) {
                return;
            }
            let app = app.clone();
            tauri::async_runtime::spawn(async move { open_window(&app, "status").await });
        }))
        .plugin(launch::plugin())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_shell::init())
        .plugin(tauri_plugin_store::Builder::default().build())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_notification::init())
        .manage(host.clone())
        .manage(updates::Source::read())
        .invoke_handler(tauri::generate_handler![
            server_status,
            start_server,
            stop_server,
            copy_snippet,
            launch_at_login,
            set_launch_at_login
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            let choices = tray::Choices {
                auto_start,
                launch_at_login: launch::is_on(&handle),
                restore_on_quit: clients::restore_on_quit(&handle),
                auto_updates: updates::automatic(&handle),
            };
            tray::create(&handle, &choices)?;
            let tray_host = tray_host_present();
            // At login the tray host may not be up yet: the app stays in the tray regardless
            // (the icon shows once the host is; launching the app again opens the window).
            if !tray_host && !at_login {
                tracing::warn!("no system tray to show the icon in: opening the window instead");
            }
            // Read once, at start-up.
            #[allow(clippy::disallowed_methods)]
            let window_asked = std::env::var_os("CCPROXY_OPEN_WINDOW").is_some();
            let show_window = !at_login && (!tray_host || window_asked);
            tauri::async_runtime::spawn(async move {
                if auto_start {
                    // Started above, before the GUI; this waits for that start to finish.
                    handle.state::<Arc<Host>>().inner().start().await;
                }
                tray::refresh(&handle).await;
                if show_window {
                    open_window(&handle, "status").await;
                }
                // Tests wait for this line (start-up is done, the server started or not).
                tracing::info!(
                    server_started = auto_start,
                    at_login,
                    window = show_window,
                    "ready"
                );
                // The menu's login, quota and CLI lines follow the server; its new alerts
                // become desktop notifications.
                let mut seen = 0;
                loop {
                    updates::check_if_due(&handle).await;
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    tray::refresh(&handle).await;
                    seen = notify_alerts(&handle, seen).await;
                }
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { .. } = event {
                // Remember the size, then let the window (and its WebView) be destroyed.
                if let (Ok(size), Ok(scale)) = (window.inner_size(), window.scale_factor()) {
                    let logical = size.to_logical::<f64>(scale);
                    if let Ok(store) = window.app_handle().store(STORE) {
                        store.set(
                            "window",
                            serde_json::json!({"width": logical.width, "height": logical.height}),
                        );
                    }
                }
            }
        })
        .build(context)
        .expect("building the app");
    app.run(move |app, event| {
        if let RunEvent::ExitRequested { code, api, .. } = &event {
            // Closing the last window keeps the app in the tray; only Quit (an explicit exit
            // code) ends it.
            if code.is_none() {
                api.prevent_exit();
            }
        }
        if let RunEvent::Exit = event {
            if clients::restore_on_quit(app) {
                clients::restore_all(app);
            }
            let host = app.state::<Arc<Host>>().inner().clone();
            tauri::async_runtime::block_on(async move {
                host.stop().await;
            });
        }
    });
}

/// "Start server at launch" (on unless the user turned it off), read from the app's store file
/// before the app (and its store plugin) exists: `<data dir>/<identifier>/settings.json`, the
/// path `tauri-plugin-store` resolves `STORE` to.
fn auto_start_choice(identifier: &str) -> bool {
    dirs::data_dir()
        .map(|d| d.join(identifier).join(STORE))
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("auto_start").and_then(|v| v.as_bool()))
        .unwrap_or(true)
}

/// Shows the server's alerts newer than `seen` as desktop notifications (each alert fires once
/// per crossing in `ccproxy_core::alerts`, so there are no storms); returns the newest id.
async fn notify_alerts(app: &AppHandle, seen: u64) -> u64 {
    use tauri_plugin_notification::NotificationExt;
    let host = app.state::<Arc<Host>>().inner().clone();
    let Some(alerts) = host.with_state(|s| s.alerts.since(0)).await else {
        return seen;
    };
    // A restarted server numbers its alerts from 1 again.
    let seen = if alerts.last().is_some_and(|a| a.id < seen) {
        0
    } else {
        seen
    };
    let mut newest = seen;
    for alert in alerts.into_iter().filter(|a| a.id > seen) {
        newest = newest.max(alert.id);
        let shown = app
            .notification()
            .builder()
            .title(&alert.title)
            .body(&alert.message)
            .show();
        match shown {
            Ok(()) => tracing::info!(alert = alert.kind, "notified: {}", alert.title),
            Err(e) => tracing::warn!("desktop notification ({}): {e}", alert.title),
        }
    }
    newest
}

fn tracing_subscriber_init() -> Result<(), ccproxy_core::telemetry::TelemetryError> {
    let server = ccproxy_core::config::ServerConfig::default();
    ccproxy_core::telemetry::init(&server)
}
