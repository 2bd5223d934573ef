//! DuckDB (the Python package, installed by scripts/test.sh) reads the lake with hive
//! partitioning and agrees with replaylake on every count.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

#[test]
fn duckdb_reads_the_lake_and_agrees() {
    let dest = tempfile::tempdir().unwrap();
    let inputs: Vec<_> = (1..=6)
        .map(|n| realclient(&format!("ph-s2202-0{n}.blob.jsonl")))
        .collect();
    let mut refs: Vec<&std::path::Path> = inputs.iter().map(|p| p.as_path()).collect();
    let v1 = public("posthog_blob_v1_recording_snapshots.jsonl");
    refs.push(&v1);
    convert(&refs, dest.path(), &Default::default());

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/duckdb_counts.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(dest.path())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "DuckDB check failed (run the tests through scripts/test.sh, which installs duckdb): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let duck: Value = serde_json::from_slice(&out.stdout).unwrap();
    let q = |sql: &str| sql_i64(dest.path(), sql);
    assert_eq!(duck["events"], q("SELECT count(*) FROM events"));
    assert_eq!(duck["recordings"], q("SELECT count(*) FROM recordings"));
    assert_eq!(
        duck["network_requests"],
        q("SELECT count(*) FROM network_requests")
    );
    assert_eq!(duck["clicks"], q("SELECT sum(click_count) FROM recordings"));
    assert_eq!(
        duck["click_rows"],
        q(
            "SELECT count(*) FROM events WHERE event_type = 3 AND source = 2 AND interaction IN (2, 3, 4, 9)"
        )
    );
    assert_eq!(duck["dates"], q("SELECT count(DISTINCT date) FROM events"));
    assert_eq!(duck["sessions_per_date_ok"], true);
    assert!(duck["events"].as_i64().unwrap() > 1000);
}
