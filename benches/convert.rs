//! Throughput of the convert pipeline's stages on the bundled real recordings
//! (tests/data/realclient: posthog-js blob_v2 with cv 2024-10 compressed payloads).
//!
//! - `decode`: bytes to sessions ([`replaylake::source::decode_bytes`]);
//! - `decode_order_flatten`: the same, then order and flatten ([`replaylake::flatten::flatten_session`]),
//!   i.e. what one convert worker does per file;
//! - `order`: [`replaylake::decode::Session::finish`] (sort, drop duplicates, checksum) on 40k
//!   events, all in one millisecond or each in its own;
//! - `parquet_encode`: one table's part file ([`replaylake::sink::writer::encode`]), measured in
//!   Arrow bytes of the table;
//! - `floor`: the least any converter of these files must do, for scale: `json_parse` reads every
//!   line with serde_json and keeps nothing (the "serde_json alone" figure of ../shared/bench),
//!   `json_parse_unpack` also unpacks the posthog-js compressed payloads
//!   ([`replaylake::decode::compressed::decompress_data`]), which the issue requires and the
//!   DuckDB baseline skips.
//!
//! Run with `cargo bench --bench convert`; the end-to-end figure (MB/s, peak RSS, beside DuckDB)
//! comes from `scripts/bench.sh`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use replaylake::decode::compressed::{CV_2024_10, decompress_data};
use replaylake::decode::utf8;
use replaylake::decode::{DecodeOptions, Event, Session, SessionIdSource};
use replaylake::flatten::flatten_session;
use replaylake::schema::TABLES;
use replaylake::sink::writer::encode;
use replaylake::source::decode_bytes;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

fn inputs() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/realclient");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/data/realclient")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".blob.jsonl"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).expect("readable fixture");
            (p.display().to_string(), bytes)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let inputs = inputs();
    let total: u64 = inputs.iter().map(|(_, b)| b.len() as u64).sum();
    let opts = DecodeOptions::default();

    let mut g = c.benchmark_group("blob_v2");
    g.throughput(Throughput::Bytes(total));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for (name, bytes) in &inputs {
                black_box(decode_bytes(name, bytes, &opts));
            }
        })
    });
    g.bench_function("decode_order_flatten", |b| {
        b.iter(|| {
            for (name, bytes) in &inputs {
                let d = decode_bytes(name, bytes, &opts);
                for s in d.sessions {
                    black_box(flatten_session(s.finish(), 0).expect("flattens"));
                }
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Bytes(total));
    // checked as UTF-8 the way the decoder does (simdutf8), then parsed from the str
    let lines = || {
        inputs
            .iter()
            .flat_map(|(_, b)| b.split(|&c| c == b'\n'))
            .filter(|l| !l.is_empty())
    };
    g.bench_function("json_parse", |b| {
        b.iter(|| {
            for l in lines() {
                let l = utf8(l).expect("UTF-8");
                black_box(serde_json::from_str::<IgnoredAny>(l).expect("a JSON line"));
            }
        })
    });
    #[derive(Deserialize)]
    struct Ev<'a> {
        #[serde(rename = "type")]
        ty: i64,
        #[serde(borrow)]
        data: &'a RawValue,
        cv: Option<&'a str>,
    }
    g.bench_function("json_parse_unpack", |b| {
        b.iter(|| {
            for l in lines().filter(|l| !l.is_empty()) {
                let (_, e): (IgnoredAny, Ev<'_>) =
                    serde_json::from_slice(l).expect("a blob_v2 line");
                if e.cv == Some(CV_2024_10) {
                    black_box(
                        decompress_data(e.ty, e.data, opts.max_decompressed).expect("unpacks"),
                    );
                }
            }
        })
    });
    g.finish();

    // Ordering and duplicate dropping of one session of 40k events: all in one millisecond (the
    // worst case of the former pairwise comparison) and each in its own.
    let mut g = c.benchmark_group("order");
    for (name, ts_of) in [
        ("40k_same_timestamp", (|_| 1) as fn(i64) -> i64),
        ("40k_distinct_timestamps", (|i| i) as fn(i64) -> i64),
    ] {
        let s = session_of((0..40_000).map(|i| (ts_of(i), format!("{{\"source\":1,\"i\":{i}}}"))));
        g.bench_function(name, |b| {
            b.iter_batched(
                || s.clone(),
                |s| black_box(s.finish()),
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    // One part holding every bundled session, as the lake writer would encode it.
    let mut flat = Vec::new();
    for (name, bytes) in &inputs {
        for s in decode_bytes(name, bytes, &opts).sessions {
            flat.extend(flatten_session(s.finish(), 0).expect("flattens"));
        }
    }
    flat.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    let mut g = c.benchmark_group("parquet_encode");
    for t in TABLES {
        let batches: Vec<_> = flat.iter().map(|s| s.batches.get(t).clone()).collect();
        let bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_with_input(
            BenchmarkId::from_parameter(t.name()),
            &batches,
            |b, batches| {
                b.iter(|| black_box(encode(t, batches, flat.len(), 1, "bench").expect("encodes")))
            },
        );
    }
    g.finish();
}

fn session_of(events: impl Iterator<Item = (i64, String)>) -> Session {
    Session {
        session_id: "bench".into(),
        id_source: SessionIdSource::Flag,
        source_files: vec![],
        source_format: "bench".into(),
        meta: Default::default(),
        events: events
            .map(|(ts, data)| Event::new(Some("w".into()), ts, 3, data.into()))
            .collect(),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
