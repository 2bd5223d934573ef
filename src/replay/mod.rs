//! Watching a recording from the lake: one self-contained HTML page that plays it offline.
//!
//! [`session`] reads a session's events and facts back out of the lake, [`moments`] lists what
//! happened in it (clicks, rage and dead clicks, console errors, failed requests, page changes)
//! from the lake's tables with the query library's definitions, [`player`] finds rrweb-player's
//! JavaScript where `scripts/setup-player.sh` installed it (never downloaded at run time, never
//! copied into the repository), and [`page`] puts the three into one HTML file: the player and
//! its CSS inlined, each window's events gzip-compressed and base64-encoded inside the page (the
//! browser unpacks them with `DecompressionStream`), so the file needs nothing but a browser.

pub mod moments;
pub mod page;
pub mod player;
pub mod session;

use crate::error::Result;
use crate::sink::Lake;

/// What a replay page was built from, for the summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplaySummary {
    pub session_id: String,
    pub windows: usize,
    pub events: usize,
    pub moments: usize,
    pub bytes: usize,
}

/// Builds the replay page of `session_id` in `lake`. Returns the HTML and a summary.
pub async fn replay_page(
    lake: &Lake,
    session_id: &str,
    assets: &player::Assets,
) -> Result<(String, ReplaySummary)> {
    let ctx = crate::query::lake_context(lake).await?;
    let why = "there is nothing a player can draw";
    let rec = session::load_drawable(&ctx, &lake.url, session_id, why).await?;
    let moments = moments::load(&ctx, session_id, &rec.facts.date).await?;
    let html = page::render(&rec, &moments, assets)?;
    let summary = ReplaySummary {
        session_id: session_id.to_string(),
        windows: rec.windows.len(),
        events: rec.windows.iter().map(|w| w.events.len()).sum(),
        moments: moments.len(),
        bytes: html.len(),
    };
    Ok((html, summary))
}
