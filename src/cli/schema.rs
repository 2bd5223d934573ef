//! `replaylake schema [TABLE] [--format json|sql]`.

use clap::{Args, ValueEnum};

use crate::cli::exit;
use crate::error::Result;
use crate::schema::{TABLES, Table, create_table_sql, published_json};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SchemaFormat {
    /// The published contract (as in schemas/<table>.json).
    Json,
    /// CREATE TABLE statements.
    Sql,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// events, recordings or network_requests. Without it: every table (as JSON, one object
    /// keyed by table name).
    pub table: Option<String>,
    #[arg(long, value_enum, default_value = "json")]
    pub format: SchemaFormat,
}

pub fn run(args: &SchemaArgs) -> Result<i32> {
    if args.table.is_none() && matches!(args.format, SchemaFormat::Json) {
        // one JSON document, an object of the tables' contracts by name
        let doc: serde_json::Map<String, serde_json::Value> = TABLES
            .iter()
            .map(|&t| {
                let v = serde_json::from_str(&published_json(t)).expect("the contract is JSON");
                (t.name().to_string(), v)
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("schema serializes")
        );
        return Ok(exit::OK);
    }
    let tables = match &args.table {
        Some(t) => vec![Table::from_name(t)?],
        None => TABLES.to_vec(),
    };
    for t in tables {
        match args.format {
            SchemaFormat::Json => print!("{}", published_json(t)),
            SchemaFormat::Sql => println!("{}", create_table_sql(t)),
        }
    }
    Ok(exit::OK)
}
