//! The lake's location: a URL turned into an [`ObjectStore`] and a root path inside it.
//!
//! **URLs.** A local directory (or `file://…`), `s3://bucket/prefix` (also `s3a://`),
//! `gs://bucket/prefix`, `az://container/prefix` (also `azure://`, `abfs[s]://`), or `http[s]://`.
//! Each cloud store is configured from, in increasing precedence:
//! 1. the standard environment variables that object_store reads (`AWS_*`, `GOOGLE_*`,
//!    `AZURE_*`; see the object_store docs),
//! 2. for S3, the shared profile files (`~/.aws/credentials`, `~/.aws/config`, or
//!    `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`, profile `AWS_PROFILE` or `default`):
//!    static keys, session token, `region` and `endpoint_url`, used only for what 1. left unset;
//!    for Azure, a connection string (`AZURE_STORAGE_CONNECTION_STRING` or the option
//!    `azure_storage_connection_string`), used only for what 1. left unset,
//! 3. `--storage-option key=value` (any object_store config key for that store; unknown keys are
//!    an error).
//!
//! **Writes.** [`put_object`] uploads in parts (object_store's multipart upload) above
//! [`MULTIPART_THRESHOLD`]: an upload that is interrupted is never visible (S3, GCS and Azure only
//! show an object once the upload is completed; locally a staging file is renamed into place).
//! [`Lake::put_if_absent`] is a create-only write (`PutMode::Create`: `If-None-Match: *` on S3 and
//! Azure, `x-goog-if-generation-match: 0` on GCS, an exclusive create locally). Where the store does not
//! implement it (S3 with `aws_conditional_put=disabled`, some S3-compatible servers) it falls back
//! to a plain put, logged once; callers keep their idempotent semantics either way.

pub mod faults;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    ObjectStore, ObjectStoreExt, ObjectStoreScheme, PutMode, PutOptions, PutPayload, WriteMultipart,
};
use url::Url;

use crate::error::{Error, Result};

/// Objects at least this large are uploaded in parts.
pub const MULTIPART_THRESHOLD: usize = 16 * 1024 * 1024;
/// The size of each part of a multipart upload (S3 and GCS need at least 5 MiB but the last).
pub const MULTIPART_PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploaded concurrently.
const MULTIPART_CONCURRENCY: usize = 4;

/// The well-known Azurite/Azure Storage Emulator account.
const AZURE_DEV_ACCOUNT: &str = "devstoreaccount1";

/// A lake: an object store and the prefix under which its tables live.
#[derive(Clone)]
pub struct Lake {
    pub store: Arc<dyn ObjectStore>,
    pub root: Path,
    /// The URL as the user gave it (for messages; it never carries credentials).
    pub url: String,
    /// The URL DataFusion registers the store under (`file:///`, `s3://bucket`, ...).
    pub store_url: Url,
    /// Cleared the first time the store answers that create-only puts are not implemented.
    create_only: Arc<AtomicBool>,
    /// Whether objects are uploaded in parts above the threshold (not for local directories,
    /// where a put is already a staging file renamed into place).
    multipart: bool,
}

/// The outcome of [`Lake::put_if_absent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The object did not exist and was written.
    Created,
    /// The object already existed; nothing was written.
    AlreadyExists,
    /// The store cannot create-only: the object was written with a plain put.
    Overwrote,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("url", &self.url)
            .field("root", &self.root)
            .finish()
    }
}

impl Lake {
    /// Opens (creating a local directory if needed) the lake at `url` with object_store options
    /// (`--storage-option key=value`; credentials otherwise come from the environment; see the
    /// module docs for the precedence).
    pub fn open(url: &str, options: &[(String, String)]) -> Result<Lake> {
        let bad = |m: String| Error::BadDestination {
            url: url.to_string(),
            message: m,
        };
        let looks_remote = url.contains("://") && !url.starts_with("file://");
        if !looks_remote && let Some(fix) = misspelt_url(url) {
            // a typo, not a store failure: exit 2
            return Err(Error::Usage(format!("invalid lake URL {url:?}: {fix}")));
        }
        if !looks_remote {
            let path = url.strip_prefix("file://").unwrap_or(url);
            std::fs::create_dir_all(path)
                .map_err(|e| bad(format!("cannot create directory: {e}")))?;
            let abs = std::fs::canonicalize(path)
                .map_err(|e| bad(format!("cannot resolve directory: {e}")))?;
            let store = LocalFileSystem::new_with_prefix(&abs).map_err(|e| bad(e.to_string()))?;
            let store_url =
                Url::from_directory_path(&abs).map_err(|_| bad("not an absolute path".into()))?;
            return Ok(Lake {
                store: crate::store::faults::wrap(Arc::new(store)).map_err(bad)?,
                root: Path::default(),
                url: url.to_string(),
                store_url,
                create_only: Arc::new(AtomicBool::new(true)),
                multipart: false,
            });
        }
        let parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad(
                "credentials in the URL are not accepted; use the environment or --storage-option"
                    .into(),
            ));
        }
        let opts: Vec<(String, String)> = options
            .iter()
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.clone()))
            .collect();
        let (scheme, root) = ObjectStoreScheme::parse(&parsed).map_err(|e| bad(e.to_string()))?;
        let store: Arc<dyn ObjectStore> = match scheme {
            ObjectStoreScheme::AmazonS3 => Arc::new(build_s3(&parsed, &opts).map_err(bad)?),
            ObjectStoreScheme::GoogleCloudStorage => {
                Arc::new(build_gcs(&parsed, &opts).map_err(bad)?)
            }
            ObjectStoreScheme::MicrosoftAzure => {
                Arc::new(build_azure(&parsed, &opts).map_err(bad)?)
            }
            _ => {
                let (store, _) =
                    object_store::parse_url_opts(&parsed, opts).map_err(|e| bad(e.to_string()))?;
                Arc::from(store)
            }
        };
        let mut store_url = parsed.clone();
        store_url.set_path("/");
        store_url.set_query(None);
        store_url.set_fragment(None);
        Ok(Lake {
            store: crate::store::faults::wrap(store).map_err(bad)?,
            root,
            url: url.to_string(),
            store_url,
            create_only: Arc::new(AtomicBool::new(true)),
            multipart: true,
        })
    }

    /// Opens the lake at `url` only to read it, creating nothing: a local directory that does not
    /// exist is an empty lake, held in memory (`pull --dry-run` into a new folder lists what it
    /// would fetch without making the folder).
    pub fn open_to_read(url: &str, options: &[(String, String)]) -> Result<Lake> {
        let looks_remote = url.contains("://") && !url.starts_with("file://");
        let path = std::path::Path::new(url.strip_prefix("file://").unwrap_or(url));
        if looks_remote || misspelt_url(url).is_some() || path.exists() {
            return Lake::open(url, options);
        }
        Ok(Lake {
            store: Arc::new(object_store::memory::InMemory::new()),
            root: Path::default(),
            url: url.to_string(),
            store_url: Url::parse("memory:///").expect("a valid URL"),
            create_only: Arc::new(AtomicBool::new(true)),
            multipart: false,
        })
    }

    /// Opens a lake that must already exist, for the commands that read or rewrite one (`query`,
    /// `export`, `replay`, `compact`): a local path that is not there is an error, never created.
    /// Call [`Lake::check_is_lake`] next to find a folder that is no lake.
    pub fn open_existing(url: &str, options: &[(String, String)]) -> Result<Lake> {
        let looks_remote = url.contains("://") && !url.starts_with("file://");
        if !looks_remote && misspelt_url(url).is_none() {
            let path = std::path::Path::new(url.strip_prefix("file://").unwrap_or(url));
            if !path.is_dir() {
                return Err(Error::NoLake {
                    url: url.to_string(),
                    reason: if path.exists() {
                        "it is a file, not a directory".into()
                    } else {
                        format!(
                            "the directory does not exist (convert some recordings first: \
                             replaylake convert INPUT --dest {url})"
                        )
                    },
                });
            }
        }
        Lake::open(url, options)
    }

    /// Whether the root holds a lake: one of its tables' folders or `_replaylake/`. An empty or
    /// unrelated folder, or one table's folder (`lake/events`), is [`Error::NoLake`] saying so.
    pub async fn check_is_lake(&self) -> Result<()> {
        let root = (!self.root.as_ref().is_empty()).then_some(&self.root);
        let listing = self
            .store
            .list_with_delimiter(root)
            .await
            .map_err(|e| Error::store(&self.url, e))?;
        // the first level under the root (from the objects too: a store that ignores the
        // delimiter lists everything as objects)
        let names: Vec<String> = listing
            .common_prefixes
            .iter()
            .chain(listing.objects.iter().map(|o| &o.location))
            .filter_map(|p| {
                let rel = self.relative(p);
                let first = rel.split('/').next().unwrap_or_default();
                let nested = rel.contains('/') || listing.common_prefixes.contains(p);
                (nested && !first.is_empty()).then(|| first.to_string())
            })
            .collect();
        let known =
            |n: &str| n == "_replaylake" || crate::schema::TABLES.iter().any(|t| t.name() == n);
        if names.iter().any(|n| known(n)) {
            return Ok(());
        }
        let url = self.url.trim_end_matches('/');
        let reason = if names.iter().any(|n| n.starts_with("date=")) {
            let parent = url.rsplit_once('/').map(|(p, _)| p).unwrap_or(".");
            format!(
                "it holds date= partitions, so it is one table of a lake, not the lake: give the \
                 folder above it (--lake {parent})"
            )
        } else if names.is_empty() && listing.objects.is_empty() {
            format!(
                "it is empty (convert some recordings first: replaylake convert INPUT --dest {url})"
            )
        } else {
            "it holds none of the lake's tables (events/, recordings/, network_requests/) nor \
             _replaylake/: is it the right folder?"
                .to_string()
        };
        Err(Error::NoLake {
            url: self.url.clone(),
            reason,
        })
    }

    /// A path under the lake's root.
    pub fn path(&self, rel: &str) -> Path {
        let mut parts: Vec<String> = self.root.parts().map(|p| p.as_ref().to_string()).collect();
        parts.extend(rel.split('/').filter(|s| !s.is_empty()).map(str::to_string));
        Path::parse(parts.join("/")).unwrap_or_else(|_| Path::from_iter(parts))
    }

    /// `rel` for a path under the root.
    pub fn relative(&self, p: &Path) -> String {
        let n = self.root.parts().count();
        p.parts()
            .skip(n)
            .map(|p| p.as_ref().to_string())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Writes `data` at `rel` (under the root), in parts when it is large (see [`put_object`]).
    pub async fn put(&self, rel: &str, data: Bytes) -> Result<()> {
        let threshold = if self.multipart {
            multipart_threshold()
        } else {
            usize::MAX
        };
        put_object(self.store.as_ref(), &self.path(rel), data, threshold)
            .await
            .map_err(|e| Error::store(rel, e))
    }

    /// Writes `data` at `rel` only if nothing is there yet. Falls back to a plain put (and says so
    /// in the result) where the store does not implement create-only writes.
    pub async fn put_if_absent(&self, rel: &str, data: Bytes) -> Result<Created> {
        let p = self.path(rel);
        if self.create_only.load(Ordering::Relaxed) {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..Default::default()
            };
            match self
                .store
                .put_opts(&p, PutPayload::from(data.clone()), opts)
                .await
            {
                Ok(_) => return Ok(Created::Created),
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => {
                    return Ok(Created::AlreadyExists);
                }
                Err(object_store::Error::NotImplemented { .. })
                | Err(object_store::Error::NotSupported { .. }) => {
                    if self.create_only.swap(false, Ordering::Relaxed) {
                        tracing::warn!(
                            lake = %self.url,
                            "the store does not support create-only writes; falling back to plain puts"
                        );
                    }
                }
                Err(e) => return Err(Error::store(rel, e)),
            }
        }
        self.store
            .put(&p, PutPayload::from(data))
            .await
            .map_err(|e| Error::store(rel, e))?;
        Ok(Created::Overwrote)
    }

    /// Whether create-only writes are (still believed to be) supported by the store.
    pub fn supports_create_only(&self) -> bool {
        self.create_only.load(Ordering::Relaxed)
    }
}

/// What is wrong with a URL of a store scheme that lacks its `//` (`s3:/bucket/x`, `gs:bucket`),
/// which would otherwise name a local folder `s3:`.
fn misspelt_url(url: &str) -> Option<String> {
    const SCHEMES: &[&str] = &[
        "s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "file", "http", "https", "memory",
    ];
    let (scheme, rest) = url.split_once(':')?;
    if !SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) || rest.starts_with("//") {
        return None;
    }
    let fixed = format!("{scheme}://{}", rest.trim_start_matches('/'));
    Some(if scheme.eq_ignore_ascii_case("file") {
        format!(
            "a file URL takes two slashes (file:///absolute/path), or give the path itself \
             ({})",
            rest
        )
    } else {
        format!("a {scheme}: URL takes two slashes after the colon: did you mean {fixed}?")
    })
}

/// The multipart threshold in force: [`MULTIPART_THRESHOLD`], or, for tests,
/// `REPLAYLAKE_MULTIPART_THRESHOLD` (bytes).
#[doc(hidden)]
pub fn multipart_threshold() -> usize {
    std::env::var("REPLAYLAKE_MULTIPART_THRESHOLD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MULTIPART_THRESHOLD)
}

/// Uploads `data` to `path`: a single PUT below `threshold`, else a multipart upload in
/// [`MULTIPART_PART_SIZE`] parts that is aborted on error. Until the upload completes nothing is
/// visible at `path`; a process killed mid-upload leaves an incomplete upload that the store
/// never shows (and that a bucket lifecycle rule for incomplete multipart uploads cleans up).
pub async fn put_object(
    store: &dyn ObjectStore,
    path: &Path,
    data: Bytes,
    threshold: usize,
) -> object_store::Result<()> {
    if data.len() < threshold.max(1) {
        store.put(path, PutPayload::from(data)).await?;
        return Ok(());
    }
    // Test-only: a pause after each part, so that a test can kill the process mid-upload.
    let pause = std::env::var("REPLAYLAKE_TEST_PART_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    let upload = store.put_multipart(path).await?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART_SIZE);
    let mut rest = data;
    while !rest.is_empty() {
        let n = rest.len().min(MULTIPART_PART_SIZE);
        let chunk = rest.split_to(n);
        if let Err(e) = w.wait_for_capacity(MULTIPART_CONCURRENCY).await {
            let _ = w.abort().await;
            return Err(e);
        }
        w.put(chunk);
        if let Some(ms) = pause {
            if let Err(e) = w.wait_for_capacity(0).await {
                let _ = w.abort().await;
                return Err(e);
            }
            tracing::debug!(%path, "multipart part uploaded");
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
    }
    w.finish().await?;
    Ok(())
}

fn unknown_key(store: &str, key: &str) -> String {
    format!("unknown storage option {key:?} for {store} (see the object_store config keys)")
}

fn build_s3(
    url: &Url,
    opts: &[(String, String)],
) -> std::result::Result<object_store::aws::AmazonS3, String> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey as K};
    let mut b = AmazonS3Builder::from_env().with_url(url.to_string());
    let mut given: Vec<(K, String)> = Vec::new();
    for (k, v) in opts {
        let key: K = k.parse().map_err(|_| unknown_key("s3", k))?;
        given.push((key, v.clone()));
    }
    let has = |b: &AmazonS3Builder, key: &K| {
        b.get_config_value(key).is_some_and(|v| !v.is_empty())
            || given.iter().any(|(k, _)| k == key)
    };
    for (key, value) in aws_profile_settings() {
        if !has(&b, &key) {
            b = b.with_config(key, value);
        }
    }
    for (key, value) in given.iter().cloned() {
        b = b.with_config(key, value);
    }
    b.build().map_err(|e| e.to_string())
}

/// Static settings of the AWS shared profile (`AWS_PROFILE` or `default`) from the shared
/// credentials and config files. SSO, `credential_process` and role assumption are not read:
/// use the environment (e.g. `aws configure export-credentials --format env`) for those.
fn aws_profile_settings() -> Vec<(object_store::aws::AmazonS3ConfigKey, String)> {
    use object_store::aws::AmazonS3ConfigKey as K;
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |var: &str, name: &str| {
        std::env::var_os(var)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
    };
    let profile = std::env::var("AWS_PROFILE")
        .or_else(|_| std::env::var("AWS_DEFAULT_PROFILE"))
        .unwrap_or_else(|_| "default".to_string());
    let mut out = Vec::new();
    if let Some(creds) = file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
        .and_then(|p| std::fs::read_to_string(p).ok())
    {
        let s = ini_section(&creds, &profile);
        for (name, key) in [
            ("aws_access_key_id", K::AccessKeyId),
            ("aws_secret_access_key", K::SecretAccessKey),
            ("aws_session_token", K::Token),
        ] {
            if let Some(v) = s.get(name) {
                out.push((key, v.clone()));
            }
        }
    }
    if let Some(config) =
        file("AWS_CONFIG_FILE", "config").and_then(|p| std::fs::read_to_string(p).ok())
    {
        let section = if profile == "default" {
            "default".to_string()
        } else {
            format!("profile {profile}")
        };
        let s = ini_section(&config, &section);
        let has_keys = out.iter().any(|(k, _)| *k == K::AccessKeyId);
        for (name, key) in [
            ("aws_access_key_id", K::AccessKeyId),
            ("aws_secret_access_key", K::SecretAccessKey),
            ("aws_session_token", K::Token),
        ] {
            if !has_keys && let Some(v) = s.get(name) {
                out.push((key, v.clone()));
            }
        }
        if let Some(v) = s.get("region") {
            out.push((K::Region, v.clone()));
        }
        if let Some(v) = s.get("endpoint_url") {
            out.push((K::Endpoint, v.clone()));
        }
    }
    out
}

/// `key = value` pairs of one `[section]` of an INI file.
fn ini_section(text: &str, section: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            out.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    out
}

fn build_gcs(
    url: &Url,
    opts: &[(String, String)],
) -> std::result::Result<object_store::gcp::GoogleCloudStorage, String> {
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey as K};
    let mut b = GoogleCloudStorageBuilder::from_env().with_url(url.to_string());
    for (k, v) in opts {
        let key: K = k.parse().map_err(|_| unknown_key("gs", k))?;
        b = b.with_config(key, v.clone());
    }
    b.build().map_err(|e| e.to_string())
}

fn build_azure(
    url: &Url,
    opts: &[(String, String)],
) -> std::result::Result<object_store::azure::MicrosoftAzure, String> {
    use object_store::azure::{AzureConfigKey as K, MicrosoftAzureBuilder};
    let mut b = MicrosoftAzureBuilder::from_env().with_url(url.to_string());
    let mut given: Vec<(K, String)> = Vec::new();
    let mut conn = std::env::var("AZURE_STORAGE_CONNECTION_STRING").ok();
    for (k, v) in opts {
        if k == "azure_storage_connection_string" || k == "connection_string" {
            conn = Some(v.clone());
            continue;
        }
        let key: K = k.parse().map_err(|_| unknown_key("az", k))?;
        given.push((key, v.clone()));
    }
    if let Some(conn) = conn.filter(|c| !c.trim().is_empty()) {
        for (key, value) in azure_connection_string(&conn)? {
            // allow_http always has a value ("false" by default): only an explicit one wins
            let allow_http = matches!(key, K::Client(object_store::ClientConfigKey::AllowHttp));
            let set = (!allow_http && b.get_config_value(&key).is_some_and(|v| !v.is_empty()))
                || given.iter().any(|(k, _)| *k == key);
            if !set {
                b = b.with_config(key, value);
            }
        }
    }
    for (key, value) in given {
        b = b.with_config(key, value);
    }
    b.build().map_err(|e| e.to_string())
}

/// object_store settings of an Azure Storage connection string
/// (`AccountName=…;AccountKey=…;BlobEndpoint=…;SharedAccessSignature=…;UseDevelopmentStorage=true`).
fn azure_connection_string(
    conn: &str,
) -> std::result::Result<Vec<(object_store::azure::AzureConfigKey, String)>, String> {
    use object_store::azure::AzureConfigKey as K;
    let mut fields: HashMap<String, String> = HashMap::new();
    for part in conn.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err("malformed Azure connection string (expected Key=Value;...)".into());
        };
        fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let mut out = Vec::new();
    let dev = fields
        .get("usedevelopmentstorage")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if dev {
        out.push((K::AccountName, AZURE_DEV_ACCOUNT.to_string()));
        out.push((K::UseEmulator, "true".to_string()));
        return Ok(out);
    }
    if let Some(v) = fields.get("accountname") {
        out.push((K::AccountName, v.clone()));
    }
    if let Some(v) = fields.get("accountkey") {
        out.push((K::AccessKey, v.clone()));
    }
    if let Some(v) = fields.get("sharedaccesssignature") {
        out.push((K::SasKey, v.trim_start_matches('?').to_string()));
    }
    let endpoint = fields.get("blobendpoint").cloned().or_else(|| {
        let account = fields.get("accountname")?;
        let protocol = fields
            .get("defaultendpointsprotocol")
            .map(String::as_str)
            .unwrap_or("https");
        let suffix = fields
            .get("endpointsuffix")
            .map(String::as_str)
            .unwrap_or("core.windows.net");
        Some(format!("{protocol}://{account}.blob.{suffix}"))
    });
    if let Some(e) = endpoint {
        if e.starts_with("http://") {
            out.push((
                K::Client(object_store::ClientConfigKey::AllowHttp),
                "true".to_string(),
            ));
        }
        out.push((K::Endpoint, e.trim_end_matches('/').to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_with_one_slash_is_refused_not_a_folder() {
        let m = misspelt_url("s3:/bucket/x").unwrap();
        assert!(m.contains("did you mean s3://bucket/x?"), "{m}");
        assert!(misspelt_url("gs:bucket").unwrap().contains("gs://bucket"));
        assert!(misspelt_url("file:/tmp/x").unwrap().contains("file:///"));
        for ok in [
            "s3://bucket/x",
            "./lake",
            "lake",
            "/tmp/a:b",
            "C:/lake",
            "file:///tmp/x",
        ] {
            assert_eq!(misspelt_url(ok), None, "{ok}");
        }
        let dir = tempfile::tempdir().unwrap();
        let cwd = std::env::current_dir().unwrap();
        let url = format!("{}/s3:/bucket", dir.path().display());
        // a path with a colon deeper down is a path
        assert_eq!(misspelt_url(&url), None);
        assert!(Lake::open("s3:/bucket/x", &[]).is_err());
        assert!(!cwd.join("s3:").exists());
    }

    #[test]
    fn connection_string_maps_to_options() {
        use object_store::azure::AzureConfigKey as K;
        let o = azure_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=acc;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1/acc/;",
        )
        .unwrap();
        assert!(o.contains(&(K::AccountName, "acc".into())));
        assert!(o.contains(&(K::AccessKey, "a2V5".into())));
        assert!(o.contains(&(K::Endpoint, "http://127.0.0.1:1/acc".into())));
        let o =
            azure_connection_string("AccountName=acc;SharedAccessSignature=?sv=1&sig=x").unwrap();
        assert!(o.contains(&(K::SasKey, "sv=1&sig=x".into())));
        assert!(o.contains(&(K::Endpoint, "https://acc.blob.core.windows.net".into())));
        assert!(azure_connection_string("nonsense").is_err());
    }

    #[test]
    fn ini_sections() {
        let t = "[default]\nregion = eu-west-1\n[profile dev]\nregion=us-east-2\nendpoint_url = http://127.0.0.1:9000\n";
        assert_eq!(ini_section(t, "default")["region"], "eu-west-1");
        assert_eq!(
            ini_section(t, "profile dev")["endpoint_url"],
            "http://127.0.0.1:9000"
        );
        assert!(ini_section(t, "profile x").is_empty());
    }

    #[test]
    fn unknown_options_are_rejected() {
        let e = Lake::open("s3://b/p", &[("no_such_option".into(), "1".into())]).unwrap_err();
        assert!(e.to_string().contains("no_such_option"), "{e}");
    }
}
