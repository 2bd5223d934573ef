//! What a new user trips over (issue 20), through the real binary with its output piped (the
//! non-terminal case): usage errors exit 2, wrong paths fail saying what is wrong and create
//! nothing, `-q` prints only errors, `-v` adds detail, `demo` keeps out of a lake of yours.
//! Messages are compared whole, with the temporary directory and timings filtered.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// One run of the binary: exit code, stdout and stderr (with `tmp` written as `<tmp>`).
pub(crate) struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary in `cwd` with none of replaylake's or PostHog's environment variables.
pub(crate) fn run_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(bin_path());
    c.args(args).current_dir(cwd);
    for (k, _) in std::env::vars() {
        if k.starts_with("REPLAYLAKE_") && k != "REPLAYLAKE_BIN" || k.starts_with("POSTHOG_") {
            c.env_remove(&k);
        }
    }
    c.env_remove("RUST_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("binary runs");
    let tmp = cwd.display().to_string();
    let f = |b: &[u8]| String::from_utf8_lossy(b).replace(&tmp, "<tmp>");
    Run {
        code: o.status.code(),
        stdout: f(&o.stdout),
        stderr: f(&o.stderr),
    }
}

/// Replaces timings (`0.12s`, `3.4 MB/s`) with `<t>`.
pub(crate) fn filter_timings(s: &str) -> String {
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                j += 1;
            }
            for unit in ["s", " MB/s"] {
                let end = j + unit.len();
                if s[j..].starts_with(unit) && (end == b.len() || !b[end].is_ascii_alphanumeric()) {
                    out.push_str("<t>");
                    i = end;
                    break;
                }
            }
            if i == start {
                out.push_str(&s[start..j]);
                i = j;
            }
            continue;
        }
        let ch = s[i..].chars().next().unwrap();
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// A lake of one real recording, converted by the binary into `<cwd>/lake`.
fn small_lake(cwd: &Path) -> PathBuf {
    let r = run_in(
        cwd,
        &[
            "convert",
            realclient("ph-s2202-01.blob.jsonl").to_str().unwrap(),
            "--dest",
            "lake",
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    cwd.join("lake")
}

#[test]
fn filter_timings_keeps_the_rest() {
    assert_eq!(
        filter_timings("converted 1 files (95 KB) into lake in 0.12s (3.4 MB/s)"),
        "converted 1 files (95 KB) into lake in <t> (<t>)"
    );
    assert_eq!(filter_timings("s3 v1s 10 events"), "s3 v1s 10 events");
}

#[test]
fn usage_errors_exit_2_and_say_what_to_give() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    small_lake(cwd);
    let cases: &[(&[&str], &str)] = &[
        (
            &["query", "SELECT 1", "--format", "parquet"],
            "error: --format parquet writes a file: give --output FILE\n",
        ),
        (
            &["query", "--file", "rage_clicks", "--param", "nope=1"],
            "error: query rage_clicks: unknown parameter \"nope\" (parameters: min_clicks, \
             max_gap_ms, max_distance_px, from_date, to_date)\n",
        ),
        (
            &["query", "--file", "rage_clicks", "-p", "min_clicks=3; DROP"],
            "error: query rage_clicks: parameter min_clicks takes a number, got \"3; DROP\"\n",
        ),
        (
            &["query", "--file", "rage_click"],
            "error: no query file \"rage_click\" and no library query named \"rage_click\": did \
             you mean rage_clicks? (see `replaylake query --list`)\n",
        ),
        (
            &["schema", "event"],
            "error: unknown table \"event\": did you mean \"events\"? (known tables: events, \
             recordings, network_requests)\n",
        ),
        (
            &["convert", "lake", "--dest", "s3:/bucket/x"],
            "error: invalid lake URL \"s3:/bucket/x\": a s3: URL takes two slashes after the \
             colon: did you mean s3://bucket/x?\n",
        ),
    ];
    for (args, want) in cases {
        let r = run_in(cwd, args, &[]);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr, *want, "{args:?}");
        assert_eq!(r.stdout, "", "{args:?}");
    }
    // an SQL mistake is the user's too: exit 2 with DataFusion's message
    let r = run_in(cwd, &["query", "SELECT * FROM nope"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.starts_with("error: query (command line): ") && r.stderr.contains("nope"),
        "{}",
        r.stderr
    );
    // a query that writes is refused as a usage error, and writes nothing
    let r = run_in(
        cwd,
        &["query", "COPY (SELECT 1) TO 'out.csv' STORED AS CSV"],
        &[],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(!cwd.join("out.csv").exists());
    assert!(!cwd.join("s3:").exists(), "a folder named s3: was made");
}

#[test]
fn pull_usage_errors_exit_2_before_any_request_or_lake() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let key = [("POSTHOG_API_KEY", "phx_test_0123456789")];
    let base = ["pull", "--project", "1", "--dest", "pulled"];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };
    let r = run_in(cwd, &with(&["--host", "eu.posthog.com"]), &key);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("invalid value 'eu.posthog.com' for '--host <HOST>'")
            && r.stderr
                .contains("(give the scheme: https://eu.posthog.com)"),
        "{}",
        r.stderr
    );
    let r = run_in(cwd, &with(&["--host", "htps://eu.posthog.com"]), &key);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the scheme must be https:// (or http://)")
            && r.stderr.contains("(did you mean https://eu.posthog.com?)"),
        "{}",
        r.stderr
    );
    // the host from the environment is checked the same way
    let r = run_in(
        cwd,
        &with(&[]),
        &[key[0], ("POSTHOG_HOST", "us.posthog.com")],
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("https://us.posthog.com"), "{}", r.stderr);

    let r = run_in(cwd, &with(&["--host", "http://127.0.0.1:9"]), &[]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: no PostHog API key: set POSTHOG_API_KEY (a personal API key with the \
         session_recording:read scope) or pass --api-key-file\n"
    );
    let r = run_in(
        cwd,
        &with(&[
            "--host",
            "http://127.0.0.1:9",
            "--since",
            "2026-02-01",
            "--until",
            "2026-01-01",
        ]),
        &key,
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: --since 2026-02-01T00:00:00Z is not before --until 2026-01-01T00:00:00Z: the \
         window is empty (swap them?)\n"
    );
    // --since later than the default --until (now minus --lag)
    let r = run_in(
        cwd,
        &with(&["--host", "http://127.0.0.1:9", "--since=-1h"]),
        &key,
    );
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("is not before the default --until, now minus --lag"),
        "{}",
        r.stderr
    );
    assert!(!cwd.join("pulled").exists(), "a usage error made the lake");
}

#[test]
fn wrong_paths_fail_saying_what_is_wrong_and_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    small_lake(cwd);
    std::fs::create_dir(cwd.join("empty")).unwrap();
    std::fs::create_dir(cwd.join("docs")).unwrap();
    std::fs::write(cwd.join("docs/notes.txt"), "not a lake").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["query", "--lake", "empty", "SELECT 1"],
            "error: no lake at empty: it is empty (convert some recordings first: replaylake \
             convert INPUT --dest empty)\n",
        ),
        (
            &["query", "--lake", "docs", "SELECT count(*) FROM events"],
            "error: no lake at docs: it holds none of the lake's tables (events/, recordings/, \
             network_requests/) nor _replaylake/: is it the right folder?\n",
        ),
        (
            &[
                "query",
                "--lake",
                "lake/events",
                "SELECT count(*) FROM events",
            ],
            "error: no lake at lake/events: it holds date= partitions, so it is one table of a \
             lake, not the lake: give the folder above it (--lake lake)\n",
        ),
        (
            &["query", "--lake", "nowhere", "SELECT 1"],
            "error: no lake at nowhere: the directory does not exist (convert some recordings \
             first: replaylake convert INPUT --dest nowhere)\n",
        ),
        (
            &["compact", "--lake", "nowhere"],
            "error: no lake at nowhere: the directory does not exist (convert some recordings \
             first: replaylake convert INPUT --dest nowhere)\n",
        ),
        (
            &[
                "export", "--lake", "nowhere", "--format", "rrweb", "--out", "x",
            ],
            "error: no lake at nowhere: the directory does not exist (convert some recordings \
             first: replaylake convert INPUT --dest nowhere)\n",
        ),
        (
            &["convert", "empty", "--dest", "new-lake"],
            "error: no input files in empty (names starting with . or _ are skipped): nothing \
             to convert, no lake written\n",
        ),
    ];
    for (args, want) in cases {
        let r = run_in(cwd, args, &[]);
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr, *want, "{args:?}");
    }
    for made in ["nowhere", "new-lake", "x"] {
        assert!(!cwd.join(made).exists(), "{made} was created");
    }
    assert_eq!(tree(&cwd.join("empty")), vec![]);
    assert_eq!(tree(&cwd.join("docs")).len(), 1);
    // the real lake still answers
    let r = run_in(cwd, &["query", "SELECT count(*) AS n FROM recordings"], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (Some(0), "n\n1\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn quiet_prints_only_errors_and_verbose_adds_detail() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let input = realclient("ph-s2202-02.blob.jsonl");
    let input = input.to_str().unwrap();
    let r = run_in(cwd, &["convert", input, "--dest", "q", "-q"], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (Some(0), "", "")
    );
    assert_eq!(
        sql_i64(&cwd.join("q"), "SELECT count(*) FROM recordings"),
        1
    );
    let r = run_in(cwd, &["compact", "--lake", "q", "-q"], &[]);
    assert_eq!(
        (r.code, r.stdout.as_str(), r.stderr.as_str()),
        (Some(0), "", "")
    );
    // an error still shows with -q
    let r = run_in(cwd, &["compact", "--lake", "nope", "-q"], &[]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.starts_with("error: no lake at nope"),
        "{}",
        r.stderr
    );

    // the default: the summary on stdout, nothing on stderr
    let r = run_in(cwd, &["convert", input, "--dest", "d"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let first = filter_timings(r.stdout.lines().next().unwrap());
    assert!(
        first.starts_with("converted 1 files (") && first.ends_with("into d in <t> (<t>)"),
        "{first}"
    );
    // -v: each input and each part on stderr
    let r = run_in(cwd, &["convert", input, "--dest", "v", "-v"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stderr.contains("input read") && r.stderr.contains("ph-s2202-02.blob.jsonl"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("part written"), "{}", r.stderr);
    assert!(!r.stderr.contains("DEBUG"), "{}", r.stderr);
    let r = run_in(cwd, &["convert", input, "--dest", "vv", "-vv"], &[]);
    assert!(r.stderr.contains("DEBUG"), "{}", r.stderr);
}

#[test]
fn demo_keeps_out_of_a_lake_that_is_not_its_own() {
    let tmp = tempfile::tempdir().unwrap();
    // on a fresh machine: into ./lake, and a rerun is fine
    let fresh = tmp.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    for _ in 0..2 {
        let r = run_in(&fresh, &["demo"], &[]);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
        assert!(r.stdout.contains("The lake is in ./lake"), "{}", r.stdout);
    }
    assert_eq!(
        sql_i64(&fresh.join("lake"), "SELECT count(*) FROM recordings"),
        4
    );
    // beside a lake of yours: refused, untouched
    let cwd = tmp.path();
    let lake = small_lake(cwd);
    let before = tree(&lake);
    let r = run_in(cwd, &["demo"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: ./lake is not empty and is not a demo lake: the demo writes its sample \
         recordings only into a folder of its own; give --dest a new folder (e.g. --dest \
         ./replaylake-demo)\n"
    );
    assert_eq!(tree(&lake), before, "the demo touched ./lake");
    assert_eq!(sql_i64(&lake, "SELECT count(*) FROM recordings"), 1);
    // where it is told
    let r = run_in(cwd, &["demo", "--dest", "replaylake-demo"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let n = sql_i64(
        &cwd.join("replaylake-demo"),
        "SELECT count(*) FROM recordings",
    );
    assert_eq!(n, 4);
}

#[test]
fn pull_names_the_host_it_cannot_reach_and_does_not_retry_it_ten_times() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    // a port nothing listens on
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("http://127.0.0.1:{port}");
    let key = "phx_secret_0123456789abcdef";
    let started = std::time::Instant::now();
    let r = run_in(
        cwd,
        &[
            "pull",
            "--host",
            &host,
            "--project",
            "1",
            "--dest",
            "lake",
            "--since=-3d",
        ],
        &[("POSTHOG_API_KEY", key)],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let e = r
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        e.starts_with(&format!(
            "error: cannot reach {host} (check --host or POSTHOG_HOST): PostHog API {host}/api/"
        )),
        "{}",
        r.stderr
    );
    assert!(e.contains("gave up after 3 attempts"), "{e}");
    assert!(!r.stderr.contains(key) && !r.stdout.contains(key));
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn ctrl_c_during_convert_says_so_commits_what_was_read_and_records_the_run() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    // many inputs, so that the run is still going when the signal comes
    let inputs = cwd.join("in");
    std::fs::create_dir(&inputs).unwrap();
    let body = std::fs::read(realclient("ph-s2202-01.blob.jsonl")).unwrap();
    for i in 0..400 {
        std::fs::write(inputs.join(format!("s{i:04}.blob.jsonl")), &body).unwrap();
    }
    let mut child = Command::new(bin_path())
        .args([
            "convert",
            "in",
            "--dest",
            "lake",
            "-v",
            "--threads",
            "1",
            "--buffer-mb",
            "1",
        ])
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // the first file read: the handler is installed, most files are still to come
    loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "ended early: {seen}");
        seen.push_str(&line);
        if line.contains("input read") {
            break;
        }
    }
    // SAFETY: signalling our own child
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(
        rest.contains("interrupted: committing the files already read, then stopping"),
        "{rest}"
    );
    let last = rest.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("interrupted: ")
            && last.contains(" of 400 files converted and committed into lake")
            && last.ends_with("rerun the same command to convert the rest"),
        "{rest}"
    );
    let runs: Vec<_> = tree(&cwd.join("lake"))
        .into_iter()
        .filter(|(p, _)| p.starts_with("_replaylake/runs/"))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cwd.join("lake").join(&runs[0].0)).unwrap()).unwrap();
    assert_eq!(record["summary"]["interrupted"], true, "{record}");
    let done = sql_i64(&cwd.join("lake"), "SELECT count(*) FROM recordings");
    assert!((1..400).contains(&done), "{done}");
    // a rerun converts the rest
    let r = run_in(cwd, &["convert", "in", "--dest", "lake", "-q"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        sql_i64(&cwd.join("lake"), "SELECT count(*) FROM recordings"),
        400
    );
}

/// Runs the binary with stdout and stderr in files under `out_dir`; its exit code and peak RSS,
/// from its own `VmHWM` (wait4's figure counts the test process's memory at the spawn too).
fn peak_rss(args: &[&str], out_dir: &Path) -> (i32, u64) {
    let out = std::fs::File::create(out_dir.join("stdout")).unwrap();
    let err = std::fs::File::create(out_dir.join("stderr")).unwrap();
    let mut child = Command::new(bin_path())
        .args(args)
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(s) = std::fs::read_to_string(&status)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb * 1024);
        }
        if let Some(st) = child.try_wait().unwrap() {
            return (st.code().unwrap_or(-1), peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A lake of the six realclient recordings, converted by the binary into `<cwd>/lake`.
fn six_lake(cwd: &Path) -> PathBuf {
    let inputs: Vec<String> = (1..=6)
        .map(|n| {
            realclient(&format!("ph-s2202-0{n}.blob.jsonl"))
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["convert", "--dest", "lake", "-q"];
    args.extend(inputs.iter().map(String::as_str));
    let r = run_in(cwd, &args, &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    cwd.join("lake")
}

#[test]
fn query_streams_a_big_result_to_csv_in_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let lake = six_lake(cwd);
    let events = sql_i64(&lake, "SELECT count(*) FROM events");
    let copies = 300;
    // every event, whole (its JSON payload too), 40 times over: far more than the lake's size
    let sql = format!("SELECT e.*, g.value AS copy FROM events e, generate_series(1, {copies}) g");
    let out = tempfile::tempdir().unwrap();
    let (code, rss) = peak_rss(
        &["query", "--lake", lake.to_str().unwrap(), &sql],
        out.path(),
    );
    let stderr = std::fs::read_to_string(out.path().join("stderr")).unwrap();
    assert_eq!(code, 0, "{stderr}");
    let csv_bytes = std::fs::metadata(out.path().join("stdout")).unwrap().len();
    // the count the query itself gives
    let n = run_in(
        cwd,
        &["query", &format!("SELECT count(*) AS n FROM ({sql}) q")],
        &[],
    );
    assert_eq!(n.stdout, format!("n\n{}\n", events * copies));
    // the CSV holds them all: parse it with Arrow's reader and count
    let schema = {
        let f = std::fs::File::open(out.path().join("stdout")).unwrap();
        let (s, _) = datafusion::arrow::csv::reader::Format::default()
            .with_header(true)
            .infer_schema(f, Some(1))
            .unwrap();
        // every column as text: only the records are counted
        let fields: Vec<_> = s
            .fields()
            .iter()
            .map(|f| {
                datafusion::arrow::datatypes::Field::new(
                    f.name(),
                    datafusion::arrow::datatypes::DataType::Utf8,
                    true,
                )
            })
            .collect();
        std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(fields))
    };
    let f = std::fs::File::open(out.path().join("stdout")).unwrap();
    assert!(
        schema.field(0).name() == "session_id" && schema.fields().last().unwrap().name() == "copy",
        "{schema:?}"
    );
    let reader = datafusion::arrow::csv::ReaderBuilder::new(schema)
        .with_header(true)
        .build(f)
        .unwrap();
    let parsed: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(parsed as i64, events * copies);
    // memory: what the result would take held whole is several times the peak of the run
    assert!(
        rss < csv_bytes,
        "peak RSS {rss} B for a {csv_bytes} B result: the result was held in memory"
    );
}

#[test]
fn a_table_shows_the_first_rows_and_counts_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    small_lake(cwd);
    let sql = "SELECT value FROM generate_series(1, 1000) ORDER BY value";
    let r = run_in(cwd, &["query", "--format", "table", sql], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    // +-------+ | value | +-------+ then 40 rows, +-------+, the count
    assert_eq!(lines.len(), 3 + 40 + 1 + 1, "{}", r.stdout);
    assert_eq!(lines[3], "| 1     |");
    assert_eq!(lines[42], "| 40    |");
    assert_eq!(
        lines[44],
        "… 960 more rows (1000 in all, 40 shown; all of them with --format csv, -o FILE or \
         --max-rows 0)"
    );
    let r = run_in(
        cwd,
        &["query", "--format", "table", "--max-rows", "0", sql],
        &[],
    );
    assert_eq!(r.stdout.lines().count(), 3 + 1000 + 1, "{}", r.stdout);
    // a result within the cap prints as before, with no count
    let r = run_in(cwd, &["query", "--format", "table", "SELECT 1 AS one"], &[]);
    assert_eq!(r.stdout, "+-----+\n| one |\n+-----+\n| 1   |\n+-----+\n");
    // on a terminal the table is the default (and capped); piped, CSV
    let r = run_in(cwd, &["query", sql], &[]);
    assert_eq!(r.stdout.lines().count(), 1001);
    if Path::new("/usr/bin/script").exists() {
        let cmd = format!("{} query \"{sql}\"", bin_path().display());
        let o = Command::new("/usr/bin/script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(cwd)
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(s.contains("… 960 more rows"), "{s}");
    }
}

#[test]
fn the_output_format_follows_the_file_extension() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    small_lake(cwd);
    let sql = "SELECT session_id, event_count FROM recordings";
    for (file, check) in [
        ("out.ndjson", "{\"session_id\":\"ph-s2202-01\","),
        ("out.jsonl", "{\"session_id\":\"ph-s2202-01\","),
        ("out.csv", "session_id,event_count\nph-s2202-01,"),
        ("out.txt", "session_id,event_count\nph-s2202-01,"),
    ] {
        let r = run_in(cwd, &["query", sql, "-o", file], &[]);
        assert_eq!(r.code, Some(0), "{file}: {}", r.stderr);
        let text = std::fs::read_to_string(cwd.join(file)).unwrap();
        assert!(text.starts_with(check), "{file}: {text}");
    }
    let r = run_in(cwd, &["query", sql, "-o", "out.parquet"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let b = std::fs::read(cwd.join("out.parquet")).unwrap();
    assert!(b.starts_with(b"PAR1") && b.ends_with(b"PAR1"));
    // an empty result keeps its header
    let r = run_in(
        cwd,
        &["query", "SELECT session_id FROM recordings WHERE false"],
        &[],
    );
    assert_eq!(r.stdout, "session_id\n");
}

#[test]
fn a_corrupt_part_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    let lake = small_lake(cwd);
    let (part, _) = tree(&lake)
        .into_iter()
        .find(|(p, _)| p.starts_with("events/") && p.ends_with(".parquet"))
        .unwrap();
    // a damaged footer: the last bytes overwritten
    let path = lake.join(&part);
    let mut b = std::fs::read(&path).unwrap();
    let n = b.len();
    b[n - 8..].copy_from_slice(b"garbage!");
    std::fs::write(&path, b).unwrap();
    let r = run_in(
        cwd,
        &["query", "SELECT session_id, event_type FROM events"],
        &[],
    );
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with(&format!("error: ./lake/{part}: unreadable Parquet part (")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("move the file out of the lake"),
        "{}",
        r.stderr
    );
}

#[test]
fn ordinary_sql_files_stdin_and_an_unrelated_queries_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    small_lake(cwd);
    // a SQL file without the library's header, with a placeholder it does not declare
    std::fs::write(
        cwd.join("mine.sql"),
        "-- how many recordings since a day\nSELECT count(*) AS n FROM recordings WHERE date >= ${d}\n",
    )
    .unwrap();
    let r = run_in(
        cwd,
        &["query", "--file", "mine.sql", "-p", "d=2000-01-01"],
        &[],
    );
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (Some(0), "n\n1\n"),
        "{}",
        r.stderr
    );
    let r = run_in(cwd, &["query", "--file", "mine.sql"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("no value for ${d} (give --param d=VALUE)"),
        "{}",
        r.stderr
    );
    // SQL from standard input
    for args in [&["query", "-"][..], &["query", "--file", "-"][..]] {
        let mut child = Command::new(bin_path())
            .args(args)
            .current_dir(cwd)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(
            child.stdin.as_mut().unwrap(),
            b"SELECT count(*) AS n FROM events WHERE session_id = 'ph-s2202-01' AND false",
        )
        .unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), "n\n0\n", "{args:?}");
    }
    // a queries/ folder of someone else's in the working directory
    std::fs::create_dir(cwd.join("queries")).unwrap();
    std::fs::write(cwd.join("queries/report.sql"), "select 1").unwrap();
    let r = run_in(cwd, &["query", "--list"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("rage_clicks"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("queries/report.sql is not a library query, passed over"),
        "{}",
        r.stderr
    );
}

#[test]
fn every_help_lists_the_exit_codes_and_schema_prints_what_parsers_read() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    for cmd in [
        "convert", "pull", "query", "schema", "demo", "export", "verify", "replay", "compact",
    ] {
        let r = run_in(cwd, &[cmd, "--help"], &[]);
        assert_eq!(r.code, Some(0), "{cmd}");
        assert!(
            r.stdout.contains("Exit codes:\n  0  success") && r.stdout.contains("  2  usage error"),
            "{cmd} --help: {}",
            r.stdout
        );
    }
    // every table's contract as one JSON document
    let r = run_in(cwd, &["schema"], &[]);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("one JSON document");
    for t in ["events", "recordings", "network_requests"] {
        assert!(doc[t].is_object(), "{t}");
    }
    let r = run_in(cwd, &["schema", "events", "--format", "sql"], &[]);
    assert!(
        r.stdout.contains("  date VARCHAR NOT NULL") && r.stdout.contains("PARTITIONED BY (date);"),
        "{}",
        r.stdout
    );
}
