//! Frames, captured deterministically: seek, then screenshot. Not a screen recording.
//!
//! The replay page (the one `replaylake replay` writes) is opened in its render mode
//! (`#render=1`: only the player, at the page's size, no controller, no mouse tail, CSS
//! animations and transitions off, in the player and inside the recording). For each frame,
//! `window.replaylake.seek(window, ts)` calls the rrweb Replayer's `pause(offset)`, which applies
//! every event up to `ts` synchronously (forward seeks only apply the events since the last
//! one) and resolves once the recording's images have loaded or failed; then
//! `Page.captureScreenshot` takes the frame. What a frame shows depends only on the events up
//! to its time, never on how fast the machine is, so two renders give the same frames.
//!
//! Speed: a frame whose interval holds no event (and no change of window) shows what the one
//! before showed, so its image is reused without a seek or a screenshot; screenshots are JPEG
//! (about 30% faster than PNG, as PostHog's renderer found) with `optimizeForSpeed`.

use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::render::RenderError;
use crate::render::browser::Browser;
use crate::render::cdp::console_errors;

/// How a frame is taken.
#[derive(Debug, Clone, Copy)]
pub struct Shot {
    /// JPEG quality (1-100), or `None` for PNG.
    pub jpeg_quality: Option<u8>,
}

/// Writes `html` into the browser's profile and opens it in render mode at `width` × `height`;
/// returns once the first window's player is ready.
pub fn open(b: &mut Browser, html: &str, width: u32, height: u32) -> Result<(), RenderError> {
    let file = b.profile().join("replay.html");
    std::fs::write(&file, html).map_err(|source| RenderError::Io {
        path: file.clone(),
        source,
    })?;
    b.page(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
    )?;
    b.page(
        "Page.navigate",
        json!({"url": format!("file://{}#render=1", file.display())}),
    )?;
    b.cdp
        .wait_event("Page.loadEventFired", Duration::from_secs(60))?;
    evaluate(b, "window.replaylake.ready", Duration::from_secs(60)).map(|_| ())
}

/// Evaluates `expr` in the page, awaiting a promise; a thrown error is a [`RenderError::Page`].
/// Console errors on the way are logged (a recording can hold what rrweb cannot apply: it says
/// so and goes on, and so does the video).
pub fn evaluate(b: &mut Browser, expr: &str, timeout: Duration) -> Result<Value, RenderError> {
    let s = b.session.clone();
    let r = b.cdp.call_within(
        Some(&s),
        "Runtime.evaluate",
        json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
        timeout,
    )?;
    if let Some(d) = r.get("exceptionDetails") {
        let text = d["exception"]["description"]
            .as_str()
            .or(d["text"].as_str())
            .unwrap_or("exception");
        return Err(RenderError::Page {
            message: format!("{expr}: {text}"),
        });
    }
    for e in console_errors(&b.cdp.take_events()) {
        tracing::warn!(page = %e, "the replay page reported an error");
    }
    Ok(r["result"]["value"].clone())
}

/// Shows the recording's window `window` as it was at `ts` (ms since the epoch).
pub fn seek(b: &mut Browser, window: usize, ts: i64) -> Result<(), RenderError> {
    evaluate(
        b,
        &format!("window.replaylake.seek({window}, {ts})"),
        Duration::from_secs(30),
    )
    .map(|_| ())
}

/// The page as an image.
pub fn screenshot(b: &mut Browser, shot: Shot) -> Result<Vec<u8>, RenderError> {
    let params = match shot.jpeg_quality {
        Some(q) => json!({"format": "jpeg", "quality": q, "optimizeForSpeed": true}),
        None => json!({"format": "png", "optimizeForSpeed": true}),
    };
    let r = b.page("Page.captureScreenshot", params)?;
    base64::engine::general_purpose::STANDARD
        .decode(r["data"].as_str().unwrap_or_default())
        .map_err(|e| RenderError::cdp("Page.captureScreenshot", format!("not base64: {e}")))
}

/// Which window each frame shows and whether it must be taken anew: `windows[w]` holds the
/// sorted event times of window `w`; a frame shows the window of the latest event at or before
/// its time (the first window before any).
pub fn plan(windows: &[Vec<i64>], times: &[i64]) -> Vec<(usize, bool)> {
    let mut out = Vec::with_capacity(times.len());
    let mut prev: Option<(usize, i64)> = None;
    for &t in times {
        let latest = |w: &Vec<i64>| w.partition_point(|&e| e <= t).checked_sub(1).map(|i| w[i]);
        let w = (0..windows.len())
            .filter_map(|i| latest(&windows[i]).map(|e| (e, i)))
            .max_by_key(|&(e, i)| (e, std::cmp::Reverse(i)))
            .map_or(0, |(_, i)| i);
        let fresh = match prev {
            None => true,
            Some((pw, pt)) => {
                let upto = |x: i64| windows[w].partition_point(|&e| e <= x);
                pw != w || upto(t) > upto(pt)
            }
        };
        out.push((w, fresh));
        prev = Some((w, t));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_without_events_are_reused_and_windows_follow_the_latest_event() {
        let w = vec![vec![0, 100, 500], vec![300, 310]];
        let p = plan(&w, &[0, 50, 120, 200, 305, 400, 520]);
        assert_eq!(
            p,
            vec![
                (0, true),
                (0, false),
                (0, true),
                (0, false),
                (1, true),
                (1, true),
                (0, true)
            ]
        );
    }
}
