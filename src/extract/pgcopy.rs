//! PostgreSQL's binary `COPY` format, decoded straight into Arrow arrays:
//! the types `mart` lands and how each is read off the wire.
//!
//! A stream is a header, then tuples (a field count, then each field's
//! length, -1 for null, and bytes in the type's binary send format), then a
//! count of -1. Values are big-endian; dates and times count from
//! 2000-01-01.

use std::sync::Arc;

use datafusion::arrow::array::NullBufferBuilder;
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, ListArray, PrimitiveArray, StringArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, DurationMicrosecondType, Field,
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, SchemaRef, Time64MicrosecondType,
    TimeUnit, TimestampMicrosecondType, UInt32Type,
};
use datafusion::arrow::record_batch::RecordBatch;

use super::BATCH_ROWS;
use tokio_postgres::types::{Kind, Type};

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";

/// The Arrow type a PostgreSQL column lands as; `typmod` carries a
/// numeric's precision and scale, and `declared` is the type the YAML gives
/// the column, which an unbounded numeric needs. `Err`: why it cannot land.
pub fn arrow_type(ty: &Type, typmod: i32, declared: Option<&DataType>) -> Result<DataType, String> {
    Ok(match ty.kind() {
        Kind::Domain(inner) => return arrow_type(inner, typmod, declared),
        Kind::Enum(_) => DataType::Utf8,
        Kind::Array(elem) => {
            let elem = arrow_type(elem, typmod, None)?;
            DataType::List(Arc::new(Field::new("item", elem, true)))
        }
        _ => match *ty {
            Type::BOOL => DataType::Boolean,
            Type::INT2 => DataType::Int16,
            Type::INT4 => DataType::Int32,
            Type::INT8 => DataType::Int64,
            Type::OID => DataType::UInt32,
            Type::FLOAT4 => DataType::Float32,
            Type::FLOAT8 => DataType::Float64,
            Type::NUMERIC => numeric(typmod, declared)?,
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::CHAR => DataType::Utf8,
            Type::JSON | Type::JSONB | Type::UUID => DataType::Utf8,
            Type::BYTEA => DataType::Binary,
            Type::DATE => DataType::Date32,
            Type::TIME | Type::TIMETZ => DataType::Time64(TimeUnit::Microsecond),
            Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
            Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            // Parquet cannot hold month-day-nanosecond intervals: a duration,
            // with months counted as PostgreSQL's `extract(epoch ...)` does.
            Type::INTERVAL => DataType::Duration(TimeUnit::Microsecond),
            _ => return Err(format!("type `{}` is not one `mart` lands", ty.name())),
        },
    })
}

/// `numeric(p, s)` as `decimal(p, s)`; an unbounded `numeric` as the
/// decimal the YAML declares.
fn numeric(typmod: i32, declared: Option<&DataType>) -> Result<DataType, String> {
    if typmod >= 4 {
        let (p, s) = (((typmod - 4) >> 16) & 0xffff, (typmod - 4) & 0xffff);
        if p > 38 || s > p {
            return Err(format!(
                "`numeric({p}, {s})` does not fit a decimal of 38 digits"
            ));
        }
        return Ok(DataType::Decimal128(p as u8, s as i8));
    }
    match declared {
        Some(d @ DataType::Decimal128(..)) => Ok(d.clone()),
        _ => Err("`numeric` without a precision has no fixed scale".into()),
    }
}

/// Decodes a binary COPY stream into record batches of `schema`.
pub struct Decoder {
    schema: SchemaRef,
    columns: Vec<Box<dyn Column>>,
    rows: usize,
    /// The bytes of a tuple begun in one chunk and ended in a later one.
    pending: Vec<u8>,
    header_read: bool,
    ended: bool,
}

impl Decoder {
    pub fn new(schema: SchemaRef, types: &[Type]) -> Decoder {
        let columns = schema
            .fields()
            .iter()
            .zip(types)
            .map(|(f, t)| column(t, f.data_type()))
            .collect();
        Decoder {
            schema,
            columns,
            rows: 0,
            pending: Vec::new(),
            header_read: false,
            ended: false,
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Read the tuples a chunk completes. `Err` names the column whose
    /// value could not be read.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        if self.pending.is_empty() {
            let used = self.tuples(chunk)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut joined = std::mem::take(&mut self.pending);
            joined.extend_from_slice(chunk);
            let used = self.tuples(&joined)?;
            joined.drain(..used);
            self.pending = joined;
        }
        Ok(())
    }

    /// Whether the stream's end marker was read (a stream cut short lacks it).
    pub fn ended(&self) -> bool {
        self.ended && self.pending.is_empty()
    }

    /// The rows read since the last batch, as a batch.
    pub fn flush(&mut self) -> Result<RecordBatch, String> {
        let arrays = self.columns.iter_mut().map(|c| c.finish());
        let arrays = arrays.collect::<Result<Vec<ArrayRef>, String>>()?;
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| e.to_string())
    }

    /// Decode the whole tuples at the start of `buf`; returns the bytes used.
    fn tuples(&mut self, buf: &[u8]) -> Result<usize, String> {
        let mut at = 0;
        if !self.header_read {
            // Signature, flags, then an extension area of the length given.
            if buf.len() < SIGNATURE.len() + 8 {
                return Ok(0);
            }
            if !buf.starts_with(SIGNATURE) {
                return Err("the server's COPY output is not in binary format".into());
            }
            let ext = be_u32(&buf[SIGNATURE.len() + 4..]) as usize;
            at = SIGNATURE.len() + 8 + ext;
            if buf.len() < at {
                return Ok(0);
            }
            self.header_read = true;
        }
        while let Some(end) = tuple_end(buf, at, self.columns.len())? {
            if end == at + 2 {
                self.ended = true; // the trailer: a count of -1
                return Ok(end);
            }
            let mut p = at + 2;
            for c in self.columns.iter_mut() {
                let len = be_i32(&buf[p..]);
                p += 4;
                if len < 0 {
                    c.push(None)?;
                } else {
                    let len = len as usize;
                    c.push(Some(&buf[p..p + len]))?;
                    p += len;
                }
            }
            self.rows += 1;
            at = end;
        }
        Ok(at)
    }
}

/// Where the tuple starting at `at` ends, if `buf` holds all of it.
fn tuple_end(buf: &[u8], at: usize, fields: usize) -> Result<Option<usize>, String> {
    if buf.len() < at + 2 {
        return Ok(None);
    }
    let count = i16::from_be_bytes([buf[at], buf[at + 1]]);
    if count == -1 {
        return Ok(Some(at + 2));
    }
    if count as usize != fields {
        return Err(format!(
            "a row of {count} fields where {fields} were expected"
        ));
    }
    let mut p = at + 2;
    for _ in 0..fields {
        if buf.len() < p + 4 {
            return Ok(None);
        }
        let len = be_i32(&buf[p..]);
        p += 4 + len.max(0) as usize;
    }
    Ok((buf.len() >= p).then_some(p))
}

fn be_i32(b: &[u8]) -> i32 {
    i32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be_i64(b: &[u8]) -> i64 {
    i64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// One column's values, appended as they are read.
trait Column: Send {
    fn push(&mut self, value: Option<&[u8]>) -> Result<(), String>;
    fn finish(&mut self) -> Result<ArrayRef, String>;
}

/// The decoder of a column of PostgreSQL type `ty` landing as `dt`.
fn column(ty: &Type, dt: &DataType) -> Box<dyn Column> {
    let ty = match ty.kind() {
        Kind::Domain(inner) => inner,
        _ => ty,
    };
    match (ty.kind(), dt) {
        (Kind::Array(elem), DataType::List(field)) => Box::new(List {
            field: field.clone(),
            values: column(elem, field.data_type()),
            offsets: vec![0],
            nulls: NullBufferBuilder::new(0),
        }),
        (Kind::Enum(_), _) => Text::boxed(text),
        _ => match *ty {
            Type::BOOL => Box::new(Bool(BooleanBuilder::with_capacity(BATCH_ROWS))),
            Type::INT2 => prim::<Int16Type>(dt, |b| fixed::<2>(b).map(i16::from_be_bytes)),
            Type::INT4 => prim::<Int32Type>(dt, |b| fixed::<4>(b).map(i32::from_be_bytes)),
            Type::INT8 => prim::<Int64Type>(dt, |b| fixed::<8>(b).map(i64::from_be_bytes)),
            Type::OID => prim::<UInt32Type>(dt, |b| fixed::<4>(b).map(u32::from_be_bytes)),
            Type::FLOAT4 => prim::<Float32Type>(dt, |b| fixed::<4>(b).map(f32::from_be_bytes)),
            Type::FLOAT8 => prim::<Float64Type>(dt, |b| fixed::<8>(b).map(f64::from_be_bytes)),
            Type::NUMERIC => {
                let DataType::Decimal128(p, s) = *dt else {
                    unreachable!("numeric lands as a decimal")
                };
                prim::<Decimal128Type>(dt, move |b| numeric_value(b, p, s))
            }
            Type::DATE => prim::<Date32Type>(dt, |b| {
                let days = fixed::<4>(b).map(i32::from_be_bytes)?;
                if days == i32::MAX || days == i32::MIN {
                    return Err("the date is infinity: cast it in `query:`".into());
                }
                Ok(days + EPOCH_DAYS)
            }),
            Type::TIME => prim::<Time64MicrosecondType>(dt, |b| {
                let t = fixed::<8>(b).map(i64::from_be_bytes)?;
                if t >= 86_400_000_000 {
                    return Err(
                        "the time 24:00:00 is not a time of day: cast it in `query:`".into(),
                    );
                }
                Ok(t)
            }),
            Type::TIMETZ => prim::<Time64MicrosecondType>(dt, |b| {
                // Microseconds of local time, then the zone's offset west of UTC in seconds.
                let b = fixed::<12>(b)?;
                let (local, west) = (be_i64(&b), be_i32(&b[8..]) as i64);
                Ok((local + west * 1_000_000).rem_euclid(86_400_000_000))
            }),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => prim::<TimestampMicrosecondType>(dt, |b| {
                let t = fixed::<8>(b).map(i64::from_be_bytes)?;
                if t == i64::MAX || t == i64::MIN {
                    return Err("the timestamp is infinity: cast it in `query:`".into());
                }
                Ok(t + EPOCH_MICROS)
            }),
            Type::INTERVAL => prim::<DurationMicrosecondType>(dt, |b| {
                let b = fixed::<16>(b)?;
                let (micros, days, months) = (be_i64(&b), be_i32(&b[8..]), be_i32(&b[12..]));
                Ok(interval_micros(months, days, micros))
            }),
            Type::BYTEA => Box::new(Bytes(BinaryBuilder::new())),
            Type::UUID => Text::boxed(uuid),
            Type::JSONB => Text::boxed(jsonb),
            _ => Text::boxed(text),
        },
    }
}

/// An interval as microseconds, as PostgreSQL's `extract(epoch from ...)`
/// counts it: a year is 365.25 days, a month left over 30 days.
fn interval_micros(months: i32, days: i32, micros: i64) -> i64 {
    const DAY: i64 = 86_400_000_000;
    let (years, months) = (months as i64 / 12, months as i64 % 12);
    years * (DAY * 1461 / 4) + (months * 30 + days as i64) * DAY + micros
}

fn fixed<const N: usize>(b: &[u8]) -> Result<[u8; N], String> {
    b.try_into()
        .map_err(|_| format!("{} bytes where {N} were expected", b.len()))
}

fn prim<T: ArrowPrimitiveType>(
    dt: &DataType,
    read: impl Fn(&[u8]) -> Result<T::Native, String> + Send + 'static,
) -> Box<dyn Column>
where
    T::Native: Send,
{
    Box::new(Prim::<T, _> {
        data_type: dt.clone(),
        values: Vec::with_capacity(BATCH_ROWS),
        nulls: NullBufferBuilder::new(BATCH_ROWS),
        read,
    })
}

/// Fixed-width values, read by `read` into a plain vector (a null holds a
/// default value, as in Arrow).
struct Prim<T: ArrowPrimitiveType, F> {
    data_type: DataType,
    values: Vec<T::Native>,
    nulls: NullBufferBuilder,
    read: F,
}

impl<T, F> Column for Prim<T, F>
where
    T: ArrowPrimitiveType,
    T::Native: Send,
    F: Fn(&[u8]) -> Result<T::Native, String> + Send,
{
    fn push(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        match value {
            None => {
                self.values.push(T::Native::default());
                self.nulls.append_null();
            }
            Some(b) => {
                self.values.push((self.read)(b)?);
                self.nulls.append_non_null();
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<ArrayRef, String> {
        let values = std::mem::replace(&mut self.values, Vec::with_capacity(BATCH_ROWS));
        let array = PrimitiveArray::<T>::new(values.into(), self.nulls.finish());
        Ok(Arc::new(array.with_data_type(self.data_type.clone())))
    }
}

struct Bool(BooleanBuilder);

impl Column for Bool {
    fn push(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        self.0.append_option(value.map(|b| b.first() == Some(&1)));
        Ok(())
    }

    fn finish(&mut self) -> Result<ArrayRef, String> {
        Ok(Arc::new(self.0.finish()))
    }
}

struct Bytes(BinaryBuilder);

impl Column for Bytes {
    fn push(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        self.0.append_option(value);
        Ok(())
    }

    fn finish(&mut self) -> Result<ArrayRef, String> {
        Ok(Arc::new(self.0.finish()))
    }
}

/// Text, and the types landed as text, each with how its bytes become it;
/// the UTF-8 is checked once per batch, not value by value.
struct Text(
    BinaryBuilder,
    fn(&[u8], &mut BinaryBuilder) -> Result<(), String>,
);

impl Text {
    fn boxed(read: fn(&[u8], &mut BinaryBuilder) -> Result<(), String>) -> Box<dyn Column> {
        Box::new(Text(
            BinaryBuilder::with_capacity(BATCH_ROWS, BATCH_ROWS * 16),
            read,
        ))
    }
}

impl Column for Text {
    fn push(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        match value {
            None => self.0.append_null(),
            Some(b) => (self.1)(b, &mut self.0)?,
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<ArrayRef, String> {
        let text = StringArray::try_from_binary(self.0.finish());
        Ok(Arc::new(
            text.map_err(|_| "text that is not UTF-8".to_string())?,
        ))
    }
}

fn text(b: &[u8], out: &mut BinaryBuilder) -> Result<(), String> {
    out.append_value(b);
    Ok(())
}

/// `jsonb` is its text after a version byte.
fn jsonb(b: &[u8], out: &mut BinaryBuilder) -> Result<(), String> {
    match b.split_first() {
        Some((1, rest)) => text(rest, out),
        _ => Err("a jsonb value of an unknown format version".into()),
    }
}

fn uuid(b: &[u8], out: &mut BinaryBuilder) -> Result<(), String> {
    use std::fmt::Write;
    let b = fixed::<16>(b)?;
    let mut s = String::with_capacity(36);
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        let _ = write!(s, "{byte:02x}");
    }
    out.append_value(s);
    Ok(())
}

/// `numeric`: base-10000 digits with a weight and a display scale, read
/// exactly into a decimal of scale `s`; a value with more fractional
/// digits than `s` or more than `p` digits is an error, never rounded.
fn numeric_value(b: &[u8], precision: u8, scale: i8) -> Result<i128, String> {
    if b.len() < 8 {
        return Err("a numeric value cut short".into());
    }
    let ndigits = u16::from_be_bytes([b[0], b[1]]) as usize;
    let weight = i16::from_be_bytes([b[2], b[3]]) as i32;
    let sign = u16::from_be_bytes([b[4], b[5]]);
    if b.len() < 8 + 2 * ndigits {
        return Err("a numeric value cut short".into());
    }
    if sign >= 0xC000 {
        return Err("NaN or infinity does not fit a decimal: cast it in `query:`".into());
    }
    let too_big = || format!("a value wider than decimal({precision}, {scale})");
    let places = || {
        format!(
            "a value with more than {scale} decimal places: declare the column `type: decimal(p, s)` with a larger scale"
        )
    };
    let pow10 = |e: i32| 10i128.checked_pow(e.unsigned_abs());
    // Horner's rule over the base-10000 digits; `exponent` is the power of
    // ten of the last digit taken, in units of 10^-scale.
    let (mut value, mut exponent): (i128, i32) = (0, 0);
    for i in 0..ndigits {
        let digit = u16::from_be_bytes([b[8 + 2 * i], b[9 + 2 * i]]) as i128;
        let e = 4 * (weight - i as i32) + scale as i32;
        let (shift, digit, e) = if e >= 0 {
            (10_000, digit, e)
        } else if digit == 0 {
            continue;
        } else if e > -4 && digit % pow10(e).unwrap_or(1) == 0 {
            // The last digit's trailing zeros fall below the scale.
            (pow10(4 + e).unwrap_or(1), digit / pow10(e).unwrap_or(1), 0)
        } else {
            return Err(places());
        };
        value = value
            .checked_mul(shift)
            .and_then(|v| v.checked_add(digit))
            .ok_or_else(too_big)?;
        exponent = e;
    }
    let value = pow10(exponent)
        .and_then(|p| value.checked_mul(p))
        .ok_or_else(too_big)?;
    if pow10(precision as i32).is_some_and(|limit| value >= limit) {
        return Err(too_big());
    }
    Ok(if sign == 0x4000 { -value } else { value })
}

/// A one-dimensional array as a list; an empty array as an empty list.
struct List {
    field: Arc<Field>,
    values: Box<dyn Column>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Column for List {
    fn push(&mut self, value: Option<&[u8]>) -> Result<(), String> {
        let last = *self.offsets.last().unwrap_or(&0);
        let Some(b) = value else {
            self.nulls.append_null();
            self.offsets.push(last);
            return Ok(());
        };
        if b.len() < 12 {
            return Err("an array value cut short".into());
        }
        let dims = be_i32(b);
        let (count, mut p) = match dims {
            0 => (0, 12),
            1 if b.len() >= 20 => (be_i32(&b[12..]).max(0) as usize, 20),
            _ => {
                return Err(format!(
                    "an array of {dims} dimensions: only one-dimensional arrays land as lists"
                ));
            }
        };
        for _ in 0..count {
            let len = be_i32(b.get(p..).ok_or("an array value cut short")?);
            p += 4;
            if len < 0 {
                self.values.push(None)?;
            } else {
                let end = p + len as usize;
                self.values
                    .push(Some(b.get(p..end).ok_or("an array value cut short")?))?;
                p = end;
            }
        }
        self.nulls.append_non_null();
        self.offsets.push(last + count as i32);
        Ok(())
    }

    fn finish(&mut self) -> Result<ArrayRef, String> {
        let offsets = OffsetBuffer::new(std::mem::replace(&mut self.offsets, vec![0]).into());
        let values = self.values.finish()?;
        let nulls = self.nulls.finish();
        Ok(Arc::new(ListArray::new(
            self.field.clone(),
            offsets,
            values,
            nulls,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A numeric's binary form from its base-10000 digits.
    fn numeric_bytes(weight: i16, negative: bool, digits: &[u16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((digits.len() as u16).to_be_bytes());
        b.extend(weight.to_be_bytes());
        b.extend(if negative { 0x4000u16 } else { 0 }.to_be_bytes());
        b.extend(0u16.to_be_bytes());
        for d in digits {
            b.extend(d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numerics_are_read_exactly() {
        // 12345.678 = 1|2345|6780 with weight 1.
        let b = numeric_bytes(1, false, &[1, 2345, 6780]);
        assert_eq!(numeric_value(&b, 10, 3), Ok(12_345_678));
        assert_eq!(numeric_value(&b, 12, 5), Ok(1_234_567_800));
        assert!(numeric_value(&b, 10, 2).is_err(), "a digit would be lost");
        assert!(numeric_value(&b, 7, 3).is_err(), "too many digits");
        // -0.05 = 500 at weight -1.
        let b = numeric_bytes(-1, true, &[500]);
        assert_eq!(numeric_value(&b, 5, 2), Ok(-5));
        assert_eq!(numeric_value(&numeric_bytes(0, false, &[]), 5, 2), Ok(0));
        // 10^40 does not fit 38 digits; 38 nines do.
        let b = numeric_bytes(10, false, &[1]);
        assert!(numeric_value(&b, 38, 0).is_err());
        let nines = numeric_bytes(
            9,
            false,
            &[99, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999],
        );
        assert_eq!(numeric_value(&nines, 38, 0), Ok(10i128.pow(38) - 1));
        assert!(numeric_value(&nines, 38, 1).is_err(), "39 digits");
        // 38 digits whose last base-10000 digit is padded with zeros.
        let wide = [1234, 5678, 9012, 3456, 7890, 1234, 5678, 1234, 5678, 9000];
        let wide = numeric_bytes(6, true, &wide);
        let expected: i128 = "12345678901234567890123456781234567890".parse().unwrap();
        assert_eq!(numeric_value(&wide, 38, 10), Ok(-expected));
        // 1.5 has a decimal place that scale 0 would lose; 1e-30 too.
        assert!(numeric_value(&numeric_bytes(0, false, &[1, 5000]), 10, 0).is_err());
        assert!(numeric_value(&numeric_bytes(-8, false, &[1]), 38, 2).is_err());
    }

    #[test]
    fn tuples_split_across_chunks_are_joined() {
        use datafusion::arrow::array::{Array, AsArray};
        use datafusion::arrow::datatypes::Schema;
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let mut stream = SIGNATURE.to_vec();
        stream.extend([0u8; 8]);
        for (id, name) in [(1i32, Some("a")), (2, None), (3, Some("ccc"))] {
            stream.extend(2i16.to_be_bytes());
            stream.extend(4i32.to_be_bytes());
            stream.extend(id.to_be_bytes());
            match name {
                Some(n) => {
                    stream.extend((n.len() as i32).to_be_bytes());
                    stream.extend(n.as_bytes());
                }
                None => stream.extend((-1i32).to_be_bytes()),
            }
        }
        stream.extend((-1i16).to_be_bytes());
        for size in [1, 3, 7, stream.len()] {
            let mut d = Decoder::new(schema.clone(), &[Type::INT4, Type::TEXT]);
            for chunk in stream.chunks(size) {
                d.feed(chunk).unwrap();
            }
            assert!(d.ended());
            let batch = d.flush().unwrap();
            assert_eq!(batch.num_rows(), 3);
            let names = batch.column(1).as_string::<i32>();
            assert_eq!((names.value(2), names.is_null(1)), ("ccc", true));
        }
    }
}
