//! Where both jobs land what their source decoded: bad records into `_rejects/` (logged and
//! counted, never dropped), sessions into the [`LakeWriter`], counted once per session.

use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use crate::decode::Reject;
use crate::error::Result;
use crate::flatten::FlatSession;
use crate::sink::commit::Added;
use crate::sink::{Lake, LakeWriter, SinkOptions, SinkStats};

/// What a job landed, as its summary reports it.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Sessions handed to the lake (new, changed or unchanged), each once.
    pub sessions: u64,
    pub events: u64,
    pub duplicates_dropped: u64,
    pub rejected: u64,
}

/// A session as a source hands it over: flattened, with what ordering it counted.
pub struct Landable {
    pub session: FlatSession,
    /// Events the ordered session kept.
    pub events: u64,
    pub duplicates: u64,
}

/// The lake writer of a job, with its counts.
pub struct Landing {
    writer: LakeWriter,
    pub counts: Counts,
}

impl Landing {
    /// Opens the lake for writing (takes its lease and recovers an interrupted commit).
    pub fn open(lake: Lake, opts: SinkOptions, rt: Handle) -> Result<Self> {
        Ok(Landing {
            writer: LakeWriter::open(lake, opts, rt)?,
            counts: Counts::default(),
        })
    }

    /// Keeps the bad records of one input (a file, a body) under `_rejects/`, logs the first
    /// few and counts them. Returns the rejects file.
    pub fn rejects(
        &mut self,
        session: Option<&str>,
        input: &str,
        fingerprint: &str,
        rejects: &[Reject],
    ) -> Result<Option<String>> {
        self.counts.rejected += rejects.len() as u64;
        for r in rejects.iter().take(3) {
            match session {
                Some(s) => {
                    tracing::warn!(session = %s, file = %r.file, line = r.line, reason = %r.reason, "record rejected")
                }
                None => {
                    tracing::warn!(file = %r.file, line = r.line, reason = %r.reason, "record rejected")
                }
            }
        }
        self.writer.write_rejects(input, fingerprint, rejects)
    }

    /// Adds a session. It is counted unless another copy of it was added in this run
    /// ([`Added::SeenInThisRun`]: the source merges the fragments, or keeps the first copy).
    pub fn add(&mut self, s: Landable) -> Result<Added> {
        let added = self.writer.add(s.session)?;
        if added != Added::SeenInThisRun {
            self.counts.sessions += 1;
            self.counts.events += s.events;
            self.counts.duplicates_dropped += s.duplicates;
        }
        Ok(added)
    }

    /// Replaces a session added in this run by the merge of its fragments; `counted` is what its
    /// first fragment was counted as.
    pub fn replace(&mut self, merged: Landable, counted: (u64, u64)) -> Result<()> {
        self.counts.events = self.counts.events - counted.0 + merged.events;
        self.counts.duplicates_dropped =
            self.counts.duplicates_dropped - counted.1 + merged.duplicates;
        self.writer.replace(merged.session)
    }

    /// Writes what is buffered: afterwards every session added so far is in the lake.
    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush()
    }

    /// Ends the run: writes the rest, commits, records the run with `brief`.
    pub fn finish(self, brief: &impl Serialize) -> Result<SinkStats> {
        self.writer.finish(brief)
    }
}
