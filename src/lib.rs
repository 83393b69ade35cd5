//! `mart`: turn raw data into a data mart on one machine.
//!
//! The code is in layers, each a folder that uses only the layers below it
//! (`python3 ../shared/tools/module-cycles.py src` checks it), from the top:
//! - [`cli`]: the command line. Parses flags, resolves settings once (flag
//!   over environment over YAML), dispatches, prints to the terminal and
//!   maps outcomes to exit codes. The only place that knows clap.
//! - [`cmd`]: one module per command (`land`, `build`, `test`, `ls`,
//!   `graph`, `lineage`, `docs`, `query`, `restore`): each takes an opened
//!   workspace and plain options, prints through a [`run::report::Printer`]
//!   and returns an outcome.
//! - [`run`]: running the project: opening a workspace, the scheduler,
//!   building one model, landing sources, incremental planning, the audit
//!   (data tests), fingerprints, lineage and the artifacts of a run.
//! - [`engine`]: the DataFusion session, its memory pool and the Parquet
//!   writer; it knows engine options, not the project.
//! - [`storage`]: the warehouse on disk: versions, atomic publish, the
//!   writer's lock.
//! - [`spec`]: the project as declared: YAML, SQL, data tests, the DAG and
//!   selectors. Pure: no session, no files written.
//! - [`base`]: the error type and its rendering, suggestions, sizes, times,
//!   file helpers.

// Output goes through `run::report::Printer`; only `cli` writes to the
// terminal itself.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod base;
pub mod cli;
pub mod cmd;
pub mod engine;
pub mod run;
pub mod spec;
pub mod storage;
