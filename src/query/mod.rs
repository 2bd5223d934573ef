//! SQL over a lake with DataFusion.
//!
//! [`lake_context`] registers every table of a lake as a listing table with its published schema
//! (never inferred) and the `date` hive partition column, so filters on `date` prune whole
//! directories. Works the same for local and object-store lakes. [`library`] holds the queries of
//! `queries/*.sql` and their parameters.

pub mod library;

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::Result;
use crate::schema::{DATE_PARTITION, TABLES, Table};
use crate::sink::Lake;

/// The URL of a table's directory in a lake, as DataFusion lists it.
pub fn table_url(lake: &Lake, table: Table) -> Result<ListingTableUrl> {
    let mut base = lake.store_url.clone();
    let mut path = base.path().trim_end_matches('/').to_string();
    for part in lake.root.parts() {
        path.push('/');
        path.push_str(part.as_ref());
    }
    path.push('/');
    path.push_str(table.name());
    path.push('/');
    base.set_path(&path);
    Ok(ListingTableUrl::parse(base.as_str())?)
}

/// A DataFusion context with the lake's tables registered: `events`, `recordings`,
/// `network_requests`, each with a `date` partition column (string, `YYYY-MM-DD`).
pub async fn lake_context(lake: &Lake) -> Result<SessionContext> {
    // Any DataFusion setting can be given by its environment name (`datafusion.execution.
    // target_partitions` is `DATAFUSION_EXECUTION_TARGET_PARTITIONS`). The defaults suit the
    // lake: filters are applied after decoding, not inside the Parquet reader (the library's
    // filters on event type and source keep rows scattered through every page, and decoding the
    // other columns row-selectively made the rage-click scan 1.5x slower on a 10-million-event
    // lake); row groups are still pruned by statistics and bloom filters.
    let config = SessionConfig::from_env()?.with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    if lake.store_url.scheme() != "file" {
        ctx.register_object_store(&lake.store_url, lake.store.clone());
    }
    for t in TABLES {
        let url = table_url(lake, t)?;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![(DATE_PARTITION.to_string(), DataType::Utf8)]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(t.schema());
        ctx.register_table(t.name(), Arc::new(ListingTable::try_new(config)?))?;
    }
    Ok(ctx)
}

/// Every file the physical plan of `sql` would read, as object-store paths: shows which
/// partitions a query's filters pruned.
pub async fn files_scanned(ctx: &SessionContext, sql: &str) -> Result<Vec<String>> {
    use datafusion::datasource::physical_plan::FileScanConfig;
    use datafusion::datasource::source::DataSourceExec;
    use datafusion::physical_plan::ExecutionPlan;

    fn walk(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<String>) {
        if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
            && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
        {
            for group in &config.file_groups {
                for file in group.files() {
                    out.push(file.object_meta.location.to_string());
                }
            }
        }
        for child in plan.children() {
            walk(child, out);
        }
    }
    let plan = ctx.sql(sql).await?.create_physical_plan().await?;
    let mut out = Vec::new();
    walk(&plan, &mut out);
    out.sort();
    out.dedup();
    Ok(out)
}

/// Runs one SQL statement and collects the result.
pub async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let df = ctx.sql_with_options(sql, sql_options(false)).await?;
    Ok(df.collect().await?)
}

/// Whether a DataFusion error comes from the Parquet reader (whose messages name no file).
pub fn is_parquet_error(e: &datafusion::error::DataFusionError) -> bool {
    matches!(
        e.find_root(),
        datafusion::error::DataFusionError::ParquetError(_)
    ) || e.to_string().contains("Parquet error")
}

/// The lake's Parquet parts whose footer does not read, as (path under the lake, reason), at
/// most `max`: after a query failed in the Parquet reader, they say which file it was.
pub async fn unreadable_parts(lake: &Lake, max: usize) -> Result<Vec<(String, String)>> {
    use datafusion::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
    use futures::TryStreamExt;
    let mut out = Vec::new();
    for t in TABLES {
        let prefix = lake.path(t.name());
        let mut list = lake.store.list(Some(&prefix));
        while let Some(meta) = list
            .try_next()
            .await
            .map_err(|e| crate::Error::store(t.name(), e))?
        {
            if !meta.location.as_ref().ends_with(".parquet") {
                continue;
            }
            let rel = lake.relative(&meta.location);
            let file = crate::export::file_reader::StoreFile::new(
                lake.store.clone(),
                meta.location.clone(),
                meta.size,
            );
            if let Err(e) = ParquetRecordBatchStreamBuilder::new(file).await {
                out.push((rel, e.to_string()));
                if out.len() >= max {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// Whether a DataFusion error says the SQL itself is wrong (it does not parse or plan: an unknown
/// table or column, a type mismatch), as opposed to a failure reading the lake.
pub fn is_plan_error(e: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError as D;
    match e {
        D::Plan(_) | D::SQL(..) | D::SchemaError(..) => true,
        D::Context(_, inner) | D::Diagnostic(_, inner) => is_plan_error(inner),
        _ => false,
    }
}

/// What SQL may do: only read, unless `allow_writes` (then `COPY … TO`, `CREATE EXTERNAL TABLE`,
/// `SET` and the like run too). Queries over the lake never need to write, and a query from a
/// dashboard or a shared script should not be able to.
pub fn sql_options(allow_writes: bool) -> datafusion::execution::context::SQLOptions {
    datafusion::execution::context::SQLOptions::new()
        .with_allow_ddl(allow_writes)
        .with_allow_dml(allow_writes)
        .with_allow_statements(allow_writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lake_context relies on these DataFusion defaults (see there); an upgrade that changes
    /// them must be noticed.
    #[tokio::test]
    async fn sql_reads_only_unless_writes_are_allowed() {
        let ctx = SessionContext::new();
        let dir = std::env::temp_dir().join(format!("replaylake-ro-{}", std::process::id()));
        let copy = format!("COPY (SELECT 1 AS a) TO '{}' STORED AS CSV", dir.display());
        let e = run_sql(&ctx, &copy).await.unwrap_err().to_string();
        assert!(e.contains("not supported") || e.contains("DML"), "{e}");
        assert!(!dir.exists());
        assert!(run_sql(&ctx, "CREATE VIEW v AS SELECT 1").await.is_err());
        assert_eq!(run_sql(&ctx, "SELECT 1").await.unwrap()[0].num_rows(), 1);
        let df = ctx
            .sql_with_options(&copy, sql_options(true))
            .await
            .unwrap();
        df.collect().await.unwrap();
        assert!(dir.exists());
        let _ = std::fs::remove_dir_all(&dir).or_else(|_| std::fs::remove_file(&dir));
    }

    #[test]
    fn datafusion_defaults_the_lake_relies_on() {
        let config = SessionConfig::new();
        assert!(!config.options().execution.parquet.pushdown_filters);
        assert!(config.options().execution.parquet.bloom_filter_on_read);
    }
}
