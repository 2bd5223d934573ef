//! One rate limiter shared by every request of a pull: a sliding-window log per limit, the same
//! algorithm as the throttles PostHog uses (Django REST framework's `SimpleRateThrottle`: a
//! request is allowed while fewer than N requests were made in the last period).
//!
//! PostHog's replay endpoints are throttled per personal API key, by tier (burst per minute and
//! sustained per hour, `posthog/settings/session_replay.py`): free 12/min + 60/h, paid 60/min +
//! 300/h, enterprise 100/min + 400/h. A 429 pauses every worker until its `Retry-After` has passed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// N requests per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub per: Duration,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.per.as_secs_f64();
        if s == 3600.0 {
            write!(f, "{}/h", self.requests)
        } else if s == 60.0 {
            write!(f, "{}/min", self.requests)
        } else {
            write!(f, "{}/{}s", self.requests, s)
        }
    }
}

/// PostHog's replay API tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Tier {
    /// 12/min and 60/h (also PostHog's fallback).
    Free,
    /// 60/min and 300/h.
    Paid,
    /// 100/min and 400/h.
    Enterprise,
}

impl Tier {
    pub fn rates(self) -> Vec<Rate> {
        let (m, h) = match self {
            Tier::Free => (12, 60),
            Tier::Paid => (60, 300),
            Tier::Enterprise => (100, 400),
        };
        vec![
            Rate {
                requests: m,
                per: Duration::from_secs(60),
            },
            Rate {
                requests: h,
                per: Duration::from_secs(3600),
            },
        ]
    }
}

/// Parses `600/min,6000/h`: comma-separated `N/PERIOD`, PERIOD one of `s`, `sec`, `min`, `m`,
/// `h`, `hour`, or a multiple such as `10s`, `5min`.
pub fn parse_rates(s: &str) -> Result<Vec<Rate>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (n, per) = part
            .split_once('/')
            .ok_or_else(|| format!("expected N/PERIOD (e.g. 60/min), got {part:?}"))?;
        let requests: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad request count in {part:?}"))?;
        if requests == 0 {
            return Err(format!(
                "a rate of 0 requests never lets a request through: {part:?}"
            ));
        }
        let per = per.trim();
        let split = per
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(per.len());
        let (mult, unit) = per.split_at(split);
        let mult: f64 = if mult.is_empty() {
            1.0
        } else {
            mult.parse()
                .map_err(|_| format!("bad period in {part:?}"))?
        };
        let unit_s = match unit {
            "s" | "sec" | "second" | "seconds" => 1.0,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hour" | "hours" => 3600.0,
            "d" | "day" => 86400.0,
            _ => {
                return Err(format!(
                    "unknown period unit {unit:?} in {part:?} (s, min, h)"
                ));
            }
        };
        let per = Duration::try_from_secs_f64(mult * unit_s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("period must be positive and finite in {part:?}"))?;
        out.push(Rate { requests, per });
    }
    if out.is_empty() {
        return Err("no rate given".into());
    }
    Ok(out)
}

#[derive(Debug, Default)]
struct Log {
    /// Start times of recent requests, oldest first.
    history: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// A limiter over several windows (all must allow a request), shared by all workers.
#[derive(Debug)]
pub struct RateLimiter {
    rates: Vec<Rate>,
    /// Added to each period: requests reach the server a little after they leave, so a server
    /// counting arrivals must never see N + 1 inside its window.
    margin: Duration,
    log: Mutex<Log>,
    waited_ms: AtomicU64,
}

impl RateLimiter {
    pub fn new(rates: Vec<Rate>) -> Self {
        RateLimiter {
            rates,
            margin: Duration::from_millis(250),
            log: Mutex::new(Log::default()),
            waited_ms: AtomicU64::new(0),
        }
    }

    pub fn rates(&self) -> &[Rate] {
        &self.rates
    }

    /// Total time callers spent waiting for a slot (or for a 429's Retry-After).
    pub fn waited(&self) -> Duration {
        Duration::from_millis(self.waited_ms.load(Ordering::Relaxed))
    }

    /// How long to wait before a request may start now; `None` when it may start (and is logged).
    fn try_take(&self, now: Instant) -> Option<Duration> {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = log.paused_until {
            if p > now {
                return Some(p - now);
            }
            log.paused_until = None;
        }
        let longest = self.rates.iter().map(|r| r.per).max().unwrap_or_default() + self.margin;
        while log
            .history
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            log.history.pop_front();
        }
        let mut wait = Duration::ZERO;
        for r in &self.rates {
            let period = r.per + self.margin;
            let n = r.requests as usize;
            let in_window = log
                .history
                .iter()
                .rev()
                .take_while(|t| now.duration_since(**t) < period)
                .count();
            if in_window >= n {
                // the request that must leave the window first
                let idx = log.history.len() - n;
                let free_at = log.history[idx] + period;
                wait = wait.max(free_at.saturating_duration_since(now));
            }
        }
        if wait.is_zero() {
            log.history.push_back(now);
            None
        } else {
            Some(wait)
        }
    }

    /// Waits for a slot and takes it. Returns the time waited.
    pub async fn acquire(&self) -> Duration {
        let started = Instant::now();
        loop {
            match self.try_take(Instant::now()) {
                None => break,
                Some(w) => tokio::time::sleep(w.max(Duration::from_millis(1))).await,
            }
        }
        let waited = started.elapsed();
        self.waited_ms
            .fetch_add(waited.as_millis() as u64, Ordering::Relaxed);
        waited
    }

    /// Holds every request until `until` (after a 429 with `Retry-After`).
    pub fn pause_until(&self, until: Instant) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.paused_until.is_none_or(|p| p < until) {
            log.paused_until = Some(until);
        }
    }

    /// Lower bound of the time `calls` requests take at these limits, from an empty window.
    pub fn estimate(&self, calls: u64) -> Duration {
        self.rates
            .iter()
            .map(|r| {
                let full = calls.saturating_sub(1) / r.requests as u64;
                r.per * full as u32
            })
            .max()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let r = parse_rates("600/min, 6000/h").unwrap();
        assert_eq!(r[0].requests, 600);
        assert_eq!(r[0].per, Duration::from_secs(60));
        assert_eq!(r[1].per, Duration::from_secs(3600));
        let r = parse_rates("8/2s").unwrap();
        assert_eq!(r[0].per, Duration::from_secs(2));
        assert!(parse_rates("8").is_err());
        assert!(parse_rates("0/min").is_err());
        assert!(parse_rates("3/fortnight").is_err());
    }

    #[test]
    fn window_never_exceeded() {
        let l = RateLimiter::new(vec![Rate {
            requests: 3,
            per: Duration::from_secs(10),
        }]);
        let t0 = Instant::now();
        assert!(l.try_take(t0).is_none());
        assert!(l.try_take(t0).is_none());
        assert!(l.try_take(t0 + Duration::from_secs(1)).is_none());
        let w = l.try_take(t0 + Duration::from_secs(2)).unwrap();
        assert!(w >= Duration::from_secs(8), "{w:?}");
        assert!(l.try_take(t0 + Duration::from_millis(10_300)).is_none());
    }

    #[test]
    fn estimate_uses_the_slowest_window() {
        let l = RateLimiter::new(Tier::Free.rates());
        assert_eq!(l.estimate(12), Duration::ZERO);
        assert_eq!(l.estimate(13), Duration::from_secs(60));
        assert_eq!(l.estimate(61), Duration::from_secs(3600));
    }
}
