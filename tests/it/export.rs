//! export on real data: PostHog's file format and the way back in, rrweb round trips that give
//! the same rows, selections, byte-identical reruns, compression, stdout, and parts that other
//! engines wrote unsorted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::util::pretty::pretty_format_batches;
use replaylake::convert::ConvertOptions;
use serde_json::Value;

use crate::common::*;

/// The realclient recordings of one kind each (exports, blobs, rrweb): 13 sessions.
fn realclient_lake() -> tempfile::TempDir {
    let dest = tempfile::tempdir().unwrap();
    let mut inputs: Vec<PathBuf> = vec![];
    for e in std::fs::read_dir(data().join("realclient")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".export.json")
            || name.ends_with(".blob.jsonl")
            || name.ends_with(".rrweb.json")
        {
            inputs.push(p);
        }
    }
    inputs.sort();
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    convert(&refs, dest.path(), &ConvertOptions::default());
    dest
}

fn lake_of(inputs: &[&Path]) -> tempfile::TempDir {
    let dest = tempfile::tempdir().unwrap();
    convert(inputs, dest.path(), &ConvertOptions::default());
    dest
}

/// Runs `replaylake export` and returns (exit code, stdout, stderr).
fn export(lake: &Path, args: &[&str]) -> (i32, Vec<u8>, String) {
    let lake = lake.display().to_string();
    let mut all = vec!["export", "--lake", lake.as_str()];
    all.extend_from_slice(args);
    let o = bin(&all);
    (
        o.status.code().unwrap_or(-1),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn export_ok(lake: &Path, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let (code, out, err) = export(lake, &args);
    assert_eq!(code, 0, "{err}\n{}", String::from_utf8_lossy(&out));
    serde_json::from_slice(&out).unwrap()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = tree(dir).into_iter().map(|(p, _)| dir.join(p)).collect();
    v.sort();
    v
}

/// Events per session.
fn event_counts(lake: &Path) -> BTreeMap<String, i64> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    let mut out = BTreeMap::new();
    for b in sql(
        lake,
        "SELECT session_id, count(*) AS n FROM events GROUP BY session_id",
    ) {
        let ids = datafusion::arrow::compute::cast(
            b.column(0),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let ids = ids.as_string::<i32>();
        let n = b.column(1).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            out.insert(ids.value(i).to_string(), n.value(i));
        }
    }
    out
}

fn pretty(lake: &Path, q: &str) -> String {
    pretty_format_batches(&sql(lake, q)).unwrap().to_string()
}

#[test]
fn posthog_files_are_what_posthogs_file_import_takes_and_convert_back_to_the_same_sessions() {
    let lake = realclient_lake();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let s = export_ok(lake.path(), &["--format", "posthog", "--out", &o]);
    let files = files_in(out.path());
    assert_eq!(files.len(), 13);
    assert_eq!(s["sessions_exported"], 13);
    assert_eq!(s["files"], 13);
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.starts_with("export-") && name.ends_with("-ph-recording.json"),
            "{name}"
        );
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        assert_eq!(v["version"], "2023-04-28", "{name}");
        let d = &v["data"];
        let id = d["id"].as_str().unwrap();
        assert_eq!(name, format!("export-{id}-ph-recording.json"));
        assert!(d["person"].is_null() || d["person"].is_object());
        let snaps = d["snapshots"].as_array().unwrap();
        assert!(!snaps.is_empty());
        let mut last_ts = i64::MIN;
        let mut meta_since_full: BTreeMap<i64, bool> = BTreeMap::new();
        let mut max_window = 0;
        for e in snaps {
            let o = e.as_object().unwrap();
            assert!(!o.contains_key("cv"), "{name}: a cv key");
            let ts = e["timestamp"].as_i64().unwrap();
            assert!(ts >= last_ts, "{name}: unsorted");
            last_ts = ts;
            let w = e["windowId"].as_i64().expect("integer window id");
            // windows are numbered in order of first appearance
            assert!(
                w <= max_window + 1,
                "{name}: window {w} before {}",
                max_window + 1
            );
            max_window = max_window.max(w);
            match e["type"].as_i64().unwrap() {
                4 => {
                    meta_since_full.insert(w, true);
                }
                2 => {
                    assert!(
                        meta_since_full.insert(w, false) == Some(true),
                        "{name}: a FullSnapshot at {ts} without a Meta before it"
                    );
                    // decompressed: the DOM, not a cv string
                    assert!(e["data"]["node"].is_object(), "{name}");
                }
                3 if e["data"]["source"] == 0 => {
                    assert!(e["data"]["adds"].is_array() || e["data"]["adds"].is_null());
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        s["metas_inserted"], 0,
        "real recordings carry their Meta events"
    );
    // back in: the same sessions with the same number of events. What differs: window ids are
    // PostHog's integers now ("1", "2", ...), and provenance (source_file, source_format).
    let back = lake_of(&[out.path()]);
    assert_eq!(event_counts(back.path()), event_counts(lake.path()));
}

#[test]
fn rrweb_files_convert_back_into_the_same_rows() {
    let lake = lake_of(&[
        &realclient("ph-s2202-01.blob.jsonl"),
        &realclient("rr-s2202-01.rrweb.json"),
    ]);
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let s = export_ok(lake.path(), &["--format", "rrweb", "--out", &o]);
    assert_eq!(s["sessions_exported"], 2);
    let names: Vec<String> = tree(out.path()).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        names,
        vec!["ph-s2202-01.1.rrweb.json", "rr-s2202-01.1.rrweb.json"]
    );
    for f in files_in(out.path()) {
        let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        let events = v.as_array().unwrap();
        assert!(
            events
                .iter()
                .all(|e| e["type"].is_i64() && e["timestamp"].is_i64())
        );
        assert!(
            events
                .iter()
                .any(|e| e["type"] == 2 && e["data"]["node"].is_object())
        );
    }
    let back = lake_of(&[out.path()]);
    let q = "SELECT * FROM events ORDER BY session_id, seq";
    assert_eq!(pretty(back.path(), q), pretty(lake.path(), q));
    let q = "SELECT session_id, checksum, event_count, click_count, first_url FROM recordings ORDER BY session_id";
    assert_eq!(pretty(back.path(), q), pretty(lake.path(), q));
}

#[test]
fn sessions_are_selected_by_id_or_by_sql_and_unknown_ids_are_reported() {
    let lake = realclient_lake();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let s = export_ok(
        lake.path(),
        &[
            "--format",
            "rrweb",
            "--out",
            &o,
            "--session",
            "ph-s2202-02",
            "--session",
            "rr-s2202-01",
        ],
    );
    assert_eq!(s["sessions_selected"], 2);
    let names: Vec<String> = tree(out.path()).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        names,
        vec!["ph-s2202-02.1.rrweb.json", "rr-s2202-01.1.rrweb.json"]
    );

    // the issue's `click_count > 10` selects every realclient recording: a higher bar, and the
    // `date` partition column the query layer registers
    let cond = "click_count > 22 AND date >= '2026-11-01'";
    let want = sql_i64(
        lake.path(),
        &format!("SELECT count(*) FROM recordings WHERE {cond}"),
    );
    assert!(want > 0 && want < 13, "{want}");
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let s = export_ok(
        lake.path(),
        &["--format", "posthog", "--out", &o, "--where", cond],
    );
    assert_eq!(s["sessions_exported"].as_i64(), Some(want));
    assert_eq!(files_in(out.path()).len() as i64, want);

    // an unknown id: the others are exported, the summary names it, the exit code says so
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let (code, stdout, _) = export(
        lake.path(),
        &[
            "--format",
            "posthog",
            "--out",
            &o,
            "--session",
            "no-such-id",
            "--session",
            "ph-s2202-01",
        ],
    );
    let stdout = String::from_utf8(stdout).unwrap();
    assert_eq!(code, 6, "{stdout}");
    assert!(
        stdout.contains("no-such-id: no such session in the lake"),
        "{stdout}"
    );
    assert_eq!(files_in(out.path()).len(), 1);

    // nothing selected: said, not silent
    let (code, _, err) = export(
        lake.path(),
        &[
            "--format",
            "posthog",
            "--out",
            &o,
            "--where",
            "click_count > 100000",
        ],
    );
    assert_eq!(code, 0);
    assert!(err.contains("no sessions selected"), "{err}");
    // a bad condition fails naming it
    let (code, _, err) = export(
        lake.path(),
        &[
            "--format",
            "posthog",
            "--out",
            &o,
            "--where",
            "no_such_column > 1",
        ],
    );
    assert_eq!(
        code, 2,
        "a condition that does not plan is a usage error: {err}"
    );
    assert!(err.contains("--where"), "{err}");
}

#[test]
fn exports_are_byte_identical_and_compression_round_trips() {
    let lake = realclient_lake();
    let run = |extra: &[&str]| {
        let out = tempfile::tempdir().unwrap();
        let o = out.path().display().to_string();
        let mut args = vec!["--format", "posthog", "--out", o.as_str()];
        args.extend_from_slice(extra);
        export_ok(lake.path(), &args);
        let files: BTreeMap<String, Vec<u8>> = tree(out.path())
            .into_iter()
            .map(|(p, _)| (p.clone(), std::fs::read(out.path().join(&p)).unwrap()))
            .collect();
        files
    };
    let (a, b) = (run(&[]), run(&[]));
    assert_eq!(a.len(), 13);
    assert!(a == b, "two exports differ");
    for (c, suffix) in [("gzip", ".gz"), ("zstd", ".zst")] {
        let z = run(&["--compress", c]);
        assert!(z == run(&["--compress", c]), "{c}: two exports differ");
        assert_eq!(z.len(), a.len());
        for (name, bytes) in &z {
            let plain = name.strip_suffix(suffix).expect(suffix);
            let mut back = Vec::new();
            match c {
                "gzip" => std::io::Read::read_to_end(
                    &mut flate2::read::GzDecoder::new(&bytes[..]),
                    &mut back,
                ),
                _ => std::io::Read::read_to_end(
                    &mut zstd::stream::read::Decoder::new(&bytes[..]).unwrap(),
                    &mut back,
                ),
            }
            .unwrap();
            assert!(back == a[plain], "{name}");
        }
    }
}

#[test]
fn out_dash_prints_one_session_and_refuses_two() {
    let lake = realclient_lake();
    let dir = tempfile::tempdir().unwrap();
    let o = dir.path().display().to_string();
    export_ok(
        lake.path(),
        &["--format", "rrweb", "--out", &o, "--session", "rr-s2202-01"],
    );
    let file = std::fs::read(dir.path().join("rr-s2202-01.1.rrweb.json")).unwrap();
    let (code, stdout, err) = export(
        lake.path(),
        &[
            "--format",
            "rrweb",
            "--out",
            "-",
            "--session",
            "rr-s2202-01",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout == file, "stdout is not the file");
    assert!(
        err.contains("exported 1 of 1"),
        "the summary goes to stderr: {err}"
    );
    let (code, stdout, err) = export(
        lake.path(),
        &[
            "--format",
            "rrweb",
            "--out",
            "-",
            "--session",
            "rr-s2202-01",
            "--session",
            "ph-s2202-01",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(stdout.is_empty());
    assert!(err.contains("--out -"), "{err}");
    // the same when a --where selects two
    let (code, _, err) = export(
        lake.path(),
        &[
            "--format",
            "rrweb",
            "--out",
            "-",
            "--where",
            "session_id LIKE 'ph-s2202-0%'",
        ],
    );
    assert_eq!(code, 2, "{err}");
}

/// Copies every data file of a lake (not its run records and leases) into `to`.
fn copy_parts(lake: &Path, to: &Path) {
    for (p, _) in tree(lake) {
        if p.starts_with("_replaylake") {
            continue;
        }
        let dst = to.join(&p);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(lake.join(&p), dst).unwrap();
    }
}

#[test]
fn of_two_versions_a_crash_left_only_the_writers_winner_is_exported() {
    let full = realclient("ph-s2202-01.blob.jsonl");
    let text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let short_dir = tempfile::tempdir().unwrap();
    let short = short_dir.path().join("ph-s2202-01.blob.jsonl");
    std::fs::write(&short, lines[..lines.len() / 2].concat()).unwrap();

    let lake = lake_of(&[&short]);
    let old = tempfile::tempdir().unwrap();
    copy_parts(lake.path(), old.path());
    convert(&[&full], lake.path(), &ConvertOptions::default());
    // what a crash between writing the new version and rewriting the old part leaves: both
    copy_parts(old.path(), lake.path());
    assert_eq!(
        sql_i64(lake.path(), "SELECT count(*) FROM recordings"),
        2,
        "two versions"
    );
    let whole = lake_of(&[&full]);
    let want = event_counts(whole.path());

    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let s = export_ok(lake.path(), &["--format", "rrweb", "--out", &o]);
    assert_eq!(s["sessions_exported"], 1);
    let v: Value = serde_json::from_slice(
        &std::fs::read(out.path().join("ph-s2202-01.1.rrweb.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v.as_array().unwrap().len() as i64, want["ph-s2202-01"]);
}

/// Rewrites every events file of a lake with its rows in reverse order, as an engine that does
/// not sort would; `claim_sorted` keeps the footer's claim that they are sorted (a lie).
fn unsort_events(lake: &Path, claim_sorted: bool) {
    use datafusion::arrow::array::{RecordBatch, RecordBatchReader, UInt32Array};
    use datafusion::arrow::compute::{concat_batches, take_record_batch};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::file::metadata::SortingColumn;
    use datafusion::parquet::file::properties::WriterProperties;
    for (p, _) in tree(lake) {
        if !p.starts_with("events/") {
            continue;
        }
        let path = lake.join(&p);
        let bytes = bytes::Bytes::from(std::fs::read(&path).unwrap());
        let r = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .with_batch_size(100)
            .build()
            .unwrap();
        let schema = r.schema();
        let batches: Vec<RecordBatch> = r.map(Result::unwrap).collect();
        let all = concat_batches(&schema, &batches).unwrap();
        let rev: UInt32Array = (0..all.num_rows() as u32).rev().collect();
        let all = take_record_batch(&all, &rev).unwrap();
        let mut props = WriterProperties::builder().set_max_row_group_row_count(Some(300));
        if claim_sorted {
            props = props.set_sorting_columns(Some(vec![SortingColumn {
                column_idx: 0,
                descending: false,
                nulls_first: false,
            }]));
        }
        let mut w = ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema,
            Some(props.build()),
        )
        .unwrap();
        w.write(&all).unwrap();
        w.close().unwrap();
    }
}

#[test]
fn parts_another_engine_wrote_unsorted_export_the_same_files() {
    let lake = lake_of(&[
        &realclient("ph-s2202-01.blob.jsonl"),
        &realclient("ph-s2202-02.blob.jsonl"),
        &realclient("rr-s2202-01.rrweb.json"),
    ]);
    let run = |lake: &Path| {
        let out = tempfile::tempdir().unwrap();
        let o = out.path().display().to_string();
        let (code, stdout, err) = export(lake, &["--format", "posthog", "--out", &o, "--json"]);
        assert_eq!(code, 0, "{err}");
        let s: Value = serde_json::from_slice(&stdout).unwrap();
        assert_eq!(s["sessions_exported"], 3, "{s}");
        let files = tree(out.path())
            .into_iter()
            .map(|(p, _)| (p.clone(), std::fs::read(out.path().join(&p)).unwrap()))
            .collect::<BTreeMap<_, _>>();
        (files, err)
    };
    let (want, _) = run(lake.path());
    for claim_sorted in [false, true] {
        let copy = tempfile::tempdir().unwrap();
        copy_parts(lake.path(), copy.path());
        unsort_events(copy.path(), claim_sorted);
        let (got, err) = run(copy.path());
        assert!(got == want, "claim_sorted {claim_sorted}");
        // a footer that claims an order the rows break is caught while streaming
        assert_eq!(
            err.contains("not sorted as its footer says"),
            claim_sorted,
            "{err}"
        );
    }
}

#[test]
fn portable_files_verify_and_convert_back_into_the_same_rows() {
    let lake = realclient_lake();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let s = export_ok(
        lake.path(),
        &["--format", "portable", "--out", &o, "--compress", "zstd"],
    );
    assert_eq!(s["sessions_exported"], 13);
    let files = files_in(out.path());
    assert_eq!(files.len(), 13);
    assert!(
        files
            .iter()
            .all(|f| f.to_string_lossy().ends_with(".portable.ndjson.zst"))
    );
    let v = bin(&["verify", &o]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let back = lake_of(&[out.path()]);
    let q = "SELECT * FROM events ORDER BY session_id, seq";
    assert_eq!(pretty(back.path(), q), pretty(lake.path(), q));
    let q = "SELECT session_id, checksum, event_count, click_count, duplicates_dropped, \
             distinct_id, person, first_url FROM recordings ORDER BY session_id";
    assert_eq!(pretty(back.path(), q), pretty(lake.path(), q));
}

#[test]
fn a_session_that_cannot_be_exported_is_reported_and_the_others_are_exported() {
    // three runs, three parts
    let lake = lake_of(&[&realclient("ph-s2202-01.blob.jsonl")]);
    convert(
        &[&realclient("ph-s2202-02.blob.jsonl")],
        lake.path(),
        &ConvertOptions::default(),
    );
    convert(
        &[&realclient("rr-s2202-01.rrweb.json")],
        lake.path(),
        &ConvertOptions::default(),
    );
    let part_of = |sid: &str| {
        use datafusion::arrow::array::AsArray;
        // the part files are named by content: find the one that holds sid by reading each
        for (p, _) in tree(lake.path()) {
            if p.starts_with("events/") {
                let b = bytes::Bytes::from(std::fs::read(lake.path().join(&p)).unwrap());
                let r = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(b)
                    .unwrap()
                    .build()
                    .unwrap();
                for batch in r {
                    let batch = batch.unwrap();
                    let ids = batch
                        .column_by_name("session_id")
                        .unwrap()
                        .as_string::<i32>();
                    if ids.iter().any(|i| i == Some(sid)) {
                        return lake.path().join(p);
                    }
                }
            }
        }
        panic!("no part holds {sid}");
    };
    // one part's events file gone, another's cut short
    std::fs::remove_file(part_of("ph-s2202-01")).unwrap();
    let cut = part_of("ph-s2202-02");
    let bytes = std::fs::read(&cut).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();

    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let (code, stdout, err) = export(lake.path(), &["--format", "rrweb", "--out", &o, "--json"]);
    assert_eq!(code, 6, "{err}");
    let s: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(s["sessions_selected"], 3);
    assert_eq!(s["sessions_exported"], 1);
    let failed = s["failed"].as_array().unwrap();
    assert_eq!(failed[0]["session_id"], "ph-s2202-01");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("no events rows"),
        "{s}"
    );
    assert_eq!(failed[1]["session_id"], "ph-s2202-02");
    assert!(
        failed[1]["error"].as_str().unwrap().contains("parquet"),
        "{s}"
    );
    let names: Vec<String> = tree(out.path()).into_iter().map(|(p, _)| p).collect();
    assert_eq!(names, vec!["rr-s2202-01.1.rrweb.json"]);
}
