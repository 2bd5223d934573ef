//! `replaylake render`: real recordings rendered by real Chromium (Debian's
//! chromium-headless-shell) and real ffmpeg, checked with ffprobe and the decoded frames; and the
//! HTML player of `replaylake replay` played to its end through the same DevTools driver.
//! scripts/test.sh installs Chromium, ffmpeg and rrweb-player; without them these tests fail
//! under CI and skip (loudly) elsewhere. Sizes and frame rates are small where the assertion
//! allows, to keep the suite quick.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::*;

/// The real-client recordings (every `*.truth.json` of tests/data/realclient) and the file of
/// each that is converted: the blob body of a posthog-js session, the event array of rrweb's.
fn sessions() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(data().join("realclient")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(s) = name.strip_suffix(".truth.json") {
            let blob = realclient(&format!("{s}.blob.jsonl"));
            let file = if blob.exists() {
                blob
            } else {
                realclient(&format!("{s}.rrweb.json"))
            };
            out.push((s.to_string(), file));
        }
    }
    out.sort();
    assert!(out.len() >= 7, "{out:?}");
    out
}

/// Whether Chromium, ffmpeg and rrweb-player are here; outside CI a missing one skips.
fn ready() -> bool {
    let browser = replaylake::render::browser::locate(None).is_ok();
    let ffmpeg = Command::new("ffprobe").arg("-version").output().is_ok()
        && replaylake::render::encode::locate().is_ok();
    let player = replaylake::replay::player::locate(None).is_ok();
    let ok = browser && ffmpeg && player;
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "render tests need chromium-headless-shell, ffmpeg and rrweb-player: scripts/test.sh installs them \
             (browser {browser}, ffmpeg {ffmpeg}, player {player})"
        );
        eprintln!(
            "\n!!! SKIPPING render tests: Chromium, ffmpeg or rrweb-player missing (run scripts/test.sh)\n"
        );
    }
    ok
}

/// Runs `replaylake render --lake LAKE ARGS... --json`; returns its summary.
fn render(lake: &Path, args: &[&str]) -> Value {
    let mut a = vec!["-q", "render", "--lake", lake.to_str().unwrap(), "--json"];
    a.extend_from_slice(args);
    let o = bin(&a);
    assert!(
        o.status.success(),
        "render {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// ffprobe's view of a video: codec, width, height, duration in seconds.
fn probe(video: &Path) -> (String, i64, i64, f64) {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args([
            "stream=codec_name,width,height:format=duration",
            "-of",
            "json",
        ])
        .arg(video)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["streams"][0];
    let dur: f64 = v["format"]["duration"].as_str().unwrap().parse().unwrap();
    (
        s["codec_name"].as_str().unwrap().to_string(),
        s["width"].as_i64().unwrap(),
        s["height"].as_i64().unwrap(),
        dur,
    )
}

/// Every frame of a video as 8-bit gray pixels, decoded by ffmpeg.
fn gray_frames(video: &Path, width: usize, height: usize) -> Vec<Vec<u8>> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
        .chunks(width * height)
        .map(<[u8]>::to_vec)
        .collect()
}

fn variance(px: &[u8]) -> f64 {
    let n = px.len() as f64;
    let mean = px.iter().map(|&p| p as f64).sum::<f64>() / n;
    px.iter().map(|&p| (p as f64 - mean).powi(2)).sum::<f64>() / n
}

fn lake_with(dir: &Path, files: &[&Path]) -> PathBuf {
    let lake = dir.join("lake");
    convert(files, &lake, &Default::default());
    lake
}

#[test]
fn every_real_recording_renders_to_its_active_time_at_speed() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let all = sessions();
    let files: Vec<&Path> = all.iter().map(|(_, f)| f.as_path()).collect();
    let lake = lake_with(dir.path(), &files);
    for (i, (name, _)) in all.iter().enumerate() {
        let active = sql_i64(
            &lake,
            &format!("SELECT active_ms FROM recordings WHERE session_id = '{name}'"),
        );
        let out = dir.path().join(format!("{name}.mp4"));
        // the first at the recording's own size; the others small, for speed
        let mut args = vec![
            "--session",
            name,
            "--out",
            out.to_str().unwrap(),
            "--speed",
            "8",
            "--fps",
            "12",
        ];
        if i > 0 {
            args.extend(["--width", "320", "--height", "200"]);
        }
        let s = render(&lake, &args);
        assert_eq!(s["timeline_ms"].as_i64(), Some(active), "{name}: {s}");
        let (codec, w, h, dur) = probe(&out);
        assert_eq!(codec, "h264", "{name}");
        let (vw, vh) = if i > 0 {
            (320, 200)
        } else {
            let q = |c: &str| {
                sql_i64(
                    &lake,
                    &format!("SELECT {c} FROM recordings WHERE session_id = '{name}'"),
                )
            };
            (
                (q("viewport_width") + 1) & !1,
                (q("viewport_height") + 1) & !1,
            )
        };
        assert_eq!((w, h), (vw, vh), "{name}");
        let want = active as f64 / 8.0 / 1000.0;
        assert!(
            (dur - want).abs() <= 1.0 / 12.0 + 1e-3,
            "{name}: {dur} s, want {want} s (active {active} ms)"
        );
        let frames = gray_frames(&out, w as usize, h as usize);
        let mid = &frames[frames.len() / 2];
        assert!(
            variance(mid) > 50.0,
            "{name}: the middle frame is blank (variance {})",
            variance(mid)
        );
    }
}

#[test]
fn webm_and_gif_have_their_codecs() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with(dir.path(), &[&realclient("ph-s2202-01.blob.jsonl")]);
    let active = sql_i64(&lake, "SELECT active_ms FROM recordings");
    for (ext, codec, fps) in [("webm", "vp9", "12"), ("gif", "gif", "10")] {
        let out = dir.path().join(format!("rec.{ext}"));
        let args = [
            "--session",
            "ph-s2202-01",
            "--out",
            out.to_str().unwrap(),
            "--speed",
            "16",
            "--fps",
            fps,
        ];
        render(
            &lake,
            &[&args[..], &["--width", "320", "--height", "200"][..]].concat(),
        );
        let (c, w, h, dur) = probe(&out);
        assert_eq!((c.as_str(), w, h), (codec, 320, 200), "{ext}");
        let want = active as f64 / 16.0 / 1000.0;
        let frame = 1.0 / fps.parse::<f64>().unwrap();
        assert!(
            (dur - want).abs() <= frame + 0.011,
            "{ext}: {dur} s, want {want} s"
        );
    }
}

/// The first truth click on an "add to cart" button: its time.
fn add_to_cart(name: &str) -> i64 {
    let t: Value = serde_json::from_str(
        &std::fs::read_to_string(realclient(&format!("{name}.truth.json"))).unwrap(),
    )
    .unwrap();
    let c = t["clicks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "click" && c["selector"].as_str().unwrap().contains("add-to-cart"))
        .expect("an add-to-cart click");
    c["t"].as_i64().unwrap()
}

#[test]
fn the_frame_after_an_add_to_cart_click_differs_from_the_frame_before() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with(dir.path(), &[&realclient("ph-s2202-01.blob.jsonl")]);
    let click = add_to_cart("ph-s2202-01");
    let start = sql_i64(&lake, "SELECT CAST(start_time AS BIGINT) FROM recordings");
    let from = format!("{}ms", click - start - 1000);
    let to = format!("{}ms", click - start + 1000);
    let out = dir.path().join("click.mp4");
    let s = render(
        &lake,
        &[
            "--session",
            "ph-s2202-01",
            "--out",
            out.to_str().unwrap(),
            "--speed",
            "1",
            "--fps",
            "25",
            "--skip-inactive=false",
            "--from",
            &from,
            "--to",
            &to,
        ],
    );
    let (w, h) = (
        s["width"].as_u64().unwrap() as usize,
        s["height"].as_u64().unwrap() as usize,
    );
    let first = s["first_frame_ms"].as_i64().unwrap();
    assert_eq!(first, click - 1000, "{s}");
    let frames = gray_frames(&out, w, h);
    assert_eq!(frames.len(), 50, "{s}");
    // 40 ms a frame: the frame at 20-60 ms before the click (the cursor is on the button), and
    // the one 300 ms after it
    let (before, after) = (&frames[(1000 - 20) / 40], &frames[(1000 + 300) / 40]);
    let changed = before
        .iter()
        .zip(after)
        .filter(|(a, b)| a.abs_diff(**b) > 24)
        .count();
    // the cursor alone (20 x 20 px) cannot account for that many
    assert!(changed > 1000, "{changed} pixels changed");
}

/// framemd5 of every decoded frame.
fn frame_hashes(video: &Path) -> Vec<String> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-f", "framemd5", "-"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
        .collect()
}

#[test]
fn two_renders_of_a_session_are_the_same_frames() {
    if !ready() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with(dir.path(), &[&realclient("ph-s2202-02.blob.jsonl")]);
    let mut hashes = Vec::new();
    for k in 0..2 {
        let out = dir.path().join(format!("{k}.mp4"));
        render(
            &lake,
            &[
                "--session",
                "ph-s2202-02",
                "--out",
                out.to_str().unwrap(),
                "--speed",
                "8",
                "--fps",
                "12",
                "--width",
                "480",
                "--height",
                "300",
            ],
        );
        hashes.push((frame_hashes(&out), std::fs::read(&out).unwrap()));
    }
    assert!(hashes[0].0.len() > 10);
    assert_eq!(hashes[0].0, hashes[1].0, "the frames differ");
    assert!(hashes[0].1 == hashes[1].1, "the files differ");
}

#[test]
fn render_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    // a recording with no FullSnapshot: Meta and a mouse move only
    let nofull = dir.path().join("nofull.rrweb.json");
    std::fs::write(
        &nofull,
        json!([
            {"type": 4, "data": {"href": "http://shop.test/", "width": 800, "height": 600}, "timestamp": 1_795_000_000_000i64},
            {"type": 3, "data": {"source": 1, "positions": [{"x": 1, "y": 1, "id": 1, "timeOffset": 0}]}, "timestamp": 1_795_000_001_000i64}
        ])
        .to_string(),
    )
    .unwrap();
    let lake = lake_with(
        dir.path(),
        &[&realclient("ph-s2202-01.blob.jsonl"), &nofull],
    );
    let out = dir.path().join("x.mp4");
    let o = out.to_str().unwrap();
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(bin_path());
        c.args(["render", "--lake", lake.to_str().unwrap()])
            .args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run(
        &[
            "--session",
            "ph-s2202-01",
            "--out",
            o,
            "--browser",
            "/nonexistent/chromium",
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("chromium-headless-shell") && err.contains("apt-get install"),
        "{err}"
    );
    if !ready() {
        return;
    }
    let (code, err) = run(
        &["--session", "ph-s2202-01", "--out", o],
        &[("PATH", "/nonexistent")],
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("ffmpeg") && err.contains("apt-get install ffmpeg"),
        "{err}"
    );
    let (code, err) = run(&["--session", "nofull", "--out", o], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no FullSnapshot"), "{err}");
    assert!(!out.exists(), "no video is made");
    let (code, err) = run(&["--session", "ph-s2202-01", "--out", "x.avi"], &[]);
    assert_eq!(code, Some(2), "a usage error: {err}");
    assert!(err.contains(".mp4, .webm or .gif"), "{err}");
}

/// The HTML player (`replaylake replay`), played in real time by headless Chromium driven over
/// DevTools (rrweb plays on animation frames, which `--virtual-time-budget` does not run):
/// offline, it reaches `finish` with no console error.
#[test]
fn the_html_player_plays_to_its_finish_offline_without_a_console_error() {
    if !ready() {
        return;
    }
    use replaylake::render::{browser, cdp};
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with(dir.path(), &[&realclient("ph-s2202-01.blob.jsonl")]);
    let page = dir.path().join("rec.html");
    let o = bin(&[
        "replay",
        "--lake",
        lake.to_str().unwrap(),
        "--session",
        "ph-s2202-01",
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let chrome = browser::locate(None).unwrap();
    let mut b = browser::Browser::launch(&chrome, 1400, 900, Duration::from_secs(30)).unwrap();
    // no network at all, beyond the browser's flags (hosts do not resolve, the proxy is closed)
    b.page("Network.enable", json!({})).unwrap();
    b.page(
        "Network.emulateNetworkConditions",
        json!({"offline": true, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
    )
    .unwrap();
    b.page(
        "Page.navigate",
        json!({"url": format!("file://{}#speed=8", page.display())}),
    )
    .unwrap();
    b.cdp
        .wait_event("Page.loadEventFired", Duration::from_secs(30))
        .unwrap();
    let started = Instant::now();
    let state = loop {
        let r = b
            .page("Runtime.evaluate", json!({"expression": "document.body.dataset.state + ' ' + document.body.dataset.errors", "returnByValue": true}))
            .unwrap();
        let v = r["result"]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if v.starts_with("finished") || started.elapsed() > Duration::from_secs(60) {
            break v;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(state, "finished 0", "after {:?}", started.elapsed());
    let errors = cdp::console_errors(&b.cdp.take_events());
    assert!(errors.is_empty(), "{errors:?}");
}
