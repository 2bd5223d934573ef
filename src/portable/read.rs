//! Reading portable files line by line, every line checked against the spec.
//!
//! One [`Reader`] per file, started by its meta line. `convert` reads leniently: a bad line is
//! rejected and the next one read, sequence numbers need only increase (a missing line shows at
//! the end line). `verify` reads strictly: `seq` counts up from 0 by one, each `kind` must be the
//! event's, the meta line's `event_count` must be the end line's, and the first problem is the
//! verdict.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;

use super::lines::{LineIn, unembed};
use super::{FORMAT, SIGNATURE, VERSION, checksum, kind};
use crate::decode::{Event, SessionIdSource, SessionMeta};

/// What the meta line says of the session.
#[derive(Debug, Clone)]
pub struct Meta {
    pub session_id: String,
    pub id_source: SessionIdSource,
    /// With `duplicates_carried` set from the line's `duplicates_dropped`.
    pub meta: SessionMeta,
    pub event_count: Option<u64>,
}

/// What a good line held.
#[derive(Debug)]
pub enum Item {
    Event { seq: i64, event: Event },
    End { count: u64 },
}

/// Checks the lines of one file after its meta line.
pub struct Reader {
    strict: bool,
    meta: Meta,
    session: checksum::Session,
    last_seq: Option<i64>,
    ended: bool,
    windows: HashMap<String, Arc<str>>,
}

/// True when `line` begins a portable file.
pub fn is_portable(line: &[u8]) -> bool {
    line.starts_with(SIGNATURE.as_bytes())
}

fn parse(line: &[u8]) -> Result<LineIn<'_>, String> {
    serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))
}

fn id_source(s: Option<&str>) -> Result<SessionIdSource, String> {
    match s {
        Some("data") => Ok(SessionIdSource::Data),
        Some("flag") => Ok(SessionIdSource::Flag),
        Some("filename") => Ok(SessionIdSource::Filename),
        Some(other) => Err(format!(
            "meta: session_id_source {other:?} is not data, flag or filename"
        )),
        None => Err("meta: no session_id_source".into()),
    }
}

fn meta(l: &LineIn<'_>, strict: bool) -> Result<Meta, String> {
    if l.kind.as_deref() != Some("meta") {
        return Err("the first line is not the meta line".into());
    }
    match (l.format.as_deref(), l.version.as_deref()) {
        (Some(FORMAT), Some(VERSION)) => {}
        (Some(FORMAT), v) => {
            return Err(format!(
                "meta: unsupported version {v:?} (this reader knows {VERSION:?})"
            ));
        }
        (f, _) => return Err(format!("meta: format {f:?} is not {FORMAT:?}")),
    }
    let session_id = match l.session_id.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => return Err("meta: no session_id".into()),
    };
    if strict && (l.duplicates_dropped.is_none() || l.event_count.is_none()) {
        return Err("meta: no duplicates_dropped or event_count".into());
    }
    Ok(Meta {
        session_id,
        id_source: id_source(l.session_id_source.as_deref())?,
        meta: SessionMeta {
            distinct_id: l.distinct_id.as_deref().map(str::to_string),
            person: unembed(l.person, l.person_text.as_deref()),
            user_agent: l.user_agent.as_deref().map(str::to_string),
            lib: l.lib.as_deref().map(str::to_string),
            posthog_metadata: unembed(l.posthog_metadata, l.posthog_metadata_text.as_deref()),
            duplicates_carried: l.duplicates_dropped.unwrap_or(0),
        },
        event_count: l.event_count,
    })
}

impl Reader {
    /// Reads the meta line (`line`, without its terminator); `strict` for `verify`.
    pub fn start(line: &[u8], strict: bool) -> Result<Reader, String> {
        if !is_portable(line) {
            return Err(format!(
                "not a portable file: it does not begin with {SIGNATURE}"
            ));
        }
        let meta = meta(&parse(line)?, strict)?;
        Ok(Reader {
            strict,
            meta,
            session: checksum::Session::new(line),
            last_seq: None,
            ended: false,
            windows: HashMap::new(),
        })
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// True once the end line was read (and was good).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Event lines read so far, good or not.
    pub fn event_lines(&self) -> u64 {
        self.session.count()
    }

    /// Checks one line after the meta line; an `Err` says what is wrong with it.
    pub fn line(&mut self, line: &[u8]) -> Result<Item, String> {
        if self.ended {
            return Err("a line after the end line".into());
        }
        let l = parse(line)?;
        match l.kind.as_deref() {
            None => Err("no `kind`".into()),
            Some("meta") => Err("a second meta line".into()),
            Some("end") => self.end(&l),
            Some(k) => {
                // counted as written before any check, so one bad line shows once
                if let Some(sum) = l.checksum.as_deref() {
                    self.session.add(sum);
                }
                let k = k.to_string();
                self.event(&k, &l)
            }
        }
    }

    fn end(&mut self, l: &LineIn<'_>) -> Result<Item, String> {
        let n = self.session.count();
        let Some(count) = l.count else {
            return Err("end: no count".into());
        };
        if count != n {
            return Err(format!(
                "end: count {count}, but {n} event lines precede it (lines are missing or added)"
            ));
        }
        if self.strict && self.meta.event_count.is_some_and(|c| c != n) {
            return Err(format!(
                "end: {n} events, but the meta line's event_count is {}",
                self.meta.event_count.unwrap_or_default()
            ));
        }
        let want = self.session.digest();
        match l.checksum.as_deref() {
            Some(sum) if sum == want => {
                self.ended = true;
                Ok(Item::End { count })
            }
            Some(sum) => Err(format!(
                "end: session checksum mismatch: the line says {sum}, the file hashes to {want} \
                 (the meta line or an event line's checksum was changed)"
            )),
            None => Err("end: no checksum".into()),
        }
    }

    fn event(&mut self, k: &str, l: &LineIn<'_>) -> Result<Item, String> {
        let (Some(seq), Some(ts), Some(ty)) = (l.seq, l.timestamp, l.ty) else {
            return Err(format!("{k} line without seq, timestamp or type"));
        };
        self.check_seq(seq)?;
        if !(0..=7).contains(&ty) {
            return Err(format!("unknown rrweb event type {ty}"));
        }
        if ts <= 0 {
            return Err(format!("timestamp {ts} is not positive"));
        }
        let window = self.window(l.window_id)?;
        let data = match (l.data, l.data_text.as_deref()) {
            (Some(raw), None) => raw.get(),
            (None, Some(text)) => text,
            _ => return Err("an event line holds exactly one of data and data_text".into()),
        };
        let Some(sum) = l.checksum.as_deref() else {
            return Err("no checksum".into());
        };
        let want = checksum::event(ty, ts, window.as_deref(), data);
        if sum != want {
            return Err(format!(
                "checksum mismatch: the line says {sum}, its event hashes to {want} \
                 (the event was changed)"
            ));
        }
        if self.strict && kind::of(ty, data) != k {
            return Err(format!(
                "kind {k:?}, but the event is {:?}",
                kind::of(ty, data)
            ));
        }
        Ok(Item::Event {
            seq,
            event: Event::new(window, ts, ty, data.into()),
        })
    }

    fn check_seq(&mut self, seq: i64) -> Result<(), String> {
        let ok = match (self.last_seq, self.strict) {
            (None, true) => seq == 0,
            (Some(last), true) => seq == last + 1,
            (None, false) => seq >= 0,
            (Some(last), false) => seq > last,
        };
        if !ok {
            let want = self.last_seq.map_or(0, |s| s + 1);
            return Err(match self.strict {
                true => format!("seq {seq} where {want} was expected"),
                false => format!(
                    "seq {seq} is out of order (lines before it reached {})",
                    want - 1
                ),
            });
        }
        self.last_seq = Some(seq);
        Ok(())
    }

    /// `window_id`: a string, or null for none.
    fn window(&mut self, raw: Option<&RawValue>) -> Result<Option<Arc<str>>, String> {
        let Some(raw) = raw else {
            return Err("no window_id (null when the event has none)".into());
        };
        if raw.get() == "null" {
            return Ok(None);
        }
        let w: std::borrow::Cow<'_, str> = serde_json::from_str(raw.get())
            .map_err(|_| format!("window_id {} is not a string or null", raw.get()))?;
        if let Some(a) = self.windows.get(w.as_ref()) {
            return Ok(Some(a.clone()));
        }
        let a: Arc<str> = w.as_ref().into();
        self.windows.insert(w.into_owned(), a.clone());
        Ok(Some(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portable::write::{tests::session, write_session};

    fn file() -> Vec<String> {
        let mut out = Vec::new();
        write_session(&session(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The first problem of `lines`, as (1-based line, reason); None when they are good.
    fn first_problem(lines: &[String], strict: bool) -> Option<(usize, String)> {
        let mut r = match Reader::start(lines[0].as_bytes(), strict) {
            Ok(r) => r,
            Err(e) => return Some((1, e)),
        };
        for (i, l) in lines.iter().enumerate().skip(1) {
            if let Err(e) = r.line(l.as_bytes()) {
                return Some((i + 1, e));
            }
        }
        (!r.ended()).then(|| (lines.len() + 1, "truncated".into()))
    }

    #[test]
    fn a_written_file_reads_back_whole() {
        let lines = file();
        assert_eq!(first_problem(&lines, true), None);
        let mut r = Reader::start(lines[0].as_bytes(), true).unwrap();
        let s = session();
        assert_eq!(r.meta().session_id, s.session_id);
        assert_eq!(r.meta().meta.person, s.meta.person);
        assert_eq!(r.meta().meta.posthog_metadata, s.meta.posthog_metadata);
        assert_eq!(r.meta().meta.duplicates_carried, 2);
        for (l, want) in lines[1..4].iter().zip(&s.events) {
            let Item::Event { event, .. } = r.line(l.as_bytes()).unwrap() else {
                panic!("an event")
            };
            assert_eq!(
                (
                    &event.window_id,
                    event.timestamp,
                    event.event_type,
                    &event.data
                ),
                (&want.window_id, want.timestamp, want.event_type, &want.data)
            );
        }
        assert!(matches!(
            r.line(lines[4].as_bytes()),
            Ok(Item::End { count: 3 })
        ));
    }

    #[test]
    fn damage_is_named_with_its_line() {
        let lines = file();
        let mut tampered = lines.clone();
        tampered[2] = tampered[2].replace("\"x\":1.50", "\"x\":1.51");
        let (n, why) = first_problem(&tampered, false).unwrap();
        assert_eq!(n, 3);
        assert!(why.starts_with("checksum mismatch"), "{why}");

        let mut swapped = lines.clone();
        swapped.swap(1, 2);
        let (n, why) = first_problem(&swapped, true).unwrap();
        assert_eq!((n, why.as_str()), (2, "seq 1 where 0 was expected"));
        assert_eq!(
            first_problem(&swapped, false).unwrap().0,
            3,
            "lenient: 0 after 1"
        );

        let mut dropped = lines.clone();
        dropped.remove(2);
        let (n, why) = first_problem(&dropped, false).unwrap();
        assert!(n == 4 && why.contains("count 3, but 2"), "{n} {why}");

        let mut meta = lines.clone();
        meta[0] = meta[0].replace("\"distinct_id\":\"d\"", "\"distinct_id\":\"e\"");
        let (n, why) = first_problem(&meta, false).unwrap();
        assert!(
            n == 5 && why.contains("session checksum mismatch"),
            "{n} {why}"
        );

        let mut kind = lines.clone();
        kind[2] = kind[2].replace("\"kind\":\"mouse\"", "\"kind\":\"scroll\"");
        assert_eq!(
            first_problem(&kind, false),
            None,
            "kind is derived: lenient ignores it"
        );
        assert!(
            first_problem(&kind, true)
                .unwrap()
                .1
                .contains("kind \"scroll\"")
        );

        let truncated = &lines[..4];
        assert_eq!(first_problem(truncated, true).unwrap().0, 5);
        let v2 = lines[0].replace("\"version\":\"1\"", "\"version\":\"2\"");
        assert!(
            Reader::start(v2.as_bytes(), false)
                .err()
                .unwrap()
                .contains("unsupported version")
        );
    }
}
