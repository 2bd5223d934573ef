#!/usr/bin/env bash
# Benchmark (not a test): the rage-click and per-session summary queries of queries/ over a
# generated lake of >= 10 million events, replaylake (DataFusion, release build) against DuckDB on
# the same Parquet files. Prints seconds (best of RUNS) and row counts for both engines.
#
# usage: scripts/bench_query.sh [TARGET_MB] [RUNS]
#   TARGET_MB  size of the generated input (default 4400: each MB of scale.py output from
#              tests/data/realclient holds about 2,400 rrweb events, so about 10.5 million events)
#   RUNS       timed runs per engine and query (default 3)
# The lake is compacted (`replaylake compact`) before the queries, as we advise users to do.
# Env: BENCH_DIR (default: a temp dir, removed at the end), BENCH_KEEP=1 keeps it,
#      BENCH_COMPACT=0 queries the lake as convert left it,
#      SHARED (default: ../shared next to the clone) for bench/scale.py.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
TARGET_MB="${1:-4400}"
RUNS="${2:-3}"
SHARED="${SHARED:-$(cd .. && pwd)/shared}"
SCALE="$SHARED/bench/scale.py"
[ -f "$SCALE" ] || { echo "no $SCALE (set SHARED=/path/to/shared)" >&2; exit 1; }
DIR="${BENCH_DIR:-$(mktemp -d -t replaylake-bench-XXXXXX)}"
if [ -z "${BENCH_KEEP:-}" ] && [ -z "${BENCH_DIR:-}" ]; then trap 'rm -rf "$DIR"' EXIT; fi
mkdir -p "$DIR"

cargo build --release --locked --quiet
BIN="$CARGO_TARGET_DIR/release/replaylake"

if [ ! -d "$DIR/lake/events" ]; then
  if [ ! -d "$DIR/input" ]; then
    echo "== generating ${TARGET_MB} MB of input from tests/data/realclient" >&2
    python3 "$SCALE" tests/data/realclient "$DIR/input.tmp" "$TARGET_MB" >&2
    mv "$DIR/input.tmp" "$DIR/input"
  fi
  echo "== converting with $BIN" >&2
  start=$(date +%s.%N)
  "$BIN" -q convert "$DIR/input" --dest "$DIR/lake" >/dev/null
  end=$(date +%s.%N)
  echo "convert: $(python3 -c "print(f'{$end-$start:.1f}')") s" >&2
  rm -rf "$DIR/input"
fi
if [ "${BENCH_COMPACT:-1}" = 1 ]; then
  echo "== compacting (replaylake compact; BENCH_COMPACT=0 skips)" >&2
  /usr/bin/time -f "compact: %e s, peak RSS %M KB" "$BIN" -q compact --lake "$DIR/lake" >&2
fi

echo "== timing (best of $RUNS), $(nproc) cores" >&2
"$REPLAYLAKE_PYTHON" - "$BIN" "$DIR/lake" "$RUNS" <<'PY'
import os, re, subprocess, sys, time
import duckdb

binary, lake, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
PARAM = re.compile(r"^--\s*@param\s+([A-Za-z_][A-Za-z0-9_]*)\s+('(?:[^']|'')*'|\S+)")

def load(name):
    text = open(f"queries/{name}.sql").read()
    defaults = dict(m.groups() for m in (PARAM.match(l.strip()) for l in text.splitlines()) if m)
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: defaults[m.group(1)], text)

con = duckdb.connect()
con.execute(f"SET threads = {os.cpu_count()}")
for t in ["events", "recordings", "network_requests"]:
    con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{lake}/{t}/**/*.parquet', "
                "hive_partitioning = true, hive_types = {'date': 'VARCHAR'})")
events = con.execute("SELECT count(*) FROM events").fetchone()[0]
files = con.execute(f"SELECT count(*) FROM glob('{lake}/events/**/*.parquet')").fetchone()[0]
print(f"lake: {events} events in {files} files, duckdb {duckdb.__version__}")

def best(*engines):
    """Best time and rows per engine; runs alternate between engines so that both see the same
    drift of this machine's speed."""
    times, rows = [[] for _ in engines], [None] * len(engines)
    for _ in range(runs):
        for i, f in enumerate(engines):
            t = time.perf_counter(); rows[i] = f(); times[i].append(time.perf_counter() - t)
    return [(min(t), r) for t, r in zip(times, rows)]

print(f"{'query':<18}{'replaylake s':>14}{'rows':>10}{'duckdb s':>12}{'rows':>10}")
for name in ["rage_clicks", "session_summary"]:
    sql = load(name)
    def ours():
        out = subprocess.run([binary, "-q", "query", "--lake", lake, "--file", f"queries/{name}.sql",
                              "--format", "csv"], check=True, capture_output=True).stdout
        return out.count(b"\n") - 1
    def theirs():
        return len(con.execute(sql).fetchall())
    (t1, r1), (t2, r2) = best(ours, theirs)
    print(f"{name:<18}{t1:>14.2f}{r1:>10}{t2:>12.2f}{r2:>10}")
    if r1 != r2:
        sys.exit(f"{name}: row counts differ")
PY
