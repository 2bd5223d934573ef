//! One ordered session into the batches of the three tables, in their sort order, with what the
//! sink needs to place it (date partition, checksum): the unit every job hands its writer.

use super::order::sort_session_batch;
use super::{TableBatches, TableBuilders, utc_date};
use crate::decode::OrderedSession;
use crate::error::Result;
use crate::schema::Table;

/// A flattened session, ready to be written.
#[derive(Debug, Clone)]
pub struct FlatSession {
    pub session_id: String,
    pub checksum: String,
    /// UTC date of the first event, `YYYY-MM-DD`.
    pub date: String,
    pub converted_at_ms: i64,
    pub batches: TableBatches,
}

/// Orders, flattens and packs one session.
pub fn flatten_session(s: OrderedSession, converted_at_ms: i64) -> Result<Option<FlatSession>> {
    let Some(first) = s.events.first() else {
        return Ok(None);
    };
    let date = utc_date(first.timestamp);
    let mut b = TableBuilders::new();
    b.append_session(&s, converted_at_ms);
    let mut batches = b.finish()?;
    // Rows leave here in the tables' sort order, so the writer streams sessions into Parquet
    // without concatenating and sorting a whole part.
    batches.events = sort_session_batch(Table::Events, batches.events)?;
    batches.network_requests =
        sort_session_batch(Table::NetworkRequests, batches.network_requests)?;
    Ok(Some(FlatSession {
        session_id: s.session_id,
        checksum: s.checksum,
        date,
        converted_at_ms,
        batches: batches.shrink_to_fit(),
    }))
}
