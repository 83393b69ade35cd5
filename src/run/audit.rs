//! The audit: running data tests. Every test becomes a query returning the
//! rows that break it (as dbt does). Tests that look at one row at a time
//! (`not_null`, `accepted_values`, `expression`) and `row_count` are
//! counted together in one scan of the table; the others (`unique`,
//! `unique_combination`, `relationships`, SQL tests) are a query each. The
//! failing rows are read only when there are some. `mart build` runs the
//! tests of each model on its new version before publishing it; `mart test`
//! runs them on what is published.

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::DataFrame;
use serde::Serialize;

use crate::base::error::{Error, Result, df_message};
use crate::engine::Engine;
use crate::run::report::{self, TestCounts};
use crate::spec::datatest::{Check, DataTest, Severity};
use crate::spec::sql::located_error;

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
                        format!(
                            "{} failing {}",
                            report::count(*n),
                            if *n == 1 { "row" } else { "rows" }
                        )
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
        _ => Error::failed(format!(
            "test `{}` of `{table}`: {}",
            test.name(),
            df_message(&e)
        ))
        .at(test.declared.clone(), None)
        .help("check the column names and the condition against the table's columns"),
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
pub fn tally(outcomes: &[Outcome]) -> TestCounts {
    let mut counts = TestCounts::default();
    for o in outcomes {
        match o.verdict() {
            Verdict::Pass => counts.passed += 1,
            Verdict::Warn => counts.warned += 1,
            Verdict::Fail | Verdict::Error => counts.failed += 1,
        }
    }
    counts
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
