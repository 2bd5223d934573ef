//! Bounded reads of decompressed streams: a line or a document of at most a given size.
//!
//! A gzip or zstd input is read through its decompressor, where a few MB of input can stand for
//! GBs of output (see [`crate::decode::limit`]). These reads keep at most `max + 1` bytes, so the
//! caller can tell "too long" from "exactly `max`" without ever holding more; a line that is too
//! long is read on to its end and dropped, so that the next line can still be read. The buffer is
//! reserved whole at the first capped read: the OS backs only the pages written, and the buffer
//! never moves (a growing one is copied, for a moment holding one and a half times its size).

use std::io::{self, BufRead, Read};

use crate::decode::limit::{extend_capped, read_capped};

/// What [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A line of `n` bytes (0: end of input) is in the buffer, its `\n` included.
    Read(usize),
    /// A line of more than `max` bytes: its first `max + 1` bytes are in the buffer, the rest of
    /// it (`n` bytes in all) was read and dropped.
    TooLong(u64),
}

/// Appends one line (through `\n`) to `buf`, keeping at most `max + 1` bytes of it (and
/// allocating no more); `None` reads it whole.
pub fn read_line<R: BufRead + ?Sized>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: Option<usize>,
) -> io::Result<Line> {
    let Some(max) = max else {
        return r.read_until(b'\n', buf).map(Line::Read);
    };
    let start = buf.len();
    let cap = start + max + 1;
    buf.reserve_exact(cap - start);
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let (chunk, ends_line) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (&avail[..=i], true),
            None => (avail, false),
        };
        if chunk.is_empty() {
            return Ok(Line::Read(buf.len() - start));
        }
        let keep = chunk.len().min(cap - buf.len());
        let n = chunk.len();
        extend_capped(buf, &chunk[..keep], cap);
        r.consume(keep);
        let content = buf.len() - start - usize::from(buf.last() == Some(&b'\n'));
        if content > max {
            let rest = if ends_line && keep == n {
                0
            } else {
                r.skip_until(b'\n')?
            };
            return Ok(Line::TooLong((buf.len() - start + rest) as u64));
        }
        if ends_line {
            return Ok(Line::Read(buf.len() - start));
        }
    }
}

/// Appends the rest of `r` to `buf` up to `max` bytes in `buf` in all (`None`: no limit);
/// returns false, with `max + 1` bytes in `buf`, when there is more.
pub fn read_to_end<R: Read + ?Sized>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: Option<usize>,
) -> io::Result<bool> {
    match max {
        Some(max) => {
            buf.reserve_exact((max + 1).saturating_sub(buf.len()));
            read_capped(r, buf, max)
        }
        None => r.read_to_end(buf).map(|_| true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_over_the_cap_are_skipped_to_the_next() {
        let text = b"short\nthis one is long\nok\n0123\n01234";
        let mut r = io::BufReader::with_capacity(3, &text[..]);
        let mut got = vec![];
        loop {
            let mut buf = vec![];
            match read_line(&mut r, &mut buf, Some(5)).unwrap() {
                Line::Read(0) => break,
                Line::Read(_) => got.push(String::from_utf8(buf).unwrap()),
                Line::TooLong(n) => {
                    assert_eq!(buf.len(), 6);
                    got.push(format!("<{n}>"))
                }
            }
        }
        assert_eq!(got, ["short\n", "<17>", "ok\n", "0123\n", "01234"]);
    }

    #[test]
    fn documents_over_the_cap_stop_at_cap_plus_one() {
        let mut buf = b"ab".to_vec();
        assert!(!read_to_end(&mut &b"cdefgh"[..], &mut buf, Some(4)).unwrap());
        assert_eq!(buf, b"abcde");
        let mut buf = b"ab".to_vec();
        assert!(read_to_end(&mut &b"cd"[..], &mut buf, Some(4)).unwrap());
        assert!(read_to_end(&mut &b"xyz"[..], &mut buf, None).unwrap());
        assert_eq!(buf, b"abcdxyz");
    }
}
