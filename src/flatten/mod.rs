//! Ordered sessions to Arrow record batches, one builder struct per table.
//!
//! [`TableBuilders::append_session`] appends one [`OrderedSession`] to the `events`,
//! `network_requests` and `recordings` builders; [`TableBuilders::finish`] returns batches of
//! exactly the schemas in [`crate::schema`]. PostHog's per-session counters (FORMATS.md §6) are
//! computed in [`metrics`] while the events stream past, and [`elements`] resolves each
//! interaction's node id to the element through a mirror of the window's DOM ([`dom`]).

pub mod dom;
pub mod elements;
pub mod events;
pub mod metrics;
pub mod network;
pub mod order;
pub mod recordings;
pub mod session;

use datafusion::arrow::record_batch::RecordBatch;

use crate::decode::OrderedSession;
use crate::error::Result;

pub use elements::Resolver;
pub use events::{EventFields, EventsBuilder};
pub use metrics::SessionMetrics;
pub use network::NetworkBuilder;
pub use recordings::RecordingsBuilder;
pub use session::{FlatSession, flatten_session};

/// Batches of the three tables for a group of sessions.
#[derive(Debug, Clone)]
pub struct TableBatches {
    pub events: RecordBatch,
    pub network_requests: RecordBatch,
    pub recordings: RecordBatch,
}

impl TableBatches {
    pub fn get(&self, t: crate::schema::Table) -> &RecordBatch {
        match t {
            crate::schema::Table::Events => &self.events,
            crate::schema::Table::NetworkRequests => &self.network_requests,
            crate::schema::Table::Recordings => &self.recordings,
        }
    }

    /// Gives back the spare capacity of the builders' buffers (a builder starts with room for
    /// 1024 rows and doubles; a session's batches are kept while the lake writer buffers them,
    /// so the slack would otherwise be held, and counted, for as long as the rows).
    pub fn shrink_to_fit(self) -> Self {
        fn shrunk(b: RecordBatch) -> RecordBatch {
            let (schema, mut columns, rows) = b.into_parts();
            for c in &mut columns {
                datafusion::arrow::array::Array::shrink_to_fit(c);
            }
            RecordBatch::try_new_with_options(
                schema,
                columns,
                &datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
            )
            .expect("the same columns")
        }
        TableBatches {
            events: shrunk(self.events),
            network_requests: shrunk(self.network_requests),
            recordings: shrunk(self.recordings),
        }
    }

    /// Arrow memory held by the batches.
    pub fn memory_size(&self) -> usize {
        self.events.get_array_memory_size()
            + self.network_requests.get_array_memory_size()
            + self.recordings.get_array_memory_size()
    }
}

/// The three table builders.
#[derive(Default)]
pub struct TableBuilders {
    pub events: EventsBuilder,
    pub network: NetworkBuilder,
    pub recordings: RecordingsBuilder,
}

impl TableBuilders {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one session to every table; `converted_at_ms` stamps the recordings row.
    pub fn append_session(&mut self, s: &OrderedSession, converted_at_ms: i64) -> SessionMetrics {
        let mut m = SessionMetrics::new();
        let mut resolver = Resolver::new();
        for (seq, e) in s.events.iter().enumerate() {
            let f = EventFields::parse(e);
            m.observe(e, &f);
            let (url, target) = resolver.observe(e, &f);
            self.events
                .append(&s.session_id, seq as i64, e, &f, url, target.as_ref());
            if f.plugin.as_deref() == Some(network::NETWORK_PLUGIN) {
                if let Some(p) = f.payload {
                    m.network_requests += self.network.append(
                        &s.session_id,
                        e.window_id.as_deref(),
                        seq as i64,
                        e.timestamp,
                        p,
                    );
                }
            }
        }
        m.finish();
        self.recordings.append(s, &m, converted_at_ms);
        m
    }

    pub fn finish(&mut self) -> Result<TableBatches> {
        Ok(TableBatches {
            events: self.events.finish()?,
            network_requests: self.network.finish()?,
            recordings: self.recordings.finish()?,
        })
    }
}

/// The UTC date (YYYY-MM-DD) of a millisecond timestamp: the `date=` partition of a session.
pub fn utc_date(ts_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ts_ms)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".to_string())
}
