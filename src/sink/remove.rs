//! Removing whole sessions from a lake: every row of theirs in every table, and the raw bodies a
//! pull kept of them (`_raw/<session>/`).
//!
//! For retention (`replaylake prune --deleted`: recordings PostHog deleted) and for anything
//! else that must make sessions disappear. The rows go through the writer's own journaled part
//! rewrite, the one that takes an old version out when a session changes ([`crate::sink::commit`]):
//! each part that holds one of the sessions is rewritten without it (deleted when nothing else is
//! left in it), under a journal that a rerun rolls forward or back, and under the lake's lease,
//! so no other writer runs meanwhile. A kill at any point leaves the lake with or without each
//! session, never half of one; the rerun finishes the job.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use serde::Serialize;
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::sink::{Lake, LakeWriter, SinkOptions};

/// What removing sessions did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Removed {
    /// Sessions the lake held, now gone from it (sorted).
    pub removed: Vec<String>,
    /// Sessions asked for that the lake did not hold (sorted).
    pub not_in_lake: Vec<String>,
    /// Rows removed, per table.
    pub rows: BTreeMap<String, u64>,
    /// Parts rewritten without the sessions (a part left empty is deleted).
    pub parts_rewritten: u64,
    /// Files deleted: the parts' replaced files and raw bodies.
    pub files_deleted: u64,
    /// Raw bodies deleted from `_raw/`.
    pub raw_files_deleted: u64,
}

impl LakeWriter {
    /// Removes the sessions `ids` from the lake (and from what this run buffered) and commits:
    /// when it returns, no table holds a row of theirs.
    pub fn remove_sessions(&mut self, ids: &[String]) -> Result<Removed> {
        let mut ids: Vec<&String> = ids.iter().collect();
        ids.sort();
        ids.dedup();
        let (rows_before, parts_before, files_before) = self.rewrite_counts();
        let mut r = Removed::default();
        for id in ids {
            if self.take_out(id) {
                r.removed.push(id.clone());
            } else {
                r.not_in_lake.push(id.clone());
            }
        }
        self.flush()?;
        for id in r.removed.iter().chain(&r.not_in_lake) {
            r.raw_files_deleted += self.delete_raw(id)?;
        }
        let (rows, parts, files) = self.rewrite_counts();
        for (table, n) in rows {
            let n = n - rows_before.get(&table).copied().unwrap_or(0);
            if n > 0 {
                r.rows.insert(table, n);
            }
        }
        r.parts_rewritten = parts - parts_before;
        r.files_deleted = files - files_before + r.raw_files_deleted;
        tracing::info!(
            removed = r.removed.len(),
            not_in_lake = r.not_in_lake.len(),
            "sessions removed"
        );
        Ok(r)
    }

    /// Deletes the raw bodies a pull kept of `sid`; returns how many.
    fn delete_raw(&mut self, sid: &str) -> Result<u64> {
        let Some(dir) = raw_dir(sid) else {
            return Ok(0);
        };
        let lake = self.lake().clone();
        let prefix = lake.path(&dir);
        self.block_on(async move {
            let files: Vec<_> = lake
                .store
                .list(Some(&prefix))
                .map_ok(|m| m.location)
                .try_collect()
                .await
                .map_err(|e| Error::store(&dir, e))?;
            for p in &files {
                match lake.store.delete(p).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(Error::store(&lake.relative(p), e)),
                }
            }
            Ok(files.len() as u64)
        })
    }
}

/// `_raw/<session>/`, as `pull --keep-raw` names it, for a session id that is its own folder
/// name (PostHog's ids are UUIDs). Pull writes other ids with `_` for unsafe characters, which
/// can make two ids share a folder; those are left alone rather than risk another's bodies.
fn raw_dir(sid: &str) -> Option<String> {
    let safe = !sid.is_empty()
        && sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    safe.then(|| format!("_raw/{sid}/"))
}

/// Opens the lake's writer (waiting for another writer as `opts.lease_wait` says), removes the
/// sessions `ids` ([`LakeWriter::remove_sessions`]) and records the run under
/// `_replaylake/runs/`. Call it from outside the runtime `rt`.
pub fn remove_sessions(
    lake: Lake,
    ids: &[String],
    opts: SinkOptions,
    rt: Handle,
) -> Result<Removed> {
    let mut w = LakeWriter::open(lake, opts, rt)?;
    let r = w.remove_sessions(ids)?;
    w.finish(&serde_json::json!({ "remove_sessions": &r }))?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_folders_only_for_ids_that_are_their_own_name() {
        assert_eq!(
            raw_dir("01a20cbb-70a4-701c-b70c-79670ea3fad1").as_deref(),
            Some("_raw/01a20cbb-70a4-701c-b70c-79670ea3fad1/")
        );
        assert_eq!(raw_dir("a.b"), None);
        assert_eq!(raw_dir("../x"), None);
        assert_eq!(raw_dir(""), None);
    }
}
