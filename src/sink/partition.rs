//! Hive partition paths.
//!
//! A session lands in `<table>/date=<UTC date of its first event>/`, so it never straddles
//! partitions; with [`Partitioning::DateSession`] it gets its own `session_id=<id>/` directory.
//! Partition values are percent-escaped the way Hive escapes them (every byte outside
//! `[A-Za-z0-9._-]`), so a hostile session id such as `../../etc` stays one path segment under
//! its table.

use crate::schema::{DATE_PARTITION, SESSION_PARTITION, Table};

/// How sessions are laid out in directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Partitioning {
    /// `date=` only: many sessions share a file (the default).
    #[default]
    Date,
    /// `date=/session_id=`: one file per recording and table.
    DateSession,
}

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

/// The partition directory of a session (relative to a table), e.g. `date=2024-11-15`.
pub fn partition_dir(partitioning: Partitioning, date: &str, session_id: &str) -> String {
    match partitioning {
        Partitioning::Date => format!("{DATE_PARTITION}={date}"),
        Partitioning::DateSession => {
            format!(
                "{DATE_PARTITION}={date}/{SESSION_PARTITION}={}",
                escape_value(session_id)
            )
        }
    }
}

/// The relative path of a table's file of a part: `<table>/<partition dir>/<stem>.parquet`.
pub fn file_path(table: Table, dir: &str, stem: &str) -> String {
    format!("{}/{dir}/{stem}.parquet", table.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_ids_stay_in_one_segment() {
        for id in ["../../etc/passwd", "..", "a/b", "x\\y", "", "é?#"] {
            let e = escape_value(id);
            assert!(
                !e.contains('/') && !e.contains('\\') && e != ".." && e != "." && !e.is_empty(),
                "{id:?} -> {e}"
            );
            if !id.is_empty() {
                assert_eq!(unescape_value(&e), id);
            }
        }
        assert_eq!(escape_value("01932f1e-cf6a-7e77"), "01932f1e-cf6a-7e77");
        // a `%` before a multi-byte character is kept, not a panic
        assert_eq!(unescape_value("x%a\u{e9}"), "x%a\u{e9}");
    }
}
