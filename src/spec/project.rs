//! Finding and loading a mart project: the YAML under `marts/` and the SQL
//! under `sql/`, into typed, validated specs that remember where they came
//! from so that every later error can point at a file and line.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Index, IndexMut};
use std::path::{Path, PathBuf};
use std::time::Duration;

use datafusion::arrow::datatypes::DataType;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::base::error::{Error, Location, Result};
use crate::base::fs::{display_path, read_text, walk};
use crate::base::names::is_identifier;
use crate::base::size::{parse_size, parse_size_or_zero};
use crate::base::suggest::did_you_mean;
use crate::base::time::parse_duration;
use crate::spec::database::{self, CursorSpec, Database, DatabaseSpec, Declared, System};
use crate::spec::datatest::{self, DataTest};

/// A loaded project: every source and model, validated and with its SQL read.
#[derive(Debug)]
pub struct Project {
    /// The project directory as the user gave it (used to show paths).
    pub root: PathBuf,
    pub sources: Vec<Source>,
    pub models: Vec<Model>,
    /// Things worth saying that do not stop a run (an SQL file no model uses).
    pub warnings: Vec<String>,
    pub config: Config,
    /// Each model's and source's place, by name: a project of 10,000
    /// models resolves 20,000 references.
    names: Names,
}

#[derive(Debug, Clone, Default)]
struct Names {
    models: HashMap<String, ModelId>,
    sources: HashMap<String, SourceId>,
}

/// A model of the project: its place in `Project::models`, which a
/// slice of anything kept per model is indexed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelId(pub usize);

/// A source of the project: its place in `Project::sources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceId(pub usize);

/// Index slices and vectors by `ModelId` and `SourceId`.
macro_rules! index_by {
    ($id:ty) => {
        impl<T> Index<$id> for [T] {
            type Output = T;
            fn index(&self, id: $id) -> &T {
                &self[id.0]
            }
        }

        impl<T> IndexMut<$id> for [T] {
            fn index_mut(&mut self, id: $id) -> &mut T {
                &mut self[id.0]
            }
        }

        impl<T> Index<$id> for Vec<T> {
            type Output = T;
            fn index(&self, id: $id) -> &T {
                &self[id.0]
            }
        }

        impl<T> IndexMut<$id> for Vec<T> {
            fn index_mut(&mut self, id: $id) -> &mut T {
                &mut self[id.0]
            }
        }
    };
}

index_by!(ModelId);
index_by!(SourceId);

/// Project-wide settings: a top-level `config:` in one file of marts/.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Memory the engine may hold before it spills to disk, in bytes.
    pub memory_limit: Option<u64>,
    /// DataFusion's Parquet writer options, by their key under
    /// `datafusion.execution.parquet.` (`compression: zstd(3)`).
    pub parquet: Vec<(String, String)>,
    /// How `mart serve` serves the mart.
    pub serve: Serve,
    /// Where it is declared.
    pub declared: Option<Location>,
}

/// `config: serve:`: what `mart serve` listens on and whom it lets in.
#[derive(Debug, Clone, Default)]
pub struct Serve {
    /// `host:port`.
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub users: Vec<ServeUser>,
    /// How passwords are checked: `scram-sha-256` (the default), or, where
    /// old clients need it and the project says so, `md5` or `password`.
    pub password_method: Option<String>,
    pub max_connections: Option<usize>,
    /// Bytes of tables kept decoded in memory.
    pub cache: Option<u64>,
    pub statement_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
}

/// A user of `mart serve`: the password is read from an environment
/// variable, never written in the project.
#[derive(Debug, Clone)]
pub struct ServeUser {
    pub name: String,
    pub password_env: String,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub read: Read,
    pub description: Option<String>,
    pub columns: Vec<Column>,
    /// Tests of its columns and of the whole table.
    pub tests: Vec<DataTest>,
    /// Where the source is declared.
    pub declared: Location,
}

/// Where a source's rows come from.
#[derive(Debug, Clone)]
pub enum Read {
    Files(Files),
    Database(Database),
}

/// A source read from files.
#[derive(Debug, Clone)]
pub struct Files {
    /// The path as written in YAML: a file, a directory or a glob.
    pub path: String,
    pub format: Option<Format>,
    pub delimiter: u8,
    pub has_header: bool,
}

impl Source {
    /// What the source reads, as the docs and the manifest show it: a path,
    /// or a database's table or query (never its connection string).
    pub fn origin(&self) -> String {
        match &self.read {
            Read::Files(f) => f.path.clone(),
            Read::Database(d) => format!("{}: {}", d.system.as_str(), d.relation.describe()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    /// The SQL file, relative to the project root.
    pub sql_path: PathBuf,
    /// The SQL file as shown to the user (project root joined).
    pub sql_display: PathBuf,
    pub sql: String,
    pub materialized: Materialized,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub partition_by: Vec<String>,
    /// How an incremental model adds to what it stored.
    pub incremental: Option<Incremental>,
    /// What a table model does when what it reads only grew.
    pub on_append: OnAppend,
    pub columns: Vec<Column>,
    /// Tests of its columns and of the whole table, run on each new
    /// version before it is published.
    pub tests: Vec<DataTest>,
    pub declared: Location,
}

/// What a table model does when the tables it reads only grew by
/// appended rows: fold them into what it stored, or rebuild whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnAppend {
    /// Fold the appended rows into what it stored, where that gives what a full rebuild would.
    #[default]
    Fold,
    /// Rebuild it whole.
    Rebuild,
}

/// How an incremental model is brought up to date.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(tag = "strategy", rename_all = "lowercase", deny_unknown_fields)]
pub enum Incremental {
    /// Recompute the rows whose `column` is at least the newest stored value
    /// minus `lookback` (days for dates and timestamps, units for numbers)
    /// and replace the stored rows in that range.
    Time {
        /// A date, timestamp or number column of the model's output.
        column: String,
        /// How far before the newest stored value to recompute: days for dates and timestamps, units for numbers; default 0.
        #[serde(default)]
        lookback: u32,
    },
    /// Compute the rows whose `column` is newer than the newest stored and
    /// merge them: a new row replaces the stored row with the same key.
    Key {
        /// The columns that identify a row.
        unique_key: Vec<String>,
        /// The column that grows with each change, e.g. `updated_at`.
        column: String,
    },
}

impl Incremental {
    /// The column the new rows are found by.
    pub fn column(&self) -> &str {
        match self {
            Incremental::Time { column, .. } | Incremental::Key { column, .. } => column,
        }
    }

    /// Every column the strategy names.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            Incremental::Time { column, .. } => vec![column],
            Incremental::Key { unique_key, column } => unique_key
                .iter()
                .map(String::as_str)
                .chain([column.as_str()])
                .collect(),
        }
    }
}

/// A documented column (its tests are on the table, naming it).
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub description: Option<String>,
    /// For a source's column: the type it is read as, when declared
    /// (`type:`, and `timezone:` for naive timestamps read as local times).
    pub read_as: Option<DataType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma- (or `delimiter`-) separated values.
    Csv,
    /// Newline-delimited JSON: one object per line.
    Json,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
        }
    }

    /// The format a file's extension implies.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "tsv" | "txt" => Some(Format::Csv),
            "json" | "jsonl" | "ndjson" => Some(Format::Json),
            "parquet" | "parq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Materialized {
    /// Written as Parquet, rebuilt when what it reads changes.
    Table,
    /// Stored as its SQL; readers run it.
    View,
    /// Not published: inlined into the models that read it.
    Ephemeral,
    /// A table that each build adds to (see `incremental:`).
    Incremental,
}

impl Materialized {
    pub fn as_str(self) -> &'static str {
        match self {
            Materialized::Table => "table",
            Materialized::View => "view",
            Materialized::Ephemeral => "ephemeral",
            Materialized::Incremental => "incremental",
        }
    }

    /// Whether the model's rows are stored in the warehouse.
    pub fn is_stored(self) -> bool {
        matches!(self, Materialized::Table | Materialized::Incremental)
    }
}

// The YAML as written. `deny_unknown_fields` turns typos into errors that
// `yaml_error` then completes with a suggestion. The same types give the
// JSON Schema editors read (`mart schema`): their doc comments are the
// descriptions shown on hover.

/// What `is_identifier` accepts, for the schema.
const IDENTIFIER: &str = "^[A-Za-z_][A-Za-z0-9_]*$";

/// A file of `marts/`: sources, models and the project's settings.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "mart project file (marts/*.yml)")]
pub(super) struct FileSpec {
    /// Raw tables, landed as Parquet under warehouse/raw/<name>/ and read in SQL as raw.<name>.
    #[serde(default)]
    sources: Vec<SourceSpec>,
    /// Models: one SQL query each, materialized in warehouse/mart/<name>/ and read in SQL by name.
    #[serde(default)]
    models: Vec<ModelSpec>,
    /// The project's settings (in one file of marts/ only).
    #[serde(default)]
    config: Option<ConfigSpec>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConfigSpec {
    /// What the engine may hold in memory before it spills to disk, e.g. `2GiB` (flag: --memory-limit, env: MART_MEMORY_LIMIT).
    #[serde(default)]
    memory_limit: Option<String>,
    /// DataFusion's Parquet writer options for every table written (`compression: zstd(3)`, `max_row_group_size`, `statistics_enabled: page`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    parquet: BTreeMap<String, serde_yaml::Value>,
    /// Settings of `mart serve`, the PostgreSQL protocol server.
    #[serde(default)]
    serve: Option<ServeSpec>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ServeSpec {
    /// HOST:PORT to listen on (default 127.0.0.1:5433).
    #[serde(default)]
    listen: Option<String>,
    /// PEM certificate file: TLS for clients that ask for it.
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    tls_key: Option<PathBuf>,
    /// The users who may connect; none: anyone, without a password (loopback only).
    #[serde(default)]
    users: Vec<ServeUserSpec>,
    /// How passwords are checked: `scram-sha-256` (default) or `md5`.
    #[serde(default)]
    password_method: Option<String>,
    /// Connections served at once.
    #[serde(default)]
    max_connections: Option<usize>,
    /// Memory for cached query results, e.g. `256MiB`; `0` turns the cache off.
    #[serde(default)]
    cache: Option<String>,
    /// Longest a query may run, e.g. `30s`.
    #[serde(default)]
    statement_timeout: Option<String>,
    /// Close connections idle this long, e.g. `10m`.
    #[serde(default)]
    idle_timeout: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ServeUserSpec {
    /// The user name clients log in with.
    name: String,
    /// The environment variable holding the password.
    password_env: String,
}

/// A raw table: files, or a table or query of a database.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SourceSpec {
    /// The source's name: read in SQL as raw.<name>.
    #[schemars(regex(pattern = IDENTIFIER))]
    name: String,
    /// A file, a directory or a glob; relative to the project, or absolute.
    #[serde(default)]
    path: Option<String>,
    /// Read a PostgreSQL table or query instead of files.
    #[serde(default)]
    postgres: Option<DatabaseSpec>,
    /// Read a MySQL or MariaDB table or query instead of files.
    #[serde(default)]
    mysql: Option<DatabaseSpec>,
    /// Database sources: land only the rows past the largest cursor value landed.
    #[serde(default)]
    incremental: Option<CursorSpec>,
    /// Database sources: read in this many parallel ranges of `partition_column`.
    #[serde(default)]
    partitions: Option<usize>,
    /// Database sources: the integer column `partitions` splits on.
    #[serde(default)]
    partition_column: Option<String>,
    /// The files' format; default: from the extension.
    #[serde(default)]
    format: Option<Format>,
    /// CSV only: the field delimiter; default `,` (a tab for .tsv).
    #[serde(default)]
    delimiter: Option<String>,
    /// CSV only: whether the first line names the columns; default true.
    #[serde(default)]
    has_header: Option<bool>,
    /// What the table holds, for the docs page.
    #[serde(default)]
    description: Option<String>,
    /// Documentation, types and data tests of its columns.
    #[serde(default)]
    columns: Vec<ColumnSpec>,
    /// Data tests of the whole table.
    #[serde(default)]
    #[schemars(schema_with = "datatest::table_tests_schema")]
    tests: Vec<serde_yaml::Value>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ColumnSpec {
    /// The column's name.
    #[schemars(regex(pattern = IDENTIFIER))]
    name: String,
    /// What it holds, for the docs page.
    #[serde(default)]
    description: Option<String>,
    /// Sources: the type it is read as: `timestamp`, `timestamptz`, `date`, `bigint`, `double`, `text`, `boolean`, `decimal(p, s)`.
    #[serde(default, rename = "type")]
    data_type: Option<String>,
    /// Sources: the time zone of naive timestamps read as `timestamptz`, e.g. `Asia/Seoul`.
    #[serde(default)]
    timezone: Option<String>,
    /// Data tests of the column.
    #[serde(default)]
    #[schemars(schema_with = "datatest::column_tests_schema")]
    tests: Vec<serde_yaml::Value>,
}

/// A model: one SQL query, built by `mart build`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend(
    "if" = {"properties": {"materialized": {"const": "incremental"}}, "required": ["materialized"]},
    "then" = {"required": ["incremental"]},
))]
struct ModelSpec {
    /// The model's name: read in SQL by it.
    #[schemars(regex(pattern = IDENTIFIER))]
    name: String,
    /// Its SQL file, relative to the project; default: the one file named <name>.sql under sql/.
    #[serde(default)]
    sql: Option<String>,
    /// How it is built; default `table`.
    #[serde(default)]
    materialized: Option<Materialized>,
    /// What the table holds, for the docs page.
    #[serde(default)]
    description: Option<String>,
    /// Tags, selected with `-s tag:<tag>`.
    #[serde(default)]
    tags: Vec<String>,
    /// Columns written as hive-style partition folders (col=value/).
    #[serde(default)]
    partition_by: Vec<String>,
    /// With `materialized: incremental`: how a build adds to the stored rows.
    #[serde(default)]
    incremental: Option<Incremental>,
    /// When the tables it reads only grew by appended rows: `fold` them into what it stored (default), or `rebuild` it whole.
    #[serde(default)]
    on_append: OnAppend,
    /// Documentation and data tests of its columns.
    #[serde(default)]
    columns: Vec<ColumnSpec>,
    /// Data tests of the whole table, run before each new version is published.
    #[serde(default)]
    #[schemars(schema_with = "datatest::table_tests_schema")]
    tests: Vec<serde_yaml::Value>,
}

/// The JSON Schema of the files of `marts/` (`mart schema`), as JSON text.
/// Draft 7: the draft every YAML language server and IDE reads in full.
pub fn json_schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<FileSpec>();
    serde_json::to_string_pretty(&schema).expect("a schema is JSON") + "\n"
}

/// Where a source reads from: files at `path`, or one database; the
/// options of the one do not apply to the other.
fn read_of(name: &str, s: &mut SourceSpec) -> std::result::Result<Read, (String, String)> {
    let (path, postgres, mysql) = (s.path.take(), s.postgres.take(), s.mysql.take());
    let database = match (postgres, mysql) {
        (Some(spec), None) => Some((System::Postgres, spec)),
        (None, Some(spec)) => Some((System::Mysql, spec)),
        (None, None) => None,
        (Some(_), Some(_)) => return Err(one_origin()),
    };
    match (path, database) {
        (Some(path), None) => {
            let options = [
                ("incremental", s.incremental.is_some()),
                ("partitions", s.partitions.is_some()),
                ("partition_column", s.partition_column.is_some()),
            ];
            if let Some((key, _)) = options.iter().find(|o| o.1) {
                return Err((
                    format!("`{key}:` is for sources read from a database"),
                    format!("remove `{key}:`, or read `{name}` with `postgres:` or `mysql:`"),
                ));
            }
            let delimiter = match s.delimiter.as_deref() {
                None if path.ends_with(".tsv") => b'\t',
                None => b',',
                Some("\\t") | Some("\t") => b'\t',
                Some(d) if d.len() == 1 => d.as_bytes()[0],
                Some(d) => {
                    return Err((
                        format!("delimiter `{d}` must be a single character"),
                        "e.g. `delimiter: \";\"` or `delimiter: \"\\t\"`".into(),
                    ));
                }
            };
            Ok(Read::Files(Files {
                path,
                format: s.format,
                delimiter,
                has_header: s.has_header.unwrap_or(true),
            }))
        }
        (None, Some((system, spec))) => {
            let options = [
                ("format", s.format.is_some()),
                ("delimiter", s.delimiter.is_some()),
                ("has_header", s.has_header.is_some()),
            ];
            if let Some((key, _)) = options.iter().find(|o| o.1) {
                return Err((
                    format!("`{key}:` is for sources read from files"),
                    format!("remove `{key}:`: a database says its columns itself"),
                ));
            }
            database::load(Declared {
                system,
                spec,
                incremental: s.incremental.take(),
                partitions: s.partitions,
                partition_column: s.partition_column.take(),
            })
            .map(Read::Database)
        }
        (None, None) | (Some(_), Some(_)) => Err(one_origin()),
    }
}

fn one_origin() -> (String, String) {
    (
        "a source reads from one place: `path:`, `postgres:` or `mysql:`".into(),
        "e.g. `path: seeds/orders.csv`, or `postgres: {url_env: SHOP_DB_URL, table: public.orders}`"
            .into(),
    )
}

/// An incremental model needs a strategy, and only an incremental model
/// may have one; its columns must be identifiers.
fn check_incremental(
    name: &str,
    materialized: Materialized,
    spec: Option<Incremental>,
    declared: &Location,
    body: &str,
) -> Result<Option<Incremental>> {
    let err = |message: String, help: &str| {
        Err(Error::usage(format!("model `{name}`: {message}"))
            .at(declared.clone(), Some(body))
            .help(help.to_string()))
    };
    let example = "for example `incremental: {strategy: time, column: order_date, lookback: 3}` or `incremental: {strategy: key, unique_key: [user_id], column: updated_at}`";
    let spec = match (materialized, spec) {
        (Materialized::Incremental, None) => {
            return err(
                "`materialized: incremental` needs an `incremental:` strategy".into(),
                example,
            );
        }
        (Materialized::Incremental, Some(spec)) => spec,
        (other, Some(_)) => {
            return err(
                format!(
                    "`incremental:` is set but the model is materialized as `{}`",
                    other.as_str()
                ),
                "set `materialized: incremental`, or remove `incremental:`",
            );
        }
        (_, None) => return Ok(None),
    };
    let lower = |c: &str| c.to_ascii_lowercase();
    let spec = match spec {
        Incremental::Time { column, lookback } => Incremental::Time {
            column: lower(&column),
            lookback,
        },
        Incremental::Key { unique_key, column } => {
            if unique_key.is_empty() {
                return err(
                    "`unique_key` names no column".into(),
                    "list the columns that identify a row, e.g. `unique_key: [user_id]`",
                );
            }
            Incremental::Key {
                unique_key: unique_key.iter().map(|c| lower(c)).collect(),
                column: lower(&column),
            }
        }
    };
    if let Some(bad) = spec.columns().into_iter().find(|c| !is_identifier(c)) {
        return err(
            format!("incremental column `{bad}` is not a valid column name"),
            example,
        );
    }
    Ok(Some(spec))
}

impl Project {
    /// A project of these sources and models (names unique), with the
    /// default configuration.
    pub fn new(root: PathBuf, sources: Vec<Source>, models: Vec<Model>) -> Project {
        let names = Names {
            models: models
                .iter()
                .enumerate()
                .map(|(i, m)| (m.name.clone(), ModelId(i)))
                .collect(),
            sources: sources
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.clone(), SourceId(i)))
                .collect(),
        };
        Project {
            root,
            sources,
            models,
            warnings: Vec::new(),
            config: Config::default(),
            names,
        }
    }

    /// Load and validate the project at `root`.
    pub fn load(root: &Path) -> Result<Project> {
        let marts = root.join("marts");
        if !marts.is_dir() {
            return Err(Error::usage(format!(
                "no mart project at `{}`: there is no `marts/` folder",
                root.display()
            ))
            .help("run mart in a project directory, or point at one with --project DIR"));
        }
        let mut yaml_files = Vec::new();
        walk(&marts, &mut |p| {
            if matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")) {
                yaml_files.push(p.to_path_buf());
            }
        })?;
        yaml_files.sort();

        let sql_files = sql_files_by_stem(root)?;
        let mut project = Project::new(root.to_path_buf(), Vec::new(), Vec::new());
        for path in &yaml_files {
            let rel = path.strip_prefix(root).unwrap_or(path);
            project.load_file(path, &display_path(root, rel), &sql_files)?;
        }
        // SQL files that no model and no test uses.
        let used: std::collections::HashSet<PathBuf> = project
            .models
            .iter()
            .map(|m| m.sql_display.clone())
            .chain(
                project
                    .models
                    .iter()
                    .flat_map(|m| &m.tests)
                    .chain(project.sources.iter().flat_map(|s| &s.tests))
                    .filter_map(|t| match &t.check {
                        datatest::Check::Sql { path, .. } => Some(path.clone()),
                        _ => None,
                    }),
            )
            .collect();
        for path in sql_files.values().flatten() {
            let shown = display_path(root, path);
            if !used.contains(&shown) {
                let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                project.warnings.push(format!(
                    "`{}` is not declared in marts/, so it is not built: add `- name: {stem}` under `models:`",
                    shown.display()
                ));
            }
        }
        Ok(project)
    }

    fn load_file(
        &mut self,
        path: &Path,
        shown: &Path,
        sql_files: &BTreeMap<String, Vec<PathBuf>>,
    ) -> Result<()> {
        let text = read_text(path, shown)?;
        let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
        if body
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            return Ok(());
        }
        let spec: FileSpec = serde_yaml::from_str(body).map_err(|e| yaml_error(e, shown, body))?;
        if let Some(config) = spec.config {
            self.load_config(config, shown, body)?;
        }
        let file = YamlFile::new(shown, body);
        for (i, s) in spec.sources.into_iter().enumerate() {
            self.load_source(s, file.source_at(i), &file)?;
        }
        for (i, m) in spec.models.into_iter().enumerate() {
            self.load_model(m, file.model_at(i), &file, sql_files)?;
        }
        Ok(())
    }

    /// The project's `config:`, set in one file only.
    fn load_config(&mut self, config: ConfigSpec, shown: &Path, body: &str) -> Result<()> {
        let line = body
            .lines()
            .position(|l| l.starts_with("config:"))
            .map_or(0, |i| i + 1);
        let declared = Location::new(shown, line, 1).in_text(body);
        if let Some(first) = &self.config.declared {
            return Err(Error::usage("`config:` is set in two files")
                .at(declared, Some(body))
                .note("first set here", first.clone())
                .help("keep one `config:` for the project"));
        }
        let memory_limit = match &config.memory_limit {
            Some(text) => Some(parse_size(text).map_err(|e| {
                Error::usage(format!("config: memory_limit: {e}")).at(declared.clone(), Some(body))
            })?),
            None => None,
        };
        let parquet = config
            .parquet
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_yaml::Value::String(s) => s,
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                (k, v)
            })
            .collect();
        let serve = match config.serve {
            Some(spec) => load_serve(spec).map_err(|e| {
                Error::usage(format!("config: serve: {e}")).at(declared.clone(), Some(body))
            })?,
            None => Serve::default(),
        };
        self.config = Config {
            memory_limit,
            parquet,
            serve,
            declared: Some(declared),
        };
        Ok(())
    }

    fn load_source(
        &mut self,
        mut s: SourceSpec,
        declared: Location,
        file: &YamlFile,
    ) -> Result<()> {
        let body = file.body;
        let name = check_name(&s.name, "source", &declared, body)?;
        if let Some(first) = self.source(&name) {
            return Err(duplicate("source", &name, &declared, body, &first.declared));
        }
        let read = read_of(&name, &mut s).map_err(|(message, help)| {
            Error::usage(format!("source `{name}`: {message}"))
                .at(declared.clone(), Some(body))
                .help(help)
        })?;
        let block = file.block(&declared);
        let (columns, tests) =
            columns_and_tests(&name, true, s.columns, s.tests, &block, &self.root)?;
        self.names
            .sources
            .insert(name.clone(), SourceId(self.sources.len()));
        self.sources.push(Source {
            name,
            read,
            description: s.description,
            columns,
            tests,
            declared,
        });
        Ok(())
    }

    fn load_model(
        &mut self,
        m: ModelSpec,
        declared: Location,
        file: &YamlFile,
        sql_files: &BTreeMap<String, Vec<PathBuf>>,
    ) -> Result<()> {
        let body = file.body;
        let name = check_name(&m.name, "model", &declared, body)?;
        if let Some(first) = self.model(&name) {
            return Err(duplicate("model", &name, &declared, body, &first.declared));
        }
        let sql_path = sql_path(&name, m.sql.as_deref(), sql_files, &declared, body)?;
        let sql_display = display_path(&self.root, &sql_path);
        let sql = match read_text(&self.root.join(&sql_path), &sql_display) {
            Ok(sql) => sql,
            Err(_) if !self.root.join(&sql_path).exists() => {
                return Err(Error::usage(format!(
                    "model `{name}`: its SQL file `{}` does not exist",
                    sql_display.display()
                ))
                .at(declared, Some(body))
                .help(format!(
                    "create `{}` holding one SELECT query, or set `sql:` on the model to the file's path",
                    sql_display.display()
                )));
            }
            Err(e) => return Err(e),
        };
        let block = file.block(&declared);
        let (columns, tests) =
            columns_and_tests(&name, false, m.columns, m.tests, &block, &self.root)?;
        let mut partition_by = Vec::new();
        for p in &m.partition_by {
            if !is_identifier(p) {
                return Err(Error::usage(format!(
                    "model `{name}`: partition_by column `{p}` is not a valid column name"
                ))
                .at(declared, Some(body)));
            }
            partition_by.push(p.to_ascii_lowercase());
        }
        let materialized = m.materialized.unwrap_or(Materialized::Table);
        let incremental = check_incremental(&name, materialized, m.incremental, &declared, body)?;
        self.names
            .models
            .insert(name.clone(), ModelId(self.models.len()));
        self.models.push(Model {
            name,
            sql_path,
            sql_display,
            sql,
            materialized,
            description: m.description,
            tags: m.tags,
            partition_by,
            incremental,
            on_append: m.on_append,
            columns,
            tests,
            declared,
        });
        Ok(())
    }

    pub fn model_ids(&self) -> impl Iterator<Item = ModelId> + use<> {
        (0..self.models.len()).map(ModelId)
    }

    pub fn source_ids(&self) -> impl Iterator<Item = SourceId> + use<> {
        (0..self.sources.len()).map(SourceId)
    }

    pub fn model_id(&self, name: &str) -> Option<ModelId> {
        self.names.models.get(name).copied()
    }

    pub fn source_id(&self, name: &str) -> Option<SourceId> {
        self.names.sources.get(name).copied()
    }

    pub fn model(&self, name: &str) -> Option<&Model> {
        self.model_id(name).map(|m| &self.models[m])
    }

    pub fn source(&self, name: &str) -> Option<&Source> {
        self.source_id(name).map(|s| &self.sources[s])
    }
}

/// A model's SQL file, relative to the project: `sql:` if set, else the
/// one file under `sql/` named after it. It must stay inside the project.
fn sql_path(
    name: &str,
    declared_sql: Option<&str>,
    sql_files: &BTreeMap<String, Vec<PathBuf>>,
    declared: &Location,
    body: &str,
) -> Result<PathBuf> {
    let path = match declared_sql {
        Some(p) => PathBuf::from(p),
        None => match sql_files.get(name).map(Vec::as_slice) {
            Some([one]) => one.clone(),
            Some(many) if many.len() > 1 => {
                let list: Vec<_> = many.iter().map(|p| format!("`{}`", p.display())).collect();
                return Err(Error::usage(format!(
                    "model `{name}`: more than one SQL file is named `{name}.sql`: {}",
                    list.join(", ")
                ))
                .at(declared.clone(), Some(body))
                .help("set `sql:` on the model to the file it should use"));
            }
            _ => PathBuf::from("sql").join(format!("{name}.sql")),
        },
    };
    let outside = path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if outside {
        return Err(Error::usage(format!(
            "model `{name}`: `sql:` must be a path inside the project, not `{}`",
            path.display()
        ))
        .at(declared.clone(), Some(body))
        .help("put the model's SQL under sql/ and give its path from the project folder, like `sql: sql/marts/x.sql`"));
    }
    Ok(path)
}

/// A YAML file of `marts/` as text, to locate its items: where each
/// source and model starts, and the block of lines that is each one's.
struct YamlFile<'a> {
    shown: &'a Path,
    body: &'a str,
    lines: Vec<&'a str>,
    sources: Vec<(usize, usize)>,
    models: Vec<(usize, usize)>,
    /// The first line of every item, in order.
    starts: Vec<usize>,
}

impl<'a> YamlFile<'a> {
    fn new(shown: &'a Path, body: &'a str) -> YamlFile<'a> {
        let sources = item_locations(body, "sources");
        let models = item_locations(body, "models");
        let mut starts: Vec<usize> = sources.iter().chain(&models).map(|l| l.0).collect();
        starts.sort();
        YamlFile {
            shown,
            body,
            lines: body.lines().collect(),
            sources,
            models,
            starts,
        }
    }

    fn at(&self, lines: &[(usize, usize)], i: usize) -> Location {
        let (line, column) = lines.get(i).copied().unwrap_or((0, 0));
        let text = line.checked_sub(1).and_then(|i| self.lines.get(i));
        Location::new(self.shown, line, column).with_text(text.copied())
    }

    fn source_at(&self, i: usize) -> Location {
        self.at(&self.sources, i)
    }

    fn model_at(&self, i: usize) -> Location {
        self.at(&self.models, i)
    }

    /// The lines of the item declared `at`: up to where the next starts.
    fn block(&self, at: &Location) -> Block<'_> {
        Block {
            text: self.body,
            lines: &self.lines,
            file: self.shown,
            start: at.line.max(1),
            end: self
                .starts
                .iter()
                .copied()
                .find(|&l| l > at.line)
                .unwrap_or(usize::MAX),
            indent: at.column.saturating_sub(1),
        }
    }
}

fn duplicate(kind: &str, name: &str, at: &Location, text: &str, first: &Location) -> Error {
    Error::usage(format!("{kind} `{name}` is declared twice"))
        .at(at.clone(), Some(text))
        .note(format!("`{name}` is first declared here"), first.clone())
        .help(format!(
            "rename one of them or remove the duplicate: {kind} names must be unique"
        ))
}

fn check_name(name: &str, what: &str, at: &Location, text: &str) -> Result<String> {
    if is_identifier(name) {
        return Ok(name.to_ascii_lowercase());
    }
    Err(Error::usage(format!("{what} name `{name}` is not a valid identifier"))
        .at(at.clone(), Some(text))
        .help("names start with a letter or `_` and hold only letters, digits and `_` (they are SQL table names)"))
}

/// The lines of one source or model in its YAML file, to point at what
/// is declared in it.
struct Block<'a> {
    text: &'a str,
    /// The file's lines, split once for all its items.
    lines: &'a [&'a str],
    file: &'a Path,
    /// 1-based first line, and the line after the last.
    start: usize,
    end: usize,
    /// The indentation of the item's keys.
    indent: usize,
}

impl Block<'_> {
    /// The first place at or after line `from` where `needle` stands as a
    /// whole word, or the block's start.
    fn find(&self, from: usize, needle: &str) -> Location {
        let found = self
            .lines()
            .filter(|(i, _)| i + 1 >= from)
            .find_map(|(i, line)| {
                let mut offset = 0;
                while let Some(c) = line[offset..].find(needle) {
                    let c = offset + c;
                    let after = line[c + needle.len()..].chars().next();
                    if !after.is_some_and(|a| a.is_ascii_alphanumeric() || a == '_') {
                        return Some((i + 1, c + 1));
                    }
                    offset = c + needle.len();
                }
                None
            });
        let (line, column) = found.unwrap_or((self.start, self.indent + 1));
        Location::new(self.file, line, column)
            .with_len(needle.len())
            .with_text(line.checked_sub(1).and_then(|i| self.lines.get(i)).copied())
    }

    /// The line of the item's own `key:` (not one of a column's).
    fn key_line(&self, key: &str) -> usize {
        let prefix = format!("{key}:");
        self.lines()
            .find(|(_, l)| {
                let t = l.trim_start();
                t.starts_with(&prefix) && l.len() - t.len() == self.indent
            })
            .map_or(self.start, |(i, _)| i + 1)
    }

    /// The block's lines with their 0-based indexes.
    fn lines(&self) -> impl Iterator<Item = (usize, &str)> {
        let start = self.start.saturating_sub(1).min(self.lines.len());
        let end = self.end.saturating_sub(1).clamp(start, self.lines.len());
        (start..end).map(|i| (i, self.lines[i]))
    }
}

/// Check the columns of a source or model and gather the tests declared on
/// them and on the table.
fn columns_and_tests(
    owner: &str,
    is_source: bool,
    specs: Vec<ColumnSpec>,
    table_tests: Vec<serde_yaml::Value>,
    block: &Block,
    root: &Path,
) -> Result<(Vec<Column>, Vec<DataTest>)> {
    let mut columns = Vec::with_capacity(specs.len());
    let mut tests = Vec::new();
    let mut from = block.key_line("columns");
    for c in specs {
        let at = block.find(from, &format!("name: {}", c.name));
        if !is_identifier(&c.name) {
            return Err(Error::usage(format!(
                "`{owner}`: column name `{}` is not a valid identifier",
                c.name
            ))
            .at(at, Some(block.text)));
        }
        if let Some(first) = columns
            .iter()
            .find(|x: &&Column| x.name.eq_ignore_ascii_case(&c.name))
        {
            return Err(Error::usage(format!(
                "`{owner}`: column `{}` is listed twice",
                first.name
            ))
            .at(at, Some(block.text))
            .help("keep one entry per column"));
        }
        for test in &c.tests {
            let at = block.find(at.line, test_key(test));
            tests.push(datatest::parse(
                test,
                owner,
                Some(&c.name),
                &at,
                block.text,
                root,
            )?);
        }
        from = at.line + 1;
        let read_as = match (&c.data_type, &c.timezone, is_source) {
            (None, None, _) => None,
            (_, _, false) => {
                return Err(Error::usage(format!(
                    "`{owner}.{}`: `type:` and `timezone:` are for the columns of sources",
                    c.name
                ))
                .at(at, Some(block.text))
                .help("a model's column types come from its SQL: cast there"));
            }
            (ty, tz, true) => Some(
                column_type(ty.as_deref().unwrap_or("timestamp"), tz.as_deref()).map_err(|e| {
                    Error::usage(format!("`{owner}.{}`: {e}", c.name))
                        .at(at.clone(), Some(block.text))
                })?,
            ),
        };
        columns.push(Column {
            name: c.name,
            description: c.description,
            read_as,
        });
    }
    let from = block.key_line("tests");
    for test in &table_tests {
        let at = block.find(from, test_key(test));
        tests.push(datatest::parse(test, owner, None, &at, block.text, root)?);
    }
    Ok((columns, tests))
}

/// The type a source's column declares: `timestamp` (with `timezone`, for
/// naive times of that zone), `date`, `bigint`, `double`, `text`,
/// `boolean`, `decimal(p, s)`.
fn column_type(name: &str, timezone: Option<&str>) -> std::result::Result<DataType, String> {
    use datafusion::arrow::datatypes::TimeUnit;
    let name = name.trim().to_ascii_lowercase();
    let ty = match name.as_str() {
        "timestamp" => {
            if let Some(tz) = timezone {
                tz.parse::<datafusion::arrow::array::timezone::Tz>()
                    .map_err(|_| format!("`timezone: {tz}` is not a time zone: use a name like `Asia/Seoul` or an offset like `+09:00`"))?;
            }
            return Ok(DataType::Timestamp(
                TimeUnit::Microsecond,
                timezone.map(Into::into),
            ));
        }
        "date" => DataType::Date32,
        "int" | "integer" | "bigint" | "int64" => DataType::Int64,
        "double" | "float" | "float64" | "real" => DataType::Float64,
        "text" | "string" | "varchar" | "utf8" => DataType::Utf8,
        "boolean" | "bool" => DataType::Boolean,
        other => {
            let digits = other
                .strip_prefix("decimal(")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|r| r.split_once(','))
                .and_then(|(p, s)| {
                    Some((p.trim().parse::<u8>().ok()?, s.trim().parse::<i8>().ok()?))
                })
                .filter(|(p, s)| (1..=38).contains(p) && *s >= 0 && (*s as u8) <= *p);
            match digits {
                Some((p, s)) => DataType::Decimal128(p, s),
                None => {
                    return Err(format!(
                        "`type: {name}` is not a type a source can declare: use timestamp, date, bigint, double, text, boolean or decimal(p, s)"
                    ));
                }
            }
        }
    };
    match timezone {
        Some(_) => Err(format!(
            "`timezone:` is for timestamps, but the type is `{name}`"
        )),
        None => Ok(ty),
    }
}

/// The name a test entry starts with, to find it in the text.
fn test_key(test: &serde_yaml::Value) -> &str {
    match test {
        serde_yaml::Value::String(s) => s,
        serde_yaml::Value::Mapping(m) => m
            .keys()
            .filter_map(|k| k.as_str())
            .find(|k| *k != "severity")
            .unwrap_or("tests"),
        _ => "tests",
    }
}

/// Turn a serde_yaml error into one with a location and, for a misspelt key
/// or value, the closest valid one.
fn yaml_error(err: serde_yaml::Error, shown: &Path, text: &str) -> Error {
    let mut message = err.to_string();
    // serde_yaml appends " at line L column C"; the location is shown apart.
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    let mut error = Error::usage(format!("invalid YAML: {message}"));
    if let Some(loc) = err.location() {
        error = error.at(Location::new(shown, loc.line(), loc.column()), Some(text));
    } else {
        error = error.at(Location::new(shown, 0, 0), None);
    }
    let tab_at_error = err
        .location()
        .and_then(|l| text.lines().nth(l.line().saturating_sub(1)))
        .is_some_and(|l| l.contains('\t'));
    if message.contains("repetition limit") {
        error = error
            .help("its anchors and aliases expand to a huge document: write the YAML out plainly");
    } else if message.contains("recursion limit") {
        error = error.help("it is nested too deeply to be a project file");
    }
    if message.contains("tab character") || tab_at_error {
        error = error.help("YAML is indented with spaces, not tabs: replace the tabs on this line");
    }
    // "unknown field `materialised`, expected one of `name`, `sql`, ..."
    for what in ["unknown field `", "unknown variant `"] {
        if let Some(start) = message.find(what) {
            let rest = &message[start + what.len()..];
            let got = rest.split('`').next().unwrap_or("");
            let expected: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
            if let Some(help) = did_you_mean(got, expected.iter().copied()) {
                error = error.help(help);
            } else if !expected.is_empty() {
                error = error.help(format!("expected one of: {}", expected.join(", ")));
            }
        }
    }
    error
}

/// The (line, column) of the `name:` key of each item of the top-level list
/// `section`. serde_yaml keeps no positions, so they are read off the text;
/// block-style YAML (the way everyone writes these files) is understood.
fn item_locations(text: &str, section: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut in_section = false;
    let mut item_indent: Option<usize> = None;
    let mut key_indent = 0;
    let mut current: Option<(usize, usize)> = None; // the item's `-` position
    let mut named = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if indent == 0 && !trimmed.starts_with('-') {
            if in_section && let (Some(c), false) = (current.take(), named) {
                out.push(c);
            }
            in_section = trimmed
                .strip_prefix(section)
                .is_some_and(|r| r.trim_start().starts_with(':'));
            item_indent = None;
            named = false;
            continue;
        }
        if !in_section {
            continue;
        }
        if trimmed.starts_with('-') && item_indent.is_none_or(|ind| ind == indent) {
            item_indent = Some(indent);
            if let (Some(c), false) = (current.take(), named) {
                out.push(c);
            }
            current = Some((i + 1, indent + 1));
            named = false;
            let after = trimmed[1..].trim_start();
            key_indent = line.len() - after.len();
            if after.starts_with("name:") {
                out.push((i + 1, line.len() - after.len() + 1));
                named = true;
            }
        } else if !named
            && current.is_some()
            && trimmed.starts_with("name:")
            && indent == key_indent
        {
            out.push((i + 1, indent + 1));
            named = true;
        }
    }
    if let (Some(c), false, true) = (current, named, in_section) {
        out.push(c);
    }
    out
}

/// Every `*.sql` file under `sql/` but `sql/tests/` (SQL tests), by
/// lowercase file stem (relative paths).
fn sql_files_by_stem(root: &Path) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let dir = root.join("sql");
    let tests = dir.join("tests");
    if dir.is_dir() {
        walk(&dir, &mut |p| {
            if p.extension().is_some_and(|e| e == "sql")
                && !p.starts_with(&tests)
                && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
            {
                let rel = p.strip_prefix(root).unwrap_or(p).to_path_buf();
                out.entry(stem.to_ascii_lowercase()).or_default().push(rel);
            }
        })?;
    }
    for paths in out.values_mut() {
        paths.sort();
    }
    Ok(out)
}

/// `config: serve:` checked: durations parsed, users named once with a
/// variable to read the password from, known password methods.
fn load_serve(spec: ServeSpec) -> std::result::Result<Serve, String> {
    let duration = |key: &str, text: &Option<String>| match text {
        Some(t) => parse_duration(t).map_err(|e| format!("{key}: {e}")),
        None => Ok(None),
    };
    let mut users: Vec<ServeUser> = Vec::new();
    for u in spec.users {
        if u.name.is_empty() || u.password_env.is_empty() {
            return Err("each user needs a `name` and a `password_env`".into());
        }
        if users.iter().any(|known| known.name == u.name) {
            return Err(format!("the user `{}` is listed twice", u.name));
        }
        users.push(ServeUser {
            name: u.name,
            password_env: u.password_env,
        });
    }
    if let Some(method) = &spec.password_method
        && !["scram-sha-256", "md5", "password"].contains(&method.as_str())
    {
        return Err(format!(
            "password_method: `{method}` is not one: use `scram-sha-256` (the default), `md5` or `password`"
        ));
    }
    if spec.tls_cert.is_some() != spec.tls_key.is_some() {
        return Err("TLS needs both `tls_cert` and `tls_key`".into());
    }
    Ok(Serve {
        listen: spec.listen,
        tls_cert: spec.tls_cert,
        tls_key: spec.tls_key,
        users,
        password_method: spec.password_method,
        max_connections: spec.max_connections,
        cache: match &spec.cache {
            Some(text) => Some(parse_size_or_zero(text).map_err(|e| format!("cache: {e}"))?),
            None => None,
        },
        statement_timeout: duration("statement_timeout", &spec.statement_timeout)?,
        idle_timeout: duration("idle_timeout", &spec.idle_timeout)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_item_name_lines() {
        let text = "sources:\n  - name: a\n    path: x\nmodels:\n- name: m\n  columns:\n    - name: c\n-   sql: y\n    name: n\n";
        assert_eq!(item_locations(text, "sources"), vec![(2, 5)]);
        assert_eq!(item_locations(text, "models"), vec![(5, 3), (9, 5)]);
    }
}
