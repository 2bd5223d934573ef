//! The `recordings` table: one row per session.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, ListBuilder, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::record_batch::RecordBatch;

use crate::decode::OrderedSession;
use crate::error::Result;
use crate::flatten::SessionMetrics;
use crate::schema::Table;

/// Builder of the `recordings` table.
pub struct RecordingsBuilder {
    session_id: StringBuilder,
    session_id_source: StringBuilder,
    distinct_id: StringBuilder,
    person: StringBuilder,
    start_time: TimestampMillisecondBuilder,
    end_time: TimestampMillisecondBuilder,
    duration_ms: Int64Builder,
    active_ms: Int64Builder,
    event_count: Int64Builder,
    duplicates_dropped: Int64Builder,
    full_snapshot_count: Int64Builder,
    click_count: Int64Builder,
    keypress_count: Int64Builder,
    mouse_activity_count: Int64Builder,
    console_log_count: Int64Builder,
    console_warn_count: Int64Builder,
    console_error_count: Int64Builder,
    network_request_count: Int64Builder,
    first_url: StringBuilder,
    urls: ListBuilder<StringBuilder>,
    window_count: Int32Builder,
    viewport_width: Int32Builder,
    viewport_height: Int32Builder,
    user_agent: StringBuilder,
    lib: StringBuilder,
    source_file: StringBuilder,
    source_format: StringBuilder,
    checksum: StringBuilder,
    posthog_metadata: StringBuilder,
    converted_at: TimestampMillisecondBuilder,
}

impl Default for RecordingsBuilder {
    fn default() -> Self {
        let ts = || TimestampMillisecondBuilder::new().with_timezone("UTC");
        RecordingsBuilder {
            session_id: StringBuilder::new(),
            session_id_source: StringBuilder::new(),
            distinct_id: StringBuilder::new(),
            person: StringBuilder::new(),
            start_time: ts(),
            end_time: ts(),
            duration_ms: Int64Builder::new(),
            active_ms: Int64Builder::new(),
            event_count: Int64Builder::new(),
            duplicates_dropped: Int64Builder::new(),
            full_snapshot_count: Int64Builder::new(),
            click_count: Int64Builder::new(),
            keypress_count: Int64Builder::new(),
            mouse_activity_count: Int64Builder::new(),
            console_log_count: Int64Builder::new(),
            console_warn_count: Int64Builder::new(),
            console_error_count: Int64Builder::new(),
            network_request_count: Int64Builder::new(),
            first_url: StringBuilder::new(),
            urls: ListBuilder::new(StringBuilder::new()),
            window_count: Int32Builder::new(),
            viewport_width: Int32Builder::new(),
            viewport_height: Int32Builder::new(),
            user_agent: StringBuilder::new(),
            lib: StringBuilder::new(),
            source_file: StringBuilder::new(),
            source_format: StringBuilder::new(),
            checksum: StringBuilder::new(),
            posthog_metadata: StringBuilder::new(),
            converted_at: ts(),
        }
    }
}

impl RecordingsBuilder {
    /// Appends a session's row. A session with no events has no row (it has no time to place it).
    pub fn append(&mut self, s: &OrderedSession, m: &SessionMetrics, converted_at_ms: i64) {
        let (Some(start), Some(end)) = (m.start_ms, m.end_ms) else {
            return;
        };
        self.session_id.append_value(&s.session_id);
        self.session_id_source.append_value(s.id_source.as_str());
        self.distinct_id
            .append_option(s.meta.distinct_id.as_deref());
        self.person.append_option(s.meta.person.as_deref());
        self.start_time.append_value(start);
        self.end_time.append_value(end);
        self.duration_ms.append_value(end - start);
        self.active_ms.append_value(m.active_ms);
        self.event_count.append_value(m.event_count);
        self.duplicates_dropped
            .append_value(s.duplicates_dropped as i64);
        self.full_snapshot_count.append_value(m.full_snapshot_count);
        self.click_count.append_value(m.click_count);
        self.keypress_count.append_value(m.keypress_count);
        self.mouse_activity_count
            .append_value(m.mouse_activity_count);
        self.console_log_count.append_value(m.console_log_count);
        self.console_warn_count.append_value(m.console_warn_count);
        self.console_error_count.append_value(m.console_error_count);
        self.network_request_count.append_value(m.network_requests);
        self.first_url.append_option(m.first_url());
        for u in &m.urls {
            self.urls.values().append_value(u);
        }
        self.urls.append(true);
        self.window_count.append_value(m.window_count());
        self.viewport_width
            .append_option(m.viewport.and_then(|v| v.0));
        self.viewport_height
            .append_option(m.viewport.and_then(|v| v.1));
        self.user_agent.append_option(s.meta.user_agent.as_deref());
        self.lib.append_option(s.meta.lib.as_deref());
        self.source_file.append_value(s.source_files.join(";"));
        self.source_format.append_value(&s.source_format);
        self.checksum.append_value(&s.checksum);
        self.posthog_metadata
            .append_option(s.meta.posthog_metadata.as_deref());
        self.converted_at.append_value(converted_at_ms);
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.session_id.finish()),
            Arc::new(self.session_id_source.finish()),
            Arc::new(self.distinct_id.finish()),
            Arc::new(self.person.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.active_ms.finish()),
            Arc::new(self.event_count.finish()),
            Arc::new(self.duplicates_dropped.finish()),
            Arc::new(self.full_snapshot_count.finish()),
            Arc::new(self.click_count.finish()),
            Arc::new(self.keypress_count.finish()),
            Arc::new(self.mouse_activity_count.finish()),
            Arc::new(self.console_log_count.finish()),
            Arc::new(self.console_warn_count.finish()),
            Arc::new(self.console_error_count.finish()),
            Arc::new(self.network_request_count.finish()),
            Arc::new(self.first_url.finish()),
            Arc::new(self.urls.finish()),
            Arc::new(self.window_count.finish()),
            Arc::new(self.viewport_width.finish()),
            Arc::new(self.viewport_height.finish()),
            Arc::new(self.user_agent.finish()),
            Arc::new(self.lib.finish()),
            Arc::new(self.source_file.finish()),
            Arc::new(self.source_format.finish()),
            Arc::new(self.checksum.finish()),
            Arc::new(self.posthog_metadata.finish()),
            Arc::new(self.converted_at.finish()),
        ];
        Ok(RecordBatch::try_new(Table::Recordings.schema(), cols)?)
    }
}
