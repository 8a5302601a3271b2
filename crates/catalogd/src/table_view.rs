//! What lakehouse makes of a Delta table's protocol and metadata ([`TableView`]): the
//! schema it reads (columns as our types, partition columns last), and — for a table
//! another tool wrote — whether it may write it, and if not, why (docs/formats.md,
//! "External tables").
//!
//! Pure functions of the actions' JSON (the log's own form), so every rule is tested here
//! without a table.

use serde_json::Value;

use crate::manifest::{ColumnType, Field, Schema};

/// A table as lakehouse reads and writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableView {
    /// The columns, partition columns last (in `partition_by` order): the order a scan
    /// produces them in.
    pub schema: Schema,
    pub partition_by: Vec<String>,
    /// Why lakehouse does not write the table (each reason, joined), when it does not.
    pub read_only: Option<String>,
    /// Why a commit that removes files (an overwrite) is refused, when it is: the table is
    /// append-only, or keeps a change data feed lakehouse does not write.
    pub no_removes: Option<String>,
}

/// Writer table features lakehouse's commits keep the rules of (delta-rs's commit path
/// writes these, and an append of plain Parquet files needs nothing more).
const WRITER_FEATURES: &[&str] = &["appendOnly", "timestampNtz", "deletionVectors"];

/// Reader table features whose tables lakehouse reads as written (deletion vectors: as
/// long as no file has one, checked per file).
const READER_FEATURES: &[&str] = &[
    "timestampNtz",
    "deletionVectors",
    "columnMapping",
    "vacuumProtocolCheck",
];

/// The view of a table from its `protocol` and `metaData` actions (their log JSON).
/// `Err` names what lakehouse does not read (a column type, column mapping, a reader
/// feature).
pub(crate) fn view(protocol: &Value, metadata: &Value) -> Result<TableView, String> {
    let config = &metadata["configuration"];
    let setting = |key: &str| config.get(key).and_then(Value::as_str);
    if let Some(mode) = setting("delta.columnMapping.mode")
        && mode != "none"
    {
        return Err(format!(
            "the table uses column mapping (mode {mode}), which lakehouse does not read"
        ));
    }
    let reader = protocol["minReaderVersion"].as_i64().unwrap_or(1);
    if reader > 3 {
        return Err(format!(
            "the table needs reader version {reader}; lakehouse reads up to 3"
        ));
    }
    let features = |key: &str| -> Vec<String> {
        protocol[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str().map(String::from))
            .collect()
    };
    if reader == 3
        && let Some(f) = features("readerFeatures")
            .iter()
            .find(|f| !READER_FEATURES.contains(&f.as_str()))
    {
        return Err(format!(
            "the table needs reader feature {f}, which lakehouse does not read"
        ));
    }
    let schema: Value = match metadata["schemaString"].as_str() {
        Some(text) => serde_json::from_str(text).map_err(|e| format!("its schema: {e}"))?,
        None => return Err("its metadata has no schema".into()),
    };
    let partition_by: Vec<String> = metadata["partitionColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(String::from))
        .collect();
    let mut reasons = Vec::new();
    let mut columns = Vec::new();
    for f in schema["fields"].as_array().into_iter().flatten() {
        let name = f["name"].as_str().unwrap_or_default().to_string();
        let delta = match &f["type"] {
            Value::String(t) => t.clone(),
            other => other.get("type").map_or_else(
                || other.to_string(),
                |t| t.as_str().unwrap_or_default().to_string(),
            ),
        };
        let column_metadata = f["metadata"].as_object();
        let dimensions = column_metadata
            .and_then(|m| m.get(crate::delta::VECTOR_DIMENSIONS))
            .and_then(Value::as_u64);
        let (data_type, exact) = match delta.as_str() {
            // One of our vector columns (another tool's array of floats is not a vector
            // until its dimension is known).
            "array" if dimensions.is_some() => {
                let vector = dimensions
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (1..=crate::MAX_VECTOR_DIMENSIONS).contains(n))
                    .map(ColumnType::Vector);
                let floats = matches!(f["type"]["elementType"].as_str(), Some("float" | "double"));
                // Ours are float and never hold a null component; a wider or nullable one
                // is read, but not written to.
                let exact = f["type"]["elementType"] == "float"
                    && f["type"]["containsNull"] == Value::Bool(false);
                match vector {
                    Some(vector) if floats => (vector, exact),
                    _ => {
                        return Err(format!(
                            "column {name:?} is a vector column of type {} with dimension {}, \
                             which lakehouse does not read (it reads arrays of float with a \
                             dimension from 1 to {})",
                            f["type"],
                            f["metadata"][crate::delta::VECTOR_DIMENSIONS],
                            crate::MAX_VECTOR_DIMENSIONS
                        ));
                    }
                }
            }
            "long" => (ColumnType::Int64, true),
            "integer" | "short" | "byte" => (ColumnType::Int64, false),
            "double" => (ColumnType::Float64, true),
            "float" => (ColumnType::Float64, false),
            "boolean" => (ColumnType::Boolean, true),
            "date" => (ColumnType::Date, true),
            "timestamp_ntz" => (ColumnType::Timestamp, true),
            // Zoned: the values are UTC instants, which our timestamps are too.
            "timestamp" => (ColumnType::Timestamp, false),
            "string" => (ColumnType::Utf8, true),
            other => {
                return Err(format!(
                    "column {name:?} has Delta type {other}, which lakehouse does not read \
                     (it reads long, integer, short, byte, double, float, boolean, date, \
                     timestamp, timestamp_ntz, string, and its own vector columns: arrays of \
                     float with {} metadata)",
                    crate::delta::VECTOR_DIMENSIONS
                ));
            }
        };
        if !exact {
            reasons.push(format!(
                "column {name:?} is Delta type {delta}, and lakehouse writes {}",
                match crate::delta::delta_type(data_type) {
                    Value::String(name) => name,
                    other => other.to_string(),
                }
            ));
        }
        let has = |key: &str| column_metadata.is_some_and(|m| m.keys().any(|k| k.starts_with(key)));
        if has("delta.invariants") {
            reasons.push(format!("column {name:?} has an invariant"));
        }
        if has("delta.generationExpression") {
            reasons.push(format!("column {name:?} is a generated column"));
        }
        if has("delta.identity.") {
            reasons.push(format!("column {name:?} is an identity column"));
        }
        columns.push(Field {
            name,
            data_type,
            nullable: f["nullable"].as_bool().unwrap_or(true),
        });
    }
    for c in &partition_by {
        if !columns.iter().any(|f| &f.name == c) {
            return Err(format!("partition column {c:?} is not in the schema"));
        }
    }
    let (mut fields, partitions): (Vec<Field>, Vec<Field>) = columns
        .into_iter()
        .partition(|f| !partition_by.contains(&f.name));
    for c in &partition_by {
        fields.extend(partitions.iter().find(|f| &f.name == c).cloned());
    }
    if config
        .as_object()
        .is_some_and(|m| m.keys().any(|k| k.starts_with("delta.constraints.")))
    {
        reasons.push("the table has CHECK constraints".into());
    }
    let writer = protocol["minWriterVersion"].as_i64().unwrap_or(1);
    if (3..=6).contains(&writer) || writer > 7 {
        reasons.push(format!(
            "the table needs writer version {writer}; lakehouse writes versions 1, 2 and 7 \
             (with table features)"
        ));
    }
    if writer == 7 {
        for f in features("writerFeatures") {
            if !WRITER_FEATURES.contains(&f.as_str()) {
                reasons.push(format!("lakehouse does not write table feature {f}"));
            }
        }
    }
    if reader == 3 {
        for f in features("readerFeatures") {
            if !WRITER_FEATURES.contains(&f.as_str()) {
                reasons.push(format!("lakehouse does not write table feature {f}"));
            }
        }
    }
    reasons.dedup();
    let no_removes = if setting("delta.appendOnly") == Some("true") {
        Some("the table is append-only (delta.appendOnly)".to_string())
    } else if setting("delta.enableChangeDataFeed") == Some("true") {
        Some(
            "the table keeps a change data feed, and lakehouse writes no change data files"
                .to_string(),
        )
    } else {
        None
    };
    Ok(TableView {
        schema: Schema { fields },
        partition_by,
        read_only: (!reasons.is_empty()).then(|| reasons.join("; ")),
        no_removes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(fields: Value, partition_by: &[&str], configuration: Value) -> Value {
        json!({
            "id": "x",
            "format": {"provider": "parquet", "options": {}},
            "schemaString": json!({"type": "struct", "fields": fields}).to_string(),
            "partitionColumns": partition_by,
            "configuration": configuration,
        })
    }

    fn column(name: &str, t: Value) -> Value {
        json!({"name": name, "type": t, "nullable": true, "metadata": {}})
    }

    fn plain() -> Value {
        json!({"minReaderVersion": 1, "minWriterVersion": 2})
    }

    #[test]
    fn our_own_tables_are_writable_with_partition_columns_last() {
        let m = metadata(
            json!([
                column("day", json!("date")),
                column("n", json!("long")),
                column("s", json!("string"))
            ]),
            &["day"],
            json!({}),
        );
        let v = view(&plain(), &m).unwrap();
        let names: Vec<&str> = v.schema.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["n", "s", "day"]);
        assert_eq!(v.partition_by, ["day"]);
        assert_eq!(v.read_only, None);
        assert_eq!(v.no_removes, None);
    }

    #[test]
    fn narrower_types_read_as_ours_and_make_the_table_read_only() {
        let m = metadata(
            json!([
                column("i", json!("integer")),
                column("t", json!("timestamp"))
            ]),
            &[],
            json!({}),
        );
        let v = view(&plain(), &m).unwrap();
        assert_eq!(v.schema.fields[0].data_type, ColumnType::Int64);
        assert_eq!(v.schema.fields[1].data_type, ColumnType::Timestamp);
        let why = v.read_only.unwrap();
        assert!(
            why.contains("column \"i\" is Delta type integer, and lakehouse writes long"),
            "{why}"
        );
        assert!(
            why.contains("column \"t\" is Delta type timestamp"),
            "{why}"
        );
    }

    #[test]
    fn what_lakehouse_does_not_read_is_named() {
        let decimal = metadata(json!([column("d", json!("decimal(10,2)"))]), &[], json!({}));
        let e = view(&plain(), &decimal).unwrap_err();
        assert!(
            e.contains("column \"d\" has Delta type decimal(10,2)"),
            "{e}"
        );
        let nested = metadata(
            json!([column("a", json!({"type": "array", "elementType": "long"}))]),
            &[],
            json!({}),
        );
        assert!(
            view(&plain(), &nested)
                .unwrap_err()
                .contains("Delta type array")
        );
        let mapped = metadata(
            json!([column("a", json!("long"))]),
            &[],
            json!({"delta.columnMapping.mode": "name"}),
        );
        assert!(
            view(&plain(), &mapped)
                .unwrap_err()
                .contains("column mapping (mode name)")
        );
        let future = json!({"minReaderVersion": 3, "minWriterVersion": 7,
                            "readerFeatures": ["variantType"], "writerFeatures": ["variantType"]});
        let m = metadata(json!([column("a", json!("long"))]), &[], json!({}));
        assert!(
            view(&future, &m)
                .unwrap_err()
                .contains("reader feature variantType")
        );
    }

    #[test]
    fn writer_features_we_do_not_write_make_the_table_read_only() {
        let m = metadata(json!([column("a", json!("long"))]), &[], json!({}));
        let p = json!({"minReaderVersion": 3, "minWriterVersion": 7,
                       "readerFeatures": ["deletionVectors"],
                       "writerFeatures": ["deletionVectors", "rowTracking", "appendOnly"]});
        let v = view(&p, &m).unwrap();
        assert_eq!(
            v.read_only.as_deref(),
            Some("lakehouse does not write table feature rowTracking")
        );
        let cdf = json!({"minReaderVersion": 1, "minWriterVersion": 4});
        assert!(
            view(&cdf, &m)
                .unwrap()
                .read_only
                .unwrap()
                .contains("writer version 4")
        );
        let ours = json!({"minReaderVersion": 3, "minWriterVersion": 7,
                          "readerFeatures": ["timestampNtz"], "writerFeatures": ["timestampNtz"]});
        assert_eq!(view(&ours, &m).unwrap().read_only, None);
    }

    #[test]
    fn constraints_and_special_columns_make_the_table_read_only() {
        let generated = json!({"name": "g", "type": "long", "nullable": true,
                               "metadata": {"delta.generationExpression": "a + 1"}});
        let m = metadata(
            json!([column("a", json!("long")), generated]),
            &[],
            json!({"delta.constraints.positive": "a > 0"}),
        );
        let why = view(&json!({"minReaderVersion": 1, "minWriterVersion": 2}), &m)
            .unwrap()
            .read_only
            .unwrap();
        assert!(why.contains("column \"g\" is a generated column"), "{why}");
        assert!(why.contains("CHECK constraints"), "{why}");
    }

    #[test]
    fn append_only_and_change_feed_tables_refuse_removes() {
        let m = metadata(
            json!([column("a", json!("long"))]),
            &[],
            json!({"delta.appendOnly": "true"}),
        );
        let v = view(&plain(), &m).unwrap();
        assert_eq!(v.read_only, None);
        assert!(v.no_removes.unwrap().contains("append-only"));
        let m = metadata(
            json!([column("a", json!("long"))]),
            &[],
            json!({"delta.enableChangeDataFeed": "true"}),
        );
        assert!(
            view(&plain(), &m)
                .unwrap()
                .no_removes
                .unwrap()
                .contains("change data")
        );
    }
}
