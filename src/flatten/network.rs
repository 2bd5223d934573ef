//! The `network_requests` table: one row per request captured by posthog-js's `rrweb/network@1`
//! plugin (PerformanceEntry JSON plus method, status, headers and bodies).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMillisecondBuilder,
};
use datafusion::arrow::record_batch::RecordBatch;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::schema::Table;

pub const NETWORK_PLUGIN: &str = "rrweb/network@1";

/// Keys that have their own column (the rest of the numeric fields go to `timings`).
const OWN_COLUMNS: &[&str] = &[
    "name",
    "entryType",
    "initiatorType",
    "method",
    "status",
    "responseStatus",
    "duration",
    "startTime",
    "endTime",
    "timeOrigin",
    "timestamp",
    "transferSize",
    "encodedBodySize",
    "decodedBodySize",
    "nextHopProtocol",
    "renderBlockingStatus",
    "isInitial",
    "requestHeaders",
    "requestBody",
    "responseHeaders",
    "responseBody",
    "serverTiming",
];

/// One request as it comes: keys in sorted order (as a `serde_json::Map` keeps them), values
/// unparsed until a column asks for them.
type Request<'a> = BTreeMap<Cow<'a, str>, &'a RawValue>;

#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    requests: Vec<Request<'a>>,
}

fn is_number(v: &RawValue) -> bool {
    matches!(v.get().as_bytes().first(), Some(b'-' | b'0'..=b'9'))
}

fn num(m: &Request<'_>, k: &str) -> Option<f64> {
    m.get(k)
        .filter(|v| is_number(v))
        .and_then(|v| serde_json::from_str::<f64>(v.get()).ok())
}

fn text<'a>(m: &Request<'a>, k: &str) -> Option<Cow<'a, str>> {
    m.get(k)
        .filter(|v| v.get().starts_with('"'))
        .and_then(|v| serde_json::from_str::<Cow<'a, str>>(v.get()).ok())
}

fn value(v: &RawValue) -> Value {
    serde_json::from_str(v.get()).unwrap_or(Value::Null)
}

/// A value re-serialized as serde_json writes a `Value` (compact, object keys sorted).
fn json(m: &Request<'_>, k: &str) -> Option<String> {
    m.get(k)
        .filter(|v| v.get() != "null")
        .map(|v| value(v).to_string())
}

fn to_value(r: &Request<'_>) -> Value {
    Value::Object(
        r.iter()
            .map(|(k, v)| (k.to_string(), value(v)))
            .collect::<Map<String, Value>>(),
    )
}

/// Builder of the `network_requests` table.
pub struct NetworkBuilder {
    session_id: StringBuilder,
    window_id: StringBuilder,
    seq: Int64Builder,
    request_index: Int32Builder,
    timestamp: TimestampMillisecondBuilder,
    ts_ms: Int64Builder,
    url: StringBuilder,
    method: StringBuilder,
    status: Int32Builder,
    entry_type: StringBuilder,
    initiator_type: StringBuilder,
    duration_ms: Float64Builder,
    start_time: Float64Builder,
    end_time: Float64Builder,
    time_origin: Int64Builder,
    transfer_size: Int64Builder,
    encoded_body_size: Int64Builder,
    decoded_body_size: Int64Builder,
    next_hop_protocol: StringBuilder,
    render_blocking_status: StringBuilder,
    response_status: Int32Builder,
    is_initial: BooleanBuilder,
    timings: StringBuilder,
    server_timing: StringBuilder,
    request_headers: StringBuilder,
    request_body: StringBuilder,
    response_headers: StringBuilder,
    response_body: StringBuilder,
}

impl Default for NetworkBuilder {
    fn default() -> Self {
        NetworkBuilder {
            session_id: StringBuilder::new(),
            window_id: StringBuilder::new(),
            seq: Int64Builder::new(),
            request_index: Int32Builder::new(),
            timestamp: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            ts_ms: Int64Builder::new(),
            url: StringBuilder::new(),
            method: StringBuilder::new(),
            status: Int32Builder::new(),
            entry_type: StringBuilder::new(),
            initiator_type: StringBuilder::new(),
            duration_ms: Float64Builder::new(),
            start_time: Float64Builder::new(),
            end_time: Float64Builder::new(),
            time_origin: Int64Builder::new(),
            transfer_size: Int64Builder::new(),
            encoded_body_size: Int64Builder::new(),
            decoded_body_size: Int64Builder::new(),
            next_hop_protocol: StringBuilder::new(),
            render_blocking_status: StringBuilder::new(),
            response_status: Int32Builder::new(),
            is_initial: BooleanBuilder::new(),
            timings: StringBuilder::new(),
            server_timing: StringBuilder::new(),
            request_headers: StringBuilder::new(),
            request_body: StringBuilder::new(),
            response_headers: StringBuilder::new(),
            response_body: StringBuilder::new(),
        }
    }
}

impl NetworkBuilder {
    /// Appends the requests of one plugin event; returns how many rows were added.
    pub fn append(
        &mut self,
        session_id: &str,
        window_id: Option<&str>,
        seq: i64,
        event_ts: i64,
        payload: &RawValue,
    ) -> i64 {
        let Ok(p) = serde_json::from_str::<Payload>(payload.get()) else {
            return 0;
        };
        // serverTiming entries belong to the request before them.
        let mut rows: Vec<(Request<'_>, Vec<Value>)> = Vec::new();
        for r in p.requests {
            if text(&r, "entryType").as_deref() == Some("serverTiming") {
                if let Some(last) = rows.last_mut() {
                    last.1.push(to_value(&r));
                    continue;
                }
            }
            rows.push((r, Vec::new()));
        }
        let n = rows.len() as i64;
        for (i, (r, server_timing)) in rows.into_iter().enumerate() {
            let origin = num(&r, "timeOrigin");
            let ts = num(&r, "timestamp")
                .or_else(|| Some(origin? + num(&r, "startTime")?))
                .map(|t| t as i64)
                .unwrap_or(event_ts);
            self.session_id.append_value(session_id);
            self.window_id.append_option(window_id);
            self.seq.append_value(seq);
            self.request_index.append_value(i as i32);
            self.timestamp.append_value(ts);
            self.ts_ms.append_value(ts);
            self.url.append_option(text(&r, "name"));
            self.method.append_option(text(&r, "method"));
            self.status.append_option(
                num(&r, "status")
                    .or_else(|| num(&r, "responseStatus"))
                    .map(|v| v as i32),
            );
            self.entry_type.append_option(text(&r, "entryType"));
            self.initiator_type.append_option(text(&r, "initiatorType"));
            self.duration_ms.append_option(num(&r, "duration"));
            self.start_time.append_option(num(&r, "startTime"));
            self.end_time.append_option(num(&r, "endTime"));
            self.time_origin.append_option(origin.map(|v| v as i64));
            self.transfer_size
                .append_option(num(&r, "transferSize").map(|v| v as i64));
            self.encoded_body_size
                .append_option(num(&r, "encodedBodySize").map(|v| v as i64));
            self.decoded_body_size
                .append_option(num(&r, "decodedBodySize").map(|v| v as i64));
            self.next_hop_protocol
                .append_option(text(&r, "nextHopProtocol"));
            self.render_blocking_status
                .append_option(text(&r, "renderBlockingStatus"));
            self.response_status
                .append_option(num(&r, "responseStatus").map(|v| v as i32));
            self.is_initial
                .append_option(r.get("isInitial").and_then(|v| match v.get() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                }));
            // the numeric fields without a column, as a JSON object (sorted keys)
            let mut timings = String::new();
            for (k, v) in r.iter() {
                if !is_number(v) || OWN_COLUMNS.contains(&k.as_ref()) {
                    continue;
                }
                timings.push(if timings.is_empty() { '{' } else { ',' });
                timings.push_str(&serde_json::to_string(k.as_ref()).expect("a string serializes"));
                timings.push(':');
                // the number as written (JSON number text needs no re-encoding)
                timings.push_str(v.get().trim());
            }
            if !timings.is_empty() {
                timings.push('}');
            }
            self.timings
                .append_option((!timings.is_empty()).then_some(timings.as_str()));
            let mut st = match r.get("serverTiming").map(|v| value(v)) {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            st.extend(server_timing);
            self.server_timing
                .append_option((!st.is_empty()).then(|| Value::Array(st).to_string()));
            self.request_headers
                .append_option(json(&r, "requestHeaders"));
            self.request_body.append_option(json(&r, "requestBody"));
            self.response_headers
                .append_option(json(&r, "responseHeaders"));
            self.response_body.append_option(json(&r, "responseBody"));
        }
        n
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.session_id.finish()),
            Arc::new(self.window_id.finish()),
            Arc::new(self.seq.finish()),
            Arc::new(self.request_index.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.ts_ms.finish()),
            Arc::new(self.url.finish()),
            Arc::new(self.method.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.entry_type.finish()),
            Arc::new(self.initiator_type.finish()),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.time_origin.finish()),
            Arc::new(self.transfer_size.finish()),
            Arc::new(self.encoded_body_size.finish()),
            Arc::new(self.decoded_body_size.finish()),
            Arc::new(self.next_hop_protocol.finish()),
            Arc::new(self.render_blocking_status.finish()),
            Arc::new(self.response_status.finish()),
            Arc::new(self.is_initial.finish()),
            Arc::new(self.timings.finish()),
            Arc::new(self.server_timing.finish()),
            Arc::new(self.request_headers.finish()),
            Arc::new(self.request_body.finish()),
            Arc::new(self.response_headers.finish()),
            Arc::new(self.response_body.finish()),
        ];
        Ok(RecordBatch::try_new(Table::NetworkRequests.schema(), cols)?)
    }
}
