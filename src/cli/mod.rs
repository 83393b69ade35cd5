//! The command line: flags and subcommands. Doc comments are the help text.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::base::error::Error;
use crate::cmd::{docs, graph, ls, query, restore};
use crate::run::{build, land, lineage};
use crate::spec::datatest;

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

/// A size in bytes: `2GiB`, `512MiB`, `64KiB`, `2G`, `1.5GB`, or a number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}` is not a size: use a number with KiB, MiB or GiB, like `2GiB`"
            ));
        }
    };
    match number.parse::<f64>() {
        Ok(n) if n > 0.0 => Ok((n * factor as f64) as u64),
        _ => Err(format!(
            "`{text}` is not a size: use a number with KiB, MiB or GiB, like `2GiB`"
        )),
    }
}

impl Global {
    /// The project's settings, with the command line's over them.
    pub fn config(&self, project: &crate::spec::project::Config) -> crate::spec::project::Config {
        let mut config = project.clone();
        config.memory_limit = self.memory_limit.or(config.memory_limit);
        config
    }

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
        /// Fail at once if another `land` or `build` is writing the
        /// warehouse, instead of waiting for it.
        #[arg(long)]
        no_wait: bool,
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
    /// List the models: name, materialization, dependencies, tags.
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
}

#[derive(Debug, Args)]
pub struct TestArgs {
    #[command(flatten)]
    pub selection: SelectArgs,
    /// How to print the results.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub selection: SelectArgs,
    /// How to print the list.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
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

/// Run a parsed command line to its exit status; errors are printed here.
pub fn run(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Room for recursion over deep plans: a main thread's usual 8 MiB
        // (tokio's default of 2 MiB overflowed on 3,000 chained `+`).
        .thread_stack_size(8 << 20)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprint!(
                "{}",
                Error::failed(format!("cannot start the runtime: {e}"))
            );
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Land { names, no_wait } => land::run(&cli.global, names, !no_wait).await,
            Command::Build(args) => build::run(&cli.global, args).await,
            Command::Test(args) => datatest::run(&cli.global, args).await,
            Command::Ls(args) => ls::run(&cli.global, args),
            Command::Graph(args) => graph::run(&cli.global, args),
            Command::Lineage(args) => lineage::run(&cli.global, args).await,
            Command::Docs(args) => docs::run(&cli.global, args).await,
            Command::Query(args) => query::run(&cli.global, args).await,
            Command::Restore { name, no_wait } => restore::run(&cli.global, name, !no_wait),
        }
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            eprint!("{err}");
            err.exit_code()
        }
    }
}
