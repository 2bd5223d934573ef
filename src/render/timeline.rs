//! The video's timeline: which moment of the recording each frame shows.
//!
//! With `--skip-inactive` (the default) the timeline is the session's *active* segments laid end
//! to end, cut exactly as PostHog's ingestion cuts them for active time (FORMATS.md §6, the same
//! constants as [`crate::flatten::metrics`]): so a video lasts `active_ms / speed`, within one
//! frame. Without it the timeline is the whole recording, first event to last. `--from/--to`
//! clip it (offsets from the first event). Frame `k` shows the recording at timeline position
//! `k × speed × 1000 / fps` ms. A frame budget (`--max-frames`) is met the way PostHog's
//! renderer meets it: lower the frame rate (not below 12), then raise the speed.

use crate::flatten::metrics::{ACTIVE_SOURCES, ACTIVITY_THRESHOLD_MS};

/// One event, as far as the timeline cares.
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    pub ts: i64,
    pub event_type: i32,
    /// `data.source` of an IncrementalSnapshot (type 3).
    pub source: Option<i64>,
}

/// A stretch of the recording, `[start, end]` in ms since the epoch; it lasts [`Span::ms`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

impl Span {
    /// How long it lasts: `max(1, end - start)` ms, as PostHog counts a segment.
    pub fn ms(&self) -> i64 {
        (self.end - self.start).max(1)
    }
}

/// The active segments of events sorted by time (PostHog ingestion's segmentation: a segment
/// starts when there is none, when an active event follows inactive ones, or when an active
/// segment saw no active event for 5 s; only active segments are kept).
pub fn active_spans(ticks: &[Tick]) -> Vec<Span> {
    let mut out = Vec::new();
    let (mut seg, mut last_active): (Option<(Span, bool)>, i64) = (None, 0);
    for t in ticks {
        let active = t.event_type == 3 && t.source.is_some_and(|s| ACTIVE_SOURCES.contains(&s));
        let new = match seg {
            None => true,
            Some((_, a)) => (active && !a) || (a && last_active + ACTIVITY_THRESHOLD_MS < t.ts),
        };
        if active {
            last_active = t.ts;
        }
        if new {
            out.extend(seg.filter(|s| s.1).map(|s| s.0));
            seg = Some((
                Span {
                    start: t.ts,
                    end: t.ts,
                },
                active,
            ));
        } else if let Some((s, _)) = &mut seg {
            s.end = t.ts;
        }
    }
    out.extend(seg.filter(|s| s.1).map(|s| s.0));
    out
}

/// What the timeline is made of.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    pub skip_inactive: bool,
    /// Offsets from the first event, in ms.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// The spans the video shows, in order, clipped to `--from/--to`.
pub fn spans(ticks: &[Tick], choice: Choice) -> Vec<Span> {
    let (Some(first), Some(last)) = (ticks.first(), ticks.last()) else {
        return Vec::new();
    };
    let all = if choice.skip_inactive {
        active_spans(ticks)
    } else {
        vec![Span {
            start: first.ts,
            end: last.ts,
        }]
    };
    let lo = choice.from_ms.map_or(i64::MIN, |f| first.ts + f);
    let hi = choice.to_ms.map_or(i64::MAX, |t| first.ts + t);
    all.into_iter()
        .filter(|s| s.end >= lo && s.start <= hi)
        .map(|s| Span {
            start: s.start.max(lo),
            end: s.end.min(hi),
        })
        .collect()
}

/// Speed and frame rate after the frame budget, and the frame count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    pub speed: f64,
    pub fps: u32,
    pub frames: u64,
}

/// Frames needed for `total_ms` of timeline at `speed` and `fps`: the video lasts
/// `total_ms / speed`, rounded to whole frames (at least one).
fn frames_for(total_ms: i64, speed: f64, fps: u32) -> u64 {
    ((total_ms as f64 * fps as f64 / (speed * 1000.0)).round() as u64).max(1)
}

/// Meets `max_frames`: first lowers the frame rate (not below 12, nor below the one asked
/// for), then raises the speed.
pub fn pace(total_ms: i64, speed: f64, fps: u32, max_frames: u64) -> Pace {
    let max_frames = max_frames.max(1);
    let mut fps_now = fps;
    while frames_for(total_ms, speed, fps_now) > max_frames && fps_now > fps.min(12) {
        fps_now -= 1;
    }
    let mut speed_now = speed;
    if frames_for(total_ms, speed_now, fps_now) > max_frames {
        speed_now = total_ms as f64 * fps_now as f64 / (max_frames as f64 * 1000.0);
        while frames_for(total_ms, speed_now, fps_now) > max_frames {
            speed_now *= 1.0001;
        }
    }
    Pace {
        speed: speed_now,
        fps: fps_now,
        frames: frames_for(total_ms, speed_now, fps_now),
    }
}

/// The recording time (ms since the epoch) each frame shows.
pub fn frame_times(spans: &[Span], pace: Pace) -> Vec<i64> {
    let step = pace.speed * 1000.0 / pace.fps as f64;
    let mut out = Vec::with_capacity(pace.frames as usize);
    let (mut i, mut before) = (0usize, 0i64);
    for k in 0..pace.frames {
        let u = (k as f64 * step).floor() as i64;
        while i + 1 < spans.len() && u >= before + spans[i].ms() {
            before += spans[i].ms();
            i += 1;
        }
        let Some(s) = spans.get(i) else { break };
        out.push((s.start + (u - before)).min(s.end.max(s.start + 1)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(ts: i64) -> Tick {
        Tick {
            ts,
            event_type: 3,
            source: Some(1),
        }
    }
    fn mutation(ts: i64) -> Tick {
        Tick {
            ts,
            event_type: 3,
            source: Some(0),
        }
    }

    #[test]
    fn active_spans_cut_on_five_second_gaps_like_ingestion() {
        // the case of flatten::metrics' test: 2000 ms, then a lone active event (1 ms)
        let t = [mv(1000), mv(2000), mv(3000), mv(9000), mutation(20000)];
        let s = active_spans(&t);
        assert_eq!(
            s,
            vec![
                Span {
                    start: 1000,
                    end: 3000
                },
                Span {
                    start: 9000,
                    end: 9000
                }
            ]
        );
        assert_eq!(s.iter().map(Span::ms).sum::<i64>(), 2001);
    }

    #[test]
    fn clipping_and_whole_recording() {
        let t = [mutation(0), mv(1000), mv(3000), mv(10_000), mv(12_000)];
        let all = Choice {
            skip_inactive: false,
            from_ms: None,
            to_ms: None,
        };
        assert_eq!(
            spans(&t, all),
            vec![Span {
                start: 0,
                end: 12_000
            }]
        );
        let clip = Choice {
            skip_inactive: true,
            from_ms: Some(2000),
            to_ms: Some(11_000),
        };
        assert_eq!(
            spans(&t, clip),
            vec![
                Span {
                    start: 2000,
                    end: 3000
                },
                Span {
                    start: 10_000,
                    end: 11_000
                }
            ]
        );
    }

    #[test]
    fn frames_walk_the_spans_end_to_end() {
        let s = [
            Span {
                start: 1000,
                end: 2000,
            },
            Span {
                start: 9000,
                end: 10_000,
            },
        ];
        let p = pace(2000, 1.0, 4, 100);
        assert_eq!(p.frames, 8);
        assert_eq!(
            frame_times(&s, p),
            vec![1000, 1250, 1500, 1750, 9000, 9250, 9500, 9750]
        );
    }

    #[test]
    fn the_budget_lowers_fps_then_raises_speed() {
        let p = pace(60_000, 1.0, 24, 100_000);
        assert_eq!((p.fps, p.frames), (24, 1440));
        let p = pace(60_000, 1.0, 24, 720);
        assert_eq!((p.fps, p.speed, p.frames), (12, 1.0, 720));
        let p = pace(60_000, 1.0, 24, 360);
        assert_eq!(p.fps, 12);
        assert!(p.frames <= 360 && p.frames >= 359, "{p:?}");
        assert!((p.speed - 2.0).abs() < 0.01, "{p:?}");
    }
}
