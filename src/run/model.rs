//! Building one model: plan its SQL, write it (or, for a view, its
//! definition), test the new version and publish it.

use datafusion::arrow::datatypes::Schema;
use datafusion::error::DataFusionError;
use datafusion::prelude::DataFrame;

use crate::base::error::{Cause, Error, Location, Result};
use crate::base::time::now_ms;
use crate::engine::{Engine, Target};
use crate::run::audit::{self, Outcome};
use crate::run::incremental;
use crate::run::registry::{Fingerprints, Registered};
use crate::run::report::{self, Status};
use crate::spec::project::Model;
use crate::spec::sql::located_error;
use crate::storage::warehouse::{Meta, Version, ViewRecord, Warehouse, Zone};

/// How `build_model` runs a model.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Rebuild even when up to date.
    pub full_refresh: bool,
    /// Run the model's data tests on its new version before publishing it.
    pub test: bool,
}

/// What a model has published: a table's version, or a view's definition.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub table: Option<Version>,
    pub view: Option<ViewRecord>,
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
pub async fn build_model(
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
        tests.extend(audit::run_tests(engine, &model.name, &model.tests).await);
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
        tests.extend(audit::run_tests(engine, &model.name, &model.tests).await);
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
    tests.extend(audit::run_tests(engine, &model.name, &model.tests).await);
    if tests.iter().any(Outcome::blocks) {
        return Err(tests_failed(model, tests, Audited::Published));
    }
    Ok(Some("tested again".to_string()))
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
            "`{name}` needs more memory than the memory limit allows, in a part of the query that cannot spill to disk \
             (the build side of a hash join, above all): raise --memory-limit (or MART_MEMORY_LIMIT, or `config: memory_limit`), \
             or make the smaller side of its joins smaller (filter or aggregate it first)"
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
