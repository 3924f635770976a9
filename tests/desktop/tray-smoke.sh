#!/usr/bin/env bash
# GUI smoke test of the real app under Xvfb with `trayer` as the tray host, driving the tray menu
# with xdotool like a user: Stop closes the port, Start reopens it, Copy env puts the snippet on
# the clipboard; a request billed to extra usage (the mock upstream's reading) shows in the menu's
# quota and "Last request" lines, becomes a desktop notification (seen on the session bus) and
# blocks the next request until "Allow extra usage until the reset" in the menu; "Use CCProxy in
# Claude Code / Codex CLI" writes the client's settings and "Stop using", "Quit and restore
# client settings" and Quit with "Restore client settings on Quit" put them back byte for byte;
# "Launch at login" writes and removes the XDG autostart entry; Quit exits with no process left.
# Then, with no tray host, the app started by the login entry stays hidden (launching it again
# opens the window), and a plain launch opens the window instead. Screenshots go to $SHOTS. Run inside a D-Bus session with $DISPLAY set (see
# scripts/test-desktop.sh).
# Usage: tray-smoke.sh <ccproxy-desktop binary> <port> <shots dir> <mock-upstream binary>
#
# Nothing here sleeps for a fixed time to let something happen: every step waits for the state
# it needs (a window mapped, the menu open or closed, the port answering, a log line), for up to
# $PATIENCE seconds, so a slow machine makes the test slower, never red.
set -euo pipefail
app=$1 port=$2 shots=$3 mock_bin=$4
mkdir -p "$shots"
home=$(mktemp -d)
# shellcheck source=tests/desktop/common.sh
source "$(dirname "$0")/common.sh"

trayer --edge top --align right --widthtype request --height 32 --transparent false --expand true &
tray=$!
trap 'kill "$tray" 2>/dev/null || true; kill_own_apps' EXIT
wait_for_panel
# The mock upstream, a login by token, and a watch on the desktop notifications sent.
"$mock_bin" > "$shots/mock.url" &
mock=$!
dbus-monitor --session "type='method_call',interface='org.freedesktop.Notifications',member='Notify'" \
  > "$shots/notifications.log" 2>&1 &
monitor=$!
trap 'kill "$tray" "$mock" "$monitor" 2>/dev/null || true; kill_own_apps' EXIT
wait_for "the mock upstream" grep -q '^http' "$shots/mock.url"
upstream=(CLAUDE__API_BASE_URL="$(cat "$shots/mock.url")" CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-tray-smoke)
HOME=$home PORT=$port env "${upstream[@]}" "$app" > "$shots/app.log" 2>&1 &
pid=$!
wait_for "the app to start" logged "$shots/app.log" ' ready'
wait_health 200
grep -q "no system tray" "$shots/app.log" && fail "the app did not see the tray host"
wait_for_icon
grep -q 'tray: .*| Updates: off in this build (no signing key)' "$shots/app.log" ||
  fail "a build without an update key must say updates are off"

open_menu
import -window root "$shots/tray-menu.png"
xdotool key Escape
wait_for "the tray menu to close" popups_are 0

menu Down Return            # the first enabled item: Stop server
wait_health 000
echo "ok: Stop closed the port"
menu Down Return            # now the first enabled item is Start server
wait_health 200
echo "ok: Start reopened it"

open_menu                   # Copy env snippet → Claude Code / Anthropic SDK (/api)
xdotool key Down Down Right
wait_for "the Copy env submenu" popups_are 2
xdotool key Return
wait_for "the tray menu to close" popups_are 0
expected="export ANTHROPIC_BASE_URL=http://127.0.0.1:$port/api
export ANTHROPIC_API_KEY=ccproxy"
clipboard_is() { [ "$(xclip -o -selection clipboard 2>/dev/null)" = "$1" ]; }
wait_for "the snippet on the clipboard" \
  clipboard_is "$expected"
echo "ok: Copy env put the snippet on the clipboard"

# Who pays, as the tray shows it.
message() { # [header…] — posts a one-line question through /api; prints the status
  curl -s -o /dev/null -w '%{http_code}' "$@" -H 'content-type: application/json' \
    -d '{"model":"claude-sonnet-4-20250514","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' \
    "http://127.0.0.1:$port/api/v1/messages"
}
[ "$(message)" = 200 ] || fail "a plan request did not pass"
wait_for "the menu to show the quota and who paid" \
  logged "$shots/app.log" 'tray: .*Logged in: .*| Quota: 5h 25 % · 7d 50 % | Last request: plan |'
echo "ok: the menu shows the quota reading and that the plan paid"
[ "$(message -H 'x-mock: quota-extra-usage')" = 200 ] || fail "the billed request did not pass"
wait_for "the menu to show extra usage" \
  logged "$shots/app.log" 'tray: .*| Quota: 5h 100 % · 7d 40 % | Last request: extra usage |'
wait_for "a desktop notification about extra usage" grep -q 'Extra usage in use' "$shots/notifications.log"
echo "ok: a request billed to extra usage shows in the menu and notifies"
[ "$(message)" = 429 ] || fail "the next request was not refused"
wait_for "the menu to offer the override" \
  logged "$shots/app.log" 'tray: .*| Allow extra usage until the reset |'
open_menu
import -window root "$shots/tray-menu-extra-usage.png"
xdotool key Escape
wait_for "the tray menu to close" popups_are 0
menu Down Down Return       # the enabled items: Stop server, Allow extra usage until the reset
wait_for "the override" logged "$shots/app.log" 'extra usage allowed from the tray until the reset'
[ "$(message)" = 200 ] || fail "the request after the override was refused"
wait_for "the menu to offer ending it" logged "$shots/app.log" 'tray: .*| Stop allowing extra usage |'
echo "ok: the guard blocked the next request; the menu's override let it through"

# One-click client setup. Counted from the menu's end, the enabled items are: Quit, [Quit and
# restore client settings, while a client is set up], Restore client settings on Quit, Launch at
# login, Start server at launch, Use CCProxy in Codex CLI, Use CCProxy in Claude Code.
settings="$home/.claude/settings.json" codex="$home/.codex/config.toml"
mkdir -p "$home/.claude"
printf '{\n  "model": "opus",\n  "env": {"FOO": "1"},\n  "permissions": {"allow": []}\n}\n' > "$settings"
cp "$settings" "$shots/settings.before.json"
menu Up Up Up Up Up Up Return      # Use CCProxy in Claude Code
wait_for "Claude Code's settings to point at CCProxy" \
  grep -q "\"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:$port/api\"" "$settings"
grep -q '"FOO": "1"' "$settings" || fail "the user's own env key was lost: $(cat "$settings")"
wait_for "the menu to show it" logged "$shots/app.log" 'tray: .*| Clients set up: Claude Code |'
wait_for "a notification about it" grep -q 'Claude Code now uses CCProxy' "$shots/notifications.log"
same_as_before() { cmp -s "$shots/settings.before.json" "$settings"; }
menu Up Up Up Up Up Up Up Return   # Stop using CCProxy in Claude Code
wait_for "Claude Code's settings byte-identical again" same_as_before
wait_for "the menu to show none" logged "$shots/app.log" 'tray: .*| Clients set up: none |'
echo "ok: Use / Stop using CCProxy in Claude Code round-trips its settings byte for byte"

menu Up Up Up Up Return            # "Start server at launch": off
store="$home/.local/share/dev.ccproxy.app/settings.json"
wait_for "auto_start stored as false" grep -q '"auto_start": *false' "$store"
echo "ok: the start-at-launch choice is stored"

menu Up Up Up Up Up Return         # Use CCProxy in Codex CLI (no config.toml yet)
wait_for "the Codex CLI's provider" grep -q "base_url = \"http://127.0.0.1:$port/api/v1\"" "$codex"
wait_for "the menu to show it" logged "$shots/app.log" 'tray: .*| Clients set up: Codex CLI |'
menu Up Up Return                  # Quit and restore client settings
wait_for "the app to exit on Quit and restore" bash -c "! kill -0 $pid"
wait "$pid" || fail "the app exited with an error"
[ ! -e "$codex" ] || fail "Quit and restore left the file CCProxy created: $(cat "$codex")"
echo "ok: Quit and restore client settings removed the Codex config CCProxy had created"

quit() {
  menu Up Return            # the last item: Quit
  wait_for "the app to exit on Quit" bash -c "! kill -0 $pid"
  wait "$pid" || fail "the app exited with an error"
  [ "$(health)" = "000" ] || fail "the port is still open after Quit"
  if own_apps >/dev/null; then
    fail "a process is left after Quit: $(own_apps | xargs ps -o pid=,args= -p)"
  fi
}

# Launched again, it remembers not to start the server; Start from the menu does.
HOME=$home PORT=$port env "${upstream[@]}" "$app" > "$shots/app-2.log" 2>&1 &
pid=$!
# "ready" comes after the start-up decision: had the server been started, it would answer now.
wait_for "the app to start" logged "$shots/app-2.log" ' ready'
[ "$(health)" = "000" ] || fail "the server started although start-at-launch is off"
wait_for "the tray icon in the panel" docked
menu Down Return            # the first enabled item: Start server
wait_health 200
echo "ok: relaunched stopped, as chosen; Start starts it"

entry="$home/.config/autostart/CCProxy.desktop"
[ ! -e "$entry" ] || fail "launch at login is on by default"
menu Up Up Up Return        # Launch at login: on
wait_for "the autostart entry" grep -q '^Exec=/.*/ccproxy-desktop --at-login$' "$entry"
wait_for "the menu to show it" logged "$shots/app-2.log" 'tray: .*| Launch at login: on'
menu Up Up Up Return        # Launch at login: off
wait_for "the autostart entry to go" bash -c "[ ! -e '$entry' ]"
menu Up Up Up Return        # on again, for the launch at login below
wait_for "the autostart entry" grep -q 'ccproxy-desktop --at-login$' "$entry"
echo "ok: Launch at login adds and removes the XDG autostart entry"

menu Up Up Up Up Up Up Return      # Use CCProxy in Claude Code
wait_for "Claude Code's settings to point at CCProxy" grep -q 'ANTHROPIC_BASE_URL' "$settings"
wait_for "the menu to show it" logged "$shots/app-2.log" 'tray: .*| Clients set up: Claude Code |'
menu Up Up Up Return               # Restore client settings on Quit: on
wait_for "the choice stored" grep -q '"restore_clients_on_quit": *true' "$store"
quit
same_as_before || fail "Quit did not restore Claude Code's settings: $(cat "$settings")"
echo "ok: with Restore client settings on Quit, Quit restored Claude Code's settings byte for byte"
echo "ok: Quit stopped the server and exited, no process left"

# No tray host (as at login, before the desktop's tray is up): started by the login entry, the
# app stays hidden; launching it again opens the window.
kill "$tray"; wait "$tray" 2>/dev/null || true
read -r -a at_login < <(sed -n 's/^Exec=//p' "$entry")
HOME=$home PORT=$port "${at_login[@]}" > "$shots/app-at-login.log" 2>&1 &
pid=$!
wait_for "the app to start" logged "$shots/app-at-login.log" ' ready'
grep -q 'at_login=true window=false' "$shots/app-at-login.log" || fail "started at login, it meant to open the window"
if xdotool search --onlyvisible --name '^CCProxy$' >/dev/null 2>&1; then fail "started at login, the window opened"; fi
HOME=$home PORT=$port "$app" > "$shots/app-again.log" 2>&1 || fail "the second launch failed"
wait_for "the window (launched again)" xdotool search --onlyvisible --name '^CCProxy$'
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
wait_for "the window to close" bash -c "! xdotool search --onlyvisible --name '^CCProxy\$'"
echo "ok: started at login it stays hidden; launching it again opens the window"

# No tray host: the window opens, so the app is never unreachable.
HOME=$home PORT=$port "$app" > "$shots/app-no-tray.log" 2>&1 &
pid=$!
wait_health 200
wait_for "the window (no tray host)" xdotool search --onlyvisible --name '^CCProxy$'
grep -q "no system tray" "$shots/app-no-tray.log" || fail "no warning about the missing tray"
wait_for "the app to start" logged "$shots/app-no-tray.log" ' ready'
import -window root "$shots/no-tray-window.png"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
echo "ok: without a tray host the window opens"
rm -rf "$home"
