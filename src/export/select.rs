//! Which sessions an export takes: named ones (`--session`), those a SQL condition over
//! `recordings` selects (`--where`), or all.
//!
//! A condition is evaluated by the query layer over every version of a session the lake holds
//! (a crash can leave two); it selects a session only when the version export takes (see
//! [`super::index`]) is one it matched, so `--where` sees the rows that are exported.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;

use crate::error::{Error, Result};
use crate::export::index::LakeIndex;
use crate::query::{lake_context, run_sql};
use crate::sink::commit::column_as;
use crate::store::Lake;

/// What to export.
#[derive(Debug, Clone, Default)]
pub enum Selection {
    /// Every session of the lake.
    #[default]
    All,
    /// These session ids.
    Sessions(Vec<String>),
    /// A SQL condition over `recordings` (with its `date` partition column), e.g.
    /// `click_count > 10 AND date >= '2026-11-01'`.
    Where(String),
}

/// The selected sessions, grouped by the part that holds each, and the named ones the lake does
/// not hold.
#[derive(Debug, Default)]
pub struct Plan {
    /// Part (`<partition dir>/<stem>`) to the selected session ids it holds, both sorted.
    pub parts: BTreeMap<String, BTreeSet<String>>,
    /// Ids given with `--session` that no recordings row names.
    pub unknown: Vec<String>,
}

impl Plan {
    pub fn sessions(&self) -> usize {
        self.parts.values().map(BTreeSet::len).sum()
    }
}

/// Resolves a selection against the lake's index.
pub async fn plan(lake: &Lake, index: &LakeIndex, selection: &Selection) -> Result<Plan> {
    let mut out = Plan::default();
    let mut add = |sid: &str| {
        if let Some(w) = index.sessions.get(sid) {
            let part = index.parts[w.part as usize].clone();
            out.parts.entry(part).or_default().insert(sid.to_string());
        }
    };
    match selection {
        Selection::All => index.sessions.keys().for_each(|s| add(s)),
        Selection::Sessions(ids) => {
            let ids: BTreeSet<&String> = ids.iter().collect();
            let mut unknown = Vec::new();
            for id in ids {
                if index.sessions.contains_key(id) {
                    add(id);
                } else {
                    unknown.push(id.clone());
                }
            }
            out.unknown = unknown;
        }
        Selection::Where(cond) => {
            for (sid, checksum) in matching_versions(lake, cond).await? {
                if index
                    .sessions
                    .get(&sid)
                    .is_some_and(|w| w.checksum == checksum)
                {
                    add(&sid);
                }
            }
        }
    }
    Ok(out)
}

/// `(session_id, checksum)` of every recordings row the condition selects.
async fn matching_versions(lake: &Lake, cond: &str) -> Result<HashSet<(String, String)>> {
    let ctx = lake_context(lake).await?;
    let sql = format!("SELECT session_id, checksum FROM recordings WHERE ({cond})");
    // A condition that does not plan is the user's (a usage error); reading the lake can fail too.
    let batches = run_sql(&ctx, &sql).await.map_err(|e| match e {
        Error::DataFusion(d) if crate::query::is_plan_error(&d) => Error::Query {
            name: "--where".into(),
            message: format!("{d} (in: {sql})"),
        },
        e => e,
    })?;
    let mut out = HashSet::new();
    for b in &batches {
        let (Some(sid), Some(sum)) = (
            column_as(b, "session_id", &DataType::Utf8),
            column_as(b, "checksum", &DataType::Utf8),
        ) else {
            continue;
        };
        let (sid, sum) = (sid.as_string::<i32>(), sum.as_string::<i32>());
        for i in 0..b.num_rows() {
            if sid.is_valid(i) {
                let sum = if sum.is_valid(i) { sum.value(i) } else { "" };
                out.insert((sid.value(i).to_string(), sum.to_string()));
            }
        }
    }
    Ok(out)
}
