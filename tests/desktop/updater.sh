#!/usr/bin/env bash
# The updater against a local update server, as a user meets it: a build whose update key is a
# test key made here (tauri signer) announces the served version by itself at start-up; "Check
# for updates…" in the tray shows the release notes in a dialog, and "Install and restart"
# downloads the bundle, refuses it when its signature does not verify (the installed app is left
# byte for byte as it was) and installs it when it does (the app's executable is replaced by the
# signed bundle, then the app restarts into it). Run inside a D-Bus session with $DISPLAY set,
# after tray-smoke.sh (see scripts/test-desktop.sh).
# Usage: updater.sh <ccproxy-desktop built with CCPROXY_UPDATER_PUBKEY> <port> <shots dir> <dir>
# where <dir> holds update.key (the test key, password $KEY_PASSWORD) and the Tauri CLI is
# $TAURI (for `tauri signer sign`).
set -euo pipefail
built=$1 port=$2 shots=$3 keys=$4
mkdir -p "$shots"
home=$(mktemp -d)
# shellcheck source=tests/desktop/common.sh
source "$(dirname "$0")/common.sh"

# The "installed" app: a copy, which the update replaces (an AppImage is updated in place the
# same way), and the update server's files.
mkdir -p "$home/app" "$home/www"
app="$home/app/ccproxy-desktop"
cp "$built" "$app"
payload="$home/www/CCProxy_9.9.9_amd64.AppImage"
cp /bin/true "$payload"  # an ELF executable, as an AppImage is; the restart runs it and exits
sign() { "$TAURI" signer sign -k "$(cat "$keys/update.key")" -p "$KEY_PASSWORD" "$1" >/dev/null; cat "$1.sig"; }
good=$(sign "$payload")
cp /bin/false "$home/other"
bad=$(sign "$home/other")  # a valid signature, of other bytes
www_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
manifest() { # signature → the manifest the release workflow publishes
  python3 -c 'import json, sys; print(json.dumps({"version": "9.9.9", "notes": "Faster streaming. Test release notes.", "pub_date": "2026-12-01T00:00:00Z", "platforms": {"linux-x86_64": {"signature": sys.argv[1], "url": sys.argv[2]}}}))' \
    "$1" "http://127.0.0.1:$www_port/$(basename "$payload")"
}
manifest "$good" > "$home/www/good.json"
manifest "$bad" > "$home/www/bad.json"
python3 -m http.server --bind 127.0.0.1 --directory "$home/www" "$www_port" > "$shots/update-server.log" 2>&1 &
www=$!
trayer --edge top --align right --widthtype request --height 32 --transparent false --expand true &
tray=$!
dbus-monitor --session "type='method_call',interface='org.freedesktop.Notifications',member='Notify'" \
  > "$shots/update-notifications.log" 2>&1 &
monitor=$!
trap 'kill "$tray" "$www" "$monitor" 2>/dev/null || true; kill_own_apps; rm -rf "$home"' EXIT
wait_for "the update server" curl -sf "http://127.0.0.1:$www_port/good.json"
wait_for_panel

dialog() { xdotool search --onlyvisible --name '^CCProxy 9.9.9 is available$' | head -1; }
has_dialog() { [ -n "$(dialog)" ]; }
# "Check for updates…" (counted from the menu's end: Quit, Check for updates automatically,
# Check for updates…), then "Install and restart" in the dialog with the notes.
check_and_install() { # log
  menu Up Up Up Return
  wait_for "the update dialog" has_dialog
  wait_for "the notes offered" logged "$1" 'update offered.*Faster streaming. Test release notes.'
  import -window root "$shots/update-dialog.png"
  # The dialog's buttons fill its bottom row: "Install and restart" the left half, "Later" the
  # right (there is no window manager to give it the keyboard focus, so click).
  eval "$(xdotool getwindowgeometry --shell "$(dialog)")"
  xdotool mousemove $((X + WIDTH / 4)) $((Y + HEIGHT - 12)) click 1
  wait_for "the dialog to close" bash -c "! xdotool search --onlyvisible --name '^CCProxy 9.9.9 is available\$'"
}

# A bad signature: refused, nothing installed.
HOME=$home PORT=$port CCPROXY_UPDATE_URL="http://127.0.0.1:$www_port/bad.json" "$app" > "$shots/app-update-bad.log" 2>&1 &
pid=$!
wait_for "the app to start" logged "$shots/app-update-bad.log" ' ready'
wait_for "the automatic check to find 9.9.9" logged "$shots/app-update-bad.log" 'update available version=9.9.9'
wait_for "its notification" grep -q 'CCProxy 9.9.9 is available' "$shots/update-notifications.log"
grep -q 'Check for updates…' "$shots/app-update-bad.log" || fail "the keyed build does not offer updates"
wait_for_icon
check_and_install "$shots/app-update-bad.log"
wait_for "the refusal" logged "$shots/app-update-bad.log" 'The update was not installed: CCProxy 9.9.9: '
grep 'The update was not installed' "$shots/app-update-bad.log" | grep -qi 'signature' ||
  fail "the refusal does not name the signature: $(grep 'not installed' "$shots/app-update-bad.log")"
cmp -s "$built" "$app" || fail "a refused update changed the installed app"
kill -0 "$pid" || fail "the app ended after refusing the update"
echo "ok: an update whose signature does not verify is refused; the app is untouched"
menu Up Return              # Quit
wait_for "the app to exit" bash -c "! kill -0 $pid"

# A good signature: installed, and the app restarts into it.
HOME=$home PORT=$port CCPROXY_UPDATE_URL="http://127.0.0.1:$www_port/good.json" "$app" > "$shots/app-update-good.log" 2>&1 &
pid=$!
wait_for "the app to start" logged "$shots/app-update-good.log" ' ready'
wait_for_icon
check_and_install "$shots/app-update-good.log"
wait_for "the install" logged "$shots/app-update-good.log" 'update installed; restarting'
same_as_payload() { cmp -s "$payload" "$app"; }
wait_for "the app's executable replaced by the signed bundle" same_as_payload
wait_for "the old app to exit (restarting)" bash -c "! kill -0 $pid"
echo "ok: a signed update is offered with its notes, installed in place, and the app restarts"
