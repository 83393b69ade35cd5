//! Landing a source read from a database (see `extract`): whole, skipped
//! while the table's change marker is the one landed, or, with
//! `incremental:`, only the rows at or past the largest cursor value landed.
//!
//! An incremental landing reads `cursor >= largest landed - lag` (a closed
//! range: rows written in the same instant as the largest are read again)
//! and merges: with a primary key, a row read replaces the landed row with
//! the same key; without one, the rows read replace the landed rows of the
//! range. Rows that only add to what is landed make an append (models
//! downstream stay incremental); rows that change landed ones make a new
//! whole version. Deletes in the database are not seen: `--full-refresh`.

use std::time::Duration;

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::common::{JoinType, ScalarValue};
use datafusion::functions_aggregate::expr_fn::max;
use datafusion::logical_expr::{Expr, col, ident, lit};
use datafusion::prelude::DataFrame;

use super::Fresh;
use crate::base::error::{Cause, Error, Result};
use crate::base::time::stamp;
use crate::engine::{Engine, KeptFile, Target};
use crate::extract::{self, Request};
use crate::run::fingerprint;
use crate::run::report::{Reporter, Status};
use crate::spec::database::{Cursor, Database, Lag};
use crate::spec::project::Source;
use crate::storage::warehouse::{Meta, Version, Warehouse, Zone};

/// Land a database source, retrying connection errors with backoff.
pub(super) async fn land(
    engine: &Engine,
    warehouse: &Warehouse,
    source: &Source,
    db: &Database,
    full_refresh: bool,
    reporter: &Reporter,
) -> Result<Fresh> {
    let url = extract::connection_string(&source.name, &db.url)?;
    let mut attempt = 0;
    loop {
        match land_once(engine, warehouse, source, db, &url, full_refresh, reporter).await {
            Err(e) if e.cause == Cause::Connection && attempt < db.retries => {
                attempt += 1;
                let wait = Duration::from_millis(500 << attempt.min(6));
                reporter.warn(&format!(
                    "{}: retry {attempt} of {} in {:.0?}",
                    e.message, db.retries, wait
                ));
                tokio::time::sleep(wait).await;
            }
            Err(mut e) => {
                if !e.message.starts_with("source `") {
                    e.message = format!("source `{}`: {}", source.name, e.message);
                }
                return Err(e);
            }
            ok => return ok,
        }
    }
}

async fn land_once(
    engine: &Engine,
    warehouse: &Warehouse,
    source: &Source,
    db: &Database,
    url: &str,
    full_refresh: bool,
    reporter: &Reporter,
) -> Result<Fresh> {
    let current = warehouse.current(Zone::Raw, &source.name)?;
    let definition = fingerprint::database(source, &extract::endpoint(url));
    let declared: Vec<(String, DataType)> = source
        .columns
        .iter()
        .filter_map(|c| Some((c.name.clone(), c.read_as.clone()?)))
        .collect();
    // The version landed by this definition, unless a full refresh sets it
    // aside: the one a change marker or a cursor can be compared with. The
    // marker costs the server a scan of the table, so it is read only then.
    let comparable = current
        .as_ref()
        .filter(|c| !full_refresh && c.record.meta.definition == definition);
    let request = Request {
        source: &source.name,
        database: db,
        url,
        declared: &declared,
        marker: db.incremental.is_none() && comparable.is_some(),
    };
    let opened = extract::open(&request).await?;
    let data = opened.marker.clone().unwrap_or_else(stamp);
    let landing = fingerprint::landing(&definition, &data);
    if let Some(current) = comparable
        && current.record.meta.fingerprint == landing
    {
        engine.register(Zone::Raw, current).await?;
        return Ok(Fresh::new(Status::UpToDate, current.clone(), None));
    }
    let schema = opened.schema.clone();
    let split = extract::split(&source.name, db, &schema)?;
    let meta = Meta {
        fingerprint: landing.clone(),
        base: landing,
        definition: definition.clone(),
        ..Meta::default()
    };
    // Read by the cursor, past what the comparable version holds.
    let resume = match (&db.incremental, comparable) {
        (Some(cursor), Some(c)) => c
            .record
            .meta
            .cursor
            .as_ref()
            .map(|value| (cursor, c, value)),
        _ => None,
    };
    let from = match resume {
        Some((cursor, _, value)) => {
            let i = schema.index_of(&cursor.column)?;
            Some((i, threshold(value, schema.field(i).data_type(), cursor)?))
        }
        None => None,
    };
    let filter = match (&from, resume) {
        (Some((i, value)), Some((cursor, ..))) => {
            Some(opened.reading.since(*i, &cursor.column, value)?)
        }
        _ => None,
    };
    let zero_dates = opened.reading.zero_dates();
    let streams = opened
        .reading
        .streams(schema.clone(), filter, split)
        .await?;
    let df = declared_types(engine.read_batches(schema, streams)?, &declared)?;
    let target = Target {
        zone: Zone::Raw,
        name: source.name.clone(),
        partition_by: Vec::new(),
        inputs: Vec::new(),
        meta,
        kept: Vec::new(),
        keys: Vec::new(),
    };
    let fresh = match (resume, from) {
        (Some((cursor, current, _)), Some((_, from)))
            if same_columns(df.schema().as_arrow(), &current.record.schema) =>
        {
            merge(engine, warehouse, target, cursor, from, current, df).await?
        }
        _ => {
            let version = publish(engine, warehouse, target, vec![df], db).await?;
            Fresh::new(Status::Landed, version, None)
        }
    };
    let zero_dates = zero_dates.map_or(0, |n| n.load(std::sync::atomic::Ordering::Relaxed));
    if zero_dates > 0 {
        reporter.warn(&format!(
            "source `{}`: {zero_dates} zero dates (0000-00-00) landed as null",
            source.name
        ));
    }
    Ok(fresh)
}

/// Merge the rows read by the cursor (`df`) into the landed `current`.
async fn merge(
    engine: &Engine,
    warehouse: &Warehouse,
    mut target: Target,
    cursor: &Cursor,
    from: ScalarValue,
    current: &Version,
    df: DataFrame,
) -> Result<Fresh> {
    // The rows read, staged apart (streamed: memory stays flat), to be
    // compared with what is landed.
    let read = engine
        .stage(warehouse, target_like(&target), vec![df])
        .await?;
    let result = async {
        let new = engine.read_version(&read.version).await?;
        let landed = engine.read_version(current).await?;
        let names: Vec<String> = current
            .record
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let landed =
            landed.select_columns(&names.iter().map(String::as_str).collect::<Vec<_>>())?;
        // Rows not landed as they are: new, or changed. A landed row equal
        // to a row read has its cursor value, so only the landed rows of the
        // range are compared (files wholly before it are not read).
        let at = || ident(&cursor.column).gt_eq(lit(from.clone()));
        let in_range = landed.clone().filter(at())?;
        let fresh = new.clone().except(in_range.clone())?.cache().await?;
        let fresh_rows = fresh.clone().count().await? as u64;
        let key = &cursor.primary_key;
        if key.is_empty() {
            // Without a key: the rows read replace the landed rows of the range.
            let window = in_range.count().await?;
            if fresh_rows == 0 && window == new.clone().count().await? {
                return Ok(None);
            }
            let older = std::ops::Not::not(at()).or(ident(&cursor.column).is_null());
            return Ok(Some((vec![new, landed.filter(older)?], None)));
        }
        if fresh_rows == 0 {
            return Ok(None);
        }
        let on = |l: &str, r: &str| -> Vec<Expr> {
            key.iter()
                .map(|k| col(format!("{l}.\"{k}\"")).eq(col(format!("{r}.\"{k}\""))))
                .collect()
        };
        let keys = || key.iter().map(ident).collect::<Vec<_>>();
        let changed = fresh
            .clone()
            .alias("new")?
            .join_on(
                landed.clone().select(keys())?.alias("old")?,
                JoinType::LeftSemi,
                on("new", "old"),
            )?
            .count()
            .await?;
        if changed == 0 {
            // Only rows whose keys are not landed: an append.
            target.meta = current.record.meta.added_to(target.meta.clone());
            target.kept.extend(KeptFile::all_of(current)?);
            return Ok(Some((vec![fresh], Some(fresh_rows))));
        }
        let kept = landed.alias("old")?.join_on(
            fresh.clone().select(keys())?.alias("new")?,
            JoinType::LeftAnti,
            on("old", "new"),
        )?;
        Ok(Some((vec![fresh, kept], None)))
    }
    .await;
    let outcome = match result {
        Ok(Some((parts, appended))) => {
            let version = publish_parts(engine, warehouse, target, parts, cursor).await;
            version.map(|v| Fresh::new(Status::Landed, v, appended))
        }
        Ok(None) => {
            engine.register(Zone::Raw, current).await?;
            Ok(Fresh::new(Status::UpToDate, current.clone(), None))
        }
        Err(e) => Err(e),
    };
    read.discard();
    outcome
}

fn target_like(target: &Target) -> Target {
    Target {
        zone: Zone::Raw,
        name: format!("{}.read", target.name),
        partition_by: Vec::new(),
        inputs: Vec::new(),
        meta: Meta::default(),
        kept: Vec::new(),
        keys: Vec::new(),
    }
}

/// Write and publish a whole landing, with the cursor's largest value.
async fn publish(
    engine: &Engine,
    warehouse: &Warehouse,
    target: Target,
    parts: Vec<DataFrame>,
    db: &Database,
) -> Result<Version> {
    match &db.incremental {
        Some(cursor) => publish_parts(engine, warehouse, target, parts, cursor).await,
        None => Ok(engine.materialize(warehouse, target, parts).await?.0),
    }
}

/// Write `parts` as the new version and publish it with the largest value
/// of the cursor it holds.
async fn publish_parts(
    engine: &Engine,
    warehouse: &Warehouse,
    target: Target,
    parts: Vec<DataFrame>,
    cursor: &Cursor,
) -> Result<Version> {
    let mut staged = engine.stage(warehouse, target, parts).await?;
    let largest = async {
        let df = engine.read_version(&staged.version).await?;
        largest(&df, &cursor.column).await
    };
    match largest.await {
        Ok(value) => staged.version.record.meta.cursor = value,
        Err(e) => {
            staged.discard();
            return Err(e);
        }
    }
    engine.publish(warehouse, staged).await
}

/// The largest value of `column`, as text; `None` without one.
async fn largest(df: &DataFrame, column: &str) -> Result<Option<String>> {
    let batches = df
        .clone()
        .aggregate(vec![], vec![max(ident(column))])?
        .collect()
        .await?;
    Ok(batches
        .first()
        .filter(|b| b.num_rows() > 0 && b.column(0).is_valid(0))
        .map(|b| array_value_to_string(b.column(0), 0))
        .transpose()?)
}

/// The cursor value to read from: the largest landed, less `lag`.
fn threshold(value: &str, dt: &DataType, cursor: &Cursor) -> Result<ScalarValue> {
    let parsed = cast(&StringArray::from(vec![value]), dt)?;
    let v = ScalarValue::try_from_array(&parsed, 0)?;
    let Some(lag) = cursor.lag else {
        return Ok(v);
    };
    let bad = || {
        Error::usage(format!(
            "the cursor `{}` is {dt}: `lag` must be {}",
            cursor.column,
            if dt.is_numeric() {
                "a number"
            } else {
                "a duration"
            }
        ))
    };
    use ScalarValue as S;
    Ok(match (&v, lag) {
        (S::TimestampMicrosecond(Some(t), tz), Lag::Time(d)) => {
            S::TimestampMicrosecond(Some(t - d.as_micros() as i64), tz.clone())
        }
        (S::Date32(Some(days)), Lag::Time(d)) => {
            S::Date32(Some(days - d.as_secs().div_ceil(86_400) as i32))
        }
        (v, Lag::Number(n)) if dt.is_numeric() => {
            let step = S::Float64(Some(n)).cast_to(dt)?;
            v.sub_checked(step)?
        }
        _ => return Err(bad()),
    })
}

/// The columns declared with a `type:` in the YAML, cast to it.
fn declared_types(df: DataFrame, declared: &[(String, DataType)]) -> Result<DataFrame> {
    if declared.is_empty() {
        return Ok(df);
    }
    let exprs: Vec<Expr> = df
        .schema()
        .fields()
        .iter()
        .map(|f| {
            match declared
                .iter()
                .find(|(c, _)| c.eq_ignore_ascii_case(f.name()))
            {
                Some((_, t)) if t != f.data_type() => {
                    datafusion::logical_expr::cast(ident(f.name()), t.clone()).alias(f.name())
                }
                _ => ident(f.name()),
            }
        })
        .collect();
    Ok(df.select(exprs)?)
}

/// Whether the rows read have the landed columns, in order and type.
fn same_columns(read: &Schema, landed: &Schema) -> bool {
    read.fields().len() == landed.fields().len()
        && read
            .fields()
            .iter()
            .zip(landed.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
}
