//! What is retried and how long to wait, after object_store's `client/retry.rs` and `backoff.rs`.
//!
//! Only GETs are made, so every request is idempotent. Retried: 429 (after its `Retry-After`,
//! which also pauses all other workers through the shared limiter), 5xx, 408, connection errors,
//! resets, timeouts and bodies cut off before their end. Not retried: 401/403 (the key), other
//! 4xx. 404 and 410 are answers, not failures: the caller records the recording as skipped.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

/// Exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct BackoffConfig {
    /// The first backoff.
    pub init_backoff: Duration,
    /// The largest backoff.
    pub max_backoff: Duration,
    /// Growth factor per attempt.
    pub base: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            base: 2.0,
        }
    }
}

/// How often and for how long a request is retried.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    pub backoff: BackoffConfig,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// No retry starts after this much time since the first attempt.
    pub retry_timeout: Duration,
    /// Longest `Retry-After` honoured; a longer one is waited for only this long.
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 10,
            retry_timeout: Duration::from_secs(15 * 60),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

/// Jittered exponential backoff state ("decorrelated jitter", as object_store).
#[derive(Debug)]
pub struct Backoff {
    init: f64,
    next: f64,
    max: f64,
    base: f64,
}

impl Backoff {
    pub fn new(c: &BackoffConfig) -> Self {
        let init = c.init_backoff.as_secs_f64();
        Backoff {
            init,
            next: init,
            max: c.max_backoff.as_secs_f64(),
            base: c.base.max(1.0),
        }
    }

    /// The next wait: uniformly random between the initial backoff and `base` times the last one,
    /// capped.
    pub fn next_wait(&mut self) -> Duration {
        let hi = (self.next * self.base).max(self.init);
        let jittered = self.init + fastrand::f64() * (hi - self.init);
        let cur = self.next;
        self.next = jittered.min(self.max);
        Duration::from_secs_f64(cur.min(self.max))
    }
}

/// True for statuses worth another try.
pub fn retryable_status(s: StatusCode) -> bool {
    s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS || s == StatusCode::REQUEST_TIMEOUT
}

/// `Retry-After` as seconds (PostHog sends an integer; an HTTP date is also accepted).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let d = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(d.to_std().unwrap_or(Duration::ZERO))
}

/// True for transport errors worth another try (connect, reset, timeout, body cut off).
pub fn retryable_error(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || e.is_decode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_bounded() {
        let mut b = Backoff::new(&BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        });
        let waits: Vec<_> = (0..20).map(|_| b.next_wait()).collect();
        assert_eq!(waits[0], Duration::from_millis(100));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(1)));
        assert!(waits.iter().all(|w| *w >= Duration::from_millis(100)));
    }

    #[test]
    fn retry_after_seconds() {
        let mut h = HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
