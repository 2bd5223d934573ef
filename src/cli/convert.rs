//! `replaylake convert INPUT... --dest URL`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{SinkArgs, exit, human_bytes};
use crate::convert::{ConvertOptions, ConvertSummary, convert_files};
use crate::decode::DecodeOptions;
use crate::decode::envelope::session_id_from_file_name;
use crate::decode::limit::DEFAULT_MAX_DECOMPRESSED;
use crate::error::{Error, Result};
use crate::sink::{Lake, Partitioning, SinkOptions};
use crate::source::expand_inputs_in;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PartitionBy {
    /// date=YYYY-MM-DD directories; many sessions share a file (default).
    Date,
    /// date=YYYY-MM-DD/session_id=ID: one file per recording and table.
    #[value(name = "date,session")]
    DateSession,
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Files, directories (read recursively) or glob patterns, local or in an object store
    /// (s3://, gs://, az://: one object, a prefix, or a glob under it; opened with the same
    /// credentials and --storage-option as the destination). Formats are detected from content.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.
    #[arg(long, short = 'd', default_value = "./lake", env = "REPLAYLAKE_DEST")]
    pub dest: String,
    /// Session id for inputs that do not name one (blob JSONL, rrweb arrays, NDJSON). Without it,
    /// the file name is used when it has the form <session_id>.<anything> (%XX escapes in the id
    /// decoded, as `export` writes them). Inputs whose names give different sessions are refused
    /// with it (exit 2): it would merge different recordings into one.
    #[arg(long)]
    pub session_id: Option<String>,
    /// Partition layout.
    #[arg(long, value_enum, default_value = "date")]
    pub partition_by: PartitionBy,
    /// Decoding threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Most MiB one compressed payload (cv field, snappy block) or one record of a gzip/zstd
    /// input may decompress to; larger ones are rejected (against decompression bombs).
    #[arg(long, default_value_t = (DEFAULT_MAX_DECOMPRESSED >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_decompressed_mb: u64,
    #[command(flatten)]
    pub sink: SinkArgs,
}

pub fn run(args: &ConvertArgs, quiet: bool, rt: tokio::runtime::Handle) -> Result<i32> {
    let inputs = expand_inputs_in(&args.inputs, &args.sink.storage_options, &rt)?;
    if let Some(sid) = &args.session_id {
        check_one_recording(sid, &inputs)?;
    }
    let lake = Lake::open(&args.dest, &args.sink.storage_options)?;
    let mut opts = ConvertOptions {
        decode: DecodeOptions {
            session_id: args.session_id.clone(),
            max_decompressed: (args.max_decompressed_mb as usize) << 20,
        },
        sink: SinkOptions {
            partitioning: match args.partition_by {
                PartitionBy::Date => Partitioning::Date,
                PartitionBy::DateSession => Partitioning::DateSession,
            },
            buffer_bytes: (args.sink.buffer_mb as usize) << 20,
            lease_wait: args.sink.wait,
        },
        ..Default::default()
    };
    if let Some(t) = args.threads {
        opts.threads = t.max(1);
    }
    let total: u64 = inputs.iter().map(|f| f.size).sum();
    let bar = if !quiet && std::io::stderr().is_terminal() {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{spinner} converting [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    // Ctrl-C: stop taking files, commit what was read and record the run; a second one stops at
    // once (the next run recovers, as after a kill).
    let stop = Arc::new(AtomicBool::new(false));
    opts.stop = Some(stop.clone());
    let handler = {
        let bar = bar.clone();
        rt.spawn(async move {
            if tokio::signal::ctrl_c().await.is_err() {
                return;
            }
            bar.suspend(|| {
                eprintln!(
                    "interrupted: committing the files already read, then stopping (Ctrl-C again \
                     stops at once; a rerun finishes either way)"
                )
            });
            stop.store(true, Ordering::Relaxed);
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted again: stopping now; the next run recovers the lake");
                std::process::exit(exit::INTERRUPTED);
            }
        })
    };
    let summary = convert_files(&inputs, lake, &opts, rt, &|n| bar.inc(n));
    handler.abort();
    let summary = summary?;
    bar.finish_and_clear();
    if summary.interrupted {
        eprintln!(
            "interrupted: {} of {} files converted and committed into {} (run recorded under \
             _replaylake/runs/); rerun the same command to convert the rest",
            summary.files,
            inputs.len(),
            args.dest
        );
        if args.sink.json {
            print_summary(&summary, &args.dest, true);
        }
        return Ok(exit::INTERRUPTED);
    }
    if !quiet || args.sink.json {
        print_summary(&summary, &args.dest, args.sink.json);
    }
    Ok(if summary.has_rejects() {
        exit::REJECTED
    } else {
        exit::OK
    })
}

/// `--session-id` puts every input that does not name its session into that one session. Over
/// files whose names name different sessions (`a.blob.jsonl b.blob.jsonl`) that would merge
/// different recordings into one, for good (a later input adds to a session, never removes), so
/// it is refused before anything is read: a usage error rather than a warning after the fact.
/// Files of one recording share a name stem (`<id>.1.jsonl`, `<id>.2.jsonl`) and pass.
fn check_one_recording(sid: &str, inputs: &[crate::source::InputFile]) -> Result<()> {
    let mut named: Vec<String> = vec![];
    for f in inputs {
        let id = session_id_from_file_name(&f.name()).unwrap_or_default();
        if !named.contains(&id) {
            named.push(id);
        }
    }
    if named.len() < 2 {
        return Ok(());
    }
    let shown: Vec<&str> = named.iter().take(3).map(String::as_str).collect();
    let more = if named.len() > 3 { ", …" } else { "" };
    Err(Error::Usage(format!(
        "--session-id {sid} would merge {} input files whose names give {} different sessions \
         ({}{more}) into one recording: give the files of one recording at a time, or leave \
         --session-id out and let each file's name give its session (files of one recording \
         named <id>.1.jsonl, <id>.2.jsonl join as one)",
        inputs.len(),
        named.len(),
        shown.join(", ")
    )))
}

pub fn print_summary(s: &ConvertSummary, dest: &str, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(s).expect("summary serializes")
        );
        return;
    }
    let mb = s.input_bytes as f64 / 1e6;
    let rate = if s.elapsed_seconds > 0.0 {
        mb / s.elapsed_seconds
    } else {
        0.0
    };
    println!(
        "converted {} files ({}) into {dest} in {:.2}s ({rate:.1} MB/s)",
        s.files,
        human_bytes(s.input_bytes),
        s.elapsed_seconds
    );
    let sources: Vec<String> = s
        .session_id_sources
        .iter()
        .map(|(k, v)| format!("{v} from {k}"))
        .collect();
    println!(
        "  sessions: {} found (ids: {}), {} written, {} unchanged, {} updated (an older version gained events), {} merged from several files",
        s.sessions,
        if sources.is_empty() {
            "none".to_string()
        } else {
            sources.join(", ")
        },
        s.sink.sessions_written,
        s.sink.sessions_unchanged,
        s.sink.sessions_replaced,
        s.sessions_merged
    );
    println!(
        "  events: {} ({} duplicates dropped)",
        s.events, s.duplicates_dropped
    );
    if s.sink.events_kept_from_lake > 0 {
        println!(
            "  kept: {} events the lake held that the inputs lacked (an input adds to a session, never removes)",
            s.sink.events_kept_from_lake
        );
    }
    let rows: Vec<String> = s
        .sink
        .rows
        .iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect();
    println!(
        "  rows written: {}",
        if rows.is_empty() {
            "none (nothing new)".to_string()
        } else {
            rows.join(", ")
        }
    );
    println!(
        "  output: {} files, {} ({} files replaced, {} parts rewritten{})",
        s.sink.files_written,
        human_bytes(s.sink.bytes_written),
        s.sink.files_deleted,
        s.sink.parts_rewritten,
        if s.sink.journals_recovered > 0 {
            format!(
                ", {} interrupted commits finished",
                s.sink.journals_recovered
            )
        } else {
            String::new()
        }
    );
    for f in &s.files_report {
        if f.sessions.is_empty() && f.rejected == 0 {
            println!("  note: {} ({}) held no events", f.file, f.format);
        }
        for w in &f.warnings {
            println!("  warning: {}: {w}", f.file);
        }
    }
    if s.rejected > 0 {
        println!(
            "  rejected records: {} — kept with file, line and reason in:",
            s.rejected
        );
        for f in &s.sink.rejects_files {
            println!("    {}/{f}", dest.trim_end_matches('/'));
        }
    } else {
        println!("  rejected records: 0");
    }
}
