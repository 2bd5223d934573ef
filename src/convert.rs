//! The convert job: many input files into a lake, decoded in parallel, with bounded memory.
//!
//! Worker threads (one per core by default) each take a file, decode it ([`crate::source`]),
//! order its sessions ([`crate::decode`]) and flatten them ([`crate::flatten`]); a bounded channel
//! hands the results to the one writer ([`crate::sink::LakeWriter`]), which buffers by partition
//! and writes parts. Memory is bounded by the writer's buffer plus, per worker, the file being
//! decoded (JSONL is streamed; one session's events are held while it is ordered).
//!
//! A session whose events are spread over several input files is detected when its second
//! fragment arrives; after the main pass, its files are decoded again, the fragments merged, and
//! the merged session replaces what was written.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use tokio::runtime::Handle;

use crate::decode::{DecodeOptions, OrderedSession, Session};
use crate::error::Result;
use crate::flatten::{TableBuilders, utc_date};
use crate::schema::Table;
use crate::sink::commit::{Added, FlatSession};
use crate::sink::writer::sort_session_batch;
use crate::sink::{Lake, LakeWriter, SinkOptions, SinkStats};
use crate::source::{Decoded, InputFile, decode_file};

/// Options of a convert job.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    pub decode: DecodeOptions,
    pub sink: SinkOptions,
    /// Decoding threads (default: available cores).
    pub threads: usize,
    /// Set (by a Ctrl-C handler) to stop early: no new file is started, the files already read
    /// are committed and the run is recorded as interrupted.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            decode: DecodeOptions::default(),
            sink: SinkOptions::default(),
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            stop: None,
        }
    }
}

/// One input's outcome, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    pub format: String,
    pub bytes: u64,
    pub sessions: Vec<String>,
    pub session_id_source: Vec<String>,
    pub events: u64,
    pub rejected: u64,
    pub rejects_file: Option<String>,
    /// About the input as a whole, e.g. a portable file without its end line (truncated).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What a convert job did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ConvertSummary {
    pub files: u64,
    pub input_bytes: u64,
    pub sessions: u64,
    pub events: u64,
    pub duplicates_dropped: u64,
    pub sessions_merged: u64,
    pub rejected: u64,
    /// Input files that held no events.
    pub files_without_events: u64,
    /// Sessions by where their id came from (data, flag, filename).
    pub session_id_sources: BTreeMap<String, u64>,
    pub elapsed_seconds: f64,
    pub sink: SinkStats,
    /// Inputs with something to report: records rejected, no events, or warnings. Kept to these so that
    /// memory does not grow with the number of inputs; every session's input file is in the
    /// `recordings` table (`source_file`).
    pub files_report: Vec<FileReport>,
    /// The run was stopped early (Ctrl-C): what it read is committed, the rest is not read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl ConvertSummary {
    /// True when some records were rejected.
    pub fn has_rejects(&self) -> bool {
        self.rejected > 0
    }
}

/// Orders, flattens and packs one session.
pub fn flatten_session(s: OrderedSession, converted_at_ms: i64) -> Result<Option<FlatSession>> {
    let Some(first) = s.events.first() else {
        return Ok(None);
    };
    let date = utc_date(first.timestamp);
    let mut b = TableBuilders::new();
    b.append_session(&s, converted_at_ms);
    let mut batches = b.finish()?;
    // Rows leave here in the tables' sort order, so the writer streams sessions into Parquet
    // without concatenating and sorting a whole part.
    batches.events = sort_session_batch(Table::Events, batches.events)?;
    batches.network_requests =
        sort_session_batch(Table::NetworkRequests, batches.network_requests)?;
    Ok(Some(FlatSession {
        session_id: s.session_id,
        checksum: s.checksum,
        date,
        converted_at_ms,
        batches: batches.shrink_to_fit(),
    }))
}

/// What was counted for a session when its first fragment arrived.
struct FirstSeen {
    input: u32,
    events: u64,
    duplicates: u64,
}

/// Finished files per decoding thread that may wait for the writer.
const PENDING_PER_THREAD: usize = 3;

struct Work {
    /// Index of the input in the job's list.
    input: u32,
    decoded: Decoded,
    flat: Vec<(FlatSession, u64, String)>,
}

fn process(input: u32, path: &Path, opts: &DecodeOptions, now_ms: i64) -> Result<Work> {
    let mut decoded = decode_file(path, opts)?;
    let mut flat = Vec::new();
    for s in std::mem::take(&mut decoded.sessions) {
        let id_source = s.id_source.as_str().to_string();
        let o = s.finish();
        let dups = o.duplicates_dropped;
        if let Some(f) = flatten_session(o, now_ms)? {
            flat.push((f, dups, id_source));
        }
    }
    Ok(Work {
        input,
        decoded,
        flat,
    })
}

/// Converts `inputs` into the lake. `progress` is called with the bytes of each finished file.
pub fn convert_files(
    inputs: &[InputFile],
    lake: Lake,
    opts: &ConvertOptions,
    rt: Handle,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ConvertSummary> {
    let started = Instant::now();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut writer = LakeWriter::open(lake, opts.sink.clone(), rt)?;
    let mut summary = ConvertSummary::default();
    // Per session: its first input and what was counted for it. Small, as it grows with the
    // sessions: the input is a number, and only sessions seen in several inputs (to merge) list
    // all of theirs.
    let mut first_seen: HashMap<Box<str>, FirstSeen> = HashMap::new();
    let mut to_merge: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    // (The list of inputs alone would take hundreds of GB before this could fail.)
    let input_count = u32::try_from(inputs.len()).expect("fewer than 2^32 inputs");

    let threads = opts.threads.max(1);
    let (work_tx, work_rx) = crossbeam_channel::unbounded::<(u32, &InputFile)>();
    for (i, f) in (0..input_count).zip(inputs) {
        work_tx.send((i, f)).expect("receiver alive");
    }
    drop(work_tx);
    // Room for a few finished files per worker, so that workers keep decoding while the writer
    // encodes a part (with 2 cores the OS then overlaps the two instead of idling one).
    let (res_tx, res_rx) = crossbeam_channel::bounded::<Result<Work>>(threads * PENDING_PER_THREAD);

    let stopped = || {
        opts.stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    };
    let outcome: Result<()> = std::thread::scope(|scope| {
        for _ in 0..threads {
            let work_rx = work_rx.clone();
            let res_tx = res_tx.clone();
            let dopts = &opts.decode;
            scope.spawn(move || {
                for (i, f) in work_rx.iter() {
                    if stopped() {
                        break;
                    }
                    let r = process(i, &f.path, dopts, now_ms);
                    if res_tx.send(r).is_err() {
                        break;
                    }
                }
            });
        }
        drop(res_tx);
        let mut first_err = None;
        for r in res_rx.iter() {
            if stopped() {
                // files decoded but not taken yet are dropped: a rerun reads them
                summary.interrupted = true;
            }
            if first_err.is_some() || summary.interrupted {
                continue;
            }
            let mut work = match r {
                Ok(w) => w,
                Err(e) => {
                    first_err = Some(e);
                    continue;
                }
            };
            let d = &work.decoded;
            summary.files += 1;
            summary.input_bytes += d.bytes;
            summary.rejected += d.rejects.len() as u64;
            let rejects_file = match writer.write_rejects(&d.file, &d.fingerprint, &d.rejects) {
                Ok(f) => f,
                Err(e) => {
                    first_err = Some(e);
                    continue;
                }
            };
            for r in d.rejects.iter().take(3) {
                tracing::warn!(file = %r.file, line = r.line, reason = %r.reason, "record rejected");
            }
            let mut report = FileReport {
                file: d.file.clone(),
                format: d.format.clone(),
                bytes: d.bytes,
                sessions: vec![],
                session_id_source: vec![],
                events: 0,
                rejected: d.rejects.len() as u64,
                rejects_file,
                warnings: d.warnings.clone(),
            };
            for (s, dups, id_source) in std::mem::take(&mut work.flat) {
                report.sessions.push(s.session_id.clone());
                report.session_id_source.push(id_source.clone());
                let events = s.batches.events.num_rows() as u64;
                report.events += events;
                let sid = s.session_id.clone();
                match writer.add(s) {
                    Ok(Added::SeenInThisRun) => {
                        let files = to_merge.entry(sid).or_default();
                        if !files.contains(&work.input) {
                            files.push(work.input);
                        }
                    }
                    Ok(_) => {
                        first_seen.insert(
                            sid.into(),
                            FirstSeen {
                                input: work.input,
                                events,
                                duplicates: dups,
                            },
                        );
                        summary.sessions += 1;
                        summary.events += events;
                        summary.duplicates_dropped += dups;
                        *summary.session_id_sources.entry(id_source).or_default() += 1;
                    }
                    Err(e) => {
                        first_err = Some(e);
                        break;
                    }
                }
            }
            progress(report.bytes);
            tracing::info!(file = %report.file, format = %report.format, sessions = report.sessions.len(),
                events = report.events, rejected = report.rejected, "input read");
            if report.events == 0 {
                summary.files_without_events += 1;
            }
            if report.events == 0 || report.rejected > 0 || !report.warnings.is_empty() {
                summary.files_report.push(report);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    });
    outcome?;
    // a stop that came after the last result was taken, before every file was read
    if stopped() && summary.files < u64::from(input_count) {
        summary.interrupted = true;
    }

    // Sessions spread over several inputs: decode their files again and merge the fragments
    // (not after an interruption: a rerun adds what the fragments lack).
    if summary.interrupted {
        to_merge.clear();
    }
    for (sid, more) in &to_merge {
        let Some(first) = first_seen.get(sid.as_str()) else {
            continue;
        };
        let (counted_events, counted_dups) = (first.events, first.duplicates);
        let mut files = vec![first.input];
        files.extend(more.iter().filter(|&&i| i != first.input));
        let mut merged: Option<Session> = None;
        for &f in &files {
            let mut d = decode_file(&inputs[f as usize].path, &opts.decode)?;
            if let Some(i) = d.sessions.iter().position(|s| &s.session_id == sid) {
                let s = d.sessions.swap_remove(i);
                match &mut merged {
                    Some(m) => m.absorb(s),
                    None => merged = Some(s),
                }
            }
        }
        let Some(m) = merged else { continue };
        let o = m.finish();
        let (dups, events) = (o.duplicates_dropped, o.events.len() as u64);
        if let Some(flat) = flatten_session(o, now_ms)? {
            tracing::info!(session = %sid, files = files.len(), "merged a session spread over several inputs");
            // The first fragment was counted; count the merged session instead.
            summary.events = summary.events - counted_events + events;
            summary.duplicates_dropped = summary.duplicates_dropped - counted_dups + dups;
            summary.sessions_merged += 1;
            writer.replace(flat)?;
        }
    }
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    let brief = serde_json::json!({
        "files": summary.files,
        "input_bytes": summary.input_bytes,
        "sessions": summary.sessions,
        "events": summary.events,
        "rejected": summary.rejected,
        "interrupted": summary.interrupted,
    });
    summary.sink = writer.finish(&brief)?;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
