//! Video files of a recording from the lake: the replay page, played in a headless Chromium
//! frame by frame, piped to ffmpeg.
//!
//! The stages, one file each: [`timeline`] decides which moment of the recording each frame
//! shows (active time only, by default, so a video lasts active time / speed); [`browser`]
//! starts Chromium with a DevTools pipe and no network; [`cdp`] is the DevTools client;
//! [`capture`] opens the page `replaylake replay` writes (in its render mode) and takes each
//! frame by seeking the rrweb Replayer, then screenshotting; [`encode`] feeds the frames to
//! `ffmpeg`. [`RenderSettings`] holds every setting in one place.

pub mod browser;
pub mod capture;
pub mod cdp;
pub mod encode;
pub mod timeline;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::query::library::quote;
use crate::render::timeline::{Choice, Span, Tick};
use crate::replay::player::Assets;
use crate::replay::session::{Recording, ints};

/// What can stop a render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(
        "no headless Chromium found (looked for {looked}): install Debian's chromium-headless-shell \
         (apt-get install chromium-headless-shell), or point --browser or REPLAYLAKE_BROWSER at a \
         Chromium or Chrome"
    )]
    BrowserMissing { looked: String },
    #[error(
        "ffmpeg not found on the PATH: install Debian's ffmpeg (apt-get install ffmpeg), or point \
         REPLAYLAKE_FFMPEG at one"
    )]
    FfmpegMissing,
    #[error("cannot start {path}: {source}")]
    Launch {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the browser exited ({status}); its last words: {stderr}")]
    BrowserExited { status: String, stderr: String },
    #[error("DevTools call {method} failed: {message}")]
    Cdp { method: String, message: String },
    #[error("{what} took longer than {secs} s")]
    Timeout { what: String, secs: f64 },
    #[error("the replay page failed: {message}")]
    Page { message: String },
    #[error("ffmpeg failed ({status}): {stderr}")]
    Ffmpeg { status: String, stderr: String },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl RenderError {
    pub(crate) fn cdp(method: &str, message: impl Into<String>) -> Self {
        RenderError::Cdp {
            method: method.to_string(),
            message: message.into(),
        }
    }
    pub(crate) fn launch(path: &Path, source: std::io::Error) -> Self {
        RenderError::Launch {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The container and codec of a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoFormat {
    /// H.264 in MP4 (yuv420p, faststart).
    Mp4,
    /// VP9 in WebM.
    Webm,
    /// An animated GIF (at most 800 px wide).
    Gif,
}

impl VideoFormat {
    /// The format a file name asks for, by its extension.
    pub fn from_path(p: &Path) -> Option<Self> {
        match p.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "mp4" => Some(Self::Mp4),
            "webm" => Some(Self::Webm),
            "gif" => Some(Self::Gif),
            _ => None,
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Webm => "webm",
            Self::Gif => "gif",
        }
    }
}

/// Every setting of a render.
#[derive(Debug, Clone)]
pub struct RenderSettings {
    pub format: VideoFormat,
    /// Playback speed (4: a minute of recording lasts 15 s).
    pub speed: f64,
    pub fps: u32,
    pub skip_inactive: bool,
    /// Frame size; default the recording's viewport, made even.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// The stretch of the recording, as offsets from its first event in ms.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// Frame budget: above it the frame rate drops (to 12), then the speed rises.
    pub max_frames: u64,
    /// The browser (default: [`browser::locate`]).
    pub browser: Option<PathBuf>,
    /// JPEG quality of the screenshots, `None` for PNG.
    pub jpeg_quality: Option<u8>,
    /// How long one DevTools call may take.
    pub timeout: Duration,
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderSettings {
            format: VideoFormat::Mp4,
            speed: 4.0,
            fps: 24,
            skip_inactive: true,
            width: None,
            height: None,
            from_ms: None,
            to_ms: None,
            max_frames: 7200,
            browser: None,
            jpeg_quality: Some(90),
            timeout: Duration::from_secs(30),
        }
    }
}

/// What a render did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RenderSummary {
    pub session_id: String,
    pub file: String,
    pub format: VideoFormat,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// The speed used (higher than asked when the frame budget required it).
    pub speed: f64,
    pub frames: u64,
    /// Frames taken by a screenshot (the others repeat the frame before: nothing happened).
    pub captured: u64,
    /// `frames / fps`.
    pub duration_s: f64,
    /// Recording time the video covers (active time with skip-inactive).
    pub timeline_ms: i64,
    /// Recording time (ms since the epoch) of the first frame.
    pub first_frame_ms: i64,
    pub bytes: u64,
    pub seconds: f64,
}

/// The session's events as the timeline reads them (time, type, source), in the lake's order.
pub async fn ticks(
    ctx: &datafusion::prelude::SessionContext,
    rec: &Recording,
) -> Result<Vec<Tick>> {
    let q = format!(
        "SELECT ts_ms, event_type, source FROM events WHERE session_id = {} AND date = {} ORDER BY seq",
        quote(&rec.facts.session_id),
        quote(&rec.facts.date)
    );
    let mut out = Vec::new();
    for b in crate::query::run_sql(ctx, &q).await? {
        let (ts, ty, src) = (
            ints(&b, "ts_ms")?,
            ints(&b, "event_type")?,
            ints(&b, "source")?,
        );
        for ((ts, ty), source) in ts.into_iter().zip(ty).zip(src) {
            out.push(Tick {
                ts: ts.unwrap_or_default(),
                event_type: ty.unwrap_or_default() as i32,
                source,
            });
        }
    }
    out.sort_by_key(|t| t.ts);
    Ok(out)
}

/// Reads what a render needs of `session_id`: the recording and its timeline's events. A
/// session that is missing, or has no FullSnapshot (nothing to draw), is an error.
pub async fn load(lake: &crate::sink::Lake, session_id: &str) -> Result<(Recording, Vec<Tick>)> {
    let ctx = crate::query::lake_context(lake).await?;
    let why = "there is nothing to draw, so no video is made";
    let rec = crate::replay::session::load_drawable(&ctx, &lake.url, session_id, why).await?;
    let ticks = ticks(&ctx, &rec).await?;
    Ok((rec, ticks))
}

/// The frame size: asked, else the recording's viewport, each made even.
fn size(rec: &Recording, s: &RenderSettings) -> (u32, u32) {
    let even = |v: u32| (v.max(2) + 1) & !1;
    let vw = rec.facts.viewport_width.filter(|&v| v > 0).unwrap_or(1280) as u32;
    let vh = rec.facts.viewport_height.filter(|&v| v > 0).unwrap_or(800) as u32;
    (even(s.width.unwrap_or(vw)), even(s.height.unwrap_or(vh)))
}

/// Renders `rec` into `out`; `progress(done, total)` after each frame.
pub fn render(
    rec: &Recording,
    ticks: &[Tick],
    assets: &Assets,
    s: &RenderSettings,
    out: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<RenderSummary> {
    let started = Instant::now();
    let browser_path = browser::locate(s.browser.as_deref())?;
    let ffmpeg = encode::locate()?;
    let choice = Choice {
        skip_inactive: s.skip_inactive,
        from_ms: s.from_ms,
        to_ms: s.to_ms,
    };
    let spans = timeline::spans(ticks, choice);
    let total: i64 = spans.iter().map(Span::ms).sum();
    if spans.is_empty() {
        return Err(Error::Usage(format!(
            "session {:?}: the chosen stretch has no {}events, so there is nothing to show \
             (try --skip-inactive=false or other --from/--to)",
            rec.facts.session_id,
            if s.skip_inactive { "active " } else { "" }
        )));
    }
    let pace = timeline::pace(total, s.speed, s.fps, s.max_frames);
    let times = timeline::frame_times(&spans, pace);
    let (width, height) = size(rec, s);
    let html = crate::replay::page::render(rec, &[], assets)?;
    let mut b = browser::Browser::launch(&browser_path, width, height, s.timeout)?;
    capture::open(&mut b, &html, width, height).map_err(|e| b.explain(e))?;
    let mut enc =
        encode::Encoder::start(&ffmpeg, out, s.format, pace.fps, s.jpeg_quality.is_some())?;
    let captured = frames(&mut b, &mut enc, rec, &times, s, progress)?;
    drop(b);
    let bytes = enc.finish()?;
    Ok(RenderSummary {
        session_id: rec.facts.session_id.clone(),
        file: out.display().to_string(),
        format: s.format,
        width,
        height,
        fps: pace.fps,
        speed: pace.speed,
        frames: times.len() as u64,
        captured,
        duration_s: times.len() as f64 / pace.fps as f64,
        timeline_ms: total,
        first_frame_ms: times.first().copied().unwrap_or_default(),
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Takes every frame into the encoder; returns how many were screenshots.
fn frames(
    b: &mut browser::Browser,
    enc: &mut encode::Encoder,
    rec: &Recording,
    times: &[i64],
    s: &RenderSettings,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<u64> {
    let windows: Vec<Vec<i64>> = rec
        .windows
        .iter()
        .map(|w| w.events.iter().map(|e| e.timestamp).collect())
        .collect();
    let plan = capture::plan(&windows, times);
    let shot = capture::Shot {
        jpeg_quality: s.jpeg_quality,
    };
    let (mut image, mut captured) = (Vec::new(), 0u64);
    for (k, (&t, &(window, fresh))) in times.iter().zip(&plan).enumerate() {
        if fresh || image.is_empty() {
            capture::seek(b, window, t).map_err(|e| b.explain(e))?;
            image = capture::screenshot(b, shot).map_err(|e| b.explain(e))?;
            captured += 1;
        }
        enc.push(&image)?;
        progress(k as u64 + 1, times.len() as u64);
    }
    Ok(captured)
}
