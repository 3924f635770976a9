// A build script reports failure by panicking: expect is its error path.
#![allow(clippy::expect_used)]

fn main() {
    // The app's own commands get permissions (allow-<command>), which the capability grants to
    // the window: it shows a remote (http://127.0.0.1) page, where nothing is allowed by default.
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "server_status",
            "start_server",
            "stop_server",
            "copy_snippet",
            "launch_at_login",
            "set_launch_at_login",
        ]),
    ))
    .expect("tauri-build");
}
