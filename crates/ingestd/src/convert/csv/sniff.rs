//! Reads a CSV's layout from its leading sample: delimiter, header, column names and types.
//!
//! Every choice can be forced by an option; what is inferred is decided from the sample
//! only, and the rest of the file must then conform (a later value that breaks a type is an
//! error naming its line, never a silent null — see `convert`).

use catalogd::ColumnType;

use super::tokenizer::{CsvError, Rows, parse_sample};
use super::value::{
    has_leading_zero, parse_bool, parse_date, parse_f64, parse_i64, parse_timestamp, vector_len,
};

/// Delimiters tried, in order of preference on a tie.
pub const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];
/// Records of the sample used for inference.
pub const SAMPLE_ROWS: usize = 10_000;

/// What the user fixed; `None` means infer it.
#[derive(Clone, Debug, Default)]
pub struct CsvOptions {
    pub delimiter: Option<u8>,
    pub header: Option<bool>,
    /// A text that means null (besides an unquoted empty field).
    pub null: Option<String>,
    /// Every column's name and type, in order.
    pub schema: Option<Vec<(String, ColumnType)>>,
    /// On a value that breaks an inferred type, widen the column and convert again
    /// instead of failing (see `convert::widen`).
    pub widen: bool,
}

/// A CSV's layout, decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub delimiter: u8,
    pub header: bool,
    pub columns: Vec<(String, ColumnType)>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SniffError {
    #[error("the body is empty: send a CSV with a header line")]
    Empty,
    #[error(transparent)]
    Csv(#[from] CsvError),
    #[error("the schema option names {given} columns but the CSV has {found}")]
    SchemaWidth { given: usize, found: usize },
}

/// Decides the layout from `sample`, the first bytes of the (decoded, BOM-less) body;
/// `whole` says the sample is the entire body.
pub fn sniff(sample: &[u8], whole: bool, options: &CsvOptions) -> Result<Layout, SniffError> {
    let delimiter = match options.delimiter {
        Some(d) => d,
        None => choose_delimiter(sample, whole),
    };
    let rows = parse_sample(sample, whole, delimiter, SAMPLE_ROWS + 1)?;
    if rows.is_empty() {
        return Err(SniffError::Empty);
    }
    let width = rows.width(0);
    let null = options.null.as_deref().map(str::as_bytes);
    let data_start = |header: bool| usize::from(header);
    let inferred = |header: bool| infer_types(&rows, data_start(header), width, null);
    let header = match options.header {
        Some(h) => h,
        None => looks_like_header(&rows, &inferred(true), null),
    };
    let columns = match &options.schema {
        Some(schema) if schema.len() != width => {
            return Err(SniffError::SchemaWidth {
                given: schema.len(),
                found: width,
            });
        }
        Some(schema) => schema.clone(),
        None => column_names(&rows, header, width)
            .into_iter()
            .zip(inferred(header))
            .collect(),
    };
    Ok(Layout {
        delimiter,
        header,
        columns,
    })
}

/// The candidate whose records most consistently split into the same number (> 1) of
/// fields; `,` when none splits anything.
fn choose_delimiter(sample: &[u8], whole: bool) -> u8 {
    let mut best = (0.0f64, 1usize, b',');
    for delim in DELIMITERS {
        let Ok(rows) = parse_sample(sample, whole, delim, 1_000) else {
            continue;
        };
        if rows.is_empty() {
            continue;
        }
        let mut counts = std::collections::HashMap::new();
        for r in 0..rows.len() {
            *counts.entry(rows.width(r)).or_insert(0usize) += 1;
        }
        let (width, hits) = counts
            .into_iter()
            .max_by_key(|&(w, n)| (n, w))
            .unwrap_or((1, 0));
        let consistency = hits as f64 / rows.len() as f64;
        if width > 1 && (consistency, width) > (best.0, best.1) {
            best = (consistency, width, delim);
        }
    }
    best.2
}

const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 4;
const DATE: u8 = 8;
const TIMESTAMP: u8 = 16;
/// pgvector's text form, `[1, 2, 3]` (of one length in the whole column).
const VECTOR: u8 = 32;

/// The types a non-null text could be.
fn classify(v: &[u8]) -> u8 {
    if v.first() == Some(&b'[') {
        return if vector_len(v).is_some() { VECTOR } else { 0 };
    }
    if is_integer_text(v) {
        // Codes: zero-padded or too long for int64 (a float would drop digits).
        let code = has_leading_zero(v) || parse_i64(v).is_none();
        return if code { 0 } else { INT | FLOAT };
    }
    if parse_bool(v).is_some() {
        return BOOL;
    }
    if parse_date(v).is_some() {
        return DATE | TIMESTAMP;
    }
    if parse_timestamp(v).is_some() {
        return TIMESTAMP;
    }
    if parse_f64(v).is_some() {
        return FLOAT;
    }
    0
}

/// `[+-]?[0-9]+`.
fn is_integer_text(v: &[u8]) -> bool {
    let digits = match v.first() {
        Some(b'-' | b'+') => &v[1..],
        _ => v,
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

pub fn is_null(v: &[u8], quoted: bool, null: Option<&[u8]>) -> bool {
    !quoted && (v.is_empty() || null == Some(v))
}

/// The narrowest type every non-null sample value of each column fits; utf8 when a column
/// has no values.
fn infer_types(rows: &Rows, first: usize, width: usize, null: Option<&[u8]>) -> Vec<ColumnType> {
    let mut fits = vec![BOOL | INT | FLOAT | DATE | TIMESTAMP | VECTOR; width];
    let mut seen = vec![false; width];
    // The length of a vector column's values so far.
    let mut dims: Vec<Option<usize>> = vec![None; width];
    for r in first..rows.len() {
        for (c, fit) in fits.iter_mut().enumerate().take(rows.width(r).min(width)) {
            let (v, quoted) = rows.field(r, c);
            if *fit == 0 || is_null(v, quoted, null) || (quoted && v.is_empty()) {
                continue;
            }
            seen[c] = true;
            *fit &= classify(v);
            if *fit & VECTOR != 0 {
                let n = vector_len(v);
                if dims[c].is_some_and(|d| Some(d) != n) {
                    *fit &= !VECTOR;
                }
                dims[c] = n;
            }
        }
    }
    fits.iter()
        .zip(&seen)
        .zip(&dims)
        .map(|((&fit, &seen), &dims)| match fit {
            _ if !seen => ColumnType::Utf8,
            f if f & VECTOR != 0 => dims
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n <= catalogd::MAX_VECTOR_DIMENSIONS)
                .map_or(ColumnType::Utf8, ColumnType::Vector),
            f if f & BOOL != 0 => ColumnType::Boolean,
            f if f & INT != 0 => ColumnType::Int64,
            f if f & FLOAT != 0 => ColumnType::Float64,
            f if f & DATE != 0 => ColumnType::Date,
            f if f & TIMESTAMP != 0 => ColumnType::Timestamp,
            _ => ColumnType::Utf8,
        })
        .collect()
}

/// The first record is a header unless it looks like data: some column typed from the
/// records below it also parses in the first record. A header-only file has a header.
fn looks_like_header(rows: &Rows, types: &[ColumnType], null: Option<&[u8]>) -> bool {
    if rows.len() == 1 {
        return true;
    }
    // Evidence from typed columns: a first-row value of the column's type says data, a
    // value that is not says header; an empty first-row value says nothing.
    let mut header_evidence = false;
    for (c, ty) in types.iter().enumerate().take(rows.width(0)) {
        let (v, quoted) = rows.field(0, c);
        if *ty == ColumnType::Utf8 || is_null(v, quoted, null) {
            continue;
        }
        if classify(v) & type_bit(*ty) != 0 {
            return false;
        }
        header_evidence = true;
    }
    if header_evidence {
        return true;
    }
    // All text: a header when its values are distinct and none is empty.
    let mut names: Vec<&[u8]> = (0..rows.width(0)).map(|c| rows.field(0, c).0).collect();
    if names.iter().any(|n| n.is_empty()) {
        return false;
    }
    names.sort_unstable();
    names.dedup();
    names.len() == rows.width(0)
}

fn type_bit(ty: ColumnType) -> u8 {
    match ty {
        ColumnType::Boolean => BOOL,
        ColumnType::Int64 => INT,
        ColumnType::Float64 => FLOAT,
        ColumnType::Date => DATE,
        ColumnType::Timestamp => TIMESTAMP,
        ColumnType::Utf8 => 0,
        ColumnType::Vector(_) => VECTOR,
    }
}

/// Names from the header (empty → `column_N`, repeats → `name_2`), or `column_1..N`.
fn column_names(rows: &Rows, header: bool, width: usize) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(width);
    for c in 0..width {
        let raw = if header {
            String::from_utf8_lossy(rows.field(0, c).0)
                .trim()
                .to_string()
        } else {
            String::new()
        };
        let base = if raw.is_empty() {
            format!("column_{}", c + 1)
        } else {
            raw
        };
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use ColumnType::*;

    fn layout(csv: &str) -> Layout {
        sniff(csv.as_bytes(), true, &CsvOptions::default()).unwrap()
    }

    fn types(csv: &str) -> Vec<ColumnType> {
        layout(csv).columns.into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn every_type_is_inferred() {
        let csv = "i,f,b,d,t,s\n1,1.5,true,2024-01-02,2024-01-02 03:04:05,x\n-2,3,FALSE,2024-02-29,2024-01-02T03:04:05.5Z,y\n";
        assert_eq!(types(csv), [Int64, Float64, Boolean, Date, Timestamp, Utf8]);
    }

    #[test]
    fn vectors_of_one_length_are_inferred() {
        let csv = "id,emb,mixed,not\n1,\"[1, 2.5,-3]\",\"[1,2]\",\"[1,x]\"\n2,,\"[1,2,3]\",[]\n3,\"[0,0,1e-3]\",,\n";
        assert_eq!(types(csv), [Int64, Vector(3), Utf8, Utf8]);
        // A header row of names over vectors is a header.
        let l = layout("emb\n\"[1,2]\"\n\"[3,4]\"\n");
        assert!(l.header);
        assert_eq!(l.columns, [("emb".to_string(), Vector(2))]);
        assert!(!layout("\"[1,2]\"\n\"[3,4]\"\n").header);
    }

    #[test]
    fn dates_mixed_with_timestamps_are_timestamps_and_nulls_are_skipped() {
        assert_eq!(
            types("a,b\n2024-01-01,\n2024-01-01 10:00,5\n,\n"),
            [Timestamp, Int64]
        );
    }

    #[test]
    fn leading_zero_and_overlong_codes_stay_text() {
        assert_eq!(types("zip,n\n02134,1\n10001,2\n"), [Utf8, Int64]);
        assert_eq!(types("card\n12345678901234567890\n"), [Utf8]);
    }

    #[test]
    fn delimiters_are_found() {
        for d in DELIMITERS {
            let d = d as char;
            let csv = format!("a{d}b{d}c\n1{d}\"x{d}y\"{d}3\n4{d}5{d}6\n");
            let l = layout(&csv);
            assert_eq!(l.delimiter, d as u8, "{csv:?}");
            assert_eq!(l.columns.len(), 3);
        }
        // A comma inside values of a semicolon file does not fool it.
        assert_eq!(layout("a;b\n1,5;2\n3,5;4\n").delimiter, b';');
    }

    #[test]
    fn header_detection() {
        assert!(layout("name,age\nann,3\n").header);
        assert!(!layout("1,2\n3,4\n").header);
        let l = layout("ann,3\nbob,4\n");
        assert!(!l.header);
        assert_eq!(l.columns[0].0, "column_1");
        // Header-only: an empty dataset with its schema (all text).
        let l = layout("a,b,c\n");
        assert!(l.header);
        assert_eq!(l.columns.len(), 3);
    }

    #[test]
    fn names_are_made_unique_and_filled_in() {
        let l = layout("a,,a,a\n1,2,3,4\n");
        let names: Vec<_> = l.columns.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["a", "column_2", "a_2", "a_3"]);
    }

    #[test]
    fn options_override_inference() {
        let options = CsvOptions {
            delimiter: Some(b'|'),
            header: Some(false),
            null: Some("NA".into()),
            schema: None,
            widen: false,
        };
        let l = sniff(b"1|NA\n2|3\n", true, &options).unwrap();
        assert_eq!(
            l.columns,
            [("column_1".into(), Int64), ("column_2".into(), Int64)]
        );
        let options = CsvOptions {
            schema: Some(vec![("x".into(), Utf8)]),
            ..CsvOptions::default()
        };
        assert_eq!(
            sniff(b"a,b\n1,2\n", true, &options),
            Err(SniffError::SchemaWidth { given: 1, found: 2 })
        );
    }

    #[test]
    fn empty_input_is_an_error() {
        assert_eq!(
            sniff(b"", true, &CsvOptions::default()),
            Err(SniffError::Empty)
        );
        assert_eq!(
            sniff(b"\n\r\n", true, &CsvOptions::default()),
            Err(SniffError::Empty)
        );
    }

    #[test]
    fn a_thousand_columns() {
        let header: Vec<String> = (0..1500).map(|i| format!("c{i}")).collect();
        let row: Vec<String> = (0..1500).map(|i| i.to_string()).collect();
        let csv = format!("{}\n{}\n", header.join(","), row.join(","));
        let l = layout(&csv);
        assert_eq!(l.columns.len(), 1500);
        assert!(l.columns.iter().all(|c| c.1 == Int64));
    }
}
