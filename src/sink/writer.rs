//! Parquet encoding: ZSTD, page statistics, a bloom filter on `session_id`, the sort order and
//! replaylake's version recorded in the footer, row groups cut by rows and by bytes.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::{KeyValue, SortingColumn};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::schema::{SCHEMA_VERSION, Table};

/// Rows per row group at most.
pub const MAX_ROW_GROUP_ROWS: usize = 128 * 1024;
/// Encoded bytes buffered before a row group is cut.
pub const MAX_ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;
const WRITE_SLICE: usize = 8192;

fn properties(table: Table, sessions: usize) -> Result<WriterProperties> {
    let schema = table.schema();
    let sorting = table
        .sort_columns()
        .iter()
        .map(|c| {
            schema.index_of(c).map(|i| SortingColumn {
                column_idx: i as i32,
                descending: false,
                nulls_first: false,
            })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid zstd level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(MAX_ROW_GROUP_ROWS))
        .set_column_bloom_filter_enabled(ColumnPath::from("session_id"), true)
        .set_column_bloom_filter_fpp(ColumnPath::from("session_id"), 0.01)
        .set_column_bloom_filter_max_ndv(ColumnPath::from("session_id"), sessions.max(1) as u64)
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("replaylake version {}", crate::VERSION))
        .set_key_value_metadata(Some(vec![
            KeyValue::new("replaylake.version".into(), crate::VERSION.to_string()),
            KeyValue::new(
                "replaylake.schema_version".into(),
                SCHEMA_VERSION.to_string(),
            ),
            KeyValue::new("replaylake.table".into(), table.name().to_string()),
        ]))
        .build())
}

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

/// Concatenates `batches` (all of `table`'s schema), sorts them, and encodes one Parquet file.
pub fn encode(
    table: Table,
    batches: &[RecordBatch],
    sessions: usize,
    location: &str,
) -> Result<(Vec<u8>, usize)> {
    let schema = table.schema();
    let batch = concat_batches(&schema, batches)?;
    let batch = sort_batch(table, &batch)?;
    let rows = batch.num_rows();
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 4 + 4096);
    let mut w = ArrowWriter::try_new(&mut buf, schema, Some(properties(table, sessions)?))
        .map_err(|e| Error::parquet(location, e))?;
    let mut offset = 0;
    while offset < rows {
        let len = WRITE_SLICE.min(rows - offset);
        w.write(&batch.slice(offset, len))
            .map_err(|e| Error::parquet(location, e))?;
        if w.in_progress_size() > MAX_ROW_GROUP_BYTES {
            w.flush().map_err(|e| Error::parquet(location, e))?;
        }
        offset += len;
    }
    w.close().map_err(|e| Error::parquet(location, e))?;
    Ok((buf, rows))
}
