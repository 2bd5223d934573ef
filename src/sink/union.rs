//! A later input adds to a session; it never takes events away.
//!
//! Recordings are append-only event logs: what the lake holds for a session is the union of every
//! event any input brought (events compared by content, as [`crate::decode`] compares them). When
//! an input brings a session the lake holds in another version, the writer reads the lake's
//! version back ([`crate::sink::read`]), merges the two, and writes the merge only if it differs
//! from what the lake holds. A partial copy of a recording then changes nothing, and a session
//! split over two runs ends up whole. Removing events is `erase`'s job, not an input's.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, Scalar, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowFilter,
};
use datafusion::parquet::file::metadata::PageIndexPolicy;

use crate::error::{Error, Result};
use crate::flatten::FlatSession;
use crate::flatten::flatten_session;
use crate::sink::read::{StoredSession, events_from_batch, join_sessions, recordings_from_batch};

/// The rows of session `sid` in one Parquet file of the lake (any engine's types). Only the
/// `session_id` column is decoded for the other sessions' rows; pages without `sid` are skipped.
pub fn session_rows(bytes: Bytes, sid: &str, location: &str) -> Result<Vec<RecordBatch>> {
    let opts = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, opts)
        .map_err(|e| Error::parquet(location, e))?;
    let Ok(col) = builder.schema().index_of("session_id") else {
        return Ok(vec![]);
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [col]);
    let want: Arc<StringArray> = Arc::new(StringArray::from(vec![sid]));
    let predicate = ArrowPredicateFn::new(mask, move |b: RecordBatch| {
        let ids: ArrayRef = cast(b.column(0), &DataType::Utf8)?;
        let hit: BooleanArray = eq(&ids, &Scalar::new(want.as_ref()))?;
        Ok(hit)
    });
    let reader = builder
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .build()
        .map_err(|e| Error::parquet(location, e))?;
    let batches: std::result::Result<Vec<_>, _> = reader.collect();
    let mut out = batches.map_err(|e| Error::parquet(location, e.into()))?;
    out.retain(|b| b.num_rows() > 0);
    Ok(out)
}

/// The lake's version of a session from the rows of its part's `recordings` and `events` files.
pub fn stored_session(
    recordings: &[RecordBatch],
    events: &[RecordBatch],
    location: &str,
) -> Result<Option<StoredSession>> {
    let mut recs = Vec::new();
    for b in recordings {
        recs.extend(recordings_from_batch(b, location)?);
    }
    // a part that holds a session twice (see the writer's healing) gives its row twice
    recs.truncate(1);
    let mut evs = Vec::new();
    for b in events {
        evs.extend(events_from_batch(b, location)?);
    }
    Ok(join_sessions(recs, evs).pop())
}

/// What a merge brought.
pub struct Union {
    pub session: FlatSession,
    /// Events the lake held that the input lacked (kept).
    pub kept_from_lake: u64,
}

/// `new` with the events of `lake` that it lacks. Ordering and duplicate dropping are decode's
/// ([`crate::decode::Session::finish`]); the lake's events come first among events of one
/// millisecond, so a partial copy of what the lake holds leaves its order unchanged. What is known
/// of the session besides its events comes from `new` first (a newer listing from PostHog wins),
/// then from the lake; the duplicates count is `new`'s (the lake's events are not duplicates of
/// the input).
pub fn union(lake: StoredSession, new: &FlatSession) -> Result<Union> {
    let location = format!("session {}", new.session_id);
    let mine = stored_session(
        std::slice::from_ref(&new.batches.recordings),
        std::slice::from_ref(&new.batches.events),
        &location,
    )?
    .ok_or_else(|| Error::State {
        location: location.clone(),
        message: "a session to write has no recordings row".into(),
    })?;
    let own_dups = mine.duplicates_dropped;
    let new_events = mine.events.len() as u64;
    let mut meta = mine.meta.clone();
    meta.merge(lake.meta.clone());
    let mut merged = lake.into_session();
    merged.absorb(mine.into_session());
    merged.meta = meta;
    let mut o = merged.finish();
    o.duplicates_dropped = own_dups;
    let kept_from_lake = (o.events.len() as u64).saturating_sub(new_events);
    let session = flatten_session(o, new.converted_at_ms)?.ok_or_else(|| Error::State {
        location,
        message: "a merged session has no events".into(),
    })?;
    Ok(Union {
        session,
        kept_from_lake,
    })
}
