//! `replaylake replay --lake URL --session ID --out FILE.html`.

use std::path::PathBuf;

use clap::Args;

use crate::cli::{exit, human_bytes, parse_key_value};
use crate::error::{Error, Result};
use crate::replay::{player, replay_page};
use crate::sink::Lake;

const AFTER_HELP: &str = "\
Examples:
  replaylake replay --lake ./lake --session 01a20cbb-70a4-701c-b70c-79687ea003e4 --out rec.html
  replaylake replay --lake s3://bucket/replays --session ID --out rec.html

The page plays offline in any current browser: rrweb-player and the recording are inside it.
rrweb-player comes from the npm registry: scripts/setup-player.sh installs it (once) into
~/.cache/replaylake/player; --player-dir or REPLAYLAKE_PLAYER_DIR point elsewhere.

Exit codes: 0 written; 1 failed: the message says why (an unknown session, a session with
nothing to draw because it has no FullSnapshot, rrweb-player not installed, ...); 2 usage error.";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ReplayArgs {
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.
    #[arg(long, short = 'l', default_value = "./lake", env = "REPLAYLAKE_LAKE")]
    pub lake: String,
    /// The session (recording) id.
    #[arg(long, short = 's')]
    pub session: String,
    /// The HTML file to write (default: <session id>.html in the current directory).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// An unpacked rrweb-player package (the directory with dist/); default: REPLAYLAKE_PLAYER_DIR,
    /// else where scripts/setup-player.sh installs it.
    #[arg(long)]
    pub player_dir: Option<PathBuf>,
    /// object_store option for the lake, e.g. aws_endpoint=http://127.0.0.1:5000 (repeatable).
    #[arg(long = "storage-option", value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A file name for the session: characters other than letters, digits, `-`, `_` and `.` become `_`.
fn default_out(session: &str) -> PathBuf {
    let safe: String = session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(format!("{safe}.html"))
}

pub fn run(args: &ReplayArgs, quiet: bool, rt: tokio::runtime::Handle) -> Result<i32> {
    let assets = player::locate(args.player_dir.as_deref())?;
    let lake = Lake::open_existing(&args.lake, &args.storage_options)?;
    rt.block_on(lake.check_is_lake())?;
    let (html, summary) = rt.block_on(replay_page(&lake, &args.session, &assets))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.session));
    // written beside its final name and renamed: a reader never sees half a page
    let tmp = out.with_extension("html.partial");
    std::fs::write(&tmp, &html)
        .and_then(|()| std::fs::rename(&tmp, &out))
        .map_err(|e| Error::Input {
            path: out.clone(),
            message: format!("cannot write the page: {e}"),
        })?;
    if args.json {
        let mut v = serde_json::to_value(&summary).expect("summary serializes");
        v["file"] = serde_json::json!(out.display().to_string());
        println!("{v}");
    } else if !quiet {
        println!(
            "wrote {} ({}): {} window(s), {} events, {} moments; open it in a browser",
            out.display(),
            human_bytes(summary.bytes as u64),
            summary.windows,
            summary.events,
            summary.moments
        );
    }
    Ok(exit::OK)
}
