#!/usr/bin/env bash
# Runs every test: installs what the tests need (a Python venv with DuckDB), then cargo test.
# usage: scripts/test.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
# Object-store servers for tests/it/stores.rs (moto, Azurite, gcp-storage-emulator + scripts/gcs_xml_emulator.py on 127.0.0.1), in a
# state dir of this run's own; stopped on exit. REPLAYLAKE_STORES=1 makes those tests fail, not
# skip, if the servers are missing.
export REPLAYLAKE_STORES_DIR="${REPLAYLAKE_STORES_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/replaylake-stores.XXXXXX")}"
trap 'bash scripts/stores.sh stop' EXIT
bash scripts/stores.sh start
eval "$(bash scripts/stores.sh env)"
export REPLAYLAKE_STORES=1
# Headless Chromium and ffmpeg (Debian's packages) and rrweb-player (npm) for tests/it/replay.rs
# and tests/it/render.rs.
missing=""
command -v chromium-headless-shell >/dev/null || missing="$missing chromium-headless-shell"
{ command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null; } || missing="$missing ffmpeg"
if [ -n "$missing" ]; then
  echo "installing$missing from Debian's packages" >&2
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -q $missing >&2 \
    || { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q $missing >&2; }
fi
bash scripts/setup-player.sh >/dev/null
cargo test --locked "$@"
