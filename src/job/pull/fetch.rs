//! Fetching one recording: its sources list, then its blobs (`blob_v2` in ranges of at most 20
//! keys, or `blob_v2_lts`), each body kept under `_raw/` with `--keep-raw`, then decoded,
//! merged, ordered and flattened on the blocking pool. What came of it is a [`Msg`] to the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use object_store::{ObjectStoreExt, PutPayload};

use super::{PullProgress, supervise};
use crate::decode::{DecodeOptions, Reject, Session};
use crate::error::{Error, Result};
use crate::flatten::flatten_session;
use crate::job::Landable;
use crate::source::decode_bytes;
use crate::source::posthog::client::key_ranges;
use crate::source::posthog::{Client, Recording};
use crate::store::Lake;

/// What a fetch task hands the writer.
pub(super) enum Msg {
    Fetched(Box<FetchedRecording>),
    Skipped {
        rec: Recording,
        status: u16,
    },
    Pending {
        rec: Recording,
        sources: Vec<String>,
    },
    Failed(Error),
    /// The listing reached its end and every fetch was handed over.
    End,
}

/// What fetching one recording came to.
pub(super) enum Fetch {
    Bodies(Bodies),
    /// 404/410.
    Gone(u16),
    /// No blob_v2/blob_v2_lts source yet: the sources that were listed.
    NotYet(Vec<String>),
}

pub(super) struct FetchedRecording {
    pub(super) rec: Recording,
    /// None when the recording held no events.
    pub(super) flat: Option<Landable>,
    /// Per body: its name, fingerprint and bad records.
    pub(super) rejects: Vec<(String, String, Vec<Reject>)>,
}

/// What every fetch shares.
pub(super) struct Ctx {
    pub(super) client: Arc<Client>,
    pub(super) lake: Lake,
    pub(super) keep_raw: bool,
    pub(super) progress: Arc<PullProgress>,
    pub(super) now_ms: i64,
    pub(super) raw_files: AtomicU64,
    pub(super) decode: DecodeOptions,
}

fn safe_segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn is_text(body: &[u8]) -> bool {
    matches!(
        body.iter().copied().find(|b| !b.is_ascii_whitespace()),
        Some(b'[') | Some(b'{') | None
    )
}

async fn keep_raw(ctx: &Ctx, sid: &str, name: &str, body: &Bytes) -> Result<()> {
    let rel = format!("_raw/{}/{name}", safe_segment(sid));
    let p = ctx.lake.path(&rel);
    let mut last = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
        match ctx.lake.store.put(&p, PutPayload::from(body.clone())).await {
            Ok(_) => {
                ctx.raw_files.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(Error::store(rel, e)),
        None => Ok(()),
    }
}

/// Fetches one recording's sources and blobs, then decodes it on the blocking pool.
pub(super) async fn fetch_recording(ctx: Arc<Ctx>, rec: Recording) -> Msg {
    match fetch_inner(&ctx, &rec).await {
        Ok(Fetch::Bodies(bodies)) => {
            let (now_ms, decode) = (ctx.now_ms, ctx.decode.clone());
            let task = format!("decoding recording {}", rec.id);
            let res =
                tokio::task::spawn_blocking(move || decode_recording(rec, bodies, &decode, now_ms))
                    .await;
            match res {
                Ok(Ok(f)) => Msg::Fetched(Box::new(f)),
                Ok(Err(e)) => Msg::Failed(e),
                Err(e) => Msg::Failed(supervise::task_failed(task, e)),
            }
        }
        Ok(Fetch::Gone(status)) => Msg::Skipped { rec, status },
        Ok(Fetch::NotYet(sources)) => Msg::Pending { rec, sources },
        Err(e) => Msg::Failed(e),
    }
}

type Bodies = Vec<(String, Bytes)>;

async fn fetch_inner(ctx: &Ctx, rec: &Recording) -> Result<Fetch> {
    let sid = rec.id.as_str();
    let sources = match ctx.client.sources(sid).await? {
        Ok(s) => s,
        Err(status) => return Ok(Fetch::Gone(status)),
    };
    let mut keys: Vec<u64> = Vec::new();
    let mut lts: Vec<String> = Vec::new();
    let mut other = 0;
    for s in &sources {
        match (s.source.as_str(), s.blob_key.as_deref()) {
            ("blob_v2", Some(k)) => match k.trim().parse::<u64>() {
                Ok(k) => keys.push(k),
                Err(_) => {
                    return Err(crate::source::posthog::ApiError::BadResponse {
                        path: format!("session_recordings/{sid}/snapshots"),
                        message: format!("blob_v2 source with a non-integer blob_key {k:?}"),
                    }
                    .into());
                }
            },
            ("blob_v2_lts", Some(k)) => lts.push(k.to_string()),
            _ => other += 1,
        }
    }
    if keys.is_empty() && lts.is_empty() {
        let names: Vec<String> = sources.iter().map(|s| s.source.clone()).collect();
        tracing::warn!(session = sid, sources = %names.join(","), "no blob sources yet (not flushed?): pending, a later run fetches it");
        return Ok(Fetch::NotYet(names));
    }
    if other > 0 {
        tracing::warn!(
            session = sid,
            sources = other,
            "sources other than blob_v2/blob_v2_lts (legacy blob/realtime) are not fetched"
        );
    }
    keys.sort_unstable();
    keys.dedup();
    let stem = safe_segment(sid);
    let mut bodies = Vec::new();
    for (a, b) in key_ranges(&keys) {
        let f = match ctx.client.blob_v2(sid, a, b).await? {
            Ok(f) => f,
            Err(status) => return Ok(Fetch::Gone(status)),
        };
        let ext = if is_text(&f.body) { "jsonl" } else { "snappy" };
        let name = format!("{stem}.blob_v2-{a}-{b}.{ext}");
        ctx.progress.blobs.fetch_add(b - a + 1, Ordering::Relaxed);
        if ctx.keep_raw {
            keep_raw(ctx, sid, &name, &f.body).await?;
        }
        bodies.push((name, f.body));
    }
    for (i, k) in lts.iter().enumerate() {
        let f = match ctx.client.blob_v2_lts(sid, k).await? {
            Ok(f) => f,
            Err(status) => return Ok(Fetch::Gone(status)),
        };
        let ext = if is_text(&f.body) { "jsonl" } else { "snappy" };
        let name = if i == 0 {
            format!("{stem}.blob_v2_lts.{ext}")
        } else {
            format!("{stem}.blob_v2_lts-{i}.{ext}")
        };
        ctx.progress.blobs.fetch_add(1, Ordering::Relaxed);
        if ctx.keep_raw {
            keep_raw(ctx, sid, &name, &f.body).await?;
        }
        bodies.push((name, f.body));
    }
    Ok(Fetch::Bodies(bodies))
}

/// Decodes a recording's bodies into one flattened session with the list's metadata.
fn decode_recording(
    rec: Recording,
    bodies: Bodies,
    opts: &DecodeOptions,
    now_ms: i64,
) -> Result<FetchedRecording> {
    let mut merged: Option<Session> = None;
    let mut rejects = Vec::new();
    for (name, body) in bodies {
        let mut d = decode_bytes(&name, &body, opts);
        for mut s in std::mem::take(&mut d.sessions) {
            if s.session_id != rec.id {
                tracing::debug!(session = %rec.id, found = %s.session_id, "body names another session id; using the recording's");
                s.session_id = rec.id.clone();
            }
            match &mut merged {
                Some(m) => m.absorb(s),
                None => merged = Some(s),
            }
        }
        if !d.rejects.is_empty() {
            rejects.push((d.file, d.fingerprint, d.rejects));
        }
    }
    let Some(mut m) = merged else {
        return Ok(FetchedRecording {
            rec,
            flat: None,
            rejects,
        });
    };
    if rec.distinct_id.is_some() {
        m.meta.distinct_id = rec.distinct_id.clone();
    }
    if rec.person.is_some() {
        m.meta.person = rec.person.clone();
    }
    m.meta.posthog_metadata = Some(rec.raw.clone());
    let o = m.finish();
    let (events, duplicates) = (o.events.len() as u64, o.duplicates_dropped);
    let flat = flatten_session(o, now_ms)?.map(|session| Landable {
        session,
        events,
        duplicates,
    });
    Ok(FetchedRecording { rec, flat, rejects })
}
