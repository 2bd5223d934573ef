//! A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe`.
//!
//! Why not a crate: `chromiumoxide` 0.9 (even with default features off) turns on tokio's
//! `process` feature and pulls in reqwest 0.13 beside our 0.12; `headless_chrome` 1.0 changes the
//! features of rustls, crc32fast, miniz_oxide and rand (checked with `cargo tree -e features`).
//! Either change recompiles tokio or rustls and with them all of DataFusion and object_store
//! (about 20 minutes on 2 cores) and adds a duplicate HTTP stack, for the half-dozen commands a
//! render sends. The pipe transport needs no socket, port or WebSocket: the browser reads
//! NUL-terminated JSON messages on its fd 3 and writes them on its fd 4. Everything here is
//! `serde_json` and std.
//!
//! Every call has a timeout; events that arrive while waiting are kept for [`Cdp::take_events`]
//! (console errors, exceptions).

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use serde_json::{Value, json};

use crate::render::RenderError;

/// One connection to a browser.
pub struct Cdp {
    to_browser: std::fs::File,
    from_browser: Receiver<Value>,
    next_id: u64,
    events: Vec<Value>,
    /// How long one call may take.
    pub timeout: Duration,
}

impl Cdp {
    /// Talks over the pipe ends: `to_browser` is the browser's fd 3, `from_browser` its fd 4.
    pub fn new(to_browser: std::fs::File, from_browser: std::fs::File, timeout: Duration) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            let mut r = BufReader::with_capacity(1 << 20, from_browser);
            let mut buf = Vec::new();
            while matches!(r.read_until(0, &mut buf), Ok(n) if n > 0) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf)
                    && tx.send(v).is_err()
                {
                    break;
                }
                buf.clear();
            }
        });
        Cdp {
            to_browser,
            from_browser: rx,
            next_id: 0,
            events: Vec::new(),
            timeout,
        }
    }

    /// Sends `method` (to the page `session`, or the browser) and waits for its result.
    pub fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, RenderError> {
        self.call_within(session, method, params, self.timeout)
    }

    /// [`Cdp::call`] with its own timeout.
    pub fn call_within(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, RenderError> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).expect("JSON serializes");
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .map_err(|e| RenderError::cdp(method, format!("the browser's pipe is closed ({e})")))?;
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.next_message(method, deadline, timeout)?;
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                return match v.get("error") {
                    Some(e) => Err(RenderError::cdp(method, e.to_string())),
                    None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                };
            }
            if v.get("method").is_some() {
                self.events.push(v);
            }
        }
    }

    fn next_message(
        &self,
        method: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<Value, RenderError> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.from_browser.recv_timeout(left).map_err(|e| match e {
            RecvTimeoutError::Timeout => RenderError::Timeout {
                what: format!("DevTools call {method}"),
                secs: timeout.as_secs_f64(),
            },
            RecvTimeoutError::Disconnected => {
                RenderError::cdp(method, "the browser closed its DevTools pipe (it exited)")
            }
        })
    }

    /// Waits for an event named `method` (one that already arrived counts), and returns it.
    pub fn wait_event(&mut self, method: &str, timeout: Duration) -> Result<Value, RenderError> {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            return Ok(self.events.remove(i));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.next_message(method, deadline, timeout)?;
            if v["method"] == method {
                return Ok(v);
            }
            if v.get("method").is_some() {
                self.events.push(v);
            }
        }
    }

    /// The events received so far (and forgets them).
    pub fn take_events(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.events)
    }
}

/// The console errors and uncaught exceptions among `events`, as text.
pub fn console_errors(events: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for e in events {
        let p = &e["params"];
        match e["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                let text = d["exception"]["description"]
                    .as_str()
                    .or(d["text"].as_str());
                out.push(format!("uncaught: {}", text.unwrap_or("exception")));
            }
            Some("Runtime.consoleAPICalled") if p["type"] == "error" || p["type"] == "assert" => {
                let args: Vec<String> = p["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        a["value"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| a["description"].to_string())
                    })
                    .collect();
                out.push(format!("console.error: {}", args.join(" ")));
            }
            _ => {}
        }
    }
    out
}
