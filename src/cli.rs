//! The command line: flags and subcommands. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Turn raw data into a data mart: land raw files as Parquet, build SQL
/// models on Apache DataFusion in dependency order, and query the result.
#[derive(Debug, Parser)]
#[command(name = "mart", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The project directory (holding marts/ and sql/).
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub project: PathBuf,
    /// Where landed and built tables are written [default: <project>/warehouse].
    #[arg(long, global = true, value_name = "DIR")]
    pub warehouse: Option<PathBuf>,
}

impl Global {
    pub fn warehouse_dir(&self) -> PathBuf {
        self.warehouse
            .clone()
            .unwrap_or_else(|| self.project.join("warehouse"))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Land sources as Parquet under warehouse/raw/ (all, or those named).
    ///
    /// A source whose input files are unchanged since it was last landed is
    /// skipped.
    Land {
        /// Sources to land [default: all].
        names: Vec<String>,
    },
    /// Land what is missing or stale, then build every model in dependency order.
    Build,
    /// Run SQL over raw.* tables and models; with no SQL on a terminal, start a prompt.
    Query(QueryArgs),
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL to run (several statements may be separated by `;`).
    pub sql: Option<String>,
    /// Read the SQL from a file.
    #[arg(short, long, value_name = "FILE", conflicts_with = "sql")]
    pub file: Option<PathBuf>,
    /// How to print results.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the result to a file instead, in the format of its extension
    /// (.parquet, .csv, .json).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}
