//! Sessions streamed out of one part of the lake, one at a time.
//!
//! A part's `events` file is sorted by (session_id, timestamp, seq) and says so in its row
//! groups' `sorting_columns`: it is read row group by row group (only those whose `session_id`
//! statistics can hold a selected session, and only the columns an event is rebuilt from) and a
//! session is handed on when its rows end, so memory is one session plus one row group's
//! columns. A file that does not declare that order (another engine wrote it), or that breaks it,
//! is grouped instead: its selected rows are gathered by session first ([`Mode::Grouped`]),
//! which costs that file's selected rows in memory but never panics or splits a session.
//!
//! The part's `recordings` rows come alongside, in the same order ([`super::recordings`]). A
//! streamed part that ends with a selected session not handed on (no events rows, no recordings
//! row, or rows out of order that no check caught) is read again grouped, so that nothing is
//! missed because of an order the files did not keep.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::async_reader::{
    ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder,
};
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::parquet::file::statistics::Statistics;
use futures::StreamExt;
use object_store::ObjectStoreExt;

use crate::decode::Event;
use crate::error::{Error, Result};
use crate::export::file_reader::StoreFile;
use crate::export::recordings::Recordings;
use crate::schema::Table;
use crate::sink::commit::column_as;
use crate::sink::partition::file_path;
use crate::sink::read::{EVENT_COLUMNS, StoredSession, events_from_columns};
use crate::store::Lake;

/// A session read back, with what export needs of its recordings row beyond [`StoredSession`].
#[derive(Debug, Clone)]
pub struct ExportSession {
    pub stored: StoredSession,
    /// `recordings.viewport_width` / `viewport_height`.
    pub viewport: (Option<i32>, Option<i32>),
}

/// How a part's events file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Row group by row group, a session handed on when its rows end.
    Streamed,
    /// The selected rows gathered by session first.
    Grouped,
}

/// The events file broke the order its footer declares: read it again grouped.
#[derive(Debug)]
pub struct Unsorted;

/// One event row: (session id, seq, event).
type Row = (String, i64, Event);

/// Reads the selected sessions of one part, in session id order.
pub struct PartReader {
    location: String,
    wanted: Arc<BTreeSet<String>>,
    recordings: Recordings,
    mode: Mode,
    stream: Option<ParquetRecordBatchStream<StoreFile>>,
    /// Rows of the last batch not yet taken.
    rows: VecDeque<Row>,
    /// The session being gathered.
    current: Option<(String, Vec<(i64, Event)>)>,
    /// The last session handed on (its id), to check the order.
    last: Option<String>,
    /// [`Mode::Grouped`]: every selected session's rows.
    grouped: Option<BTreeMap<String, Vec<(i64, Event)>>>,
    /// Selected sessions handed on so far.
    pub emitted: BTreeSet<String>,
}

impl PartReader {
    /// Opens the part `<partition dir>/<stem>` for the `wanted` sessions. `mode` is what the
    /// caller asks; a file that does not declare its order is grouped whatever it asks.
    pub async fn open(
        lake: &Lake,
        part: &str,
        wanted: BTreeSet<String>,
        mode: Mode,
    ) -> Result<PartReader> {
        let (dir, stem) = part.rsplit_once('/').unwrap_or(("", part));
        let events_rel = file_path(Table::Events, dir, stem);
        let recordings_rel = file_path(Table::Recordings, dir, stem);
        let wanted = Arc::new(wanted);
        let streamed = mode == Mode::Streamed;
        let recordings = Recordings::open(lake, &recordings_rel, wanted.clone(), streamed).await?;
        let mut r = PartReader {
            location: events_rel.clone(),
            wanted,
            recordings,
            mode,
            stream: None,
            rows: VecDeque::new(),
            current: None,
            last: None,
            grouped: None,
            emitted: BTreeSet::new(),
        };
        let builder = match open_file(lake, &events_rel).await? {
            Some(b) => b,
            // no events file: every session reports as having no events
            None => {
                r.grouped = Some(BTreeMap::new());
                return Ok(r);
            }
        };
        let sorted = declares_session_order(builder.metadata());
        let groups = row_groups_for(builder.metadata(), &r.wanted);
        let mask = {
            let schema = builder.schema();
            let cols = EVENT_COLUMNS.iter().filter_map(|c| schema.index_of(c).ok());
            ProjectionMask::roots(builder.parquet_schema(), cols)
        };
        let stream = builder
            .with_projection(mask)
            .with_row_groups(groups)
            .build()
            .map_err(|e| Error::parquet(&events_rel, e))?;
        r.stream = Some(stream);
        if mode == Mode::Grouped || !sorted {
            if !sorted {
                tracing::info!(file = %events_rel, "events file does not declare its sort order; grouping its rows by session");
            }
            r.group_all().await?;
        }
        Ok(r)
    }

    /// The events file this reads (for messages).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Selected sessions of the part that have a recordings row but were not (yet) handed on.
    pub fn missing(&self) -> Vec<String> {
        self.wanted
            .iter()
            .filter(|s| !self.emitted.contains(*s))
            .cloned()
            .collect()
    }

    /// The next session (in id order), `Ok(None)` at the end; `Err(Ok(Unsorted))` when a
    /// streamed file breaks its order.
    pub async fn next(&mut self) -> std::result::Result<Option<ExportSession>, ReadError> {
        if self.grouped.is_some() {
            while let Some((sid, evs)) = self.grouped.as_mut().and_then(BTreeMap::pop_first) {
                if let Some(s) = self.assemble(sid, evs).await? {
                    return Ok(Some(s));
                }
            }
            return self.end();
        }
        loop {
            let Some((sid, seq, e)) = self.next_row().await? else {
                let Some((sid, evs)) = self.current.take() else {
                    return self.end();
                };
                match self.assemble(sid, evs).await? {
                    Some(s) => return Ok(Some(s)),
                    None => continue,
                }
            };
            match &mut self.current {
                Some((cur, evs)) if *cur == sid => {
                    // a part that holds a session twice holds its rows twice, side by side
                    if evs.last().is_none_or(|(s, _)| *s != seq) {
                        evs.push((seq, e));
                    }
                }
                _ => {
                    if self.last.as_ref().is_some_and(|l| *l >= sid)
                        || self.current.as_ref().is_some_and(|(c, _)| *c > sid)
                    {
                        return Err(ReadError::Unsorted(Unsorted));
                    }
                    let done = self.current.replace((sid, vec![(seq, e)]));
                    if let Some((sid, evs)) = done
                        && let Some(s) = self.assemble(sid, evs).await?
                    {
                        return Ok(Some(s));
                    }
                }
            }
        }
    }

    /// The end of the part: in a streamed part, a selected session not handed on sends the
    /// part to be read again grouped.
    fn end(&self) -> std::result::Result<Option<ExportSession>, ReadError> {
        if self.mode == Mode::Streamed && self.emitted.len() < self.wanted.len() {
            return Err(ReadError::Unsorted(Unsorted));
        }
        Ok(None)
    }

    /// The session with its recordings row; `None` (skipped) without one.
    async fn assemble(
        &mut self,
        sid: String,
        mut evs: Vec<(i64, Event)>,
    ) -> std::result::Result<Option<ExportSession>, ReadError> {
        self.last = Some(sid.clone());
        let Some(mut s) = self.recordings.take(&sid).await? else {
            return Ok(None);
        };
        evs.sort_by_key(|(seq, _)| *seq);
        evs.dedup_by_key(|(seq, _)| *seq);
        s.stored.events = evs.into_iter().map(|(_, e)| e).collect();
        self.emitted.insert(sid);
        Ok(Some(s))
    }

    /// The next selected row of the stream.
    async fn next_row(&mut self) -> Result<Option<Row>> {
        loop {
            if let Some(r) = self.rows.pop_front() {
                return Ok(Some(r));
            }
            let Some(stream) = &mut self.stream else {
                return Ok(None);
            };
            match stream.next().await {
                None => return Ok(None),
                Some(b) => {
                    let b = b.map_err(|e| Error::parquet(&self.location, e))?;
                    self.rows = self.selected_rows(&b)?.into();
                }
            }
        }
    }

    /// The rows of `b` that belong to selected sessions (others are not decoded).
    fn selected_rows(&self, b: &RecordBatch) -> Result<Vec<Row>> {
        let keep = wanted_mask(b, &self.wanted, &self.location)?;
        let b = filter_record_batch(b, &keep)?;
        if b.num_rows() == 0 {
            return Ok(vec![]);
        }
        events_from_columns(&b, &self.location)
    }

    async fn group_all(&mut self) -> Result<()> {
        let mut g: BTreeMap<String, Vec<(i64, Event)>> = BTreeMap::new();
        while let Some((sid, seq, e)) = self.next_row().await? {
            g.entry(sid).or_default().push((seq, e));
        }
        self.stream = None;
        self.grouped = Some(g);
        Ok(())
    }
}

/// Why [`PartReader::next`] stopped.
#[derive(Debug)]
pub enum ReadError {
    Unsorted(Unsorted),
    Failed(Error),
}

impl From<Error> for ReadError {
    fn from(e: Error) -> Self {
        ReadError::Failed(e)
    }
}

/// A stream builder over a lake file; `None` when it does not exist.
pub(crate) async fn open_file(
    lake: &Lake,
    rel: &str,
) -> Result<Option<ParquetRecordBatchStreamBuilder<StoreFile>>> {
    let path = lake.path(rel);
    let meta = match lake.store.head(&path).await {
        Ok(m) => m,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(Error::store(rel, e)),
    };
    let reader = StoreFile::new(lake.store.clone(), path, meta.size);
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map(Some)
        .map_err(|e| Error::parquet(rel, e))
}

/// Which rows of `b` belong to a wanted session.
pub(crate) fn wanted_mask(
    b: &RecordBatch,
    wanted: &BTreeSet<String>,
    location: &str,
) -> Result<BooleanArray> {
    let sid = column_as(b, "session_id", &DataType::Utf8).ok_or_else(|| Error::State {
        location: location.to_string(),
        message: "no session_id column".into(),
    })?;
    let sid = sid.as_string::<i32>();
    Ok((0..b.num_rows())
        .map(|i| Some(sid.is_valid(i) && wanted.contains(sid.value(i))))
        .collect())
}

/// Whether every row group declares that its rows are sorted by `session_id` first.
pub(crate) fn declares_session_order(meta: &ParquetMetaData) -> bool {
    let schema = meta.file_metadata().schema_descr();
    let Some(idx) = (0..schema.num_columns()).find(|&i| schema.column(i).name() == "session_id")
    else {
        return false;
    };
    meta.row_groups().iter().all(|rg| {
        rg.sorting_columns()
            .and_then(|c| c.first())
            .is_some_and(|c| c.column_idx as usize == idx && !c.descending)
    })
}

/// Row groups whose `session_id` statistics may hold a wanted session (all of them where a row
/// group has no usable statistics).
fn row_groups_for(meta: &ParquetMetaData, wanted: &BTreeSet<String>) -> Vec<usize> {
    let schema = meta.file_metadata().schema_descr();
    let idx = (0..schema.num_columns()).find(|&i| schema.column(i).name() == "session_id");
    (0..meta.num_row_groups())
        .filter(|&g| {
            let stats = idx.and_then(|i| meta.row_group(g).column(i).statistics());
            let Some(Statistics::ByteArray(s)) = stats else {
                return true;
            };
            let (Some(min), Some(max)) = (s.min_opt(), s.max_opt()) else {
                return true;
            };
            let (Ok(min), Ok(max)) = (min.as_utf8(), max.as_utf8()) else {
                return true;
            };
            if !s.min_is_exact() || !s.max_is_exact() || min > max {
                return true;
            }
            wanted
                .range::<str, _>((
                    std::ops::Bound::Included(min),
                    std::ops::Bound::Included(max),
                ))
                .next()
                .is_some()
        })
        .collect()
}
