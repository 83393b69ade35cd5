//! `mart`'s own SQL functions, registered in every session (models,
//! `mart query`, the server) so that each path sees the same ones; each
//! documented with DataFusion's `Documentation`.

mod stats;

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::prelude::SessionContext;

const SECTION: DocSection = DocSection {
    include: true,
    label: "A/B tests and cohorts (mart)",
    description: None,
};

/// A function of numbers to a number: null in, null out.
type Formula = fn(&[f64]) -> std::result::Result<Option<f64>, String>;

/// A scalar function over `Float64` arguments (integers and decimals are
/// cast), row by row.
#[derive(Debug)]
struct Numeric {
    name: &'static str,
    signature: Signature,
    formula: Formula,
    doc: &'static LazyLock<Documentation>,
}

impl PartialEq for Numeric {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Numeric {}

impl std::hash::Hash for Numeric {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Numeric {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let columns = arrays
            .iter()
            .map(|a| {
                Ok(cast(a, &DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone())
            })
            .collect::<Result<Vec<_>>>()?;
        let mut values = vec![0.0; columns.len()];
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            if columns.iter().any(|c| c.is_null(row)) {
                out.push(None);
                continue;
            }
            for (v, c) in values.iter_mut().zip(&columns) {
                *v = c.value(row);
            }
            let value = (self.formula)(&values)
                .map_err(|why| DataFusionError::Execution(format!("{}: {why}", self.name)))?;
            out.push(value);
        }
        let array: ArrayRef = Arc::new(Float64Array::from(out));
        Ok(ColumnarValue::Array(array))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(self.doc)
    }
}

fn numeric(
    name: &'static str,
    arity: usize,
    formula: Formula,
    doc: &'static LazyLock<Documentation>,
) -> ScalarUDF {
    let signature = Signature::uniform(arity, vec![DataType::Float64], Volatility::Immutable);
    ScalarUDF::new_from_impl(Numeric {
        name,
        signature,
        formula,
        doc,
    })
}

static AB_Z_PVALUE: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        SECTION,
        "Two-sided p-value of the pooled two-proportion z-test: the chance of rates at least this far apart if the two arms converted alike (statsmodels' proportions_ztest). Null for an empty arm or when no one (or everyone) converted.",
        "ab_z_pvalue(conversions_a, users_a, conversions_b, users_b)",
    )
    .with_argument("conversions_a", "users of arm A who converted")
    .with_argument("users_a", "users in arm A")
    .with_argument("conversions_b", "users of arm B who converted")
    .with_argument("users_b", "users in arm B")
    .with_sql_example("select ab_z_pvalue(120, 1000, 150, 1000) -- 0.0496...")
    .build()
});

static SRM_PVALUE: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        SECTION,
        "Sample ratio mismatch check: the p-value of Pearson's chi-squared goodness of fit of the arms' sizes against the intended split (SciPy's chisquare). A small value (say below 0.001) means the assignment is broken and the test's result cannot be trusted.",
        "srm_pvalue(users_a, users_b, intended_share_a)",
    )
    .with_argument("users_a", "users assigned to arm A")
    .with_argument("users_b", "users assigned to arm B")
    .with_argument("intended_share_a", "the share of users meant for arm A, in (0, 1): 0.5 for an even split")
    .with_sql_example("select srm_pvalue(5100, 4900, 0.5) -- 0.0455...")
    .build()
});

static WELCH_T_PVALUE: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        SECTION,
        "Two-sided p-value of Welch's t-test (unequal variances) from each arm's count, mean and sample variance (count, avg, var_samp): do the means, say revenue per user, differ? SciPy's ttest_ind_from_stats with equal_var=False. Null when an arm has fewer than 2 users or neither arm varies.",
        "welch_t_pvalue(users_a, mean_a, variance_a, users_b, mean_b, variance_b)",
    )
    .with_argument("users_a", "users in arm A")
    .with_argument("mean_a", "the mean of arm A's values")
    .with_argument("variance_a", "the sample variance (n - 1 in the denominator) of arm A's values")
    .with_argument("users_b", "users in arm B")
    .with_argument("mean_b", "the mean of arm B's values")
    .with_argument("variance_b", "the sample variance of arm B's values")
    .with_sql_example("select welch_t_pvalue(1000, 5.2, 4.0, 1000, 5.0, 4.5) -- 0.0302...")
    .build()
});

static AB_DIFF_LOW: LazyLock<Documentation> = LazyLock::new(|| diff_doc("low"));
static AB_DIFF_HIGH: LazyLock<Documentation> = LazyLock::new(|| diff_doc("high"));

fn diff_doc(end: &str) -> Documentation {
    Documentation::builder(
        SECTION,
        format!("The {end} end of the confidence interval of the difference of conversion rates, conversions_a/users_a - conversions_b/users_b: Newcombe's hybrid score interval from the arms' Wilson intervals (statsmodels' confint_proportions_2indep, method newcomb). Null for an empty arm."),
        format!("ab_diff_{end}(conversions_a, users_a, conversions_b, users_b, confidence)"),
    )
    .with_argument("conversions_a", "users of arm A who converted")
    .with_argument("users_a", "users in arm A")
    .with_argument("conversions_b", "users of arm B who converted")
    .with_argument("users_b", "users in arm B")
    .with_argument("confidence", "the confidence level, in (0, 1): 0.95 for 95 %")
    .with_sql_example(format!("select ab_diff_{end}(150, 1000, 120, 1000, 0.95)"))
    .build()
}

/// Register every function of `mart`'s own in `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(numeric(
        "ab_z_pvalue",
        4,
        |v| stats::proportions_z_pvalue(v[0], v[1], v[2], v[3]),
        &AB_Z_PVALUE,
    ));
    ctx.register_udf(numeric(
        "welch_t_pvalue",
        6,
        |v| stats::welch_t_pvalue(v[0], v[1], v[2], v[3], v[4], v[5]),
        &WELCH_T_PVALUE,
    ));
    ctx.register_udf(numeric(
        "ab_diff_low",
        5,
        |v| Ok(stats::proportions_diff_interval(v[0], v[1], v[2], v[3], v[4])?.map(|i| i.0)),
        &AB_DIFF_LOW,
    ));
    ctx.register_udf(numeric(
        "ab_diff_high",
        5,
        |v| Ok(stats::proportions_diff_interval(v[0], v[1], v[2], v[3], v[4])?.map(|i| i.1)),
        &AB_DIFF_HIGH,
    ));
    ctx.register_udf(numeric(
        "srm_pvalue",
        3,
        |v| stats::srm_pvalue(v[0], v[1], v[2]),
        &SRM_PVALUE,
    ));
}
