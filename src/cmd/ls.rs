//! `mart ls`: the selected models, in build order, with what they read.

use serde::Serialize;

use crate::base::error::Result;
use crate::cmd::{ExitStatus, ListFormat, json};
use crate::run::report::Printer;
use crate::run::workspace::Workspace;
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
    match format {
        ListFormat::Json => printer.line(&json(&items)?)?,
        ListFormat::Text => {
            let width = items.iter().map(|i| i.name.len()).max().unwrap_or(0);
            for item in &items {
                let mut line =
                    format!("{:<width$}  {:<11}  <- {}", item.name, item.materialized, {
                        if item.depends_on.is_empty() {
                            "(nothing)".to_string()
                        } else {
                            item.depends_on.join(", ")
                        }
                    });
                if !item.tags.is_empty() {
                    line.push_str(&format!("  [{}]", item.tags.join(", ")));
                }
                printer.line(line.trim_end())?;
            }
        }
    }
    Ok(ExitStatus::Success)
}
