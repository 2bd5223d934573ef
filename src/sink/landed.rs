//! What the lake holds of each recording that `pull` brought: PostHog's `end_time` as the list
//! reported it when the recording landed (kept in `recordings.posthog_metadata`).
//!
//! Pull asks this before fetching, so that a rerun over any window, however old, costs no
//! snapshot request for a recording that is in the lake unchanged. The lake is the authority on
//! what landed; the pull checkpoint only bounds the listing (and remembers recordings that
//! landed no rows, which the lake cannot). Kept small: two 64-bit hashes per recording.

use std::collections::HashMap;

use bytes::Bytes;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use serde::Deserialize;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
use crate::schema::Table;
use crate::sink::commit::column_as;
use crate::store::Lake;

/// Files read at once.
const CONCURRENT_READS: usize = 8;
/// Two copies of a recording (a replacement a crash interrupted) that disagree: never unchanged.
const CONFLICT: u64 = 0;

/// Pulled recordings in the lake: xxh3 of the session id to xxh3 of the listed end time.
#[derive(Default)]
pub struct Landed {
    ends: HashMap<u64, u64>,
}

/// The key of a listed end time; never [`CONFLICT`].
fn end_key(end_time: Option<&str>) -> u64 {
    match end_time {
        Some(t) => xxh3_64(t.as_bytes()) | 1,
        None => 2,
    }
}

#[derive(Deserialize)]
struct ListedEnd<'a> {
    #[serde(default, borrow)]
    end_time: Option<std::borrow::Cow<'a, str>>,
}

impl Landed {
    /// Reads `session_id` and `posthog_metadata` of every `recordings` file. A lake that does not
    /// exist yet holds nothing.
    pub async fn load(lake: &Lake) -> Result<Landed> {
        let table = Table::Recordings.name();
        let prefix = lake.path(table);
        let files: Vec<_> = lake
            .store
            .list(Some(&prefix))
            .try_filter(|m| futures::future::ready(m.location.as_ref().ends_with(".parquet")))
            .try_collect()
            .await
            .map_err(|e| Error::store(table, e))?;
        let mut reads = futures::stream::iter(files)
            .map(|m| async move {
                let rel = lake.relative(&m.location);
                match lake.store.get(&m.location).await {
                    Ok(r) => r
                        .bytes()
                        .await
                        .map(|b| Some((rel.clone(), b)))
                        .map_err(|e| Error::store(&rel, e)),
                    // rewritten under us (compaction): its sessions are in the file that replaced it
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(Error::store(&rel, e)),
                }
            })
            .buffer_unordered(CONCURRENT_READS);
        let mut landed = Landed::default();
        while let Some(read) = reads.next().await {
            if let Some((rel, bytes)) = read? {
                landed.read_file(bytes, &rel)?;
            }
        }
        Ok(landed)
    }

    fn read_file(&mut self, bytes: Bytes, location: &str) -> Result<()> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(|e| Error::parquet(location, e))?;
        let schema = builder.schema().clone();
        let (Ok(sid), Ok(meta)) = (
            schema.index_of("session_id"),
            schema.index_of("posthog_metadata"),
        ) else {
            return Ok(());
        };
        let mask = ProjectionMask::roots(builder.parquet_schema(), [sid, meta]);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| Error::parquet(location, e))?;
        for batch in reader {
            self.read_batch(&batch?)?;
        }
        Ok(())
    }

    fn read_batch(&mut self, b: &RecordBatch) -> Result<()> {
        // other engines may have written Utf8View or LargeUtf8: read every string type as Utf8
        let (Some(sid), Some(meta)) = (
            column_as(b, "session_id", &DataType::Utf8),
            column_as(b, "posthog_metadata", &DataType::Utf8),
        ) else {
            return Ok(());
        };
        let (sid, meta) = (sid.as_string::<i32>(), meta.as_string::<i32>());
        for i in 0..b.num_rows() {
            if sid.is_null(i) || meta.is_null(i) {
                continue;
            }
            let end = serde_json::from_str::<ListedEnd>(meta.value(i))
                .map(|m| end_key(m.end_time.as_deref()))
                .unwrap_or(CONFLICT);
            self.insert(sid.value(i), end);
        }
        Ok(())
    }

    fn insert(&mut self, session_id: &str, end: u64) {
        let e = self
            .ends
            .entry(xxh3_64(session_id.as_bytes()))
            .or_insert(end);
        if *e != end {
            *e = CONFLICT;
        }
    }

    /// Whether the lake holds the recording as it was when the list reported `end_time` for it.
    pub fn unchanged(&self, session_id: &str, end_time: Option<&str>) -> bool {
        self.ends.get(&xxh3_64(session_id.as_bytes())) == Some(&end_key(end_time))
    }

    /// Whether the lake holds some version of the recording from a pull.
    pub fn contains(&self, session_id: &str) -> bool {
        self.ends.contains_key(&xxh3_64(session_id.as_bytes()))
    }

    /// Pulled recordings in the lake.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_time_matches_only_itself_and_conflicting_copies_never_match() {
        let mut l = Landed::default();
        l.insert("a", end_key(Some("2026-11-24T10:00:00Z")));
        l.insert("b", end_key(None));
        l.insert("c", end_key(Some("t1")));
        l.insert("c", end_key(Some("t2")));
        assert!(l.unchanged("a", Some("2026-11-24T10:00:00Z")));
        assert!(!l.unchanged("a", Some("2026-11-24T10:00:01Z")));
        assert!(!l.unchanged("a", None));
        assert!(l.unchanged("b", None));
        assert!(!l.unchanged("c", Some("t1")) && !l.unchanged("c", Some("t2")));
        assert!(l.contains("c") && !l.contains("d"));
        assert_eq!(l.len(), 3);
    }
}
