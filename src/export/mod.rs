//! Recordings taken back out of the lake, one file per session (rrweb: per window), in formats
//! other tools load: PostHog's "load from file" ([`posthog`]), rrweb's players ([`rrweb`]) and
//! replaylake's portable archive ([`crate::portable`]).
//!
//! The pipeline: [`index`] finds the part that holds the version of each session the writer
//! would keep; [`select`] resolves `--session` / `--where` / all against it into parts and their
//! sessions; [`read`] streams each part's events row group by row group and hands on one session
//! at a time; the format renders it (off the async threads) into memory, compressed as asked;
//! [`out`] puts each file whole. Memory is one session (its rows and its rendered file) plus a
//! row group, whatever the selection; only the index (an entry per session of the lake, as the
//! writer keeps) grows with the lake.
//!
//! Parts are taken in path order (date, then part name) and the sessions of a part in id order.
//! What a session's file holds depends on nothing else, so exporting twice gives the same bytes.
//! A session that cannot be exported (unknown id, unreadable part, no events, a store error) is
//! reported in the summary and the others go on.

pub mod file_reader;
pub mod index;
pub mod out;
pub mod posthog;
pub mod read;
pub mod recordings;
pub mod rrweb;
pub mod select;

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::store::Lake;

pub use out::{Compress, Destination};
use read::{ExportSession, Mode, PartReader, ReadError};
pub use select::Selection;

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PostHog's "load from file" JSON (version 2023-04-28).
    Posthog,
    /// A JSON array of rrweb events per window.
    Rrweb,
    /// replaylake's portable NDJSON archive.
    Portable,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Posthog => "posthog",
            Format::Rrweb => "rrweb",
            Format::Portable => "portable",
        }
    }
}

/// What to export and how.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub format: Format,
    pub compress: Compress,
    pub selection: Selection,
}

/// A session that was not exported, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub session_id: String,
    pub error: String,
}

/// What an export did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ExportSummary {
    pub format: String,
    pub out: String,
    /// Sessions selected (named ones the lake does not hold included).
    pub sessions_selected: u64,
    pub sessions_exported: u64,
    pub files: u64,
    pub bytes: u64,
    /// Events written (inserted Meta events included).
    pub events: u64,
    /// Meta events a posthog export inserted before FullSnapshots that had none.
    pub metas_inserted: u64,
    /// Sessions that could not be exported, in id order.
    pub failed: Vec<Failure>,
    pub elapsed_seconds: f64,
}

/// Progress of an export, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum Progress {
    /// The selection is resolved: this many sessions will be exported.
    Selected(u64),
    /// One more session is done (exported or failed).
    Session,
}

/// One rendered session: its files (name, bytes) and counts.
struct Rendered {
    files: Vec<(String, Vec<u8>)>,
    events: u64,
    metas_inserted: u64,
    /// Files and bytes put.
    count: u64,
    bytes: u64,
}

/// Exports the selected sessions of `lake` to `dest`. Fails only when the selection cannot be
/// resolved (the lake's index or the `--where` query); what goes wrong with a session is in the
/// summary's `failed`.
pub async fn export(
    lake: &Lake,
    dest: &Destination,
    opts: &ExportOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<ExportSummary> {
    let started = Instant::now();
    let index = index::LakeIndex::load(lake).await?;
    let plan = select::plan(lake, &index, &opts.selection).await?;
    drop(index);
    let mut summary = ExportSummary {
        format: opts.format.name().into(),
        out: dest.describe(),
        sessions_selected: (plan.sessions() + plan.unknown.len()) as u64,
        ..Default::default()
    };
    if dest.is_stream() && summary.sessions_selected != 1 {
        return Err(Error::Usage(format!(
            "--out - writes one session to stdout, but {} are selected: give one --session, or \
             export to a directory",
            summary.sessions_selected
        )));
    }
    progress(Progress::Selected(summary.sessions_selected));
    for id in &plan.unknown {
        summary.failed.push(Failure {
            session_id: id.clone(),
            error: "no such session in the lake".into(),
        });
        progress(Progress::Session);
    }
    for (part, wanted) in plan.parts {
        export_part(lake, dest, opts, &part, wanted, &mut summary, progress).await;
    }
    summary
        .failed
        .sort_by(|a, b| a.session_id.cmp(&b.session_id));
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Exports the selected sessions of one part; a streamed file that turns out unsorted is read
/// again grouped (files already written are written again, with the same names).
async fn export_part(
    lake: &Lake,
    dest: &Destination,
    opts: &ExportOptions,
    part: &str,
    wanted: BTreeSet<String>,
    summary: &mut ExportSummary,
    progress: &(dyn Fn(Progress) + Sync),
) {
    let mut counted: HashSet<String> = HashSet::new();
    let mut mode = Mode::Streamed;
    loop {
        let mut local = ExportSummary::default();
        let reader = PartReader::open(lake, part, wanted.clone(), mode).await;
        let outcome = match reader {
            Ok(mut r) => {
                let end = drain(&mut r, dest, opts, &mut local, &mut counted, progress).await;
                for sid in r.missing() {
                    let error = match &end {
                        Err(ReadError::Failed(e)) => e.to_string(),
                        _ => format!("no events rows in {} (or no recordings row)", r.location()),
                    };
                    local.failed.push(Failure {
                        session_id: sid,
                        error,
                    });
                }
                end
            }
            Err(e) => {
                for sid in &wanted {
                    local.failed.push(Failure {
                        session_id: sid.clone(),
                        error: e.to_string(),
                    });
                }
                Ok(())
            }
        };
        if let Err(ReadError::Unsorted(_)) = outcome
            && mode == Mode::Streamed
        {
            tracing::warn!(
                part,
                "rows not sorted as its footer says (or a selected session without rows); \
                 reading the part again grouped by session"
            );
            mode = Mode::Grouped;
            continue;
        }
        for f in &local.failed {
            if counted.insert(f.session_id.clone()) {
                progress(Progress::Session);
            }
        }
        tracing::info!(
            part,
            exported = local.sessions_exported,
            failed = local.failed.len(),
            "part done"
        );
        merge(summary, local);
        return;
    }
}

/// Exports every session a reader hands on; stops at the first read error.
async fn drain(
    r: &mut PartReader,
    dest: &Destination,
    opts: &ExportOptions,
    local: &mut ExportSummary,
    counted: &mut HashSet<String>,
    progress: &(dyn Fn(Progress) + Sync),
) -> std::result::Result<(), ReadError> {
    while let Some(s) = r.next().await? {
        let sid = s.stored.session_id.clone();
        match export_session(s, dest, opts).await {
            Ok(r) => {
                local.sessions_exported += 1;
                local.files += r.count;
                local.bytes += r.bytes;
                local.events += r.events;
                local.metas_inserted += r.metas_inserted;
            }
            Err(e) => local.failed.push(Failure {
                session_id: sid.clone(),
                error: e.to_string(),
            }),
        }
        if counted.insert(sid) {
            progress(Progress::Session);
        }
    }
    Ok(())
}

/// Renders one session (off the async threads) and puts its files; returns what was written
/// (the files' bytes dropped).
async fn export_session(
    s: ExportSession,
    dest: &Destination,
    opts: &ExportOptions,
) -> Result<Rendered> {
    let (format, compress) = (opts.format, opts.compress);
    let sid = s.stored.session_id.clone();
    let mut r = tokio::task::spawn_blocking(move || render(format, compress, &s))
        .await
        .map_err(|e| Error::Worker {
            task: format!("rendering session {sid}"),
            message: e.to_string(),
        })??;
    if dest.is_stream() && r.files.len() != 1 {
        return Err(Error::Usage(format!(
            "session {sid} has {} windows, so {} files: --out - writes one; export to a directory",
            r.files.len(),
            format.name()
        )));
    }
    for (name, data) in std::mem::take(&mut r.files) {
        r.bytes += data.len() as u64;
        r.count += 1;
        dest.put(&name, data).await?;
    }
    Ok(r)
}

/// A session's files in `format`, compressed.
fn render(format: Format, compress: Compress, s: &ExportSession) -> Result<Rendered> {
    let sid = &s.stored.session_id;
    let escaped = out::escape_id(sid);
    if escaped.is_empty() {
        return Err(Error::Usage(
            "a session with an empty id cannot name a file".into(),
        ));
    }
    let io = |e: std::io::Error| Error::Io {
        path: format!("session {sid} ({} export)", format.name()).into(),
        source: e,
    };
    let mut rendered = Rendered {
        files: vec![],
        events: 0,
        metas_inserted: 0,
        count: 0,
        bytes: 0,
    };
    let file =
        |name: String, write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>| {
            let mut enc =
                std::io::BufWriter::with_capacity(1 << 16, compress.encoder().map_err(io)?);
            write(&mut enc).map_err(io)?;
            let enc = enc.into_inner().map_err(|e| io(e.into_error()))?;
            let data = enc.finish().map_err(io)?;
            Ok::<_, Error>((format!("{name}{}", compress.suffix()), data))
        };
    match format {
        Format::Posthog => {
            let mut w = posthog::Written::default();
            let f = file(posthog::file_name(&escaped), &mut |out| {
                w = posthog::write(s, out)?;
                Ok(())
            })?;
            rendered.files.push(f);
            rendered.events = w.events;
            rendered.metas_inserted = w.metas_inserted;
        }
        Format::Rrweb => {
            for (i, window) in rrweb::windows(s).iter().enumerate() {
                let mut n = 0;
                let f = file(rrweb::file_name(&escaped, i + 1), &mut |out| {
                    n = rrweb::write(s, window, out)?;
                    Ok(())
                })?;
                rendered.files.push(f);
                rendered.events += n;
            }
        }
        Format::Portable => {
            let name = format!("{escaped}.portable.ndjson");
            let f = file(name, &mut |out| {
                crate::portable::write_session(&s.stored, out)
            })?;
            rendered.files.push(f);
            rendered.events = s.stored.events.len() as u64;
        }
    }
    Ok(rendered)
}

fn merge(into: &mut ExportSummary, from: ExportSummary) {
    into.sessions_exported += from.sessions_exported;
    into.files += from.files;
    into.bytes += from.bytes;
    into.events += from.events;
    into.metas_inserted += from.metas_inserted;
    into.failed.extend(from.failed);
}
