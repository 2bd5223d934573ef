//! A convert killed mid-run loses nothing and a rerun completes, without duplicates.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// `n` sessions: copies of the real recordings under distinct session ids (file names).
fn many_sessions(dir: &Path, n: usize) {
    let bodies: Vec<Vec<u8>> = (1..=6)
        .map(|i| std::fs::read(realclient(&format!("ph-s2202-0{i}.blob.jsonl"))).unwrap())
        .collect();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("sess-{i:05}.blob.jsonl")),
            &bodies[i % bodies.len()],
        )
        .unwrap();
    }
}

/// The real binary, with small parts so that a run writes many of them.
fn convert_cli(input: &Path, lake: &Path) {
    let out = bin(&[
        "convert",
        input.to_str().unwrap(),
        "--dest",
        lake.to_str().unwrap(),
        "--buffer-mb",
        "2",
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn counts(lake: &Path) -> (i64, i64, i64) {
    (
        sql_i64(lake, "SELECT count(*) FROM recordings"),
        sql_i64(lake, "SELECT count(DISTINCT session_id) FROM recordings"),
        sql_i64(lake, "SELECT count(*) FROM events"),
    )
}

#[test]
fn killed_convert_then_rerun_equals_one_clean_run() {
    let input = tempfile::tempdir().unwrap();
    many_sessions(input.path(), 400);
    let clean = tempfile::tempdir().unwrap();
    convert_cli(input.path(), clean.path());
    let want = counts(clean.path());
    assert_eq!((want.0, want.1), (400, 400));

    let mut killed_mid_run = 0;
    for attempt in 0..3 {
        let lake = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_replaylake"))
            .args([
                "convert",
                input.path().to_str().unwrap(),
                "--dest",
                lake.path().to_str().unwrap(),
                "--buffer-mb",
                "2",
                "-q",
            ])
            .spawn()
            .unwrap();
        // kill it as soon as the first part is on disk (or a journal is in flight)
        let start = Instant::now();
        let mut finished = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            let t = tree(lake.path());
            if t.iter().any(|(p, _)| {
                p.starts_with("events/") || (p.starts_with("_replaylake/journal/") && attempt > 0)
            }) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "convert made no progress"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().ok();
        child.wait().unwrap();
        if !finished {
            killed_mid_run += 1;
        }
        convert_cli(input.path(), lake.path());
        assert_eq!(counts(lake.path()), want, "attempt {attempt}");
        assert!(
            tree(&lake.path().join("_replaylake/journal")).is_empty(),
            "journal left behind"
        );
    }
    assert!(
        killed_mid_run > 0,
        "the process always finished before it could be killed"
    );
}

#[test]
fn an_interrupted_commit_is_rolled_back_by_the_next_run() {
    let lake = tempfile::tempdir().unwrap();
    let f = realclient("ph-s2202-01.blob.jsonl");
    convert(&[&f], lake.path(), &Default::default());
    // What a run killed mid-commit leaves: a journal and a half-written file it lists.
    let half = "events/date=2026-11-24/part-deadbeef.parquet";
    std::fs::write(lake.path().join(half), b"PAR1 half a file").unwrap();
    std::fs::create_dir_all(lake.path().join("_replaylake/journal")).unwrap();
    std::fs::write(
        lake.path().join("_replaylake/journal/part-deadbeef.json"),
        format!(r#"{{"add":["{half}","recordings/date=2026-11-24/part-deadbeef.parquet"],"delete":[],"committed":false}}"#),
    )
    .unwrap();
    let s = convert(&[&f], lake.path(), &Default::default());
    assert_eq!(s.sink.journals_recovered, 1);
    assert!(!lake.path().join(half).exists());
    assert!(tree(&lake.path().join("_replaylake/journal")).is_empty());
    assert_eq!(sql_i64(lake.path(), "SELECT count(*) FROM recordings"), 1);
}
