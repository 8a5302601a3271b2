//! The six column types of a dataset and their Arrow / Parquet representation.
//!
//! | column type | Arrow type |
//! | --- | --- |
//! | int64 | Int64 |
//! | float64 | Float64 |
//! | boolean | Boolean |
//! | date | Date32 (days since 1970-01-01) |
//! | timestamp | Timestamp(Microsecond, no time zone; values are UTC) |
//! | utf8 | Utf8 |
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
    }
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
/// is kept, as UTC), large/view strings to utf8.
pub fn column_type_of(data_type: &DataType) -> Option<ColumnType> {
    use DataType::*;
    Some(match data_type {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 => ColumnType::Int64,
        Float16 | Float32 | Float64 => ColumnType::Float64,
        Boolean => ColumnType::Boolean,
        Date32 | Date64 => ColumnType::Date,
        Timestamp(_, _) => ColumnType::Timestamp,
        Utf8 | LargeUtf8 | Utf8View => ColumnType::Utf8,
        _ => return None,
    })
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
                "schema: column {name:?} has type {ty:?}; types are int64, float64, boolean, date, timestamp, utf8"
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
        assert!(parse_schema_option("a").unwrap_err().contains("name:type"));
        assert!(
            parse_schema_option("a:utf8,a:utf8")
                .unwrap_err()
                .contains("twice")
        );
    }
}
