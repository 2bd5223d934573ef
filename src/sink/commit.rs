//! The lake writer: idempotent, crash-safe commits of sessions into partitioned Parquet.
//!
//! **Layout.** Sessions are buffered by partition directory (`date=…[/session_id=…]`). A flush
//! writes one *part*: for each table a file `<table>/<dir>/part-<hash>.parquet`, where the hash is
//! that of the (session id, checksum) pairs inside, so the same input always lands on the same keys.
//!
//! **Index.** The `recordings` table is the lake's own index: at start the writer reads
//! `session_id` and `checksum` of every recordings file. A session that is already in the lake with
//! the same checksum is skipped (a rerun writes nothing); a session whose checksum changed is
//! written anew and removed from the part that held it (that part is rewritten without it).
//!
//! **Crash safety.** Before a part's files are written, a journal
//! `_replaylake/journal/<part>.json` lists them; it is deleted once they are all in place. A part
//! rewrite's journal also lists the files it replaces and is marked committed once the new files
//! are in place. On open, the writer rolls uncommitted journals back (deleting their new files) and
//! committed ones forward (deleting the replaced files), so a run killed at any point and run again
//! leaves no duplicates and loses nothing. Each file becomes visible only when complete
//! (object_store's put: a rename locally, an atomic PUT or completed multipart upload in the cloud).
//! Between writing a session's new version and rewriting its old part, a reader may briefly see
//! both versions; the writer heals any such leftover on its next run (newest `converted_at` wins).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, new_null_array,
};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use xxhash_rust::xxh3::Xxh3;

use crate::decode::Reject;
use crate::error::{Error, Result};
pub use crate::flatten::FlatSession;
use crate::schema::{TABLES, Table};
use crate::sink::lease::Lease;
use crate::sink::partition::{Partitioning, file_path, partition_dir};
use crate::sink::read::StoredSession;
use crate::sink::union::{session_rows, stored_session, union};
use crate::sink::writer::{COMMIT_SEQ_KEY, encode};
use crate::store::faults::crash_point;
use crate::store::{Created, Lake};

const JOURNAL_DIR: &str = "_replaylake/journal";
const RUNS_DIR: &str = "_replaylake/runs";
const REJECTS_DIR: &str = "_rejects";
/// A run's commit sequences start at its lease generation shifted by this: runs are ordered by
/// their lease, parts within a run by when they were written.
const SEQ_RUN_SHIFT: u32 = 32;

/// How the writer lays out and buffers data.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    pub partitioning: Partitioning,
    /// Arrow bytes buffered before the largest partition is flushed to a part (bounds memory and
    /// sets the size of files: a part holds up to this much data before compression).
    pub buffer_bytes: usize,
    /// How long to wait for another writer's lease on the lake before giving up.
    pub lease_wait: std::time::Duration,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            partitioning: Partitioning::Date,
            buffer_bytes: 64 * 1024 * 1024,
            lease_wait: std::time::Duration::ZERO,
        }
    }
}

/// What the writer did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SinkStats {
    /// Sessions written (new or changed).
    pub sessions_written: u64,
    /// Sessions already in the lake with the same content, skipped.
    pub sessions_unchanged: u64,
    /// Sessions that replaced an older version of themselves.
    pub sessions_replaced: u64,
    /// Events the lake held that a replacing input lacked: kept (a later input adds, never
    /// removes; see [`crate::sink::union`]).
    pub events_kept_from_lake: u64,
    /// Rows written per table (rewrites of old parts not included).
    pub rows: BTreeMap<String, u64>,
    pub files_written: u64,
    pub bytes_written: u64,
    pub files_deleted: u64,
    pub parts_rewritten: u64,
    pub journals_recovered: u64,
    pub rejects_files: Vec<String>,
}

/// A part of the lake: its partition directory and file stem, shared by the sessions inside.
#[derive(Debug)]
struct PartName {
    dir: Box<str>,
    stem: Box<str>,
    /// Its commit sequence: of two versions of a session, the one in the higher sequence wins.
    seq: u64,
}

/// Where a session lives in the lake. Kept small: the index holds one per session in the lake.
#[derive(Debug, Clone, Copy)]
struct Loc {
    /// Index into [`LakeWriter::parts`].
    part: u32,
    checksum: Option<u128>,
    converted_at: i64,
}

/// What the writer knows of a session.
#[derive(Debug)]
struct Entry {
    /// Where the lake holds it; `None` while only a buffer does.
    loc: Option<Loc>,
    /// Added in this run.
    in_run: bool,
}

/// A checksum as the index keeps it (the 32 hex digits of [`crate::decode::OrderedSession`]'s
/// checksum); `None` for anything else, which then never matches.
fn checksum_key(s: &str) -> Option<u128> {
    (s.len() == 32).then(|| u128::from_str_radix(s, 16).ok())?
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Journal {
    add: Vec<String>,
    delete: Vec<String>,
    committed: bool,
    /// The lease owner that wrote it (empty in journals of older versions).
    #[serde(default)]
    owner: String,
}

#[derive(Default)]
struct Buffer {
    sessions: Vec<FlatSession>,
    bytes: usize,
}

/// Outcome of [`LakeWriter::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Buffered for writing.
    Buffered,
    /// Already in the lake with the same checksum: nothing to do.
    Unchanged,
    /// Another fragment of this session was already added in this run: the caller must merge the
    /// fragments and call [`LakeWriter::replace`].
    SeenInThisRun,
}

/// Writes sessions into a lake; see the module docs for the protocol.
pub struct LakeWriter {
    lake: Lake,
    rt: Handle,
    opts: SinkOptions,
    /// Every session in the lake or added in this run. Memory grows with the sessions, so an
    /// entry is about 120 bytes: the id, a part number and the checksum as a number.
    index: HashMap<Box<str>, Entry>,
    parts: Vec<PartName>,
    buffers: BTreeMap<String, Buffer>,
    buffered: usize,
    /// Parts to rewrite without these sessions.
    removals: BTreeMap<u32, HashSet<Box<str>>>,
    /// Parts that hold these sessions twice: rewritten with each duplicate row once.
    doubled: BTreeMap<u32, HashSet<Box<str>>>,
    /// Where the lake held the sessions that this run replaced, before it did (so that a merged
    /// session that turns out unchanged is put back).
    replaced: HashMap<Box<str>, Loc>,
    /// The lake's lease, held from open to finish.
    lease: Option<Lease>,
    /// The commit sequence of this run's next part: above every part in the lake.
    next_seq: u64,
    /// The highest commit sequence in the lake when the run began: parts above it are this run's.
    run_start_seq: u64,
    /// Part files read lately to merge sessions with the lake's versions (a run that replaces
    /// many sessions of one part reads it once).
    recent: RecentFiles,
    stats: SinkStats,
    /// Rows part rewrites left out, per table (see [`crate::sink::remove`]).
    rows_dropped: BTreeMap<String, u64>,
}

fn not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

impl LakeWriter {
    /// Opens the lake for writing: finishes or rolls back what a killed run left, then reads the
    /// index of sessions already present. Must be called outside an async context.
    pub fn open(lake: Lake, opts: SinkOptions, rt: Handle) -> Result<Self> {
        let command = std::env::args().nth(1).unwrap_or_default();
        let lease = Lease::acquire(
            &lake,
            &rt,
            &format!("replaylake {command}"),
            opts.lease_wait,
        )?;
        let mut w = LakeWriter {
            lake,
            rt,
            opts,
            index: HashMap::new(),
            parts: Vec::new(),
            buffers: BTreeMap::new(),
            buffered: 0,
            removals: BTreeMap::new(),
            doubled: BTreeMap::new(),
            replaced: HashMap::new(),
            next_seq: lease.generation << SEQ_RUN_SHIFT,
            run_start_seq: 0,
            recent: RecentFiles::default(),
            lease: Some(lease),
            stats: SinkStats::default(),
            rows_dropped: BTreeMap::new(),
        };
        w.recover()?;
        w.load_index()?;
        w.run_start_seq = w.next_seq;
        Ok(w)
    }

    fn owner(&self) -> String {
        self.lease
            .as_ref()
            .map(|l| l.owner.clone())
            .unwrap_or_default()
    }

    /// A commit sequence for this run's next part.
    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Fails when the lease is lost: called before every commit step.
    fn check_lease(&self) -> Result<()> {
        self.lease.as_ref().map_or(Ok(()), Lease::check)
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    /// Runs `f` on the writer's runtime (the writer is used from outside it).
    pub(super) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn store(&self) -> Arc<dyn ObjectStore> {
        self.lake.store.clone()
    }

    pub(super) fn list(&self, rel: &str) -> Result<Vec<Path>> {
        let prefix = self.lake.path(rel);
        let store = self.store();
        self.rt
            .block_on(async move {
                store
                    .list(Some(&prefix))
                    .map_ok(|m| m.location)
                    .try_collect::<Vec<_>>()
                    .await
            })
            .map_err(|e| Error::store(rel, e))
    }

    /// Files under `rel` with their sizes, as paths relative to the lake.
    pub(super) fn list_sizes(&self, rel: &str) -> Result<Vec<(String, u64)>> {
        let prefix = self.lake.path(rel);
        let store = self.store();
        let metas = self
            .rt
            .block_on(async move { store.list(Some(&prefix)).try_collect::<Vec<_>>().await })
            .map_err(|e| Error::store(rel, e))?;
        Ok(metas
            .into_iter()
            .map(|m| (self.lake.relative(&m.location), m.size))
            .collect())
    }

    pub(super) fn get(&self, rel: &str) -> Result<Option<Bytes>> {
        let p = self.lake.path(rel);
        let store = self.store();
        match self
            .rt
            .block_on(async move { store.get(&p).await?.bytes().await })
        {
            Ok(b) => Ok(Some(b)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(Error::store(rel, e)),
        }
    }

    /// Writes a file: a single PUT, or a multipart upload for large files (see
    /// [`crate::store::put_object`]); either way the file is visible only once complete.
    pub(super) fn put(&mut self, rel: &str, data: Vec<u8>) -> Result<()> {
        let lake = self.lake.clone();
        let len = data.len() as u64;
        let data = Bytes::from(data);
        self.rt.block_on(async move { lake.put(rel, data).await })?;
        self.recent.forget(rel);
        self.stats.files_written += 1;
        self.stats.bytes_written += len;
        crash_point(rel);
        Ok(())
    }

    fn delete(&mut self, rel: &str) -> Result<()> {
        let p = self.lake.path(rel);
        let store = self.store();
        match self.rt.block_on(async move { store.delete(&p).await }) {
            Ok(()) => {
                self.recent.forget(rel);
                self.stats.files_deleted += 1;
                crash_point(rel);
                Ok(())
            }
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(Error::store(rel, e)),
        }
    }

    /// Writes a part's journal, after checking that the lease still holds. A new (uncommitted)
    /// journal is written create-only where the store supports it: after recovery no journal
    /// exists, so one that does is refused, unless it is byte for byte ours (it names our lease
    /// owner: a retried request that had in fact succeeded, or a flush retried after a store
    /// error). Marking it committed overwrites it. Stores without create-only writes fall back to
    /// a plain put.
    fn put_journal(&mut self, stem: &str, j: &Journal) -> Result<()> {
        self.check_lease()?;
        let rel = format!("{JOURNAL_DIR}/{stem}.json");
        let body = Bytes::from(serde_json::to_vec_pretty(j).map_err(|e| Error::State {
            location: rel.clone(),
            message: format!("cannot serialize journal: {e}"),
        })?);
        if j.committed {
            let (lake, p) = (self.lake.clone(), self.lake.path(&rel));
            self.rt
                .block_on(async move { lake.store.put(&p, PutPayload::from(body)).await })
                .map_err(|e| Error::store(&rel, e))?;
        } else {
            self.create_journal(&rel, body)?;
        }
        crash_point(&rel);
        Ok(())
    }

    /// Writes a new journal create-only (see [`Self::put_journal`]).
    fn create_journal(&mut self, rel: &str, body: Bytes) -> Result<()> {
        let lake = self.lake.clone();
        let (created, body) = self.rt.block_on(async {
            let r = lake.put_if_absent(rel, body.clone()).await;
            (r, body)
        });
        match created? {
            Created::Created | Created::Overwrote => Ok(()),
            Created::AlreadyExists => match self.get(rel)? {
                Some(existing) if existing == body => Ok(()),
                _ => Err(Error::State {
                    location: rel.to_string(),
                    message: "another writer is committing the same part in this lake \
                              (only one writer per lake at a time)"
                        .into(),
                }),
            },
        }
    }

    fn drop_journal(&mut self, stem: &str) -> Result<()> {
        let rel = format!("{JOURNAL_DIR}/{stem}.json");
        let p = self.lake.path(&rel);
        let store = self.store();
        match self.rt.block_on(async move { store.delete(&p).await }) {
            Ok(()) => {
                crash_point(&rel);
                Ok(())
            }
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(Error::store(rel, e)),
        }
    }

    fn recover(&mut self) -> Result<()> {
        self.remove_local_staging_files()?;
        for p in self.list(JOURNAL_DIR)? {
            let rel = self.lake.relative(&p);
            let Some(body) = self.get(&rel)? else {
                continue;
            };
            let j: Journal = serde_json::from_slice(&body).map_err(|e| Error::State {
                location: rel.clone(),
                message: format!("unreadable journal: {e}"),
            })?;
            let victims = if j.committed { &j.delete } else { &j.add };
            for f in victims.clone() {
                self.delete(&f)?;
            }
            let stem = rel
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .trim_end_matches(".json")
                .to_string();
            self.drop_journal(&stem)?;
            self.stats.journals_recovered += 1;
            tracing::warn!(journal = %rel, committed = j.committed, "finished an interrupted commit");
        }
        Ok(())
    }

    /// A local write is staged as `<name>#<n>` and renamed when complete; a killed process
    /// leaves the staging file behind. object_store never lists them, but Spark and other
    /// readers that list directories would, so they are removed here (one writer per lake).
    fn remove_local_staging_files(&mut self) -> Result<()> {
        if self.lake.store_url.scheme() != "file" {
            return Ok(());
        }
        let Ok(root) = self.lake.store_url.to_file_path() else {
            return Ok(());
        };
        let root = self
            .lake
            .root
            .parts()
            .fold(root, |p, part| p.join(part.as_ref()));
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if let Some((_, suffix)) = e.file_name().to_string_lossy().split_once('#') {
                    if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
                        out.push(p);
                    }
                }
            }
        }
        let mut staged = Vec::new();
        for t in TABLES {
            walk(&root.join(t.name()), &mut staged);
        }
        walk(&root.join(JOURNAL_DIR), &mut staged);
        for p in staged {
            tracing::warn!(file = %p.display(), "removing a partial file left by an interrupted run");
            std::fs::remove_file(&p).map_err(|source| Error::Io {
                path: p.clone(),
                source,
            })?;
        }
        Ok(())
    }

    fn load_index(&mut self) -> Result<()> {
        let prefix = format!("{}/", Table::Recordings.name());
        for p in self.list(Table::Recordings.name())? {
            let rel = self.lake.relative(&p);
            let Some(inner) = rel.strip_prefix(&prefix) else {
                continue;
            };
            let Some(inner) = inner.strip_suffix(".parquet") else {
                continue;
            };
            let Some((dir, stem)) = inner.rsplit_once('/') else {
                continue;
            };
            let Some(bytes) = self.get(&rel)? else {
                continue;
            };
            let (rows, seq) = read_index_columns(bytes, &rel)?;
            let part = self.new_part(dir, stem, seq);
            self.next_seq = self.next_seq.max(seq);
            for (sid, checksum, converted_at) in rows {
                let loc = Loc {
                    part,
                    checksum: checksum_key(&checksum),
                    converted_at,
                };
                self.index_loaded(sid.into(), loc);
            }
        }
        Ok(())
    }

    /// Records a session read from the lake. Two versions of one session are what an
    /// interrupted replacement leaves: the newer one (higher commit sequence, then later
    /// `converted_at`) stays and the other's part is rewritten without it. Two copies in one part
    /// (left by a compaction that raced a writer, before leases) are never removed from that
    /// part, which would take both: the part is rewritten with each duplicate row once.
    fn index_loaded(&mut self, sid: Box<str>, loc: Loc) {
        let Some(e) = self.index.get_mut(&sid) else {
            let e = Entry {
                loc: Some(loc),
                in_run: false,
            };
            self.index.insert(sid, e);
            return;
        };
        let old = e.loc.expect("loaded entries have a location");
        if old.part == loc.part {
            tracing::warn!(session = %sid, "a part holds a session twice; rewriting it with one copy");
            self.doubled.entry(loc.part).or_default().insert(sid);
            return;
        }
        let version = |l: &Loc| (self.parts[l.part as usize].seq, l.converted_at);
        let (keep, stale) = if version(&old) > version(&loc) {
            (old, loc)
        } else {
            (loc, old)
        };
        e.loc = Some(keep);
        self.removals.entry(stale.part).or_default().insert(sid);
    }

    fn new_part(&mut self, dir: &str, stem: &str, seq: u64) -> u32 {
        self.parts.push(PartName {
            dir: dir.into(),
            stem: stem.into(),
            seq,
        });
        u32::try_from(self.parts.len() - 1).expect("fewer than 2^32 parts")
    }

    /// Adds a session. See [`Added`].
    pub fn add(&mut self, mut s: FlatSession) -> Result<Added> {
        let e = self.entry(&s.session_id);
        if e.in_run {
            return Ok(Added::SeenInThisRun);
        }
        e.in_run = true;
        let loc = e.loc;
        if same_checksum(loc, &s.checksum) {
            self.stats.sessions_unchanged += 1;
            return Ok(Added::Unchanged);
        }
        if let Some(base) = loc {
            s = self.with_lake_version(s, base)?;
            if same_checksum(loc, &s.checksum) {
                self.stats.sessions_unchanged += 1;
                return Ok(Added::Unchanged);
            }
        }
        self.buffer(s)?;
        Ok(Added::Buffered)
    }

    /// Where the lake held the session when this run began, if it did.
    fn before_run(&self, sid: &str) -> Option<Loc> {
        if let Some(l) = self.replaced.get(sid) {
            return Some(*l);
        }
        let loc = self.index.get(sid)?.loc?;
        (self.parts[loc.part as usize].seq <= self.run_start_seq).then_some(loc)
    }

    /// `s` with the events that the lake's version in `base` holds and `s` lacks
    /// ([`crate::sink::union`]). Counts the kept events only if the merge is what gets written.
    fn with_lake_version(&mut self, s: FlatSession, base: Loc) -> Result<FlatSession> {
        let sid = s.session_id.clone();
        let Some(lake) = self.lake_version(&sid, base)? else {
            return Ok(s);
        };
        let u = union(lake, &s)?;
        if !same_checksum(Some(base), &u.session.checksum) && u.kept_from_lake > 0 {
            tracing::info!(session = %sid, kept = u.kept_from_lake, "the input lacks events the lake holds; they are kept");
            self.stats.events_kept_from_lake += u.kept_from_lake;
        }
        Ok(u.session)
    }

    /// The session `sid` as part `loc.part` holds it.
    fn lake_version(&mut self, sid: &str, loc: Loc) -> Result<Option<StoredSession>> {
        let name = &self.parts[loc.part as usize];
        let (dir, stem) = (name.dir.to_string(), name.stem.to_string());
        let mut rows = |t: Table| -> Result<Vec<RecordBatch>> {
            let rel = file_path(t, &dir, &stem);
            match self.get_recent(&rel)? {
                Some(bytes) => session_rows(bytes, sid, &rel),
                None => Ok(vec![]),
            }
        };
        let recordings = rows(Table::Recordings)?;
        let events = rows(Table::Events)?;
        stored_session(&recordings, &events, &file_path(Table::Events, &dir, &stem))
    }

    /// [`Self::get`] through the cache of recently read part files.
    fn get_recent(&mut self, rel: &str) -> Result<Option<Bytes>> {
        if let Some(b) = self.recent.get(rel) {
            return Ok(Some(b));
        }
        let got = self.get(rel)?;
        if let Some(b) = &got {
            self.recent.put(rel, b.clone());
        }
        Ok(got)
    }

    /// The session's index entry, created (not in the lake, not in this run) when missing.
    fn entry(&mut self, session_id: &str) -> &mut Entry {
        if !self.index.contains_key(session_id) {
            self.index.insert(
                session_id.into(),
                Entry {
                    loc: None,
                    in_run: false,
                },
            );
        }
        self.index.get_mut(session_id).expect("just inserted")
    }

    /// Takes the session out of the lake: out of this run's buffers, and out of the part that
    /// holds it, which the next flush rewrites without it (journaled, as when a session moves).
    /// False when neither held it.
    pub(super) fn take_out(&mut self, sid: &str) -> bool {
        let mut found = false;
        for buf in self.buffers.values_mut() {
            if let Some(i) = buf.sessions.iter().position(|b| b.session_id == sid) {
                let old = buf.sessions.remove(i);
                let size = old.batches.memory_size();
                buf.bytes -= size;
                self.buffered -= size;
                self.stats.sessions_written -= 1;
                found = true;
            }
        }
        let Some(e) = self.index.get_mut(sid) else {
            return found;
        };
        if let Some(loc) = e.loc.take() {
            self.removals
                .entry(loc.part)
                .or_default()
                .insert(sid.into());
            found = true;
        }
        self.replaced.remove(sid);
        found
    }

    /// Rows left out by part rewrites so far, per table, and the parts rewritten and files
    /// deleted.
    pub(super) fn rewrite_counts(&self) -> (BTreeMap<String, u64>, u64, u64) {
        (
            self.rows_dropped.clone(),
            self.stats.parts_rewritten,
            self.stats.files_deleted,
        )
    }

    /// Replaces whatever this run or earlier runs wrote for the session with `s` (used for
    /// sessions whose fragments came from several inputs and were merged).
    pub fn replace(&mut self, mut s: FlatSession) -> Result<()> {
        self.entry(&s.session_id).in_run = true;
        if let Some(base) = self.before_run(&s.session_id)
            && !same_checksum(Some(base), &s.checksum)
        {
            s = self.with_lake_version(s, base)?;
        }
        for buf in self.buffers.values_mut() {
            if let Some(i) = buf
                .sessions
                .iter()
                .position(|b| b.session_id == s.session_id)
            {
                let old = buf.sessions.remove(i);
                let size = old.batches.memory_size();
                buf.bytes -= size;
                self.buffered -= size;
                self.stats.sessions_written -= 1;
            }
        }
        if same_checksum(self.entry(&s.session_id).loc, &s.checksum) {
            return Ok(());
        }
        // The lake already held exactly this session before the run: its first fragment alone
        // looked changed. Undo what that fragment did, so that a rerun changes nothing.
        let sid = s.session_id.as_str();
        if let Some(prev) = self.replaced.get(sid).copied()
            && same_checksum(Some(prev), &s.checksum)
        {
            if let Some(fragment) = self.entry(sid).loc.take() {
                // already written to a part of this run: take it out again
                self.removals
                    .entry(fragment.part)
                    .or_default()
                    .insert(sid.into());
                self.stats.sessions_written -= 1;
            }
            if let Some(set) = self.removals.get_mut(&prev.part) {
                set.remove(sid);
                if set.is_empty() {
                    self.removals.remove(&prev.part);
                }
            }
            self.entry(sid).loc = Some(prev);
            self.replaced.remove(sid);
            self.stats.sessions_replaced -= 1;
            self.stats.sessions_unchanged += 1;
            return Ok(());
        }
        self.buffer(s)
    }

    fn buffer(&mut self, s: FlatSession) -> Result<()> {
        if let Some(old) = self.entry(&s.session_id).loc.take() {
            self.stats.sessions_replaced += 1;
            self.replaced
                .entry(s.session_id.as_str().into())
                .or_insert(old);
            self.removals
                .entry(old.part)
                .or_default()
                .insert(s.session_id.as_str().into());
        }
        self.stats.sessions_written += 1;
        let dir = partition_dir(self.opts.partitioning, &s.date, &s.session_id);
        let size = s.batches.memory_size();
        let buf = self.buffers.entry(dir).or_default();
        buf.bytes += size;
        buf.sessions.push(s);
        self.buffered += size;
        while self.buffered > self.opts.buffer_bytes {
            let Some(largest) = self
                .buffers
                .iter()
                .max_by_key(|(_, b)| b.bytes)
                .map(|(d, _)| d.clone())
            else {
                break;
            };
            self.flush_dir(&largest)?;
        }
        Ok(())
    }

    /// Writes the buffer of `dir` as a part. The buffer leaves memory only once the part is
    /// committed: after a store error it is still there, and the next flush writes it again
    /// (under the same journal, which names this writer).
    fn flush_dir(&mut self, dir: &str) -> Result<()> {
        let Some(buf) = self.buffers.get_mut(dir) else {
            return Ok(());
        };
        if buf.sessions.is_empty() {
            let buf = self.buffers.remove(dir).expect("present");
            self.buffered -= buf.bytes;
            return Ok(());
        }
        buf.sessions.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        let buf = &self.buffers[dir];
        let stem = part_stem(
            buf.sessions
                .iter()
                .map(|s| (s.session_id.as_str(), s.checksum.as_str())),
        );
        let tables: Vec<(Table, String, Vec<RecordBatch>)> = TABLES
            .into_iter()
            .filter_map(|t| {
                let batches: Vec<RecordBatch> = buf
                    .sessions
                    .iter()
                    .map(|s| s.batches.get(t).clone())
                    .collect();
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                (rows > 0).then(|| (t, file_path(t, dir, &stem), batches))
            })
            .collect();
        let n = buf.sessions.len();
        let journal = Journal {
            add: tables.iter().map(|(_, rel, _)| rel.clone()).collect(),
            delete: vec![],
            committed: false,
            owner: self.owner(),
        };
        self.put_journal(&stem, &journal)?;
        let seq = self.take_seq();
        // recordings are written last: a recordings row means the session's other files exist.
        for (t, rel, batches) in tables {
            let (data, rows) = encode(t, &batches, n, seq, &rel)?;
            drop(batches);
            self.check_lease()?;
            self.put(&rel, data)?;
            *self.stats.rows.entry(t.name().to_string()).or_default() += rows as u64;
        }
        self.drop_journal(&stem)?;
        let buf = self.buffers.remove(dir).expect("present");
        self.buffered -= buf.bytes;
        let part = self.new_part(dir, &stem, seq);
        for s in buf.sessions {
            self.entry(&s.session_id).loc = Some(Loc {
                part,
                checksum: checksum_key(&s.checksum),
                converted_at: s.converted_at_ms,
            });
        }
        tracing::info!(dir, stem, sessions = n, "part written");
        Ok(())
    }

    /// Rewrites an old part without the sessions that moved out of it, and with the rows of
    /// sessions it holds twice once.
    fn rewrite_part(&mut self, part: u32, fix: &PartFix) -> Result<()> {
        let name = &self.parts[part as usize];
        let (dir, stem, seq) = (name.dir.to_string(), name.stem.to_string(), name.seq);
        let (dir, stem) = (dir.as_str(), stem.as_str());
        let mut kept: Vec<(Table, Vec<RecordBatch>)> = Vec::new();
        let mut old_files = Vec::new();
        let mut remaining: Vec<(String, String, i64)> = Vec::new();
        for t in TABLES {
            let rel = file_path(t, dir, stem);
            let Some(bytes) = self.get(&rel)? else {
                continue;
            };
            old_files.push(rel.clone());
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .and_then(|b| b.build())
                .map_err(|e| Error::parquet(&rel, e))?;
            let mut out = Vec::new();
            let mut seen = SeenRows::new(t)?;
            for batch in reader {
                let batch = conform(t, &batch?)?;
                let keep = fix.keep(&batch, &mut seen)?;
                let b = filter_record_batch(&batch, &keep)?;
                *self.rows_dropped.entry(t.name().to_string()).or_default() +=
                    (batch.num_rows() - b.num_rows()) as u64;
                if t == Table::Recordings {
                    remaining.extend(index_columns(&b));
                }
                if b.num_rows() > 0 {
                    out.push(b);
                }
            }
            kept.push((t, out));
        }
        remaining.sort();
        let new_stem = part_stem(
            remaining
                .iter()
                .map(|(sid, checksum, _)| (sid.as_str(), checksum.as_str())),
        );
        let mut add = Vec::new();
        let mut to_write = Vec::new();
        if !remaining.is_empty() {
            for (t, batches) in kept {
                if batches.iter().map(|b| b.num_rows()).sum::<usize>() > 0 {
                    let rel = file_path(t, dir, &new_stem);
                    add.push(rel.clone());
                    to_write.push((t, rel, batches));
                }
            }
        }
        let jname = format!("rewrite-{stem}");
        let journal = self.start_replacement(&jname, add, old_files)?;
        for (t, rel, batches) in to_write {
            // the sessions that stay keep their version
            let (data, _) = encode(t, &batches, remaining.len(), seq, &rel)?;
            self.put(&rel, data)?;
        }
        self.finish_replacement(&jname, journal)?;
        // The sessions that stay keep their part number; only its name changed.
        self.parts[part as usize].stem = new_stem.into();
        self.stats.parts_rewritten += 1;
        Ok(())
    }

    /// Starts replacing the files `delete` by `add`: records both in journal `jname` before any
    /// new file is written. Write the new files, then call [`Self::finish_replacement`].
    pub(super) fn start_replacement(
        &mut self,
        jname: &str,
        add: Vec<String>,
        delete: Vec<String>,
    ) -> Result<Journal> {
        let journal = Journal {
            add,
            delete,
            committed: false,
            owner: self.owner(),
        };
        self.put_journal(jname, &journal)?;
        Ok(journal)
    }

    /// Ends a replacement once its new files are in place: marks the journal committed (a rerun
    /// now rolls forward), deletes the replaced files and drops the journal.
    pub(super) fn finish_replacement(&mut self, jname: &str, mut journal: Journal) -> Result<()> {
        journal.committed = true;
        self.put_journal(jname, &journal)?;
        for f in &journal.delete {
            if !journal.add.contains(f) {
                self.delete(f)?;
            }
        }
        self.drop_journal(jname)
    }

    /// Writes a file's rejects as NDJSON under `_rejects/`, named after the input and its
    /// fingerprint (a rerun on the same input overwrites the same file). Returns its path.
    pub fn write_rejects(
        &mut self,
        input: &str,
        fingerprint: &str,
        rejects: &[Reject],
    ) -> Result<Option<String>> {
        if rejects.is_empty() {
            return Ok(None);
        }
        let name: String = input
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("input")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let rel = format!("{REJECTS_DIR}/{name}-{fingerprint}.ndjson");
        let mut body = Vec::new();
        for r in rejects {
            serde_json::to_writer(&mut body, r).expect("reject serializes");
            body.push(b'\n');
        }
        let len = body.len() as u64;
        self.put(&rel, body)?;
        // rejects are reported on their own, not as lake output
        self.stats.files_written -= 1;
        self.stats.bytes_written -= len;
        self.stats.rejects_files.push(rel.clone());
        Ok(Some(rel))
    }

    /// Writes what is buffered now and rewrites parts that lost sessions, without ending the run:
    /// afterwards every session added so far is in the lake (used by `pull` before it records
    /// sessions as done in its checkpoint).
    pub fn flush(&mut self) -> Result<()> {
        let dirs: Vec<String> = self.buffers.keys().cloned().collect();
        for d in dirs {
            self.flush_dir(&d)?;
        }
        // each removal is forgotten only once its rewrite is committed
        let parts: BTreeSet<u32> = self
            .removals
            .keys()
            .chain(self.doubled.keys())
            .copied()
            .collect();
        for part in parts {
            let fix = PartFix {
                remove: self.removals.get(&part).cloned().unwrap_or_default(),
                doubled: self.doubled.get(&part).cloned().unwrap_or_default(),
            };
            self.rewrite_part(part, &fix)?;
            self.removals.remove(&part);
            self.doubled.remove(&part);
        }
        Ok(())
    }

    /// Writes what is buffered, rewrites parts that lost sessions, and records the run.
    pub fn finish(mut self, summary: &impl Serialize) -> Result<SinkStats> {
        self.flush()?;
        let now = chrono::Utc::now();
        let rel = format!(
            "{RUNS_DIR}/{}-{}.json",
            now.format("%Y%m%dT%H%M%S%.3fZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut body = serde_json::to_vec_pretty(&serde_json::json!({
            "replaylake_version": crate::VERSION,
            "finished_at": now.to_rfc3339(),
            "sink": &self.stats,
            "summary": summary,
        }))
        .expect("run record serializes");
        body.push(b'\n');
        let len = body.len() as u64;
        self.put(&rel, body)?;
        self.stats.files_written -= 1;
        self.stats.bytes_written -= len;
        if let Some(lease) = self.lease.take() {
            lease.release()?;
        }
        Ok(self.stats)
    }
}

/// Part files read lately, newest last, up to [`RecentFiles::MAX_BYTES`].
#[derive(Default)]
struct RecentFiles {
    files: std::collections::VecDeque<(String, Bytes)>,
    bytes: usize,
}

impl RecentFiles {
    const MAX_BYTES: usize = 256 << 20;

    fn get(&self, rel: &str) -> Option<Bytes> {
        self.files
            .iter()
            .find(|(r, _)| r == rel)
            .map(|(_, b)| b.clone())
    }

    fn put(&mut self, rel: &str, bytes: Bytes) {
        self.bytes += bytes.len();
        self.files.push_back((rel.to_string(), bytes));
        while self.bytes > Self::MAX_BYTES && self.files.len() > 1 {
            let (_, old) = self.files.pop_front().expect("not empty");
            self.bytes -= old.len();
        }
    }

    /// Forgets a file that changed (rewritten or deleted).
    fn forget(&mut self, rel: &str) {
        if let Some(i) = self.files.iter().position(|(r, _)| r == rel) {
            let (_, old) = self.files.remove(i).expect("present");
            self.bytes -= old.len();
        }
    }
}

/// What a part rewrite changes.
struct PartFix {
    /// Sessions that moved out (a newer version lives elsewhere).
    remove: HashSet<Box<str>>,
    /// Sessions the part holds twice.
    doubled: HashSet<Box<str>>,
}

impl PartFix {
    /// The rows of `batch` the rewritten part keeps.
    fn keep(&self, batch: &RecordBatch, seen: &mut SeenRows) -> Result<BooleanArray> {
        let sid = batch
            .column_by_name("session_id")
            .expect("session_id column")
            .as_string::<i32>();
        let rows = seen.rows(batch, !self.doubled.is_empty())?;
        Ok((0..batch.num_rows())
            .map(|i| {
                let s = (!sid.is_null(i)).then(|| sid.value(i));
                let keep = match s {
                    Some(s) if self.remove.contains(s) => false,
                    Some(s) if self.doubled.contains(s) => seen.first(s, rows.as_ref(), i),
                    _ => true,
                };
                Some(keep)
            })
            .collect())
    }
}

/// Rows already kept of doubled sessions, by a 128-bit hash of the whole row (and, in
/// `recordings`, of the session id alone: one row per session).
struct SeenRows {
    converter: datafusion::arrow::row::RowConverter,
    by_session: bool,
    hashes: HashSet<u128>,
}

impl SeenRows {
    fn new(t: Table) -> Result<SeenRows> {
        let fields = t
            .schema()
            .fields()
            .iter()
            .map(|f| datafusion::arrow::row::SortField::new(f.data_type().clone()))
            .collect();
        Ok(SeenRows {
            converter: datafusion::arrow::row::RowConverter::new(fields)?,
            by_session: t == Table::Recordings,
            hashes: HashSet::new(),
        })
    }

    fn rows(
        &self,
        batch: &RecordBatch,
        needed: bool,
    ) -> Result<Option<datafusion::arrow::row::Rows>> {
        if !needed || self.by_session {
            return Ok(None);
        }
        Ok(Some(self.converter.convert_columns(batch.columns())?))
    }

    /// Whether row `i` (of session `sid`) is the first of its kind.
    fn first(&mut self, sid: &str, rows: Option<&datafusion::arrow::row::Rows>, i: usize) -> bool {
        let h = match rows {
            Some(rows) => xxhash_rust::xxh3::xxh3_128(rows.row(i).as_ref()),
            None => xxhash_rust::xxh3::xxh3_128(sid.as_bytes()),
        };
        self.hashes.insert(h)
    }
}

/// True when the lake holds the session with this checksum.
fn same_checksum(loc: Option<Loc>, checksum: &str) -> bool {
    loc.and_then(|l| l.checksum)
        .is_some_and(|c| Some(c) == checksum_key(checksum))
}

/// A part's name: a hash of the (session id, checksum) pairs it holds, in session order, so the
/// same content always lands on the same keys.
pub(super) fn part_stem<'a>(sessions: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let mut h = Xxh3::new();
    for (sid, checksum) in sessions {
        h.update(sid.as_bytes());
        h.update(&[0]);
        h.update(checksum.as_bytes());
        h.update(&[b'\n']);
    }
    format!("part-{:032x}", h.digest128())
}

/// Reads a column as `to`, whatever type another engine wrote it with (LargeUtf8, Utf8View,
/// timestamps in other units); `None` when it is missing or cannot be cast.
pub(crate) fn column_as(b: &RecordBatch, name: &str, to: &DataType) -> Option<ArrayRef> {
    cast(b.column_by_name(name)?, to).ok()
}

/// The index rows of a `recordings` batch: (session id, checksum, converted_at), rows without a
/// session id left out, a missing checksum or time read as empty.
pub(crate) fn index_columns(b: &RecordBatch) -> Vec<(String, String, i64)> {
    let ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let (Some(sid), Some(sum)) = (
        column_as(b, "session_id", &DataType::Utf8),
        column_as(b, "checksum", &DataType::Utf8),
    ) else {
        return vec![];
    };
    let at = column_as(b, "converted_at", &ms);
    let (sid, sum) = (sid.as_string::<i32>(), sum.as_string::<i32>());
    let at = at
        .as_ref()
        .map(|a| a.as_primitive::<TimestampMillisecondType>());
    (0..b.num_rows())
        .filter(|&i| !sid.is_null(i))
        .map(|i| {
            let converted = at
                .filter(|a| a.is_valid(i))
                .map(|a| a.value(i))
                .unwrap_or_default();
            let sum = if sum.is_valid(i) { sum.value(i) } else { "" };
            (sid.value(i).to_string(), sum.to_string(), converted)
        })
        .collect()
}

/// A file's commit sequence from its footer (0 when it has none: written before sequences, or by
/// another engine).
pub(crate) fn commit_seq(meta: &datafusion::parquet::file::metadata::ParquetMetaData) -> u64 {
    meta.file_metadata()
        .key_value_metadata()
        .into_iter()
        .flatten()
        .find(|kv| kv.key == COMMIT_SEQ_KEY)
        .and_then(|kv| kv.value.as_deref()?.parse().ok())
        .unwrap_or(0)
}

/// The columns the index reads of a `recordings` file: session id, checksum, conversion time.
pub(crate) fn index_projection(
    schema: &datafusion::arrow::datatypes::Schema,
    parquet: &datafusion::parquet::schema::types::SchemaDescriptor,
) -> ProjectionMask {
    let cols: Vec<usize> = ["session_id", "checksum", "converted_at"]
        .iter()
        .filter_map(|c| schema.index_of(c).ok())
        .collect();
    ProjectionMask::roots(parquet, cols)
}

/// The index columns of a `recordings` file, and the file's commit sequence (0 when it has none:
/// written before sequences, or by another engine).
pub(super) fn read_index_columns(
    bytes: Bytes,
    location: &str,
) -> Result<(Vec<(String, String, i64)>, u64)> {
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| Error::parquet(location, e))?;
    let seq = commit_seq(builder.metadata());
    let mask = index_projection(builder.schema(), builder.parquet_schema());
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| Error::parquet(location, e))?;
    let mut out = Vec::new();
    for b in reader {
        out.extend(index_columns(&b?));
    }
    Ok((out, seq))
}

/// An old part's rows in the table's current schema: columns the part was written without (an
/// older schema version) become nulls, types are cast, columns no longer in the schema are dropped.
pub(crate) fn conform(table: Table, batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = table.schema();
    if batch.schema().fields() == schema.fields() {
        return Ok(batch.clone());
    }
    let cols = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => cast(c, f.data_type()),
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, cols)?)
}
