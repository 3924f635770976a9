#!/usr/bin/env bash
# The desktop app's tests: installs the GTK/WebKit build dependencies and the GUI test tools
# (Xvfb, trayer, xdotool, xclip, ImageMagick, webkit2gtk-driver, tauri-driver), builds the app,
# then under Xvfb in a private D-Bus session runs the tray smoke test (tests/desktop/tray-smoke.sh)
# and the WebDriver test of the real window (tests/desktop/webdriver.mjs), then builds the app
# with a test update key and runs the updater test against a local update server
# (tests/desktop/updater.sh). Screenshots go to
# target/desktop-screenshots/. scripts/test.sh runs this at its end.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${CCPROXY_DESKTOP_IN_SESSION:-}" ]; then
  need=""
  for tool in Xvfb trayer xdotool xclip import WebKitWebDriver dbus-run-session pkg-config; do
    command -v "$tool" >/dev/null || need=1
  done
  pkg-config --exists webkit2gtk-4.1 ayatana-appindicator3-0.1 2>/dev/null || need=1
  if [ -n "$need" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev \
      build-essential pkg-config file \
      xvfb xauth dbus dbus-x11 x11-utils xdotool xclip imagemagick trayer webkit2gtk-driver \
      fonts-dejavu-core at-spi2-core curl >/dev/null
  fi
  command -v tauri-driver >/dev/null || cargo install tauri-driver --locked --version 2.0.4
  (cd src-tauri && npm ci --no-audit --no-fund --loglevel=error)  # the Tauri CLI: tauri signer
  cargo clippy --locked -p ccproxy-desktop --all-targets -- -D warnings
  cargo build --locked -p ccproxy-desktop -p ccproxy-mock-upstream

  display=:$((90 + RANDOM % 9))
  Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
  xvfb=$!
  trap 'kill $xvfb 2>/dev/null || true' EXIT
  for _ in $(seq 600); do xdpyinfo -display "$display" >/dev/null 2>&1 && break; sleep 0.1; done
  export DISPLAY=$display CCPROXY_DESKTOP_IN_SESSION=1
  dbus-run-session -- "$0" "$@"
  exit $?
fi

app="$PWD/target/debug/ccproxy-desktop"
shots="$PWD/target/desktop-screenshots"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== tray smoke test (Xvfb + trayer + xdotool)"
tests/desktop/tray-smoke.sh "$app" "$(free_port)" "$shots" "$PWD/target/debug/mock-upstream"

echo "== the app window through WebDriver (tauri-driver + WebKitWebDriver)"
home=$(mktemp -d)
HOME=$home PORT=$(free_port) CCPROXY_OPEN_WINDOW=1 bash -c \
  'node tests/desktop/webdriver.mjs "$0" "$PORT" "$1"' "$app" "$shots"
rm -rf "$home"

echo "== the updater against a local update server (a build with a test update key)"
keys=$(mktemp -d)
export TAURI="$PWD/src-tauri/node_modules/.bin/tauri" KEY_PASSWORD=test-only
"$TAURI" signer generate --ci -p "$KEY_PASSWORD" -w "$keys/update.key" >/dev/null
CCPROXY_UPDATER_PUBKEY=$(cat "$keys/update.key.pub") cargo build --locked -p ccproxy-desktop
tests/desktop/updater.sh "$app" "$(free_port)" "$shots" "$keys"
rm -rf "$keys"
