//! `replaylake export --lake URL --format posthog|rrweb|portable --out DIR_OR_URL`.

use std::io::IsTerminal;
use std::sync::Mutex;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{exit, human_bytes, parse_key_value};
use crate::error::{Error, Result};
use crate::export::{
    Compress, Destination, ExportOptions, ExportSummary, Format, Progress, Selection, export,
};
use crate::sink::Lake;

const EXAMPLES: &str = "\
Examples:
  # every session, for PostHog's \"load from file\" (Replay > Load from file)
  replaylake export --lake ./lake --format posthog --out ./exports
  # two sessions as rrweb event arrays (one file per window), for rrweb-player
  replaylake export --lake ./lake --format rrweb --session ID1 --session ID2 --out ./rrweb
  # sessions a SQL condition over the recordings table selects, gzip'd, to S3
  replaylake export --lake s3://bucket/lake --format portable \\
      --where \"click_count > 10 AND date >= '2026-11-01'\" --compress gzip --out s3://bucket/exports
  # one session to stdout
  replaylake export --lake ./lake --format rrweb --session ID --out - > session.json

Files (named from the session id, with bytes outside [A-Za-z0-9_-] escaped as %XX, which
convert decodes again):
  posthog   export-<id>-ph-recording.json    version 2023-04-28; a Meta is inserted before a
                                              FullSnapshot that has none (counted in the summary)
  rrweb     <id>.<n>.rrweb.json              window n (1, 2, ... in order of first appearance)
  portable  <id>.portable.ndjson             replaylake's archive (schemas/portable/)
  --compress adds .gz or .zst.

Exit codes:
  0  every selected session was exported (also when the selection is empty: it says so)
  1  the export failed (lake unreadable, bad --where, output not writable)
  2  usage error (e.g. --out - with more than one session selected)
  6  completed, but some sessions could not be exported: each is listed with the reason";

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum FormatArg {
    /// PostHog's "Export to file" JSON (version 2023-04-28), for its "load from file".
    Posthog,
    /// A JSON array of one window's rrweb events, for rrweb-player and rrweb's Replayer.
    Rrweb,
    /// replaylake's portable NDJSON archive (everything the lake holds of a session).
    Portable,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CompressArg {
    Gzip,
    Zstd,
}

#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct ExportArgs {
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.
    #[arg(long, short = 'l', default_value = "./lake", env = "REPLAYLAKE_LAKE")]
    pub lake: String,
    /// File format.
    #[arg(long, short = 'f', value_enum)]
    pub format: FormatArg,
    /// Where the files go: a directory or an s3://, gs://, az:// URL; `-` writes the one file of
    /// a single session to stdout.
    #[arg(long, short = 'o')]
    pub out: String,
    /// A session to export (repeatable). Without --session or --where, every session is.
    #[arg(long = "session", short = 's', conflicts_with = "where_sql")]
    pub sessions: Vec<String>,
    /// Export the sessions a SQL condition over the recordings table selects, e.g.
    /// "click_count > 10 AND date >= '2026-11-01'" (columns: `replaylake schema recordings`).
    #[arg(long = "where", short = 'w')]
    pub where_sql: Option<String>,
    /// Compress each file (.gz / .zst).
    #[arg(long, value_enum)]
    pub compress: Option<CompressArg>,
    /// object_store option for the lake, and for --out unless --out-storage-option is given
    /// (repeatable), e.g. aws_endpoint=http://127.0.0.1:5000.
    #[arg(long = "storage-option", value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,
    /// object_store option for --out alone (repeatable): when the output is another store.
    #[arg(long = "out-storage-option", value_parser = parse_key_value)]
    pub out_storage_options: Vec<(String, String)>,
    /// Print the summary as JSON instead of text (to stderr with --out -).
    #[arg(long)]
    pub json: bool,
}

impl ExportArgs {
    fn options(&self) -> ExportOptions {
        ExportOptions {
            format: match self.format {
                FormatArg::Posthog => Format::Posthog,
                FormatArg::Rrweb => Format::Rrweb,
                FormatArg::Portable => Format::Portable,
            },
            compress: match self.compress {
                None => Compress::None,
                Some(CompressArg::Gzip) => Compress::Gzip,
                Some(CompressArg::Zstd) => Compress::Zstd,
            },
            selection: match (&self.where_sql, self.sessions.is_empty()) {
                (Some(w), _) => Selection::Where(w.clone()),
                (None, false) => Selection::Sessions(self.sessions.clone()),
                (None, true) => Selection::All,
            },
        }
    }

    fn destination(&self) -> Result<Destination> {
        if self.out == "-" {
            return Ok(Destination::Stream(Mutex::new(Box::new(std::io::stdout()))));
        }
        let opts = if self.out_storage_options.is_empty() {
            &self.storage_options
        } else {
            &self.out_storage_options
        };
        Ok(Destination::Store(Lake::open(&self.out, opts)?))
    }
}

/// The lake to read: it must exist and be a lake (opening alone would create a local one).
fn open_lake(args: &ExportArgs, rt: &tokio::runtime::Handle) -> Result<Lake> {
    let lake = Lake::open_existing(&args.lake, &args.storage_options)?;
    rt.block_on(lake.check_is_lake())?;
    Ok(lake)
}

pub fn run(args: &ExportArgs, quiet: bool, rt: tokio::runtime::Handle) -> Result<i32> {
    if args.out == "-" && args.sessions.len() > 1 {
        eprintln!(
            "error: --out - writes one session to stdout, but {} are given with --session",
            args.sessions.len()
        );
        return Ok(exit::USAGE);
    }
    let lake = open_lake(args, &rt)?;
    let dest = args.destination()?;
    let opts = args.options();
    let bar = if !quiet && std::io::stderr().is_terminal() {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{spinner} exporting [{bar:30}] {pos}/{len} sessions {per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let on = |p: Progress| match p {
        Progress::Selected(n) => {
            bar.set_length(n);
            tracing::info!(sessions = n, "selected");
        }
        Progress::Session => bar.inc(1),
    };
    let result = rt.block_on(export(&lake, &dest, &opts, &on));
    bar.finish_and_clear();
    let summary = match result {
        Ok(s) => s,
        Err(Error::Usage(m)) => {
            eprintln!("error: {m}");
            return Ok(exit::USAGE);
        }
        Err(e) => return Err(e),
    };
    if quiet && !args.json {
        // only what went wrong
        for f in &summary.failed {
            eprintln!("error: session {} not exported: {}", f.session_id, f.error);
        }
    } else {
        print_summary(&summary, args, dest.is_stream());
    }
    Ok(if summary.failed.is_empty() {
        exit::OK
    } else {
        exit::NOT_EXPORTED
    })
}

fn print_summary(s: &ExportSummary, args: &ExportArgs, to_stderr: bool) {
    let mut text = String::new();
    if args.json {
        text = serde_json::to_string_pretty(s).expect("summary serializes");
    } else if s.sessions_selected == 0 {
        text.push_str(&format!(
            "no sessions selected in {}{}: nothing exported",
            args.lake,
            match &args.where_sql {
                Some(w) => format!(" by --where {w:?}"),
                None => " (the lake holds none)".into(),
            }
        ));
    } else {
        text.push_str(&format!(
            "exported {} of {} sessions from {} to {} as {} in {:.2}s: {} files, {}, {} events",
            s.sessions_exported,
            s.sessions_selected,
            args.lake,
            s.out,
            s.format,
            s.elapsed_seconds,
            s.files,
            human_bytes(s.bytes),
            s.events
        ));
        if s.format == "posthog" {
            text.push_str(&format!(
                "\n  Meta events inserted before FullSnapshots without one: {}",
                s.metas_inserted
            ));
        }
        if !s.failed.is_empty() {
            text.push_str(&format!("\n  not exported: {}", s.failed.len()));
            for f in &s.failed {
                text.push_str(&format!("\n    {}: {}", f.session_id, f.error));
            }
        }
    }
    if to_stderr || (s.sessions_selected == 0 && !args.json) {
        eprintln!("{text}");
    } else {
        println!("{text}");
    }
}
