//! What a build leaves for machines to read, in `warehouse/_mart/`:
//!
//! - `run_results.json`: how each model of the last run fared;
//! - `manifest.json`: every source and model of the project, with its
//!   dependencies and columns.
//!
//! Both are replaced in one rename, so a reader never sees half a file.

use std::time::SystemTime;

use datafusion::arrow::datatypes::Schema;
use serde::Serialize;

use crate::base::error::Result;
use crate::base::fs::write_json;
use crate::base::time::rfc3339;
use crate::run::audit::TestRecord;
use crate::run::report::Status;
use crate::spec::dag::Dag;
use crate::spec::project::{ModelId, Project, Read};
use crate::storage::warehouse::{Warehouse, Zone};

/// How one model fared in a run.
#[derive(Debug, Clone)]
pub struct ModelRun {
    pub model: ModelId,
    pub status: Status,
    pub started_at: SystemTime,
    pub finished_at: SystemTime,
    /// Rows in the table after the run, and rows this run wrote.
    pub rows: Option<u64>,
    pub written: Option<u64>,
    pub bytes: Option<u64>,
    pub fingerprint: Option<String>,
    /// Why it failed (the error as printed) or was skipped.
    pub message: Option<String>,
    /// The model's columns, when it was planned or is built.
    pub schema: Option<Schema>,
    /// Its data tests, when they ran.
    pub tests: Vec<TestRecord>,
}

impl ModelRun {
    pub fn new(model: ModelId, status: Status, started_at: SystemTime) -> Self {
        ModelRun {
            model,
            status,
            started_at,
            finished_at: SystemTime::now(),
            rows: None,
            written: None,
            bytes: None,
            fingerprint: None,
            message: None,
            schema: None,
            tests: Vec::new(),
        }
    }
}

/// Write `run_results.json` and `manifest.json` for a run that started at
/// `started_at` and ran `runs` (models not selected have none).
pub fn write(
    warehouse: &Warehouse,
    project: &Project,
    dag: &Dag,
    started_at: SystemTime,
    runs: &[ModelRun],
) -> Result<()> {
    let dir = warehouse.root.join("_mart");
    let results = RunResults {
        mart_version: env!("CARGO_PKG_VERSION"),
        started_at: rfc3339(started_at),
        finished_at: rfc3339(SystemTime::now()),
        elapsed_s: secs(started_at, SystemTime::now()),
        results: runs
            .iter()
            .map(|r| RunResult {
                name: &project.models[r.model].name,
                materialized: project.models[r.model].materialized.as_str(),
                status: r.status.key(),
                started_at: rfc3339(r.started_at),
                finished_at: rfc3339(r.finished_at),
                duration_s: secs(r.started_at, r.finished_at),
                rows: r.rows,
                rows_written: r.written,
                bytes: r.bytes,
                fingerprint: r.fingerprint.as_deref(),
                message: r.message.as_deref(),
                tests: &r.tests,
            })
            .collect(),
    };
    write_json(&dir.join("run_results.json"), &results)?;
    write_json(
        &dir.join("manifest.json"),
        &manifest(warehouse, project, dag, runs)?,
    )
}

fn manifest<'a>(
    warehouse: &Warehouse,
    project: &'a Project,
    dag: &Dag,
    runs: &[ModelRun],
) -> Result<Manifest<'a>> {
    let zone_path =
        |zone: &str, name: &str| warehouse.root.join(zone).join(name).display().to_string();
    let mut sources = Vec::with_capacity(project.sources.len());
    for source in &project.sources {
        let version = warehouse.current(Zone::Raw, &source.name)?;
        sources.push(ManifestSource {
            name: &source.name,
            relation: format!("raw.{}", source.name),
            input: source.origin(),
            format: match &source.read {
                Read::Files(f) => f.format.map(|f| f.as_str()),
                Read::Database(d) => Some(d.system.as_str()),
            },
            path: zone_path("raw", &source.name),
            description: source.description.as_deref(),
            columns: columns(version.as_ref().map(|v| &v.record.schema), &source.columns),
        });
    }
    let mut models = Vec::with_capacity(project.models.len());
    // In build order: every model after the models it reads.
    for &m in &dag.order {
        let model = &project.models[m];
        // The columns this run planned, else those of the published table.
        let run_schema = runs
            .iter()
            .find(|r| r.model == m)
            .and_then(|r| r.schema.clone());
        let schema = match run_schema {
            Some(s) => Some(s),
            None if model.materialized.is_stored() => warehouse
                .current(Zone::Mart, &model.name)?
                .map(|v| v.record.schema),
            None => None,
        };
        let depends_on = dag.deps[m].iter().map(|d| d.name(project)).collect();
        models.push(ManifestModel {
            name: &model.name,
            sql: model.sql_path.display().to_string(),
            materialized: model.materialized.as_str(),
            path: model
                .materialized
                .is_stored()
                .then(|| zone_path("mart", &model.name)),
            depends_on,
            description: model.description.as_deref(),
            tags: &model.tags,
            partition_by: &model.partition_by,
            columns: columns(schema.as_ref(), &model.columns),
        });
    }
    Ok(Manifest {
        mart_version: env!("CARGO_PKG_VERSION"),
        generated_at: rfc3339(SystemTime::now()),
        sources,
        models,
    })
}

/// The columns of a table: from its schema when known (with the declared
/// descriptions), else as declared.
fn columns<'a>(
    schema: Option<&Schema>,
    declared: &'a [crate::spec::project::Column],
) -> Vec<ManifestColumn<'a>> {
    let description = |name: &str| {
        declared
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
            .and_then(|c| c.description.as_deref())
    };
    match schema {
        Some(schema) => schema
            .fields()
            .iter()
            .map(|f| ManifestColumn {
                name: f.name().clone(),
                data_type: Some(f.data_type().to_string()),
                nullable: Some(f.is_nullable()),
                description: description(f.name()),
            })
            .collect(),
        None => declared
            .iter()
            .map(|c| ManifestColumn {
                name: c.name.clone(),
                data_type: None,
                nullable: None,
                description: c.description.as_deref(),
            })
            .collect(),
    }
}

fn secs(from: SystemTime, to: SystemTime) -> f64 {
    let s = to
        .duration_since(from)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    (s * 1000.0).round() / 1000.0
}

#[derive(Serialize)]
struct RunResults<'a> {
    mart_version: &'static str,
    started_at: String,
    finished_at: String,
    elapsed_s: f64,
    results: Vec<RunResult<'a>>,
}

#[derive(Serialize)]
struct RunResult<'a> {
    name: &'a str,
    materialized: &'static str,
    status: &'static str,
    started_at: String,
    finished_at: String,
    duration_s: f64,
    rows: Option<u64>,
    rows_written: Option<u64>,
    bytes: Option<u64>,
    fingerprint: Option<&'a str>,
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tests: &'a [TestRecord],
}

#[derive(Serialize)]
struct Manifest<'a> {
    mart_version: &'static str,
    generated_at: String,
    sources: Vec<ManifestSource<'a>>,
    models: Vec<ManifestModel<'a>>,
}

#[derive(Serialize)]
struct ManifestSource<'a> {
    name: &'a str,
    /// How SQL names it.
    relation: String,
    /// The raw files, as declared, or the database's table or query.
    input: String,
    /// csv, json, parquet, postgres or mysql; absent: from the files' extension.
    format: Option<&'static str>,
    /// The landed Parquet.
    path: String,
    description: Option<&'a str>,
    columns: Vec<ManifestColumn<'a>>,
}

#[derive(Serialize)]
struct ManifestModel<'a> {
    name: &'a str,
    sql: String,
    materialized: &'static str,
    /// The Parquet folder, for models that store rows.
    path: Option<String>,
    depends_on: Vec<String>,
    description: Option<&'a str>,
    tags: &'a [String],
    partition_by: &'a [String],
    columns: Vec<ManifestColumn<'a>>,
}

#[derive(Serialize)]
struct ManifestColumn<'a> {
    name: String,
    data_type: Option<String>,
    nullable: Option<bool>,
    description: Option<&'a str>,
}
