#!/usr/bin/env bash
# GUI smoke test of the real app under Xvfb with `trayer` as the tray host, driving the tray menu
# with xdotool like a user: Stop closes the port, Start reopens it, Copy env puts the snippet on
# the clipboard; a request billed to extra usage (the mock upstream's reading) shows in the menu's
# quota and "Last request" lines, becomes a desktop notification (seen on the session bus) and
# blocks the next request until "Allow extra usage until the reset" in the menu; Quit exits with
# no process left. Then, with no tray host, the window opens
# instead. Screenshots go to $SHOTS. Run inside a D-Bus session with $DISPLAY set (see
# scripts/test-desktop.sh).
# Usage: tray-smoke.sh <ccproxy-desktop binary> <port> <shots dir> <mock-upstream binary>
#
# Nothing here sleeps for a fixed time to let something happen: every step waits for the state
# it needs (a window mapped, the menu open or closed, the port answering, a log line), for up to
# $PATIENCE seconds, so a slow machine makes the test slower, never red.
set -euo pipefail
app=$1 port=$2 shots=$3 mock_bin=$4
PATIENCE=${PATIENCE:-90}
mkdir -p "$shots"
home=$(mktemp -d)
fail() { echo "FAIL: $*" >&2; import -window root "$shots/failure.png" || true; exit 1; }
health() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true; }
wait_for() { # description, command… — polls the command until it succeeds
  local what=$1 deadline=$((SECONDS + PATIENCE))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${PATIENCE}s waiting for $what"
    sleep 0.1
  done
}
health_is() { [ "$(health)" = "$1" ]; }
wait_health() { wait_for "health $1 (it is $(health))" health_is "$1"; }
logged() { grep -q "$2" "$1"; } # file, pattern
# Mapped popup menus of the app: the tray menu while it is open, and its open submenus.
popups() {
  local w n=0
  for w in $(xdotool search --onlyvisible --class '^ccproxy-desktop$' 2>/dev/null); do
    xprop -id "$w" _NET_WM_WINDOW_TYPE 2>/dev/null | grep -q POPUP_MENU && n=$((n + 1))
  done
  echo "$n"
}
popups_are() { [ "$(popups)" = "$1" ]; }
# The tray icon is docked: the panel holds a window of icon size (trayer's own child is 1x1).
docked() { xwininfo -children -id "$panel" | grep -Eq ' [0-9]{2,}x[0-9]{2,}\+'; }

trayer --edge top --align right --widthtype request --height 32 --transparent false --expand true &
tray=$!
trap 'kill "$tray" 2>/dev/null || true; pkill -x ccproxy-desktop 2>/dev/null || true' EXIT
wait_for "the tray panel" xdotool search --name '^panel$'
panel=$(xdotool search --name '^panel$' | head -1)
# The mock upstream, a login by token, and a watch on the desktop notifications sent.
"$mock_bin" > "$shots/mock.url" &
mock=$!
dbus-monitor --session "type='method_call',interface='org.freedesktop.Notifications',member='Notify'" \
  > "$shots/notifications.log" 2>&1 &
monitor=$!
trap 'kill "$tray" "$mock" "$monitor" 2>/dev/null || true; pkill -x ccproxy-desktop 2>/dev/null || true' EXIT
wait_for "the mock upstream" grep -q '^http' "$shots/mock.url"
upstream=(CLAUDE__API_BASE_URL="$(cat "$shots/mock.url")" CLAUDE_CODE_OAUTH_TOKEN=sk-ant-oat01-tray-smoke)
HOME=$home PORT=$port env "${upstream[@]}" "$app" > "$shots/app.log" 2>&1 &
pid=$!
wait_for "the app to start" logged "$shots/app.log" ' ready'
wait_health 200
grep -q "no system tray" "$shots/app.log" && fail "the app did not see the tray host"
wait_for "the tray icon in the panel" docked
eval "$(xdotool getwindowgeometry --shell "$panel")"
icon_x=$((X + WIDTH - 16)) icon_y=$((Y + 16))
open_menu() {
  xdotool mousemove "$icon_x" "$icon_y" click 3
  wait_for "the tray menu to open" popups_are 1
}
menu() { # keys…  (in the menu, then it closes)
  open_menu
  xdotool key "$@"
  wait_for "the tray menu to close" popups_are 0
}

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

menu Up Up Return           # "Start server at launch": off
store="$home/.local/share/dev.ccproxy.app/settings.json"
wait_for "auto_start stored as false" grep -q '"auto_start": *false' "$store"
echo "ok: the start-at-launch choice is stored"

quit() {
  menu Up Return            # the last item: Quit
  wait_for "the app to exit on Quit" bash -c "! kill -0 $pid"
  wait "$pid" || fail "the app exited with an error"
  [ "$(health)" = "000" ] || fail "the port is still open after Quit"
  if pgrep -x ccproxy-desktop >/dev/null; then
    fail "a process is left after Quit: $(pgrep -ax ccproxy-desktop)"
  fi
}
quit
echo "ok: Quit stopped the server and exited, no process left"

# Launched again, it remembers not to start the server; Start from the menu does.
HOME=$home PORT=$port "$app" > "$shots/app-2.log" 2>&1 &
pid=$!
# "ready" comes after the start-up decision: had the server been started, it would answer now.
wait_for "the app to start" logged "$shots/app-2.log" ' ready'
[ "$(health)" = "000" ] || fail "the server started although start-at-launch is off"
wait_for "the tray icon in the panel" docked
menu Down Return            # the first enabled item: Start server
wait_health 200
echo "ok: relaunched stopped, as chosen; Start starts it"
quit

# No tray host: the window opens, so the app is never unreachable.
kill "$tray"; wait "$tray" 2>/dev/null || true
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
