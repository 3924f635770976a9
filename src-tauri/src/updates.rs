//! Updates through Tauri's updater plugin: the release workflow publishes an update manifest
//! (`latest.json`) next to the bundles, each signed with the project's update key; the app
//! checks it ("Check for updates…" in the tray, and by itself at most once a day unless the user
//! turned that off), shows the release notes and installs only when asked and only a bundle
//! whose signature verifies against the public key built in.
//!
//! The public key comes from `CCPROXY_UPDATER_PUBKEY` at build time (the release workflow sets
//! it); a build without one has updates off, and its tray item says so. `CCPROXY_UPDATE_URL`
//! replaces the manifest's address (a mirror, or the tests' local update server; release builds
//! accept only https there) — it cannot weaken the check: the bundle must still be signed with
//! the key built in.

use std::time::Duration;
use tauri::{AppHandle, Manager};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons};
use tauri_plugin_notification::NotificationExt;
use tauri_plugin_store::StoreExt;
use tauri_plugin_updater::UpdaterExt;

/// The update signing key's public half (minisign, base64), if this build has one.
pub const PUBKEY: Option<&str> = option_env!("CCPROXY_UPDATER_PUBKEY");

/// Where the release workflow publishes the update manifest.
const MANIFEST: &str = "https://github.com/ccproxy/ccproxy/releases/latest/download/latest.json";

/// The app-store keys: whether to check by itself, and when it last did (unix seconds).
const AUTO_KEY: &str = "check_updates";
const LAST_KEY: &str = "last_update_check";

/// How often the automatic check runs at most.
const DAY: i64 = 24 * 60 * 60;

/// Whether this build can update itself.
pub fn available() -> bool {
    PUBKEY.is_some_and(|k| !k.trim().is_empty())
}

/// Whether the app checks for updates by itself (on unless turned off).
pub fn automatic(app: &AppHandle) -> bool {
    app.store(crate::STORE)
        .ok()
        .and_then(|s| s.get(AUTO_KEY))
        .and_then(|v| v.as_bool())
        .unwrap_or(true)
}

/// Flips "Check for updates automatically" (the check item toggles itself).
pub fn toggle_automatic(app: &AppHandle) {
    if let Ok(store) = app.store(crate::STORE) {
        let on = !automatic(app);
        store.set(AUTO_KEY, serde_json::json!(on));
        tracing::info!(on, "check for updates automatically");
    }
}

/// Where the manifest is (app state): `CCPROXY_UPDATE_URL`, else the release's.
pub struct Source(String);

impl Source {
    /// Reads `CCPROXY_UPDATE_URL`; call once, at start-up.
    #[allow(clippy::disallowed_methods)]
    pub fn read() -> Self {
        Self(
            std::env::var("CCPROXY_UPDATE_URL")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| MANIFEST.to_string()),
        )
    }
}

/// Why a check or an install did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("updates are off in this build (it was built without an update signing key)")]
    Off,
    #[error("{0}")]
    Updater(#[from] tauri_plugin_updater::Error),
    #[error("the update address {0} is not a URL")]
    BadUrl(String),
}

fn updater(app: &AppHandle) -> Result<tauri_plugin_updater::Updater, UpdateError> {
    let key = PUBKEY.filter(|_| available()).ok_or(UpdateError::Off)?;
    let url = &app.state::<Source>().0;
    let url = url
        .parse()
        .map_err(|_| UpdateError::BadUrl(url.to_string()))?;
    Ok(app
        .updater_builder()
        .pubkey(key)
        .endpoints(vec![url])?
        .timeout(Duration::from_secs(60))
        .build()?)
}

/// "Check for updates…": checks now; offers what it finds with its release notes, and installs
/// it (then restarts) if the user says so. Every outcome is a desktop notification.
pub async fn check_now(app: &AppHandle) {
    let found = match updater(app) {
        Ok(u) => u.check().await.map_err(UpdateError::from),
        Err(e) => Err(e),
    };
    remember_check(app);
    let update = match found {
        Ok(Some(update)) => update,
        Ok(None) => {
            notify(
                app,
                "CCProxy is up to date",
                &format!("Version {} is the latest.", app.package_info().version),
            );
            return;
        }
        Err(e) => {
            notify(app, "Could not check for updates", &e.to_string());
            return;
        }
    };
    let notes = update.body.clone().unwrap_or_default();
    tracing::info!(version = %update.version, notes = %notes, "update offered");
    let title = format!("CCProxy {} is available", update.version);
    let message = format!(
        "You have {}.\n\nWhat's new:\n{}\n\nInstall it now? CCProxy restarts when it is done.",
        update.current_version,
        if notes.is_empty() {
            "(no release notes)"
        } else {
            &notes
        }
    );
    let dialog =
        app.dialog()
            .message(message)
            .title(title)
            .buttons(MessageDialogButtons::OkCancelCustom(
                "Install and restart".into(),
                "Later".into(),
            ));
    let (answer, asked) = tokio::sync::oneshot::channel();
    dialog.show(move |yes| {
        let _ = answer.send(yes);
    });
    if !asked.await.unwrap_or(false) {
        tracing::info!(version = %update.version, "update declined");
        return;
    }
    // Downloads, verifies the signature against PUBKEY, and only then installs.
    match update.download_and_install(|_, _| {}, || {}).await {
        Ok(()) => {
            tracing::info!(version = %update.version, "update installed; restarting");
            app.restart();
        }
        Err(e) => notify(
            app,
            "The update was not installed",
            &format!("CCProxy {}: {e}", update.version),
        ),
    }
}

/// The automatic check, at most once a day (the last time is in the app store), unless the user
/// turned it off: what it finds is announced, not installed.
pub async fn check_if_due(app: &AppHandle) {
    if !available() || !automatic(app) {
        return;
    }
    let last = app
        .store(crate::STORE)
        .ok()
        .and_then(|s| s.get(LAST_KEY))
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    if ccproxy_core::clock::unix_secs().saturating_sub(last) < DAY {
        return;
    }
    remember_check(app);
    let found = match updater(app) {
        Ok(u) => u.check().await.map_err(UpdateError::from),
        Err(e) => Err(e),
    };
    match found {
        Ok(Some(update)) => {
            tracing::info!(version = %update.version, "update available");
            notify(
                app,
                &format!("CCProxy {} is available", update.version),
                "Choose \"Check for updates…\" in the tray to see what's new and install it.",
            );
        }
        Ok(None) => tracing::info!("no update available"),
        Err(e) => tracing::warn!("automatic update check: {e}"),
    }
}

fn remember_check(app: &AppHandle) {
    if let Ok(store) = app.store(crate::STORE) {
        store.set(
            LAST_KEY,
            serde_json::json!(ccproxy_core::clock::unix_secs()),
        );
    }
}

fn notify(app: &AppHandle, title: &str, body: &str) {
    tracing::info!("updates: {title}: {body}");
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("desktop notification ({title}): {e}");
    }
}
