//! Result encodings of `POST /v1/sql`, written batch by batch so a result of any size
//! streams: `json` (docs/api.md's `{"columns","rows","row_count"}`), `ndjson` (one object per
//! row), `csv` (header line, RFC 4180 quoting) and `arrow` (an Arrow IPC stream).
//!
//! Values: numbers and booleans as JSON numbers and booleans (decimals as exact number
//! text; NaN and infinities, which JSON lacks, as the strings `"NaN"`, `"Infinity"`,
//! `"-Infinity"`); dates `"2024-01-31"`; timestamps ISO 8601 `"2024-01-31T08:00:00"`;
//! everything else as its text. In CSV a null is an empty field and an empty string `""`
//! (what ingest reads back as null and empty respectively).

use std::fmt::Write as _;
use std::str::FromStr;

use bytes::Bytes;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::QueryError;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Json,
    Ndjson,
    Csv,
    Arrow,
}

impl FromStr for Format {
    type Err = QueryError;

    fn from_str(text: &str) -> Result<Format, QueryError> {
        match text {
            "json" => Ok(Format::Json),
            "ndjson" => Ok(Format::Ndjson),
            "csv" => Ok(Format::Csv),
            "arrow" => Ok(Format::Arrow),
            other => Err(QueryError::BadRequest(format!(
                "unknown format {other:?}: use json, ndjson, csv or arrow"
            ))),
        }
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

/// The name a column type is reported by: the manifest's names for the types datasets
/// hold, lower-case Arrow names for the rest.
pub fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::FixedSizeList(item, n) if item.data_type() == &DataType::Float32 => {
            format!("vector({n})")
        }
        vector if crate::vector::is_vector(vector) => "vector".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float16 => "float16".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Boolean => "boolean".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "utf8".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp".into(),
        DataType::Timestamp(_, Some(_)) => "timestamptz".into(),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Null => "null".into(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

/// How one column's values are written in JSON.
#[derive(Clone, Copy, PartialEq, Eq)]
enum JsonKind {
    /// Integers and decimals: the text is a JSON number.
    Number,
    /// Floats: a JSON number when finite.
    Float,
    Boolean,
    /// A vector column's: an array of JSON numbers.
    Vector,
    /// Everything else: a JSON string of the value's text.
    Text,
}

fn json_kind(data_type: &DataType) -> JsonKind {
    match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => JsonKind::Number,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => JsonKind::Float,
        DataType::Boolean => JsonKind::Boolean,
        vector if crate::vector::is_vector(vector) => JsonKind::Vector,
        _ => JsonKind::Text,
    }
}

const FORMAT_OPTIONS: FormatOptions<'static> =
    FormatOptions::new().with_null("").with_display_error(true);

/// Encodes one result: [`Encoder::begin`], [`Encoder::batch`] per batch, then
/// [`Encoder::finish`] — or [`Encoder::fail`] when the query fails part-way.
pub struct Encoder {
    format: Format,
    schema: SchemaRef,
    kinds: Vec<JsonKind>,
    /// JSON object keys for ndjson, already escaped and quoted.
    keys: Vec<String>,
    rows: u64,
    arrow: Option<arrow_ipc::writer::StreamWriter<Vec<u8>>>,
    scratch: String,
}

impl Encoder {
    pub fn new(format: Format, schema: SchemaRef) -> Encoder {
        let kinds = schema
            .fields()
            .iter()
            .map(|f| json_kind(f.data_type()))
            .collect();
        let keys = schema
            .fields()
            .iter()
            .map(|f| serde_json::to_string(f.name()).unwrap_or_else(|_| "\"?\"".into()))
            .collect();
        Encoder {
            format,
            schema,
            kinds,
            keys,
            rows: 0,
            arrow: None,
            scratch: String::new(),
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// What comes before the first row.
    pub fn begin(&mut self) -> Result<Bytes, QueryError> {
        match self.format {
            Format::Json => {
                let columns: Vec<serde_json::Value> = self
                    .schema
                    .fields()
                    .iter()
                    .map(
                        |f| serde_json::json!({"name": f.name(), "type": type_name(f.data_type())}),
                    )
                    .collect();
                let columns = serde_json::to_string(&columns)
                    .map_err(|e| QueryError::Internal(e.to_string()))?;
                Ok(Bytes::from(format!("{{\"columns\":{columns},\"rows\":[")))
            }
            Format::Ndjson => Ok(Bytes::new()),
            Format::Csv => {
                let mut line = String::new();
                for (i, field) in self.schema.fields().iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    push_csv_field(&mut line, field.name(), false);
                }
                line.push_str("\r\n");
                Ok(Bytes::from(line))
            }
            Format::Arrow => {
                let writer = arrow_ipc::writer::StreamWriter::try_new(Vec::new(), &self.schema)
                    .map_err(|e| QueryError::Internal(format!("arrow stream: {e}")))?;
                let mut writer = writer;
                let header = std::mem::take(writer.get_mut());
                self.arrow = Some(writer);
                Ok(Bytes::from(header))
            }
        }
    }

    /// One batch's rows.
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<Bytes, QueryError> {
        let out = match self.format {
            Format::Json | Format::Ndjson => self.json_rows(batch)?,
            Format::Csv => self.csv_rows(batch)?,
            Format::Arrow => {
                let writer = self
                    .arrow
                    .as_mut()
                    .ok_or_else(|| QueryError::Internal("arrow stream not begun".into()))?;
                writer
                    .write(batch)
                    .map_err(|e| QueryError::Internal(format!("arrow stream: {e}")))?;
                std::mem::take(writer.get_mut())
            }
        };
        self.rows += batch.num_rows() as u64;
        Ok(Bytes::from(out))
    }

    /// What comes after the last row.
    pub fn finish(&mut self) -> Result<Bytes, QueryError> {
        match self.format {
            Format::Json => Ok(Bytes::from(format!("],\"row_count\":{}}}\n", self.rows))),
            Format::Ndjson | Format::Csv => Ok(Bytes::new()),
            Format::Arrow => {
                let mut writer = self
                    .arrow
                    .take()
                    .ok_or_else(|| QueryError::Internal("arrow stream not begun".into()))?;
                writer
                    .finish()
                    .map_err(|e| QueryError::Internal(format!("arrow stream: {e}")))?;
                Ok(Bytes::from(std::mem::take(writer.get_mut())))
            }
        }
    }

    /// Ends a JSON or NDJSON result with the error that stopped the query part-way (the
    /// response is then also cut short, so no client mistakes it for a whole result).
    pub fn fail(&mut self, error: &QueryError) -> Bytes {
        let detail = serde_json::json!({"code": error.code(), "message": error.to_string()});
        match self.format {
            Format::Json => Bytes::from(format!("],\"error\":{detail}}}\n")),
            Format::Ndjson => Bytes::from(format!("{{\"error\":{detail}}}\n")),
            Format::Csv | Format::Arrow => Bytes::new(),
        }
    }

    fn formatters<'a>(
        &self,
        batch: &'a RecordBatch,
    ) -> Result<Vec<ArrayFormatter<'a>>, QueryError> {
        batch
            .columns()
            .iter()
            .map(|column| {
                ArrayFormatter::try_new(column.as_ref(), &FORMAT_OPTIONS)
                    .map_err(|e| QueryError::Internal(format!("formatting a result: {e}")))
            })
            .collect()
    }

    fn json_rows(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, QueryError> {
        let formatters = self.formatters(batch)?;
        let columns = batch.columns();
        let mut out = String::with_capacity(batch.num_rows() * 16 * columns.len().max(1));
        let ndjson = self.format == Format::Ndjson;
        for row in 0..batch.num_rows() {
            if ndjson {
                out.push('{');
            } else {
                if self.rows > 0 || row > 0 {
                    out.push(',');
                }
                out.push('[');
            }
            for (i, (column, formatter)) in columns.iter().zip(&formatters).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if ndjson {
                    out.push_str(&self.keys[i]);
                    out.push(':');
                }
                if column.is_null(row) {
                    out.push_str("null");
                    continue;
                }
                if self.kinds[i] == JsonKind::Vector {
                    push_json_vector(&mut out, column.as_ref(), row, &mut self.scratch);
                    continue;
                }
                self.scratch.clear();
                let _ = write!(self.scratch, "{}", formatter.value(row));
                push_json_value(&mut out, &self.scratch, self.kinds[i]);
            }
            out.push_str(if ndjson { "}\n" } else { "]" });
        }
        Ok(out.into_bytes())
    }

    fn csv_rows(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, QueryError> {
        let formatters = self.formatters(batch)?;
        let columns = batch.columns();
        let mut out = String::with_capacity(batch.num_rows() * 12 * columns.len().max(1));
        for row in 0..batch.num_rows() {
            for (i, (column, formatter)) in columns.iter().zip(&formatters).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if column.is_null(row) {
                    continue;
                }
                self.scratch.clear();
                let _ = write!(self.scratch, "{}", formatter.value(row));
                let text = self.kinds[i] == JsonKind::Text;
                push_csv_field(&mut out, &self.scratch, text);
            }
            out.push_str("\r\n");
        }
        Ok(out.into_bytes())
    }
}

fn push_json_value(out: &mut String, text: &str, kind: JsonKind) {
    match kind {
        JsonKind::Number | JsonKind::Boolean => out.push_str(text),
        JsonKind::Float => match text {
            "NaN" => out.push_str("\"NaN\""),
            "inf" => out.push_str("\"Infinity\""),
            "-inf" => out.push_str("\"-Infinity\""),
            finite => out.push_str(finite),
        },
        JsonKind::Text | JsonKind::Vector => push_json_string(out, text),
    }
}

/// Row `row` of a vector column as a JSON array of numbers.
fn push_json_vector(out: &mut String, column: &dyn Array, row: usize, scratch: &mut String) {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Float32Type;
    let value = match column.data_type() {
        DataType::List(_) => column.as_list::<i32>().value(row),
        _ => column.as_fixed_size_list().value(row),
    };
    out.push('[');
    for (j, x) in value
        .as_primitive::<Float32Type>()
        .values()
        .iter()
        .enumerate()
    {
        if j > 0 {
            out.push(',');
        }
        scratch.clear();
        // (Debug: `1.0` rather than `1`, as float columns print.)
        let _ = write!(scratch, "{x:?}");
        push_json_value(out, scratch, JsonKind::Float);
    }
    out.push(']');
}

/// `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{byte:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// One CSV field; quoted when it holds a delimiter, quote or line break, and — for text
/// values — when empty, so an empty string is told from a null.
fn push_csv_field(out: &mut String, text: &str, is_text: bool) {
    let needs_quotes = (is_text && text.is_empty()) || text.contains([',', '"', '\r', '\n']);
    if needs_quotes {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
                Arc::new(Float64Array::from(vec![Some(1.5), Some(f64::NAN), None])),
                Arc::new(StringArray::from(vec![Some("a,\"b\""), Some(""), None])),
            ],
        )
        .unwrap()
    }

    fn encode(format: Format) -> String {
        let batch = batch();
        let mut encoder = Encoder::new(format, batch.schema());
        let mut out = Vec::new();
        out.extend_from_slice(&encoder.begin().unwrap());
        out.extend_from_slice(&encoder.batch(&batch).unwrap());
        out.extend_from_slice(&encoder.batch(&batch.slice(0, 1)).unwrap());
        out.extend_from_slice(&encoder.finish().unwrap());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_document() {
        let text = encode(Format::Json);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "columns": [
                    {"name": "id", "type": "int64"},
                    {"name": "x", "type": "float64"},
                    {"name": "s", "type": "utf8"}
                ],
                "rows": [[1, 1.5, "a,\"b\""], [null, "NaN", ""], [3, null, null], [1, 1.5, "a,\"b\""]],
                "row_count": 4
            })
        );
    }

    #[test]
    fn ndjson_lines() {
        let text = encode(Format::Ndjson);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[1],
            serde_json::json!({"id": null, "x": "NaN", "s": ""})
        );
    }

    #[test]
    fn csv_quotes_and_nulls() {
        assert_eq!(
            encode(Format::Csv),
            "id,x,s\r\n1,1.5,\"a,\"\"b\"\"\"\r\n,NaN,\"\"\r\n3,,\r\n1,1.5,\"a,\"\"b\"\"\"\r\n"
        );
    }

    #[test]
    fn arrow_stream_reads_back() {
        let text = {
            let batch = batch();
            let mut encoder = Encoder::new(Format::Arrow, batch.schema());
            let mut out = Vec::new();
            out.extend_from_slice(&encoder.begin().unwrap());
            out.extend_from_slice(&encoder.batch(&batch).unwrap());
            out.extend_from_slice(&encoder.finish().unwrap());
            out
        };
        let reader = arrow_ipc::reader::StreamReader::try_new(&text[..], None).unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches, vec![batch()]);
    }

    #[test]
    fn json_strings_escape_controls() {
        let mut out = String::new();
        push_json_string(&mut out, "a\u{1}b\"\n");
        assert_eq!(out, "\"a\\u0001b\\\"\\n\"");
    }
}
