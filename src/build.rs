//! `mart build`: land what is stale, then run every model in dependency
//! order. A model that fails keeps its previous version; the models that
//! read it are skipped; the others still build.

use std::process::ExitCode;
use std::time::Instant;

use datafusion::error::DataFusionError;

use crate::cli::Global;
use crate::dag::{Dag, Node};
use crate::engine::Engine;
use crate::error::{Error, Location, Result, df_message};
use crate::land::land_sources;
use crate::project::{Materialized, Model, Project};
use crate::report::{self, Status, Summary};
use crate::sql::error_position;
use crate::warehouse::{Warehouse, Zone};

pub async fn run(global: &Global) -> Result<ExitCode> {
    let started = Instant::now();
    // Everything that can be checked without running is checked before
    // anything is written: the YAML, the SQL, the graph (and, in
    // `land_sources`, the input files).
    let project = Project::load(&global.project)?;
    for warning in &project.warnings {
        eprintln!("warning: {warning}");
    }
    let dag = Dag::build(&project)?;
    let warehouse = Warehouse::new(global.warehouse_dir());
    let engine = Engine::new()?;
    let mut summary = Summary::default();
    let sources: Vec<_> = project.sources.iter().collect();
    let source_status = land_sources(&engine, &project, &warehouse, &sources, &mut summary).await?;

    let mut model_status = vec![Status::Skipped; project.models.len()];
    for &m in &dag.order {
        let model = &project.models[m];
        let kind = model.materialized.as_str();
        let failed_input = dag.deps[m].iter().find_map(|d| match *d {
            Node::Source(s) if source_status[s] == Status::Failed => {
                Some(format!("raw.{}", project.sources[s].name))
            }
            Node::Model(x) if matches!(model_status[x], Status::Failed | Status::Skipped) => {
                Some(project.models[x].name.clone())
            }
            _ => None,
        });
        let status = if let Some(input) = failed_input {
            report::line(
                Status::Skipped,
                kind,
                &model.name,
                &format!("({input} failed)"),
                None,
            );
            Status::Skipped
        } else {
            let t = Instant::now();
            match build_model(&engine, &warehouse, model).await {
                Ok(rows) => {
                    let detail = rows.map(report::rows).unwrap_or_default();
                    report::line(Status::Built, kind, &model.name, &detail, Some(t.elapsed()));
                    Status::Built
                }
                Err(err) => {
                    report::line(Status::Failed, kind, &model.name, "", Some(t.elapsed()));
                    eprint!("{err}");
                    Status::Failed
                }
            }
        };
        model_status[m] = status;
        summary.add(status);
    }
    summary.print(started.elapsed());
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Run one model: plan its query against what is built, then write it
/// (table) or register it for the models that read it (view, ephemeral).
/// Returns the rows written, for a table.
async fn build_model(engine: &Engine, warehouse: &Warehouse, model: &Model) -> Result<Option<u64>> {
    let df = engine
        .plan(&model.sql)
        .await
        .map_err(|e| model_error(model, &e))?;
    for p in &model.partition_by {
        if df.schema().field_with_unqualified_name(p).is_err() {
            let columns: Vec<&str> = df
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            let text = std::fs::read_to_string(&model.declared.file).ok();
            return Err(Error::failed(format!(
                "model `{}`: partition_by column `{p}` is not in its output",
                model.name
            ))
            .at(model.declared.clone(), text.as_deref())
            .help(format!("the query's columns are: {}", columns.join(", "))));
        }
    }
    match model.materialized {
        Materialized::Table => {
            let version = engine
                .materialize(
                    warehouse,
                    Zone::Mart,
                    &model.name,
                    df,
                    &model.partition_by,
                    Vec::new(),
                )
                .await
                .map_err(|e| {
                    Error::failed(format!("model `{}` failed: {}", model.name, e.message))
                        .at(Location::new(&model.sql_display, 0, 0), None)
                })?;
            Ok(Some(version.record.rows))
        }
        Materialized::View | Materialized::Ephemeral => {
            engine.register_view(&model.name, df)?;
            Ok(None)
        }
    }
}

/// A planning error in a model, pointed at its SQL.
pub fn model_error(model: &Model, err: &DataFusionError) -> Error {
    let (line, column, len) = error_position(err, &model.sql).unwrap_or((0, 0, 1));
    let at = Location::new(&model.sql_display, line, column).with_len(len);
    Error::failed(format!("model `{}`: {}", model.name, df_message(err))).at(at, Some(&model.sql))
}

/// Register, in dependency order, the views and ephemeral models of
/// `project` on top of the tables already registered. Models that cannot be
/// planned (an upstream table never built) are left out.
pub async fn register_views(engine: &Engine, project: &Project, dag: &Dag) {
    for &m in &dag.order {
        let model = &project.models[m];
        if model.materialized != Materialized::Table {
            if let Ok(df) = engine.plan(&model.sql).await {
                let _ = engine.register_view(&model.name, df);
            }
        }
    }
}
