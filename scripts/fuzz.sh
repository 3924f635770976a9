#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/) and runs each for a short while from the seed inputs.
# CI runs it; for a longer hunt: scripts/fuzz.sh 600   (seconds per target)
#
# cargo-fuzz needs a nightly compiler for its sanitizer flags; with `-s none` (no sanitizer: the
# code is safe Rust) only stable codegen options are used, so the stable toolchain builds it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"

if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
cargo fuzz build -O -s none
for target in stream_translate request_translate; do
  mkdir -p "fuzz/corpus/$target"
  cargo fuzz run -O -s none "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
    -max_total_time="$seconds" -print_final_stats=0 2>&1 | grep -E '^(Done|INFO: seed corpus)' || true
  # A crash makes `cargo fuzz run` fail above and leaves its input in fuzz/artifacts.
  if compgen -G "fuzz/artifacts/$target/*" >/dev/null; then
    echo "fuzz target $target found a failing input:" >&2
    ls "fuzz/artifacts/$target" >&2
    exit 1
  fi
done
