//! Convert files into a Parquet lake with the library API, then query it with DataFusion.
//!
//! `cargo run --example convert_to_lake [DEST]` (default: a temporary directory)

use replaylake::convert::{ConvertOptions, convert_files};
use replaylake::query::{lake_context, run_sql};
use replaylake::sink::Lake;
use replaylake::source::expand_inputs;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = std::env::temp_dir().join(format!("replaylake-example-{}", std::process::id()));
    let dest = std::env::args()
        .nth(1)
        .unwrap_or_else(|| tmp.display().to_string());
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/realclient");
    let inputs = expand_inputs(&[
        format!("{data}/ph-s2202-01.blob.jsonl"),
        format!("{data}/ph-s2202-02.export.json"),
    ])?;

    // The writer talks to object storage through a tokio runtime; decoding runs on plain threads.
    let rt = tokio::runtime::Runtime::new()?;
    let lake = Lake::open(&dest, &[])?; // also s3://bucket/prefix, gs://..., az://...
    let summary = convert_files(
        &inputs,
        lake.clone(),
        &ConvertOptions::default(),
        rt.handle().clone(),
        &|_| {},
    )?;
    println!(
        "{} sessions, {} events, rows {:?} -> {dest}",
        summary.sessions, summary.events, summary.sink.rows
    );

    let batches = rt.block_on(async {
        let ctx = lake_context(&lake).await?;
        run_sql(&ctx, "SELECT session_id, date, click_count, keypress_count, active_ms FROM recordings ORDER BY session_id").await
    })?;
    println!(
        "{}",
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)?
    );
    if dest == tmp.display().to_string() {
        std::fs::remove_dir_all(&tmp)?;
    }
    Ok(())
}
