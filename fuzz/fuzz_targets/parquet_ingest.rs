//! A Parquet ingest body: ingestd's converter (the body spooled to a temporary file, the
//! footer and every page decoded, each column cast to its dataset type) on arbitrary bytes.
//!
//! - A file that converts gives exactly the columns its Arrow schema maps to and every row
//!   its row groups declare, in batches of the schema it announced, then `End`; a file
//!   that does not is an error, never a panic, and `End` is not sent.
//! - Appending a file to a dataset whose schema is the file's own is never refused for
//!   its schema.
//!
//! Input: one control byte (append or not, a column limit, a byte limit), then the file.

#![no_main]

use std::io::Cursor;

use bytes::Bytes;
use catalogd::CatalogError;
use ingestd::body::BodyLimits;
use ingestd::schema::{arrow_schema, column_type_of, manifest_schema};
use ingestd::{Format, IngestError};
use lakehouse_fuzz::{allowing_caught_panics, assert_sent_in_order, caught};
use libfuzzer_sys::fuzz_target;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Whether the footer holds a Thrift list of booleans longer than the bytes after it: the
/// parquet crate (59.3) skips such a list's elements without reading them, so one costs
/// up to 2^31 empty iterations, seconds of CPU for a few bytes. A known issue outside this
/// repository (docs/benchmarks.md, "Fuzzing"), left out here so the target keeps finding
/// others.
fn skips_a_huge_bool_list(file: &[u8]) -> bool {
    let Some(len) = file.len().checked_sub(8).and_then(|end| {
        let n = u32::from_le_bytes(file[end..end + 4].try_into().ok()?) as usize;
        (&file[end + 4..] == b"PAR1" && n <= end).then(|| (end - n, end))
    }) else {
        return false;
    };
    let mut footer = Thrift {
        bytes: &file[len.0..len.1],
        at: 0,
        huge: false,
    };
    let _ = footer.value(12, 0);
    footer.huge
}

/// A Thrift compact-protocol walker that reads every element, booleans in lists included.
struct Thrift<'a> {
    bytes: &'a [u8],
    at: usize,
    huge: bool,
}

impl Thrift<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.at = self
            .at
            .checked_add(n)
            .filter(|&at| at <= self.bytes.len())?;
        Some(())
    }

    /// Skips a value of compact type `ty`.
    fn value(&mut self, ty: u8, depth: u8) -> Option<()> {
        if depth > 64 {
            return None;
        }
        match ty {
            1 | 2 => Some(()),
            3 => self.skip(1),
            4..=6 => self.varint().map(drop),
            7 => self.skip(8),
            8 => {
                let n = usize::try_from(self.varint()?).ok()?;
                self.skip(n)
            }
            9 | 10 => {
                let header = self.byte()?;
                let n = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let element = header & 0x0f;
                if n > (self.bytes.len() - self.at) as u64 {
                    self.huge |= matches!(element, 1 | 2);
                    return None;
                }
                for _ in 0..n {
                    match element {
                        // In a list a boolean is a byte.
                        1 | 2 => self.skip(1)?,
                        e => self.value(e, depth + 1)?,
                    }
                }
                Some(())
            }
            11 => {
                let n = self.varint()?;
                if n == 0 {
                    return Some(());
                }
                let kinds = self.byte()?;
                if n > (self.bytes.len() - self.at) as u64 {
                    return None;
                }
                for _ in 0..n {
                    self.value(kinds >> 4, depth + 1)?;
                    self.value(kinds & 0x0f, depth + 1)?;
                }
                Some(())
            }
            12 => loop {
                let header = self.byte()?;
                if header == 0 {
                    return Some(());
                }
                if header >> 4 == 0 {
                    self.varint()?;
                }
                self.value(header & 0x0f, depth + 1)?;
            },
            13 => self.skip(16),
            _ => None,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [control, file @ ..] = data else {
        return;
    };
    if skips_a_huge_bool_list(file) {
        return;
    }
    let max_columns = if control & 0x0f == 0 {
        4096
    } else {
        usize::from(control & 0x0f)
    };
    let limits = BodyLimits {
        max_bytes: if control & 0x10 != 0 { 1024 } else { 0 },
        max_gzip_ratio: 0,
    };

    // What the footer declares: the columns each maps to and the rows of its row groups.
    // (The parquet crate, and arrow-ipc for the embedded Arrow schema, may panic on a
    // corrupt footer: then the converter must refuse the file.)
    let reference =
        caught(|| ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(file)));
    let reader_panicked = reference.is_err();
    let declared = reference.ok().and_then(Result::ok).map(|builder| {
        let columns: Option<Vec<_>> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| column_type_of(f.data_type()).map(|ty| (f.name().clone(), ty)))
            .collect();
        let rows: i64 = builder
            .metadata()
            .row_groups()
            .iter()
            .map(|g| g.num_rows())
            .sum();
        (columns, rows)
    });
    let append_to = match (&declared, control & 0x20 != 0) {
        (Some((Some(columns), _)), true) => Some(("t".to_string(), manifest_schema(columns))),
        _ => None,
    };
    let appending = append_to.is_some();

    // (ingestd turns the reader's panics into errors; any other panic is still a crash.)
    let (result, sent) = allowing_caught_panics(|| {
        ingestd::fuzzing::convert(
            Cursor::new(file.to_vec()),
            &Format::Parquet,
            false,
            limits,
            max_columns,
            append_to,
        )
    });
    assert_sent_in_order(&result, &sent);
    match result {
        Ok(columns) => {
            assert!(!file.is_empty());
            assert!(limits.max_bytes == 0 || file.len() as u64 <= limits.max_bytes);
            assert!(columns.len() <= max_columns, "past max_columns");
            let Some((Some(want), rows)) = declared else {
                panic!("converted a file whose footer does not read: {columns:?}");
            };
            assert_eq!(columns, want, "other columns than the file's");
            assert_eq!(sent.schemas.last(), Some(&arrow_schema(&columns)));
            assert_eq!(sent.schemas.len(), 1);
            assert_eq!(
                i64::try_from(sent.rows).ok(),
                Some(rows),
                "rows read differ from the rows the row groups declare"
            );
        }
        Err(IngestError::Catalog(CatalogError::SchemaMismatch { differences, .. })) => {
            panic!("appending={appending}: refused for its schema: {differences:?}");
        }
        Err(IngestError::EmptyBody) => assert!(file.is_empty()),
        Err(IngestError::TooLarge { limit }) => {
            assert!(limit == limits.max_bytes && file.len() as u64 > limit);
        }
        Err(IngestError::BadParquet(_)) => {
            assert!(!file.is_empty());
            assert!(limits.max_bytes == 0 || file.len() as u64 <= limits.max_bytes);
        }
        Err(IngestError::TooManyColumns { .. } | IngestError::UnsupportedColumn { .. }) => {
            assert!(
                !reader_panicked,
                "a file the reader panics on got as far as its columns"
            );
            assert!(!file.is_empty());
            assert!(limits.max_bytes == 0 || file.len() as u64 <= limits.max_bytes);
        }
        Err(e) => panic!("an unexpected error for a Parquet body: {e:?}"),
    }
});
