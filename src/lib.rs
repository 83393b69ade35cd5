//! `mart`: turn raw data into a data mart on one machine.
//!
//! The code is in layers, each a folder that uses only the layers below it
//! (`.ci/module-cycles.py` and `.ci/layers.py` check it), from the top.
//! The library's public surface is `cli` (for `main.rs`) and `spec` (for
//! the fuzzers); the rest is the crate's own:
//! - `cli`: the command line. Parses flags, resolves settings once (flag
//!   over environment over YAML), dispatches, prints to the terminal and
//!   maps outcomes to exit codes. The only place that knows clap.
//! - `cmd`: one module per command (`land`, `build`, `test`, `ls`,
//!   `graph`, `lineage`, `docs`, `query`, `serve`, `restore`): each takes an opened
//!   workspace and plain options, prints through a `run::report::Printer`
//!   and returns an outcome.
//! - `run`: running the project: opening a workspace, the scheduler,
//!   building one model, landing sources, incremental planning, the audit
//!   (data tests), fingerprints, lineage and the artifacts of a run.
//! - `serve`: `mart serve`, the warehouse as a read-only PostgreSQL server
//!   (datafusion-postgres): users, TLS, snapshots of what is published,
//!   limits, SQLSTATE errors.
//! - `extract`: reading database sources (PostgreSQL, MySQL) as Arrow
//!   batches from one read-only snapshot, split into parallel key ranges.
//! - `engine`: the DataFusion session, its memory pool and the Parquet
//!   writer; it knows engine options, not the project.
//! - `storage`: the warehouse on disk: versions, atomic publish, the
//!   writer's lock.
//! - `spec`: the project as declared: YAML, SQL, data tests, the DAG and
//!   selectors. Pure: no session, no files written.
//! - `base`: the error type and its rendering, suggestions, sizes, times,
//!   file helpers.

// Output goes through `run::report::Printer`; only `cli` writes to the
// terminal itself.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub(crate) mod base;
pub mod cli;
pub(crate) mod cmd;
pub(crate) mod engine;
pub(crate) mod extract;
pub(crate) mod run;
pub(crate) mod serve;
pub mod spec;
pub(crate) mod storage;

/// `mart`'s own SQL functions, for other runners of the same SQL (the
/// benchmark's bare DataFusion).
pub use engine::register_functions;
