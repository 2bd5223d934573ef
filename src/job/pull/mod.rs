//! The pull job: recordings from the PostHog API into a lake, incrementally and within the API's
//! rate limits.
//!
//! 1. The window: `--since`/`--until`, or by default from the checkpoint (the watermark, or the
//!    window a killed run was working on) up to now minus a lag (24 h: PostHog only promises a
//!    recording is immutable once it is a day old).
//! 2. The list is paged ([`Client::list_recordings`]); recordings outside this run's shard, and
//!    recordings the lake already holds as listed (the same `end_time` in
//!    `recordings.posthog_metadata`, see [`crate::sink::landed::Landed`]) are passed over without a single request,
//!    however old the window: the checkpoint only bounds the listing.
//! 3. Up to `concurrency` recordings are fetched at once, all through one rate limiter: the
//!    sources list, then `blob_v2` in ranges of at most 20 keys, or `blob_v2_lts`. With
//!    `keep_raw` each body is also stored as received under `_raw/<session>/`.
//! 4. Decoding is CPU work and runs on the blocking pool: each body through
//!    [`crate::source::decode_bytes`], the fragments merged ([`Session::absorb`]), ordered
//!    ([`crate::decode::Session::finish`]), the list's metadata attached, flattened
//!    ([`crate::flatten::flatten_session`]) ([`fetch`]).
//! 5. One writer (the calling thread) lands sessions through the job's [`Landing`] ([`run`]);
//!    every `checkpoint_every` sessions (or 30 s) it flushes the lake and only then records the
//!    sessions in the checkpoint, so what the checkpoint calls done is always in the lake.
//!
//! Which listed recordings are fetched is [`filter`]'s; the window and what a complete run does
//! to the checkpoint, [`window`]'s.
//!
//! A 404 or 410 skips the recording (recorded in the checkpoint, not retried by later runs); any
//! other failure that survives the retries, or a worker that panics ([`supervise`]), stops the
//! run with an error after saving what landed; the watermark does not move.
//!
//! A recording listed with no fetchable source (only `realtime` / legacy `blob`, or none: not
//! flushed to blob storage yet) is *pending*, not done: it is reported, kept in the checkpoint's
//! `pending`, and holds the watermark at its start, so the next run lists it again and fetches
//! it once its blobs exist. Holding the watermark keeps its meaning ("everything that started
//! before has landed") and needs no by-id requests; the price is relisting (list calls only:
//! what landed is passed over) from the oldest pending recording. A pending recording that a
//! complete listing of its window no longer returns is dropped from `pending`.

mod fetch;
mod filter;
mod run;
mod supervise;
mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Serialize;
use tokio::runtime::Handle;

use self::fetch::{Ctx, Msg, fetch_recording};
use self::filter::Filter;
use self::run::{Ended, Run};
use self::window::{Span, rfc3339};
use crate::decode::DecodeOptions;
use crate::error::{Error, Result};
use crate::job::Landing;
use crate::sink::landed::Landed;
use crate::sink::{Lake, SinkOptions, SinkStats};
use crate::source::posthog::state::{self, PullState, Window};
use crate::source::posthog::{
    ApiError, ApiKey, BodyFormat, Client, ClientConfig, ClientStats, ListWindow, Rate, RateLimiter,
    Recording, RetryConfig,
};

/// Options of a pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub host: String,
    pub project: String,
    pub api_key: ApiKey,
    /// Start of the window (recordings' start time); default: the checkpoint.
    pub since: Option<DateTime<Utc>>,
    /// End of the window; default: now minus `lag`.
    pub until: Option<DateTime<Utc>>,
    pub lag: Duration,
    /// Window start when there is neither `since` nor a checkpoint.
    pub default_lookback: Duration,
    pub full_refresh: bool,
    pub dry_run: bool,
    /// Fetch at most this many recordings (the first the filtered listing returns); when more
    /// remain, the checkpoint's watermark and window stay where they were.
    pub limit: Option<u64>,
    pub keep_raw: bool,
    pub rates: Vec<Rate>,
    pub concurrency: usize,
    pub page_size: u32,
    /// `(i, n)`: only sessions whose id hashes to `i` modulo `n`.
    pub shard: Option<(u32, u32)>,
    pub retry: RetryConfig,
    pub request_timeout: Duration,
    pub body: BodyFormat,
    /// Largest response body (bytes, counted after decompression).
    pub max_body: u64,
    pub sink: SinkOptions,
    /// Sessions between checkpoints (each checkpoint writes the buffered parts first).
    pub checkpoint_every: usize,
    /// How long before the watermark the checkpoint remembers landed sessions.
    pub state_retention: Duration,
    /// Most bytes one compressed payload or body record may decompress to.
    pub max_decompressed: usize,
}

impl PullOptions {
    /// Options with replaylake's defaults (free tier, 24 h lag, 4 workers).
    pub fn new(host: &str, project: &str, api_key: ApiKey) -> Self {
        PullOptions {
            host: host.to_string(),
            project: project.to_string(),
            api_key,
            since: None,
            until: None,
            lag: Duration::from_secs(24 * 3600),
            default_lookback: Duration::from_secs(30 * 24 * 3600),
            full_refresh: false,
            dry_run: false,
            limit: None,
            keep_raw: false,
            rates: crate::source::posthog::Tier::Free.rates(),
            concurrency: 4,
            page_size: 100,
            shard: None,
            retry: RetryConfig::default(),
            request_timeout: Duration::from_secs(300),
            body: BodyFormat::Jsonl,
            max_body: crate::source::posthog::client::DEFAULT_MAX_BODY,
            sink: SinkOptions::default(),
            checkpoint_every: 100,
            state_retention: Duration::from_secs(7 * 24 * 3600),
            max_decompressed: crate::decode::limit::DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// Live counters for a progress display (the job never draws anything itself).
#[derive(Debug, Default)]
pub struct PullProgress {
    /// Recordings listed so far (all shards).
    pub listed: AtomicU64,
    /// Recordings this run will fetch (in its shard, not done).
    pub to_fetch: AtomicU64,
    /// Recordings fetched and handed to the lake, or skipped.
    pub done: AtomicU64,
    pub skipped: AtomicU64,
    pub blobs: AtomicU64,
    /// API calls, bytes, retries, 429s and time waiting on the rate limit.
    pub http: Arc<ClientStats>,
}

/// A recording skipped because PostHog answered 404 or 410.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedRecording {
    pub session_id: String,
    pub status: u16,
}

/// A recording with no blob sources yet (see the module docs): a later run fetches it.
#[derive(Debug, Clone, Serialize)]
pub struct PendingRecording {
    pub session_id: String,
    /// The sources PostHog listed (e.g. `realtime`), empty when it listed none.
    pub sources: Vec<String>,
}

/// What a pull did (or, with `dry_run`, would do).
#[derive(Debug, Default, Clone, Serialize)]
pub struct PullSummary {
    pub dry_run: bool,
    pub since: String,
    pub until: String,
    pub state_file: String,
    pub rate_limit: String,
    pub shard: Option<String>,
    pub listed: u64,
    pub not_in_shard: u64,
    pub already_done: u64,
    pub fetched: u64,
    pub empty: u64,
    pub skipped: Vec<SkippedRecording>,
    /// Listed, but not fetchable yet (no blob sources); kept in the checkpoint for a later run.
    pub pending: Vec<PendingRecording>,
    pub events: u64,
    pub duplicates_dropped: u64,
    pub rejected: u64,
    pub blobs: u64,
    pub bytes: u64,
    pub raw_files: u64,
    pub api_calls: u64,
    pub retries: u64,
    pub throttled: u64,
    pub rate_wait_seconds: f64,
    pub elapsed_seconds: f64,
    /// The checkpoint's watermark after the run.
    pub watermark: Option<String>,
    /// `--limit`, and whether it cut the run short (more recordings remain to fetch).
    pub limit: Option<u64>,
    pub limit_reached: bool,
    /// Dry run: recordings the pull would fetch.
    pub to_fetch: Option<u64>,
    /// Dry run: API calls the pull would make (at least; more for recordings over 20 blobs).
    pub estimated_calls: Option<u64>,
    /// Dry run: time those calls take at the configured rate limit (at least).
    pub estimated_seconds: Option<f64>,
    pub sink: SinkStats,
}

impl PullSummary {
    pub fn has_rejects(&self) -> bool {
        self.rejected > 0
    }
    pub fn has_skipped(&self) -> bool {
        !self.skipped.is_empty()
    }
}

/// True when `session_id` belongs to shard `i` of `n` (xxh3 of the id, modulo n).
pub fn in_shard(session_id: &str, shard: Option<(u32, u32)>) -> bool {
    match shard {
        None => true,
        Some((i, n)) => xxhash_rust::xxh3::xxh3_64(session_id.as_bytes()) % n as u64 == i as u64,
    }
}

/// Runs a pull. Call it from a thread outside the runtime `rt` (the lake writer blocks on it).
pub fn pull(
    opts: &PullOptions,
    lake: Lake,
    rt: Handle,
    progress: Arc<PullProgress>,
) -> Result<PullSummary> {
    let started = Instant::now();
    let (client, limiter) = client(opts, &progress)?;
    let host = crate::source::posthog::client::parse_host(&opts.host)?.to_string();
    let state_rel = state::state_rel_path(&host, &opts.project, opts.shard);
    let mut st = if opts.full_refresh {
        None
    } else {
        rt.block_on(state::load(&lake, &state_rel))?
    }
    .unwrap_or_else(|| PullState::new(&host, &opts.project, opts.shard));
    let now = Utc::now();
    let span = Span::of(opts, &st, now);
    let mut summary = new_summary(opts, span, &state_rel, &st);
    if opts.since.is_some() && opts.until.is_none() && span.since >= span.until {
        return Err(Error::Usage(format!(
            "--since {} is not before the default --until, now minus --lag ({}): the window is \
             empty (give an earlier --since, or a shorter --lag)",
            summary.since, summary.until
        )));
    }
    if span.since >= span.until {
        tracing::info!(since = %summary.since, until = %summary.until, "empty window: nothing to pull");
        summary.elapsed_seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let list = ListWindow {
        date_from: summary.since.clone(),
        date_to: summary.until.clone(),
        limit: opts.page_size.max(1),
    };
    let limit = Arc::new(Limit::new(opts.limit));
    if opts.dry_run {
        let filter = Filter::new(&st, landed(opts, &lake, &rt)?, opts.shard, progress.clone());
        let listing = client.list_recordings(list);
        let listing = (listing, limit);
        return dry_run(summary, listing, filter, &limiter, &progress, &rt, started);
    }
    let landing = Landing::open(lake.clone(), opts.sink.clone(), rt.clone())?;
    // after the writer's recovery, which may roll back files of an interrupted commit
    let filter = Arc::new(Filter::new(
        &st,
        landed(opts, &lake, &rt)?,
        opts.shard,
        progress.clone(),
    ));
    if !span.explicit {
        st.window = Some(Window {
            since: summary.since.clone(),
            until: summary.until.clone(),
        });
    }
    rt.block_on(state::save(&lake, &state_rel, &mut st))?;
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        lake: lake.clone(),
        keep_raw: opts.keep_raw,
        progress: progress.clone(),
        now_ms: now.timestamp_millis(),
        raw_files: AtomicU64::new(0),
        decode: DecodeOptions {
            max_decompressed: opts.max_decompressed,
            ..DecodeOptions::default()
        },
    });
    let listing = (client.list_recordings(list), limit.clone());
    let (producer, mut rx) =
        spawn_fetches(&rt, listing, filter.clone(), ctx.clone(), opts.concurrency);
    let place = (lake, state_rel);
    let mut run = Run::new(
        landing,
        st,
        summary,
        place,
        rt.clone(),
        progress.clone(),
        opts.checkpoint_every,
    );
    let ended = run.receive(&mut rx);
    drop(rx);
    let failure = match ended {
        // the channel closed without `End`: the producer panicked
        Ended::Closed => Some(supervise::stopped_early(rt.block_on(producer))),
        ended => {
            producer.abort();
            let _ = rt.block_on(producer);
            match ended {
                Ended::Failed(e) => Some(e),
                _ => None,
            }
        }
    };
    // Whatever happened, what landed is recorded.
    let saved = run.checkpoint();
    fill_counts(&mut run.summary, &progress, &filter, &ctx);
    if let Some(e) = failure {
        tracing::error!(
            landed = run.st.done.len(),
            "pull stopped; rerun to continue where it stopped"
        );
        return Err(e);
    }
    saved?;
    run.summary.limit_reached = limit.reached();
    if run.summary.limit_reached {
        // the window is not done: the watermark and the window to resume stay as they were
        tracing::info!(
            limit = opts.limit,
            "--limit reached; a later run fetches the rest"
        );
    } else {
        window::complete(
            &mut run.st,
            span,
            now,
            opts,
            &filter.was_pending,
            &filter.relisted,
        );
    }
    run.st.runs += 1;
    run.save()?;
    finish(run, started)
}

/// The API client, with its rate limiter (shared by every request of the run).
fn client(opts: &PullOptions, progress: &PullProgress) -> Result<(Arc<Client>, Arc<RateLimiter>)> {
    let limiter = Arc::new(RateLimiter::new(opts.rates.clone()));
    let config = ClientConfig {
        host: opts.host.clone(),
        project: opts.project.clone(),
        api_key: opts.api_key.clone(),
        retry: opts.retry.clone(),
        request_timeout: opts.request_timeout,
        connect_timeout: Duration::from_secs(10).min(opts.request_timeout),
        body: opts.body,
        max_body: opts.max_body,
    };
    let client = Client::new(&config, limiter.clone())?.with_stats(progress.http.clone());
    Ok((Arc::new(client), limiter))
}

fn new_summary(opts: &PullOptions, span: Span, state_rel: &str, st: &PullState) -> PullSummary {
    let rates: Vec<String> = opts.rates.iter().map(|r| r.to_string()).collect();
    PullSummary {
        dry_run: opts.dry_run,
        since: rfc3339(span.since),
        until: rfc3339(span.until),
        state_file: state_rel.to_string(),
        rate_limit: rates.join(", "),
        shard: opts.shard.map(|(i, n)| format!("{i}/{n}")),
        watermark: st.watermark.clone(),
        limit: opts.limit,
        ..Default::default()
    }
}

/// `--limit`: how many recordings a run fetches at most, and whether the listing had more.
struct Limit {
    max: Option<u64>,
    more: std::sync::atomic::AtomicBool,
}

impl Limit {
    fn new(max: Option<u64>) -> Self {
        Limit {
            max,
            more: Default::default(),
        }
    }

    /// True when the run stopped at the limit with recordings left to fetch.
    fn reached(&self) -> bool {
        self.more.load(Ordering::Relaxed)
    }
}

/// A listing and the limit of what is fetched of it.
type Listing<L> = (L, Arc<Limit>);

/// The listing, one recording at a time, filtered, and cut after the limit: the one after it
/// is listed (so that the run knows more remain) but not fetched.
fn recordings(
    (listing, limit): Listing<
        impl Stream<Item = std::result::Result<Vec<Recording>, ApiError>> + Send + 'static,
    >,
    filter: Arc<Filter>,
) -> impl Stream<Item = std::result::Result<Recording, ApiError>> + Send + 'static {
    let max = limit.max.map_or(usize::MAX, |n| n as usize);
    let keep = filter.clone();
    listing
        .map_ok(|page| futures::stream::iter(page.into_iter().map(Ok::<Recording, ApiError>)))
        .try_flatten()
        .try_filter(move |r| futures::future::ready(keep.keep(r)))
        .take(max.saturating_add(1))
        .enumerate()
        .filter_map(move |(i, r)| {
            let within = i < max;
            if !within {
                limit.more.store(true, Ordering::Relaxed);
                filter.not_fetched();
            }
            futures::future::ready(within.then_some(r))
        })
}

/// Lists what a run would fetch and estimates its calls; fetches and writes nothing.
fn dry_run(
    mut summary: PullSummary,
    listing: Listing<
        impl Stream<Item = std::result::Result<Vec<Recording>, ApiError>> + Send + 'static,
    >,
    filter: Filter,
    limiter: &RateLimiter,
    progress: &PullProgress,
    rt: &Handle,
    started: Instant,
) -> Result<PullSummary> {
    let filter = Arc::new(filter);
    let limit = listing.1.clone();
    let recs: Vec<Recording> = rt.block_on(recordings(listing, filter.clone()).try_collect())?;
    summary.to_fetch = Some(recs.len() as u64);
    summary.limit_reached = limit.reached();
    summary.listed = progress.listed.load(Ordering::Relaxed);
    summary.not_in_shard = filter.not_in_shard.load(Ordering::Relaxed);
    summary.already_done = filter.already_done.load(Ordering::Relaxed);
    // per recording: the sources list and at least one blob call (one per 20 blob keys)
    let calls = recs.len() as u64 * 2;
    summary.estimated_calls = Some(calls);
    summary.estimated_seconds = Some(limiter.estimate(calls).as_secs_f64());
    fill_http(&mut summary, progress);
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        recordings = recs.len(),
        "dry run: nothing fetched or written"
    );
    Ok(summary)
}

/// Fetches the filtered listing, `concurrency` recordings at a time, on the runtime; each
/// outcome goes to the returned channel, then [`Msg::End`] (not after a failure).
fn spawn_fetches(
    rt: &Handle,
    listing: Listing<
        impl Stream<Item = std::result::Result<Vec<Recording>, ApiError>> + Send + 'static,
    >,
    filter: Arc<Filter>,
    ctx: Arc<Ctx>,
    concurrency: usize,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::Receiver<Msg>,
) {
    let concurrency = concurrency.max(1);
    let (tx, rx) = tokio::sync::mpsc::channel::<Msg>(concurrency * 2);
    let producer = rt.spawn(async move {
        let fetches = recordings(listing, filter)
            .map(|r| {
                let ctx = ctx.clone();
                async move {
                    match r {
                        Ok(rec) => {
                            let sid = rec.id.clone();
                            supervise::fetch_guarded(sid, fetch_recording(ctx, rec)).await
                        }
                        Err(e) => Msg::Failed(e.into()),
                    }
                }
            })
            .buffer_unordered(concurrency);
        futures::pin_mut!(fetches);
        while let Some(m) = fetches.next().await {
            let failed = matches!(m, Msg::Failed(_));
            if tx.send(m).await.is_err() || failed {
                return;
            }
        }
        let _ = tx.send(Msg::End).await;
    });
    (producer, rx)
}

/// Ends the run: the lake's commit and run record, the summary's last figures.
fn finish(run: Run, started: Instant) -> Result<PullSummary> {
    let Run {
        landing,
        st,
        mut summary,
        ..
    } = run;
    summary.watermark = st.watermark.clone();
    let c = &landing.counts;
    (summary.events, summary.duplicates_dropped) = (c.events, c.duplicates_dropped);
    summary.rejected = c.rejected;
    let brief = serde_json::json!({
        "command": "pull",
        "since": summary.since,
        "until": summary.until,
        "shard": summary.shard,
        "fetched": summary.fetched,
        "skipped": summary.skipped.len(),
        "pending": summary.pending.len(),
        "events": summary.events,
        "api_calls": summary.api_calls,
        "rejected": summary.rejected,
    });
    summary.sink = landing.finish(&brief)?;
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// What the lake holds of pulled recordings; nothing with `--full-refresh`, which fetches every
/// recording again (the writer still writes only what changed).
fn landed(opts: &PullOptions, lake: &Lake, rt: &Handle) -> Result<Landed> {
    if opts.full_refresh {
        return Ok(Landed::default());
    }
    let landed = rt.block_on(Landed::load(lake))?;
    tracing::debug!(recordings = landed.len(), "pulled recordings in the lake");
    Ok(landed)
}

/// The summary's counts from the landing, the listing and the HTTP client.
fn fill_counts(s: &mut PullSummary, p: &PullProgress, filter: &Filter, ctx: &Ctx) {
    fill_http(s, p);
    s.raw_files = ctx.raw_files.load(Ordering::Relaxed);
    s.listed = p.listed.load(Ordering::Relaxed);
    s.not_in_shard = filter.not_in_shard.load(Ordering::Relaxed);
    s.already_done = filter.already_done.load(Ordering::Relaxed);
}

fn fill_http(s: &mut PullSummary, p: &PullProgress) {
    s.blobs = p.blobs.load(Ordering::Relaxed);
    s.bytes = p.http.bytes.load(Ordering::Relaxed);
    s.api_calls = p.http.requests.load(Ordering::Relaxed);
    s.retries = p.http.retries.load(Ordering::Relaxed);
    s.throttled = p.http.throttled.load(Ordering::Relaxed);
    s.rate_wait_seconds = p.http.wait_ms.load(Ordering::Relaxed) as f64 / 1000.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_ids() {
        let ids: Vec<String> = (0..1000).map(|i| format!("session-{i}")).collect();
        let mut seen = 0;
        for i in 0..4 {
            let n = ids.iter().filter(|s| in_shard(s, Some((i, 4)))).count();
            assert!(n > 150, "shard {i} has {n}");
            seen += n;
        }
        assert_eq!(seen, 1000);
        assert!(ids.iter().all(|s| in_shard(s, None)));
    }
}
