#!/usr/bin/env bash
# Measures the desktop app (release build) under Xvfb with a tray host: start-up to a listening
# server, idle RSS and CPU over 20 s with the window closed and with it open (the app's process
# plus WebKit's helper processes), and the .deb's size. Run after scripts/build-deb.sh, in a
# D-Bus session (dbus-run-session -- scripts/measure-desktop.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
app="$PWD/target/release/ccproxy-desktop"
display=:97
Xvfb $display -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
export DISPLAY=$display
sleep 1
trayer --edge top --align right --widthtype request --height 32 &
tray=$!
home=$(mktemp -d)
trap 'kill $xvfb $tray 2>/dev/null || true; pkill -x ccproxy-desktop || true; rm -rf "$home"' EXIT
sleep 1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s%N)
HOME=$home PORT=$port "$app" >/dev/null 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$port/health" >/dev/null; do sleep 0.005; done
echo "start-up to a listening server: $(( ($(date +%s%N) - start) / 1000000 )) ms"

tree() { echo "$pid $(pgrep -P "$pid" | tr '\n' ' ') $(pgrep -f WebKit | tr '\n' ' ')" | tr ' ' '\n' | sort -u | grep .; }
rss() { local t=0; for p in $(tree); do r=$(awk '/VmRSS/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0); t=$((t + ${r:-0})); done; echo "$((t / 1024)) MB"; }
ticks() { local t=0; for p in $(tree); do s=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0); t=$((t + ${s:-0})); done; echo $t; }
cpu() { local a b; a=$(ticks); sleep 20; b=$(ticks); awk -v d=$((b - a)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f %%\n", d / hz / 20 * 100 }'; }

sleep 5
echo "window closed: RSS $(rss), CPU $(cpu) (processes: $(tree | wc -l))"
# Open the window the way a second launch does (single instance → the first one opens it).
HOME=$home PORT=$port "$app" >/dev/null 2>&1 || true
sleep 5
echo "window open:   RSS $(rss), CPU $(cpu) (processes: $(tree | wc -l))"
deb=$(ls target/release/bundle/deb/*.deb 2>/dev/null | head -1 || true)
[ -n "$deb" ] && echo ".deb: $(du -k "$deb" | cut -f1) KB ($deb)"
