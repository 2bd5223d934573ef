//! What happened in a session, as moments a viewer jumps to: clicks with their element, rage
//! and dead clicks (the query library's posthog-js definitions, so the page agrees with
//! `replaylake query --file rage_clicks`), console errors, failed network requests and page
//! changes. Each is a time, a window and a label.

use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::query::library::{LibraryQuery, builtin, quote};
use crate::query::run_sql;
use crate::replay::session::{ints, strings};

/// One moment of a session.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Moment {
    pub ts_ms: i64,
    pub window_id: Option<String>,
    /// `click`, `rage click`, `dead click`, `console error`, `failed request` or `page`.
    pub kind: &'static str,
    pub label: String,
}

/// A query of the built-in library (never a file of the working directory).
fn library(name: &str) -> Result<LibraryQuery> {
    builtin()?
        .into_iter()
        .find(|q| q.name == name)
        .ok_or_else(|| Error::Missing(format!("the query library has no {name}")))
}

/// The queries, each giving `ts_ms`, `window_id` and `label` for one kind.
fn queries(sid: &str, date: &str) -> Result<Vec<(&'static str, String)>> {
    let (s, d) = (quote(sid), quote(date));
    let only = |sql: String| format!("SELECT * FROM ({sql}) q WHERE q.session_id = {s}");
    let dates = [
        ("from_date".to_string(), date.to_string()),
        ("to_date".to_string(), date.to_string()),
    ];
    let rage = only(library("rage_clicks")?.render(&dates)?);
    let dead = only(library("dead_clicks")?.render(&dates)?);
    let events = format!("FROM events WHERE session_id = {s} AND date = {d}");
    Ok(vec![
        (
            "click",
            format!(
                "SELECT ts_ms, window_id, COALESCE(target_selector, target_tag, 'node ' || \
                 CAST(node_id AS VARCHAR)) || COALESCE(' \"' || target_text || '\"', '') AS label \
                 {events} AND event_type = 3 AND source = 2 AND interaction = 2"
            ),
        ),
        (
            "rage click",
            format!(
                "SELECT start_ms AS ts_ms, window_id, CAST(clicks AS VARCHAR) || ' clicks in ' || \
                 CAST(duration_ms AS VARCHAR) || ' ms' AS label FROM ({rage}) r"
            ),
        ),
        (
            "dead click",
            format!(
                "SELECT ts_ms, window_id, COALESCE(target_selector, target_tag, 'node ' || \
                 CAST(node_id AS VARCHAR)) AS label FROM ({dead}) k"
            ),
        ),
        (
            "console error",
            format!(
                "SELECT ts_ms, window_id, COALESCE(console_message, '') AS label \
                 {events} AND console_level = 'error'"
            ),
        ),
        (
            "failed request",
            format!(
                "SELECT ts_ms, window_id, COALESCE(method, 'GET') || ' ' || url || ' ' || \
                 CAST(status AS VARCHAR) AS label FROM network_requests \
                 WHERE session_id = {s} AND date = {d} AND (status >= 400 OR status = 0)"
            ),
        ),
        (
            "page",
            format!(
                "SELECT ts_ms, window_id, href AS label {events} AND event_type = 4 AND href IS NOT NULL"
            ),
        ),
    ])
}

/// Every moment of session `sid` (of partition `date`), in time order. A page change is listed
/// when the URL changes, not at every Meta event of the same page.
pub async fn load(ctx: &SessionContext, sid: &str, date: &str) -> Result<Vec<Moment>> {
    let mut out = Vec::new();
    for (kind, q) in queries(sid, date)? {
        for b in run_sql(ctx, &q).await? {
            let (ts, w, label) = (
                ints(&b, "ts_ms")?,
                strings(&b, "window_id")?,
                strings(&b, "label")?,
            );
            for ((ts, w), label) in ts.into_iter().zip(w).zip(label) {
                out.push(Moment {
                    ts_ms: ts.unwrap_or_default(),
                    window_id: w,
                    kind,
                    label: label.unwrap_or_default(),
                });
            }
        }
    }
    out.sort_by(|a, b| (a.ts_ms, a.kind).cmp(&(b.ts_ms, b.kind)));
    let mut last_page: std::collections::HashMap<Option<String>, String> = Default::default();
    out.retain(|m| {
        m.kind != "page"
            || last_page
                .insert(m.window_id.clone(), m.label.clone())
                .as_ref()
                != Some(&m.label)
    });
    Ok(out)
}
