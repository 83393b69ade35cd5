//! `mart build`'s work: land what is stale, plan every selected model,
//! then run them in dependency order, each as soon as everything it reads
//! is ready, up to `threads` at a time. A model whose fingerprint matches
//! its published version is skipped. A model that fails keeps its previous
//! version; the models that read it are skipped; the others still build.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::task::JoinSet;

use crate::base::error::{Cause, Error, Result};
use crate::engine::Engine;
use crate::run::artifacts::{self, ModelRun};
use crate::run::audit::{self, Outcome, TestRecord, Verdict};
use crate::run::fingerprint;
use crate::run::land::land_sources;
use crate::run::model::{Done, Joins, Options, build_model, standing};
use crate::run::plan::plan_all;
use crate::run::registry::{
    Deferred, Fared, Fingerprints, Published, Registered, State, register_unselected,
};
use crate::run::report::{Reporter, Status};
use crate::run::schedule::Scheduler;
use crate::run::workspace::Workspace;
use crate::spec::dag::{Dag, Node};
use crate::spec::project::{Model, ModelId, Project, SourceId};
use crate::spec::select::{self, Selection, Selector};
use crate::storage::warehouse::{KEEP_REMOVED, Warehouse, Zone};

/// What `mart build` is asked to do.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub selector: Selector,
    /// Rebuild every selected model, even when it is up to date.
    pub full_refresh: bool,
    /// How many models may run at the same time.
    pub threads: usize,
    /// Run each model's data tests before publishing it.
    pub test: bool,
    /// Keep serving what the project no longer declares.
    pub keep_removed: bool,
    /// Wait for another writer to finish, rather than fail at once.
    pub wait: bool,
}

/// Land and build what `options` selects, reporting each table as it
/// finishes; the tables' outcomes are in the reporter's summary. Errors
/// that stop the run before anything is built (a bad selector, a model
/// that does not plan) are returned.
pub async fn build(ws: &Workspace, options: &BuildOptions, reporter: &Arc<Reporter>) -> Result<()> {
    let started_at = SystemTime::now();
    let (project, dag, warehouse) = (&ws.project, &ws.dag, &ws.warehouse);
    // Everything that can be checked without running is checked before
    // anything is written: the YAML, the SQL, the graph (on opening), the
    // selectors (and, in `land_sources`, the input files).
    let selection = select::select(project, dag, &options.selector)?;
    let _lock = warehouse.lock("build", options.wait, &|n| {
        reporter.printer().lock_notice(n)
    })?;
    let engine = ws.session()?;
    let models: Vec<ModelId> = dag
        .order
        .iter()
        .copied()
        .filter(|&m| selection.has_model(m))
        .collect();
    let sources = sources_to_land(project, dag, &selection);
    reporter.begin(sources.len() + models.len());
    for warning in &project.warnings {
        reporter.warn(warning);
    }

    let definitions: Vec<String> = project
        .model_ids()
        .map(|m| match selection.has_model(m) {
            true => fingerprint::definition(&project.models[m]),
            false => String::new(),
        })
        .collect();
    let definitions = Arc::new(definitions);
    let mut state = State::new(project, definitions.clone());
    let source_refs: Vec<_> = sources.iter().map(|&s| &project.sources[s]).collect();
    let landed = land_sources(
        &engine,
        project,
        warehouse,
        &source_refs,
        options.full_refresh,
        reporter,
    )
    .await?;
    for (&s, landed) in sources.iter().zip(landed) {
        let name = &project.sources[s].name;
        let registered = landed.meta.map(|m| Registered::source(name, &m));
        state.sources[s] = Fared::new(landed.status, registered);
    }
    register_unselected(&engine, project, dag, warehouse, &selection, &mut state).await?;
    let model_options = Options {
        full_refresh: options.full_refresh,
        test: options.test,
        joins: Joins::Hash,
    };
    let planning = State::new(project, definitions);
    let published = plan_all(
        &ws.engine,
        project,
        dag,
        warehouse,
        &selection,
        model_options,
        planning,
    )
    .await?;
    if !options.keep_removed {
        remove_undeclared(project, warehouse, reporter)?;
    }
    let run = Run {
        engine,
        crowd: Crowd::default(),
        ws,
        options: model_options,
        reporter,
    };
    let runs = run
        .models(&models, options.threads, state, published)
        .await?;
    artifacts::write(warehouse, project, dag, started_at, &runs)
}

/// What every model of a build shares.
struct Run<'a> {
    engine: Engine,
    crowd: Crowd,
    ws: &'a Workspace,
    options: Options,
    reporter: &'a Arc<Reporter>,
}

impl Run<'_> {
    /// Run `models` (in build order) as the scheduler lets them start.
    async fn models(
        &self,
        models: &[ModelId],
        threads: usize,
        mut state: State,
        mut published: Vec<Published>,
    ) -> Result<Vec<ModelRun>> {
        let (project, dag) = (&self.ws.project, &self.ws.dag);
        let mut scheduler =
            Scheduler::new(models, |m| dag.waits_for(m).collect::<Vec<_>>(), threads);
        let mut running = JoinSet::new();
        let mut runs = Vec::with_capacity(models.len());
        // Under a memory limit, a model that did not fit beside others
        // runs again alone, from what was published before it ran.
        let limited = self.engine.has_memory_limit();
        let mut again: BTreeSet<ModelId> = BTreeSet::new();
        let mut deferred = Deferred::new(dag);
        loop {
            while let Some(m) = scheduler.start() {
                let model = &project.models[m];
                let fp = state.fingerprints(project, dag, m);
                let (run, registered) = if let Some(reason) = state.blocked(project, dag, m) {
                    (self.skip(m, reason), None)
                } else if let Some(done) = standing(model, &published[m], &fp, self.options) {
                    deferred.defer(m, std::mem::take(&mut published[m]));
                    let run = ModelRun::new(m, Status::UpToDate, SystemTime::now());
                    report(self.reporter, model, run, &[], Ok(done), Instant::now())
                } else if let Err(e) = deferred.register(&self.engine, dag, dag.waits_for(m)).await
                {
                    let run = ModelRun::new(m, Status::Failed, SystemTime::now());
                    report(self.reporter, model, run, &[], Err(e), Instant::now())
                } else {
                    let alone = again.contains(&m);
                    let published = match limited && !alone {
                        true => published[m].clone(),
                        false => std::mem::take(&mut published[m]),
                    };
                    running.spawn(self.one(m, fp, published, alone));
                    continue;
                };
                state.models[m] = Fared::new(run.status, registered);
                runs.push(run);
                scheduler.done(m);
            }
            let Some(joined) = running.join_next().await else {
                break;
            };
            let ran = joined.map_err(|e| Error::failed(format!("a model's task failed: {e}")))?;
            let (run, registered) = match ran {
                Ran::Again(m) => {
                    again.insert(m);
                    scheduler.again_alone(m);
                    continue;
                }
                Ran::Done(run, registered) => (*run, registered),
            };
            let m = run.model;
            state.models[m] = Fared::new(run.status, registered);
            runs.push(run);
            scheduler.done(m);
        }
        Ok(runs)
    }

    /// A model that cannot run: something it reads failed or is missing.
    fn skip(&self, m: ModelId, reason: String) -> ModelRun {
        let model = &self.ws.project.models[m];
        let kind = model.materialized.as_str();
        self.reporter
            .finished(Status::Skipped, kind, &model.name, &reason, None, None);
        let mut run = ModelRun::new(m, Status::Skipped, SystemTime::now());
        run.message = Some(reason);
        run
    }

    /// A task that builds model `m` and reports how it went.
    fn one(
        &self,
        m: ModelId,
        fp: Fingerprints,
        published: Published,
        alone: bool,
    ) -> impl Future<Output = Ran> + Send + 'static {
        let (engine, warehouse, project) = (
            self.engine.clone(),
            self.ws.warehouse.clone(),
            self.ws.project.clone(),
        );
        let (reporter, options) = (self.reporter.clone(), self.options);
        if !alone {
            reporter.started(&project.models[m].name);
        }
        let crowd = self.crowd.clone();
        async move {
            let model = &project.models[m];
            let started = Instant::now();
            let run = ModelRun::new(m, Status::Built, SystemTime::now());
            let mut tests = Vec::new();
            let ticket = crowd.enter();
            let keep = engine.has_memory_limit().then(|| published.clone());
            let mut result = build_model(
                &engine, &warehouse, model, published, &fp, options, &mut tests,
            )
            .await;
            let mut notes = Vec::new();
            if alone {
                notes.push(
                    "run again alone: it did not fit in the memory limit beside other models",
                );
            }
            if let (Err(e), Some(published)) = (&result, keep)
                && e.cause == Cause::OutOfMemory
            {
                // What did not fit beside other models may fit alone; what
                // did not fit alone may with joins that spill.
                if ticket.crowded() && !alone {
                    return Ran::Again(m);
                }
                notes.push(
                    "a hash join did not fit in the memory limit: built with sort-merge joins",
                );
                let options = Options {
                    joins: Joins::SortMerge,
                    ..options
                };
                result = build_model(
                    &engine, &warehouse, model, published, &fp, options, &mut tests,
                )
                .await;
            }
            drop(ticket);
            if let Ok(done) = &mut result
                && !notes.is_empty()
            {
                notes.extend(done.note.as_deref());
                done.note = Some(notes.join("; "));
            }
            let (run, registered) = report(&reporter, model, run, &tests, result, started);
            Ran::Done(Box::new(run), registered)
        }
    }
}

/// Report how `model` fared (its line, its tests' warnings and counts)
/// and complete its run's record; with what is now registered under its
/// name, if anything usable is.
fn report(
    reporter: &Reporter,
    model: &Model,
    mut run: ModelRun,
    tests: &[Outcome],
    result: Result<Done>,
    started: Instant,
) -> (ModelRun, Option<Registered>) {
    run.finished_at = SystemTime::now();
    for o in tests.iter().filter(|o| o.verdict() == Verdict::Warn) {
        reporter.outcome(&o.render(&model.name));
    }
    run.tests = tests.iter().map(TestRecord::from).collect();
    reporter.tested(audit::tally(tests));
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
}

/// The models running: whether one had others beside it while it ran.
#[derive(Clone, Default)]
struct Crowd(Arc<Mutex<(usize, u64)>>);

/// A running model's place in the crowd; leaves it when dropped.
struct Ticket {
    crowd: Crowd,
    /// Others were running when it started.
    met: bool,
    /// Models started until then.
    starts: u64,
}

impl Crowd {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, u64)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enter(&self) -> Ticket {
        let mut g = self.lock();
        g.0 += 1;
        g.1 += 1;
        Ticket {
            crowd: self.clone(),
            met: g.0 > 1,
            starts: g.1,
        }
    }
}

impl Ticket {
    /// Whether another model ran beside this one.
    fn crowded(&self) -> bool {
        self.met || self.crowd.lock().1 > self.starts
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.crowd.lock().0 -= 1;
    }
}

/// How a model's task ended.
enum Ran {
    /// Built, failed or up to date: reported.
    Done(Box<ModelRun>, Option<Registered>),
    /// It did not fit in the memory limit beside other models: to run
    /// again alone (not reported yet).
    Again(ModelId),
}

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
fn sources_to_land(project: &Project, dag: &Dag, selection: &Selection) -> Vec<SourceId> {
    let mut out: BTreeSet<SourceId> = project
        .source_ids()
        .filter(|&s| selection.has_source(s))
        .collect();
    for m in project.model_ids().filter(|&m| selection.has_model(m)) {
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
