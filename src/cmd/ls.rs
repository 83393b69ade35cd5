//! `mart ls`: the selected models, in build order, with what they read.

use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{Global, ListFormat, LsArgs};
use crate::spec::dag::Dag;
use crate::base::error::{Error, Result};
use crate::spec::project::Project;
use crate::spec::select;

#[derive(Serialize)]
struct Item<'a> {
    name: &'a str,
    materialized: &'static str,
    sql: String,
    depends_on: Vec<String>,
    tags: &'a [String],
    description: Option<&'a str>,
}

pub fn run(global: &Global, args: &LsArgs) -> Result<ExitCode> {
    let project = Project::load(&global.project)?;
    let dag = Dag::build(&project)?;
    let selection = select::select(&project, &dag, &args.selection)?;
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
                depends_on: dag.deps[m].iter().map(|d| d.name(&project)).collect(),
                tags: &model.tags,
                description: model.description.as_deref(),
            }
        })
        .collect();
    match args.format {
        ListFormat::Json => {
            let json =
                serde_json::to_string_pretty(&items).map_err(|e| Error::failed(e.to_string()))?;
            println!("{json}");
        }
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
                println!("{}", line.trim_end());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
