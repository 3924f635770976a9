//! The CCProxy desktop app (see `lib.rs`).

// No console window on Windows.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    ccproxy_desktop::run();
}
