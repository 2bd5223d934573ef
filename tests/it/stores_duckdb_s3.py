"""DuckDB reads a replaylake lake straight from an S3-compatible server through its httpfs
extension, loaded offline from the duckdb-extension-httpfs wheel (scripts/stores.sh installs both,
same version). usage: stores_duckdb_s3.py HOST:PORT s3://bucket/prefix  -> JSON counts on stdout"""
import json
import pathlib
import sys

import duckdb
import duckdb_extension_httpfs

endpoint, url = sys.argv[1], sys.argv[2].rstrip("/")
ext = next(pathlib.Path(duckdb_extension_httpfs.__file__).parent.glob("extensions/*/httpfs.duckdb_extension"))
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
con.execute(f"LOAD '{ext}'")
# dummy credentials for the local test server
con.execute(
    "CREATE SECRET s3test (TYPE s3, KEY_ID 'testing', SECRET 'testing', REGION 'us-east-1', "
    f"ENDPOINT '{endpoint}', URL_STYLE 'path', USE_SSL false)"
)


def one(sql):
    return con.execute(sql).fetchone()[0]


def scan(table):
    return f"read_parquet('{url}/{table}/**/*.parquet', hive_partitioning = true)"


print(json.dumps({
    "duckdb": duckdb.__version__,
    "events": one(f"SELECT count(*) FROM {scan('events')}"),
    "recordings": one(f"SELECT count(*) FROM {scan('recordings')}"),
    "network_requests": one(f"SELECT count(*) FROM {scan('network_requests')}"),
    "dates": one(f"SELECT count(DISTINCT date) FROM {scan('events')}"),
}))
