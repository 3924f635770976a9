#!/usr/bin/env bash
# The whole test suite, after installing what it needs. CI (.ci/run) runs exactly this.
#
# Installs the pinned client programs the end-to-end tests drive through the proxy — the
# official Anthropic Python SDK (tests/e2e/requirements.txt, into target/e2e-venv) and the real
# Claude Code CLI (tests/e2e/package.json) — then runs every test of the GUI-free workspace.
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x target/e2e-venv/bin/python ]; then
  python3 -m venv target/e2e-venv
fi
target/e2e-venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

# With this set, a missing client program fails its test instead of skipping it.
export CCPROXY_E2E_REQUIRED=1
cargo test --locked "$@"
