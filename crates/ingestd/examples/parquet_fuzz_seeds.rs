//! Writes the seed Parquet files of the `parquet_ingest` fuzz target (`fuzz/`): every
//! column type an upload may have (vectors from fixed-size and variable lists too, and two
//! it may not), nulls, several row groups,
//! dictionary and zstd pages, no rows, and a timestamp that does not fit in microseconds.
//! Each file is prefixed with the target's control byte (0: no limits, no append).
//!
//! `cargo run -p ingestd --example parquet_fuzz_seeds -- fuzz/corpus`

use std::path::Path;
use std::sync::Arc;

use arrow_array::types::{Float32Type, Int32Type};
use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Date64Array, FixedSizeListArray, Float32Array,
    Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, LargeStringArray, ListArray,
    RecordBatch, StringArray, StringViewArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

fn file(columns: Vec<(&str, ArrayRef)>, properties: WriterProperties) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter(columns).expect("columns of one length");
    let mut out = vec![0u8];
    let mut writer =
        ArrowWriter::try_new(&mut out, batch.schema(), Some(properties)).expect("a writer");
    writer.write(&batch).expect("writes");
    writer.close().expect("closes");
    out
}

fn plain() -> WriterProperties {
    WriterProperties::builder()
        .set_dictionary_enabled(false)
        .build()
}

fn main() -> std::io::Result<()> {
    let root = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let dir = Path::new(&root).join("parquet_ingest");
    std::fs::create_dir_all(&dir)?;
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "integers",
            file(
                vec![
                    (
                        "i8",
                        Arc::new(Int8Array::from(vec![Some(-1), None, Some(127)])),
                    ),
                    ("i16", Arc::new(Int16Array::from(vec![1, 2, -300]))),
                    ("i32", Arc::new(Int32Array::from(vec![None, Some(7), None]))),
                    (
                        "i64",
                        Arc::new(Int64Array::from(vec![i64::MIN, 0, i64::MAX])),
                    ),
                    ("u8", Arc::new(UInt8Array::from(vec![0, 1, 255]))),
                    ("u16", Arc::new(UInt16Array::from(vec![0, 1, 65535]))),
                    ("u32", Arc::new(UInt32Array::from(vec![0, 1, u32::MAX]))),
                ],
                plain(),
            ),
        ),
        (
            "floats_bools_text",
            file(
                vec![
                    (
                        "f32",
                        Arc::new(Float32Array::from(vec![1.5, f32::NAN, -0.0])),
                    ),
                    (
                        "f64",
                        Arc::new(Float64Array::from(vec![None, Some(1e300), Some(2.0)])),
                    ),
                    (
                        "b",
                        Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
                    ),
                    (
                        "s",
                        Arc::new(StringArray::from(vec![Some("a"), None, Some("é,\"")])),
                    ),
                    ("ls", Arc::new(LargeStringArray::from(vec!["x", "", "y"]))),
                    (
                        "vs",
                        Arc::new(StringViewArray::from(vec!["v", "w", "a longer view"])),
                    ),
                ],
                plain(),
            ),
        ),
        (
            "dates_times",
            file(
                vec![
                    ("d32", Arc::new(Date32Array::from(vec![0, 19_753, -1]))),
                    (
                        "d64",
                        Arc::new(Date64Array::from(vec![0, 86_400_000, -86_400_000])),
                    ),
                    (
                        "ts_s",
                        Arc::new(TimestampSecondArray::from(vec![0, 1_700_000_000, -1])),
                    ),
                    (
                        "ts_ms_zoned",
                        Arc::new(
                            TimestampMillisecondArray::from(vec![0, 1_700_000_000_000, 5])
                                .with_timezone("+02:00"),
                        ),
                    ),
                    (
                        "ts_ns",
                        Arc::new(TimestampNanosecondArray::from(vec![
                            Some(1),
                            None,
                            Some(-1),
                        ])),
                    ),
                ],
                plain(),
            ),
        ),
        (
            "row_groups_zstd_dictionary",
            file(
                vec![
                    (
                        "n",
                        Arc::new(Int64Array::from((0..7).collect::<Vec<i64>>())),
                    ),
                    (
                        "tag",
                        Arc::new(StringArray::from(vec!["a", "b", "a", "a", "b", "a", "c"])),
                    ),
                ],
                WriterProperties::builder()
                    .set_max_row_group_row_count(Some(3))
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .build(),
            ),
        ),
        (
            "no_rows",
            file(
                vec![("a", Arc::new(Int64Array::from(Vec::<i64>::new())))],
                plain(),
            ),
        ),
        (
            "unsupported",
            file(
                vec![
                    ("u64", Arc::new(UInt64Array::from(vec![1u64]))),
                    (
                        "list",
                        Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                            Some(vec![Some(1), None]),
                        ])),
                    ),
                ],
                plain(),
            ),
        ),
        (
            "vectors",
            file(
                vec![
                    (
                        "fixed",
                        Arc::new(FixedSizeListArray::new(
                            Arc::new(Field::new("item", DataType::Float64, true)),
                            2,
                            Arc::new(Float64Array::from(vec![1.0, 2.0, 0.0, 0.0, -0.5, 3e10])),
                            Some(NullBuffer::from(vec![true, false, true])),
                        )),
                    ),
                    (
                        "listed",
                        Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
                            None,
                            Some(vec![Some(0.5), Some(0.25), Some(1.0)]),
                            Some(vec![Some(1.0), Some(1.0), Some(1.0)]),
                        ])),
                    ),
                ],
                plain(),
            ),
        ),
        (
            "timestamp_overflow",
            file(
                vec![(
                    "ts_s",
                    Arc::new(TimestampSecondArray::from(vec![i64::MAX / 10])),
                )],
                plain(),
            ),
        ),
    ];
    for (name, bytes) in &seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    println!("wrote {} seeds under {}", seeds.len(), dir.display());
    Ok(())
}
