//! The portable archive: replaylake's own open NDJSON framing of one recording, specified in
//! `schemas/portable/` (prose spec and a JSON Schema per line type).
//!
//! A file is a `meta` line (what is known of the session), one line per rrweb event in the
//! lake's order (each a rrweb event with `seq`, `window_id`, `kind` and a checksum) and an `end`
//! line (count and session checksum). It carries everything the lake derives its rows from, so
//! converting it again gives the same `events`, `network_requests` and `recordings` rows.
//!
//! [`write`] makes files from sessions read out of the lake; [`read`] checks lines (for
//! `convert`, which lands what is intact, and for `replaylake verify`, which stops at the first
//! problem).

pub mod checksum;
pub mod kind;
pub mod lines;
pub mod read;
pub mod verify;
pub mod write;

pub use write::write_session;

/// The `format` of the meta line.
pub const FORMAT: &str = "replaylake-portable";
/// The `version` of the meta line: the spec's major version (additive changes keep it).
pub const VERSION: &str = "1";
/// How every portable file begins: readers detect the format by these bytes.
pub const SIGNATURE: &str = "{\"kind\":\"meta\",\"format\":\"replaylake-portable\"";
