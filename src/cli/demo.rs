//! `replaylake demo`: converts sample recordings bundled in the binary into a lake and queries it.
//!
//! The demo writes a lake of its own (`./lake` by default, as every command's default), never into a lake of
//! yours: a destination that holds anything but a demo lake is refused. A demo lake is marked by
//! [`MARKER`].

use clap::Args;

use crate::cli::convert::print_summary;
use crate::cli::exit;
use crate::convert::{ConvertOptions, convert_files};
use crate::error::{Error, Result};
use crate::query::{lake_context, run_sql};
use crate::sink::Lake;
use crate::source::expand_inputs;

/// Sample recordings: (file name, content). Real posthog-js recordings from tests/data.
pub const SAMPLES: &[(&str, &[u8])] = &[
    (
        "01a20cbb-70a4-701c-b70c-79670ea3fad1.blob.jsonl",
        include_bytes!("../../tests/data/realclient/ph-s2202-01.blob.jsonl"),
    ),
    (
        "ph-s2202-02.export.json",
        include_bytes!("../../tests/data/realclient/ph-s2202-02.export.json"),
    ),
    (
        "ph-s2202-03.posthog-capture.jsonl",
        include_bytes!("../../tests/data/realclient/ph-s2202-03.posthog-capture.jsonl"),
    ),
    (
        "posthog-demo-v1.jsonl",
        include_bytes!("../../tests/data/public/posthog_blob_v1_recording_snapshots.jsonl"),
    ),
];

/// The query the demo runs.
pub const DEMO_SQL: &str = "SELECT session_id, date, event_count AS events, click_count AS clicks, \
keypress_count AS keypresses, round(active_ms / 1000.0, 1) AS active_s, round(duration_ms / 1000.0, 1) AS duration_s, \
console_error_count AS console_errors, first_url \
FROM recordings ORDER BY start_time";

/// The object that marks a lake as written by `replaylake demo` (so a rerun may write into it).
pub const MARKER: &str = "_replaylake/demo";

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to write the demo lake: a new or empty folder, or an earlier demo's (anything else
    /// is refused, so the samples never mix into a lake of yours).
    #[arg(long, short = 'd', default_value = "./lake")]
    pub dest: String,
}

/// Whether the demo may write into `lake`: it is empty, or an earlier demo wrote it.
async fn check_own(lake: &Lake) -> Result<()> {
    use object_store::ObjectStoreExt;
    let root = (!lake.root.as_ref().is_empty()).then_some(&lake.root);
    let listing = lake
        .store
        .list_with_delimiter(root)
        .await
        .map_err(|e| Error::store(&lake.url, e))?;
    if listing.common_prefixes.is_empty() && listing.objects.is_empty() {
        return Ok(());
    }
    match lake.store.head(&lake.path(MARKER)).await {
        Ok(_) => Ok(()),
        Err(object_store::Error::NotFound { .. }) => Err(Error::Usage(format!(
            "{} is not empty and is not a demo lake: the demo writes its sample recordings only \
             into a folder of its own; give --dest a new folder (e.g. --dest ./replaylake-demo)",
            lake.url
        ))),
        Err(e) => Err(Error::store(MARKER, e)),
    }
}

pub fn run(args: &DemoArgs, rt: tokio::runtime::Handle) -> Result<i32> {
    let lake = Lake::open(&args.dest, &[])?;
    rt.block_on(check_own(&lake))?;
    rt.block_on(lake.put(
        MARKER,
        bytes::Bytes::from_static(b"written by replaylake demo: sample recordings only\n"),
    ))?;
    let dir = std::env::temp_dir().join(format!("replaylake-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    for (name, body) in SAMPLES {
        let p = dir.join(name);
        std::fs::write(&p, body).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
    }
    let inputs = expand_inputs(&[dir.display().to_string()])?;
    let summary = convert_files(
        &inputs,
        lake.clone(),
        &ConvertOptions::default(),
        rt.clone(),
        &|_| {},
    );
    let _ = std::fs::remove_dir_all(&dir);
    let summary = summary?;
    print_summary(&summary, &args.dest, false);
    println!("\n{DEMO_SQL};");
    let batches = rt.block_on(async {
        let ctx = lake_context(&lake).await?;
        run_sql(&ctx, DEMO_SQL).await
    })?;
    println!(
        "{}",
        datafusion::arrow::util::pretty::pretty_format_batches(&batches)?
    );
    println!(
        "\nThe lake is in {}: query it with DuckDB, e.g.\n  duckdb -c \"SELECT count(*) FROM read_parquet('{}/events/*/*.parquet', hive_partitioning=true, hive_types={{'date': 'VARCHAR'}})\"",
        args.dest,
        args.dest.trim_end_matches('/')
    );
    watch_one(&lake, &args.dest, &rt);
    video_one(&lake, &args.dest, &rt);
    Ok(exit::OK)
}

/// The first sample, as a page that plays it: written beside the lake when rrweb-player is
/// installed, else the command that would write it.
const SESSION: &str = "01a20cbb-70a4-701c-b70c-79670ea3fad1";

fn watch_one(lake: &Lake, dest: &str, rt: &tokio::runtime::Handle) {
    let page = std::path::Path::new(dest.trim_end_matches('/')).with_extension("replay.html");
    let command = format!(
        "replaylake replay --lake {dest} --session {SESSION} --out {}",
        page.display()
    );
    let Ok(assets) = crate::replay::player::locate(None) else {
        println!("\nWatch a recording: scripts/setup-player.sh (once), then\n  {command}");
        return;
    };
    let written = rt
        .block_on(crate::replay::replay_page(lake, SESSION, &assets))
        .and_then(|(html, _)| {
            std::fs::write(&page, html).map_err(|e| Error::Input {
                path: page.clone(),
                message: format!("cannot write the page: {e}"),
            })
        });
    match written {
        Ok(()) => println!(
            "\nWatch a recording: open {} in a browser (written by: {command})",
            page.display()
        ),
        Err(e) => println!("\nWatch a recording: {command} (here it failed: {e})"),
    }
}

/// The same sample as a short video (a few seconds to make: small, fast, at most 96 frames)
/// when Chromium, ffmpeg and rrweb-player are here, else how to get them.
fn video_one(lake: &Lake, dest: &str, rt: &tokio::runtime::Handle) {
    use crate::render::{RenderSettings, browser, encode};
    let video = std::path::Path::new(dest.trim_end_matches('/')).with_extension("replay.mp4");
    let command = format!(
        "replaylake render --lake {dest} --session {SESSION} --out {}",
        video.display()
    );
    let assets = crate::replay::player::locate(None);
    let (Ok(assets), Ok(_), Ok(_)) = (assets, browser::locate(None), encode::locate()) else {
        println!(
            "\nRender it as a video: install Debian's chromium-headless-shell and ffmpeg (apt-get \
             install chromium-headless-shell ffmpeg) and rrweb-player (scripts/setup-player.sh), then\n  {command}"
        );
        return;
    };
    let settings = RenderSettings {
        speed: 8.0,
        fps: 12,
        width: Some(640),
        height: Some(400),
        max_frames: 96,
        ..RenderSettings::default()
    };
    let done = rt
        .block_on(crate::render::load(lake, SESSION))
        .and_then(|(rec, ticks)| {
            crate::render::render(&rec, &ticks, &assets, &settings, &video, &|_, _| {})
        });
    match done {
        Ok(s) => println!(
            "\nA video of it: {} ({:.1} s, {} frames, made in {:.1} s; full size and speed: {command})",
            video.display(),
            s.duration_s,
            s.frames,
            s.seconds
        ),
        Err(e) => println!("\nRender it as a video: {command} (here it failed: {e})"),
    }
}
