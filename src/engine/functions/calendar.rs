//! Cohort periods: the start of the period a date falls in, and the whole
//! periods between two dates, as SQL functions of a unit and dates
//! (timestamps and date strings are cast to dates).

use std::sync::{Arc, LazyLock};

use chrono::{Datelike, Days, Months, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type};
use datafusion::common::types::{NativeType, logical_date, logical_string};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, TypeSignatureClass, Volatility,
};

use super::SECTION;

/// A calendar period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Unit {
    Day,
    /// Weeks starting on Monday (ISO 8601), or on Sunday.
    Week {
        sunday: bool,
    },
    Month,
    Quarter,
    Year,
}

impl Unit {
    pub fn parse(text: &str) -> std::result::Result<Unit, String> {
        let unit = text.trim().to_ascii_lowercase().replace(' ', "");
        Ok(match unit.as_str() {
            "day" => Unit::Day,
            "week" | "isoweek" | "week(monday)" => Unit::Week { sunday: false },
            "week(sunday)" => Unit::Week { sunday: true },
            "month" => Unit::Month,
            "quarter" => Unit::Quarter,
            "year" => Unit::Year,
            _ => {
                return Err(format!(
                    "unknown unit '{text}': use 'day', 'week' (ISO, from Monday), 'week(sunday)', 'month', 'quarter' or 'year'"
                ));
            }
        })
    }

    fn months(self) -> Option<u32> {
        match self {
            Unit::Month => Some(1),
            Unit::Quarter => Some(3),
            Unit::Year => Some(12),
            Unit::Day | Unit::Week { .. } => None,
        }
    }
}

const EPOCH: NaiveDate = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();

fn date(days: i32) -> Option<NaiveDate> {
    EPOCH.checked_add_signed(chrono::TimeDelta::days(days.into()))
}

fn days(date: NaiveDate) -> i32 {
    (date - EPOCH).num_days() as i32
}

/// The first day of the period `day` (days since 1970-01-01) falls in.
pub fn period_start(unit: Unit, day: i32) -> Option<i32> {
    let d = date(day)?;
    let start = match unit {
        Unit::Day => d,
        Unit::Week { sunday } => {
            let weekday = d.weekday();
            let back = if sunday {
                weekday.num_days_from_sunday()
            } else {
                weekday.num_days_from_monday()
            };
            d.checked_sub_days(Days::new(back.into()))?
        }
        Unit::Month => d.with_day(1)?,
        Unit::Quarter => NaiveDate::from_ymd_opt(d.year(), (d.month0() / 3) * 3 + 1, 1)?,
        Unit::Year => NaiveDate::from_ymd_opt(d.year(), 1, 1)?,
    };
    Some(days(start))
}

/// The whole periods from `start` to `end` (negative when `end` is
/// earlier), counted from `start`: the k of largest size with start + k
/// periods not past `end`. Months are added as SQL's intervals add them,
/// on the same day or the month's last: Jan 31 → Feb 28 is one month
/// (Jan 31 + 1 month = Feb 28), Jan 31 → Feb 27 none, Feb 28 → Mar 30 one
/// (python-dateutil's `relativedelta`). Weeks are 7 days whatever the
/// first day of the week.
pub fn periods_between(unit: Unit, start: i32, end: i32) -> Option<i64> {
    let Some(months) = unit.months() else {
        let span = i64::from(end) - i64::from(start);
        return Some(if unit == Unit::Day { span } else { span / 7 });
    };
    let (s, e) = (date(start)?, date(end)?);
    let calendar =
        i64::from(e.year() - s.year()) * 12 + i64::from(e.month()) - i64::from(s.month());
    let past = |k: i64| -> Option<bool> {
        let step = Months::new((k.unsigned_abs() * u64::from(months)) as u32);
        let moved = if k >= 0 {
            s.checked_add_months(step)?
        } else {
            s.checked_sub_months(step)?
        };
        Some(if end >= start { moved > e } else { moved < e })
    };
    // The calendar months, in whole periods toward zero, are at most one
    // period too many: the day of the month may not be reached yet.
    let mut k = calendar / i64::from(months);
    if past(k)? {
        k -= k.signum();
    }
    Some(k)
}

/// The arguments as arrays: the units parsed row by row (a literal once),
/// the dates as days since 1970-01-01.
fn arguments(
    name: &str,
    args: &ScalarFunctionArgs,
) -> Result<(Vec<Option<Unit>>, Vec<Date32Array>)> {
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let units = cast(&arrays[0], &DataType::Utf8)?;
    let units: &StringArray = units.as_string();
    let mut parsed: Option<(String, Unit)> = None;
    let mut out = Vec::with_capacity(units.len());
    for text in units.iter() {
        out.push(match text {
            None => None,
            Some(t) if parsed.as_ref().is_some_and(|(p, _)| p == t) => parsed.as_ref().map(|p| p.1),
            Some(t) => {
                let unit = Unit::parse(t)
                    .map_err(|why| DataFusionError::Execution(format!("{name}: {why}")))?;
                parsed = Some((t.to_string(), unit));
                Some(unit)
            }
        });
    }
    let dates = arrays[1..]
        .iter()
        .map(|a| {
            Ok(cast(a, &DataType::Date32)?
                .as_primitive::<Date32Type>()
                .clone())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((out, dates))
}

fn out_of_range(name: &str) -> DataFusionError {
    DataFusionError::Execution(format!("{name}: a date is outside the calendar's range"))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CohortPeriod {
    signature: Signature,
}

impl ScalarUDFImpl for CohortPeriod {
    fn name(&self) -> &str {
        "cohort_period"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Date32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (units, dates) = arguments(self.name(), &args)?;
        let out = units
            .iter()
            .zip(dates[0].iter())
            .map(|(unit, day)| match (unit, day) {
                (Some(unit), Some(day)) => period_start(*unit, day)
                    .map(Some)
                    .ok_or_else(|| out_of_range(self.name())),
                _ => Ok(None),
            })
            .collect::<Result<Date32Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&COHORT_PERIOD)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PeriodsBetween {
    signature: Signature,
}

impl ScalarUDFImpl for PeriodsBetween {
    fn name(&self) -> &str {
        "periods_between"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (units, dates) = arguments(self.name(), &args)?;
        let out = units
            .iter()
            .zip(dates[0].iter().zip(dates[1].iter()))
            .map(|(unit, pair)| match (unit, pair) {
                (Some(unit), (Some(start), Some(end))) => periods_between(*unit, start, end)
                    .map(Some)
                    .ok_or_else(|| out_of_range(self.name())),
                _ => Ok(None),
            })
            .collect::<Result<Int64Array>>()?;
        Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&PERIODS_BETWEEN)
    }
}

/// A unit, then `dates` dates (timestamps and strings cast to dates).
fn unit_and_dates(dates: usize) -> Signature {
    let unit = Coercion::new_exact(TypeSignatureClass::Native(logical_string()));
    let date = Coercion::new_implicit(
        TypeSignatureClass::Native(logical_date()),
        vec![
            TypeSignatureClass::Timestamp,
            TypeSignatureClass::Native(logical_string()),
        ],
        NativeType::Date,
    );
    let mut arguments = vec![unit];
    arguments.extend(std::iter::repeat_n(date, dates));
    Signature::coercible(arguments, Volatility::Immutable)
}

pub fn functions() -> [ScalarUDF; 2] {
    [
        ScalarUDF::new_from_impl(CohortPeriod {
            signature: unit_and_dates(1),
        }),
        ScalarUDF::new_from_impl(PeriodsBetween {
            signature: unit_and_dates(2),
        }),
    ]
}

const UNITS: &str =
    "'day', 'week' (ISO 8601: from Monday), 'week(sunday)', 'month', 'quarter' or 'year'";

static COHORT_PERIOD: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        SECTION,
        "The first day of the period a date or timestamp falls in: the cohort it belongs to. Timestamps are taken at their date, a timestamp with a time zone at its date in that zone (as cast(t as date) does).",
        "cohort_period(unit, date)",
    )
    .with_argument("unit", UNITS)
    .with_argument("date", "a date, timestamp or date string")
    .with_sql_example("select cohort_period('week(sunday)', date '2026-03-04') -- 2026-03-01")
    .build()
});

static PERIODS_BETWEEN: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        SECTION,
        "The whole periods from the start to the end (negative when the end is earlier), counted as interval arithmetic counts them: k whole months have passed when start + k months is not after the end, months added on the same day or the month's last. So Jan 31 to Feb 28 is 1 month (Jan 31 + 1 month = Feb 28) and Jan 31 to Feb 27 is 0 (python-dateutil's relativedelta). Weeks are whole 7 days. For a cohort table's period number, take the periods between the cohort's period and the activity's: periods_between('month', cohort_period('month', signed_up_at), cohort_period('month', ordered_at)).",
        "periods_between(unit, start, end)",
    )
    .with_argument("unit", UNITS)
    .with_argument("start", "a date, timestamp or date string")
    .with_argument("end", "a date, timestamp or date string")
    .with_sql_example("select periods_between('month', date '2026-01-31', date '2026-02-28') -- 1")
    .build()
});

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> i32 {
        days(text.parse().unwrap())
    }

    #[test]
    fn month_ends_count_as_people_add_months() {
        let m = |a, b| periods_between(Unit::Month, day(a), day(b)).unwrap();
        assert_eq!(m("2026-01-31", "2026-02-28"), 1);
        assert_eq!(m("2026-01-31", "2026-02-27"), 0);
        assert_eq!(m("2026-01-31", "2026-03-30"), 1);
        assert_eq!(m("2026-01-31", "2026-03-31"), 2);
        assert_eq!(m("2024-02-29", "2025-02-28"), 12);
        assert_eq!(m("2026-03-30", "2026-01-31"), -1);
        assert_eq!(m("2026-02-28", "2026-01-31"), 0);
        assert_eq!(m("2026-05-15", "2026-05-15"), 0);
        assert_eq!(
            periods_between(Unit::Quarter, day("2026-01-31"), day("2026-04-30")),
            Some(1)
        );
        assert_eq!(
            periods_between(Unit::Year, day("2024-02-29"), day("2025-02-28")),
            Some(1)
        );
        assert_eq!(
            periods_between(
                Unit::Week { sunday: true },
                day("2026-01-01"),
                day("2025-12-24")
            ),
            Some(-1)
        );
    }

    /// Every day of four years, every unit: the period's start is on or
    /// before the day, its next period's after, and it is a Monday, a
    /// Sunday or a first of a month as the unit says; the whole periods
    /// between two period starts are their calendar distance.
    #[test]
    fn every_day_falls_in_its_period() {
        let units = [
            Unit::Day,
            Unit::Week { sunday: false },
            Unit::Week { sunday: true },
            Unit::Month,
            Unit::Quarter,
            Unit::Year,
        ];
        for d in day("2023-01-01")..day("2027-01-01") {
            for unit in units {
                let start = period_start(unit, d).unwrap();
                let first = date(start).unwrap();
                let next = match unit.months() {
                    Some(m) => days(first.checked_add_months(Months::new(m)).unwrap()),
                    None if unit == Unit::Day => start + 1,
                    None => start + 7,
                };
                assert!(start <= d && d < next, "{unit:?} {:?}", date(d));
                match unit {
                    Unit::Week { sunday } => assert_eq!(
                        first.weekday(),
                        if sunday {
                            chrono::Weekday::Sun
                        } else {
                            chrono::Weekday::Mon
                        }
                    ),
                    Unit::Month => assert_eq!(first.day(), 1),
                    Unit::Quarter => assert!(first.day() == 1 && first.month0().is_multiple_of(3)),
                    Unit::Year => assert_eq!(first.ordinal(), 1),
                    Unit::Day => {}
                }
                assert_eq!(periods_between(unit, start, next), Some(1));
                assert_eq!(periods_between(unit, next, start), Some(-1));
                assert_eq!(periods_between(unit, start, next - 1), Some(0));
            }
        }
    }

    /// `tests/stats/periods.csv`: whole months, quarters and years between
    /// 600 pairs of dates (many at months' ends) by dateutil's relativedelta.
    #[test]
    fn whole_periods_agree_with_dateutil() {
        let table = include_str!("../../../tests/stats/periods.csv");
        for line in table.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let got = periods_between(Unit::parse(f[0]).unwrap(), day(f[1]), day(f[2]));
            assert_eq!(got, Some(f[3].parse().unwrap()), "{line}");
        }
    }

    #[test]
    fn units_are_named_as_written() {
        assert_eq!(
            Unit::parse(" Week(Sunday) "),
            Ok(Unit::Week { sunday: true })
        );
        assert_eq!(Unit::parse("isoweek"), Ok(Unit::Week { sunday: false }));
        assert!(
            Unit::parse("fortnight")
                .unwrap_err()
                .contains("'week(sunday)'")
        );
    }
}
