//! `replaylake query`: SQL over a lake, ad hoc or from the queries/ library.
//!
//! `replaylake query --lake URL "SQL"`, `replaylake query --lake URL --file queries/rage_clicks.sql
//! --param min_clicks=4`, `replaylake query --list`. Results print as a table on a terminal and as
//! CSV otherwise, or as NDJSON, or go to a Parquet file (`--format parquet --output FILE`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use datafusion::arrow::record_batch::RecordBatch;

use crate::cli::{exit, parse_key_value};
use crate::error::{Error, Result};
use crate::query::library::{self, LibraryQuery};
use crate::query::{lake_context, sql_options};
use crate::sink::Lake;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table (default on a terminal).
    Table,
    /// CSV with a header row (default when stdout is not a terminal).
    Csv,
    /// One JSON object per row.
    Ndjson,
    /// A Parquet file (needs --output).
    Parquet,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// SQL to run. Tables: events, recordings, network_requests (each with a `date` column).
    #[arg(conflicts_with_all = ["file", "list"], required_unless_present_any = ["file", "list"])]
    pub sql: Option<String>,
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.
    #[arg(long, short = 'l', default_value = "./lake", env = "REPLAYLAKE_LAKE")]
    pub lake: String,
    /// A query file (e.g. queries/rage_clicks.sql), or the name of a library query (rage_clicks).
    #[arg(long, short = 'f', conflicts_with = "list")]
    pub file: Option<String>,
    /// Query parameter name=value, replacing ${name} in the SQL (repeatable).
    #[arg(long = "param", short = 'p', value_parser = parse_key_value)]
    pub params: Vec<(String, String)>,
    /// List the query library, one line each.
    #[arg(long)]
    pub list: bool,
    /// Directory of the query library (default: ./queries when it exists, else the copy built
    /// into the binary).
    #[arg(long, env = "REPLAYLAKE_QUERIES")]
    pub queries_dir: Option<PathBuf>,
    /// Output format (default: table on a terminal, csv otherwise).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Write the result to this file instead of stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Print the SQL after parameter substitution instead of running it.
    #[arg(long)]
    pub print_sql: bool,
    /// Let the SQL write (COPY … TO, CREATE EXTERNAL TABLE, SET): by default a query only reads.
    #[arg(long)]
    pub allow_writes: bool,
    /// object_store option for the lake, e.g. aws_endpoint=http://127.0.0.1:5000 (repeatable).
    #[arg(long = "storage-option", value_parser = parse_key_value)]
    pub storage_options: Vec<(String, String)>,
}

fn queries_dir(args: &QueryArgs) -> Option<PathBuf> {
    args.queries_dir.clone().or_else(|| {
        let d = PathBuf::from("queries");
        d.is_dir().then_some(d)
    })
}

fn list(args: &QueryArgs) -> Result<i32> {
    let (queries, origin) = match queries_dir(args) {
        Some(d) => (library::load_dir(&d)?, d.display().to_string()),
        None => (library::builtin()?, "built in".to_string()),
    };
    let width = queries.iter().map(|q| q.name.len()).max().unwrap_or(0);
    println!(
        "Query library ({origin}); run one with `replaylake query --file NAME [--param k=v]`:"
    );
    for q in &queries {
        let params: Vec<String> = q
            .params
            .iter()
            .map(|p| format!("{}={}", p.name, p.default))
            .collect();
        let params = if params.is_empty() {
            String::new()
        } else {
            format!("  [{}]", params.join(" "))
        };
        println!("  {:width$}  {}{params}", q.name, q.summary);
    }
    Ok(exit::OK)
}

/// The SQL to run: ad hoc or from a library file, parameters substituted.
fn resolve_sql(args: &QueryArgs) -> Result<String> {
    match (&args.sql, &args.file) {
        (_, Some(spec)) => {
            let q: LibraryQuery = library::find(spec, queries_dir(args).as_deref())?;
            q.render(&args.params)
        }
        (Some(sql), None) => library::render_adhoc(sql, &args.params),
        (None, None) => Err(Error::Usage("give SQL, --file or --list".into())),
    }
}

/// The lake to read: it must exist and be a lake (never created, never an empty answer from a
/// folder that holds none of its tables).
fn open_lake(args: &QueryArgs, rt: &tokio::runtime::Handle) -> Result<Lake> {
    let lake = Lake::open_existing(&args.lake, &args.storage_options)?;
    rt.block_on(lake.check_is_lake())?;
    Ok(lake)
}

fn write_output(batches: &[RecordBatch], format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    let io = |source| Error::Io {
        path: PathBuf::from("<output>"),
        source,
    };
    match format {
        OutputFormat::Table => {
            let t = datafusion::arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{t}").map_err(io)?;
        }
        OutputFormat::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for b in batches {
                w.write(b)?;
            }
        }
        OutputFormat::Ndjson => {
            let mut w = datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, datafusion::arrow::json::writer::LineDelimited>(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        OutputFormat::Parquet => {
            return Err(Error::Usage(
                "--format parquet writes a file: give --output FILE".into(),
            ));
        }
    }
    Ok(())
}

fn write_parquet(
    batches: &[RecordBatch],
    schema: datafusion::arrow::datatypes::SchemaRef,
    path: &Path,
) -> Result<()> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::{Compression, ZstdLevel};
    use datafusion::parquet::file::properties::WriterProperties;

    let file = std::fs::File::create(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let level = ZstdLevel::try_new(3).map_err(|e| Error::parquet(path.display(), e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .build();
    let mut w = ArrowWriter::try_new(file, schema, Some(props))
        .map_err(|e| Error::parquet(path.display(), e))?;
    for b in batches {
        w.write(b).map_err(|e| Error::parquet(path.display(), e))?;
    }
    w.close().map_err(|e| Error::parquet(path.display(), e))?;
    Ok(())
}

/// An error planning the SQL is the user's (exit 2: an unknown table or column, a syntax error, a
/// write without --allow-writes); anything else is a failure reading the lake.
fn sql_error(e: datafusion::error::DataFusionError, args: &QueryArgs) -> Error {
    if crate::query::is_plan_error(&e) {
        Error::Query {
            name: args.file.clone().unwrap_or_else(|| "(command line)".into()),
            message: e.to_string(),
        }
    } else {
        e.into()
    }
}

pub fn run(args: &QueryArgs, rt: tokio::runtime::Handle) -> Result<i32> {
    if args.list {
        return list(args);
    }
    let sql = resolve_sql(args)?;
    if args.print_sql {
        println!("{sql}");
        return Ok(exit::OK);
    }
    let format = args.format.unwrap_or_else(|| {
        if args.output.is_none() && std::io::stdout().is_terminal() {
            OutputFormat::Table
        } else if args
            .output
            .as_ref()
            .is_some_and(|p| p.extension().is_some_and(|e| e == "parquet"))
        {
            OutputFormat::Parquet
        } else {
            OutputFormat::Csv
        }
    });
    if format == OutputFormat::Parquet && args.output.is_none() {
        return Err(Error::Usage(
            "--format parquet writes a file: give --output FILE".into(),
        ));
    }
    let lake = open_lake(args, &rt)?;
    let (batches, schema) = rt.block_on(async {
        let ctx = lake_context(&lake).await?;
        let df = ctx
            .sql_with_options(&sql, sql_options(args.allow_writes))
            .await
            .map_err(|e| sql_error(e, args))?;
        let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
        let mut batches = df.collect().await?;
        if batches.is_empty() {
            // Keep the header of an empty result.
            batches.push(RecordBatch::new_empty(schema.clone()));
        }
        Ok::<_, Error>((batches, schema))
    })?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    match (&args.output, format) {
        (Some(path), OutputFormat::Parquet) => write_parquet(&batches, schema, path)?,
        (Some(path), f) => {
            let file = std::fs::File::create(path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            let mut w = std::io::BufWriter::new(file);
            write_output(&batches, f, &mut w)?;
            w.flush().map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        (None, f) => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            write_output(&batches, f, &mut w)?;
            let _ = w.flush();
        }
    }
    tracing::info!(rows, "query done");
    Ok(exit::OK)
}
