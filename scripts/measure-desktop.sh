#!/usr/bin/env bash
# Measures the desktop app (release build) under Xvfb with `trayer` as the tray host: start-up to
# a listening server, then memory as people experience it — RSS, PSS (proportional: shared pages
# split between the processes sharing them) and USS (private: what quitting the app would free),
# from /proc/<pid>/smaps_rollup, summed over the app and WebKit's helper processes — and CPU, idle
# with the window closed, with it open, and closed again; with SOAK_MINUTES=N, a sample a minute
# for N minutes with the window closed (growth shows as a rising USS). Also the .deb's size, if
# built. Run after `cargo build --release -p ccproxy-desktop` (or scripts/build-deb.sh), in a
# D-Bus session: dbus-run-session -- scripts/measure-desktop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
app="$PWD/target/release/ccproxy-desktop"
IDLE=${IDLE:-20}
display=:$((80 + RANDOM % 9))
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
export DISPLAY=$display
until xdpyinfo >/dev/null 2>&1; do sleep 0.05; done
trayer --edge top --align right --widthtype request --height 32 &
tray=$!
home=$(mktemp -d)
trap 'kill $xvfb $tray ${pid:-} 2>/dev/null || true; rm -rf "$home"' EXIT
until xdotool search --name '^panel$' >/dev/null 2>&1; do sleep 0.05; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$home/app.log"
start=$(date +%s%N)
HOME=$home PORT=$port "$app" >"$log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.001; done
listening=$((($(date +%s%N) - start) / 1000000))
until grep -q ' ready' "$log"; do sleep 0.01; done
ready=$((($(date +%s%N) - start) / 1000000))
echo "start-up: server listening after $listening ms; tray up and ready after $ready ms"

tree() { { echo "$pid"; pgrep -P "$pid" || true; pgrep -f 'WebKit(Web|Network)Process' || true; } | sort -u; }
# RSS / PSS / USS in MB over the tree.
memory() {
  local p
  for p in $(tree); do cat "/proc/$p/smaps_rollup" 2>/dev/null || true; done | awk '
    /^Rss:/ {rss += $2} /^Pss:/ {pss += $2} /^Private_(Clean|Dirty):/ {uss += $2}
    END {printf "RSS %d MB, PSS %d MB, USS %d MB", rss / 1024, pss / 1024, uss / 1024}'
}
ticks() { local t=0 p s; for p in $(tree); do s=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0); t=$((t + ${s:-0})); done; echo $t; }
# Idles $IDLE s (the measurement's window), then prints memory and CPU over it.
idle() {
  local a b
  a=$(ticks); sleep "$IDLE"; b=$(ticks)
  echo "$(memory), CPU $(awk -v d=$((b - a)) -v hz="$(getconf CLK_TCK)" -v s="$IDLE" 'BEGIN { printf "%.2f %%", d / hz / s * 100 }') ($(tree | wc -l) processes)"
}

echo "window closed:        $(idle)"
# Open the window the way a second launch does (single instance: the first one opens it).
HOME=$home PORT=$port "$app" >/dev/null 2>&1 || true
until xdotool search --onlyvisible --name '^CCProxy$' >/dev/null 2>&1; do sleep 0.05; done
echo "window open:          $(idle)"
# Close it as a window manager's close button does (WM_DELETE_WINDOW; there is no window manager
# here, and `xdotool windowclose` destroys the X window under GTK instead).
python3 - "$(xdotool search --onlyvisible --name '^CCProxy$' | head -1)" <<'PY'
import ctypes, sys
x = ctypes.cdll.LoadLibrary("libX11.so.6")
x.XOpenDisplay.restype = ctypes.c_void_p
x.XInternAtom.restype = ctypes.c_ulong
x.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
class ClientMessage(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong),
                ("message_type", ctypes.c_ulong), ("format", ctypes.c_int),
                ("data", ctypes.c_long * 5)]
class Event(ctypes.Union):
    _fields_ = [("xclient", ClientMessage), ("pad", ctypes.c_long * 24)]
x.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long,
                         ctypes.POINTER(Event)]
x.XFlush.argtypes = [ctypes.c_void_p]
d = x.XOpenDisplay(None)
e = Event()
e.xclient.type, e.xclient.window, e.xclient.format = 33, int(sys.argv[1]), 32  # ClientMessage
e.xclient.message_type = x.XInternAtom(d, b"WM_PROTOCOLS", 0)
e.xclient.data[0] = x.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
x.XSendEvent(d, int(sys.argv[1]), 0, 0, ctypes.byref(e))
x.XFlush(d)
PY
while xdotool search --onlyvisible --name '^CCProxy$' >/dev/null 2>&1; do sleep 0.05; done
echo "window closed again:  $(idle)"
for minute in $(seq "${SOAK_MINUTES:-0}"); do
  sleep 60
  kill -0 "$pid" || { echo "the app is gone" >&2; exit 1; }
  echo "soak, minute $minute: $(memory)"
done
deb=$(ls target/release/bundle/deb/*.deb 2>/dev/null | head -1 || true)
[ -z "$deb" ] || echo ".deb: $(du -k "$deb" | cut -f1) KB ($deb)"
