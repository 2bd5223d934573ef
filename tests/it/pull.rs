//! `replaylake pull` against a PostHog stand-in on 127.0.0.1 (tests/it/pull_server.rs): the real
//! binary, PostHog's response shapes, rate limits, faults, kills and reruns.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use datafusion::arrow::util::pretty::pretty_format_batches;
use replaylake::convert::ConvertOptions;
use serde_json::{Value, json};

use super::common;
use super::measure::{self, Measured};
use super::pull_server::{Config, EndlessList, Rec, TestServer, fixture_recordings};

const FAST: &str = "600/min,6000/h";
// around the fixture recordings (2026-11-24), so that the tests do not depend on today's date
const SINCE: &str = "2026-11-23T00:00:00Z";
const UNTIL: &str = "2026-11-25T00:00:00Z";

fn pull_cmd(server: &TestServer, dest: &Path, key: &str, extra: &[&str]) -> Command {
    pull_cmd_in(
        server,
        dest,
        key,
        &["--since", SINCE, "--until", UNTIL],
        extra,
    )
}

/// A pull command over the window `window` (e.g. only `--until`: the checkpoint says since).
fn pull_cmd_in(
    server: &TestServer,
    dest: &Path,
    key: &str,
    window: &[&str],
    extra: &[&str],
) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_replaylake"));
    c.arg("pull")
        .args(["--host", &server.url()])
        .args(["--project", &server.shared.cfg.team])
        .args(["--dest", &dest.display().to_string()])
        .args(window)
        .args(extra)
        .env("POSTHOG_API_KEY", key)
        .env_remove("RUST_LOG")
        .env_remove("REPLAYLAKE_DEST")
        .env_remove("POSTHOG_HOST")
        .env_remove("POSTHOG_PROJECT_ID");
    c
}

/// Runs a pull with --json; returns the output and the parsed summary (Null when it failed).
fn pull(server: &TestServer, dest: &Path, extra: &[&str]) -> (Output, Value) {
    let key = server.shared.cfg.key.clone();
    let mut args = vec!["--json"];
    if !extra.iter().any(|a| *a == "--rate-limit" || *a == "--tier") {
        args.extend(["--rate-limit", FAST]);
    }
    args.extend(extra);
    let out = pull_cmd(server, dest, &key, &args).output().unwrap();
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, summary)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The recordings as a lake built by `convert` of the same blob files would hold them.
pub(crate) fn reference_lake(recs: &[Rec], tmp: &Path) -> PathBuf {
    let inputs = tmp.join("ref-inputs");
    std::fs::create_dir_all(&inputs).unwrap();
    for r in recs {
        std::fs::write(
            inputs.join(format!("{}.blob.jsonl", r.id)),
            r.blocks.concat(),
        )
        .unwrap();
    }
    let dest = tmp.join("ref-lake");
    common::convert(&[&inputs], &dest, &ConvertOptions::default());
    dest
}

fn table(dest: &Path, q: &str) -> String {
    pretty_format_batches(&common::sql(dest, q))
        .unwrap()
        .to_string()
}

/// What must be equal between two lakes: each session's checksum and its rows per table.
pub(crate) fn fingerprint(dest: &Path) -> String {
    [
        table(
            dest,
            "SELECT session_id, checksum FROM recordings ORDER BY session_id",
        ),
        table(
            dest,
            "SELECT session_id, count(*) AS n FROM events GROUP BY session_id ORDER BY session_id",
        ),
        table(
            dest,
            "SELECT count(*) AS rows, count(DISTINCT session_id) AS sessions FROM recordings",
        ),
    ]
    .join("\n")
}

fn no_duplicates(dest: &Path) {
    assert_eq!(
        common::sql_i64(dest, "SELECT count(*) FROM recordings"),
        common::sql_i64(dest, "SELECT count(DISTINCT session_id) FROM recordings"),
        "a session is in the lake twice"
    );
    assert_eq!(
        common::sql_i64(dest, "SELECT count(*) FROM events"),
        common::sql_i64(
            dest,
            "SELECT count(*) FROM (SELECT DISTINCT session_id, seq FROM events)"
        ),
        "events are in the lake twice"
    );
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    common::tree(dir)
        .into_iter()
        .map(|(p, _)| dir.join(p))
        .collect()
}

#[test]
fn pull_equals_convert_of_the_same_recordings_and_reruns_fetch_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = fixture_recordings(10);
    assert!(
        recs.iter().any(|r| r.blocks.len() > 20),
        "some recording needs two key ranges"
    );
    let server = TestServer::start(
        Config {
            environments: false, // an older PostHog: the legacy /api/projects/ path
            ..Default::default()
        },
        recs.clone(),
    );
    let dest = tmp.path().join("lake");
    let started = Instant::now();
    let (out, s) = pull(&server, &dest, &["--keep-raw", "--page-size", "2", "-vvv"]);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s["fetched"], 6, "{s}");
    assert_eq!(s["sink"]["sessions_written"], 6);
    assert_eq!(s["throttled"], 0);
    eprintln!(
        "pull of 6 recordings: {took:?}, {} API calls, {} bytes",
        s["api_calls"], s["bytes"]
    );

    let reference = reference_lake(&recs, tmp.path());
    assert_eq!(fingerprint(&dest), fingerprint(&reference));
    no_duplicates(&dest);
    // the list's metadata sits beside what replaylake computed
    let meta = table(
        &dest,
        "SELECT session_id, distinct_id, posthog_metadata LIKE '%shop.realclient.test%' AS url, \
         person IS NOT NULL AS has_person FROM recordings ORDER BY session_id",
    );
    assert!(meta.contains("user-0"), "{meta}");
    assert!(!meta.contains("| false"), "{meta}");

    // the raw bodies rebuild the same lake without PostHog
    let raw = dest.join("_raw");
    let rebuilt = tmp.path().join("rebuilt");
    let o = common::bin(&[
        "convert",
        &raw.display().to_string(),
        "--dest",
        &rebuilt.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(fingerprint(&rebuilt), fingerprint(&reference));

    // a rerun fetches nothing: one list call per page
    let calls_before = server.count(|c| &c.requests);
    let blobs_before = server.count(|c| &c.blob_ok);
    let (out, s) = pull(&server, &dest, &["--page-size", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s["fetched"], 0, "{s}");
    assert_eq!(s["already_done"], 6);
    assert_eq!(server.count(|c| &c.blob_ok), blobs_before);
    assert_eq!(
        server.count(|c| &c.requests) - calls_before,
        4,
        "a 404 on /api/environments/, then three list pages on /api/projects/"
    );
    assert_eq!(fingerprint(&dest), fingerprint(&reference));
}

#[test]
fn faults_lts_snappy_cursor_and_deleted_recordings() {
    let tmp = tempfile::tempdir().unwrap();
    let mut recs = fixture_recordings(7);
    recs[2].lts = true;
    let deleted = recs[4].id.clone();
    let server = TestServer::start(
        Config {
            cursor: true,
            ..Default::default()
        },
        recs.clone(),
    );
    server
        .shared
        .deleted
        .lock()
        .unwrap()
        .insert(deleted.clone());
    {
        let mut f = server.faults();
        f.fail_5xx = 2;
        f.cut = 2;
        f.slow = 1;
        f.slow_ms = 2500;
    }
    let dest = tmp.path().join("lake");
    let (out, s) = pull(
        &server,
        &dest,
        &[
            "--body",
            "snappy",
            "--timeout",
            "1s",
            "--page-size",
            "4",
            "--keep-raw",
            "--fail-on-skipped",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "exit 4 with --fail-on-skipped; {}",
        stderr(&out)
    );
    assert_eq!(s["fetched"], 5, "{s}");
    assert_eq!(s["skipped"][0]["session_id"], deleted.as_str());
    assert_eq!(s["skipped"][0]["status"], 410);
    assert!(
        s["retries"].as_u64().unwrap() >= 5,
        "2×5xx, 2 cut, 1 slow: {s}"
    );
    assert_eq!(server.count(|c| &c.faults_injected), 5);
    let kept: Vec<_> = files_under(&dest.join("_raw"));
    assert!(kept.iter().any(|p| p.extension().unwrap() == "snappy"));

    let live: Vec<Rec> = recs.iter().filter(|r| r.id != deleted).cloned().collect();
    let reference = reference_lake(&live, tmp.path());
    assert_eq!(fingerprint(&dest), fingerprint(&reference));

    // the deleted recording is not asked for again
    let sources_before = server.count(|c| &c.sources_calls);
    let (out, s) = pull(&server, &dest, &["--body", "snappy"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s["fetched"], 0, "{s}");
    assert_eq!(server.count(|c| &c.sources_calls), sources_before);

    // without --fail-on-skipped a scheduled run over a deleted recording succeeds and says so
    let fresh = tmp.path().join("fresh");
    let (out, s) = pull(&server, &fresh, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(s["skipped"][0]["session_id"], deleted.as_str(), "{s}");
    let key = server.shared.cfg.key.clone();
    let out = pull_cmd(
        &server,
        &tmp.path().join("plain"),
        &key,
        &["--rate-limit", FAST],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("skipped {deleted} (HTTP 410)")),
        "the summary names the deleted recording: {text}"
    );
}

#[test]
fn a_killed_run_resumes_without_refetching_or_duplicating() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = fixture_recordings(10);
    let server = TestServer::start(Config::default(), recs.clone());
    let dest = tmp.path().join("lake");

    // a full pull elsewhere, to know what a whole run asks for
    let (out, _) = pull(&server, &tmp.path().join("whole"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let whole_blob_calls = server.count(|c| &c.blob_ok);

    server.faults().blob_delay_ms = 300;
    let key = server.shared.cfg.key.clone();
    let mut child = pull_cmd(
        &server,
        &dest,
        &key,
        &[
            "--rate-limit",
            FAST,
            "--concurrency",
            "1",
            "--checkpoint-every",
            "1",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.count(|c| &c.blob_ok) < whole_blob_calls + 5 {
        assert!(Instant::now() < deadline, "the run made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    server.faults().blob_delay_ms = 0;

    let state_dir = dest.join("_replaylake/state");
    let states = files_under(&state_dir);
    assert_eq!(states.len(), 1, "{states:?}");
    let st: Value = serde_json::from_slice(&std::fs::read(&states[0]).unwrap()).unwrap();
    let landed = st["done"].as_object().unwrap().len();
    assert!(landed >= 1, "some sessions were checkpointed: {st}");

    let before = server.count(|c| &c.blob_ok);
    let (out, s) = pull(&server, &dest, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rerun_blob_calls = server.count(|c| &c.blob_ok) - before;
    // the lake decides: at least what the checkpoint recorded (a kill after a flush and before
    // its checkpoint leaves more in the lake than in the checkpoint)
    let already = s["already_done"].as_u64().unwrap() as usize;
    assert!((landed..6).contains(&already), "{landed} checkpointed: {s}");
    assert!(
        rerun_blob_calls < whole_blob_calls,
        "the rerun fetched {rerun_blob_calls} blob ranges, a whole run {whole_blob_calls}"
    );
    let reference = reference_lake(&recs, tmp.path());
    assert_eq!(fingerprint(&dest), fingerprint(&reference));
    no_duplicates(&dest);
}

#[test]
fn the_key_appears_nowhere() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(Config::default(), fixture_recordings(10));
    let key = server.shared.cfg.key.clone();
    server.faults().fail_5xx = 1;
    let dest = tmp.path().join("lake");
    let out = pull_cmd(
        &server,
        &dest,
        &key,
        &["--rate-limit", FAST, "--keep-raw", "-vvv"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut everything = String::from_utf8_lossy(&out.stdout).into_owned();
    everything.push_str(&stderr(&out));
    assert!(everything.contains("GET"), "-vvv logs requests");
    assert!(!everything.contains(&key), "the key leaked into the output");
    assert!(
        !everything.contains("phx_testkey"),
        "part of the key leaked"
    );
    for f in files_under(&dest) {
        let b = std::fs::read(&f).unwrap();
        assert!(
            !b.windows(key.len()).any(|w| w == key.as_bytes()),
            "the key is in {}",
            f.display()
        );
    }
    // a wrong key: exit 1, the error names the path and the status, not the key
    let wrong = "phx_wrong_0123456789abcdef";
    let out = pull_cmd(&server, &tmp.path().join("other"), wrong, &["-vvv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("HTTP 401") && e.contains("/session_recordings/"),
        "{e}"
    );
    assert!(!e.contains(wrong), "{e}");
    // the key comes from a file too
    let kf = tmp.path().join("key");
    std::fs::write(&kf, format!("{key}\n")).unwrap();
    let out = pull_cmd(
        &server,
        &dest,
        "",
        &["--api-key-file", &kf.display().to_string()],
    )
    .env_remove("POSTHOG_API_KEY")
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&key));
}

#[test]
fn the_servers_rate_limit_is_never_exceeded() {
    let tmp = tempfile::tempdir().unwrap();
    let rates = vec![(6, Duration::from_secs(2)), (40, Duration::from_secs(60))];
    let server = TestServer::start(
        Config {
            rates: rates.clone(),
            ..Default::default()
        },
        fixture_recordings(10),
    );
    let started = Instant::now();
    let (out, s) = pull(
        &server,
        &tmp.path().join("a"),
        &["--rate-limit", "6/2s,40/min", "--concurrency", "4"],
    );
    let took = started.elapsed();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s["fetched"], 6, "{s}");
    let calls = server.count(|c| &c.requests);
    eprintln!(
        "{calls} requests at 6/2s took {took:?}; waited {}s on the limiter",
        s["rate_wait_seconds"]
    );
    assert_eq!(
        server.count(|c| &c.throttled),
        0,
        "the server had to send 429s"
    );
    assert!(
        took >= Duration::from_secs(2 * ((calls - 1) / 6)),
        "{calls} calls in {took:?}"
    );
}

#[test]
fn a_client_above_the_servers_limit_honours_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    let recs: Vec<Rec> = fixture_recordings(10).into_iter().take(3).collect();
    let server = TestServer::start(
        Config {
            rates: vec![(4, Duration::from_secs(1))],
            ..Default::default()
        },
        recs.clone(),
    );
    let dest = tmp.path().join("lake");
    let (out, s) = pull(&server, &dest, &["--concurrency", "4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(server.count(|c| &c.throttled) > 0);
    assert_eq!(s["throttled"], server.count(|c| &c.throttled));
    assert_eq!(s["fetched"], 3);
    assert_eq!(
        fingerprint(&dest),
        fingerprint(&reference_lake(&recs, tmp.path()))
    );
}

#[test]
fn a_recording_that_grew_is_fetched_again_and_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let full = fixture_recordings(10);
    let mut first = full.clone();
    let keep = first[0].blocks.len() - 3;
    first[0].blocks.truncate(keep);
    let server = TestServer::start(Config::default(), first);
    let dest = tmp.path().join("lake");
    let (out, s) = pull(&server, &dest, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s["fetched"], 6);
    *server.shared.recs.lock().unwrap() = full.clone();
    let (out, s) = pull(&server, &dest, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s["fetched"], 1, "only the grown recording: {s}");
    assert_eq!(s["sink"]["sessions_replaced"], 1);
    assert_eq!(
        fingerprint(&dest),
        fingerprint(&reference_lake(&full, tmp.path()))
    );
    no_duplicates(&dest);
}

/// Recordings older than the checkpoint's retention, and a lake whose checkpoint is gone: the
/// lake itself says what landed, so a rerun of the window asks for no snapshot at all.
#[test]
fn recordings_older_than_the_retention_are_not_fetched_again() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = fixture_recordings(10);
    let server = TestServer::start(Config::default(), recs.clone());
    let dest = tmp.path().join("lake");
    // the watermark is UNTIL; a retention of 1 s forgets every recording of the window
    let (out, s) = pull(&server, &dest, &["--state-retention", "1s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s["fetched"], 6, "{s}");
    let states = files_under(&dest.join("_replaylake/state"));
    let st: Value = serde_json::from_slice(&std::fs::read(&states[0]).unwrap()).unwrap();
    assert_eq!(st["done"].as_object().unwrap().len(), 0, "forgotten: {st}");
    let lake = fingerprint(&dest);

    let snapshot_calls = |s: &TestServer| s.count(|c| &c.sources_calls) + s.count(|c| &c.blob_ok);
    let before = snapshot_calls(&server);
    let rerun_fetches_nothing = |extra: &[&str]| {
        let (out, s) = pull(&server, &dest, extra);
        assert!(out.status.success(), "{}", stderr(&out));
        let counts = (s["fetched"].as_u64(), s["already_done"].as_u64());
        assert_eq!(counts, (Some(0), Some(6)), "{s}");
        assert_eq!(snapshot_calls(&server), before, "no snapshot request");
    };
    rerun_fetches_nothing(&["--state-retention", "1s"]);
    // no checkpoint at all (a lake moved, or its state deleted): the same
    std::fs::remove_dir_all(dest.join("_replaylake/state")).unwrap();
    rerun_fetches_nothing(&[]);
    assert_eq!(fingerprint(&dest), lake);

    // --full-refresh downloads the window again and writes nothing that did not change
    let (out, s) = pull(&server, &dest, &["--full-refresh"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(s["fetched"], 6, "{s}");
    assert_eq!(s["sink"]["sessions_unchanged"], 6, "{s}");
    assert_eq!(fingerprint(&dest), lake);
}

#[test]
fn shards_split_a_backfill_without_overlap() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = fixture_recordings(10);
    let server = TestServer::start(Config::default(), recs.clone());
    let dest = tmp.path().join("lake");
    let mut fetched = 0;
    for shard in ["0/2", "1/2"] {
        let (out, s) = pull(&server, &dest, &["--shard", shard]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(
            s["not_in_shard"].as_u64().unwrap() + s["fetched"].as_u64().unwrap(),
            6
        );
        fetched += s["fetched"].as_u64().unwrap();
    }
    assert_eq!(fetched, 6);
    assert_eq!(files_under(&dest.join("_replaylake/state")).len(), 2);
    assert_eq!(
        fingerprint(&dest),
        fingerprint(&reference_lake(&recs, tmp.path()))
    );
}

#[test]
fn dry_run_estimates_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(Config::default(), fixture_recordings(10));
    let dest = tmp.path().join("lake");
    let key = server.shared.cfg.key.clone();
    let out = pull_cmd(&server, &dest, &key, &["--dry-run", "--tier", "free"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("6 to fetch"), "{text}");
    assert!(text.contains("at least 12 API calls"), "{text}");
    assert!(text.contains("12/min, 60/h"), "{text}");
    assert_eq!(server.count(|c| &c.sources_calls), 0);
    assert!(files_under(&dest).is_empty(), "{:?}", files_under(&dest));
}

/// The checkpoint of the lake at `dest` (the only one: unsharded).
fn checkpoint(dest: &Path) -> Value {
    match files_under(&dest.join("_replaylake/state")).as_slice() {
        [] => Value::Null,
        [one] => serde_json::from_slice(&std::fs::read(one).unwrap()).unwrap(),
        more => panic!("more than one checkpoint: {more:?}"),
    }
}

/// A pull whose peak memory is measured (killed past 1 GiB, or after 120 s: safety nets).
fn measured_pull(server: &TestServer, dest: &Path, extra: &[&str]) -> Measured {
    let key = server.shared.cfg.key.clone();
    let mut args = vec!["--rate-limit", FAST];
    args.extend(extra);
    measure::run(
        pull_cmd(server, dest, &key, &args),
        1024,
        Duration::from_secs(120),
    )
}

/// Exit 1, no panic, and an error line that says each of `wants`; returns the error line.
fn fails_clearly(m: &Measured, wants: &[&str]) -> String {
    assert!(m.killed.is_none(), "{:?}: {}", m.killed, m.stderr);
    assert_eq!(m.code, Some(1), "exit 1 expected: {}{}", m.stdout, m.stderr);
    assert!(!m.stderr.contains("panicked"), "{}", m.stderr);
    let err = m
        .stderr
        .lines()
        .rfind(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line: {}", m.stderr))
        .to_string();
    for w in wants {
        assert!(err.contains(w), "{w:?} not in {err}");
    }
    eprintln!("{err}");
    err
}

/// A healthy rerun lands every recording, once: the lake equals a clean run's.
fn rerun_lands_everything(server: &TestServer, dest: &Path, reference: &Path) {
    let (out, s) = pull(server, dest, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fingerprint(dest), fingerprint(reference), "{s}");
    no_duplicates(dest);
}

/// Retry-After values no one should wait for: a clear error naming the value and the path, not
/// a panic that counts as a finished window (which moved the watermark past every recording).
#[test]
fn absurd_retry_after_fails_the_run_and_a_rerun_gets_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = fixture_recordings(10);
    let server = TestServer::start(Config::default(), recs.clone());
    let dest = tmp.path().join("lake");
    {
        let mut f = server.faults();
        f.throttle_next = 1;
        f.throttle_on = "";
        f.retry_after = "1e20".into();
    }
    let m = measured_pull(&server, &dest, &[]);
    fails_clearly(
        &m,
        &[
            "Retry-After: \"1e20\"",
            "/session_recordings/",
            "--max-retry-after",
        ],
    );
    assert!(
        checkpoint(&dest)["watermark"].is_null(),
        "the watermark moved"
    );

    let far = "Fri, 31 Dec 9999 23:59:59 GMT";
    {
        let mut f = server.faults();
        f.throttle_next = 1;
        f.throttle_on = "/snapshots";
        f.retry_after = far.into();
    }
    let m = measured_pull(&server, &dest, &[]);
    fails_clearly(&m, &[far, "/snapshots"]);
    let st = checkpoint(&dest);
    assert!(st["watermark"].is_null(), "the watermark moved: {st}");
    assert_eq!(server.count(|c| &c.faults_injected), 2);

    // a negative value is no wait at all: backed off and retried
    {
        let mut f = server.faults();
        f.throttle_next = 1;
        f.retry_after = "-5".into();
    }
    rerun_lands_everything(&server, &dest, &reference_lake(&recs, tmp.path()));
    assert_eq!(server.count(|c| &c.faults_injected), 3);
    assert_eq!(checkpoint(&dest)["watermark"], UNTIL);
}

/// Listings that never end: the same page again, empty pages that say has_next, the same
/// cursor again. Each fails clearly instead of listing forever; a healthy rerun lands all.
#[test]
fn endless_listings_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = fixture_recordings(10);
    let reference = reference_lake(&recs, tmp.path());
    for (endless, cursor, says) in [
        (
            EndlessList::SamePage,
            false,
            "repeats 2 recordings already listed",
        ),
        (
            EndlessList::EmptyPages,
            false,
            "is empty but says has_next: true",
        ),
        (EndlessList::SameCursor, true, "a cursor already followed"),
    ] {
        let server = TestServer::start(
            Config {
                cursor,
                ..Default::default()
            },
            recs.clone(),
        );
        server.faults().endless_list = Some(endless);
        let dest = tmp.path().join(format!("lake-{endless:?}"));
        let m = measured_pull(&server, &dest, &["--page-size", "2"]);
        fails_clearly(
            &m,
            &[
                "the listing makes no progress",
                says,
                "/session_recordings/",
            ],
        );
        assert!(checkpoint(&dest)["watermark"].is_null());
        server.faults().endless_list = None;
        rerun_lands_everything(&server, &dest, &reference);
    }
}

/// Bodies that never end: streamed as fast as they are read, inflated from a gzip bomb (counted
/// after decompression), or trickled (the request timeout covers the body). Each fails clearly
/// in bounded memory; a healthy rerun lands all.
#[test]
fn endless_bodies_fail_clearly_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = fixture_recordings(10);
    let reference = reference_lake(&recs, tmp.path());
    let server = TestServer::start(Config::default(), recs.clone());
    type Arm = fn(&mut super::pull_server::Faults);
    let cases: [(&str, Arm, &[&str], &[&str]); 3] = [
        (
            "endless body",
            |f| f.endless_body = 1,
            &["--max-body-mb", "16"],
            &[
                "larger than the cap of 16.0 MiB",
                "--max-body-mb",
                "/snapshots",
            ],
        ),
        (
            "gzip bomb",
            |f| f.gzip_bomb = 1,
            &["--max-body-mb", "16"],
            &[
                "larger than the cap of 16.0 MiB",
                "after decompression",
                "/snapshots",
            ],
        ),
        (
            "trickled body",
            |f| f.trickle_body = 2,
            &[
                "--timeout",
                "2s",
                "--max-retries",
                "1",
                "--concurrency",
                "1",
            ],
            &["gave up after 2 attempts", "timed out", "/snapshots"],
        ),
    ];
    for (what, arm, flags, says) in cases {
        let dest = tmp.path().join(what.replace(' ', "-"));
        arm(&mut server.faults());
        let m = measured_pull(&server, &dest, flags);
        fails_clearly(&m, says);
        eprintln!("{what}: peak RSS {:.0} MB", m.peak_rss_mb);
        assert!(
            m.peak_rss_mb < 256.0,
            "{what}: peak RSS {:.0} MB",
            m.peak_rss_mb
        );
        assert!(checkpoint(&dest)["watermark"].is_null());
        rerun_lands_everything(&server, &dest, &reference);
    }
    assert_eq!(server.count(|c| &c.faults_injected), 4);
    let m = measured_pull(&server, &tmp.path().join("healthy"), &[]);
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    eprintln!("a healthy pull: peak RSS {:.0} MB", m.peak_rss_mb);
}

/// A recording PostHog has not flushed to blob storage yet (only a realtime source) is pending,
/// not done: reported, kept in the checkpoint, and it holds the watermark, so the next run
/// (its window from the checkpoint) fetches it once its blobs exist.
#[test]
fn a_realtime_only_recording_is_fetched_once_its_blobs_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let recs = fixture_recordings(10);
    let mut live = recs.clone();
    live[1].realtime = true;
    let late = live[1].id.clone();
    let server = TestServer::start(Config::default(), live);
    let dest = tmp.path().join("lake");
    let key = server.shared.cfg.key.clone();
    // the window's start comes from the checkpoint (none yet: 30 days before --until)
    let run = || {
        let args = ["--json", "--rate-limit", FAST];
        let out = pull_cmd_in(&server, &dest, &key, &["--until", UNTIL], &args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let s = run();
    assert_eq!(s["fetched"], 5, "{s}");
    assert_eq!(s["empty"], 0, "{s}");
    assert_eq!(s["pending"][0]["session_id"], late.as_str(), "{s}");
    assert_eq!(s["pending"][0]["sources"], serde_json::json!(["realtime"]));
    let st = checkpoint(&dest);
    assert!(st["done"].get(&late).is_none(), "marked done: {st}");
    assert!(st["pending"].get(&late).is_some(), "{st}");
    let start = st["pending"][&late]["start_time"].as_str().unwrap();
    let watermark = st["watermark"].as_str().unwrap();
    assert!(
        parse(watermark) <= parse(start),
        "the watermark {watermark} passed the pending recording's start {start}"
    );

    // its blobs exist now
    server.shared.recs.lock().unwrap()[1].realtime = false;
    let s = run();
    assert_eq!(s["fetched"], 1, "only the pending recording: {s}");
    assert_eq!(s["pending"], serde_json::json!([]));
    let st = checkpoint(&dest);
    assert!(
        st["done"].get(&late).is_some() && st.get("pending").is_none(),
        "{st}"
    );
    assert_eq!(st["watermark"], UNTIL);
    assert_eq!(
        fingerprint(&dest),
        fingerprint(&reference_lake(&recs, tmp.path()))
    );
    no_duplicates(&dest);
    let s = run();
    assert_eq!(s["fetched"], 0, "{s}");
}

fn parse(t: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(t).unwrap()
}

/// `pull --max-decompressed-mb` caps what a compressed payload of a fetched blob may inflate to:
/// the bomb is a reject naming the flag, the rest of the recording lands.
#[test]
fn pull_rejects_a_decompression_bomb_at_its_cap() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let mut recs = fixture_recordings(10);
    // a FullSnapshot whose cv payload (latin1 gzip, as posthog-js writes it) inflates to 32 MiB
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 32 << 20]).unwrap();
    let latin1: String = gz.finish().unwrap().iter().map(|&b| b as char).collect();
    let first: Value = serde_json::from_str(recs[0].blocks[0].lines().next().unwrap()).unwrap();
    let ts = first[1]["timestamp"].as_i64().unwrap();
    let bomb = json!([first[0], {"type": 2, "cv": "2024-10", "data": latin1, "timestamp": ts}]);
    recs[0].blocks[0].push_str(&format!("{bomb}\n"));
    let server = TestServer::start(Config::default(), recs);
    let dest = tmp.path().join("lake");
    let (out, s) = pull(&server, &dest, &["--max-decompressed-mb", "8"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        (s["fetched"].as_u64(), s["rejected"].as_u64()),
        (Some(6), Some(1)),
        "{s}"
    );
    let rejects: String = files_under(&dest.join("_rejects"))
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(rejects.contains("--max-decompressed-mb"), "{rejects}");
}
