//! The tables' sort order (`session_id`, then `timestamp` and `seq`), as the flatten step leaves
//! each session's rows and the sink writes its files: a session sorted here streams into Parquet
//! without a whole part being concatenated and sorted again.

use std::cmp::Ordering;

use datafusion::arrow::array::{
    Array, AsArray, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array,
};
use datafusion::arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{Int64Type, TimestampMillisecondType};

use crate::error::Result;
use crate::schema::Table;

/// Sorts a batch by the table's sort columns.
pub fn sort_batch(table: Table, batch: &RecordBatch) -> Result<RecordBatch> {
    if batch.num_rows() <= 1 {
        return Ok(batch.clone());
    }
    let cols: Vec<SortColumn> = table
        .sort_columns()
        .iter()
        .map(|c| SortColumn {
            values: batch
                .column_by_name(c)
                .expect("sort column in schema")
                .clone(),
            options: None,
        })
        .collect();
    let idx = lexsort_to_indices(&cols, None)?;
    Ok(take_record_batch(batch, &idx)?)
}

/// The sort key of a row: `session_id`, then `timestamp` and `seq` (events, network requests).
pub(crate) struct SortKeys<'a> {
    pub(crate) session: &'a StringArray,
    pub(crate) ts: Option<(&'a TimestampMillisecondArray, &'a Int64Array)>,
}

impl<'a> SortKeys<'a> {
    pub(crate) fn of(table: Table, b: &'a RecordBatch) -> Option<Self> {
        let session = b.column_by_name("session_id")?.as_string_opt::<i32>()?;
        let ts = match table {
            Table::Recordings => None,
            Table::Events | Table::NetworkRequests => Some((
                b.column_by_name("timestamp")?
                    .as_primitive_opt::<TimestampMillisecondType>()?,
                b.column_by_name("seq")?.as_primitive_opt::<Int64Type>()?,
            )),
        };
        // nulls in sort keys: leave those batches to the general sort
        let nulls = session.null_count() + ts.map_or(0, |(t, s)| t.null_count() + s.null_count());
        (nulls == 0).then_some(SortKeys { session, ts })
    }

    fn cmp(&self, i: usize, other: &SortKeys<'_>, j: usize) -> Ordering {
        let o = self.session.value(i).cmp(other.session.value(j));
        match (o, self.ts, other.ts) {
            (Ordering::Equal, Some((ta, sa)), Some((tb, sb))) => ta
                .value(i)
                .cmp(&tb.value(j))
                .then(sa.value(i).cmp(&sb.value(j))),
            _ => o,
        }
    }
}

/// True when the concatenation of `batches` is already in the table's sort order (the lake
/// writer gets sessions pre-sorted by the workers, in session order).
pub(crate) fn already_sorted(table: Table, batches: &[RecordBatch]) -> bool {
    let mut prev: Option<(SortKeys<'_>, usize)> = None;
    for b in batches {
        if b.num_rows() == 0 {
            continue;
        }
        let Some(k) = SortKeys::of(table, b) else {
            return false;
        };
        if let Some((p, last)) = &prev {
            if p.cmp(*last, &k, 0) == Ordering::Greater {
                return false;
            }
        }
        // within a batch: a session's rows are usually one run of the same id
        for i in 1..b.num_rows() {
            if k.cmp(i - 1, &k, i) == Ordering::Greater {
                return false;
            }
        }
        prev = Some((k, b.num_rows() - 1));
    }
    true
}

/// Sorts the batch of one session's rows of `table` by the table's sort order, stably (rows with
/// equal keys keep their order). Cheap when the rows are already in order, as events are.
pub fn sort_session_batch(table: Table, batch: RecordBatch) -> Result<RecordBatch> {
    if already_sorted(table, std::slice::from_ref(&batch)) {
        return Ok(batch);
    }
    let Some(k) = SortKeys::of(table, &batch) else {
        return sort_batch(table, &batch);
    };
    let mut idx: Vec<u32> = (0..batch.num_rows() as u32).collect();
    idx.sort_by(|&a, &b| k.cmp(a as usize, &k, b as usize));
    Ok(take_record_batch(&batch, &UInt32Array::from(idx))?)
}
