//! compact: the parts of a partition merged into one file, with every row, order and the
//! lake's index intact.

use std::path::{Path, PathBuf};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use replaylake::convert::ConvertOptions;
use replaylake::sink::compact::CompactStats;
use replaylake::sink::{Lake, LakeWriter, SinkOptions};

use crate::common::*;

fn compact(dest: &Path, budget: u64) -> CompactStats {
    let rt = runtime();
    let lake = Lake::open(&dest.display().to_string(), &[]).unwrap();
    let handle = rt.handle().clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut w = LakeWriter::open(lake, SinkOptions::default(), handle).unwrap();
            let stats = w.compact(budget).unwrap();
            w.finish(&()).unwrap();
            stats
        })
        .join()
        .unwrap()
    })
}

/// Every row of every table, in a fixed order, as text.
fn contents(dest: &Path) -> String {
    [
        "SELECT * FROM events ORDER BY session_id, seq",
        "SELECT * FROM recordings ORDER BY session_id",
        "SELECT * FROM network_requests ORDER BY session_id, ts_ms, url",
    ]
    .iter()
    .map(|q| pretty_format_batches(&sql(dest, q)).unwrap().to_string())
    .collect()
}

fn parquet_files(dest: &Path, table: &str) -> Vec<PathBuf> {
    tree(&dest.join(table))
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .map(|(p, _)| dest.join(table).join(p))
        .collect()
}

/// The first `n` real sessions, and options that write each session as its own part (a tiny
/// buffer).
fn one_part_per_session(n: u32) -> (Vec<PathBuf>, ConvertOptions) {
    let inputs = (1..=n)
        .map(|n| realclient(&format!("ph-s2202-0{n}.blob.jsonl")))
        .collect();
    let mut opts = ConvertOptions::default();
    opts.sink.buffer_bytes = 1;
    (inputs, opts)
}

#[test]
fn parts_merge_into_one_sorted_file_with_every_row() {
    let (inputs, opts) = one_part_per_session(6);
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let dest = tempfile::tempdir().unwrap();
    convert(&refs, dest.path(), &opts);
    assert_eq!(parquet_files(dest.path(), "recordings").len(), 6);
    let before = contents(dest.path());

    let s = compact(dest.path(), 1 << 30);
    assert_eq!((s.parts_before, s.parts_after, s.dirs_compacted), (6, 1, 1));
    assert_eq!(s.rows["recordings"], 6);
    for table in ["events", "recordings", "network_requests"] {
        let files = parquet_files(dest.path(), table);
        assert_eq!(files.len(), 1, "{table}: {files:?}");
        // rows in (session_id, ...) order across what were six files
        let bytes = bytes::Bytes::from(std::fs::read(&files[0]).unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        let mut ids = vec![];
        for b in reader {
            let b = b.unwrap();
            let col = b.column_by_name("session_id").unwrap().as_string::<i32>();
            ids.extend(col.iter().map(|v| v.unwrap().to_string()));
        }
        assert!(ids.windows(2).all(|w| w[0] <= w[1]), "{table} not sorted");
    }
    assert_eq!(contents(dest.path()), before);
    assert!(
        !dest.path().join("_replaylake/journal").exists()
            || std::fs::read_dir(dest.path().join("_replaylake/journal"))
                .unwrap()
                .next()
                .is_none(),
        "a journal was left behind"
    );

    // The index reads the merged part: a rerun finds every session unchanged.
    let again = convert(&refs, dest.path(), &opts);
    assert_eq!(
        (again.sink.sessions_unchanged, again.sink.sessions_written),
        (6, 0)
    );
    assert_eq!(contents(dest.path()), before);
    // Nothing left to merge.
    assert_eq!(compact(dest.path(), 1 << 30).parts_before, 0);
}

#[test]
fn parts_larger_than_the_budget_stay_alone() {
    let (inputs, opts) = one_part_per_session(3);
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let dest = tempfile::tempdir().unwrap();
    convert(&refs, dest.path(), &opts);
    let before = contents(dest.path());
    let s = compact(dest.path(), 1);
    assert_eq!((s.parts_before, s.parts_after), (0, 0));
    assert_eq!(parquet_files(dest.path(), "recordings").len(), 3);
    assert_eq!(contents(dest.path()), before);
}
