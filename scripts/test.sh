#!/usr/bin/env bash
# The whole test suite, after installing what it needs. CI (.ci/run) runs exactly this.
#
# Installs the pinned client programs the end-to-end tests drive through the proxy — the
# official Anthropic and OpenAI Python SDKs and the llm-comply conformance suite
# (tests/e2e/requirements.txt, into target/e2e-venv), the real Claude Code CLI, Codex CLI and the
# Vercel AI SDK (tests/e2e/package.json) — an OS keychain for the keyring-storage test
# (gnome-keyring's Secret Service on a private D-Bus session), Debian's chromium with
# playwright-core (tests/ui/package.json) for the web UI, and Debian's Docker (docker.io; the
# daemon is started when it is not running) for Claude Code mode in a container, whose test
# images tests/docker/ assembles (debootstrap for a Debian base); then runs every test of the GUI-free
# workspace and the browser tests (screenshots in target/ui-screenshots/). Extra arguments go to
# `cargo test` (e.g. a test name filter; the browser tests are then skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CCPROXY_IN_DBUS:-}" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! command -v gnome-keyring-daemon >/dev/null || ! command -v dbus-run-session >/dev/null \
    || [ ! -x /usr/bin/chromium ] || ! command -v dockerd >/dev/null \
    || ! command -v debootstrap >/dev/null; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      gnome-keyring dbus dbus-daemon chromium docker.io debootstrap >/dev/null
  fi
  # Docker, for Claude Code mode in a container (tests/cli/docker.rs): start the daemon if it
  # is not running; where it runs, those tests must run (not skip).
  if ! docker info >/dev/null 2>&1; then
    $sudo sh -c 'nohup dockerd >/tmp/ccproxy-dockerd.log 2>&1 &'
    for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  fi
  if docker info >/dev/null 2>&1; then
    export CCPROXY_DOCKER_REQUIRED=1
  else
    echo "warning: Docker does not run here (see /tmp/ccproxy-dockerd.log); its tests will skip" >&2
  fi

  if [ ! -x target/e2e-venv/bin/python ]; then
    python3 -m venv target/e2e-venv
  fi
  target/e2e-venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/requirements.txt
  (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)
  (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)

  # Re-run this script inside a private D-Bus session, where the keychain lives.
  export CCPROXY_IN_DBUS=1
  exec dbus-run-session -- "$0" "$@"
fi

# A Secret Service with an unlocked default collection, for `auth.storage = "keyring"`.
printf 'ccproxy-test' | gnome-keyring-daemon --unlock --components=secrets >/dev/null
export CCPROXY_TEST_KEYRING=1

# With this set, a missing client program or keychain fails its test instead of skipping it.
export CCPROXY_E2E_REQUIRED=1
cargo test --locked "$@"

if [ "$#" -eq 0 ]; then
  # The web UI in a real browser, against the real binary and the mock upstream.
  cargo build --locked -q -p ccproxy-cli -p ccproxy-mock-upstream
  (cd tests/ui && CCPROXY_BIN="$PWD/../../target/debug/ccproxy" \
    MOCK_BIN="$PWD/../../target/debug/mock-upstream" \
    node --test --test-concurrency=1 ui.test.mjs)
  # The desktop app: tray, window, WebDriver (installs its own dependencies).
  ./scripts/test-desktop.sh
fi
