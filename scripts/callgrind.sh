#!/usr/bin/env bash
# Instructions the proxy executes per request, counted by callgrind (deterministic, unlike
# wall-clock time on a shared 2-core machine). Usage:
#   scripts/callgrind.sh [NAME=VALUE ...]     e.g. scripts/callgrind.sh OBSERVABILITY__REQUEST_LOG=false
# Starts the mock upstream and `ccproxy serve` under callgrind with the given environment, sends
# 20 warm-up and then 200 sequential 2 KB requests (JSON, then SSE), and prints instructions per
# request for each. Needs valgrind (apt-get install valgrind) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p ccproxy-cli -p ccproxy-mock-upstream
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
target/release/mock-upstream > "$work/mock.url" &
for _ in $(seq 50); do [ -s "$work/mock.url" ] && break; sleep 0.1; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/home/.config/ccproxy"
echo '{"claudeAiOauth":{"accessToken":"bench","refreshToken":"r","expiresAt":4102444800000}}' \
  > "$work/home/.config/ccproxy/credentials.json"
env -i PATH="$PATH" HOME="$work/home" CLAUDE__API_BASE_URL="$(cat "$work/mock.url")" "$@" \
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" --dump-instr=no \
  target/release/ccproxy serve --port "$port" > "$work/serve.log" 2>&1 &
for _ in $(seq 300); do python3 - "$port" <<'PY' 2>/dev/null && break; sleep 0.1; done
import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)
PY
python3 - "$port" "$work" <<'PY'
import http.client, json, subprocess, sys, time, glob
port, work = int(sys.argv[1]), sys.argv[2]
def body(stream):
    head = '{"model":"claude-sonnet-4-20250514","max_tokens":1024,"stream":%s,"messages":[{"role":"user","content":"' % ("true" if stream else "false")
    return (head + "a" * (2048 - len(head) - 4) + '"}]}').encode()
def send(n, stream):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(n):
        c.request("POST", "/api/v1/messages", body(stream), {"content-type": "application/json"})
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
    c.close()
def total():
    subprocess.run(["callgrind_control", "-d"], check=True, capture_output=True)
    time.sleep(0.5)
    ir = 0
    for f in glob.glob(work + "/cg.*"):
        for line in open(f):
            if line.startswith("summary:") or line.startswith("totals:"):
                ir += int(line.split()[1]); break
    return ir
for stream in (False, True):
    send(20, stream)
    time.sleep(0.3)          # let the request log's writer finish the warm-up batch
    subprocess.run(["callgrind_control", "-z"], check=True, capture_output=True)
    for f in glob.glob(work + "/cg.*"):
        import os; os.remove(f)
    send(200, stream)
    time.sleep(0.3)
    print("%s: %d instructions per request" % ("SSE " if stream else "JSON", total() // 200))
    import os, shutil
    if os.environ.get("KEEP"):
        for f in glob.glob(work + "/cg.*"):
            shutil.copy(f, os.path.join(os.environ["KEEP"], ("sse-" if stream else "json-") + os.path.basename(f)))
PY
