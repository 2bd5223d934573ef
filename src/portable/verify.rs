//! `replaylake verify`: one portable file checked whole, strictly (framing, sequence, checksums,
//! end line), gzip or zstd wrappers unwrapped. The verdict is "ok" or the first problem with its
//! line number: after a problem, what follows cannot be trusted to mean what it says.

use std::io::BufRead;
use std::path::Path;

use super::read::Reader;
use crate::decode::limit::DEFAULT_MAX_DECOMPRESSED;
use crate::source::capped::{self, Line};
use crate::source::file::open_text;

/// What [`verify_file`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub session_id: Option<String>,
    /// Good event lines before the first problem (all of them when there is none).
    pub events: u64,
    /// The first problem: 1-based line number and what is wrong.
    pub problem: Option<(u64, String)>,
}

impl Verdict {
    fn problem(session_id: Option<String>, events: u64, line: u64, why: String) -> Self {
        Verdict {
            session_id,
            events,
            problem: Some((line, why)),
        }
    }
}

/// Checks one file. Read errors (a corrupt gzip stream) are problems of the file, not errors.
pub fn verify_file(path: &Path) -> Verdict {
    let (mut r, compressed) = match open_text(path) {
        Ok(r) => r,
        Err(e) => return Verdict::problem(None, 0, 1, e.to_string()),
    };
    let max = compressed.then_some(DEFAULT_MAX_DECOMPRESSED);
    let mut buf = Vec::new();
    let mut reader: Option<Reader> = None;
    let mut events = 0u64;
    let mut n = 0u64;
    loop {
        n += 1;
        buf.clear();
        let sid = reader.as_ref().map(|r| r.meta().session_id.clone());
        let line = match next_line(&mut *r, &mut buf, max) {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(why) => return Verdict::problem(sid, events, n, why),
        };
        let step = match &mut reader {
            None => Reader::start(line, true).map(|r| reader = Some(r)),
            Some(r) => r.line(line).map(|item| {
                if matches!(item, super::read::Item::Event { .. }) {
                    events += 1;
                }
            }),
        };
        if let Err(why) = step {
            return Verdict::problem(sid, events, n, why);
        }
    }
    let sid = reader.as_ref().map(|r| r.meta().session_id.clone());
    match &reader {
        None => Verdict::problem(None, 0, 1, "empty file".into()),
        Some(r) if !r.ended() => Verdict::problem(
            sid,
            events,
            n,
            format!("truncated: the file ends after {events} events without its end line"),
        ),
        Some(_) => Verdict {
            session_id: sid,
            events,
            problem: None,
        },
    }
}

/// The next line without its terminator (`\n`, or `\r\n`), `None` at the end of the input.
fn next_line<'b>(
    r: &mut dyn BufRead,
    buf: &'b mut Vec<u8>,
    max: Option<usize>,
) -> Result<Option<&'b [u8]>, String> {
    match capped::read_line(r, buf, max) {
        Ok(Line::Read(0)) => Ok(None),
        Ok(Line::Read(_)) => {
            let mut line = &buf[..];
            line = line.strip_suffix(b"\n").unwrap_or(line);
            line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                return Err("an empty line".into());
            }
            Ok(Some(line))
        }
        Ok(Line::TooLong(len)) => Err(format!(
            "a line of {len} bytes decompressed, more than {} MiB",
            DEFAULT_MAX_DECOMPRESSED >> 20
        )),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}
