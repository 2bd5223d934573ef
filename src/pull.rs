//! The pull job: recordings from the PostHog API into a lake, incrementally and within the API's
//! rate limits.
//!
//! 1. The window: `--since`/`--until`, or by default from the checkpoint (the watermark, or the
//!    window a killed run was working on) up to now minus a lag (24 h: PostHog only promises a
//!    recording is immutable once it is a day old).
//! 2. The list is paged ([`Client::list_recordings`]); recordings outside this run's shard, and
//!    recordings the lake already holds as listed (the same `end_time` in
//!    `recordings.posthog_metadata`, see [`Landed`]) are passed over without a single request,
//!    however old the window: the checkpoint only bounds the listing.
//! 3. Up to `concurrency` recordings are fetched at once, all through one rate limiter: the
//!    sources list, then `blob_v2` in ranges of at most 20 keys, or `blob_v2_lts`. With
//!    `keep_raw` each body is also stored as received under `_raw/<session>/`.
//! 4. Decoding is CPU work and runs on the blocking pool: each body through
//!    [`crate::source::decode_bytes`], the fragments merged ([`Session::absorb`]), ordered
//!    ([`Session::finish`]), the list's metadata attached, flattened
//!    ([`crate::convert::flatten_session`]).
//! 5. One writer (the calling thread) adds sessions to the [`LakeWriter`]; every
//!    `checkpoint_every` sessions (or 30 s) it flushes the lake and only then records the sessions
//!    in the checkpoint, so what the checkpoint calls done is always in the lake.
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

mod supervise;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutPayload};
use serde::Serialize;
use tokio::runtime::Handle;

use crate::convert::flatten_session;
use crate::decode::{DecodeOptions, Reject, Session};
use crate::error::{Error, Result};
use crate::sink::commit::{Added, FlatSession};
use crate::sink::landed::Landed;
use crate::sink::{Lake, LakeWriter, SinkOptions, SinkStats};
use crate::source::decode_bytes;
use crate::source::posthog::client::key_ranges;
use crate::source::posthog::state::{self, Done, Pending, PullState, Skipped, Window};
use crate::source::posthog::{
    ApiKey, BodyFormat, Client, ClientConfig, ClientStats, ListWindow, Rate, RateLimiter,
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

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// What is known of the recordings a run lists: whether fetching one can be passed over.
struct Known {
    /// The lake's pulled recordings, with the end time they were listed with.
    landed: Landed,
    /// The checkpoint's recent `done`: the end time fetched, and whether it landed any rows.
    checkpoint: HashMap<String, (Option<String>, bool)>,
}

impl Known {
    /// The recording is in the lake as listed now. The lake decides, whatever the window's age;
    /// the checkpoint adds what the lake cannot show: recordings that landed no rows, and
    /// recordings whose refetch found the lake's version unchanged under a new end time.
    fn unchanged(&self, r: &Recording) -> bool {
        if self.landed.unchanged(&r.id, r.end_time.as_deref()) {
            return true;
        }
        match self.checkpoint.get(&r.id) {
            Some((end, rows)) if end == &r.end_time => !rows || self.landed.contains(&r.id),
            _ => false,
        }
    }

    fn seen(&self, session_id: &str) -> bool {
        self.landed.contains(session_id) || self.checkpoint.contains_key(session_id)
    }
}

/// What a fetch task hands the writer.
enum Msg {
    Fetched(Box<FetchedRecording>),
    Skipped {
        rec: Recording,
        status: u16,
    },
    Pending {
        rec: Recording,
        sources: Vec<String>,
    },
    Failed(Error),
    /// The listing reached its end and every fetch was handed over.
    End,
}

/// What fetching one recording came to.
enum Fetch {
    Bodies(Bodies),
    /// 404/410.
    Gone(u16),
    /// No blob_v2/blob_v2_lts source yet: the sources that were listed.
    NotYet(Vec<String>),
}

/// What the checkpoint records of a recording.
enum Settled {
    Done(Done),
    Skipped(Skipped),
    Pending(Pending),
}

struct FetchedRecording {
    rec: Recording,
    flat: Option<FlatSession>,
    rejects: Vec<(String, String, Vec<Reject>)>,
    events: u64,
    dups: u64,
}

struct Ctx {
    client: Arc<Client>,
    lake: Lake,
    keep_raw: bool,
    progress: Arc<PullProgress>,
    now_ms: i64,
    raw_files: AtomicU64,
    decode: DecodeOptions,
}

fn safe_segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn is_text(body: &[u8]) -> bool {
    matches!(
        body.iter().copied().find(|b| !b.is_ascii_whitespace()),
        Some(b'[') | Some(b'{') | None
    )
}

async fn keep_raw(ctx: &Ctx, sid: &str, name: &str, body: &Bytes) -> Result<()> {
    let rel = format!("_raw/{}/{name}", safe_segment(sid));
    let p = ctx.lake.path(&rel);
    let mut last = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        match ctx.lake.store.put(&p, PutPayload::from(body.clone())).await {
            Ok(_) => {
                ctx.raw_files.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(Error::store(rel, e)),
        None => Ok(()),
    }
}

/// Fetches one recording's sources and blobs, then decodes it on the blocking pool.
async fn fetch_recording(ctx: Arc<Ctx>, rec: Recording) -> Msg {
    match fetch_inner(&ctx, &rec).await {
        Ok(Fetch::Bodies(bodies)) => {
            let (now_ms, decode) = (ctx.now_ms, ctx.decode.clone());
            let task = format!("decoding recording {}", rec.id);
            let res =
                tokio::task::spawn_blocking(move || decode_recording(rec, bodies, &decode, now_ms))
                    .await;
            match res {
                Ok(Ok(f)) => Msg::Fetched(Box::new(f)),
                Ok(Err(e)) => Msg::Failed(e),
                Err(e) => Msg::Failed(supervise::task_failed(task, e)),
            }
        }
        Ok(Fetch::Gone(status)) => Msg::Skipped { rec, status },
        Ok(Fetch::NotYet(sources)) => Msg::Pending { rec, sources },
        Err(e) => Msg::Failed(e),
    }
}

type Bodies = Vec<(String, Bytes)>;

async fn fetch_inner(ctx: &Ctx, rec: &Recording) -> Result<Fetch> {
    let sid = rec.id.as_str();
    let sources = match ctx.client.sources(sid).await? {
        Ok(s) => s,
        Err(status) => return Ok(Fetch::Gone(status)),
    };
    let mut keys: Vec<u64> = Vec::new();
    let mut lts: Vec<String> = Vec::new();
    let mut other = 0;
    for s in &sources {
        match (s.source.as_str(), s.blob_key.as_deref()) {
            ("blob_v2", Some(k)) => match k.trim().parse::<u64>() {
                Ok(k) => keys.push(k),
                Err(_) => {
                    return Err(crate::source::posthog::ApiError::BadResponse {
                        path: format!("session_recordings/{sid}/snapshots"),
                        message: format!("blob_v2 source with a non-integer blob_key {k:?}"),
                    }
                    .into());
                }
            },
            ("blob_v2_lts", Some(k)) => lts.push(k.to_string()),
            _ => other += 1,
        }
    }
    if keys.is_empty() && lts.is_empty() {
        let names: Vec<String> = sources.iter().map(|s| s.source.clone()).collect();
        tracing::warn!(session = sid, sources = %names.join(","), "no blob sources yet (not flushed?): pending, a later run fetches it");
        return Ok(Fetch::NotYet(names));
    }
    if other > 0 {
        tracing::warn!(
            session = sid,
            sources = other,
            "sources other than blob_v2/blob_v2_lts (legacy blob/realtime) are not fetched"
        );
    }
    keys.sort_unstable();
    keys.dedup();
    let stem = safe_segment(sid);
    let mut bodies = Vec::new();
    for (a, b) in key_ranges(&keys) {
        let f = match ctx.client.blob_v2(sid, a, b).await? {
            Ok(f) => f,
            Err(status) => return Ok(Fetch::Gone(status)),
        };
        let ext = if is_text(&f.body) { "jsonl" } else { "snappy" };
        let name = format!("{stem}.blob_v2-{a}-{b}.{ext}");
        ctx.progress.blobs.fetch_add(b - a + 1, Ordering::Relaxed);
        if ctx.keep_raw {
            keep_raw(ctx, sid, &name, &f.body).await?;
        }
        bodies.push((name, f.body));
    }
    for (i, k) in lts.iter().enumerate() {
        let f = match ctx.client.blob_v2_lts(sid, k).await? {
            Ok(f) => f,
            Err(status) => return Ok(Fetch::Gone(status)),
        };
        let ext = if is_text(&f.body) { "jsonl" } else { "snappy" };
        let name = if i == 0 {
            format!("{stem}.blob_v2_lts.{ext}")
        } else {
            format!("{stem}.blob_v2_lts-{i}.{ext}")
        };
        ctx.progress.blobs.fetch_add(1, Ordering::Relaxed);
        if ctx.keep_raw {
            keep_raw(ctx, sid, &name, &f.body).await?;
        }
        bodies.push((name, f.body));
    }
    Ok(Fetch::Bodies(bodies))
}

/// Decodes a recording's bodies into one flattened session with the list's metadata.
fn decode_recording(
    rec: Recording,
    bodies: Bodies,
    opts: &DecodeOptions,
    now_ms: i64,
) -> Result<FetchedRecording> {
    let mut merged: Option<Session> = None;
    let mut rejects = Vec::new();
    for (name, body) in bodies {
        let mut d = decode_bytes(&name, &body, opts);
        for mut s in std::mem::take(&mut d.sessions) {
            if s.session_id != rec.id {
                tracing::debug!(session = %rec.id, found = %s.session_id, "body names another session id; using the recording's");
                s.session_id = rec.id.clone();
            }
            match &mut merged {
                Some(m) => m.absorb(s),
                None => merged = Some(s),
            }
        }
        if !d.rejects.is_empty() {
            rejects.push((d.file, d.fingerprint, d.rejects));
        }
    }
    let Some(mut m) = merged else {
        return Ok(FetchedRecording {
            rec,
            flat: None,
            rejects,
            events: 0,
            dups: 0,
        });
    };
    if rec.distinct_id.is_some() {
        m.meta.distinct_id = rec.distinct_id.clone();
    }
    if rec.person.is_some() {
        m.meta.person = rec.person.clone();
    }
    m.meta.posthog_metadata = Some(rec.raw.clone());
    let o = m.finish();
    let (events, dups) = (o.events.len() as u64, o.duplicates_dropped);
    let flat = flatten_session(o, now_ms)?;
    Ok(FetchedRecording {
        rec,
        flat,
        rejects,
        events,
        dups,
    })
}

/// Runs a pull. Call it from a thread outside the runtime `rt` (the lake writer blocks on it).
pub fn pull(
    opts: &PullOptions,
    lake: Lake,
    rt: Handle,
    progress: Arc<PullProgress>,
) -> Result<PullSummary> {
    let started = Instant::now();
    let limiter = Arc::new(RateLimiter::new(opts.rates.clone()));
    let client = Arc::new(
        Client::new(
            &ClientConfig {
                host: opts.host.clone(),
                project: opts.project.clone(),
                api_key: opts.api_key.clone(),
                retry: opts.retry.clone(),
                request_timeout: opts.request_timeout,
                connect_timeout: Duration::from_secs(10).min(opts.request_timeout),
                body: opts.body,
                max_body: opts.max_body,
            },
            limiter.clone(),
        )?
        .with_stats(progress.http.clone()),
    );
    let host_norm = crate::source::posthog::client::parse_host(&opts.host)?.to_string();
    let state_rel = state::state_rel_path(&host_norm, &opts.project, opts.shard);
    let mut st = if opts.full_refresh {
        None
    } else {
        rt.block_on(state::load(&lake, &state_rel))?
    }
    .unwrap_or_else(|| PullState::new(&host_norm, &opts.project, opts.shard));

    // The window.
    let now = Utc::now();
    let lag = chrono::Duration::from_std(opts.lag).unwrap_or_default();
    let explicit = opts.since.is_some() || opts.until.is_some();
    let until = opts.until.unwrap_or(now - lag);
    let since = match opts.since {
        Some(s) => s,
        None => st
            .window
            .as_ref()
            .and_then(|w| parse_time(&w.since))
            .or_else(|| st.watermark.as_deref().and_then(parse_time))
            .unwrap_or_else(|| {
                until - chrono::Duration::from_std(opts.default_lookback).unwrap_or_default()
            }),
    };
    let mut summary = PullSummary {
        dry_run: opts.dry_run,
        since: rfc3339(since),
        until: rfc3339(until),
        state_file: state_rel.clone(),
        rate_limit: opts
            .rates
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        shard: opts.shard.map(|(i, n)| format!("{i}/{n}")),
        watermark: st.watermark.clone(),
        ..Default::default()
    };
    if opts.since.is_some() && opts.until.is_none() && since >= until {
        return Err(Error::Usage(format!(
            "--since {} is not before the default --until, now minus --lag ({}): the window is \
             empty (give an earlier --since, or a shorter --lag)",
            summary.since, summary.until
        )));
    }
    if since >= until {
        tracing::info!(since = %summary.since, until = %summary.until, "empty window: nothing to pull");
        summary.elapsed_seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let window = ListWindow {
        date_from: summary.since.clone(),
        date_to: summary.until.clone(),
        limit: opts.page_size.max(1),
    };
    let skipped_before: Arc<HashSet<String>> = Arc::new(st.skipped.keys().cloned().collect());
    let counters = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    // pending recordings of earlier runs that this listing returns again
    let was_pending: Arc<HashSet<String>> = Arc::new(st.pending.keys().cloned().collect());
    let relisted: Arc<Mutex<HashSet<String>>> = Arc::default();
    let make_filter = |landed: Landed| {
        let known = Known {
            landed,
            checkpoint: st
                .done
                .iter()
                .map(|(k, v)| (k.clone(), (v.end_time.clone(), v.checksum.is_some())))
                .collect(),
        };
        let skipped_before = skipped_before.clone();
        let (was_pending, relisted) = (was_pending.clone(), relisted.clone());
        let counters = counters.clone();
        let progress = progress.clone();
        let shard = opts.shard;
        move |r: &Recording| -> bool {
            progress.listed.fetch_add(1, Ordering::Relaxed);
            if was_pending.contains(&r.id) {
                relisted
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(r.id.clone());
            }
            if !in_shard(&r.id, shard) {
                counters.0.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            if skipped_before.contains(&r.id) || known.unchanged(r) {
                counters.1.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            if known.seen(&r.id) {
                tracing::info!(session = %r.id, "recording changed since it was pulled; fetching it again");
            }
            progress.to_fetch.fetch_add(1, Ordering::Relaxed);
            true
        }
    };

    if opts.dry_run {
        let keep = make_filter(landed(opts, &lake, &rt)?);
        let listing = client.list_recordings(window);
        let recs: Vec<Recording> = rt.block_on(async move {
            listing
                .map_ok(|page| {
                    futures::stream::iter(
                        page.into_iter()
                            .map(Ok::<Recording, crate::source::posthog::ApiError>),
                    )
                })
                .try_flatten()
                .try_filter(|r| futures::future::ready(keep(r)))
                .try_collect()
                .await
        })?;
        summary.listed = progress.listed.load(Ordering::Relaxed);
        summary.not_in_shard = counters.0.load(Ordering::Relaxed);
        summary.already_done = counters.1.load(Ordering::Relaxed);
        // per recording: the sources list and at least one blob call (one per 20 blob keys)
        let calls = recs.len() as u64 * 2;
        summary.estimated_calls = Some(calls);
        summary.estimated_seconds = Some(limiter.estimate(calls).as_secs_f64());
        fill_http(&mut summary, &progress);
        summary.fetched = 0;
        summary.skipped = vec![];
        summary.elapsed_seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            recordings = recs.len(),
            "dry run: nothing fetched or written"
        );
        return Ok(summary);
    }

    let mut writer = LakeWriter::open(lake.clone(), opts.sink.clone(), rt.clone())?;
    // after the writer's recovery, which may roll back files of an interrupted commit
    let keep = make_filter(landed(opts, &lake, &rt)?);
    if !explicit {
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
    let concurrency = opts.concurrency.max(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(concurrency * 2);
    let producer = {
        let ctx = ctx.clone();
        let listing = client.list_recordings(window);
        rt.spawn(async move {
            let fetches = listing
                .map_ok(|page| {
                    futures::stream::iter(
                        page.into_iter()
                            .map(Ok::<Recording, crate::source::posthog::ApiError>),
                    )
                })
                .try_flatten()
                .try_filter(move |r| futures::future::ready(keep(r)))
                .map(
                    |r: std::result::Result<Recording, crate::source::posthog::ApiError>| {
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
                    },
                )
                .buffer_unordered(concurrency);
            futures::pin_mut!(fetches);
            while let Some(m) = fetches.next().await {
                let failed = matches!(m, Msg::Failed(_));
                if tx.send(m).await.is_err() || failed {
                    return;
                }
            }
            let _ = tx.send(Msg::End).await;
        })
    };

    let mut pending: Vec<(String, Settled)> = Vec::new();
    let mut last_ckpt = Instant::now();
    let mut failure: Option<Error> = None;
    let mut ended = false;
    let ckpt_every = opts.checkpoint_every.max(1);
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            Msg::End => {
                ended = true;
                break;
            }
            Msg::Failed(e) => {
                failure = Some(e);
                break;
            }
            Msg::Pending { rec, sources } => {
                progress.done.fetch_add(1, Ordering::Relaxed);
                summary.pending.push(PendingRecording {
                    session_id: rec.id.clone(),
                    sources: sources.clone(),
                });
                let since = st
                    .pending
                    .get(&rec.id)
                    .map(|p| p.since.clone())
                    .unwrap_or_else(|| rfc3339(Utc::now()));
                let p = Pending {
                    start_time: rec.start_time,
                    sources,
                    since,
                };
                pending.push((rec.id, Settled::Pending(p)));
            }
            Msg::Skipped { rec, status } => {
                progress.skipped.fetch_add(1, Ordering::Relaxed);
                progress.done.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(session = %rec.id, status, "recording skipped (deleted or not found)");
                summary.skipped.push(SkippedRecording {
                    session_id: rec.id.clone(),
                    status,
                });
                let skipped = Skipped {
                    status,
                    at: rfc3339(Utc::now()),
                    start_time: rec.start_time,
                };
                pending.push((rec.id, Settled::Skipped(skipped)));
            }
            Msg::Fetched(f) => {
                let f = *f;
                for (name, fp, rejects) in &f.rejects {
                    summary.rejected += rejects.len() as u64;
                    for r in rejects.iter().take(3) {
                        tracing::warn!(session = %f.rec.id, file = %r.file, line = r.line, reason = %r.reason, "record rejected");
                    }
                    if let Err(e) = writer.write_rejects(name, fp, rejects) {
                        failure = Some(e);
                        break;
                    }
                }
                if failure.is_some() {
                    break;
                }
                summary.fetched += 1;
                let checksum = f.flat.as_ref().map(|s| s.checksum.clone());
                match f.flat {
                    None => summary.empty += 1,
                    Some(flat) => match writer.add(flat) {
                        Ok(Added::SeenInThisRun) => {
                            tracing::debug!(session = %f.rec.id, "listed twice in this run; the first copy stands")
                        }
                        Ok(_) => {
                            summary.events += f.events;
                            summary.duplicates_dropped += f.dups;
                        }
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    },
                }
                progress.done.fetch_add(1, Ordering::Relaxed);
                let done = Done {
                    start_time: f.rec.start_time,
                    end_time: f.rec.end_time,
                    checksum,
                };
                pending.push((f.rec.id, Settled::Done(done)));
            }
        }
        if pending.len() >= ckpt_every || last_ckpt.elapsed() >= Duration::from_secs(30) {
            if let Err(e) = checkpoint(&mut writer, &mut st, &mut pending, &lake, &state_rel, &rt) {
                failure = Some(e);
                break;
            }
            last_ckpt = Instant::now();
        }
    }
    drop(rx);
    if failure.is_none() && !ended {
        // the channel closed without `End`: the producer panicked
        failure = Some(supervise::stopped_early(rt.block_on(producer)));
    } else {
        producer.abort();
        let _ = rt.block_on(producer);
    }

    // Whatever happened, what landed is recorded.
    let saved = checkpoint(&mut writer, &mut st, &mut pending, &lake, &state_rel, &rt);
    fill_http(&mut summary, &progress);
    summary.raw_files = ctx.raw_files.load(Ordering::Relaxed);
    summary.listed = progress.listed.load(Ordering::Relaxed);
    summary.not_in_shard = counters.0.load(Ordering::Relaxed);
    summary.already_done = counters.1.load(Ordering::Relaxed);
    if let Some(e) = failure {
        tracing::error!(
            landed = st.done.len(),
            "pull stopped; rerun to continue where it stopped"
        );
        return Err(e);
    }
    saved?;

    // The window is complete: move the watermark if it joins up with the previous one.
    let joins = st
        .watermark
        .as_deref()
        .and_then(parse_time)
        .is_none_or(|w| since <= w);
    // never in the future: recordings may still start before an --until that has not come yet
    let reached = until.min(now);
    if joins
        && st
            .watermark
            .as_deref()
            .and_then(parse_time)
            .is_none_or(|w| reached > w)
    {
        st.watermark = Some(rfc3339(reached));
    }
    settle_pending(&mut st, (since, until), &was_pending, &relisted);
    if !explicit {
        st.window = None;
    }
    if let Some(w) = st.watermark.as_deref().and_then(parse_time) {
        // The checkpoint remembers sessions for `state_retention` before the watermark (recordings
        // without rows, which the lake cannot show); older ones go, to keep it small. Whether a
        // recording with rows must be fetched again, the lake itself says.
        let keep_from = w - chrono::Duration::from_std(opts.state_retention).unwrap_or_default();
        let old = |t: &Option<String>| {
            t.as_deref()
                .and_then(parse_time)
                .is_some_and(|t| t < keep_from)
        };
        st.done.retain(|_, d| !old(&d.start_time));
        st.skipped.retain(|_, s| !old(&s.start_time));
    }
    st.runs += 1;
    rt.block_on(state::save(&lake, &state_rel, &mut st))?;
    summary.watermark = st.watermark.clone();
    summary.elapsed_seconds = started.elapsed().as_secs_f64();
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
    summary.sink = writer.finish(&brief)?;
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

fn fill_http(s: &mut PullSummary, p: &PullProgress) {
    s.blobs = p.blobs.load(Ordering::Relaxed);
    s.bytes = p.http.bytes.load(Ordering::Relaxed);
    s.api_calls = p.http.requests.load(Ordering::Relaxed);
    s.retries = p.http.retries.load(Ordering::Relaxed);
    s.throttled = p.http.throttled.load(Ordering::Relaxed);
    s.rate_wait_seconds = p.http.wait_ms.load(Ordering::Relaxed) as f64 / 1000.0;
}

/// After a complete run: pending recordings hold the watermark at the earliest one's start, and
/// those of earlier runs that a complete listing of their window did not return are dropped.
fn settle_pending(
    st: &mut PullState,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    was_pending: &HashSet<String>,
    relisted: &Mutex<HashSet<String>>,
) {
    let relisted = relisted.lock().unwrap_or_else(|e| e.into_inner());
    st.pending.retain(|sid, p| {
        let start = p.start_time.as_deref().and_then(parse_time);
        let covered = start.is_some_and(|t| since <= t && t <= until);
        if covered && was_pending.contains(sid) && !relisted.contains(sid) {
            tracing::warn!(session = %sid, "a pending recording is no longer listed; dropped");
            return false;
        }
        true
    });
    let hold = st
        .pending
        .values()
        .filter_map(|p| p.start_time.as_deref().and_then(parse_time))
        .min();
    let w = st.watermark.as_deref().and_then(parse_time);
    if let (Some(h), Some(w)) = (hold, w) {
        if h < w {
            tracing::info!(watermark = %rfc3339(h), "the watermark waits for pending recordings");
            st.watermark = Some(rfc3339(h));
        }
    }
}

/// Flushes the lake, then records `pending` in the checkpoint.
fn checkpoint(
    writer: &mut LakeWriter,
    st: &mut PullState,
    pending: &mut Vec<(String, Settled)>,
    lake: &Lake,
    rel: &str,
    rt: &Handle,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    writer.flush()?;
    for (sid, settled) in pending.drain(..) {
        match settled {
            Settled::Done(d) => {
                st.skipped.remove(&sid);
                st.pending.remove(&sid);
                st.done.insert(sid, d);
            }
            Settled::Skipped(s) => {
                st.pending.remove(&sid);
                st.skipped.insert(sid, s);
            }
            Settled::Pending(p) => {
                st.done.remove(&sid);
                st.pending.insert(sid, p);
            }
        }
    }
    rt.block_on(state::save(lake, rel, st))?;
    tracing::debug!(location = rel, done = st.done.len(), "checkpoint written");
    Ok(())
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
