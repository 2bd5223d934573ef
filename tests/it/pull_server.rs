//! A PostHog API stand-in on 127.0.0.1 for the pull tests: PostHog's real response shapes (list
//! `{"results","has_next","version"[,"next_cursor"]}`, sources, blob_v2 ranges, blob_v2_lts,
//! decompress=false snappy bodies, 404/410), Bearer key checks, a DRF-style sliding-window rate
//! limit answered with 429 + Retry-After, and faults on demand: unreliable ones (5xx, cut and
//! slow bodies) and hostile ones (absurd Retry-After values, listings that never end, bodies
//! that never end, gzip bombs, recordings whose blobs do not exist yet).

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};

use super::common;

/// One recording served as blob_v2 blocks (or as one blob_v2_lts object).
#[derive(Clone, Debug)]
pub struct Rec {
    pub id: String,
    /// Each block: JSONL lines, each ending in '\n'.
    pub blocks: Vec<String>,
    pub lts: bool,
    /// Not flushed to blob storage yet: the sources list has only a `realtime` source.
    pub realtime: bool,
    pub distinct_id: String,
}

impl Rec {
    fn times(&self) -> (i64, i64) {
        let mut lo = i64::MAX;
        let mut hi = i64::MIN;
        for b in &self.blocks {
            for l in b.lines() {
                if let Ok(v) = serde_json::from_str::<Value>(l) {
                    if let Some(t) = v[1]["timestamp"].as_i64() {
                        lo = lo.min(t);
                        hi = hi.max(t);
                    }
                }
            }
        }
        (lo, hi)
    }

    pub fn meta(&self) -> Value {
        let (lo, hi) = self.times();
        let ts = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        };
        let mut m: Value = serde_json::from_str(
            &std::fs::read_to_string(common::public("posthog_recording_meta_modern.json")).unwrap(),
        )
        .unwrap();
        m["id"] = json!(self.id);
        m["distinct_id"] = json!(self.distinct_id);
        m["start_time"] = json!(ts(lo));
        m["end_time"] = json!(ts(hi));
        m["recording_duration"] = json!((hi - lo) / 1000);
        m["person"]["distinct_ids"] = json!([self.distinct_id]);
        m["start_url"] = json!("http://shop.realclient.test/");
        m
    }

    pub fn start_ms(&self) -> i64 {
        self.times().0
    }
}

/// Faults, consumed one request at a time.
#[derive(Debug, Default)]
pub struct Faults {
    /// The next N snapshot calls answer 503.
    pub fail_5xx: u32,
    /// The next N blob calls are cut off mid-body (the connection drops).
    pub cut: u32,
    /// The next N blob calls wait `slow_ms` before answering.
    pub slow: u32,
    pub slow_ms: u64,
    /// Every blob call waits this long (to pace a run that a test kills).
    pub blob_delay_ms: u64,
    /// The next N requests whose path and query contain `throttle_on` answer 429 with
    /// `Retry-After: <retry_after>`.
    pub throttle_next: u32,
    pub throttle_on: &'static str,
    pub retry_after: String,
    /// The list never ends (until cleared).
    pub endless_list: Option<EndlessList>,
    /// The next N blob calls answer a body that never ends, as fast as the client reads.
    pub endless_body: u32,
    /// The next N blob calls answer a body that never ends, one line every 100 ms.
    pub trickle_body: u32,
    /// The next N blob calls answer `Content-Encoding: gzip` of an endless stream of zeros
    /// (about 1 KB on the wire per MiB inflated).
    pub gzip_bomb: u32,
}

/// How a listing fails to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndlessList {
    /// Every call answers the first page, `has_next: true`.
    SamePage,
    /// The real pages, then empty pages with `has_next: true`.
    EmptyPages,
    /// Cursor mode: the real pages, each with the same `next_cursor`.
    SameCursor,
}

/// Takes one from `n` if it is not zero.
fn take(n: &mut u32) -> bool {
    let hit = *n > 0;
    if hit {
        *n -= 1;
    }
    hit
}

#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub throttled: AtomicU64,
    pub list_calls: AtomicU64,
    pub sources_calls: AtomicU64,
    /// Blob calls answered with a whole body.
    pub blob_ok: AtomicU64,
    pub blob_keys_served: AtomicU64,
    pub faults_injected: AtomicU64,
}

pub struct Config {
    pub key: String,
    pub team: String,
    /// (requests, period): all must allow a request.
    pub rates: Vec<(usize, Duration)>,
    /// `/api/environments/` answers 404 (an older PostHog): clients must fall back to /api/projects/.
    pub environments: bool,
    /// Send `next_cursor` (newest PostHog) and accept `after`.
    pub cursor: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key: "phx_testkey_7f3a9c1e5b2d4f60a8c9".into(),
            team: "4242".into(),
            rates: vec![],
            environments: true,
            cursor: false,
        }
    }
}

pub struct Shared {
    pub cfg: Config,
    pub recs: Mutex<Vec<Rec>>,
    pub deleted: Mutex<HashSet<String>>,
    pub faults: Mutex<Faults>,
    history: Mutex<VecDeque<Instant>>,
    pub counters: Counters,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(cfg: Config, recs: Vec<Rec>) -> TestServer {
        let shared = Arc::new(Shared {
            cfg,
            recs: Mutex::new(recs),
            deleted: Mutex::new(HashSet::new()),
            faults: Mutex::new(Faults::default()),
            history: Mutex::new(VecDeque::new()),
            counters: Counters::default(),
        });
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let sh = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(sh);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        let addr = addr_rx.recv().unwrap();
        TestServer {
            addr,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn count(&self, c: impl Fn(&Counters) -> &AtomicU64) -> u64 {
        c(&self.shared.counters).load(Ordering::SeqCst)
    }

    pub fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.shared.faults.lock().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn json_response(status: StatusCode, v: Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(v.to_string()))
        .unwrap()
}

fn query(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

fn parse_dt(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// DRF's SimpleRateThrottle: allowed while fewer than N requests arrived in the last period.
fn throttle(sh: &Shared) -> Option<u64> {
    if sh.cfg.rates.is_empty() {
        return None;
    }
    let now = Instant::now();
    let mut h = sh.history.lock().unwrap();
    let longest = sh.cfg.rates.iter().map(|r| r.1).max().unwrap();
    while h.front().is_some_and(|t| now.duration_since(*t) >= longest) {
        h.pop_front();
    }
    let mut wait = Duration::ZERO;
    for (n, per) in &sh.cfg.rates {
        let in_window: Vec<&Instant> = h
            .iter()
            .filter(|t| now.duration_since(**t) < *per)
            .collect();
        if in_window.len() >= *n {
            let oldest = in_window[in_window.len() - n];
            wait = wait.max((*oldest + *per).saturating_duration_since(now));
        }
    }
    if wait.is_zero() {
        h.push_back(now);
        None
    } else {
        Some(wait.as_secs_f64().ceil().max(1.0) as u64)
    }
}

async fn handle(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    sh.counters.requests.fetch_add(1, Ordering::SeqCst);
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {}", sh.cfg.key) {
        sh.counters.unauthorized.fetch_add(1, Ordering::SeqCst);
        return json_response(
            StatusCode::UNAUTHORIZED,
            json!({"type":"authentication_error","code":"authentication_failed","detail":"Invalid personal API key."}),
        );
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let hostile = {
        let mut f = sh.faults.lock().unwrap();
        (target.contains(f.throttle_on) && take(&mut f.throttle_next))
            .then(|| f.retry_after.clone())
    };
    if let Some(value) = hostile {
        sh.counters.faults_injected.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, value)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"type":"throttled_error","code":"throttled","detail":"Request was throttled."}).to_string(),
            ))
            .unwrap();
    }
    if let Some(secs) = throttle(&sh) {
        sh.counters.throttled.fetch_add(1, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, secs.to_string())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"type":"throttled_error","code":"throttled","detail":format!("Request was throttled. Expected available in {secs} seconds.")}).to_string(),
            ))
            .unwrap();
    }
    let path = req.uri().path().to_string();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = || json_response(StatusCode::NOT_FOUND, json!({"detail":"Not found."}));
    if segs.len() < 4 || segs[0] != "api" || segs[3] != "session_recordings" {
        return not_found();
    }
    match segs[1] {
        "environments" if sh.cfg.environments => {}
        "projects" => {}
        _ => return not_found(),
    }
    if segs[2] != sh.cfg.team {
        return not_found();
    }
    let q = query(&req);
    match &segs[4..] {
        [""] => list(&sh, &q),
        [sid, "snapshots"] => snapshots(&sh, sid, &q).await,
        _ => not_found(),
    }
}

fn list(sh: &Shared, q: &[(String, String)]) -> Response {
    sh.counters.list_calls.fetch_add(1, Ordering::SeqCst);
    let from = param(q, "date_from").and_then(parse_dt).unwrap_or(i64::MIN);
    let to = param(q, "date_to").and_then(parse_dt).unwrap_or(i64::MAX);
    let limit: usize = param(q, "limit").and_then(|l| l.parse().ok()).unwrap_or(50);
    let endless = sh.faults.lock().unwrap().endless_list;
    let offset: usize = match param(q, "after") {
        Some(c) if sh.cfg.cursor => c.strip_prefix("cur-").unwrap().parse().unwrap(),
        Some(_) => panic!("after sent to a server that never sent a cursor"),
        None => param(q, "offset").and_then(|o| o.parse().ok()).unwrap_or(0),
    };
    let recs = sh.recs.lock().unwrap();
    let mut metas: Vec<(i64, Value)> = recs
        .iter()
        .map(|r| (r.start_ms(), r.meta()))
        .filter(|(s, _)| *s >= from && *s <= to)
        .collect();
    // PostHog's default order: start_time DESC
    metas.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1["id"].as_str().cmp(&b.1["id"].as_str()))
    });
    let offset = if endless == Some(EndlessList::SamePage) {
        0
    } else {
        offset
    };
    let page: Vec<Value> = metas
        .iter()
        .skip(offset)
        .take(limit)
        .map(|m| m.1.clone())
        .collect();
    let has_next = endless.is_some() || offset + page.len() < metas.len();
    let mut body = json!({"results": page, "has_next": has_next, "version": 4});
    if sh.cfg.cursor && has_next {
        let next = match endless {
            Some(EndlessList::SameCursor) => limit,
            _ => offset + page.len(),
        };
        body["next_cursor"] = json!(format!("cur-{next}"));
    }
    json_response(StatusCode::OK, body)
}

fn snappy_raw(b: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(b).unwrap()
}

async fn snapshots(sh: &Shared, sid: &str, q: &[(String, String)]) -> Response {
    let source = param(q, "source");
    if source.is_some() {
        let (fail, cut, slow, delay) = {
            let mut f = sh.faults.lock().unwrap();
            let fail = f.fail_5xx > 0;
            if fail {
                f.fail_5xx -= 1;
            }
            let cut = !fail && f.cut > 0;
            if cut {
                f.cut -= 1;
            }
            let slow = if !fail && !cut && f.slow > 0 {
                f.slow -= 1;
                f.slow_ms
            } else {
                0
            };
            (fail, cut, slow, f.blob_delay_ms)
        };
        if slow > 0 {
            // counted first: a client that times out drops this handler mid-sleep
            sh.counters.faults_injected.fetch_add(1, Ordering::SeqCst);
        }
        if delay + slow > 0 {
            tokio::time::sleep(Duration::from_millis(delay + slow)).await;
        }
        if fail {
            sh.counters.faults_injected.fetch_add(1, Ordering::SeqCst);
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"detail":"ClickHouse over capacity. Please retry"}),
            );
        }
        if let Some(r) = hostile_body(sh) {
            return r;
        }
        let resp = blob(sh, sid, source.unwrap(), q);
        if cut && resp.status() == StatusCode::OK {
            sh.counters.faults_injected.fetch_add(1, Ordering::SeqCst);
            sh.counters.blob_ok.fetch_sub(1, Ordering::SeqCst);
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let half = bytes.slice(..bytes.len() / 2);
            let stream = futures::stream::iter(vec![
                Ok::<_, std::io::Error>(half),
                Err(std::io::Error::other("connection reset by test server")),
            ]);
            let mut r = Response::from_parts(parts, Body::from_stream(stream));
            r.headers_mut().remove(header::CONTENT_LENGTH);
            return r;
        }
        return resp;
    }
    sh.counters.sources_calls.fetch_add(1, Ordering::SeqCst);
    if sh.deleted.lock().unwrap().contains(sid) {
        return json_response(
            StatusCode::GONE,
            json!({"error":"recording_deleted","message":"This recording has been permanently deleted","deleted_at":"2026-11-20T00:00:00Z","deleted_by":"test"}),
        );
    }
    let recs = sh.recs.lock().unwrap();
    let Some(r) = recs.iter().find(|r| r.id == sid) else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"detail":"Recording not found"}),
        );
    };
    let sources: Vec<Value> = if r.realtime {
        vec![
            json!({"source":"realtime","start_timestamp":null,"end_timestamp":null,"blob_key":null}),
        ]
    } else if r.lts {
        vec![
            json!({"source":"blob_v2_lts","start_timestamp":null,"end_timestamp":null,"blob_key":format!("session_recordings/lts/{sid}")}),
        ]
    } else {
        let (lo, hi) = r.times();
        let ts = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        };
        (0..r.blocks.len())
            .map(|i| json!({"source":"blob_v2","start_timestamp":ts(lo),"end_timestamp":ts(hi),"blob_key":i.to_string()}))
            .collect()
    };
    json_response(StatusCode::OK, json!({ "sources": sources }))
}

/// A body that never ends, if a fault asks for one.
fn hostile_body(sh: &Shared) -> Option<Response> {
    let (endless, trickle, bomb) = {
        let mut f = sh.faults.lock().unwrap();
        (
            take(&mut f.endless_body),
            take(&mut f.trickle_body),
            take(&mut f.gzip_bomb),
        )
    };
    let line = r#"["w",{"type":3,"timestamp":1764000000000,"data":{"source":1,"positions":[]}}]"#;
    let body = if endless {
        let chunk = Bytes::from(format!("{line}\n").repeat(1000));
        Body::from_stream(futures::stream::repeat(chunk).map(Ok::<_, std::io::Error>))
    } else if trickle {
        let chunk = Bytes::from(format!("{line}\n"));
        let s = futures::stream::repeat(chunk).then(|c| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, std::io::Error>(c)
        });
        Body::from_stream(s)
    } else if bomb {
        let header = Bytes::from_static(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        let blocks = futures::stream::repeat(Bytes::from_static(bomb_block()));
        let s = futures::stream::once(async { header }).chain(blocks);
        Body::from_stream(s.map(Ok::<_, std::io::Error>))
    } else {
        return None;
    };
    sh.counters.faults_injected.fetch_add(1, Ordering::SeqCst);
    let mut r = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/jsonl");
    if bomb {
        r = r.header(header::CONTENT_ENCODING, "gzip");
    }
    Some(r.body(body).unwrap())
}

/// Raw deflate of 1 MiB of zeros ending in a full flush: byte-aligned and referring to nothing
/// before it, so the same bytes repeated are a valid deflate stream that inflates without end.
fn bomb_block() -> &'static [u8] {
    static BLOCK: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BLOCK.get_or_init(|| {
        let zeros = vec![0u8; 1 << 20];
        let mut c = flate2::Compress::new(flate2::Compression::best(), false);
        let mut out = Vec::with_capacity(1 << 16);
        c.compress_vec(&zeros, &mut out, flate2::FlushCompress::Full)
            .unwrap();
        assert_eq!(c.total_in(), zeros.len() as u64, "one call takes it all");
        out
    })
}

fn blob(sh: &Shared, sid: &str, source: &str, q: &[(String, String)]) -> Response {
    let recs = sh.recs.lock().unwrap();
    let Some(r) = recs.iter().find(|r| r.id == sid) else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"detail":"Recording not found"}),
        );
    };
    let decompress = param(q, "decompress") != Some("false");
    let ok = |ctype: &str, body: Vec<u8>, keys: u64| {
        sh.counters.blob_ok.fetch_add(1, Ordering::SeqCst);
        sh.counters
            .blob_keys_served
            .fetch_add(keys, Ordering::SeqCst);
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, ctype)
            .header(header::CACHE_CONTROL, "max-age=3600")
            .header(header::CONTENT_DISPOSITION, "inline")
            .body(Body::from(body))
            .unwrap()
    };
    match source {
        "blob_v2" => {
            let start: usize = param(q, "start_blob_key").unwrap().parse().unwrap();
            let end: usize = param(q, "end_blob_key").unwrap().parse().unwrap();
            // stricter than PostHog (end - start > 20): the client must keep to 20 keys
            if end < start || end - start > 19 {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    json!({"detail":"Cannot request more than 20 blob keys at once"}),
                );
            }
            if end >= r.blocks.len() {
                return json_response(
                    StatusCode::NOT_FOUND,
                    json!({"detail":"Block index out of range"}),
                );
            }
            let blocks = &r.blocks[start..=end];
            if decompress {
                let joined: String = blocks.concat();
                ok(
                    "application/jsonl",
                    joined.trim_end_matches('\n').as_bytes().to_vec(),
                    blocks.len() as u64,
                )
            } else {
                let mut out = Vec::new();
                for b in blocks {
                    let c = snappy_raw(b.as_bytes());
                    out.extend_from_slice(&(c.len() as u32).to_be_bytes());
                    out.extend_from_slice(&c);
                }
                ok("application/octet-stream", out, blocks.len() as u64)
            }
        }
        "blob_v2_lts" => {
            if !r.lts || param(q, "blob_key") != Some(&format!("session_recordings/lts/{sid}")) {
                return json_response(StatusCode::NOT_FOUND, json!({"detail":"Not found."}));
            }
            let all = r.blocks.concat();
            if decompress {
                ok("application/jsonl", all.into_bytes(), 1)
            } else {
                ok("application/octet-stream", snappy_raw(all.as_bytes()), 1)
            }
        }
        _ => json_response(
            StatusCode::BAD_REQUEST,
            json!({"detail":"Invalid source must be one of [blob_v2, blob_v2_ts, None]"}),
        ),
    }
}

/// The realclient fixture recordings, each blob split into blocks of `lines_per_block` lines,
/// with the session ids PostHog gave them.
pub fn fixture_recordings(lines_per_block: usize) -> Vec<Rec> {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(common::realclient("manifest.json")).unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    for (i, s) in manifest["sessions"].as_array().unwrap().iter().enumerate() {
        let Some(blob) = s["files"]["blob"].as_str() else {
            continue;
        };
        let id = s["posthog_session_ids"][0].as_str().unwrap().to_string();
        let text = std::fs::read(common::realclient(blob)).unwrap();
        // split on \n bytes only (compressed payloads contain U+0085)
        let lines: Vec<&[u8]> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let blocks = lines
            .chunks(lines_per_block)
            .map(|c| {
                let mut s = String::new();
                for l in c {
                    s.push_str(std::str::from_utf8(l).unwrap());
                    s.push('\n');
                }
                s
            })
            .collect();
        out.push(Rec {
            id,
            blocks,
            lts: false,
            realtime: false,
            distinct_id: format!("user-{i}"),
        });
    }
    out
}
