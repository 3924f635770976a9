//! The `ccproxy` command: thin glue over `ccproxy-core`.

mod auth;
mod cli;
mod commands;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the C library's allocator: a proxied request allocates and frees some
/// hundred small blocks (headers, futures, buffers), and glibc's `malloc`/`free` were a sixth
/// of the instructions spent per request (callgrind, `scripts/callgrind.sh`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
