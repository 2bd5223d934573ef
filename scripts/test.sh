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
cargo test --locked "$@"
