#!/usr/bin/env bash
# Convert throughput and peak memory, beside the DuckDB baseline on the same input.
#
# usage: scripts/bench.sh [MB] [RUNS]     (default 300 MB, 1 run of each engine)
#
# Builds the release binary, generates MB of realistic input with scripts/gen_bench_data.py
# (cached in $REPLAYLAKE_BENCH_CACHE, default ~/.cache/replaylake/bench/<MB>mb), runs
# `replaylake convert` under /usr/bin/time -v (wall time, max RSS), then the DuckDB baseline
# (../shared/bench/duckdb_baseline.py beside the repo when present, else scripts/duckdb_baseline.py)
# on the same files, and prints one table. Extra convert flags: REPLAYLAKE_BENCH_FLAGS.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MB="${1:-300}"
RUNS="${2:-1}"
cd "$REPO"
. scripts/env.sh

if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
  else sudo apt-get install -y -qq time >/dev/null; fi
fi

cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/replaylake"

CACHE="${REPLAYLAKE_BENCH_CACHE:-$HOME/.cache/replaylake/bench}/${MB}mb"
if [ ! -f "$CACHE/.done" ]; then
  rm -rf "$CACHE"
  python3 scripts/gen_bench_data.py "$CACHE" "$MB" >&2
  touch "$CACHE/.done"
fi

BASELINE="$(dirname "$REPO")/shared/bench/duckdb_baseline.py"
[ -f "$BASELINE" ] || BASELINE="$REPO/scripts/duckdb_baseline.py"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/replaylake-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
IN_BYTES=$(find "$CACHE" -type f ! -name '.*' -printf '%s\n' | awk '{s+=$1} END {print s}')
CORES=$(nproc)

# field from `time -v` output
tv() { sed -n "s/^[[:space:]]*$1: //p" "$2"; }
secs() { # h:mm:ss or m:ss.ss -> seconds
  awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }' <<<"$1"
}

ROWS=()
for run in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/lake"
  /usr/bin/time -v -o "$WORK/rl.time" "$BIN" -q convert "$CACHE" --dest "$WORK/lake" --json \
    ${REPLAYLAKE_BENCH_FLAGS:-} >"$WORK/rl.json"
  wall=$(secs "$(tv 'Elapsed (wall clock) time (h:mm:ss or m:ss)' "$WORK/rl.time")")
  rss=$(tv 'Maximum resident set size (kbytes)' "$WORK/rl.time")
  cpu=$(tv 'Percent of CPU this job got' "$WORK/rl.time")
  rows=$("$REPLAYLAKE_PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"])' "$WORK/rl.json")
  ROWS+=("replaylake $IN_BYTES $wall $rss $rows $cpu")
  rm -rf "$WORK/lake"

  /usr/bin/time -v -o "$WORK/dd.time" "$REPLAYLAKE_PYTHON" "$BASELINE" "$CACHE" "$WORK/duck" "$CORES" >"$WORK/dd.out"
  dwall=$(secs "$(tv 'Elapsed (wall clock) time (h:mm:ss or m:ss)' "$WORK/dd.time")")
  drss=$(tv 'Maximum resident set size (kbytes)' "$WORK/dd.time")
  dcpu=$(tv 'Percent of CPU this job got' "$WORK/dd.time")
  # the baseline times its COPY itself (without interpreter start-up and the row count)
  dsec=$(sed -n 's/.* \([0-9.]*\) s, [0-9.]* MB\/s$/\1/p' "$WORK/dd.out")
  drows=$(sed -n 's/^duckdb [^:]*: \([0-9]*\) rows.*/\1/p' "$WORK/dd.out")
  ROWS+=("duckdb $IN_BYTES ${dsec:-$dwall} $drss ${drows:-?} $dcpu")
  rm -rf "$WORK/duck"
done

echo
echo "input: $CACHE ($(find "$CACHE" -type f ! -name '.*' | wc -l) files), $CORES cores"
printf '%-11s %9s %9s %9s %12s %12s %6s\n' engine "MB in" seconds "MB/s" "peak RSS MB" rows CPU
for r in "${ROWS[@]}"; do
  read -r eng bytes sec rss rows cpu <<<"$r"
  awk -v e="$eng" -v b="$bytes" -v s="$sec" -v k="$rss" -v n="$rows" -v c="$cpu" \
    'BEGIN { printf "%-11s %9.1f %9.2f %9.1f %12.0f %12s %6s\n", e, b/1e6, s, b/1e6/s, k/1024, n, c }'
done
