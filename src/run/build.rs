//! `mart build`: land what is stale, then run the selected models in
//! dependency order, each as soon as everything it reads is ready, up to
//! `--threads` at a time. A model whose fingerprint matches its published
//! version is skipped. A model that fails keeps its previous version; the
//! models that read it are skipped; the others still build.

use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use datafusion::arrow::datatypes::Schema;
use datafusion::error::DataFusionError;
use datafusion::prelude::DataFrame;
use tokio::task::JoinSet;

use crate::run::artifacts::{self, ModelRun};
use crate::cli::{BuildArgs, Global};
use crate::spec::dag::{Dag, Node};
use crate::spec::datatest::{self, Outcome, TestRecord, Verdict};
use crate::engine::{Engine, Target};
use crate::base::error::{Cause, Error, Kind, Location, Result};
use crate::run::fingerprint;
use crate::run::incremental;
use crate::run::land::land_sources;
use crate::spec::project::{Config, Model, Project};
use crate::run::report::{self, Reporter, Status};
use crate::spec::select::{self, Selection};
use crate::spec::sql::located_error;
use crate::storage::warehouse::{Meta, Origin, Version, ViewRecord, Warehouse, Zone, now_ms};

pub async fn run(global: &Global, args: &BuildArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let started_at = SystemTime::now();
    // Everything that can be checked without running is checked before
    // anything is written: the YAML, the SQL, the graph, the selectors (and,
    // in `land_sources`, the input files).
    let project = Arc::new(Project::load(&global.project)?);
    let dag = Arc::new(Dag::build(&project)?);
    let selection = select::select(&project, &dag, &args.selection)?;
    let threads = args.threads.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });

    let warehouse = Arc::new(Warehouse::new(global.warehouse_dir()));
    let _lock = warehouse.lock("build", !args.no_wait)?;
    let config = global.config(&project.config);
    let engine = Engine::new(&config)?;
    let models: Vec<usize> = dag
        .order
        .iter()
        .copied()
        .filter(|&m| selection.has_model(m))
        .collect();
    let sources = sources_to_land(&project, &dag, &selection);
    let reporter = Arc::new(Reporter::new(sources.len() + models.len(), !args.quiet));
    for warning in &project.warnings {
        reporter.warn(warning);
    }

    let definitions: Vec<String> = (0..project.models.len())
        .map(|m| match selection.has_model(m) {
            true => fingerprint::definition(&project.models[m]),
            false => String::new(),
        })
        .collect();
    let definitions = Arc::new(definitions);
    let mut state = State::new(&project, definitions.clone());
    let source_refs: Vec<_> = sources.iter().map(|&s| &project.sources[s]).collect();
    let landed = land_sources(&engine, &project, &warehouse, &source_refs, &reporter).await?;
    for (&s, (status, meta)) in sources.iter().zip(landed) {
        let registered = meta.map(|m| Registered::source(&project.sources[s].name, &m));
        state.sources[s] = (status, registered);
    }
    register_unselected(&engine, &project, &dag, &warehouse, &selection, &mut state).await?;
    let options = Options {
        full_refresh: args.full_refresh,
        test: !args.no_test,
    };
    let planning = State::new(&project, definitions);
    let mut published = plan_all(
        &config, &project, &dag, &warehouse, &selection, options, planning,
    )
    .await?;
    if !args.keep_removed {
        remove_undeclared(&project, &warehouse, &reporter)?;
    }

    // The scheduler: a model starts once all it reads has finished.
    let mut waiting: Vec<usize> = vec![0; project.models.len()];
    for &m in &models {
        waiting[m] = dag.waits_for(m).filter(|&d| selection.has_model(d)).count();
    }
    let mut ready: BTreeSet<(usize, usize)> = models
        .iter()
        .enumerate()
        .filter(|&(_, &m)| waiting[m] == 0)
        .map(|(i, &m)| (i, m))
        .collect();
    // Among ready models, the first in build order starts first.
    let mut rank = vec![0; project.models.len()];
    for (i, &m) in models.iter().enumerate() {
        rank[m] = i;
    }
    let mut running = JoinSet::new();
    let mut runs = Vec::with_capacity(models.len());
    // A model is done: record it, and make ready the readers it was the
    // last input of.
    let mut finished = |state: &mut State,
                        waiting: &mut Vec<usize>,
                        ready: &mut BTreeSet<(usize, usize)>,
                        (run, registered): (ModelRun, Option<Registered>)| {
        let m = run.model;
        state.models[m] = (run.status, registered);
        runs.push(run);
        for &r in dag.waiters[m].iter().filter(|&&r| selection.has_model(r)) {
            waiting[r] -= 1;
            if waiting[r] == 0 {
                ready.insert((rank[r], r));
            }
        }
    };
    loop {
        while running.len() < threads {
            let Some((_, m)) = ready.pop_first() else {
                break;
            };
            let model = &project.models[m];
            if let Some(reason) = state.blocked(&project, &dag, m) {
                reporter.finished(
                    Status::Skipped,
                    model.materialized.as_str(),
                    &model.name,
                    &reason,
                    None,
                    None,
                );
                let mut run = ModelRun::new(m, Status::Skipped, SystemTime::now());
                run.message = Some(reason);
                finished(&mut state, &mut waiting, &mut ready, (run, None));
                continue;
            }
            let fp = state.fingerprints(&project, &dag, m);
            let published = std::mem::take(&mut published[m]);
            reporter.started(&model.name);
            let (engine, warehouse, project, reporter) = (
                engine.clone(),
                warehouse.clone(),
                project.clone(),
                reporter.clone(),
            );
            running.spawn(async move {
                let model = &project.models[m];
                let started = Instant::now();
                let mut run = ModelRun::new(m, Status::Built, SystemTime::now());
                let mut tests = Vec::new();
                let result = build_model(
                    &engine, &warehouse, model, published, &fp, options, &mut tests,
                )
                .await;
                run.finished_at = SystemTime::now();
                for o in tests.iter().filter(|o| o.verdict() == Verdict::Warn) {
                    reporter.warn(o.render(&model.name).trim_end());
                }
                run.tests = tests.iter().map(TestRecord::from).collect();
                reporter.tested(datatest::tally(&tests));
                let kind = model.materialized.as_str();
                match result {
                    Ok(done) => {
                        let detail = done.detail();
                        let elapsed = (done.status == Status::Built).then(|| started.elapsed());
                        let note = done.note.as_deref();
                        reporter.finished(done.status, kind, &model.name, &detail, elapsed, note);
                        run.status = done.status;
                        (run.rows, run.written, run.bytes, run.schema) =
                            (done.rows, done.written, done.bytes, done.schema);
                        run.fingerprint = Some(done.registered.fingerprint.clone());
                        (run, Some(done.registered))
                    }
                    Err(err) => {
                        reporter.failed(kind, &model.name, started.elapsed(), &err);
                        run.status = Status::Failed;
                        run.message = Some(err.to_string());
                        (run, None)
                    }
                }
            });
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let run = joined.map_err(|e| Error::failed(format!("a model's task failed: {e}")))?;
        finished(&mut state, &mut waiting, &mut ready, run);
    }

    let summary = reporter.finish();
    artifacts::write(&warehouse, &project, &dag, started_at, &runs)?;
    summary.print(started.elapsed());
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// How long what the project no longer declares is kept under
/// `_mart/removed/`, for `mart restore`.
pub const KEEP_REMOVED: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Stop serving the tables, views and sources the project no longer
/// declares; their data is kept under `_mart/removed/` for `KEEP_REMOVED`.
fn remove_undeclared(project: &Project, warehouse: &Warehouse, reporter: &Reporter) -> Result<()> {
    let removed = |kind: &str, name: &str| {
        let note = Some("no longer in the project");
        reporter.finished(Status::Removed, kind, name, "", None, note);
    };
    for name in warehouse.list(Zone::Raw) {
        if project.source(&name).is_none() && warehouse.remove(Zone::Raw, &name)? {
            removed("source", &format!("raw.{name}"));
        }
    }
    for name in warehouse.list(Zone::Mart) {
        if project.model(&name).is_none() && warehouse.remove(Zone::Mart, &name)? {
            removed("table", &name);
        }
    }
    for name in warehouse.views() {
        if project.model(&name).is_none() && warehouse.remove_view(&name)? {
            removed("view", &name);
        }
    }
    warehouse.prune_removed(KEEP_REMOVED);
    Ok(())
}

/// The sources to land: those selected, and those the selected models read.
fn sources_to_land(project: &Project, dag: &Dag, selection: &Selection) -> Vec<usize> {
    let mut out: BTreeSet<usize> = (0..project.sources.len())
        .filter(|&s| selection.has_source(s))
        .collect();
    for m in (0..project.models.len()).filter(|&m| selection.has_model(m)) {
        out.extend(dag.deps[m].iter().filter_map(|d| {
            if let Node::Source(s) = d {
                Some(*s)
            } else {
                None
            }
        }));
    }
    out.into_iter().collect()
}

/// How `build_model` runs a model.
#[derive(Debug, Clone, Copy)]
struct Options {
    /// Rebuild even when up to date.
    full_refresh: bool,
    /// Run the model's data tests on its new version before publishing it.
    test: bool,
}

/// What decides a model's output, and what it is built from.
struct Fingerprints {
    /// Its SQL and settings.
    definition: String,
    /// Its data: its definition and the data of what it reads.
    data: String,
    /// What it is built from (see `Meta::upstream`): every source it reads,
    /// directly or not, and for an incremental model every model too.
    upstream: BTreeMap<String, Origin>,
    /// Its data tests, with the data of the other tables they read.
    tests: String,
}

/// What is registered under a table's name in this run.
#[derive(Debug, Clone)]
struct Registered {
    /// The fingerprint of its data.
    fingerprint: String,
    /// For a model, the fingerprint of its SQL and settings.
    definition: String,
    /// The sources it was built from, directly or not (itself, for a
    /// source): a map as small as the project's sources, so that carrying
    /// it down a deep graph stays cheap.
    sources: BTreeMap<String, Origin>,
}

impl Registered {
    fn source(name: &str, meta: &Meta) -> Registered {
        Registered {
            fingerprint: meta.fingerprint.clone(),
            definition: String::new(),
            sources: BTreeMap::from([(format!("raw.{name}"), meta.source_origin())]),
        }
    }

    /// A model's version, from its record and what it was built from. An
    /// incremental model's versions add to each other as a source's do:
    /// its readers see it as one (rebuilt whole, it is landed whole).
    fn model(name: &str, meta: &Meta, upstream: Option<&BTreeMap<String, Origin>>) -> Registered {
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

/// How each source and model fared in this run, and what is registered
/// under its name (`None`: nothing usable).
struct State {
    sources: Vec<(Status, Option<Registered>)>,
    models: Vec<(Status, Option<Registered>)>,
    /// The fingerprint of each selected model's SQL and settings, made
    /// once (normalising SQL is most of a no-op build's own work).
    definitions: Arc<Vec<String>>,
}

impl State {
    fn new(project: &Project, definitions: Arc<Vec<String>>) -> State {
        State {
            sources: vec![(Status::Skipped, None); project.sources.len()],
            models: vec![(Status::Skipped, None); project.models.len()],
            definitions,
        }
    }

    /// The fingerprints of model `m` over what is registered now.
    fn fingerprints(&self, project: &Project, dag: &Dag, m: usize) -> Fingerprints {
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
    fn over_inputs(
        &self,
        dag: &Dag,
        m: usize,
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
    fn models_upstream(
        &self,
        project: &Project,
        dag: &Dag,
        m: usize,
        into: &mut BTreeMap<String, Origin>,
    ) {
        let mut stack: Vec<usize> = dag.model_deps(m).collect();
        while let Some(x) = stack.pop() {
            let name = &project.models[x].name;
            if into.contains_key(name) {
                continue;
            }
            let definition = self.models[x].1.as_ref().map(|r| r.definition.clone());
            let definition = definition.unwrap_or_default();
            into.insert(name.clone(), Origin::Model { definition });
            stack.extend(dag.model_deps(x));
        }
    }

    fn registered(&self, node: Node) -> Option<&Registered> {
        match node {
            Node::Source(s) => self.sources[s].1.as_ref(),
            Node::Model(m) => self.models[m].1.as_ref(),
        }
    }

    fn fingerprint(&self, node: Node) -> &str {
        self.registered(node).map_or("", |r| r.fingerprint.as_str())
    }

    /// Why model `m` cannot run, if it cannot: something it reads failed,
    /// or was never built.
    fn blocked(&self, project: &Project, dag: &Dag, m: usize) -> Option<String> {
        dag.deps[m].iter().find_map(|&d| {
            let (status, registered) = match d {
                Node::Source(s) => &self.sources[s],
                Node::Model(x) => &self.models[x],
            };
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
async fn register_unselected(
    engine: &Engine,
    project: &Project,
    dag: &Dag,
    warehouse: &Warehouse,
    selection: &Selection,
    state: &mut State,
) -> Result<()> {
    for (s, source) in project.sources.iter().enumerate() {
        if state.sources[s].0 == Status::Skipped
            && let Some(version) = warehouse.current(Zone::Raw, &source.name)?
        {
            engine.register(Zone::Raw, &version).await?;
            state.sources[s].1 = Some(Registered::source(&source.name, &version.record.meta));
        }
    }
    for &m in dag.order.iter().filter(|&&m| !selection.has_model(m)) {
        let model = &project.models[m];
        if model.materialized.is_stored() {
            if let Some(version) = warehouse.current(Zone::Mart, &model.name)? {
                engine.register(Zone::Mart, &version).await?;
                let meta = &version.record.meta;
                let upstream = meta.upstream.as_ref();
                state.models[m].1 = Some(Registered::model(&model.name, meta, upstream));
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
            state.models[m].1 = Some(Registered::model(&model.name, &meta, Some(&upstream)));
        }
    }
    Ok(())
}

/// Plan every selected model in build order, over the columns of what it
/// reads, and its data tests, before any model is built: an unknown
/// column, a test of a column the model does not have or a partition
/// column it lacks exits 2 with its location, and no model is written.
/// (Sources are landed first: their columns are what models plan over.)
/// A model whose data is up to date as far as can be told before building
/// is not planned again: its published columns stand in for it. Returns
/// what each selected model has published, read once for the build.
/// `state` starts empty: planning registers its own stand-ins.
async fn plan_all(
    config: &Config,
    project: &Project,
    dag: &Dag,
    warehouse: &Warehouse,
    selection: &Selection,
    options: Options,
    mut state: State,
) -> Result<Vec<Published>> {
    let mut out = vec![Published::default(); project.models.len()];
    let engine = Engine::new(config)?;
    register_unselected(&engine, project, dag, warehouse, selection, &mut state).await?;
    let as_usage = |mut e: Error| {
        e.kind = Kind::Usage;
        e
    };
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
                let df = plan_checked(&engine, model).await.map_err(as_usage)?;
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
            datatest::check_tests(&engine, &model.name, &model.tests)
                .await
                .map_err(as_usage)?;
        }
        state.models[m].1 = Some(registered);
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
    models: impl Iterator<Item = usize>,
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

/// What a model has published: a table's version, or a view's definition.
#[derive(Debug, Clone, Default)]
struct Published {
    table: Option<Version>,
    view: Option<ViewRecord>,
}

/// Register everything the warehouse serves, views and ephemeral models
/// as last published, for `mart query` and `mart test`.
pub async fn register_all(
    engine: &Engine,
    project: &Project,
    dag: &Dag,
    warehouse: &Warehouse,
) -> Result<()> {
    let nothing = Selection {
        nodes: BTreeSet::new(),
    };
    register_unselected(
        engine,
        project,
        dag,
        warehouse,
        &nothing,
        &mut State::new(project, Arc::default()),
    )
    .await?;
    // Tables no longer in the project stay readable until removed.
    for zone in [Zone::Raw, Zone::Mart] {
        for name in warehouse.list(zone) {
            let known = match zone {
                Zone::Raw => project.source(&name).is_some(),
                Zone::Mart => project.model(&name).is_some(),
            };
            if !known && let Some(version) = warehouse.current(zone, &name)? {
                engine.register(zone, &version).await?;
            }
        }
    }
    Ok(())
}

/// What running a model did.
struct Done {
    status: Status,
    /// Rows in the table now, and written by this run (they differ when
    /// an incremental build keeps stored files).
    rows: Option<u64>,
    written: Option<u64>,
    bytes: Option<u64>,
    schema: Option<Schema>,
    /// What is worth saying on its line (why an incremental model was
    /// rebuilt whole, tests run on a published version).
    note: Option<String>,
    /// What is now registered under its name.
    registered: Registered,
}

impl Done {
    fn detail(&self) -> String {
        match (self.rows, self.written) {
            (Some(rows), Some(written)) if written != rows => {
                format!("{} ({} written)", report::rows(rows), written)
            }
            (Some(rows), _) => report::rows(rows),
            _ => String::new(),
        }
    }

    fn stored(status: Status, version: &Version, written: Option<u64>) -> Done {
        let r = &version.record;
        Done {
            status,
            rows: Some(r.rows),
            written,
            bytes: Some(r.bytes),
            schema: Some(r.schema.clone()),
            note: None,
            registered: Registered::model(&r.name, &r.meta, r.meta.upstream.as_ref()),
        }
    }

    fn view(status: Status, view: &ViewRecord) -> Done {
        Done {
            status,
            rows: None,
            written: None,
            bytes: None,
            schema: Some(view.schema.clone()),
            note: None,
            registered: Registered::model(&view.name, &view.meta, view.meta.upstream.as_ref()),
        }
    }
}

/// Run one model, unless its published version has this fingerprint: plan
/// its query against what is built, test it, then publish it: write it
/// (table, incremental) or its definition (view, ephemeral).
async fn build_model(
    engine: &Engine,
    warehouse: &Warehouse,
    model: &Model,
    published: Published,
    fp: &Fingerprints,
    options: Options,
    tests: &mut Vec<Outcome>,
) -> Result<Done> {
    let full_refresh = options.full_refresh;
    let audit = options.test && !model.tests.is_empty();
    // What a version records of the tests it passed.
    let tested = if options.test {
        fp.tests.clone()
    } else {
        String::new()
    };
    if !model.materialized.is_stored() {
        return build_view(engine, warehouse, model, published.view, fp, options, tests).await;
    }
    let current = published.table;
    if let Some(mut current) = current
        .clone()
        .filter(|c| !full_refresh && c.record.meta.fingerprint == fp.data)
    {
        engine.register(Zone::Mart, &current).await?;
        let tested = &current.record.meta.tested;
        let note = retest(engine, model, fp, audit, tested, tests).await?;
        if note.is_some() {
            warehouse.set_tested(&mut current, &fp.tests)?;
        }
        return Ok(Done {
            note,
            ..Done::stored(Status::UpToDate, &current, None)
        });
    }
    let df = plan_checked(engine, model).await?;
    let mut target = Target {
        zone: Zone::Mart,
        name: model.name.clone(),
        partition_by: model.partition_by.clone(),
        inputs: Vec::new(),
        meta: Meta {
            fingerprint: fp.data.clone(),
            definition: fp.definition.clone(),
            upstream: Some(fp.upstream.clone()),
            tested,
            ..Meta::default()
        },
        kept: Vec::new(),
    };
    // An incremental model adds to what it stored when that gives what a
    // full rebuild would; otherwise it is rebuilt whole, saying why.
    let mut parts = vec![df.clone()];
    let mut note = None;
    if model.incremental.is_some() {
        // Built whole: the start of a new chain of additions.
        target.meta.base = fp.data.clone();
    }
    if let (Some(spec), Some(current)) = (&model.incremental, &current)
        && !full_refresh
    {
        match incremental::must_rebuild(&current.record.meta, &fp.definition, &fp.upstream) {
            Some(reason) => note = Some(format!("incremental \u{2192} full: {reason}")),
            None => {
                let planned = incremental::plan(engine, model, spec, current, df).await;
                if let Some(increment) = planned.map_err(|e| in_model(model, e))? {
                    parts = increment.parts;
                    target.kept = increment.kept;
                    target.meta = current.record.meta.added_to(target.meta);
                }
            }
        }
    }
    let staged = engine
        .stage(warehouse, target, parts)
        .await
        .map_err(|e| in_model(model, e))?;
    // Write, audit, publish: the new version is read by the tests before
    // anyone else can see it, and dropped if it fails them.
    if audit {
        engine.register(Zone::Mart, &staged.version).await?;
        tests.extend(datatest::run_tests(engine, &model.name, &model.tests).await);
        if tests.iter().any(Outcome::blocks) {
            // Whoever reads it in this session (the tests of other models)
            // reads the published version, as everyone else does.
            match &current {
                Some(current) => engine.register(Zone::Mart, current).await?,
                None => engine.deregister(Zone::Mart, &model.name)?,
            }
            staged.discard();
            return Err(tests_failed(model, tests, Audited::New));
        }
    }
    let written = staged.written;
    let version = engine.publish(warehouse, staged).await?;
    Ok(Done {
        note,
        ..Done::stored(Status::Built, &version, Some(written))
    })
}

/// Build a view or ephemeral model: plan its SQL, test it, and publish the
/// definition, which readers plan from then on. One that fails its tests
/// leaves the previous definition published, and registered here.
async fn build_view(
    engine: &Engine,
    warehouse: &Warehouse,
    model: &Model,
    published: Option<ViewRecord>,
    fp: &Fingerprints,
    options: Options,
    tests: &mut Vec<Outcome>,
) -> Result<Done> {
    let audit = options.test && !model.tests.is_empty();
    if let Some(mut view) = published
        .clone()
        .filter(|v| !options.full_refresh && v.meta.fingerprint == fp.data)
    {
        let df = engine
            .plan(&view.sql)
            .await
            .map_err(|e| model_error(model, &e))?;
        engine.register_view(&model.name, df)?;
        let note = retest(engine, model, fp, audit, &view.meta.tested, tests).await?;
        if note.is_some() {
            warehouse.set_view_tested(&mut view, &fp.tests)?;
        }
        return Ok(Done {
            note,
            ..Done::view(Status::UpToDate, &view)
        });
    }
    let df = plan_checked(engine, model).await?;
    let schema = df.schema().as_arrow().clone();
    engine.register_view(&model.name, df)?;
    if audit {
        tests.extend(datatest::run_tests(engine, &model.name, &model.tests).await);
        if tests.iter().any(Outcome::blocks) {
            match published.as_ref().map(|v| &v.sql) {
                Some(sql) => {
                    let df = engine.plan(sql).await.map_err(|e| model_error(model, &e))?;
                    engine.register_view(&model.name, df)?;
                }
                None => engine.deregister(Zone::Mart, &model.name)?,
            }
            return Err(tests_failed(model, tests, Audited::New));
        }
    }
    let view = ViewRecord {
        name: model.name.clone(),
        materialized: model.materialized.as_str().to_string(),
        sql: model.sql.clone(),
        schema,
        written_at_ms: now_ms(),
        meta: Meta {
            fingerprint: fp.data.clone(),
            definition: fp.definition.clone(),
            upstream: Some(fp.upstream.clone()),
            tested: if options.test {
                fp.tests.clone()
            } else {
                String::new()
            },
            ..Meta::default()
        },
    };
    warehouse.publish_view(&view)?;
    Ok(Done::view(Status::Built, &view))
}

/// Run a model's tests on its published version, registered under its
/// name, when they (or a table they read) changed since it passed them
/// (`tested`). Returns the note for its line when they ran and passed;
/// the caller records that they did.
async fn retest(
    engine: &Engine,
    model: &Model,
    fp: &Fingerprints,
    audit: bool,
    tested: &str,
    tests: &mut Vec<Outcome>,
) -> Result<Option<String>> {
    if !audit || tested == fp.tests {
        return Ok(None);
    }
    tests.extend(datatest::run_tests(engine, &model.name, &model.tests).await);
    if tests.iter().any(Outcome::blocks) {
        return Err(tests_failed(model, tests, Audited::Published));
    }
    Ok(Some("tested again".to_string()))
}

/// Plan a model's query and check its output against its YAML: column
/// names, `partition_by` and incremental columns.
async fn plan_checked(engine: &Engine, model: &Model) -> Result<DataFrame> {
    let df = engine
        .plan(&model.sql)
        .await
        .map_err(|e| model_error(model, &e))?;
    let schema = df.schema().as_arrow().clone();
    check_output_names(model, &schema)?;
    let incremental = model.incremental.iter().flat_map(|spec| spec.columns());
    let named = model
        .partition_by
        .iter()
        .map(|p| ("partition_by", p.as_str()))
        .chain(incremental.map(|c| ("incremental", c)));
    for (what, column) in named {
        if schema.field_with_name(column).is_err() {
            return Err(missing_column(
                model,
                &schema,
                &format!("{what} column `{column}`"),
            ));
        }
    }
    Ok(df)
}

/// Which version of a model its tests ran on.
#[derive(Clone, Copy)]
enum Audited {
    /// The new one, not yet published.
    New,
    /// The published one, up to date, whose tests (or a table they read)
    /// changed since it passed them.
    Published,
}

/// A model that failed its tests: which tests, and the first failing rows
/// of each, pointed at the first test's declaration.
fn tests_failed(model: &Model, outcomes: &[Outcome], audited: Audited) -> Error {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.blocks()).collect();
    let consequence = match audited {
        Audited::New => "so its new version is not published (readers keep the previous one)",
        Audited::Published => {
            "on its published version (its tests, or a table they read, changed since it passed them), so the models that read it are not built"
        }
    };
    let mut message = format!(
        "model `{}` failed {} of {} data tests, {consequence}",
        model.name,
        failed.len(),
        outcomes.len()
    );
    for o in &failed {
        message.push('\n');
        message.push_str(o.render(&model.name).trim_end());
    }
    let declared = &failed[0].test.declared;
    let text = std::fs::read_to_string(&declared.file).ok();
    Error::failed(message)
        .at(declared.clone(), text.as_deref())
        .help("fix the data or the model; a test that should not stop publishing takes `severity: warn`, and `--no-test` publishes without testing")
}

/// An error while running a model, pointed at its SQL file unless it
/// already points somewhere, with what to do for the engine's errors an
/// analyst can fix.
fn in_model(model: &Model, err: Error) -> Error {
    if err.location.is_some() {
        return err;
    }
    let name = &model.name;
    let help = match err.cause {
        Cause::OutOfMemory => format!(
            "`{name}` needs more memory than the memory limit allows, in a part of the query that cannot spill to disk \
             (the build side of a hash join, above all): raise --memory-limit (or MART_MEMORY_LIMIT, or `config: memory_limit`), \
             or make the smaller side of its joins smaller (filter or aggregate it first)"
        ),
        Cause::DivideByZero => "a division in the query met a zero divisor: divide by `nullif(x, 0)` to get null there instead".into(),
        Cause::Cast => "a value of the data does not convert to the type asked: `try_cast(x AS type)` gives null for such values, or filter them out".into(),
        Cause::Other => String::new(),
    };
    let cause = err.cause;
    let err = Error::failed(format!("model `{name}` failed: {}", err.message))
        .at(Location::new(&model.sql_display, 0, 0), None);
    let err = Error { cause, ..err };
    match help.is_empty() {
        true => err,
        false => err.help(help),
    }
}

/// A table's columns need names, and names apart once case is folded: SQL
/// and most readers of Parquet do not tell `Amount` from `amount`.
fn check_output_names(model: &Model, schema: &Schema) -> Result<()> {
    let err = |message: String| {
        Err(Error::failed(format!("model `{}`: {message}", model.name))
            .at(Location::new(&model.sql_display, 0, 0), None)
            .help("name every column of the query with `AS`, each name once"))
    };
    for (i, field) in schema.fields().iter().enumerate() {
        if field.name().trim().is_empty() {
            return err(format!("its column {} has an empty name", i + 1));
        }
        let twin = schema.fields()[..i]
            .iter()
            .find(|f| f.name().eq_ignore_ascii_case(field.name()));
        if let Some(twin) = twin {
            return err(format!(
                "its columns `{}` and `{}` have the same name once case is ignored",
                twin.name(),
                field.name()
            ));
        }
    }
    Ok(())
}

/// A column the YAML names that the query does not return.
fn missing_column(model: &Model, schema: &Schema, what: &str) -> Error {
    let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let text = std::fs::read_to_string(&model.declared.file).ok();
    Error::failed(format!(
        "model `{}`: {what} is not in its output",
        model.name
    ))
    .at(model.declared.clone(), text.as_deref())
    .help(format!("the query's columns are: {}", columns.join(", ")))
}

/// A planning error in a model, pointed at its SQL.
pub fn model_error(model: &Model, err: &DataFusionError) -> Error {
    located_error(
        &format!("model `{}`", model.name),
        &model.sql_display,
        &model.sql,
        err,
    )
}
