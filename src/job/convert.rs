//! The files job (`convert`): many inputs, local or in an object store, into a lake, decoded in
//! parallel, with bounded memory.
//!
//! Worker threads (one per core by default) each take a file, decode it ([`crate::source`]),
//! order its sessions ([`crate::decode`]) and flatten them ([`crate::flatten`]); a bounded channel
//! hands the results to the job's [`Landing`], whose writer buffers by partition and writes
//! parts. Memory is bounded by the writer's buffer plus, per worker, the file being
//! decoded (JSONL is streamed; one session's events are held while it is ordered).
//!
//! A session whose events are spread over several input files is detected when its second
//! fragment arrives; after the main pass, its files are decoded again, the fragments merged, and
//! the merged session replaces what was written.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Serialize;
use tokio::runtime::Handle;

use super::landing::{Landable, Landing};
use crate::decode::{DecodeOptions, OrderedSession, Session};
use crate::error::Result;
pub use crate::flatten::flatten_session;
use crate::sink::commit::Added;
use crate::sink::{Lake, SinkOptions, SinkStats};
use crate::source::{Decoded, InputFile, decode_input};

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

/// What was counted for a session when its first fragment arrived.
struct FirstSeen {
    input: u32,
    events: u64,
    duplicates: u64,
}

/// Finished files per decoding thread that may wait for the writer.
const PENDING_PER_THREAD: usize = 3;

/// One decoded input, its sessions flattened (with where each id came from).
struct Work {
    /// Index of the input in the job's list.
    input: u32,
    decoded: Decoded,
    flat: Vec<(Landable, String)>,
}

/// Orders and flattens a session (on a worker thread).
fn landable(s: OrderedSession, now_ms: i64) -> Result<Option<Landable>> {
    let (events, duplicates) = (s.events.len() as u64, s.duplicates_dropped);
    Ok(flatten_session(s, now_ms)?.map(|session| Landable {
        session,
        events,
        duplicates,
    }))
}

fn process(input: u32, file: &InputFile, opts: &DecodeOptions, now_ms: i64) -> Result<Work> {
    let mut decoded = decode_input(file, opts)?;
    let mut flat = Vec::new();
    for s in std::mem::take(&mut decoded.sessions) {
        let id_source = s.id_source.as_str().to_string();
        if let Some(l) = landable(s.finish(), now_ms)? {
            flat.push((l, id_source));
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
    let mut job = FilesJob {
        landing: Landing::open(lake, opts.sink.clone(), rt)?,
        summary: ConvertSummary::default(),
        first_seen: HashMap::new(),
        to_merge: BTreeMap::new(),
    };
    let read = decode_in_parallel(inputs, opts, now_ms, |work| job.land(work, progress))?;
    job.summary.interrupted = read < inputs.len();
    if job.summary.interrupted {
        // a rerun adds what the fragments of a session lack
        job.to_merge.clear();
    }
    job.merge_fragments(inputs, &opts.decode, now_ms)?;
    job.finish(started)
}

/// Decodes `inputs` on `opts.threads` workers and hands each result to `land` on this thread,
/// in the order they finish; returns how many were landed. The first error stops the job (the
/// workers stop taking files); so does `opts.stop`, and files decoded but not landed yet are
/// dropped (a rerun reads them).
fn decode_in_parallel(
    inputs: &[InputFile],
    opts: &ConvertOptions,
    now_ms: i64,
    mut land: impl FnMut(Work) -> Result<()>,
) -> Result<usize> {
    let stopped = || {
        opts.stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    };
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
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (work_rx, res_tx) = (work_rx.clone(), res_tx.clone());
            let dopts = &opts.decode;
            scope.spawn(move || {
                for (i, f) in work_rx.iter() {
                    if stopped() {
                        break;
                    }
                    if res_tx.send(process(i, f, dopts, now_ms)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(res_tx);
        let (mut outcome, mut landed) = (Ok(()), 0);
        for r in res_rx.iter() {
            if outcome.is_ok() && !stopped() {
                outcome = r.and_then(&mut land);
                landed += 1;
            }
            if outcome.is_err() {
                // stop the workers: they find no more files
                while work_rx.try_recv().is_ok() {}
            }
        }
        outcome.map(|()| landed)
    })
}

/// The state of a files job between inputs.
struct FilesJob {
    landing: Landing,
    summary: ConvertSummary,
    /// Per session: its first input and what was counted for it. Small, as it grows with the
    /// sessions: the input is a number, and only sessions seen in several inputs (to merge)
    /// list all of theirs.
    first_seen: HashMap<Box<str>, FirstSeen>,
    to_merge: BTreeMap<String, Vec<u32>>,
}

impl FilesJob {
    /// Lands one decoded input: its rejects, then its sessions.
    fn land(&mut self, mut work: Work, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        let d = &work.decoded;
        self.summary.files += 1;
        self.summary.input_bytes += d.bytes;
        let rejects_file = self
            .landing
            .rejects(None, &d.file, &d.fingerprint, &d.rejects)?;
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
        for (s, id_source) in std::mem::take(&mut work.flat) {
            report.sessions.push(s.session.session_id.clone());
            report.session_id_source.push(id_source.clone());
            report.events += s.session.batches.events.num_rows() as u64;
            self.add(work.input, s, id_source)?;
        }
        progress(report.bytes);
        tracing::info!(file = %report.file, format = %report.format, sessions = report.sessions.len(),
            events = report.events, rejected = report.rejected, "input read");
        if report.events == 0 {
            self.summary.files_without_events += 1;
        }
        if report.events == 0 || report.rejected > 0 || !report.warnings.is_empty() {
            self.summary.files_report.push(report);
        }
        Ok(())
    }

    /// Adds a session; a second fragment of one is remembered for [`Self::merge_fragments`].
    fn add(&mut self, input: u32, s: Landable, id_source: String) -> Result<()> {
        let sid = s.session.session_id.clone();
        let (events, duplicates) = (s.session.batches.events.num_rows() as u64, s.duplicates);
        if self.landing.add(s)? == Added::SeenInThisRun {
            let files = self.to_merge.entry(sid).or_default();
            if !files.contains(&input) {
                files.push(input);
            }
            return Ok(());
        }
        let first = FirstSeen {
            input,
            events,
            duplicates,
        };
        self.first_seen.insert(sid.into(), first);
        *self
            .summary
            .session_id_sources
            .entry(id_source)
            .or_default() += 1;
        Ok(())
    }

    /// Sessions spread over several inputs: decodes their files again and merges the fragments.
    fn merge_fragments(
        &mut self,
        inputs: &[InputFile],
        opts: &DecodeOptions,
        now_ms: i64,
    ) -> Result<()> {
        for (sid, more) in std::mem::take(&mut self.to_merge) {
            let Some(first) = self.first_seen.get(sid.as_str()) else {
                continue;
            };
            let counted = (first.events, first.duplicates);
            // in input order, not in the order the workers happened to finish them, so that
            // ties between fragments order the same way in every run
            let mut files = vec![first.input];
            files.extend(more.iter().filter(|&&i| i != first.input));
            files.sort_unstable();
            let Some(merged) = decode_fragments(&sid, &files, inputs, opts)? else {
                continue;
            };
            if let Some(l) = landable(merged.finish(), now_ms)? {
                tracing::info!(session = %sid, files = files.len(), "merged a session spread over several inputs");
                self.summary.sessions_merged += 1;
                self.landing.replace(l, counted)?;
            }
        }
        Ok(())
    }

    fn finish(mut self, started: Instant) -> Result<ConvertSummary> {
        let c = &self.landing.counts;
        let s = &mut self.summary;
        (s.sessions, s.events) = (c.sessions, c.events);
        (s.duplicates_dropped, s.rejected) = (c.duplicates_dropped, c.rejected);
        let brief = serde_json::json!({
            "files": s.files,
            "input_bytes": s.input_bytes,
            "sessions": s.sessions,
            "events": s.events,
            "rejected": s.rejected,
            "interrupted": s.interrupted,
        });
        self.summary.sink = self.landing.finish(&brief)?;
        self.summary.elapsed_seconds = started.elapsed().as_secs_f64();
        Ok(self.summary)
    }
}

/// The fragments of session `sid` in `files`, merged.
fn decode_fragments(
    sid: &str,
    files: &[u32],
    inputs: &[InputFile],
    opts: &DecodeOptions,
) -> Result<Option<Session>> {
    let mut merged: Option<Session> = None;
    for &f in files {
        let mut d = decode_input(&inputs[f as usize], opts)?;
        if let Some(i) = d.sessions.iter().position(|s| s.session_id == sid) {
            let s = d.sessions.swap_remove(i);
            match &mut merged {
                Some(m) => m.absorb(s),
                None => merged = Some(s),
            }
        }
    }
    Ok(merged)
}
