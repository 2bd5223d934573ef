//! The cap on decompressed sizes, against decompression bombs.
//!
//! gzip and zstd expand zeros (or any repetition) about 1000 times: a 1.2 MB input can hold GBs.
//! Whatever decompresses (a `cv` payload, a gzip or zstd input file, a snappy block) is read
//! through a bounded reader and may yield at most [`super::DecodeOptions::max_decompressed`]
//! bytes per payload or record; more is a [`super::Reject`] whose reason names the limit and the
//! flag that raises it.
//!
//! Bounded reads grow their buffer like `Vec` but never past the cap: a doubling `Vec` holding
//! `cap` bytes may have allocated twice as much.
//!
//! The default, 256 MiB, is far above what real recordings hold (posthog-js sends batches of
//! about 1 MB of gzip, a DOM snapshot inflates 5–20 times, so real payloads stay within tens of
//! MB), and bounds what one decoding thread holds for a payload: memory, not input size, is what
//! the cap protects.

use std::io::{self, Read};

/// Default cap per payload or record: 256 MiB.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 256 << 20;

/// The flag that sets the cap.
pub const FLAG: &str = "--max-decompressed-mb";

/// `max` bytes for people: MiB when it is a whole number of them.
pub fn size_text(max: usize) -> String {
    if max >= 1 << 20 && max % (1 << 20) == 0 {
        format!("{} MiB", max >> 20)
    } else {
        format!("{max} bytes")
    }
}

/// A reject's reason for `what` being over the cap.
pub fn too_large(what: &str, max: usize) -> String {
    format!(
        "{what} decompresses to more than {}, the limit per payload or record (raise it with {FLAG})",
        size_text(max)
    )
}

/// Grows `buf` for `more` bytes like `Vec` does (doubling), but never to a capacity above `cap`:
/// a doubling `Vec` that holds `cap` bytes may have allocated twice that.
fn reserve_capped(buf: &mut Vec<u8>, more: usize, cap: usize) {
    let need = buf.len() + more;
    if need <= buf.capacity() {
        return;
    }
    let grown = (buf.capacity() * 2)
        .max(need)
        .max(8 << 10)
        .min(cap.max(need));
    buf.reserve_exact(grown - buf.len());
}

/// Appends `bytes` to `buf`, growing it at most to `cap` bytes of capacity (when `bytes` fit).
pub fn extend_capped(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) {
    reserve_capped(buf, bytes.len(), cap);
    buf.extend_from_slice(bytes);
}

/// Appends the rest of `r` to `buf` until `buf` holds `max + 1` bytes; returns false when it
/// does (there was more than `max`). `buf`'s capacity stays at most `max + 1`.
pub fn read_capped<R: Read + ?Sized>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    let cap = max.saturating_add(1);
    while buf.len() < cap {
        reserve_capped(buf, 1, cap);
        let room = buf.capacity().min(cap) - buf.len();
        if (&mut *r).take(room as u64).read_to_end(buf)? == 0 {
            break;
        }
    }
    Ok(buf.len() <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_cap_and_allocate_no_more() {
        let data = vec![7u8; 100_000];
        let mut buf = Vec::new();
        assert!(!read_capped(&mut &data[..], &mut buf, 50_000).unwrap());
        assert_eq!(buf.len(), 50_001);
        assert!(buf.capacity() <= 50_001 + 64, "{}", buf.capacity());
        let mut buf = vec![1, 2];
        assert!(read_capped(&mut &data[..10], &mut buf, 50_000).unwrap());
        assert_eq!(buf.len(), 12);
        let mut buf = Vec::new();
        for _ in 0..1000 {
            extend_capped(&mut buf, &data[..97], 97_000);
        }
        assert!(buf.capacity() <= 97_000 + 64, "{}", buf.capacity());
    }
}
