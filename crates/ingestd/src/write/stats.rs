//! A part's column statistics for its Delta `add` action, from the row groups' Parquet
//! statistics the encoder already computed: no second pass over the data.
//!
//! Bounds may be wider than the data, never narrower: readers skip a file whose bounds
//! rule a filter out. So a timestamp's maximum is rounded up to the millisecond Delta
//! keeps, a long text maximum is cut and its last character raised, and a column any row
//! group has no statistics for gets no bounds at all.

use arrow_schema::{DataType, Schema, TimeUnit};
use catalogd::FileStats;
use chrono::{DateTime, NaiveDate};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;
use serde_json::Value;

/// The statistics of a part made of `groups`, whose columns are `schema`'s.
pub(crate) fn file_stats(schema: &Schema, groups: &[RowGroupMetaData]) -> FileStats {
    let mut stats = FileStats::default();
    // (Every column is one Parquet leaf column, a vector's too, so field `i` is leaf `i`.)
    for (i, field) in schema.fields().iter().enumerate() {
        // A vector has neither bounds nor (in Delta's statistics) a null count.
        if matches!(field.data_type(), DataType::FixedSizeList(..)) {
            continue;
        }
        let chunks: Vec<(Option<&Statistics>, i64)> = groups
            .iter()
            .map(|g| (g.column(i).statistics(), g.num_rows()))
            .collect();
        let nulls: Option<u64> = chunks
            .iter()
            .map(|(s, _)| s.and_then(|s| s.null_count_opt()))
            .sum();
        if let Some(nulls) = nulls {
            stats.nulls.insert(field.name().clone(), nulls);
        }
        if let Some((min, max)) = bounds(field.data_type(), &chunks) {
            stats.min.insert(field.name().clone(), min);
            stats.max.insert(field.name().clone(), max);
        }
    }
    stats
}

/// The column's bounds over all row groups, as Delta JSON values; `None` when unknown
/// or when every value is null.
fn bounds(ty: &DataType, chunks: &[(Option<&Statistics>, i64)]) -> Option<(Value, Value)> {
    match ty {
        DataType::Int64 => {
            let (min, max) = fold(chunks, |s| match s {
                Statistics::Int64(v) => Some((v.min_opt().copied(), v.max_opt().copied())),
                _ => None,
            })?;
            Some((min.into(), max.into()))
        }
        DataType::Float64 => {
            let (min, max) = fold(chunks, |s| match s {
                Statistics::Double(v) => Some((v.min_opt().copied(), v.max_opt().copied())),
                _ => None,
            })?;
            (min.is_finite() && max.is_finite()).then(|| (min.into(), max.into()))
        }
        DataType::Date32 => {
            let (min, max) = fold(chunks, |s| match s {
                Statistics::Int32(v) => Some((v.min_opt().copied(), v.max_opt().copied())),
                _ => None,
            })?;
            Some((date(min)?, date(max)?))
        }
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            let (min, max) = fold(chunks, |s| match s {
                Statistics::Int64(v) => Some((v.min_opt().copied(), v.max_opt().copied())),
                _ => None,
            })?;
            let floor = min.div_euclid(1000);
            let ceil = max.div_euclid(1000) + i64::from(max.rem_euclid(1000) != 0);
            Some((timestamp(floor)?, timestamp(ceil)?))
        }
        DataType::Utf8 => {
            let (min, max) = fold(chunks, |s| match s {
                Statistics::ByteArray(v) => Some((
                    v.min_opt()
                        .and_then(|b| b.as_utf8().ok())
                        .map(str::to_string),
                    v.max_opt()
                        .and_then(|b| b.as_utf8().ok())
                        .map(str::to_string),
                )),
                _ => None,
            })?;
            let min: String = min.chars().take(FileStats::TEXT_PREFIX).collect();
            Some((min.into(), text_upper_bound(&max)?.into()))
        }
        // Booleans and anything else: null counts only.
        _ => None,
    }
}

/// The smallest minimum and largest maximum over the row groups. A row group with no
/// bounds is all null (skipped) when its null count says so; otherwise the bounds are
/// unknown.
fn fold<T: PartialOrd>(
    chunks: &[(Option<&Statistics>, i64)],
    values: impl Fn(&Statistics) -> Option<(Option<T>, Option<T>)>,
) -> Option<(T, T)> {
    let mut out: Option<(T, T)> = None;
    for (stats, rows) in chunks {
        let stats = (*stats)?;
        match values(stats)? {
            (Some(min), Some(max)) => {
                out = Some(match out {
                    None => (min, max),
                    Some((lo, hi)) => (
                        if min < lo { min } else { lo },
                        if max > hi { max } else { hi },
                    ),
                });
            }
            _ if stats.null_count_opt() == u64::try_from(*rows).ok() => {}
            _ => return None,
        }
    }
    out
}

fn date(days: i32) -> Option<Value> {
    let day = NaiveDate::from_ymd_opt(1970, 1, 1)?
        .checked_add_signed(chrono::Duration::days(days.into()))?;
    Some(day.format("%Y-%m-%d").to_string().into())
}

/// Milliseconds since the epoch, zone-less, as Delta writes a `timestamp_ntz` bound.
fn timestamp(ms: i64) -> Option<Value> {
    let at = DateTime::from_timestamp_millis(ms)?.naive_utc();
    Some(at.format("%Y-%m-%d %H:%M:%S%.3f").to_string().into())
}

/// `max` cut to [`FileStats::TEXT_PREFIX`] characters and still at least `max`: the cut
/// text's last character that can be raised is raised, the rest dropped. `None` when none
/// can be (every character is U+10FFFF).
fn text_upper_bound(max: &str) -> Option<String> {
    if max.chars().count() <= FileStats::TEXT_PREFIX {
        return Some(max.to_string());
    }
    let mut chars: Vec<char> = max.chars().take(FileStats::TEXT_PREFIX).collect();
    while let Some(last) = chars.pop() {
        let raised = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32);
        if let Some(raised) = raised {
            chars.push(raised);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use arrow_array::{
        ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    };
    use arrow_schema::Field;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    /// Three row groups of two rows: text all null in the second, ints null in the third.
    #[test]
    fn file_bounds_span_row_groups() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("d", DataType::Date32, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Boolean, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![
                Some(5),
                Some(-3),
                Some(9),
                Some(1),
                None,
                None,
            ])),
            Arc::new(Float64Array::from(vec![0.5, 2.0, -1.5, 3.0, 1.0, 1.0])),
            Arc::new(Date32Array::from(vec![0, 1, 2, 3, 4, 19_000])),
            Arc::new(TimestampMicrosecondArray::from(vec![
                1_500_001, 2_000_000, 3_000_000, 4_000_000, 5_000_000, 7_000_001,
            ])),
            Arc::new(StringArray::from(vec![
                Some("pear"),
                Some("apple"),
                None,
                None,
                Some("zebra"),
                None,
            ])),
            Arc::new(BooleanArray::from(vec![
                true, false, true, true, false, true,
            ])),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let mut writer =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        let metadata = writer.close().unwrap();
        assert_eq!(metadata.num_row_groups(), 3);
        let stats = file_stats(&schema, metadata.row_groups());
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "minValues": {"n": -3, "x": -1.5, "d": "1970-01-01",
                              "t": "1970-01-01 00:00:01.500", "s": "apple"},
                "maxValues": {"n": 9, "x": 3.0, "d": "2022-01-08",
                              "t": "1970-01-01 00:00:07.001", "s": "zebra"},
                "nullCount": {"n": 2, "x": 0, "d": 0, "t": 0, "s": 3, "b": 0},
            })
        );
    }

    #[test]
    fn long_text_bounds_stay_bounds() {
        let long = "a".repeat(40);
        assert_eq!(text_upper_bound("short").as_deref(), Some("short"));
        let bound = text_upper_bound(&long).unwrap();
        assert_eq!(bound.chars().count(), FileStats::TEXT_PREFIX);
        assert!(bound.as_str() > long.as_str());
        assert_eq!(bound, format!("{}b", "a".repeat(31)));
        let top = format!("{}{}", "z".repeat(31), "\u{10FFFF}".repeat(9));
        let bound = text_upper_bound(&top).unwrap();
        assert!(bound.as_str() > top.as_str());
        assert_eq!(bound, format!("{}{{", "z".repeat(30)));
        // U+D7FF is followed by the surrogates, which are not characters.
        let before_surrogates = format!("{}\u{D7FF}{}", "x".repeat(31), "y".repeat(5));
        assert!(
            text_upper_bound(&before_surrogates)
                .unwrap()
                .ends_with('\u{E000}')
        );
        assert_eq!(text_upper_bound(&"\u{10FFFF}".repeat(40)), None);
    }

    #[test]
    fn timestamp_bounds_round_outwards() {
        assert_eq!(
            timestamp(1_500).unwrap(),
            Value::from("1970-01-01 00:00:01.500")
        );
        assert_eq!(
            timestamp(-1).unwrap(),
            Value::from("1969-12-31 23:59:59.999")
        );
        assert_eq!(date(-1).unwrap(), Value::from("1969-12-31"));
    }
}
