//! Data tests: what the YAML declares a table must satisfy, and running it.
//!
//! Every test becomes a query returning the rows that break it (as dbt
//! does). Tests that look at one row at a time (`not_null`,
//! `accepted_values`, `expression`) and `row_count` are counted together
//! in one scan of the table; the others (`unique`, `unique_combination`,
//! `relationships`, SQL tests) are a query each. The failing rows are read
//! only when there are some. `mart build` runs the tests of each model on
//! its new version before publishing it; `mart test` runs them on what is
//! published.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::DataFrame;
use serde::Serialize;
use serde_yaml::Value;

use crate::run::build;
use crate::cli::{Global, TestArgs};
use crate::spec::dag::Dag;
use crate::engine::Engine;
use crate::base::error::{Error, Location, Result, df_message, did_you_mean};
use crate::spec::project::{Project, is_identifier};
use crate::spec::select;
use crate::spec::sql::located_error;
use crate::storage::warehouse::Warehouse;

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
    fn row_condition(&self) -> Option<String> {
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
    fn failing_sql(&self, table: &str) -> String {
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
    root: &std::path::Path,
) -> Result<DataTest> {
    let what = match column {
        Some(c) => format!("`{owner}.{c}`"),
        None => format!("`{owner}`"),
    };
    let kinds = if column.is_some() {
        COLUMN_TESTS
    } else {
        TABLE_TESTS
    };
    let err = |message: String, help: String| {
        Error::usage(format!("{what}: {message}"))
            .at(at.clone(), Some(text))
            .help(help)
    };
    let shape = "a test is a name (`not_null`) or a mapping of its name to its argument (`accepted_values: [a, b]`), with `severity: warn` beside it if a failure should only warn";
    let (name, arg, severity) = match value {
        Value::String(s) => (s.as_str(), Value::Null, Severity::Error),
        Value::Mapping(m) => {
            let mut name = None;
            let mut severity = Severity::Error;
            for (k, v) in m {
                match (k.as_str(), v.as_str()) {
                    (Some("severity"), Some("error")) => severity = Severity::Error,
                    (Some("severity"), Some("warn")) => severity = Severity::Warn,
                    (Some("severity"), _) => {
                        return Err(err(
                            format!("severity `{}` is not `error` or `warn`", yaml_text(v)),
                            "write `severity: warn` to only warn when the test fails (the default is `error`)".into(),
                        ));
                    }
                    (Some(k), _) if name.is_none() => name = Some((k, v.clone())),
                    _ => return Err(err("a test names one test".into(), shape.into())),
                }
            }
            let Some((name, arg)) = name else {
                return Err(err("the test has no name".into(), shape.into()));
            };
            (name, arg, severity)
        }
        _ => {
            return Err(err(
                "a test must be a name or a mapping".into(),
                shape.into(),
            ));
        }
    };
    if !kinds.contains(&name) {
        let elsewhere = if column.is_some() {
            TABLE_TESTS
                .contains(&name)
                .then_some("under the model's own `tests:`")
        } else {
            COLUMN_TESTS
                .contains(&name)
                .then_some("under a column's `tests:`")
        };
        let help = match elsewhere {
            Some(place) => format!("`{name}` is declared {place}"),
            None => did_you_mean(name, kinds.iter().copied())
                .unwrap_or_else(|| format!("the tests here are: {}", kinds.join(", "))),
        };
        return Err(err(format!("unknown test `{name}`"), help));
    }
    let needs = |example: &str| {
        err(
            format!("`{name}` needs an argument"),
            format!("for example `{example}`"),
        )
    };
    let check = match name {
        "not_null" | "unique" if !arg.is_null() => {
            return Err(err(
                format!("`{name}` takes no argument"),
                format!("write `- {name}`"),
            ));
        }
        "not_null" => Check::NotNull,
        "unique" => Check::Unique,
        "accepted_values" => {
            let list = match &arg {
                Value::Mapping(m) => m.get("values").cloned().unwrap_or(Value::Null),
                other => other.clone(),
            };
            let Value::Sequence(items) = list else {
                return Err(needs("accepted_values: [tiktok, youtube, organic]"));
            };
            let mut values = Vec::new();
            for item in &items {
                values.push(match item {
                    Value::String(s) => format!("'{}'", s.replace('\'', "''")),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(err(
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
                return Err(needs("accepted_values: [tiktok, youtube, organic]"));
            }
            Check::AcceptedValues(values)
        }
        "relationships" => {
            let example = "relationships: {to: stg_users, field: user_id}";
            let get = |key: &str| arg.get(key).and_then(Value::as_str).map(str::to_string);
            let (Some(to), Some(field)) = (get("to"), get("field")) else {
                return Err(needs(example));
            };
            let to = to.trim().to_ascii_lowercase();
            let parts: Vec<&str> = to.split('.').collect();
            let valid = match parts.as_slice() {
                [name] => is_identifier(name),
                ["raw", name] => is_identifier(name),
                _ => false,
            };
            if !valid {
                return Err(err(
                    format!("relationships: `to: {to}` is not a model or a source"),
                    "name a model (`to: stg_users`) or a source (`to: raw.users`)".into(),
                ));
            }
            if !is_identifier(&field) {
                return Err(err(
                    format!("relationships: `field: {field}` is not a column name"),
                    example.into(),
                ));
            }
            Check::Relationships { to, field }
        }
        "expression" => match arg.as_str() {
            Some(e) if !e.trim().is_empty() => {
                crate::spec::sql::parse(&format!("SELECT 1 WHERE {e}")).map_err(|e| {
                    err(
                        format!("expression: {}", e.message),
                        "write a SQL condition every row must meet, like `amount >= 0`".into(),
                    )
                })?;
                Check::Expression(e.trim().to_string())
            }
            _ => return Err(needs("expression: \"amount >= 0\"")),
        },
        "unique_combination" => {
            let columns: Option<Vec<String>> = arg.as_sequence().map(|s| {
                s.iter()
                    .filter_map(|v| v.as_str().map(str::to_ascii_lowercase))
                    .collect()
            });
            match columns {
                Some(c) if !c.is_empty() && c.iter().all(|c| is_identifier(c)) => {
                    Check::UniqueCombination(c)
                }
                _ => return Err(needs("unique_combination: [order_date, channel]")),
            }
        }
        "row_count" => {
            let bound = |key: &str| match arg.get(key) {
                None => Ok(None),
                Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                    err(
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
                return Err(needs("row_count: {min: 1, max: 1000000}"));
            }
            if let (Some(a), Some(b)) = (min, max)
                && a > b
            {
                return Err(err(
                    format!("row_count: min {a} is above max {b}"),
                    "swap them".into(),
                ));
            }
            Check::RowCount { min, max }
        }
        "sql" => {
            let Some(path) = arg.as_str() else {
                return Err(needs("sql: sql/tests/orders_have_users.sql"));
            };
            let shown = crate::spec::project::display_path(root, std::path::Path::new(path));
            let sql = crate::spec::project::read_text(&root.join(path), &shown).map_err(|e| {
                err(
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
            let name = std::path::Path::new(path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.to_string());
            Check::Sql {
                name,
                path: shown,
                sql,
            }
        }
        _ => unreachable!("the name is one of the known tests"),
    };
    Ok(DataTest {
        check,
        column: column.map(str::to_ascii_lowercase),
        severity,
        declared: at.clone(),
    })
}

fn yaml_text(v: &Value) -> String {
    serde_yaml::to_string(v)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// What running one test found.
#[derive(Debug)]
pub struct Outcome {
    pub test: DataTest,
    /// How many failing rows, and the first few as a table; or why it
    /// could not run.
    pub result: Result<(u64, Option<String>)>,
}

/// A test's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    /// It could not run (a bad column, a missing table).
    Error,
}

impl Verdict {
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }
}

impl Outcome {
    pub fn verdict(&self) -> Verdict {
        match (&self.result, self.test.severity) {
            (Err(_), _) => Verdict::Error,
            (Ok((0, _)), _) => Verdict::Pass,
            (Ok(_), Severity::Warn) => Verdict::Warn,
            (Ok(_), Severity::Error) => Verdict::Fail,
        }
    }

    /// Whether this outcome stops publishing (and fails `mart test`).
    pub fn blocks(&self) -> bool {
        matches!(self.verdict(), Verdict::Fail | Verdict::Error)
    }

    pub fn failing(&self) -> Option<u64> {
        self.result.as_ref().ok().map(|r| r.0)
    }

    /// `FAIL  stg_orders: unique(order_id)  (2 failing rows; where declared)`,
    /// then the first failing rows or the error, indented.
    pub fn render(&self, table: &str) -> String {
        let verdict = self.verdict();
        let word = match verdict {
            Verdict::Pass => "PASS ",
            Verdict::Warn => "WARN ",
            Verdict::Fail => "FAIL ",
            Verdict::Error => "ERROR",
        };
        let mut out = format!("{word} {table}: {}", self.test.name());
        match &self.result {
            Ok((n, sample)) => {
                if *n > 0 {
                    let rows = if matches!(self.test.check, Check::RowCount { .. }) {
                        "row count out of range".to_string()
                    } else {
                        format!("{n} failing {}", if *n == 1 { "row" } else { "rows" })
                    };
                    out.push_str(&format!("  ({rows}; {})\n", self.test.declared));
                    if let Some(sample) = sample {
                        for line in sample.lines() {
                            out.push_str(&format!("      {line}\n"));
                        }
                    }
                } else {
                    out.push_str("  (0 failing rows)\n");
                }
            }
            Err(e) => {
                match &e.location {
                    Some(at) => out.push_str(&format!("  (cannot run; {at})\n")),
                    None => out.push_str("  (cannot run)\n"),
                }
                for line in e.message.lines().chain(e.help.as_deref()) {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        }
        out
    }
}

/// How many failing rows to show.
const SAMPLE: usize = 5;

/// Run `tests` on `table` (its SQL name, registered in `engine`).
pub async fn run_tests(engine: &Engine, table: &str, tests: &[DataTest]) -> Vec<Outcome> {
    // Plan every test first: a test that cannot be planned (a misspelt
    // column, say) is an error pointing at its declaration.
    let mut planned = Vec::with_capacity(tests.len());
    for test in tests {
        planned.push(plan_test(engine, table, test).await);
    }

    // One scan counts the rows failing each row-level test, and all rows.
    let row_level: Vec<usize> = (0..tests.len())
        .filter(|&i| planned[i].is_ok())
        .filter(|&i| {
            tests[i].row_condition().is_some() || matches!(tests[i].check, Check::RowCount { .. })
        })
        .collect();
    let mut counts: Vec<Option<Result<u64>>> = (0..tests.len()).map(|_| None).collect();
    if !row_level.is_empty() {
        let mut select = vec!["count(*)".to_string()];
        select.extend(
            row_level
                .iter()
                .filter_map(|&i| tests[i].row_condition())
                .map(|c| format!("count(CASE WHEN {c} THEN 1 END)")),
        );
        let sql = format!("SELECT {} FROM {table}", select.join(", "));
        let scanned = scan(engine, &sql).await;
        let mut column = 1;
        for &i in &row_level {
            counts[i] = Some(match (&scanned, &tests[i].check) {
                (Err(e), _) => Err(Error::failed(e.message.clone())),
                (Ok(values), Check::RowCount { min, max }) => {
                    let n = values[0];
                    Ok(u64::from(
                        min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m),
                    ))
                }
                (Ok(values), _) => {
                    column += 1;
                    Ok(values[column - 1])
                }
            });
        }
    }

    let mut outcomes = Vec::with_capacity(tests.len());
    for ((test, df), count) in tests.iter().zip(planned).zip(counts) {
        let result = match df {
            Err(e) => Err(e),
            Ok(df) => failures(df, count).await,
        };
        outcomes.push(Outcome {
            test: test.clone(),
            result,
        });
    }
    outcomes
}

/// Plan the query of one test of `table`; an error points at the test.
async fn plan_test(engine: &Engine, table: &str, test: &DataTest) -> Result<DataFrame> {
    let sql = test.failing_sql(table);
    engine.plan(&sql).await.map_err(|e| match &test.check {
        Check::Sql { path, sql, .. } => {
            located_error(&format!("SQL test `{}`", path.display()), path, sql, &e)
        }
        _ => {
            let text = std::fs::read_to_string(&test.declared.file).ok();
            Error::failed(format!(
                "test `{}` of `{table}`: {}",
                test.name(),
                df_message(&e)
            ))
            .at(test.declared.clone(), text.as_deref())
            .help("check the column names and the condition against the table's columns")
        }
    })
}

/// Plan every test of `table` without running it: a test naming a column
/// the table does not have is found before anything is built.
pub async fn check_tests(engine: &Engine, table: &str, tests: &[DataTest]) -> Result<()> {
    for test in tests {
        let readable = test
            .reads()
            .is_none_or(|to| engine.ctx.table_exist(to).unwrap_or(false));
        if readable {
            plan_test(engine, table, test).await?;
        }
    }
    Ok(())
}

/// The count of failing rows (counted already, or by running `df`) and,
/// when there are some, the first few.
async fn failures(df: DataFrame, counted: Option<Result<u64>>) -> Result<(u64, Option<String>)> {
    let n = match counted {
        Some(n) => n?,
        None => df.clone().count().await? as u64,
    };
    if n == 0 {
        return Ok((0, None));
    }
    let batches = df.limit(0, Some(SAMPLE))?.collect().await?;
    let table = pretty_format_batches(&batches).map_err(|e| Error::failed(e.to_string()))?;
    let mut text = table.to_string();
    if n > SAMPLE as u64 {
        text.push_str(&format!("\n(first {SAMPLE} shown)"));
    }
    Ok((n, Some(text)))
}

/// Run a one-row query of counts.
async fn scan(engine: &Engine, sql: &str) -> Result<Vec<u64>> {
    let batches = engine.plan(sql).await?.collect().await?;
    let batch = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| Error::failed("the test scan returned nothing"))?;
    Ok(batch
        .columns()
        .iter()
        .map(|c| {
            c.as_any()
                .downcast_ref::<Int64Array>()
                .filter(|a| !a.is_null(0))
                .map_or(0, |a| a.value(0).max(0) as u64)
        })
        .collect())
}

/// How many of `outcomes` passed, warned and failed (or could not run).
pub fn tally(outcomes: &[Outcome]) -> (usize, usize, usize) {
    outcomes
        .iter()
        .fold((0, 0, 0), |(p, w, f), o| match o.verdict() {
            Verdict::Pass => (p + 1, w, f),
            Verdict::Warn => (p, w + 1, f),
            Verdict::Fail | Verdict::Error => (p, w, f + 1),
        })
}

/// A test's outcome as `run_results.json` records it.
#[derive(Debug, Clone, Serialize)]
pub struct TestRecord {
    pub test: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub severity: Severity,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<&Outcome> for TestRecord {
    fn from(o: &Outcome) -> Self {
        TestRecord {
            test: o.test.name(),
            column: o.test.column.clone(),
            severity: o.test.severity,
            status: o.verdict().key(),
            failing: o.failing(),
            message: o.result.as_ref().err().map(|e| e.message.clone()),
        }
    }
}

/// `mart test`: run the tests of the selected sources and models against
/// what is published.
pub async fn run(global: &Global, args: &TestArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let project = Project::load(&global.project)?;
    let dag = Dag::build(&project)?;
    let selection = select::select(&project, &dag, &args.selection)?;
    let warehouse = Warehouse::new(global.warehouse_dir());
    let engine = Engine::new(&global.config(&project.config))?;
    build::register_all(&engine, &project, &dag, &warehouse).await?;

    let mut targets: Vec<(String, &[DataTest])> = Vec::new();
    for (s, source) in project.sources.iter().enumerate() {
        if selection.has_source(s) && !source.tests.is_empty() {
            targets.push((format!("raw.{}", source.name), &source.tests));
        }
    }
    for &m in dag.order.iter().filter(|&&m| selection.has_model(m)) {
        let model = &project.models[m];
        if !model.tests.is_empty() {
            targets.push((model.name.clone(), &model.tests));
        }
    }
    let (mut passed, mut warned, mut failed) = (0, 0, 0);
    let mut records = Vec::new();
    for (table, tests) in &targets {
        let outcomes = if engine.ctx.table_exist(table.as_str()).unwrap_or(false) {
            run_tests(&engine, table, tests).await
        } else {
            let missing = || {
                Err(Error::failed(format!(
                    "`{table}` is not built: run `mart build` first"
                )))
            };
            tests
                .iter()
                .map(|t| Outcome {
                    test: t.clone(),
                    result: missing(),
                })
                .collect()
        };
        let (p, w, f) = tally(&outcomes);
        (passed, warned, failed) = (passed + p, warned + w, failed + f);
        for o in &outcomes {
            if args.format == crate::cli::ListFormat::Text {
                print!("{}", o.render(table));
            }
            records.push((table.clone(), TestRecord::from(o)));
        }
    }
    if args.format == crate::cli::ListFormat::Json {
        #[derive(Serialize)]
        struct Line<'a> {
            table: &'a str,
            #[serde(flatten)]
            record: &'a TestRecord,
        }
        let lines: Vec<Line> = records
            .iter()
            .map(|(table, record)| Line { table, record })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&lines).map_err(|e| Error::failed(e.to_string()))?
        );
    } else if targets.is_empty() {
        println!("No tests in the selection: declare them under `tests:` in marts/.");
    } else {
        println!(
            "Done in {:.2}s: {passed} passed, {warned} warned, {failed} failed.",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
