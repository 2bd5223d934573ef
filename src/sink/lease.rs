//! One writer per lake, coordinated through the store itself.
//!
//! A writer holds a *lease*: `_replaylake/lease/<generation>.json`, created with a create-only put
//! (`PutMode::Create`), naming its owner, host and process and when it expires. It is renewed
//! while the run lasts. A second writer finds the newest generation live and waits (up to
//! `--wait`) or stops with a message naming the holder, instead of rolling back a live run's
//! files. A lease that expired, was released, or belongs to a process on this host that is gone
//! is taken over by creating the *next* generation: two writers racing for it cannot both win,
//! because only one create-only put of a name succeeds. A writer that sees a newer generation
//! than its own has lost its lease and stops before its next commit step.
//!
//! Since the lease is exclusive, every journal a holder finds belongs to a writer that is gone,
//! and recovering it is safe. The generation also orders runs: it is the high part of the commit
//! sequence that tells two versions of a session apart (see `commit`).
//!
//! Stores without create-only puts cannot give this guarantee: the writer says so and goes on as
//! the only writer, as before leases.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use crate::error::{Error, Result};
use crate::store::{Created, Lake};

const LEASE_DIR: &str = "_replaylake/lease";

/// How long a lease lives without renewal. `REPLAYLAKE_LEASE_TTL_MS` overrides it (tests).
fn ttl() -> Duration {
    std::env::var("REPLAYLAKE_LEASE_TTL_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(60))
}

/// What a lease object says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Holder {
    pub owner: String,
    pub host: String,
    pub pid: u32,
    pub command: String,
    pub acquired_at: String,
    pub expires_at_ms: i64,
    #[serde(default)]
    pub released: bool,
}

impl Holder {
    fn describe(&self) -> String {
        format!(
            "{} (pid {} on {}, since {})",
            self.command, self.pid, self.host, self.acquired_at
        )
    }

    /// Whether another writer may take the lake over.
    fn is_gone(&self, now_ms: i64) -> bool {
        self.released
            || self.expires_at_ms < now_ms
            || (self.host == host_name() && !process_alive(self.pid))
    }
}

/// A held lease; renewed in the background until released or dropped.
pub struct Lease {
    lake: Lake,
    rt: Handle,
    pub generation: u64,
    pub owner: String,
    holder: Holder,
    /// False where the store cannot create-only: no protection against a second writer.
    pub exclusive: bool,
    lost: Arc<AtomicBool>,
    renewer: Option<tokio::task::JoinHandle<()>>,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn rel(generation: u64) -> String {
    format!("{LEASE_DIR}/{generation:020}.json")
}

/// The generations present, oldest first.
async fn generations(lake: &Lake) -> Result<Vec<u64>> {
    let prefix = lake.path(LEASE_DIR);
    let metas: Vec<_> = lake
        .store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| Error::store(LEASE_DIR, e))?;
    let mut gens: Vec<u64> = metas
        .iter()
        .filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok())
        .collect();
    gens.sort_unstable();
    Ok(gens)
}

async fn read_holder(lake: &Lake, generation: u64) -> Result<Option<Holder>> {
    let r = rel(generation);
    let bytes = match lake.store.get(&lake.path(&r)).await {
        Ok(g) => g.bytes().await.map_err(|e| Error::store(&r, e))?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(Error::store(&r, e)),
    };
    // an unreadable lease (a torn write by a store without atomic puts) is a gone one
    Ok(Some(serde_json::from_slice(&bytes).unwrap_or(Holder {
        owner: String::new(),
        host: String::new(),
        pid: 0,
        command: "unreadable lease".into(),
        acquired_at: String::new(),
        expires_at_ms: 0,
        released: true,
    })))
}

fn body(h: &Holder) -> Bytes {
    Bytes::from(serde_json::to_vec_pretty(h).expect("lease serializes"))
}

/// The outcome of one attempt to take the lake.
enum Attempt {
    Held(u64, bool),
    Busy(Holder),
    Raced,
}

async fn attempt(lake: &Lake, holder: &Holder) -> Result<Attempt> {
    let gens = generations(lake).await?;
    let next = match gens.last() {
        None => 1,
        Some(&g) => match read_holder(lake, g).await? {
            Some(h) if !h.is_gone(now_ms()) => return Ok(Attempt::Busy(h)),
            _ => g + 1,
        },
    };
    Ok(match lake.put_if_absent(&rel(next), body(holder)).await? {
        Created::Created => Attempt::Held(next, true),
        Created::Overwrote => Attempt::Held(next, false),
        Created::AlreadyExists => Attempt::Raced,
    })
}

impl Lease {
    /// Takes the lake for `command`, waiting up to `wait` for a live holder to finish.
    pub fn acquire(lake: &Lake, rt: &Handle, command: &str, wait: Duration) -> Result<Lease> {
        let owner = uuid::Uuid::new_v4().simple().to_string();
        let mut holder = Holder {
            owner: owner.clone(),
            host: host_name(),
            pid: std::process::id(),
            command: command.to_string(),
            acquired_at: chrono::Utc::now().to_rfc3339(),
            expires_at_ms: 0,
            released: false,
        };
        let deadline = std::time::Instant::now() + wait;
        let mut told = false;
        let (generation, exclusive) = loop {
            holder.expires_at_ms = now_ms() + ttl().as_millis() as i64;
            match rt.block_on(attempt(lake, &holder))? {
                Attempt::Held(g, exclusive) => break (g, exclusive),
                Attempt::Raced => continue,
                Attempt::Busy(h) if std::time::Instant::now() < deadline => {
                    if !told {
                        tracing::warn!(lake = %lake.url, holder = %h.describe(), "another writer holds the lake; waiting");
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                Attempt::Busy(h) => {
                    return Err(Error::LakeBusy {
                        lake: lake.url.clone(),
                        holder: h.describe(),
                    });
                }
            }
        };
        if !exclusive {
            tracing::warn!(lake = %lake.url, "the store has no create-only writes: nothing stops a second writer (run one writer at a time)");
        }
        rt.block_on(prune(lake, generation));
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = exclusive.then(|| {
            rt.spawn(renew(
                lake.clone(),
                generation,
                holder.clone(),
                lost.clone(),
            ))
        });
        tracing::debug!(generation, owner = %owner, "lease taken");
        Ok(Lease {
            lake: lake.clone(),
            rt: rt.clone(),
            generation,
            owner,
            holder,
            exclusive,
            lost,
            renewer,
        })
    }

    /// Fails once another writer has taken the lake over (this one was stalled past its lease).
    pub fn check(&self) -> Result<()> {
        if self.lost.load(Ordering::Relaxed) {
            return Err(Error::LeaseLost {
                lake: self.lake.url.clone(),
            });
        }
        Ok(())
    }

    /// Ends the lease: the next writer may start at once.
    pub fn release(mut self) -> Result<()> {
        self.end()
    }

    fn end(&mut self) -> Result<()> {
        if self.holder.released {
            return Ok(());
        }
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        self.check()?;
        self.holder.released = true;
        let (lake, r, b) = (self.lake.clone(), rel(self.generation), body(&self.holder));
        self.rt
            .block_on(async move { lake.store.put(&lake.path(&r), PutPayload::from(b)).await })
            .map_err(|e| Error::store(rel(self.generation), e))?;
        Ok(())
    }
}

impl Drop for Lease {
    /// A run that ends in an error still lets the next writer in at once: nothing of it is in
    /// flight any more, and the next writer recovers the journals it left. (A killed run's lease
    /// expires, or the next run on this host sees its process is gone.)
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_ok() {
            // cannot block here; the lease expires instead
            if let Some(r) = self.renewer.take() {
                r.abort();
            }
            return;
        }
        if let Err(e) = self.end() {
            tracing::debug!(error = %e, "lease not released");
        }
    }
}

/// Deletes generations before the previous one (best effort: they only keep the count going).
async fn prune(lake: &Lake, generation: u64) {
    let Ok(gens) = generations(lake).await else {
        return;
    };
    for g in gens.into_iter().filter(|g| g + 1 < generation) {
        let _ = lake.store.delete(&lake.path(&rel(g))).await;
    }
}

/// Renews the lease every quarter of its life, and notices a takeover.
async fn renew(lake: Lake, generation: u64, mut holder: Holder, lost: Arc<AtomicBool>) {
    let ttl = ttl();
    loop {
        tokio::time::sleep(ttl / 4).await;
        match generations(&lake).await {
            Ok(gens) if gens.last().is_some_and(|&g| g > generation) => {
                tracing::error!(lake = %lake.url, "another writer took the lake over: this run stops");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            _ => {}
        }
        let valid_until = holder.expires_at_ms;
        holder.expires_at_ms = now_ms() + ttl.as_millis() as i64;
        let p = lake.path(&rel(generation));
        if let Err(e) = lake.store.put(&p, PutPayload::from(body(&holder))).await {
            holder.expires_at_ms = valid_until;
            if now_ms() >= valid_until {
                tracing::error!(lake = %lake.url, error = %e, "the lease could not be renewed before it expired: this run stops");
                lost.store(true, Ordering::Relaxed);
                return;
            }
            tracing::warn!(lake = %lake.url, error = %e, "lease renewal failed; retrying");
        }
    }
}
