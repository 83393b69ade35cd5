//! Incremental models: bring a stored table up to date by computing only
//! the rows that can have changed, not the whole query.
//!
//! - `time`: the query runs restricted to `column >= newest stored -
//!   lookback` (a filter DataFusion pushes down towards the scans); stored
//!   rows in that range are replaced, older rows are kept. Files wholly
//!   older than the range, known from partition folders or Parquet
//!   statistics, are carried over without being read.
//! - `key`: the query runs restricted to `column > newest stored`; a new row
//!   replaces the stored row with the same key, other stored rows stay.
//!
//! The new version is written and published like any table, so the
//! replacement is atomic.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::Schema;
use datafusion::common::{JoinType, ScalarValue};
use datafusion::functions_aggregate::expr_fn::{max, sum};
use datafusion::logical_expr::{Expr, col, ident, lit};
use datafusion::parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use datafusion::prelude::{DataFrame, ParquetReadOptions};

use crate::base::error::{Error, Result};
use crate::engine::{Engine, KeptFile};
use crate::spec::project::{Incremental, Model};
use crate::storage::warehouse::{Meta, Origin, Version};

/// What to write for an incremental build: the new rows, the stored rows
/// that stay but must be rewritten (written apart from the new ones, so
/// that the next build can keep their file whole), and the stored files
/// kept as they are.
pub struct Increment {
    pub parts: Vec<DataFrame>,
    pub kept: Vec<KeptFile>,
}

/// Plan the increment of `model` over its `current` version, from `df`, the
/// model's whole query. `None`: nothing to build on (an empty table), so
/// build it whole.
pub async fn plan(
    engine: &Engine,
    model: &Model,
    spec: &Incremental,
    current: &Version,
    df: DataFrame,
) -> Result<Option<Increment>> {
    let schema = df.schema().as_arrow().clone();
    check_schema(model, &current.record.schema, &schema)?;
    let column = spec.column();
    let stored = engine.read_version(current).await?;
    let Some((newest, from)) = bounds(model, spec, &stored).await? else {
        return Ok(None);
    };
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let stored = Stored {
        version: current,
        df: stored,
        names: &names,
    };
    let new = df.filter(recomputed(spec, &from))?;
    match spec {
        Incremental::Time { .. } => by_time(engine, stored, column, (&from, &newest), new)
            .await
            .map(Some),
        Incremental::Key { unique_key, .. } => by_key(stored, unique_key, new).await.map(Some),
    }
}

/// The rows an increment of `model` over its `current` version would
/// recompute (`mart show --sql`); `None` when nothing stored to build on.
pub async fn filter(
    engine: &Engine,
    model: &Model,
    spec: &Incremental,
    current: &Version,
) -> Result<Option<Expr>> {
    let stored = engine.read_version(current).await?;
    let bounds = bounds(model, spec, &stored).await?;
    Ok(bounds.map(|(_, from)| recomputed(spec, &from)))
}

/// The newest stored value of the strategy's column, and where the rows
/// recomputed start: that value less the lookback (time), or after it
/// (key). `None`: nothing stored to build on (an empty table, only nulls,
/// or a lookback that underflows), so the model is built whole.
async fn bounds(
    model: &Model,
    spec: &Incremental,
    stored: &DataFrame,
) -> Result<Option<(ScalarValue, ScalarValue)>> {
    let column = spec.column();
    let Some(newest) = newest(stored, column).await? else {
        return Ok(None);
    };
    let from = match spec {
        Incremental::Time { lookback, .. } => minus(model, column, &newest, *lookback)?,
        Incremental::Key { .. } => Some(newest.clone()),
    };
    Ok(from.map(|from| (newest, from)))
}

/// The rows recomputed: `column >= from` (time), `column > from` (key).
fn recomputed(spec: &Incremental, from: &ScalarValue) -> Expr {
    let (column, from) = (ident(spec.column()), lit(from.clone()));
    match spec {
        Incremental::Time { .. } => column.gt_eq(from),
        Incremental::Key { .. } => column.gt(from),
    }
}

/// The stored version an increment builds on, read whole (`df`), and the
/// names of the model's columns.
struct Stored<'a> {
    version: &'a Version,
    df: DataFrame,
    names: &'a [&'a str],
}

/// The newest value of `column` stored; `None` when there is none (an
/// empty table, or only nulls).
async fn newest(stored: &DataFrame, column: &str) -> Result<Option<ScalarValue>> {
    let batches = stored
        .clone()
        .aggregate(vec![], vec![max(ident(column))])?
        .collect()
        .await?;
    let newest = match batches.first() {
        Some(b) if b.num_rows() > 0 => ScalarValue::try_from_array(b.column(0), 0)?,
        _ => return Ok(None),
    };
    Ok((!newest.is_null()).then_some(newest))
}

/// `time`: `new`, the rows at or after `threshold`, recomputed; keep the
/// stored files wholly before it, and the older rows of the files that straddle it.
async fn by_time(
    engine: &Engine,
    stored: Stored<'_>,
    column: &str,
    (threshold, newest): (&ScalarValue, &ScalarValue),
    new: DataFrame,
) -> Result<Increment> {
    let current = stored.version;
    // Computed once, then compared with the stored rows and written.
    let new = new.cache().await?;
    let older = ident(column)
        .lt(lit(threshold.clone()))
        .or(ident(column).is_null());
    // The rows recomputed in the stored range are those stored: only rows
    // after it are new, and the stored files stay whole, so that readers
    // see rows appended (`appended`).
    let again = new
        .clone()
        .filter(ident(column).lt_eq(lit(newest.clone())))?;
    let stored_range = stored
        .df
        .clone()
        .filter(ident(column).gt_eq(lit(threshold.clone())))?
        .select_columns(stored.names)?;
    if same_rows(again, stored_range).await? {
        return Ok(Increment {
            parts: vec![new.filter(ident(column).gt(lit(newest.clone())))?],
            kept: KeptFile::all_of(current)?,
        });
    }
    let files = classify(current, column, threshold)?;
    let (kept, mixed): (Vec<_>, Vec<_>) = files
        .into_iter()
        .filter(|f| f.range != Range::Newer)
        .partition(|f| f.range == Range::Older);
    if mixed.is_empty() {
        return Ok(Increment {
            parts: vec![new],
            kept: kept.into_iter().map(|f| f.file).collect(),
        });
    }
    let (old, kept) = if current.record.partition_by.is_empty() {
        // Read only the files that straddle the range.
        let paths: Vec<String> = mixed
            .iter()
            .map(|f| f.file.path.display().to_string())
            .collect();
        let options = ParquetReadOptions {
            file_extension: "",
            schema: Some(&current.record.schema),
            ..Default::default()
        };
        let old = engine.ctx.read_parquet(paths, options).await?;
        (old, kept.into_iter().map(|f| f.file).collect())
    } else {
        // Partitioned on other columns: rewrite every stored row.
        (stored.df, Vec::new())
    };
    let old = old.filter(older)?.select_columns(stored.names)?;
    Ok(Increment {
        parts: vec![new, old],
        kept,
    })
}

/// `key`: `new`, the rows newer than the newest stored, merged in: a new
/// row replaces the stored row with the same key.
async fn by_key(stored: Stored<'_>, unique_key: &[String], new: DataFrame) -> Result<Increment> {
    // Computed once, then both merged in and used to find the rows it replaces.
    let new = new.cache().await?;
    let keys: Vec<Expr> = unique_key.iter().map(ident).collect();
    let on: Vec<Expr> = unique_key
        .iter()
        .map(|k| col(format!("old.\"{k}\"")).eq(col(format!("new.\"{k}\""))))
        .collect();
    let old = stored.df.select_columns(stored.names)?.alias("old")?;
    let new_keys = new.clone().select(keys)?.alias("new")?;
    let replaced = old
        .clone()
        .join_on(new_keys.clone(), JoinType::LeftSemi, on.clone())?
        .count()
        .await?;
    if replaced == 0 {
        // No stored row is replaced: the new rows are appended, and the
        // stored files stay whole.
        return Ok(Increment {
            parts: vec![new],
            kept: KeptFile::all_of(stored.version)?,
        });
    }
    let old = old.join_on(new_keys, JoinType::LeftAnti, on)?;
    Ok(Increment {
        parts: vec![new, old],
        kept: Vec::new(),
    })
}

/// Whether two queries of the same columns give the same rows, as many
/// times each.
async fn same_rows(a: DataFrame, b: DataFrame) -> Result<bool> {
    const SIGN: &str = "__mart_sign";
    let columns: Vec<Expr> = a
        .schema()
        .fields()
        .iter()
        .map(|f| ident(f.name()))
        .collect();
    let a = a.with_column(SIGN, lit(1i64))?;
    let b = b.with_column(SIGN, lit(-1i64))?;
    let unmatched = a
        .union(b)?
        .aggregate(columns, vec![sum(ident(SIGN)).alias(SIGN)])?
        .filter(ident(SIGN).not_eq(lit(0i64)))?
        .count()
        .await?;
    Ok(unmatched == 0)
}

/// Why an incremental model must be rebuilt whole rather than added to,
/// if it must. Adding to the stored version gives what a full rebuild
/// would only if nothing it was built from changed but by appended rows:
/// its own SQL and settings, and those of every model it reads, directly
/// or not, are the same (`definition`, `upstream` as now), and every
/// source upstream is the one it was built from plus appended rows (the
/// same whole landing, as many appends or more). A source landed whole
/// again (a row corrected or removed in an old file, a file gone) can
/// change any stored row, so the model is rebuilt whole.
pub fn must_rebuild(
    stored: &Meta,
    definition: &str,
    upstream: &BTreeMap<String, Origin>,
) -> Option<String> {
    if stored.definition != definition {
        return Some("its SQL or settings changed".into());
    }
    let Some(then) = &stored.upstream else {
        return Some("its stored version does not record what it was built from".into());
    };
    for (name, now) in upstream {
        let reason = match (then.get(name), now) {
            (None, _) => format!("it reads {name} now"),
            (Some(then), now) if then == now || then.extended_by(now) => continue,
            (Some(Origin::Model { .. }), _) => format!("{name}'s SQL or settings changed"),
            (Some(Origin::Source { .. }), _) if name.starts_with("raw.") => {
                format!("{name} was landed whole again, not only appended to")
            }
            (Some(Origin::Source { .. }), _) => format!("{name} was rebuilt whole"),
        };
        return Some(reason);
    }
    then.keys()
        .find(|name| !upstream.contains_key(*name))
        .map(|name| format!("it no longer reads {name}"))
}

/// Add what one input was built from to what a model is built from. Two
/// paths to one source that disagree (a model built before its source
/// was landed whole, beside one built after) keep a base that matches
/// nothing, so that a model reading both is rebuilt whole.
pub fn merge(into: &mut BTreeMap<String, Origin>, from: &BTreeMap<String, Origin>) {
    for (name, origin) in from {
        match (into.get_mut(name), origin) {
            (None, _) => {
                into.insert(name.clone(), origin.clone());
            }
            (
                Some(Origin::Source {
                    base: a,
                    appends: x,
                }),
                Origin::Source {
                    base: b,
                    appends: y,
                },
            ) if a == b => *x = (*x).min(*y),
            (Some(mine), theirs) if mine != theirs => {
                *mine = Origin::Source {
                    base: "(inconsistent)".into(),
                    appends: 0,
                };
            }
            _ => {}
        }
    }
}

/// Check that the query's columns are those stored: an incremental build
/// cannot add, drop or retype a column.
fn check_schema(model: &Model, stored: &Schema, new: &Schema) -> Result<()> {
    let mut changes = Vec::new();
    for f in new.fields() {
        match stored.field_with_name(f.name()) {
            Err(_) => changes.push(format!("column `{}` is new", f.name())),
            Ok(s) if s.data_type() != f.data_type() => changes.push(format!(
                "column `{}` was {} and is now {}",
                f.name(),
                s.data_type(),
                f.data_type()
            )),
            Ok(_) => {}
        }
    }
    for s in stored.fields() {
        if new.field_with_name(s.name()).is_err() {
            changes.push(format!("column `{}` is gone", s.name()));
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    Err(Error::failed(format!(
        "model `{}`: its columns changed since it was built ({}), so it cannot be built incrementally",
        model.name,
        changes.join("; ")
    ))
    .at(model.declared.clone(), None)
    .help(format!("rebuild it whole: mart build --full-refresh -s {}", model.name)))
}

/// The newest stored value minus `lookback`: days for dates and
/// timestamps, units for numbers. `None` when it would underflow.
fn minus(
    model: &Model,
    column: &str,
    newest: &ScalarValue,
    lookback: u32,
) -> Result<Option<ScalarValue>> {
    const DAY_S: i64 = 86_400;
    let days = i64::from(lookback);
    use ScalarValue as S;
    Ok(Some(match newest {
        S::Date32(Some(d)) => S::Date32(Some(d - lookback as i32)),
        S::Date64(Some(ms)) => S::Date64(Some(ms - days * DAY_S * 1_000)),
        S::TimestampSecond(Some(v), tz) => S::TimestampSecond(Some(v - days * DAY_S), tz.clone()),
        S::TimestampMillisecond(Some(v), tz) => {
            S::TimestampMillisecond(Some(v - days * DAY_S * 1_000), tz.clone())
        }
        S::TimestampMicrosecond(Some(v), tz) => {
            S::TimestampMicrosecond(Some(v - days * DAY_S * 1_000_000), tz.clone())
        }
        S::TimestampNanosecond(Some(v), tz) => {
            S::TimestampNanosecond(Some(v - days * DAY_S * 1_000_000_000), tz.clone())
        }
        v if v.data_type().is_numeric() => {
            let step = S::Int64(Some(days)).cast_to(&v.data_type())?;
            match v.sub_checked(step) {
                Ok(t) => t,
                Err(_) => return Ok(None),
            }
        }
        other => {
            return Err(Error::failed(format!(
                "model `{}`: incremental column `{column}` is {}, but the time strategy needs a date, a timestamp or a number",
                model.name,
                other.data_type()
            ))
            .at(model.declared.clone(), None)
            .help("cast the column in the query, or use `strategy: key`"));
        }
    }))
}

/// Where a stored file's rows lie against the threshold.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Every row is older (or has no value): keep the file.
    Older,
    /// Every row is in the replaced range: drop the file.
    Newer,
    /// Some of each, or unknown: rewrite its older rows.
    Mixed,
}

struct Classified {
    file: KeptFile,
    range: Range,
}

/// Every Parquet file of `version`, placed against `threshold` by its
/// partition folder when partitioned on `column`, else by its statistics.
fn classify(version: &Version, column: &str, threshold: &ScalarValue) -> Result<Vec<Classified>> {
    let files = version.parquet_files()?;
    let mut out = Vec::with_capacity(files.len());
    for (path, relative) in files {
        let file = File::open(&path).map_err(|e| Error::io("read", &path, e))?;
        let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new())
            .map_err(|e| Error::failed(format!("cannot read `{}`: {e}", path.display())))?;
        let rows = meta.metadata().file_metadata().num_rows().max(0) as u64;
        let range = match partition_value(&relative, column) {
            Some(None) => Range::Older,
            Some(Some(value)) => {
                match ScalarValue::try_from_string(value, &threshold.data_type()) {
                    Ok(v) => compare(&v, &v, false, threshold),
                    Err(_) => Range::Mixed,
                }
            }
            None => file_range(&meta, column, threshold),
        };
        out.push(Classified {
            file: KeptFile {
                path,
                relative,
                rows,
                link: true,
            },
            range,
        });
    }
    Ok(out)
}

/// The value of `column` in a hive partition path (`column=value/...`):
/// `Some(None)` for the null partition, `None` when it is not a partition.
fn partition_value(relative: &Path, column: &str) -> Option<Option<String>> {
    relative.components().find_map(|c| {
        let part = c.as_os_str().to_str()?;
        let value = part.strip_prefix(column)?.strip_prefix('=')?;
        if value == "__HIVE_DEFAULT_PARTITION__" {
            Some(None)
        } else {
            Some(Some(percent_decode(value)))
        }
    })
}

/// Partition folder names escape what a path cannot hold as `%XX`.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A file's range of `column` from its row groups' statistics.
fn file_range(meta: &ArrowReaderMetadata, column: &str, threshold: &ScalarValue) -> Range {
    let groups = meta.metadata().row_groups();
    if groups.is_empty() {
        return Range::Newer; // no rows: nothing to keep
    }
    let Ok(converter) = StatisticsConverter::try_new(column, meta.schema(), meta.parquet_schema())
    else {
        return Range::Mixed;
    };
    let (Ok(mins), Ok(maxes), Ok(nulls)) = (
        converter.row_group_mins(groups.iter()),
        converter.row_group_maxes(groups.iter()),
        converter.row_group_null_counts(groups.iter()),
    ) else {
        return Range::Mixed;
    };
    let mut lo: Option<ScalarValue> = None;
    let mut hi: Option<ScalarValue> = None;
    for (i, group) in groups.iter().enumerate() {
        let (Ok(min), Ok(max)) = (
            ScalarValue::try_from_array(&mins, i),
            ScalarValue::try_from_array(&maxes, i),
        ) else {
            return Range::Mixed;
        };
        if min.is_null() || max.is_null() {
            // No statistics, or only nulls: only an all-null group is known.
            let all_null = nulls.is_valid(i) && nulls.value(i) as i64 == group.num_rows();
            if all_null {
                continue;
            }
            return Range::Mixed;
        }
        if lo
            .as_ref()
            .is_none_or(|l| min.partial_cmp(l) == Some(Ordering::Less))
        {
            lo = Some(min);
        }
        if hi
            .as_ref()
            .is_none_or(|h| max.partial_cmp(h) == Some(Ordering::Greater))
        {
            hi = Some(max);
        }
    }
    let has_nulls = (0..groups.len()).any(|i| !nulls.is_valid(i) || nulls.value(i) > 0);
    match (lo, hi) {
        (Some(lo), Some(hi)) => compare(&lo, &hi, has_nulls, threshold),
        _ => Range::Older, // every row null: kept, as older rows are
    }
}

fn compare(lo: &ScalarValue, hi: &ScalarValue, has_nulls: bool, threshold: &ScalarValue) -> Range {
    let cast = |v: &ScalarValue| {
        if v.data_type() == threshold.data_type() {
            Some(v.clone())
        } else {
            v.cast_to(&threshold.data_type()).ok()
        }
    };
    let (Some(lo), Some(hi)) = (cast(lo), cast(hi)) else {
        return Range::Mixed;
    };
    match (hi.partial_cmp(threshold), lo.partial_cmp(threshold)) {
        (Some(Ordering::Less), _) => Range::Older,
        (_, Some(Ordering::Greater | Ordering::Equal)) if !has_nulls => Range::Newer,
        _ => Range::Mixed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_alone_keep_a_model_incremental() {
        let source = |base: &str, appends| Origin::Source {
            base: base.into(),
            appends,
        };
        let model = |d: &str| Origin::Model {
            definition: d.into(),
        };
        let then = BTreeMap::from([
            ("raw.a".to_string(), source("x", 1)),
            ("m".into(), model("d")),
        ]);
        let stored = Meta {
            definition: "def".into(),
            upstream: Some(then.clone()),
            ..Meta::default()
        };
        let now = |a, d: &str| BTreeMap::from([("raw.a".to_string(), a), ("m".into(), model(d))]);
        assert_eq!(must_rebuild(&stored, "def", &then), None);
        assert_eq!(
            must_rebuild(&stored, "def", &now(source("x", 3), "d")),
            None
        );
        let why = |a, d| must_rebuild(&stored, "def", &now(a, d)).unwrap();
        assert_eq!(
            why(source("x", 0), "d"),
            "raw.a was landed whole again, not only appended to"
        );
        assert_eq!(
            why(source("y", 1), "d"),
            "raw.a was landed whole again, not only appended to"
        );
        assert_eq!(why(source("x", 1), "e"), "m's SQL or settings changed");
        assert_eq!(
            must_rebuild(&stored, "other", &then).unwrap(),
            "its SQL or settings changed"
        );
        let mut merged = BTreeMap::from([("raw.a".to_string(), source("x", 4))]);
        merge(
            &mut merged,
            &BTreeMap::from([("raw.a".to_string(), source("x", 2))]),
        );
        assert_eq!(merged["raw.a"], source("x", 2));
        merge(
            &mut merged,
            &BTreeMap::from([("raw.a".to_string(), source("z", 2))]),
        );
        assert_eq!(
            why(merged["raw.a"].clone(), "d"),
            "raw.a was landed whole again, not only appended to"
        );
    }

    #[test]
    fn partition_values() {
        let p = Path::new("order_date=2024-01-02/part-0.parquet");
        assert_eq!(
            partition_value(p, "order_date"),
            Some(Some("2024-01-02".into()))
        );
        assert_eq!(partition_value(p, "order"), None);
        let p = Path::new("a=__HIVE_DEFAULT_PARTITION__/x.parquet");
        assert_eq!(partition_value(p, "a"), Some(None));
        assert_eq!(percent_decode("2024-01-02%2010%3A00"), "2024-01-02 10:00");
        assert_eq!(percent_decode("100%"), "100%");
    }

    #[test]
    fn ranges() {
        let t = ScalarValue::Int64(Some(10));
        let v = |x| ScalarValue::Int64(Some(x));
        assert_eq!(compare(&v(1), &v(9), false, &t), Range::Older);
        assert_eq!(compare(&v(10), &v(20), false, &t), Range::Newer);
        assert_eq!(compare(&v(10), &v(20), true, &t), Range::Mixed);
        assert_eq!(compare(&v(5), &v(10), false, &t), Range::Mixed);
    }
}
