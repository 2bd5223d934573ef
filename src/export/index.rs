//! Which part holds the version of each session that export takes: the writer's rule, read from
//! the `recordings` files (the lake's index).
//!
//! A crash between writing a session's new version and rewriting the part that held the old one
//! leaves two versions in the lake (see [`crate::sink::commit`]); the writer heals that on its
//! next run, and until then export must pick the same one the writer would keep: the higher
//! commit sequence (footer key [`crate::sink::writer::COMMIT_SEQ_KEY`]), then the later `converted_at`. Ties, which the
//! writer breaks by listing order, go to the part whose path sorts last, so that two exports of
//! one lake agree. Only three columns and the footer of each file are read (projected, over
//! the store's range reads); memory is one small entry per session of the lake, as the writer's.

use std::collections::HashMap;

use datafusion::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};
use crate::export::file_reader::StoreFile;
use crate::schema::Table;
use crate::sink::commit::{commit_seq, index_columns, index_projection};
use crate::store::Lake;

/// Recordings files read at once.
const CONCURRENT_READS: usize = 8;

/// The version of a session that export takes.
#[derive(Debug, Clone)]
pub struct Winner {
    /// Index into [`LakeIndex::parts`].
    pub part: u32,
    pub checksum: String,
    seq: u64,
    converted_at: i64,
}

/// Every session of the lake and the part that holds its winning version.
#[derive(Debug, Default)]
pub struct LakeIndex {
    /// Parts as `<partition dir>/<stem>` (relative to a table), sorted.
    pub parts: Vec<String>,
    pub sessions: HashMap<String, Winner>,
}

/// One recordings file's index rows: (session id, checksum, converted_at) and its commit sequence.
type FileIndex = (Vec<(String, String, i64)>, u64);

impl LakeIndex {
    /// Reads the index of every `recordings` file of the lake. A lake without recordings holds
    /// no sessions.
    pub async fn load(lake: &Lake) -> Result<LakeIndex> {
        let table = Table::Recordings.name();
        let mut files: Vec<_> = lake
            .store
            .list(Some(&lake.path(table)))
            .try_filter(|m| futures::future::ready(m.location.as_ref().ends_with(".parquet")))
            .try_collect()
            .await
            .map_err(|e| Error::store(table, e))?;
        files.sort_by(|a, b| a.location.cmp(&b.location));
        let prefix = format!("{table}/");
        let mut index = LakeIndex::default();
        let mut reads = futures::stream::iter(files)
            .map(|m| async move {
                let rel = lake.relative(&m.location);
                read_file(lake, m, &rel).await.map(|r| (rel, r))
            })
            .buffered(CONCURRENT_READS);
        while let Some(read) = reads.next().await {
            let (rel, (rows, seq)) = read?;
            let Some(part) = rel
                .strip_prefix(&prefix)
                .and_then(|p| p.strip_suffix(".parquet"))
            else {
                continue;
            };
            index.parts.push(part.to_string());
            let part = u32::try_from(index.parts.len() - 1).expect("fewer than 2^32 parts");
            for (sid, checksum, converted_at) in rows {
                index.offer(
                    sid,
                    Winner {
                        part,
                        checksum,
                        seq,
                        converted_at,
                    },
                );
            }
        }
        Ok(index)
    }

    /// Keeps `w` when it is newer than what the index holds (parts come in path order, so a tie
    /// goes to the later path).
    fn offer(&mut self, sid: String, w: Winner) {
        match self.sessions.get_mut(&sid) {
            Some(old) if (old.seq, old.converted_at) > (w.seq, w.converted_at) => {}
            // two copies in one part: the first row is taken
            Some(old) if old.part == w.part => {}
            Some(old) => *old = w,
            None => {
                self.sessions.insert(sid, w);
            }
        }
    }
}

/// The index rows and commit sequence of one recordings file; a file removed since the listing
/// (rewritten by a writer) holds nothing.
async fn read_file(lake: &Lake, meta: object_store::ObjectMeta, rel: &str) -> Result<FileIndex> {
    let reader = StoreFile::new(lake.store.clone(), meta.location.clone(), meta.size);
    let builder = match ParquetRecordBatchStreamBuilder::new(reader).await {
        Ok(b) => b,
        Err(datafusion::parquet::errors::ParquetError::External(e))
            if e.downcast_ref::<object_store::Error>()
                .is_some_and(|e| matches!(e, object_store::Error::NotFound { .. })) =>
        {
            return Ok((vec![], 0));
        }
        Err(e) => return Err(Error::parquet(rel, e)),
    };
    let seq = commit_seq(builder.metadata());
    let mask = index_projection(builder.schema(), builder.parquet_schema());
    let mut stream = builder
        .with_projection(mask)
        .build()
        .map_err(|e| Error::parquet(rel, e))?;
    let mut rows = Vec::new();
    while let Some(b) = stream.next().await {
        rows.extend(index_columns(&b.map_err(|e| Error::parquet(rel, e))?));
    }
    Ok((rows, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(part: u32, seq: u64, at: i64) -> Winner {
        Winner {
            part,
            checksum: format!("c{part}"),
            seq,
            converted_at: at,
        }
    }

    #[test]
    fn the_higher_sequence_then_the_later_conversion_then_the_later_path_wins() {
        let mut i = LakeIndex::default();
        i.offer("a".into(), w(0, 2, 0));
        i.offer("a".into(), w(1, 1, 99));
        i.offer("b".into(), w(0, 1, 5));
        i.offer("b".into(), w(1, 1, 6));
        i.offer("c".into(), w(0, 1, 5));
        i.offer("c".into(), w(1, 1, 5));
        i.offer("d".into(), w(2, 1, 5));
        i.offer("d".into(), w(2, 1, 7));
        let part = |s: &str| i.sessions[s].part;
        assert_eq!((part("a"), part("b"), part("c"), part("d")), (0, 1, 1, 2));
        assert_eq!(
            i.sessions["d"].converted_at, 5,
            "first row of a doubled part"
        );
    }
}
