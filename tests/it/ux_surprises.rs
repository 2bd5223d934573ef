//! Small surprises (issue 20, item 9), through the real binary with its output piped: a
//! browser's repeated download is the same recording, `--session-id` does not merge different
//! recordings, `pull --dry-run` creates nothing, `--tier` does not go with `--rate-limit`, and
//! compact's summary counts what is on disk.

use std::path::Path;

use crate::common::*;
use crate::pull_server::{Config, TestServer, fixture_recordings};
use crate::ux::{filter_timings, run_in};

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap();
}

/// `(session_id, events)` of every recording of the lake, in order.
fn sessions(lake: &Path) -> String {
    let b = sql(
        lake,
        "SELECT r.session_id, count(*) AS events FROM recordings r JOIN events e \
         ON e.session_id = r.session_id GROUP BY r.session_id ORDER BY r.session_id",
    );
    datafusion::arrow::util::pretty::pretty_format_batches(&b)
        .unwrap()
        .to_string()
}

#[test]
fn a_repeated_download_is_the_same_recording_once() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    // PostHog's rrweb download names the session only in its file name
    let id = "0193b2c4-5d6e-7f80-9a1b-2c3d4e5f6a7b";
    let rrweb = realclient("rr-s2202-01.rrweb.json");
    copy(
        &rrweb,
        &cwd.join(format!("one/export-{id}-rrweb-recording.json")),
    );
    for name in [
        format!("export-{id}-rrweb-recording.json"),
        format!("export-{id}-rrweb-recording (1).json"),
        format!("export-{id}-rrweb-recording(2).json"),
    ] {
        copy(&rrweb, &cwd.join("downloads").join(name));
    }
    let r = run_in(cwd, &["convert", "one", "--dest", "single", "--json"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let one: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let r = run_in(cwd, &["convert", "downloads", "--dest", "lake"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let single = sessions(&cwd.join("single"));
    assert!(single.contains(id), "{single}");
    // one session, with each event once: the copies' events are duplicates
    assert_eq!(sessions(&cwd.join("lake")), single);
    let events = sql_i64(&cwd.join("single"), "SELECT count(*) FROM events");
    assert_eq!(one["events"], events);
    let dups = one["duplicates_dropped"].as_i64().unwrap();
    let out = filter_timings(&r.stdout);
    assert!(
        out.contains(
            "  sessions: 1 found (ids: 1 from filename), 1 written, 0 unchanged, 0 updated (an \
             older version gained events), 1 merged from several files\n"
        ),
        "{out}"
    );
    // each copy's events are duplicates of the first's
    assert!(
        out.contains(&format!(
            "  events: {events} ({} duplicates dropped)\n",
            3 * dups + 2 * events
        )),
        "{out}"
    );

    // PostHog's own export names the session inside: a copy was always the same session
    let ph = realclient("ph-s2202-01.export.json");
    let ph_id = truth("ph-s2202-01").session_id;
    for name in [
        format!("export-{ph_id}-ph-recording.json"),
        format!("export-{ph_id}-ph-recording (1).json"),
    ] {
        copy(&ph, &cwd.join("ph").join(name));
    }
    let r = run_in(cwd, &["convert", "ph", "--dest", "ph-lake", "-q"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        sql_i64(&cwd.join("ph-lake"), "SELECT count(*) FROM recordings"),
        1
    );
}

#[test]
fn session_id_over_different_recordings_is_refused_and_over_one_recording_joins_it() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let a = realclient("ph-s2202-01.blob.jsonl");
    let b = realclient("ph-s2202-02.blob.jsonl");
    let r = run_in(
        cwd,
        &[
            "convert",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--session-id",
            "mine",
            "--dest",
            "lake",
        ],
        &[],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: --session-id mine would merge 2 input files whose names give 2 different \
         sessions (ph-s2202-01, ph-s2202-02) into one recording: give the files of one \
         recording at a time, or leave --session-id out and let each file's name give its \
         session (files of one recording named <id>.1.jsonl, <id>.2.jsonl join as one)\n"
    );
    assert_eq!(r.stdout, "");
    assert!(!cwd.join("lake").exists(), "a refused run made the lake");

    // one recording in two files named after it: --session-id names the session
    let text = std::fs::read(&a).unwrap();
    let lines: Vec<&[u8]> = text.split_inclusive(|c| *c == b'\n').collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    std::fs::create_dir(cwd.join("parts")).unwrap();
    std::fs::write(cwd.join("parts/rec.1.jsonl"), first.concat()).unwrap();
    std::fs::write(cwd.join("parts/rec.2.jsonl"), second.concat()).unwrap();
    let r = run_in(
        cwd,
        &[
            "convert",
            "parts",
            "--session-id",
            "mine",
            "--dest",
            "lake",
            "-q",
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = run_in(
        cwd,
        &["convert", a.to_str().unwrap(), "--dest", "whole", "-q"],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let whole = sql_i64(&cwd.join("whole"), "SELECT count(*) FROM events");
    let got = sql_i64(
        &cwd.join("lake"),
        "SELECT count(*) FROM events WHERE session_id = 'mine'",
    );
    assert_eq!(got, whole);
    assert_eq!(
        sql_i64(&cwd.join("lake"), "SELECT count(*) FROM recordings"),
        1
    );
}

#[test]
fn pull_dry_run_creates_nothing_and_tier_does_not_go_with_rate_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let server = TestServer::start(Config::default(), fixture_recordings(10));
    let key = [("POSTHOG_API_KEY", server.shared.cfg.key.as_str())];
    let url = server.url();
    let pull = |extra: &[&str]| {
        let mut args = vec![
            "pull",
            "--host",
            &url,
            "--project",
            &server.shared.cfg.team,
            "--dest",
            "new/lake",
            "--since",
            "2026-11-23T00:00:00Z",
            "--until",
            "2026-11-25T00:00:00Z",
        ];
        args.extend(extra.iter().copied());
        run_in(cwd, &args, &key)
    };
    let r = pull(&["--dry-run", "--rate-limit", "600/min"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout.starts_with(
            "dry run: recordings that started 2026-11-23T00:00:00Z .. 2026-11-25T00:00:00Z: 6 \
             listed, 6 to fetch, 0 already pulled, 0 in other shards\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        !cwd.join("new").exists(),
        "the dry run made the destination"
    );

    let r = pull(&["--tier", "paid", "--rate-limit", "600/min"]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.starts_with(
            "error: the argument '--tier <TIER>' cannot be used with '--rate-limit <RATE_LIMIT>'"
        ),
        "{}",
        r.stderr
    );
    assert!(!cwd.join("new").exists());
    assert_eq!(server.count(|c| &c.sources_calls), 0);
}
