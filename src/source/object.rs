//! Inputs in an object store (`s3://`, `gs://`, `az://`): what `convert` reads where it lies, such
//! as a lake's own `_raw/` kept by `pull --keep-raw`, or a self-hosted PostHog's blob bucket.
//!
//! An argument is one object, a prefix (every object under it, names starting with `.` or `_`
//! below the prefix skipped as in a directory), or a glob under a prefix
//! (`s3://bucket/raw/*/*.jsonl`). The store is opened as a lake is ([`Lake::open`]: the same
//! URLs, credentials and `--storage-option`s). Objects are read as a stream of chunks, so memory
//! stays bounded as with local files; a store error while reading fails the input (it is not a
//! bad record, and a rerun reads it again).

use std::io::Read;
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::runtime::Handle;

use super::file::{InputFile, Location};
use crate::error::{Error, Result};
use crate::store::Lake;

/// True when `arg` names an object store rather than a local path.
pub fn is_store_url(arg: &str) -> bool {
    arg.contains("://") && !arg.starts_with("file://")
}

/// One object to read.
pub struct StoreObject {
    store: Arc<dyn ObjectStore>,
    path: Path,
    /// `scheme://bucket/key`, for messages and provenance.
    pub url: String,
    rt: Handle,
}

impl std::fmt::Debug for StoreObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

/// Lists the objects `arg` names (see the module docs), sorted by key.
pub fn expand_store_input(
    arg: &str,
    options: &[(String, String)],
    rt: &Handle,
) -> Result<Vec<InputFile>> {
    let (base, pattern) = split_glob(arg);
    let pattern = pattern
        .map(|p| glob::Pattern::new(&p))
        .transpose()
        .map_err(|e| Error::Usage(format!("bad glob pattern {arg:?}: {e}")))?;
    let lake = Lake::open(base, options)?;
    let store_url = lake.store_url.as_str().trim_end_matches('/').to_string();
    let object = |path: Path, size: u64| InputFile {
        size,
        location: Location::Object(Arc::new(StoreObject {
            store: lake.store.clone(),
            url: format!("{store_url}/{path}"),
            path,
            rt: rt.clone(),
        })),
    };
    // One object, when the argument names it exactly.
    if pattern.is_none() && !lake.root.as_ref().is_empty() {
        match rt.block_on(lake.store.head(&lake.root)) {
            Ok(meta) => return Ok(vec![object(meta.location, meta.size)]),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(Error::store(arg, e)),
        }
    }
    let root_parts = lake.root.parts().count();
    let listed: Vec<_> = rt
        .block_on(lake.store.list(Some(&lake.root)).try_collect())
        .map_err(|e| Error::store(arg, e))?;
    let mut out: Vec<InputFile> = listed
        .into_iter()
        .filter(|m| {
            let below: Vec<_> = m.location.parts().skip(root_parts).collect();
            match &pattern {
                Some(p) => p.matches(
                    &below
                        .iter()
                        .map(|s| s.as_ref())
                        .collect::<Vec<_>>()
                        .join("/"),
                ),
                None => !below.iter().any(|s| s.as_ref().starts_with(['.', '_'])),
            }
        })
        .map(|m| object(m.location, m.size))
        .collect();
    if out.is_empty() {
        return Err(Error::NoInput {
            pattern: arg.to_string(),
        });
    }
    out.sort_by(|a, b| a.name().cmp(&b.name()));
    Ok(out)
}

/// Splits `s3://b/raw/*/x.jsonl` into the prefix before the first segment with a glob
/// character (`s3://b/raw`) and the pattern of the rest (`*/x.jsonl`).
fn split_glob(arg: &str) -> (&str, Option<String>) {
    let scheme_end = arg.find("://").map(|i| i + 3).unwrap_or(0);
    let Some(glob_at) = arg[scheme_end..]
        .find(['*', '?', '['])
        .map(|i| i + scheme_end)
    else {
        return (arg, None);
    };
    let cut = arg[..glob_at].rfind('/').unwrap_or(glob_at);
    (&arg[..cut], Some(arg[cut + 1..].to_string()))
}

impl StoreObject {
    /// A reader of the object's bytes, and where it puts a store error that ended the read.
    pub(crate) fn open(&self) -> Result<(ObjectReader, ReadFailure)> {
        let got = self
            .rt
            .block_on(self.store.get(&self.path))
            .map_err(|e| Error::store(&self.url, e))?;
        let failure = ReadFailure::default();
        let reader = ObjectReader {
            stream: got.into_stream(),
            chunk: Bytes::new(),
            rt: self.rt.clone(),
            failure: failure.clone(),
        };
        Ok((reader, failure))
    }
}

/// Set when the store failed in the middle of an object.
#[derive(Clone, Default)]
pub(crate) struct ReadFailure(Arc<Mutex<Option<object_store::Error>>>);

impl ReadFailure {
    pub(crate) fn take(&self) -> Option<object_store::Error> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A blocking reader over an object's byte stream (called from the decoding threads, never from
/// the runtime's own).
pub(crate) struct ObjectReader {
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
    rt: Handle,
    failure: ReadFailure,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rt.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => {
                    let msg = e.to_string();
                    *self.failure.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    return Err(std::io::Error::other(msg));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_split_at_their_first_segment() {
        assert_eq!(split_glob("s3://b/raw"), ("s3://b/raw", None));
        assert_eq!(
            split_glob("s3://b/raw/*/x.jsonl"),
            ("s3://b/raw", Some("*/x.jsonl".to_string()))
        );
        assert_eq!(
            split_glob("gs://b/a/b/s-?.json"),
            ("gs://b/a/b", Some("s-?.json".to_string()))
        );
        assert!(is_store_url("az://c/x") && !is_store_url("file:///x") && !is_store_url("raw/"));
    }
}
