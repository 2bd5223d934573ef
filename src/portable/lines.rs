//! The three line types as Rust structs, written and read by serde in the spec's key order.
//!
//! JSON carried whole (an event's `data`, `person`, `posthog_metadata`) is embedded as raw JSON
//! ([`RawValue`]), so its bytes are the lake's. Text that cannot be embedded so (it holds line
//! breaks, as pretty-printed inputs do, or surrounding whitespace, or is not JSON) goes in the
//! `*_text` twin field as a JSON string instead: NDJSON framing needs one line per record.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// JSON text as the line carries it: raw JSON, or a string holding its exact text.
#[derive(Debug, Clone, Copy)]
pub enum Embedded<'a> {
    Raw(&'a RawValue),
    Text(&'a str),
}

/// How `text` is embedded: raw when that keeps its bytes and one line.
pub fn embed(text: &str) -> Embedded<'_> {
    let one_line = !text.bytes().any(|b| b == b'\n' || b == b'\r');
    if one_line
        && let Ok(raw) = serde_json::from_str::<&RawValue>(text)
        && raw.get().len() == text.len()
    {
        return Embedded::Raw(raw);
    }
    Embedded::Text(text)
}

impl<'a> Embedded<'a> {
    fn raw(self) -> Option<&'a RawValue> {
        match self {
            Embedded::Raw(r) => Some(r),
            Embedded::Text(_) => None,
        }
    }
    fn text(self) -> Option<&'a str> {
        match self {
            Embedded::Raw(_) => None,
            Embedded::Text(t) => Some(t),
        }
    }
}

/// The first line.
#[derive(Debug, Serialize)]
pub struct MetaOut<'a> {
    pub kind: &'static str,
    pub format: &'static str,
    pub version: &'static str,
    pub session_id: &'a str,
    pub session_id_source: &'static str,
    pub start_ms: i64,
    pub end_ms: i64,
    pub start_time: String,
    pub end_time: String,
    pub windows: Vec<Option<&'a str>>,
    pub event_count: u64,
    pub first_url: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub lib: Option<&'a str>,
    pub distinct_id: Option<&'a str>,
    pub person: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_text: Option<&'a str>,
    pub posthog_metadata: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posthog_metadata_text: Option<&'a str>,
    pub duplicates_dropped: u64,
    pub lake_checksum: &'a str,
}

/// Splits optional JSON text into the field pair (`x`, `x_text`).
pub fn split(text: Option<&str>) -> (Option<&RawValue>, Option<&str>) {
    match text.map(embed) {
        None => (None, None),
        // the text `null` is kept as text: raw `null` means none
        Some(Embedded::Raw(r)) if r.get() == "null" => (None, Some(r.get())),
        Some(e) => (e.raw(), e.text()),
    }
}

/// One event line.
#[derive(Debug, Serialize)]
pub struct EventOut<'a> {
    pub kind: &'static str,
    pub seq: u64,
    pub timestamp: i64,
    pub window_id: Option<&'a str>,
    #[serde(rename = "type")]
    pub ty: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_text: Option<&'a str>,
    pub checksum: &'a str,
}

impl<'a> EventOut<'a> {
    pub fn with_data(mut self, data: &'a str) -> Self {
        let e = embed(data);
        (self.data, self.data_text) = (e.raw(), e.text());
        self
    }
}

/// The last line.
#[derive(Debug, Serialize)]
pub struct EndOut<'a> {
    pub kind: &'static str,
    pub count: u64,
    pub checksum: &'a str,
}

/// Any line as read: what each type may hold, every field optional so that a reader can say
/// which one is missing.
#[derive(Debug, Deserialize)]
pub struct LineIn<'a> {
    #[serde(borrow)]
    pub kind: Option<Cow<'a, str>>,
    // meta
    #[serde(borrow)]
    pub format: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub version: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub session_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub session_id_source: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub lib: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub distinct_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub person: Option<&'a RawValue>,
    #[serde(borrow)]
    pub person_text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub posthog_metadata: Option<&'a RawValue>,
    #[serde(borrow)]
    pub posthog_metadata_text: Option<Cow<'a, str>>,
    pub duplicates_dropped: Option<u64>,
    pub event_count: Option<u64>,
    // event
    pub seq: Option<i64>,
    pub timestamp: Option<i64>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub window_id: Option<&'a RawValue>,
    #[serde(rename = "type")]
    pub ty: Option<i32>,
    #[serde(borrow, default, deserialize_with = "present")]
    pub data: Option<&'a RawValue>,
    #[serde(borrow)]
    pub data_text: Option<Cow<'a, str>>,
    // event and end
    #[serde(borrow)]
    pub checksum: Option<Cow<'a, str>>,
    pub count: Option<u64>,
}

/// A field that is there, `null` included (serde reads `null` as a missing `Option`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// JSON text carried as (`x`, `x_text`): the raw JSON's text, or the string. `null` is none.
pub fn unembed(raw: Option<&RawValue>, text: Option<&str>) -> Option<String> {
    match (raw, text) {
        (_, Some(t)) => Some(t.to_string()),
        (Some(r), None) if r.get() != "null" => Some(r.get().to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_keeps_bytes_and_one_line() {
        let keep = r#"{"b":1.50,"a":[1e3]}"#;
        assert!(matches!(embed(keep), Embedded::Raw(r) if r.get() == keep));
        for text in ["{\n  \"a\": 1\n}", " {}", "not json", "{\"a\":1}\r"] {
            assert!(
                matches!(embed(text), Embedded::Text(t) if t == text),
                "{text:?}"
            );
        }
        let (raw, text) = split(Some("{\n}"));
        assert_eq!(
            (raw.is_none(), unembed(raw, text).as_deref()),
            (true, Some("{\n}"))
        );
    }
}
