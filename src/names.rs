//! How ids are spelled where only some bytes are safe (Hive partition values, export file
//! names): bytes outside `[A-Za-z0-9._-]` as `%XX`, as Hive and Spark escape partition values.
//! Both directions live here, beneath every layer: the sink and export write these names, and
//! decoding reads session ids back out of file names.

/// Escapes a partition value: bytes outside `[A-Za-z0-9._-]` become `%XX`; a value made only of
/// dots is escaped entirely.
pub fn escape_value(v: &str) -> String {
    let all_dots = !v.is_empty() && v.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if !all_dots && (b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("__HIVE_DEFAULT_PARTITION__");
    }
    out
}

/// The inverse of [`escape_value`].
pub fn unescape_value(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            // bytes, not a str slice: the two bytes after `%` may split a character
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
