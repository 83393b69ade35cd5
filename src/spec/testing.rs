//! Projects built in memory for the unit tests of the pure layers.

use std::path::PathBuf;

use crate::base::error::Location;
use crate::spec::project::{Files, Materialized, Model, Project, Read, Source};

/// A project of `sources` (by name) and `models` (name, SQL), nothing else.
pub fn project(sources: &[&str], models: &[(&str, &str)]) -> Project {
    Project::new(
        PathBuf::from("."),
        sources.iter().map(|name| source(name)).collect(),
        models.iter().map(|(name, sql)| model(name, sql)).collect(),
    )
}

pub fn source(name: &str) -> Source {
    Source {
        name: name.into(),
        read: Read::Files(Files {
            path: format!("seeds/{name}.csv"),
            format: None,
            delimiter: b',',
            has_header: true,
        }),
        description: None,
        columns: Vec::new(),
        tests: Vec::new(),
        declared: Location::new("marts/p.yml", 1, 1),
    }
}

pub fn model(name: &str, sql: &str) -> Model {
    let sql_path = PathBuf::from(format!("sql/{name}.sql"));
    Model {
        name: name.into(),
        sql_display: sql_path.clone(),
        sql_path,
        sql: sql.into(),
        materialized: Materialized::Table,
        description: None,
        tags: Vec::new(),
        partition_by: Vec::new(),
        incremental: None,
        on_append: Default::default(),
        columns: Vec::new(),
        tests: Vec::new(),
        declared: Location::new("marts/p.yml", 1, 1),
    }
}
