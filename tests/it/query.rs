//! The query layer and the queries/ library: DataFusion over the lake (partition pruning, both
//! partition layouts), the library's answers on real recordings against their truth files, the
//! same files in DuckDB and Spark SQL row for row, and the `replaylake query` command.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use datafusion::arrow::record_batch::RecordBatch;
use replaylake::query::library::{self, LibraryQuery};
use replaylake::sink::Lake;
use serde_json::Value;

use crate::common::*;

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("queries")
}

fn library_queries() -> Vec<LibraryQuery> {
    library::load_dir(&queries_dir()).unwrap()
}

/// The realclient recordings (6 posthog-js sessions, 1 plain rrweb) plus PostHog's public v1
/// blob sample, converted into `dest`.
fn realclient_lake(dest: &Path) {
    let mut inputs: Vec<PathBuf> = (1..=6)
        .map(|n| realclient(&format!("ph-s2202-0{n}.blob.jsonl")))
        .collect();
    inputs.push(realclient("rr-s2202-01.rrweb.json"));
    inputs.push(public("posthog_blob_v1_recording_snapshots.jsonl"));
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    convert(&refs, dest, &Default::default());
}

/// Runs SQL over the lake and returns its columns (also for an empty result) and rows.
pub(crate) fn query(dest: &Path, q: &str) -> (Vec<String>, Vec<Vec<Value>>) {
    let rt = runtime();
    let (cols, batches) = rt.block_on(async {
        let lake = Lake::open(&dest.display().to_string(), &[]).unwrap();
        let ctx = replaylake::query::lake_context(&lake).await.unwrap();
        let df = ctx.sql(q).await.unwrap();
        let cols: Vec<String> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        (cols, df.collect().await.unwrap())
    });
    let (_, rows) = rows(&batches);
    (cols, rows)
}

/// Record batches as rows of JSON values, column order kept.
fn rows(batches: &[RecordBatch]) -> (Vec<String>, Vec<Vec<Value>>) {
    let mut cols = vec![];
    let mut out = vec![];
    for b in batches {
        cols = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        if b.num_rows() == 0 {
            continue;
        }
        let mut buf = Vec::new();
        let mut w = datafusion::arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut buf);
        w.write(b).unwrap();
        w.finish().unwrap();
        drop(w);
        let objs: Vec<serde_json::Map<String, Value>> = serde_json::from_slice(&buf).unwrap();
        for o in objs {
            out.push(
                cols.iter()
                    .map(|c| o.get(c).cloned().unwrap_or(Value::Null))
                    .collect(),
            );
        }
    }
    (cols, out)
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        _ => a == b,
    }
}

/// Runs `names` of the library in `engine` (tests/it/query_engines.py) over the lake and asserts
/// that every result equals DataFusion's row for row. Returns the row counts.
fn compare_with_engine(engine: &str, lake: &Path, names: &[&str]) -> BTreeMap<String, usize> {
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/query_engines.py");
    let res = Command::new(python())
        .arg(&script)
        .arg(engine)
        .arg(lake)
        .arg(queries_dir())
        .arg(out.path())
        .args(names)
        .output()
        .expect("python runs");
    assert!(
        res.status.success(),
        "{engine} run failed (run the tests through scripts/test.sh or source scripts/env.sh, \
         which installs duckdb and pyspark): {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let mut counts = BTreeMap::new();
    for q in library_queries() {
        if !names.contains(&q.name.as_str()) {
            continue;
        }
        let ours = query(lake, &q.render(&[]).unwrap());
        let theirs: Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join(format!("{}.json", q.name))).unwrap(),
        )
        .unwrap();
        let their_cols: Vec<String> = theirs["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        let their_rows = theirs["rows"].as_array().unwrap();
        assert_eq!(ours.0, their_cols, "{}: columns differ in {engine}", q.name);
        assert_eq!(
            ours.1.len(),
            their_rows.len(),
            "{}: row counts differ in {engine}",
            q.name
        );
        for (i, (a, b)) in ours.1.iter().zip(their_rows).enumerate() {
            let b = b.as_array().unwrap();
            assert!(
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y)),
                "{}: row {i} differs: DataFusion {a:?} vs {engine} {b:?}",
                q.name
            );
        }
        counts.insert(q.name.clone(), ours.1.len());
    }
    assert_eq!(counts.len(), names.len(), "some queries were not found");
    counts
}

#[test]
fn every_library_query_gives_the_same_rows_in_datafusion_and_duckdb() {
    let dest = tempfile::tempdir().unwrap();
    realclient_lake(dest.path());
    let all = library_queries();
    let names: Vec<&str> = all.iter().map(|q| q.name.as_str()).collect();
    assert!(names.len() >= 10, "{names:?}");
    let counts = compare_with_engine("duckdb", dest.path(), &names);
    // The comparison means something only where there are rows.
    for n in [
        "clicks",
        "rage_clicks",
        "dead_clicks",
        "page_views",
        "url_paths",
        "console_errors",
        "slowest_requests",
        "session_summary",
        "daily_rollup",
        "top_clicked_elements",
        "rage_clicks_by_element",
        "dead_clicks_by_element",
    ] {
        assert!(counts[n] > 0, "{n} returned no rows: {counts:?}");
    }
}

#[test]
fn rage_click_and_summary_queries_run_unchanged_in_spark() {
    let dest = tempfile::tempdir().unwrap();
    realclient_lake(dest.path());
    let counts = compare_with_engine(
        "spark",
        dest.path(),
        &[
            "rage_clicks",
            "session_summary",
            "daily_rollup",
            "dead_clicks",
            "url_paths",
            "top_clicked_elements",
            "rage_clicks_by_element",
            "dead_clicks_by_element",
        ],
    );
    assert!(counts["rage_clicks"] > 0 && counts["session_summary"] > 0);
}

pub(crate) fn truth(session: &str) -> Value {
    let p = realclient(&format!("{session}.truth.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

pub(crate) fn realclient_sessions() -> Vec<String> {
    let mut s: Vec<String> = (1..=6).map(|n| format!("ph-s2202-0{n}")).collect();
    s.push("rr-s2202-01".into());
    s
}

pub(crate) fn library_sql(name: &str, params: &[(&str, &str)]) -> String {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    library::find(name, Some(&queries_dir()))
        .unwrap()
        .render(&params)
        .unwrap()
}

#[test]
fn rage_clicks_equal_the_bursts_the_user_made() {
    let dest = tempfile::tempdir().unwrap();
    realclient_lake(dest.path());
    let (cols, found) = query(dest.path(), &library_sql("rage_clicks", &[]));
    let col = |n: &str| cols.iter().position(|c| c == n).unwrap();
    let (sid, start, end, clicks) = (
        col("session_id"),
        col("start_ms"),
        col("end_ms"),
        col("clicks"),
    );
    let mut total = 0;
    for s in realclient_sessions() {
        let t = truth(&s);
        let want = t["rage_click_bursts"].as_array().unwrap();
        let got: Vec<&Vec<Value>> = found.iter().filter(|r| r[sid] == s.as_str()).collect();
        assert_eq!(
            got.len(),
            want.len(),
            "{s}: bursts {got:?} vs truth {want:?}"
        );
        for (g, w) in got.iter().zip(want) {
            // rrweb stamps a click a few ms after the harness dispatched it.
            let near =
                |a: &Value, b: &Value| (a.as_i64().unwrap() - b.as_i64().unwrap()).abs() <= 50;
            assert!(near(&g[start], &w["t_start"]), "{s}: start {g:?} vs {w}");
            assert!(near(&g[end], &w["t_end"]), "{s}: end {g:?} vs {w}");
            assert_eq!(g[clicks], w["n_clicks"], "{s}: clicks in burst");
        }
        total += want.len();
    }
    let sessions = realclient_sessions();
    let ours = found
        .iter()
        .filter(|r| sessions.iter().any(|s| r[sid] == s.as_str()))
        .count();
    assert_eq!(ours, total);

    // The thresholds are parameters: a chain of 5 clicks is rarer than one of 3.
    let five = query(
        dest.path(),
        &library_sql("rage_clicks", &[("min_clicks", "5")]),
    )
    .1;
    let want5: usize = realclient_sessions()
        .iter()
        .map(|s| {
            truth(s)["rage_click_bursts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| b["n_clicks"].as_i64().unwrap() >= 5)
                .count()
        })
        .sum();
    let five = five
        .iter()
        .filter(|r| sessions.iter().any(|s| r[sid] == s.as_str()))
        .count();
    assert_eq!(five, want5);
    assert!(want5 < total);
    // Clicks 150 ms apart stop being a chain under max_gap_ms=50.
    let none = query(
        dest.path(),
        &library_sql("rage_clicks", &[("max_gap_ms", "50")]),
    )
    .1;
    assert!(
        !none
            .iter()
            .any(|r| sessions.iter().any(|s| r[sid] == s.as_str())),
        "{none:?}"
    );
}

#[test]
fn dead_clicks_are_only_clicks_on_dead_elements() {
    let dest = tempfile::tempdir().unwrap();
    realclient_lake(dest.path());
    let (cols, found) = query(dest.path(), &library_sql("dead_clicks", &[]));
    let sid = cols.iter().position(|c| c == "session_id").unwrap();
    let ts = cols.iter().position(|c| c == "ts_ms").unwrap();
    let mut matched = 0;
    for s in realclient_sessions() {
        let t = truth(&s);
        let dead: Vec<i64> = t["dead_clicks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["t"].as_i64().unwrap())
            .collect();
        for r in found.iter().filter(|r| r[sid] == s.as_str()) {
            let at = r[ts].as_i64().unwrap();
            assert!(
                dead.iter().any(|d| (at - d).abs() <= 50),
                "{s}: click at {at} reported dead, but the user clicked a live element ({dead:?})"
            );
            matched += 1;
        }
    }
    assert!(matched > 0, "no dead click found at all");
}

#[test]
fn page_views_follow_the_pages_the_user_visited() {
    let dest = tempfile::tempdir().unwrap();
    realclient_lake(dest.path());
    let (cols, found) = query(dest.path(), &library_sql("page_views", &[]));
    let sid = cols.iter().position(|c| c == "session_id").unwrap();
    let path = cols.iter().position(|c| c == "path").unwrap();
    for s in realclient_sessions() {
        let want: Vec<String> = truth(&s)["pages_visited"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let u = url::Url::parse(p["url"].as_str().unwrap()).unwrap();
                u.path().to_string()
            })
            .collect();
        let got: Vec<String> = found
            .iter()
            .filter(|r| r[sid] == s.as_str())
            .map(|r| r[path].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "{s}");
    }
}

/// A copy of a plain rrweb recording with every timestamp moved by `days`.
fn shifted_rrweb(src: &Path, dir: &Path, name: &str, days: i64) -> PathBuf {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(src).unwrap()).unwrap();
    for e in v.as_array_mut().unwrap() {
        let t = e["timestamp"].as_i64().unwrap();
        e["timestamp"] = Value::from(t + days * 86_400_000);
    }
    let p = dir.join(format!("{name}.rrweb.json"));
    std::fs::write(&p, serde_json::to_vec(&v).unwrap()).unwrap();
    p
}

#[test]
fn a_filter_on_date_reads_only_that_dates_files() {
    let inputs = tempfile::tempdir().unwrap();
    let src = realclient("rr-s2202-01.rrweb.json");
    let a = shifted_rrweb(&src, inputs.path(), "day-a", -30);
    let b = shifted_rrweb(&src, inputs.path(), "day-b", -29);
    let dest = tempfile::tempdir().unwrap();
    convert(&[&a, &b], dest.path(), &Default::default());

    let total = sql_i64(dest.path(), "SELECT count(*) FROM events");
    let rt = runtime();
    rt.block_on(async {
        let lake = Lake::open(&dest.path().display().to_string(), &[]).unwrap();
        let ctx = replaylake::query::lake_context(&lake).await.unwrap();
        let all = replaylake::query::files_scanned(&ctx, "SELECT session_id, seq FROM events")
            .await
            .unwrap();
        let dates: std::collections::BTreeSet<String> = all
            .iter()
            .map(|f| {
                f.split('/')
                    .find(|p| p.starts_with("date="))
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(dates.len(), 2, "{all:?}");
        let first = dates
            .iter()
            .next()
            .unwrap()
            .trim_start_matches("date=")
            .to_string();
        let q = format!("SELECT count(*) FROM events WHERE date = '{first}'");
        let scan = format!("SELECT session_id, seq FROM events WHERE date = '{first}'");
        let one = replaylake::query::files_scanned(&ctx, &scan).await.unwrap();
        assert!(!one.is_empty());
        assert!(one.len() < all.len());
        assert!(
            one.iter().all(|f| f.contains(&format!("/date={first}/"))),
            "{one:?}"
        );
        // The library's date parameters prune too.
        let rage = library_sql(
            "rage_clicks",
            &[("from_date", first.as_str()), ("to_date", first.as_str())],
        );
        let files = replaylake::query::files_scanned(&ctx, &rage).await.unwrap();
        assert!(files.iter().all(|f| f.contains(&format!("/date={first}/"))));
        // And the answer is that day's rows only.
        let n = replaylake::query::run_sql(&ctx, &q).await.unwrap();
        let n = datafusion::arrow::compute::cast(
            n[0].column(0),
            &datafusion::arrow::datatypes::DataType::Int64,
        )
        .unwrap();
        use datafusion::arrow::array::AsArray;
        let n = n
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .value(0);
        assert_eq!(n * 2, total);
    });
}

#[test]
fn queries_work_on_a_date_session_partitioned_lake() {
    let flat = tempfile::tempdir().unwrap();
    let nested = tempfile::tempdir().unwrap();
    let inputs = [
        realclient("ph-s2202-01.blob.jsonl"),
        realclient("ph-s2202-02.blob.jsonl"),
    ];
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    convert(&refs, flat.path(), &Default::default());
    let opts = replaylake::convert::ConvertOptions {
        sink: replaylake::sink::SinkOptions {
            partitioning: replaylake::sink::Partitioning::DateSession,
            ..Default::default()
        },
        ..Default::default()
    };
    convert(&refs, nested.path(), &opts);
    for name in ["session_summary", "rage_clicks"] {
        let q = library_sql(name, &[]);
        let a = query(flat.path(), &q);
        let b = query(nested.path(), &q);
        assert!(!a.1.is_empty());
        assert_eq!(a, b, "{name}");
    }
}

// ---- the command ----

#[test]
fn cli_lists_the_library_one_line_each() {
    let out = bin(&[
        "query",
        "--list",
        "--queries-dir",
        queries_dir().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    let all = library_queries();
    assert_eq!(lines.len(), all.len(), "{text}");
    for (line, q) in lines.iter().zip(&all) {
        assert!(line.trim_start().starts_with(&q.name), "{line}");
        assert!(line.contains(&q.summary), "{line}");
    }
    // Without a queries directory the built-in copy answers, and it equals the files.
    let builtin = library::builtin().unwrap();
    assert_eq!(builtin.len(), all.len());
    for (a, b) in builtin.iter().zip(&all) {
        assert_eq!(
            (&a.name, &a.text),
            (&b.name, &b.text),
            "rebuild: queries/ changed"
        );
    }
}

#[test]
fn cli_runs_library_files_with_params_in_every_format() {
    let dest = tempfile::tempdir().unwrap();
    realclient_lake(dest.path());
    let lake = dest.path().to_str().unwrap();
    let file = queries_dir().join("rage_clicks.sql");
    let file = file.to_str().unwrap();

    let out = bin(&["query", "--lake", lake, "--file", file, "--format", "csv"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("session_id,window_id,date,start_ms,end_ms"));
    let bursts = csv.lines().count() - 1;
    assert_eq!(
        bursts,
        query(dest.path(), &library_sql("rage_clicks", &[])).1.len()
    );

    let out = bin(&[
        "query",
        "--lake",
        lake,
        "--file",
        "rage_clicks",
        "--param",
        "min_clicks=5",
        "--format",
        "ndjson",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty() && lines.len() < bursts);
    assert!(lines.iter().all(|l| l["clicks"].as_i64().unwrap() >= 5));

    let out = bin(&[
        "query",
        "--lake",
        lake,
        "SELECT session_id, count(*) AS n FROM events WHERE event_type = ${t} GROUP BY session_id ORDER BY session_id",
        "--param",
        "t=4",
        "--format",
        "table",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("| session_id") && table.contains("ph-s2202-01"),
        "{table}"
    );

    let pq = dest.path().join("summary.parquet");
    let out = bin(&[
        "query",
        "--lake",
        lake,
        "--file",
        "session_summary",
        "--output",
        pq.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = std::fs::File::open(&pq).unwrap();
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
    let n: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(
        n as i64,
        sql_i64(dest.path(), "SELECT count(*) FROM recordings")
    );

    // Mistakes in the command line are usage errors (exit 2); a lake that is not there is a
    // failed job (exit 1).
    for (args, code) in [
        vec![
            "query",
            "--lake",
            lake,
            "--file",
            "rage_clicks",
            "--param",
            "min_clicks=3; DROP",
        ],
        vec![
            "query",
            "--lake",
            lake,
            "--file",
            "rage_clicks",
            "--param",
            "nope=1",
        ],
        vec!["query", "--lake", lake, "--file", "no_such_query"],
        vec!["query", "--lake", lake, "SELECT * FROM nope"],
    ]
    .into_iter()
    .map(|a| (a, 2))
    .chain([(vec!["query", "--lake", "/nonexistent/lake", "SELECT 1"], 1)])
    {
        let out = bin(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error:"),
            "{args:?}"
        );
    }
}
