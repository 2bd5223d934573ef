//! One browser window, one id, across the inputs of a session.
//!
//! Inputs name a window differently: the API, blobs and capture payloads give the window's UUID,
//! PostHog's newer UI export numbers windows 1, 2, … (FORMATS.md §4), and events without a window
//! id come as `""`. When two fragments of a session (from different inputs) are merged, a window
//! of one whose events coincide with a window of the other (same timestamp, type and content, see
//! [`super::content`]) is the same window: both get one id, the more informative one (a UUID over
//! a number over nothing). Coinciding means at least half of the smaller window's events: genuinely
//! different windows (two tabs) share no events, as no two tabs emit the same event in the same
//! millisecond, while a window exported twice shares all of them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Event;

type Window = Option<Arc<str>>;

/// Renames windows in `a` and `b` (two fragments of one session) so that a window present in both
/// under two ids has one.
pub fn unify(a: &mut [Event], b: &mut [Event]) {
    let (wa, wb) = (window_set(a), window_set(b));
    if wa == wb {
        // the same ids on both sides (the common case: blob files of one recording)
        return;
    }
    let rename = renames(a, b);
    if rename.is_empty() {
        return;
    }
    for e in a.iter_mut().chain(b.iter_mut()) {
        if let Some(to) = rename.get(&e.window_id) {
            e.window_id = to.clone();
        }
    }
}

fn window_set(events: &[Event]) -> HashSet<&Window> {
    events.iter().map(|e| &e.window_id).collect()
}

/// Distinct (timestamp, content) keys per window.
fn keys_by_window(events: &[Event]) -> HashMap<&Window, HashSet<(i64, u128)>> {
    let mut out: HashMap<&Window, HashSet<(i64, u128)>> = HashMap::new();
    for e in events {
        out.entry(&e.window_id)
            .or_default()
            .insert((e.timestamp, e.content));
    }
    out
}

/// Which window id becomes which: pairs of windows (one from each side, ids differing) that
/// coincide are joined, transitively, and each group takes its best id.
fn renames(a: &[Event], b: &[Event]) -> HashMap<Window, Window> {
    let (ka, kb) = (keys_by_window(a), keys_by_window(b));
    let mut groups = Groups::default();
    for (wa, keys_a) in &ka {
        for (wb, keys_b) in &kb {
            if wa == wb {
                continue;
            }
            let (small, large) = if keys_a.len() <= keys_b.len() {
                (keys_a, keys_b)
            } else {
                (keys_b, keys_a)
            };
            let shared = small.iter().filter(|k| large.contains(k)).count();
            if shared > 0 && shared * 2 >= small.len() {
                groups.join((*wa).clone(), (*wb).clone());
            }
        }
    }
    groups.renames()
}

/// How informative a window id is: a UUID (any other string) over a UI export's number over
/// nothing. Ties go to the smaller id, so the choice does not depend on the order of inputs.
fn rank(w: &Window) -> (u8, std::cmp::Reverse<&str>) {
    let s = w.as_deref().unwrap_or("");
    let r = if s.is_empty() {
        0
    } else if s.bytes().all(|c| c.is_ascii_digit()) {
        1
    } else {
        2
    };
    (r, std::cmp::Reverse(s))
}

/// Groups of window ids joined pairwise (a small union-find: sessions have few windows).
#[derive(Default)]
struct Groups {
    of: HashMap<Window, usize>,
    members: Vec<Vec<Window>>,
}

impl Groups {
    fn group(&mut self, w: Window) -> usize {
        if let Some(&g) = self.of.get(&w) {
            return g;
        }
        self.members.push(vec![w.clone()]);
        self.of.insert(w, self.members.len() - 1);
        self.members.len() - 1
    }

    fn join(&mut self, x: Window, y: Window) {
        let (gx, gy) = (self.group(x), self.group(y));
        if gx == gy {
            return;
        }
        let moved = std::mem::take(&mut self.members[gy]);
        for w in &moved {
            self.of.insert(w.clone(), gx);
        }
        self.members[gx].extend(moved);
    }

    fn renames(self) -> HashMap<Window, Window> {
        let mut out = HashMap::new();
        for m in self.members.iter().filter(|m| m.len() > 1) {
            let best = m.iter().max_by_key(|w| rank(w)).expect("non-empty").clone();
            for w in m.iter().filter(|w| **w != best) {
                out.insert(w.clone(), best.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(w: &str, ts: i64, data: &str) -> Event {
        Event::new(Some(w.into()), ts, 3, data.into())
    }

    fn windows(events: &[Event]) -> Vec<&str> {
        events
            .iter()
            .map(|e| e.window_id.as_deref().unwrap())
            .collect()
    }

    #[test]
    fn a_numbered_window_takes_the_uuid_of_the_window_it_coincides_with() {
        let mut ui = vec![ev("1", 1, "{\"a\":1}"), ev("1", 2, "{ \"b\": 2 }")];
        let mut blob = vec![ev("u-u-i-d", 1, "{\"a\":1}"), ev("u-u-i-d", 2, "{\"b\":2}")];
        unify(&mut ui, &mut blob);
        assert_eq!(windows(&ui), ["u-u-i-d", "u-u-i-d"]);
        assert_eq!(windows(&blob), ["u-u-i-d", "u-u-i-d"]);
        // the same whichever side comes first
        let mut ui = vec![ev("1", 1, "{\"a\":1}"), ev("1", 2, "{\"b\":2}")];
        let mut blob = vec![ev("u-u-i-d", 1, "{\"a\":1}"), ev("u-u-i-d", 2, "{\"b\":2}")];
        unify(&mut blob, &mut ui);
        assert_eq!(windows(&ui), ["u-u-i-d", "u-u-i-d"]);
    }

    #[test]
    fn different_windows_stay_apart() {
        // two tabs: one event in common by chance, out of four each
        let tab = |w: &str, base: i64| -> Vec<Event> {
            (0..4)
                .map(|i| ev(w, base + i, &format!("{{\"i\":{}}}", base + i)))
                .chain([ev(w, 100, "{\"same\":true}")])
                .collect()
        };
        let mut a = tab("1", 10);
        let mut b = tab("tab-b", 20);
        unify(&mut a, &mut b);
        assert!(windows(&a).iter().all(|w| *w == "1"));
        assert!(windows(&b).iter().all(|w| *w == "tab-b"));
    }

    #[test]
    fn windows_of_two_sides_pair_off() {
        // an export numbering two windows, a blob naming them
        let mut ui = vec![ev("1", 1, "{\"x\":1}"), ev("2", 1, "{\"y\":1}")];
        let mut blob = vec![ev("w-x", 1, "{\"x\":1}"), ev("w-y", 1, "{\"y\":1}")];
        unify(&mut ui, &mut blob);
        assert_eq!(windows(&ui), ["w-x", "w-y"]);
        assert_eq!(windows(&blob), ["w-x", "w-y"]);
    }
}
