//! The `recordings` rows of a part's selected sessions, taken in session id order.
//!
//! A part's recordings file is sorted by `session_id` (and says so in its footer), as its events
//! file is: [`Recordings::Streamed`] reads it batch by batch alongside the events, so memory is
//! one batch of rows, not the part's. A file that does not declare the order, or a part read
//! again grouped, is read whole into [`Recordings::Loaded`] (that file's selected rows). A
//! streamed file whose rows break their order is reported as [`Unsorted`], and the caller reads
//! the part again, grouped.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::parquet::arrow::async_reader::ParquetRecordBatchStream;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::export::file_reader::StoreFile;
use crate::export::read::{
    ExportSession, ReadError, Unsorted, declares_session_order, open_file, wanted_mask,
};
use crate::sink::commit::column_as;
use crate::sink::read::recordings_from_batch;
use crate::store::Lake;

/// The recordings rows of one part.
pub enum Recordings {
    Streamed {
        rel: String,
        stream: ParquetRecordBatchStream<StoreFile>,
        /// Selected rows of the last batch not yet taken or passed.
        rows: VecDeque<ExportSession>,
        /// The last session id read, to check the order.
        last: Option<String>,
        wanted: Arc<BTreeSet<String>>,
    },
    Loaded(HashMap<String, ExportSession>),
}

impl Recordings {
    /// Opens a part's recordings file, streamed when `stream` and the file declares its order.
    pub async fn open(
        lake: &Lake,
        rel: &str,
        wanted: Arc<BTreeSet<String>>,
        stream: bool,
    ) -> Result<Recordings> {
        let Some(builder) = open_file(lake, rel).await? else {
            return Ok(Recordings::Loaded(HashMap::new()));
        };
        let sorted = declares_session_order(builder.metadata());
        let mut stream_ = builder.build().map_err(|e| Error::parquet(rel, e))?;
        if stream && sorted {
            return Ok(Recordings::Streamed {
                rel: rel.to_string(),
                stream: stream_,
                rows: VecDeque::new(),
                last: None,
                wanted,
            });
        }
        let mut all = HashMap::new();
        while let Some(b) = stream_.next().await {
            let b = b.map_err(|e| Error::parquet(rel, e))?;
            for s in selected(&b, &wanted, rel)? {
                // a part that holds a session twice: its first row
                all.entry(s.stored.session_id.clone()).or_insert(s);
            }
        }
        Ok(Recordings::Loaded(all))
    }

    /// The row of `sid`, which must be asked for in increasing id order; `None` when the part has
    /// none.
    pub async fn take(
        &mut self,
        sid: &str,
    ) -> std::result::Result<Option<ExportSession>, ReadError> {
        let Recordings::Streamed {
            rel,
            stream,
            rows,
            last,
            wanted,
        } = self
        else {
            let Recordings::Loaded(all) = self else {
                unreachable!()
            };
            return Ok(all.remove(sid));
        };
        loop {
            while let Some(front) = rows.front() {
                match front.stored.session_id.as_str().cmp(sid) {
                    std::cmp::Ordering::Less => {
                        rows.pop_front();
                    }
                    std::cmp::Ordering::Equal => {
                        let s = rows.pop_front();
                        // the second row of a session a part holds twice
                        while rows.front().is_some_and(|r| r.stored.session_id == sid) {
                            rows.pop_front();
                        }
                        return Ok(s);
                    }
                    std::cmp::Ordering::Greater => return Ok(None),
                }
            }
            let Some(b) = stream.next().await else {
                return Ok(None);
            };
            let b = b.map_err(|e| Error::parquet(&*rel, e))?;
            for s in selected(&b, wanted, rel)? {
                let id = &s.stored.session_id;
                if last.as_ref().is_some_and(|l| l > id) {
                    return Err(ReadError::Unsorted(Unsorted));
                }
                *last = Some(id.clone());
                rows.push_back(s);
            }
        }
    }
}

/// The selected sessions' rows of a recordings batch, in the batch's order.
fn selected(b: &RecordBatch, wanted: &BTreeSet<String>, rel: &str) -> Result<Vec<ExportSession>> {
    let b = filter_record_batch(b, &wanted_mask(b, wanted, rel)?)?;
    let width = column_as(&b, "viewport_width", &DataType::Int32);
    let height = column_as(&b, "viewport_height", &DataType::Int32);
    let at = |c: &Option<Arc<dyn Array>>, i: usize| {
        c.as_ref().and_then(|a| {
            let a = a.as_primitive::<Int32Type>();
            a.is_valid(i).then(|| a.value(i))
        })
    };
    Ok(recordings_from_batch(&b, rel)?
        .into_iter()
        .enumerate()
        .map(|(i, stored)| ExportSession {
            stored,
            viewport: (at(&width, i), at(&height, i)),
        })
        .collect())
}
