//! rrweb's own format: a JSON array of one window's events, decompressed and in order, as
//! `rrweb-player` and rrweb's `Replayer` take them (one Replayer plays one window, FORMATS.md §8).
//!
//! Each event is `{"type","data","timestamp"}` with `data` the lake's payload byte for byte, plus
//! the window's id as `windowId` where the lake has one (players ignore it; PostHog's own rrweb
//! export carries it too). Nothing is added or dropped, so converting the files back gives the
//! same events rows: the file name `<escaped session id>.<n>.rrweb.json` gives convert the session
//! id (see [`super::out::escape_id`]), the inline `windowId` the window.

use std::io::{self, Write};
use std::sync::Arc;

use crate::decode::Event;
use crate::export::read::ExportSession;

/// The windows of a session in order of first appearance (`None`: events without a window).
pub fn windows(s: &ExportSession) -> Vec<Option<Arc<str>>> {
    let mut out: Vec<Option<Arc<str>>> = Vec::new();
    for e in &s.stored.events {
        if !out.contains(&e.window_id) {
            out.push(e.window_id.clone());
        }
    }
    out
}

/// The name of the file of the `n`th window (1-based).
pub fn file_name(escaped_id: &str, n: usize) -> String {
    format!("{escaped_id}.{n}.rrweb.json")
}

/// Writes the events of `window` as a JSON array, one event per line; returns how many.
pub fn write(s: &ExportSession, window: &Option<Arc<str>>, out: &mut dyn Write) -> io::Result<u64> {
    out.write_all(b"[")?;
    let mut n = 0u64;
    for e in s.stored.events.iter().filter(|e| &e.window_id == window) {
        out.write_all(if n == 0 { b"\n" } else { b",\n" })?;
        event(e, out)?;
        n += 1;
    }
    out.write_all(b"\n]\n")?;
    Ok(n)
}

fn event(e: &Event, out: &mut dyn Write) -> io::Result<()> {
    write!(out, "{{\"type\":{},\"data\":", e.event_type)?;
    out.write_all(e.data.as_bytes())?;
    write!(out, ",\"timestamp\":{}", e.timestamp)?;
    if let Some(w) = &e.window_id {
        out.write_all(b",\"windowId\":")?;
        serde_json::to_writer(&mut *out, &**w)?;
    }
    out.write_all(b"}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Event;

    #[test]
    fn one_array_per_window_with_raw_data() {
        let mut s = crate::export::posthog::tests::session(vec![]);
        s.stored.events = vec![
            Event::new(Some("w1".into()), 1, 4, r#"{"href":"h"}"#.into()),
            Event::new(Some("w2".into()), 2, 4, r#"{"href":"g"}"#.into()),
            Event::new(Some("w1".into()), 3, 3, r#"{ "source" :1}"#.into()),
        ];
        let ws = windows(&s);
        assert_eq!(ws.len(), 2);
        let mut out = Vec::new();
        assert_eq!(write(&s, &ws[0], &mut out).unwrap(), 2);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "[\n{\"type\":4,\"data\":{\"href\":\"h\"},\"timestamp\":1,\"windowId\":\"w1\"},\n\
             {\"type\":3,\"data\":{ \"source\" :1},\"timestamp\":3,\"windowId\":\"w1\"}\n]\n"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
    }
}
