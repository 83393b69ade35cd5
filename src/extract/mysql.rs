//! MySQL and MariaDB: a read-only transaction `WITH CONSISTENT SNAPSHOT`
//! per landing, its rows streamed in the binary protocol (typed values, not
//! text) and decoded into Arrow batches on a task of their own, handed on
//! through a bounded channel so that memory stays flat.
//!
//! MySQL cannot share a snapshot between connections, so a source is read
//! on one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringArray, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Opts, OptsBuilder, Row, Value};

use super::{BATCH_ROWS, Batches, Opened, Request, described, produced};
use crate::base::error::{Cause, Error, Result};
use crate::spec::database::Relation;

/// The charset number of binary strings (BLOB, VARBINARY).
const BINARY: u16 = 63;

pub struct Reading {
    conn: Conn,
    from: String,
    source: String,
    /// Zero dates read (`0000-00-00`), landed as nulls.
    zero_dates: Arc<AtomicU64>,
}

/// Connect, open the snapshot and describe the columns. The change
/// marker (`CHECKSUM TABLE`) is read before the snapshot opens: a change
/// between the two is landed, and seen again next time, never missed.
pub async fn open(req: &Request<'_>) -> Result<Opened<Reading>> {
    let opts = Opts::from_url(req.url).map_err(|e| {
        Error::usage(format!(
            "source `{}`: the connection string is not MySQL's: {e}",
            req.source
        ))
        .help("write it as mysql://user:password@host:3306/database")
    })?;
    let timeout = req.database.statement_timeout;
    let opts = OptsBuilder::from_opts(opts)
        .init(vec!["SET SESSION time_zone = '+00:00'".to_string()])
        .prefer_socket(false);
    let source = req.source.to_string();
    let mut conn = Conn::new(opts).await.map_err(|e| fail(&source, e))?;
    // MariaDB's limit is in seconds, MySQL's in milliseconds.
    let version: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(|e| fail(&source, e))?;
    let ms = timeout.map(|t| t.as_millis()).unwrap_or(0);
    let limit = match version.unwrap_or_default().contains("MariaDB") {
        true => format!("SET SESSION max_statement_time = {}", ms as f64 / 1000.0),
        false => format!("SET SESSION max_execution_time = {ms}"),
    };
    conn.query_drop(limit).await.map_err(|e| fail(&source, e))?;
    let from = match &req.database.relation {
        Relation::Table(t) => t.split('.').map(quote).collect::<Vec<_>>().join("."),
        Relation::Query(q) => format!("({}) AS mart_query", q.trim().trim_end_matches(';')),
    };
    let marker = match (&req.database.relation, req.marker) {
        (Relation::Table(_), true) => {
            let sql = format!("CHECKSUM TABLE {from}");
            let row: Option<Row> = conn.query_first(sql).await.map_err(|e| fail(&source, e))?;
            row.and_then(|mut r| r.take::<Option<u64>, _>(1).flatten())
                .map(|sum| sum.to_string())
        }
        _ => None,
    };
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(|e| fail(&source, e))?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(|e| fail(&source, e))?;
    let statement = conn
        .prep(format!("SELECT * FROM {from}"))
        .await
        .map_err(|e| fail(&source, e))?;
    let mut fields = Vec::new();
    for c in statement.columns().iter() {
        let name = c.name_str().to_string();
        let dt = arrow_type(c, req.declared(&name)).map_err(|why| {
            Error::failed(format!(
                "source `{}`: column `{name}` of {}: {why}",
                req.source,
                req.database.relation.describe()
            ))
            .help("cast it to a type mart lands in `query:` (e.g. `CAST(col AS CHAR)`)")
        })?;
        fields.push(Field::new(name, dt, true));
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    described(req, &schema)?;
    Ok(Opened {
        schema,
        marker,
        reading: Reading {
            conn,
            from,
            source,
            zero_dates: Arc::default(),
        },
    })
}

impl Reading {
    pub fn zero_dates(&self) -> Arc<AtomicU64> {
        self.zero_dates.clone()
    }

    /// The condition `column >= value`, the value as a MySQL literal.
    pub fn since(&self, column: &str, value: &ScalarValue) -> Result<String> {
        let text = match value {
            ScalarValue::TimestampMicrosecond(Some(t), _) => {
                datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(*t)
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
                    .unwrap_or_default()
            }
            v => v.to_string(),
        };
        Ok(format!("{} >= {}", quote(column), super::literal(&text)))
    }

    /// Stream the rows that match `filter` (one part: see the module).
    pub async fn streams(self, schema: SchemaRef, filter: Option<String>) -> Result<Vec<Batches>> {
        let Reading {
            mut conn,
            from,
            source,
            zero_dates,
        } = self;
        let sql = format!(
            "SELECT * FROM {from} WHERE {}",
            filter.unwrap_or_else(|| "TRUE".into())
        );
        let stream = produced(2, |tx| async move {
            let result = async {
                let mut rows = conn
                    .exec_iter(sql, ())
                    .await
                    .map_err(|e| fail(&source, e))?;
                let mut batch = Batch::new(schema.clone(), zero_dates);
                while let Some(row) = rows.next().await.map_err(|e| fail(&source, e))? {
                    batch
                        .push(row)
                        .map_err(|why| Error::failed(format!("source `{source}`: {why}")))?;
                    if batch.rows >= BATCH_ROWS {
                        let b = batch.finish()?;
                        if tx.send(Ok(b)).await.is_err() {
                            return Ok(()); // the reader is gone
                        }
                    }
                }
                if batch.rows > 0 {
                    let _ = tx.send(Ok(batch.finish()?)).await;
                }
                Ok::<_, Error>(())
            }
            .await;
            if let Err(e) = result {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(vec![stream])
    }
}

/// A name quoted for MySQL.
fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The Arrow type a MySQL column lands as.
fn arrow_type(c: &Column, declared: Option<&DataType>) -> std::result::Result<DataType, String> {
    use ColumnType::*;
    let unsigned = c.flags().contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = c.character_set() == BINARY;
    Ok(match c.column_type() {
        MYSQL_TYPE_TINY if unsigned => DataType::UInt8,
        MYSQL_TYPE_TINY => DataType::Int8,
        MYSQL_TYPE_SHORT if unsigned => DataType::UInt16,
        MYSQL_TYPE_SHORT => DataType::Int16,
        MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG if unsigned => DataType::UInt32,
        MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG => DataType::Int32,
        MYSQL_TYPE_LONGLONG if unsigned => DataType::UInt64,
        MYSQL_TYPE_LONGLONG => DataType::Int64,
        MYSQL_TYPE_YEAR => DataType::UInt16,
        MYSQL_TYPE_BIT => DataType::UInt64,
        MYSQL_TYPE_FLOAT => DataType::Float32,
        MYSQL_TYPE_DOUBLE => DataType::Float64,
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => {
            let scale = c.decimals() as u32;
            let signs = u32::from(scale > 0) + u32::from(!unsigned);
            let precision = c.column_length().saturating_sub(signs).max(1);
            match declared {
                Some(d @ DataType::Decimal128(..)) => d.clone(),
                _ if precision > 38 => {
                    return Err(format!(
                        "`decimal({precision}, {scale})` does not fit a decimal of 38 digits: declare its `type: decimal(38, s)` if its values fit"
                    ));
                }
                _ => DataType::Decimal128(precision as u8, scale as i8),
            }
        }
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => DataType::Date32,
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => DataType::Time64(TimeUnit::Microsecond),
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_STRING
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB => match binary {
            true => DataType::Binary,
            false => DataType::Utf8,
        },
        MYSQL_TYPE_ENUM | MYSQL_TYPE_SET | MYSQL_TYPE_JSON => DataType::Utf8,
        other => return Err(format!("type `{other:?}` is not one `mart` lands")),
    })
}

/// The rows read since the last batch, column by column.
struct Batch {
    schema: SchemaRef,
    columns: Vec<Builder>,
    rows: usize,
    zero_dates: Arc<AtomicU64>,
}

impl Batch {
    fn new(schema: SchemaRef, zero_dates: Arc<AtomicU64>) -> Batch {
        let columns = schema
            .fields()
            .iter()
            .map(|f| Builder::new(f.data_type()))
            .collect();
        Batch {
            schema,
            columns,
            rows: 0,
            zero_dates,
        }
    }

    fn push(&mut self, row: Row) -> std::result::Result<(), String> {
        for ((b, v), f) in self
            .columns
            .iter_mut()
            .zip(row.unwrap_raw())
            .zip(self.schema.fields())
        {
            let zero = b
                .push(v.unwrap_or(Value::NULL))
                .map_err(|why| format!("column `{}`: {why}", f.name()))?;
            if zero {
                self.zero_dates.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<RecordBatch> {
        let arrays = self
            .columns
            .iter_mut()
            .zip(self.schema.fields())
            .map(|(b, f)| {
                b.finish()
                    .map_err(|why| Error::failed(format!("column `{}`: {why}", f.name())))
            });
        let arrays = arrays.collect::<Result<Vec<ArrayRef>>>()?;
        self.rows = 0;
        Ok(RecordBatch::try_new(self.schema.clone(), arrays)?)
    }
}

/// One column's builder, by the type it lands as.
enum Builder {
    I8(Int8Builder),
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    U8(UInt8Builder),
    U16(UInt16Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    /// Text's bytes, checked as UTF-8 once per batch.
    Text(BinaryBuilder),
    Bytes(BinaryBuilder),
}

impl Builder {
    fn new(dt: &DataType) -> Builder {
        match dt {
            DataType::Int8 => Builder::I8(Int8Builder::new()),
            DataType::Int16 => Builder::I16(Int16Builder::new()),
            DataType::Int32 => Builder::I32(Int32Builder::new()),
            DataType::Int64 => Builder::I64(Int64Builder::new()),
            DataType::UInt8 => Builder::U8(UInt8Builder::new()),
            DataType::UInt16 => Builder::U16(UInt16Builder::new()),
            DataType::UInt32 => Builder::U32(UInt32Builder::new()),
            DataType::UInt64 => Builder::U64(UInt64Builder::new()),
            DataType::Float32 => Builder::F32(Float32Builder::new()),
            DataType::Float64 => Builder::F64(Float64Builder::new()),
            DataType::Decimal128(p, s) => {
                Builder::Decimal(Decimal128Builder::new().with_data_type(dt.clone()), *p, *s)
            }
            DataType::Date32 => Builder::Date(Date32Builder::new()),
            DataType::Time64(_) => Builder::Time(Time64MicrosecondBuilder::new()),
            DataType::Timestamp(_, tz) => {
                Builder::Timestamp(TimestampMicrosecondBuilder::new().with_timezone_opt(tz.clone()))
            }
            DataType::Binary => Builder::Bytes(BinaryBuilder::new()),
            _ => Builder::Text(BinaryBuilder::new()),
        }
    }

    /// Append a value; `true` when it was a zero date, appended as null.
    fn push(&mut self, v: Value) -> std::result::Result<bool, String> {
        fn int<T: TryFrom<i64> + TryFrom<u64>>(
            v: &Value,
        ) -> std::result::Result<Option<T>, String> {
            let out = match *v {
                Value::Int(i) => T::try_from(i).ok(),
                Value::UInt(u) => T::try_from(u).ok(),
                Value::Bytes(ref b) => {
                    // BIT(n): big-endian bytes.
                    let n = b.iter().fold(0u64, |acc, x| (acc << 8) | *x as u64);
                    T::try_from(n).ok()
                }
                _ => return Err(format!("{v:?} where an integer was expected")),
            };
            out.map(Some)
                .ok_or_else(|| format!("{v:?} is out of the column's range"))
        }
        let zero = |b: &mut Builder| {
            b.push_null();
            Ok(true)
        };
        if let Value::NULL = v {
            self.push_null();
            return Ok(false);
        }
        match self {
            Builder::I8(b) => b.append_option(int(&v)?),
            Builder::I16(b) => b.append_option(int(&v)?),
            Builder::I32(b) => b.append_option(int(&v)?),
            Builder::I64(b) => b.append_option(int(&v)?),
            Builder::U8(b) => b.append_option(int(&v)?),
            Builder::U16(b) => b.append_option(int(&v)?),
            Builder::U32(b) => b.append_option(int(&v)?),
            Builder::U64(b) => b.append_option(int(&v)?),
            Builder::F32(b) => match v {
                Value::Float(f) => b.append_value(f),
                Value::Double(f) => b.append_value(f as f32),
                other => return Err(format!("{other:?} where a float was expected")),
            },
            Builder::F64(b) => match v {
                Value::Double(f) => b.append_value(f),
                Value::Float(f) => b.append_value(f as f64),
                other => return Err(format!("{other:?} where a double was expected")),
            },
            Builder::Decimal(b, p, s) => match v {
                Value::Bytes(text) => b.append_value(decimal(&text, *p, *s)?),
                other => return Err(format!("{other:?} where a decimal was expected")),
            },
            Builder::Date(b) => match v {
                Value::Date(y, m, d, ..) => match days(y, m, d) {
                    Some(days) => b.append_value(days),
                    None => return zero(self),
                },
                other => return Err(format!("{other:?} where a date was expected")),
            },
            Builder::Time(b) => match v {
                Value::Time(false, 0, h, m, s, us) => b.append_value(
                    ((h as i64 * 60 + m as i64) * 60 + s as i64) * 1_000_000 + us as i64,
                ),
                Value::Time(..) => {
                    return Err(
                        "a time outside 00:00:00 to 23:59:59 is not a time of day: cast it in `query:`"
                            .into(),
                    );
                }
                other => return Err(format!("{other:?} where a time was expected")),
            },
            Builder::Timestamp(b) => match v {
                Value::Date(y, mo, d, h, mi, s, us) => match days(y, mo, d) {
                    Some(days) => b.append_value(
                        ((days as i64 * 24 + h as i64) * 60 + mi as i64) * 60_000_000
                            + s as i64 * 1_000_000
                            + us as i64,
                    ),
                    None => return zero(self),
                },
                other => return Err(format!("{other:?} where a timestamp was expected")),
            },
            Builder::Text(b) => match v {
                Value::Bytes(bytes) => b.append_value(bytes),
                other => b.append_value(other.as_sql(true).trim_matches('\'')),
            },
            Builder::Bytes(b) => match v {
                Value::Bytes(bytes) => b.append_value(bytes),
                other => return Err(format!("{other:?} where bytes were expected")),
            },
        }
        Ok(false)
    }

    fn push_null(&mut self) {
        match self {
            Builder::I8(b) => b.append_null(),
            Builder::I16(b) => b.append_null(),
            Builder::I32(b) => b.append_null(),
            Builder::I64(b) => b.append_null(),
            Builder::U8(b) => b.append_null(),
            Builder::U16(b) => b.append_null(),
            Builder::U32(b) => b.append_null(),
            Builder::U64(b) => b.append_null(),
            Builder::F32(b) => b.append_null(),
            Builder::F64(b) => b.append_null(),
            Builder::Decimal(b, ..) => b.append_null(),
            Builder::Date(b) => b.append_null(),
            Builder::Time(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Bytes(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> std::result::Result<ArrayRef, String> {
        Ok(match self {
            Builder::I8(b) => Arc::new(b.finish()),
            Builder::I16(b) => Arc::new(b.finish()),
            Builder::I32(b) => Arc::new(b.finish()),
            Builder::I64(b) => Arc::new(b.finish()),
            Builder::U8(b) => Arc::new(b.finish()),
            Builder::U16(b) => Arc::new(b.finish()),
            Builder::U32(b) => Arc::new(b.finish()),
            Builder::U64(b) => Arc::new(b.finish()),
            Builder::F32(b) => Arc::new(b.finish()),
            Builder::F64(b) => Arc::new(b.finish()),
            Builder::Decimal(b, ..) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
            Builder::Time(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(
                StringArray::try_from_binary(b.finish()).map_err(|_| "text that is not UTF-8")?,
            ),
            Builder::Bytes(b) => Arc::new(b.finish()),
        })
    }
}

/// Days since 1970-01-01; `None` for MySQL's zero dates (`0000-00-00`, or a
/// zero month or day), which land as null.
fn days(y: u16, m: u8, d: u8) -> Option<i32> {
    let (y, m, d) = (y as i64, m as i64, d as i64);
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if y == 0 || !(1..=12).contains(&m) || d < 1 || d > month_days[m as usize - 1] {
        return None;
    }
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) as i32)
}

/// A decimal's text read exactly at scale `s`; more digits than `p`, or
/// more decimal places than `s`, is an error, never rounded.
fn decimal(text: &[u8], p: u8, s: i8) -> std::result::Result<i128, String> {
    let bad = || {
        format!(
            "`{}` does not fit decimal({p}, {s})",
            String::from_utf8_lossy(text)
        )
    };
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let dot = digits.iter().position(|&c| c == b'.');
    let (whole, fraction) = match dot {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, &[][..]),
    };
    if fraction.len() > s as usize {
        return Err(bad());
    }
    let mut value: i128 = 0;
    for &c in whole.iter().chain(fraction) {
        if !c.is_ascii_digit() {
            return Err(bad());
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add((c - b'0') as i128))
            .ok_or_else(bad)?;
    }
    let pad = 10i128.checked_pow((s as usize - fraction.len()) as u32);
    let value = pad.and_then(|p| value.checked_mul(p)).ok_or_else(bad)?;
    if 10i128
        .checked_pow(p as u32)
        .is_some_and(|limit| value >= limit)
    {
        return Err(bad());
    }
    Ok(if negative { -value } else { value })
}

/// An error of the server or the connection, for the source; connection
/// failures marked for a retry.
fn fail(source: &str, e: mysql_async::Error) -> Error {
    use mysql_async::Error as E;
    let (message, help, retry) = match &e {
        E::Server(s) => {
            let help = match s.code {
                1045 => Some("check the user and password of the connection string"),
                1049 => Some("check the database named in the connection string"),
                1146 => Some("check `table:` (as `database.table`), and that the user may read it"),
                1054 => Some("check the columns named in `incremental:` or `query:`"),
                3024 | 1969 => {
                    Some("raise the source's `statement_timeout:`, or read less (`incremental:`)")
                }
                1142 => Some("grant the user SELECT on what the source reads"),
                _ => None,
            };
            // Lost connections and shutdowns are worth a retry.
            let retry = matches!(
                s.code,
                1040 | 1053 | 1077 | 1152 | 1158..=1161 | 1927 | 2006 | 2013
            );
            (s.message.clone(), help, retry)
        }
        E::Io(_) | E::Driver(_) => (
            e.to_string(),
            Some(
                "check that the server is running and reachable at the host and port of the connection string",
            ),
            true,
        ),
        _ => (e.to_string(), None, false),
    };
    let mut err = Error::failed(format!("source `{source}`: {message}"));
    if let Some(h) = help {
        err = err.help(h);
    }
    if retry {
        err = err.caused_by(Cause::Connection);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::{days, decimal};

    #[test]
    fn decimals_are_read_exactly() {
        assert_eq!(decimal(b"123.45", 10, 2), Ok(12345));
        assert_eq!(decimal(b"-0.5", 10, 2), Ok(-50));
        assert_eq!(decimal(b"7", 5, 0), Ok(7));
        assert!(decimal(b"1.234", 10, 2).is_err());
        assert!(decimal(b"123456", 5, 0).is_err());
        assert_eq!(
            decimal(b"99999999999999999999999999999999999999", 38, 0).map(|v| v > 0),
            Ok(true)
        );
    }

    #[test]
    fn zero_dates_are_none() {
        assert_eq!(days(1970, 1, 2), Some(1));
        assert_eq!(days(2000, 3, 1), Some(11_017));
        assert_eq!(days(1969, 12, 31), Some(-1));
        assert_eq!(days(2024, 2, 29), Some(19_782));
        assert_eq!(days(2023, 2, 29), None);
        assert_eq!(days(0, 0, 0), None);
        assert_eq!(days(2024, 0, 1), None);
    }
}
