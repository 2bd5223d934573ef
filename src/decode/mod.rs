//! Bytes to typed rrweb events.
//!
//! [`envelope::Decoder`] takes JSON records in any of the shapes PostHog and rrweb produce (export
//! files, blob lines, capture payloads, bare events) and groups their events by session;
//! [`compressed`] unpacks posthog-js `cv: "2024-10"` payloads. [`Session::absorb`] merges the
//! fragments of a session from several inputs (one id per window, [`windows`]);
//! [`Session::finish`] then orders its events (stable sort by timestamp) and drops duplicates, as
//! PostHog's player does. Events are compared by their content ([`content`]), not their text, so
//! one event that two inputs spell differently is kept once.
//!
//! Records that cannot be used become [`Reject`]s, never panics or silent drops.

pub mod compressed;
pub mod content;
pub mod envelope;
pub mod limit;
pub mod windows;

use std::collections::HashSet;
use std::sync::Arc;

use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

pub use envelope::{DecodeOptions, Decoder};

/// Checks that `bytes` are UTF-8 with SIMD (simdutf8): compressed payloads are latin1 binary
/// strings, half of whose characters are two-byte sequences, where the standard library's check
/// is slow. The error, when there is one, is the standard library's (it says where).
pub fn utf8(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(_) => std::str::from_utf8(bytes),
    }
}

/// One rrweb event, decompressed. `data` is the event's `data` as JSON text.
#[derive(Debug, Clone)]
pub struct Event {
    pub window_id: Option<Arc<str>>,
    pub timestamp: i64,
    pub event_type: i32,
    pub data: Box<str>,
    /// [`content::key`] of the type and data, computed once by [`Event::new`].
    pub(crate) content: u128,
}

impl Event {
    pub fn new(
        window_id: Option<Arc<str>>,
        timestamp: i64,
        event_type: i32,
        data: Box<str>,
    ) -> Self {
        let content = content::key(event_type, &data);
        Event {
            window_id,
            timestamp,
            event_type,
            data,
            content,
        }
    }

    /// What makes two events one: type and data compared by structure ([`content`]).
    pub fn content_key(&self) -> u128 {
        self.content
    }
}

/// A record that could not be used, with where it came from and why.
#[derive(Debug, Clone, Serialize)]
pub struct Reject {
    pub file: String,
    /// 1-based line of the input (for JSONL), or the record's index in a JSON document.
    pub line: Option<u64>,
    pub session_id: Option<String>,
    pub reason: String,
    /// The record as read (truncated to 1 MiB), so that nothing is lost.
    pub record: String,
}

const MAX_REJECT_RECORD: usize = 1 << 20;

impl Reject {
    pub fn new(
        file: &str,
        line: Option<u64>,
        session_id: Option<&str>,
        reason: impl Into<String>,
        record: &[u8],
    ) -> Self {
        let cut = record.len().min(MAX_REJECT_RECORD);
        Reject {
            file: file.to_string(),
            line,
            session_id: session_id.map(str::to_string),
            reason: reason.into(),
            record: String::from_utf8_lossy(&record[..cut]).into_owned(),
        }
    }
}

/// Where a session's id came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionIdSource {
    /// The input names it (`data.id`, `$session_id`).
    Data,
    /// `--session-id`.
    Flag,
    /// The file name, `<session_id>.<anything>`.
    Filename,
}

impl SessionIdSource {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionIdSource::Data => "data",
            SessionIdSource::Flag => "flag",
            SessionIdSource::Filename => "filename",
        }
    }
}

/// What is known of a session besides its events.
#[derive(Debug, Clone, Default)]
pub struct SessionMeta {
    pub distinct_id: Option<String>,
    pub person: Option<String>,
    pub user_agent: Option<String>,
    pub lib: Option<String>,
    /// PostHog list-API object as JSON text (pull).
    pub posthog_metadata: Option<String>,
    /// Duplicates dropped before this input was made (a portable archive records its lake's
    /// count): added to what [`Session::finish`] drops, so a round trip keeps the count.
    pub duplicates_carried: u64,
}

impl SessionMeta {
    /// True when `other` knows something this does not.
    pub fn would_gain(&self, other: &SessionMeta) -> bool {
        (self.distinct_id.is_none() && other.distinct_id.is_some())
            || (self.person.is_none() && other.person.is_some())
            || (self.user_agent.is_none() && other.user_agent.is_some())
            || (self.lib.is_none() && other.lib.is_some())
            || (self.posthog_metadata.is_none() && other.posthog_metadata.is_some())
    }

    /// Fills what this does not know from `other`.
    pub fn merge(&mut self, other: SessionMeta) {
        self.distinct_id = self.distinct_id.take().or(other.distinct_id);
        self.person = self.person.take().or(other.person);
        self.user_agent = self.user_agent.take().or(other.user_agent);
        self.lib = self.lib.take().or(other.lib);
        self.posthog_metadata = self.posthog_metadata.take().or(other.posthog_metadata);
        self.duplicates_carried = self.duplicates_carried.max(other.duplicates_carried);
    }
}

/// A session's events as decoded from one or more inputs, before ordering.
#[derive(Debug, Clone)]
pub struct Session {
    pub session_id: String,
    pub id_source: SessionIdSource,
    pub source_files: Vec<String>,
    pub source_format: String,
    pub meta: SessionMeta,
    pub events: Vec<Event>,
}

/// A session ready to flatten: events ordered, duplicates dropped, checksum computed.
#[derive(Debug, Clone)]
pub struct OrderedSession {
    pub session_id: String,
    pub id_source: SessionIdSource,
    pub source_files: Vec<String>,
    pub source_format: String,
    pub meta: SessionMeta,
    pub events: Vec<Event>,
    pub duplicates_dropped: u64,
    /// xxh3-128 of the ordered events, hex.
    pub checksum: String,
}

impl Session {
    /// Adds another fragment of the same session (from another file). A window the two name
    /// differently gets one id ([`windows::unify`]).
    pub fn absorb(&mut self, mut other: Session) {
        for f in other.source_files {
            if !self.source_files.contains(&f) {
                self.source_files.push(f);
            }
        }
        if self.source_format != other.source_format
            && !self
                .source_format
                .split('+')
                .any(|f| f == other.source_format)
        {
            self.source_format = format!("{}+{}", self.source_format, other.source_format);
        }
        if other.id_source == SessionIdSource::Data {
            self.id_source = SessionIdSource::Data;
        }
        self.meta.merge(other.meta);
        windows::unify(&mut self.events, &mut other.events);
        self.events.extend(other.events);
    }

    /// Stable sort by timestamp, then drop events equal to an earlier one with the same timestamp
    /// (same window, type and content), as PostHog's player does before playback. One pass with
    /// a set of (timestamp, window, content) keys: O(n log n) for the sort, O(n) after it.
    pub fn finish(self) -> OrderedSession {
        let mut events = self.events;
        events.sort_by_key(|e| e.timestamp);
        let before = events.len();
        let keep = first_of_each_content(&events);
        let mut keep = keep.into_iter();
        events.retain(|_| keep.next().unwrap_or(true));
        let kept = events;
        let duplicates_dropped = (before - kept.len()) as u64 + self.meta.duplicates_carried;
        OrderedSession {
            checksum: checksum(&kept),
            session_id: self.session_id,
            id_source: self.id_source,
            source_files: self.source_files,
            source_format: self.source_format,
            meta: self.meta,
            events: kept,
            duplicates_dropped,
        }
    }
}

/// For each event, whether it is the first with its (timestamp, window, content).
fn first_of_each_content(events: &[Event]) -> Vec<bool> {
    let mut seen: HashSet<(i64, Option<&str>, u128), foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(events.len(), Default::default());
    events
        .iter()
        .map(|e| seen.insert((e.timestamp, e.window_id.as_deref(), e.content)))
        .collect()
}

/// xxh3-128 of the ordered events by window, timestamp and content key (not the data's text: the
/// same session read from inputs that spell its events differently has one checksum).
fn checksum(events: &[Event]) -> String {
    // The schema version is hashed too: a lake written by an older schema is rewritten
    // (replaced, not duplicated) when the same input is converted again.
    let mut h = Xxh3::new();
    h.update(crate::schema::SCHEMA_VERSION.as_bytes());
    h.update(&[0xfd]);
    for e in events {
        h.update(e.window_id.as_deref().unwrap_or("\u{0}").as_bytes());
        h.update(&[0xff]);
        h.update(&e.timestamp.to_le_bytes());
        h.update(&e.event_type.to_le_bytes());
        h.update(&e.content.to_le_bytes());
        h.update(&[0xfe]);
    }
    format!("{:032x}", h.digest128())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, w: &str, data: &str) -> Event {
        Event::new(Some(w.into()), ts, 3, data.into())
    }

    #[test]
    fn sort_is_stable_and_exact_duplicates_go() {
        let s = Session {
            session_id: "s".into(),
            id_source: SessionIdSource::Flag,
            source_files: vec![],
            source_format: "x".into(),
            meta: Default::default(),
            events: vec![
                ev(5, "a", "1"),
                ev(1, "a", "2"),
                ev(5, "a", "3"),
                ev(5, "a", "1"),
                ev(5, "b", "1"),
            ],
        };
        let o = s.finish();
        let got: Vec<_> = o
            .events
            .iter()
            .map(|e| (e.timestamp, e.window_id.as_deref().unwrap(), &*e.data))
            .collect();
        assert_eq!(
            got,
            vec![(1, "a", "2"), (5, "a", "1"), (5, "a", "3"), (5, "b", "1")]
        );
        assert_eq!(o.duplicates_dropped, 1);
    }

    #[test]
    fn checksum_depends_on_content_not_input_order() {
        let mk = |evs: Vec<Event>| session(evs).finish().checksum;
        assert_eq!(
            mk(vec![ev(1, "a", "x"), ev(2, "a", "y")]),
            mk(vec![ev(2, "a", "y"), ev(1, "a", "x")])
        );
        assert_ne!(mk(vec![ev(1, "a", "x")]), mk(vec![ev(1, "a", "z")]));
    }

    fn session(events: Vec<Event>) -> Session {
        Session {
            session_id: "s".into(),
            id_source: SessionIdSource::Flag,
            source_files: vec![],
            source_format: "x".into(),
            meta: Default::default(),
            events,
        }
    }

    #[test]
    fn dropping_duplicates_agrees_with_comparing_every_pair() {
        let mut rng = fastrand::Rng::with_seed(19);
        let events: Vec<Event> = (0..3000)
            .map(|_| {
                let w = ["a", "b"][rng.usize(..2)];
                ev(rng.i64(1..4), w, &format!("{{\"v\":{}}}", rng.u32(..40)))
            })
            .collect();
        // the reference: an event goes when an earlier one has its timestamp, window and data
        let mut sorted = events.clone();
        sorted.sort_by_key(|e| e.timestamp);
        let want: Vec<_> = sorted
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                !sorted[..*i].iter().any(|k| {
                    (k.timestamp, &k.window_id, &k.data) == (e.timestamp, &e.window_id, &e.data)
                })
            })
            .map(|(_, e)| (e.timestamp, e.window_id.clone(), e.data.clone()))
            .collect();
        let o = session(events).finish();
        let got: Vec<_> = o
            .events
            .iter()
            .map(|e| (e.timestamp, e.window_id.clone(), e.data.clone()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(o.duplicates_dropped as usize, 3000 - want.len());
    }

    #[test]
    fn many_events_of_one_timestamp_keep_their_order() {
        // 40k distinct events in one millisecond, each sent twice
        let n = 40_000;
        let distinct: Vec<Event> = (0..n).map(|i| ev(7, "w", &format!("[{i}]"))).collect();
        let twice = distinct.iter().chain(&distinct).cloned().collect();
        let o = session(twice).finish();
        assert_eq!(o.duplicates_dropped, n as u64);
        let data: Vec<&str> = o.events.iter().map(|e| &*e.data).collect();
        let want: Vec<&str> = distinct.iter().map(|e| &*e.data).collect();
        assert_eq!(data, want);
    }

    #[test]
    fn one_event_spelled_two_ways_in_two_inputs_is_kept_once() {
        // the API's blob: window UUID, compact JSON; the UI export: window 1, JSON re-serialized
        let blob = vec![
            ev(
                1,
                "uuid-w",
                r#"{"source":0,"adds":[{"parentId":1}],"texts":[]}"#,
            ),
            ev(2, "uuid-w", r#"{"source":2,"type":2,"x":1.5}"#),
        ];
        let ui = vec![
            ev(
                1,
                "1",
                "{\n  \"texts\": [],\n  \"adds\": [ { \"parentId\": 1 } ],\n  \"source\": 0\n}",
            ),
            ev(2, "1", r#"{"type":2,"source":2,"x":1.50}"#),
        ];
        let alone = session(blob.clone()).finish();
        for (first, second) in [(blob.clone(), ui.clone()), (ui, blob)] {
            let mut s = session(first);
            s.absorb(session(second));
            let o = s.finish();
            assert_eq!(o.events.len(), 2);
            assert_eq!(o.duplicates_dropped, 2);
            assert!(
                o.events
                    .iter()
                    .all(|e| e.window_id.as_deref() == Some("uuid-w"))
            );
            assert_eq!(
                o.checksum, alone.checksum,
                "the redundant input changes nothing"
            );
        }
    }
}
