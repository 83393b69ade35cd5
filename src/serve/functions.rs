//! Postgres functions that clients call and datafusion-pg-catalog lacks.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::scalar::ScalarValue;

/// The version the server reports: a plain `16.x`, which clients parse.
pub const SERVER_VERSION: &str = "16.6";

pub fn all() -> Vec<ScalarUDF> {
    vec![
        version_udf(),
        to_regtype_udf(),
        constant(
            "pg_type_is_visible",
            vec![DataType::Int32],
            ScalarValue::Boolean(Some(true)),
        ),
        size_pretty_udf(),
        // A column of an index: the mart has none (SQLAlchemy 2 plans it).
        constant(
            "pg_get_indexdef",
            vec![DataType::Int64, DataType::Int64, DataType::Boolean],
            ScalarValue::Utf8(None),
        ),
    ]
}

/// `pg_table_size(oid)` and its kin (psql's `\dt+`): the bytes of the
/// table's Parquet files, by `pg_class` oid; null for what is not a table.
pub fn table_size_udfs(bytes: HashMap<i64, i64>) -> Vec<ScalarUDF> {
    let bytes = Arc::new(bytes);
    [
        "pg_table_size",
        "pg_total_relation_size",
        "pg_relation_size",
    ]
    .into_iter()
    .map(|name| {
        let bytes = bytes.clone();
        create_udf(
            name,
            vec![DataType::Int64],
            DataType::Int64,
            Volatility::Stable,
            Arc::new(move |args| {
                let oids = args[0].to_array(1)?;
                let oids = cast(&oids, &DataType::Int64)?;
                let oids = oids.as_primitive::<Int64Type>();
                let out: Int64Array = oids
                    .iter()
                    .map(|oid| oid.and_then(|o| bytes.get(&o).copied()))
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }),
        )
    })
    .collect()
}

/// `pg_size_pretty(bigint)`, rounded as Postgres rounds it.
fn size_pretty_udf() -> ScalarUDF {
    create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args| {
            let sizes = cast(&args[0].to_array(1)?, &DataType::Int64)?;
            let sizes = sizes.as_primitive::<Int64Type>();
            let out: StringArray = (0..sizes.len())
                .map(|i| (!sizes.is_null(i)).then(|| size_pretty(sizes.value(i))))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// Postgres' `pg_size_pretty`: bytes below 10 kB, then kB, MB, GB, TB
/// and PB below 20,480 of each, the last unit half-rounded.
fn size_pretty(size: i64) -> String {
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    if size.abs() < 10 * 1024 {
        return format!("{size} bytes");
    }
    // Kept in half-units of the next unit, to round on it.
    let mut size = size / (1 << 9);
    for unit in ["kB", "MB", "GB", "TB"] {
        if size.abs() < 20 * 1024 - 1 {
            return format!("{} {unit}", half_rounded(size));
        }
        size /= 1 << 10;
    }
    format!("{} PB", half_rounded(size))
}

/// A function of `args` that always answers `value`.
fn constant(name: &str, args: Vec<DataType>, value: ScalarValue) -> ScalarUDF {
    let returns = value.data_type();
    create_udf(
        name,
        args,
        returns,
        Volatility::Stable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(value.clone()))),
    )
}

/// `version()` as Postgres words it: clients (SQLAlchemy, Metabase) parse
/// the number after "PostgreSQL".
fn version_udf() -> ScalarUDF {
    let text = format!(
        "PostgreSQL {SERVER_VERSION} (mart {}, Apache DataFusion {})",
        env!("CARGO_PKG_VERSION"),
        datafusion::DATAFUSION_VERSION
    );
    create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(text.clone()))))),
    )
}

/// `to_regtype(name)`: SQLAlchemy asks it of type names it meets; the oid
/// aliases are not modelled, so it answers "no such type" (null), as
/// Postgres does for a name it does not know.
fn to_regtype_udf() -> ScalarUDF {
    constant("to_regtype", vec![DataType::Utf8], ScalarValue::Int32(None))
}

#[cfg(test)]
mod tests {
    use super::size_pretty;

    #[test]
    fn sizes_read_as_postgres_writes_them() {
        // Values from PostgreSQL 15's `pg_size_pretty`.
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10239), "10239 bytes");
        assert_eq!(size_pretty(10240), "10 kB");
        assert_eq!(size_pretty(1_000_000), "977 kB");
        assert_eq!(size_pretty(20_970_000), "20 MB");
        assert_eq!(size_pretty(1 << 40), "1024 GB");
        assert_eq!(size_pretty(-20_000), "-20 kB");
        assert_eq!(size_pretty(20_970_000_000_000_000), "19 PB");
        assert_eq!(size_pretty(1535 * 1024), "1535 kB");
    }
}
