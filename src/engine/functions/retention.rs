//! `retention(active_users, period) over (partition by cohort)`: each
//! row's active users over the cohort's users in its period 0.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Documentation, PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};

use super::SECTION;

#[derive(Debug, PartialEq, Eq, Hash)]
struct Retention {
    signature: Signature,
}

impl WindowUDFImpl for Retention {
    fn name(&self) -> &str {
        "retention"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(
        &self,
        _args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(Rates))
    }

    fn field(&self, args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(args.name(), DataType::Float64, true)))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&RETENTION)
    }
}

/// The rates of one cohort (one window partition), all rows at once.
#[derive(Debug)]
struct Rates;

impl PartitionEvaluator for Rates {
    fn evaluate_all(&mut self, values: &[ArrayRef], rows: usize) -> Result<ArrayRef> {
        let active = cast(&values[0], &DataType::Float64)?;
        let active = active.as_primitive::<Float64Type>();
        let periods = cast(&values[1], &DataType::Int64)?;
        let periods = periods.as_primitive::<Int64Type>();
        let mut firsts = (0..rows).filter(|&i| periods.is_valid(i) && periods.value(i) == 0);
        let size = match (firsts.next(), firsts.next()) {
            (Some(_), Some(_)) => {
                return exec_err!(
                    "retention: a cohort has more than one row for period 0; aggregate to one row per cohort and period first, and partition by every column of the cohort"
                );
            }
            (Some(i), None) if active.is_valid(i) && active.value(i) > 0.0 => Some(active.value(i)),
            _ => None,
        };
        let rates: Float64Array = active.iter().map(|a| Some(a? / size?)).collect();
        Ok(Arc::new(rates))
    }
}

pub fn function() -> WindowUDF {
    WindowUDF::new_from_impl(Retention {
        signature: Signature::exact(
            vec![DataType::Float64, DataType::Int64],
            Volatility::Immutable,
        ),
    })
}

static RETENTION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        SECTION,
        "A window function over one row per cohort and period: each row's active users divided by the cohort's size, the active users of its row for period 0 (the period the cohort is defined by, so 1.0 there). Partition by the cohort; no order is needed. Null for a cohort with no period 0 row or none active in it; an error when a cohort has two rows for period 0.",
        "retention(active_users, period) over (partition by cohort)",
    )
    .with_argument("active_users", "the users of the cohort active in the period")
    .with_argument("period", "whole periods since the cohort's, 0 for its own: see periods_between")
    .with_sql_example(
        "select cohort_month, months, retention(active, months) over (partition by cohort_month) from activity_by_month",
    )
    .build()
});
