//! `mart ls`: the selected models, in build order, with what they read;
//! or (`--resource-type test`) their data tests and their sources'.

use serde::Serialize;

use crate::base::error::Result;
use crate::cmd::{ExitStatus, ListFormat, json};
use crate::run::report::Printer;
use crate::run::workspace::Workspace;
use crate::spec::datatest::Severity;
use crate::spec::select::{self, Selector};

#[derive(Serialize)]
struct Item<'a> {
    name: &'a str,
    materialized: &'static str,
    sql: String,
    depends_on: Vec<String>,
    tags: &'a [String],
    description: Option<&'a str>,
}

pub fn run(
    ws: &Workspace,
    selector: &Selector,
    format: ListFormat,
    printer: &dyn Printer,
) -> Result<ExitStatus> {
    let (project, dag) = (&*ws.project, &*ws.dag);
    let selection = select::select(project, dag, selector)?;
    let items: Vec<Item> = dag
        .order
        .iter()
        .filter(|&&m| selection.has_model(m))
        .map(|&m| {
            let model = &project.models[m];
            Item {
                name: &model.name,
                materialized: model.materialized.as_str(),
                sql: model.sql_path.display().to_string(),
                depends_on: dag.deps[m].iter().map(|d| d.name(project)).collect(),
                tags: &model.tags,
                description: model.description.as_deref(),
            }
        })
        .collect();
    print(
        &items,
        format,
        printer,
        |i| i.name,
        |item| {
            let reads = match item.depends_on.is_empty() {
                true => "(nothing)".to_string(),
                false => item.depends_on.join(", "),
            };
            let mut line = format!("{:<11}  <- {reads}", item.materialized);
            if !item.tags.is_empty() {
                line.push_str(&format!("  [{}]", item.tags.join(", ")));
            }
            line
        },
    )?;
    Ok(ExitStatus::Success)
}

#[derive(Serialize)]
struct TestItem {
    table: String,
    test: String,
    severity: Severity,
    declared: String,
}

/// The data tests of the selected sources and models, in build order.
pub fn tests(
    ws: &Workspace,
    selector: &Selector,
    format: ListFormat,
    printer: &dyn Printer,
) -> Result<ExitStatus> {
    let (project, dag) = (&*ws.project, &*ws.dag);
    let selection = select::select(project, dag, selector)?;
    let items: Vec<TestItem> = (selection.tested(project, dag).into_iter())
        .flat_map(|(table, tests)| {
            tests.iter().map(move |t| TestItem {
                table: table.clone(),
                test: t.name(),
                severity: t.severity,
                declared: t.declared.to_string(),
            })
        })
        .collect();
    print(
        &items,
        format,
        printer,
        |i| &i.table,
        |i| {
            let warn = if i.severity == Severity::Warn {
                "  (warn)"
            } else {
                ""
            };
            format!("{}{warn}", i.test)
        },
    )?;
    Ok(ExitStatus::Success)
}

/// `items` as a JSON array, or a line each: `first` in a column as wide as
/// the widest, then `rest`.
fn print<T: Serialize>(
    items: &[T],
    format: ListFormat,
    printer: &dyn Printer,
    first: impl Fn(&T) -> &str,
    rest: impl Fn(&T) -> String,
) -> Result<()> {
    if format == ListFormat::Json {
        return printer.line(&json(&items)?);
    }
    let width = items.iter().map(|i| first(i).len()).max().unwrap_or(0);
    for item in items {
        let line = format!("{:<width$}  {}", first(item), rest(item));
        printer.line(line.trim_end())?;
    }
    Ok(())
}
