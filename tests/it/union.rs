//! A later input adds to a session and never removes from it (issue 19, item 6): the lake holds
//! the union of every event any input brought.

use std::path::{Path, PathBuf};

use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::common::*;

/// Every column of `events` and `network_requests`, and of `recordings` but the provenance
/// columns (which input, when) and the duplicates count (which describes the inputs), as text.
fn rows(lake: &Path) -> String {
    let queries = [
        "SELECT * FROM events ORDER BY session_id, seq",
        "SELECT * FROM network_requests ORDER BY session_id, seq",
        "SELECT * EXCLUDE (source_file, source_format, converted_at, duplicates_dropped) \
         FROM recordings ORDER BY session_id",
    ];
    queries
        .iter()
        .map(|q| pretty_format_batches(&sql(lake, q)).unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of a real blob file of one recording (223 events). Blob lines name no session: the
/// file name does (`ph-s2202-01.*`).
fn blob_lines() -> Vec<String> {
    let text = std::fs::read_to_string(realclient("ph-s2202-01.blob.jsonl")).unwrap();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

fn events_of(lake: &Path) -> i64 {
    sql_i64(
        lake,
        "SELECT count(*) FROM events WHERE session_id = 'ph-s2202-01'",
    )
}

#[test]
fn a_partial_copy_after_the_whole_recording_changes_nothing() {
    let (lake, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let full = realclient("ph-s2202-01.blob.jsonl");
    convert(&[&full], lake.path(), &Default::default());
    let whole = events_of(lake.path());
    assert_eq!(whole, 223, "the recording's truth");
    let before = rows(lake.path());

    let copy = write_lines(
        tmp.path(),
        "ph-s2202-01.copy.blob.jsonl",
        &blob_lines()[..60],
    );
    let s = convert(&[&copy], lake.path(), &Default::default());
    assert_eq!(
        (s.sink.sessions_unchanged, s.sink.sessions_written),
        (1, 0),
        "a partial copy brings no new event"
    );
    assert_eq!(events_of(lake.path()), whole);
    assert_eq!(rows(lake.path()), before);
}

#[test]
fn a_session_split_over_two_runs_ends_up_whole_in_either_order() {
    let tmp = tempfile::tempdir().unwrap();
    let lines = blob_lines();
    let (a, b) = lines.split_at(lines.len() / 2);
    let a = write_lines(tmp.path(), "ph-s2202-01.a.blob.jsonl", a);
    let b = write_lines(tmp.path(), "ph-s2202-01.b.blob.jsonl", b);
    let clean = tempfile::tempdir().unwrap();
    convert(&[&a, &b], clean.path(), &Default::default());
    let want = rows(clean.path());
    assert_eq!(events_of(clean.path()), 223);

    for (first, second) in [(&a, &b), (&b, &a)] {
        let lake = tempfile::tempdir().unwrap();
        convert(&[first], lake.path(), &Default::default());
        let s = convert(&[second], lake.path(), &Default::default());
        assert_eq!(s.sink.sessions_replaced, 1);
        assert!(s.sink.events_kept_from_lake > 0, "{:?}", s.sink);
        assert_eq!(rows(lake.path()), want, "first {}", first.display());
        let copies = sql_i64(lake.path(), "SELECT count(*) FROM recordings");
        assert_eq!(copies, 1);
        // and a third run with either half changes nothing
        let again = convert(&[first], lake.path(), &Default::default());
        assert_eq!(again.sink.sessions_unchanged, 1);
        assert_eq!(rows(lake.path()), want);
    }
}

#[test]
fn a_merge_of_fragments_keeps_what_an_earlier_run_brought() {
    // run 1: the first third; run 2: the last two thirds, split over two files (merged in the
    // run): the lake holds all of it.
    let tmp = tempfile::tempdir().unwrap();
    let lines = blob_lines();
    let n = lines.len();
    let one = write_lines(tmp.path(), "ph-s2202-01.one.blob.jsonl", &lines[..n / 3]);
    let two = write_lines(
        tmp.path(),
        "ph-s2202-01.two.blob.jsonl",
        &lines[n / 3..2 * n / 3],
    );
    let three = write_lines(
        tmp.path(),
        "ph-s2202-01.three.blob.jsonl",
        &lines[2 * n / 3..],
    );
    let clean = tempfile::tempdir().unwrap();
    convert(&[&one, &two, &three], clean.path(), &Default::default());

    let lake = tempfile::tempdir().unwrap();
    convert(&[&one], lake.path(), &Default::default());
    let s = convert(&[&two, &three], lake.path(), &Default::default());
    assert_eq!(s.sessions_merged, 1);
    assert_eq!(events_of(lake.path()), 223);
    assert_eq!(rows(lake.path()), rows(clean.path()));
}
