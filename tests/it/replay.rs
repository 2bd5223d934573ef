//! `replaylake replay`: the HTML page of a real recording, opened in headless Chromium with no
//! network, plays to its end without a console error, draws the page mid-recording, and jumps
//! to a listed click. scripts/test.sh installs Chromium (Debian's chromium-headless-shell) and
//! rrweb-player (scripts/setup-player.sh); without them these tests fail under CI and skip
//! (loudly) elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::*;

/// The browser, or None (skip) outside CI when it is missing.
fn browser() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("REPLAYLAKE_BROWSER").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromium-headless-shell")),
        Some(PathBuf::from("/usr/bin/chromium")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no headless Chromium: scripts/test.sh installs chromium-headless-shell"
        );
        eprintln!("\n!!! SKIPPING replay tests: no Chromium (run them through scripts/test.sh)\n");
    }
    found
}

fn player_installed() -> bool {
    let ok = replaylake::replay::player::locate(None).is_ok();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "rrweb-player missing: scripts/test.sh runs scripts/setup-player.sh"
        );
        eprintln!("\n!!! SKIPPING replay tests: rrweb-player missing (scripts/setup-player.sh)\n");
    }
    ok
}

/// A lake with one real recording (223 events, 25 clicks) and its replay page.
fn page(dir: &Path) -> (PathBuf, String) {
    let lake = dir.join("lake");
    convert(
        &[&realclient("ph-s2202-01.blob.jsonl")],
        &lake,
        &Default::default(),
    );
    let out = dir.join("rec.html");
    let o = bin(&[
        "replay",
        "--lake",
        lake.to_str().unwrap(),
        "--session",
        "ph-s2202-01",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    (out, "ph-s2202-01".into())
}

/// The page's configuration (windows and their moments), as the page holds it.
fn config(page: &Path) -> Value {
    let html = std::fs::read_to_string(page).unwrap();
    let start = html.find("id=\"rl-config\">").unwrap() + "id=\"rl-config\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end].replace("<\\/", "</")).unwrap()
}

/// Opens `page#hash` in headless Chromium with no network and returns the `<body>` tag after
/// `budget_ms` of virtual time (`extra`: e.g. a screenshot).
fn open(chrome: &Path, page: &Path, hash: &str, budget_ms: u64, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // no network: every host name fails to resolve, and no proxy is reachable
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .args(extra)
        .arg("--dump-dom")
        .arg(format!("file://{}#{hash}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    let start = dom
        .find("<body")
        .unwrap_or_else(|| panic!("no page: {dom}"));
    dom[start..start + dom[start..].find('>').unwrap()].to_string()
}

fn attr(body: &str, name: &str) -> Option<String> {
    let key = format!("data-{name}=\"");
    let i = body.find(&key)? + key.len();
    Some(body[i..i + body[i..].find('"')?].to_string())
}

#[test]
fn the_page_lists_the_recordings_moments_from_the_lake() {
    if !player_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (page, sid) = page(dir.path());
    let cfg = config(&page);
    let windows = cfg["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 1);
    let moments = windows[0]["moments"].as_array().unwrap();
    let count = |kind: &str| moments.iter().filter(|m| m["kind"] == kind).count() as i64;
    let lake = dir.path().join("lake");
    let clicks = sql_i64(
        &lake,
        &format!("SELECT click_count FROM recordings WHERE session_id = '{sid}'"),
    );
    assert_eq!(clicks, truth("ph-s2202-01").clicks);
    // click_count also counts double clicks; the list has the Click interactions
    let single = sql_i64(
        &lake,
        "SELECT count(*) FROM events WHERE event_type = 3 AND source = 2 AND interaction = 2",
    );
    assert_eq!(count("click"), single);
    assert!(count("page") >= 1, "{moments:?}");
    let errors = sql_i64(&lake, "SELECT console_error_count FROM recordings");
    assert_eq!(count("console error"), errors);
    assert!(
        moments
            .windows(2)
            .all(|w| w[0]["ts"].as_i64() <= w[1]["ts"].as_i64())
    );
}

/// Seeking to the end applies every event of the recording (rrweb's `pause(t)` replays all
/// events before `t`), so a DOM the player cannot rebuild shows up as an error here. Playback
/// to the `finish` event (`--virtual-time-budget` alone does not advance rrweb's animation-frame
/// timer) is tested in render.rs, with the browser driven over DevTools.
#[test]
fn every_event_of_the_recording_replays_offline_without_an_error() {
    let (Some(chrome), true) = (browser(), player_installed()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (page, _) = page(dir.path());
    let body = open(&chrome, &page, "autoplay=0&at=end", 5_000, &[]);
    assert_eq!(attr(&body, "errors").as_deref(), Some("0"), "{body}");
    let total: i64 = attr(&body, "total").unwrap().parse().unwrap();
    let lake = dir.path().join("lake");
    let duration = sql_i64(&lake, "SELECT duration_ms FROM recordings");
    assert_eq!(total, duration, "{body}");
    let current: i64 = attr(&body, "current").unwrap().parse().unwrap();
    assert!((current - total).abs() <= 100, "{body}");
}

#[test]
fn a_screenshot_mid_recording_is_not_blank_and_a_listed_click_is_jumped_to() {
    let (Some(chrome), true) = (browser(), player_installed()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (page, _) = page(dir.path());
    let cfg = config(&page);
    let w = &cfg["windows"][0];
    let moments = w["moments"].as_array().unwrap();
    let (k, click) = moments
        .iter()
        .enumerate()
        .filter(|(_, m)| m["kind"] == "click")
        .nth(5)
        .expect("six clicks");
    let want = click["ts"].as_i64().unwrap() - w["start"].as_i64().unwrap();
    let shot = dir.path().join("shot.png");
    let body = open(
        &chrome,
        &page,
        &format!("autoplay=0&moment={k}"),
        5_000,
        &[&format!("--screenshot={}", shot.display())],
    );
    assert_eq!(attr(&body, "errors").as_deref(), Some("0"), "{body}");
    assert_eq!(attr(&body, "jumped"), Some(want.to_string()), "{body}");
    let current: i64 = attr(&body, "current").unwrap().parse().unwrap();
    assert!(
        (current - want).abs() <= 100,
        "at {current} ms, not {want}: {body}"
    );
    let (distinct, share) = colours(&shot);
    assert!(
        distinct > 20 && share < 0.9,
        "blank screenshot: {distinct} colours, the commonest covers {share:.2}"
    );
}

/// Distinct colours in a PNG (8-bit RGB or RGBA, as Chromium writes screenshots) and the share
/// of its commonest colour.
fn colours(png_path: &Path) -> (usize, f64) {
    let (width, bpp, pixels) = decode_png(&std::fs::read(png_path).unwrap());
    let mut counts = std::collections::HashMap::new();
    for row in pixels.chunks(width * bpp) {
        for p in row.chunks(bpp) {
            *counts.entry(p.to_vec()).or_insert(0usize) += 1;
        }
    }
    let total: usize = counts.values().sum();
    let top = counts.values().copied().max().unwrap_or(0);
    (counts.len(), top as f64 / total.max(1) as f64)
}

/// A PNG's width, bytes per pixel and unfiltered pixel rows (PNG spec, sections 9 and 11).
fn decode_png(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    use std::io::Read;
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut i, mut idat, mut ihdr) = (8, Vec::new(), Vec::new());
    while i + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
        let (kind, data) = (&bytes[i + 4..i + 8], &bytes[i + 8..i + 8 + len]);
        match kind {
            b"IHDR" => ihdr = data.to_vec(),
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        i += 12 + len;
    }
    let width = u32::from_be_bytes(ihdr[..4].try_into().unwrap()) as usize;
    let (depth, colour, interlace) = (ihdr[8], ihdr[9], ihdr[12]);
    assert_eq!((depth, interlace), (8, 0), "an 8-bit, non-interlaced PNG");
    let bpp = match colour {
        2 => 3,
        6 => 4,
        c => panic!("PNG colour type {c}"),
    };
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * bpp;
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    for line in raw.chunks(stride + 1) {
        let (filter, line) = (line[0], &line[1..]);
        let above = out.len().checked_sub(stride).map(|s| out[s..].to_vec());
        let start = out.len();
        for (x, &v) in line.iter().enumerate() {
            let a = if x >= bpp { out[start + x - bpp] } else { 0 };
            let b = above.as_ref().map_or(0, |r| r[x]);
            let c = if x >= bpp {
                above.as_ref().map_or(0, |r| r[x - bpp])
            } else {
                0
            };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                4 => paeth(a, b, c),
                f => panic!("PNG filter {f}"),
            };
            out.push(v.wrapping_add(predicted));
        }
    }
    (width, bpp, out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = a as i16 + b as i16 - c as i16;
    let (pa, pb, pc) = (
        (p - a as i16).abs(),
        (p - b as i16).abs(),
        (p - c as i16).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

#[test]
fn replay_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    convert(
        &[&realclient("ph-s2202-01.blob.jsonl")],
        &lake,
        &Default::default(),
    );
    let run = |args: &[&str]| {
        let mut a = vec!["replay", "--lake", lake.to_str().unwrap()];
        a.extend_from_slice(args);
        let o = bin(&a);
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let nowhere = dir.path().join("no-player");
    let (code, err) = run(&[
        "--session",
        "ph-s2202-01",
        "--player-dir",
        nowhere.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("scripts/setup-player.sh"), "{err}");
    if player_installed() {
        let (code, err) = run(&["--session", "no-such-session"]);
        assert_eq!(code, Some(1));
        assert!(
            err.contains("\"no-such-session\" is not in the lake"),
            "{err}"
        );
    }
}
