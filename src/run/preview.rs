//! What a build would publish for one model, planned without writing
//! anything, and the SQL it would run: `mart show`.

use std::collections::BTreeMap;

use datafusion::prelude::DataFrame;
use datafusion::sql::unparser::expr_to_sql;

use crate::base::error::{Error, Result};
use crate::run::model::plan_checked;
use crate::run::workspace::Workspace;
use crate::run::{fingerprint, incremental};
use crate::spec::dag::Node;
use crate::spec::project::ModelId;
use crate::spec::select::{self, Selector};
use crate::storage::warehouse::{Meta, Origin, Zone};

/// Model `m`'s current SQL planned over what is published, except that
/// the models upstream of it that a build would rebuild first (their SQL
/// or settings changed since they were built, they never were, or they
/// read such a model) are planned from their SQL too, as views. Returns
/// the plan and the names of those models, in build order. (Sources are
/// read as landed.)
pub async fn preview(ws: &Workspace, m: ModelId) -> Result<(DataFrame, Vec<String>)> {
    let upstream = upstream(ws, m)?;
    landed(ws, upstream.iter().chain([&m]))?;
    let engine = ws.reader().await?;
    let mut planned = vec![false; ws.project.models.len()];
    let mut names = Vec::new();
    for x in upstream {
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

/// An error naming the first source that `models` read and that was
/// never landed: what they would be planned over is not there.
fn landed<'a>(ws: &Workspace, models: impl Iterator<Item = &'a ModelId>) -> Result<()> {
    for &x in models {
        for node in &ws.dag.deps[x] {
            let Node::Source(s) = *node else { continue };
            let name = &ws.project.sources[s].name;
            if ws.warehouse.current(Zone::Raw, name)?.is_none() {
                let model = &ws.project.models[x];
                return Err(Error::usage(format!(
                    "model `{}` reads source `{name}`, which is not landed yet",
                    model.name
                ))
                .help(format!(
                    "land it first: mart land {name} (or build: mart build)"
                )));
            }
        }
    }
    Ok(())
}

/// The SQL a build of model `m` would run now, `edited` the models upstream
/// that it would rebuild first: the model's own, and for an incremental
/// model that adds to its stored rows, that restricted to the rows it
/// recomputes. A comment line says which.
pub async fn sql(ws: &Workspace, m: ModelId, edited: &[String]) -> Result<String> {
    let model = &ws.project.models[m];
    let text = model.sql.trim().trim_end_matches(';').trim_end();
    let Some(spec) = &model.incremental else {
        return Ok(text.to_string());
    };
    let whole = |why: &str| format!("-- built whole: {why}\n{text}");
    let Some(current) = ws.warehouse.current(Zone::Mart, &model.name)? else {
        return Ok(whole("nothing is stored yet"));
    };
    let meta = &current.record.meta;
    let now = upstream_now(ws, meta, edited)?;
    let definition = fingerprint::definition(model);
    if let Some(why) = incremental::must_rebuild(meta, &definition, &now) {
        return Ok(whole(&why));
    }
    // Reading its stored version needs no other table registered.
    let Some(filter) = incremental::filter(&ws.session()?, model, spec, &current).await? else {
        return Ok(whole("nothing is stored to add to"));
    };
    let filter = expr_to_sql(&filter)?;
    Ok(format!(
        "-- incremental: only these rows are computed; the stored rows they do not replace are kept\n\
         SELECT * FROM (\n{text}\n) AS {}\nWHERE {filter}",
        model.name
    ))
}

/// What a stored version was built from (`meta.upstream`), as a build
/// would find it now: each source's landing, each model's SQL and
/// settings, each incremental model's chain of additions (a new one when
/// it is in `edited`, as it is rebuilt whole). Gone tables are left out.
fn upstream_now(
    ws: &Workspace,
    meta: &Meta,
    edited: &[String],
) -> Result<BTreeMap<String, Origin>> {
    let current = |zone, name: &str| -> Result<Option<Origin>> {
        let version = ws.warehouse.current(zone, name)?;
        Ok(version.map(|v| v.record.meta.source_origin()))
    };
    let mut now = BTreeMap::new();
    for (name, then) in meta.upstream.iter().flatten() {
        let origin = match (name.strip_prefix("raw."), ws.project.model_id(name)) {
            (Some(source), _) => current(Zone::Raw, source)?,
            (None, None) => None,
            (None, Some(x)) => match then {
                Origin::Model { .. } => Some(Origin::Model {
                    definition: fingerprint::definition(&ws.project.models[x]),
                }),
                Origin::Source { .. } if edited.contains(name) => Some(Origin::Source {
                    base: "rebuilt whole".into(),
                    appends: 0,
                }),
                Origin::Source { .. } => current(Zone::Mart, name)?,
            },
        };
        now.extend(origin.map(|o| (name.clone(), o)));
    }
    Ok(now)
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
