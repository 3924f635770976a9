#!/usr/bin/env bash
# Builds a Debian base image with Node.js and npm for testing docker/claude-code.Dockerfile
# (`ccproxy docker build-image --base <it>`) where no image registry is reachable: Debian
# bookworm (minbase) from Debian's package mirror with debootstrap, plus this machine's own node
# and npm, loaded with `docker import`. This machine's CA bundle goes in as well
# (NODE_EXTRA_CA_CERTS), for networks that inspect TLS; a real base image needs none of this.
#
#   tests/docker/build-node-base.sh [TAG]     (default ccproxy-test-node-base:bookworm)
set -euo pipefail
tag=${1:-ccproxy-test-node-base:bookworm}
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is not installed" >&2; exit 1; }
node=$(command -v node)
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
cp "$node" "$root/usr/bin/node"
mkdir -p "$root/usr/lib/node_modules"
cp -a "$npm_dir" "$root/usr/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/bin/npm"
mkdir -p "$root/etc/ssl"
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/host-ca-bundle.crt"
tar -C "$root" --numeric-owner -c . \
  | docker import -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/host-ca-bundle.crt' - "$tag" >/dev/null
echo "$tag"
