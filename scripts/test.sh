#!/usr/bin/env bash
# Runs every test: installs what the tests need (a Python venv with DuckDB), then cargo test.
# usage: scripts/test.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cargo test --locked "$@"
