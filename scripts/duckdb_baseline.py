#!/usr/bin/env python3
"""What a user would do instead of replaylake: DuckDB flattens blob_v2 JSONL into a date-partitioned,
ZSTD Parquet events table (no decompression of posthog-js cv payloads: DuckDB has no latin1-gzip
function, so compressed payloads stay opaque).  A copy of ../shared/bench/duckdb_baseline.py (same SQL), used by scripts/bench.sh when the
shared directory is not beside the repo.  usage: duckdb_baseline.py IN_DIR OUT_DIR [threads]"""
import duckdb, sys, time, shutil, os
src, out = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
shutil.rmtree(out, ignore_errors=True)
con = duckdb.connect()
con.execute(f"SET threads={threads}")
t = time.time()
con.execute(f"""
COPY (
  SELECT regexp_extract(filename, '([^/]+)\\.blob\\.jsonl$', 1) AS session_id,
         json->>0 AS window_id,
         epoch_ms((json->1->>'timestamp')::BIGINT) AS timestamp,
         (json->1->>'type')::TINYINT AS event_type,
         (json->1->'data'->>'source')::TINYINT AS source,
         (json->1->'data'->>'type')::TINYINT AS interaction,
         (json->1->'data'->>'id')::BIGINT AS node_id,
         (json->1->'data'->>'x')::DOUBLE AS x,
         (json->1->'data'->>'y')::DOUBLE AS y,
         json->1->'data'->>'href' AS href,
         json->1->'data'->>'text' AS text,
         json->1->'data'->>'tag' AS tag,
         json->1->'data'->>'plugin' AS plugin,
         json->1->>'data' AS payload,
         strftime(epoch_ms((json->1->>'timestamp')::BIGINT), '%Y-%m-%d') AS date
  FROM read_ndjson_objects('{src}/*.blob.jsonl', filename=true)
  ORDER BY session_id, timestamp
) TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date))
""")
dt = time.time() - t
rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet')").fetchone()[0]
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(src) for f in fs)
osz = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
print(f"duckdb {duckdb.__version__}: {rows} rows, {size/1e6:.1f} MB in, {osz/1e6:.1f} MB out, {dt:.2f} s, {size/1e6/dt:.1f} MB/s")
