//! PostHog's "load from file" format (FORMATS.md §4, §8): `{"version":"2023-04-28","data":
//! {"id","person","snapshots":[…]}}`, written one snapshot at a time.
//!
//! What PostHog's file import needs, and so what this writes: snapshots decompressed (the lake's
//! payloads are), sorted (the lake's order), `windowId` as integers 1, 2, … in order of first
//! appearance, `person` from the lake when `pull` brought one (else `null`), and a Meta event
//! (type 4) before every FullSnapshot (type 2): the file import cannot patch one in. Where a
//! FullSnapshot has no Meta since the previous FullSnapshot of its window, one is inserted with
//! the FullSnapshot's timestamp and the last known `href`/`width`/`height` (the window's last
//! Meta, else the session's first Meta, else the recording's `first_url` and viewport). That is
//! the only thing an export adds; each event's `data` is the lake's payload byte for byte.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::export::read::ExportSession;

/// The export version PostHog's importer accepts.
pub const VERSION: &str = "2023-04-28";
const FULL_SNAPSHOT: i32 = 2;
const META: i32 = 4;

/// What writing a file did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub events: u64,
    pub metas_inserted: u64,
}

/// The file name PostHog's own exporter uses, with the id escaped (see [`super::out::escape_id`]).
pub fn file_name(escaped_id: &str) -> String {
    format!("export-{escaped_id}-ph-recording.json")
}

/// The fields of a Meta event.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Meta {
    #[serde(default)]
    href: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    width: Option<serde_json::Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    height: Option<serde_json::Number>,
}

impl Meta {
    /// Fills what `self` lacks from `other`.
    fn or(mut self, other: &Meta) -> Meta {
        self.href = self.href.or_else(|| other.href.clone());
        self.width = self.width.or_else(|| other.width.clone());
        self.height = self.height.or_else(|| other.height.clone());
        self
    }
}

/// Meta state of one window.
#[derive(Default)]
struct WindowState {
    number: u64,
    last_meta: Option<Meta>,
    meta_since_full: bool,
}

/// Writes the session as a PostHog export file.
pub fn write(s: &ExportSession, out: &mut dyn Write) -> io::Result<Written> {
    let st = &s.stored;
    let fallback = fallback_meta(s);
    let mut windows: HashMap<Option<Arc<str>>, WindowState> = HashMap::new();
    let mut written = Written::default();
    out.write_all(b"{\"version\":\"")?;
    out.write_all(VERSION.as_bytes())?;
    out.write_all(b"\",\"data\":{\"id\":")?;
    serde_json::to_writer(&mut *out, &st.session_id)?;
    out.write_all(b",\"person\":")?;
    out.write_all(person(st.meta.person.as_deref()).as_bytes())?;
    out.write_all(b",\"snapshots\":[")?;
    let mut first = true;
    for e in &st.events {
        let n = windows.len() as u64 + 1;
        let w = windows
            .entry(e.window_id.clone())
            .or_insert_with(|| WindowState {
                number: n,
                ..Default::default()
            });
        match e.event_type {
            META => {
                w.last_meta = serde_json::from_str(&e.data).ok();
                w.meta_since_full = true;
            }
            FULL_SNAPSHOT if !w.meta_since_full => {
                let m = w.last_meta.clone().unwrap_or_default().or(&fallback);
                let data = serde_json::to_string(&m)?;
                snapshot(out, &mut first, META, &data, e.timestamp, w.number)?;
                written.metas_inserted += 1;
                written.events += 1;
            }
            _ => {}
        }
        if e.event_type == FULL_SNAPSHOT {
            w.meta_since_full = false;
        }
        snapshot(
            out,
            &mut first,
            e.event_type,
            &e.data,
            e.timestamp,
            w.number,
        )?;
        written.events += 1;
    }
    out.write_all(b"\n]}}\n")?;
    Ok(written)
}

/// One snapshot, on its own line: `{"type","data","timestamp","windowId"}` with `data` raw.
fn snapshot(
    out: &mut dyn Write,
    first: &mut bool,
    ty: i32,
    data: &str,
    ts: i64,
    window: u64,
) -> io::Result<()> {
    out.write_all(if *first { b"\n" } else { b",\n" })?;
    *first = false;
    write!(out, "{{\"type\":{ty},\"data\":")?;
    out.write_all(data.as_bytes())?;
    write!(out, ",\"timestamp\":{ts},\"windowId\":{window}}}")
}

/// The lake's person JSON when it is a JSON object, else `null`.
fn person(p: Option<&str>) -> &str {
    p.filter(|p| {
        serde_json::from_str::<&RawValue>(p).is_ok_and(|r| r.get().trim_start().starts_with('{'))
    })
    .unwrap_or("null")
}

/// What an inserted Meta takes when its window has had none: the session's first Meta, then the
/// recording's `first_url` and viewport.
fn fallback_meta(s: &ExportSession) -> Meta {
    let first = s
        .stored
        .events
        .iter()
        .find(|e| e.event_type == META)
        .and_then(|e| serde_json::from_str::<Meta>(&e.data).ok())
        .unwrap_or_default();
    let recording = Meta {
        href: s.stored.first_url.clone(),
        width: s.viewport.0.map(Into::into),
        height: s.viewport.1.map(Into::into),
    };
    let mut m = first.or(&recording);
    m.href.get_or_insert_with(String::new);
    m
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decode::{Event, SessionIdSource};
    use crate::sink::read::StoredSession;

    pub(crate) fn session(events: Vec<Event>) -> ExportSession {
        ExportSession {
            stored: StoredSession {
                session_id: "s\"1".into(),
                id_source: SessionIdSource::Data,
                meta: Default::default(),
                source_files: vec![],
                source_format: String::new(),
                duplicates_dropped: 0,
                checksum: String::new(),
                start_ms: 0,
                end_ms: 0,
                first_url: Some("https://x.test/".into()),
                events,
            },
            viewport: (Some(800), Some(600)),
        }
    }

    fn ev(w: &str, ts: i64, ty: i32, data: &str) -> Event {
        Event::new(Some(w.into()), ts, ty, data.into())
    }

    #[test]
    fn a_meta_precedes_every_full_snapshot_and_windows_are_numbered() {
        let s = session(vec![
            ev("a", 1, 4, r#"{"href":"https://a/","width":10,"height":20}"#),
            ev("a", 2, 2, r#"{"node":{}}"#),
            ev("b", 3, 2, r#"{"node":{ }}"#),
            ev("a", 4, 3, r#"{"source":1}"#),
            ev("a", 5, 2, r#"{"node":{}}"#),
        ]);
        let mut out = Vec::new();
        let w = write(&s, &mut out).unwrap();
        assert_eq!((w.events, w.metas_inserted), (7, 2));
        let text = String::from_utf8(out).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["version"], VERSION);
        assert_eq!(v["data"]["id"], "s\"1");
        assert!(v["data"]["person"].is_null());
        let snaps = v["data"]["snapshots"].as_array().unwrap();
        let kinds: Vec<(i64, i64, i64)> = snaps
            .iter()
            .map(|s| {
                (
                    s["type"].as_i64().unwrap(),
                    s["timestamp"].as_i64().unwrap(),
                    s["windowId"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (4, 1, 1),
                (2, 2, 1),
                (4, 3, 2),
                (2, 3, 2),
                (3, 4, 1),
                (4, 5, 1),
                (2, 5, 1)
            ]
        );
        // window b had no Meta: the session's first; window a's second: its own last
        assert_eq!(snaps[2]["data"]["href"], "https://a/");
        assert_eq!(snaps[5]["data"]["width"], 10);
        // data is the payload byte for byte
        assert!(text.contains(r#""data":{"node":{ }}"#));
    }

    #[test]
    fn without_any_meta_the_recording_row_fills_one_in() {
        let s = session(vec![ev("a", 7, 2, "{}")]);
        let mut out = Vec::new();
        write(&s, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let m = &v["data"]["snapshots"][0];
        assert_eq!(m["type"], 4);
        assert_eq!(m["timestamp"], 7);
        assert_eq!(m["data"]["href"], "https://x.test/");
        assert_eq!(
            (m["data"]["width"].as_i64(), m["data"]["height"].as_i64()),
            (Some(800), Some(600))
        );
    }

    #[test]
    fn person_is_an_object_or_null() {
        assert_eq!(person(Some(r#"{"id":1}"#)), r#"{"id":1}"#);
        assert_eq!(person(Some("not json")), "null");
        assert_eq!(person(Some("[1]")), "null");
        assert_eq!(person(None), "null");
    }
}
