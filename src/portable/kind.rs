//! The `kind` of an event line: what the event is, from its rrweb type and, for incremental
//! snapshots and plugins, `data.source` / `data.plugin` (FORMATS.md §5). Derived, so not
//! checksummed: it lets a reader pick lines (`grep '"kind":"console"'`) without parsing `data`.

use std::borrow::Cow;

use serde::Deserialize;

/// Every kind, in the order of the spec's table.
pub const KINDS: &[&str] = &[
    "full_snapshot",
    "page",
    "mutation",
    "mouse",
    "scroll",
    "viewport",
    "input",
    "media",
    "style",
    "incremental",
    "custom",
    "console",
    "network",
    "plugin",
    "event",
];

#[derive(Deserialize)]
struct Probe<'a> {
    source: Option<i64>,
    #[serde(borrow)]
    plugin: Option<Cow<'a, str>>,
}

/// The kind of an event of rrweb type `ty` whose `data` is the JSON text `data`.
pub fn of(ty: i32, data: &str) -> &'static str {
    match ty {
        2 => "full_snapshot",
        4 => "page",
        3 => incremental(probe(data).and_then(|p| p.source)),
        5 => "custom",
        6 => match probe(data).and_then(|p| p.plugin).as_deref() {
            Some("rrweb/console@1") => "console",
            Some("rrweb/network@1") => "network",
            _ => "plugin",
        },
        _ => "event",
    }
}

fn probe(data: &str) -> Option<Probe<'_>> {
    serde_json::from_str(data).ok()
}

fn incremental(source: Option<i64>) -> &'static str {
    match source {
        Some(0) => "mutation",
        Some(1 | 2 | 6 | 12) => "mouse",
        Some(3) => "scroll",
        Some(4) => "viewport",
        Some(5) => "input",
        Some(7) => "media",
        Some(8 | 13 | 15) => "style",
        _ => "incremental",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_type_source_and_plugin() {
        assert_eq!(of(2, r#"{"node":{}}"#), "full_snapshot");
        assert_eq!(of(3, r#"{"source":2,"type":2,"id":27}"#), "mouse");
        assert_eq!(
            of(3, r#"{"source":5,"text":"a","isChecked":false}"#),
            "input"
        );
        assert_eq!(of(3, r#"{"source":99}"#), "incremental");
        assert_eq!(of(3, r#""compressed""#), "incremental");
        assert_eq!(
            of(6, r#"{"plugin":"rrweb/network@1","payload":{}}"#),
            "network"
        );
        assert_eq!(of(6, r#"{"plugin":"other"}"#), "plugin");
        assert_eq!(of(0, "{}"), "event");
        assert!(
            [2, 4, 5, 0].iter().all(|&t| KINDS.contains(&of(t, "{}"))),
            "every kind is listed"
        );
    }
}
