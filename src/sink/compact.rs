//! Compaction: merges the parts of a partition into few large files.
//!
//! A convert or pull run writes a part whenever its buffer fills, so a partition fed in many runs,
//! or a run whose input mixes many dates, ends up with many small files with small row groups.
//! Query engines pay per file and per row group: on a 10-million-event lake of 80 parts per date,
//! DataFusion ran the rage-click query 1.6x as fast once each date was one file of 128 k-row row
//! groups. [`LakeWriter::compact`] merges the parts of each partition directory, in groups of at
//! most `budget` compressed bytes and 32 parts, into one part per group.
//!
//! The parts of a directory hold disjoint sessions and each is sorted by session, so the merge
//! streams: it repeatedly takes the part whose next session id is smallest and copies that
//! session's rows. Memory is the group's files (compressed), a small batch per part, and the
//! output file. The commit is a part rewrite's: a journal lists the new files and the replaced
//! ones, so a kill at any point is rolled back or forward by the next run.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Instant;

use bytes::Bytes;
use datafusion::arrow::array::{AsArray, RecordBatch, RecordBatchReader};
use datafusion::arrow::compute::concat_batches;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::schema::{TABLES, Table};
use crate::sink::LakeWriter;
use crate::sink::commit::{conform, part_stem, read_index_columns};
use crate::sink::partition::file_path;
use crate::sink::writer::properties;

/// Rows read from a part at a time (small: one batch per part is held during the merge).
const READ_BATCH_ROWS: usize = 1024;
/// Parts merged into one file at most. Each part being read holds a decoded batch and a page per
/// column, so the fan-in bounds memory: 80 parts of 10 k-row row groups took 585 MB, 32 take
/// about a third of that.
const MAX_PARTS_PER_MERGE: usize = 32;
/// Rows gathered before they are handed to the Parquet writer.
const WRITE_BATCH_ROWS: usize = 8192;

/// What a compaction did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct CompactStats {
    /// Partition directories that had several parts.
    pub dirs_compacted: u64,
    pub parts_before: u64,
    pub parts_after: u64,
    /// Rows copied per table.
    pub rows: BTreeMap<String, u64>,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub elapsed_seconds: f64,
}

/// One part of a directory: its stem and the compressed size of its files.
struct Part {
    stem: String,
    bytes: u64,
}

impl LakeWriter {
    /// Merges the parts of every partition directory into parts of at most `budget` compressed
    /// bytes and [`MAX_PARTS_PER_MERGE`] parts each (a part larger than `budget` stays alone).
    /// Writes what is buffered first.
    pub fn compact(&mut self, budget: u64) -> Result<CompactStats> {
        let started = Instant::now();
        self.flush()?;
        let mut stats = CompactStats::default();
        for (dir, parts) in self.parts_by_dir()? {
            if parts.len() < 2 {
                continue;
            }
            let mut groups: Vec<Vec<Part>> = vec![];
            let mut size = 0;
            for p in parts {
                let full = groups
                    .last()
                    .is_none_or(|g| g.len() >= MAX_PARTS_PER_MERGE || size + p.bytes > budget);
                if full {
                    groups.push(vec![]);
                    size = 0;
                }
                size += p.bytes;
                groups.last_mut().expect("a group").push(p);
            }
            let mut merged_any = false;
            for g in groups.into_iter().filter(|g| g.len() > 1) {
                stats.parts_before += g.len() as u64;
                stats.bytes_before += g.iter().map(|p| p.bytes).sum::<u64>();
                let stems: Vec<String> = g.into_iter().map(|p| p.stem).collect();
                stats.bytes_after += self.merge_parts(&dir, &stems, &mut stats.rows)?;
                stats.parts_after += 1;
                merged_any = true;
            }
            stats.dirs_compacted += u64::from(merged_any);
        }
        stats.elapsed_seconds = started.elapsed().as_secs_f64();
        Ok(stats)
    }

    /// The parts of each partition directory, by directory, with their sizes. A part is named by
    /// its `recordings` file (a part always has one); its other tables' files are counted in.
    fn parts_by_dir(&self) -> Result<BTreeMap<String, Vec<Part>>> {
        let mut sizes: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut dirs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in TABLES {
            let prefix = format!("{}/", t.name());
            for (rel, size) in self.list_sizes(t.name())? {
                let Some((dir, stem)) = rel
                    .strip_prefix(&prefix)
                    .and_then(|r| r.strip_suffix(".parquet"))
                    .and_then(|r| r.rsplit_once('/'))
                else {
                    continue;
                };
                *sizes
                    .entry((dir.to_string(), stem.to_string()))
                    .or_default() += size;
                if t == Table::Recordings {
                    dirs.entry(dir.to_string())
                        .or_default()
                        .push(stem.to_string());
                }
            }
        }
        Ok(dirs
            .into_iter()
            .map(|(dir, mut stems)| {
                stems.sort();
                let parts = stems
                    .into_iter()
                    .map(|stem| {
                        let bytes = sizes.get(&(dir.clone(), stem.clone())).copied();
                        Part {
                            stem,
                            bytes: bytes.unwrap_or_default(),
                        }
                    })
                    .collect();
                (dir, parts)
            })
            .collect())
    }

    /// Merges the parts `stems` of `dir` into one new part; returns its compressed size.
    fn merge_parts(
        &mut self,
        dir: &str,
        stems: &[String],
        rows: &mut BTreeMap<String, u64>,
    ) -> Result<u64> {
        // The new part's name covers every session of the group, as a flush would name it.
        let mut sessions: Vec<(String, String)> = vec![];
        // the merged part holds the versions its parts held: it keeps the newest sequence
        let mut seq = 0;
        for stem in stems {
            let rel = file_path(Table::Recordings, dir, stem);
            let bytes = self.get(&rel)?.ok_or_else(|| Error::State {
                location: rel.clone(),
                message: "part vanished during compaction (another writer?)".into(),
            })?;
            let (rows, part_seq) = read_index_columns(bytes, &rel)?;
            seq = seq.max(part_seq);
            sessions.extend(rows.into_iter().map(|(sid, checksum, _)| (sid, checksum)));
        }
        sessions.sort();
        let new_stem = part_stem(sessions.iter().map(|(s, c)| (s.as_str(), c.as_str())));

        let mut old_files = vec![];
        let mut encoded = vec![];
        for t in TABLES {
            let mut inputs = vec![];
            for stem in stems {
                let rel = file_path(t, dir, stem);
                if let Some(bytes) = self.get(&rel)? {
                    inputs.push((rel.clone(), bytes));
                    old_files.push(rel);
                }
            }
            if inputs.is_empty() {
                continue;
            }
            let rel = file_path(t, dir, &new_stem);
            let (data, n) = merge_table(t, inputs, sessions.len(), seq, &rel)?;
            *rows.entry(t.name().to_string()).or_default() += n;
            encoded.push((rel, data));
        }
        let jname = format!("compact-{new_stem}");
        let add = encoded.iter().map(|(rel, _)| rel.clone()).collect();
        let journal = self.start_replacement(&jname, add, old_files)?;
        let mut written = 0;
        // recordings last, as in every commit: a recordings row means the session's files exist
        for (rel, data) in encoded {
            written += data.len() as u64;
            self.put(&rel, data)?;
        }
        self.finish_replacement(&jname, journal)?;
        tracing::debug!(dir, parts = stems.len(), stem = new_stem, "parts merged");
        Ok(written)
    }
}

/// A part being read: its current batch and the next row in it.
struct Cursor {
    table: Table,
    reader: ParquetRecordBatchReader,
    batch: RecordBatch,
    pos: usize,
    location: String,
}

impl Cursor {
    /// Moves to the next row, reading the next batch when this one is done. False at the end.
    fn ensure_row(&mut self) -> Result<bool> {
        while self.pos >= self.batch.num_rows() {
            match self.reader.next() {
                Some(b) => {
                    let b = b.map_err(|e| Error::State {
                        location: self.location.clone(),
                        message: format!("cannot read part: {e}"),
                    })?;
                    // a part another engine wrote: its types become the table's
                    self.batch = conform(self.table, &b)?;
                    self.pos = 0;
                }
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    fn session(&self, row: usize) -> &str {
        self.batch
            .column_by_name("session_id")
            .expect("every table has session_id")
            .as_string::<i32>()
            .value(row)
    }
}

/// Merges one table's files of a group (each sorted by session, sessions disjoint) into one
/// Parquet file in the table's sort order. Returns the file and its row count.
fn merge_table(
    table: Table,
    inputs: Vec<(String, Bytes)>,
    sessions: usize,
    seq: u64,
    location: &str,
) -> Result<(Vec<u8>, u64)> {
    let mut cursors = vec![];
    for (rel, bytes) in inputs {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
            .map_err(|e| Error::parquet(&rel, e))?;
        let schema = reader.schema();
        cursors.push(Cursor {
            table,
            reader,
            batch: RecordBatch::new_empty(schema),
            pos: 0,
            location: rel,
        });
    }
    let mut heap = BinaryHeap::new();
    for (i, c) in cursors.iter_mut().enumerate() {
        if c.ensure_row()? {
            heap.push(Reverse((c.session(c.pos).to_string(), i)));
        }
    }
    let schema = table.schema();
    let mut writer = ArrowWriter::try_new(
        Vec::new(),
        schema.clone(),
        Some(properties(table, sessions, seq)?),
    )
    .map_err(|e| Error::parquet(location, e))?;
    let mut pending: Vec<RecordBatch> = vec![];
    let mut pending_rows = 0;
    let mut total = 0u64;
    while let Some(Reverse((sid, i))) = heap.pop() {
        let c = &mut cursors[i];
        // copy this session's rows, which may continue into the part's next batches
        loop {
            let start = c.pos;
            let mut end = start;
            while end < c.batch.num_rows() && c.session(end) == sid {
                end += 1;
            }
            if end > start {
                pending.push(conform(table, &c.batch.slice(start, end - start))?);
                pending_rows += end - start;
            }
            c.pos = end;
            if end < c.batch.num_rows() || !c.ensure_row()? {
                break;
            }
            if c.session(c.pos) != sid {
                break;
            }
        }
        if c.pos < c.batch.num_rows() {
            heap.push(Reverse((c.session(c.pos).to_string(), i)));
        }
        if pending_rows >= WRITE_BATCH_ROWS {
            let b = concat_batches(&schema, &pending)?;
            writer.write(&b).map_err(|e| Error::parquet(location, e))?;
            total += b.num_rows() as u64;
            pending.clear();
            pending_rows = 0;
        }
    }
    if pending_rows > 0 {
        let b = concat_batches(&schema, &pending)?;
        writer.write(&b).map_err(|e| Error::parquet(location, e))?;
        total += b.num_rows() as u64;
    }
    let data = writer
        .into_inner()
        .map_err(|e| Error::parquet(location, e))?;
    Ok((data, total))
}
