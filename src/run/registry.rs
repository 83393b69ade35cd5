//! What is registered under each table's name in a run, and what that
//! makes of each model's fingerprints: a model's data fingerprint is its
//! definition's over those of what it reads, as registered now.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::base::error::{Error, Result, df_message};
use crate::engine::Engine;
use crate::run::fingerprint;
use crate::run::incremental;
use crate::run::report::Status;
use crate::spec::dag::{Dag, Node};
use crate::spec::project::{ModelId, Project};
use crate::spec::select::Selection;
use crate::storage::warehouse::{Meta, Origin, Version, ViewRecord, Warehouse, Zone};

/// What decides a model's output, and what it is built from.
pub struct Fingerprints {
    /// Its SQL and settings.
    pub definition: String,
    /// Its data: its definition and the data of what it reads.
    pub data: String,
    /// What it is built from (see `Meta::upstream`): every source it reads,
    /// directly or not, and for an incremental model every model too.
    pub upstream: BTreeMap<String, Origin>,
    /// Its data tests, with the data of the other tables they read.
    pub tests: String,
}

/// What a model has published: a table's version, or a view's definition.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub table: Option<Version>,
    pub view: Option<ViewRecord>,
}

/// Up-to-date models a build has not registered yet. Each is registered
/// once a model that runs (or a test) reads it: a no-op build of 10,000
/// models registers none, and plans none of their views.
pub struct Deferred {
    pending: Vec<Option<Published>>,
    /// Each model's place in build order.
    rank: Vec<usize>,
}

impl Deferred {
    pub fn new(dag: &Dag) -> Deferred {
        let mut rank = vec![0; dag.deps.len()];
        for (i, &m) in dag.order.iter().enumerate() {
            rank[m] = i;
        }
        Deferred {
            pending: vec![None; dag.deps.len()],
            rank,
        }
    }

    pub fn defer(&mut self, m: ModelId, published: Published) {
        self.pending[m] = Some(published);
    }

    /// Register those of `models` that are deferred, after the deferred
    /// models their views read (a view is planned over what it reads).
    pub async fn register(
        &mut self,
        engine: &Engine,
        dag: &Dag,
        models: impl IntoIterator<Item = ModelId>,
    ) -> Result<()> {
        let mut due = Vec::new();
        let mut stack: Vec<ModelId> = models.into_iter().collect();
        while let Some(m) = stack.pop() {
            if let Some(published) = self.pending[m].take() {
                if published.view.is_some() {
                    stack.extend(dag.model_deps(m));
                }
                due.push((m, published));
            }
        }
        due.sort_by_key(|(m, _)| self.rank[*m]);
        for (_, published) in due {
            match published {
                Published {
                    table: Some(version),
                    ..
                } => engine.register(Zone::Mart, &version).await?,
                Published {
                    view: Some(view), ..
                } => {
                    let df = engine.plan(&view.sql).await.map_err(|e| {
                        let e = df_message(&e);
                        Error::failed(format!("view `{}` no longer plans: {e}", view.name))
                    })?;
                    engine.register_view(&view.name, df)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What is registered under a table's name in this run.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The fingerprint of its data.
    pub fingerprint: String,
    /// For a model, the fingerprint of its SQL and settings.
    pub definition: String,
    /// The sources it was built from, directly or not (itself, for a
    /// source): a map as small as the project's sources, so that carrying
    /// it down a deep graph stays cheap.
    pub sources: BTreeMap<String, Origin>,
}

impl Registered {
    pub fn source(name: &str, meta: &Meta) -> Registered {
        Registered {
            fingerprint: meta.fingerprint.clone(),
            definition: String::new(),
            sources: BTreeMap::from([(format!("raw.{name}"), meta.source_origin())]),
        }
    }

    /// A model's version, from its record and what it was built from. An
    /// incremental model's versions add to each other as a source's do:
    /// its readers see it as one (rebuilt whole, it is landed whole).
    pub fn model(
        name: &str,
        meta: &Meta,
        upstream: Option<&BTreeMap<String, Origin>>,
    ) -> Registered {
        let mut sources: BTreeMap<String, Origin> = upstream
            .into_iter()
            .flatten()
            .filter(|(_, o)| matches!(o, Origin::Source { .. }))
            .map(|(n, o)| (n.clone(), o.clone()))
            .collect();
        let mut fingerprint = meta.fingerprint.clone();
        if !meta.base.is_empty() {
            // Rebuilt whole from the same inputs, it may still differ from
            // what it added up to (rows later than the lookback): a new
            // chain is new data to its readers.
            fingerprint = fingerprint::model(&fingerprint, &[&meta.base]);
            sources.insert(name.to_string(), meta.source_origin());
        }
        Registered {
            fingerprint,
            definition: meta.definition.clone(),
            sources,
        }
    }
}

/// How a source or model fared in this run, and what is registered under
/// its name (`None`: nothing usable).
#[derive(Debug, Clone)]
pub struct Fared {
    pub status: Status,
    pub registered: Option<Registered>,
}

impl Fared {
    pub fn new(status: Status, registered: Option<Registered>) -> Fared {
        Fared { status, registered }
    }
}

/// How each source and model fared in this run.
pub struct State {
    pub sources: Vec<Fared>,
    pub models: Vec<Fared>,
    /// The fingerprint of each selected model's SQL and settings, made
    /// once (normalising SQL is most of a no-op build's own work).
    pub definitions: Arc<Vec<String>>,
}

impl State {
    pub fn new(project: &Project, definitions: Arc<Vec<String>>) -> State {
        State {
            sources: vec![Fared::new(Status::Skipped, None); project.sources.len()],
            models: vec![Fared::new(Status::Skipped, None); project.models.len()],
            definitions,
        }
    }

    /// The fingerprints of model `m` over what is registered now.
    pub fn fingerprints(&self, project: &Project, dag: &Dag, m: ModelId) -> Fingerprints {
        let model = &project.models[m];
        let definition = self.definitions[m].clone();
        let (data, mut upstream) = self.over_inputs(dag, m, &definition);
        if model.incremental.is_some() {
            self.models_upstream(project, dag, m, &mut upstream);
        }
        let reads: Vec<&str> = dag.test_deps[m]
            .iter()
            .map(|d| self.fingerprint(*d))
            .collect();
        Fingerprints {
            tests: fingerprint::tests(&model.tests, &reads),
            definition,
            data,
            upstream,
        }
    }

    /// The data fingerprint of model `m` defined by `definition` over its
    /// inputs as registered now, and the sources they were built from.
    pub fn over_inputs(
        &self,
        dag: &Dag,
        m: ModelId,
        definition: &str,
    ) -> (String, BTreeMap<String, Origin>) {
        let fingerprints: Vec<&str> = dag.deps[m].iter().map(|d| self.fingerprint(*d)).collect();
        let mut upstream = BTreeMap::new();
        for d in &dag.deps[m] {
            if let Some(r) = self.registered(*d) {
                incremental::merge(&mut upstream, &r.sources);
            }
        }
        (fingerprint::model(definition, &fingerprints), upstream)
    }

    /// Add the definition of every model `m` reads, directly or not, as
    /// registered now: what an incremental model compares with the stored
    /// version's to tell whether it may add to it. Only incremental models
    /// pay this walk.
    pub fn models_upstream(
        &self,
        project: &Project,
        dag: &Dag,
        m: ModelId,
        into: &mut BTreeMap<String, Origin>,
    ) {
        let mut stack: Vec<ModelId> = dag.model_deps(m).collect();
        while let Some(x) = stack.pop() {
            let name = &project.models[x].name;
            if into.contains_key(name) {
                continue;
            }
            let definition = self.models[x]
                .registered
                .as_ref()
                .map(|r| r.definition.clone());
            let definition = definition.unwrap_or_default();
            into.insert(name.clone(), Origin::Model { definition });
            stack.extend(dag.model_deps(x));
        }
    }

    pub fn registered(&self, node: Node) -> Option<&Registered> {
        match node {
            Node::Source(s) => self.sources[s].registered.as_ref(),
            Node::Model(m) => self.models[m].registered.as_ref(),
        }
    }

    pub fn fingerprint(&self, node: Node) -> &str {
        self.registered(node).map_or("", |r| r.fingerprint.as_str())
    }

    /// Why model `m` cannot run, if it cannot: something it reads failed,
    /// or was never built.
    pub fn blocked(&self, project: &Project, dag: &Dag, m: ModelId) -> Option<String> {
        dag.deps[m].iter().find_map(|&d| {
            let fared = match d {
                Node::Source(s) => &self.sources[s],
                Node::Model(x) => &self.models[x],
            };
            let (status, registered) = (fared.status, &fared.registered);
            let name = d.name(project);
            match (status, registered) {
                (Status::Failed, _) => Some(format!("({name} failed)")),
                (_, Some(_)) => None,
                (Status::Skipped, None) if matches!(d, Node::Model(_)) => {
                    Some(format!("({name} was not built)"))
                }
                _ => Some(format!("({name} is missing)")),
            }
        })
    }
}

/// Make what the selected models read but this run does not build
/// readable: landed sources and built tables as published, views and
/// ephemeral models as last published. Used by `mart query` too, with
/// nothing selected.
pub async fn register_unselected(
    engine: &Engine,
    project: &Project,
    dag: &Dag,
    warehouse: &Warehouse,
    selection: &Selection,
    state: &mut State,
) -> Result<()> {
    for (s, source) in project.source_ids().zip(&project.sources) {
        if state.sources[s].status == Status::Skipped
            && let Some(version) = warehouse.current(Zone::Raw, &source.name)?
        {
            engine.register(Zone::Raw, &version).await?;
            state.sources[s].registered =
                Some(Registered::source(&source.name, &version.record.meta));
        }
    }
    for &m in dag.order.iter().filter(|&&m| !selection.has_model(m)) {
        let model = &project.models[m];
        if model.materialized.is_stored() {
            if let Some(version) = warehouse.current(Zone::Mart, &model.name)? {
                engine.register(Zone::Mart, &version).await?;
                let meta = &version.record.meta;
                let upstream = meta.upstream.as_ref();
                state.models[m].registered = Some(Registered::model(&model.name, meta, upstream));
            }
        } else if let Some(view) = warehouse.view(&model.name)
            && dag.deps[m].iter().all(|d| state.registered(*d).is_some())
            && let Ok(df) = engine.plan(&view.sql).await
        {
            // The published definition, over the inputs as they are now.
            engine.register_view(&model.name, df)?;
            let (fingerprint, upstream) = state.over_inputs(dag, m, &view.meta.definition);
            let meta = Meta {
                fingerprint,
                ..view.meta
            };
            state.models[m].registered =
                Some(Registered::model(&model.name, &meta, Some(&upstream)));
        }
    }
    Ok(())
}
