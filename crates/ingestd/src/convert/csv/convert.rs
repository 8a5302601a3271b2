//! Parsed records → an Arrow `RecordBatch` of the layout's types.
//!
//! A value that does not parse as its column's type fails the batch with the line, column,
//! expected type and the value; nothing is nulled or truncated. Text must be UTF-8.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, FixedSizeListArray, Float32Array, Float64Array,
    Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_buffer::{BooleanBufferBuilder, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::SchemaRef;
use catalogd::ColumnType;

use super::sniff::is_null;
use super::tokenizer::Rows;
use super::value::{parse_bool, parse_date, parse_f64, parse_i64, parse_timestamp, parse_vector};

/// A value that broke its column's type; `line` is 1-based, counting the header.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column:?}: expected {expected}, found {value:?}")]
pub struct TypeError {
    pub line: u64,
    /// 0-based position of the column.
    pub index: usize,
    pub column: String,
    pub expected: String,
    /// The offending text (shortened past 200 characters).
    pub value: String,
}

/// Converts records `first..` of `rows` (every one `columns.len()` wide) to a batch.
pub fn to_batch(
    rows: &Rows,
    first: usize,
    columns: &[(String, ColumnType)],
    schema: &SchemaRef,
    null: Option<&[u8]>,
) -> Result<RecordBatch, TypeError> {
    let width = columns.len();
    let n = rows.len().saturating_sub(first);
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(width);
    for (c, (name, ty)) in columns.iter().enumerate() {
        let column = Column {
            rows,
            first,
            n,
            c,
            width,
            null,
        };
        let fail = |r: usize, v: &[u8], expected: &str| TypeError {
            line: rows.lines[first + r],
            index: c,
            column: name.clone(),
            expected: expected.to_string(),
            value: shorten(v),
        };
        let array: ArrayRef = match ty {
            ColumnType::Int64 => {
                let (values, nulls) =
                    column.values(|r, v| parse_i64(v).ok_or_else(|| fail(r, v, "int64")))?;
                Arc::new(Int64Array::new(values, nulls))
            }
            ColumnType::Float64 => {
                let (values, nulls) =
                    column.values(|r, v| parse_f64(v).ok_or_else(|| fail(r, v, "float64")))?;
                Arc::new(Float64Array::new(values, nulls))
            }
            ColumnType::Date => {
                let (values, nulls) = column
                    .values(|r, v| parse_date(v).ok_or_else(|| fail(r, v, "date (YYYY-MM-DD)")))?;
                Arc::new(Date32Array::new(values, nulls))
            }
            ColumnType::Timestamp => {
                let (values, nulls) = column.values(|r, v| {
                    parse_timestamp(v)
                        .ok_or_else(|| fail(r, v, "timestamp (YYYY-MM-DD HH:MM:SS[.f][Z|±HH:MM])"))
                })?;
                Arc::new(TimestampMicrosecondArray::new(values, nulls))
            }
            ColumnType::Boolean => {
                let (values, nulls) = column.values(|r, v| {
                    parse_bool(v)
                        .map(u8::from)
                        .ok_or_else(|| fail(r, v, "boolean (true/false)"))
                })?;
                let values = values.iter().map(|b| *b != 0).collect();
                Arc::new(BooleanArray::new(values, nulls))
            }
            ColumnType::Utf8 => Arc::new(column.strings(name)?),
            ColumnType::Vector(dims) => Arc::new(column.vectors(*dims, |r, v| {
                fail(
                    r,
                    v,
                    &format!("vector({dims}): {dims} finite numbers in brackets"),
                )
            })?),
        };
        arrays.push(array);
    }
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(n));
    RecordBatch::try_new_with_options(schema.clone(), arrays, &options).map_err(|e| TypeError {
        line: rows.lines.get(first).copied().unwrap_or(0),
        index: 0,
        column: String::new(),
        expected: "a valid batch".into(),
        value: e.to_string(),
    })
}

fn shorten(v: &[u8]) -> String {
    let text = String::from_utf8_lossy(v);
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// One column of the records being converted.
struct Column<'a> {
    rows: &'a Rows,
    first: usize,
    n: usize,
    c: usize,
    width: usize,
    null: Option<&'a [u8]>,
}

impl Column<'_> {
    #[inline]
    fn get(&self, r: usize) -> (&[u8], bool) {
        self.rows.field_at((self.first + r) * self.width + self.c)
    }

    /// Null for every type: an unquoted empty field or the null text; for non-text types
    /// also a quoted empty field (it has no other meaning there).
    #[inline]
    fn is_null(&self, v: &[u8], quoted: bool) -> bool {
        is_null(v, quoted, self.null) || v.is_empty()
    }

    /// Parses every non-null value; nulls get `T::default()`. One pass builds both the
    /// values and the validity (`None` when nothing is null).
    fn values<T: Default + arrow_buffer::ArrowNativeType>(
        &self,
        mut parse: impl FnMut(usize, &[u8]) -> Result<T, TypeError>,
    ) -> Result<(ScalarBuffer<T>, Option<NullBuffer>), TypeError> {
        let mut out = Vec::with_capacity(self.n);
        let mut valid = BooleanBufferBuilder::new(self.n);
        let mut any_null = false;
        for r in 0..self.n {
            let (v, quoted) = self.get(r);
            if self.is_null(v, quoted) {
                any_null = true;
                valid.append(false);
                out.push(T::default());
            } else {
                valid.append(true);
                out.push(parse(r, v)?);
            }
        }
        let nulls = any_null.then(|| NullBuffer::new(valid.finish()));
        Ok((ScalarBuffer::from(out), nulls))
    }

    /// Vectors of `dims` components; a null is `dims` zeros under a null bit.
    fn vectors(
        &self,
        dims: u32,
        fail: impl Fn(usize, &[u8]) -> TypeError,
    ) -> Result<FixedSizeListArray, TypeError> {
        // (Its own loop: `values` is the numeric columns' hot path, and a vector is many
        // values per field.)
        let size = dims as usize;
        let mut values: Vec<f32> = Vec::with_capacity(self.n.saturating_mul(size));
        let mut valid = BooleanBufferBuilder::new(self.n);
        for r in 0..self.n {
            let (v, quoted) = self.get(r);
            let null = self.is_null(v, quoted);
            valid.append(!null);
            if null {
                values.resize(values.len() + size, 0.0);
            } else if parse_vector(v, &mut values) != Some(size) {
                return Err(fail(r, v));
            }
        }
        let valid = valid.finish();
        let nulls = (valid.count_set_bits() < self.n).then(|| NullBuffer::new(valid));
        let item = Arc::new(crate::schema::vector_item());
        Ok(FixedSizeListArray::new(
            item,
            dims as i32,
            Arc::new(Float32Array::from(values)),
            nulls,
        ))
    }

    /// Text: only an unquoted empty field (or the null text) is null; `""` is "".
    fn strings(&self, name: &str) -> Result<StringArray, TypeError> {
        let mut offsets: Vec<i32> = Vec::with_capacity(self.n + 1);
        // Sized exactly up front: growing by doubling re-copied the text (long-text
        // columns are most of a CSV's bytes).
        let total: usize = (0..self.n).map(|r| self.get(r).0.len()).sum();
        let mut bytes: Vec<u8> = Vec::with_capacity(total);
        let mut valid = BooleanBufferBuilder::new(self.n);
        let mut any_null = false;
        offsets.push(0);
        for r in 0..self.n {
            let (v, quoted) = self.get(r);
            let null = is_null(v, quoted, self.null);
            any_null |= null;
            valid.append(!null);
            if !null {
                bytes.extend_from_slice(v);
            }
            offsets.push(i32::try_from(bytes.len()).map_err(|_| TypeError {
                line: self.rows.lines[self.first + r],
                index: self.c,
                column: name.to_string(),
                expected: "under 2 GiB of text per batch".into(),
                value: String::new(),
            })?);
        }
        let nulls = any_null.then(|| NullBuffer::new(valid.finish()));
        // `try_new` validates the UTF-8 (and that every offset is a character boundary) in
        // one pass; only when it fails are the fields checked one by one, to name the line.
        let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
        StringArray::try_new(offsets, bytes.into(), nulls).map_err(|e| {
            let bad = (0..self.n).find(|&r| std::str::from_utf8(self.get(r).0).is_err());
            let r = bad.unwrap_or(0);
            TypeError {
                line: self.rows.lines[self.first + r],
                index: self.c,
                column: name.to_string(),
                expected: "UTF-8 text".into(),
                value: bad.map_or_else(|| e.to_string(), |r| shorten(self.get(r).0)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::csv::tokenizer::parse_sample;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, Int64Type};

    fn convert(csv: &str, columns: &[(&str, ColumnType)]) -> Result<RecordBatch, TypeError> {
        let rows = parse_sample(csv.as_bytes(), true, b',', usize::MAX).unwrap();
        let columns: Vec<(String, ColumnType)> =
            columns.iter().map(|(n, t)| (n.to_string(), *t)).collect();
        let schema = crate::schema::arrow_schema(&columns);
        to_batch(&rows, 1, &columns, &schema, Some(b"NA"))
    }

    #[test]
    fn values_and_nulls() {
        let b = convert(
            "i,f,s\n1,2.5,a\n,NA,\"\"\nNA,,\n",
            &[
                ("i", ColumnType::Int64),
                ("f", ColumnType::Float64),
                ("s", ColumnType::Utf8),
            ],
        )
        .unwrap();
        assert_eq!(b.num_rows(), 3);
        let i = b.column(0).as_primitive::<Int64Type>();
        assert_eq!((i.value(0), i.null_count()), (1, 2));
        let f = b.column(1).as_primitive::<Float64Type>();
        assert_eq!((f.value(0), f.null_count()), (2.5, 2));
        let s = b.column(2).as_string::<i32>();
        // `""` is the empty string; unquoted empty and NA are null.
        assert_eq!((s.is_null(1), s.value(1)), (false, ""));
        assert!(s.is_null(2));
    }

    #[test]
    fn a_bad_value_names_line_column_type_and_value() {
        let e = convert("n\n1\n2\nthree\n", &[("n", ColumnType::Int64)]).unwrap_err();
        assert_eq!(
            e,
            TypeError {
                line: 4,
                index: 0,
                column: "n".into(),
                expected: "int64".into(),
                value: "three".into()
            }
        );
    }

    #[test]
    fn vectors_convert_and_a_bad_one_is_named() {
        let b = convert(
            "e\n\"[1, 2,3]\"\nNA\n\"[-0.5,0,1e2]\"\n",
            &[("e", ColumnType::Vector(3))],
        )
        .unwrap();
        let e = b.column(0).as_fixed_size_list();
        assert_eq!((e.value_length(), e.null_count()), (3, 1));
        let values = e.values().as_primitive::<arrow_array::types::Float32Type>();
        assert_eq!(values.values()[..3], [1.0, 2.0, 3.0]);
        assert_eq!(values.values()[6..], [-0.5, 0.0, 100.0]);
        assert_eq!(
            b.schema().field(0).data_type(),
            &crate::schema::arrow_type(ColumnType::Vector(3))
        );
        for (bad, line) in [("[1,2]", 3), ("[1,2,NaN]", 3), ("[1,2,x]", 3), ("1,2,3", 3)] {
            let csv = format!("e\n\"[1,2,3]\"\n\"{bad}\"\n");
            let err = convert(&csv, &[("e", ColumnType::Vector(3))]).unwrap_err();
            assert_eq!((err.line, err.value.as_str()), (line, bad));
            assert_eq!(err.expected, "vector(3): 3 finite numbers in brackets");
        }
    }

    #[test]
    fn invalid_utf8_is_named() {
        let rows = parse_sample(b"s\nok\nbad\xff\n", true, b',', 10).unwrap();
        let columns = vec![("s".to_string(), ColumnType::Utf8)];
        let schema = crate::schema::arrow_schema(&columns);
        let e = to_batch(&rows, 1, &columns, &schema, None).unwrap_err();
        assert_eq!((e.line, e.expected.as_str()), (3, "UTF-8 text"));
    }
}
