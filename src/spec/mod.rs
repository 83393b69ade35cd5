//! The project as declared: the YAML under `marts/`, the SQL under `sql/`,
//! the data tests, the DAG the SQL implies and the selectors over it. Pure:
//! reading the project's files is all it does.

pub mod dag;
pub mod database;
pub mod datatest;
pub mod project;
pub mod select;
pub mod sql;
#[cfg(test)]
pub(crate) mod testing;
