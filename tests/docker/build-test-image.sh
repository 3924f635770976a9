#!/usr/bin/env bash
# Builds the smallest image that meets CCProxy's image contract for Claude Code mode in a
# container (docs/docker.md): `claude` on PATH, a non-root user (uid 1000), CA certificates. No
# image registry is needed: the pinned CLI in tests/e2e/node_modules is a native executable
# linked against glibc only, so the image is that file, the libraries and loader it names
# (`ldd`), /etc/passwd and /etc/group, assembled here and loaded with `docker import`.
#
#   tests/docker/build-test-image.sh [TAG]     (default ccproxy-test-claude:<CLI version>)
set -euo pipefail
cd "$(dirname "$0")/../.."

cli=tests/e2e/node_modules/@anthropic-ai/claude-code/bin/claude.exe
[ -x "$cli" ] || { echo "no $cli: run (cd tests/e2e && npm ci) first" >&2; exit 1; }
version=$("$cli" --version | cut -d' ' -f1)
tag=${1:-ccproxy-test-claude:$version}
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{usr/local/bin,etc/ssl/certs,tmp,home/claude}
cp "$cli" "$root/usr/local/bin/claude"
# The loader and every library `ldd` names, at the same paths.
for lib in $(ldd "$cli" | grep -o '/[^ ]*'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nclaude:x:1000:1000:claude:/home/claude:/sbin/nologin\n' \
  > "$root/etc/passwd"
printf 'root:x:0:\nclaude:x:1000:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
chown 1000:1000 "$root/home/claude"
tar -C "$root" --numeric-owner -c . \
  | docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' -c 'USER 1000' \
      -c 'WORKDIR /home/claude' -c 'ENV HOME=/home/claude' - "$tag" >/dev/null
echo "$tag"
