//! `mart`: turn raw data into a data mart on one machine.
//!
//! The path of a command, from the top:
//! - [`cli`] parses the command line;
//! - [`project`] loads the YAML under `marts/` and the SQL under `sql/`;
//! - [`dag`] infers each model's dependencies from its SQL ([`sql`]) and orders them;
//!   [`select`] picks nodes of it; [`graph`] draws it;
//! - [`land`] lands raw files as Parquet, [`build`] runs the models, both
//!   through the DataFusion session of [`engine`] and the atomic, versioned
//!   storage of [`warehouse`]; [`fingerprint`] tells what is unchanged;
//!   [`incremental`] adds to stored tables; [`artifacts`] writes what a run did;
//! - [`datatest`] runs the data tests declared in YAML, on each new
//!   version before it is published and on demand (`mart test`);
//! - [`lineage`] reads column lineage off the models' plans, and [`docs`]
//!   writes the documentation page;
//! - [`query`] answers ad-hoc SQL over what is built; [`restore`] serves again
//!   what a build removed because the project no longer declared it;
//! - [`error`] is the one error type and its rendering.

pub mod artifacts;
pub mod build;
pub mod cli;
pub mod dag;
pub mod datatest;
pub mod docs;
pub mod engine;
pub mod error;
pub mod fingerprint;
pub mod graph;
pub mod incremental;
pub mod land;
pub mod lineage;
pub mod ls;
pub mod memory;
pub mod project;
pub mod query;
pub mod report;
pub mod restore;
pub mod select;
pub mod sql;
pub mod warehouse;

use std::process::ExitCode;

use cli::{Cli, Command};
use error::Error;

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
