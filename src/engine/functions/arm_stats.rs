//! `arm_stats(value)`: an arm's users, mean and sample variance in one
//! pass, as the struct the Welch functions take apart.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Signature, Volatility,
};

use super::SECTION;
use super::stats::Moments;

fn fields() -> Fields {
    Fields::from(vec![
        Field::new("users", DataType::Int64, false),
        Field::new("mean", DataType::Float64, true),
        Field::new("variance", DataType::Float64, true),
    ])
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArmStats {
    signature: Signature,
}

impl AggregateUDFImpl for ArmStats {
    fn name(&self) -> &str {
        "arm_stats"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Struct(fields()))
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Welford::default()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = |part: &str| format!("{}[{part}]", args.name);
        Ok(vec![
            Arc::new(Field::new(name("count"), DataType::UInt64, false)),
            Arc::new(Field::new(name("mean"), DataType::Float64, false)),
            Arc::new(Field::new(name("mean_low"), DataType::Float64, false)),
            Arc::new(Field::new(name("m2"), DataType::Float64, false)),
        ])
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&ARM_STATS)
    }
}

/// The moments of the values seen so far: each batch by the corrected
/// two-pass algorithm, batches and partitions merged by Chan's formula.
#[derive(Debug, Default)]
struct Welford {
    moments: Moments,
    values: Vec<f64>,
}

impl Accumulator for Welford {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = cast(&values[0], &DataType::Float64)?;
        let values = values.as_primitive::<Float64Type>();
        self.values.clear();
        if values.null_count() == 0 {
            self.values.extend_from_slice(values.values());
        } else {
            self.values.extend(values.iter().flatten());
        }
        self.moments = self.moments.merge(Moments::of(&self.values));
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let counts = states[0].as_primitive::<UInt64Type>();
        let means = states[1].as_primitive::<Float64Type>();
        let lows = states[2].as_primitive::<Float64Type>();
        let m2s = states[3].as_primitive::<Float64Type>();
        for i in 0..counts.len() {
            self.moments = self.moments.merge(Moments {
                count: counts.value(i),
                mean: means.value(i),
                mean_low: lows.value(i),
                m2: m2s.value(i),
            });
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let m = self.moments;
        Ok(vec![
            ScalarValue::UInt64(Some(m.count)),
            ScalarValue::Float64(Some(m.mean)),
            ScalarValue::Float64(Some(m.mean_low)),
            ScalarValue::Float64(Some(m.m2)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let m = self.moments;
        let mean = (m.count > 0).then_some(m.mean);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![m.count as i64])),
            Arc::new(Float64Array::from(vec![mean])),
            Arc::new(Float64Array::from(vec![m.variance()])),
        ];
        Ok(ScalarValue::Struct(Arc::new(StructArray::try_new(
            fields(),
            columns,
            None,
        )?)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * 8
    }
}

pub fn function() -> AggregateUDF {
    AggregateUDF::new_from_impl(ArmStats {
        signature: Signature::uniform(1, vec![DataType::Float64], Volatility::Immutable),
    })
}

static ARM_STATS: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        SECTION,
        "One arm's statistics for Welch's test, in one pass over its values: a struct of users (the non-null values), mean and variance (sample variance, n - 1 in the denominator; null under 2 values). Numerically stable: batches by the corrected two-pass algorithm, merged by Chan's formula, never from a difference of sums of squares.",
        "arm_stats(value)",
    )
    .with_argument("value", "the per-user value, say revenue")
    .with_sql_example(
        "select variant, s['users'], s['mean'], s['variance'] from (select variant, arm_stats(revenue) as s from per_user group by variant)",
    )
    .build()
});

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::RecordBatch;
    use datafusion::arrow::datatypes::Schema;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    /// 10M values around 1e9 (spread about 1): a difference of sums of
    /// squares loses every digit; the aggregate must agree with an exact
    /// two-pass computation, in 1 partition or 8.
    #[tokio::test]
    async fn ten_million_values_near_a_billion_agree_with_two_passes() {
        let rows = 10_000_000;
        let mut state = 7u64;
        let values: Vec<f64> = (0..rows)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                1e9 + 4.0 * ((state >> 11) as f64 / (1u64 << 53) as f64)
            })
            .collect();
        let (mean, variance) = two_pass(&values);
        let naive = {
            let (s, q) = values
                .iter()
                .fold((0.0, 0.0), |(s, q), v| (s + v, q + v * v));
            (q - s * s / rows as f64) / (rows - 1) as f64
        };
        assert!(
            (naive - variance).abs() > 0.1 * variance,
            "the check has no teeth"
        );

        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, false)]));
        let batches: Vec<RecordBatch> = values
            .chunks(8192)
            .map(|c| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(Float64Array::from(c.to_vec()))],
                )
                .unwrap()
            })
            .collect();
        let mut answers = vec![];
        for partitions in [1, 8] {
            let ctx = SessionContext::new_with_config(
                SessionConfig::new().with_target_partitions(partitions),
            );
            ctx.register_udaf(function());
            let parts: Vec<Vec<RecordBatch>> = (0..partitions)
                .map(|p| {
                    batches
                        .iter()
                        .skip(p)
                        .step_by(partitions)
                        .cloned()
                        .collect()
                })
                .collect();
            ctx.register_table(
                "t",
                Arc::new(MemTable::try_new(schema.clone(), parts).unwrap()),
            )
            .unwrap();
            let out = ctx
                .sql("select s['users'], s['mean'], s['variance'] from (select arm_stats(x) as s from t)")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let users = out[0]
                .column(0)
                .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                .value(0);
            let got_mean = out[0].column(1).as_primitive::<Float64Type>().value(0);
            let got_variance = out[0].column(2).as_primitive::<Float64Type>().value(0);
            assert_eq!(users, rows as i64);
            assert!(
                ((got_mean - mean) / mean).abs() < 1e-15,
                "{partitions}: mean {got_mean} vs {mean}"
            );
            let error = ((got_variance - variance) / variance).abs();
            assert!(
                error < 1e-13,
                "{partitions}: variance {got_variance} vs {variance}, {error:e}"
            );
            answers.push((got_mean, got_variance));
        }
        let (one, eight) = (answers[0], answers[1]);
        assert!(
            one.0 == eight.0 && ((one.1 - eight.1) / one.1).abs() < 1e-14,
            "{one:?} vs {eight:?}"
        );
    }

    /// Mean and sample variance by compensated (Neumaier) sums, twice.
    fn two_pass(values: &[f64]) -> (f64, f64) {
        let sum = |it: &mut dyn Iterator<Item = f64>| {
            let (mut s, mut c) = (0.0f64, 0.0f64);
            for v in it {
                let t = s + v;
                c += if s.abs() >= v.abs() {
                    (s - t) + v
                } else {
                    (v - t) + s
                };
                s = t;
            }
            s + c
        };
        let n = values.len() as f64;
        let mean = sum(&mut values.iter().copied()) / n;
        let squares = sum(&mut values.iter().map(|v| (v - mean) * (v - mean)));
        (mean, squares / (n - 1.0))
    }

    #[test]
    fn empty_and_single_values_have_no_variance() {
        let mut w = Welford::default();
        let ScalarValue::Struct(s) = w.evaluate().unwrap() else {
            panic!()
        };
        assert!(s.column(1).is_null(0) && s.column(2).is_null(0));
        w.update_batch(&[Arc::new(Float64Array::from(vec![Some(3.0), None]))])
            .unwrap();
        let ScalarValue::Struct(s) = w.evaluate().unwrap() else {
            panic!()
        };
        assert_eq!(s.column(1).as_primitive::<Float64Type>().value(0), 3.0);
        assert!(s.column(2).is_null(0));
    }
}
