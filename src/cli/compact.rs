//! `replaylake compact --lake URL`.

use clap::Args;

use crate::cli::{exit, human_bytes, parse_key_value};
use crate::error::Result;
use crate::sink::{Lake, LakeWriter, SinkOptions};

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix
    /// [default: REPLAYLAKE_LAKE, as query reads; else REPLAYLAKE_DEST, as convert and pull
    /// write; else ./lake].
    #[arg(long, short = 'l')]
    pub lake: Option<String>,
    /// Largest file to write, in MiB of compressed Parquet: the parts of a partition are merged in
    /// groups up to this size. Memory is about twice this.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..))]
    pub file_mb: u64,
    /// object_store option for the lake, e.g. aws_endpoint=http://127.0.0.1:5000 (repeatable).
    #[arg(long = "storage-option", value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,
    /// When another run is writing to the lake: wait up to this long for it (e.g. 10m), instead
    /// of stopping at once.
    #[arg(long, default_value = "0s", value_parser = crate::cli::pull::parse_duration)]
    pub wait: std::time::Duration,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--lake`, else `REPLAYLAKE_LAKE` (what `query` reads), else `REPLAYLAKE_DEST` (the name compact
/// read first, kept as an alias), else `./lake`.
fn lake_url(args: &CompactArgs) -> String {
    args.lake
        .clone()
        .or_else(|| std::env::var("REPLAYLAKE_LAKE").ok())
        .or_else(|| std::env::var("REPLAYLAKE_DEST").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "./lake".into())
}

pub fn run(args: &CompactArgs, quiet: bool, rt: tokio::runtime::Handle) -> Result<i32> {
    let url = lake_url(args);
    let lake = Lake::open_existing(&url, &args.storage_options)?;
    rt.block_on(lake.check_is_lake())?;
    let opts = SinkOptions {
        lease_wait: args.wait,
        ..SinkOptions::default()
    };
    let mut writer = LakeWriter::open(lake, opts, rt)?;
    let s = writer.compact(args.file_mb << 20)?;
    writer.finish(&serde_json::json!({ "compact": &s }))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).expect("summary serializes")
        );
        return Ok(exit::OK);
    }
    if quiet {
        return Ok(exit::OK);
    }
    if s.parts_before == 0 {
        println!(
            "nothing to compact in {}: no partition has several parts",
            url
        );
        return Ok(exit::OK);
    }
    let rows: Vec<String> = s.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
    println!(
        "compacted {} partitions of {} in {:.2}s: {} parts ({}) into {} ({})",
        s.dirs_compacted,
        url,
        s.elapsed_seconds,
        s.parts_before,
        human_bytes(s.bytes_before),
        s.parts_after,
        human_bytes(s.bytes_after)
    );
    println!("  rows copied: {}", rows.join(", "));
    Ok(exit::OK)
}
