//! Sessions read back out of the lake's rows: the inverse of [`crate::flatten`] for what it keeps
//! whole. An `events` row holds its event's window, time, type and decompressed `data`
//! (`payload`), so the rrweb event comes back exactly; a `recordings` row holds what is known of
//! the session besides its events. Export streams sessions out through this, and the writer
//! uses it to add a later input's events to what the lake already holds.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int32Type, Int64Type};

use crate::decode::{Event, Session, SessionIdSource, SessionMeta};
use crate::error::{Error, Result};
use crate::schema::Table;
use crate::sink::commit::{column_as, conform};

/// A session as the lake holds it: its recordings row and its events in the lake's order.
#[derive(Debug, Clone)]
pub struct StoredSession {
    pub session_id: String,
    pub id_source: SessionIdSource,
    pub meta: SessionMeta,
    pub source_files: Vec<String>,
    pub source_format: String,
    pub duplicates_dropped: u64,
    pub checksum: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub first_url: Option<String>,
    /// Ordered by `seq` (the order the writer gave them).
    pub events: Vec<Event>,
}

impl StoredSession {
    /// The session as decode hands it on, ready to be absorbed or ordered again. What the lake
    /// counted as dropped duplicates is not carried: it describes the inputs that built it.
    pub fn into_session(self) -> Session {
        Session {
            session_id: self.session_id,
            id_source: self.id_source,
            source_files: self.source_files,
            source_format: self.source_format,
            meta: self.meta,
            events: self.events,
        }
    }
}

fn id_source(s: &str) -> SessionIdSource {
    match s {
        "flag" => SessionIdSource::Flag,
        "filename" => SessionIdSource::Filename,
        _ => SessionIdSource::Data,
    }
}

fn missing(location: &str, what: &str) -> Error {
    Error::State {
        location: location.to_string(),
        message: format!("{what} is null in a row of the lake"),
    }
}

/// The sessions of a `recordings` batch (any engine's types), without their events.
pub fn recordings_from_batch(batch: &RecordBatch, location: &str) -> Result<Vec<StoredSession>> {
    let b = conform(Table::Recordings, batch)?;
    let col = |name: &str| b.column_by_name(name).expect("conformed to the schema");
    let text = |name: &str| col(name).as_string::<i32>().clone();
    let ms = |name: &str| {
        col(name)
            .as_primitive::<datafusion::arrow::datatypes::TimestampMillisecondType>()
            .clone()
    };
    let (sid, src, distinct, person) = (
        text("session_id"),
        text("session_id_source"),
        text("distinct_id"),
        text("person"),
    );
    let (ua, lib, files, format) = (
        text("user_agent"),
        text("lib"),
        text("source_file"),
        text("source_format"),
    );
    let (sum, meta, url) = (
        text("checksum"),
        text("posthog_metadata"),
        text("first_url"),
    );
    let (start, end) = (ms("start_time"), ms("end_time"));
    let dups = col("duplicates_dropped")
        .as_primitive::<Int64Type>()
        .clone();
    let opt = |a: &datafusion::arrow::array::StringArray, i: usize| {
        a.is_valid(i).then(|| a.value(i).to_string())
    };
    (0..b.num_rows())
        .map(|i| {
            if sid.is_null(i) || start.is_null(i) || end.is_null(i) {
                return Err(missing(location, "session_id, start_time or end_time"));
            }
            Ok(StoredSession {
                session_id: sid.value(i).to_string(),
                id_source: id_source(src.value(i)),
                meta: SessionMeta {
                    distinct_id: opt(&distinct, i),
                    person: opt(&person, i),
                    user_agent: opt(&ua, i),
                    lib: opt(&lib, i),
                    posthog_metadata: opt(&meta, i),
                    duplicates_carried: 0,
                },
                source_files: opt(&files, i)
                    .map(|f| f.split(';').map(str::to_string).collect())
                    .unwrap_or_default(),
                source_format: opt(&format, i).unwrap_or_default(),
                duplicates_dropped: dups.value(i).max(0) as u64,
                checksum: opt(&sum, i).unwrap_or_default(),
                start_ms: start.value(i),
                end_ms: end.value(i),
                first_url: opt(&url, i),
                events: Vec::new(),
            })
        })
        .collect()
}

/// The columns of `events` an event is rebuilt from: what [`events_from_columns`] reads, and
/// what a reader needs to project.
pub const EVENT_COLUMNS: [&str; 6] = [
    "session_id",
    "window_id",
    "seq",
    "ts_ms",
    "event_type",
    "payload",
];

/// The events of an `events` batch (any engine's types) as `(session id, seq, event)`, in the
/// batch's row order. Window ids are shared per distinct id, as decode shares them.
pub fn events_from_batch(batch: &RecordBatch, location: &str) -> Result<Vec<(String, i64, Event)>> {
    events_from_columns(&conform(Table::Events, batch)?, location)
}

/// As [`events_from_batch`], for a batch that holds (at least) the [`EVENT_COLUMNS`], in any
/// engine's types: a reader that projects only these columns decodes far less of each row.
pub fn events_from_columns(b: &RecordBatch, location: &str) -> Result<Vec<(String, i64, Event)>> {
    use datafusion::arrow::datatypes::DataType;
    let col = |name: &str, to: &DataType| {
        column_as(b, name, to).ok_or_else(|| Error::State {
            location: location.to_string(),
            message: format!("events column {name} is missing or has a type that is not {to}"),
        })
    };
    let (sid, window) = (
        col("session_id", &DataType::Utf8)?,
        col("window_id", &DataType::Utf8)?,
    );
    let (seq, ts) = (
        col("seq", &DataType::Int64)?,
        col("ts_ms", &DataType::Int64)?,
    );
    let (ty, payload) = (
        col("event_type", &DataType::Int32)?,
        col("payload", &DataType::Utf8)?,
    );
    let (sid, window) = (sid.as_string::<i32>(), window.as_string::<i32>());
    let (seq, ts) = (
        seq.as_primitive::<Int64Type>(),
        ts.as_primitive::<Int64Type>(),
    );
    let (ty, payload) = (ty.as_primitive::<Int32Type>(), payload.as_string::<i32>());
    let mut windows: HashMap<String, Arc<str>> = HashMap::new();
    (0..b.num_rows())
        .map(|i| {
            if sid.is_null(i) || ts.is_null(i) || ty.is_null(i) || payload.is_null(i) {
                return Err(missing(
                    location,
                    "session_id, ts_ms, event_type or payload",
                ));
            }
            let w = window.is_valid(i).then(|| {
                let w = window.value(i);
                match windows.get(w) {
                    Some(a) => a.clone(),
                    None => {
                        let a: Arc<str> = w.into();
                        windows.insert(w.to_string(), a.clone());
                        a
                    }
                }
            });
            let seq = if seq.is_valid(i) {
                seq.value(i)
            } else {
                i as i64
            };
            let e = Event::new(w, ts.value(i), ty.value(i), payload.value(i).into());
            Ok((sid.value(i).to_string(), seq, e))
        })
        .collect()
}

/// Joins recordings rows with their events (from batches of one part, or of any set of files
/// that holds each session whole). A session without a recordings row is left out: the writer
/// writes a session's recordings row last, so such rows belong to no committed session.
pub fn join_sessions(
    recordings: Vec<StoredSession>,
    events: impl IntoIterator<Item = (String, i64, Event)>,
) -> Vec<StoredSession> {
    let mut by_id: HashMap<String, (StoredSession, Vec<(i64, Event)>)> = recordings
        .into_iter()
        .map(|s| (s.session_id.clone(), (s, Vec::new())))
        .collect();
    for (sid, seq, e) in events {
        if let Some((_, evs)) = by_id.get_mut(&sid) {
            evs.push((seq, e));
        }
    }
    let mut out: Vec<StoredSession> = by_id
        .into_values()
        .map(|(mut s, mut evs)| {
            evs.sort_by_key(|(seq, _)| *seq);
            s.events = evs.into_iter().map(|(_, e)| e).collect();
            s
        })
        .collect();
    out.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    out
}
