//! One session's events and facts, read out of the lake for a player.
//!
//! Events come back as rrweb takes them: `{"type", "data", "timestamp"}` with `data` the lake's
//! `payload` (decompressed JSON text, kept byte for byte). They are grouped by window, since one
//! rrweb Replayer plays one window; windows are ordered by their first event.

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::query::library::quote;
use crate::query::run_sql;

/// What the lake knows of the session, for the page's side panel.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Facts {
    pub session_id: String,
    pub date: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub active_ms: i64,
    pub first_url: Option<String>,
    pub person: Option<String>,
    pub distinct_id: Option<String>,
    pub viewport_width: Option<i64>,
    pub viewport_height: Option<i64>,
    pub event_count: i64,
    pub click_count: i64,
}

/// One rrweb event: its type, time and `data` as JSON text.
#[derive(Debug, Clone)]
pub struct PlayerEvent {
    pub event_type: i32,
    pub timestamp: i64,
    pub data: String,
}

/// The events of one window, in the lake's order.
#[derive(Debug, Clone)]
pub struct Window {
    pub id: Option<String>,
    pub events: Vec<PlayerEvent>,
}

impl Window {
    pub fn has_full_snapshot(&self) -> bool {
        self.events.iter().any(|e| e.event_type == 2)
    }
}

/// A session ready for the player.
#[derive(Debug, Clone)]
pub struct Recording {
    pub facts: Facts,
    pub windows: Vec<Window>,
}

pub(crate) fn strings(b: &RecordBatch, name: &str) -> Result<Vec<Option<String>>> {
    let col = datafusion::arrow::compute::cast(
        b.column_by_name(name).expect("selected"),
        &DataType::Utf8,
    )?;
    let a = col.as_string::<i32>();
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect())
}

pub(crate) fn ints(b: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    let col = datafusion::arrow::compute::cast(
        b.column_by_name(name).expect("selected"),
        &DataType::Int64,
    )?;
    let a = col.as_primitive::<Int64Type>();
    Ok((0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i)))
        .collect())
}

/// The session's recordings row (the newest, should a crash have left two) as [`Facts`].
async fn facts(ctx: &SessionContext, sid: &str) -> Result<Option<Facts>> {
    let q = format!(
        "SELECT date, CAST(start_time AS BIGINT) AS start_ms, CAST(end_time AS BIGINT) AS end_ms, \
         active_ms, first_url, person, distinct_id, viewport_width, viewport_height, \
         event_count, click_count \
         FROM recordings WHERE session_id = {} ORDER BY converted_at DESC LIMIT 1",
        quote(sid)
    );
    let batches = run_sql(ctx, &q).await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let s = |n: &str| -> Result<Option<String>> { Ok(strings(b, n)?.remove(0)) };
    let i = |n: &str| -> Result<Option<i64>> { Ok(ints(b, n)?.remove(0)) };
    Ok(Some(Facts {
        session_id: sid.to_string(),
        date: s("date")?.unwrap_or_default(),
        start_ms: i("start_ms")?.unwrap_or_default(),
        end_ms: i("end_ms")?.unwrap_or_default(),
        active_ms: i("active_ms")?.unwrap_or_default(),
        first_url: s("first_url")?,
        person: s("person")?,
        distinct_id: s("distinct_id")?,
        viewport_width: i("viewport_width")?,
        viewport_height: i("viewport_height")?,
        event_count: i("event_count")?.unwrap_or_default(),
        click_count: i("click_count")?.unwrap_or_default(),
    }))
}

/// [`load`], for a player or a video: a session that is missing, or has no FullSnapshot (nothing
/// to draw, `why` says for what), is an [`Error::Missing`].
pub async fn load_drawable(
    ctx: &SessionContext,
    lake_url: &str,
    sid: &str,
    why: &str,
) -> Result<Recording> {
    let Some(rec) = load(ctx, sid).await? else {
        return Err(Error::Missing(format!(
            "session {sid:?} is not in the lake at {lake_url}"
        )));
    };
    if !rec.windows.iter().any(|w| w.has_full_snapshot()) {
        return Err(Error::Missing(format!(
            "session {sid:?} has no FullSnapshot (rrweb event type 2): {why}"
        )));
    }
    Ok(rec)
}

/// Reads the session `sid`, or `None` when the lake does not hold it.
pub async fn load(ctx: &SessionContext, sid: &str) -> Result<Option<Recording>> {
    let Some(facts) = facts(ctx, sid).await? else {
        return Ok(None);
    };
    let q = format!(
        "SELECT window_id, ts_ms, event_type, payload FROM events \
         WHERE session_id = {} AND date = {} ORDER BY seq",
        quote(sid),
        quote(&facts.date)
    );
    let mut windows: Vec<Window> = Vec::new();
    for b in run_sql(ctx, &q).await? {
        let (w, ts, ty) = (
            strings(&b, "window_id")?,
            ints(&b, "ts_ms")?,
            ints(&b, "event_type")?,
        );
        let data = strings(&b, "payload")?;
        for (((w, ts), ty), data) in w.into_iter().zip(ts).zip(ty).zip(data) {
            let e = PlayerEvent {
                event_type: ty.unwrap_or_default() as i32,
                timestamp: ts.unwrap_or_default(),
                data: data.unwrap_or_else(|| "{}".into()),
            };
            match windows.iter_mut().find(|x| x.id == w) {
                Some(x) => x.events.push(e),
                None => windows.push(Window {
                    id: w,
                    events: vec![e],
                }),
            }
        }
    }
    Ok(Some(Recording { facts, windows }))
}
