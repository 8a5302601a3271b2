//! A CSV body → batches for the encoder, with the dataset's types on append, and, when the
//! user asked for it (`widen=true`), widening instead of failing on a value that breaks a
//! column's inferred type.
//!
//! Widening restarts the conversion: the decoded body is copied to a temporary file as it is
//! read (disk, not memory); on a type error the rest of the body is spooled, the column is
//! widened (int64 → float64 when the value is a number, date → timestamp when it is one,
//! anything else → utf8), the encoder discards what it wrote, and the spool is converted
//! again with the wider types — until a pass succeeds. Each pass widens one column at least,
//! so there are at most a handful per column.

use std::io::{Read, Seek, Write};

use catalogd::ColumnType;

use crate::body::{BodyReader, BodyState};
use crate::convert::csv::convert::TypeError;
use crate::convert::csv::sniff::{CsvOptions, Layout};
use crate::convert::csv::value::{parse_f64, parse_timestamp};
use crate::error::IngestError;
use crate::ingest::{AppendTo, Message, ToEncoder, conform, send};
use crate::schema::arrow_schema;

pub(crate) fn convert_csv(
    reader: &mut BodyReader,
    state: &BodyState,
    options: &CsvOptions,
    append_to: Option<AppendTo>,
    tx: &ToEncoder,
) -> Result<Vec<(String, ColumnType)>, IngestError> {
    // An append's types are the dataset's: widening one would only fail at the commit.
    if !options.widen || append_to.is_some() {
        return convert_once(reader, state, options, append_to.as_ref(), tx, &mut None);
    }
    let temp = |e: std::io::Error| IngestError::Internal(format!("temporary file: {e}"));
    let mut spool = tempfile::tempfile().map_err(temp)?;
    let mut layout = None;
    let first = {
        let mut tee = Tee {
            inner: &mut *reader,
            copy: &mut spool,
        };
        convert_once(&mut tee, state, options, None, tx, &mut layout)
    };
    let (mut error, mut layout) = match (first, layout) {
        (Err(IngestError::Type(e)), Some(layout)) => (e, layout),
        (result, _) => return result,
    };
    std::io::copy(reader, &mut spool).map_err(|e| crate::convert::csv::body_error(state, e))?;
    loop {
        widen(&mut layout, &error)?;
        tracing::info!(
            column = %error.column,
            line = error.line,
            to = %layout.columns[error.index].1,
            "widening a column and converting again"
        );
        spool.flush().and_then(|_| spool.rewind()).map_err(temp)?;
        let fixed = CsvOptions {
            delimiter: Some(layout.delimiter),
            header: Some(layout.header),
            null: options.null.clone(),
            schema: Some(layout.columns.clone()),
            widen: false,
        };
        let mut input = std::io::BufReader::with_capacity(1 << 20, &mut spool);
        match convert_once(&mut input, state, &fixed, None, tx, &mut None) {
            Err(IngestError::Type(e)) => error = e,
            result => return result,
        }
    }
}

/// The column `error` names, one step wider; an error when it is already text.
fn widen(layout: &mut Layout, error: &TypeError) -> Result<(), IngestError> {
    let Some((_, ty)) = layout.columns.get_mut(error.index) else {
        return Err(IngestError::Type(error.clone()));
    };
    let value = error.value.as_bytes();
    *ty = match *ty {
        ColumnType::Utf8 => return Err(IngestError::Type(error.clone())),
        ColumnType::Int64 if parse_f64(value).is_some() => ColumnType::Float64,
        ColumnType::Date if parse_timestamp(value).is_some() => ColumnType::Timestamp,
        _ => ColumnType::Utf8,
    };
    Ok(())
}

/// One pass over `input`; the layout it used is left in `used`.
fn convert_once(
    input: &mut impl Read,
    state: &BodyState,
    options: &CsvOptions,
    append_to: Option<&AppendTo>,
    tx: &ToEncoder,
    used: &mut Option<Layout>,
) -> Result<Vec<(String, ColumnType)>, IngestError> {
    let mut columns = Vec::new();
    let decide = |layout: Layout| {
        let layout = match append_to {
            Some(append_to) => conform(layout, append_to, options.schema.is_some())?,
            None => layout,
        };
        let schema = arrow_schema(&layout.columns);
        columns = layout.columns.clone();
        *used = Some(layout.clone());
        send(tx, Message::Schema(schema.clone()))?;
        Ok((layout, schema))
    };
    crate::convert::csv::convert_csv(input, state, options, decide, |batch| {
        send(tx, Message::Batch(batch))
    })?;
    send(tx, Message::End)?;
    Ok(columns)
}

/// Copies what is read to `copy`.
struct Tee<'a, R> {
    inner: R,
    copy: &'a mut std::fs::File,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}
