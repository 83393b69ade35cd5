//! Planning before building: every selected model and its tests are
//! planned over the columns of what they read before any model is written.

use std::collections::BTreeMap;

use crate::base::error::{Error, Result};
use crate::engine::{Engine, EngineOptions};
use crate::run::audit;
use crate::run::model::{Options, plan_checked};
use crate::run::registry::{Published, Registered, State, register_unselected};
use crate::spec::dag::Dag;
use crate::spec::project::{ModelId, Project};
use crate::spec::select::Selection;
use crate::storage::warehouse::{Warehouse, Zone};

/// Plan every selected model in build order, over the columns of what it
/// reads, and its data tests, before any model is built: an unknown
/// column, a test of a column the model does not have or a partition
/// column it lacks exits 2 with its location, and no model is written.
/// (Sources are landed first: their columns are what models plan over.)
/// A model whose data is up to date as far as can be told before building
/// is not planned again: its published columns stand in for it. Returns
/// what each selected model has published, read once for the build.
/// `state` starts empty: planning registers its own stand-ins.
pub async fn plan_all(
    engine: &EngineOptions,
    project: &Project,
    dag: &Dag,
    warehouse: &Warehouse,
    selection: &Selection,
    options: Options,
    mut state: State,
) -> Result<Vec<Published>> {
    let mut out = vec![Published::default(); project.models.len()];
    let engine = Engine::new(engine)?;
    register_unselected(&engine, project, dag, warehouse, selection, &mut state).await?;
    // Up-to-date models whose published columns are not registered yet.
    let mut stand_in = vec![false; project.models.len()];
    for &m in dag.order.iter().filter(|&&m| selection.has_model(m)) {
        let model = &project.models[m];
        out[m] = match model.materialized.is_stored() {
            true => Published {
                table: warehouse.current(Zone::Mart, &model.name)?,
                view: None,
            },
            false => Published {
                table: None,
                view: warehouse.view(&model.name),
            },
        };
        if dag.deps[m].iter().any(|d| state.registered(*d).is_none()) {
            continue; // skipped when built: what it reads is missing
        }
        let fp = state.fingerprints(project, dag, m);
        let published = match &out[m] {
            Published { table: Some(v), .. } => Some((&v.record.meta, &v.record.schema)),
            Published { view: Some(v), .. } => Some((&v.meta, &v.schema)),
            _ => None,
        };
        let (tested, registered) = match published {
            Some((meta, _)) if !options.full_refresh && meta.fingerprint == fp.data => {
                // Its published columns stand in, registered only if a
                // model planned later reads them (a no-op build plans none).
                stand_in[m] = true;
                let registered = Registered::model(&model.name, meta, meta.upstream.as_ref());
                (meta.tested.clone(), registered)
            }
            _ => {
                let reads = dag.model_deps(m).chain(dag.waits_for(m));
                register_stand_ins(&engine, project, &out, &mut stand_in, reads)?;
                let df = plan_checked(&engine, model)
                    .await
                    .map_err(Error::into_usage)?;
                engine.register_empty(&model.name, df.schema().as_arrow())?;
                // Not built yet: a fingerprint no version has, so that
                // what reads it is planned too.
                let registered = Registered {
                    fingerprint: format!("planned {}", fp.data),
                    definition: fp.definition.clone(),
                    sources: BTreeMap::new(),
                };
                (String::new(), registered)
            }
        };
        if options.test && tested != fp.tests {
            let reads = dag.waits_for(m).chain([m]);
            register_stand_ins(&engine, project, &out, &mut stand_in, reads)?;
            audit::check_tests(&engine, &model.name, &model.tests)
                .await
                .map_err(Error::into_usage)?;
        }
        state.models[m].registered = Some(registered);
    }
    Ok(out)
}

/// Register the published columns of those of `models` that stand in for
/// up-to-date models, for planning what reads them.
fn register_stand_ins(
    engine: &Engine,
    project: &Project,
    published: &[Published],
    stand_in: &mut [bool],
    models: impl Iterator<Item = ModelId>,
) -> Result<()> {
    for x in models {
        let schema = match &published[x] {
            Published { table: Some(v), .. } => &v.record.schema,
            Published { view: Some(v), .. } => &v.schema,
            _ => continue,
        };
        if std::mem::take(&mut stand_in[x]) {
            engine.register_empty(&project.models[x].name, schema)?;
        }
    }
    Ok(())
}
