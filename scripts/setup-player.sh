#!/usr/bin/env bash
# Installs what `replaylake replay` inlines into its pages: rrweb-player from the npm registry,
# into a cache outside the clone (never into the repository). Prints the directory.
# `npm install rrweb-player@2.1.7` does not resolve on the registry this project reaches (it wants
# @rrweb/packer@^2.1.7), but the published tarball's UMD build is self-contained: `npm pack` it.
# Avoid 2.0.0, 2.0.1 and 2.1.0, whose build never creates the Replayer (rrweb-io/rrweb#1872).
# usage: scripts/setup-player.sh            (idempotent; quick when done)
set -euo pipefail
VERSION=2.1.7
DIR="${REPLAYLAKE_PLAYER_DIR:-$HOME/.cache/replaylake/player/rrweb-player-$VERSION}"
if [ -s "$DIR/dist/rrweb-player.umd.min.cjs" ] && [ -s "$DIR/dist/style.min.css" ]; then
  echo "$DIR"
  exit 0
fi
command -v npm >/dev/null || { echo "npm is needed to install rrweb-player (Debian: apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "installing rrweb-player@$VERSION from the npm registry into $DIR" >&2
(cd "$tmp" && npm pack --silent "rrweb-player@$VERSION" >/dev/null)
mkdir -p "$tmp/x"
tar xzf "$tmp/rrweb-player-$VERSION.tgz" -C "$tmp/x"
mkdir -p "$(dirname "$DIR")"
rm -rf "$DIR"
mv "$tmp/x/package" "$DIR"
echo "$DIR"
