//! PostHog's per-session counters and active time, exactly as its ingestion defines them
//! (FORMATS.md §6, PostHog/posthog `rrweb-types.ts`, `segmentation.ts`, `session-console-log-recorder.ts`).

use std::collections::HashSet;
use std::sync::Arc;

use crate::decode::Event;
use crate::flatten::EventFields;

/// Gap after the last active event that ends an active segment.
pub const ACTIVITY_THRESHOLD_MS: i64 = 5000;
/// Incremental sources that count as user activity for active time.
pub const ACTIVE_SOURCES: [i64; 8] = [1, 2, 3, 4, 5, 6, 7, 12];
/// MouseInteraction types that PostHog counts as clicks: Click, ContextMenu, DblClick, TouchEnd.
pub const CLICK_TYPES: [i64; 4] = [2, 3, 4, 9];
/// Sources that count as mouse activity: MouseMove, MouseInteraction, TouchMove.
pub const MOUSE_ACTIVITY_SOURCES: [i64; 3] = [1, 2, 6];
/// URLs kept per session, and their length cap, as PostHog ingestion keeps them.
pub const MAX_URLS: usize = 25;
pub const MAX_URL_BYTES: usize = 4 * 1024;

/// Console level bucket, by PostHog's `levelMapping`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleBucket {
    Log,
    Warn,
    Error,
}

pub fn console_bucket(level: &str) -> ConsoleBucket {
    match level {
        "warn" | "countReset" => ConsoleBucket::Warn,
        "error" | "assert" => ConsoleBucket::Error,
        _ => ConsoleBucket::Log,
    }
}

/// Counters of one session, fed event by event in timestamp order.
#[derive(Debug, Default, Clone)]
pub struct SessionMetrics {
    pub event_count: i64,
    pub full_snapshot_count: i64,
    pub click_count: i64,
    pub keypress_count: i64,
    pub mouse_activity_count: i64,
    pub console_log_count: i64,
    pub console_warn_count: i64,
    pub console_error_count: i64,
    pub network_requests: i64,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub active_ms: i64,
    pub urls: Vec<String>,
    pub viewport: Option<(Option<i32>, Option<i32>)>,
    windows: HashSet<Option<Arc<str>>>,
    // active-time segmentation state
    segment: Option<Segment>,
    last_active_ts: i64,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    start: i64,
    end: i64,
    active: bool,
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

impl SessionMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn window_count(&self) -> i32 {
        self.windows.len() as i32
    }

    pub fn first_url(&self) -> Option<&str> {
        self.urls.first().map(String::as_str)
    }

    /// Feeds the next event (events must come in timestamp order).
    pub fn observe(&mut self, e: &Event, f: &EventFields<'_>) {
        self.event_count += 1;
        self.start_ms.get_or_insert(e.timestamp);
        self.end_ms = Some(e.timestamp);
        if !self.windows.contains(&e.window_id) {
            self.windows.insert(e.window_id.clone());
        }
        let incremental = e.event_type == 3;
        if e.event_type == 2 {
            self.full_snapshot_count += 1;
        }
        if e.event_type == 4 && self.viewport.is_none() {
            self.viewport = Some((f.width, f.height));
        }
        if incremental {
            match f.source {
                Some(2) if f.interaction.is_some_and(|t| CLICK_TYPES.contains(&t)) => {
                    self.click_count += 1
                }
                Some(5) => self.keypress_count += 1,
                _ => {}
            }
            if f.source
                .is_some_and(|s| MOUSE_ACTIVITY_SOURCES.contains(&s))
            {
                self.mouse_activity_count += 1;
            }
        }
        if let Some(level) = &f.console_level {
            match console_bucket(level) {
                ConsoleBucket::Log => self.console_log_count += 1,
                ConsoleBucket::Warn => self.console_warn_count += 1,
                ConsoleBucket::Error => self.console_error_count += 1,
            }
        } else if f.plugin.as_deref() == Some("rrweb/console@1") {
            self.console_log_count += 1;
        }
        if let Some(href) = &f.href {
            let href = truncate(href, MAX_URL_BYTES);
            if self.urls.len() < MAX_URLS && !self.urls.iter().any(|u| u == href) {
                self.urls.push(href.to_string());
            }
        }
        // PostHog ingestion's segmentation: a new segment starts when there is none, when an active
        // event arrives while the segment is inactive, or when the segment is active and no active
        // event came for ACTIVITY_THRESHOLD_MS.
        let active = incremental && f.source.is_some_and(|s| ACTIVE_SOURCES.contains(&s));
        let ts = e.timestamp;
        let new_segment = match &self.segment {
            None => true,
            Some(seg) => {
                (active && !seg.active)
                    || (seg.active && self.last_active_ts + ACTIVITY_THRESHOLD_MS < ts)
            }
        };
        if active {
            self.last_active_ts = ts;
        }
        if new_segment {
            self.close_segment();
            self.segment = Some(Segment {
                start: ts,
                end: ts,
                active,
            });
        } else if let Some(seg) = &mut self.segment {
            seg.end = ts;
        }
    }

    fn close_segment(&mut self) {
        if let Some(seg) = self.segment.take() {
            if seg.active {
                self.active_ms += (seg.end - seg.start).max(1);
            }
        }
    }

    /// Closes the last segment. Call once after the last event.
    pub fn finish(&mut self) {
        self.close_segment();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, ty: i32, data: &str) -> Event {
        Event::new(None, ts, ty, data.into())
    }

    fn run(events: &[Event]) -> SessionMetrics {
        let mut m = SessionMetrics::new();
        for e in events {
            m.observe(e, &EventFields::parse(e));
        }
        m.finish();
        m
    }

    #[test]
    fn clicks_keypresses_mouse_activity_by_posthog_definition() {
        let m = run(&[
            ev(1, 3, r#"{"source":2,"type":2,"id":1,"x":1,"y":1}"#), // click
            ev(2, 3, r#"{"source":2,"type":4,"id":1,"x":1,"y":1}"#), // dblclick
            ev(3, 3, r#"{"source":2,"type":3,"id":1}"#),             // contextmenu
            ev(4, 3, r#"{"source":2,"type":9,"id":1}"#),             // touchend
            ev(5, 3, r#"{"source":2,"type":1,"id":1}"#),             // mousedown: not a click
            ev(6, 3, r#"{"source":5,"text":"a","isChecked":false,"id":3}"#),
            ev(
                7,
                3,
                r#"{"source":1,"positions":[{"x":1,"y":2,"id":1,"timeOffset":0}]}"#,
            ),
            ev(
                8,
                6,
                r#"{"plugin":"rrweb/console@1","payload":{"level":"countReset","payload":[]}}"#,
            ),
            ev(
                9,
                6,
                r#"{"plugin":"rrweb/console@1","payload":{"level":"assert","payload":[]}}"#,
            ),
            ev(
                10,
                6,
                r#"{"plugin":"rrweb/console@1","payload":{"level":"debug","payload":[]}}"#,
            ),
        ]);
        assert_eq!(m.click_count, 4);
        assert_eq!(m.keypress_count, 1);
        assert_eq!(m.mouse_activity_count, 6);
        assert_eq!(
            (
                m.console_log_count,
                m.console_warn_count,
                m.console_error_count
            ),
            (1, 1, 1)
        );
    }

    #[test]
    fn active_time_segments_on_5s_gaps() {
        let mm = r#"{"source":1,"positions":[]}"#;
        // active 1000..3000 (2000 ms), then a gap > 5 s, a lone active event (1 ms), an inactive
        // event 4 s later extends that segment to 4000 ms.
        let m = run(&[
            ev(0, 4, r#"{"href":"h"}"#),
            ev(1000, 3, mm),
            ev(3000, 3, mm),
            ev(20000, 3, mm),
            ev(24000, 5, r#"{"tag":"x"}"#),
            ev(40000, 5, r#"{"tag":"y"}"#),
        ]);
        assert_eq!(m.active_ms, 2000 + 4000);
        let m = run(&[ev(5, 3, mm)]);
        assert_eq!(m.active_ms, 1);
    }

    #[test]
    fn urls_distinct_capped() {
        let mut evs = vec![];
        for i in 0..30 {
            evs.push(ev(i, 4, &format!(r#"{{"href":"u{i}"}}"#)));
            evs.push(ev(
                i,
                5,
                &format!(r#"{{"tag":"$pageview","payload":{{"href":" u{i} "}}}}"#),
            ));
        }
        let m = run(&evs);
        assert_eq!(m.urls.len(), MAX_URLS);
        assert_eq!(m.first_url(), Some("u0"));
    }
}
