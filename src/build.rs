//! `mart build`: land what is stale, then run the selected models in
//! dependency order, each as soon as everything it reads is ready, up to
//! `--threads` at a time. A model whose fingerprint matches its published
//! version is skipped. A model that fails keeps its previous version; the
//! models that read it are skipped; the others still build.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use datafusion::arrow::datatypes::Schema;
use datafusion::error::DataFusionError;
use tokio::task::JoinSet;

use crate::artifacts::{self, ModelRun};
use crate::cli::{BuildArgs, Global};
use crate::dag::{Dag, Node};
use crate::datatest::{self, Outcome, TestRecord, Verdict};
use crate::engine::{Engine, Target};
use crate::error::{Error, Location, Result};
use crate::fingerprint;
use crate::incremental;
use crate::land::land_sources;
use crate::project::{Model, Project};
use crate::report::{self, Reporter, Status};
use crate::select::{self, Selection};
use crate::sql::located_error;
use crate::warehouse::{Warehouse, Zone};

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
    let engine = Engine::new(&global.config(&project.config))?;
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

    let mut state = State::new(&project);
    let source_refs: Vec<_> = sources.iter().map(|&s| &project.sources[s]).collect();
    let landed = land_sources(&engine, &project, &warehouse, &source_refs, &reporter).await?;
    for (&s, (status, fingerprint)) in sources.iter().zip(landed) {
        state.sources[s] = (status, fingerprint);
    }
    register_unselected(&engine, &project, &dag, &warehouse, &selection, &mut state).await?;

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
                        run: ModelRun| {
        let m = run.model;
        state.models[m] = (run.status, run.fingerprint.clone());
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
                );
                let mut run = ModelRun::new(m, Status::Skipped, SystemTime::now());
                run.message = Some(reason);
                finished(&mut state, &mut waiting, &mut ready, run);
                continue;
            }
            let fp = state.fingerprints(&project, &dag, m);
            reporter.started(&model.name);
            let (engine, warehouse, project, reporter) = (
                engine.clone(),
                warehouse.clone(),
                project.clone(),
                reporter.clone(),
            );
            let options = Options {
                full_refresh: args.full_refresh,
                test: !args.no_test,
            };
            running.spawn(async move {
                let model = &project.models[m];
                let started = Instant::now();
                let mut run = ModelRun::new(m, Status::Built, SystemTime::now());
                let mut tests = Vec::new();
                let result =
                    build_model(&engine, &warehouse, model, &fp, options, &mut tests).await;
                run.finished_at = SystemTime::now();
                for o in tests.iter().filter(|o| o.verdict() == Verdict::Warn) {
                    reporter.warn(o.render(&model.name).trim_end());
                }
                run.tests = tests.iter().map(TestRecord::from).collect();
                let kind = model.materialized.as_str();
                match result {
                    Ok(done) => {
                        let detail = done.detail();
                        let elapsed = (done.status == Status::Built).then(|| started.elapsed());
                        reporter.finished(done.status, kind, &model.name, &detail, elapsed);
                        run.status = done.status;
                        (run.rows, run.written, run.bytes, run.schema) =
                            (done.rows, done.written, done.bytes, done.schema);
                        run.fingerprint = Some(fp.data);
                    }
                    Err(err) => {
                        reporter.failed(kind, &model.name, started.elapsed(), &err);
                        run.status = Status::Failed;
                        run.message = Some(err.to_string());
                    }
                }
                run
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

/// What decides a model's output: its SQL and settings (`definition`) and,
/// with what it reads, its data.
struct Fingerprints {
    definition: String,
    data: String,
}

/// How each source and model fared in this run, and the fingerprint of what
/// is registered under its name (`None`: nothing usable).
struct State {
    sources: Vec<(Status, Option<String>)>,
    models: Vec<(Status, Option<String>)>,
}

impl State {
    fn new(project: &Project) -> State {
        State {
            sources: vec![(Status::Skipped, None); project.sources.len()],
            models: vec![(Status::Skipped, None); project.models.len()],
        }
    }

    /// The fingerprints of model `m` over what is registered now.
    fn fingerprints(&self, project: &Project, dag: &Dag, m: usize) -> Fingerprints {
        let definition = fingerprint::definition(&project.models[m]);
        let upstream: Vec<&str> = dag.deps[m].iter().map(|d| self.fingerprint(*d)).collect();
        let data = fingerprint::model(&definition, &upstream);
        Fingerprints { definition, data }
    }

    fn fingerprint(&self, node: Node) -> &str {
        let fp = match node {
            Node::Source(s) => &self.sources[s].1,
            Node::Model(m) => &self.models[m].1,
        };
        fp.as_deref().unwrap_or("")
    }

    /// Why model `m` cannot run, if it cannot: something it reads failed,
    /// or was never built.
    fn blocked(&self, project: &Project, dag: &Dag, m: usize) -> Option<String> {
        dag.deps[m].iter().find_map(|&d| {
            let (status, fp) = match d {
                Node::Source(s) => &self.sources[s],
                Node::Model(x) => &self.models[x],
            };
            let name = d.name(project);
            match (status, fp) {
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
/// ephemeral models planned from the project. Used by `mart query` too,
/// with nothing selected.
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
            state.sources[s].1 = Some(version.record.fingerprint);
        }
    }
    for &m in dag.order.iter().filter(|&&m| !selection.has_model(m)) {
        let model = &project.models[m];
        if model.materialized.is_stored() {
            if let Some(version) = warehouse.current(Zone::Mart, &model.name)? {
                engine.register(Zone::Mart, &version).await?;
                state.models[m].1 = Some(version.record.fingerprint);
            }
        } else if dag.deps[m]
            .iter()
            .all(|d| !state.fingerprint(*d).is_empty())
            && let Ok(df) = engine.plan(&model.sql).await
        {
            engine.register_view(&model.name, df)?;
            state.models[m].1 = Some(state.fingerprints(project, dag, m).data);
        }
    }
    Ok(())
}

/// Register everything the warehouse holds, and the project's views and
/// ephemeral models over it, for `mart query`.
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
        &mut State::new(project),
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
}

/// Run one model, unless its published version has this fingerprint: plan
/// its query against what is built, then write it (table, incremental) or
/// register it for the models that read it (view, ephemeral).
async fn build_model(
    engine: &Engine,
    warehouse: &Warehouse,
    model: &Model,
    fp: &Fingerprints,
    options: Options,
    tests: &mut Vec<Outcome>,
) -> Result<Done> {
    let full_refresh = options.full_refresh;
    let audit = options.test && !model.tests.is_empty();
    let current = match model.materialized.is_stored() {
        true => warehouse.current(Zone::Mart, &model.name)?,
        false => None,
    };
    if let Some(current) = current
        .as_ref()
        .filter(|c| !full_refresh && c.record.fingerprint == fp.data)
    {
        engine.register(Zone::Mart, current).await?;
        let r = &current.record;
        return Ok(Done {
            status: Status::UpToDate,
            rows: Some(r.rows),
            written: None,
            bytes: Some(r.bytes),
            schema: Some(r.schema.clone()),
        });
    }
    let df = engine
        .plan(&model.sql)
        .await
        .map_err(|e| model_error(model, &e))?;
    let schema = df.schema().as_arrow().clone();
    check_output_names(model, &schema)?;
    for p in &model.partition_by {
        if schema.field_with_name(p).is_err() {
            return Err(missing_column(
                model,
                &schema,
                &format!("partition_by column `{p}`"),
            ));
        }
    }
    if let Some(spec) = &model.incremental {
        for c in spec.columns() {
            if schema.field_with_name(c).is_err() {
                return Err(missing_column(
                    model,
                    &schema,
                    &format!("incremental column `{c}`"),
                ));
            }
        }
    }
    if !model.materialized.is_stored() {
        engine.register_view(&model.name, df)?;
        if audit {
            tests.extend(datatest::run_tests(engine, &model.name, &model.tests).await);
            if tests.iter().any(Outcome::blocks) {
                engine.deregister(Zone::Mart, &model.name)?;
                return Err(tests_failed(model, tests));
            }
        }
        let status = if !full_refresh
            && warehouse.view_fingerprint(&model.name).as_deref() == Some(fp.data.as_str())
        {
            Status::UpToDate
        } else {
            warehouse.save_view_fingerprint(&model.name, &fp.data)?;
            Status::Built
        };
        return Ok(Done {
            status,
            rows: None,
            written: None,
            bytes: None,
            schema: Some(schema),
        });
    }
    let Fingerprints { definition, data } = fp;
    let mut target = Target {
        zone: Zone::Mart,
        name: model.name.clone(),
        partition_by: model.partition_by.clone(),
        inputs: Vec::new(),
        fingerprint: data.clone(),
        definition: definition.clone(),
        kept: Vec::new(),
    };
    // An incremental model adds to what it stored, unless it is asked to
    // start over or its SQL or settings changed since.
    let mut parts = vec![df.clone()];
    if let (Some(spec), Some(current)) = (&model.incremental, &current)
        && !full_refresh
        && &current.record.definition == definition
    {
        let planned = incremental::plan(engine, model, spec, current, df).await;
        if let Some(increment) = planned.map_err(|e| in_model(model, e))? {
            parts = increment.parts;
            target.kept = increment.kept;
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
            return Err(tests_failed(model, tests));
        }
    }
    let written = staged.written;
    let version = engine.publish(warehouse, staged).await?;
    let r = version.record;
    Ok(Done {
        status: Status::Built,
        rows: Some(r.rows),
        written: Some(written),
        bytes: Some(r.bytes),
        schema: Some(r.schema),
    })
}

/// A model whose new version failed its tests: which tests, and the
/// first failing rows of each, pointed at the first test's declaration.
fn tests_failed(model: &Model, outcomes: &[Outcome]) -> Error {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.blocks()).collect();
    let mut message = format!(
        "model `{}` failed {} of {} data tests, so its new version is not published (readers keep the previous one)",
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
/// already points somewhere.
fn in_model(model: &Model, err: Error) -> Error {
    if err.location.is_some() {
        return err;
    }
    let out_of_memory = err.message.contains("Resources exhausted");
    let err = Error::failed(format!("model `{}` failed: {}", model.name, err.message))
        .at(Location::new(&model.sql_display, 0, 0), None);
    if !out_of_memory {
        return err;
    }
    err.help(format!(
        "`{}` needs more memory than the memory limit allows, in a part of the query that cannot spill to disk \
         (the build side of a hash join, above all): raise --memory-limit (or MART_MEMORY_LIMIT, or `config: memory_limit`), \
         or make the smaller side of its joins smaller (filter or aggregate it first)",
        model.name
    ))
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
