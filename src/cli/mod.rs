//! The `replaylake` command line: one module per command over the library's public functions.

pub mod compact;
pub mod convert;
pub mod demo;
pub mod export;
pub mod prune;
pub mod pull;
pub mod query;
pub mod render;
pub mod replay;
pub mod schema;
pub mod state;
pub mod verify;

use clap::{Args, Parser, Subcommand};

/// Exit codes of the binary.
pub mod exit {
    /// Everything worked.
    pub const OK: i32 = 0;
    /// The job failed (I/O, a destination or lake that is not there, a server that cannot be
    /// reached); nothing was committed that a rerun would not finish.
    pub const FAILED: i32 = 1;
    /// Usage error: the command line can never work as given (found by clap, or at run time:
    /// a malformed or unknown value, options that do not go together). Nothing was done.
    pub const USAGE: i32 = 2;
    /// The job completed, but some input records were rejected (see `<dest>/_rejects/`).
    pub const REJECTED: i32 = 3;
    /// `pull --fail-on-skipped` completed, but some recordings were skipped because PostHog
    /// answered 404 or 410 (deleted); they are recorded in the checkpoint and not asked for again.
    /// Without the flag such a run exits 0 and lists them in its summary.
    pub const SKIPPED: i32 = 4;
    /// `verify` found a problem in some files (damaged, truncated, out of order, not portable).
    pub const INVALID: i32 = 5;
    /// `export` (or `render --where`) completed, but some selected sessions could not be
    /// exported (rendered); each is listed with the reason.
    pub const NOT_EXPORTED: i32 = 6;
    /// `convert` was interrupted (Ctrl-C, as a shell reports a SIGINT): the files it had read are
    /// committed and the run is recorded; a rerun converts the rest.
    pub const INTERRUPTED: i32 = 130;
}

/// The exit codes, as every `--help` lists them (the top level's and each command's).
macro_rules! exit_codes_help {
    () => {
        "\
Exit codes:
  0  success
  1  the job failed (the error says what and where); rerunning is safe
  2  usage error: the command line can never work as given (a malformed or unknown value,
     options that do not go together); nothing was done, and a retry would fail the same way
  3  completed, but some input records were rejected: they are listed, with file, line and
     reason, under <dest>/_rejects/
  4  pull --fail-on-skipped completed, but some recordings were skipped: PostHog answered 404
     or 410 (deleted); they are listed in the summary and the checkpoint (3 wins when both
     apply). Without the flag such a run exits 0
  5  verify: some files are not intact portable files (each one's first problem is printed)
  6  export (render --where) completed, but some sessions could not be exported (rendered):
     listed, with the reason, in the summary
  130  convert was interrupted (Ctrl-C): the files it read are committed; rerun to finish"
    };
}

/// The exit codes section of every command's `--help`.
pub const EXIT_CODES_HELP: &str = exit_codes_help!();

const AFTER_HELP: &str = concat!(
    exit_codes_help!(),
    "

Environment:
  RUST_LOG            overrides -v/-q with a tracing filter (e.g. replaylake=debug)
  POSTHOG_API_KEY     pull: the personal API key (never printed, logged or stored)
  POSTHOG_HOST, POSTHOG_PROJECT_ID  pull: defaults of --host and --project
  REPLAYLAKE_DEST     convert, pull: default of --dest
  REPLAYLAKE_LAKE     query, export, replay, compact: default of --lake (compact also reads
                      REPLAYLAKE_DEST when REPLAYLAKE_LAKE is unset)
  AWS_*, GOOGLE_*, AZURE_*  credentials for s3://, gs://, az:// destinations (read by object_store)"
);

/// Move PostHog session replays into your own data lake as typed Parquet.
#[derive(Debug, Parser)]
#[command(name = "replaylake", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v: each input, part and request; -vv debug; -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors: no progress bar, no summary, no warnings (the exit code still says whether
    /// records were rejected; a --json summary is still printed, as it was asked for).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log lines on stderr as text, or as JSON: one object per line (timestamp, level, fields,
    /// message), for log collectors. Summaries and results on stdout are unchanged.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert replay files (exports, blob JSONL, capture payloads, rrweb JSON, gzip of any) into a lake.
    Convert(convert::ConvertArgs),
    /// Print a table's published schema (all tables without TABLE).
    Schema(schema::SchemaArgs),
    /// Convert the bundled sample recordings into ./lake (refusing a lake that is not a demo's) and query it.
    Demo(demo::DemoArgs),
    /// Pull recordings from the PostHog API into a lake, incrementally and within its rate limits.
    Pull(pull::PullArgs),
    /// Run SQL over a lake: ad hoc, or a query of the queries/ library (--file NAME, --list).
    Query(query::QueryArgs),
    /// Merge the small parts of each partition into large files (faster queries in any engine).
    Compact(compact::CompactArgs),
    /// Export recordings from a lake as files PostHog ("load from file"), rrweb players or
    /// replaylake (portable) load: one per session, to a directory, an object store or stdout.
    Export(export::ExportArgs),
    /// Check portable files (framing, sequence, checksums, end line): ok, or the first problem.
    Verify(verify::VerifyArgs),
    /// Write one recording as an HTML page that plays it offline (rrweb-player inside), with its moments.
    Replay(replay::ReplayArgs),
    /// Render one recording (or many, --where) as a video: MP4, WebM or GIF, via headless Chromium and ffmpeg.
    Render(render::RenderArgs),
    /// Print a lake's pull checkpoints: where the next pull starts, what it remembers, the
    /// recordings PostHog deleted and those it has not flushed yet.
    ///
    /// A lake no pull wrote to holds no checkpoint: that is no error (it says so and exits 0;
    /// --format json prints []). A --lake that is no lake exits 1.
    State(state::StateArgs),
    /// Remove from a lake the recordings PostHog deleted (--deleted): those a pull found gone
    /// (404/410), as its checkpoint remembers them.
    Prune(prune::PruneArgs),
}

/// Options of the commands that write a lake (`convert`, `pull`).
#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Memory for buffered rows before a part is written, in MiB (also the size of a part before
    /// compression).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub buffer_mb: u64,
    /// object_store option for the destination, e.g. aws_endpoint=http://127.0.0.1:5000 (repeatable).
    #[arg(long = "storage-option", value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// When another run is writing to the lake: wait up to this long for it (e.g. 10m), instead
    /// of stopping at once.
    #[arg(long, default_value = "0s", value_parser = crate::cli::pull::parse_duration)]
    pub wait: std::time::Duration,
}

/// Parses `key=value`.
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("expected key=value, got {s:?}"))?;
    if k.is_empty() {
        return Err(format!("empty key in {s:?}"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// Human-readable bytes.
pub fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}
