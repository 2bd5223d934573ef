//! Element resolution on real recordings: every click in tests/data/realclient resolves, through
//! the DOM mirror, to the element the scripted user clicked (the truth file's CSS selector) on the
//! page the truth names, and the per-element queries of queries/ group exactly those clicks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;
use crate::query::{library_sql, query, realclient_sessions as sessions, truth};

/// The six posthog-js sessions (blob JSONL) and the plain rrweb one, nothing else.
fn realclient_only_lake(dest: &Path) {
    let mut inputs: Vec<PathBuf> = (1..=6)
        .map(|n| realclient(&format!("ph-s2202-0{n}.blob.jsonl")))
        .collect();
    inputs.push(realclient("rr-s2202-01.rrweb.json"));
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    convert(&refs, dest, &Default::default());
}

/// A compound CSS selector as the truth files write them: `tag`, `#id`, `.class` and
/// `[attr="value"]` parts, e.g. `a#to-product`, `.add-to-cart[data-sku="sku-3"]`.
#[derive(Debug, Default)]
struct Compound {
    tag: Option<String>,
    id: Option<String>,
    classes: Vec<String>,
    attrs: Vec<(String, String)>,
}

fn parse_selector(s: &str) -> Compound {
    let mut c = Compound::default();
    let b = s.as_bytes();
    let ident_end = |mut i: usize| {
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b'_') {
            i += 1;
        }
        i
    };
    let mut i = ident_end(0);
    if i > 0 {
        c.tag = Some(s[..i].to_string());
    }
    while i < b.len() {
        match b[i] {
            b'#' => {
                let e = ident_end(i + 1);
                c.id = Some(s[i + 1..e].to_string());
                i = e;
            }
            b'.' => {
                let e = ident_end(i + 1);
                c.classes.push(s[i + 1..e].to_string());
                i = e;
            }
            b'[' => {
                let close = i + s[i..].find(']').expect("attribute selector closes");
                let (k, v) = s[i + 1..close].split_once('=').expect("[attr=value]");
                c.attrs
                    .push((k.to_string(), v.trim_matches('"').to_string()));
                i = close + 1;
            }
            _ => panic!("selector {s:?}: unsupported at {i}"),
        }
    }
    c
}

/// Whether a resolved click row (target_* columns) is the element `selector` names.
fn matches(selector: &str, row: &BTreeMap<String, Value>) -> bool {
    let c = parse_selector(selector);
    let s = |k: &str| row[k].as_str().map(str::to_string);
    let attrs: serde_json::Map<String, Value> = row["target_attributes"]
        .as_str()
        .map(|a| serde_json::from_str(a).unwrap())
        .unwrap_or_default();
    let classes = s("target_classes").unwrap_or_default();
    c.tag
        .is_none_or(|t| s("target_tag").as_deref() == Some(t.as_str()))
        && c.id
            .is_none_or(|id| s("target_id").as_deref() == Some(id.as_str()))
        && c.classes
            .iter()
            .all(|k| classes.split(' ').any(|have| have == k))
        && c.attrs
            .iter()
            .all(|(k, v)| attrs.get(k).and_then(Value::as_str) == Some(v.as_str()))
}

/// Every Click event of the lake, as maps of column -> value.
fn click_rows(dest: &Path) -> Vec<BTreeMap<String, Value>> {
    let (cols, rows) = query(
        dest,
        "SELECT session_id, ts_ms, seq, x, y, url, target_tag, target_id, target_classes, \
                target_selector, target_text, target_href, target_attributes \
         FROM events WHERE event_type = 3 AND source = 2 AND interaction = 2 \
         ORDER BY session_id, ts_ms, seq",
    );
    rows.into_iter()
        .map(|r| cols.iter().cloned().zip(r).collect())
        .collect()
}

/// The Click event rrweb recorded for a truth click: same session, nearest in time (rrweb stamps
/// a click a few ms after the harness dispatched it), at most 50 ms away.
fn recorded<'a>(
    clicks: &'a [BTreeMap<String, Value>],
    session: &str,
    t: i64,
) -> Option<&'a BTreeMap<String, Value>> {
    clicks
        .iter()
        .filter(|r| r["session_id"] == session)
        .map(|r| ((r["ts_ms"].as_i64().unwrap() - t).abs(), r))
        .filter(|(d, _)| *d <= 50)
        .min_by_key(|(d, _)| *d)
        .map(|(_, r)| r)
}

#[test]
fn truth_selector_parser_reads_every_form_the_truth_uses() {
    let c = parse_selector(r#"a#to-product"#);
    assert_eq!(
        (c.tag.as_deref(), c.id.as_deref()),
        (Some("a"), Some("to-product"))
    );
    let c = parse_selector(r#".add-to-cart[data-sku="sku-3"]"#);
    assert_eq!(c.classes, ["add-to-cart"]);
    assert_eq!(c.attrs, [("data-sku".to_string(), "sku-3".to_string())]);
    let c = parse_selector("div.hero-image");
    assert_eq!((c.tag.as_deref(), c.classes.len()), (Some("div"), 1));
}

#[test]
fn every_click_resolves_to_the_element_and_page_the_user_clicked() {
    let dest = tempfile::tempdir().unwrap();
    realclient_only_lake(dest.path());
    let clicks = click_rows(dest.path());
    let mut checked = 0;
    let mut by_selector: BTreeMap<String, usize> = BTreeMap::new();
    for s in sessions() {
        let t = truth(&s);
        let want: Vec<&Value> = t["clicks"]
            .as_array()
            .unwrap()
            .iter()
            .chain(t["synthetic_clicks"].as_array().unwrap())
            .collect();
        let recorded_here = clicks
            .iter()
            .filter(|r| r["session_id"] == s.as_str())
            .count();
        assert_eq!(
            recorded_here,
            want.len(),
            "{s}: one Click event per DOM click"
        );
        for w in want {
            let sel = w["selector"].as_str().unwrap();
            let row = recorded(&clicks, &s, w["t"].as_i64().unwrap())
                .unwrap_or_else(|| panic!("{s}: no Click event near {w}"));
            assert!(
                matches(sel, row),
                "{s}: click at {} on {sel} resolved to {row:?}",
                w["t"]
            );
            assert_eq!(row["url"], w["page_url"], "{s}: page of the click on {sel}");
            let selector = row["target_selector"].as_str().unwrap();
            let parsed = parse_selector(sel);
            if let Some(id) = parsed.id {
                // the stable selector stops at the element's own id
                assert!(
                    selector.ends_with(&format!("#{id}")),
                    "{selector} for {sel}"
                );
                assert!(!selector.contains(" > "), "{selector} for {sel}");
            }
            if parsed.tag.as_deref() == Some("a") {
                assert!(row["target_href"].is_string(), "{s}: link {sel}: {row:?}");
            }
            *by_selector.entry(sel.to_string()).or_default() += 1;
            checked += 1;
        }
    }
    assert_eq!(checked, 145, "{by_selector:?}");
    // every element kind the truth names was seen
    assert_eq!(by_selector.len(), 18, "{by_selector:?}");
}

#[test]
fn element_queries_group_the_clicks_rage_and_dead_clicks_by_element() {
    let dest = tempfile::tempdir().unwrap();
    realclient_only_lake(dest.path());
    let clicks = click_rows(dest.path());

    // Most-clicked elements: with no cap, the per-URL counts are every truth click grouped by the
    // truth's page URL and the selector its Click event resolved to.
    let mut want: BTreeMap<(String, String), i64> = BTreeMap::new();
    for s in sessions() {
        let t = truth(&s);
        for w in t["clicks"]
            .as_array()
            .unwrap()
            .iter()
            .chain(t["synthetic_clicks"].as_array().unwrap())
        {
            let row = recorded(&clicks, &s, w["t"].as_i64().unwrap()).unwrap();
            let key = (
                w["page_url"].as_str().unwrap().to_string(),
                row["target_selector"].as_str().unwrap().to_string(),
            );
            *want.entry(key).or_default() += 1;
        }
    }
    let (cols, rows) = query(
        dest.path(),
        &library_sql("top_clicked_elements", &[("top", "1000")]),
    );
    let col = |n: &str| cols.iter().position(|c| c == n).unwrap();
    let got: BTreeMap<(String, String), i64> = rows
        .iter()
        .map(|r| {
            (
                (
                    r[col("url")].as_str().unwrap().to_string(),
                    r[col("target_selector")].as_str().unwrap().to_string(),
                ),
                r[col("clicks")].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    // ranks count up from 1 within each URL, most clicks first
    let top1 = query(
        dest.path(),
        &library_sql("top_clicked_elements", &[("top", "1")]),
    )
    .1;
    let urls: std::collections::BTreeSet<&String> = want.keys().map(|(u, _)| u).collect();
    assert_eq!(top1.len(), urls.len());
    for r in &top1 {
        let url = r[col("url")].as_str().unwrap();
        let best = want
            .iter()
            .filter(|((u, _), _)| u == url)
            .map(|(_, n)| *n)
            .max()
            .unwrap();
        assert_eq!(r[col("clicks")].as_i64().unwrap(), best, "{r:?}");
        assert_eq!(r[col("rank_in_url")].as_i64().unwrap(), 1);
    }

    // Rage clicks per element: each truth burst counted on the element of its first click.
    let mut want: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for s in sessions() {
        for b in truth(&s)["rage_click_bursts"].as_array().unwrap() {
            let row = recorded(&clicks, &s, b["t_start"].as_i64().unwrap()).unwrap();
            assert!(matches(b["selector"].as_str().unwrap(), row), "{s}: {b}");
            let e = want
                .entry((
                    b["page_url"].as_str().unwrap().to_string(),
                    row["target_selector"].as_str().unwrap().to_string(),
                ))
                .or_default();
            e.0 += 1;
            e.1 += b["n_clicks"].as_i64().unwrap();
        }
    }
    let (cols, rows) = query(dest.path(), &library_sql("rage_clicks_by_element", &[]));
    let col = |n: &str| cols.iter().position(|c| c == n).unwrap();
    let got: BTreeMap<(String, String), (i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                (
                    r[col("url")].as_str().unwrap().to_string(),
                    r[col("target_selector")].as_str().unwrap().to_string(),
                ),
                (
                    r[col("bursts")].as_i64().unwrap(),
                    r[col("clicks")].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // Dead clicks per element: the same clicks dead_clicks.sql finds, all on the elements the
    // truth marks as dead (div.hero-image, div.product-image), grouped by element.
    let (dcols, dead) = query(dest.path(), &library_sql("dead_clicks", &[]));
    let (cols, rows) = query(dest.path(), &library_sql("dead_clicks_by_element", &[]));
    let col = |n: &str| cols.iter().position(|c| c == n).unwrap();
    assert!(!rows.is_empty());
    let total: i64 = rows
        .iter()
        .map(|r| r[col("dead_clicks")].as_i64().unwrap())
        .sum();
    assert_eq!(total as usize, dead.len());
    let dsel = dcols.iter().position(|c| c == "target_selector").unwrap();
    let durl = dcols.iter().position(|c| c == "url").unwrap();
    for r in &rows {
        let sel = r[col("target_selector")].as_str().unwrap();
        assert!(
            sel.ends_with("div.hero-image") || sel.contains("div.product-image"),
            "dead click on {sel}"
        );
        let n = dead
            .iter()
            .filter(|d| d[dsel] == sel && d[durl] == r[col("url")])
            .count() as i64;
        assert_eq!(n, r[col("dead_clicks")].as_i64().unwrap(), "{sel}");
    }
}
