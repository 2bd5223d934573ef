//! Sessions out as portable files: meta line, one line per event in the lake's order, end line.
//! Deterministic (the same session gives the same bytes): keys in a fixed order, no clock.

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat};

use super::checksum;
use super::kind;
use super::lines::{EndOut, EventOut, MetaOut, split};
use super::{FORMAT, VERSION};
use crate::sink::read::StoredSession;

/// Writes one session as a portable file: the meta line, one line per event, the end line.
pub fn write_session(s: &StoredSession, out: &mut dyn Write) -> io::Result<()> {
    let mut line = Vec::with_capacity(4096);
    meta_line(s, &mut line)?;
    let mut session = checksum::Session::new(&line);
    finish_line(&mut line, out)?;
    for (seq, e) in s.events.iter().enumerate() {
        let window = e.window_id.as_deref();
        let sum = checksum::event(e.event_type, e.timestamp, window, &e.data);
        let ev = EventOut {
            kind: kind::of(e.event_type, &e.data),
            seq: seq as u64,
            timestamp: e.timestamp,
            window_id: window,
            ty: e.event_type,
            data: None,
            data_text: None,
            checksum: &sum,
        }
        .with_data(&e.data);
        serde_json::to_writer(&mut line, &ev)?;
        session.add(&sum);
        finish_line(&mut line, out)?;
    }
    let end = EndOut {
        kind: "end",
        count: session.count(),
        checksum: &session.digest(),
    };
    serde_json::to_writer(&mut line, &end)?;
    finish_line(&mut line, out)
}

fn finish_line(line: &mut Vec<u8>, out: &mut dyn Write) -> io::Result<()> {
    line.push(b'\n');
    out.write_all(line)?;
    line.clear();
    Ok(())
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The session's windows in order of first appearance (`None` when some events have none).
fn windows(s: &StoredSession) -> Vec<Option<&str>> {
    let mut out: Vec<Option<&str>> = Vec::new();
    for e in &s.events {
        let w = e.window_id.as_deref();
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

fn meta_line(s: &StoredSession, line: &mut Vec<u8>) -> io::Result<()> {
    let (person, person_text) = split(s.meta.person.as_deref());
    let (posthog_metadata, posthog_metadata_text) = split(s.meta.posthog_metadata.as_deref());
    let meta = MetaOut {
        kind: "meta",
        format: FORMAT,
        version: VERSION,
        session_id: &s.session_id,
        session_id_source: s.id_source.as_str(),
        start_ms: s.start_ms,
        end_ms: s.end_ms,
        start_time: iso(s.start_ms),
        end_time: iso(s.end_ms),
        windows: windows(s),
        event_count: s.events.len() as u64,
        first_url: s.first_url.as_deref(),
        user_agent: s.meta.user_agent.as_deref(),
        lib: s.meta.lib.as_deref(),
        distinct_id: s.meta.distinct_id.as_deref(),
        person,
        person_text,
        posthog_metadata,
        posthog_metadata_text,
        duplicates_dropped: s.duplicates_dropped,
        lake_checksum: &s.checksum,
    };
    serde_json::to_writer(&mut *line, &meta)?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::{Event, SessionIdSource, SessionMeta};

    /// A small session with what the lake can hold: windows (one null), pretty-printed data,
    /// person as JSON.
    pub(crate) fn session() -> StoredSession {
        let w: std::sync::Arc<str> = "w-1".into();
        let ev = |w: Option<&std::sync::Arc<str>>, ts, ty, data: &str| {
            Event::new(w.cloned(), ts, ty, data.into())
        };
        StoredSession {
            session_id: "s-1".into(),
            id_source: SessionIdSource::Data,
            meta: SessionMeta {
                distinct_id: Some("d".into()),
                person: Some(r#"{"distinct_ids":["d"],"properties":{"n":1.50}}"#.into()),
                user_agent: Some("UA".into()),
                lib: None,
                posthog_metadata: Some("{\n \"id\": 1\n}".into()),
                duplicates_carried: 0,
            },
            source_files: vec!["a.jsonl".into()],
            source_format: "blob-v2-jsonl".into(),
            duplicates_dropped: 2,
            checksum: "c".repeat(32),
            start_ms: 10,
            end_ms: 30,
            first_url: Some("http://a.test/".into()),
            events: vec![
                ev(
                    Some(&w),
                    10,
                    4,
                    r#"{"href":"http://a.test/","width":1,"height":2}"#,
                ),
                ev(Some(&w), 20, 3, r#"{"source":2,"type":2,"id":5,"x":1.50}"#),
                ev(None, 30, 5, "{\n  \"tag\": \"t\"\n}"),
            ],
        }
    }

    fn written(s: &StoredSession) -> String {
        let mut out = Vec::new();
        write_session(s, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_meta_events_end_and_bytes_are_kept() {
        let s = session();
        let text = written(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(
            lines[0].starts_with(super::super::SIGNATURE),
            "{}",
            lines[0]
        );
        assert!(lines[0].contains(r#""person":{"distinct_ids":["d"],"properties":{"n":1.50}}"#));
        assert!(
            lines[0]
                .contains(r#""posthog_metadata":null,"posthog_metadata_text":"{\n \"id\": 1\n}""#)
        );
        assert!(lines[0].contains(r#""windows":["w-1",null]"#));
        assert!(lines[0].contains(r#""start_time":"1970-01-01T00:00:00.010Z""#));
        assert!(lines[2].starts_with(r#"{"kind":"mouse","seq":1,"timestamp":20,"window_id":"w-1","type":3,"data":{"source":2,"type":2,"id":5,"x":1.50},"checksum":""#));
        assert!(
            lines[3].contains(r#""window_id":null"#)
                && lines[3].contains(r#""data_text":"{\n  \"tag\": \"t\"\n}""#)
        );
        let end: serde_json::Value = serde_json::from_str(lines[4]).unwrap();
        assert_eq!(
            (end["kind"].as_str(), end["count"].as_u64()),
            (Some("end"), Some(3))
        );
        let mut sum = checksum::Session::new(lines[0].as_bytes());
        for l in &lines[1..4] {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            sum.add(v["checksum"].as_str().unwrap());
        }
        assert_eq!(end["checksum"].as_str(), Some(sum.digest().as_str()));
    }

    #[test]
    fn writing_twice_gives_the_same_bytes() {
        assert_eq!(written(&session()), written(&session()));
        let mut other = session();
        other.events[1].timestamp += 1;
        assert_ne!(written(&other), written(&session()));
    }
}
