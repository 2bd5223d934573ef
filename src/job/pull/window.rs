//! A run's window of recordings (by start time) and what a complete run does to the checkpoint:
//! the watermark moves when the window joins up with it, pending recordings hold it back, and
//! what is older than the retention is forgotten.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};

use super::PullOptions;
use crate::source::posthog::state::PullState;

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The window of one run.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) since: DateTime<Utc>,
    pub(super) until: DateTime<Utc>,
    /// Given by `--since`/`--until` (then the checkpoint keeps no window of its own).
    pub(super) explicit: bool,
}

impl Span {
    /// `--since`/`--until`, or from the checkpoint (the window a killed run was working on, else
    /// the watermark) up to now minus the lag.
    pub(super) fn of(opts: &PullOptions, st: &PullState, now: DateTime<Utc>) -> Self {
        let lag = chrono::Duration::from_std(opts.lag).unwrap_or_default();
        let until = opts.until.unwrap_or(now - lag);
        let lookback = chrono::Duration::from_std(opts.default_lookback).unwrap_or_default();
        let since = opts.since.unwrap_or_else(|| {
            st.window
                .as_ref()
                .and_then(|w| parse_time(&w.since))
                .or_else(|| st.watermark.as_deref().and_then(parse_time))
                .unwrap_or(until - lookback)
        });
        Span {
            since,
            until,
            explicit: opts.since.is_some() || opts.until.is_some(),
        }
    }
}

/// After a complete run of `span`: the watermark, pending recordings and the retention.
pub(super) fn complete(
    st: &mut PullState,
    span: Span,
    now: DateTime<Utc>,
    opts: &PullOptions,
    was_pending: &HashSet<String>,
    relisted: &Mutex<HashSet<String>>,
) {
    let watermark = st.watermark.as_deref().and_then(parse_time);
    // The window is complete: move the watermark if it joins up with the previous one, never
    // into the future (recordings may still start before an --until that has not come yet).
    let joins = watermark.is_none_or(|w| span.since <= w);
    let reached = span.until.min(now);
    if joins && watermark.is_none_or(|w| reached > w) {
        st.watermark = Some(rfc3339(reached));
    }
    settle_pending(st, (span.since, span.until), was_pending, relisted);
    if !span.explicit {
        st.window = None;
    }
    forget_old(st, opts.state_retention);
}

/// The checkpoint remembers sessions for `retention` before the watermark (recordings without
/// rows, which the lake cannot show); older ones go, to keep it small. Whether a recording with
/// rows must be fetched again, the lake itself says. A deleted recording stays until
/// `prune --deleted` has taken it out of the lake: the checkpoint is the only record of it.
fn forget_old(st: &mut PullState, retention: std::time::Duration) {
    let Some(w) = st.watermark.as_deref().and_then(parse_time) else {
        return;
    };
    let keep_from = w - chrono::Duration::from_std(retention).unwrap_or_default();
    let old = |t: &Option<String>| {
        t.as_deref()
            .and_then(parse_time)
            .is_some_and(|t| t < keep_from)
    };
    st.done.retain(|_, d| !old(&d.start_time));
    st.skipped
        .retain(|_, s| s.pruned_at.is_none() || !old(&s.start_time));
}

/// After a complete run: pending recordings hold the watermark at the earliest one's start, and
/// those of earlier runs that a complete listing of their window did not return are dropped.
fn settle_pending(
    st: &mut PullState,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    was_pending: &HashSet<String>,
    relisted: &Mutex<HashSet<String>>,
) {
    let relisted = relisted.lock().unwrap_or_else(|e| e.into_inner());
    st.pending.retain(|sid, p| {
        let start = p.start_time.as_deref().and_then(parse_time);
        let covered = start.is_some_and(|t| since <= t && t <= until);
        if covered && was_pending.contains(sid) && !relisted.contains(sid) {
            tracing::warn!(session = %sid, "a pending recording is no longer listed; dropped");
            return false;
        }
        true
    });
    let hold = st
        .pending
        .values()
        .filter_map(|p| p.start_time.as_deref().and_then(parse_time))
        .min();
    let w = st.watermark.as_deref().and_then(parse_time);
    if let (Some(h), Some(w)) = (hold, w) {
        if h < w {
            tracing::info!(watermark = %rfc3339(h), "the watermark waits for pending recordings");
            st.watermark = Some(rfc3339(h));
        }
    }
}
