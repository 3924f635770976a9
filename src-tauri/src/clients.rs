//! One-click client setup from the tray ([`ccproxy_core::client_setup`]): "Use CCProxy in
//! Claude Code / Codex CLI" writes the running server's address (and API token) into the
//! client's user settings; "Stop using CCProxy in …" puts back what was there. Restoring needs no
//! running server. On Quit the app restores every client it set up when the user chose so
//! (off by default), and "Quit and restore client settings" does it once.
//! Each action's outcome becomes a desktop notification, so a file change never goes unseen.

use crate::host::Host;
use ccproxy_core::client_setup::{Client, Mode, Setup};
use ccproxy_core::config::Environment;
use std::sync::Arc;
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;
use tauri_plugin_store::StoreExt;

/// The app-store key of "Restore client settings on Quit".
const STORE_KEY: &str = "restore_clients_on_quit";

/// The tray item id of `client`'s Use / Stop using item.
pub fn item_id(client: Client) -> String {
    format!("setup-{}", client.id())
}

/// The client a tray item id names.
pub fn of_item(id: &str) -> Option<Client> {
    id.strip_prefix("setup-").and_then(Client::from_id)
}

/// A setup that can only read and restore (no server address needed).
fn offline() -> Setup {
    Setup::offline(Environment::read())
}

/// The clients CCProxy has set up now.
pub fn set_up() -> Vec<Client> {
    let setup = offline();
    Client::ALL
        .into_iter()
        .filter(|c| setup.is_recorded(*c))
        .collect()
}

/// Whether the user chose to restore clients on Quit.
pub fn restore_on_quit(app: &AppHandle) -> bool {
    app.store(crate::STORE)
        .ok()
        .and_then(|s| s.get(STORE_KEY))
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Flips "Restore client settings on Quit" (the check item toggles itself).
pub fn toggle_restore_on_quit(app: &AppHandle) {
    if let Ok(store) = app.store(crate::STORE) {
        let on = !restore_on_quit(app);
        store.set(STORE_KEY, serde_json::json!(on));
        tracing::info!(on, "restore client settings on quit");
    }
}

/// Sets `client` up to use the running server, or restores it when CCProxy had set it up.
pub async fn toggle(app: &AppHandle, host: &Arc<Host>, client: Client) {
    if offline().is_recorded(client) {
        match offline().restore(client) {
            Ok(r) => notify(
                app,
                &format!("{} no longer uses CCProxy", client.name()),
                &r.message,
            ),
            Err(e) => notify(
                app,
                &format!("{}: nothing restored", client.name()),
                &e.to_string(),
            ),
        }
        return;
    }
    let Some(setup) = host.with_state(|s| Setup::of_server(s)).await else {
        notify(
            app,
            &format!("{} was not set up", client.name()),
            "Start the server first: the setup writes its address.",
        );
        return;
    };
    match setup.apply(client, Mode::Api) {
        Ok(p) => notify(
            app,
            &format!("{} now uses CCProxy", client.name()),
            &format!(
                "{} changed in {} (CCProxy keeps the original: \"Stop using CCProxy in {}\" puts it back). Restart running sessions to pick it up.",
                if p.changes.is_empty() {
                    "Nothing".to_string()
                } else {
                    p.changes
                        .iter()
                        .map(|c| c.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                p.file.display(),
                client.name()
            ),
        ),
        Err(e) => notify(app, &format!("{} was not set up", client.name()), &e.to_string()),
    }
}

/// Restores every client CCProxy set up; logs and notifies what it did.
pub fn restore_all(app: &AppHandle) {
    for result in offline().restore_all() {
        match result {
            Ok(r) => notify(
                app,
                &format!("{} no longer uses CCProxy", r.client.name()),
                &r.message,
            ),
            Err(e) => notify(app, "A client's settings were not restored", &e.to_string()),
        }
    }
}

fn notify(app: &AppHandle, title: &str, body: &str) {
    tracing::info!("client setup: {title}: {body}");
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("desktop notification ({title}): {e}");
    }
}
