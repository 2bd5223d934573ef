//! `replaylake state --lake URL`: the pull checkpoints a lake holds, as a table or JSON.
//!
//! A pull keeps its checkpoint in the lake (`_replaylake/state/pull-*.json`, one per host,
//! project and shard; see [`crate::source::posthog::state`]). This reads them without a pull:
//! where the next run starts, a window a stopped run left to resume, what is remembered, the
//! recordings PostHog deleted and those not flushed yet. A lake no pull wrote to has no
//! checkpoint, which is no error (exit 0, an empty JSON array).

use clap::{Args, ValueEnum};
use serde::Serialize;

use crate::cli::{exit, parse_key_value};
use crate::error::Result;
use crate::sink::Lake;
use crate::source::posthog::state::{PullState, load_all};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum StateFormat {
    /// One row per checkpoint, with notes below.
    Table,
    /// Every checkpoint whole, as a JSON array (`[]` when there is none).
    Json,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix
    /// [default: REPLAYLAKE_LAKE; else REPLAYLAKE_DEST, as pull writes; else ./lake].
    #[arg(long, short = 'l', visible_alias = "dest")]
    pub lake: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: StateFormat,
    /// object_store option for the lake, e.g. aws_endpoint=http://127.0.0.1:5000 (repeatable).
    #[arg(long = "storage-option", value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,
}

/// `--lake`, else `REPLAYLAKE_LAKE`, else `REPLAYLAKE_DEST` (what pull writes), else `./lake`.
pub(crate) fn lake_url(flag: Option<&str>) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("REPLAYLAKE_LAKE").ok())
        .or_else(|| std::env::var("REPLAYLAKE_DEST").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "./lake".into())
}

/// A checkpoint as `--format json` prints it: its path in the lake, then its contents.
#[derive(Serialize)]
struct Shown<'a> {
    file: &'a str,
    #[serde(flatten)]
    state: &'a PullState,
}

pub fn run(args: &StateArgs, rt: tokio::runtime::Handle) -> Result<i32> {
    let url = lake_url(args.lake.as_deref());
    let lake = Lake::open_existing(&url, &args.storage_options)?;
    rt.block_on(lake.check_is_lake())?;
    let states = rt.block_on(load_all(&lake))?;
    if args.format == StateFormat::Json {
        let shown: Vec<Shown> = states
            .iter()
            .map(|(file, state)| Shown { file, state })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&shown).expect("checkpoints serialize")
        );
        return Ok(exit::OK);
    }
    if states.is_empty() {
        println!(
            "no pull checkpoint in {url}: no pull has written to this lake (replaylake pull \
             --dest {url} keeps one under _replaylake/state/)"
        );
        return Ok(exit::OK);
    }
    println!("{}", table(&states));
    for (_, st) in &states {
        for note in notes(st, &url) {
            println!("  {}: {note}", source(st));
        }
    }
    Ok(exit::OK)
}

/// Where a checkpoint's recordings come from: host, project and shard.
fn source(st: &PullState) -> String {
    let shard = st
        .shard
        .as_deref()
        .map(|s| format!(" shard {s}"))
        .unwrap_or_default();
    format!("{} project {}{shard}", st.host, st.project)
}

/// An RFC 3339 time to the second, as the table shows it (the checkpoint keeps what it keeps).
fn to_second(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_string())
}

/// One row per checkpoint.
fn table(states: &[(String, PullState)]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    // the look of `query --format table` (arrow's pretty printer)
    t.load_preset("||--+-++|    ++++++");
    t.set_header([
        "source",
        "next pull starts at",
        "runs",
        "last run",
        "recently landed",
        "deleted",
        "pending",
    ]);
    for (_, st) in states {
        let start = match (&st.window, &st.watermark) {
            (Some(w), _) => w.since.clone(),
            (None, Some(w)) => w.clone(),
            (None, None) => "30 days before --until".into(),
        };
        t.add_row([
            source(st),
            to_second(&start),
            st.runs.to_string(),
            st.updated_at.as_deref().map(to_second).unwrap_or_default(),
            st.done.len().to_string(),
            st.skipped.len().to_string(),
            st.pending.len().to_string(),
        ]);
    }
    t
}

/// What a reader of the table should know of a checkpoint, in sentences.
fn notes(st: &PullState, url: &str) -> Vec<String> {
    let mut out = vec![];
    if let Some(w) = &st.window {
        out.push(format!(
            "a run stopped while pulling {} .. {}: the next run resumes that window",
            to_second(&w.since),
            to_second(&w.until)
        ));
    }
    let unpruned = st
        .skipped
        .values()
        .filter(|s| s.pruned_at.is_none())
        .count();
    if unpruned > 0 {
        out.push(format!(
            "{unpruned} recordings PostHog deleted (404/410) are not pruned yet: replaylake \
             prune --deleted --lake {url} removes them from the lake"
        ));
    }
    if !st.pending.is_empty() {
        out.push(format!(
            "{} recordings were listed before PostHog flushed them; the watermark waits for them",
            st.pending.len()
        ));
    }
    out
}
