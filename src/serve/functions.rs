//! Postgres functions that clients call and datafusion-pg-catalog lacks.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
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
    ]
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
