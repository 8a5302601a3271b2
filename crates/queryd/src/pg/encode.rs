//! Record batches as `DataRow` messages, in the text or binary format the client asked
//! for per column. A batch is encoded as a whole and its rows stream out before the next
//! batch is read, so a result of any size holds one batch of rows at a time.
//!
//! Text follows PostgreSQL's output functions with `DateStyle = ISO`, `TimeZone = UTC`
//! and `extra_float_digits = 1`: `t`/`f`, `2024-01-31 08:00:00.5`, `...+00` for
//! timestamptz, `BC` years, shortest-exact floats with `1e+20` exponents, `NaN`,
//! `Infinity`, numerics with their scale, bytea as `\x` hex. Binary follows each type's
//! `send` function (network byte order, dates and timestamps from 2000-01-01).

use std::fmt::Write as _;

use bytes::{BufMut, BytesMut};
use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int64Array, RecordBatch, StringArray, Time64MicrosecondArray,
    TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::{Stream, StreamExt};
use pgwire::api::results::FieldFormat;
use pgwire::error::PgWireResult;
use pgwire::messages::data::DataRow;

use super::error::pg_error;
use super::numeric;
use crate::engine::ResultStream;
use crate::error::QueryError;

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;
/// Days and microseconds from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The rows of a running query, each batch encoded as it arrives. Dropping the stream
/// drops the query.
pub fn row_stream(
    results: ResultStream,
    formats: Vec<FieldFormat>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    results.flat_map(move |batch| {
        let rows: Vec<PgWireResult<DataRow>> = match batch.and_then(|b| encode(&b, &formats)) {
            Ok(rows) => rows.into_iter().map(Ok).collect(),
            Err(e) => vec![Err(pg_error(&e))],
        };
        futures::stream::iter(rows)
    })
}

/// Every row of `batch`; `formats[i]` is column i's format.
pub fn encode(batch: &RecordBatch, formats: &[FieldFormat]) -> Result<Vec<DataRow>, QueryError> {
    let columns = batch
        .columns()
        .iter()
        .map(Column::new)
        .collect::<Result<Vec<_>, _>>()?;
    let options = FormatOptions::default();
    let displays = columns
        .iter()
        .map(|c| match c {
            Column::Display(array) => ArrayFormatter::try_new(array.as_ref(), &options)
                .map(Some)
                .map_err(|e| QueryError::Internal(e.to_string())),
            _ => Ok(None),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let field_count = i16::try_from(columns.len())
        .map_err(|_| QueryError::Invalid("a result has at most 32767 columns".into()))?;
    let mut buf = BytesMut::with_capacity(batch.num_rows() * (columns.len() * 12 + 4));
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (i, column) in columns.iter().enumerate() {
            let format = formats.get(i).copied().unwrap_or(FieldFormat::Text);
            if column.is_null(row) {
                buf.put_i32(-1);
                continue;
            }
            let at = buf.len();
            buf.put_i32(0);
            match format {
                FieldFormat::Text => column.text(row, displays[i].as_ref(), &mut buf),
                FieldFormat::Binary => column.binary(row, displays[i].as_ref(), &mut buf),
            }
            let len = (buf.len() - at - 4) as i32;
            buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        rows.push(DataRow::new(buf.split(), field_count));
    }
    Ok(rows)
}

/// A column cast to the one Arrow type each PostgreSQL type is encoded from.
enum Column {
    Null,
    /// Any integer that fits i64, sent as INT2/INT4/INT8 of `width` bytes.
    Int(Int64Array, u8),
    UInt64(UInt64Array),
    Float32(Float32Array),
    Float64(Float64Array),
    Bool(BooleanArray),
    Text(StringArray),
    Date(Date32Array),
    Time(Time64MicrosecondArray),
    Timestamp(TimestampMicrosecondArray, bool),
    Decimal(Decimal128Array, i8),
    Binary(BinaryArray),
    /// pgvector's `vector`: text `[1,2.5,3]`, binary the dimension (int2), a zero int2,
    /// then each component (float4).
    Vector(Vectors),
    /// Numeric text from the display form (Decimal256).
    NumericDisplay(ArrayRef),
    /// Display text (lists, structs, intervals, ...), sent as `text`.
    Display(ArrayRef),
}

fn to(array: &ArrayRef, data_type: &DataType) -> Result<ArrayRef, QueryError> {
    cast(array, data_type).map_err(|e| QueryError::Internal(format!("encoding a result: {e}")))
}

impl Column {
    fn new(array: &ArrayRef) -> Result<Column, QueryError> {
        let data_type = match array.data_type() {
            DataType::Dictionary(_, value) => value.as_ref().clone(),
            other => other.clone(),
        };
        let array = &to(array, &data_type)?;
        Ok(match &data_type {
            DataType::Null => Column::Null,
            DataType::List(_) if super::types::is_vector(&data_type) => {
                Column::Vector(Vectors::Any(array.as_list::<i32>().clone()))
            }
            vector if super::types::is_vector(vector) => {
                Column::Vector(Vectors::Fixed(array.as_fixed_size_list().clone()))
            }
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => {
                Column::Int(to(array, &DataType::Int64)?.as_primitive().clone(), 2)
            }
            DataType::Int32 | DataType::UInt16 => {
                Column::Int(to(array, &DataType::Int64)?.as_primitive().clone(), 4)
            }
            DataType::Int64 | DataType::UInt32 => {
                Column::Int(to(array, &DataType::Int64)?.as_primitive().clone(), 8)
            }
            DataType::UInt64 => Column::UInt64(array.as_primitive().clone()),
            DataType::Float16 | DataType::Float32 => {
                Column::Float32(to(array, &DataType::Float32)?.as_primitive().clone())
            }
            DataType::Float64 => Column::Float64(array.as_primitive().clone()),
            DataType::Boolean => Column::Bool(array.as_boolean().clone()),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                Column::Text(to(array, &DataType::Utf8)?.as_string::<i32>().clone())
            }
            DataType::Date32 | DataType::Date64 => {
                Column::Date(to(array, &DataType::Date32)?.as_primitive().clone())
            }
            DataType::Time32(_) | DataType::Time64(_) => Column::Time(
                to(array, &DataType::Time64(TimeUnit::Microsecond))?
                    .as_primitive()
                    .clone(),
            ),
            DataType::Timestamp(_, tz) => {
                let micros = DataType::Timestamp(TimeUnit::Microsecond, tz.clone());
                Column::Timestamp(to(array, &micros)?.as_primitive().clone(), tz.is_some())
            }
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
                let wide = DataType::Decimal128((*p).max(1), *s);
                Column::Decimal(to(array, &wide)?.as_primitive().clone(), *s)
            }
            DataType::Decimal256(..) => Column::NumericDisplay(array.clone()),
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => {
                Column::Binary(to(array, &DataType::Binary)?.as_binary::<i32>().clone())
            }
            _ => Column::Display(array.clone()),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Column::Null => true,
            Column::Int(a, _) => a.is_null(row),
            Column::UInt64(a) => a.is_null(row),
            Column::Float32(a) => a.is_null(row),
            Column::Float64(a) => a.is_null(row),
            Column::Bool(a) => a.is_null(row),
            Column::Text(a) => a.is_null(row),
            Column::Date(a) => a.is_null(row),
            Column::Time(a) => a.is_null(row),
            Column::Timestamp(a, _) => a.is_null(row),
            Column::Decimal(a, _) => a.is_null(row),
            Column::Binary(a) => a.is_null(row),
            Column::Vector(Vectors::Fixed(a)) => a.is_null(row),
            Column::Vector(Vectors::Any(a)) => a.is_null(row),
            Column::NumericDisplay(a) | Column::Display(a) => a.is_null(row),
        }
    }

    fn text(&self, row: usize, display: Option<&ArrayFormatter<'_>>, buf: &mut BytesMut) {
        match self {
            Column::Null => {}
            Column::Int(a, _) => write_display(buf, a.value(row)),
            Column::UInt64(a) => write_display(buf, a.value(row)),
            Column::Float32(a) => float_text(buf, f64::from(a.value(row)), a.value(row), 6),
            Column::Float64(a) => float_text(buf, a.value(row), a.value(row), 15),
            Column::Bool(a) => buf.put_u8(if a.value(row) { b't' } else { b'f' }),
            Column::Text(a) => buf.put_slice(a.value(row).as_bytes()),
            Column::Date(a) => date_text(buf, a.value(row), ""),
            Column::Time(a) => time_text(buf, a.value(row)),
            Column::Timestamp(a, tz) => timestamp_text(buf, a.value(row), *tz),
            Column::Decimal(a, scale) => {
                buf.put_slice(decimal_text(a.value(row), *scale).as_bytes())
            }
            Column::Binary(a) => bytea_text(buf, a.value(row)),
            Column::Vector(a) => {
                buf.put_u8(b'[');
                for (i, &x) in a.row(row).iter().enumerate() {
                    if i > 0 {
                        buf.put_u8(b',');
                    }
                    float_text(buf, f64::from(x), x, 6);
                }
                buf.put_u8(b']');
            }
            Column::NumericDisplay(_) | Column::Display(_) => {
                if let Some(display) = display {
                    write_display(buf, display.value(row));
                }
            }
        }
    }

    fn binary(&self, row: usize, display: Option<&ArrayFormatter<'_>>, buf: &mut BytesMut) {
        match self {
            Column::Null => {}
            Column::Int(a, 2) => buf.put_i16(a.value(row) as i16),
            Column::Int(a, 4) => buf.put_i32(a.value(row) as i32),
            Column::Int(a, _) => buf.put_i64(a.value(row)),
            Column::UInt64(a) => numeric::write_binary(buf, &a.value(row).to_string()),
            Column::Float32(a) => buf.put_f32(a.value(row)),
            Column::Float64(a) => buf.put_f64(a.value(row)),
            Column::Bool(a) => buf.put_u8(u8::from(a.value(row))),
            Column::Text(a) => buf.put_slice(a.value(row).as_bytes()),
            Column::Date(a) => buf.put_i32(a.value(row).saturating_sub(PG_EPOCH_DAYS)),
            Column::Time(a) => buf.put_i64(a.value(row)),
            Column::Timestamp(a, _) => buf.put_i64(a.value(row).saturating_sub(PG_EPOCH_MICROS)),
            Column::Decimal(a, scale) => {
                numeric::write_binary(buf, &decimal_text(a.value(row), *scale));
            }
            Column::Binary(a) => buf.put_slice(a.value(row)),
            Column::Vector(a) => {
                let values = a.row(row);
                // (A vector column's dimension is at most 16000.)
                buf.put_i16(values.len() as i16);
                buf.put_i16(0);
                for &x in values {
                    buf.put_f32(x);
                }
            }
            Column::NumericDisplay(_) => {
                if let Some(display) = display {
                    numeric::write_binary(buf, &display.value(row).to_string());
                }
            }
            Column::Display(_) => {
                if let Some(display) = display {
                    write_display(buf, display.value(row));
                }
            }
        }
    }
}

/// Row `row`'s components of a vector column.
/// A vector column: of one dimension, or of each value's own (an unbound `$1::vector`).
enum Vectors {
    Fixed(datafusion::arrow::array::FixedSizeListArray),
    Any(datafusion::arrow::array::ListArray),
}

impl Vectors {
    fn row(&self, row: usize) -> &[f32] {
        let (values, start, n) = match self {
            Vectors::Fixed(a) => (
                a.values(),
                a.value_offset(row) as usize,
                a.value_length() as usize,
            ),
            Vectors::Any(a) => (
                a.values(),
                a.value_offsets()[row] as usize,
                a.value_length(row) as usize,
            ),
        };
        let values = values
            .as_primitive::<datafusion::arrow::datatypes::Float32Type>()
            .values();
        &values[start..start + n]
    }
}

fn write_display(buf: &mut BytesMut, value: impl std::fmt::Display) {
    // Writing to a BytesMut cannot fail.
    let _ = write!(buf, "{value}");
}

/// PostgreSQL's shortest-exact float text: positional for decimal exponents in
/// [-4, `max_exponent`), else `1.5e+20` with at least two exponent digits.
fn float_text<F>(buf: &mut BytesMut, value: f64, native: F, max_exponent: i32)
where
    F: std::fmt::Display + std::fmt::LowerExp,
{
    if value.is_nan() {
        buf.put_slice(b"NaN");
        return;
    }
    if value.is_infinite() {
        buf.put_slice(if value > 0.0 {
            b"Infinity"
        } else {
            b"-Infinity"
        });
        return;
    }
    let scientific = format!("{native:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if value == 0.0 || (-4..max_exponent).contains(&exponent) {
        write_display(buf, native);
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(buf, "{mantissa}e{sign}{:02}", exponent.abs());
    }
}

fn date_parts(days: i32) -> Option<(i32, u32, u32)> {
    let date = NaiveDate::from_num_days_from_ce_opt(days.checked_add(UNIX_EPOCH_CE_DAYS)?)?;
    Some((date.year(), date.month(), date.day()))
}

/// `2024-01-31`, or `0044-03-15 BC`; `suffix` goes between the date and the era.
fn date_text(buf: &mut BytesMut, days: i32, suffix: &str) {
    match date_parts(days) {
        Some((year, month, day)) if year > 0 => {
            let _ = write!(buf, "{year:04}-{month:02}-{day:02}{suffix}");
        }
        Some((year, month, day)) => {
            let _ = write!(buf, "{:04}-{month:02}-{day:02}{suffix} BC", 1 - year);
        }
        None => {
            let _ = write!(buf, "{days} days from 1970-01-01{suffix}");
        }
    }
}

/// `HH:MM:SS` with the fraction's trailing zeros dropped.
fn clock_text(micros_of_day: i64) -> String {
    let seconds = micros_of_day / 1_000_000;
    let fraction = micros_of_day % 1_000_000;
    let mut text = format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text
}

fn time_text(buf: &mut BytesMut, micros: i64) {
    buf.put_slice(clock_text(micros.rem_euclid(MICROS_PER_DAY)).as_bytes());
}

fn timestamp_text(buf: &mut BytesMut, micros: i64, with_zone: bool) {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let clock = clock_text(micros.rem_euclid(MICROS_PER_DAY));
    let zone = if with_zone { "+00" } else { "" };
    match i32::try_from(days) {
        Ok(days) => date_text(buf, days, &format!(" {clock}{zone}")),
        Err(_) => write_display(buf, micros),
    }
}

/// An unscaled decimal with its scale: `-12.50`; a negative scale appends zeros.
pub fn decimal_text(unscaled: i128, scale: i8) -> String {
    let negative = unscaled < 0;
    let digits = unscaled.unsigned_abs().to_string();
    let mut text = String::with_capacity(digits.len() + 3);
    if negative {
        text.push('-');
    }
    if scale <= 0 {
        text.push_str(&digits);
        if digits != "0" {
            text.extend(std::iter::repeat_n('0', usize::from(scale.unsigned_abs())));
        }
        return text;
    }
    let scale = usize::from(scale.unsigned_abs());
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        text.push_str(int);
        text.push('.');
        text.push_str(frac);
    } else {
        text.push_str("0.");
        text.extend(std::iter::repeat_n('0', scale - digits.len()));
        text.push_str(&digits);
    }
    text
}

fn bytea_text(buf: &mut BytesMut, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.reserve(2 + bytes.len() * 2);
    buf.put_slice(b"\\x");
    for b in bytes {
        buf.put_u8(HEX[usize::from(b >> 4)]);
        buf.put_u8(HEX[usize::from(b & 0xf)]);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        Date32Array, Decimal128Array, Float64Array, Int32Array, ListArray, StringArray,
    };
    use datafusion::arrow::datatypes::{Field, Int32Type, Schema};

    use super::*;

    fn text_cells(batch: &RecordBatch) -> Vec<Vec<Option<String>>> {
        let formats = vec![FieldFormat::Text; batch.num_columns()];
        encode(batch, &formats)
            .unwrap()
            .into_iter()
            .map(|row| {
                let mut data = &row.data[..];
                (0..row.field_count)
                    .map(|_| {
                        let len = i32::from_be_bytes(data[..4].try_into().unwrap());
                        data = &data[4..];
                        if len < 0 {
                            return None;
                        }
                        let (value, rest) = data.split_at(len as usize);
                        data = rest;
                        Some(String::from_utf8(value.to_vec()).unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    #[test]
    fn text_matches_postgres_output() {
        let ts = TimestampMicrosecondArray::from(vec![Some(1_706_688_000_500_000), None]);
        let b = batch(vec![
            ("i", Arc::new(Int32Array::from(vec![Some(-7), None]))),
            ("f", Arc::new(Float64Array::from(vec![1e20, 0.1]))),
            ("d", Arc::new(Date32Array::from(vec![19_753, -719_528]))),
            ("t", Arc::new(ts)),
            ("s", Arc::new(StringArray::from(vec!["héllo", ""]))),
            (
                "n",
                Arc::new(
                    Decimal128Array::from(vec![-1250, 5])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
        ]);
        let cells = text_cells(&b);
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            cells[0],
            vec![
                s("-7"),
                s("1e+20"),
                s("2024-01-31"),
                s("2024-01-31 08:00:00.5"),
                s("héllo"),
                s("-12.50")
            ]
        );
        assert_eq!(
            cells[1],
            vec![None, s("0.1"), s("0001-01-01 BC"), None, s(""), s("0.05")]
        );
    }

    #[test]
    fn floats_use_exponents_like_postgres() {
        let cases = [
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1.0, "1"),
            (123_456.789, "123456.789"),
            (1e15, "1e+15"),
            (1e14, "100000000000000"),
            (0.0001, "0.0001"),
            (0.000_012_5, "1.25e-05"),
            (-0.0, "-0"),
        ];
        for (value, expected) in cases {
            let mut buf = BytesMut::new();
            float_text(&mut buf, value, value, 15);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), expected, "{value}");
        }
    }

    #[test]
    fn decimals_with_any_scale() {
        assert_eq!(decimal_text(0, 2), "0.00");
        assert_eq!(decimal_text(-5, 3), "-0.005");
        assert_eq!(decimal_text(123, 0), "123");
        assert_eq!(decimal_text(12, -2), "1200");
    }

    #[test]
    fn lists_are_their_display_text() {
        let list =
            ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1), Some(2)])]);
        let cells = text_cells(&batch(vec![("l", Arc::new(list))]));
        assert_eq!(cells[0][0].as_deref(), Some("[1, 2]"));
    }
}
