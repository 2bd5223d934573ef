//! `replaylake pull --host URL --project ID --dest URL`: recordings from the PostHog API.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{SinkArgs, exit, human_bytes};
use crate::error::{Error, Result};
use crate::pull::{PullOptions, PullProgress, PullSummary, pull};
use crate::sink::{Lake, Partitioning, SinkOptions};
use crate::source::posthog::{ApiKey, BodyFormat, Rate, Tier, parse_rates};

#[derive(Debug, Args)]
pub struct PullArgs {
    /// PostHog host: https://us.posthog.com, https://eu.posthog.com or your self-hosted URL.
    #[arg(long, env = "POSTHOG_HOST", default_value = "https://us.posthog.com", value_parser = parse_host_arg)]
    pub host: String,
    /// Project (environment) id, as in /project/<ID>/ of PostHog's URLs.
    #[arg(long, env = "POSTHOG_PROJECT_ID")]
    pub project: String,
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.
    #[arg(long, short = 'd', default_value = "./lake", env = "REPLAYLAKE_DEST")]
    pub dest: String,
    /// Personal API key (scope session_recording:read). Read from the environment only; never
    /// printed, logged or stored.
    #[arg(long = "api-key", env = "POSTHOG_API_KEY", hide = true, hide_env_values = true, value_parser = parse_api_key)]
    pub api_key: Option<ApiKey>,
    /// Read the personal API key from this file instead of POSTHOG_API_KEY.
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// Recordings that started at or after this time: RFC 3339, YYYY-MM-DD, or relative (-7d,
    /// -12h). Default: where the last pull stopped (its checkpoint), else 30 days before --until.
    #[arg(long, value_parser = parse_when)]
    pub since: Option<DateTime<Utc>>,
    /// Recordings that started at or before this time. Default: now minus --lag.
    #[arg(long, value_parser = parse_when)]
    pub until: Option<DateTime<Utc>>,
    /// How old a recording must be before it is pulled (PostHog only promises recordings are
    /// immutable after 24 h), e.g. 24h, 90m, 0s.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub lag: Duration,
    /// Ignore the checkpoint and what the lake holds: list and fetch every recording of the window
    /// again (sessions already in the lake with the same content are still not written twice).
    #[arg(long)]
    pub full_refresh: bool,
    /// List what would be fetched, and how many API calls and how long it takes at the rate
    /// limit; fetch and write nothing (a --dest that does not exist is not created).
    #[arg(long)]
    pub dry_run: bool,
    /// Fetch at most N recordings (the first N the listing returns that are not in the lake yet:
    /// PostHog lists the newest first), e.g. for a first trial. The checkpoint does not move past
    /// what was not fetched, so a later run without --limit fetches the rest.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
    /// Also keep every body as received under <dest>/_raw/<session_id>/, so the lake can be
    /// rebuilt without PostHog: replaylake convert <dest>/_raw --dest ...
    #[arg(long)]
    pub keep_raw: bool,
    /// Exit 4 when some recordings were skipped because PostHog deleted them (404/410). By
    /// default they are reported in the summary, remembered in the checkpoint, and the run exits
    /// 0, so a scheduled run (and its retries) does not fail over a recording that is gone.
    #[arg(long)]
    pub fail_on_skipped: bool,
    /// Your PostHog plan's replay API rate limit.
    #[arg(
        long,
        value_enum,
        default_value = "free",
        conflicts_with = "rate_limit"
    )]
    pub tier: Tier,
    /// Explicit rate limits instead of --tier (not with it), e.g. 60/min,300/h (also 10/5s).
    #[arg(long, value_parser = parse_rate_list)]
    pub rate_limit: Option<RateList>,
    /// Recordings fetched at once (all share the rate limit).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub concurrency: u64,
    /// Only sessions whose id hashes to I modulo N (I/N, 0-based): split a backfill across
    /// machines with no coordination and no overlap. Each shard keeps its own checkpoint.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(u32, u32)>,
    /// Blob bodies PostHog sends: plain JSONL (default) or its length-prefixed snappy blocks
    /// (decompress=false, smaller on the wire).
    #[arg(long, value_enum, default_value = "jsonl")]
    pub body: BodyFormat,
    /// Recordings per list page.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,
    /// Timeout of one HTTP request, e.g. 300s, 5m. It covers the whole request: connecting, the
    /// headers and reading the whole body, so a body that never ends times out (and is retried).
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Largest response body in MiB, counted after decompression (a gzip answer is inflated as
    /// it is read). A bigger body stops the run with an error naming the path. The default fits
    /// any blob_v2 range of 20 blocks.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_body_mb: u64,
    /// Longest Retry-After of a 429 that is waited for, e.g. 1h, 30m. A longer one (or an HTTP
    /// date further away) stops the run with an error instead of sleeping; PostHog's throttles
    /// ask for at most an hour.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub max_retry_after: Duration,
    /// Retries of a failed request (5xx, 429, resets, timeouts, cut-off bodies) before the run stops.
    #[arg(long, default_value_t = 10)]
    pub max_retries: u32,
    /// Recordings written to the lake between two checkpoints (smaller: less refetched after a
    /// kill, more small files).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkpoint_every: u64,
    /// How long before the checkpoint's watermark it remembers recordings that landed no rows.
    /// Recordings with rows are never fetched again while the lake holds them unchanged, however
    /// old the window.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub state_retention: Duration,
    /// Most MiB one compressed payload (cv field, snappy block) or one record of a body may
    /// decompress to; larger ones are rejected (against decompression bombs).
    #[arg(long, default_value_t = (crate::decode::limit::DEFAULT_MAX_DECOMPRESSED >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_decompressed_mb: u64,
    /// One file per recording and table (date=…/session_id=…), as convert --partition-by date,session.
    #[arg(long)]
    pub partition_by_session: bool,
    #[command(flatten)]
    pub sink: SinkArgs,
}

/// The value of `--rate-limit`.
#[derive(Debug, Clone)]
pub struct RateList(pub Vec<Rate>);

fn parse_rate_list(s: &str) -> std::result::Result<RateList, String> {
    parse_rates(s).map(RateList)
}

fn parse_api_key(s: &str) -> std::result::Result<ApiKey, String> {
    ApiKey::new(s).ok_or_else(|| "POSTHOG_API_KEY is empty".to_string())
}

/// A PostHog host URL, checked as the client will use it; a host without its scheme gets a hint.
fn parse_host_arg(s: &str) -> std::result::Result<String, String> {
    match crate::source::posthog::client::parse_host(s) {
        Ok(_) => Ok(s.to_string()),
        Err(e) => {
            let t = s.trim();
            let hint = if !t.contains("://") {
                format!(" (give the scheme: https://{t})")
            } else if let Some((scheme, rest)) = t.split_once("://")
                && !matches!(scheme, "http" | "https")
            {
                format!(" (did you mean https://{rest}?)")
            } else {
                String::new()
            };
            let e = e.to_string();
            Err(format!(
                "{}{hint}",
                e.strip_prefix(&format!("invalid PostHog host {s:?}: "))
                    .unwrap_or(&e)
            ))
        }
    }
}

/// `I/N` with I < N.
pub fn parse_shard(s: &str) -> std::result::Result<(u32, u32), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("expected I/N (e.g. 0/4), got {s:?}"))?;
    let i: u32 = i
        .trim()
        .parse()
        .map_err(|_| format!("bad shard index in {s:?}"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("bad shard count in {s:?}"))?;
    if n == 0 || i >= n {
        return Err(format!(
            "shard index must be below the count (0..{n}), got {s:?}"
        ));
    }
    Ok((i, n))
}

/// `90s`, `5m`, `24h`, `2d`, `0`.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 24h, 90m, 30s)"))?;
    let mult = match unit.trim() {
        "" | "s" | "sec" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        u => {
            return Err(format!(
                "unknown duration unit {u:?} in {s:?} (ms, s, m, h, d)"
            ));
        }
    };
    Duration::try_from_secs_f64(n * mult).map_err(|_| format!("bad duration {s:?}"))
}

/// RFC 3339, `YYYY-MM-DD` (midnight UTC), or `-7d` / `-12h` (relative to now).
pub fn parse_when(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    let t = s.trim();
    if let Some(rel) = t.strip_prefix('-') {
        let d = parse_duration(rel)?;
        let d = chrono::Duration::from_std(d).map_err(|e| e.to_string())?;
        return Ok(Utc::now() - d);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        if let Some(dt) = d.and_hms_opt(0, 0, 0) {
            return Ok(dt.and_utc());
        }
    }
    Err(format!(
        "bad time {s:?}: use RFC 3339 (2026-01-31T00:00:00Z), YYYY-MM-DD or -7d"
    ))
}

fn api_key(args: &PullArgs) -> Result<ApiKey> {
    if let Some(p) = &args.api_key_file {
        let text = std::fs::read_to_string(p).map_err(|e| Error::Io {
            path: p.clone(),
            source: e,
        })?;
        return ApiKey::new(text)
            .ok_or_else(|| Error::Usage(format!("the API key file {} is empty", p.display())));
    }
    args.api_key.clone().ok_or_else(|| {
        Error::Usage(
            "no PostHog API key: set POSTHOG_API_KEY (a personal API key with the \
             session_recording:read scope) or pass --api-key-file"
                .into(),
        )
    })
}

pub fn run(args: &PullArgs, quiet: bool, rt: tokio::runtime::Handle) -> Result<i32> {
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since >= until
    {
        return Err(Error::Usage(format!(
            "--since {} is not before --until {}: the window is empty (swap them?)",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    if let (Some(since), None) = (args.since, args.until) {
        let until = Utc::now() - chrono::Duration::from_std(args.lag).unwrap_or_default();
        if since >= until {
            return Err(Error::Usage(format!(
                "--since {} is not before the default --until, now minus --lag ({}): the window \
                 is empty (give an earlier --since, or a shorter --lag)",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
    }
    let key = api_key(args)?;
    // a dry run writes nothing, not even the destination's folder
    let lake = if args.dry_run {
        Lake::open_to_read(&args.dest, &args.sink.storage_options)?
    } else {
        Lake::open(&args.dest, &args.sink.storage_options)?
    };
    let mut opts = PullOptions::new(&args.host, &args.project, key);
    opts.since = args.since;
    opts.until = args.until;
    opts.lag = args.lag;
    opts.full_refresh = args.full_refresh;
    opts.dry_run = args.dry_run;
    opts.limit = args.limit;
    opts.keep_raw = args.keep_raw;
    opts.rates = args
        .rate_limit
        .clone()
        .map(|r| r.0)
        .unwrap_or_else(|| args.tier.rates());
    opts.concurrency = args.concurrency as usize;
    opts.page_size = args.page_size;
    opts.shard = args.shard;
    opts.body = args.body;
    opts.request_timeout = args.timeout;
    opts.retry.max_retries = args.max_retries;
    opts.retry.max_retry_after = args.max_retry_after;
    opts.max_body = args.max_body_mb << 20;
    opts.checkpoint_every = args.checkpoint_every as usize;
    opts.state_retention = args.state_retention;
    opts.max_decompressed = (args.max_decompressed_mb as usize) << 20;
    opts.sink = SinkOptions {
        partitioning: if args.partition_by_session {
            Partitioning::DateSession
        } else {
            Partitioning::Date
        },
        buffer_bytes: (args.sink.buffer_mb as usize) << 20,
        lease_wait: args.sink.wait,
    };

    let progress = Arc::new(PullProgress::default());
    let bar = if !quiet && std::io::stderr().is_terminal() {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} pulling {elapsed_precise} {msg}")
                .expect("valid template"),
        );
        b.enable_steady_tick(Duration::from_millis(200));
        b
    } else {
        ProgressBar::hidden()
    };
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = {
        let bar = bar.clone();
        let p = progress.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                bar.set_message(format!(
                    "recordings {}/{} (listed {}, skipped {}) · blobs {} · {} · {} calls · waiting on rate limit {:.0}s",
                    p.done.load(Ordering::Relaxed),
                    p.to_fetch.load(Ordering::Relaxed),
                    p.listed.load(Ordering::Relaxed),
                    p.skipped.load(Ordering::Relaxed),
                    p.blobs.load(Ordering::Relaxed),
                    human_bytes(p.http.bytes.load(Ordering::Relaxed)),
                    p.http.requests.load(Ordering::Relaxed),
                    p.http.wait_ms.load(Ordering::Relaxed) as f64 / 1000.0,
                ));
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let result = pull(&opts, lake, rt, progress);
    stop.store(true, Ordering::Relaxed);
    let _ = ticker.join();
    bar.finish_and_clear();
    let summary = result?;
    if !quiet || args.sink.json {
        print_summary(&summary, &args.dest, args.sink.json);
    }
    Ok(if summary.has_rejects() {
        exit::REJECTED
    } else if summary.has_skipped() && args.fail_on_skipped {
        exit::SKIPPED
    } else {
        exit::OK
    })
}

fn human_secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0}s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

pub fn print_summary(s: &PullSummary, dest: &str, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(s).expect("summary serializes")
        );
        return;
    }
    let shard = s
        .shard
        .as_deref()
        .map(|x| format!(", shard {x}"))
        .unwrap_or_default();
    // "--limit 2 reached, more remain"
    let limited = match s.limit {
        Some(n) if s.limit_reached => Some(format!("--limit {n} reached, more remain")),
        _ => None,
    };
    if s.dry_run {
        let n = s
            .to_fetch
            .unwrap_or(s.listed - s.not_in_shard - s.already_done);
        println!(
            "dry run: recordings that started {} .. {}{shard}: {} listed, {} to fetch{}, {} already pulled, {} in other shards",
            s.since,
            s.until,
            s.listed,
            n,
            limited.map(|l| format!(" ({l})")).unwrap_or_default(),
            s.already_done,
            s.not_in_shard
        );
        println!(
            "  would make at least {} API calls (sources + blobs, one call per 20 blob keys) after the {} list calls made",
            s.estimated_calls.unwrap_or(0),
            s.api_calls
        );
        println!(
            "  at the rate limit ({}) that takes at least {}",
            s.rate_limit,
            human_secs(s.estimated_seconds.unwrap_or(0.0))
        );
        return;
    }
    println!(
        "pulled recordings that started {} .. {}{shard} into {dest} in {}",
        s.since,
        s.until,
        human_secs(s.elapsed_seconds)
    );
    println!(
        "  recordings: {} listed, {} fetched ({} empty{}), {} already pulled, {} skipped (404/410), {} in other shards",
        s.listed,
        s.fetched,
        s.empty,
        limited.map(|l| format!("; {l}")).unwrap_or_default(),
        s.already_done,
        s.skipped.len(),
        s.not_in_shard
    );
    println!(
        "  lake: {} sessions written, {} unchanged, {} updated (an older version gained events); events {} ({} duplicates dropped)",
        s.sink.sessions_written,
        s.sink.sessions_unchanged,
        s.sink.sessions_replaced,
        s.events,
        s.duplicates_dropped
    );
    println!(
        "  API: {} calls, {} blobs, {}, {} retries, {} rate-limited (429), {} waiting on the rate limit ({})",
        s.api_calls,
        s.blobs,
        human_bytes(s.bytes),
        s.retries,
        s.throttled,
        human_secs(s.rate_wait_seconds),
        s.rate_limit
    );
    if s.raw_files > 0 {
        println!(
            "  raw bodies kept: {} files under {}/_raw/",
            s.raw_files,
            dest.trim_end_matches('/')
        );
    }
    for k in s.skipped.iter().take(20) {
        println!("  skipped {} (HTTP {})", k.session_id, k.status);
    }
    if !s.pending.is_empty() {
        println!(
            "  pending: {} recordings have no blob sources yet (not flushed); kept in the \
             checkpoint, a later run fetches them",
            s.pending.len()
        );
    }
    for p in s.pending.iter().take(20) {
        let sources = if p.sources.is_empty() {
            "none".to_string()
        } else {
            p.sources.join(", ")
        };
        println!("  pending {} (sources: {sources})", p.session_id);
    }
    if s.rejected > 0 {
        println!("  rejected records: {} — kept in:", s.rejected);
        for f in &s.sink.rejects_files {
            println!("    {}/{f}", dest.trim_end_matches('/'));
        }
    }
    println!(
        "  checkpoint: {}/{} (next run starts at {}{})",
        dest.trim_end_matches('/'),
        s.state_file,
        s.watermark.as_deref().unwrap_or(&s.since),
        if s.limit_reached {
            "; it did not move past what --limit left: run again to fetch the rest"
        } else {
            ""
        }
    );
}
