//! The writing side of a pull: what the fetches hand over lands in the lake, and every
//! `checkpoint_every` recordings (or 30 s) the lake is flushed and only then are they recorded
//! in the checkpoint, so what the checkpoint calls done is always in the lake.

use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::runtime::Handle;

use super::fetch::{FetchedRecording, Msg};
use super::window::rfc3339;
use super::{PendingRecording, PullProgress, PullSummary, SkippedRecording};
use crate::error::{Error, Result};
use crate::job::Landing;
use crate::sink::Lake;
use crate::sink::commit::Added;
use crate::source::posthog::Recording;
use crate::source::posthog::state::{self, Done, Pending, PullState, Skipped};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// What the checkpoint records of a recording.
enum Settled {
    Done(Done),
    Skipped(Skipped),
    Pending(Pending),
}

/// How the stream of fetches ended.
pub(super) enum Ended {
    /// Every listed recording was handed over.
    Complete,
    /// A fetch failed, or the lake did.
    Failed(Error),
    /// The channel closed without its end: the producer stopped early.
    Closed,
}

/// A pull's writer: the lake, the checkpoint and what lands between two checkpoints.
pub(super) struct Run {
    pub(super) landing: Landing,
    pub(super) st: PullState,
    pub(super) summary: PullSummary,
    lake: Lake,
    state_rel: String,
    rt: Handle,
    progress: Arc<PullProgress>,
    settled: Vec<(String, Settled)>,
    every: usize,
    last: Instant,
}

impl Run {
    pub(super) fn new(
        landing: Landing,
        st: PullState,
        summary: PullSummary,
        (lake, state_rel): (Lake, String),
        rt: Handle,
        progress: Arc<PullProgress>,
        every: usize,
    ) -> Self {
        Run {
            landing,
            st,
            summary,
            lake,
            state_rel,
            rt,
            progress,
            settled: Vec::new(),
            every: every.max(1),
            last: Instant::now(),
        }
    }

    /// Lands what the fetches hand over until they end or something fails.
    pub(super) fn receive(&mut self, rx: &mut tokio::sync::mpsc::Receiver<Msg>) -> Ended {
        while let Some(msg) = rx.blocking_recv() {
            let step = match msg {
                Msg::End => return Ended::Complete,
                Msg::Failed(e) => Err(e),
                Msg::Pending { rec, sources } => {
                    self.pending(rec, sources);
                    Ok(())
                }
                Msg::Skipped { rec, status } => {
                    self.skipped(rec, status);
                    Ok(())
                }
                Msg::Fetched(f) => self.fetched(*f),
            };
            if let Err(e) = step.and_then(|()| self.maybe_checkpoint()) {
                return Ended::Failed(e);
            }
        }
        Ended::Closed
    }

    fn pending(&mut self, rec: Recording, sources: Vec<String>) {
        self.progress.done.fetch_add(1, Ordering::Relaxed);
        self.summary.pending.push(PendingRecording {
            session_id: rec.id.clone(),
            sources: sources.clone(),
        });
        let since = self
            .st
            .pending
            .get(&rec.id)
            .map(|p| p.since.clone())
            .unwrap_or_else(|| rfc3339(Utc::now()));
        let p = Pending {
            start_time: rec.start_time,
            sources,
            since,
        };
        self.settled.push((rec.id, Settled::Pending(p)));
    }

    fn skipped(&mut self, rec: Recording, status: u16) {
        self.progress.skipped.fetch_add(1, Ordering::Relaxed);
        self.progress.done.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(session = %rec.id, status, "recording skipped (deleted or not found)");
        self.summary.skipped.push(SkippedRecording {
            session_id: rec.id.clone(),
            status,
        });
        let skipped = Skipped {
            status,
            at: rfc3339(Utc::now()),
            start_time: rec.start_time,
            pruned_at: None,
        };
        self.settled.push((rec.id, Settled::Skipped(skipped)));
    }

    fn fetched(&mut self, f: FetchedRecording) -> Result<()> {
        let sid = f.rec.id.clone();
        for (name, fp, rejects) in &f.rejects {
            self.landing.rejects(Some(&sid), name, fp, rejects)?;
        }
        self.summary.fetched += 1;
        let checksum = f.flat.as_ref().map(|s| s.session.checksum.clone());
        match f.flat {
            None => self.summary.empty += 1,
            Some(flat) => {
                if self.landing.add(flat)? == Added::SeenInThisRun {
                    tracing::debug!(session = %sid, "listed twice in this run; the first copy stands")
                }
            }
        }
        self.progress.done.fetch_add(1, Ordering::Relaxed);
        let done = Done {
            start_time: f.rec.start_time,
            end_time: f.rec.end_time,
            checksum,
        };
        self.settled.push((sid, Settled::Done(done)));
        Ok(())
    }

    fn maybe_checkpoint(&mut self) -> Result<()> {
        if self.settled.len() >= self.every || self.last.elapsed() >= Duration::from_secs(30) {
            self.checkpoint()?;
            self.last = Instant::now();
        }
        Ok(())
    }

    /// Flushes the lake, then records what settled in the checkpoint.
    pub(super) fn checkpoint(&mut self) -> Result<()> {
        if self.settled.is_empty() {
            return Ok(());
        }
        self.landing.flush()?;
        let st = &mut self.st;
        for (sid, settled) in self.settled.drain(..) {
            match settled {
                Settled::Done(d) => {
                    st.skipped.remove(&sid);
                    st.pending.remove(&sid);
                    st.done.insert(sid, d);
                }
                Settled::Skipped(s) => {
                    st.pending.remove(&sid);
                    st.skipped.insert(sid, s);
                }
                Settled::Pending(p) => {
                    st.done.remove(&sid);
                    st.pending.insert(sid, p);
                }
            }
        }
        self.save()?;
        tracing::debug!(location = %self.state_rel, done = self.st.done.len(), "checkpoint written");
        Ok(())
    }

    /// Writes the checkpoint as it is now.
    pub(super) fn save(&mut self) -> Result<()> {
        self.rt
            .block_on(state::save(&self.lake, &self.state_rel, &mut self.st))
    }
}
