//! The replay page: one HTML file with rrweb-player, the recording and its moments inside.
//!
//! Each window's events are a JSON array compressed with gzip and base64-encoded in a
//! `<script type="application/json">`; the page unpacks them with the browser's
//! `DecompressionStream` (in every current browser), so a page is a fraction of its JSON. The
//! moments also go into the event stream as rrweb custom events (type 5) whose tags
//! rrweb-player marks on its timeline. The page's own script makes no network request.

use std::io::Write;

use base64::Engine;
use serde_json::json;

use crate::error::Result;
use crate::replay::moments::Moment;
use crate::replay::player::Assets;
use crate::replay::session::{Recording, Window};

/// Colours of the timeline marks, by kind of moment.
const TAGS: &[(&str, &str)] = &[
    ("click", "#1c7ed6"),
    ("rage click", "#e03131"),
    ("dead click", "#f08c00"),
    ("console error", "#c2255c"),
    ("failed request", "#862e9c"),
    ("page", "#2b8a3e"),
];

/// Text for HTML element content and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that may sit inside a `<script>` element (`</` cannot end it early).
fn script_json(v: &serde_json::Value) -> String {
    v.to_string().replace("</", "<\\/")
}

/// Inline JavaScript that cannot end its `<script>` element early.
fn script_js(js: &str) -> String {
    js.replace("</script", "<\\/script")
}

/// The window's events as rrweb takes them, with its moments as custom events, as JSON text.
fn events_json(w: &Window, moments: &[&Moment]) -> String {
    let mut out = String::with_capacity(w.events.iter().map(|e| e.data.len() + 48).sum());
    out.push('[');
    let mut marks = moments.iter().peekable();
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !std::mem::take(&mut first) {
            out.push(',');
        }
    };
    for e in &w.events {
        while let Some(m) = marks.next_if(|m| m.ts_ms < e.timestamp) {
            sep(&mut out);
            out.push_str(&mark(m));
        }
        sep(&mut out);
        out.push_str(&format!(
            "{{\"type\":{},\"data\":{},\"timestamp\":{}}}",
            e.event_type, e.data, e.timestamp
        ));
    }
    for m in marks {
        sep(&mut out);
        out.push_str(&mark(m));
    }
    out.push(']');
    out
}

fn mark(m: &Moment) -> String {
    json!({"type": 5, "timestamp": m.ts_ms, "data": {"tag": m.kind, "payload": {"label": m.label}}})
        .to_string()
}

fn gzip_base64(text: &str) -> String {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(text.as_bytes()).expect("writing to memory");
    let bytes = gz.finish().expect("writing to memory");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The facts panel's rows.
fn facts_rows(r: &Recording) -> Vec<(&'static str, String)> {
    let f = &r.facts;
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default()
    };
    let mut rows = vec![
        ("session", f.session_id.clone()),
        ("start", iso(f.start_ms)),
        (
            "duration",
            format!(
                "{:.1} s ({:.1} s active)",
                (f.end_ms - f.start_ms) as f64 / 1000.0,
                f.active_ms as f64 / 1000.0
            ),
        ),
    ];
    if let Some(u) = &f.first_url {
        rows.push(("first URL", u.clone()));
    }
    let who = f.person.clone().or_else(|| f.distinct_id.clone());
    if let Some(p) = who {
        rows.push(("person", p));
    }
    if let (Some(w), Some(h)) = (f.viewport_width, f.viewport_height) {
        rows.push(("viewport", format!("{w} × {h}")));
    }
    rows.push((
        "events",
        format!("{} ({} clicks)", f.event_count, f.click_count),
    ));
    rows.push(("windows", r.windows.len().to_string()));
    rows
}

/// The player's size on the page: the recording's viewport scaled into 960 × 600.
fn player_size(r: &Recording) -> (i64, i64) {
    let (w, h) = (
        r.facts.viewport_width.unwrap_or(1280).max(1),
        r.facts.viewport_height.unwrap_or(800).max(1),
    );
    let scale = (960.0 / w as f64).min(600.0 / h as f64).min(1.0);
    ((w as f64 * scale) as i64, (h as f64 * scale) as i64)
}

/// The whole page.
pub fn render(r: &Recording, moments: &[Moment], assets: &Assets) -> Result<String> {
    let mut windows = Vec::new();
    let mut blobs = String::new();
    for (i, w) in r.windows.iter().enumerate() {
        let mine: Vec<&Moment> = moments
            .iter()
            .filter(|m| m.window_id == w.id || r.windows.len() == 1)
            .collect();
        let start = w.events.first().map_or(0, |e| e.timestamp);
        windows.push(json!({
            "id": w.id,
            "start": start,
            "events": w.events.len(),
            "moments": mine.iter().map(|m| json!({"ts": m.ts_ms, "kind": m.kind, "label": m.label})).collect::<Vec<_>>(),
        }));
        let b64 = gzip_base64(&events_json(w, &mine));
        blobs.push_str(&format!(
            "<script type=\"application/json\" id=\"rl-events-{i}\">{b64}</script>\n"
        ));
    }
    let facts: String = facts_rows(r)
        .iter()
        .map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v)))
        .collect();
    let (pw, ph) = player_size(r);
    let config = json!({
        "windows": windows,
        "width": pw,
        "height": ph,
        "tags": TAGS.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
    });
    // the large inserts last, so that no placeholder is looked for inside them
    Ok(TEMPLATE
        .replace(
            "{{title}}",
            &escape(&format!("Recording {}", r.facts.session_id)),
        )
        .replace("{{version}}", crate::VERSION)
        .replace("{{facts}}", &facts)
        .replace("{{config}}", &script_json(&config))
        .replace("{{page_js}}", &script_js(PAGE_JS))
        .replace("{{css}}", &assets.css.replace("</style", "<\\/style"))
        .replace("{{player_js}}", &script_js(&assets.js))
        .replace("{{blobs}}", &blobs))
}

const TEMPLATE: &str = include_str!("page.html");
const PAGE_JS: &str = include_str!("page.js");
