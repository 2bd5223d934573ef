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

pub use crate::names::{escape_value, unescape_value};

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
