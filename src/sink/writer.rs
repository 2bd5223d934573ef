//! Parquet encoding: ZSTD, page statistics, a bloom filter on `session_id`, the sort order and
//! replaylake's version recorded in the footer, row groups cut by rows and by bytes.

use std::sync::Mutex;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, compute_leaves,
};
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{KeyValue, SortingColumn};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::flatten::order::{already_sorted, sort_batch};
use crate::schema::{SCHEMA_VERSION, Table};

/// Rows per row group at most.
pub const MAX_ROW_GROUP_ROWS: usize = 128 * 1024;
/// Arrow bytes (before encoding) after which a row group is cut.
pub const MAX_ROW_GROUP_BYTES: usize = 128 * 1024 * 1024;

/// The footer key of a file's commit sequence (see [`crate::sink::commit`]): which of two versions
/// of a session is newer, whatever their wall-clock times.
pub const COMMIT_SEQ_KEY: &str = "replaylake.commit_seq";

pub(crate) fn properties(table: Table, sessions: usize, seq: u64) -> Result<WriterProperties> {
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
        // `payload` is unique JSON text per row: a dictionary attempt and min/max statistics
        // are pure cost there (no engine prunes on it).
        .set_column_dictionary_enabled(ColumnPath::from("payload"), false)
        .set_column_statistics_enabled(ColumnPath::from("payload"), EnabledStatistics::None)
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
            KeyValue::new(COMMIT_SEQ_KEY.into(), seq.to_string()),
        ]))
        .build())
}

/// Encodes one Parquet file of `batches` (all of `table`'s schema) in the table's sort order:
/// batches already in order (each sorted, in key order, as the lake writer's pre-sorted sessions
/// are) are streamed into the encoder as they are; others are concatenated and sorted first.
///
/// Column chunks are encoded in parallel (one job per row group and column, biggest first, on as
/// many threads as there are cores), then appended in order: the file is the same as a sequential
/// [`ArrowWriter`] would write with the same row groups.
pub fn encode(
    table: Table,
    batches: &[RecordBatch],
    sessions: usize,
    seq: u64,
    location: &str,
) -> Result<(Vec<u8>, usize)> {
    let schema = table.schema();
    let sorted;
    let input: &[RecordBatch] = if already_sorted(table, batches) {
        batches
    } else {
        let batch = concat_batches(&schema, batches)?;
        sorted = [sort_batch(table, &batch)?];
        &sorted
    };
    let rows: usize = input.iter().map(|b| b.num_rows()).sum();
    let arrow_bytes: usize = input.iter().map(|b| b.get_array_memory_size()).sum();
    let pq = |e| Error::parquet(location, e);
    let mut buf = Vec::with_capacity(arrow_bytes / 4 + 4096);
    let w = ArrowWriter::try_new(
        &mut buf,
        schema.clone(),
        Some(properties(table, sessions, seq)?),
    )
    .map_err(pq)?;
    let (mut file, factory) = w.into_serialized_writer().map_err(pq)?;
    let groups = row_groups(input);

    // Jobs: (row group, field, that field's leaf writers, estimated cost).
    let mut jobs = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let mut writers = factory.create_column_writers(g).map_err(pq)?.into_iter();
        for (f, field) in schema.fields().iter().enumerate() {
            let leaves = match group.first() {
                Some(b) => compute_leaves(field, &b.column(f).slice(0, 0))
                    .map_err(pq)?
                    .len(),
                None => 1,
            };
            let w: Vec<ArrowColumnWriter> = writers.by_ref().take(leaves).collect();
            let cost: usize = group
                .iter()
                .map(|b| b.column(f).get_array_memory_size())
                .sum();
            jobs.push((g, f, w, cost));
        }
    }
    // popped from the end: cheapest first in the vector
    jobs.sort_by_key(|j| j.3);
    let n_jobs = jobs.len();
    let jobs = Mutex::new(jobs);
    let done: Mutex<Vec<(usize, usize, Vec<ArrowColumnChunk>)>> =
        Mutex::new(Vec::with_capacity(n_jobs));
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(n_jobs)
        .max(1);
    let run = || -> Result<()> {
        loop {
            let job = jobs.lock().map_err(|_| poisoned(location))?.pop();
            let Some((g, f, mut writers, _)) = job else {
                return Ok(());
            };
            let field = &schema.fields()[f];
            for b in &groups[g] {
                let leaves = compute_leaves(field, b.column(f)).map_err(pq)?;
                for (w, leaf) in writers.iter_mut().zip(leaves) {
                    w.write(&leaf).map_err(pq)?;
                }
            }
            let chunks = writers
                .into_iter()
                .map(|w| w.close())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(pq)?;
            done.lock()
                .map_err(|_| poisoned(location))?
                .push((g, f, chunks));
        }
    };
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(run)).collect();
        let mut res = run();
        for h in helpers {
            let r = h.join().unwrap_or_else(|_| Err(poisoned(location)));
            res = res.and(r);
        }
        res
    })?;
    let mut done = done.into_inner().map_err(|_| poisoned(location))?;
    done.sort_by_key(|d| (d.0, d.1));
    let mut done = done.into_iter().peekable();
    for g in 0..groups.len() {
        let mut rg = file.next_row_group().map_err(pq)?;
        while let Some((_, _, chunks)) = done.next_if(|d| d.0 == g) {
            for c in chunks {
                c.append_to_row_group(&mut rg).map_err(pq)?;
            }
        }
        rg.close().map_err(pq)?;
    }
    file.close().map_err(pq)?;
    Ok((buf, rows))
}

fn poisoned(location: &str) -> Error {
    Error::parquet(
        location,
        ParquetError::General("a Parquet encoding thread panicked".into()),
    )
}

/// Cuts `input` into row groups of at most [`MAX_ROW_GROUP_ROWS`] rows and about
/// [`MAX_ROW_GROUP_BYTES`] of Arrow data.
fn row_groups(input: &[RecordBatch]) -> Vec<Vec<RecordBatch>> {
    let mut groups: Vec<Vec<RecordBatch>> = Vec::new();
    let mut cur: Vec<RecordBatch> = Vec::new();
    let (mut rows, mut bytes) = (0usize, 0usize);
    for b in input {
        let mut offset = 0;
        let n = b.num_rows();
        // bytes per row of this batch, to cut by size without measuring every slice
        let per_row = b.get_array_memory_size() / n.max(1);
        while offset < n {
            let room = MAX_ROW_GROUP_ROWS - rows;
            let len = room.min(n - offset);
            let part = if offset == 0 && len == n {
                b.clone()
            } else {
                b.slice(offset, len)
            };
            cur.push(part);
            rows += len;
            bytes += per_row * len;
            offset += len;
            if rows >= MAX_ROW_GROUP_ROWS || bytes >= MAX_ROW_GROUP_BYTES {
                groups.push(std::mem::take(&mut cur));
                rows = 0;
                bytes = 0;
            }
        }
    }
    if !cur.is_empty() {
        groups.push(cur);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::DecodeOptions;
    use crate::flatten::flatten_session;
    use crate::flatten::order::SortKeys;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn sessions() -> Vec<crate::flatten::FlatSession> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/realclient");
        let mut out = Vec::new();
        for n in 1..=3 {
            let name = format!("{dir}/ph-s2202-0{n}.blob.jsonl");
            let bytes = std::fs::read(&name).unwrap();
            let d = crate::source::decode_bytes(&name, &bytes, &DecodeOptions::default());
            for s in d.sessions {
                out.extend(flatten_session(s.finish(), 1).unwrap());
            }
        }
        out
    }

    fn decode_all(data: Vec<u8>) -> RecordBatch {
        let r = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(data))
            .unwrap()
            .build()
            .unwrap();
        let batches: Vec<RecordBatch> = r.map(|b| b.unwrap()).collect();
        concat_batches(&batches[0].schema(), &batches).unwrap()
    }

    #[test]
    fn presorted_input_encodes_like_the_general_sort() {
        let mut s = sessions();
        for t in crate::schema::TABLES {
            // in session order: streamed; reversed: concatenated and sorted. Same rows either way.
            s.sort_by(|a, b| a.session_id.cmp(&b.session_id));
            let fwd: Vec<RecordBatch> = s.iter().map(|x| x.batches.get(t).clone()).collect();
            assert!(already_sorted(t, &fwd), "{t}");
            let rev: Vec<RecordBatch> = fwd.iter().rev().cloned().collect();
            assert!(
                !already_sorted(t, &rev)
                    || t == Table::NetworkRequests && fwd.iter().all(|b| b.num_rows() == 0)
            );
            let a = decode_all(encode(t, &fwd, s.len(), 1, "a").unwrap().0);
            let b = decode_all(encode(t, &rev, s.len(), 1, "b").unwrap().0);
            let key = |b: &RecordBatch| {
                let k = SortKeys::of(t, b).unwrap();
                (0..b.num_rows())
                    .map(|i| {
                        (
                            k.session.value(i).to_string(),
                            k.ts.map(|(t, s)| (t.value(i), s.value(i))),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(key(&a), key(&b), "{t}");
            assert_eq!(a.num_rows(), b.num_rows());
        }
    }
}
