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

    #[error("invalid destination URL {url:?}: {message}")]
    BadDestination { url: String, message: String },

    #[error("object store error at {location}: {source}")]
    ObjectStore {
        location: String,
        #[source]
        source: Box<object_store::Error>,
    },

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

    #[error("unknown table {0:?} (known tables: events, recordings, network_requests)")]
    UnknownTable(String),

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

    #[error("{0}")]
    Usage(String),

    /// A failure talking to PostHog (`replaylake pull`); says which API path and HTTP status.
    #[error(transparent)]
    PostHog(Box<crate::source::posthog::ApiError>),

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
    pub(crate) fn store(location: impl std::fmt::Display, source: object_store::Error) -> Self {
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
