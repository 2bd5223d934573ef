//! The PostHog API as a source of recordings: list recordings in a time window, list each
//! recording's snapshot sources, fetch `blob_v2` key ranges (≤ 20 keys a call) and `blob_v2_lts`.
//!
//! - [`client`]: the HTTP client (reqwest, rustls): auth, the environments/projects path, pages as
//!   a `Stream`, bodies checked for truncation;
//! - [`body`]: bodies read under a size cap, counted after decompression;
//! - [`paging`]: a listing must make progress (no endless `has_next`, repeated pages or cursors);
//! - [`retry`]: which failures are retried and how long to wait (jittered exponential backoff,
//!   `Retry-After` on 429), like object_store's `RetryConfig`;
//! - [`ratelimit`]: one sliding-window limiter shared by all workers (PostHog's tiers);
//! - [`models`]: the response shapes exactly as PostHog's code serves them;
//! - [`state`]: the incremental checkpoint kept in the lake itself.
//!
//! The personal API key lives in an [`ApiKey`], whose `Debug` and `Display` are redacted; it is
//! sent only in the `Authorization` header (marked sensitive) and never appears in a URL, a log
//! line, an error or a file.

pub mod body;
pub mod client;
pub mod models;
pub mod paging;
pub mod ratelimit;
pub mod retry;
pub mod state;

pub use client::{BodyFormat, Client, ClientConfig, ClientStats, Fetched, ListWindow};
pub use models::{Recording, Source};
pub use ratelimit::{Rate, RateLimiter, Tier, parse_rates};
pub use retry::{BackoffConfig, RetryAfter, RetryConfig};

/// A PostHog personal API key. Never printed: `Debug` and `Display` show `phx_…[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key (surrounding whitespace, e.g. a file's trailing newline, is dropped).
    pub fn new(key: impl AsRef<str>) -> Option<ApiKey> {
        let k = key.as_ref().trim();
        (!k.is_empty()).then(|| ApiKey(k.to_string()))
    }

    /// The key itself, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the key in `text` (e.g. an error body that echoes a header).
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_string();
        }
        text.replace(&self.0, "[redacted]")
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A failure talking to PostHog. Every variant names the API path (host and key never included).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid PostHog host {host:?}: {message}")]
    BadHost { host: String, message: String },

    #[error(
        "PostHog rejected the API key at {path} (HTTP {status}): {message}; check POSTHOG_API_KEY \
         and that the key has the session_recording:read scope"
    )]
    Auth {
        path: String,
        status: u16,
        message: String,
    },

    #[error("PostHog API {path}: HTTP {status}: {message}")]
    Status {
        path: String,
        status: u16,
        message: String,
    },

    #[error(
        "{}PostHog API {host}{path}: gave up after {attempts} attempt{} in {elapsed_s:.0}s; last \
         failure: {message}",
        cannot_reach(.host, .unreachable),
        plural_s(.attempts)
    )]
    GaveUp {
        /// The host as configured (scheme, name, port, path prefix): never holds a key.
        host: String,
        /// The connection was refused or the name did not resolve.
        unreachable: bool,
        path: String,
        attempts: u32,
        elapsed_s: f64,
        message: String,
    },

    #[error("PostHog API {path}: unexpected response: {message}")]
    BadResponse { path: String, message: String },

    #[error(
        "PostHog API {path}: HTTP 429 with Retry-After: {value:?}, longer than the {cap_s:.0}s \
         this pull waits (--max-retry-after); stopped instead of waiting"
    )]
    RetryAfterTooLong {
        path: String,
        value: String,
        cap_s: f64,
    },

    #[error(
        "PostHog API {path}: the response body is larger than the cap of {cap} (at least \
         {seen}; --max-body-mb, counted after decompression); stopped reading"
    )]
    TooLarge {
        path: String,
        seen: String,
        cap: String,
    },

    #[error("PostHog API {path}: the listing makes no progress: {message}")]
    NoProgress { path: String, message: String },

    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl From<ApiError> for crate::Error {
    fn from(e: ApiError) -> Self {
        match e {
            // a --host that cannot be a PostHog URL: the command line is wrong (exit 2)
            ApiError::BadHost { .. } => crate::Error::Usage(e.to_string()),
            e => crate::Error::PostHog(Box::new(e)),
        }
    }
}

/// `cannot reach HOST (…): ` when the host could not be reached at all.
fn cannot_reach(host: &str, unreachable: &bool) -> String {
    if *unreachable {
        format!("cannot reach {host} (check --host or POSTHOG_HOST): ")
    } else {
        String::new()
    }
}

fn plural_s(n: &u32) -> &'static str {
    if *n == 1 { "" } else { "s" }
}
