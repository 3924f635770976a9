# Helpers the desktop tests share (sourced): waiting for a state, the app's open popup menus,
# the tray icon docked in trayer's panel, and driving the tray menu with the keyboard. The caller
# sets $shots (screenshots) and $port (the app's server); $panel is set by wait_for_panel.
# Nothing sleeps for a fixed time to let something happen: every step polls for the state it
# needs, for up to $PATIENCE seconds.
PATIENCE=${PATIENCE:-90}
# The app's processes started by this test: by the binary's full path ($app), so a test never
# touches another run's app (CI and a developer's run may share the machine).
own_apps() { pgrep -f -- "^$app( |\$)"; }
kill_own_apps() { pkill -f -- "^$app( |\$)" 2>/dev/null || true; }
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
wait_for_panel() {
  wait_for "the tray panel" xdotool search --name '^panel$'
  panel=$(xdotool search --name '^panel$' | head -1)
}
# Waits for the icon in the panel and remembers where to click it.
wait_for_icon() {
  wait_for "the tray icon in the panel" docked
  eval "$(xdotool getwindowgeometry --shell "$panel")"
  icon_x=$((X + WIDTH - 16)) icon_y=$((Y + 16))
}
open_menu() {
  xdotool mousemove "$icon_x" "$icon_y" click 3
  wait_for "the tray menu to open" popups_are 1
}
menu() { # keys…  (in the menu, then it closes)
  open_menu
  xdotool key "$@"
  wait_for "the tray menu to close" popups_are 0
}
