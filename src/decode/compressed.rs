//! posthog-js compressed payloads (`cv: "2024-10"`).
//!
//! posthog-js gzips some fields of an event and stores the bytes as a latin1 "binary string": one
//! character per byte, code points 0–255 (not base64). Which fields: FullSnapshot `data`;
//! Mutation `texts`, `attributes`, `removes`, `adds`; StyleSheetRule `adds`, `removes`. Only fields
//! that are still strings are unpacked (exports carry `cv` with data already decompressed), and
//! newer PostHog data may hold zstd frames in the same fields, so the codec is sniffed from the
//! magic bytes.
//!
//! A payload of a few MB can expand to GBs (a decompression bomb), so output is capped: the caller
//! gives the most a payload may decompress to ([`super::DecodeOptions::max_decompressed`]), and a
//! payload above it is an error naming the limit, read through a bounded reader so that memory
//! never exceeds the cap.

use std::borrow::Cow;
use std::io::Read;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The only compression version posthog-js has shipped.
pub const CV_2024_10: &str = "2024-10";

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Turns a latin1 binary string (one char per byte) back into its bytes.
pub fn latin1_bytes(s: &str) -> Result<Vec<u8>, String> {
    s.chars()
        .map(|c| {
            u8::try_from(c as u32).map_err(|_| {
                format!(
                    "compressed field is not a latin1 binary string (character U+{:04X})",
                    c as u32
                )
            })
        })
        .collect()
}

thread_local! {
    static INFLATER: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
}

/// Payloads above this size go through the streaming decoder instead.
const ONE_SHOT_MAX: usize = 256 << 20;

/// gunzips a single-member gzip whose size the trailer gives (ISIZE), with libdeflate in one
/// call: about twice as fast as streaming inflate for payloads of this size. `None` when the
/// trailer's size is implausible or above `max`, or libdeflate refuses the data (a multi-member
/// file, corrupt data, a trailer that lies): the streaming decoder then decides, and reports the
/// error.
fn gunzip_one_shot(bytes: &[u8], max: usize) -> Option<Vec<u8>> {
    let size = usize::try_from(gzip_size(bytes)?).ok()?;
    if size > ONE_SHOT_MAX.min(max) {
        return None;
    }
    let mut out = vec![0u8; size];
    let n = INFLATER
        .with(|d| d.borrow_mut().gzip_decompress(bytes, &mut out))
        .ok()?;
    (n == size).then_some(out)
}

/// Reads `r` to its end, but no more than `max` bytes: more is an error naming the limit.
/// `size` is what the payload says it holds (gzip trailer, zstd header), the first allocation
/// when it is within the cap, so that an honest bomb fills one buffer of the cap and no more.
fn read_capped(
    mut r: impl Read,
    max: usize,
    size: Option<u64>,
    what: &str,
) -> Result<Vec<u8>, String> {
    let first = size.map_or(4 << 10, |s| usize::try_from(s).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(first.saturating_add(1).min(max.saturating_add(1)));
    let within = super::limit::read_capped(&mut r, &mut out, max)
        .map_err(|e| format!("{what} payload does not decode: {e}"))?;
    if !within {
        return Err(super::limit::too_large(&format!("{what} payload"), max));
    }
    Ok(out)
}

/// The size a gzip's trailer gives (ISIZE: of its last member, modulo 2^32).
fn gzip_size(bytes: &[u8]) -> Option<u64> {
    let trailer: [u8; 4] = bytes.get(bytes.len().checked_sub(4)?..)?.try_into().ok()?;
    Some(u32::from_le_bytes(trailer).into())
}

/// gunzip or un-zstd `bytes` (by magic) into UTF-8 JSON text of at most `max` bytes, checking
/// that it is JSON.
pub fn decompress_json(bytes: &[u8], max: usize) -> Result<String, String> {
    let out = if bytes.starts_with(&GZIP_MAGIC) {
        match gunzip_one_shot(bytes, max) {
            Some(out) => out,
            None => {
                let gz = flate2::read::MultiGzDecoder::new(bytes);
                read_capped(gz, max, gzip_size(bytes), "gzip")?
            }
        }
    } else if bytes.starts_with(&ZSTD_MAGIC) {
        let size = zstd::zstd_safe::get_frame_content_size(bytes)
            .ok()
            .flatten();
        if size.is_some_and(|s| s > max as u64) {
            return Err(super::limit::too_large("zstd payload", max));
        }
        let z = zstd::stream::read::Decoder::new(bytes)
            .map_err(|e| format!("zstd payload does not decode: {e}"))?;
        read_capped(z, max, size, "zstd")?
    } else {
        return Err(format!(
            "compressed field starts with {:02x?}, neither gzip (1f 8b) nor zstd (28 b5 2f fd)",
            &bytes[..bytes.len().min(4)]
        ));
    };
    let text = match super::utf8(&out) {
        // SAFETY: `out` was just checked to be UTF-8.
        Ok(_) => unsafe { String::from_utf8_unchecked(out) },
        Err(e) => return Err(format!("decompressed payload is not UTF-8: {e}")),
    };
    serde_json::from_str::<&RawValue>(&text)
        .map_err(|e| format!("decompressed payload is not JSON: {e}"))?;
    Ok(text)
}

/// Unpacks one compressed string field given as raw JSON (a JSON string literal).
fn unpack_field(raw: &RawValue, max: usize) -> Result<String, String> {
    let bytes = match latin1_literal_bytes(raw.get().as_bytes()) {
        Some(b) => b,
        None => {
            // not the common shape: let serde_json say what is wrong with it
            let s: Cow<'_, str> = serde_json::from_str(raw.get())
                .map_err(|e| format!("compressed field is not a string: {e}"))?;
            latin1_bytes(&s)?
        }
    };
    decompress_json(&bytes, max)
}

/// The bytes of a JSON string literal that holds a latin1 binary string, decoded in one pass
/// (JSON escapes and UTF-8 straight to bytes). `None` for anything else (not a literal, a
/// character above U+00FF, a bad escape), which the caller hands to the general path.
fn latin1_literal_bytes(lit: &[u8]) -> Option<Vec<u8>> {
    let inner = lit.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        match b {
            b'\\' => {
                let e = *inner.get(i + 1)?;
                let v = match e {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0c,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'u' => {
                        let cp = inner
                            .get(i + 2..i + 6)?
                            .iter()
                            .try_fold(0u32, |cp, &h| Some(cp * 16 + char::from(h).to_digit(16)?))?;
                        i += 4;
                        u8::try_from(cp).ok()?
                    }
                    _ => return None,
                };
                out.push(v);
                i += 2;
            }
            // an unescaped quote or control character is not JSON
            b'"' | 0x00..=0x1f => return None,
            0x20..=0x7f => {
                out.push(b);
                i += 1;
            }
            // two-byte UTF-8 of U+0080..U+00FF
            0xc2 | 0xc3 => {
                let c = *inner.get(i + 1)?;
                if c & 0xc0 != 0x80 {
                    return None;
                }
                out.push(((b & 0x03) << 6) | (c & 0x3f));
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

fn is_string(raw: &RawValue) -> bool {
    raw.get().as_bytes().first() == Some(&b'"')
}

/// Fields of a JSON object in input order, values unparsed.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    v.push((k, val));
                }
                Ok(Fields(v))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Returns the event's `data` with every compressed field unpacked, or `None` when nothing in it
/// is compressed (the caller keeps the raw text). `event_type` and `source` pick the fields; each
/// field may decompress to at most `max` bytes.
pub fn decompress_data(
    event_type: i64,
    data: &RawValue,
    max: usize,
) -> Result<Option<String>, String> {
    if event_type == 2 {
        return if is_string(data) {
            unpack_field(data, max).map(Some)
        } else {
            Ok(None)
        };
    }
    if event_type != 3 || data.get().as_bytes().first() != Some(&b'{') {
        return Ok(None);
    }
    let fields: Fields<'_> = serde_json::from_str(data.get())
        .map_err(|e| format!("event data is not an object: {e}"))?;
    let source = fields
        .0
        .iter()
        .find(|(k, _)| k == "source")
        .and_then(|(_, v)| v.get().parse::<i64>().ok());
    let packed: &[&str] = match source {
        Some(0) => &["texts", "attributes", "removes", "adds"],
        Some(8) => &["adds", "removes"],
        _ => return Ok(None),
    };
    if !fields
        .0
        .iter()
        .any(|(k, v)| packed.contains(&k.as_ref()) && is_string(v))
    {
        return Ok(None);
    }
    let mut out = String::with_capacity(data.get().len() * 4);
    out.push('{');
    for (i, (k, v)) in fields.0.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k.as_ref()).expect("string serializes"));
        out.push(':');
        if packed.contains(&k.as_ref()) && is_string(v) {
            let text = unpack_field(v, max).map_err(|e| format!("field `{k}`: {e}"))?;
            out.push_str(&text);
        } else {
            out.push_str(v.get());
        }
    }
    out.push('}');
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const MAX: usize = 1 << 30;

    fn latin1(bytes: &[u8]) -> String {
        bytes.iter().map(|&b| b as char).collect()
    }

    fn gz(text: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn full_snapshot_string_is_unpacked() {
        let packed = serde_json::to_string(&latin1(&gz(r#"{"node":{"id":1}}"#))).unwrap();
        let raw: &RawValue = serde_json::from_str(&packed).unwrap();
        assert_eq!(
            decompress_data(2, raw, MAX).unwrap().unwrap(),
            r#"{"node":{"id":1}}"#
        );
    }

    #[test]
    fn mutation_fields_mixed_gzip_zstd_and_plain() {
        let adds = serde_json::to_string(&latin1(&gz(r#"[{"parentId":1}]"#))).unwrap();
        let texts =
            serde_json::to_string(&latin1(&zstd::encode_all(&b"[]"[..], 1).unwrap())).unwrap();
        let data =
            format!(r#"{{"source":0,"texts":{texts},"attributes":[],"removes":[],"adds":{adds}}}"#);
        let raw: &RawValue = serde_json::from_str(&data).unwrap();
        assert_eq!(
            decompress_data(3, raw, MAX).unwrap().unwrap(),
            r#"{"source":0,"texts":[],"attributes":[],"removes":[],"adds":[{"parentId":1}]}"#
        );
    }

    #[test]
    fn already_decompressed_is_left_alone() {
        let raw: &RawValue = serde_json::from_str(r#"{"source":0,"adds":[],"texts":[]}"#).unwrap();
        assert!(decompress_data(3, raw, MAX).unwrap().is_none());
        let raw: &RawValue = serde_json::from_str(r#"{"node":{}}"#).unwrap();
        assert!(decompress_data(2, raw, MAX).unwrap().is_none());
    }

    #[test]
    fn one_pass_latin1_decoding_agrees_with_serde() {
        let all: Vec<u8> = (0..=255u8).chain([0x1f, 0x8b, b'"', b'\\', 0]).collect();
        let lit = serde_json::to_string(&latin1(&all)).unwrap();
        assert_eq!(latin1_literal_bytes(lit.as_bytes()).unwrap(), all);
        // escapes serde_json does not write but other encoders do
        assert_eq!(
            latin1_literal_bytes(br#""\u00e9\/\u001F""#).unwrap(),
            vec![0xe9, b'/', 0x1f]
        );
        // not for the fast path: above U+00FF, raw control character, bad escape, not a string
        for bad in [
            r#""\u0100""#.as_bytes(),
            "\"\u{20ac}\"".as_bytes(),
            b"\"a\x01b\"",
            br#""\u+0ff""#,
            br#""\x""#,
            b"123",
            // a continuation byte without its lead, a lead at the end, an unescaped quote
            b"\"a\x80b\"",
            b"\"a\xc3\"",
            b"\"a\"b\"",
        ] {
            assert_eq!(
                latin1_literal_bytes(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn gzip_one_shot_and_streaming_agree() {
        let text = br#"{"a":[1,2,3],"b":"x"}"#.repeat(1000);
        let one = gz(std::str::from_utf8(&text).unwrap());
        assert_eq!(gunzip_one_shot(&one, MAX).unwrap(), text);
        // two members: the trailer gives only the last member's size, one-shot declines
        let mut two = one.clone();
        two.extend_from_slice(&gz("[]"));
        assert_eq!(gunzip_one_shot(&two, MAX), None);
        assert!(
            decompress_json(&two, MAX).is_err(),
            "two JSON documents are not one"
        );
        // corrupt data: declined, and the streaming decoder reports it
        let mut bad = one.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        assert_eq!(gunzip_one_shot(&bad, MAX), None);
        assert!(decompress_json(&bad, MAX).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let raw: &RawValue = serde_json::from_str(r#""\u001f\u008bnot gzip""#).unwrap();
        assert!(decompress_data(2, raw, MAX).unwrap_err().contains("gzip"));
        let raw: &RawValue = serde_json::from_str(r#""plain text""#).unwrap();
        assert!(
            decompress_data(2, raw, MAX)
                .unwrap_err()
                .contains("neither gzip")
        );
        assert!(latin1_bytes("snow ☃").is_err());
    }

    #[test]
    fn a_bomb_is_refused_at_the_cap() {
        let zeros = vec![b'0'; 16 << 20];
        let gz = gz(std::str::from_utf8(&zeros).unwrap());
        assert!(gz.len() < 100 << 10, "{}", gz.len());
        let zst = zstd::encode_all(&zeros[..], 3).unwrap();
        for packed in [gz, zst] {
            let lit = serde_json::to_string(&latin1(&packed)).unwrap();
            let raw: &RawValue = serde_json::from_str(&lit).unwrap();
            let err = decompress_data(2, raw, 1 << 20).unwrap_err();
            assert!(
                err.contains("more than 1 MiB") && err.contains("--max-decompressed-mb"),
                "{err}"
            );
            // under a cap it fits, it decodes (16 MiB of the digit 0 is not JSON: a number)
            let err = decompress_data(2, raw, 32 << 20).unwrap_err();
            assert!(err.contains("not JSON"), "{err}");
        }
        // a trailer that claims a small size does not get past the cap either
        let mut lying = gz_bytes(&zeros);
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&100u32.to_le_bytes());
        assert!(
            decompress_json(&lying, 1 << 20)
                .unwrap_err()
                .contains("more than")
        );
    }

    fn gz_bytes(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }
}
