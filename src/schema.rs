//! The lake's table schemas, defined once.
//!
//! Every table's Arrow [`Schema`] is built here and nowhere else: the flatten builders produce
//! batches of exactly these schemas, the sink writes them, the query layer registers them, and
//! `schemas/<table>.json` publishes them (a test keeps the published files equal to this code).
//! Each column carries its documentation as field metadata under the key `description`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Serialize;

use crate::error::{Error, Result};

/// Version of the table contract. Bumped when a column is added, removed or changes meaning.
pub const SCHEMA_VERSION: &str = "2";

/// The tables of a lake, in the order they are written.
pub const TABLES: [Table; 3] = [Table::Events, Table::NetworkRequests, Table::Recordings];

/// One table of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Events,
    Recordings,
    NetworkRequests,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Recordings => "recordings",
            Table::NetworkRequests => "network_requests",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Table::Events => {
                "One row per rrweb event of a recording, after decompression, ordering and deduplication."
            }
            Table::Recordings => {
                "One row per recording (session): timing, PostHog's activity counters, URLs and provenance."
            }
            Table::NetworkRequests => {
                "One row per request captured by posthog-js's rrweb/network@1 plugin."
            }
        }
    }

    pub fn from_name(name: &str) -> Result<Self> {
        TABLES
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| Error::UnknownTable {
                name: name.to_string(),
                suggestion: crate::error::did_you_mean(name, TABLES.iter().map(|t| t.name()))
                    .map(str::to_string),
            })
    }

    /// The table's Arrow schema (without the hive partition columns, which live in the path).
    pub fn schema(self) -> SchemaRef {
        match self {
            Table::Events => EVENTS.clone(),
            Table::Recordings => RECORDINGS.clone(),
            Table::NetworkRequests => NETWORK_REQUESTS.clone(),
        }
    }

    /// Columns the rows of every file are sorted by.
    pub fn sort_columns(self) -> &'static [&'static str] {
        match self {
            Table::Events | Table::NetworkRequests => &["session_id", "timestamp", "seq"],
            Table::Recordings => &["session_id"],
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn col(name: &str, dt: DataType, nullable: bool, doc: &str) -> Field {
    Field::new(name, dt, nullable).with_metadata(HashMap::from([(
        "description".to_string(),
        doc.to_string(),
    )]))
}

fn schema(fields: Vec<Field>, table: Table) -> SchemaRef {
    Arc::new(Schema::new(fields).with_metadata(HashMap::from([
        ("replaylake.table".to_string(), table.name().to_string()),
        (
            "replaylake.schema_version".to_string(),
            SCHEMA_VERSION.to_string(),
        ),
    ])))
}

use DataType::{Boolean, Float64, Int32, Int64, Utf8};

static EVENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(
        vec![
            col("session_id", Utf8, false, "PostHog session (recording) id."),
            col(
                "window_id",
                Utf8,
                true,
                "Browser window (tab) id as the input gives it: a UUID, an empty string, or an integer written as text. Null when the input has no window ids (plain rrweb).",
            ),
            col(
                "seq",
                Int64,
                false,
                "Position of the event within its session after ordering (0-based): a stable sort by timestamp, ties kept in input order.",
            ),
            col(
                "timestamp",
                ts(),
                false,
                "Event time, UTC, millisecond precision.",
            ),
            col(
                "ts_ms",
                Int64,
                false,
                "Event time as milliseconds since the Unix epoch (same instant as `timestamp`, handy for arithmetic in any SQL engine).",
            ),
            col(
                "event_type",
                Int32,
                false,
                "rrweb EventType: 0 DomContentLoaded, 1 Load, 2 FullSnapshot, 3 IncrementalSnapshot, 4 Meta, 5 Custom, 6 Plugin, 7 Asset.",
            ),
            col("event_type_name", Utf8, false, "Name of `event_type`."),
            col(
                "source",
                Int32,
                true,
                "IncrementalSnapshot source (rrweb IncrementalSource, 0 Mutation .. 16 CustomElement); null for other event types.",
            ),
            col(
                "source_name",
                Utf8,
                true,
                "Name of `source`; null when the source is unknown to rrweb.",
            ),
            col(
                "interaction",
                Int32,
                true,
                "MouseInteraction type (0 MouseUp, 1 MouseDown, 2 Click, 3 ContextMenu, 4 DblClick, 5 Focus, 6 Blur, 7 TouchStart, 8 TouchMove_Departed, 9 TouchEnd, 10 TouchCancel) for source 2; MediaInteraction type for source 7; CanvasMutation context for source 9.",
            ),
            col(
                "interaction_name",
                Utf8,
                true,
                "Name of `interaction` for MouseInteraction and MediaInteraction events.",
            ),
            col(
                "node_id",
                Int64,
                true,
                "rrweb node id the event targets (`data.id`): the clicked, scrolled, input or media element.",
            ),
            col(
                "x",
                Float64,
                true,
                "X coordinate in CSS pixels: MouseInteraction and Scroll `x`, or the last position of a MouseMove, TouchMove or Drag batch.",
            ),
            col(
                "y",
                Float64,
                true,
                "Y coordinate in CSS pixels, as for `x`.",
            ),
            col(
                "pointer_type",
                Int32,
                true,
                "MouseInteraction pointer type: 0 Mouse, 1 Pen, 2 Touch.",
            ),
            col(
                "position_count",
                Int32,
                true,
                "Number of positions in a MouseMove, TouchMove or Drag batch.",
            ),
            col(
                "text",
                Utf8,
                true,
                "Input event text (as recorded, masked inputs are asterisks).",
            ),
            col("is_checked", Boolean, true, "Input event checked state."),
            col(
                "href",
                Utf8,
                true,
                "URL of a Meta event (`data.href`) or of a custom event's payload (`data.payload.href`, e.g. $pageview).",
            ),
            col(
                "width",
                Int32,
                true,
                "Meta or ViewportResize width in CSS pixels.",
            ),
            col(
                "height",
                Int32,
                true,
                "Meta or ViewportResize height in CSS pixels.",
            ),
            col(
                "custom_tag",
                Utf8,
                true,
                "Custom event (type 5) tag, e.g. $pageview, $url_changed, $session_options.",
            ),
            col(
                "plugin",
                Utf8,
                true,
                "Plugin event (type 6) name, e.g. rrweb/console@1, rrweb/network@1.",
            ),
            col(
                "console_level",
                Utf8,
                true,
                "rrweb/console@1 level (log, info, warn, error, assert, ...).",
            ),
            col(
                "console_message",
                Utf8,
                true,
                "rrweb/console@1 payload strings joined with a space.",
            ),
            col(
                "url",
                Utf8,
                true,
                "Page URL at this event in its window: the latest Meta `href` or `$pageview` / `$url_changed` payload `href` (the session's latest URL while the window has announced none).",
            ),
            col(
                "target_tag",
                Utf8,
                true,
                "Mouse interaction, scroll and input rows: tag name of the element the node id resolves to in a mirror of the window's DOM (a text node resolves to its parent element); null when the node is unknown (no snapshot yet, removed) or is the document.",
            ),
            col(
                "target_id",
                Utf8,
                true,
                "The target element's `id` attribute.",
            ),
            col(
                "target_classes",
                Utf8,
                true,
                "The target element's classes, space-separated.",
            ),
            col(
                "target_selector",
                Utf8,
                true,
                "A stable CSS selector of the target: `tag#id.class` parts joined by ` > `, with `:nth-of-type(k)` where siblings would be ambiguous, up to the nearest ancestor with an id.",
            ),
            col(
                "target_text",
                Utf8,
                true,
                "The target's visible text, whitespace-collapsed, at most 200 characters (masked text stays masked).",
            ),
            col(
                "target_href",
                Utf8,
                true,
                "`href` of the link (`a` element) the target is in, if any.",
            ),
            col(
                "target_attributes",
                Utf8,
                true,
                "The target element's attributes as a JSON object of strings, as recorded (values over 1024 characters are cut).",
            ),
            col(
                "payload",
                Utf8,
                false,
                "The event's `data`, decompressed, as JSON text: nothing of the input is lost.",
            ),
        ],
        Table::Events,
    )
});

static RECORDINGS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(
        vec![
            col("session_id", Utf8, false, "PostHog session (recording) id."),
            col(
                "session_id_source",
                Utf8,
                false,
                "Where the session id came from: `data` (the input names it), `flag` (--session-id) or `filename` (<session_id>.<anything>).",
            ),
            col(
                "distinct_id",
                Utf8,
                true,
                "PostHog distinct_id of the user, when the input has it.",
            ),
            col(
                "person",
                Utf8,
                true,
                "PostHog person object as JSON text, when the input has it.",
            ),
            col("start_time", ts(), false, "Time of the first event."),
            col("end_time", ts(), false, "Time of the last event."),
            col(
                "duration_ms",
                Int64,
                false,
                "end_time - start_time in milliseconds.",
            ),
            col(
                "active_ms",
                Int64,
                false,
                "Active time in milliseconds by PostHog's ingestion segmentation: activity segments cut by 5000 ms gaps between active incremental events (sources 1-7 and 12).",
            ),
            col(
                "event_count",
                Int64,
                false,
                "Events after deduplication (rows in `events`).",
            ),
            col(
                "duplicates_dropped",
                Int64,
                false,
                "Exact duplicate events (same window, timestamp and content) dropped, as PostHog's player does.",
            ),
            col("full_snapshot_count", Int64, false, "FullSnapshot events."),
            col(
                "click_count",
                Int64,
                false,
                "PostHog click_count: MouseInteraction Click, DblClick, ContextMenu and TouchEnd.",
            ),
            col(
                "keypress_count",
                Int64,
                false,
                "PostHog keypress_count: Input incremental events.",
            ),
            col(
                "mouse_activity_count",
                Int64,
                false,
                "PostHog mouse_activity_count: MouseInteraction, MouseMove and TouchMove incremental events.",
            ),
            col(
                "console_log_count",
                Int64,
                false,
                "rrweb/console@1 events at log/info/debug/trace/... level (everything not warn or error).",
            ),
            col(
                "console_warn_count",
                Int64,
                false,
                "rrweb/console@1 events at warn or countReset level.",
            ),
            col(
                "console_error_count",
                Int64,
                false,
                "rrweb/console@1 events at error or assert level.",
            ),
            col(
                "network_request_count",
                Int64,
                false,
                "Requests captured by rrweb/network@1 (rows in `network_requests`).",
            ),
            col(
                "first_url",
                Utf8,
                true,
                "First URL of the recording (Meta href or custom event payload href).",
            ),
            col(
                "urls",
                DataType::List(Arc::new(Field::new("item", Utf8, true))),
                false,
                "Distinct URLs in order of first appearance, at most 25, each truncated to 4 KiB (as PostHog ingestion keeps them).",
            ),
            col("window_count", Int32, false, "Distinct window ids."),
            col(
                "viewport_width",
                Int32,
                true,
                "Width of the first Meta event.",
            ),
            col(
                "viewport_height",
                Int32,
                true,
                "Height of the first Meta event.",
            ),
            col(
                "user_agent",
                Utf8,
                true,
                "Browser user agent, when the input carries it.",
            ),
            col(
                "lib",
                Utf8,
                true,
                "Recording library and version when known (e.g. posthog-js 1.449.2).",
            ),
            col(
                "source_file",
                Utf8,
                false,
                "Input file (or URL) the recording was read from; several are joined with ';'.",
            ),
            col(
                "source_format",
                Utf8,
                false,
                "Detected input format, e.g. export-2023-04-28, blob-v2-jsonl, rrweb-array.",
            ),
            col(
                "checksum",
                Utf8,
                false,
                "xxh3-128 of the schema version and the session's events (window, timestamp, type, payload) in order, hex: equal checksums mean equal rows.",
            ),
            col(
                "posthog_metadata",
                Utf8,
                true,
                "The recording's object from PostHog's list API as JSON text (pull only): PostHog's own counts, start_url, person.",
            ),
            col(
                "converted_at",
                ts(),
                false,
                "When replaylake wrote this row.",
            ),
        ],
        Table::Recordings,
    )
});

static NETWORK_REQUESTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(
        vec![
            col("session_id", Utf8, false, "PostHog session (recording) id."),
            col("window_id", Utf8, true, "Window id of the plugin event."),
            col(
                "seq",
                Int64,
                false,
                "`seq` of the plugin event in `events` that carried this request.",
            ),
            col(
                "request_index",
                Int32,
                false,
                "Position of the request within its plugin event.",
            ),
            col(
                "timestamp",
                ts(),
                false,
                "Request time: the request's own `timestamp`, else timeOrigin + startTime, else the event time.",
            ),
            col(
                "ts_ms",
                Int64,
                false,
                "`timestamp` as milliseconds since the Unix epoch.",
            ),
            col("url", Utf8, true, "Request URL (PerformanceEntry `name`)."),
            col("method", Utf8, true, "HTTP method, when captured."),
            col(
                "status",
                Int32,
                true,
                "HTTP status (`status`, else `responseStatus`).",
            ),
            col(
                "entry_type",
                Utf8,
                true,
                "PerformanceEntry type: navigation, resource, ...",
            ),
            col(
                "initiator_type",
                Utf8,
                true,
                "Initiator: fetch, xmlhttprequest, script, link, img, navigation, ...",
            ),
            col("duration_ms", Float64, true, "Duration in milliseconds."),
            col(
                "start_time",
                Float64,
                true,
                "startTime relative to timeOrigin, milliseconds.",
            ),
            col(
                "end_time",
                Float64,
                true,
                "endTime relative to timeOrigin, milliseconds.",
            ),
            col(
                "time_origin",
                Int64,
                true,
                "Page timeOrigin, milliseconds since the Unix epoch.",
            ),
            col(
                "transfer_size",
                Int64,
                true,
                "Bytes transferred, headers included.",
            ),
            col(
                "encoded_body_size",
                Int64,
                true,
                "Response body bytes as received.",
            ),
            col(
                "decoded_body_size",
                Int64,
                true,
                "Response body bytes after content decoding.",
            ),
            col(
                "next_hop_protocol",
                Utf8,
                true,
                "Network protocol, e.g. http/1.1, h2.",
            ),
            col(
                "render_blocking_status",
                Utf8,
                true,
                "blocking or non-blocking.",
            ),
            col(
                "response_status",
                Int32,
                true,
                "PerformanceEntry responseStatus.",
            ),
            col(
                "is_initial",
                Boolean,
                true,
                "True for requests captured from the performance buffer at recording start.",
            ),
            col(
                "timings",
                Utf8,
                true,
                "The remaining PerformanceEntry timing fields (fetchStart, domainLookupStart, connectStart, requestStart, responseStart, responseEnd, ...) as a JSON object.",
            ),
            col(
                "server_timing",
                Utf8,
                true,
                "serverTiming entries for this request as a JSON array.",
            ),
            col(
                "request_headers",
                Utf8,
                true,
                "Request headers as JSON text, when captured.",
            ),
            col(
                "request_body",
                Utf8,
                true,
                "Request body as JSON text, when captured.",
            ),
            col(
                "response_headers",
                Utf8,
                true,
                "Response headers as JSON text, when captured.",
            ),
            col(
                "response_body",
                Utf8,
                true,
                "Response body as JSON text, when captured.",
            ),
        ],
        Table::NetworkRequests,
    )
});

/// Hive partition keys used in a lake's paths.
pub const DATE_PARTITION: &str = "date";
pub const SESSION_PARTITION: &str = "session_id";

/// A column as published in `schemas/<table>.json`.
#[derive(Debug, Serialize)]
pub struct PublishedColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
    pub nullable: bool,
    pub description: String,
}

/// A table as published in `schemas/<table>.json`.
#[derive(Debug, Serialize)]
pub struct PublishedTable {
    pub table: String,
    pub schema_version: String,
    pub description: String,
    pub path: String,
    pub partitioning: Vec<String>,
    pub sorted_by: Vec<String>,
    pub columns: Vec<PublishedColumn>,
}

/// Portable type name of an Arrow type, as published (and as Parquet readers see it).
pub fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 => "string".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::Float64 => "float64".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Timestamp(TimeUnit::Millisecond, Some(tz)) => format!("timestamp[ms, {tz}]"),
        DataType::List(f) => format!("list<{}>", type_name(f.data_type())),
        other => other.to_string(),
    }
}

/// SQL type name of an Arrow type (ANSI-ish, accepted by DataFusion, DuckDB and Spark).
pub fn sql_type_name(dt: &DataType) -> String {
    match dt {
        DataType::Utf8 => "STRING".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Timestamp(_, _) => "TIMESTAMP".into(),
        DataType::List(f) => format!("ARRAY<{}>", sql_type_name(f.data_type())),
        other => other.to_string(),
    }
}

/// The published description of a table.
pub fn published(table: Table) -> PublishedTable {
    let schema = table.schema();
    PublishedTable {
        table: table.name().to_string(),
        schema_version: SCHEMA_VERSION.to_string(),
        description: table.description().to_string(),
        path: format!(
            "<lake>/{}/date=YYYY-MM-DD[/session_id=ID]/part-*.parquet",
            table.name()
        ),
        partitioning: vec![
            format!("{DATE_PARTITION} (string, UTC date of the session's first event)"),
            format!("{SESSION_PARTITION} (only with --partition-by date,session)"),
        ],
        sorted_by: table.sort_columns().iter().map(|s| s.to_string()).collect(),
        columns: schema
            .fields()
            .iter()
            .map(|f| PublishedColumn {
                name: f.name().clone(),
                data_type: type_name(f.data_type()),
                nullable: f.is_nullable(),
                description: f.metadata().get("description").cloned().unwrap_or_default(),
            })
            .collect(),
    }
}

/// `schemas/<table>.json` text for a table (pretty JSON with a trailing newline).
pub fn published_json(table: Table) -> String {
    let mut s = serde_json::to_string_pretty(&published(table)).expect("schema serializes");
    s.push('\n');
    s
}

/// A `CREATE TABLE` statement for a table, for engines that want DDL: the file columns, then the
/// `date` partition column (from the `date=YYYY-MM-DD` directories, a string) and the
/// partitioning.
pub fn create_table_sql(table: Table) -> String {
    let schema = table.schema();
    let mut s = format!(
        "-- {}\n-- Parquet files under {}/{DATE_PARTITION}=YYYY-MM-DD/ (hive partitioning; \
         convert --partition-by date,session adds a {SESSION_PARTITION}=ID level, whose value is \
         the session_id column).\nCREATE TABLE {} (\n",
        table.description(),
        table.name(),
        table.name()
    );
    for f in schema.fields() {
        let null = if f.is_nullable() { "" } else { " NOT NULL" };
        s.push_str(&format!(
            "  {} {}{},\n",
            f.name(),
            sql_type_name(f.data_type()),
            null
        ));
    }
    s.push_str(&format!(
        "  {DATE_PARTITION} VARCHAR NOT NULL -- partition: UTC date of the session's first event, \
         YYYY-MM-DD\n)\nPARTITIONED BY ({DATE_PARTITION});\n"
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_documented_and_snake_case() {
        for t in TABLES {
            for f in t.schema().fields() {
                let doc = f
                    .metadata()
                    .get("description")
                    .map(String::as_str)
                    .unwrap_or("");
                assert!(!doc.is_empty(), "{t}.{} has no description", f.name());
                assert!(
                    f.name()
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{t}.{} is not snake_case",
                    f.name()
                );
            }
        }
    }

    #[test]
    fn table_names_round_trip() {
        for t in TABLES {
            assert_eq!(Table::from_name(t.name()).unwrap(), t);
        }
        assert!(Table::from_name("nope").is_err());
    }
}
