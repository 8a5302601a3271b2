//! Text → typed value, for inference and conversion alike, so a value inferred as a type
//! always converts to it.
//!
//! Accepted forms (nothing else, and no surrounding spaces):
//! - int64: `[+-]?[0-9]+` within range;
//! - float64: what Rust's `f64::from_str` takes (`1.5`, `-2e-3`, `.5`, `inf`, `NaN`), parsed
//!   with `lexical-core` (the same forms, from bytes, faster);
//! - boolean: `true` / `false`, any case;
//! - date: `YYYY-MM-DD`;
//! - timestamp: a date, `T` or a space, `HH:MM[:SS[.fraction]]`, then optionally `Z` or an
//!   offset `±HH[:MM]` / `±HHMM` — stored as microseconds since the epoch in UTC (an offset
//!   is applied; fractions past microseconds are truncated); a bare date is its midnight;
//! - vector: pgvector's text form, `[1, -2.5, 3e-2]`: one or more numbers (float64's forms,
//!   spaces around each allowed) in brackets, each finite as a float32 (no `NaN`, no `inf`,
//!   nothing that overflows one).

/// Parses an int64.
#[inline]
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = if negative {
            v.checked_mul(10)?.checked_sub(d as i64)?
        } else {
            v.checked_mul(10)?.checked_add(d as i64)?
        };
    }
    Some(v)
}

/// Whether an integer text has leading zeros (`007`): such columns are codes (ZIP codes,
/// account numbers), so inference keeps them as text rather than dropping the zeros.
pub fn has_leading_zero(s: &[u8]) -> bool {
    let digits = match s.first() {
        Some(b'-' | b'+') => &s[1..],
        _ => s,
    };
    digits.len() > 1 && digits[0] == b'0'
}

#[inline]
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    // The forms `f64::from_str` takes (lexical's standard format), straight from bytes.
    lexical_core::parse::<f64>(s).ok()
}

/// Appends the components of a vector text to `out`, returning how many there were; `None`
/// (with `out` as it was) when the text is not a vector.
pub fn parse_vector(s: &[u8], out: &mut Vec<f32>) -> Option<usize> {
    let inner = s.strip_prefix(b"[")?.strip_suffix(b"]")?;
    let start = out.len();
    for part in inner.split(|&b| b == b',') {
        match parse_f64(part.trim_ascii()).map(|x| x as f32) {
            Some(x) if x.is_finite() => out.push(x),
            _ => {
                out.truncate(start);
                return None;
            }
        }
    }
    Some(out.len() - start)
}

/// The number of components of a vector text, if it is one (see [`parse_vector`]).
pub fn vector_len(s: &[u8]) -> Option<usize> {
    let inner = s.strip_prefix(b"[")?.strip_suffix(b"]")?;
    let mut n = 0;
    for part in inner.split(|&b| b == b',') {
        if !parse_f64(part.trim_ascii()).is_some_and(|x| (x as f32).is_finite()) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

#[inline]
pub fn parse_bool(s: &[u8]) -> Option<bool> {
    if s.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if s.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Days since 1970-01-01.
#[inline]
pub fn parse_date(s: &[u8]) -> Option<i32> {
    if s.len() != 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let year = digits(&s[0..4])? as i32;
    let month = digits(&s[5..7])?;
    let day = digits(&s[8..10])?;
    days_from_civil(year, month, day)
}

/// Microseconds since 1970-01-01T00:00:00Z. A bare date is its midnight (a column of
/// dates and timestamps is a timestamp column).
pub fn parse_timestamp(s: &[u8]) -> Option<i64> {
    if s.len() == 10 {
        return parse_date(s).map(|days| days as i64 * 86_400_000_000);
    }
    if s.len() < 16 || !matches!(s[10], b'T' | b't' | b' ') {
        return None;
    }
    let days = parse_date(&s[..10])? as i64;
    let rest = &s[11..];
    if rest.len() < 5 || rest[2] != b':' {
        return None;
    }
    let hour = digits(&rest[0..2])? as i64;
    let minute = digits(&rest[3..5])? as i64;
    let mut i = 5;
    let mut second = 0;
    let mut micros = 0i64;
    if rest.len() >= 8 && rest[5] == b':' {
        second = digits(&rest[6..8])? as i64;
        i = 8;
        if rest.len() > 8 && rest[8] == b'.' {
            let start = 9;
            let mut end = start;
            while end < rest.len() && rest[end].is_ascii_digit() {
                end += 1;
            }
            let fraction = &rest[start..end];
            if fraction.is_empty() || fraction.len() > 9 {
                return None;
            }
            for k in 0..6 {
                micros = micros * 10 + fraction.get(k).map_or(0, |b| (b - b'0') as i64);
            }
            i = end;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let offset_seconds = parse_offset(&rest[i..])?;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

/// `""`, `Z`, `±HH`, `±HH:MM`, `±HHMM` → seconds east of UTC.
fn parse_offset(s: &[u8]) -> Option<i64> {
    let sign = match s.first() {
        None => return Some(0),
        Some(b'Z' | b'z') if s.len() == 1 => return Some(0),
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    let (hours, minutes) = match s.len() {
        3 => (digits(&s[1..3])?, 0),
        5 => (digits(&s[1..3])?, digits(&s[3..5])?),
        6 if s[3] == b':' => (digits(&s[1..3])?, digits(&s[4..6])?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours as i64 * 3_600 + minutes as i64 * 60))
}

#[inline]
fn digits(s: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u32;
    }
    Some(v)
}

/// Days from 1970-01-01 of a proleptic Gregorian date, `None` when the date does not exist
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i32, month: u32, day: u32) -> Option<i32> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, NaiveDateTime};

    #[test]
    fn vectors() {
        let mut out = vec![9.0];
        assert_eq!(parse_vector(b"[1,-2.5, 3e-2 ,4]", &mut out), Some(4));
        assert_eq!(out, [9.0, 1.0, -2.5, 0.03, 4.0]);
        assert_eq!(vector_len(b"[1,-2.5, 3e-2 ,4]"), Some(4));
        assert_eq!(parse_vector(b"[0.5]", &mut out), Some(1));
        for bad in [
            &b"[]"[..],
            b"[ ]",
            b"1,2",
            b"[1,2",
            b"1,2]",
            b"[1,,2]",
            b"[1,2,]",
            b"[1,x]",
            b"[NaN]",
            b"[1,inf]",
            b"[1e39]",
            b"[[1]]",
            b" [1]",
        ] {
            let before = out.clone();
            let text = String::from_utf8_lossy(bad);
            assert_eq!(parse_vector(bad, &mut out), None, "{text}");
            assert_eq!(out, before, "{text}");
            assert_eq!(vector_len(bad), None, "{text}");
        }
    }

    #[test]
    fn integers() {
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b""[..], b"-", b"1.0", b" 1", b"1e3", b"0x10"] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(has_leading_zero(b"007") && has_leading_zero(b"-01"));
        assert!(!has_leading_zero(b"0") && !has_leading_zero(b"10"));
    }

    #[test]
    fn dates_match_chrono() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for text in [
            "1970-01-01",
            "2000-02-29",
            "1899-12-31",
            "2026-11-26",
            "0001-01-01",
            "9999-12-31",
        ] {
            let expected =
                (NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap() - epoch).num_days();
            assert_eq!(parse_date(text.as_bytes()), Some(expected as i32), "{text}");
        }
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-1-01",
            "20240101",
            "2024/01/01",
        ] {
            assert_eq!(parse_date(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_match_chrono() {
        let micros = |s: &str, f: &str| {
            NaiveDateTime::parse_from_str(s, f)
                .unwrap()
                .and_utc()
                .timestamp_micros()
        };
        assert_eq!(
            parse_timestamp(b"2024-03-01 12:34:56"),
            Some(micros("2024-03-01 12:34:56", "%Y-%m-%d %H:%M:%S"))
        );
        assert_eq!(
            parse_timestamp(b"2024-03-01T12:34:56.123456789Z"),
            Some(micros("2024-03-01 12:34:56.123456", "%Y-%m-%d %H:%M:%S%.f"))
        );
        assert_eq!(
            parse_timestamp(b"2024-03-01T12:34"),
            Some(micros("2024-03-01 12:34:00", "%Y-%m-%d %H:%M:%S"))
        );
        assert_eq!(
            parse_timestamp(b"2024-03-01T12:00:00+02:00"),
            Some(micros("2024-03-01 10:00:00", "%Y-%m-%d %H:%M:%S"))
        );
        assert_eq!(
            parse_timestamp(b"2024-03-01T12:00:00-0130"),
            Some(micros("2024-03-01 13:30:00", "%Y-%m-%d %H:%M:%S"))
        );
        assert_eq!(
            parse_timestamp(b"2024-03-01"),
            Some(micros("2024-03-01 00:00:00", "%Y-%m-%d %H:%M:%S"))
        );
        for bad in [
            "2024-03-01 24:00:00",
            "2024-03-01 12:60",
            "2024-03-01 12:00:00 UTC",
            "2024-03-01 12:00:00.",
        ] {
            assert_eq!(parse_timestamp(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn floats_and_booleans() {
        assert_eq!(parse_f64(b"1.5e-3"), Some(0.0015));
        assert!(parse_f64(b"NaN").unwrap().is_nan());
        assert_eq!(parse_f64(b"1,5"), None);
        assert_eq!(parse_bool(b"TRUE"), Some(true));
        assert_eq!(parse_bool(b"no"), None);
    }
}

#[cfg(test)]
mod float_forms {
    use super::parse_f64;

    /// lexical accepts exactly what `f64::from_str` accepts, value for value.
    #[test]
    fn same_forms_as_std() {
        for text in [
            "1.5",
            "-2e-3",
            ".5",
            "5.",
            "+7",
            "1E10",
            "inf",
            "-inf",
            "Infinity",
            "NaN",
            "nan",
            "0.1",
            "123456789012345678901234567890",
            "1e400",
            "1e-400",
            "",
            "1,5",
            "1.5.1",
            "e5",
            "--1",
            "1e",
            " 1",
            "0x10",
            "1_000",
            "١",
        ] {
            let std = text.parse::<f64>().ok();
            let ours = parse_f64(text.as_bytes());
            match (std, ours) {
                (Some(a), Some(b)) => {
                    assert!(a == b || (a.is_nan() && b.is_nan()), "{text}: {a} vs {b}")
                }
                (None, None) => {}
                other => panic!("{text:?}: std {:?}, lexical {:?}", other.0, other.1),
            }
        }
    }
}
