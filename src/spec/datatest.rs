//! Data tests as declared: what the YAML says a table must satisfy, and
//! the query that returns the rows breaking each (run by `run::audit`).

use std::path::{Path, PathBuf};

use schemars::{Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::json;
use serde_yaml::Value;

use crate::base::error::{Error, Location, Result};
use crate::base::fs::{display_path, read_text};
use crate::base::names::is_identifier;
use crate::base::suggest::did_you_mean;

/// One declared test of a source or model.
#[derive(Debug, Clone)]
pub struct DataTest {
    pub check: Check,
    /// The column it is declared on (column tests).
    pub column: Option<String>,
    pub severity: Severity,
    /// Where it is declared in the YAML.
    pub declared: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    NotNull,
    Unique,
    /// The values allowed, as SQL literals.
    AcceptedValues(Vec<String>),
    /// Every non-null value is a value of `field` in table `to` (`model`
    /// or `raw.source`).
    Relationships {
        to: String,
        field: String,
    },
    /// A SQL condition every row meets (rows where it is NULL pass, as in dbt).
    Expression(String),
    UniqueCombination(Vec<String>),
    RowCount {
        min: Option<u64>,
        max: Option<u64>,
    },
    /// A query in a file returning the failing rows.
    Sql {
        name: String,
        path: PathBuf,
        sql: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A failure fails the run (and, in a build, stops the model's publishing).
    Error,
    /// A failure is reported only.
    Warn,
}

pub const COLUMN_TESTS: &[&str] = &[
    "not_null",
    "unique",
    "accepted_values",
    "relationships",
    "expression",
];

pub const TABLE_TESTS: &[&str] = &["unique_combination", "row_count", "expression", "sql"];

impl DataTest {
    /// A short name: `not_null(order_id)`, `row_count(1..)`.
    pub fn name(&self) -> String {
        let column = self.column.as_deref().unwrap_or("");
        match &self.check {
            Check::NotNull => format!("not_null({column})"),
            Check::Unique => format!("unique({column})"),
            Check::AcceptedValues(_) => format!("accepted_values({column})"),
            Check::Relationships { to, field } => {
                format!("relationships({column} -> {to}.{field})")
            }
            Check::Expression(e) => format!("expression({e})"),
            Check::UniqueCombination(c) => format!("unique_combination({})", c.join(", ")),
            Check::RowCount { min, max } => {
                let bound = |b: &Option<u64>| b.map(|n| n.to_string()).unwrap_or_default();
                format!("row_count({}..{})", bound(min), bound(max))
            }
            Check::Sql { name, .. } => format!("sql({name})"),
        }
    }

    /// The condition a failing row meets, for tests that look at one row.
    pub fn row_condition(&self) -> Option<String> {
        let c = self.column.as_deref().unwrap_or("");
        match &self.check {
            Check::NotNull => Some(format!("{c} IS NULL")),
            Check::AcceptedValues(values) => Some(format!(
                "{c} IS NOT NULL AND {c} NOT IN ({})",
                values.join(", ")
            )),
            Check::Expression(e) => Some(format!("NOT ({e})")),
            _ => None,
        }
    }

    /// The query returning what fails the test in `table`.
    pub fn failing_sql(&self, table: &str) -> String {
        let c = self.column.as_deref().unwrap_or("");
        match &self.check {
            Check::Unique => format!(
                "SELECT {c}, count(*) AS duplicates FROM {table} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1"
            ),
            Check::UniqueCombination(columns) => {
                let columns = columns.join(", ");
                format!(
                    "SELECT {columns}, count(*) AS duplicates FROM {table} GROUP BY {columns} HAVING count(*) > 1"
                )
            }
            Check::Relationships { to, field } => format!(
                "SELECT * FROM {table} AS child WHERE child.{c} IS NOT NULL AND NOT EXISTS \
                 (SELECT 1 FROM {to} AS parent WHERE parent.{field} = child.{c})"
            ),
            Check::RowCount { .. } => format!("SELECT count(*) AS row_count FROM {table}"),
            Check::Sql { sql, .. } => sql.clone(),
            _ => format!(
                "SELECT * FROM {table} WHERE {}",
                self.row_condition().unwrap_or_default()
            ),
        }
    }

    /// The tables the test reads besides the one it tests, as SQL names.
    pub fn reads(&self) -> Option<&str> {
        match &self.check {
            Check::Relationships { to, .. } => Some(to),
            _ => None,
        }
    }
}

/// Parse one entry of a `tests:` list: a name (`not_null`) or a mapping of
/// the test's name to its argument, with an optional `severity:` beside it.
/// `column` is the column it is declared on, if any; `at` where; `root`
/// the project folder, for SQL test files.
pub fn parse(
    value: &Value,
    owner: &str,
    column: Option<&str>,
    at: &Location,
    text: &str,
    root: &Path,
) -> Result<DataTest> {
    let d = Declared {
        what: match column {
            Some(c) => format!("`{owner}.{c}`"),
            None => format!("`{owner}`"),
        },
        at,
        text,
    };
    let (name, arg, severity) = name_and_argument(value, &d)?;
    known(name, column.is_some(), &d)?;
    let check = match name {
        "not_null" | "unique" if !arg.is_null() => {
            return Err(d.err(
                format!("`{name}` takes no argument"),
                format!("write `- {name}`"),
            ));
        }
        "not_null" => Check::NotNull,
        "unique" => Check::Unique,
        "accepted_values" => accepted_values(&arg, &d)?,
        "relationships" => relationships(&arg, &d)?,
        "expression" => expression(&arg, &d)?,
        "unique_combination" => unique_combination(&arg, &d)?,
        "row_count" => row_count(&arg, &d)?,
        "sql" => sql_test(&arg, root, &d)?,
        _ => unreachable!("the name is one of the known tests"),
    };
    Ok(DataTest {
        check,
        column: column.map(str::to_ascii_lowercase),
        severity,
        declared: at.clone(),
    })
}

/// Where a test is declared, for its errors: `what` it tests, the place
/// and the file's text.
struct Declared<'a> {
    what: String,
    at: &'a Location,
    text: &'a str,
}

impl Declared<'_> {
    fn err(&self, message: String, help: String) -> Error {
        Error::usage(format!("{}: {message}", self.what))
            .at(self.at.clone(), Some(self.text))
            .help(help)
    }

    /// Test `name` lacks its argument, written as in `example`.
    fn needs(&self, example: &str) -> Error {
        let name = example.split(':').next().unwrap_or(example);
        self.err(
            format!("`{name}` needs an argument"),
            format!("for example `{example}`"),
        )
    }
}

/// A test's name, its argument (null if none) and its severity.
fn name_and_argument<'v>(value: &'v Value, d: &Declared) -> Result<(&'v str, Value, Severity)> {
    let shape = "a test is a name (`not_null`) or a mapping of its name to its argument (`accepted_values: [a, b]`), with `severity: warn` beside it if a failure should only warn";
    let m = match value {
        Value::String(s) => return Ok((s.as_str(), Value::Null, Severity::Error)),
        Value::Mapping(m) => m,
        _ => {
            return Err(d.err("a test must be a name or a mapping".into(), shape.into()));
        }
    };
    let mut name = None;
    let mut severity = Severity::Error;
    for (k, v) in m {
        match (k.as_str(), v.as_str()) {
            (Some("severity"), Some("error")) => severity = Severity::Error,
            (Some("severity"), Some("warn")) => severity = Severity::Warn,
            (Some("severity"), _) => {
                return Err(d.err(
                    format!("severity `{}` is not `error` or `warn`", yaml_text(v)),
                    "write `severity: warn` to only warn when the test fails (the default is `error`)".into(),
                ));
            }
            (Some(k), _) if name.is_none() => name = Some((k, v.clone())),
            _ => return Err(d.err("a test names one test".into(), shape.into())),
        }
    }
    match name {
        Some((name, arg)) => Ok((name, arg, severity)),
        None => Err(d.err("the test has no name".into(), shape.into())),
    }
}

/// A test of this name may be declared here: on a column, or on a table.
fn known(name: &str, on_column: bool, d: &Declared) -> Result<()> {
    let (kinds, others, place) = match on_column {
        true => (COLUMN_TESTS, TABLE_TESTS, "under the model's own `tests:`"),
        false => (TABLE_TESTS, COLUMN_TESTS, "under a column's `tests:`"),
    };
    if kinds.contains(&name) {
        return Ok(());
    }
    let help = match others.contains(&name) {
        true => format!("`{name}` is declared {place}"),
        false => did_you_mean(name, kinds.iter().copied())
            .unwrap_or_else(|| format!("the tests here are: {}", kinds.join(", "))),
    };
    Err(d.err(format!("unknown test `{name}`"), help))
}

fn accepted_values(arg: &Value, d: &Declared) -> Result<Check> {
    let example = "accepted_values: [tiktok, youtube, organic]";
    let list = match arg {
        Value::Mapping(m) => m.get("values").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let Value::Sequence(items) = list else {
        return Err(d.needs(example));
    };
    let mut values = Vec::new();
    for item in &items {
        values.push(match item {
            Value::String(s) => format!("'{}'", s.replace('\'', "''")),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                return Err(d.err(
                    format!(
                        "accepted value `{}` is not a string, number or boolean",
                        yaml_text(other)
                    ),
                    "list plain values: `accepted_values: [a, b, 3]`".into(),
                ));
            }
        });
    }
    if values.is_empty() {
        return Err(d.needs(example));
    }
    Ok(Check::AcceptedValues(values))
}

fn relationships(arg: &Value, d: &Declared) -> Result<Check> {
    let example = "relationships: {to: stg_users, field: user_id}";
    let get = |key: &str| arg.get(key).and_then(Value::as_str).map(str::to_string);
    let (Some(to), Some(field)) = (get("to"), get("field")) else {
        return Err(d.needs(example));
    };
    let to = to.trim().to_ascii_lowercase();
    let parts: Vec<&str> = to.split('.').collect();
    let valid = match parts.as_slice() {
        [name] => is_identifier(name),
        ["raw", name] => is_identifier(name),
        _ => false,
    };
    if !valid {
        return Err(d.err(
            format!("relationships: `to: {to}` is not a model or a source"),
            "name a model (`to: stg_users`) or a source (`to: raw.users`)".into(),
        ));
    }
    if !is_identifier(&field) {
        return Err(d.err(
            format!("relationships: `field: {field}` is not a column name"),
            example.into(),
        ));
    }
    Ok(Check::Relationships { to, field })
}

fn expression(arg: &Value, d: &Declared) -> Result<Check> {
    let Some(e) = arg.as_str().filter(|e| !e.trim().is_empty()) else {
        return Err(d.needs("expression: \"amount >= 0\""));
    };
    crate::spec::sql::parse(&format!("SELECT 1 WHERE {e}")).map_err(|e| {
        d.err(
            format!("expression: {}", e.message),
            "write a SQL condition every row must meet, like `amount >= 0`".into(),
        )
    })?;
    Ok(Check::Expression(e.trim().to_string()))
}

fn unique_combination(arg: &Value, d: &Declared) -> Result<Check> {
    let columns: Option<Vec<String>> = arg.as_sequence().map(|s| {
        s.iter()
            .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
            .collect()
    });
    match columns {
        Some(c) if !c.is_empty() && c.iter().all(|c| is_identifier(c)) => {
            Ok(Check::UniqueCombination(c))
        }
        _ => Err(d.needs("unique_combination: [order_date, channel]")),
    }
}

fn row_count(arg: &Value, d: &Declared) -> Result<Check> {
    let bound = |key: &str| match arg.get(key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            d.err(
                format!("row_count: `{key}: {}` is not a whole number", yaml_text(v)),
                "for example `row_count: {min: 1, max: 1000000}`".into(),
            )
        }),
    };
    let (min, max) = (bound("min")?, bound("max")?);
    let keys_ok = arg
        .as_mapping()
        .is_some_and(|m| m.keys().all(|k| matches!(k.as_str(), Some("min" | "max"))));
    if !keys_ok || (min.is_none() && max.is_none()) {
        return Err(d.needs("row_count: {min: 1, max: 1000000}"));
    }
    if let (Some(a), Some(b)) = (min, max)
        && a > b
    {
        return Err(d.err(
            format!("row_count: min {a} is above max {b}"),
            "swap them".into(),
        ));
    }
    Ok(Check::RowCount { min, max })
}

/// A SQL test: a query in a file, relative to the project, returning the
/// failing rows.
fn sql_test(arg: &Value, root: &Path, d: &Declared) -> Result<Check> {
    let Some(path) = arg.as_str() else {
        return Err(d.needs("sql: sql/tests/orders_have_users.sql"));
    };
    let shown = display_path(root, Path::new(path));
    let sql = read_text(&root.join(path), &shown).map_err(|e| {
        d.err(
            format!("cannot read the SQL test `{}`: {}", shown.display(), e.message),
            "the path is relative to the project folder; a SQL test is a query returning the failing rows".into(),
        )
    })?;
    crate::spec::sql::model_refs(&sql).map_err(|e| {
        let err = Error::usage(format!("SQL test `{}`: {}", shown.display(), e.message))
            .at(Location::new(&shown, e.line, e.column), Some(&sql));
        match e.help {
            Some(h) => err.help(h),
            None => err,
        }
    })?;
    let name = Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    Ok(Check::Sql {
        name,
        path: shown,
        sql,
    })
}

/// The JSON Schema of a column's `tests:` list (`mart schema`).
pub fn column_tests_schema(_: &mut SchemaGenerator) -> Schema {
    tests_schema(COLUMN_TESTS, &["not_null", "unique"])
}

/// The JSON Schema of a table's `tests:` list.
pub fn table_tests_schema(_: &mut SchemaGenerator) -> Schema {
    tests_schema(TABLE_TESTS, &[])
}

/// A list of tests of `kinds`, each a mapping of its name to its argument
/// with `severity:` beside it, or for those of `bare`, just its name: the
/// shapes `parse` takes.
fn tests_schema(kinds: &[&str], bare: &[&str]) -> Schema {
    let mut shapes: Vec<serde_json::Value> = Vec::new();
    if !bare.is_empty() {
        shapes.push(json!({"enum": bare, "description": "a test without argument"}));
    }
    for &kind in kinds {
        let (description, argument) = kind_schema(kind);
        shapes.push(json!({
            "type": "object",
            "description": description,
            "properties": {
                kind: argument,
                "severity": {
                    "enum": ["error", "warn"],
                    "description": "`warn`: a failure is reported but does not fail the run; default `error`",
                },
            },
            "required": [kind],
            "additionalProperties": false,
        }));
    }
    json_schema!({"type": "array", "items": {"anyOf": shapes}})
}

/// What test `kind` checks, and the JSON Schema of its argument.
fn kind_schema(kind: &str) -> (&'static str, serde_json::Value) {
    let names = json!({"type": "array", "items": {"type": "string"}, "minItems": 1});
    let values =
        json!({"type": "array", "items": {"type": ["string", "number", "boolean"]}, "minItems": 1});
    let count = json!({"type": "integer", "minimum": 0});
    match kind {
        "not_null" => ("no value is null", json!({"type": "null"})),
        "unique" => (
            "no two rows share a value (nulls aside)",
            json!({"type": "null"}),
        ),
        "accepted_values" => (
            "every value is one of these (nulls aside)",
            json!({"anyOf": [values, {"type": "object", "properties": {"values": values}, "required": ["values"]}]}),
        ),
        "relationships" => (
            "every value is a value of `field` in table `to` (a model, or raw.<source>)",
            json!({
                "type": "object",
                "properties": {"to": {"type": "string"}, "field": {"type": "string"}},
                "required": ["to", "field"],
            }),
        ),
        "expression" => (
            "a SQL condition every row meets, e.g. `amount >= 0`",
            json!({"type": "string", "minLength": 1}),
        ),
        "unique_combination" => ("no two rows share the values of these columns", names),
        "row_count" => (
            "the table has at least `min` and at most `max` rows",
            json!({
                "type": "object",
                "properties": {"min": count, "max": count},
                "minProperties": 1,
                "additionalProperties": false,
            }),
        ),
        "sql" => (
            "a query in this file (relative to the project) returns the failing rows",
            json!({"type": "string", "minLength": 1}),
        ),
        other => unreachable!("test `{other}` has a schema"),
    }
}

fn yaml_text(v: &Value) -> String {
    serde_yaml::to_string(v)
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A test parsed from its YAML, declared on `column` of `owner` (the
    /// unit tests of other modules declare tests with it too).
    pub(crate) fn test(yaml: &str, owner: &str, column: Option<&str>) -> Result<DataTest> {
        let value: Value = serde_yaml::from_str(yaml).expect("valid YAML");
        let at = Location::new("marts/p.yml", 3, 7);
        parse(&value, owner, column, &at, yaml, Path::new("."))
    }

    fn sql(yaml: &str, column: Option<&str>) -> String {
        test(yaml, "orders", column).unwrap().failing_sql("orders")
    }

    #[test]
    fn each_test_is_a_query_of_the_rows_that_break_it() {
        assert_eq!(
            sql("not_null", Some("id")),
            "SELECT * FROM orders WHERE id IS NULL"
        );
        assert_eq!(
            sql("unique", Some("id")),
            "SELECT id, count(*) AS duplicates FROM orders WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1"
        );
        assert_eq!(
            sql("accepted_values: [tiktok, \"it's\", 3]", Some("channel")),
            "SELECT * FROM orders WHERE channel IS NOT NULL AND channel NOT IN ('tiktok', 'it''s', 3)"
        );
        assert_eq!(
            sql(
                "relationships: {to: raw.users, field: user_id}",
                Some("user_id")
            ),
            "SELECT * FROM orders AS child WHERE child.user_id IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM raw.users AS parent WHERE parent.user_id = child.user_id)"
        );
        assert_eq!(
            sql("unique_combination: [Day, channel]", None),
            "SELECT day, channel, count(*) AS duplicates FROM orders GROUP BY day, channel HAVING count(*) > 1"
        );
        assert_eq!(
            sql("row_count: {min: 1}", None),
            "SELECT count(*) AS row_count FROM orders"
        );
        assert_eq!(
            sql("expression: amount >= 0", None),
            "SELECT * FROM orders WHERE NOT (amount >= 0)"
        );
    }

    #[test]
    fn severity_and_reads() {
        let t = test(
            "{relationships: {to: users, field: id}, severity: warn}",
            "orders",
            Some("user_id"),
        );
        let t = t.unwrap();
        assert_eq!((t.severity, t.reads()), (Severity::Warn, Some("users")));
        assert_eq!(t.name(), "relationships(user_id -> users.id)");
    }

    #[test]
    fn bad_declarations_say_what_to_write() {
        let err = |yaml: &str, column| test(yaml, "orders", column).unwrap_err();
        let e = err("not_nul", Some("id"));
        assert_eq!(e.message, "`orders.id`: unknown test `not_nul`");
        assert_eq!(e.help.as_deref(), Some("did you mean `not_null`?"));
        let e = err("row_count: {min: 1}", Some("id"));
        assert_eq!(
            e.help.as_deref(),
            Some("`row_count` is declared under the model's own `tests:`")
        );
        let e = err("accepted_values", Some("id"));
        assert_eq!(
            e.message,
            "`orders.id`: `accepted_values` needs an argument"
        );
        let e = err("row_count: {min: 5, max: 2}", None);
        assert_eq!(e.message, "`orders`: row_count: min 5 is above max 2");
        let e = err("{unique: null, severity: fatal}", Some("id"));
        assert_eq!(
            e.message,
            "`orders.id`: severity `fatal` is not `error` or `warn`"
        );
        let e = err("unique: [a]", Some("id"));
        assert_eq!(e.message, "`orders.id`: `unique` takes no argument");
        assert_eq!(e.location.as_ref().map(|l| l.line), Some(3));
    }
}
