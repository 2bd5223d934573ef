//! Record batches to a partitioned Parquet lake on any object store.
//!
//! - [`partition`]: Hive paths `<table>/date=YYYY-MM-DD[/session_id=ID]/part-<hash>.parquet`, escaped;
//! - [`writer`]: ZSTD Parquet with statistics, a bloom filter on `session_id`, sorted rows and
//!   replaylake's version in the footer;
//! - [`commit`]: the lake writer: buffering by partition, idempotent part names, a journal that a
//!   rerun rolls back or forward, and replacement of sessions that changed;
//! - [`compact`]: merging the small parts of a partition into large files;
//! - [`read`]: sessions read back out of the lake's rows (export, and unions with a later input);
//! - [`remove`]: whole sessions taken out of every table (retention, erasure);
//! - [`union`]: a later input adds to what the lake holds for a session, never removes;
//! - [`landed`]: which pulled recordings the lake holds, and as of which listed end time;
//! - [`lease`]: one writer per lake, through a create-only lease object in the store.
//!
//! The lake's store itself ([`Lake`]) is [`crate::store`]'s: sources read from it too.

pub mod commit;
pub mod compact;
pub mod landed;
pub mod lease;
pub mod partition;
pub mod read;
pub mod remove;
pub mod union;
pub mod writer;

pub use crate::store::Lake;
pub use commit::{LakeWriter, SinkOptions, SinkStats};
pub use partition::Partitioning;
