//! Response bodies read under a size cap. A server can stream without end, or send a small
//! gzip body that inflates without end (reqwest's `gzip` feature decompresses as it reads): the
//! bytes are counted *after* decompression, chunk by chunk, and reading stops at the cap, so a
//! worker never holds more than the cap. The request's total timeout (`--timeout`) covers the
//! body too, so a body that trickles forever ends as a timeout.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

/// Why a body could not be read whole.
#[derive(Debug)]
pub enum BodyError {
    /// More than the cap (decompressed); `seen` is what was read before stopping.
    TooLarge { seen: u64 },
    /// The transport failed mid-body (cut off, timed out, bad gzip): retried by the caller.
    Transport(reqwest::Error),
}

/// Reads the whole body, failing as soon as it passes `cap` bytes.
pub async fn read_capped(resp: reqwest::Response, cap: u64) -> Result<Bytes, BodyError> {
    // a declared length (of the undecoded body) already over the cap: no need to read it
    if let Some(n) = resp.content_length().filter(|n| *n > cap) {
        return Err(BodyError::TooLarge { seen: n });
    }
    let mut buf = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(BodyError::Transport)?;
        let seen = buf.len() as u64 + chunk.len() as u64;
        if seen > cap {
            return Err(BodyError::TooLarge { seen });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The first `max` bytes of a body (an error answer's message), the rest never read.
pub async fn read_prefix(resp: reqwest::Response, max: usize) -> Bytes {
    let mut buf = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while buf.len() < max {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let take = chunk.len().min(max - buf.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            _ => break,
        }
    }
    buf.freeze()
}

/// `n` bytes as MiB for messages.
pub fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
}
