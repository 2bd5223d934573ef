//! Decode a replay file into Arrow record batches with the library API, without writing a lake.
//!
//! `cargo run --example decode_to_batches [FILE]` (default: a bundled real posthog-js recording)

use datafusion::arrow::util::pretty::pretty_format_batches;
use replaylake::decode::DecodeOptions;
use replaylake::flatten::flatten_session;
use replaylake::source::decode_bytes;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/realclient/ph-s2202-01.export.json"
        )
        .to_string()
    });
    let bytes = std::fs::read(&path)?;
    // Format (export, blob JSONL, capture payload, rrweb array, gzip/snappy of any) is detected from the bytes.
    let decoded = decode_bytes(&path, &bytes, &DecodeOptions::default());
    println!(
        "{path}: {} ({} sessions, {} rejected records)",
        decoded.format,
        decoded.sessions.len(),
        decoded.rejects.len()
    );
    for session in decoded.sessions {
        // Order by timestamp, drop duplicates, then flatten into the three tables.
        let ordered = session.finish();
        let Some(flat) = flatten_session(ordered, chrono::Utc::now().timestamp_millis())? else {
            continue;
        };
        println!(
            "session {} on {} (checksum {})",
            flat.session_id, flat.date, flat.checksum
        );
        let clicks = flat.batches.events.project(&[3, 5, 6, 9, 10, 12, 13])?;
        println!(
            "{}",
            pretty_format_batches(&[clicks.slice(0, clicks.num_rows().min(8))])?
        );
        let rec = flat
            .batches
            .recordings
            .project(&[0, 6, 7, 8, 11, 12, 13, 16, 18])?;
        println!("{}", pretty_format_batches(&[rec])?);
    }
    Ok(())
}
