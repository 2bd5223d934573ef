//! Where replays come from: files users already hold ([`file`]). The PostHog API client is
//! a later addition (see the pull issue).

pub mod capped;
pub mod file;
pub mod posthog;

pub use file::{Decoded, InputFile, decode_bytes, decode_file, expand_inputs};
