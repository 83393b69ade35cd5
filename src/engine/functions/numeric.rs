//! The statistics functions: scalar functions of numbers (and, for some,
//! a trailing option such as the test's alternative), row by row.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};

use super::SECTION;
use super::stats::{self, Alternative};

type Answer<T> = std::result::Result<Option<T>, String>;

/// How a function's value comes from its arguments.
#[derive(Debug, Clone, Copy)]
enum Formula {
    /// A function of numbers, and of the text option when given.
    Value(fn(&[f64], Option<&str>) -> Answer<f64>),
    /// One end (0 low, 1 high) of an interval of numbers.
    End(fn(&[f64]) -> Answer<(f64, f64)>, usize),
}

/// A scalar function over `Float64` arguments (integers and decimals are
/// cast), with an optional trailing text option; null in, null out.
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
        let mut arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let option = match arrays.last() {
            Some(last) if last.data_type() != &DataType::Float64 => {
                Some(cast(&arrays.pop().expect("an argument"), &DataType::Utf8)?)
            }
            _ => None,
        };
        let option: Option<&StringArray> = option.as_ref().map(|o| o.as_string());
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
            if columns.iter().any(|c| c.is_null(row)) || option.is_some_and(|o| o.is_null(row)) {
                out.push(None);
                continue;
            }
            for (v, c) in values.iter_mut().zip(&columns) {
                *v = c.value(row);
            }
            out.push(self.at(&values, option.map(|o| o.value(row)))?);
        }
        let array: ArrayRef = Arc::new(Float64Array::from(out));
        Ok(ColumnarValue::Array(array))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(self.doc)
    }
}

impl Numeric {
    /// The value at one row's arguments: an error, never NaN, for a
    /// NaN or infinite argument.
    fn at(&self, values: &[f64], option: Option<&str>) -> Result<Option<f64>> {
        let fail = |why: String| DataFusionError::Execution(format!("{}: {why}", self.name));
        if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(fail(format!(
                "argument {} is {v}: the arguments must be finite numbers",
                i + 1
            )));
        }
        let value = match self.formula {
            Formula::Value(f) => f(values, option),
            Formula::End(f, end) => f(values).map(|i| i.map(|i| [i.0, i.1][end])),
        }
        .map_err(fail)?;
        debug_assert!(
            value.is_none_or(|v| !v.is_nan()),
            "{}({values:?}) is NaN",
            self.name
        );
        Ok(value)
    }
}

/// A function of `arity` numbers, and of a text option after them when
/// `option`.
fn numeric(
    name: &'static str,
    arity: usize,
    option: bool,
    formula: Formula,
    doc: &'static LazyLock<Documentation>,
) -> ScalarUDF {
    let numbers = TypeSignature::Uniform(arity, vec![DataType::Float64]);
    let signature = if option {
        let mut with_option = vec![DataType::Float64; arity];
        with_option.push(DataType::Utf8);
        Signature::one_of(
            vec![numbers, TypeSignature::Exact(with_option)],
            Volatility::Immutable,
        )
    } else {
        Signature::new(numbers, Volatility::Immutable)
    };
    ScalarUDF::new_from_impl(Numeric {
        name,
        signature,
        formula,
        doc,
    })
}

/// The two arms of a test of means from six arguments.
fn arms(v: &[f64]) -> (stats::Arm, stats::Arm) {
    ((v[0], v[1], v[2]), (v[3], v[4], v[5]))
}

/// The low and high ends of an interval as two functions.
fn interval(
    names: [&'static str; 2],
    arity: usize,
    f: fn(&[f64]) -> Answer<(f64, f64)>,
    docs: [&'static LazyLock<Documentation>; 2],
) -> [ScalarUDF; 2] {
    [0, 1].map(|end| numeric(names[end], arity, false, Formula::End(f, end), docs[end]))
}

pub fn functions() -> Vec<ScalarUDF> {
    let mut all = vec![
        numeric(
            "ab_z_pvalue",
            4,
            true,
            Formula::Value(|v, alternative| {
                let alternative =
                    alternative.map_or(Ok(Alternative::TwoSided), Alternative::parse)?;
                stats::proportions_z_pvalue(v[0], v[1], v[2], v[3], alternative)
            }),
            &AB_Z_PVALUE,
        ),
        numeric(
            "ab_sample_size",
            4,
            false,
            Formula::Value(|v, _| Ok(stats::sample_size(v[0], v[1], v[2], v[3])?.map(f64::ceil))),
            &AB_SAMPLE_SIZE,
        ),
        numeric(
            "welch_t_pvalue",
            6,
            false,
            Formula::Value(|v, _| {
                let (a, b) = arms(v);
                stats::welch_t_pvalue(a, b)
            }),
            &WELCH_T_PVALUE,
        ),
        numeric(
            "srm_pvalue",
            3,
            false,
            Formula::Value(|v, _| stats::srm_pvalue(v[0], v[1], v[2])),
            &SRM_PVALUE,
        ),
    ];
    all.extend(interval(
        ["ab_diff_low", "ab_diff_high"],
        5,
        |v| stats::proportions_diff_interval(v[0], v[1], v[2], v[3], v[4]),
        [&AB_DIFF_LOW, &AB_DIFF_HIGH],
    ));
    all.extend(interval(
        ["ab_lift_low", "ab_lift_high"],
        5,
        |v| stats::lift_interval(v[0], v[1], v[2], v[3], v[4]),
        [&AB_LIFT_LOW, &AB_LIFT_HIGH],
    ));
    all.extend(interval(
        ["welch_diff_low", "welch_diff_high"],
        7,
        |v| {
            let (a, b) = arms(v);
            stats::welch_interval(a, b, v[6])
        },
        [&WELCH_DIFF_LOW, &WELCH_DIFF_HIGH],
    ));
    all
}

const ARMS: [(&str, &str); 4] = [
    (
        "conversions_a",
        "users of arm A (the variant) who converted",
    ),
    ("users_a", "users in arm A"),
    (
        "conversions_b",
        "users of arm B (the control) who converted",
    ),
    ("users_b", "users in arm B"),
];

const MEANS: [(&str, &str); 6] = [
    (
        "users_a",
        "users in arm A (the variant): arm_stats(value)['users'] or count",
    ),
    ("mean_a", "the mean of arm A's values"),
    (
        "variance_a",
        "the sample variance (n - 1 in the denominator) of arm A's values",
    ),
    ("users_b", "users in arm B (the control)"),
    ("mean_b", "the mean of arm B's values"),
    ("variance_b", "the sample variance of arm B's values"),
];

const CONFIDENCE: (&str, &str) = (
    "confidence",
    "the confidence level, in (0, 1): 0.95 for 95 %",
);

fn doc(
    description: String,
    syntax: String,
    arguments: &[(&str, &str)],
    example: String,
) -> Documentation {
    let mut builder = Documentation::builder(SECTION, description, syntax);
    for (name, text) in arguments {
        builder = builder.with_argument(*name, *text);
    }
    builder.with_sql_example(example).build()
}

static AB_Z_PVALUE: LazyLock<Documentation> = LazyLock::new(|| {
    let mut arguments = ARMS.to_vec();
    arguments.push((
        "alternative",
        "optional: 'two-sided' (the default), 'larger' for A's rate above B's, 'smaller' for below ('greater' and 'less' also read)",
    ));
    doc(
        "p-value of the pooled two-proportion z-test: the chance of rates at least this far apart (or this far above, or below) if the two arms converted alike (statsmodels' proportions_ztest). Null for an empty arm or when no one (or everyone) converted.".into(),
        "ab_z_pvalue(conversions_a, users_a, conversions_b, users_b [, alternative])".into(),
        &arguments,
        "select ab_z_pvalue(120, 1000, 150, 1000) -- 0.0496..., and ab_z_pvalue(150, 1000, 120, 1000, 'larger') -- 0.0248...".into(),
    )
});

static AB_DIFF_LOW: LazyLock<Documentation> = LazyLock::new(|| diff_doc("low"));
static AB_DIFF_HIGH: LazyLock<Documentation> = LazyLock::new(|| diff_doc("high"));

fn diff_doc(end: &str) -> Documentation {
    let mut arguments = ARMS.to_vec();
    arguments.push(CONFIDENCE);
    doc(
        format!(
            "The {end} end of the confidence interval of the difference of conversion rates, conversions_a/users_a - conversions_b/users_b: Newcombe's hybrid score interval from the arms' Wilson intervals (statsmodels' confint_proportions_2indep, method newcomb). Null for an empty arm."
        ),
        format!("ab_diff_{end}(conversions_a, users_a, conversions_b, users_b, confidence)"),
        &arguments,
        format!("select ab_diff_{end}(150, 1000, 120, 1000, 0.95)"),
    )
}

static AB_LIFT_LOW: LazyLock<Documentation> = LazyLock::new(|| lift_doc("low"));
static AB_LIFT_HIGH: LazyLock<Documentation> = LazyLock::new(|| lift_doc("high"));

fn lift_doc(end: &str) -> Documentation {
    let mut arguments = ARMS.to_vec();
    arguments.push(CONFIDENCE);
    doc(
        format!(
            "The {end} end of the confidence interval of the relative lift of arm A over arm B, (conversions_a/users_a) / (conversions_b/users_b) - 1: the delta method on the log of the ratio, variance 1/conversions_a - 1/users_a + 1/conversions_b - 1/users_b (statsmodels' confint_proportions_2indep, compare ratio, method log). Null when an arm has no conversions."
        ),
        format!("ab_lift_{end}(conversions_a, users_a, conversions_b, users_b, confidence)"),
        &arguments,
        format!("select ab_lift_{end}(150, 1000, 120, 1000, 0.95)"),
    )
}

static AB_SAMPLE_SIZE: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The users needed in each of two equal arms for a two-sided two-proportion test at level alpha to detect a change of the conversion rate from baseline to baseline + effect with the given power, rounded up (statsmodels' NormalIndPower().solve_power with Cohen's h from proportion_effectsize). Null for an effect of zero.".into(),
        "ab_sample_size(baseline, effect, alpha, power)".into(),
        &[
            ("baseline", "the control's conversion rate, in (0, 1)"),
            ("effect", "the smallest absolute change of the rate worth detecting: 0.01 for 10 % to 11 %"),
            ("alpha", "the significance level, in (0, 1): 0.05"),
            ("power", "the chance of detecting the effect when it is real, in (alpha, 1): 0.8"),
        ],
        "select ab_sample_size(0.10, 0.01, 0.05, 0.8) -- 14745".into(),
    )
});

static WELCH_T_PVALUE: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Two-sided p-value of Welch's t-test (unequal variances) from each arm's count, mean and sample variance (from arm_stats, or count, avg and var_samp): do the means, say revenue per user, differ? SciPy's ttest_ind_from_stats with equal_var=False. Null when an arm has fewer than 2 users or neither arm varies.".into(),
        "welch_t_pvalue(users_a, mean_a, variance_a, users_b, mean_b, variance_b)".into(),
        &MEANS,
        "select welch_t_pvalue(1000, 5.2, 4.0, 1000, 5.0, 4.5) -- 0.0302...".into(),
    )
});

static WELCH_DIFF_LOW: LazyLock<Documentation> = LazyLock::new(|| welch_doc("low"));
static WELCH_DIFF_HIGH: LazyLock<Documentation> = LazyLock::new(|| welch_doc("high"));

fn welch_doc(end: &str) -> Documentation {
    let mut arguments = MEANS.to_vec();
    arguments.push(CONFIDENCE);
    doc(
        format!(
            "The {end} end of Welch's confidence interval of the difference of means, mean_a - mean_b: the difference ± Student's t quantile at Welch–Satterthwaite's degrees of freedom times its standard error √(variance_a/users_a + variance_b/users_b). Null when an arm has fewer than 2 users or neither arm varies."
        ),
        format!(
            "welch_diff_{end}(users_a, mean_a, variance_a, users_b, mean_b, variance_b, confidence)"
        ),
        &arguments,
        format!("select welch_diff_{end}(1000, 5.2, 4.0, 1000, 5.0, 4.5, 0.95)"),
    )
}

static SRM_PVALUE: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Sample ratio mismatch check: the p-value of Pearson's chi-squared goodness of fit of the arms' sizes against the intended split (SciPy's chisquare). A small value (say below 0.001) means the assignment is broken and the test's result cannot be trusted.".into(),
        "srm_pvalue(users_a, users_b, intended_share_a)".into(),
        &[
            ("users_a", "users assigned to arm A"),
            ("users_b", "users assigned to arm B"),
            ("intended_share_a", "the share of users meant for arm A, in (0, 1): 0.5 for an even split"),
        ],
        "select srm_pvalue(5100, 4900, 0.5) -- 0.0455...".into(),
    )
});
