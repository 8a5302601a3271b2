//! A Parquet body (`Content-Type: application/vnd.apache.parquet`): spooled to a temporary
//! file (a Parquet footer is at the end, so it cannot be read as it streams), then read
//! batch by batch, every page decoded — a corrupt file is refused before anything is
//! registered — and rewritten as the dataset's parts with its column types (see
//! [`crate::schema::column_type_of`]). Memory stays bounded by a row group, whatever the
//! file's size. A file the reader panics on is refused like any unreadable one, and so is
//! one whose Thrift structures would cost the reader unbounded CPU ([`thrift`]).

mod thrift;

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use catalogd::ColumnType;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::{ChunkReader, Length};

use crate::body::{BodyReader, BodyState};
use crate::convert::csv::body_error;
use crate::convert::csv::sniff::Layout;
use crate::error::IngestError;
use crate::ingest::{AppendTo, Message, ToEncoder, conform, send};
use crate::schema::{arrow_schema, column_type_of, is_float};

pub(crate) fn convert_parquet(
    reader: &mut BodyReader,
    state: &BodyState,
    append_to: Option<AppendTo>,
    tx: &ToEncoder,
) -> Result<Vec<(String, ColumnType)>, IngestError> {
    let mut spool = tempfile::tempfile()
        .map_err(|e| IngestError::Internal(format!("creating a temporary file: {e}")))?;
    let copied = std::io::copy(reader, &mut spool).map_err(|e| body_error(state, e))?;
    if copied == 0 {
        return Err(IngestError::EmptyBody);
    }
    spool
        .flush()
        .and_then(|_| spool.rewind())
        .map_err(|e| IngestError::Internal(format!("temporary file: {e}")))?;
    let bad = |e: parquet::errors::ParquetError| IngestError::BadParquet(e.to_string());
    let file_len = copied;
    check_footer(file_len, |offset, len| read_at(&spool, offset, len))?;
    let for_reader = Spooled {
        file: Arc::new(
            spool
                .try_clone()
                .map_err(|e| IngestError::Internal(format!("temporary file: {e}")))?,
        ),
        len: file_len,
    };
    let metadata =
        reading(|| ArrowReaderMetadata::load(&for_reader, Default::default()))?.map_err(bad)?;
    for group in metadata.metadata().row_groups() {
        for column in group.columns() {
            // (ColumnChunkMetaData::byte_range asserts what a corrupt footer breaks.)
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            if let (Ok(start), Ok(len)) =
                (u64::try_from(start), column.compressed_size().try_into())
            {
                check_page_headers(&spool, file_len, start, len)?;
            }
        }
    }
    let mut columns: Vec<(String, ColumnType)> = Vec::new();
    let mut list_dimensions = None;
    for (index, field) in metadata.schema().fields().iter().enumerate() {
        // A dataset's columns are its SQL names; a CSV header's repeats are made unique,
        // but a Parquet schema's names are the writer's, so a repeat is refused.
        if columns.iter().any(|(name, _)| name == field.name()) {
            return Err(IngestError::BadParquet(format!(
                "column {:?} appears twice in the file's schema",
                field.name()
            )));
        }
        let ty = match field.data_type() {
            // A vector of the size its values have (the same in every row, or the file is
            // refused as it converts).
            DataType::List(item) | DataType::LargeList(item) if is_float(item.data_type()) => {
                let found = match &mut list_dimensions {
                    Some(found) => found,
                    None => list_dimensions.insert(list_lengths(&for_reader, &metadata)?),
                };
                match found.get(&index) {
                    Some(&dims) => ColumnType::Vector(dims),
                    None => {
                        return Err(IngestError::BadParquet(format!(
                            "column {:?} is a list of floats with no values, so its vector \
                             dimension is unknown (write it as a fixed-size list)",
                            field.name()
                        )));
                    }
                }
            }
            data_type => {
                column_type_of(data_type).ok_or_else(|| IngestError::UnsupportedColumn {
                    column: field.name().clone(),
                    data_type: data_type.to_string(),
                })?
            }
        };
        columns.push((field.name().clone(), ty));
    }
    let layout = Layout {
        delimiter: b',',
        header: true,
        columns,
    };
    let layout = match &append_to {
        // Types must match too: casting to the dataset's type could truncate (1.5 -> 1).
        Some(append_to) => conform(layout, append_to, true)?,
        None => layout,
    };
    let schema = arrow_schema(&layout.columns);
    send(tx, Message::Schema(schema.clone()))?;
    // Row group by row group, each checked to hold the rows it declares: the reader reads
    // what the pages hold, and a file whose groups say otherwise has lost rows (or gained
    // some) since it was written.
    let mut first_row = 0u64;
    for (index, group) in metadata.metadata().row_groups().iter().enumerate() {
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(
            for_reader.clone(),
            metadata.clone(),
        )
        .with_batch_size(crate::schema::batch_rows(&layout.columns, 32_768))
        .with_row_groups(vec![index]);
        let mut batches = reading(|| builder.build())?.map_err(bad)?;
        let mut rows = 0u64;
        while let Some(batch) = reading(|| batches.next())? {
            let batch = batch.map_err(|e| IngestError::BadParquet(e.to_string()))?;
            let cast = cast(&batch, &schema, first_row + rows)?;
            rows += batch.num_rows() as u64;
            send(tx, Message::Batch(cast))?;
        }
        if i64::try_from(rows) != Ok(group.num_rows()) {
            return Err(IngestError::BadParquet(format!(
                "row group {index} declares {} rows but its pages hold {rows}",
                group.num_rows()
            )));
        }
        first_row += rows;
    }
    send(tx, Message::End)?;
    Ok(layout.columns)
}

/// Refuses a footer the reader would spend unbounded CPU on (see [`thrift`]); any other
/// fault in it is left to the reader, which names it. `read(offset, len)` reads the file.
pub(crate) fn check_footer(
    file_len: u64,
    read: impl Fn(u64, u64) -> Result<Vec<u8>, IngestError>,
) -> Result<(), IngestError> {
    if file_len < 12 {
        return Ok(());
    }
    let tail = read(file_len - 8, 8)?;
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if &tail[4..] != b"PAR1" || footer_len > file_len - 8 {
        return Ok(());
    }
    let footer = read(file_len - 8 - footer_len, footer_len)?;
    refuse(
        thrift::walk_struct(&footer, thrift::FILE_META_DATA, &[]),
        "footer",
    )
}

/// Walks the page headers of the column chunk at `start..start + len`, as the reader will,
/// refusing one it would spend unbounded CPU on or cannot read. The walk stops, leaving the
/// reader to name the fault, at a header the file ends in or a page size that makes no
/// sense (the reader, reading through [`Spooled`], fails on both).
fn check_page_headers(file: &File, file_len: u64, start: u64, len: u64) -> Result<(), IngestError> {
    // PageHeader.compressed_page_size: the page's bytes after its header.
    const COMPRESSED_PAGE_SIZE: i16 = 3;
    let end = start.saturating_add(len).min(file_len);
    // A window of the file, 64 KiB or more at a time: a chunk of many small pages costs one
    // read per window, not one per page, and one of large pages reads little beyond its
    // headers (a header is rarely over a few hundred bytes).
    const WINDOW: u64 = 64 << 10;
    let mut window = Vec::new();
    let mut window_at = 0u64;
    let mut at = start;
    while at < end {
        let offset = at - window_at;
        let in_window = window_at <= at && offset < window.len() as u64;
        if !in_window {
            window = read_at(file, at, WINDOW.min(file_len - at))?;
            window_at = at;
            continue;
        }
        let header = &window[offset as usize..];
        match thrift::walk_struct(header, thrift::PAGE_HEADER, &[COMPRESSED_PAGE_SIZE]) {
            thrift::Walk::Read { len, fields } => {
                let Some(Ok(size)) = fields[0].map(u64::try_from) else {
                    return Ok(());
                };
                at = at.saturating_add(len as u64).saturating_add(size);
            }
            // A header longer than what is left of the window: read it whole, if the file
            // has it.
            thrift::Walk::Truncated if window_at + (window.len() as u64) < file_len => {
                let need = (window.len() as u64 - offset).saturating_mul(2).max(WINDOW);
                window = read_at(file, at, need.min(file_len - at))?;
                window_at = at;
            }
            thrift::Walk::Truncated => return Ok(()),
            refused => refuse(refused, "page header")?,
        }
    }
    Ok(())
}

/// The refusal of a walk that found a structure the reader must not read, if it did.
fn refuse(walk: thrift::Walk, what: &str) -> Result<(), IngestError> {
    match walk {
        thrift::Walk::TooManyElements { declared, bytes } => Err(IngestError::BadParquet(format!(
            "a {what} declares {declared} list or map elements in at most {bytes} bytes"
        ))),
        thrift::Walk::Mistyped {
            field,
            wire,
            declared,
        } => Err(IngestError::BadParquet(format!(
            "a {what} has field {field} (or its elements) of Thrift type {wire} where the \
             format declares type {declared}"
        ))),
        thrift::Walk::Malformed(what_is_wrong) => Err(IngestError::BadParquet(format!(
            "a {what} is malformed: it holds {what_is_wrong}"
        ))),
        thrift::Walk::Read { .. } | thrift::Walk::Truncated => Ok(()),
    }
}

/// The spooled file as the Parquet reader reads it, where a read at the file's end fails.
///
/// The crate reads a page header from a stream of the file and skips the header's fields
/// it does not know by reading them into a sink; a read at the end of a `File` returns
/// `Ok(0)`, which a skip takes as done. A header that runs off the file's end with a list of
/// 2^31 eight-byte values then costs one system call per value: a 537-byte upload held a
/// core for 36 s (found by the `parquet_ingest` fuzz target). Here the file's end is an
/// error, and the header with it.
#[derive(Clone)]
struct Spooled {
    file: Arc<File>,
    len: u64,
}

impl Length for Spooled {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Spooled {
    type T = BufReader<ToTheEnd>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(start))?;
        Ok(BufReader::new(ToTheEnd {
            file,
            left: self.len.saturating_sub(start),
        }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        // (The crate's own reading of a range, which fails if the file has fewer bytes.)
        self.file.as_ref().get_bytes(start, length)
    }
}

/// A stream of a file to its end, a read past which is an error rather than `Ok(0)`.
struct ToTheEnd {
    file: File,
    left: u64,
}

impl Read for ToTheEnd {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let read = if want == 0 {
            0
        } else {
            self.file.read(&mut buf[..want])?
        };
        if read == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file ends inside a page",
            ));
        }
        self.left -= read as u64;
        Ok(read)
    }
}

/// `len` bytes of `file` from `offset` (fewer at its end).
fn read_at(mut file: &File, offset: u64, len: u64) -> Result<Vec<u8>, IngestError> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.take(len).read_to_end(&mut bytes))
        .map_err(|e| IngestError::Internal(format!("reading the temporary file: {e}")))?;
    Ok(bytes)
}

/// A call into the Parquet reader, which on some corrupt files panics rather than returning
/// an error (arrow-ipc, decoding the file's embedded Arrow schema, on a type code it does
/// not know): such a file is as unreadable as any other, a 400, not a converter thread
/// that died (a 500).
fn reading<T>(call: impl FnOnce() -> T) -> Result<T, IngestError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)).map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        IngestError::BadParquet(format!("the Parquet reader failed on it: {message}"))
    })
}

/// The length of the first non-null value of each top-level list-of-floats column (by its
/// index in the schema), read through the file with only those columns decoded, as far as
/// it takes to find one in each.
fn list_lengths(
    file: &Spooled,
    metadata: &ArrowReaderMetadata,
) -> Result<std::collections::HashMap<usize, u32>, IngestError> {
    let bad = |e: parquet::errors::ParquetError| IngestError::BadParquet(e.to_string());
    let lists: Vec<usize> = (metadata.schema().fields().iter().enumerate())
        .filter(|(_, f)| match f.data_type() {
            DataType::List(item) | DataType::LargeList(item) => is_float(item.data_type()),
            _ => false,
        })
        .map(|(i, _)| i)
        .collect();
    let mask = parquet::arrow::ProjectionMask::roots(metadata.parquet_schema(), lists.clone());
    let builder =
        ParquetRecordBatchReaderBuilder::new_with_metadata(file.clone(), metadata.clone())
            .with_batch_size(8_192)
            .with_projection(mask);
    let mut batches = reading(|| builder.build())?.map_err(bad)?;
    let mut found = std::collections::HashMap::new();
    while found.len() < lists.len() {
        let Some(batch) = reading(|| batches.next())? else {
            break;
        };
        let batch = batch.map_err(|e| IngestError::BadParquet(e.to_string()))?;
        for (column, &index) in batch.columns().iter().zip(&lists) {
            if found.contains_key(&index) {
                continue;
            }
            let first = match column.data_type() {
                DataType::List(_) => first_length(column.as_list::<i32>()),
                _ => first_length(column.as_list::<i64>()),
            };
            if let Some(n) = first {
                let dims = u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=catalogd::MAX_VECTOR_DIMENSIONS).contains(n))
                    .ok_or_else(|| {
                        IngestError::BadParquet(format!(
                            "column {:?} holds a list of {n} floats; a vector has 1 to {}",
                            metadata.schema().field(index).name(),
                            catalogd::MAX_VECTOR_DIMENSIONS
                        ))
                    })?;
                found.insert(index, dims);
            }
        }
    }
    Ok(found)
}

/// The length of a list array's first non-null value.
fn first_length<O: arrow_array::OffsetSizeTrait>(
    list: &arrow_array::GenericListArray<O>,
) -> Option<usize> {
    use arrow_array::Array;
    (0..list.len())
        .find(|&i| list.is_valid(i))
        .map(|i| list.value_length(i).as_usize())
}

/// A list array's values, and each row's range of them (`None` for a null row).
fn list_ranges<O: arrow_array::OffsetSizeTrait>(
    list: &arrow_array::GenericListArray<O>,
) -> (&ArrayRef, Vec<Option<(usize, usize)>>) {
    use arrow_array::Array;
    let offsets = list.value_offsets();
    let ranges = (0..list.len())
        .map(|i| {
            list.is_valid(i).then(|| {
                let (start, end) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
                (start, end - start)
            })
        })
        .collect();
    (list.values(), ranges)
}

/// A vector column from a Parquet list of floats (fixed-size or not): every non-null value
/// of `dims` components, none null, each finite as a float32; otherwise an error naming the
/// column, the row (`first_row` is the batch's first, 1-based in the message) and what it
/// holds.
fn to_vector(
    array: &ArrayRef,
    name: &str,
    dims: i32,
    first_row: u64,
) -> Result<ArrayRef, IngestError> {
    use arrow_array::Array;
    let size = dims as usize;
    let fail = |row: usize, what: String| {
        IngestError::BadParquet(format!(
            "column {name:?}, row {}: expected vector({dims}), found {what}",
            first_row + row as u64 + 1
        ))
    };
    // Each row's range of `values`.
    let (values, ranges): (&ArrayRef, Vec<Option<(usize, usize)>>) = match array.data_type() {
        DataType::FixedSizeList(_, n) => {
            let list = array.as_fixed_size_list();
            let n = *n as usize;
            let ranges = (0..list.len())
                .map(|i| list.is_valid(i).then(|| (i * n, n)))
                .collect();
            (list.values(), ranges)
        }
        DataType::List(_) => list_ranges(array.as_list::<i32>()),
        DataType::LargeList(_) => list_ranges(array.as_list::<i64>()),
        other => return Err(fail(0, format!("a column of type {other}"))),
    };
    let floats = arrow_cast::cast(values, &DataType::Float32)
        .map_err(|e| IngestError::BadParquet(format!("column {name:?}: {e}")))?;
    let floats = floats.as_primitive::<arrow_array::types::Float32Type>();
    let mut out: Vec<f32> = Vec::with_capacity(ranges.len() * size);
    let mut valid = arrow_buffer::BooleanBufferBuilder::new(ranges.len());
    for (row, range) in ranges.iter().enumerate() {
        let Some((start, len)) = *range else {
            valid.append(false);
            out.resize(out.len() + size, 0.0);
            continue;
        };
        if len != size {
            return Err(fail(row, format!("{len} numbers")));
        }
        for at in start..start + len {
            if floats.is_null(at) {
                return Err(fail(row, format!("a null at component {}", at - start + 1)));
            }
            let x = floats.value(at);
            if !x.is_finite() {
                return Err(fail(row, format!("{x} at component {}", at - start + 1)));
            }
            out.push(x);
        }
        valid.append(true);
    }
    let nulls = arrow_buffer::NullBuffer::new(valid.finish());
    Ok(Arc::new(arrow_array::FixedSizeListArray::new(
        Arc::new(crate::schema::vector_item()),
        dims,
        Arc::new(arrow_array::Float32Array::from(out)),
        (nulls.null_count() > 0).then_some(nulls),
    )))
}

/// Casts every column to the dataset's Arrow type (safe casts: a value that does not fit
/// is an error, not a null). `first_row` is the batch's first row in the file.
fn cast(
    batch: &RecordBatch,
    schema: &arrow_schema::SchemaRef,
    first_row: u64,
) -> Result<RecordBatch, IngestError> {
    let options = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    let mut arrays = Vec::with_capacity(batch.num_columns());
    for (array, field) in batch.columns().iter().zip(schema.fields()) {
        if let DataType::FixedSizeList(_, dims) = field.data_type() {
            arrays.push(to_vector(array, field.name(), *dims, first_row)?);
            continue;
        }
        // A zoned timestamp keeps its instant: arrow's cast to a zone-less type would shift
        // it to the zone's wall-clock time.
        let unzoned;
        let array = match array.data_type() {
            DataType::Timestamp(_, Some(tz)) => {
                let micros = arrow_cast::cast_with_options(
                    array,
                    &DataType::Timestamp(TimeUnit::Microsecond, Some(tz.clone())),
                    &options,
                )
                .map_err(|e| IngestError::BadParquet(format!("column {:?}: {e}", field.name())))?;
                unzoned = Arc::new(
                    micros
                        .as_primitive::<TimestampMicrosecondType>()
                        .clone()
                        .with_timezone_opt(None::<String>),
                ) as ArrayRef;
                &unzoned
            }
            _ => array,
        };
        let cast = arrow_cast::cast_with_options(array, field.data_type(), &options)
            .map_err(|e| IngestError::BadParquet(format!("column {:?}: {e}", field.name())))?;
        arrays.push(cast);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| IngestError::BadParquet(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
    use parquet::file::properties::WriterProperties;

    use crate::body::BodyLimits;
    use crate::error::IngestError;
    use crate::fuzzing::Sent;
    use crate::ingest::Format;

    fn convert(
        file: Vec<u8>,
    ) -> (
        Result<Vec<(String, catalogd::ColumnType)>, IngestError>,
        Sent,
    ) {
        crate::fuzzing::convert(
            std::io::Cursor::new(file),
            &Format::Parquet,
            false,
            BodyLimits::default(),
            4096,
            None,
        )
    }

    fn refused_for_elements(file: Vec<u8>, what: &str) {
        let (result, sent) = convert(file);
        match result {
            Err(IngestError::BadParquet(reason)) => {
                assert!(
                    reason.starts_with(&format!("a {what} declares ")),
                    "{reason}"
                );
            }
            other => panic!("expected bad_parquet, got {other:?}"),
        }
        assert!(!sent.ended && sent.schemas.is_empty());
    }

    #[test]
    fn a_footer_declaring_billions_of_booleans_is_refused_before_the_reader_skips_them() {
        // Found by the parquet_ingest fuzz target: an unknown footer field holding a map of
        // 2^31 booleans, which the parquet crate skipped one by one for seconds (a 10 s
        // timeout in CI's unoptimised build) for 572 bytes.
        refused_for_elements(
            include_bytes!("../../../testdata/bool_map_footer.parquet").to_vec(),
            "footer",
        );
    }

    #[test]
    fn a_footer_whose_known_field_lies_about_its_type_is_refused() {
        // Found by the parquet_ingest fuzz target: field 1 of the footer (`version`, an
        // i32) sent as a list. The crate reads it as an i32 whatever its header says, so
        // it read the bytes after as fields where the type-by-header walk saw a list, and
        // the crate's reading went on into a skip of billions of booleans (12 s).
        let (result, sent) =
            convert(include_bytes!("../../../testdata/mistyped_footer.parquet").to_vec());
        match result {
            Err(IngestError::BadParquet(reason)) => assert_eq!(
                reason,
                "a footer has field 1 (or its elements) of Thrift type 9 where the format \
                 declares type 5"
            ),
            other => panic!("expected bad_parquet, got {other:?}"),
        }
        assert!(!sent.ended && sent.schemas.is_empty());
    }

    #[test]
    fn a_row_group_holding_other_rows_than_it_declares_is_refused() {
        // Found by the parquet_ingest fuzz target: the reader reads the rows the pages
        // hold, whatever their row group declares; a file that disagrees with itself has
        // lost (or gained) rows since it was written, and is not ingested as if whole.
        let batch = RecordBatch::try_from_iter([(
            "n",
            Arc::new(Int64Array::from_iter_values(0..1000)) as _,
        )])
        .unwrap();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        // 1000 rows is the i64 field header 0x16 then the zigzag varint d0 0f: the file's
        // num_rows, the column's num_values, then (last) the row group's num_rows.
        let at = file
            .windows(3)
            .rposition(|w| w == [0x16, 0xd0, 0x0f])
            .unwrap();
        for (declared, zigzag) in [(999, [0xce, 0x0f]), (1001, [0xd2, 0x0f])] {
            let mut lying = file.clone();
            lying[at + 1..at + 3].copy_from_slice(&zigzag);
            let (result, sent) = convert(lying);
            match result {
                Err(IngestError::BadParquet(reason)) => assert_eq!(
                    reason,
                    format!("row group 0 declares {declared} rows but its pages hold 1000")
                ),
                other => panic!("expected bad_parquet, got {other:?}"),
            }
            assert!(!sent.ended);
        }
        assert!(convert(file).0.is_ok());
    }

    #[test]
    fn a_page_header_declaring_billions_of_booleans_is_refused_before_the_reader_skips_them() {
        // 200,000 distinct integers in pages of at most 64 KiB: about 25 pages, walked
        // through several windows of the file.
        let batch = RecordBatch::try_from_iter([(
            "n",
            Arc::new(Int64Array::from_iter_values(
                (0..200_000i64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15u64 as i64)),
            )) as _,
        )])
        .unwrap();
        let properties = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_data_page_size_limit(64 << 10)
            .build();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let (converted, sent) = convert(file.clone());
        assert_eq!(converted.unwrap().len(), 1);
        assert_eq!(sent.rows, 200_000);

        let metadata = ParquetMetaDataReader::new()
            .with_page_index_policy(PageIndexPolicy::Required)
            .parse_and_finish(&bytes::Bytes::from(file.clone()))
            .unwrap();
        let pages = metadata.offset_index().unwrap()[0][0].page_locations();
        assert!(pages.len() > 10, "{} pages", pages.len());
        for page in [pages.first().unwrap(), pages.last().unwrap()] {
            // The page's header now opens with an unknown field 100 holding a list of
            // 2^31 - 1 booleans.
            let mut planted = file.clone();
            let at = page.offset as usize;
            let header = [0x09, 0xc8, 0x01, 0xf1, 0xff, 0xff, 0xff, 0xff, 0x07];
            planted[at..at + header.len()].copy_from_slice(&header);
            refused_for_elements(planted, "page header");
        }
    }

    #[test]
    fn a_page_header_running_off_the_file_is_refused_at_once() {
        // Found by the parquet_ingest fuzz target: a 537-byte file whose one page header
        // opens with an unknown field whose full id is a varint longer than an i16, and
        // runs off the file's end. The crate read the id by truncating it and skipped the
        // field one eight-byte value at a time past the end (each skip a read of nothing,
        // taken as done): 36 s of a core in the release build.
        let started = std::time::Instant::now();
        let (result, sent) =
            convert(include_bytes!("../../../testdata/eof_page_header.parquet").to_vec());
        assert!(
            matches!(result, Err(IngestError::BadParquet(_))),
            "expected bad_parquet, got {result:?}"
        );
        // The walk now reads the id as the crate does, and so meets the field the crate
        // reads: field 8 (the v2 data page header) sent as a boolean.
        match result {
            Err(IngestError::BadParquet(reason)) => assert_eq!(
                reason,
                "a page header has field 8 (or its elements) of Thrift type 2 where the \
                 format declares type 12"
            ),
            other => panic!("expected bad_parquet, got {other:?}"),
        }
        assert!(!sent.ended);
        // A DoS guard, not a benchmark: refused in milliseconds, it took minutes here.
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());

        // Unwalked, the reader reading through `Spooled` fails at the file's end at once.
        let file = include_bytes!("../../../testdata/eof_page_header.parquet");
        let mut spool = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut spool, file).unwrap();
        let spooled = super::Spooled {
            file: Arc::new(spool),
            len: file.len() as u64,
        };
        let started = std::time::Instant::now();
        let metadata =
            parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&spooled, Default::default())
                .unwrap();
        let mut batches = ParquetRecordBatchReaderBuilder::new_with_metadata(spooled, metadata)
            .build()
            .unwrap();
        let err = batches.next().unwrap().unwrap_err();
        assert!(
            err.to_string().contains("the file ends inside a page"),
            "{err}"
        );
        assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
    }

    #[test]
    fn the_reader_s_stream_of_the_spooled_file_fails_at_its_end() {
        use std::io::{Read, Write};

        use parquet::file::reader::ChunkReader;

        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let spooled = super::Spooled {
            file: Arc::new(file),
            len: 10,
        };
        let mut read = spooled.get_read(4).unwrap();
        let mut six = [0u8; 6];
        read.read_exact(&mut six).unwrap();
        assert_eq!(&six, b"456789");
        let err = read.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        // A skip by copying into a sink (the crate's) fails too, rather than copying 0.
        let mut read = spooled.get_read(8).unwrap();
        let err = std::io::copy(&mut read.by_ref().take(8), &mut std::io::sink()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(spooled.get_read(11).unwrap().read(&mut [0u8; 1]).is_err());
        assert_eq!(&spooled.get_bytes(2, 3).unwrap()[..], b"234");
        assert!(spooled.get_bytes(8, 3).is_err());
    }

    fn parquet_of(batch: &RecordBatch) -> Vec<u8> {
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
        file
    }

    #[test]
    fn lists_of_floats_are_vectors_of_their_size() {
        use arrow_array::Array;
        use arrow_array::builder::{FixedSizeListBuilder, Float64Builder, ListBuilder};
        use arrow_array::cast::AsArray;
        use arrow_array::types::Float32Type;
        use catalogd::ColumnType;

        // A fixed-size list of float64 (a null row among them), and a list of float64 whose
        // first rows are null: both become vector(2).
        let mut fixed = FixedSizeListBuilder::new(Float64Builder::new(), 2);
        let mut list = ListBuilder::new(Float64Builder::new());
        for row in 0..5 {
            fixed.values().append_slice(&[row as f64, 0.5]);
            fixed.append(row != 1);
            if row < 2 {
                list.append(false);
            } else {
                list.values().append_slice(&[1.5, row as f64]);
                list.append(true);
            }
        }
        let batch = RecordBatch::try_from_iter([
            ("fixed", Arc::new(fixed.finish()) as _),
            ("list", Arc::new(list.finish()) as _),
        ])
        .unwrap();
        let (result, sent) = convert(parquet_of(&batch));
        assert_eq!(
            result.unwrap(),
            [
                ("fixed".to_string(), ColumnType::Vector(2)),
                ("list".to_string(), ColumnType::Vector(2))
            ]
        );
        assert_eq!(sent.rows, 5);
        let got = sent.first.as_ref().unwrap();
        let fixed = got.column(0).as_fixed_size_list();
        assert!(fixed.is_null(1) && fixed.is_valid(2));
        let values = fixed.values().as_primitive::<Float32Type>();
        assert_eq!(values.values()[4..6], [2.0, 0.5]);
        let list = got.column(1).as_fixed_size_list();
        assert!(list.is_null(0) && list.is_null(1));
        let values = list.values().as_primitive::<Float32Type>();
        assert_eq!(values.values()[8..10], [1.5, 4.0]);
    }

    #[test]
    fn a_bad_vector_row_names_its_column_and_row() {
        use arrow_array::builder::{Float32Builder, ListBuilder};

        let refused = |rows: &[Option<Vec<Option<f32>>>]| {
            let mut list = ListBuilder::new(Float32Builder::new());
            for row in rows {
                match row {
                    Some(values) => {
                        for v in values {
                            list.values().append_option(*v);
                        }
                        list.append(true);
                    }
                    None => list.append(false),
                }
            }
            let batch =
                RecordBatch::try_from_iter([("emb", Arc::new(list.finish()) as _)]).unwrap();
            let (result, sent) = convert(parquet_of(&batch));
            assert!(!sent.ended);
            match result {
                Err(IngestError::BadParquet(reason)) => reason,
                other => panic!("expected bad_parquet, got {other:?}"),
            }
        };
        let ok = Some(vec![Some(1.0), Some(2.0)]);
        assert_eq!(
            refused(&[ok.clone(), None, Some(vec![Some(1.0)])]),
            "column \"emb\", row 3: expected vector(2), found 1 numbers"
        );
        assert_eq!(
            refused(&[ok.clone(), Some(vec![Some(1.0), None])]),
            "column \"emb\", row 2: expected vector(2), found a null at component 2"
        );
        assert_eq!(
            refused(&[ok.clone(), Some(vec![Some(f32::NAN), Some(1.0)])]),
            "column \"emb\", row 2: expected vector(2), found NaN at component 1"
        );
        assert_eq!(
            refused(&[None, None]),
            "column \"emb\" is a list of floats with no values, so its vector dimension is \
             unknown (write it as a fixed-size list)"
        );
        assert_eq!(
            refused(&[Some(vec![])]),
            "column \"emb\" holds a list of 0 floats; a vector has 1 to 16000"
        );
    }

    #[test]
    fn a_column_name_repeated_in_the_schema_is_a_bad_file() {
        // Found by the parquet_ingest fuzz target: a file whose schema names a column twice
        // was converted (and, appended, refused for a column order that made no sense).
        let batch = RecordBatch::try_from_iter([
            ("a", Arc::new(Int64Array::from(vec![1])) as _),
            ("b", Arc::new(Int64Array::from(vec![2])) as _),
            ("a", Arc::new(Int64Array::from(vec![3])) as _),
        ])
        .unwrap();
        let mut file = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let (result, sent) = convert(file);
        match result {
            Err(IngestError::BadParquet(reason)) => {
                assert_eq!(reason, "column \"a\" appears twice in the file's schema");
            }
            other => panic!("expected bad_parquet, got {other:?}"),
        }
        assert!(!sent.ended && sent.schemas.is_empty());
    }

    #[test]
    fn an_embedded_arrow_schema_that_does_not_decode_is_a_bad_file() {
        // Found by the parquet_ingest fuzz target (minimised): the footer's ARROW:schema
        // gives a float column a precision that does not exist, and arrow-ipc panics on it
        // while the parquet crate reads the footer. The converter thread died; the upload
        // was answered 500 internal_error rather than 400 bad_parquet.
        let file = include_bytes!("../../../testdata/unknown_float_precision.parquet");
        let (result, sent) = crate::fuzzing::convert(
            std::io::Cursor::new(file.to_vec()),
            &Format::Parquet,
            false,
            BodyLimits::default(),
            4096,
            None,
        );
        match result {
            Err(IngestError::BadParquet(reason)) => {
                assert!(reason.contains("FloatingPoint"), "{reason}");
            }
            other => panic!("expected bad_parquet, got {other:?}"),
        }
        assert!(!sent.ended && sent.schemas.is_empty());
    }
}
