//! The pull checkpoint, kept in the lake itself so that a scheduled job on a fresh machine goes on
//! where the last one stopped: `<dest>/_replaylake/state/pull-<host hash>-<project>[-shard-I-of-N].json`.
//!
//! It is rewritten whole (object_store's put is atomic: a rename locally, one PUT in the cloud)
//! after each batch of sessions has landed in the lake, never before, so a session recorded as
//! done is always in the lake.

use std::collections::BTreeMap;

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::Lake;

pub const STATE_FORMAT: u32 = 1;
const STATE_DIR: &str = "_replaylake/state";

/// A session that landed (or was skipped), with what the list said of it when it did.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Done {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// The list's `end_time` when fetched: a different one later means the recording grew, and it
    /// is fetched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// A recording skipped because PostHog answered 404 or 410: PostHog deleted it. Remembered until
/// `replaylake prune --deleted` has removed it from the lake (and then for the retention), so
/// that the lake can follow PostHog's deletions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Skipped {
    pub status: u16,
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// When `prune --deleted` removed it from the lake (or found the lake without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned_at: Option<String>,
}

/// A recording listed with no source replaylake can fetch (only `realtime` or legacy `blob`, or
/// none at all): PostHog has not flushed it to blob storage yet. It is not done; every run lists
/// it again (the watermark stays at its start) until its blobs exist.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pending {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// The sources PostHog listed, e.g. `["realtime"]`.
    pub sources: Vec<String>,
    /// When a run first found it pending.
    pub since: String,
}

/// The window a run was working on when it stopped.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Window {
    pub since: String,
    pub until: String,
}

/// The checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PullState {
    pub format: u32,
    pub host: String,
    pub project: String,
    /// `I/N` when sharded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// Every recording that started before this instant has landed (or was skipped). The next run
    /// without `--since` starts here. A [`Pending`] recording holds it at its start.
    #[serde(default)]
    pub watermark: Option<String>,
    /// The window of a run that did not finish; the next run resumes it.
    #[serde(default)]
    pub window: Option<Window>,
    /// Sessions landed since the watermark (older ones are pruned when the watermark moves).
    #[serde(default)]
    pub done: BTreeMap<String, Done>,
    #[serde(default)]
    pub skipped: BTreeMap<String, Skipped>,
    /// Recordings listed before their blobs existed; fetched by a later run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pending: BTreeMap<String, Pending>,
    #[serde(default)]
    pub runs: u64,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl PullState {
    pub fn new(host: &str, project: &str, shard: Option<(u32, u32)>) -> Self {
        PullState {
            format: STATE_FORMAT,
            host: host.to_string(),
            project: project.to_string(),
            shard: shard.map(|(i, n)| format!("{i}/{n}")),
            watermark: None,
            window: None,
            done: BTreeMap::new(),
            skipped: BTreeMap::new(),
            pending: BTreeMap::new(),
            runs: 0,
            updated_at: None,
        }
    }
}

/// The checkpoint's path relative to the lake root.
pub fn state_rel_path(host: &str, project: &str, shard: Option<(u32, u32)>) -> String {
    let norm = host.trim().trim_end_matches('/').to_ascii_lowercase();
    let hh = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(norm.as_bytes()));
    let project: String = project
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    match shard {
        Some((i, n)) if n > 1 => format!(
            "{STATE_DIR}/pull-{}-{project}-shard-{i}-of-{n}.json",
            &hh[..12]
        ),
        _ => format!("{STATE_DIR}/pull-{}-{project}.json", &hh[..12]),
    }
}

/// Reads the checkpoint; `None` when there is none.
pub async fn load(lake: &Lake, rel: &str) -> Result<Option<PullState>> {
    let p = lake.path(rel);
    let bytes: Bytes = match lake.store.get(&p).await {
        Ok(r) => r.bytes().await.map_err(|e| Error::store(rel, e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(Error::store(rel, e)),
    };
    let s: PullState = serde_json::from_slice(&bytes).map_err(|e| Error::State {
        location: rel.to_string(),
        message: format!(
            "unreadable pull checkpoint ({e}); rerun with --full-refresh to start over"
        ),
    })?;
    if s.format != STATE_FORMAT {
        return Err(Error::State {
            location: rel.to_string(),
            message: format!(
                "pull checkpoint format {} is not {STATE_FORMAT}; rerun with --full-refresh",
                s.format
            ),
        });
    }
    Ok(Some(s))
}

/// Every pull checkpoint of the lake (one per host, project and shard), by path, sorted.
pub async fn load_all(lake: &Lake) -> Result<Vec<(String, PullState)>> {
    use futures::TryStreamExt;
    let mut rels: Vec<String> = lake
        .store
        .list(Some(&lake.path(STATE_DIR)))
        .map_ok(|m| lake.relative(&m.location))
        .try_collect()
        .await
        .map_err(|e| Error::store(STATE_DIR, e))?;
    rels.retain(|r| {
        let name = r.rsplit('/').next().unwrap_or_default();
        name.starts_with("pull-") && name.ends_with(".json")
    });
    rels.sort();
    let mut out = Vec::with_capacity(rels.len());
    for rel in rels {
        // rewritten whole, never deleted: one that vanished was never there
        if let Some(st) = load(lake, &rel).await? {
            out.push((rel, st));
        }
    }
    Ok(out)
}

/// Writes the checkpoint atomically (retried a few times: object_store does not retry PUTs).
pub async fn save(lake: &Lake, rel: &str, state: &mut PullState) -> Result<()> {
    state.updated_at = Some(chrono::Utc::now().to_rfc3339());
    let mut body = serde_json::to_vec_pretty(state).map_err(|e| Error::State {
        location: rel.to_string(),
        message: format!("cannot serialize: {e}"),
    })?;
    body.push(b'\n');
    let body = Bytes::from(body);
    let p = lake.path(rel);
    let mut last = None;
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
        }
        match lake.store.put(&p, PutPayload::from(body.clone())).await {
            Ok(_) => return Ok(()),
            Err(e) => {
                tracing::warn!(location = rel, error = %e, "checkpoint write failed; retrying");
                last = Some(e);
            }
        }
    }
    match last {
        Some(e) => Err(Error::store(rel, e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_is_per_host_project_and_shard() {
        let a = state_rel_path("https://us.posthog.com/", "42", None);
        assert_eq!(a, state_rel_path("https://US.posthog.com", "42", None));
        assert!(
            a.starts_with("_replaylake/state/pull-") && a.ends_with("-42.json"),
            "{a}"
        );
        assert_ne!(a, state_rel_path("https://eu.posthog.com", "42", None));
        assert!(
            state_rel_path("https://us.posthog.com", "42", Some((1, 4)))
                .ends_with("-42-shard-1-of-4.json")
        );
    }

    #[test]
    fn round_trips() {
        let mut s = PullState::new("https://us.posthog.com", "1", Some((0, 2)));
        s.done.insert(
            "a".into(),
            Done {
                end_time: Some("t".into()),
                ..Default::default()
            },
        );
        let t = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<PullState>(&t).unwrap(), s);
    }
}
