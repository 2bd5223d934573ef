//! Object-store conformance: the same end-to-end cases against a local directory, an
//! S3-compatible server (moto), Azurite and a GCS emulator, all on 127.0.0.1, started by
//! `scripts/stores.sh` (scripts/test.sh does it and exports the endpoints):
//!
//! - convert (CLI, credentials from the environment or options), with rejects under `_rejects/`
//! - query with replaylake's DataFusion layer straight from the store; counts equal a local lake
//! - rerun idempotency: the second run writes nothing and leaves the same objects
//! - multipart uploads (a test-only threshold of 1 byte) give the same lake
//! - create-only writes: supported, or the documented fallback
//! - pull with a checkpoint under `<dest>/_replaylake/state/` against the PostHog stand-in
//! - a convert killed in the middle of a multipart upload leaves no visible partial file, and a
//!   rerun completes the lake
//! - DuckDB (httpfs) reads the lake from the S3 server
//!
//! The GCS emulator is gcp-storage-emulator (PyPI) run by `scripts/gcs_xml_emulator.py`: the
//! emulator provides the storage (objects, generations, checksums) and its JSON API; the script
//! is our shim for the XML API that object_store's GCS client speaks and no PyPI emulator
//! implements (`list-type=2` listing, `x-goog-if-generation-match`, `x-goog-copy-source`,
//! GET/HEAD with Range and ETag, XML multipart uploads whose parts stay invisible until
//! completed). So the GCS cases check replaylake against GCS's documented XML API as that shim
//! models it, not against Google's servers.
//!
//! Endpoints come from `REPLAYLAKE_TEST_{S3,AZURE,GCS}_*`. A missing variable fails the test when
//! `CI` or `REPLAYLAKE_STORES` (set by scripts/test.sh) is set, and skips it loudly otherwise.
//! Credentials are dummies.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use replaylake::sink::Lake;
use replaylake::store::Created;

use crate::common::*;
use crate::pull_server::{Config, TestServer, fixture_recordings};

/// Azurite's well-known development account key (public; not a secret).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Local,
    S3,
    Azure,
    Gcs,
}

/// One lake location on one backend, with how to reach it.
struct Target {
    backend: Backend,
    url: String,
    /// `--storage-option`s (and the same for `Lake::open`).
    options: Vec<(String, String)>,
    /// Environment for the CLI (credentials the standard way).
    env: Vec<(String, String)>,
    _tmp: Option<tempfile::TempDir>,
}

fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("REPLAYLAKE_STORES").is_some()
}

fn var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if required() {
                panic!(
                    "{name} is not set: the object-store servers are not running \
                     (scripts/test.sh starts them with scripts/stores.sh)"
                );
            }
            eprintln!(
                "\n!!! SKIPPING object-store conformance: {name} is not set. \
                 Run the tests through scripts/test.sh (it starts moto, Azurite and \
                 a GCS emulator) or `eval \"$(scripts/stores.sh start >&2; scripts/stores.sh env)\"`.\n"
            );
            None
        }
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

/// A fresh, empty lake location on `backend`, or None (skip) when its server is not configured.
fn target(backend: Backend, name: &str) -> Option<Target> {
    let prefix = unique(name);
    Some(match backend {
        Backend::Local => {
            let tmp = tempfile::tempdir().unwrap();
            Target {
                backend,
                url: tmp.path().join(&prefix).display().to_string(),
                options: vec![],
                env: vec![],
                _tmp: Some(tmp),
            }
        }
        Backend::S3 => {
            let endpoint = var("REPLAYLAKE_TEST_S3_ENDPOINT")?;
            let bucket = var("REPLAYLAKE_TEST_S3_BUCKET")?;
            Target {
                backend,
                url: format!("s3://{bucket}/{prefix}"),
                options: vec![
                    kv("aws_endpoint", &endpoint),
                    kv("aws_allow_http", "true"),
                    kv("aws_virtual_hosted_style_request", "false"),
                    kv("aws_region", "us-east-1"),
                    kv("aws_access_key_id", "testing"),
                    kv("aws_secret_access_key", "testing"),
                ],
                // the CLI gets its credentials and region from the standard variables instead
                env: vec![
                    kv("AWS_ACCESS_KEY_ID", "testing"),
                    kv("AWS_SECRET_ACCESS_KEY", "testing"),
                    kv("AWS_REGION", "us-east-1"),
                ],
                _tmp: None,
            }
        }
        Backend::Azure => {
            let endpoint = var("REPLAYLAKE_TEST_AZURE_ENDPOINT")?;
            let container = var("REPLAYLAKE_TEST_AZURE_CONTAINER")?;
            Target {
                backend,
                url: format!("az://{container}/{prefix}"),
                options: vec![
                    kv("azure_storage_account_name", "devstoreaccount1"),
                    kv("azure_storage_account_key", AZURITE_KEY),
                    kv("azure_endpoint", &endpoint),
                    kv("azure_allow_http", "true"),
                ],
                // the CLI gets a connection string from the standard variable instead
                env: vec![kv(
                    "AZURE_STORAGE_CONNECTION_STRING",
                    &format!(
                        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
                         AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
                    ),
                )],
                _tmp: None,
            }
        }
        Backend::Gcs => {
            let endpoint = var("REPLAYLAKE_TEST_GCS_ENDPOINT")?;
            let bucket = var("REPLAYLAKE_TEST_GCS_BUCKET")?;
            // the emulator's service account: no OAuth, the emulator's base URL
            let key = serde_json::json!({
                "gcs_base_url": endpoint,
                "disable_oauth": true,
                "client_email": "",
                "private_key": "",
                "private_key_id": "",
            })
            .to_string();
            let tmp = tempfile::tempdir().unwrap();
            let key_file = tmp.path().join("service-account.json");
            std::fs::write(&key_file, &key).unwrap();
            Target {
                backend,
                url: format!("gs://{bucket}/{prefix}"),
                options: vec![
                    kv("google_service_account_key", &key),
                    kv("google_allow_http", "true"),
                ],
                env: vec![
                    kv("GOOGLE_SERVICE_ACCOUNT", &key_file.display().to_string()),
                    kv("GOOGLE_ALLOW_HTTP", "true"),
                ],
                _tmp: Some(tmp),
            }
        }
    })
}

impl Target {
    fn lake(&self) -> Lake {
        Lake::open(&self.url, &self.options).unwrap()
    }

    /// The replaylake CLI with this target's environment (and nothing inherited that could
    /// point it elsewhere).
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_replaylake"));
        c.args(args);
        for v in [
            "AWS_ENDPOINT",
            "AWS_PROFILE",
            "AZURE_STORAGE_CONNECTION_STRING",
            "GOOGLE_SERVICE_ACCOUNT",
            "REPLAYLAKE_DEST",
            "REPLAYLAKE_MULTIPART_THRESHOLD",
            "REPLAYLAKE_TEST_PART_PAUSE_MS",
            "REPLAYLAKE_TEST_FAULTS",
            "RUST_LOG",
        ] {
            c.env_remove(v);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// `--dest URL` plus the options the CLI needs beyond its environment (endpoints).
    fn dest_args(&self) -> Vec<String> {
        let mut a = vec!["--dest".to_string(), self.url.clone()];
        let via_env = |k: &str| match self.backend {
            Backend::S3 => k.contains("key") || k == "aws_region",
            Backend::Azure => true, // all in the connection string
            Backend::Gcs => true,   // all in the service account file and GOOGLE_ALLOW_HTTP
            Backend::Local => true,
        };
        for (k, v) in &self.options {
            if !via_env(k) {
                a.push("--storage-option".into());
                a.push(format!("{k}={v}"));
            }
        }
        a
    }

    fn convert(&self, inputs: &[PathBuf], extra_env: &[(&str, &str)]) -> Output {
        self.convert_with(inputs, &[], extra_env)
    }

    fn convert_with(
        &self,
        inputs: &[PathBuf],
        extra_args: &[&str],
        extra_env: &[(&str, &str)],
    ) -> Output {
        let mut args: Vec<String> = vec!["convert".into()];
        args.extend(inputs.iter().map(|p| p.display().to_string()));
        args.extend(self.dest_args());
        args.push("-q".into());
        args.extend(extra_args.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = self.cmd(&args);
        for (k, v) in extra_env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// Every object under the lake: relative path -> size.
    fn objects(&self) -> BTreeMap<String, u64> {
        let lake = self.lake();
        runtime().block_on(async {
            let root = if lake.root.parts().count() == 0 {
                None
            } else {
                Some(lake.root.clone())
            };
            lake.store
                .list(root.as_ref())
                .map_ok(|m| (lake.relative(&m.location), m.size))
                .try_collect::<BTreeMap<_, _>>()
                .await
                .unwrap()
        })
    }

    fn get(&self, rel: &str) -> Bytes {
        let lake = self.lake();
        runtime().block_on(async {
            lake.store
                .get(&lake.path(rel))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        })
    }

    fn sql_i64(&self, q: &str) -> i64 {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::{DataType, Int64Type};
        let lake = self.lake();
        let b = runtime().block_on(async {
            let ctx = replaylake::query::lake_context(&lake).await.unwrap();
            replaylake::query::run_sql(&ctx, q).await.unwrap()
        });
        let b: Vec<_> = b.into_iter().filter(|b| b.num_rows() > 0).collect();
        assert_eq!(b.len(), 1, "{q}");
        let col = datafusion::arrow::compute::cast(b[0].column(0), &DataType::Int64).unwrap();
        col.as_primitive::<Int64Type>().value(0)
    }

    /// Per session its checksum, event count and rows per table (see [`crate::faults::lake_state`]).
    fn state(&self) -> Vec<String> {
        let lake = self.lake();
        let b = runtime().block_on(async {
            let ctx = replaylake::query::lake_context(&lake).await.unwrap();
            replaylake::query::run_sql(&ctx, crate::faults::STATE_SQL)
                .await
                .unwrap()
        });
        crate::faults::state_lines(&b)
    }

    /// What a lake holds, engine-independently: row counts and per-session checksums.
    fn fingerprint(&self) -> (i64, i64, i64, i64, i64) {
        (
            self.sql_i64("SELECT count(*) FROM recordings"),
            self.sql_i64("SELECT count(DISTINCT session_id) FROM recordings"),
            self.sql_i64("SELECT count(*) FROM events"),
            self.sql_i64("SELECT count(*) FROM network_requests"),
            self.sql_i64("SELECT count(DISTINCT date) FROM events"),
        )
    }
}

fn tables(objects: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    objects
        .iter()
        .filter(|(k, _)| k.ends_with(".parquet"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Real recordings plus one file with a bad line (so there are rejects).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = (1..=6)
        .map(|n| realclient(&format!("ph-s2202-0{n}.blob.jsonl")))
        .collect();
    v.push(public("posthog_blob_v1_recording_snapshots.jsonl"));
    let good = std::fs::read_to_string(realclient("ph-s2202-01.blob.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().take(30).collect();
    lines.insert(3, "{this is not json");
    let bad = dir.join("sess-with-rejects.blob.jsonl");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    v.push(bad);
    v
}

/// The reference: the same inputs converted into a local directory by the library.
fn reference(inputs: &[PathBuf]) -> ((i64, i64, i64, i64, i64), tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let refs: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    crate::common::convert(&refs, tmp.path(), &Default::default());
    (local_fingerprint(tmp.path()), tmp)
}

/// [`Target::fingerprint`] of a local lake.
fn local_fingerprint(dir: &Path) -> (i64, i64, i64, i64, i64) {
    let q = |s: &str| crate::common::sql_i64(dir, s);
    (
        q("SELECT count(*) FROM recordings"),
        q("SELECT count(DISTINCT session_id) FROM recordings"),
        q("SELECT count(*) FROM events"),
        q("SELECT count(*) FROM network_requests"),
        q("SELECT count(DISTINCT date) FROM events"),
    )
}

/// convert, query, rejects, rerun idempotency, multipart, create-only.
fn convert_query_rerun(backend: Backend) {
    let Some(t) = target(backend, "conv") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = inputs(tmp.path());
    let (want, _ref) = reference(&inputs);
    assert!(want.2 > 1000, "{want:?}");

    // convert: exit 3 because one input has a bad line
    let started = Instant::now();
    let o = t.convert(&inputs, &[]);
    assert_eq!(o.status.code(), Some(3), "{backend:?}: {}", stderr(&o));
    eprintln!("{backend:?}: convert took {:?}", started.elapsed());
    let first = t.objects();
    assert!(
        first
            .keys()
            .any(|k| k.starts_with("_rejects/") && k.ends_with(".ndjson")),
        "{backend:?}: no rejects file in {first:?}"
    );
    assert!(
        !first.keys().any(|k| k.starts_with("_replaylake/journal/")),
        "{backend:?}: a journal was left: {first:?}"
    );
    assert_eq!(
        first
            .keys()
            .filter(|k| k.starts_with("_replaylake/runs/"))
            .count(),
        1
    );
    let rejects = first
        .keys()
        .find(|k| k.starts_with("_rejects/"))
        .unwrap()
        .clone();
    let body = t.get(&rejects);
    assert!(String::from_utf8_lossy(&body).contains("sess-with-rejects"));

    // query straight from the store
    assert_eq!(t.fingerprint(), want, "{backend:?}: query of the lake");

    // rerun: nothing written, the same objects (plus one more run record)
    let o = t.convert(&inputs, &[]);
    assert_eq!(o.status.code(), Some(3), "{backend:?}: {}", stderr(&o));
    let second = t.objects();
    assert_eq!(
        tables(&first),
        tables(&second),
        "{backend:?}: rerun changed the lake"
    );
    assert_eq!(
        second
            .keys()
            .filter(|k| k.starts_with("_replaylake/runs/"))
            .count(),
        2
    );
    assert_eq!(t.fingerprint(), want);

    // every upload in parts (test-only threshold): the same lake, the same object names
    let m = target(backend, "multipart").unwrap();
    let o = m.convert(&inputs, &[("REPLAYLAKE_MULTIPART_THRESHOLD", "1")]);
    assert_eq!(o.status.code(), Some(3), "{backend:?}: {}", stderr(&o));
    assert_eq!(m.fingerprint(), want, "{backend:?}: multipart lake");
    assert_eq!(
        tables(&m.objects()).keys().collect::<Vec<_>>(),
        tables(&first).keys().collect::<Vec<_>>()
    );

    // create-only writes
    let lake = t.lake();
    let (a, b, support) = runtime().block_on(async {
        let a = lake
            .put_if_absent("_replaylake/test/create-only", Bytes::from_static(b"one"))
            .await
            .unwrap();
        let b = lake
            .put_if_absent("_replaylake/test/create-only", Bytes::from_static(b"two"))
            .await
            .unwrap();
        (a, b, lake.supports_create_only())
    });
    eprintln!("{backend:?}: create-only: first {a:?}, second {b:?}, supported {support}");
    if support {
        assert_eq!((a, b), (Created::Created, Created::AlreadyExists));
        assert_eq!(&t.get("_replaylake/test/create-only")[..], b"one");
    } else {
        // the documented fallback: a plain put
        assert_eq!(b, Created::Overwrote);
    }
    assert!(support, "{backend:?} should support create-only writes");
}

/// pull with its checkpoint in the store, then a rerun that fetches nothing.
fn pull_with_checkpoint(backend: Backend) {
    let Some(t) = target(backend, "pull") else {
        return;
    };
    let server = TestServer::start(Config::default(), fixture_recordings(10));
    let pull = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "pull".into(),
            "--host".into(),
            server.url(),
            "--project".into(),
            server.shared.cfg.team.clone(),
            "--since".into(),
            "2026-01-01T00:00:00Z".into(),
            "--until".into(),
            "2036-01-01T00:00:00Z".into(),
            "--rate-limit".into(),
            "600/min,6000/h".into(),
            "--json".into(),
        ];
        args.extend(t.dest_args());
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = t
            .cmd(&args)
            .env("POSTHOG_API_KEY", &server.shared.cfg.key)
            .env_remove("POSTHOG_HOST")
            .env_remove("POSTHOG_PROJECT_ID")
            .output()
            .unwrap();
        let s: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (out, s)
    };
    let (out, s) = pull(&["--keep-raw"]);
    assert!(out.status.success(), "{backend:?}: {}", stderr(&out));
    assert_eq!(s["fetched"], 6, "{s}");
    let objects = t.objects();
    assert!(
        objects
            .keys()
            .any(|k| k.starts_with("_replaylake/state/") && k.ends_with(".json")),
        "{backend:?}: no checkpoint in {objects:?}"
    );
    let before = t.fingerprint();
    assert_eq!(before.0, 6);
    let (out, s) = pull(&[]);
    assert!(out.status.success(), "{backend:?}: {}", stderr(&out));
    assert_eq!(s["fetched"], 0, "{s}");
    assert_eq!(s["already_done"], 6, "{s}");
    assert_eq!(tables(&t.objects()), tables(&objects));
    assert_eq!(t.fingerprint(), before);

    // the README's recipe: rebuild the lake from <dest>/_raw where it lies
    let rebuilt = tempfile::tempdir().unwrap();
    let mut args = vec!["convert".to_string(), format!("{}/_raw", t.url)];
    let mut d = t.dest_args();
    d[1] = rebuilt.path().display().to_string();
    args.extend(d);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = t.cmd(&args).output().unwrap();
    assert!(out.status.success(), "{backend:?}: {}", stderr(&out));
    let q = |s: &str| crate::common::sql_i64(rebuilt.path(), s);
    assert_eq!(
        (
            q("SELECT count(*) FROM recordings"),
            q("SELECT count(*) FROM events")
        ),
        (before.0, before.2),
        "{backend:?}: the lake rebuilt from _raw"
    );
}

/// convert reads its inputs where they lie: a prefix in the store, a glob under it, and the
/// `_raw/` that `pull --keep-raw` keeps, rebuilt into a lake as the README's recipe says.
fn convert_from_the_store(backend: Backend) {
    let Some(raw) = target(backend, "inputs") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = inputs(tmp.path());
    let (want, _ref) = reference(&inputs);
    let lake = raw.lake();
    runtime().block_on(async {
        for p in &inputs {
            let name = p.file_name().unwrap().to_string_lossy();
            let body = Bytes::from(std::fs::read(p).unwrap());
            lake.put(&format!("raw/{name}"), body).await.unwrap();
        }
        let skipped = Bytes::from_static(b"{this is no recording");
        lake.put("raw/_skipped/x.jsonl", skipped).await.unwrap();
    });
    let convert = |input: &str, dest: &Path| {
        let mut args = vec!["convert".to_string(), input.to_string()];
        // the store's options (endpoints) go with the inputs; the destination is local
        let mut d = raw.dest_args();
        d[1] = dest.display().to_string();
        args.extend(d);
        args.push("-q".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        raw.cmd(&args).output().unwrap()
    };
    let prefix = tmp.path().join("from-prefix");
    let o = convert(&format!("{}/raw/", raw.url), &prefix);
    assert_eq!(o.status.code(), Some(3), "{backend:?}: {}", stderr(&o));
    assert_eq!(
        local_fingerprint(&prefix),
        want,
        "{backend:?}: the prefix, `_` names skipped"
    );
    let source = crate::common::sql_i64(
        &prefix,
        &format!(
            "SELECT count(*) FROM recordings WHERE source_file LIKE '{}/raw/%'",
            raw.url
        ),
    );
    assert_eq!(source, want.0, "{backend:?}: provenance names the objects");

    let globbed = tmp.path().join("from-glob");
    let o = convert(&format!("{}/raw/ph-*.jsonl", raw.url), &globbed);
    assert_eq!(o.status.code(), Some(0), "{backend:?}: {}", stderr(&o));
    assert_eq!(
        crate::common::sql_i64(&globbed, "SELECT count(*) FROM recordings"),
        6
    );

    let o = convert(
        &format!("{}/raw/nothing-*.jsonl", raw.url),
        &tmp.path().join("none"),
    );
    assert_eq!(o.status.code(), Some(1), "{backend:?}: {}", stderr(&o));
    assert!(stderr(&o).contains("nothing-*.jsonl"), "{}", stderr(&o));
}

/// A convert killed while a multipart upload is in flight: no partial file is visible (every
/// visible Parquet file is complete), and a rerun completes the lake.
fn killed_mid_upload(backend: Backend) {
    let Some(t) = target(backend, "kill") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = inputs(tmp.path());
    let (want, _ref) = reference(&inputs);

    let mut args: Vec<String> = vec!["convert".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend(t.dest_args());
    args.extend(["-q".into(), "--buffer-mb".into(), "1".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = t
        .cmd(&args)
        .env("REPLAYLAKE_MULTIPART_THRESHOLD", "1")
        .env("REPLAYLAKE_TEST_PART_PAUSE_MS", "3000")
        .spawn()
        .unwrap();
    // wait for a commit to start (its journal appears), then kill while its first file's
    // upload is paused after its part
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut journal = None;
    while Instant::now() < deadline && journal.is_none() {
        journal = t
            .objects()
            .into_keys()
            .find(|k| k.starts_with("_replaylake/journal/"));
        if journal.is_none() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let journal = journal.expect("a commit started");
    std::thread::sleep(Duration::from_millis(1000));
    child.kill().unwrap();
    child.wait().unwrap();

    let after = t.objects();
    assert!(after.contains_key(&journal), "killed mid-commit: {after:?}");
    let j: serde_json::Value = serde_json::from_slice(&t.get(&journal)).unwrap();
    let pending: Vec<String> = j["add"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(!pending.is_empty());
    assert!(
        !after.contains_key(&pending[0]),
        "{backend:?}: the file being uploaded is visible before its upload completed"
    );
    for (k, _) in tables(&after) {
        let body = t.get(&k);
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
            .unwrap_or_else(|e| panic!("{backend:?}: {k} is not a complete Parquet file: {e}"));
    }
    eprintln!(
        "{backend:?}: killed mid-upload of {}: {} objects visible, none partial",
        pending[0],
        after.len()
    );

    let o = t.convert(&inputs, &[]);
    assert_eq!(o.status.code(), Some(3), "{backend:?}: {}", stderr(&o));
    assert!(
        !t.objects()
            .keys()
            .any(|k| k.starts_with("_replaylake/journal/"))
    );
    assert_eq!(t.fingerprint(), want, "{backend:?}: rerun after the kill");
}

/// Whether the lake's newest lease is held (not released).
fn lease_held(t: &Target) -> bool {
    let Some(newest) = t
        .objects()
        .into_keys()
        .filter(|k| k.starts_with("_replaylake/lease/"))
        .max()
    else {
        return false;
    };
    let lake = t.lake();
    runtime().block_on(async {
        let Ok(got) = lake.store.get(&lake.path(&newest)).await else {
            return false;
        };
        let body = got.bytes().await.unwrap_or_default();
        serde_json::from_slice::<serde_json::Value>(&body).is_ok_and(|v| v["released"] == false)
    })
}

/// Two writers on one lake in the store: the second stops while the first holds the lease (and
/// deletes nothing of it), then with --wait goes on once the first is done; the lake equals a
/// clean run's.
fn two_writers(backend: Backend) {
    let Some(t) = target(backend, "writers") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let all = inputs(tmp.path());
    let (first, second) = all.split_at(4);
    let (want, _ref) = reference(&all);
    let start_first = || {
        let mut args: Vec<String> = vec!["convert".into()];
        args.extend(first.iter().map(|p| p.display().to_string()));
        args.extend(t.dest_args());
        args.push("-q".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut c = t.cmd(&args);
        // every put waits: the first writer holds the lake for seconds
        c.env("REPLAYLAKE_TEST_FAULTS", "slow:300")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().unwrap();
        let started = Instant::now();
        while !lease_held(&t) {
            if child.try_wait().unwrap().is_some() {
                let out = child.wait_with_output().unwrap();
                panic!("{backend:?}: done too soon: {}", stderr(&out));
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{backend:?}: no lease"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    };
    let a = start_first();
    let b = t.convert(second, &[]);
    assert_eq!(b.status.code(), Some(1), "{backend:?}: {}", stderr(&b));
    assert!(
        stderr(&b).contains("another writer holds the lake"),
        "{}",
        stderr(&b)
    );
    let a = a.wait_with_output().unwrap();
    assert!(
        a.status.success(),
        "{backend:?}: first writer: {}",
        stderr(&a)
    );

    let a = start_first();
    let mut args: Vec<String> = vec!["convert".into()];
    args.extend(second.iter().map(|p| p.display().to_string()));
    args.extend(t.dest_args());
    args.extend(["-q".into(), "--wait".into(), "5m".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let b = t.cmd(&args).output().unwrap();
    let a = a.wait_with_output().unwrap();
    assert!(
        a.status.success(),
        "{backend:?}: first writer: {}",
        stderr(&a)
    );
    // exit 3: the second half holds the input with a rejected line
    let code = b.status.code();
    assert_eq!(code, Some(3), "{backend:?}: waiting writer: {}", stderr(&b));
    assert_eq!(t.fingerprint(), want, "{backend:?}");
}

/// A kill at every commit step of a convert that adds, keeps and replaces sessions (see
/// `faults::a_kill_at_every_commit_step_loses_nothing`, here on an object store): every rerun
/// leaves the lake equal to a clean run's.
fn killed_at_every_commit_step(backend: Backend) {
    let tmp = tempfile::tempdir().unwrap();
    let files = crate::faults::inputs(tmp.path());
    let clean = tempfile::tempdir().unwrap();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    crate::common::convert(&refs, clean.path(), &Default::default());
    let want = crate::faults::lake_state(clean.path());
    let subset = [files[0].clone(), files[1].clone(), files[3].clone()];
    let one_part_per_input = ["--threads", "1", "--buffer-mb", "1"];
    let mut kills = 0;
    for n in 1.. {
        let Some(t) = target(backend, "kill") else {
            return;
        };
        let o = t.convert_with(&subset, &one_part_per_input, &[]);
        assert!(o.status.success(), "{backend:?}: {}", stderr(&o));
        let step = n.to_string();
        let o = t.convert_with(
            &files,
            &one_part_per_input,
            &[("REPLAYLAKE_TEST_CRASH_AT", &step)],
        );
        if o.status.success() {
            break;
        }
        assert!(
            stderr(&o).contains("crash point"),
            "{backend:?} step {n}: {}",
            stderr(&o)
        );
        kills += 1;
        let o = t.convert_with(&files, &one_part_per_input, &[]);
        assert!(
            o.status.success(),
            "{backend:?} step {n}, rerun: {}",
            stderr(&o)
        );
        assert_eq!(t.state(), want, "{backend:?}: killed at step {n}");
        assert!(n < 500, "the run never ends its commit steps");
    }
    eprintln!(
        "{backend:?}: killed at each of {kills} commit steps; every rerun equals the clean run"
    );
    assert!(kills > 10, "only {kills} commit steps");
}

/// A compaction started while a convert writes to the lake in the store waits for it (with
/// --wait), then merges the parts: the lake holds what a clean convert does.
fn compaction_racing_a_convert(backend: Backend) {
    let Some(t) = target(backend, "compact-race") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let files = crate::faults::inputs(tmp.path());
    let clean = tempfile::tempdir().unwrap();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    crate::common::convert(&refs, clean.path(), &Default::default());
    let want = crate::faults::lake_state(clean.path());
    let mut args: Vec<String> = vec!["convert".into()];
    args.extend(files.iter().map(|p| p.display().to_string()));
    args.extend(t.dest_args());
    args.extend(["-q", "--threads", "1", "--buffer-mb", "1"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = t.cmd(&args);
    c.env("REPLAYLAKE_TEST_FAULTS", "slow:200")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut writer = c.spawn().unwrap();
    let started = Instant::now();
    while !lease_held(&t) {
        assert!(
            writer.try_wait().unwrap().is_none(),
            "{backend:?}: done too soon"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{backend:?}: no lease"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut compact = vec!["compact".to_string(), "--lake".into(), t.url.clone()];
    for a in t.dest_args().into_iter().skip(2) {
        compact.push(a);
    }
    compact.extend(["-q", "--wait", "5m"].map(String::from));
    let compact: Vec<&str> = compact.iter().map(String::as_str).collect();
    let o = t.cmd(&compact).output().unwrap();
    let w = writer.wait_with_output().unwrap();
    assert!(w.status.success(), "{backend:?}: convert: {}", stderr(&w));
    assert!(o.status.success(), "{backend:?}: compact: {}", stderr(&o));
    assert_eq!(t.state(), want, "{backend:?}");
}

#[test]
fn s3_compaction_racing_a_convert() {
    compaction_racing_a_convert(Backend::S3);
}

#[test]
fn s3_killed_at_every_commit_step() {
    killed_at_every_commit_step(Backend::S3);
}

#[test]
fn s3_two_writers() {
    two_writers(Backend::S3);
}
#[test]
fn azure_two_writers() {
    two_writers(Backend::Azure);
}
#[test]
fn gcs_two_writers() {
    two_writers(Backend::Gcs);
}

#[test]
fn local_convert_query_rerun() {
    convert_query_rerun(Backend::Local);
}
#[test]
fn s3_convert_query_rerun() {
    convert_query_rerun(Backend::S3);
}
#[test]
fn azure_convert_query_rerun() {
    convert_query_rerun(Backend::Azure);
}
#[test]
fn gcs_convert_query_rerun() {
    convert_query_rerun(Backend::Gcs);
}

#[test]
fn local_pull_with_checkpoint() {
    pull_with_checkpoint(Backend::Local);
}
#[test]
fn s3_pull_with_checkpoint() {
    pull_with_checkpoint(Backend::S3);
}
#[test]
fn azure_pull_with_checkpoint() {
    pull_with_checkpoint(Backend::Azure);
}
#[test]
fn gcs_pull_with_checkpoint() {
    pull_with_checkpoint(Backend::Gcs);
}

#[test]
fn s3_convert_from_the_store() {
    convert_from_the_store(Backend::S3);
}
#[test]
fn azure_convert_from_the_store() {
    convert_from_the_store(Backend::Azure);
}
#[test]
fn gcs_convert_from_the_store() {
    convert_from_the_store(Backend::Gcs);
}

#[test]
fn s3_killed_mid_upload() {
    killed_mid_upload(Backend::S3);
}
#[test]
fn azure_killed_mid_upload() {
    killed_mid_upload(Backend::Azure);
}
#[test]
fn gcs_killed_mid_upload() {
    killed_mid_upload(Backend::Gcs);
}

/// DuckDB's httpfs extension reads the lake from the S3 server and agrees with replaylake.
#[test]
fn s3_duckdb_httpfs_reads_the_lake() {
    let Some(t) = target(Backend::S3, "duckdb") else {
        return;
    };
    let Some(python) = var("REPLAYLAKE_STORES_PYTHON") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let inputs = inputs(tmp.path());
    let o = t.convert(&inputs, &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let endpoint = var("REPLAYLAKE_TEST_S3_ENDPOINT").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/stores_duckdb_s3.py");
    let out = Command::new(python)
        .arg(&script)
        .arg(endpoint.trim_start_matches("http://"))
        .arg(&t.url)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "DuckDB httpfs check failed: {}",
        stderr(&out)
    );
    let duck: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(duck["events"], t.sql_i64("SELECT count(*) FROM events"));
    assert_eq!(
        duck["recordings"],
        t.sql_i64("SELECT count(*) FROM recordings")
    );
    assert_eq!(
        duck["network_requests"],
        t.sql_i64("SELECT count(*) FROM network_requests")
    );
    assert_eq!(
        duck["dates"],
        t.sql_i64("SELECT count(DISTINCT date) FROM events")
    );
}

/// Every object under `url` (relative path -> bytes).
fn object_bytes(url: &str, options: &[(String, String)]) -> BTreeMap<String, Vec<u8>> {
    let lake = Lake::open(url, options).unwrap();
    runtime().block_on(async {
        let root = (lake.root.parts().count() > 0).then(|| lake.root.clone());
        let metas: Vec<_> = lake.store.list(root.as_ref()).try_collect().await.unwrap();
        let mut out = BTreeMap::new();
        for m in metas {
            let b = lake
                .store
                .get(&m.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            out.insert(lake.relative(&m.location), b.to_vec());
        }
        out
    })
}

/// `replaylake export` reading a lake in the store and writing its files into the store (in
/// multipart uploads: a test-only threshold of 1 byte) gives the bytes an export of a local lake
/// of the same input gives.
fn export_from_and_to_the_store(backend: Backend) {
    let Some(t) = target(backend, "export") else {
        return;
    };
    let Some(out) = target(backend, "export-out") else {
        return;
    };
    let inputs = vec![
        realclient("ph-s2202-01.blob.jsonl"),
        realclient("rr-s2202-01.rrweb.json"),
    ];
    let o = t.convert(&inputs, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let local = tempfile::tempdir().unwrap();
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    convert(&refs, local.path(), &Default::default());
    let local_out = tempfile::tempdir().unwrap();
    let lo = local_out.path().display().to_string();
    let l = local.path().display().to_string();
    let o = bin(&["export", "--lake", &l, "--format", "posthog", "--out", &lo]);
    assert!(o.status.success(), "{}", stderr(&o));
    let want = object_bytes(&lo, &[]);
    assert_eq!(want.len(), 2);

    // the lake's --storage-options apply to --out too (same server)
    let mut lake_args = t.dest_args();
    lake_args[0] = "--lake".into();
    let mut args: Vec<String> = vec!["export".into(), "--format".into(), "posthog".into()];
    args.extend(lake_args);
    args.extend(["--out".into(), out.url.clone(), "--json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = t
        .cmd(&args)
        .env("REPLAYLAKE_MULTIPART_THRESHOLD", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["sessions_exported"], 2, "{s}");
    assert!(
        object_bytes(&out.url, &out.options) == want,
        "store export differs"
    );
}

#[test]
fn local_export_from_and_to_the_store() {
    export_from_and_to_the_store(Backend::Local);
}

#[test]
fn s3_export_from_and_to_the_store() {
    export_from_and_to_the_store(Backend::S3);
}

#[test]
fn azure_export_from_and_to_the_store() {
    export_from_and_to_the_store(Backend::Azure);
}

#[test]
fn gcs_export_from_and_to_the_store() {
    export_from_and_to_the_store(Backend::Gcs);
}
