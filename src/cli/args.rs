//! The command line's flags and subcommands. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::base::size::{parse_size, parse_size_or_zero};
use crate::cmd::graph::GraphFormat as Graph;
use crate::cmd::query::Format as Query;
use crate::spec::select::Selector;

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
    /// Memory the engine may use before it spills to disk (`2GiB`, `512MiB`)
    /// [default: `config: memory_limit` in marts/, else no limit].
    #[arg(long, global = true, value_name = "SIZE", env = "MART_MEMORY_LIMIT", value_parser = parse_size)]
    pub memory_limit: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Land sources as Parquet under warehouse/raw/ (all, or those named).
    ///
    /// A source whose input files (or database table) are unchanged since it
    /// was last landed is skipped.
    Land {
        /// Sources to land [default: all].
        names: Vec<String>,
        /// Fail at once if another `land` or `build` is writing the
        /// warehouse, instead of waiting for it.
        #[arg(long)]
        no_wait: bool,
        /// Land database sources whole, not only the rows past their cursor.
        #[arg(long)]
        full_refresh: bool,
    },
    /// Land what is missing or stale, then build the models in dependency order.
    ///
    /// Models whose SQL, settings and inputs are unchanged since they were
    /// built are skipped; independent models run at the same time.
    Build(BuildArgs),
    /// Run the data tests of the selected sources and models on what is built.
    ///
    /// Prints a line per test, with the first failing rows of a failure;
    /// exits 1 when a test of severity `error` fails or cannot run.
    Test(TestArgs),
    /// List the models (name, materialization, dependencies, tags), or their data tests.
    Ls(LsArgs),
    /// Show the graph of sources and models: a tree, or Graphviz DOT or
    /// Mermaid to draw.
    Graph(GraphArgs),
    /// Show where a column comes from, down to the raw columns (or, with
    /// --downstream, what is computed from it).
    Lineage(LineageArgs),
    /// Write the documentation site: one self-contained HTML page with every
    /// source and model, their columns, tests, lineage and SQL.
    Docs(DocsArgs),
    /// Run SQL over raw.* tables and models; with no SQL on a terminal, start a prompt.
    Query(QueryArgs),
    /// Show the first rows a build would publish for a model, from its SQL
    /// as saved, and how many there would be; writes nothing.
    ///
    /// Models upstream of it whose SQL changed since they were built are
    /// planned from their SQL too. Sources are read as landed.
    Show {
        /// The model.
        model: String,
        /// How many rows to print.
        #[arg(long, short = 'n', value_name = "N", default_value_t = 20)]
        limit: usize,
        /// Print the SQL the build would run instead: for an incremental
        /// model that adds to its stored rows, restricted to those it
        /// recomputes.
        #[arg(long)]
        sql: bool,
    },
    /// Serve the mart, read-only, over the PostgreSQL protocol, for
    /// dashboards and SQL clients (psql, Superset, Metabase, DBeaver).
    ///
    /// Models are in the default schema, sources in `raw`. Every query
    /// reads what is published when it starts: a build that publishes is
    /// seen by the next query, without restarting.
    Serve(ServeArgs),
    /// Print a completion script for a shell.
    ///
    /// bash: `mart completions bash > ~/.local/share/bash-completion/completions/mart`;
    /// zsh: into a folder of `$fpath` as `_mart`; fish: `~/.config/fish/completions/mart.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema of the YAML files of marts/, for editors.
    ///
    /// The YAML language server (VS Code, Neovim, JetBrains) reads it from a
    /// first line `# yaml-language-server: $schema=<path or URL>`: completion,
    /// descriptions on hover, and unknown keys underlined as you type.
    Schema,
    /// Start a new project (in DIR, or the project directory) that builds at
    /// once: a source, a model, a data test. Overwrites nothing.
    Init {
        /// Where [default: the project directory, --project or the current one].
        dir: Option<PathBuf>,
    },
    /// Serve again a table, source (`raw.<name>`) or view that a build
    /// removed because the project no longer declared it.
    ///
    /// Removed data is kept for 7 days under warehouse/_mart/removed/.
    Restore {
        /// The model, or `raw.<source>`.
        name: String,
        /// Fail at once if another `land` or `build` is writing the
        /// warehouse, instead of waiting for it.
        #[arg(long)]
        no_wait: bool,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: `config: serve: listen`, else 127.0.0.1:5433].
    #[arg(long, value_name = "HOST:PORT", env = "MART_LISTEN")]
    pub listen: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key. If TLS cannot be set
    /// up, the server does not start.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM), for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Connections served at once; the next is refused (SQLSTATE 53300)
    /// [default: `config: serve: max_connections`, else 64].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Memory for tables kept decoded, so that queries skip the Parquet
    /// (`2GiB`; `0`: none) [default: `config: serve: cache`, else a
    /// quarter of --memory-limit, else 1GiB].
    #[arg(long, value_name = "SIZE", value_parser = parse_size_or_zero)]
    pub cache: Option<u64>,
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

impl SelectArgs {
    pub fn selector(&self) -> Selector {
        Selector {
            select: self.select.clone(),
            exclude: self.exclude.clone(),
        }
    }
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
    /// Publish each model without running its data tests first.
    #[arg(long)]
    pub no_test: bool,
    /// Keep serving the tables of models and sources no longer in the
    /// project, instead of removing them.
    #[arg(long)]
    pub keep_removed: bool,
    /// Fail at once if another `land` or `build` is writing the warehouse,
    /// instead of waiting for it.
    #[arg(long)]
    pub no_wait: bool,
    /// After building, build again on each save to marts/, sql/ or the
    /// sources' files (what the change touches), until Ctrl-C.
    #[arg(long, short = 'w')]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub selection: SelectArgs,
    /// How to print the results.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
    /// After testing, test again on each save to marts/, sql/ or the
    /// sources' files, until Ctrl-C.
    #[arg(long, short = 'w')]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub selection: SelectArgs,
    /// What to list: the selected models, or the data tests of the selected
    /// sources and models.
    #[arg(long, value_enum, default_value_t = Resource::Model)]
    pub resource_type: Resource,
    /// How to print the list.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Resource {
    Model,
    Test,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub selection: SelectArgs,
    /// How to print the graph.
    #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
    pub format: GraphFormat,
}

#[derive(Debug, Args)]
pub struct LineageArgs {
    /// The column: `model.column` or `raw.source.column`.
    #[arg(value_name = "TABLE.COLUMN")]
    pub column: String,
    /// Follow the column to what is computed from it, instead of to what it
    /// is computed from.
    #[arg(long)]
    pub downstream: bool,
    /// How to print the lineage (json: every edge, once).
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct DocsArgs {
    /// The folder to write index.html in [default: <warehouse>/docs].
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
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
    /// How to print results [default: table]; with -o, the file's format
    /// when its name has no extension (excel: CSV with a byte-order mark,
    /// so that Excel reads UTF-8 text right).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the result to a file instead, in the format of its extension
    /// (.parquet, .csv, .tsv, .json, .jsonl).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Tsv,
    Json,
    Parquet,
    Excel,
}

impl From<GraphFormat> for Graph {
    fn from(f: GraphFormat) -> Graph {
        match f {
            GraphFormat::Text => Graph::Text,
            GraphFormat::Dot => Graph::Dot,
            GraphFormat::Mermaid => Graph::Mermaid,
        }
    }
}

impl From<ListFormat> for crate::cmd::ListFormat {
    fn from(f: ListFormat) -> crate::cmd::ListFormat {
        match f {
            ListFormat::Text => crate::cmd::ListFormat::Text,
            ListFormat::Json => crate::cmd::ListFormat::Json,
        }
    }
}

impl From<Format> for Query {
    fn from(f: Format) -> Query {
        match f {
            Format::Table => Query::Table,
            Format::Csv => Query::Csv,
            Format::Tsv => Query::Tsv,
            Format::Json => Query::Json,
            Format::Parquet => Query::Parquet,
            Format::Excel => Query::Excel,
        }
    }
}
