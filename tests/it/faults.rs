//! Faults injected into real runs of the binary: every store call of every kind failing in turn
//! (once, and from then on), a kill at every commit step, and a second writer on a live lake.
//! Each run either succeeds or fails with a clear error; after a healthy rerun the lake equals
//! a clean run's: every session with the same content, nothing lost, nothing doubled.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use datafusion::arrow::record_batch::RecordBatch;

use crate::common::*;

/// Four real recordings, one of them split over two inputs (a session merged from fragments).
pub fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for i in 1..=3 {
        let name = format!("ph-s2202-0{i}.blob.jsonl");
        let p = dir.join(&name);
        std::fs::copy(realclient(&name), &p).unwrap();
        out.push(p);
    }
    let whole = std::fs::read_to_string(realclient("ph-s2202-04.blob.jsonl")).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    for (name, part) in [("a", a), ("b", b)] {
        let p = dir.join(format!("ph-s2202-04.{name}.blob.jsonl"));
        std::fs::write(&p, part.join("\n") + "\n").unwrap();
        out.push(p);
    }
    out
}

fn convert_cmd(inputs: &[PathBuf], lake: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_replaylake"));
    c.arg("convert")
        .args(inputs)
        .args(["--dest", lake.to_str().unwrap(), "--threads", "1", "-q"])
        // one part per input: more commits, more calls to fail
        .args(["--buffer-mb", "1"])
        .env_remove("REPLAYLAKE_TEST_FAULTS")
        .env_remove("REPLAYLAKE_TEST_CRASH_AT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What the lake holds, as rows a clean run must equal: per session its checksum and event
/// count, the rows each table holds of it, and how many recordings rows it has (1).
pub fn lake_state(lake: &Path) -> Vec<String> {
    state_lines(&sql(lake, STATE_SQL))
}

/// The query of [`lake_state`].
pub const STATE_SQL: &str = "SELECT r.session_id, r.checksum, r.event_count, r.copies, \
             (SELECT count(*) FROM events e WHERE e.session_id = r.session_id) AS events, \
             (SELECT count(*) FROM network_requests n WHERE n.session_id = r.session_id) AS net \
             FROM (SELECT session_id, min(checksum) AS checksum, min(event_count) AS event_count, \
                   count(*) AS copies FROM recordings GROUP BY session_id) r \
             ORDER BY r.session_id";

/// Rows as lines of text, for comparing whole lake states.
pub fn state_lines(batches: &[RecordBatch]) -> Vec<String> {
    let text = datafusion::arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string();
    text.lines().map(str::to_string).collect()
}

/// The lake state of a clean convert of `files`.
fn clean_state(files: &[PathBuf]) -> Vec<String> {
    let clean = tempfile::tempdir().unwrap();
    let o = convert_cmd(files, clean.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    lake_state(clean.path())
}

/// A lake that already holds two of the sessions and the first half of the split one, so that
/// converting every input reads the index, leaves two sessions unchanged, adds one and replaces
/// one (rewriting the part that held its half): every kind of call and commit step.
fn prepared_lake(files: &[PathBuf]) -> tempfile::TempDir {
    let lake = tempfile::tempdir().unwrap();
    let subset = [files[0].clone(), files[1].clone(), files[3].clone()];
    let o = convert_cmd(&subset, lake.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    lake
}

fn copy_dir(from: &Path, to: &Path) {
    for (rel, _) in tree(from) {
        let dest = to.join(&rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(from.join(&rel), dest).unwrap();
    }
}

/// A failed run must say what failed, never panic.
fn assert_clear_failure(o: &Output, what: &str) {
    let e = stderr(o);
    assert!(!e.contains("panicked"), "{what}: panicked: {e}");
    assert_eq!(o.status.code(), Some(1), "{what}: {e}");
    assert!(e.contains("error:"), "{what}: no error message: {e}");
}

/// Runs convert with each call of `kind` failing in turn, then a healthy rerun; returns the
/// number of faulty runs.
fn sweep(kind: &str, permanent: bool, files: &[PathBuf], start: &Path, want: &[String]) -> usize {
    let mut runs = 0;
    for n in 1.. {
        let lake = tempfile::tempdir().unwrap();
        copy_dir(start, lake.path());
        let spec = format!("{kind}:{n}{}", if permanent { "+" } else { "" });
        let o = convert_cmd(files, lake.path())
            .env("REPLAYLAKE_TEST_FAULTS", &spec)
            .env("RUST_LOG", "replaylake=warn")
            .output()
            .unwrap();
        let injected = stderr(&o).contains("injected fault");
        if !injected {
            assert!(o.status.success(), "{spec}: {}", stderr(&o));
            break;
        }
        runs += 1;
        if !o.status.success() {
            assert_clear_failure(&o, &spec);
        }
        let o = convert_cmd(files, lake.path()).output().unwrap();
        assert!(o.status.success(), "{spec}, rerun: {}", stderr(&o));
        assert_eq!(lake_state(lake.path()), want, "{spec}");
        assert!(
            tree(&lake.path().join("_replaylake/journal")).is_empty(),
            "{spec}: journal left behind"
        );
        assert!(n < 500, "{spec}: the run never ends its calls");
    }
    runs
}

#[test]
fn every_store_error_of_every_kind_leaves_a_lake_that_a_rerun_completes() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let want = clean_state(&files);
    assert_eq!(want.len(), 4 + 4, "a table of four sessions: {want:?}");
    let start = prepared_lake(&files);

    let mut total = 0;
    for kind in ["put", "get", "list", "delete"] {
        for permanent in [false, true] {
            let runs = sweep(kind, permanent, &files, start.path(), &want);
            eprintln!("{kind} (permanent: {permanent}): {runs} faulty runs");
            assert!(runs > 0, "{kind}: no call of that kind was made");
            total += runs;
        }
    }
    eprintln!("{total} runs with an injected store error, each followed by a healthy rerun");
}

#[test]
fn a_kill_at_every_commit_step_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let want = clean_state(&files);
    let start = prepared_lake(&files);

    let mut kills = 0;
    for n in 1.. {
        let lake = tempfile::tempdir().unwrap();
        copy_dir(start.path(), lake.path());
        let o = convert_cmd(&files, lake.path())
            .env("REPLAYLAKE_TEST_CRASH_AT", n.to_string())
            .output()
            .unwrap();
        if o.status.success() {
            break;
        }
        assert!(
            stderr(&o).contains("crash point"),
            "step {n}: {}",
            stderr(&o)
        );
        kills += 1;
        // the kill leaves the lease of a process that is gone: the rerun takes over at once
        let o = convert_cmd(&files, lake.path()).output().unwrap();
        assert!(o.status.success(), "step {n}, rerun: {}", stderr(&o));
        assert_eq!(lake_state(lake.path()), want, "killed at step {n}");
        assert!(n < 500, "the run never ends its commit steps");
    }
    eprintln!("killed at each of {kills} commit steps; every rerun equals the clean run");
    assert!(kills > 10, "only {kills} commit steps");
}

/// Whether the newest lease of the lake is held (not released).
fn lease_held(lake: &Path) -> bool {
    let dir = lake.join("_replaylake/lease");
    let Some((newest, _)) = tree(&dir).pop() else {
        return false;
    };
    std::fs::read(dir.join(newest))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v["released"] == false)
}

/// Waits until the lake has a live lease (the first writer is under way).
fn wait_for_lease(lake: &Path, child: &mut std::process::Child) {
    let start = Instant::now();
    while !lease_held(lake) {
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        assert!(start.elapsed() < Duration::from_secs(60), "no lease taken");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_second_writer_stops_or_waits_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let (first, second) = files.split_at(3);
    let clean = tempfile::tempdir().unwrap();
    let o = convert_cmd(&files, clean.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let want = lake_state(clean.path());

    let lake = tempfile::tempdir().unwrap();
    let slow = || {
        let mut c = convert_cmd(first, lake.path());
        // every put waits: the first writer is mid-commit for seconds
        c.env("REPLAYLAKE_TEST_FAULTS", "slow:150")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let mut a = slow();
    wait_for_lease(lake.path(), &mut a);
    let b = convert_cmd(second, lake.path()).output().unwrap();
    assert_clear_failure(&b, "second writer");
    assert!(
        stderr(&b).contains("another writer holds the lake"),
        "{}",
        stderr(&b)
    );
    let a_out = a.wait_with_output().unwrap();
    assert!(a_out.status.success(), "first writer: {}", stderr(&a_out));

    // with --wait, the second writer goes on once the first is done
    let mut a = slow();
    wait_for_lease(lake.path(), &mut a);
    let b = convert_cmd(second, lake.path())
        .args(["--wait", "5m"])
        .output()
        .unwrap();
    let a_out = a.wait_with_output().unwrap();
    assert!(a_out.status.success(), "first writer: {}", stderr(&a_out));
    assert!(b.status.success(), "waiting writer: {}", stderr(&b));
    assert_eq!(lake_state(lake.path()), want);
}

/// Rewrites a Parquet file in place, each batch through `f`.
fn rewrite_parquet(path: &Path, f: impl Fn(RecordBatch) -> Vec<RecordBatch>) {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let bytes = bytes::Bytes::from(std::fs::read(path).unwrap());
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .unwrap()
        .build()
        .unwrap();
    let mut writer: Option<ArrowWriter<Vec<u8>>> = None;
    for b in reader.flat_map(|b| f(b.unwrap())) {
        writer
            .get_or_insert_with(|| ArrowWriter::try_new(Vec::new(), b.schema(), None).unwrap())
            .write(&b)
            .unwrap();
    }
    let out = writer.unwrap().into_inner().unwrap();
    std::fs::write(path, out).unwrap();
}

/// The types another engine might use: strings as LargeUtf8, timestamps in microseconds.
fn as_other_engine(b: RecordBatch) -> Vec<RecordBatch> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    let other = |t: &DataType| match t {
        DataType::Utf8 => DataType::LargeUtf8,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        t => t.clone(),
    };
    let fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), other(f.data_type()), f.is_nullable()))
        .collect();
    let schema = std::sync::Arc::new(Schema::new(fields));
    let cols = b
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| datafusion::arrow::compute::cast(c, f.data_type()).unwrap())
        .collect();
    vec![RecordBatch::try_new(schema, cols).unwrap()]
}

fn parts(lake: &Path) -> Vec<PathBuf> {
    tree(lake)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .map(|(p, _)| lake.join(p))
        .collect()
}

/// A part holding a session twice (what a compaction racing a writer built before leases): the
/// next run rewrites it with one copy, and never removes the session from it.
#[test]
fn a_part_holding_a_session_twice_is_healed_to_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let lake = tempfile::tempdir().unwrap();
    let o = convert_cmd(&files[..1], lake.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let once = lake_state(lake.path());
    for p in parts(lake.path()) {
        rewrite_parquet(&p, |b| vec![b.clone(), b]);
    }
    assert_ne!(lake_state(lake.path()), once, "doubled");
    let o = convert_cmd(&files[..1], lake.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lake_state(lake.path()), once);
}

#[test]
fn parts_another_engine_wrote_are_read_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let lake = tempfile::tempdir().unwrap();
    let o = convert_cmd(&files[..1], lake.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let before = lake_state(lake.path());
    let parts = parts(lake.path());
    assert_eq!(parts.len(), 3, "{parts:?}");
    for p in &parts {
        rewrite_parquet(p, as_other_engine);
    }
    assert_eq!(
        lake_state(lake.path()),
        before,
        "queries read the other types"
    );
    // the writer's index, a rewrite of the other engine's part and a compaction read it too
    for run in [&files[..1], &files[..2], &files[..]] {
        let o = convert_cmd(run, lake.path()).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"));
    }
    let o = bin(&["compact", "--lake", lake.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let clean = tempfile::tempdir().unwrap();
    let o = convert_cmd(&files, clean.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(lake_state(lake.path()), lake_state(clean.path()));
}

/// `pull` with each store PUT failing in turn (the checkpoint, the journal, the parts): every run
/// succeeds or fails clearly, and a healthy rerun lands every recording; none is recorded as
/// pulled without being in the lake.
#[test]
fn every_failed_put_during_a_pull_is_made_good_by_a_rerun() {
    use super::pull_server::{Config, TestServer, fixture_recordings};
    let server = TestServer::start(Config::default(), fixture_recordings(10));
    let pull = |lake: &Path, faults: Option<String>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_replaylake"));
        c.args(["pull", "--host", &server.url()])
            .args(["--project", &server.shared.cfg.team])
            .args(["--dest", lake.to_str().unwrap()])
            .args([
                "--since",
                "2026-11-23T00:00:00Z",
                "--until",
                "2026-11-25T00:00:00Z",
            ])
            .args([
                "--rate-limit",
                "6000/min,60000/h",
                "--checkpoint-every",
                "2",
                "-q",
            ])
            .env("POSTHOG_API_KEY", &server.shared.cfg.key)
            .env_remove("POSTHOG_HOST")
            .env_remove("POSTHOG_PROJECT_ID")
            .env_remove("REPLAYLAKE_DEST")
            .env_remove("REPLAYLAKE_TEST_FAULTS")
            .env("RUST_LOG", "replaylake=warn");
        if let Some(f) = faults {
            c.env("REPLAYLAKE_TEST_FAULTS", f);
        }
        c.output().unwrap()
    };
    let clean = tempfile::tempdir().unwrap();
    let o = pull(clean.path(), None);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = lake_state(clean.path());
    let mut runs = 0;
    for permanent in ["", "+"] {
        for n in 1.. {
            let lake = tempfile::tempdir().unwrap();
            let spec = format!("put:{n}{permanent}");
            let o = pull(lake.path(), Some(spec.clone()));
            if !stderr(&o).contains("injected fault") {
                assert!(o.status.success(), "{spec}: {}", stderr(&o));
                break;
            }
            runs += 1;
            if !o.status.success() {
                assert_clear_failure(&o, &spec);
            }
            let o = pull(lake.path(), None);
            assert!(o.status.success(), "{spec}, rerun: {}", stderr(&o));
            assert_eq!(lake_state(lake.path()), want, "{spec}");
            assert!(n < 200, "{spec}: the run never ends its puts");
        }
    }
    eprintln!("{runs} pulls with a failed put, each followed by a healthy rerun");
    assert!(runs > 5, "only {runs}");
}

#[test]
fn a_compaction_racing_a_convert_stops_or_waits_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let want = clean_state(&files);
    let lake = tempfile::tempdir().unwrap();
    let compact = |wait: &str| {
        Command::new(env!("CARGO_BIN_EXE_replaylake"))
            .args(["compact", "--lake", lake.path().to_str().unwrap(), "-q"])
            .args(["--wait", wait])
            .env_remove("REPLAYLAKE_TEST_FAULTS")
            .env_remove("REPLAYLAKE_TEST_CRASH_AT")
            .output()
            .unwrap()
    };
    for wait in ["0s", "5m"] {
        let mut a = convert_cmd(&files, lake.path());
        a.env("REPLAYLAKE_TEST_FAULTS", "slow:150")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut a = a.spawn().unwrap();
        wait_for_lease(lake.path(), &mut a);
        let c = compact(wait);
        let a = a.wait_with_output().unwrap();
        assert!(a.status.success(), "convert: {}", stderr(&a));
        if wait == "0s" {
            assert_clear_failure(&c, "compaction during a convert");
            assert!(
                stderr(&c).contains("another writer holds the lake"),
                "{}",
                stderr(&c)
            );
        } else {
            assert!(c.status.success(), "waiting compaction: {}", stderr(&c));
        }
        assert_eq!(lake_state(lake.path()), want, "compact --wait {wait}");
    }
    // after the waiting compaction, each partition is one part
    let parts = parts(lake.path());
    let mut dirs: Vec<_> = parts
        .iter()
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    let n = dirs.len();
    dirs.dedup();
    assert_eq!(
        dirs.len(),
        n,
        "more than one part in a partition: {parts:?}"
    );
}

fn compact_cmd(lake: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_replaylake"));
    c.args(["compact", "--lake", lake.to_str().unwrap(), "-q"])
        .env_remove("REPLAYLAKE_TEST_FAULTS")
        .env_remove("REPLAYLAKE_TEST_CRASH_AT")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// Parquet files of the lake, by table: what a compaction changes.
fn part_count(lake: &Path) -> usize {
    parts(lake).len()
}

#[test]
fn every_store_error_and_kill_during_a_compaction_is_made_good_by_a_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let want = clean_state(&files);
    // one run per input: partitions with several parts to merge
    let start = tempfile::tempdir().unwrap();
    for f in &files {
        let o = convert_cmd(std::slice::from_ref(f), start.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let compacted = tempfile::tempdir().unwrap();
    copy_dir(start.path(), compacted.path());
    assert!(compact_cmd(compacted.path()).status().unwrap().success());
    let merged = part_count(compacted.path());
    assert!(merged < part_count(start.path()), "nothing to compact");

    let mut runs = 0;
    let faults = ["put", "get", "list", "delete"]
        .into_iter()
        .flat_map(|k| [format!("{k}:N"), format!("{k}:N+")]);
    let plans: Vec<(String, String)> = faults
        .map(|f| ("REPLAYLAKE_TEST_FAULTS".to_string(), f))
        .chain(std::iter::once((
            "REPLAYLAKE_TEST_CRASH_AT".into(),
            "N".into(),
        )))
        .collect();
    for (var, plan) in &plans {
        for n in 1.. {
            let lake = tempfile::tempdir().unwrap();
            copy_dir(start.path(), lake.path());
            let value = plan.replace('N', &n.to_string());
            let o = compact_cmd(lake.path()).env(var, &value).output().unwrap();
            let e = stderr(&o);
            if !e.contains("injected fault") && !e.contains("crash point") {
                assert!(o.status.success(), "{value}: {e}");
                break;
            }
            runs += 1;
            if !o.status.success() && var == "REPLAYLAKE_TEST_FAULTS" {
                assert_clear_failure(&o, &value);
            }
            let o = compact_cmd(lake.path()).output().unwrap();
            assert!(o.status.success(), "{value}, rerun: {}", stderr(&o));
            assert_eq!(lake_state(lake.path()), want, "{var}={value}");
            assert_eq!(part_count(lake.path()), merged, "{var}={value}");
            assert!(n < 500, "{value}: the compaction never ends its calls");
        }
    }
    eprintln!(
        "{runs} compactions with an injected store error or a kill, each followed by a rerun"
    );
    assert!(runs > 20, "only {runs} faulty compactions");
}

#[test]
fn every_store_error_during_an_export_fails_clearly_and_a_rerun_exports_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = inputs(dir.path());
    let lake = tempfile::tempdir().unwrap();
    let o = convert_cmd(&files, lake.path()).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let export = |out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_replaylake"));
        c.args(["export", "--lake", lake.path().to_str().unwrap()])
            .args(["--format", "portable", "--out", out.to_str().unwrap(), "-q"])
            .env_remove("REPLAYLAKE_TEST_FAULTS")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    };
    let clean = tempfile::tempdir().unwrap();
    assert!(export(clean.path()).status().unwrap().success());
    let want: Vec<(String, Vec<u8>)> = tree(clean.path())
        .into_iter()
        .map(|(p, _)| (p.clone(), std::fs::read(clean.path().join(&p)).unwrap()))
        .collect();
    assert_eq!(want.len(), 4, "{want:?}");
    let mut runs = 0;
    for kind in ["put", "get", "list"] {
        for n in 1.. {
            let out = tempfile::tempdir().unwrap();
            let spec = format!("{kind}:{n}");
            let o = export(out.path())
                .env("REPLAYLAKE_TEST_FAULTS", &spec)
                .output()
                .unwrap();
            // the summary (stdout) lists sessions not exported; errors go to stderr
            let e = format!("{}{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
            if !e.contains("injected fault") {
                assert!(o.status.success(), "{spec}: {e}");
                break;
            }
            runs += 1;
            assert!(!e.contains("panicked"), "{spec}: {e}");
            // a failed run says so: exit 1 (nothing could be read) or 6 (sessions not exported)
            if !o.status.success() {
                assert!(matches!(o.status.code(), Some(1) | Some(6)), "{spec}: {e}");
            }
            let o = export(out.path()).output().unwrap();
            assert!(o.status.success(), "{spec}, rerun: {}", stderr(&o));
            let got: Vec<(String, Vec<u8>)> = tree(out.path())
                .into_iter()
                .map(|(p, _)| (p.clone(), std::fs::read(out.path().join(&p)).unwrap()))
                .collect();
            assert!(
                got == want,
                "{spec}: the rerun's files differ from a clean export"
            );
            assert!(n < 500, "{spec}: the export never ends its calls");
        }
    }
    eprintln!("{runs} exports with an injected store error, each followed by a rerun");
    assert!(runs > 5, "only {runs} faulty exports");
}
