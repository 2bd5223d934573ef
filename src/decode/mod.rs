//! Bytes to typed rrweb events.
//!
//! [`envelope::Decoder`] takes JSON records in any of the shapes PostHog and rrweb produce (export
//! files, blob lines, capture payloads, bare events) and groups their events by session;
//! [`compressed`] unpacks posthog-js `cv: "2024-10"` payloads. [`Session::finish`] then orders a
//! session's events (stable sort by timestamp) and drops exact duplicates, as PostHog's player does.
//!
//! Records that cannot be used become [`Reject`]s, never panics or silent drops.

pub mod compressed;
pub mod envelope;

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
}

impl Event {
    fn same_content(&self, other: &Event) -> bool {
        self.timestamp == other.timestamp
            && self.event_type == other.event_type
            && self.window_id == other.window_id
            && self.data == other.data
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
    /// Adds another fragment of the same session (from another file).
    pub fn absorb(&mut self, other: Session) {
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
        self.events.extend(other.events);
    }

    /// Stable sort by timestamp, then drop events equal to an earlier one with the same timestamp
    /// (same window, type and data), as PostHog's player does before playback.
    pub fn finish(self) -> OrderedSession {
        let mut events = self.events;
        events.sort_by_key(|e| e.timestamp);
        let before = events.len();
        let mut kept: Vec<Event> = Vec::with_capacity(before);
        let mut group_start = 0;
        for e in events {
            if kept.last().is_none_or(|l| l.timestamp != e.timestamp) {
                group_start = kept.len();
            }
            if kept[group_start..].iter().any(|k| k.same_content(&e)) {
                continue;
            }
            kept.push(e);
        }
        let duplicates_dropped = (before - kept.len()) as u64;
        // The schema version is hashed too: a lake written by an older schema is rewritten
        // (replaced, not duplicated) when the same input is converted again.
        let mut h = Xxh3::new();
        h.update(crate::schema::SCHEMA_VERSION.as_bytes());
        h.update(&[0xfd]);
        for e in &kept {
            h.update(e.window_id.as_deref().unwrap_or("\u{0}").as_bytes());
            h.update(&[0xff]);
            h.update(&e.timestamp.to_le_bytes());
            h.update(&e.event_type.to_le_bytes());
            h.update(e.data.as_bytes());
            h.update(&[0xfe]);
        }
        OrderedSession {
            session_id: self.session_id,
            id_source: self.id_source,
            source_files: self.source_files,
            source_format: self.source_format,
            meta: self.meta,
            events: kept,
            duplicates_dropped,
            checksum: format!("{:032x}", h.digest128()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, w: &str, data: &str) -> Event {
        Event {
            window_id: Some(w.into()),
            timestamp: ts,
            event_type: 3,
            data: data.into(),
        }
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
        let mk = |evs: Vec<Event>| {
            Session {
                session_id: "s".into(),
                id_source: SessionIdSource::Flag,
                source_files: vec![],
                source_format: "x".into(),
                meta: Default::default(),
                events: evs,
            }
            .finish()
            .checksum
        };
        assert_eq!(
            mk(vec![ev(1, "a", "x"), ev(2, "a", "y")]),
            mk(vec![ev(2, "a", "y"), ev(1, "a", "x")])
        );
        assert_ne!(mk(vec![ev(1, "a", "x")]), mk(vec![ev(1, "a", "z")]));
    }
}
