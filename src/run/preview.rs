//! What a build would publish for one model, planned without writing
//! anything: `mart show`.

use datafusion::prelude::DataFrame;

use crate::base::error::{Error, Kind, Result};
use crate::run::fingerprint;
use crate::run::model::plan_checked;
use crate::run::workspace::Workspace;
use crate::spec::project::ModelId;
use crate::storage::warehouse::Zone;

/// Model `m`'s current SQL planned over what is published, except that
/// the models upstream of it that a build would rebuild first (their SQL
/// or settings changed since they were built, they never were, or they
/// read such a model) are planned from their SQL too, as views. Returns
/// the plan and the names of those models, in build order. (Sources are
/// read as landed.)
pub async fn preview(ws: &Workspace, m: ModelId) -> Result<(DataFrame, Vec<String>)> {
    let engine = ws.reader().await?;
    let mut planned = vec![false; ws.project.models.len()];
    let mut names = Vec::new();
    for x in upstream(ws, m) {
        let model = &ws.project.models[x];
        let edited = published_definition(ws, x)? != Some(fingerprint::definition(model));
        if edited || ws.dag.model_deps(x).any(|d| planned[d]) {
            let df = plan_checked(&engine, model).await.map_err(as_usage)?;
            engine.register_view(&model.name, df)?;
            planned[x] = true;
            names.push(model.name.clone());
        }
    }
    let df = plan_checked(&engine, &ws.project.models[m])
        .await
        .map_err(as_usage)?;
    Ok((df, names))
}

/// A model that does not plan is bad input, as in a build (exit 2).
fn as_usage(mut e: Error) -> Error {
    e.kind = Kind::Usage;
    e
}

/// The models `m` reads, directly or not, in build order.
fn upstream(ws: &Workspace, m: ModelId) -> Vec<ModelId> {
    let dag = &ws.dag;
    let mut seen = vec![false; dag.deps.len()];
    let mut stack: Vec<ModelId> = dag.model_deps(m).collect();
    while let Some(x) = stack.pop() {
        if !std::mem::replace(&mut seen[x], true) {
            stack.extend(dag.model_deps(x));
        }
    }
    dag.order.iter().copied().filter(|&x| seen[x]).collect()
}

/// The definition fingerprint of what model `x` has published, if anything.
fn published_definition(ws: &Workspace, x: ModelId) -> Result<Option<String>> {
    let model = &ws.project.models[x];
    Ok(match model.materialized.is_stored() {
        true => (ws.warehouse.current(Zone::Mart, &model.name)?).map(|v| v.record.meta.definition),
        false => ws.warehouse.view(&model.name).map(|v| v.meta.definition),
    })
}
