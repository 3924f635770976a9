#!/usr/bin/env bash
# GUI smoke test of the real app under Xvfb with `trayer` as the tray host, driving the tray menu
# with xdotool like a user: Stop closes the port, Start reopens it, Copy env puts the snippet on
# the clipboard, Quit exits with no process left. Then, with no tray host, the window opens
# instead. Screenshots go to $SHOTS. Run inside a D-Bus session with $DISPLAY set (see
# scripts/test-desktop.sh). Usage: tray-smoke.sh <ccproxy-desktop binary> <port> <shots dir>
set -euo pipefail
app=$1 port=$2 shots=$3
mkdir -p "$shots"
home=$(mktemp -d)
fail() { echo "FAIL: $*" >&2; import -window root "$shots/failure.png" || true; exit 1; }
health() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health" || true; }
wait_health() { # expected code
  for _ in $(seq 100); do [ "$(health)" = "$1" ] && return 0; sleep 0.1; done
  fail "health is $(health), expected $1"
}

trayer --edge top --align right --widthtype request --height 32 --transparent false --expand true &
tray=$!
trap 'kill "$tray" 2>/dev/null || true; pkill -x ccproxy-desktop 2>/dev/null || true' EXIT
sleep 1
HOME=$home PORT=$port "$app" > "$shots/app.log" 2>&1 &
pid=$!
wait_health 200
sleep 1
panel=$(xdotool search --name '^panel$' | head -1)
eval "$(xdotool getwindowgeometry --shell "$panel")"
icon_x=$((X + WIDTH - 16)) icon_y=$((Y + 16))
menu() { # keys…
  xdotool mousemove "$icon_x" "$icon_y" click 3
  sleep 0.7
  xdotool key "$@"
  sleep 0.5
}
grep -q "no system tray" "$shots/app.log" && fail "the app did not see the tray host"

xdotool mousemove "$icon_x" "$icon_y" click 3
sleep 0.7
import -window root "$shots/tray-menu.png"
xdotool key Escape
sleep 0.3

menu Down Return            # the first enabled item: Stop server
wait_health 000
echo "ok: Stop closed the port"
menu Down Return            # now the first enabled item is Start server
wait_health 200
echo "ok: Start reopened it"

menu Down Down Right Return # Copy env snippet → Claude Code / Anthropic SDK (/api)
clip=$(xclip -o -selection clipboard)
expected="export ANTHROPIC_BASE_URL=http://127.0.0.1:$port/api
export ANTHROPIC_API_KEY=ccproxy"
[ "$clip" = "$expected" ] || fail "clipboard: $clip"
echo "ok: Copy env put the snippet on the clipboard"

menu Up Up Return           # "Start server at launch": off
store="$home/.local/share/dev.ccproxy.app/settings.json"
for _ in $(seq 50); do grep -q '"auto_start": *false' "$store" 2>/dev/null && break; sleep 0.1; done
grep -q '"auto_start": *false' "$store" 2>/dev/null || fail "auto_start not stored: $(cat "$store" 2>&1)"
echo "ok: the start-at-launch choice is stored"

quit() {
  menu Up Return            # the last item: Quit
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "the app did not exit on Quit"
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
sleep 3
[ "$(health)" = "000" ] || fail "the server started although start-at-launch is off"
menu Down Return            # the first enabled item: Start server
wait_health 200
echo "ok: relaunched stopped, as chosen; Start starts it"
quit

# No tray host: the window opens, so the app is never unreachable.
kill "$tray"; wait "$tray" 2>/dev/null || true
sleep 0.5
HOME=$home PORT=$port "$app" > "$shots/app-no-tray.log" 2>&1 &
pid=$!
wait_health 200
for _ in $(seq 100); do xdotool search --onlyvisible --name '^CCProxy$' >/dev/null && break; sleep 0.1; done
xdotool search --onlyvisible --name '^CCProxy$' >/dev/null || fail "no window without a tray host"
grep -q "no system tray" "$shots/app-no-tray.log" || fail "no warning about the missing tray"
sleep 2
import -window root "$shots/no-tray-window.png"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
echo "ok: without a tray host the window opens"
rm -rf "$home"
