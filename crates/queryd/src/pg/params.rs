//! Bind parameters: the bytes of `$n` in the text or binary format of its PostgreSQL
//! type, decoded to the [`ScalarValue`] the plan expects.
//!
//! The type is the one the client declared in Parse, else the one Describe reported
//! (the plan's inferred type, or `text` when the query does not fix one). The value is
//! then cast to the plan's Arrow type, so `WHERE id = $1` works whether the client sends
//! an int4, an int8 or the text `'42'`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use pgwire::api::Type;
use pgwire::api::results::FieldFormat;
use pgwire::error::PgWireError;

use super::error::user_error;
use super::numeric;

const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const UNIX_EPOCH_CE_DAYS: i32 = 719_163;

/// The Arrow type a parameter of PostgreSQL type `ty` decodes to.
pub fn arrow_type(ty: &Type) -> DataType {
    match *ty {
        Type::INT2 => DataType::Int16,
        Type::INT4 => DataType::Int32,
        Type::INT8 | Type::OID => DataType::Int64,
        Type::FLOAT4 => DataType::Float32,
        Type::FLOAT8 => DataType::Float64,
        Type::BOOL => DataType::Boolean,
        Type::DATE => DataType::Date32,
        Type::TIME => DataType::Time64(TimeUnit::Microsecond),
        Type::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        Type::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        Type::NUMERIC => DataType::Decimal128(38, 10),
        Type::BYTEA => DataType::Binary,
        _ => DataType::Utf8,
    }
}

/// Decodes one parameter; `target` is the plan's type for it, when it has one.
pub fn decode(
    value: Option<&[u8]>,
    ty: &Type,
    format: FieldFormat,
    target: Option<&DataType>,
) -> Result<ScalarValue, PgWireError> {
    let scalar = match value {
        None => ScalarValue::try_from(target.cloned().unwrap_or_else(|| arrow_type(ty)))
            .map_err(|e| user_error("42804", e.to_string()))?,
        Some(bytes) => match format {
            FieldFormat::Text => {
                let text = std::str::from_utf8(bytes)
                    .map_err(|_| user_error("22021", "a text parameter is not valid UTF-8"))?;
                from_text(text, ty).map_err(|message| {
                    user_error(
                        "22P02",
                        format!(
                            "invalid input syntax for type {}: {text:?}{message}",
                            ty.name()
                        ),
                    )
                })?
            }
            FieldFormat::Binary => from_binary(bytes, ty)?,
        },
    };
    match target {
        Some(target) if scalar.data_type() != *target && !scalar.is_null() => {
            scalar.cast_to(target).map_err(|e| {
                user_error(
                    "22P02",
                    format!(
                        "parameter of type {} does not convert to {target}: {e}",
                        ty.name()
                    ),
                )
            })
        }
        _ => Ok(scalar),
    }
}

fn from_text(text: &str, ty: &Type) -> Result<ScalarValue, String> {
    let trimmed = text.trim();
    let number = |e: std::num::ParseIntError| format!(" ({e})");
    Ok(match *ty {
        Type::INT2 => ScalarValue::Int16(Some(trimmed.parse().map_err(number)?)),
        Type::INT4 => ScalarValue::Int32(Some(trimmed.parse().map_err(number)?)),
        Type::INT8 | Type::OID => ScalarValue::Int64(Some(trimmed.parse().map_err(number)?)),
        Type::FLOAT4 => ScalarValue::Float32(Some(trimmed.parse().map_err(|_| String::new())?)),
        Type::FLOAT8 => ScalarValue::Float64(Some(trimmed.parse().map_err(|_| String::new())?)),
        Type::BOOL => ScalarValue::Boolean(Some(parse_bool(trimmed).ok_or_default()?)),
        Type::DATE => ScalarValue::Date32(Some(days(parse_date(trimmed).ok_or_default()?))),
        Type::TIME => {
            let time = NaiveTime::parse_from_str(trimmed, "%H:%M:%S%.f")
                .or_else(|_| NaiveTime::parse_from_str(trimmed, "%H:%M"))
                .map_err(|e| format!(" ({e})"))?;
            ScalarValue::Time64Microsecond(Some(time_micros(time)))
        }
        Type::TIMESTAMP => {
            let ts = parse_timestamp(trimmed).ok_or_default()?;
            ScalarValue::TimestampMicrosecond(Some(ts.and_utc().timestamp_micros()), None)
        }
        Type::TIMESTAMPTZ => ScalarValue::TimestampMicrosecond(
            Some(parse_timestamptz(trimmed).ok_or_default()?),
            Some("+00:00".into()),
        ),
        Type::NUMERIC => decimal(trimmed)?,
        Type::BYTEA => ScalarValue::Binary(Some(parse_bytea(text).ok_or_default()?)),
        _ => ScalarValue::Utf8(Some(text.to_string())),
    })
}

trait OrDefault<T> {
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(String::new)
    }
}

fn from_binary(bytes: &[u8], ty: &Type) -> Result<ScalarValue, PgWireError> {
    fn fixed<const N: usize>(bytes: &[u8], ty: &Type) -> Result<[u8; N], PgWireError> {
        bytes.try_into().map_err(|_| {
            user_error(
                "22P03",
                format!(
                    "a binary {} parameter must be {N} bytes, got {}",
                    ty.name(),
                    bytes.len()
                ),
            )
        })
    }
    Ok(match *ty {
        Type::INT2 => ScalarValue::Int16(Some(i16::from_be_bytes(fixed(bytes, ty)?))),
        Type::INT4 => ScalarValue::Int32(Some(i32::from_be_bytes(fixed(bytes, ty)?))),
        Type::INT8 => ScalarValue::Int64(Some(i64::from_be_bytes(fixed(bytes, ty)?))),
        Type::OID => ScalarValue::Int64(Some(i64::from(u32::from_be_bytes(fixed(bytes, ty)?)))),
        Type::FLOAT4 => ScalarValue::Float32(Some(f32::from_be_bytes(fixed(bytes, ty)?))),
        Type::FLOAT8 => ScalarValue::Float64(Some(f64::from_be_bytes(fixed(bytes, ty)?))),
        Type::BOOL => ScalarValue::Boolean(Some(fixed::<1>(bytes, ty)?[0] != 0)),
        Type::DATE => {
            let days = i32::from_be_bytes(fixed(bytes, ty)?);
            ScalarValue::Date32(Some(days.saturating_add(PG_EPOCH_DAYS)))
        }
        Type::TIME => ScalarValue::Time64Microsecond(Some(i64::from_be_bytes(fixed(bytes, ty)?))),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(fixed(bytes, ty)?).saturating_add(PG_EPOCH_MICROS);
            let zone = (*ty == Type::TIMESTAMPTZ).then(|| "+00:00".into());
            ScalarValue::TimestampMicrosecond(Some(micros), zone)
        }
        Type::NUMERIC => {
            let text = numeric::read_binary(bytes).map_err(|e| user_error("22P03", e))?;
            decimal(&text).map_err(|e| user_error("22P03", format!("numeric {text}{e}")))?
        }
        Type::BYTEA => ScalarValue::Binary(Some(bytes.to_vec())),
        _ if ty.oid() == super::types::VECTOR_OID => vector_from_binary(bytes)?,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::JSON => {
            let text = std::str::from_utf8(bytes)
                .map_err(|_| user_error("22021", "a text parameter is not valid UTF-8"))?;
            ScalarValue::Utf8(Some(text.to_string()))
        }
        _ => {
            return Err(user_error(
                "0A000",
                format!(
                    "binary format for parameters of type {} is not supported",
                    ty.name()
                ),
            ));
        }
    })
}

/// pgvector's binary form: the dimension (int2), an unused int2, then each component
/// (float4), as pgvector's `vector_send` writes it; read as pgvector's text, which the
/// vector functions read.
fn vector_from_binary(bytes: &[u8]) -> Result<ScalarValue, PgWireError> {
    let bad = |why: &str| user_error("22P03", format!("a binary vector parameter {why}"));
    let [d0, d1, _, _, rest @ ..] = bytes else {
        return Err(bad("is shorter than its 4-byte header"));
    };
    let dims = i16::from_be_bytes([*d0, *d1]);
    if dims < 1 || rest.len() != dims as usize * 4 {
        return Err(bad(&format!(
            "declares {dims} dimensions in {} bytes of components",
            rest.len()
        )));
    }
    let mut text = String::from("[");
    for (i, x) in rest.chunks_exact(4).enumerate() {
        let x = f32::from_be_bytes([x[0], x[1], x[2], x[3]]);
        if i > 0 {
            text.push(',');
        }
        // (Shortest exact text: the vector round-trips.)
        text.push_str(&format!("{x:?}"));
    }
    text.push(']');
    Ok(ScalarValue::Utf8(Some(text)))
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

fn days(date: NaiveDate) -> i32 {
    chrono::Datelike::num_days_from_ce(&date) - UNIX_EPOCH_CE_DAYS
}

fn time_micros(time: NaiveTime) -> i64 {
    i64::from(time.num_seconds_from_midnight()) * 1_000_000 + i64::from(time.nanosecond() / 1_000)
}

fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .or_else(|| parse_date(text).and_then(|d| d.and_hms_opt(0, 0, 0)))
}

/// A timestamp with an optional zone offset (`+00`, `+05:30`, `Z`); none means UTC.
fn parse_timestamptz(text: &str) -> Option<i64> {
    let with_zone = ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"]
        .iter()
        .find_map(|f| DateTime::parse_from_str(text, f).ok())
        .or_else(|| DateTime::parse_from_rfc3339(text).ok());
    match with_zone {
        Some(t) => Some(t.timestamp_micros()),
        None => parse_timestamp(text).map(|t| t.and_utc().timestamp_micros()),
    }
}

/// `-123.45` as a Decimal128 with the text's own scale.
fn decimal(text: &str) -> Result<ScalarValue, String> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(String::new());
    }
    let digits = format!("{int}{frac}");
    let significant = digits.trim_start_matches('0').len();
    if significant > 38 || frac.len() > 38 {
        return Err(" (more than 38 digits)".into());
    }
    let mut value: i128 = digits.parse().map_err(|_| String::new())?;
    if negative {
        value = -value;
    }
    let scale = frac.len() as i8;
    let precision = (significant.max(frac.len()).max(1)) as u8;
    Ok(ScalarValue::Decimal128(Some(value), precision, scale))
}

/// `\x` hex, or the escape format (`\\` and `\ooo` octal escapes).
fn parse_bytea(text: &str) -> Option<Vec<u8>> {
    if let Some(hex) = text.strip_prefix("\\x") {
        let hex: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        return hex
            .chunks(2)
            .map(|pair| {
                let pair = std::str::from_utf8(pair).ok()?;
                (pair.len() == 2).then_some(())?;
                u8::from_str_radix(pair, 16).ok()
            })
            .collect();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
        } else if bytes.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            let octal = std::str::from_utf8(bytes.get(i + 1..i + 4)?).ok()?;
            out.push(u8::from_str_radix(octal, 8).ok()?);
            i += 4;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str, ty: &Type, target: Option<&DataType>) -> ScalarValue {
        decode(Some(value.as_bytes()), ty, FieldFormat::Text, target).unwrap()
    }

    #[test]
    fn text_parameters() {
        assert_eq!(text("42", &Type::INT8, None), ScalarValue::Int64(Some(42)));
        assert_eq!(
            text("42", &Type::TEXT, Some(&DataType::Int64)),
            ScalarValue::Int64(Some(42))
        );
        assert_eq!(
            text("on", &Type::BOOL, None),
            ScalarValue::Boolean(Some(true))
        );
        assert_eq!(
            text("2024-01-31", &Type::DATE, None),
            ScalarValue::Date32(Some(19_753))
        );
        assert_eq!(
            text("2024-01-31 08:00:00.5", &Type::TIMESTAMP, None),
            ScalarValue::TimestampMicrosecond(Some(1_706_688_000_500_000), None)
        );
        assert_eq!(
            text("2024-01-31 09:00:00+01", &Type::TIMESTAMPTZ, None),
            ScalarValue::TimestampMicrosecond(Some(1_706_688_000_000_000), Some("+00:00".into()))
        );
        assert_eq!(
            text("-12.50", &Type::NUMERIC, None),
            ScalarValue::Decimal128(Some(-1250), 4, 2)
        );
        assert_eq!(
            text("\\x00ff", &Type::BYTEA, None),
            ScalarValue::Binary(Some(vec![0, 255]))
        );
    }

    #[test]
    fn binary_parameters() {
        let binary =
            |bytes: &[u8], ty: &Type| decode(Some(bytes), ty, FieldFormat::Binary, None).unwrap();
        assert_eq!(
            binary(&7i32.to_be_bytes(), &Type::INT4),
            ScalarValue::Int32(Some(7))
        );
        assert_eq!(
            binary(&1.5f64.to_be_bytes(), &Type::FLOAT8),
            ScalarValue::Float64(Some(1.5))
        );
        assert_eq!(
            binary(&0i32.to_be_bytes(), &Type::DATE),
            ScalarValue::Date32(Some(10_957))
        );
        assert!(decode(Some(&[1, 2]), &Type::INT4, FieldFormat::Binary, None).is_err());
    }

    #[test]
    fn bad_text_is_22p02_and_null_is_typed() {
        let Err(PgWireError::UserError(info)) =
            decode(Some(b"x"), &Type::INT4, FieldFormat::Text, None)
        else {
            panic!("an error");
        };
        assert_eq!(info.code, "22P02");
        assert_eq!(
            decode(None, &Type::TEXT, FieldFormat::Text, Some(&DataType::Int64)).unwrap(),
            ScalarValue::Int64(None)
        );
    }
}
