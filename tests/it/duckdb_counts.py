"""Reads a replaylake lake with DuckDB (hive partitioning) and prints counts as JSON.
usage: duckdb_counts.py LAKE_DIR"""
import json, sys
import duckdb

lake = sys.argv[1]
con = duckdb.connect()
def t(name):
    return f"read_parquet('{lake}/{name}/**/*.parquet', hive_partitioning=true)"
one = lambda q: con.execute(q).fetchone()[0]
out = {
    "events": one(f"SELECT count(*) FROM {t('events')}"),
    "recordings": one(f"SELECT count(*) FROM {t('recordings')}"),
    "network_requests": one(f"SELECT count(*) FROM {t('network_requests')}"),
    "clicks": one(f"SELECT sum(click_count) FROM {t('recordings')}"),
    "click_rows": one(f"SELECT count(*) FROM {t('events')} WHERE event_type = 3 AND source = 2 AND interaction IN (2, 3, 4, 9)"),
    "dates": one(f"SELECT count(DISTINCT date) FROM {t('events')}"),
    # every session sits in the partition of its first event's UTC date, and only there
    "sessions_per_date_ok": one(f"""
        SELECT bool_and(ok) FROM (
          SELECT session_id, count(DISTINCT date) = 1
                 AND min(date) = strftime(min(timestamp) AT TIME ZONE 'UTC', '%Y-%m-%d') AS ok
          FROM {t('events')} GROUP BY session_id)"""),
}
print(json.dumps(out))
