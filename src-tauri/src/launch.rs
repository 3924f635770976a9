//! Launch at login, through Tauri's autostart plugin: an XDG autostart entry
//! (`~/.config/autostart/CCProxy.desktop`) on Linux, a LaunchAgent on macOS, the `Run` registry
//! key on Windows. The entry itself is the remembered choice (there is no second copy of it to
//! drift), and it is off until the user turns it on (the tray's check item or the Settings page
//! in the window). The entry starts the app with [`AT_LOGIN_ARG`], so a launch at login stays in
//! the tray and never opens the window, even when the desktop's tray host is not up yet.

use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Wry};
use tauri_plugin_autostart::ManagerExt;

/// The argument the login entry starts the app with.
pub const AT_LOGIN_ARG: &str = "--at-login";

/// The autostart plugin, writing entries that pass [`AT_LOGIN_ARG`].
pub fn plugin() -> TauriPlugin<Wry> {
    tauri_plugin_autostart::Builder::new()
        .arg(AT_LOGIN_ARG)
        .build()
}

/// Whether this process was started by the login entry.
pub fn launched_at_login(args: &[String]) -> bool {
    args.iter().any(|a| a == AT_LOGIN_ARG)
}

/// Whether the app launches at login.
pub fn is_on(app: &AppHandle) -> bool {
    app.autolaunch().is_enabled().unwrap_or_else(|e| {
        tracing::warn!("cannot read the launch-at-login entry: {e}");
        false
    })
}

/// Turns launching at login on or off; returns the state now.
pub fn set(app: &AppHandle, on: bool) -> Result<bool, String> {
    let manager = app.autolaunch();
    let done = if on {
        manager.enable()
    } else {
        manager.disable()
    };
    match done {
        Ok(()) => {
            tracing::info!(on, "launch at login");
            Ok(on)
        }
        Err(e) => {
            tracing::warn!(on, "launch at login: {e}");
            Err(format!("cannot change launch at login: {e}"))
        }
    }
}
