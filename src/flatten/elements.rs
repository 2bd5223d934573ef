//! Per-session resolution of rrweb node ids to elements, and of the page URL at each event.
//!
//! A [`Resolver`] follows one ordered session: each window has its own DOM [`Mirror`] and its own
//! current URL. The mirror is brought up to date lazily: FullSnapshot and Mutation events are
//! queued per window and applied, in order, only when an event that needs a target arrives (a
//! later FullSnapshot drops the queue before it). A session without interactions, or the tail of
//! a session after its last interaction, costs no DOM work, and memory is one mirror per window
//! (bounded by the page sizes, released when the session is done).
//!
//! The URL is taken from Meta events (`data.href`) and from the `$pageview` and `$url_changed`
//! custom events (`data.payload.href`): per window, falling back to the session's latest URL
//! for a window that has not announced one yet.

use std::collections::HashMap;

use super::dom::{Mirror, Target};
use super::events::EventFields;
use crate::decode::Event;

/// Custom event tags that carry the page URL in `payload.href`.
const URL_TAGS: [&str; 2] = ["$pageview", "$url_changed"];

#[derive(Default)]
struct Window<'s> {
    mirror: Mirror,
    /// FullSnapshot / Mutation events not yet applied to the mirror, in order.
    pending: Vec<&'s Event>,
    url: Option<String>,
    /// Targets described since the mirror last changed (MouseDown, MouseUp, Click and Focus of
    /// one gesture usually hit the same node with no mutation between them).
    described: HashMap<i64, Option<Target>>,
}

/// Follows one session's events in order; see the module docs.
#[derive(Default)]
pub struct Resolver<'s> {
    windows: HashMap<Option<&'s str>, Window<'s>>,
    session_url: Option<String>,
}

/// Whether a row of this kind carries a target: mouse interactions, scrolls and inputs.
fn wants_target(f: &EventFields<'_>) -> bool {
    f.node_id.is_some() && matches!(f.source, Some(2) | Some(3) | Some(5))
}

impl<'s> Resolver<'s> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in the next event of the session (in order) and returns the page URL at that event
    /// and, for interaction rows, the element its node id resolves to.
    pub fn observe(&mut self, e: &'s Event, f: &EventFields<'_>) -> (Option<&str>, Option<Target>) {
        let w = self.windows.entry(e.window_id.as_deref()).or_default();
        match e.event_type {
            2 => {
                w.pending.clear();
                w.pending.push(e);
            }
            3 if f.source == Some(0) => w.pending.push(e),
            4 => {
                if let Some(h) = &f.href {
                    w.url = Some(h.to_string());
                    self.session_url = w.url.clone();
                }
            }
            5 if f
                .custom_tag
                .as_deref()
                .is_some_and(|t| URL_TAGS.contains(&t)) =>
            {
                if let Some(h) = &f.href {
                    w.url = Some(h.to_string());
                    self.session_url = w.url.clone();
                }
            }
            _ => {}
        }
        let target = if wants_target(f) {
            if !w.pending.is_empty() {
                w.described.clear();
            }
            for p in w.pending.drain(..) {
                if p.event_type == 2 {
                    w.mirror.full_snapshot(&p.data);
                } else {
                    w.mirror.mutation(&p.data);
                }
            }
            let id = f.node_id.expect("wants_target checked the node id");
            let mirror = &w.mirror;
            w.described
                .entry(id)
                .or_insert_with(|| mirror.describe(id))
                .clone()
        } else {
            None
        };
        let url = w.url.as_deref().or(self.session_url.as_deref());
        (url, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(window: &str, ts: i64, ty: i32, data: &str) -> Event {
        Event::new(Some(window.into()), ts, ty, data.into())
    }

    const SNAP: &str = r#"{"node":{"type":0,"id":1,"childNodes":[{"type":2,"id":2,"tagName":"html","attributes":{},"childNodes":[{"type":2,"id":3,"tagName":"body","attributes":{},"childNodes":[{"type":2,"id":4,"tagName":"button","attributes":{"id":"buy"},"childNodes":[{"type":3,"id":5,"textContent":"Buy"}]}]}]}]}}"#;

    #[test]
    fn clicks_resolve_per_window_with_the_url_of_the_moment() {
        let events = [
            ev(
                "w1",
                1,
                4,
                r#"{"href":"https://a.test/","width":800,"height":600}"#,
            ),
            ev("w1", 2, 2, SNAP),
            ev(
                "w2",
                3,
                4,
                r#"{"href":"https://b.test/","width":800,"height":600}"#,
            ),
            ev("w1", 4, 3, r#"{"source":2,"type":2,"id":5,"x":1,"y":2}"#),
            // w2 never had a snapshot: its click resolves to nothing
            ev("w2", 5, 3, r#"{"source":2,"type":2,"id":4,"x":1,"y":2}"#),
            ev(
                "w1",
                6,
                5,
                r#"{"tag":"$url_changed","payload":{"href":"https://a.test/cart"}}"#,
            ),
            ev(
                "w1",
                7,
                3,
                r#"{"source":0,"removes":[{"parentId":3,"id":4}],"adds":[],"texts":[],"attributes":[]}"#,
            ),
            ev("w1", 8, 3, r#"{"source":2,"type":2,"id":4,"x":1,"y":2}"#),
        ];
        let mut r = Resolver::new();
        let out: Vec<(Option<String>, Option<Target>)> = events
            .iter()
            .map(|e| {
                let f = EventFields::parse(e);
                let (u, t) = r.observe(e, &f);
                (u.map(str::to_string), t)
            })
            .collect();
        assert_eq!(out[0].0.as_deref(), Some("https://a.test/"));
        let t = out[3]
            .1
            .as_ref()
            .expect("click on the text node resolves to its button");
        assert_eq!(t.tag.as_deref(), Some("button"));
        assert_eq!(t.id.as_deref(), Some("buy"));
        assert_eq!(t.text.as_deref(), Some("Buy"));
        assert_eq!(out[3].0.as_deref(), Some("https://a.test/"));
        assert_eq!(out[4].0.as_deref(), Some("https://b.test/"));
        assert!(out[4].1.is_none());
        assert_eq!(out[5].0.as_deref(), Some("https://a.test/cart"));
        // removed before the click: unknown
        assert!(out[7].1.is_none());
        assert_eq!(out[7].0.as_deref(), Some("https://a.test/cart"));
    }

    #[test]
    fn a_later_full_snapshot_replaces_the_queue() {
        let snap2 = SNAP.replace("\"buy\"", "\"sell\"");
        let events = [
            ev("w", 1, 2, SNAP),
            ev(
                "w",
                2,
                3,
                r#"{"source":0,"removes":[{"parentId":3,"id":4}],"adds":[],"texts":[],"attributes":[]}"#,
            ),
            ev("w", 3, 2, &snap2),
            ev("w", 4, 3, r#"{"source":2,"type":2,"id":4,"x":1,"y":2}"#),
        ];
        let mut r = Resolver::new();
        let mut last = None;
        for e in &events {
            let f = EventFields::parse(e);
            last = r.observe(e, &f).1;
        }
        assert_eq!(last.unwrap().id.as_deref(), Some("sell"));
    }
}
