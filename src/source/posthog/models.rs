//! PostHog's response shapes, as its code serves them (not as its generated OpenAPI docs say):
//! the list is `{"results":[…],"has_next":bool,"version":4[,"next_cursor":"…"]}`, the sources
//! list `{"sources":[{"source","start_timestamp","end_timestamp","blob_key"}]}`.

use serde::Deserialize;
use serde_json::Value;

/// A page of `GET …/session_recordings/`.
#[derive(Debug, Deserialize)]
pub struct ListPage {
    pub results: Vec<Value>,
    #[serde(default)]
    pub has_next: bool,
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// One recording of the list, with the fields replaylake uses and the whole object as JSON.
#[derive(Debug, Clone)]
pub struct Recording {
    pub id: String,
    pub distinct_id: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// `recording_duration` (seconds).
    pub duration: Option<f64>,
    pub ongoing: Option<bool>,
    /// `person` as JSON text.
    pub person: Option<String>,
    /// The list object as JSON text (lands in `recordings.posthog_metadata`).
    pub raw: String,
}

impl Recording {
    /// Reads a list result; `None` when it has no `id`.
    pub fn from_value(v: &Value) -> Option<Recording> {
        let id = match v.get("id")? {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let person = v
            .get("person")
            .filter(|p| !p.is_null())
            .map(|p| p.to_string());
        Some(Recording {
            id,
            distinct_id: s("distinct_id"),
            start_time: s("start_time"),
            end_time: s("end_time"),
            duration: v.get("recording_duration").and_then(Value::as_f64),
            ongoing: v.get("ongoing").and_then(Value::as_bool),
            person,
            raw: v.to_string(),
        })
    }
}

/// `GET …/snapshots` without `source`.
#[derive(Debug, Deserialize)]
pub struct SourcesResponse {
    #[serde(default)]
    pub sources: Vec<Source>,
}

/// One snapshot source.
#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    pub source: String,
    #[serde(default)]
    pub start_timestamp: Option<String>,
    #[serde(default)]
    pub end_timestamp: Option<String>,
    #[serde(default)]
    pub blob_key: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_real_list_object() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/public/posthog_recording_meta_modern.json"
        ))
        .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let r = Recording::from_value(&v).unwrap();
        assert_eq!(r.id, "01932f1e-cf6a-7e77-8837-23366207a24b");
        assert_eq!(
            r.distinct_id.as_deref(),
            Some("MDl4qb3tG4yWMSwc5zKnMwuw3u0ZpHFMxt3ANLuujyq")
        );
        assert_eq!(r.duration, Some(333.0));
        assert!(r.person.unwrap().contains("paul@posthog.com"));
        let page: ListPage = serde_json::from_str(&format!(
            r#"{{"results":[{text}],"has_next":true,"version":4}}"#
        ))
        .unwrap();
        assert!(page.has_next && page.next_cursor.is_none());
    }
}
