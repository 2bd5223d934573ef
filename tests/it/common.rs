//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use datafusion::arrow::record_batch::RecordBatch;
use replaylake::convert::{ConvertOptions, ConvertSummary, convert_files};
use replaylake::sink::Lake;
use replaylake::source::expand_inputs;
use serde_json::Value;

/// tests/data
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub fn realclient(name: &str) -> PathBuf {
    data().join("realclient").join(name)
}

pub fn public(name: &str) -> PathBuf {
    data().join("public").join(name)
}

/// A tokio runtime for the library calls that need one.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Converts `inputs` into the lake at `dest` through the library API.
pub fn convert(inputs: &[&Path], dest: &Path, opts: &ConvertOptions) -> ConvertSummary {
    let rt = runtime();
    let files = expand_inputs(
        &inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let lake = Lake::open(&dest.display().to_string(), &[]).unwrap();
    let handle = rt.handle().clone();
    std::thread::scope(|s| {
        s.spawn(|| convert_files(&files, lake, opts, handle, &|_| {}))
            .join()
            .unwrap()
    })
    .unwrap()
}

/// Runs SQL over the lake at `dest` with replaylake's query layer.
pub fn sql(dest: &Path, q: &str) -> Vec<RecordBatch> {
    let rt = runtime();
    rt.block_on(async {
        let lake = Lake::open(&dest.display().to_string(), &[]).unwrap();
        let ctx = replaylake::query::lake_context(&lake).await.unwrap();
        replaylake::query::run_sql(&ctx, q).await.unwrap()
    })
}

/// The single i64 value of a one-row, one-column query.
pub fn sql_i64(dest: &Path, q: &str) -> i64 {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int64Type;
    let b = sql(dest, q);
    let b: Vec<_> = b.into_iter().filter(|b| b.num_rows() > 0).collect();
    assert_eq!(b.len(), 1, "{q}: expected one batch");
    let col = datafusion::arrow::compute::cast(
        b[0].column(0),
        &datafusion::arrow::datatypes::DataType::Int64,
    )
    .unwrap();
    col.as_primitive::<Int64Type>().value(0)
}

/// The replaylake binary: cargo's, or `REPLAYLAKE_BIN` (worktrees that share one target
/// directory overwrite each other's `debug/replaylake`; a copy of one's own build stays put).
pub fn bin_path() -> PathBuf {
    std::env::var_os("REPLAYLAKE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_replaylake")))
}

/// Runs the replaylake binary.
pub fn bin(args: &[&str]) -> Output {
    Command::new(bin_path())
        .args(args)
        .output()
        .expect("binary runs")
}

/// Every file under `dir`, relative, with its size, sorted. Files that vanish while it looks
/// (a running writer renames its staging files) are passed over.
pub fn tree(dir: &Path) -> Vec<(String, u64)> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<(String, u64)>) {
        let Ok(entries) = std::fs::read_dir(d) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                walk(base, &p, out);
            } else {
                out.push((
                    p.strip_prefix(base).unwrap().display().to_string(),
                    meta.len(),
                ));
            }
        }
    }
    let mut out = vec![];
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// A Python interpreter that has duckdb (set up by scripts/test.sh), as REPLAYLAKE_PYTHON.
pub fn python() -> String {
    std::env::var("REPLAYLAKE_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

#[derive(Debug)]
pub struct Truth {
    pub clicks: i64,
    pub keypresses: i64,
    /// The PostHog session id of the recording.
    pub session_id: String,
}

/// What the scripted user of a realclient recording did, as PostHog counts it.
pub fn truth(name: &str) -> Truth {
    let t: Value = serde_json::from_str(
        &std::fs::read_to_string(realclient(&format!("{name}.truth.json"))).unwrap(),
    )
    .unwrap();
    let c = &t["counts"];
    // PostHog counts a DblClick as a click too: the DOM clicks plus the dblclick events the
    // browser fired (one when a click's detail reaches 2).
    let dbl = t["clicks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["click_count"] == 2)
        .count() as i64;
    Truth {
        clicks: c["dom_click_events"].as_i64().unwrap() + dbl,
        keypresses: c["input_value_changes"].as_i64().unwrap()
            + c["checkbox_toggles"].as_i64().unwrap(),
        session_id: t["recording"]["posthog_session_ids"][0]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Runs the replaylake binary with stdout and stderr in files under `out_dir`; returns its exit
/// code and its peak resident memory in bytes (the child's own, from `wait4`).
pub fn bin_peak_rss(args: &[&str], out_dir: &Path) -> (i32, u64) {
    let out = std::fs::File::create(out_dir.join("stdout")).unwrap();
    let err = std::fs::File::create(out_dir.join("stderr")).unwrap();
    let child = Command::new(bin_path())
        .args(args)
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("binary runs");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 writes into the two out-parameters.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "killed: status {status}");
    // ru_maxrss is in KiB on Linux
    (libc::WEXITSTATUS(status), usage.ru_maxrss as u64 * 1024)
}
