//! `mart test`: run the data tests of the selected sources and models on
//! what is published.

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::cmd::{ExitStatus, ListFormat, json};
use crate::run::audit::{Outcome, TestRecord, run_tests, tally};
use crate::run::report::{Printer, TestCounts};
use crate::run::workspace::Workspace;
use crate::spec::select::{self, Selector};

/// `mart test`: run the tests of the selected sources and models against
/// what is published.
pub async fn run(
    ws: &Workspace,
    selector: &Selector,
    format: ListFormat,
    printer: &Arc<dyn Printer>,
) -> Result<ExitStatus> {
    let started = Instant::now();
    let (project, dag) = (&ws.project, &ws.dag);
    let selection = select::select(project, dag, selector)?;
    let engine = ws.reader().await?;

    let targets = selection.tested(project, dag);
    let mut counts = TestCounts::default();
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
        counts.add(tally(&outcomes));
        for o in &outcomes {
            if format == ListFormat::Text {
                printer.out(&o.render(table))?;
            }
            records.push((table.clone(), TestRecord::from(o)));
        }
    }
    if format == ListFormat::Json {
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
        printer.line(&json(&lines)?)?;
    } else if targets.is_empty() {
        printer.line("No tests in the selection: declare them under `tests:` in marts/.")?;
    } else {
        printer.line(&format!(
            "Done in {:.2}s: {} passed, {} warned, {} failed.",
            started.elapsed().as_secs_f64(),
            counts.passed,
            counts.warned,
            counts.failed
        ))?;
    }
    Ok(ExitStatus::failed_if(counts.failed > 0))
}
