//! Which listed recordings a run fetches: those in its shard that the lake (or, for what the lake
//! cannot show, the checkpoint) does not already hold as listed, and that were not skipped as
//! deleted before. Passing over costs no request, however old the window.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{PullProgress, in_shard};
use crate::sink::landed::Landed;
use crate::source::posthog::Recording;
use crate::source::posthog::state::PullState;

/// What is known of the recordings a run lists: whether fetching one can be passed over.
struct Known {
    /// The lake's pulled recordings, with the end time they were listed with.
    landed: Landed,
    /// The checkpoint's recent `done`: the end time fetched, and whether it landed any rows.
    checkpoint: HashMap<String, (Option<String>, bool)>,
}

impl Known {
    /// The recording is in the lake as listed now. The lake decides, whatever the window's age;
    /// the checkpoint adds what the lake cannot show: recordings that landed no rows, and
    /// recordings whose refetch found the lake's version unchanged under a new end time.
    fn unchanged(&self, r: &Recording) -> bool {
        if self.landed.unchanged(&r.id, r.end_time.as_deref()) {
            return true;
        }
        match self.checkpoint.get(&r.id) {
            Some((end, rows)) if end == &r.end_time => !rows || self.landed.contains(&r.id),
            _ => false,
        }
    }

    fn seen(&self, session_id: &str) -> bool {
        self.landed.contains(session_id) || self.checkpoint.contains_key(session_id)
    }
}

/// The listing's filter, with what it counted.
pub(super) struct Filter {
    known: Known,
    shard: Option<(u32, u32)>,
    skipped_before: HashSet<String>,
    /// Pending recordings of earlier runs, and those of them this listing returned again.
    pub(super) was_pending: HashSet<String>,
    pub(super) relisted: Mutex<HashSet<String>>,
    pub(super) not_in_shard: AtomicU64,
    pub(super) already_done: AtomicU64,
    progress: Arc<PullProgress>,
}

impl Filter {
    pub(super) fn new(
        st: &PullState,
        landed: Landed,
        shard: Option<(u32, u32)>,
        progress: Arc<PullProgress>,
    ) -> Self {
        let checkpoint = st
            .done
            .iter()
            .map(|(k, v)| (k.clone(), (v.end_time.clone(), v.checksum.is_some())))
            .collect();
        Filter {
            known: Known { landed, checkpoint },
            shard,
            skipped_before: st.skipped.keys().cloned().collect(),
            was_pending: st.pending.keys().cloned().collect(),
            relisted: Mutex::default(),
            not_in_shard: AtomicU64::new(0),
            already_done: AtomicU64::new(0),
            progress,
        }
    }

    /// True when the run fetches `r`; counts it either way.
    pub(super) fn keep(&self, r: &Recording) -> bool {
        self.progress.listed.fetch_add(1, Ordering::Relaxed);
        if self.was_pending.contains(&r.id) {
            self.relisted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(r.id.clone());
        }
        if !in_shard(&r.id, self.shard) {
            self.not_in_shard.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if self.skipped_before.contains(&r.id) || self.known.unchanged(r) {
            self.already_done.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if self.known.seen(&r.id) {
            tracing::info!(session = %r.id, "recording changed since it was pulled; fetching it again");
        }
        self.progress.to_fetch.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// A recording [`Self::keep`] took is not fetched after all (it is past `--limit`).
    pub(super) fn not_fetched(&self) {
        self.progress.to_fetch.fetch_sub(1, Ordering::Relaxed);
    }
}
