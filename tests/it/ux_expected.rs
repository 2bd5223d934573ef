//! What users of DuckDB, dbt or Airbyte expect (issue 20, item 10), through the real binary with
//! its output piped: `pull --limit N` for a first trial, `replaylake state` to read the pull
//! checkpoint, `--log-format json`, and `prune --deleted`, the retention that follows PostHog's
//! deletions. Pulls run against the PostHog stand-in of the pull tests.

use std::path::Path;

use serde_json::Value;

use crate::common::*;
use crate::pull::{fingerprint, reference_lake};
use crate::pull_server::{Config, Rec, TestServer, fixture_recordings};
use crate::ux::{Run, filter_timings, run_in};

const SINCE: &str = "2026-11-23T00:00:00Z";
const UNTIL: &str = "2026-11-25T00:00:00Z";

/// `replaylake pull` from `server` into `<cwd>/lake` over the fixtures' window.
fn pull(server: &TestServer, cwd: &Path, extra: &[&str]) -> Run {
    let url = server.url();
    let mut args = vec![
        "pull",
        "--host",
        &url,
        "--project",
        &server.shared.cfg.team,
        "--dest",
        "lake",
        "--since",
        SINCE,
        "--until",
        UNTIL,
        "--rate-limit",
        "600/min,6000/h",
    ];
    args.extend(extra.iter().copied());
    run_in(
        cwd,
        &args,
        &[("POSTHOG_API_KEY", server.shared.cfg.key.as_str())],
    )
}

fn json(r: &Run) -> Value {
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// The only checkpoint of the lake.
fn checkpoint(lake: &Path) -> Value {
    let files = tree(&lake.join("_replaylake/state"));
    assert_eq!(files.len(), 1, "{files:?}");
    let p = lake.join("_replaylake/state").join(&files[0].0);
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The session ids of the lake, sorted.
fn ids(lake: &Path) -> Vec<String> {
    use datafusion::arrow::array::{Array, AsArray};
    let b = sql(
        lake,
        "SELECT session_id FROM recordings ORDER BY session_id",
    );
    b.iter()
        .flat_map(|b| {
            let c = b.column(0).as_string::<i32>();
            (0..c.len())
                .map(|i| c.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The ids of the `n` recordings PostHog lists first (newest first), sorted.
fn listed_first(recs: &[Rec], n: usize) -> Vec<String> {
    let mut by_start: Vec<&Rec> = recs.iter().collect();
    by_start.sort_by(|a, b| b.start_ms().cmp(&a.start_ms()).then(a.id.cmp(&b.id)));
    let mut ids: Vec<String> = by_start[..n].iter().map(|r| r.id.clone()).collect();
    ids.sort();
    ids
}

#[test]
fn pull_limit_fetches_the_first_n_and_a_later_run_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let recs = fixture_recordings(10);
    let server = TestServer::start(Config::default(), recs.clone());
    let lake = cwd.join("lake");

    let r = pull(&server, cwd, &["--limit", "2"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let out = filter_timings(&r.stdout);
    assert!(
        out.contains("  recordings: 3 listed, 2 fetched (0 empty; --limit 2 reached, more remain), 0 already pulled,"),
        "{out}"
    );
    assert!(
        out.contains("(next run starts at 2026-11-23T00:00:00Z; it did not move past what --limit left: run again to fetch the rest)"),
        "{out}"
    );
    assert_eq!(ids(&lake), listed_first(&recs, 2));
    assert_eq!(server.count(|c| &c.sources_calls), 2);
    let st = checkpoint(&lake);
    assert_eq!(st["watermark"], Value::Null, "{st}");
    assert_eq!(st["done"].as_object().unwrap().len(), 2, "{st}");

    // a limit the window does not reach is no limit: the rest, and the watermark moves
    let s = json(&pull(&server, cwd, &["--limit", "10", "--json"]));
    assert_eq!(
        (s["fetched"].as_u64(), s["already_done"].as_u64()),
        (Some(4), Some(2)),
        "{s}"
    );
    assert_eq!(s["limit"], 10);
    assert_eq!(s["limit_reached"], false);
    assert_eq!(checkpoint(&lake)["watermark"], UNTIL);
    assert_eq!(fingerprint(&lake), fingerprint(&reference_lake(&recs, cwd)));
    assert_eq!(
        server.count(|c| &c.sources_calls),
        6,
        "nothing fetched twice"
    );

    // a dry run says what a limited run would fetch
    let fresh = tempfile::tempdir().unwrap();
    let s = json(&pull(
        &server,
        fresh.path(),
        &["--limit", "4", "--dry-run", "--json"],
    ));
    assert_eq!(
        (s["to_fetch"].as_u64(), s["limit_reached"].as_bool()),
        (Some(4), Some(true)),
        "{s}"
    );
    assert_eq!(s["estimated_calls"], 8);
    assert!(!fresh.path().join("lake").exists());
}

#[test]
fn state_prints_the_pull_checkpoint_as_a_table_or_json() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let recs = fixture_recordings(10);
    let server = TestServer::start(Config::default(), recs.clone());
    // a lake no pull wrote to: said, and no error
    let r = run_in(
        cwd,
        &[
            "convert",
            realclient("ph-s2202-01.blob.jsonl").to_str().unwrap(),
            "--dest",
            "lake",
            "-q",
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = run_in(cwd, &["state"], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (
            Some(0),
            "no pull checkpoint in ./lake: no pull has written to this lake (replaylake pull \
             --dest ./lake keeps one under _replaylake/state/)\n"
        ),
        "{}",
        r.stderr
    );
    let r = run_in(cwd, &["state", "--lake", "lake", "--format", "json"], &[]);
    assert_eq!((r.code, r.stdout.as_str()), (Some(0), "[]\n"));
    // no lake at all: exit 1, as query says it
    let r = run_in(cwd, &["state", "--lake", "nowhere"], &[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("error: no lake at nowhere: the directory does not exist"),
        "{}",
        r.stderr
    );
    assert!(!cwd.join("nowhere").exists());

    // the newest recording, which a pull asks for first, is gone
    let deleted = listed_first(&recs, 1).remove(0);
    server.shared.deleted.lock().unwrap().insert(deleted);
    let r = pull(&server, cwd, &["--limit", "4", "-q"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let st = checkpoint(&cwd.join("lake"));
    let updated = chrono::DateTime::parse_from_rfc3339(st["updated_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let skipped = st["skipped"].as_object().unwrap().len();
    let done = st["done"].as_object().unwrap().len();
    assert_eq!(skipped + done, 4, "{st}");
    let r = run_in(cwd, &["state", "--dest", "lake"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let source = format!("{}/ project 4242", server.url());
    let out = r
        .stdout
        .replace(&updated, "<updated>")
        .replace(&source, "<source>");
    let want = format!(
        "\
+-----------------------------+-----------------------+------+----------------------+-----------------+---------+---------+
| source                      | next pull starts at   | runs | last run             | recently landed | deleted | pending |
+-----------------------------+-----------------------+------+----------------------+-----------------+---------+---------+
| <source> | 30 days before --until | 1    | <updated> | {done}               | {skipped}       | 0       |
+-----------------------------+-----------------------+------+----------------------+-----------------+---------+---------+
"
    );
    assert_eq!(out.lines().count(), want.lines().count() + skipped, "{out}");
    for (got, want) in out.lines().zip(want.lines()).skip(3).take(1) {
        let cells = |l: &str| {
            l.split('|')
                .map(|c| c.trim().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(cells(got), cells(want), "{out}");
    }
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .contains("| next pull starts at "),
        "{out}"
    );
    if skipped > 0 {
        assert!(
            out.contains(&format!(
                "  <source>: 1 recordings PostHog deleted (404/410) are not pruned yet: replaylake \
                 prune --deleted --lake lake removes them from the lake\n"
            )),
            "{out}"
        );
    }
    // JSON: the whole checkpoint, and where it lies
    let s = json(&run_in(cwd, &["state", "--format", "json"], &[]));
    let file = s[0]["file"].as_str().unwrap();
    assert!(
        file.starts_with("_replaylake/state/pull-") && file.ends_with("-4242.json"),
        "{s}"
    );
    let mut whole = s[0].clone();
    whole.as_object_mut().unwrap().remove("file");
    assert_eq!(whole, st);
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let input = realclient("ph-s2202-01.blob.jsonl");
    let r = run_in(
        cwd,
        &[
            "convert",
            input.to_str().unwrap(),
            "--dest",
            "lake",
            "-v",
            "--log-format",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let lines: Vec<Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let read = lines
        .iter()
        .find(|l| l["message"] == "input read")
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert_eq!(read["level"], "INFO");
    assert!(read["timestamp"].is_string());
    assert!(
        lines.iter().any(|l| l["message"] == "part written"),
        "{}",
        r.stderr
    );
    // the summary on stdout is the same as without the flag
    assert!(r.stdout.starts_with("converted 1 files ("), "{}", r.stdout);
    // a failure is one more JSON line
    let r = run_in(
        cwd,
        &[
            "query",
            "--lake",
            "nowhere",
            "SELECT 1",
            "--log-format",
            "json",
        ],
        &[],
    );
    assert_eq!(r.code, Some(1));
    let e: Value =
        serde_json::from_str(r.stderr.trim_end()).unwrap_or_else(|e| panic!("{e}: {}", r.stderr));
    assert_eq!(e["level"], "ERROR");
    assert_eq!(e["exit_code"], 1);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("no lake at nowhere: the directory does not exist"),
        "{e}"
    );
    // text stays text
    let r = run_in(
        cwd,
        &["convert", input.to_str().unwrap(), "--dest", "lake", "-v"],
        &[],
    );
    assert!(
        r.stderr.contains(" INFO ") && !r.stderr.starts_with('{'),
        "{}",
        r.stderr
    );
}

#[test]
fn prune_deleted_removes_what_posthog_deleted_from_every_table() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let recs = fixture_recordings(10);
    let server = TestServer::start(Config::default(), recs.clone());
    let lake = cwd.join("lake");
    let r = pull(&server, cwd, &["--keep-raw", "-q"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let gone = recs[3].id.clone();
    assert!(lake.join("_raw").join(&gone).is_dir());
    // nothing deleted yet: nothing to prune, and nothing written
    let before = tree(&lake);
    let r = run_in(cwd, &["prune", "--deleted"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.starts_with("nothing to prune in ./lake: "),
        "{}",
        r.stdout
    );
    assert_eq!(tree(&lake), before);

    // PostHog deletes one; a pull that asks for it again learns so
    server.shared.deleted.lock().unwrap().insert(gone.clone());
    let s = json(&pull(&server, cwd, &["--full-refresh", "--json"]));
    assert_eq!(s["skipped"][0]["session_id"], gone.as_str(), "{s}");
    let in_lake = |t: &str| {
        sql_i64(
            &lake,
            &format!("SELECT count(*) FROM {t} WHERE session_id = '{gone}'"),
        )
    };
    assert!(in_lake("events") > 0 && in_lake("recordings") == 1);

    // a dry run names it and changes nothing
    let before = tree(&lake);
    let r = run_in(
        cwd,
        &["prune", "--deleted", "--dry-run", "--lake", "lake"],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!(
            "dry run: would remove 1 of the 1 recordings PostHog deleted from lake: 0 not in the lake\n  would remove {gone} (HTTP 410)\n"
        )
    );
    assert_eq!(tree(&lake), before);

    let events = in_lake("events");
    let r = run_in(cwd, &["prune", "--deleted", "--lake", "lake"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let out = filter_timings(&r.stdout);
    let raw = before
        .iter()
        .filter(|(p, _)| p.starts_with(&format!("_raw/{gone}/")))
        .count();
    assert!(
        out.starts_with(&format!(
            "removed 1 of the 1 recordings PostHog deleted from lake in <t>: 0 not in the lake\n  \
             removed {gone} (HTTP 410)\n  rows removed: events {events}, "
        )),
        "{out}"
    );
    assert!(out.contains(&format!("({raw} raw bodies)")), "{out}");
    for t in ["events", "recordings", "network_requests"] {
        assert_eq!(in_lake(t), 0, "{t} still holds the deleted recording");
    }
    assert_eq!(
        tree(&lake.join("_raw").join(&gone)),
        vec![],
        "raw bodies left"
    );
    // the rest is the lake of the recordings PostHog still has
    let live: Vec<Rec> = recs.iter().filter(|r| r.id != gone).cloned().collect();
    assert_eq!(fingerprint(&lake), fingerprint(&reference_lake(&live, cwd)));
    assert_eq!(tree(&lake.join("_replaylake/journal")), vec![]);
    assert!(checkpoint(&lake)["skipped"][&gone]["pruned_at"].is_string());

    // again: nothing left to remove; the next pull does not fetch it again
    let s = json(&run_in(
        cwd,
        &["prune", "--deleted", "--lake", "lake", "--json"],
        &[],
    ));
    assert_eq!(s["removed"], serde_json::json!([]), "{s}");
    assert_eq!(s["not_in_lake"], serde_json::json!([gone]), "{s}");
    let s = json(&pull(&server, cwd, &["--json"]));
    assert_eq!(
        (s["fetched"].as_u64(), s["already_done"].as_u64()),
        (Some(0), Some(6)),
        "{s}"
    );
}
