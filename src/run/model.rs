//! Building one model: plan its SQL, write it (or, for a view, its
//! definition), test the new version and publish it.

use datafusion::arrow::datatypes::Schema;
use datafusion::error::DataFusionError;
use datafusion::prelude::DataFrame;

use crate::base::error::{Cause, Error, Location, Result};
use crate::base::time::now_ms;
use crate::engine::{Engine, Staged, Target};
use crate::run::appended::Appended;
use crate::run::audit::{self, Outcome};
use crate::run::incremental;
use crate::run::registry::{Fingerprints, Published, Registered};
use crate::run::report::{self, Status};
use crate::spec::project::Model;
use crate::spec::sql::located_error;
use crate::storage::warehouse::{Meta, Scratch, Version, ViewRecord, Warehouse, Zone};

/// How `build_model` runs a model.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Rebuild even when up to date.
    pub full_refresh: bool,
    /// Run the model's data tests on its new version before publishing it.
    pub test: bool,
    /// The joins its query is planned with.
    pub joins: Joins,
}

/// What running a model did.
pub struct Done {
    pub status: Status,
    /// Rows in the table now, and written by this run (they differ when
    /// an incremental build keeps stored files).
    pub rows: Option<u64>,
    pub written: Option<u64>,
    pub bytes: Option<u64>,
    pub schema: Option<Schema>,
    /// What is worth saying on its line (why an incremental model was
    /// rebuilt whole, tests run on a published version).
    pub note: Option<String>,
    /// What is now registered under its name.
    pub registered: Registered,
}

impl Done {
    pub fn detail(&self) -> String {
        match (self.rows, self.written) {
            (Some(rows), Some(written)) if written != rows => {
                format!(
                    "{} ({} written)",
                    report::rows(rows),
                    report::count(written)
                )
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
/// (table, incremental) or its definition (view, ephemeral). The outcomes
/// of its tests are added to `tests`, whatever happens.
pub async fn build_model(
    engine: &Engine,
    warehouse: &Warehouse,
    model: &Model,
    published: Published,
    fp: &Fingerprints,
    options: Options,
    tests: &mut Vec<Outcome>,
) -> Result<Done> {
    let mut job = Job {
        engine,
        warehouse,
        model,
        fp,
        options,
        tests,
    };
    match model.materialized.is_stored() {
        true => job.table(published.table).await,
        false => job.view(published.view).await,
    }
}

/// What a model with nothing to do comes to: its published version has
/// the fingerprint `fp` gives, and its tests need not run again. `None`:
/// it must be built, or tested again.
pub fn standing(
    model: &Model,
    published: &Published,
    fp: &Fingerprints,
    options: Options,
) -> Option<Done> {
    let stands = |meta: &Meta| up_to_date(options, fp, meta) && !retests(model, options, fp, meta);
    match published {
        Published { table: Some(v), .. } if stands(&v.record.meta) => {
            Some(Done::stored(Status::UpToDate, v, None))
        }
        Published { view: Some(v), .. } if stands(&v.meta) => Some(Done::view(Status::UpToDate, v)),
        _ => None,
    }
}

/// Whether a published version of `meta` stands for the model.
fn up_to_date(options: Options, fp: &Fingerprints, meta: &Meta) -> bool {
    !options.full_refresh && meta.fingerprint == fp.data
}

/// Whether the model's tests run on its published version of `meta`: they
/// (or a table they read) changed since it passed them.
fn retests(model: &Model, options: Options, fp: &Fingerprints, meta: &Meta) -> bool {
    audits(model, options) && meta.tested != fp.tests
}

/// Whether the model's tests run in this build.
fn audits(model: &Model, options: Options) -> bool {
    options.test && !model.tests.is_empty()
}

/// One model being built, and what every step of it needs.
struct Job<'a> {
    engine: &'a Engine,
    warehouse: &'a Warehouse,
    model: &'a Model,
    fp: &'a Fingerprints,
    options: Options,
    tests: &'a mut Vec<Outcome>,
}

impl Job<'_> {
    /// Whether its tests run before it is published.
    fn audit(&self) -> bool {
        audits(self.model, self.options)
    }

    /// What a new version records of the tests it passed.
    fn tested(&self) -> String {
        match self.options.test {
            true => self.fp.tests.clone(),
            false => String::new(),
        }
    }

    /// What a new version records of what it was built from.
    fn meta(&self) -> Meta {
        Meta {
            fingerprint: self.fp.data.clone(),
            definition: self.fp.definition.clone(),
            upstream: Some(self.fp.upstream.clone()),
            tested: self.tested(),
            ..Meta::default()
        }
    }

    /// A table or incremental model: written, tested, then published.
    async fn table(&mut self, current: Option<Version>) -> Result<Done> {
        let (engine, model) = (self.engine, self.model);
        if let Some(mut current) = current
            .clone()
            .filter(|c| up_to_date(self.options, self.fp, &c.record.meta))
        {
            engine.register(Zone::Mart, &current).await?;
            let note = self.retest(&current.record.meta).await?;
            if note.is_some() {
                self.warehouse.set_tested(&mut current, &self.fp.tests)?;
            }
            return Ok(Done {
                note,
                ..Done::stored(Status::UpToDate, &current, None)
            });
        }
        let (staged, note) = self
            .write(current.as_ref())
            .await
            .map_err(|e| in_model(model, e))?;
        // Write, audit, publish: the new version is read by the tests
        // before anyone else can see it, and dropped if it fails them.
        if self.audit() {
            engine.register(Zone::Mart, &staged.version).await?;
            if let Err(err) = self.run_tests(Audited::New).await {
                // Whoever reads it in this session (the tests of other
                // models) reads the published version, as everyone does.
                match &current {
                    Some(current) => engine.register(Zone::Mart, current).await?,
                    None => engine.deregister(Zone::Mart, &model.name)?,
                }
                staged.discard();
                return Err(err);
            }
        }
        let written = staged.written;
        let version = engine.publish(self.warehouse, staged).await?;
        Ok(Done {
            note,
            ..Done::stored(Status::Built, &version, Some(written))
        })
    }

    /// Plan the model and write its new version, not yet published, with
    /// the note for its line.
    async fn write(&self, current: Option<&Version>) -> Result<(Staged, Option<String>)> {
        let mut df = plan_checked(self.engine, self.model).await?;
        if self.options.joins == Joins::SortMerge {
            df = Engine::without_hash_joins(df);
        }
        let mut target = Target {
            zone: Zone::Mart,
            name: self.model.name.clone(),
            partition_by: self.model.partition_by.clone(),
            inputs: Vec::new(),
            meta: self.meta(),
            kept: Vec::new(),
            keys: (self.model.incremental.iter())
                .flat_map(|i| i.columns())
                .map(String::from)
                .collect(),
        };
        let (parts, note, scratch) = self.increment(current, df, &mut target).await?;
        let staged = self.engine.stage(self.warehouse, target, parts).await?;
        drop(scratch); // linked into the staged version
        Ok((staged, note))
    }

    /// What to write of `df`: an incremental model adds to what it stored
    /// when that gives what a full rebuild would (`target` then keeps its
    /// stored files); otherwise it is written whole, with a note saying
    /// why when it could have added.
    async fn increment(
        &self,
        current: Option<&Version>,
        df: DataFrame,
        target: &mut Target,
    ) -> Result<(Vec<DataFrame>, Option<String>, Option<Scratch>)> {
        let (model, fp) = (self.model, self.fp);
        let current = current.filter(|_| !self.options.full_refresh);
        let mut appended = Appended::new(self.engine, self.warehouse, model, &df)?;
        // Rows appended to what it reads, taken in as a full rebuild would:
        // a table folds them into its aggregation; an incremental model
        // only appends rows that way, else it follows its strategy.
        let fold = model.incremental.is_none();
        let mut note = None;
        if let (Some(a), Some(current)) = (appended.as_mut(), current) {
            match a.update(current, &fp.definition, fold).await? {
                Ok(w) => {
                    target.kept = w.kept;
                    target.meta.reads = Some(a.reads.clone());
                    if model.incremental.is_some() {
                        let meta = std::mem::take(&mut target.meta);
                        target.meta = current.record.meta.added_to(meta);
                    }
                    return Ok((w.parts, w.note, w.scratch));
                }
                Err(why) => note = why.filter(|_| fold),
            }
        }
        let Some(spec) = &model.incremental else {
            let Some(mut a) = appended else {
                return Ok((vec![df], None, None));
            };
            let w = a.whole(df, note).await?;
            target.kept = w.kept;
            target.meta.reads = Some(a.reads);
            return Ok((w.parts, w.note, w.scratch));
        };
        target.meta.reads = appended.map(|a| a.reads);
        // Built whole: the start of a new chain of additions.
        target.meta.base = fp.data.clone();
        let Some(current) = current else {
            return Ok((vec![df], None, None));
        };
        if let Some(reason) =
            incremental::must_rebuild(&current.record.meta, &fp.definition, &fp.upstream)
        {
            return Ok((
                vec![df],
                Some(format!("incremental \u{2192} full: {reason}")),
                None,
            ));
        }
        let planned = incremental::plan(self.engine, model, spec, current, df.clone()).await;
        match planned.map_err(|e| in_model(model, e))? {
            Some(increment) => {
                target.kept = increment.kept;
                target.meta = current
                    .record
                    .meta
                    .added_to(std::mem::take(&mut target.meta));
                Ok((increment.parts, None, None))
            }
            None => Ok((vec![df], None, None)),
        }
    }

    /// A view or ephemeral model: plan its SQL, test it, and publish the
    /// definition, which readers plan from then on. One that fails its
    /// tests leaves the previous definition published, and registered here.
    async fn view(&mut self, published: Option<ViewRecord>) -> Result<Done> {
        let (engine, model) = (self.engine, self.model);
        if let Some(mut view) = published
            .clone()
            .filter(|v| up_to_date(self.options, self.fp, &v.meta))
        {
            self.register_view(&view.sql).await?;
            let note = self.retest(&view.meta).await?;
            if note.is_some() {
                self.warehouse.set_view_tested(&mut view, &self.fp.tests)?;
            }
            return Ok(Done {
                note,
                ..Done::view(Status::UpToDate, &view)
            });
        }
        let df = plan_checked(engine, model).await?;
        let schema = df.schema().as_arrow().clone();
        engine.register_view(&model.name, df)?;
        if self.audit()
            && let Err(err) = self.run_tests(Audited::New).await
        {
            match published {
                Some(view) => self.register_view(&view.sql).await?,
                None => engine.deregister(Zone::Mart, &model.name)?,
            }
            return Err(err);
        }
        let view = ViewRecord {
            name: model.name.clone(),
            materialized: model.materialized.as_str().to_string(),
            sql: model.sql.clone(),
            schema,
            written_at_ms: now_ms(),
            meta: self.meta(),
        };
        self.warehouse.publish_view(&view)?;
        Ok(Done::view(Status::Built, &view))
    }

    /// Register the model as the view `sql` defines.
    async fn register_view(&self, sql: &str) -> Result<()> {
        let model = self.model;
        let df = self
            .engine
            .plan(sql)
            .await
            .map_err(|e| model_error(model, &e))?;
        self.engine.register_view(&model.name, df)
    }

    /// Run the model's tests on the version registered under its name;
    /// an error if one blocks publishing.
    async fn run_tests(&mut self, audited: Audited) -> Result<()> {
        let model = self.model;
        let outcomes = audit::run_tests(self.engine, &model.name, &model.tests).await;
        self.tests.extend(outcomes);
        match self.tests.iter().any(Outcome::blocks) {
            true => Err(tests_failed(model, self.tests, audited)),
            false => Ok(()),
        }
    }

    /// Run the tests on the published version of `meta`, registered under
    /// its name, when they (or a table they read) changed since it passed
    /// them. Returns the note for its line when they ran and passed; the
    /// caller records that they did.
    async fn retest(&mut self, meta: &Meta) -> Result<Option<String>> {
        if !retests(self.model, self.options, self.fp, meta) {
            return Ok(None);
        }
        self.run_tests(Audited::Published).await?;
        Ok(Some("tested again".to_string()))
    }
}

/// Plan a model's query and check its output against its YAML: column
/// names, `partition_by` and incremental columns.
pub async fn plan_checked(engine: &Engine, model: &Model) -> Result<DataFrame> {
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

/// The joins a model is planned with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joins {
    /// DataFusion's choice: hash joins where it can.
    Hash,
    /// Sort-merge joins, which spill under a memory limit.
    SortMerge,
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
    Error::failed(message)
        .at(declared.clone(), None)
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
            "`{name}` needs more memory than the memory limit allows, even alone and with sort-merge joins, in a part of \
             the query that cannot spill to disk: raise --memory-limit (or MART_MEMORY_LIMIT, or `config: memory_limit`), \
             or make the inputs of its joins and aggregations smaller (filter or aggregate them first)"
        ),
        Cause::DivideByZero => "a division in the query met a zero divisor: divide by `nullif(x, 0)` to get null there instead".into(),
        Cause::Cast => "a value of the data does not convert to the type asked: `try_cast(x AS type)` gives null for such values, or filter them out".into(),
        _ => String::new(),
    };
    let err = Error::failed(format!("model `{name}` failed: {}", err.message))
        .at(Location::new(&model.sql_display, 0, 0), None)
        .caused_by(err.cause.clone());
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
    Error::failed(format!(
        "model `{}`: {what} is not in its output",
        model.name
    ))
    .at(model.declared.clone(), None)
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
