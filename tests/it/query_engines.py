"""Runs the queries/ library in another SQL engine over a replaylake lake and writes each result as
JSON, for tests/it/query.rs to compare row for row with DataFusion.

usage: query_engines.py duckdb|spark LAKE_DIR QUERIES_DIR OUT_DIR [NAME...]

Tables are registered by their bare names over the lake's Parquet files with hive partitioning and
the `date` partition column kept as a string (as replaylake registers it). Query parameters
(`${name}`) are replaced by the defaults declared in each file's `-- @param name default` header,
the same textual substitution the replaylake CLI does. Writes OUT_DIR/NAME.json as
{"columns": [...], "rows": [[...], ...]}. Fails (never skips) when the engine is not installed."""
import datetime, decimal, json, os, re, sys

TABLES = ["events", "recordings", "network_requests"]
PARAM = re.compile(r"^--\s*@param\s+([A-Za-z_][A-Za-z0-9_]*)\s+('(?:[^']|'')*'|\S+)")


def load(path):
    text = open(path, encoding="utf-8").read()
    defaults = {}
    for line in text.splitlines():
        m = PARAM.match(line.strip())
        if m:
            defaults[m.group(1)] = m.group(2)
    def sub(m):
        if m.group(1) not in defaults:
            raise SystemExit(f"{path}: ${{{m.group(1)}}} has no @param default")
        return defaults[m.group(1)]
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", sub, text)


def plain(v):
    if isinstance(v, decimal.Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def duckdb_engine(lake):
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads = 2")
    for t in TABLES:
        con.execute(
            f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{lake}/{t}/**/*.parquet', "
            "hive_partitioning = true, hive_types = {'date': 'VARCHAR'}, union_by_name = true)")
    def run(sql):
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        return cols, [[plain(v) for v in row] for row in cur.fetchall()]
    return run, lambda: con.close()


def spark_engine(lake):
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[1]").appName("replaylake-query-test")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
             .config("spark.sql.ansi.enabled", "true")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for t in TABLES:
        spark.read.option("basePath", f"{lake}/{t}").parquet(f"{lake}/{t}").createOrReplaceTempView(t)
    def run(sql):
        df = spark.sql(sql)
        cols = df.columns
        return cols, [[plain(v) for v in row] for row in df.collect()]
    return run, lambda: spark.stop()


def main():
    engine, lake, qdir, out = sys.argv[1:5]
    names = sys.argv[5:] or sorted(f[:-4] for f in os.listdir(qdir) if f.endswith(".sql"))
    run, close = {"duckdb": duckdb_engine, "spark": spark_engine}[engine](os.path.abspath(lake))
    os.makedirs(out, exist_ok=True)
    try:
        for name in names:
            sql = load(os.path.join(qdir, name + ".sql"))
            try:
                cols, rows = run(sql)
            except Exception as e:  # report which query failed, then fail
                raise SystemExit(f"{engine}: query {name} failed: {e}")
            with open(os.path.join(out, name + ".json"), "w") as f:
                json.dump({"columns": cols, "rows": rows}, f)
            print(f"{engine}: {name}: {len(rows)} rows", file=sys.stderr)
    finally:
        close()


if __name__ == "__main__":
    main()
