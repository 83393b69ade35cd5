//! Sources read from a database (PostgreSQL, MySQL) rather than files: what
//! to read, where the connection string is kept, and how to read it again
//! incrementally.

use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;

use crate::base::names::is_identifier;
use crate::base::time::parse_duration;

/// The most connections one source may open (its `partitions`).
pub const MAX_PARTITIONS: usize = 16;

/// A source read from a database table or query.
#[derive(Debug, Clone, PartialEq)]
pub struct Database {
    pub system: System,
    /// Where the connection string is: never the string itself, which must
    /// not reach output, errors or the warehouse's records.
    pub url: UrlFrom,
    pub relation: Relation,
    pub incremental: Option<Cursor>,
    /// Parallel reads, each its own connection, split on `partition_column`.
    pub partitions: usize,
    pub partition_column: Option<String>,
    /// The longest an extraction query may run on the server.
    pub statement_timeout: Option<Duration>,
    /// How often a connection error is retried, with backoff, before the
    /// landing fails.
    pub retries: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Postgres,
    Mysql,
}

impl System {
    pub fn as_str(self) -> &'static str {
        match self {
            System::Postgres => "postgres",
            System::Mysql => "mysql",
        }
    }
}

/// The environment variable that holds the connection string, or the path
/// of a file that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlFrom {
    Env(String),
    FileEnv(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relation {
    /// A table or view, as `schema.table` or `table`.
    Table(String),
    /// A query of the server's SQL.
    Query(String),
}

impl Relation {
    /// What is read, as the docs and manifest show it.
    pub fn describe(&self) -> String {
        match self {
            Relation::Table(t) => format!("table {t}"),
            Relation::Query(q) => format!("query: {}", q.trim()),
        }
    }
}

/// Incremental extraction: rows whose `column` is at least the largest
/// value landed (less `lag`) are read again; with a primary key, a row read
/// again replaces the landed row with the same key.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub column: String,
    pub primary_key: Vec<String>,
    pub lag: Option<Lag>,
}

/// How far before the largest landed cursor value to read again, for rows
/// committed late: a duration for time cursors, a number for numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lag {
    Time(Duration),
    Number(f64),
}

// The YAML as written.

/// A table or query of a database. The connection string is never written
/// here: it comes from an environment variable.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DatabaseSpec {
    /// The environment variable holding the connection string (`postgres://user:pw@host/db`).
    #[serde(default)]
    url_env: Option<String>,
    /// The environment variable holding the path of a file with the connection string (mounted secrets).
    #[serde(default)]
    url_file_env: Option<String>,
    /// The table to read, `schema.table` or `table`.
    #[serde(default)]
    table: Option<String>,
    /// A query to read instead of a table.
    #[serde(default)]
    query: Option<String>,
    /// Longest the read may run on the server, e.g. `10m`.
    #[serde(default)]
    statement_timeout: Option<String>,
    /// Times to try again after a dropped connection; default 3.
    #[serde(default)]
    retries: Option<u32>,
}

/// Land only the rows past the largest cursor value landed.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CursorSpec {
    /// A column that grows with each insert or update, e.g. `updated_at` or `id`.
    cursor: String,
    /// With it, a row landed again replaces the landed row with the same key.
    #[serde(default)]
    primary_key: Vec<String>,
    /// How far before the largest cursor value landed to read again, for rows committed late: a duration (`10m`) for time cursors, a number for numbers.
    #[serde(default)]
    #[schemars(schema_with = "lag_schema")]
    lag: Option<serde_yaml::Value>,
}

fn lag_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": ["string", "number"], "minimum": 0})
}

/// The parts of a source's YAML that concern a database.
pub(super) struct Declared {
    pub system: System,
    pub spec: DatabaseSpec,
    pub incremental: Option<CursorSpec>,
    pub partitions: Option<usize>,
    pub partition_column: Option<String>,
}

/// A database source as declared, checked; the error says what to write.
pub(super) fn load(d: Declared) -> Result<Database, (String, String)> {
    let system = d.system.as_str();
    let err = |m: String, help: &str| Err((m, help.to_string()));
    let url = match (d.spec.url_env, d.spec.url_file_env) {
        (Some(v), None) => UrlFrom::Env(v),
        (None, Some(v)) => UrlFrom::FileEnv(v),
        _ => {
            return err(
                format!("`{system}:` needs one of `url_env` or `url_file_env`"),
                "name the environment variable that holds the connection string, e.g. `url_env: SHOP_DB_URL` (the string itself never goes in YAML)",
            );
        }
    };
    let relation = match (d.spec.table, d.spec.query) {
        (Some(t), None) if t.split('.').all(|p| !p.is_empty()) => Relation::Table(t),
        (None, Some(q)) if !q.trim().is_empty() => Relation::Query(q),
        _ => {
            return err(
                format!("`{system}:` needs one of `table` or `query`"),
                "e.g. `table: public.orders`, or `query: \"select id, total from orders\"`",
            );
        }
    };
    let statement_timeout = match d.spec.statement_timeout.as_deref() {
        None => Some(Duration::from_secs(3600)),
        Some(t) => {
            parse_duration(t).map_err(|e| (format!("statement_timeout: {e}"), String::new()))?
        }
    };
    let partitions = d.partitions.unwrap_or(1);
    if partitions == 0 || partitions > MAX_PARTITIONS {
        return err(
            format!("`partitions: {partitions}` must be between 1 and {MAX_PARTITIONS}"),
            "each partition is a connection to the production server: a few are enough",
        );
    }
    if d.system == System::Mysql && partitions > 1 {
        return err(
            format!(
                "`partitions: {partitions}`: MySQL cannot share one snapshot between connections"
            ),
            "remove `partitions:`: a MySQL source is read on one connection, so that its rows are one snapshot",
        );
    }
    let incremental = d.incremental.map(cursor).transpose()?;
    let partition_column = d.partition_column.map(|c| c.to_ascii_lowercase());
    for c in incremental
        .iter()
        .flat_map(|i| i.primary_key.iter().chain([&i.column]))
        .chain(&partition_column)
    {
        if !is_identifier(c) {
            return err(
                format!("`{c}` is not a column name"),
                "name a column of the table or query",
            );
        }
    }
    Ok(Database {
        system: d.system,
        url,
        relation,
        incremental,
        partitions,
        partition_column,
        statement_timeout,
        retries: d.spec.retries.unwrap_or(3),
    })
}

fn cursor(spec: CursorSpec) -> Result<Cursor, (String, String)> {
    let lag = match &spec.lag {
        None => None,
        Some(value) => Some(
            match value {
                serde_yaml::Value::Number(n) => n.as_f64().filter(|n| *n >= 0.0).map(Lag::Number),
                serde_yaml::Value::String(s) => parse_duration(s).ok().flatten().map(Lag::Time),
                _ => None,
            }
            .ok_or_else(|| {
                (
                    "`lag` must be a duration or a number".to_string(),
                    "e.g. `lag: 10min` for a time cursor, `lag: 1000` for a number".to_string(),
                )
            })?,
        ),
    };
    Ok(Cursor {
        column: spec.cursor.to_ascii_lowercase(),
        primary_key: spec
            .primary_key
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .collect(),
        lag,
    })
}
