//! The job that drives the pipeline, one for both sources: a source's inputs are decoded,
//! ordered and flattened on worker threads, and land in the lake through one [`Landing`] (bad
//! records kept in `_rejects/`, sessions written once, counted once).
//!
//! Each source brings only what is its own: [`convert`] lists and reads files (local or in an
//! object store) and merges sessions spread over several of them; [`pull`] lists and fetches
//! recordings from the PostHog API within its rate limits and records its checkpoint after each
//! flush of the lake.

pub mod convert;
pub mod landing;
pub mod pull;

pub use landing::{Counts, Landable, Landing};
