//! replaylake: PostHog session replays as a typed Parquet lake.
//!
//! The pipeline, left to right:
//! - [`source`]: where replays come from (files: exports, blob JSONL, capture payloads, rrweb
//!   arrays, NDJSON, gzip/zstd/snappy of any of these);
//! - [`decode`]: records to typed rrweb events, posthog-js compressed payloads unpacked, each
//!   session ordered and deduplicated;
//! - [`flatten`]: sessions to Arrow record batches of the tables in [`schema`];
//! - [`sink`]: batches to partitioned ZSTD Parquet on any object store, idempotently;
//! - [`job`]: the job over a source, files ([`convert`]) or the PostHog API ([`pull`]), in
//!   parallel, with bounded memory;
//! - [`export`]: sessions back out of the lake as PostHog export, rrweb or portable files;
//! - [`replay`]: the way back out to a person: a recording as an HTML page that plays offline;
//! - [`render`]: the same page played frame by frame in headless Chromium into a video file.
//!
//! Beneath them all: [`store`] (the lake's URL as an object store, which sources read from too),
//! [`schema`] and [`error`]. The `replaylake` binary is a thin CLI ([`cli`]) over these functions.

pub mod cli;
pub mod decode;
pub mod error;
pub mod export;
pub mod flatten;
pub mod job;
pub mod names;
pub mod portable;
pub mod query;
pub mod render;
pub mod replay;
pub mod schema;
pub mod sink;
pub mod source;
pub mod store;

pub use error::{Error, Result};
pub use job::{convert, pull};

/// The replaylake version written into every Parquet footer.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
