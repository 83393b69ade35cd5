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
    /// Land what is missing or stale, then build the models in dependency order.
    ///
    /// Models whose SQL, settings and inputs are unchanged since they were
    /// built are skipped; independent models run at the same time.
    Build(BuildArgs),
    /// List the models: name, materialization, dependencies, tags.
    Ls(LsArgs),
    /// Run SQL over raw.* tables and models; with no SQL on a terminal, start a prompt.
    Query(QueryArgs),
}

/// Which models a command acts on, in dbt's selector grammar.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Select nodes: `name`, `+name` (with ancestors), `name+` (with
    /// descendants), `2+name`, `name+1`, `tag:x`, `path:sql/dir/`,
    /// `source:x+`. Spaces: union; commas: intersection.
    #[arg(short, long, num_args = 1.., value_name = "SELECTOR")]
    pub select: Vec<String>,
    /// Leave out nodes, in the same grammar.
    #[arg(long, num_args = 1.., value_name = "SELECTOR")]
    pub exclude: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub selection: SelectArgs,
    /// Rebuild every selected model, even when it is up to date.
    #[arg(long)]
    pub full_refresh: bool,
    /// How many models may run at the same time [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Plain lines only, no progress bar (also when NO_COLOR is set or
    /// output is not a terminal).
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub selection: SelectArgs,
    /// How to print the list.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
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
