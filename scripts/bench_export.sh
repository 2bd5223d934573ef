#!/usr/bin/env bash
# Export throughput and peak memory: the bench input converted into a lake, then every session
# exported in each format (MB/s written, sessions/s, peak RSS), so memory is seen to stay bounded
# by one session whatever the selection.
#
# usage: scripts/bench_export.sh [MB] [FORMATS]   (default 100 MB; "portable posthog rrweb")
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MB="${1:-100}"
FORMATS="${2:-portable posthog rrweb}"
cd "$REPO"
. scripts/env.sh
[ -x /usr/bin/time ] || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }

# REPLAYLAKE_BENCH_BIN: a binary already built (skips the release build)
if [ -z "${REPLAYLAKE_BENCH_BIN:-}" ]; then cargo build --release --locked --quiet; fi
BIN="${REPLAYLAKE_BENCH_BIN:-$CARGO_TARGET_DIR/release/replaylake}"
CACHE="${REPLAYLAKE_BENCH_CACHE:-$HOME/.cache/replaylake/bench}/${MB}mb"
if [ ! -f "$CACHE/.done" ]; then
  rm -rf "$CACHE"
  python3 scripts/gen_bench_data.py "$CACHE" "$MB" >&2
  touch "$CACHE/.done"
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/replaylake-bench-export.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
"$BIN" -q convert "$CACHE" --dest "$WORK/lake" >/dev/null || [ $? = 3 ]
LAKE_BYTES=$(du -sb "$WORK/lake" | cut -f1)
SESSIONS=$("$BIN" query --lake "$WORK/lake" --format csv "SELECT count(*) AS n FROM recordings" | tail -1)

tv() { sed -n "s/^[[:space:]]*$1: //p" "$2"; }
secs() { awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$1"; }

echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(free -g | awk '/Mem/ {print $7}') GiB available"
echo "input: $MB MB generated; lake: $((LAKE_BYTES / 1048576)) MiB, $SESSIONS sessions"
printf '%-10s %8s %10s %10s %12s %10s %6s\n' format files "MiB out" "wall s" "MB/s out" "RSS MiB" "cpu"
for f in $FORMATS; do
  rm -rf "$WORK/out"
  /usr/bin/time -v -o "$WORK/t" "$BIN" -q export --lake "$WORK/lake" --format "$f" --out "$WORK/out" >/dev/null
  wall=$(secs "$(tv 'Elapsed (wall clock) time (h:mm:ss or m:ss)' "$WORK/t")")
  rss=$(tv 'Maximum resident set size (kbytes)' "$WORK/t")
  cpu=$(tv 'Percent of CPU this job got' "$WORK/t")
  bytes=$(du -sb "$WORK/out" | cut -f1)
  files=$(find "$WORK/out" -type f | wc -l)
  awk -v f="$f" -v n="$files" -v b="$bytes" -v w="$wall" -v r="$rss" -v c="$cpu" \
    'BEGIN { printf "%-10s %8d %10.1f %10.2f %12.1f %10.0f %6s\n", f, n, b/1048576, w, b/1e6/w, r/1024, c }'
done
