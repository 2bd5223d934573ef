//! Where exported files go, what they are named and how they are compressed.
//!
//! A file goes to a directory or any object store the lake itself accepts ([`Lake::open`]) with
//! one put: locally a staging file renamed into place, in the cloud an atomic PUT or a multipart
//! upload that becomes visible only once complete ([`crate::store::put_object`]). So a file
//! is either absent or whole, and a rerun overwrites it with the same bytes. `--out -` streams
//! the one file of a single session to a writer the CLI gives (stdout).
//!
//! Names derive from the session id, escaped by [`escape_id`] so that any id (`../x`, `a.b`,
//! spaces, non-ASCII) is one safe path segment that convert turns back into the id.

use std::io::{self, Write};
use std::sync::Mutex;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::store::Lake;

/// Compression of the exported files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compress {
    #[default]
    None,
    /// `.gz` (gzip, no file name or time in the header: the same bytes on every run).
    Gzip,
    /// `.zst` (zstd level 3, single-threaded: the same bytes on every run).
    Zstd,
}

impl Compress {
    /// The suffix a compressed file's name gets.
    pub fn suffix(self) -> &'static str {
        match self {
            Compress::None => "",
            Compress::Gzip => ".gz",
            Compress::Zstd => ".zst",
        }
    }

    /// An encoder into memory (one file of one session).
    pub fn encoder(self) -> io::Result<Encoder> {
        Ok(match self {
            Compress::None => Encoder::Plain(Vec::new()),
            Compress::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            )),
            Compress::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(Vec::new(), 3)?),
        })
    }
}

/// A file being written, compressed or not.
pub enum Encoder {
    Plain(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
}

impl Encoder {
    /// The file's bytes.
    pub fn finish(self) -> io::Result<Vec<u8>> {
        match self {
            Encoder::Plain(v) => Ok(v),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl Write for Encoder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(v) => v.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(_) => Ok(()),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// A session id as one path segment: every byte outside `[A-Za-z0-9_-]` becomes `%XX` (the dot
/// too, since convert takes a file name's id from before its first dot), and so does the first
/// byte of an id that starts with `export-` (convert strips that prefix of PostHog's download
/// names). Convert's [`crate::decode::envelope::session_id_from_file_name`] reverses it. Empty
/// for an empty id.
pub fn escape_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for (i, b) in id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if plain && !(i == 0 && id.starts_with("export-")) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where the files go.
pub enum Destination {
    /// A directory or object store URL.
    Store(Lake),
    /// One file, to this writer (`--out -`).
    Stream(Mutex<Box<dyn Write + Send>>),
}

impl Destination {
    /// Writes one whole file.
    pub async fn put(&self, name: &str, data: Vec<u8>) -> Result<()> {
        match self {
            Destination::Store(lake) => lake.put(name, Bytes::from(data)).await,
            Destination::Stream(w) => {
                let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
                w.write_all(&data)
                    .and_then(|_| w.flush())
                    .map_err(|source| Error::Io {
                        path: "<stdout>".into(),
                        source,
                    })
            }
        }
    }

    /// Whether this takes a single file.
    pub fn is_stream(&self) -> bool {
        matches!(self, Destination::Stream(_))
    }

    /// The destination for messages.
    pub fn describe(&self) -> String {
        match self {
            Destination::Store(lake) => lake.url.clone(),
            Destination::Stream(_) => "-".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::envelope::session_id_from_file_name;

    #[test]
    fn escaped_ids_are_one_segment_and_convert_finds_them_again() {
        for id in [
            "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            "../../etc/passwd",
            "a.b.c",
            "with space/and%percent",
            "é?#",
            "export-x-ph-recording",
        ] {
            let e = escape_id(id);
            assert!(!e.contains(['/', '\\', '.']), "{id:?} -> {e}");
            let name = crate::export::rrweb::file_name(&e, 1);
            assert_eq!(
                session_id_from_file_name(&name).as_deref(),
                Some(id),
                "{name}"
            );
            let name = crate::export::posthog::file_name(&e);
            assert_eq!(
                session_id_from_file_name(&name).as_deref(),
                Some(id),
                "{name}"
            );
        }
    }

    #[test]
    fn compression_is_deterministic_and_reversible() {
        for c in [Compress::Gzip, Compress::Zstd] {
            let bytes = |c: Compress| {
                let mut e = c.encoder().unwrap();
                e.write_all(b"[{\"type\":4}]").unwrap();
                e.finish().unwrap()
            };
            let (a, b) = (bytes(c), bytes(c));
            assert_eq!(a, b);
            let mut back = String::new();
            match c {
                Compress::Gzip => {
                    io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&a[..]), &mut back)
                }
                _ => io::Read::read_to_string(
                    &mut zstd::stream::read::Decoder::new(&a[..]).unwrap(),
                    &mut back,
                ),
            }
            .unwrap();
            assert_eq!(back, "[{\"type\":4}]");
        }
    }
}
