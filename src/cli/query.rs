//! `replaylake query`: SQL over a lake, ad hoc or from the queries/ library.
//!
//! `replaylake query --lake URL "SQL"`, `replaylake query --lake URL --file queries/rage_clicks.sql
//! --param min_clicks=4`, `replaylake query --list`. Results print as a table on a terminal and as
//! CSV otherwise, or as NDJSON, or go to a Parquet file (`--format parquet --output FILE`).
//! Every format streams: rows are written batch by batch as DataFusion produces them, and a table
//! shows the first `--max-rows` and counts the rest.

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
    /// SQL to run (`-`: read it from standard input). Tables: events, recordings,
    /// network_requests (each with a `date` column).
    #[arg(conflicts_with_all = ["file", "list"], required_unless_present_any = ["file", "list"])]
    pub sql: Option<String>,
    /// Lake URL: a directory, file://, s3://bucket/prefix, gs://bucket/prefix or az://container/prefix.
    #[arg(long, short = 'l', default_value = "./lake", env = "REPLAYLAKE_LAKE")]
    pub lake: String,
    /// A SQL file (any SQL; one with the library's `-- @param` header gets its defaults), the
    /// name of a library query (rage_clicks), or `-` for standard input.
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
    /// Write the result to this file instead of stdout (the format follows its extension:
    /// .parquet, .ndjson/.jsonl, else CSV).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Most rows a table shows; the rest are counted, not kept ("… N more rows"). 0: all of
    /// them (held in memory to align the columns). CSV, NDJSON and Parquet always get every row.
    #[arg(long, default_value_t = 40)]
    pub max_rows: usize,
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
        // a ./queries folder of the working directory may be anyone's: its files that are no
        // library queries are passed over (named on stderr), not an error
        Some(d) if args.queries_dir.is_none() => {
            let (ok, skipped) = library::load_dir_lenient(&d)?;
            for (path, why) in skipped {
                eprintln!(
                    "note: {} is not a library query, passed over: {why}",
                    path.display()
                );
            }
            if ok.is_empty() {
                (library::builtin()?, "built in".to_string())
            } else {
                (ok, d.display().to_string())
            }
        }
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
        (_, Some(spec)) if spec == "-" => library::render_adhoc(&read_stdin()?, &args.params),
        (_, Some(spec)) if Path::new(spec).is_file() => {
            // a file of the library's form (with @param lines) is held to it; any other SQL file
            // runs as it is, its ${name} placeholders filled from --param as for ad hoc SQL
            let q = LibraryQuery::from_file(Path::new(spec));
            match q {
                Ok(q) => q.render(&args.params),
                Err(e) => {
                    let text = std::fs::read_to_string(spec).map_err(|source| Error::Io {
                        path: spec.into(),
                        source,
                    })?;
                    if library::declares_params(&text) {
                        Err(e)
                    } else {
                        library::render_adhoc(&text, &args.params)
                    }
                }
            }
        }
        (_, Some(spec)) => {
            let q: LibraryQuery = library::find(spec, queries_dir(args).as_deref())?;
            q.render(&args.params)
        }
        (Some(sql), None) if sql == "-" => library::render_adhoc(&read_stdin()?, &args.params),
        (Some(sql), None) => library::render_adhoc(sql, &args.params),
        (None, None) => Err(Error::Usage("give SQL, --file or --list".into())),
    }
}

/// SQL from standard input (`query -`, `query --file -`).
fn read_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|source| Error::Io {
        path: "<stdin>".into(),
        source,
    })?;
    if s.trim().is_empty() {
        return Err(Error::Usage("no SQL on standard input".into()));
    }
    Ok(s)
}

/// The lake to read: it must exist and be a lake (never created, never an empty answer from a
/// folder that holds none of its tables).
fn open_lake(args: &QueryArgs, rt: &tokio::runtime::Handle) -> Result<Lake> {
    let lake = Lake::open_existing(&args.lake, &args.storage_options)?;
    rt.block_on(lake.check_is_lake())?;
    Ok(lake)
}

/// Where the result goes, one batch at a time: memory is a batch (a table keeps the rows it
/// shows, at most `--max-rows`), whatever the size of the result.
enum Sink {
    Csv(datafusion::arrow::csv::Writer<Box<dyn Write>>),
    Ndjson(datafusion::arrow::json::LineDelimitedWriter<Box<dyn Write>>),
    Parquet(datafusion::parquet::arrow::ArrowWriter<std::fs::File>),
    Table {
        out: Box<dyn Write>,
        /// Most rows shown (0: all).
        max: usize,
        kept: Vec<RecordBatch>,
        shown: usize,
        /// Rows counted past the cap, not kept.
        more: u64,
    },
}

impl Sink {
    fn new(
        format: OutputFormat,
        output: Option<&Path>,
        max_rows: usize,
        schema: datafusion::arrow::datatypes::SchemaRef,
    ) -> Result<Sink> {
        let out: Box<dyn Write> = match output {
            Some(path) => {
                let file = std::fs::File::create(path).map_err(|source| Error::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                if format == OutputFormat::Parquet {
                    return parquet_writer(file, schema, path).map(Sink::Parquet);
                }
                Box::new(std::io::BufWriter::new(file))
            }
            None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        };
        Ok(match format {
            OutputFormat::Csv => Sink::Csv(
                datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(out),
            ),
            OutputFormat::Ndjson => Sink::Ndjson(
                datafusion::arrow::json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, datafusion::arrow::json::writer::LineDelimited>(out),
            ),
            OutputFormat::Table => Sink::Table {
                out,
                max: max_rows,
                kept: vec![],
                shown: 0,
                more: 0,
            },
            OutputFormat::Parquet => {
                return Err(Error::Usage(
                    "--format parquet writes a file: give --output FILE".into(),
                ));
            }
        })
    }

    fn write(&mut self, b: &RecordBatch, path: &str) -> Result<()> {
        match self {
            Sink::Csv(w) => w.write(b)?,
            Sink::Ndjson(w) => w.write(b)?,
            Sink::Parquet(w) => w.write(b).map_err(|e| Error::parquet(path, e))?,
            Sink::Table {
                max,
                kept,
                shown,
                more,
                ..
            } => {
                let room = if *max == 0 {
                    b.num_rows()
                } else {
                    *max - *shown
                };
                let take = room.min(b.num_rows());
                if take > 0 {
                    kept.push(b.slice(0, take));
                    *shown += take;
                }
                *more += (b.num_rows() - take) as u64;
            }
        }
        Ok(())
    }

    /// Ends the output; `schema` gives an empty result its header.
    fn finish(self, schema: datafusion::arrow::datatypes::SchemaRef, path: &str) -> Result<()> {
        let io = |source| Error::Io {
            path: PathBuf::from(path),
            source,
        };
        match self {
            Sink::Csv(w) => {
                let mut out = w.into_inner();
                out.flush().map_err(io)?;
            }
            Sink::Ndjson(mut w) => {
                w.finish()?;
                let mut out = w.into_inner();
                out.flush().map_err(io)?;
            }
            Sink::Parquet(w) => {
                w.close().map_err(|e| Error::parquet(path, e))?;
            }
            Sink::Table {
                mut out,
                max,
                mut kept,
                shown,
                more,
            } => {
                if kept.is_empty() {
                    kept.push(RecordBatch::new_empty(schema));
                }
                let t = datafusion::arrow::util::pretty::pretty_format_batches(&kept)?;
                writeln!(out, "{t}").map_err(io)?;
                if more > 0 {
                    writeln!(
                        out,
                        "… {more} more rows ({} in all, {shown} shown; all of them with --format \
                         csv, -o FILE or --max-rows 0)",
                        more + shown as u64
                    )
                    .map_err(io)?;
                    let _ = max;
                }
                out.flush().map_err(io)?;
            }
        }
        Ok(())
    }
}

/// A ZSTD Parquet writer of 128 k-row row groups (what it buffers before writing one).
fn parquet_writer(
    file: std::fs::File,
    schema: datafusion::arrow::datatypes::SchemaRef,
    path: &Path,
) -> Result<datafusion::parquet::arrow::ArrowWriter<std::fs::File>> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::{Compression, ZstdLevel};
    use datafusion::parquet::file::properties::WriterProperties;

    let level = ZstdLevel::try_new(3).map_err(|e| Error::parquet(path.display(), e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(128 * 1024))
        .build();
    ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| Error::parquet(path.display(), e))
}

/// The format without --format: from the output file's extension (.parquet, .ndjson or .jsonl,
/// else CSV); on stdout a table on a terminal, CSV otherwise.
fn default_format(output: Option<&Path>) -> OutputFormat {
    let Some(path) = output else {
        return if std::io::stdout().is_terminal() {
            OutputFormat::Table
        } else {
            OutputFormat::Csv
        };
    };
    match path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .as_deref()
    {
        Some("parquet") => OutputFormat::Parquet,
        Some("ndjson" | "jsonl") => OutputFormat::Ndjson,
        _ => OutputFormat::Csv,
    }
}

/// A query that failed in the Parquet reader: the error names the file (DataFusion's does not),
/// found by reading the footers of the lake's parts.
async fn name_the_part(lake: &Lake, e: Error) -> Error {
    let Error::DataFusion(d) = &e else { return e };
    if !crate::query::is_parquet_error(d) {
        return e;
    }
    match crate::query::unreadable_parts(lake, 10).await {
        Ok(bad) if !bad.is_empty() => {
            let (rel, why) = &bad[0];
            let more = match bad.len() {
                1 => String::new(),
                n => format!(
                    "; {} more unreadable: {}",
                    n - 1,
                    bad[1..]
                        .iter()
                        .map(|(r, _)| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            Error::Input {
                path: format!("{}/{rel}", lake.url.trim_end_matches('/')).into(),
                message: format!(
                    "unreadable Parquet part ({why}), so the query stopped{more}; move the file \
                     out of the lake (or restore it from a copy) and convert its inputs again"
                ),
            }
        }
        _ => e,
    }
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
    let format = args
        .format
        .unwrap_or_else(|| default_format(args.output.as_deref()));
    if format == OutputFormat::Parquet && args.output.is_none() {
        return Err(Error::Usage(
            "--format parquet writes a file: give --output FILE".into(),
        ));
    }
    let lake = open_lake(args, &rt)?;
    let path = args
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "<stdout>".into());
    let rows = rt.block_on(async {
        let run = async {
            use futures::StreamExt;
            let ctx = lake_context(&lake).await?;
            let df = ctx
                .sql_with_options(&sql, sql_options(args.allow_writes))
                .await
                .map_err(|e| sql_error(e, args))?;
            let mut stream = df.execute_stream().await.map_err(|e| sql_error(e, args))?;
            let schema = stream.schema();
            let mut sink = Sink::new(
                format,
                args.output.as_deref(),
                args.max_rows,
                schema.clone(),
            )?;
            let (mut rows, mut batches) = (0u64, 0u64);
            while let Some(b) = stream.next().await {
                let b = b?;
                rows += b.num_rows() as u64;
                batches += 1;
                sink.write(&b, &path)?;
            }
            if batches == 0 {
                // an empty result keeps its header
                sink.write(&RecordBatch::new_empty(schema.clone()), &path)?;
            }
            sink.finish(schema, &path)?;
            Ok::<_, Error>(rows)
        };
        match run.await {
            Ok(rows) => Ok(rows),
            Err(e) => Err(name_the_part(&lake, e).await),
        }
    })?;
    tracing::info!(rows, "query done");
    Ok(exit::OK)
}
