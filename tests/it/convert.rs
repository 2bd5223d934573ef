//! convert on real data: every fixture format, PostHog's counters against the truth files,
//! idempotent reruns, replacement of newer versions, hostile ids and bad input.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;

use replaylake::convert::ConvertOptions;
use replaylake::decode::DecodeOptions;
use serde_json::Value;

use crate::common::*;

/// The lake's files and sizes, without the run records and leases (which every run adds).
fn data_files(dest: &Path) -> Vec<(String, u64)> {
    tree(dest)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("_replaylake/runs") && !p.starts_with("_replaylake/lease"))
        .collect()
}

/// Events in a fixture, counted independently of replaylake's decoder (serde_json::Value trees,
/// exact duplicates by window, timestamp and raw JSON), for fixtures of one session.
fn expected_events(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let mut events: Vec<(String, Value)> = vec![];
    let push = |w: &Value, e: &Value, out: &mut Vec<(String, Value)>| {
        let w = e.get("windowId").unwrap_or(w).to_string();
        out.push((w, e.clone()));
    };
    let whole: Option<Value> = serde_json::from_str(&text).ok();
    match whole {
        Some(Value::Object(o)) if o.contains_key("version") => {
            let d = &o["data"];
            if let Some(s) = d.get("snapshots") {
                for e in s.as_array().unwrap() {
                    push(&Value::Null, e, &mut events);
                }
            } else {
                for (w, es) in d["snapshotsByWindowId"].as_object().unwrap() {
                    for e in es.as_array().unwrap() {
                        push(&Value::String(w.clone()), e, &mut events);
                    }
                }
            }
        }
        Some(Value::Array(a)) if a.first().is_some_and(|e| e.is_object()) => {
            for e in &a {
                push(&Value::Null, e, &mut events);
            }
        }
        _ => {
            for line in text.split('\n').filter(|l| !l.trim().is_empty()) {
                let v: Value = serde_json::from_str(line).unwrap();
                match &v {
                    Value::Array(a) => push(&a[0], &a[1], &mut events),
                    Value::Object(o) if o.contains_key("window_id") => {
                        for e in o["data"].as_array().unwrap() {
                            push(&o["window_id"], e, &mut events);
                        }
                    }
                    Value::Object(o) if o.contains_key("properties") => {
                        let p = &o["properties"];
                        for e in p["$snapshot_data"].as_array().unwrap() {
                            push(&p["$window_id"], e, &mut events);
                        }
                    }
                    _ => push(&Value::Null, &v, &mut events),
                }
            }
        }
    }
    let mut seen = HashSet::new();
    events
        .into_iter()
        .filter(|(_, e)| {
            e.get("timestamp")
                .and_then(Value::as_i64)
                .is_some_and(|t| t > 0)
        })
        .filter(|(w, e)| {
            let mut e = e.clone();
            if let Some(o) = e.as_object_mut() {
                o.remove("delay");
                o.remove("windowId");
            }
            seen.insert((w.clone(), e.to_string()))
        })
        .count()
}

fn recording_files() -> Vec<PathBuf> {
    let mut v = vec![];
    for dir in ["public", "public/derived", "realclient"] {
        for e in std::fs::read_dir(data().join(dir)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let not_a_recording = name.ends_with(".md")
                || name.contains("truth")
                || name.starts_with("manifest")
                || name.starts_with("verify-report")
                || name.contains("recording_meta");
            if p.is_file() && !not_a_recording {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

#[test]
fn every_fixture_converts_with_every_event() {
    let files = recording_files();
    assert_eq!(files.len(), 35, "fixtures missing or new: {files:?}");
    for f in files {
        let dest = tempfile::tempdir().unwrap();
        let opts = ConvertOptions {
            decode: DecodeOptions {
                session_id: Some("fixture".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let s = convert(&[&f], dest.path(), &opts);
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name == "rrweb_browser_client_can_record_events.json" {
            // rrweb's integration snapshot has no timestamps: both events are rejected, and say why.
            assert_eq!((s.events, s.rejected), (0, 2), "{name}");
            let rejects = tree(&dest.path().join("_rejects"));
            assert_eq!(rejects.len(), 1);
            let body =
                std::fs::read_to_string(dest.path().join("_rejects").join(&rejects[0].0)).unwrap();
            assert!(
                body.contains("no `timestamp`") && body.contains(&name),
                "{body}"
            );
            continue;
        }
        assert_eq!(s.rejected, 0, "{name}: {:?}", s.files_report);
        if name.ends_with(".bin") {
            // snappy body: same content as the uncompressed blob
            assert_eq!(
                s.events as usize,
                expected_events(&public("derived/blob_v2_uncompressed.jsonl")),
                "{name}"
            );
        } else {
            assert_eq!(s.events as usize, expected_events(&f), "{name}");
        }
        let rows = sql_i64(dest.path(), "SELECT count(*) FROM events");
        assert_eq!(rows as u64, s.events, "{name}");
        let sessions = sql_i64(dest.path(), "SELECT count(*) FROM recordings");
        assert_eq!(sessions as u64, s.sessions, "{name}");
    }
}

#[test]
fn compressed_and_snappy_inputs_decode_to_the_same_rows() {
    let checksum = |f: &Path| {
        let dest = tempfile::tempdir().unwrap();
        let opts = ConvertOptions {
            decode: DecodeOptions {
                session_id: Some("s".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        convert(&[f], dest.path(), &opts);
        let b = sql(dest.path(), "SELECT checksum FROM recordings");
        datafusion::arrow::util::pretty::pretty_format_batches(&b)
            .unwrap()
            .to_string()
    };
    let plain = checksum(&public("derived/blob_v2_uncompressed.jsonl"));
    assert_eq!(
        checksum(&public("derived/blob_v2_cv2024-10.jsonl")),
        plain,
        "cv 2024-10 decompression"
    );
    assert_eq!(
        checksum(&public("derived/blob_v2_decompress_false.bin")),
        plain,
        "snappy body"
    );
}

#[test]
fn realclient_counters_match_the_truth_in_every_format() {
    for n in 1..=6 {
        let name = format!("ph-s2202-0{n}");
        let want = truth(&name);
        let mut seen = vec![];
        for fmt in [
            "blob.jsonl",
            "export.json",
            "export-ui.json",
            "posthog-capture.jsonl",
        ] {
            let dest = tempfile::tempdir().unwrap();
            let f = realclient(&format!("{name}.{fmt}"));
            let opts = ConvertOptions {
                decode: DecodeOptions {
                    session_id: Some(format!("sid-{n}")),
                    ..Default::default()
                },
                ..Default::default()
            };
            let s = convert(&[&f], dest.path(), &opts);
            assert_eq!(s.rejected, 0);
            let clicks = sql_i64(dest.path(), "SELECT sum(click_count) FROM recordings");
            let keys = sql_i64(dest.path(), "SELECT sum(keypress_count) FROM recordings");
            assert_eq!(
                (clicks, keys),
                (want.clicks, want.keypresses),
                "{name}.{fmt}"
            );
            // the counters agree with the event rows
            let click_rows = sql_i64(
                dest.path(),
                "SELECT count(*) FROM events WHERE event_type = 3 AND source = 2 AND interaction IN (2, 3, 4, 9)",
            );
            assert_eq!(click_rows, clicks);
            let events = sql_i64(dest.path(), "SELECT sum(event_count) FROM recordings");
            seen.push(events);
        }
        assert!(
            seen.windows(2).all(|w| w[0] == w[1]),
            "{name}: formats disagree on events: {seen:?}"
        );
    }
    let dest = tempfile::tempdir().unwrap();
    let s = convert(
        &[&realclient("rr-s2202-01.rrweb.json")],
        dest.path(),
        &Default::default(),
    );
    assert_eq!(s.session_id_sources.get("filename"), Some(&1));
    let want = truth("rr-s2202-01");
    assert_eq!(
        sql_i64(dest.path(), "SELECT click_count FROM recordings"),
        want.clicks
    );
    assert_eq!(
        sql_i64(dest.path(), "SELECT keypress_count FROM recordings"),
        want.keypresses
    );
}

#[test]
fn session_ids_come_from_data_then_flag_then_file_name() {
    let dest = tempfile::tempdir().unwrap();
    convert(
        &[
            &realclient("ph-s2202-01.export.json"),
            &realclient("ph-s2202-02.blob.jsonl"),
        ],
        dest.path(),
        &Default::default(),
    );
    let b = sql(
        dest.path(),
        "SELECT session_id, session_id_source FROM recordings ORDER BY session_id",
    );
    let s = datafusion::arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string();
    assert!(
        s.contains("01a20cbb-70a4-701c-b70c-79670ea3fad1 | data"),
        "{s}"
    );
    assert!(s.contains("ph-s2202-02") && s.contains("filename"), "{s}");
}

#[test]
fn rerun_is_idempotent_and_a_newer_version_replaces_the_old() {
    let dest = tempfile::tempdir().unwrap();
    let dir = realclient("");
    let inputs: Vec<PathBuf> = (1..=6)
        .map(|n| dir.join(format!("ph-s2202-0{n}.blob.jsonl")))
        .collect();
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let first = convert(&refs, dest.path(), &Default::default());
    assert_eq!(first.sink.sessions_written, 6);
    let before = data_files(dest.path());
    let events = sql_i64(dest.path(), "SELECT count(*) FROM events");
    let second = convert(&refs, dest.path(), &Default::default());
    assert_eq!(
        (second.sink.sessions_written, second.sink.sessions_unchanged),
        (0, 6)
    );
    assert_eq!(data_files(dest.path()), before, "a rerun changed files");
    assert_eq!(sql_i64(dest.path(), "SELECT count(*) FROM events"), events);

    // An older, shorter version of session 3 (first half of its lines), then the full one.
    let tmp = tempfile::tempdir().unwrap();
    let full = std::fs::read_to_string(&inputs[2]).unwrap();
    let lines: Vec<&str> = full.split('\n').filter(|l| !l.is_empty()).collect();
    let partial = tmp.path().join("ph-s2202-03.blob.jsonl");
    std::fs::write(&partial, lines[..lines.len() / 2].join("\n")).unwrap();
    let lake2 = tempfile::tempdir().unwrap();
    convert(&[&inputs[1], &partial], lake2.path(), &Default::default());
    let half = sql_i64(
        lake2.path(),
        "SELECT event_count FROM recordings WHERE session_id = 'ph-s2202-03'",
    );
    assert_eq!(half as usize, lines.len() / 2);
    let s = convert(&[&inputs[2]], lake2.path(), &Default::default());
    assert_eq!(s.sink.sessions_replaced, 1);
    assert_eq!(sql_i64(lake2.path(), "SELECT count(*) FROM recordings"), 2);
    assert_eq!(
        sql_i64(
            lake2.path(),
            "SELECT count(*) FROM recordings WHERE session_id = 'ph-s2202-03'"
        ),
        1
    );
    assert_eq!(
        sql_i64(
            lake2.path(),
            "SELECT count(*) FROM events WHERE session_id = 'ph-s2202-03'"
        ) as usize,
        lines.len()
    );
    // the untouched session survived the rewrite of the part it shared
    let other = sql_i64(
        lake2.path(),
        "SELECT count(*) FROM events WHERE session_id = 'ph-s2202-02'",
    );
    assert_eq!(other as usize, expected_events(&inputs[1]));
}

/// A run killed between writing a session's new version and rewriting the part that held the old
/// one leaves both in the lake; the next run keeps the newest and rewrites the other part.
#[test]
fn both_versions_of_a_session_left_by_a_kill_are_healed() {
    let dir = realclient("");
    let input = |n: u32| dir.join(format!("ph-s2202-0{n}.blob.jsonl"));
    let full = std::fs::read_to_string(input(3)).unwrap();
    let lines: Vec<&str> = full.split('\n').filter(|l| !l.is_empty()).collect();
    let tmp = tempfile::tempdir().unwrap();
    let partial = tmp.path().join("ph-s2202-03.blob.jsonl");
    std::fs::write(&partial, lines[..lines.len() / 2].join("\n")).unwrap();

    // The old version beside session 2, then the new one converted later into another lake and
    // copied in: what the killed run would have left.
    let lake = tempfile::tempdir().unwrap();
    convert(&[&input(2), &partial], lake.path(), &Default::default());
    let newer = tempfile::tempdir().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    convert(&[&input(3)], newer.path(), &Default::default());
    for (rel, _) in tree(newer.path()) {
        if rel.ends_with(".parquet") {
            let to = lake.path().join(&rel);
            assert!(!to.exists(), "{rel} exists in both lakes");
            std::fs::copy(newer.path().join(&rel), to).unwrap();
        }
    }
    let versions = "SELECT count(*) FROM recordings WHERE session_id = 'ph-s2202-03'";
    assert_eq!(sql_i64(lake.path(), versions), 2);

    let s = convert(&[&input(1)], lake.path(), &Default::default());
    assert_eq!(s.sink.sessions_written, 1);
    assert_eq!(s.sink.parts_rewritten, 1);
    assert_eq!(sql_i64(lake.path(), versions), 1);
    let events = |sid: &str| {
        sql_i64(
            lake.path(),
            &format!("SELECT count(*) FROM events WHERE session_id = '{sid}'"),
        ) as usize
    };
    assert_eq!(events("ph-s2202-03"), lines.len());
    assert_eq!(events("ph-s2202-02"), expected_events(&input(2)));
    assert_eq!(events("ph-s2202-01"), expected_events(&input(1)));
    assert_eq!(sql_i64(lake.path(), "SELECT count(*) FROM recordings"), 3);
}

#[test]
fn a_session_split_over_files_is_merged() {
    let full = std::fs::read_to_string(realclient("ph-s2202-04.blob.jsonl")).unwrap();
    let lines: Vec<&str> = full.split('\n').filter(|l| !l.is_empty()).collect();
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = lines.split_at(lines.len() / 3);
    std::fs::write(tmp.path().join("sess4.part1.jsonl"), a.join("\n")).unwrap();
    std::fs::write(tmp.path().join("sess4.part2.jsonl"), b.join("\n")).unwrap();
    let dest = tempfile::tempdir().unwrap();
    let s = convert(&[tmp.path()], dest.path(), &Default::default());
    assert_eq!(s.sessions_merged, 1);
    assert_eq!(sql_i64(dest.path(), "SELECT count(*) FROM recordings"), 1);
    assert_eq!(
        sql_i64(dest.path(), "SELECT count(*) FROM events") as usize,
        lines.len()
    );
    assert_eq!(
        sql_i64(dest.path(), "SELECT count(DISTINCT seq) FROM events") as usize,
        lines.len()
    );

    // A rerun finds the merged session unchanged and leaves every file as it was, whether its
    // first fragment was still buffered when the second came or already written to a part.
    let before = data_files(dest.path());
    for buffer_bytes in [64 << 20, 1] {
        let mut opts = ConvertOptions::default();
        opts.sink.buffer_bytes = buffer_bytes;
        opts.threads = 1;
        let again = convert(&[tmp.path()], dest.path(), &opts);
        assert_eq!(
            (
                again.sink.sessions_unchanged,
                again.sink.sessions_written,
                again.sink.sessions_replaced
            ),
            (1, 0, 0),
            "buffer {buffer_bytes}"
        );
        assert_eq!(data_files(dest.path()), before, "buffer {buffer_bytes}");
    }
}

#[test]
fn hostile_session_ids_stay_inside_the_lake() {
    let root = tempfile::tempdir().unwrap();
    let dest = root.path().join("lake");
    let out = bin(&[
        "convert",
        realclient("ph-s2202-05.blob.jsonl").to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--session-id",
        "../../../escape",
        "--partition-by",
        "date,session",
        "-q",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outside: Vec<_> = tree(root.path())
        .into_iter()
        .filter(|(p, _)| !p.starts_with("lake/"))
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
    let files = tree(&dest);
    assert!(
        files.iter().any(|(p, _)| p.starts_with("events/date=")
            && p.contains("/session_id=..%2F..%2F..%2Fescape/")),
        "{files:?}"
    );
    assert_eq!(
        sql_i64(
            &dest,
            "SELECT count(DISTINCT session_id) FROM events WHERE session_id = '../../../escape'"
        ),
        1
    );
}

#[test]
fn bad_input_is_rejected_reported_and_kept() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let good = std::fs::read(realclient("ph-s2202-06.blob.jsonl")).unwrap();
    std::fs::write(tmp.path().join("good.jsonl"), &good).unwrap();
    // a gzip cut in half
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&std::fs::read(realclient("ph-s2202-05.blob.jsonl")).unwrap())
        .unwrap();
    let gz = e.finish().unwrap();
    std::fs::write(tmp.path().join("cut.jsonl.gz"), &gz[..gz.len() / 2]).unwrap();
    // bad lines among good ones
    let lines = [
        r#"["w",{"type":4,"data":{"href":"http://x/"},"timestamp":1700000000000}]"#,
        r#"["w",{"type":3,"data":{"source":2,"type":2,"id":1,"x":1,"y":1}}]"#,
        r#"["w",{"type":99,"data":{},"timestamp":1700000000001}]"#,
        r#"["w",{"type":2,"cv":"2024-10","data":"\u001f\u008bgarbage","timestamp":1700000000002}]"#,
        r#"{"broken json"#,
        r#"["w",{"type":3,"data":{"source":1,"positions":[]},"timestamp":1700000000003}]"#,
    ];
    std::fs::write(tmp.path().join("mixed.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(
        tmp.path().join("garbage.bin"),
        b"\x00\x01\x02 not a recording",
    )
    .unwrap();
    let dest = tmp.path().join("lake");
    let out = bin(&[
        "convert",
        tmp.path().to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rejected records: 6"), "{stdout}");
    let rejects: Vec<Value> = tree(&dest.join("_rejects"))
        .iter()
        .flat_map(|(p, _)| {
            std::fs::read_to_string(dest.join("_rejects").join(p))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect();
    assert_eq!(rejects.len(), 6, "{rejects:#?}");
    let find = |needle: &str| {
        rejects
            .iter()
            .find(|r| r["reason"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no reject {needle}: {rejects:#?}"))
    };
    assert_eq!(find("no `timestamp`")["line"], 2);
    assert_eq!(find("unknown rrweb event type 99")["line"], 3);
    assert_eq!(find("compressed payload")["line"], 4);
    assert_eq!(find("invalid JSON")["line"], 5);
    assert!(
        find("gzip")["file"]
            .as_str()
            .unwrap()
            .ends_with("cut.jsonl.gz")
    );
    assert!(
        find("unrecognized content")["file"]
            .as_str()
            .unwrap()
            .ends_with("garbage.bin")
    );
    assert!(
        find("compressed payload")["record"]
            .as_str()
            .unwrap()
            .contains("garbage")
    );
    // the good data landed: the good file whole, the good lines of the mixed one
    assert_eq!(
        sql_i64(
            &dest,
            "SELECT count(*) FROM events WHERE session_id = 'good'"
        ) as usize,
        expected_events(&realclient("ph-s2202-06.blob.jsonl"))
    );
    assert_eq!(
        sql_i64(
            &dest,
            "SELECT count(*) FROM events WHERE session_id = 'mixed'"
        ),
        2
    );
}

#[test]
fn help_documents_exit_codes_and_demo_runs() {
    let out = bin(&["--help"]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("Exit codes") && s.contains("rejected"), "{s}");
    let out = bin(&["convert", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--partition-by"));
    let dest = tempfile::tempdir().unwrap();
    let lake = dest.path().join("lake");
    let out = bin(&["demo", "--dest", lake.to_str().unwrap()]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{s}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s.contains("01a20cbb-70a4-701c-b70c-79670ea3fad1"), "{s}");
    assert_eq!(sql_i64(&lake, "SELECT count(*) FROM recordings"), 4);
    // the way out in the first minute: a page that plays a recording, beside the lake
    let page = dest.path().join("lake.replay.html");
    if replaylake::replay::player::locate(None).is_ok() {
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(html.contains("rrwebPlayer") && html.contains("rl-events-0"));
        assert!(s.contains(&format!("open {}", page.display())), "{s}");
    } else {
        assert!(s.contains("scripts/setup-player.sh"), "{s}");
    }
}

/// Rewrites every parquet file of `table` in place through `f` (simulates files written by an
/// older replaylake).
fn rewrite_files(lake: &Path, table: &str, f: impl Fn(RecordBatch) -> RecordBatch) {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    for (rel, _) in tree(lake) {
        if !rel.starts_with(&format!("{table}/")) || !rel.ends_with(".parquet") {
            continue;
        }
        let path = lake.join(&rel);
        let file = std::fs::File::open(&path).unwrap();
        let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| f(b.unwrap()))
            .collect();
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, batches[0].schema(), None).unwrap();
        for b in &batches {
            w.write(b).unwrap();
        }
        w.close().unwrap();
        std::fs::write(&path, out).unwrap();
    }
}

#[test]
fn a_lake_of_the_previous_schema_reads_and_upgrades_in_place() {
    use datafusion::arrow::array::StringArray;
    let dest = tempfile::tempdir().unwrap();
    let (two, three) = (
        realclient("ph-s2202-02.blob.jsonl"),
        realclient("ph-s2202-03.blob.jsonl"),
    );
    convert(&[&two, &three], dest.path(), &Default::default());
    // Make it a schema-1 lake: events without the element columns, checksums of the old hash.
    let v2_only = [
        "url",
        "target_tag",
        "target_id",
        "target_classes",
        "target_selector",
        "target_text",
        "target_href",
        "target_attributes",
    ];
    rewrite_files(dest.path(), "events", |b| {
        let keep: Vec<usize> = (0..b.num_columns())
            .filter(|&i| !v2_only.contains(&b.schema().field(i).name().as_str()))
            .collect();
        b.project(&keep).unwrap()
    });
    rewrite_files(dest.path(), "recordings", |b| {
        let i = b.schema().index_of("checksum").unwrap();
        let mut cols = b.columns().to_vec();
        cols[i] = Arc::new(StringArray::from(vec!["schema-1"; b.num_rows()]));
        RecordBatch::try_new(b.schema(), cols).unwrap()
    });
    let q = "SELECT count(*) FROM events WHERE target_tag IS NOT NULL";
    assert_eq!(
        sql_i64(dest.path(), q),
        0,
        "old files read with null element columns"
    );
    let events = sql_i64(dest.path(), "SELECT count(*) FROM events");

    // Converting one of its sessions again replaces it and rewrites the part it shared: the
    // other session's rows are kept (their new columns null), the converted one has elements.
    let s = convert(&[&three], dest.path(), &Default::default());
    assert_eq!(s.sink.sessions_replaced, 1);
    assert_eq!(sql_i64(dest.path(), "SELECT count(*) FROM events"), events);
    let with_target = |sid: &str| {
        sql_i64(
            dest.path(),
            &format!("SELECT count(target_tag) FROM events WHERE session_id = '{sid}'"),
        )
    };
    assert_eq!(with_target("ph-s2202-02"), 0);
    assert!(with_target("ph-s2202-03") > 0);
    assert_eq!(
        sql_i64(
            dest.path(),
            "SELECT count(*) FROM events WHERE session_id = 'ph-s2202-02'"
        ) as usize,
        expected_events(&two)
    );
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes_and_print_fields_as_values() {
    // a real blob file whose second line is damaged: one reject, logged with its line
    let (dest, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let text = std::fs::read_to_string(realclient("ph-s2202-01.blob.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1] = "[\"01a20cbb\", {\"type\": 3, broken";
    let input = tmp.path().join("ph-s2202-01.blob.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let o = bin(&[
        "convert",
        input.to_str().unwrap(),
        "--dest",
        dest.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(3), "rejects exit 3");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("record rejected"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "ANSI codes in a piped log: {err:?}"
    );
    assert!(
        err.contains("line=2") && !err.contains("Some("),
        "fields print as values: {err}"
    );
}
