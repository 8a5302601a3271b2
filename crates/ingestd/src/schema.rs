//! The column types of a dataset and their Arrow / Parquet representation.
//!
//! | column type | Arrow type |
//! | --- | --- |
//! | int64 | Int64 |
//! | float64 | Float64 |
//! | boolean | Boolean |
//! | date | Date32 (days since 1970-01-01) |
//! | timestamp | Timestamp(Microsecond, no time zone; values are UTC) |
//! | utf8 | Utf8 |
//! | vector(N) | FixedSizeList(N) of non-null Float32 (Parquet: a LIST of FLOAT) |
//!
//! Every column is nullable, so files of one dataset always share one Arrow schema.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use catalogd::ColumnType;

pub fn arrow_type(ty: ColumnType) -> DataType {
    match ty {
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Date => DataType::Date32,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        ColumnType::Utf8 => DataType::Utf8,
        ColumnType::Vector(n) => DataType::FixedSizeList(
            Arc::new(vector_item()),
            i32::try_from(n).expect("a vector's dimension is at most 16000"),
        ),
    }
}

/// The element of a vector column's list: a float that is never null.
pub fn vector_item() -> Field {
    Field::new("item", DataType::Float32, false)
}

pub fn arrow_schema(columns: &[(String, ColumnType)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, ty)| Field::new(name, arrow_type(*ty), true))
            .collect::<Vec<_>>(),
    ))
}

/// The manifest's schema for these columns.
pub fn manifest_schema(columns: &[(String, ColumnType)]) -> catalogd::Schema {
    catalogd::Schema {
        fields: columns
            .iter()
            .map(|(name, ty)| catalogd::Field {
                name: name.clone(),
                data_type: *ty,
                nullable: true,
            })
            .collect(),
    }
}

/// The column type an uploaded Parquet column becomes, when it has one: integers widen to
/// int64, floats to float64, timestamps of any unit to microseconds (a time zone's instant
/// is kept, as UTC), large/view strings to utf8, a fixed-size list of floats to a vector of
/// its size. (A variable-size list of floats is a vector too, of the size its values have:
/// the Parquet converter finds it.)
pub fn column_type_of(data_type: &DataType) -> Option<ColumnType> {
    use DataType::*;
    Some(match data_type {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => ColumnType::Int64,
        Float16 | Float32 | Float64 => ColumnType::Float64,
        Boolean => ColumnType::Boolean,
        Date32 | Date64 => ColumnType::Date,
        Timestamp(_, _) => ColumnType::Timestamp,
        Utf8 | LargeUtf8 | Utf8View => ColumnType::Utf8,
        FixedSizeList(item, n) if is_float(item.data_type()) => ColumnType::Vector(
            u32::try_from(*n)
                .ok()
                .filter(|n| (1..=catalogd::MAX_VECTOR_DIMENSIONS).contains(n))?,
        ),
        _ => return None,
    })
}

/// Rows per batch for `columns`: `rows`, or fewer when vector columns would make a batch
/// past 8 MiB of components — a null vector takes its components' room too, so a small
/// upload of null vectors of 16,000 dimensions would otherwise take gigabytes a batch.
pub fn batch_rows(columns: &[(String, ColumnType)], rows: usize) -> usize {
    let row_bytes: usize = columns
        .iter()
        .filter_map(|(_, ty)| ty.dimensions())
        .map(|n| n as usize * 4)
        .sum();
    match row_bytes {
        0 => rows,
        bytes => ((8 << 20) / bytes).clamp(1, rows),
    }
}

/// Whether a list of `item`s is a vector's.
pub fn is_float(item: &DataType) -> bool {
    matches!(
        item,
        DataType::Float16 | DataType::Float32 | DataType::Float64
    )
}

/// Parses the `schema` option: `name:type,name:type,...` in column order.
pub fn parse_schema_option(text: &str) -> Result<Vec<(String, ColumnType)>, String> {
    let mut columns: Vec<(String, ColumnType)> = Vec::new();
    for (i, part) in text.split(',').enumerate() {
        let Some((name, ty)) = part.rsplit_once(':') else {
            return Err(format!(
                "schema: entry {} ({part:?}) is not name:type",
                i + 1
            ));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("schema: entry {} has an empty name", i + 1));
        }
        if columns.iter().any(|(n, _)| n == name) {
            return Err(format!("schema: column {name:?} is named twice"));
        }
        let ty = ty.trim().parse::<ColumnType>().map_err(|_| {
            format!(
                "schema: column {name:?} has type {ty:?}; types are int64, float64, boolean, \
                 date, timestamp, utf8 and vector(N), N from 1 to 16000"
            )
        })?;
        columns.push((name.to_string(), ty));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_option() {
        assert_eq!(
            parse_schema_option("a:int64, b : utf8").unwrap(),
            [
                ("a".into(), ColumnType::Int64),
                ("b".into(), ColumnType::Utf8)
            ]
        );
        assert!(parse_schema_option("a:int").unwrap_err().contains("\"a\""));
        assert_eq!(
            parse_schema_option("id:int64,emb:vector(384)").unwrap()[1],
            ("emb".into(), ColumnType::Vector(384))
        );
        let vectors = parse_schema_option("id:int64,emb:vector(16000)").unwrap();
        assert_eq!(batch_rows(&vectors, 32_768), 131);
        assert_eq!(batch_rows(&vectors[..1], 32_768), 32_768);
        assert!(
            parse_schema_option("emb:vector(0)")
                .unwrap_err()
                .contains("vector(N)")
        );
        assert!(parse_schema_option("a").unwrap_err().contains("name:type"));
        assert!(
            parse_schema_option("a:utf8,a:utf8")
                .unwrap_err()
                .contains("twice")
        );
    }
}
