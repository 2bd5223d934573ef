//! `replaylake render --lake URL --session ID --out FILE.mp4|.webm|.gif`, or many sessions
//! (`--where`) into a directory, a few at a time.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::pull::parse_duration;
use crate::cli::{exit, human_bytes, parse_key_value};
use crate::error::{Error, Result};
use crate::render::{RenderSettings, RenderSummary, VideoFormat, browser, encode};
use crate::replay::player;
use crate::sink::Lake;

const AFTER_HELP: &str = "\
Examples:
  replaylake render --lake ./lake --session 01a20cbb-70a4-701c-b70c-79670ea3fad1 --out rec.mp4
  replaylake render --lake ./lake --session ID --out rec.gif --speed 8 --width 800 --height 500
  replaylake render --lake ./lake --where \"click_count > 10\" --out videos/ --format webm

Frames are taken deterministically (seek the recording, then screenshot: never a screen
recording), so the same session renders to the same frames. With --skip-inactive (default) the
video shows the active time only (PostHog's definition) and lasts active time / --speed.
Needs Debian's chromium-headless-shell and ffmpeg (apt-get install chromium-headless-shell
ffmpeg), and rrweb-player (scripts/setup-player.sh).

Exit codes: 0 written; 1 failed: the message says why (Chromium or ffmpeg missing, an unknown
session, a session without a FullSnapshot, ...); 2 usage error; 6 several sessions: some could not
be rendered (each listed with the reason).";

#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct RenderArgs {
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.
    #[arg(long, short = 'l', default_value = "./lake", env = "REPLAYLAKE_LAKE")]
    pub lake: String,
    /// The session (recording) id.
    #[arg(
        long,
        short = 's',
        required_unless_present = "where_sql",
        conflicts_with = "where_sql"
    )]
    pub session: Option<String>,
    /// Render every session a SQL condition over the recordings table selects, into the directory --out.
    #[arg(long = "where", short = 'w')]
    pub where_sql: Option<String>,
    /// The video file (.mp4, .webm or .gif), or with --where a directory (default: <session id>.mp4).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Video format (default: from the --out extension, else mp4).
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<VideoFormat>,
    /// Playback speed.
    #[arg(long, default_value_t = 4.0, value_parser = positive)]
    pub speed: f64,
    /// Frames per second of the video.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub fps: u32,
    /// Show only the active time (gaps of inactivity skipped, as PostHog counts active time).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub skip_inactive: bool,
    /// Frame width (default: the recording's viewport, made even).
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..=7680))]
    pub width: Option<u32>,
    /// Frame height (default: the recording's viewport, made even).
    #[arg(long, value_parser = clap::value_parser!(u32).range(16..=4320))]
    pub height: Option<u32>,
    /// Start this far into the recording (e.g. 10s, 1.5m).
    #[arg(long, value_parser = parse_duration)]
    pub from: Option<std::time::Duration>,
    /// End this far into the recording.
    #[arg(long, value_parser = parse_duration)]
    pub to: Option<std::time::Duration>,
    /// Frame budget: a longer video gets a lower frame rate (down to 12), then a higher speed.
    #[arg(long, default_value_t = 7200, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_frames: u64,
    /// The browser: Chromium or Chrome (default: REPLAYLAKE_BROWSER, else
    /// /usr/bin/chromium-headless-shell, else /usr/bin/chromium).
    #[arg(long)]
    pub browser: Option<PathBuf>,
    /// Screenshots as PNG instead of JPEG (slower; JPEG quality 90 is the default).
    #[arg(long)]
    pub png: bool,
    /// Sessions rendered at a time with --where (each runs a browser and an ffmpeg).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// An unpacked rrweb-player package (the directory with dist/).
    #[arg(long)]
    pub player_dir: Option<PathBuf>,
    /// object_store option for the lake, e.g. aws_endpoint=http://127.0.0.1:5000 (repeatable).
    #[arg(long = "storage-option", value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,
    /// Print each summary as a JSON line.
    #[arg(long)]
    pub json: bool,
}

fn positive(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("expected a number above 0, got {s:?}")),
    }
}

impl RenderArgs {
    fn settings(&self, format: VideoFormat) -> RenderSettings {
        let ms =
            |d: Option<std::time::Duration>| d.map(|d| (d.as_secs_f64() * 1000.0).round() as i64);
        RenderSettings {
            format,
            speed: self.speed,
            fps: self.fps,
            skip_inactive: self.skip_inactive,
            width: self.width,
            height: self.height,
            from_ms: ms(self.from),
            to_ms: ms(self.to),
            max_frames: self.max_frames,
            browser: self.browser.clone(),
            jpeg_quality: (!self.png).then_some(90),
            ..RenderSettings::default()
        }
    }
}

/// A file name for the session: characters other than letters, digits, `-`, `_` and `.` become `_`.
pub fn safe_name(session: &str) -> String {
    session
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The sessions to render and the file of each.
fn jobs(
    args: &RenderArgs,
    lake: &Lake,
    rt: &tokio::runtime::Handle,
) -> Result<Vec<(String, PathBuf, VideoFormat)>> {
    if let Some(sid) = &args.session {
        let out = args.out.clone().unwrap_or_else(|| {
            PathBuf::from(format!(
                "{}.{}",
                safe_name(sid),
                args.format.unwrap_or(VideoFormat::Mp4).extension()
            ))
        });
        let format = match (args.format, VideoFormat::from_path(&out)) {
            (Some(f), _) | (None, Some(f)) => f,
            (None, None) => {
                return Err(Error::Usage(format!(
                    "{}: the video file must end in .mp4, .webm or .gif (or give --format)",
                    out.display()
                )));
            }
        };
        return Ok(vec![(sid.clone(), out, format)]);
    }
    let cond = args.where_sql.clone().unwrap_or_default();
    let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let format = args.format.unwrap_or(VideoFormat::Mp4);
    let sids = rt.block_on(async {
        let index = crate::export::index::LakeIndex::load(lake).await?;
        let plan = crate::export::select::plan(
            lake,
            &index,
            &crate::export::select::Selection::Where(cond),
        )
        .await?;
        Ok::<_, Error>(plan.parts.into_values().flatten().collect::<Vec<_>>())
    })?;
    Ok(sids
        .into_iter()
        .map(|s| {
            let out = dir.join(format!("{}.{}", safe_name(&s), format.extension()));
            (s, out, format)
        })
        .collect())
}

/// A progress bar in frames for one session, or plain lines (every 25 %) when stderr is not a
/// terminal; nothing with --quiet.
struct Progress {
    bars: Option<MultiProgress>,
    quiet: bool,
}

impl Progress {
    fn session(&self, sid: &str) -> (ProgressBar, AtomicU64) {
        let bar = match &self.bars {
            Some(m) => {
                let b = m.add(ProgressBar::new(0));
                b.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg} [{bar:30}] {pos}/{len} frames {per_sec} eta {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                b.set_message(format!("rendering {sid}"));
                b
            }
            None => ProgressBar::hidden(),
        };
        (bar, AtomicU64::new(0))
    }

    fn tick(&self, sid: &str, bar: &ProgressBar, said: &AtomicU64, done: u64, total: u64) {
        bar.set_length(total);
        bar.set_position(done);
        let quarter = done * 4 / total.max(1);
        if self.bars.is_none()
            && !self.quiet
            && said.fetch_max(quarter, Ordering::Relaxed) < quarter
        {
            eprintln!("render {sid}: {done}/{total} frames");
        }
    }
}

/// Loads and renders one session.
fn one(
    lake: &Lake,
    (sid, out, format): &(String, PathBuf, VideoFormat),
    args: &RenderArgs,
    assets: &player::Assets,
    progress: &Progress,
    rt: &tokio::runtime::Handle,
) -> Result<RenderSummary> {
    let (rec, ticks) = rt.block_on(crate::render::load(lake, sid))?;
    let (bar, said) = progress.session(sid);
    let on = |done, total| progress.tick(sid, &bar, &said, done, total);
    let r = crate::render::render(&rec, &ticks, assets, &args.settings(*format), out, &on);
    bar.finish_and_clear();
    r
}

fn print(s: &RenderSummary, json: bool, quiet: bool) {
    if json {
        println!("{}", serde_json::to_string(s).expect("summary serializes"));
    } else if !quiet {
        println!(
            "wrote {} ({}): {:.2} s of video, {} frames ({} captured) at {} fps, speed {:.2}, {}x{}, \
             from {:.1} s of recording, in {:.1} s",
            s.file,
            human_bytes(s.bytes),
            s.duration_s,
            s.frames,
            s.captured,
            s.fps,
            s.speed,
            s.width,
            s.height,
            s.timeline_ms as f64 / 1000.0,
            s.seconds
        );
    }
}

pub fn run(args: &RenderArgs, quiet: bool, rt: tokio::runtime::Handle) -> Result<i32> {
    // what a render needs, checked before any work
    let assets = player::locate(args.player_dir.as_deref())?;
    browser::locate(args.browser.as_deref())?;
    encode::locate()?;
    let lake = Lake::open(&args.lake, &args.storage_options)?;
    let jobs = jobs(args, &lake, &rt)?;
    let progress = Progress {
        bars: (!quiet && std::io::stderr().is_terminal()).then(MultiProgress::new),
        quiet,
    };
    if args.session.is_some() {
        let s = one(&lake, &jobs[0], args, &assets, &progress, &rt)?;
        print(&s, args.json, quiet);
        return Ok(exit::OK);
    }
    let failed = many(&lake, &jobs, args, &assets, &progress, &rt);
    for (sid, e) in &failed {
        eprintln!("error: session {sid}: {e}");
    }
    if !quiet && !args.json {
        println!(
            "rendered {} of {} sessions",
            jobs.len() - failed.len(),
            jobs.len()
        );
    }
    Ok(if failed.is_empty() {
        exit::OK
    } else {
        exit::NOT_EXPORTED
    })
}

/// Renders `jobs` with `--jobs` workers (default: half the cores, at least one); returns the
/// sessions that failed.
fn many(
    lake: &Lake,
    jobs: &[(String, PathBuf, VideoFormat)],
    args: &RenderArgs,
    assets: &player::Assets,
    progress: &Progress,
    rt: &tokio::runtime::Handle,
) -> Vec<(String, Error)> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = args.jobs.unwrap_or(cores / 2).clamp(1, jobs.len().max(1));
    let next = AtomicU64::new(0);
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed) as usize) {
                    match one(lake, job, args, assets, progress, rt) {
                        Ok(sum) => print(&sum, args.json, progress.quiet),
                        Err(e) => failed.lock().expect("failures").push((job.0.clone(), e)),
                    }
                }
            });
        }
    });
    failed.into_inner().expect("failures")
}
