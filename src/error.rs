//! Errors of the library, one enum with context fields (file, line, session), converted upward
//! with `From`. The binary prints `Display`, which always says what went wrong and where.

use std::path::PathBuf;

/// Everything that can stop a replaylake operation as a whole.
///
/// Bad *records* never become an `Error`: they are [`crate::decode::Reject`]s, counted and written
/// under `<dest>/_rejects/`. An `Error` means the operation itself could not go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },

    #[error("no input files matched {pattern}")]
    NoInput { pattern: String },

    #[error(
        "no input files in {dir} (names starting with . or _ are skipped): nothing to convert, \
         no lake written"
    )]
    EmptyInput { dir: PathBuf },

    #[error("invalid destination URL {url:?}: {message}")]
    BadDestination { url: String, message: String },

    #[error("object store error at {location}: {source}")]
    ObjectStore {
        location: String,
        #[source]
        source: Box<object_store::Error>,
    },

    /// S3 found no credentials anywhere and the last place it asks, the EC2 instance metadata
    /// service, gave none either (this is not an EC2 instance, or it has no role).
    #[error(
        "no AWS credentials found for {location}: set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY, a profile in ~/.aws/credentials (AWS_PROFILE), or \
         --storage-option aws_access_key_id=… and aws_secret_access_key=… (the EC2 instance \
         metadata service, asked last, gave none: {detail})"
    )]
    NoCredentials { location: String, detail: String },

    #[error("arrow error: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    #[error("parquet error at {location}: {source}")]
    Parquet {
        location: String,
        #[source]
        source: Box<datafusion::parquet::errors::ParquetError>,
    },

    #[error("query error: {0}")]
    DataFusion(#[from] Box<datafusion::error::DataFusionError>),

    #[error(
        "unknown table {name:?}{} (known tables: events, recordings, network_requests)",
        did_you_mean_hint(.suggestion)
    )]
    UnknownTable {
        name: String,
        suggestion: Option<String>,
    },

    #[error(
        "another writer holds the lake {lake}: {holder}; rerun when it is done, or wait for it \
         with --wait DURATION"
    )]
    LakeBusy { lake: String, holder: String },

    #[error(
        "another writer took the lake {lake} over while this run was stalled past its lease; \
         this run stopped before its next commit (what it committed stays; rerun to finish)"
    )]
    LeaseLost { lake: String },

    #[error("lake state at {location} is invalid: {message}")]
    State { location: String, message: String },

    /// The command line asks for something that can never work as given (a malformed or unknown
    /// value, options that do not go together): exit 2, so a scheduler does not retry a typo.
    #[error("{0}")]
    Usage(String),

    /// The lake URL names no lake: a missing path, a folder without the lake's tables, or one of
    /// its tables instead of the lake. `reason` says which and what to give instead.
    #[error("no lake at {url}: {reason}")]
    NoLake { url: String, reason: String },

    /// Something the command needs is not there (a session in the lake, an installed player):
    /// exit 1, as a rerun can succeed once it is.
    #[error("{0}")]
    Missing(String),

    /// A failure talking to PostHog (`replaylake pull`); says which API path and HTTP status.
    /// Boxed as a plain error so that this module, which every layer uses, names none of them
    /// (the client's `ApiError` converts into it).
    #[error(transparent)]
    PostHog(Box<dyn std::error::Error + Send + Sync>),

    #[error("query {name}: {message}")]
    Query { name: String, message: String },

    /// `replaylake render`: the browser, the page or ffmpeg failed, or one is missing.
    #[error(transparent)]
    Render(Box<crate::render::RenderError>),

    /// A task of a job panicked or stopped before its end: the job fails, whatever the others did.
    #[error("{task} failed: {message}")]
    Worker { task: String, message: String },
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::DataFusion(Box::new(e))
    }
}

impl From<crate::render::RenderError> for Error {
    fn from(e: crate::render::RenderError) -> Self {
        Error::Render(Box::new(e))
    }
}

impl Error {
    /// Whether this is a usage error (exit 2): the command line itself is wrong, so running it
    /// again unchanged cannot succeed. Everything else is a failed job (exit 1).
    pub fn is_usage(&self) -> bool {
        match self {
            Error::Usage(_) | Error::UnknownTable { .. } | Error::Query { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn store(location: impl std::fmt::Display, source: object_store::Error) -> Self {
        if let Some(detail) = instance_metadata_failure(&source) {
            return Error::NoCredentials {
                location: location.to_string(),
                detail,
            };
        }
        Error::ObjectStore {
            location: location.to_string(),
            source: Box::new(source),
        }
    }
    pub(crate) fn parquet(
        location: impl std::fmt::Display,
        source: datafusion::parquet::errors::ParquetError,
    ) -> Self {
        Error::Parquet {
            location: location.to_string(),
            source: Box::new(source),
        }
    }
}

/// When an object store error is S3's credential chain failing at its last link, the instance
/// metadata service (a PUT of `/latest/api/token`, a GET of `/latest/meta-data/iam/…`): the
/// innermost cause, short.
fn instance_metadata_failure(e: &object_store::Error) -> Option<String> {
    let mut texts = vec![e.to_string()];
    let mut cur = std::error::Error::source(e);
    while let Some(s) = cur {
        texts.push(s.to_string());
        cur = s.source();
    }
    let all = texts.join(": ");
    if !(all.contains("/latest/api/token") || all.contains("/latest/meta-data/iam")) {
        return None;
    }
    let inner = texts.last().cloned().unwrap_or_default();
    Some(inner.chars().take(200).collect())
}

fn did_you_mean_hint(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(": did you mean {s:?}?"))
        .unwrap_or_default()
}

/// The candidate closest to `word` when it is close enough to be a typo of it (at most a third of
/// its letters edited), for "did you mean" hints.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d > 0 && *d <= (word.len().max(c.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_instance_metadata_request_means_no_credentials() {
        let imds = object_store::Error::Generic {
            store: "S3",
            source: "Error performing token request: HTTP error: request or response body \
                     error, PUT http://169.254.169.254/latest/api/token: HTTP status client \
                     error (403 Forbidden)"
                .into(),
        };
        let e = Error::store("events/", imds).to_string();
        assert!(
            e.starts_with("no AWS credentials found for events/: set AWS_ACCESS_KEY_ID"),
            "{e}"
        );
        let other = object_store::Error::Generic {
            store: "S3",
            source: "HTTP status server error (503)".into(),
        };
        assert!(matches!(
            Error::store("x", other),
            Error::ObjectStore { .. }
        ));
    }

    #[test]
    fn did_you_mean_suggests_close_names_only() {
        let tables = ["events", "recordings", "network_requests"];
        assert_eq!(did_you_mean("event", tables), Some("events"));
        assert_eq!(did_you_mean("Recording", tables), Some("recordings"));
        assert_eq!(did_you_mean("network", tables), None);
        assert_eq!(did_you_mean("xyz", tables), None);
        assert_eq!(did_you_mean("events", tables), None);
        assert_eq!(
            did_you_mean("rage_click", ["rage_clicks", "dead_clicks"]),
            Some("rage_clicks")
        );
    }
}
