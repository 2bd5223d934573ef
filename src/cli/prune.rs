//! `replaylake prune --deleted --lake URL`: retention that follows PostHog's deletions.
//!
//! A pull that asks for a recording PostHog has deleted gets 404 or 410; it skips it and
//! remembers it in its checkpoint ([`crate::source::posthog::state::Skipped`]). This command takes
//! those recordings out of the lake, every table's rows and any raw bodies
//! ([`crate::sink::remove`]), and marks them pruned in the checkpoint (which may then forget them
//! after its retention). Rerunning it is harmless: what is gone is reported as not in the lake.

use std::collections::BTreeMap;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use crate::cli::state::lake_url;
use crate::cli::{exit, parse_key_value};
use crate::error::Result;
use crate::export::index::LakeIndex;
use crate::sink::remove::Removed;
use crate::sink::{Lake, LakeWriter, SinkOptions};
use crate::source::posthog::state::{self, PullState};

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove the recordings PostHog deleted: those pulls found gone (HTTP 404/410), as the
    /// lake's pull checkpoints remember them (`replaylake state` counts them). Required: it says
    /// what is pruned.
    #[arg(long, required = true)]
    pub deleted: bool,
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix
    /// [default: REPLAYLAKE_LAKE; else REPLAYLAKE_DEST, as pull writes; else ./lake].
    #[arg(long, short = 'l', visible_alias = "dest")]
    pub lake: Option<String>,
    /// Say what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
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

/// What `prune` did, or would do with `--dry-run`.
#[derive(Debug, Default, Serialize)]
struct PruneSummary {
    dry_run: bool,
    /// Recordings the checkpoints remember as deleted, with the HTTP status.
    deleted_known: BTreeMap<String, u16>,
    #[serde(flatten)]
    removed: Removed,
    elapsed_seconds: f64,
}

pub fn run(args: &PruneArgs, quiet: bool, rt: tokio::runtime::Handle) -> Result<i32> {
    let started = Instant::now();
    let url = lake_url(args.lake.as_deref());
    let lake = Lake::open_existing(&url, &args.storage_options)?;
    rt.block_on(lake.check_is_lake())?;
    let mut s = if args.dry_run {
        dry_run(&lake, &rt)?
    } else {
        prune(lake, args, rt)?
    };
    s.elapsed_seconds = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&s).expect("summary serializes")
        );
    } else if !quiet {
        print_summary(&s, &url);
    }
    Ok(exit::OK)
}

/// The recordings every checkpoint of the lake remembers as deleted, with their status.
fn deleted(states: &[(String, PullState)]) -> BTreeMap<String, u16> {
    states
        .iter()
        .flat_map(|(_, st)| st.skipped.iter().map(|(id, s)| (id.clone(), s.status)))
        .collect()
}

/// Which of the deleted recordings the lake holds, read from its index; nothing is written.
fn dry_run(lake: &Lake, rt: &tokio::runtime::Handle) -> Result<PruneSummary> {
    let states = rt.block_on(state::load_all(lake))?;
    let deleted_known = deleted(&states);
    let index = rt.block_on(LakeIndex::load(lake))?;
    let (removed, not_in_lake) = deleted_known
        .keys()
        .cloned()
        .partition(|id| index.sessions.contains_key(id));
    Ok(PruneSummary {
        dry_run: true,
        deleted_known,
        removed: Removed {
            removed,
            not_in_lake,
            ..Default::default()
        },
        ..Default::default()
    })
}

/// Removes the deleted recordings under the lake's lease, then marks them pruned in the
/// checkpoints (read under the lease too, so a pull cannot rewrite them meanwhile).
fn prune(lake: Lake, args: &PruneArgs, rt: tokio::runtime::Handle) -> Result<PruneSummary> {
    if deleted(&rt.block_on(state::load_all(&lake))?).is_empty() {
        // nothing to do: no lease taken, no run recorded
        return Ok(PruneSummary::default());
    }
    let opts = SinkOptions {
        lease_wait: args.wait,
        ..SinkOptions::default()
    };
    let mut w = LakeWriter::open(lake.clone(), opts, rt.clone())?;
    let mut states = rt.block_on(state::load_all(&lake))?;
    let deleted_known = deleted(&states);
    let ids: Vec<String> = deleted_known.keys().cloned().collect();
    let removed = w.remove_sessions(&ids)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (rel, st) in &mut states {
        let mut changed = false;
        for s in st.skipped.values_mut().filter(|s| s.pruned_at.is_none()) {
            s.pruned_at = Some(now.clone());
            changed = true;
        }
        if changed {
            rt.block_on(state::save(&lake, rel.as_str(), st))?;
        }
    }
    w.finish(&serde_json::json!({ "command": "prune", "deleted": &removed }))?;
    Ok(PruneSummary {
        deleted_known,
        removed,
        ..Default::default()
    })
}

fn print_summary(s: &PruneSummary, url: &str) {
    let r = &s.removed;
    if s.deleted_known.is_empty() {
        println!(
            "nothing to prune in {url}: its pull checkpoints remember no recording PostHog \
             deleted (a pull that gets 404/410 for a recording records it)"
        );
        return;
    }
    let verb = if s.dry_run { "would remove" } else { "removed" };
    println!(
        "{}{verb} {} of the {} recordings PostHog deleted from {url}{}: {} not in the lake",
        if s.dry_run { "dry run: " } else { "" },
        r.removed.len(),
        s.deleted_known.len(),
        if s.dry_run {
            String::new()
        } else {
            format!(" in {:.2}s", s.elapsed_seconds)
        },
        r.not_in_lake.len()
    );
    for id in r.removed.iter().take(20) {
        println!("  {verb} {id} (HTTP {})", s.deleted_known[id]);
    }
    if r.removed.len() > 20 {
        println!("  … and {} more", r.removed.len() - 20);
    }
    if !s.dry_run && !r.removed.is_empty() {
        let rows: Vec<String> = r.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
        println!("  rows removed: {}", rows.join(", "));
        println!(
            "  parts rewritten: {}, files deleted: {} ({} raw bodies)",
            r.parts_rewritten, r.files_deleted, r.raw_files_deleted
        );
    }
}
