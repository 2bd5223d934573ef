//! What is retried and how long to wait, after object_store's `client/retry.rs` and `backoff.rs`.
//!
//! Only GETs are made, so every request is idempotent. Retried: 429 (after its `Retry-After`,
//! which also pauses all other workers through the shared limiter), 5xx, 408, connection errors,
//! resets, timeouts and bodies cut off before their end. Not retried: 401/403 (the key), other
//! 4xx. 404 and 410 are answers, not failures: the caller records the recording as skipped.
//!
//! `Retry-After` comes from the server and is not trusted: any text is read without a panic
//! (absurd numbers, negatives, NaN, dates far in the future), and a wait longer than
//! [`RetryConfig::max_retry_after`] (1 h by default, `--max-retry-after`) stops the run with an
//! error instead of sleeping for centuries: PostHog's own throttles never ask for more than an
//! hour (their longest period).

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
    /// Longest `Retry-After` waited for; a longer one is an error (see the module docs).
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

/// What a 429's `Retry-After` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryAfter {
    /// No header, or one that is neither seconds nor an HTTP date (negative, NaN, garbage):
    /// the caller backs off as for any other failure.
    Unusable,
    /// A wait within the cap (a date in the past is a wait of zero).
    Wait(Duration),
    /// A wait beyond the cap: the header's text, for the error.
    TooLong(String),
}

/// Reads `Retry-After` as seconds (PostHog sends an integer) or an HTTP date, against `cap`.
pub fn retry_after(headers: &HeaderMap, cap: Duration) -> RetryAfter {
    let Some(v) = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    else {
        return RetryAfter::Unusable;
    };
    let secs = match v.parse::<f64>() {
        Ok(s) if s.is_nan() || s < 0.0 => return RetryAfter::Unusable,
        Ok(s) => s,
        Err(_) => match chrono::DateTime::parse_from_rfc2822(v) {
            Ok(when) => {
                let ms = when.timestamp_millis() - chrono::Utc::now().timestamp_millis();
                ms.max(0) as f64 / 1000.0
            }
            Err(_) => return RetryAfter::Unusable,
        },
    };
    // compared as f64 first: `Duration::from_secs_f64` panics on values past u64 seconds
    if secs > cap.as_secs_f64() {
        return RetryAfter::TooLong(v.chars().take(64).collect());
    }
    RetryAfter::Wait(Duration::try_from_secs_f64(secs).unwrap_or(cap))
}

/// True for transport errors worth another try (connect, reset, timeout, body cut off).
pub fn retryable_error(e: &reqwest::Error) -> bool {
    e.is_timeout() || e.is_connect() || e.is_request() || e.is_body() || e.is_decode()
}

/// Retries of a request whose connection was refused or whose host name did not resolve.
pub const UNREACHABLE_RETRIES: u32 = 2;

/// Whether the host could not be reached at all: the connection was refused, or its name does
/// not resolve (as opposed to a reset or a timeout of a host that answered before).
pub fn unreachable(e: &reqwest::Error) -> bool {
    if !e.is_connect() {
        return false;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        let text = err.to_string();
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return true;
        }
        cur = err.source();
    }
    false
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
    fn retry_after_seconds_dates_and_nonsense() {
        let cap = Duration::from_secs(3600);
        let ra = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(reqwest::header::RETRY_AFTER, v.parse().unwrap());
            retry_after(&h, cap)
        };
        assert_eq!(ra("3"), RetryAfter::Wait(Duration::from_secs(3)));
        assert_eq!(ra("0.5"), RetryAfter::Wait(Duration::from_millis(500)));
        assert_eq!(ra("3600"), RetryAfter::Wait(cap));
        assert_eq!(retry_after(&HeaderMap::new(), cap), RetryAfter::Unusable);
        for v in ["1e20", "inf", "3601", "18446744073709551616"] {
            assert_eq!(ra(v), RetryAfter::TooLong(v.into()), "{v}");
        }
        for v in ["-5", "NaN", "-inf", "soon"] {
            assert_eq!(ra(v), RetryAfter::Unusable, "{v}");
        }
        let far = "Fri, 31 Dec 9999 23:59:59 GMT";
        assert_eq!(ra(far), RetryAfter::TooLong(far.into()));
        assert_eq!(
            ra("Thu, 01 Jan 1970 00:00:00 GMT"),
            RetryAfter::Wait(Duration::ZERO)
        );
    }
}
