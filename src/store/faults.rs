//! Injected store errors, for the fault-injection tests: `REPLAYLAKE_TEST_FAULTS` wraps the lake's
//! store so that chosen calls fail, and the tests check that every run either succeeds or fails
//! with a clear error, and that a healthy rerun leaves the lake a clean run would.
//!
//! The value is a comma-separated list of `KIND:N` (the Nth call of that kind fails once, a
//! transient error) or `KIND:N+` (the Nth and every later one fail, a permanent error), with
//! KIND one of `put`, `get`, `list`, `delete`, `multipart` (starting an upload, each part, and
//! completing it), or `slow:MS` (every put waits MS milliseconds first, to hold a run open). Each
//! injected error is logged as `injected fault`, so a test can tell that N was past the run's
//! last call of that kind.
//!
//! `REPLAYLAKE_TEST_CRASH_AT=N` aborts the process at the Nth commit step (see
//! [`crash_point`]), as a kill -9 would, so the tests can kill a run at every step of a commit.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart,
};

pub const ENV: &str = "REPLAYLAKE_TEST_FAULTS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Put,
    Get,
    List,
    Delete,
    Multipart,
}

const KINDS: [(Kind, &str); 5] = [
    (Kind::Put, "put"),
    (Kind::Get, "get"),
    (Kind::List, "list"),
    (Kind::Delete, "delete"),
    (Kind::Multipart, "multipart"),
];

#[derive(Debug, Clone, Copy)]
struct Rule {
    kind: Kind,
    nth: u64,
    permanent: bool,
}

/// The rules and the call counters, shared by a store and its uploads.
#[derive(Debug, Default)]
struct Plan {
    rules: Vec<Rule>,
    calls: [AtomicU64; 5],
    put_delay: Option<std::time::Duration>,
}

impl Plan {
    fn parse(spec: &str) -> Result<Plan, String> {
        let mut rules = Vec::new();
        let mut put_delay = None;
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (kind, n) = item
                .split_once(':')
                .ok_or_else(|| format!("{ENV}: expected KIND:N, got {item:?}"))?;
            if kind == "slow" {
                let ms = n
                    .parse()
                    .map_err(|_| format!("{ENV}: bad delay in {item:?}"))?;
                put_delay = Some(std::time::Duration::from_millis(ms));
                continue;
            }
            let kind = KINDS
                .iter()
                .find(|(_, name)| *name == kind)
                .map(|(k, _)| *k)
                .ok_or_else(|| format!("{ENV}: unknown call kind {kind:?}"))?;
            let (n, permanent) = match n.strip_suffix('+') {
                Some(n) => (n, true),
                None => (n, false),
            };
            let nth = n
                .parse()
                .map_err(|_| format!("{ENV}: bad call number in {item:?}"))?;
            rules.push(Rule {
                kind,
                nth,
                permanent,
            });
        }
        Ok(Plan {
            rules,
            put_delay,
            ..Default::default()
        })
    }

    /// Counts a call; an error when a rule says this one fails.
    fn call(&self, kind: Kind, location: &str) -> object_store::Result<()> {
        let i = KINDS.iter().position(|(k, _)| *k == kind).expect("known");
        let n = self.calls[i].fetch_add(1, Ordering::SeqCst) + 1;
        let hit = self
            .rules
            .iter()
            .any(|r| r.kind == kind && (n == r.nth || (r.permanent && n > r.nth)));
        if !hit {
            return Ok(());
        }
        let name = KINDS[i].1;
        tracing::warn!(call = name, n, location, "injected fault");
        Err(object_store::Error::Generic {
            store: "faults",
            source: format!("injected fault: {name} #{n} at {location}").into(),
        })
    }
}

/// Counts a commit step (`step` names it in the message) and aborts the process at the step
/// `REPLAYLAKE_TEST_CRASH_AT` names. Free when the variable is not set.
pub fn crash_point(step: &str) {
    static AT: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    static STEPS: AtomicU64 = AtomicU64::new(0);
    let Some(at) = *AT.get_or_init(|| {
        std::env::var("REPLAYLAKE_TEST_CRASH_AT")
            .ok()
            .and_then(|v| v.parse().ok())
    }) else {
        return;
    };
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    if n == at {
        eprintln!("crash point {n}: {step}");
        std::process::abort();
    }
}

/// A store whose calls fail as [`ENV`] says.
#[derive(Debug)]
pub struct FaultyStore {
    inner: Arc<dyn ObjectStore>,
    plan: Arc<Plan>,
}

/// Wraps `store` when [`ENV`] is set.
pub fn wrap(store: Arc<dyn ObjectStore>) -> Result<Arc<dyn ObjectStore>, String> {
    match std::env::var(ENV) {
        Ok(spec) if !spec.trim().is_empty() => Ok(Arc::new(FaultyStore {
            inner: store,
            plan: Arc::new(Plan::parse(&spec)?),
        })),
        _ => Ok(store),
    }
}

impl fmt::Display for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaultyStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for FaultyStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.plan.call(Kind::Put, location.as_ref())?;
        if let Some(d) = self.plan.put_delay {
            tokio::time::sleep(d).await;
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.plan.call(Kind::Multipart, location.as_ref())?;
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(FaultyUpload {
            upload,
            plan: self.plan.clone(),
            location: location.to_string(),
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.plan.call(Kind::Get, location.as_ref())?;
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.plan.call(Kind::Get, location.as_ref())?;
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let plan = self.plan.clone();
        let checked = locations
            .map(move |l| {
                let l = l?;
                plan.call(Kind::Delete, l.as_ref())?;
                Ok(l)
            })
            .boxed();
        self.inner.delete_stream(checked)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self
            .plan
            .call(Kind::List, prefix.map(Path::as_ref).unwrap_or(""))
        {
            Ok(()) => self.inner.list(prefix),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.plan
            .call(Kind::List, prefix.map(Path::as_ref).unwrap_or(""))?;
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.plan.call(Kind::Put, to.as_ref())?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// An upload whose parts and completion fail as the plan says.
#[derive(Debug)]
struct FaultyUpload {
    upload: Box<dyn MultipartUpload>,
    plan: Arc<Plan>,
    location: String,
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        if let Err(e) = self.plan.call(Kind::Multipart, &self.location) {
            return Box::pin(async move { Err(e) });
        }
        self.upload.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.plan.call(Kind::Multipart, &self.location)?;
        self.upload.complete().await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.upload.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nth_call_fails_once_or_from_then_on() {
        let p = Plan::parse("put:2, get:3+").unwrap();
        let puts: Vec<bool> = (0..4).map(|_| p.call(Kind::Put, "x").is_err()).collect();
        assert_eq!(puts, [false, true, false, false]);
        let gets: Vec<bool> = (0..5).map(|_| p.call(Kind::Get, "x").is_err()).collect();
        assert_eq!(gets, [false, false, true, true, true]);
        assert!(p.call(Kind::List, "x").is_ok());
        assert!(Plan::parse("rename:1").is_err());
        assert!(Plan::parse("put:x").is_err());
    }
}
