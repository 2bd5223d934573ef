//! Replay files on disk: discovery (files, directories, globs) and reading (gzip, zstd, snappy
//! containers; JSONL streamed line by line, JSON documents parsed whole).
//!
//! The format is detected from the content, never from the file name:
//! 1. gzip (`1f 8b`) and zstd (`28 b5 2f fd`) are unwrapped (nested wrappers too);
//! 2. text whose first line is a complete JSON value is JSONL: each line is a record;
//! 3. other text is one JSON document (a pretty-printed export or event array);
//! 4. binary is PostHog's `decompress=false` body (`[u32 BE length][raw snappy block]…`) or one raw
//!    snappy block (`blob_v2_lts`).
//!
//! JSONL is split on `\n` bytes only: compressed payloads contain U+0085, which Unicode-aware
//! splitters take for a line break.
//!
//! What comes out of a decompressor (gzip, zstd, snappy) is capped per record (a line, or the
//! whole document) at [`DecodeOptions::max_decompressed`] and read through bounded readers
//! ([`super::capped`]): a record over the cap is a reject naming the limit, and the next line is
//! still read. Bytes read straight from disk are not capped: their size is the file's.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::value::RawValue;
use xxhash_rust::xxh3::Xxh3;

use super::capped::{self, Line};
use super::object::{StoreObject, expand_store_input, is_store_url};
use crate::decode::envelope::Loc;
use crate::decode::limit::too_large;
use crate::decode::{DecodeOptions, Decoder, Reject, Session};
use crate::error::{Error, Result};

/// An input found by [`expand_inputs`] or [`expand_inputs_in`].
#[derive(Debug, Clone)]
pub struct InputFile {
    pub location: Location,
    pub size: u64,
}

/// Where an input lies.
#[derive(Debug, Clone)]
pub enum Location {
    Local(PathBuf),
    Object(Arc<StoreObject>),
}

impl InputFile {
    fn local(path: PathBuf, size: u64) -> Self {
        InputFile {
            location: Location::Local(path),
            size,
        }
    }

    /// The path or URL, as messages and provenance show it.
    pub fn name(&self) -> String {
        match &self.location {
            Location::Local(p) => p.display().to_string(),
            Location::Object(o) => o.url.clone(),
        }
    }

    /// The local path, when the input is a local file.
    pub fn local_path(&self) -> Option<&Path> {
        match &self.location {
            Location::Local(p) => Some(p),
            Location::Object(_) => None,
        }
    }
}

/// What one input decoded into.
#[derive(Debug)]
pub struct Decoded {
    pub file: String,
    pub format: String,
    pub sessions: Vec<Session>,
    pub rejects: Vec<Reject>,
    pub bytes: u64,
    /// xxh3-64 of the input bytes as stored, hex.
    pub fingerprint: String,
    /// About the input as a whole (a portable file without its end line), for the summary.
    pub warnings: Vec<String>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn skip_name(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

fn walk(dir: &Path, out: &mut Vec<InputFile>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_err(dir))?
        .collect::<std::io::Result<_>>()
        .map_err(io_err(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if skip_name(&name) {
            continue;
        }
        let path = e.path();
        let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
        if meta.is_dir() {
            walk(&path, out)?;
        } else if meta.is_file() {
            out.push(InputFile::local(path, meta.len()));
        }
    }
    Ok(())
}

/// Expands local paths, directories (recursively; names starting with `.` or `_` are skipped)
/// and glob patterns into a sorted, de-duplicated list of files.
pub fn expand_inputs(args: &[String]) -> Result<Vec<InputFile>> {
    if let Some(url) = args.iter().find(|a| is_store_url(a)) {
        return Err(Error::Usage(format!(
            "{url} is an object store URL; this command reads local files only"
        )));
    }
    expand_local(args)
}

/// As [`expand_inputs`], and object store URLs too (see [`super::object`]), opened with the
/// object_store `options` and read through `rt`.
pub fn expand_inputs_in(
    args: &[String],
    options: &[(String, String)],
    rt: &tokio::runtime::Handle,
) -> Result<Vec<InputFile>> {
    let (urls, local): (Vec<String>, Vec<String>) =
        args.iter().cloned().partition(|a| is_store_url(a));
    let mut out = expand_local(&local)?;
    for url in &urls {
        out.extend(expand_store_input(url, options, rt)?);
    }
    out.sort_by_key(|f| f.name());
    out.dedup_by(|a, b| a.name() == b.name());
    Ok(out)
}

fn expand_local(args: &[String]) -> Result<Vec<InputFile>> {
    let mut out = Vec::new();
    for arg in args {
        let path = Path::new(arg);
        if path.exists() {
            let meta = std::fs::metadata(path).map_err(io_err(path))?;
            if meta.is_dir() {
                let before = out.len();
                walk(path, &mut out)?;
                if out.len() == before {
                    return Err(Error::EmptyInput {
                        dir: path.to_path_buf(),
                    });
                }
            } else {
                out.push(InputFile::local(path.to_path_buf(), meta.len()));
            }
            continue;
        }
        let paths =
            glob::glob(arg).map_err(|e| Error::Usage(format!("bad glob pattern {arg:?}: {e}")))?;
        let before = out.len();
        for p in paths {
            let p = p.map_err(|e| Error::Io {
                path: e.path().to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?;
            let meta = std::fs::metadata(&p).map_err(io_err(&p))?;
            if meta.is_dir() {
                walk(&p, &mut out)?;
            } else {
                out.push(InputFile::local(p, meta.len()));
            }
        }
        if out.len() == before {
            return Err(Error::NoInput {
                pattern: arg.clone(),
            });
        }
    }
    out.sort_by(|a, b| a.local_path().cmp(&b.local_path()));
    out.dedup_by(|a, b| a.local_path() == b.local_path());
    Ok(out)
}

/// Reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Xxh3,
    bytes: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

const GZIP: &[u8] = &[0x1f, 0x8b];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Opens a file for reading its text: gzip and zstd wrappers (nested ones too) are unwrapped,
/// as [`decode_file`] does. The flag says whether the text comes out of a decompressor (whose
/// records a reader should then cap).
pub fn open_text(path: &Path) -> Result<(Box<dyn BufRead>, bool)> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut r: Box<dyn BufRead> = Box::new(BufReader::with_capacity(1 << 16, file));
    let mut compressed = false;
    loop {
        let head = r.fill_buf().map_err(io_err(path))?;
        if head.starts_with(GZIP) {
            let gz = flate2::bufread::MultiGzDecoder::new(r);
            r = Box::new(BufReader::with_capacity(1 << 16, gz));
        } else if head.starts_with(ZSTD) {
            let z = zstd::stream::read::Decoder::with_buffer(r).map_err(io_err(path))?;
            r = Box::new(BufReader::with_capacity(1 << 16, z));
        } else {
            return Ok((r, compressed));
        }
        compressed = true;
    }
}

/// Decodes one local file (streaming JSONL; JSON documents and snappy bodies are read whole).
pub fn decode_file(path: &Path, opts: &DecodeOptions) -> Result<Decoded> {
    let file = File::open(path).map_err(io_err(path))?;
    let size = file.metadata().map(|m| m.len()).ok();
    let name = path.display().to_string();
    decode_reader(&name, file, size, opts).map_err(io_err(path))
}

/// Decodes one input, local or in an object store.
pub fn decode_input(input: &InputFile, opts: &DecodeOptions) -> Result<Decoded> {
    match &input.location {
        Location::Local(p) => decode_file(p, opts),
        Location::Object(o) => {
            let (reader, failure) = o.open()?;
            let decoded = decode_reader(&o.url, reader, Some(input.size), opts);
            match (failure.take(), decoded) {
                (Some(e), _) => Err(Error::store(&o.url, e)),
                (None, d) => d.map_err(|e| Error::Io {
                    path: PathBuf::from(&o.url),
                    source: e,
                }),
            }
        }
    }
}

fn decode_reader(
    name: &str,
    input: impl Read,
    size: Option<u64>,
    opts: &DecodeOptions,
) -> std::io::Result<Decoded> {
    // a small file needs no 1 MiB buffer (inputs are often many files of ~100 KB)
    let capacity = size
        .map(|n| (n as usize).saturating_add(1).clamp(8 << 10, 1 << 20))
        .unwrap_or(1 << 20);
    let mut hashing = Hashing {
        inner: input,
        hash: Xxh3::new(),
        bytes: 0,
    };
    let mut dec = Decoder::new(name, opts);
    {
        let reader = BufReader::with_capacity(capacity, &mut hashing);
        let mut containers = Vec::new();
        let res = read_stream(Box::new(reader), &mut dec, &mut containers, None);
        if let Err(e) = res {
            dec.reject(Loc::default(), format!("read failed: {e}"), b"");
        }
        // read the rest so the fingerprint covers the whole file
        std::io::copy(&mut hashing, &mut std::io::sink())?;
    }
    let format = dec.format();
    let (sessions, rejects, warnings) = dec.finish();
    Ok(Decoded {
        file: name.to_string(),
        format,
        sessions,
        rejects,
        warnings,
        bytes: hashing.bytes,
        fingerprint: format!("{:016x}", hashing.hash.digest()),
    })
}

/// Decodes an in-memory input (an HTTP body, a test fixture). `name` is used in provenance and rejects
/// (and gives the session id when it has the form `<session_id>.<anything>`).
pub fn decode_bytes(name: &str, bytes: &[u8], opts: &DecodeOptions) -> Decoded {
    let mut dec = Decoder::new(name, opts);
    let mut containers = Vec::new();
    let reader = Box::new(BufReader::new(bytes));
    if let Err(e) = read_stream(reader, &mut dec, &mut containers, None) {
        dec.reject(Loc::default(), format!("read failed: {e}"), b"");
    }
    let format = dec.format();
    let (sessions, rejects, warnings) = dec.finish();
    Decoded {
        file: name.to_string(),
        format,
        sessions,
        rejects,
        warnings,
        bytes: bytes.len() as u64,
        fingerprint: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes)),
    }
}

/// Reads one input or container. `max` caps each record when the bytes come out of a
/// decompressor (`None` for bytes as stored).
fn read_stream<'a>(
    mut r: Box<dyn BufRead + 'a>,
    dec: &mut Decoder,
    containers: &mut Vec<&'static str>,
    max: Option<usize>,
) -> std::io::Result<()> {
    let head = r.fill_buf()?;
    if head.starts_with(GZIP) {
        containers.push("gzip");
        dec.set_container(container_name(containers));
        let gz = flate2::bufread::MultiGzDecoder::new(r);
        return read_checked(
            Box::new(BufReader::with_capacity(1 << 20, gz)),
            dec,
            containers,
            "gzip",
        );
    }
    if head.starts_with(ZSTD) {
        containers.push("zstd");
        dec.set_container(container_name(containers));
        let z = zstd::stream::read::Decoder::with_buffer(r)?;
        return read_checked(
            Box::new(BufReader::with_capacity(1 << 20, z)),
            dec,
            containers,
            "zstd",
        );
    }
    let first = head.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None if head.is_empty() => Ok(()),
        Some(b'{') | Some(b'[') => read_text(r, dec, max),
        _ => {
            let mut all = Vec::new();
            if !capped::read_to_end(&mut r, &mut all, max)? {
                let max = max.unwrap_or_default();
                let what = format!("{} content", container_name(containers));
                dec.reject(
                    Loc::default(),
                    too_large(&what, max),
                    &all[..all.len().min(256)],
                );
                return Ok(());
            }
            if all.iter().all(|b| b.is_ascii_whitespace()) {
                return Ok(());
            }
            read_binary(&all, dec, containers);
            Ok(())
        }
    }
}

fn container_name(c: &[&'static str]) -> &'static str {
    match c {
        ["gzip"] => "gzip",
        ["zstd"] => "zstd",
        ["gzip", "gzip"] => "gzip+gzip",
        _ => "compressed",
    }
}

/// Runs `read_stream` on a decompressing reader, each record capped; a corrupt stream becomes a
/// reject naming where it broke.
fn read_checked<'a>(
    r: Box<dyn BufRead + 'a>,
    dec: &mut Decoder,
    containers: &mut Vec<&'static str>,
    what: &str,
) -> std::io::Result<()> {
    let max = Some(dec.max_decompressed());
    match read_stream(r, dec, containers, max) {
        Ok(()) => Ok(()),
        Err(e) => {
            dec.reject(
                Loc::default(),
                format!(
                    "corrupt or truncated {what} stream after {} records: {e}",
                    dec.records()
                ),
                b"",
            );
            Ok(())
        }
    }
}

/// True when `line` is one complete JSON value.
fn is_complete_json(line: &[u8]) -> bool {
    serde_json::from_slice::<&RawValue>(line).is_ok()
        || serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
}

fn trim_line(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    line
}

fn read_text<'a>(
    mut r: Box<dyn BufRead + 'a>,
    dec: &mut Decoder,
    max: Option<usize>,
) -> std::io::Result<()> {
    let mut first = Vec::new();
    let first_read = capped::read_line(&mut r, &mut first, max)?;
    let first_trim = trim_line(&first);
    if matches!(first_read, Line::TooLong(_)) || is_complete_json(first_trim) {
        // JSONL: stream line by line.
        let mut n = 1u64;
        feed_capped(dec, n, first_read, &first, max);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = capped::read_line(&mut r, &mut line, max)?;
            if read == Line::Read(0) {
                break;
            }
            n += 1;
            feed_capped(dec, n, read, &line, max);
        }
        return Ok(());
    }
    // One JSON document (pretty-printed export or array).
    let mut all = first;
    if !capped::read_to_end(&mut r, &mut all, max)? {
        let what = "JSON document";
        let head = &all[..all.len().min(4096)];
        dec.reject(
            Loc::default(),
            too_large(what, max.unwrap_or_default()),
            head,
        );
        return Ok(());
    }
    read_document(&all, dec);
    Ok(())
}

/// Feeds a line read by [`capped::read_line`], or rejects it when it was over the cap.
fn feed_capped(dec: &mut Decoder, n: u64, read: Line, line: &[u8], max: Option<usize>) {
    match read {
        Line::Read(_) => feed_line(dec, n, trim_line(line)),
        Line::TooLong(len) => {
            let what = format!("line of {len} bytes");
            let loc = Loc { line: Some(n) };
            dec.reject(loc, too_large(&what, max.unwrap_or_default()), line);
        }
    }
}

fn feed_line(dec: &mut Decoder, n: u64, line: &[u8]) {
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return;
    }
    dec.record(Loc { line: Some(n) }, line);
}

fn read_document(all: &[u8], dec: &mut Decoder) {
    match serde_json::from_slice::<serde::de::IgnoredAny>(all) {
        Ok(_) => dec.record(Loc::default(), all),
        Err(e) if e.is_eof() => dec.reject(
            Loc {
                line: Some(e.line() as u64),
            },
            format!(
                "truncated JSON document: it ends at line {} column {} before it is complete",
                e.line(),
                e.column()
            ),
            &all[all.len().saturating_sub(4096)..],
        ),
        Err(_) => {
            // Not one document: JSONL whose first line is bad. Each line is a record.
            for (i, line) in all.split(|&b| b == b'\n').enumerate() {
                feed_line(dec, i as u64 + 1, trim_line(line));
            }
        }
    }
}

/// Text of a snappy body: length-prefixed raw blocks, else one raw block.
fn read_binary(all: &[u8], dec: &mut Decoder, containers: &mut Vec<&'static str>) {
    if let Some(blocks) = length_prefixed_blocks(all) {
        containers.push("snappy-blocks");
        dec.set_container("snappy-blocks");
        let mut snappy = snap::raw::Decoder::new();
        let mut line_no = 0u64;
        for (i, block) in blocks.iter().enumerate() {
            match unsnappy(&mut snappy, block, dec.max_decompressed()) {
                Ok(text) => {
                    for line in text.split(|&b| b == b'\n') {
                        line_no += 1;
                        feed_line(dec, line_no, trim_line(line));
                    }
                }
                Err(reason) => {
                    dec.reject(Loc::default(), format!("snappy block #{i} {reason}"), b"")
                }
            }
        }
        return;
    }
    let max = dec.max_decompressed();
    let head = &all[..all.len().min(256)];
    // Text that is not JSON (a README, a CSV) is no snappy body either: when it does not decode
    // as one, say so plainly rather than how snappy failed.
    let plain = || text_not_json(all);
    if snap::raw::decompress_len(all).is_ok_and(|len| len > max) {
        let reason = plain().unwrap_or_else(|| too_large("snappy body", max));
        return dec.reject(Loc::default(), reason, head);
    }
    match snap::raw::Decoder::new().decompress_vec(all) {
        Ok(text) => {
            containers.push("snappy");
            dec.set_container("snappy");
            match text.iter().copied().find(|b| !b.is_ascii_whitespace()) {
                Some(b'{') | Some(b'[') => {
                    if let Err(e) = read_text(Box::new(BufReader::new(&text[..])), dec, None) {
                        dec.reject(Loc::default(), format!("read failed: {e}"), b"");
                    }
                }
                _ => match plain() {
                    Some(reason) => dec.reject(Loc::default(), reason, head),
                    None => dec.reject(
                        Loc::default(),
                        "snappy block holds no JSON",
                        &text[..text.len().min(256)],
                    ),
                },
            }
        }
        Err(e) => dec.reject(
            Loc::default(),
            plain().unwrap_or_else(|| {
                format!("unrecognized content: not JSON, gzip, zstd or snappy ({e})")
            }),
            head,
        ),
    }
}

/// When `all` is plain text (UTF-8 without control characters but tabs and line ends), which no
/// snappy body is (its first bytes are a length and a tag, never all printable), the reject
/// reason for it: it is no recording.
fn text_not_json(all: &[u8]) -> Option<String> {
    let head = &all[..all.len().min(64 << 10)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // a cut in the middle of a character at the end of the window is still text
        Err(e) if e.error_len().is_none() && head.len() < all.len() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()?
        }
        Err(_) => return None,
    };
    if text.is_empty()
        || text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return None;
    }
    let first: String = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .chars()
        .take(60)
        .collect();
    Some(format!(
        "not a replay recording: text that is not JSON (it starts {first:?}); convert reads \
         PostHog exports, blob JSONL, capture payloads, rrweb JSON arrays and NDJSON, and \
         gzip, zstd or snappy of them"
    ))
}

/// One raw snappy block of at most `max` bytes decompressed (its header gives the size).
fn unsnappy(d: &mut snap::raw::Decoder, block: &[u8], max: usize) -> Result<Vec<u8>, String> {
    let len = snap::raw::decompress_len(block).map_err(|e| format!("does not decode: {e}"))?;
    if len > max {
        return Err(too_large("", max).trim_start().to_string());
    }
    d.decompress_vec(block)
        .map_err(|e| format!("does not decode: {e}"))
}

/// Splits PostHog's `decompress=false` body into blocks, or `None` when it is not one.
fn length_prefixed_blocks(all: &[u8]) -> Option<Vec<&[u8]>> {
    let mut blocks = Vec::new();
    let mut rest = all;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return None;
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len == 0 || len > rest.len() - 4 {
            return None;
        }
        let block = &rest[4..4 + len];
        snap::raw::decompress_len(block).ok()?;
        blocks.push(block);
        rest = &rest[4 + len..];
    }
    (!blocks.is_empty()).then_some(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(d: &Decoded) -> usize {
        d.sessions.iter().map(|s| s.events.len()).sum()
    }

    #[test]
    fn gzip_of_pretty_array_and_truncation() {
        use std::io::Write;
        let doc = "[\n  {\"type\": 4, \"data\": {}, \"timestamp\": 1},\n  {\"type\": 3, \"data\": {\"source\": 1}, \"timestamp\": 2}\n]\n";
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(doc.as_bytes()).unwrap();
        let gz = e.finish().unwrap();
        let d = decode_bytes("s.rrweb.json.gz", &gz, &DecodeOptions::default());
        assert_eq!(events(&d), 2, "{:?}", d.rejects);
        assert_eq!(d.format, "gzip/rrweb-array");
        // cut in the middle of the gzip stream: a reject, no panic
        let d = decode_bytes("s.json.gz", &gz[..gz.len() / 2], &DecodeOptions::default());
        assert!(!d.rejects.is_empty());
        // truncated document
        let d = decode_bytes("s.json", &doc.as_bytes()[..50], &DecodeOptions::default());
        assert_eq!(d.rejects.len(), 1);
        assert!(
            d.rejects[0].reason.contains("truncated"),
            "{}",
            d.rejects[0].reason
        );
    }

    #[test]
    fn snappy_bodies() {
        let body = b"[\"w\",{\"type\":4,\"data\":{},\"timestamp\":1}]\n[\"w\",{\"type\":4,\"data\":{},\"timestamp\":2}]";
        let block = snap::raw::Encoder::new().compress_vec(body).unwrap();
        let d = decode_bytes("s.bin", &block, &DecodeOptions::default());
        assert_eq!(events(&d), 2, "{:?}", d.rejects);
        let mut prefixed = (block.len() as u32).to_be_bytes().to_vec();
        prefixed.extend_from_slice(&block);
        prefixed.extend_from_slice(&(block.len() as u32).to_be_bytes());
        prefixed.extend_from_slice(&block);
        let d = decode_bytes("s.bin", &prefixed, &DecodeOptions::default());
        assert_eq!(d.format, "snappy-blocks/blob-v2-jsonl");
        assert_eq!(events(&d), 4);
    }

    #[test]
    fn lines_split_on_newline_bytes_only() {
        // U+0085 (NEL) inside a string must not split the line
        let l = "[\"w\",{\"type\":5,\"data\":{\"tag\":\"a\u{85}b\"},\"timestamp\":1}]\n";
        let d = decode_bytes("s.jsonl", l.as_bytes(), &DecodeOptions::default());
        assert_eq!(events(&d), 1);
        assert!(d.rejects.is_empty());
    }

    #[test]
    fn decompressed_records_over_the_cap_are_rejected_and_reading_goes_on() {
        use std::io::Write;
        let gz = |b: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let opts = DecodeOptions {
            max_decompressed: 1000,
            ..Default::default()
        };
        let long = format!(
            "[\"w\",{{\"type\":5,\"data\":{{\"tag\":\"{}\"}},\"timestamp\":2}}]",
            "x".repeat(2000)
        );
        let ok = |ts: u32| format!("[\"w\",{{\"type\":4,\"data\":{{}},\"timestamp\":{ts}}}]");
        let jsonl = format!("{}\n{long}\n{}\n", ok(1), ok(3));
        let d = decode_bytes("s.jsonl.gz", &gz(jsonl.as_bytes()), &opts);
        assert_eq!(events(&d), 2, "{:?}", d.rejects);
        assert_eq!(d.rejects.len(), 1);
        assert_eq!(d.rejects[0].line, Some(2));
        assert!(
            d.rejects[0].reason.contains("more than 1000 bytes")
                && d.rejects[0].reason.contains("--max-decompressed-mb"),
            "{}",
            d.rejects[0].reason
        );
        // zstd, and a line that is first
        let z = zstd::encode_all(format!("{long}\n{}", ok(1)).as_bytes(), 1).unwrap();
        let d = decode_bytes("s.jsonl.zst", &z, &opts);
        assert_eq!((events(&d), d.rejects.len()), (1, 1), "{:?}", d.rejects);
        // a pretty-printed document is one record
        let doc = format!("[\n{}\n]", vec![ok(1); 100].join(",\n"));
        let d = decode_bytes("s.json.gz", &gz(doc.as_bytes()), &opts);
        assert_eq!(events(&d), 0);
        assert!(
            d.rejects[0]
                .reason
                .contains("JSON document decompresses to more than")
        );
        // bytes as stored are not capped: their size is the file's
        let d = decode_bytes("s.jsonl", jsonl.as_bytes(), &opts);
        assert_eq!((events(&d), d.rejects.len()), (3, 0));
        // snappy: the block header's size is checked before anything is allocated
        let block = snap::raw::Encoder::new()
            .compress_vec(jsonl.as_bytes())
            .unwrap();
        let d = decode_bytes("s.bin", &block, &opts);
        assert!(
            d.rejects[0].reason.contains("snappy body decompresses"),
            "{:?}",
            d.rejects
        );
        let mut prefixed = (block.len() as u32).to_be_bytes().to_vec();
        prefixed.extend_from_slice(&block);
        let d = decode_bytes("s.bin", &prefixed, &opts);
        assert!(
            d.rejects[0].reason.contains("snappy block #0 decompresses"),
            "{:?}",
            d.rejects
        );
    }

    #[test]
    fn text_that_is_no_recording_is_rejected_plainly() {
        let opts = DecodeOptions::default();
        let readme = "# replaylake\n\nPostHog session replays, portable.\n";
        let d = decode_bytes("README.md", readme.as_bytes(), &opts);
        assert_eq!(d.rejects.len(), 1);
        let r = &d.rejects[0].reason;
        assert!(
            r.starts_with(
                "not a replay recording: text that is not JSON (it starts \"# replaylake\")"
            ),
            "{r}"
        );
        assert!(!r.contains("snappy body"), "{r}");
        let d = decode_bytes("a.csv", b"a,b\n1,2\n", &opts);
        assert!(
            d.rejects[0].reason.contains("it starts \"a,b\""),
            "{:?}",
            d.rejects
        );
        // binary that is not snappy keeps the technical reason
        let d = decode_bytes("x.bin", &[0xff, 0x00, 0x13, 0x37, 0x80], &opts);
        assert!(!d.rejects[0].reason.starts_with("not a replay recording"));
    }
}
