//! What a build would publish for one model, planned without writing
//! anything: `mart show`.

use datafusion::prelude::DataFrame;

use crate::base::error::{Error, Result};
use crate::run::fingerprint;
use crate::run::model::plan_checked;
use crate::run::workspace::Workspace;
use crate::spec::project::ModelId;
use crate::spec::select::{self, Selector};
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
    for x in upstream(ws, m)? {
        let model = &ws.project.models[x];
        let edited = published_definition(ws, x)? != Some(fingerprint::definition(model));
        if edited || ws.dag.model_deps(x).any(|d| planned[d]) {
            let df = plan_checked(&engine, model)
                .await
                .map_err(Error::into_usage)?;
            engine.register_view(&model.name, df)?;
            planned[x] = true;
            names.push(model.name.clone());
        }
    }
    let df = plan_checked(&engine, &ws.project.models[m])
        .await
        .map_err(Error::into_usage)?;
    Ok((df, names))
}

/// The models `m` reads, directly or not, in build order: what the
/// selector `+m` selects, less `m`.
fn upstream(ws: &Workspace, m: ModelId) -> Result<Vec<ModelId>> {
    let name = ws.project.models[m].name.clone();
    let selector = Selector {
        select: vec![format!("+{name}")],
        exclude: vec![name],
    };
    let selection = select::select(&ws.project, &ws.dag, &selector)?;
    Ok(ws
        .dag
        .order
        .iter()
        .copied()
        .filter(|&x| selection.has_model(x))
        .collect())
}

/// The definition fingerprint of what model `x` has published, if anything.
fn published_definition(ws: &Workspace, x: ModelId) -> Result<Option<String>> {
    let model = &ws.project.models[x];
    Ok(match model.materialized.is_stored() {
        true => (ws.warehouse.current(Zone::Mart, &model.name)?).map(|v| v.record.meta.definition),
        false => ws.warehouse.view(&model.name).map(|v| v.meta.definition),
    })
}
