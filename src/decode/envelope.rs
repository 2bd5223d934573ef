//! Record shapes: everything PostHog and rrweb wrap events in.
//!
//! A record is one JSON value: a JSONL line, or a whole JSON document. [`Decoder::record`] accepts
//! every shape in FORMATS.md and routes each event to its session:
//!
//! | shape | example | session id from |
//! |---|---|---|
//! | export 2023-04-28 | `{"version":"2023-04-28","data":{"id","person","snapshots":[…]}}` | `data.id` |
//! | export 2022-12-02 | `{"version":"2022-12-02","data":{"person","snapshotsByWindowId":{…}}}` | flag / file name |
//! | blob_v2 line | `["<windowId>", {event}]` | flag / file name |
//! | v1 blob line | `{"window_id":"…","data":[event,…]}` | flag / file name |
//! | capture payload | `{"event":"$snapshot","properties":{"$snapshot_data":[…],"$session_id",…}}` | `$session_id` |
//! | bare event | `{"type":…,"timestamp":…,"data":…[,"windowId"]}` (NDJSON) | flag / file name |
//! | event array | `[event, event, …]` (rrweb export) | flag / file name |
//! | portable | `{"kind":"meta","format":"replaylake-portable",…}` then event lines | meta line |
//!
//! A portable file ([`crate::portable`]) is known by its first record; its lines are then
//! checked by [`crate::portable::read::Reader`] (checksums, order, end line), not routed here.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::compressed::{self, CV_2024_10};
use super::{Event, Reject, Session, SessionIdSource, SessionMeta};
use crate::portable::read::{Item, Reader, is_portable};

/// Options that apply to every record of an input.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Session id for inputs that do not name one (`--session-id`).
    pub session_id: Option<String>,
    /// Most bytes a compressed payload or a record of a compressed input may decompress to
    /// (`--max-decompressed-mb`, default [`super::limit::DEFAULT_MAX_DECOMPRESSED`]).
    pub max_decompressed: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            session_id: None,
            max_decompressed: super::limit::DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// Accumulates the sessions of one input (a file or an HTTP body).
pub struct Decoder {
    file: String,
    flag_session: Option<Arc<str>>,
    filename_session: Option<Arc<str>>,
    container: Option<&'static str>,
    format: Option<&'static str>,
    sessions: Vec<Session>,
    by_id: HashMap<Arc<str>, usize>,
    windows: HashMap<String, Arc<str>>,
    rejects: Vec<Reject>,
    records: u64,
    max_decompressed: usize,
    portable: Portable,
    warnings: Vec<String>,
}

/// Whether the input is a portable file, and its reader.
enum Portable {
    No,
    /// Its meta line was rejected: no line of it can be placed.
    Broken,
    Yes {
        reader: Box<Reader>,
        session: usize,
        last_line: Option<u64>,
    },
}

/// Where a record sits in its input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loc {
    pub line: Option<u64>,
}

#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(rename = "type", borrow)]
    ty: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow)]
    cv: Option<Cow<'a, str>>,
    #[serde(rename = "windowId", borrow)]
    window_id_camel: Option<&'a RawValue>,
    #[serde(rename = "window_id", borrow)]
    window_id_snake: Option<&'a RawValue>,
    #[serde(borrow)]
    version: Option<&'a RawValue>,
    #[serde(borrow)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    distinct_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ExportData<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    person: Option<&'a RawValue>,
    #[serde(borrow)]
    snapshots: Option<Vec<&'a RawValue>>,
    #[serde(rename = "snapshotsByWindowId", borrow)]
    snapshots_by_window_id: Option<BTreeMap<Cow<'a, str>, Vec<&'a RawValue>>>,
}

#[derive(Deserialize)]
struct Person<'a> {
    #[serde(borrow, default)]
    distinct_ids: Vec<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CaptureProps<'a> {
    #[serde(rename = "$snapshot_data", borrow)]
    snapshot_data: Option<&'a RawValue>,
    #[serde(rename = "$snapshot_items", borrow)]
    snapshot_items: Option<&'a RawValue>,
    #[serde(rename = "$session_id", borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(rename = "$window_id", borrow)]
    window_id: Option<&'a RawValue>,
    #[serde(borrow)]
    distinct_id: Option<Cow<'a, str>>,
    #[serde(rename = "$lib", borrow)]
    lib: Option<Cow<'a, str>>,
    #[serde(rename = "$lib_version", borrow)]
    lib_version: Option<Cow<'a, str>>,
    #[serde(rename = "$raw_user_agent", borrow)]
    raw_user_agent: Option<Cow<'a, str>>,
    #[serde(rename = "$user_agent", borrow)]
    user_agent: Option<Cow<'a, str>>,
}

/// Which session an envelope's events belong to.
struct Target {
    session: Option<(Arc<str>, SessionIdSource)>,
    window: Option<Arc<str>>,
    meta: SessionMeta,
}

fn first_byte(raw: &RawValue) -> u8 {
    raw.get().as_bytes().first().copied().unwrap_or(b' ')
}

/// Session id from a file name: `<session_id>.<anything>`, and PostHog's own download names
/// `export-<session_id>-ph-recording.json` / `export-<session_id>-rrweb-recording.json`. `%XX`
/// escapes in the id are decoded: `replaylake export` escapes ids that are not safe in a file
/// name (`/`, `.`, spaces, …) that way. A browser's mark of a repeated download (` (1)`,
/// `(2)`) is no part of the id: the copy is the same recording.
pub fn session_id_from_file_name(path: &str) -> Option<String> {
    let name = path.rsplit(['/', '\\']).next()?;
    let stem = without_download_copy_mark(name.split('.').next()?);
    let stem = stem
        .strip_prefix("export-")
        .and_then(|s| {
            s.strip_suffix("-ph-recording")
                .or_else(|| s.strip_suffix("-rrweb-recording"))
        })
        .unwrap_or(stem);
    let id = if stem.contains('%') {
        crate::names::unescape_value(stem)
    } else {
        stem.to_string()
    };
    (!id.is_empty()).then_some(id)
}

/// `name (1)` / `name(12)` without the mark browsers add to a file downloaded again.
fn without_download_copy_mark(stem: &str) -> &str {
    let Some(open) = stem.strip_suffix(')').and_then(|s| s.rfind('(')) else {
        return stem;
    };
    let digits = &stem[open + 1..stem.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || open == 0 {
        return stem;
    }
    stem[..open].trim_end_matches(' ')
}

impl Decoder {
    /// A decoder for the input named `file` (a path or URL, used in rejects and provenance).
    pub fn new(file: &str, opts: &DecodeOptions) -> Self {
        Decoder {
            file: file.to_string(),
            flag_session: opts.session_id.as_deref().map(Arc::from),
            filename_session: session_id_from_file_name(file).map(Arc::from),
            container: None,
            format: None,
            sessions: Vec::new(),
            by_id: HashMap::new(),
            windows: HashMap::new(),
            rejects: Vec::new(),
            records: 0,
            max_decompressed: opts.max_decompressed,
            portable: Portable::No,
            warnings: Vec::new(),
        }
    }

    /// The most bytes a payload or record may decompress to ([`DecodeOptions::max_decompressed`]).
    pub fn max_decompressed(&self) -> usize {
        self.max_decompressed
    }

    /// Names the container the records came out of (gzip, snappy, …), for provenance.
    pub fn set_container(&mut self, c: &'static str) {
        self.container = Some(c);
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// Records a reject that happened before a record could be parsed (bad line, corrupt block).
    pub fn reject(&mut self, loc: Loc, reason: impl Into<String>, record: &[u8]) {
        let r = Reject::new(&self.file, loc.line, None, reason, record);
        self.rejects.push(r);
    }

    /// How many records were fed.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Feeds one JSON record (a line, or a whole document).
    pub fn record(&mut self, loc: Loc, bytes: &[u8]) {
        self.records += 1;
        let text = match crate::decode::utf8(bytes) {
            Ok(t) => t,
            Err(e) => return self.reject(loc, format!("not UTF-8 text: {e}"), bytes),
        };
        if self.records == 1 && is_portable(bytes) {
            return self.portable_meta(loc, bytes);
        }
        if !matches!(self.portable, Portable::No) {
            return self.portable_line(loc, bytes);
        }
        let trimmed = text.trim_start();
        match trimmed.as_bytes().first() {
            Some(b'[') => self.array_record(loc, text),
            Some(b'{') => self.object_record(loc, text),
            _ => self.reject(
                loc,
                "invalid JSON: a record must be a JSON object or array",
                bytes,
            ),
        }
    }

    fn note_format(&mut self, f: &'static str) {
        if self.format.is_none() {
            self.format = Some(f);
        }
    }

    fn array_record(&mut self, loc: Loc, text: &str) {
        if self.blob_v2_line(loc, text) {
            return;
        }
        let items: Vec<&RawValue> = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return self.reject(loc, format!("invalid JSON: {e}"), text.as_bytes()),
        };
        // blob_v2: ["<windowId>", {event}]
        if items.len() == 2
            && matches!(first_byte(items[0]), b'"' | b'-' | b'0'..=b'9' | b'n')
            && first_byte(items[1]) == b'{'
        {
            self.note_format("blob-v2-jsonl");
            let window = self.window(items[0]);
            let target = Target {
                session: None,
                window,
                meta: SessionMeta::default(),
            };
            return self.event(&target, loc, None, items[1]);
        }
        self.note_format("rrweb-array");
        let target = Target {
            session: None,
            window: None,
            meta: SessionMeta::default(),
        };
        for (i, item) in items.iter().enumerate() {
            self.event(&target, loc, Some(i as u64), item);
        }
    }

    fn object_record(&mut self, loc: Loc, text: &str) {
        let p: Probe<'_> = match serde_json::from_str(text) {
            Ok(p) => p,
            Err(e) => return self.reject(loc, format!("invalid JSON: {e}"), text.as_bytes()),
        };
        if let (Some(version), Some(data)) = (p.version, p.data) {
            return self.export(loc, version, data, text);
        }
        if p.event.is_some() || p.properties.is_some() {
            return self.capture(loc, &p, text);
        }
        if p.ty.is_some() {
            self.note_format("rrweb-ndjson");
            let target = Target {
                session: None,
                window: None,
                meta: SessionMeta::default(),
            };
            return self.event_probe(&target, loc, None, &p, text.as_bytes());
        }
        if let Some(data) = p.data.filter(|d| first_byte(d) == b'[') {
            self.note_format("blob-v1-jsonl");
            let window = p
                .window_id_snake
                .or(p.window_id_camel)
                .and_then(|w| self.window(w))
                .or_else(|| Some(self.intern("")));
            let target = Target {
                session: None,
                window,
                meta: SessionMeta::default(),
            };
            let events: Vec<&RawValue> = match serde_json::from_str(data.get()) {
                Ok(v) => v,
                Err(e) => {
                    return self.reject(
                        loc,
                        format!("v1 line `data` is not an array: {e}"),
                        text.as_bytes(),
                    );
                }
            };
            for (i, e) in events.iter().enumerate() {
                self.event(&target, loc, Some(i as u64), e);
            }
            return;
        }
        self.reject(
            loc,
            "unrecognized record: expected an export file, a [windowId, event] line, a {window_id, data} line, a $snapshot capture payload or an rrweb event",
            text.as_bytes(),
        )
    }

    /// The common case, a blob_v2 line `["<windowId>", {event}]`, read in one pass. Returns false
    /// (nothing done) when the line is anything else or does not parse: the general path then
    /// reads it and words any reject.
    fn blob_v2_line(&mut self, loc: Loc, text: &str) -> bool {
        let Ok((w, p)) = serde_json::from_str::<(&RawValue, Probe<'_>)>(text) else {
            return false;
        };
        if !matches!(first_byte(w), b'"' | b'-' | b'0'..=b'9' | b'n') {
            return false;
        }
        // The event must be an object (a struct also deserializes from an array): find its text.
        let after_w = w.get().as_ptr() as usize - text.as_ptr() as usize + w.get().len();
        let rest = text[after_w..].trim_start();
        let Some(rest) = rest.strip_prefix(',') else {
            return false;
        };
        let event = rest.trim_start();
        if !event.starts_with('{') {
            return false;
        }
        let event = event.trim_end();
        let event = event.strip_suffix(']').unwrap_or(event).trim_end();
        self.note_format("blob-v2-jsonl");
        let window = self.window(w);
        let target = Target {
            session: None,
            window,
            meta: SessionMeta::default(),
        };
        self.event_probe(&target, loc, None, &p, event.as_bytes());
        true
    }

    fn export(&mut self, loc: Loc, version: &RawValue, data: &RawValue, text: &str) {
        let version: Cow<'_, str> =
            serde_json::from_str(version.get()).unwrap_or(Cow::Borrowed(""));
        let d: ExportData<'_> = match serde_json::from_str(data.get()) {
            Ok(d) => d,
            Err(e) => {
                return self.reject(
                    loc,
                    format!("export `data` is malformed: {e}"),
                    text.as_bytes(),
                );
            }
        };
        let mut meta = SessionMeta::default();
        if let Some(person) = d.person.filter(|p| p.get() != "null") {
            meta.person = Some(person.get().to_string());
            if let Ok(p) = serde_json::from_str::<Person<'_>>(person.get()) {
                meta.distinct_id = p.distinct_ids.first().map(|s| s.to_string());
            }
        }
        let session =
            d.id.filter(|id| !id.is_empty())
                .map(|id| (Arc::from(id.as_ref()), SessionIdSource::Data));
        match version.as_ref() {
            "2023-04-28" => {
                self.note_format("export-2023-04-28");
                let Some(snapshots) = d.snapshots else {
                    return self.reject(
                        loc,
                        "export 2023-04-28 has no data.snapshots",
                        text.as_bytes(),
                    );
                };
                let target = Target {
                    session,
                    window: None,
                    meta,
                };
                for (i, s) in snapshots.iter().enumerate() {
                    self.event(&target, loc, Some(i as u64), s);
                }
            }
            "2022-12-02" => {
                self.note_format("export-2022-12-02");
                let Some(by_window) = d.snapshots_by_window_id else {
                    return self.reject(
                        loc,
                        "export 2022-12-02 has no data.snapshotsByWindowId",
                        text.as_bytes(),
                    );
                };
                let mut target = Target {
                    session,
                    window: None,
                    meta,
                };
                let mut i = 0u64;
                for (w, events) in by_window {
                    target.window = Some(self.intern(&w));
                    for e in events {
                        self.event(&target, loc, Some(i), e);
                        i += 1;
                    }
                }
            }
            other => self.reject(
                loc,
                format!("unsupported export version {other:?} (supported: 2023-04-28, 2022-12-02)"),
                text.as_bytes(),
            ),
        }
    }

    fn capture(&mut self, loc: Loc, p: &Probe<'_>, text: &str) {
        self.note_format("posthog-capture");
        if let Some(ev) = p
            .event
            .as_deref()
            .filter(|e| *e != "$snapshot" && *e != "$snapshot_items")
        {
            return self.reject(
                loc,
                format!("capture event {ev:?} is not a $snapshot"),
                text.as_bytes(),
            );
        }
        let Some(props) = p.properties else {
            return self.reject(loc, "$snapshot event has no properties", text.as_bytes());
        };
        let props: CaptureProps<'_> = match serde_json::from_str(props.get()) {
            Ok(v) => v,
            Err(e) => {
                return self.reject(
                    loc,
                    format!("$snapshot properties are malformed: {e}"),
                    text.as_bytes(),
                );
            }
        };
        let meta = SessionMeta {
            distinct_id: props
                .distinct_id
                .as_deref()
                .or(p.distinct_id.as_deref())
                .map(str::to_string),
            user_agent: props
                .raw_user_agent
                .as_deref()
                .or(props.user_agent.as_deref())
                .map(str::to_string),
            lib: props
                .lib
                .as_deref()
                .map(|l| match props.lib_version.as_deref() {
                    Some(v) => format!("posthog-js ({l}) {v}"),
                    None => format!("posthog-js ({l})"),
                }),
            ..Default::default()
        };
        let session = props
            .session_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|s| (Arc::from(s), SessionIdSource::Data));
        let window = props
            .window_id
            .and_then(|w| self.window(w))
            .or_else(|| Some(self.intern("")));
        let target = Target {
            session,
            window,
            meta,
        };
        let Some(data) = props.snapshot_data.or(props.snapshot_items) else {
            return self.reject(
                loc,
                "$snapshot event has neither $snapshot_data nor $snapshot_items",
                text.as_bytes(),
            );
        };
        match first_byte(data) {
            b'[' => match serde_json::from_str::<Vec<&RawValue>>(data.get()) {
                Ok(events) => {
                    for (i, e) in events.iter().enumerate() {
                        self.event(&target, loc, Some(i as u64), e);
                    }
                }
                Err(e) => self.reject(
                    loc,
                    format!("$snapshot_data is malformed: {e}"),
                    text.as_bytes(),
                ),
            },
            b'{' => self.event(&target, loc, None, data),
            _ => self.reject(
                loc,
                "$snapshot_data is neither an event nor an array of events",
                text.as_bytes(),
            ),
        }
    }

    fn intern(&mut self, w: &str) -> Arc<str> {
        if let Some(a) = self.windows.get(w) {
            return a.clone();
        }
        let a: Arc<str> = w.into();
        self.windows.insert(w.to_string(), a.clone());
        a
    }

    /// A window id given as a JSON string, number or null.
    fn window(&mut self, raw: &RawValue) -> Option<Arc<str>> {
        match first_byte(raw) {
            b'"' => {
                let s: Cow<'_, str> = serde_json::from_str(raw.get()).ok()?;
                Some(self.intern(&s))
            }
            b'n' => None,
            _ => Some(self.intern(raw.get().trim())),
        }
    }

    fn event(&mut self, target: &Target, loc: Loc, index: Option<u64>, raw: &RawValue) {
        match serde_json::from_str::<Probe<'_>>(raw.get()) {
            Ok(p) => self.event_probe(target, loc, index, &p, raw.get().as_bytes()),
            Err(e) => {
                let sid = self.resolve(target).map(|(s, _)| s);
                self.push_reject(
                    loc,
                    index,
                    sid.as_deref(),
                    format!("event is not a JSON object: {e}"),
                    raw.get().as_bytes(),
                );
            }
        }
    }

    fn push_reject(
        &mut self,
        loc: Loc,
        index: Option<u64>,
        session: Option<&str>,
        reason: String,
        record: &[u8],
    ) {
        let reason = match index {
            Some(i) => format!("event #{i}: {reason}"),
            None => reason,
        };
        self.rejects
            .push(Reject::new(&self.file, loc.line, session, reason, record));
    }

    fn resolve(&self, target: &Target) -> Option<(Arc<str>, SessionIdSource)> {
        target
            .session
            .clone()
            .or_else(|| {
                self.flag_session
                    .clone()
                    .map(|s| (s, SessionIdSource::Flag))
            })
            .or_else(|| {
                self.filename_session
                    .clone()
                    .map(|s| (s, SessionIdSource::Filename))
            })
    }

    fn event_probe(
        &mut self,
        target: &Target,
        loc: Loc,
        index: Option<u64>,
        p: &Probe<'_>,
        record: &[u8],
    ) {
        let session = self.resolve(target);
        let sid = session.as_ref().map(|(s, _)| &**s);
        let Some(ty) = p.ty else {
            return self.push_reject(loc, index, sid, "event has no `type`".into(), record);
        };
        let Ok(ty) = ty.get().parse::<i64>() else {
            return self.push_reject(
                loc,
                index,
                sid,
                format!("event `type` {} is not an integer", ty.get()),
                record,
            );
        };
        if !(0..=7).contains(&ty) {
            return self.push_reject(
                loc,
                index,
                sid,
                format!("unknown rrweb event type {ty}"),
                record,
            );
        }
        let Some(ts) = p.timestamp else {
            return self.push_reject(loc, index, sid, "event has no `timestamp`".into(), record);
        };
        let Some(ts) = ts.get().parse::<i64>().ok().or_else(|| {
            ts.get()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| f.floor() as i64)
        }) else {
            return self.push_reject(
                loc,
                index,
                sid,
                format!("event `timestamp` {} is not a number", ts.get()),
                record,
            );
        };
        if ts <= 0 {
            return self.push_reject(
                loc,
                index,
                sid,
                format!("event `timestamp` {ts} is not positive (PostHog drops these too)"),
                record,
            );
        }
        let Some((session_id, id_source)) = session else {
            return self.push_reject(
                loc,
                index,
                None,
                "session id unknown: the input does not name one; pass --session-id or name the file <session_id>.<ext>".into(),
                record,
            );
        };
        let data_raw = p.data.map(|d| d.get()).unwrap_or("null");
        let data: Box<str> = match (p.cv.as_deref(), p.data) {
            (Some(CV_2024_10), Some(d)) => {
                match compressed::decompress_data(ty, d, self.max_decompressed) {
                    Ok(Some(text)) => text.into_boxed_str(),
                    Ok(None) => d.get().into(),
                    Err(e) => {
                        return self.push_reject(
                            loc,
                            index,
                            Some(&*session_id),
                            format!("compressed payload: {e}"),
                            record,
                        );
                    }
                }
            }
            _ => data_raw.into(),
        };
        let window = match p.window_id_camel.or(p.window_id_snake) {
            Some(w) => self.window(w),
            None => target.window.clone(),
        };
        let idx = match self.by_id.get(&*session_id) {
            Some(&i) => i,
            None => {
                self.sessions.push(Session {
                    session_id: session_id.to_string(),
                    id_source,
                    source_files: vec![self.file.clone()],
                    source_format: String::new(),
                    meta: SessionMeta::default(),
                    events: Vec::new(),
                });
                self.by_id.insert(session_id, self.sessions.len() - 1);
                self.sessions.len() - 1
            }
        };
        let s = &mut self.sessions[idx];
        if s.meta.would_gain(&target.meta) {
            s.meta.merge(target.meta.clone());
        }
        s.events.push(Event::new(window, ts, ty as i32, data));
    }

    /// The detected format, e.g. `blob-v2-jsonl` or `gzip/export-2023-04-28`.
    pub fn format(&self) -> String {
        let f = self.format.unwrap_or("empty");
        match self.container {
            Some(c) => format!("{c}/{f}"),
            None => f.to_string(),
        }
    }

    /// The sessions found (in order of first appearance), the rejected records and warnings
    /// about the input as a whole (a portable file without its end line).
    pub fn finish(mut self) -> (Vec<Session>, Vec<Reject>, Vec<String>) {
        self.portable_end();
        let format = self.format();
        let mut sessions = self.sessions;
        for s in &mut sessions {
            s.source_format = format.clone();
        }
        (sessions, self.rejects, self.warnings)
    }

    /// The meta line of a portable file: its session, or a reject of the whole file.
    fn portable_meta(&mut self, loc: Loc, line: &[u8]) {
        self.note_format("replaylake-portable");
        match Reader::start(line, false) {
            Ok(reader) => {
                let m = reader.meta().clone();
                self.sessions.push(Session {
                    session_id: m.session_id,
                    id_source: m.id_source,
                    source_files: vec![self.file.clone()],
                    source_format: String::new(),
                    meta: m.meta,
                    events: Vec::new(),
                });
                self.portable = Portable::Yes {
                    reader: Box::new(reader),
                    session: self.sessions.len() - 1,
                    last_line: loc.line,
                };
            }
            Err(e) => {
                self.portable = Portable::Broken;
                self.reject(loc, format!("portable meta line: {e}"), line);
            }
        }
    }

    /// A line of a portable file after its meta line: an event of its session, or a reject.
    fn portable_line(&mut self, loc: Loc, line: &[u8]) {
        let Portable::Yes {
            reader,
            session,
            last_line,
        } = &mut self.portable
        else {
            let why = "portable file whose meta line was rejected: its lines belong to no session";
            return self.reject(loc, why, line);
        };
        *last_line = loc.line.or(*last_line);
        let s = &mut self.sessions[*session];
        match reader.line(line) {
            Ok(Item::Event { event, .. }) => s.events.push(event),
            Ok(Item::End { .. }) => {}
            Err(e) => {
                let sid = s.session_id.clone();
                let r = Reject::new(&self.file, loc.line, Some(&sid), e, line);
                self.rejects.push(r);
            }
        }
    }

    /// A portable file that ends without its end line: what it held lands, and the input is
    /// reported truncated (a warning, and a reject so that the summary and exit code show it).
    fn portable_end(&mut self) {
        let Portable::Yes {
            reader, last_line, ..
        } = &self.portable
        else {
            return;
        };
        if reader.ended() {
            return;
        }
        let sid = reader.meta().session_id.clone();
        let why = format!(
            "truncated portable file: it ends after line {} without its end line; the {} event \
             lines before that were read (the good ones landed)",
            last_line.unwrap_or(0),
            reader.event_lines()
        );
        tracing::warn!(file = %self.file, session = %sid, "{why}");
        self.rejects
            .push(Reject::new(&self.file, None, Some(&sid), why.clone(), b""));
        self.warnings.push(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(file: &str, lines: &[&str]) -> (Vec<Session>, Vec<Reject>) {
        let mut d = Decoder::new(file, &DecodeOptions::default());
        for (i, l) in lines.iter().enumerate() {
            d.record(
                Loc {
                    line: Some(i as u64 + 1),
                },
                l.as_bytes(),
            );
        }
        let (s, r, _) = d.finish();
        (s, r)
    }

    #[test]
    fn file_name_gives_session_id() {
        assert_eq!(
            session_id_from_file_name("/a/b/0193.blob.jsonl").as_deref(),
            Some("0193")
        );
        assert_eq!(
            session_id_from_file_name("export-0193-ph-recording.json").as_deref(),
            Some("0193")
        );
        assert_eq!(session_id_from_file_name("/x/.hidden"), None);
        // a browser's repeated download is the same recording
        for name in [
            "export-0193-rrweb-recording (1).json",
            "export-0193-ph-recording(12).json",
            "0193 (2).blob.jsonl",
        ] {
            assert_eq!(
                session_id_from_file_name(name).as_deref(),
                Some("0193"),
                "{name}"
            );
        }
        assert_eq!(
            session_id_from_file_name("(1).json").as_deref(),
            Some("(1)")
        );
        assert_eq!(
            session_id_from_file_name("a (x).json").as_deref(),
            Some("a (x)")
        );
    }

    #[test]
    fn every_line_shape_lands_in_its_session() {
        let (s, r) = run(
            "s1.jsonl",
            &[
                r#"["w1",{"type":4,"data":{"href":"h"},"timestamp":10}]"#,
                r#"{"window_id":"w2","data":[{"type":3,"data":{"source":1},"timestamp":11}]}"#,
                r#"{"type":5,"data":{"tag":"t"},"timestamp":12,"windowId":"w3"}"#,
                r#"[1,{"type":3,"data":{"source":2},"timestamp":13}]"#,
                r#"{"event":"$snapshot","properties":{"$session_id":"other","$window_id":"w4","$snapshot_data":[{"type":4,"data":{},"timestamp":14}]}}"#,
            ],
        );
        assert!(r.is_empty(), "{r:?}");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].session_id, "s1");
        assert_eq!(s[0].id_source, SessionIdSource::Filename);
        let w: Vec<_> = s[0]
            .events
            .iter()
            .map(|e| e.window_id.as_deref().unwrap())
            .collect();
        assert_eq!(w, ["w1", "w2", "w3", "1"]);
        assert_eq!(s[1].session_id, "other");
        assert_eq!(s[1].id_source, SessionIdSource::Data);
    }

    #[test]
    fn bad_records_are_rejected_with_reasons() {
        let (s, r) = run(
            "s.jsonl",
            &[
                r#"{"type":3,"data":{}}"#,
                r#"{"type":42,"data":{},"timestamp":5}"#,
                r#"not json"#,
                r#"{"type":2,"cv":"2024-10","data":"xx","timestamp":5}"#,
                r#"{"hello":1}"#,
                r#"{"type":4,"data":{},"timestamp":5}"#,
            ],
        );
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].events.len(), 1);
        let reasons: Vec<_> = r
            .iter()
            .map(|r| (r.line.unwrap(), r.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 5);
        assert!(reasons[0].1.contains("no `timestamp`"));
        assert!(reasons[1].1.contains("unknown rrweb event type 42"));
        assert!(reasons[2].1.contains("invalid JSON"));
        assert!(reasons[3].1.contains("compressed payload"));
        assert!(reasons[4].1.contains("unrecognized record"));
    }
}
