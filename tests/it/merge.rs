//! Nothing lost, nothing doubled: a recording converted from several of its inputs at once
//! (export, UI export, blob, capture) is the recording converted from one of them.

use std::path::{Path, PathBuf};

use replaylake::convert::ConvertOptions;
use replaylake::decode::DecodeOptions;

use crate::common::*;

const FORMATS: [&str; 4] = [
    "export.json",
    "export-ui.json",
    "blob.jsonl",
    "posthog-capture.jsonl",
];

fn inputs(name: &str, formats: &[&str]) -> Vec<PathBuf> {
    formats
        .iter()
        .map(|f| realclient(&format!("{name}.{f}")))
        .collect()
}

/// The blob file names no session: give it the recording's id, as a user would.
fn opts_for(session_id: &str) -> ConvertOptions {
    ConvertOptions {
        decode: DecodeOptions {
            session_id: Some(session_id.to_string()),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[derive(Debug, PartialEq)]
struct Counts {
    sessions: i64,
    events: i64,
    clicks: i64,
    windows: i64,
    window_ids: i64,
    checksum: String,
}

fn counts(dest: &Path) -> Counts {
    let checksum = sql(dest, "SELECT checksum FROM recordings");
    let checksum = datafusion::arrow::util::pretty::pretty_format_batches(&checksum)
        .unwrap()
        .to_string();
    Counts {
        sessions: sql_i64(dest, "SELECT count(*) FROM recordings"),
        events: sql_i64(dest, "SELECT count(*) FROM events"),
        clicks: sql_i64(
            dest,
            "SELECT count(*) FROM events WHERE event_type = 3 AND source = 2 AND interaction IN (2, 3, 4, 9)",
        ),
        windows: sql_i64(dest, "SELECT sum(window_count) FROM recordings"),
        window_ids: sql_i64(dest, "SELECT count(DISTINCT window_id) FROM events"),
        checksum,
    }
}

fn convert_counts(paths: &[PathBuf], opts: &ConvertOptions) -> Counts {
    let dest = tempfile::tempdir().unwrap();
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let s = convert(&refs, dest.path(), opts);
    assert_eq!(s.rejected, 0, "{:?}", s.files_report);
    counts(dest.path())
}

#[test]
fn every_input_of_a_recording_together_is_the_recording_once() {
    for n in 1..=6 {
        let name = format!("ph-s2202-0{n}");
        let want = truth(&name);
        let opts = opts_for(&want.session_id);
        let one = convert_counts(&inputs(&name, &["blob.jsonl"]), &opts);
        assert_eq!(
            (one.sessions, one.clicks, one.windows, one.window_ids),
            (1, want.clicks, 1, 1),
            "{name}: the blob alone"
        );
        let all = convert_counts(&inputs(&name, &FORMATS), &opts);
        assert_eq!(all, one, "{name}: all four inputs");
        // the UI export (decompressed payloads, window 1) beside the original export
        let exports = convert_counts(&inputs(&name, &FORMATS[..2]), &opts);
        assert_eq!(exports, one, "{name}: both exports");
    }
}

#[test]
fn a_redundant_export_leaves_the_lake_unchanged() {
    let name = "ph-s2202-03";
    let opts = opts_for(&truth(name).session_id);
    let dest = tempfile::tempdir().unwrap();
    let first = convert(
        &[&realclient(&format!("{name}.blob.jsonl"))],
        dest.path(),
        &opts,
    );
    assert_eq!(first.sink.sessions_written, 1);
    let before = counts(dest.path());
    let paths = inputs(name, &["blob.jsonl", "export-ui.json"]);
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let again = convert(&refs, dest.path(), &opts);
    assert_eq!(
        (again.sink.sessions_written, again.sink.sessions_unchanged),
        (0, 1),
        "the same recording, read from one more input, is the same session"
    );
    assert_eq!(counts(dest.path()), before);
}

#[test]
fn the_issue_directory_converts_each_recording_once() {
    // `replaylake convert tests/data/realclient`: the exports and the capture name the session,
    // so they merge; the blob file names none and lands under its file name.
    let dest = tempfile::tempdir().unwrap();
    convert(&[&realclient("")], dest.path(), &Default::default());
    for n in 1..=6 {
        let name = format!("ph-s2202-0{n}");
        let want = truth(&name);
        let blob = inputs(&name, &["blob.jsonl"]);
        let blob_events = convert_counts(&blob, &opts_for(&want.session_id)).events;
        for sid in [want.session_id.as_str(), name.as_str()] {
            let q = |what: &str| {
                sql_i64(
                    dest.path(),
                    &format!("SELECT {what} FROM recordings WHERE session_id = '{sid}'"),
                )
            };
            assert_eq!(
                (q("event_count"), q("click_count"), q("window_count")),
                (blob_events, want.clicks, 1),
                "{sid}"
            );
        }
    }
}
