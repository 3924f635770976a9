#!/usr/bin/env bash
# Builds the Linux .deb of the desktop app with the Tauri CLI (pinned in src-tauri/package.json,
# same minor version as the tauri crate). Needs the GTK/WebKit packages scripts/test-desktop.sh
# installs. The .deb lands in target/release/bundle/deb/. AppImage, .dmg and .msi/NSIS bundles
# are built on GitHub-hosted runners (.github/workflows/release.yml): their tools are downloaded
# from GitHub, which this machine cannot reach.
set -euo pipefail
cd "$(dirname "$0")/../src-tauri"
npm ci --no-audit --no-fund --loglevel=error
# The Tauri CLI reads src-tauri/tauri.conf.json, a symlink to the one at the repository root.
npx tauri build --bundles deb --ci
deb=$(ls ../target/release/bundle/deb/*.deb)
echo "built $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'
