//! The HTTP client: every request goes through the shared [`RateLimiter`] and the retry loop; the
//! key is sent only as a sensitive `Authorization: Bearer` header.
//!
//! Paths: `/api/environments/{id}/session_recordings/…`, falling back to the legacy
//! `/api/projects/{id}/…` when the first list call gets a 404. Pages are a `Stream` (offset +
//! `has_next`, or `next_cursor` passed back as `after` when the server sends one) that must make
//! progress ([`super::paging`]); bodies are read under a cap ([`super::body`]).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use url::Url;

use super::body::{BodyError, mib, read_capped, read_prefix};
use super::models::{ListPage, Recording, Source, SourcesResponse};
use super::paging;
use super::ratelimit::RateLimiter;
use super::retry::{
    Backoff, RetryAfter, RetryConfig, retry_after, retryable_error, retryable_status,
};
use super::{ApiError, ApiKey};

/// Which body PostHog sends for blob sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BodyFormat {
    /// `decompress=true` (PostHog's default): plain JSONL.
    #[default]
    Jsonl,
    /// `decompress=false`: length-prefixed raw snappy blocks (a single block for blob_v2_lts);
    /// smaller on the wire.
    Snappy,
}

/// Settings of a [`Client`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://us.posthog.com`, `https://eu.posthog.com` or a self-hosted URL.
    pub host: String,
    /// Project (environment/team) id.
    pub project: String,
    pub api_key: ApiKey,
    pub retry: RetryConfig,
    /// Whole-request timeout (connect, headers and body).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    pub body: BodyFormat,
    /// Largest response body, in bytes after decompression.
    pub max_body: u64,
}

/// Default of [`ClientConfig::max_body`]: 1 GiB. A blob_v2 range is at most 20 blocks, each
/// a flush of PostHog's session recorder (messages are split above ≈ 6.3 MB); decompressed JSONL
/// of 20 large blocks stays well below this.
pub const DEFAULT_MAX_BODY: u64 = 1 << 30;

/// Counters of what the client did (read by the progress bar).
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    pub bytes: AtomicU64,
    /// Milliseconds spent waiting on the rate limiter (including 429 pauses).
    pub wait_ms: AtomicU64,
}

/// A successful body.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Bytes,
    pub content_type: Option<String>,
}

/// A GET's outcome: the body, or 404/410 (the recording or block is gone).
#[derive(Debug)]
pub enum Outcome {
    Ok(Fetched),
    Gone { status: u16, message: String },
}

/// How a body is checked before it is accepted (a failed check is retried like a reset).
#[derive(Debug, Clone, Copy)]
enum Check {
    Json,
    Blob,
}

/// What one request came to.
enum Attempt {
    Done(Outcome),
    Retry(Retry),
}

/// A failure worth another try.
struct Retry {
    /// What went wrong (redacted), for the log and the final error.
    failure: String,
    /// How long to wait before the next try; `None`: the backoff's next wait.
    wait: Option<Duration>,
    /// The host could not be reached at all (refused, unknown name).
    unreachable: bool,
}

/// The end of the retries: an [`ApiError::GaveUp`] once the elapsed time is known.
struct GiveUp {
    host: String,
    unreachable: bool,
    path: String,
    attempts: u32,
    message: String,
}

impl GiveUp {
    fn at(self, elapsed: Duration) -> ApiError {
        ApiError::GaveUp {
            host: self.host,
            unreachable: self.unreachable,
            path: self.path,
            attempts: self.attempts,
            elapsed_s: elapsed.as_secs_f64(),
            message: self.message,
        }
    }
}

/// A PostHog API client for one project.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    project: String,
    auth: HeaderValue,
    key: ApiKey,
    limiter: Arc<RateLimiter>,
    retry: RetryConfig,
    body: BodyFormat,
    max_body: u64,
    /// `environments` until the first list call says 404, then `projects`.
    prefix: Mutex<&'static str>,
    stats: Arc<ClientStats>,
}

const MAX_BLOB_KEYS: u64 = 20;

/// Validates a host URL (scheme http(s), no credentials, no query).
pub fn parse_host(host: &str) -> Result<Url, ApiError> {
    let bad = |m: &str| ApiError::BadHost {
        host: host.to_string(),
        message: m.to_string(),
    };
    let mut u = Url::parse(host.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad("the scheme must be https:// (or http://)"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(bad("credentials in the URL are not accepted"));
    }
    if u.query().is_some() {
        return Err(bad("a query string is not accepted"));
    }
    let path = u.path().trim_end_matches('/').to_string();
    u.set_path(&path);
    Ok(u)
}

impl Client {
    pub fn new(cfg: &ClientConfig, limiter: Arc<RateLimiter>) -> Result<Client, ApiError> {
        let base = parse_host(&cfg.host)?;
        if cfg.project.is_empty()
            || !cfg
                .project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ApiError::BadHost {
                host: cfg.host.clone(),
                message: format!("invalid project id {:?}", cfg.project),
            });
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", cfg.api_key.expose()))
            .map_err(|_| ApiError::Client("the API key contains invalid characters".into()))?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(concat!("replaylake/", env!("CARGO_PKG_VERSION")))
            .timeout(cfg.request_timeout)
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ApiError::Client(e.without_url().to_string()))?;
        Ok(Client {
            http,
            base,
            project: cfg.project.clone(),
            auth,
            key: cfg.api_key.clone(),
            limiter,
            retry: cfg.retry.clone(),
            body: cfg.body,
            max_body: cfg.max_body,
            prefix: Mutex::new("environments"),
            stats: Arc::new(ClientStats::default()),
        })
    }

    /// Counts into `stats` (e.g. one the caller's progress display reads).
    pub fn with_stats(mut self, stats: Arc<ClientStats>) -> Self {
        self.stats = stats;
        self
    }

    pub fn stats(&self) -> Arc<ClientStats> {
        self.stats.clone()
    }

    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    fn prefix(&self) -> &'static str {
        *self.prefix.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `/api/{environments|projects}/{id}/session_recordings/`
    fn recordings_path(&self) -> String {
        format!(
            "/api/{}/{}/session_recordings/",
            self.prefix(),
            self.project
        )
    }

    fn snapshots_path(&self, session_id: &str) -> String {
        let sid: String = url::form_urlencoded::byte_serialize(session_id.as_bytes()).collect();
        format!("{}{sid}/snapshots", self.recordings_path())
    }

    /// GET `path_and_query` (relative to the host) with rate limiting, retries and body checks.
    async fn get(&self, path: &str, check: Check) -> Result<Outcome, ApiError> {
        let url = format!("{}{}", self.base.as_str().trim_end_matches('/'), path);
        let started = Instant::now();
        let mut backoff = Backoff::new(&self.retry.backoff);
        let mut attempts = 0u32;
        loop {
            let waited = self.limiter.acquire().await;
            self.stats
                .wait_ms
                .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
            attempts += 1;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            tracing::info!(path, attempt = attempts, "GET");
            let retry = match self.attempt(&url, path, check, &mut backoff).await? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Retry(retry) => retry,
            };
            let wait = retry.wait.unwrap_or_else(|| backoff.next_wait());
            let elapsed = started.elapsed();
            self.give_up_or_count(path, &retry, attempts, elapsed + wait)
                .map_err(|e| e.at(elapsed))?;
            tracing::warn!(path, attempt = attempts, wait_ms = wait.as_millis() as u64, failure = %retry.failure, "retrying");
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// One request: its outcome, a failure to retry, or an error that ends the GET.
    async fn attempt(
        &self,
        url: &str,
        path: &str,
        check: Check,
        backoff: &mut Backoff,
    ) -> Result<Attempt, ApiError> {
        let sent = self
            .http
            .get(url)
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await;
        match sent {
            Err(e) if retryable_error(&e) => Ok(Attempt::Retry(Retry {
                failure: self.redact_err(&e),
                wait: None,
                unreachable: super::retry::unreachable(&e),
            })),
            Err(e) => Err(ApiError::BadResponse {
                path: path.to_string(),
                message: self.redact_err(&e),
            }),
            Ok(resp) if resp.status().is_success() => self.success(resp, path, check).await,
            Ok(resp) => self.failure(resp, path, backoff).await,
        }
    }

    /// A 2xx: the body, read under the cap and checked; a body cut off or failing its check is
    /// retried like a reset.
    async fn success(
        &self,
        resp: reqwest::Response,
        path: &str,
        check: Check,
    ) -> Result<Attempt, ApiError> {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let failure = match read_capped(resp, self.max_body).await {
            Err(BodyError::TooLarge { seen }) => {
                return Err(ApiError::TooLarge {
                    path: path.to_string(),
                    seen: mib(seen),
                    cap: mib(self.max_body),
                });
            }
            Err(BodyError::Transport(e)) => {
                format!("HTTP {status}: body cut off: {}", self.redact_err(&e))
            }
            Ok(body) => match check_body(check, &body) {
                Ok(()) => {
                    self.stats
                        .bytes
                        .fetch_add(body.len() as u64, Ordering::Relaxed);
                    return Ok(Attempt::Done(Outcome::Ok(Fetched { body, content_type })));
                }
                Err(m) => format!("HTTP {status}: {m}"),
            },
        };
        Ok(Attempt::Retry(Retry {
            failure,
            wait: None,
            unreachable: false,
        }))
    }

    /// A non-2xx: 404/410 is an outcome, 401/403 and other client errors end the GET, 429 pauses
    /// every worker for its Retry-After, 5xx is retried.
    async fn failure(
        &self,
        resp: reqwest::Response,
        path: &str,
        backoff: &mut Backoff,
    ) -> Result<Attempt, ApiError> {
        let status = resp.status();
        let headers = resp.headers().clone();
        let message = self.error_message(resp).await;
        let code = status.as_u16();
        match status {
            StatusCode::NOT_FOUND | StatusCode::GONE => {
                return Ok(Attempt::Done(Outcome::Gone {
                    status: code,
                    message,
                }));
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(ApiError::Auth {
                    path: path.to_string(),
                    status: code,
                    message,
                });
            }
            s if !retryable_status(s) => {
                return Err(ApiError::Status {
                    path: path.to_string(),
                    status: code,
                    message,
                });
            }
            _ => {}
        }
        let mut wait = None;
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            let cap = self.retry.max_retry_after;
            let pause = match retry_after(&headers, cap) {
                RetryAfter::Wait(d) => d,
                RetryAfter::Unusable => backoff.next_wait(),
                RetryAfter::TooLong(value) => {
                    return Err(ApiError::RetryAfterTooLong {
                        path: path.to_string(),
                        value: self.key.redact(&value),
                        cap_s: cap.as_secs_f64(),
                    });
                }
            };
            // every worker waits, not only this one
            self.limiter.pause_until(Instant::now() + pause);
            wait = Some(Duration::ZERO);
        }
        Ok(Attempt::Retry(Retry {
            failure: format!("HTTP {code}: {message}"),
            wait,
            unreachable: false,
        }))
    }

    /// Counts a retry, or gives up: after the retries allowed, or when waiting would pass the
    /// retry timeout. A refused connection or an unknown name is a wrong host far more often
    /// than a passing outage: two more tries, not ten.
    fn give_up_or_count(
        &self,
        path: &str,
        retry: &Retry,
        attempts: u32,
        after_wait: Duration,
    ) -> Result<(), GiveUp> {
        let max_retries = if retry.unreachable {
            self.retry
                .max_retries
                .min(super::retry::UNREACHABLE_RETRIES)
        } else {
            self.retry.max_retries
        };
        if attempts > max_retries || after_wait > self.retry.retry_timeout {
            return Err(GiveUp {
                host: self.base.as_str().trim_end_matches('/').to_string(),
                unreachable: retry.unreachable,
                path: path.to_string(),
                attempts,
                message: retry.failure.clone(),
            });
        }
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn redact_err(&self, e: &reqwest::Error) -> String {
        // the URL holds no key, but keep errors to our own path: drop reqwest's copy of it
        let mut s = String::new();
        let mut cur: Option<&dyn std::error::Error> = Some(e);
        let mut first = true;
        while let Some(err) = cur {
            let text = if first {
                reqwest_kind(e)
            } else {
                err.to_string()
            };
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&text);
            first = false;
            cur = err.source();
        }
        self.key.redact(&s)
    }

    async fn error_message(&self, resp: reqwest::Response) -> String {
        let body = read_prefix(resp, 300).await;
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let text = text.trim().replace(['\n', '\r'], " ");
        self.key.redact(if text.is_empty() {
            "(empty body)"
        } else {
            &text
        })
    }

    /// One page of the list.
    pub async fn list_page(
        &self,
        window: &ListWindow,
        pos: &PagePos,
    ) -> Result<(ListPage, String), ApiError> {
        loop {
            let query = {
                let mut q = url::form_urlencoded::Serializer::new(String::new());
                q.append_pair("date_from", &window.date_from);
                q.append_pair("date_to", &window.date_to);
                q.append_pair("limit", &window.limit.to_string());
                match pos {
                    PagePos::Offset(o) => {
                        q.append_pair("offset", &o.to_string());
                    }
                    PagePos::After(c) => {
                        q.append_pair("after", c);
                    }
                }
                q.finish()
            };
            let path = format!("{}?{query}", self.recordings_path());
            match self.get(&path, Check::Json).await? {
                Outcome::Ok(f) => {
                    let page: ListPage =
                        serde_json::from_slice(&f.body).map_err(|e| ApiError::BadResponse {
                            path: path.clone(),
                            message: format!(
                                "not a recordings list ({{\"results\",\"has_next\"}}): {e}"
                            ),
                        })?;
                    return Ok((page, path));
                }
                Outcome::Gone { status, message } => {
                    let mut p = self.prefix.lock().unwrap_or_else(|e| e.into_inner());
                    if status == 404 && *p == "environments" {
                        tracing::info!(
                            "{path} answered 404; falling back to the legacy /api/projects/ path"
                        );
                        *p = "projects";
                        continue;
                    }
                    return Err(ApiError::Status {
                        path,
                        status,
                        message,
                    });
                }
            }
        }
    }

    /// Every recording in the window, page by page (a `Stream` over `Start | Next | Done`).
    pub fn list_recordings(
        self: &Arc<Self>,
        window: ListWindow,
    ) -> impl Stream<Item = Result<Vec<Recording>, ApiError>> + Send + 'static {
        enum St {
            Next(PagePos),
            Done,
        }
        let client = self.clone();
        let seen = paging::Progress::default();
        futures::stream::unfold(
            (St::Next(PagePos::Offset(0)), client, window, seen),
            |(st, client, window, mut seen)| async move {
                let pos = match st {
                    St::Done => return None,
                    St::Next(p) => p,
                };
                match client.list_page(&window, &pos).await {
                    Err(e) => Some((Err(e), (St::Done, client, window, seen))),
                    Ok((page, path)) => {
                        let n = page.results.len() as u64;
                        let mut recs = Vec::with_capacity(page.results.len());
                        for v in &page.results {
                            match Recording::from_value(v) {
                                Some(r) => recs.push(r),
                                None => {
                                    tracing::warn!(path, "a list result without an id; ignored")
                                }
                            }
                        }
                        let cursor = page.next_cursor.filter(|c| !c.is_empty());
                        let ids = recs.iter().map(|r| r.id.as_str());
                        if let Err(message) = seen.page(ids, page.has_next, cursor.as_deref()) {
                            let e = ApiError::NoProgress { path, message };
                            return Some((Err(e), (St::Done, client, window, seen)));
                        }
                        let next = if !page.has_next || n == 0 {
                            St::Done
                        } else if let Some(c) = cursor {
                            St::Next(PagePos::After(c))
                        } else {
                            let o = match pos {
                                PagePos::Offset(o) => o,
                                PagePos::After(_) => 0,
                            };
                            St::Next(PagePos::Offset(o + n))
                        };
                        Some((Ok(recs), (next, client, window, seen)))
                    }
                }
            },
        )
    }

    /// The recording's snapshot sources; `Err(status)` inside `Ok` when it is gone (404/410).
    pub async fn sources(&self, session_id: &str) -> Result<Result<Vec<Source>, u16>, ApiError> {
        let path = self.snapshots_path(session_id);
        match self.get(&path, Check::Json).await? {
            Outcome::Gone { status, message } => {
                tracing::warn!(session = session_id, status, message = %message, "recording gone");
                Ok(Err(status))
            }
            Outcome::Ok(f) => {
                let r: SourcesResponse =
                    serde_json::from_slice(&f.body).map_err(|e| ApiError::BadResponse {
                        path: path.clone(),
                        message: format!("not a sources list: {e}"),
                    })?;
                Ok(Ok(r.sources))
            }
        }
    }

    fn decompress_param(&self) -> Option<&'static str> {
        match self.body {
            BodyFormat::Jsonl => None,
            BodyFormat::Snappy => Some("false"),
        }
    }

    /// `source=blob_v2&start_blob_key=start&end_blob_key=end` (inclusive; at most 20 keys).
    pub async fn blob_v2(
        &self,
        session_id: &str,
        start: u64,
        end: u64,
    ) -> Result<Result<Fetched, u16>, ApiError> {
        debug_assert!(end >= start && end - start < MAX_BLOB_KEYS);
        let query = {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("source", "blob_v2");
            q.append_pair("start_blob_key", &start.to_string());
            q.append_pair("end_blob_key", &end.to_string());
            if let Some(d) = self.decompress_param() {
                q.append_pair("decompress", d);
            }
            q.finish()
        };
        self.blob(session_id, query).await
    }

    /// `source=blob_v2_lts&blob_key=…`.
    pub async fn blob_v2_lts(
        &self,
        session_id: &str,
        key: &str,
    ) -> Result<Result<Fetched, u16>, ApiError> {
        let query = {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("source", "blob_v2_lts");
            q.append_pair("blob_key", key);
            if let Some(d) = self.decompress_param() {
                q.append_pair("decompress", d);
            }
            q.finish()
        };
        self.blob(session_id, query).await
    }

    async fn blob(&self, session_id: &str, q: String) -> Result<Result<Fetched, u16>, ApiError> {
        let path = format!("{}?{q}", self.snapshots_path(session_id));
        match self.get(&path, Check::Blob).await? {
            Outcome::Ok(f) => Ok(Ok(f)),
            Outcome::Gone { status, message } => {
                tracing::warn!(session = session_id, path, status, message = %message, "blob gone");
                Ok(Err(status))
            }
        }
    }
}

/// Splits sorted blob keys into inclusive ranges of consecutive keys, at most 20 keys each.
pub fn key_ranges(keys: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &k in keys {
        match out.last_mut() {
            Some((s, e)) if k == *e + 1 && k - *s < MAX_BLOB_KEYS => *e = k,
            Some((_, e)) if k == *e => {}
            _ => out.push((k, k)),
        }
    }
    out
}

/// The window of a list call, as PostHog's `date_from`/`date_to` (both compared with the
/// recording's start).
#[derive(Debug, Clone)]
pub struct ListWindow {
    pub date_from: String,
    pub date_to: String,
    pub limit: u32,
}

/// Where the next page starts.
#[derive(Debug, Clone)]
pub enum PagePos {
    Offset(u64),
    After(String),
}

fn reqwest_kind(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() {
        "body cut off"
    } else if e.is_decode() {
        "body could not be decoded"
    } else if e.is_request() {
        "request failed"
    } else {
        "HTTP error"
    };
    kind.to_string()
}

/// Checks that a body is whole: JSON parses; a blob body is JSONL whose last line is complete,
/// length-prefixed snappy blocks that end exactly at the end, or one raw snappy block.
fn check_body(check: Check, body: &[u8]) -> Result<(), String> {
    match check {
        Check::Json => serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map(|_| ())
            .map_err(|e| format!("incomplete JSON body ({} bytes): {e}", body.len())),
        Check::Blob => check_blob(body),
    }
}

/// See [`check_body`]. Public for the tests of the job.
pub fn check_blob(body: &[u8]) -> Result<(), String> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Ok(()),
        Some(b'[') | Some(b'{') => {
            let mut end = body.len();
            while end > 0 && body[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            let start = body[..end]
                .iter()
                .rposition(|b| *b == b'\n')
                .map(|i| i + 1)
                .unwrap_or(0);
            serde_json::from_slice::<serde::de::IgnoredAny>(&body[start..end])
                .map(|_| ())
                .map_err(|_| {
                    format!(
                        "JSONL body ends in an incomplete line ({} bytes): cut off",
                        body.len()
                    )
                })
        }
        Some(_) => {
            if length_prefixed_ok(body) {
                return Ok(());
            }
            let mut d = snap::raw::Decoder::new();
            d.decompress_vec(body).map(|_| ()).map_err(|e| {
                format!(
                    "binary body ({} bytes) is neither length-prefixed snappy blocks nor one \
                     snappy block (cut off?): {e}",
                    body.len()
                )
            })
        }
    }
}

fn length_prefixed_ok(body: &[u8]) -> bool {
    let mut i = 0usize;
    let mut d = snap::raw::Decoder::new();
    while i < body.len() {
        if body.len() - i < 4 {
            return false;
        }
        let n = u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]) as usize;
        i += 4;
        if n > body.len() - i {
            return false;
        }
        if d.decompress_vec(&body[i..i + n]).is_err() {
            return false;
        }
        i += n;
    }
    i == body.len() && !body.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_at_most_20() {
        let keys: Vec<u64> = (0..45).collect();
        assert_eq!(key_ranges(&keys), vec![(0, 19), (20, 39), (40, 44)]);
        assert_eq!(key_ranges(&[0, 1, 3, 4]), vec![(0, 1), (3, 4)]);
        assert_eq!(key_ranges(&[]), vec![]);
    }

    #[test]
    fn cut_bodies_are_caught() {
        let full = b"[\"w\",{\"type\":4}]\n[\"w\",{\"type\":3}]";
        assert!(check_blob(full).is_ok());
        assert!(check_blob(&full[..full.len() - 5]).is_err());
        let real = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/public/derived/blob_v2_decompress_false.bin"
        ))
        .unwrap();
        assert!(check_blob(&real).is_ok());
        assert!(check_blob(&real[..real.len() / 2]).is_err());
    }

    #[test]
    fn key_is_redacted() {
        let k = ApiKey::new("phx_secret123\n").unwrap();
        assert_eq!(format!("{k:?} {k}"), "ApiKey([redacted]) [redacted]");
        assert_eq!(k.redact("x phx_secret123 y"), "x [redacted] y");
    }
}
