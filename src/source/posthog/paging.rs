//! Paging that must make progress. The list is paged until `has_next` is false, so a server that
//! answers `has_next: true` forever, hands back the same cursor, or serves the same page again
//! would keep a pull listing (and growing) without end. Each page is checked before the next is
//! asked for; a page that brings nothing new fails the listing with an error naming the path.
//!
//! The checks: a cursor already followed; a page with `has_next` but no results (PostHog's
//! paginator sets `has_next` only when rows are left over); a page whose ids were all listed
//! before; and, for a server inventing fresh ids forever, more than [`MAX_LISTED`] recordings in
//! one window. Ids are remembered as 64-bit hashes (8 bytes each, some 80 MB at the limit).

use std::collections::HashSet;

/// Most recordings one listing may return: far past a month of a large project; a bigger
/// backfill is split with `--since`/`--until`.
pub const MAX_LISTED: usize = 5_000_000;

/// What has been listed so far in one window.
#[derive(Debug, Default)]
pub struct Progress {
    ids: HashSet<u64>,
    cursors: HashSet<String>,
    pages: u64,
}

impl Progress {
    /// Records a page; `Err` with the reason when it shows the listing is not moving on.
    /// `cursor` is the page's `next_cursor` when the listing will follow it.
    pub fn page<'a>(
        &mut self,
        ids: impl IntoIterator<Item = &'a str>,
        has_next: bool,
        cursor: Option<&str>,
    ) -> Result<(), String> {
        self.pages += 1;
        let before = self.ids.len();
        let mut n = 0usize;
        for id in ids {
            n += 1;
            self.ids.insert(xxhash_rust::xxh3::xxh3_64(id.as_bytes()));
        }
        let new = self.ids.len() - before;
        if !has_next {
            return Ok(());
        }
        if n == 0 {
            return Err(format!(
                "page {} is empty but says has_next: true",
                self.pages
            ));
        }
        if new == 0 {
            return Err(format!(
                "page {} says has_next: true but repeats {n} recordings already listed",
                self.pages
            ));
        }
        if self.ids.len() > MAX_LISTED {
            return Err(format!(
                "more than {MAX_LISTED} recordings listed in one window and has_next is still \
                 true; narrow the window with --since/--until"
            ));
        }
        if let Some(c) = cursor {
            if !self.cursors.insert(c.to_string()) {
                return Err(format!(
                    "page {} hands back a cursor already followed ({:?})",
                    self.pages,
                    c.chars().take(64).collect::<String>()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_required() {
        let mut p = Progress::default();
        assert!(p.page(["a", "b"], true, None).is_ok());
        assert!(
            p.page(["b", "c"], true, Some("x")).is_ok(),
            "overlap is fine"
        );
        assert!(
            p.page(["d"], true, Some("x"))
                .unwrap_err()
                .contains("cursor")
        );
        let mut p = Progress::default();
        p.page(["a"], true, None).unwrap();
        assert!(p.page(["a"], true, None).unwrap_err().contains("repeats"));
        assert!(p.page([], true, None).unwrap_err().contains("empty"));
        // the last page may repeat or be empty
        assert!(p.page(["a"], false, None).is_ok());
        assert!(p.page([], false, None).is_ok());
    }
}
