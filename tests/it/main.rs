//! replaylake's integration tests: one crate (each file directly under tests/ would link
//! DataFusion again), one module per area.

mod bomb;
mod common;
mod compact;
mod convert;
mod crash;
mod duckdb;
mod elements;
mod export;
mod faults;
mod measure;
mod merge;
mod portable;
mod pull;
mod pull_server;
mod query;
mod render;
mod replay;
mod schemas;
mod stores;
mod union;
mod ux;
mod ux_expected;
mod ux_surprises;
