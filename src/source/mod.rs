//! Where replays come from: files users already hold, on disk ([`file`]) or in an object store
//! ([`object`]), and the PostHog API ([`posthog`]).

pub mod capped;
pub mod file;
pub mod object;
pub mod posthog;

pub use file::{
    Decoded, InputFile, Location, decode_bytes, decode_file, decode_input, expand_inputs,
    expand_inputs_in,
};
