//! Integration tests: each drives the real `mart` binary over a fixture
//! project copied into a fresh temporary directory. One test binary, with a
//! module per command, is far cheaper to compile than one per file.

pub mod analyst;
mod appended;
mod build;
mod changes;
mod common;
mod corpus;
mod database;
mod datatest;
mod docs;
mod errors;
mod fuzz;
mod incremental;
mod land;
mod memory;
mod query;
mod readme;
mod rebuild;
mod reliability;
mod schema;
mod select;
mod serve;
pub mod watch;
