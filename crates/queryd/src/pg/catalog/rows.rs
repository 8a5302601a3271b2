//! Building the emulated relations' rows: cells as loosely typed values converted to
//! each column's Arrow type, and the rows that describe datasets, columns and types.

use datafusion::arrow::array::{ArrayRef, RecordBatch, new_empty_array};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DataFusionError, ScalarValue};

use super::{OWNER, PG_CATALOG, Table};
use crate::pg::types::{self, pg_type, type_len, type_modifier};

/// A cell of an emulated relation, converted to its column's type.
#[derive(Debug, Clone)]
pub(super) enum V {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
}

impl From<&str> for V {
    fn from(v: &str) -> V {
        V::Text(v.to_string())
    }
}
impl From<String> for V {
    fn from(v: String) -> V {
        V::Text(v)
    }
}
impl From<u32> for V {
    fn from(v: u32) -> V {
        V::Int(i64::from(v))
    }
}
impl From<i64> for V {
    fn from(v: i64) -> V {
        V::Int(v)
    }
}
impl From<i32> for V {
    fn from(v: i32) -> V {
        V::Int(i64::from(v))
    }
}
impl From<f64> for V {
    fn from(v: f64) -> V {
        V::Float(v)
    }
}
impl From<bool> for V {
    fn from(v: bool) -> V {
        V::Bool(v)
    }
}
impl<T: Into<V>> From<Option<T>> for V {
    fn from(v: Option<T>) -> V {
        v.map_or(V::Null, Into::into)
    }
}

macro_rules! row {
    ($($v:expr),* $(,)?) => { vec![$(crate::pg::catalog::rows::V::from($v)),*] };
}
pub(super) use row;

pub(super) const NULL: Option<&str> = None;

impl V {
    fn scalar(self, data_type: &DataType) -> Result<ScalarValue, DataFusionError> {
        let value = match self {
            V::Null => return ScalarValue::try_from(data_type),
            V::Int(v) => ScalarValue::Int64(Some(v)),
            V::Float(v) => ScalarValue::Float64(Some(v)),
            V::Text(v) => ScalarValue::Utf8(Some(v)),
            V::Bool(v) => ScalarValue::Boolean(Some(v)),
        };
        value.cast_to(data_type)
    }
}

pub(super) fn batch(schema: &SchemaRef, rows: Vec<Vec<V>>) -> Result<RecordBatch, DataFusionError> {
    let mut columns: Vec<Vec<ScalarValue>> =
        vec![Vec::with_capacity(rows.len()); schema.fields().len()];
    for row in rows {
        if row.len() != columns.len() {
            return Err(DataFusionError::Internal(format!(
                "an emulated catalog row has {} values for {} columns",
                row.len(),
                columns.len()
            )));
        }
        for ((value, column), field) in row.into_iter().zip(&mut columns).zip(schema.fields()) {
            column.push(value.scalar(field.data_type())?);
        }
    }
    let arrays = columns
        .into_iter()
        .zip(schema.fields())
        .map(|(values, field)| {
            if values.is_empty() {
                Ok(new_empty_array(field.data_type()))
            } else {
                ScalarValue::iter_to_array(values)
            }
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

pub(super) fn class_row(t: &Table) -> Vec<V> {
    let columns = t.schema.fields().len() as i32;
    let tuples = t.rows.map_or(-1.0, |r| r as f64);
    row![
        t.oid,
        t.name.as_str(),
        t.namespace,
        0u32,
        0u32,
        OWNER,
        2u32,
        t.oid,
        0u32,
        0,
        tuples,
        0,
        0u32,
        false,
        false,
        "p",
        t.kind,
        columns,
        0,
        false,
        false,
        false,
        false,
        false,
        true,
        "d",
        false,
        0u32,
        0i64,
        0i64,
        NULL,
        NULL,
        NULL
    ]
}

pub(super) fn attribute_rows(t: &Table) -> Vec<Vec<V>> {
    t.schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let data_type = field.data_type();
            let oid = pg_type(data_type).oid();
            let len = type_len(data_type);
            let text = matches!(oid, 25 | 1043);
            row![
                t.oid,
                field.name().as_str(),
                oid,
                -1,
                i32::from(len),
                i as i32 + 1,
                0,
                -1,
                type_modifier(data_type),
                (1..=8).contains(&len),
                align(len),
                if len > 0 { "p" } else { "x" },
                "",
                !field.is_nullable(),
                false,
                false,
                "",
                "",
                false,
                true,
                0,
                if text { 100u32 } else { 0 },
                NULL,
                NULL,
                NULL,
                NULL
            ]
        })
        .collect()
}

fn align(len: i16) -> &'static str {
    match len {
        1 => "c",
        2 => "s",
        8 => "d",
        _ => "i",
    }
}

pub(super) fn type_row(t: &types::TypeInfo) -> Vec<V> {
    let (element, array) = if t.is_array {
        (t.array, 0)
    } else {
        (0, t.array)
    };
    let collation: u32 = match t.oid {
        25 | 1043 => 100,
        19 => 950,
        _ => 0,
    };
    let base = t.name.trim_start_matches('_');
    let io = |suffix: &str| {
        if t.is_array {
            format!("array_{suffix}")
        } else {
            format!("{base}{suffix}")
        }
    };
    row![
        t.oid,
        t.name,
        PG_CATALOG,
        OWNER,
        i32::from(t.len),
        (1..=8).contains(&t.len),
        if t.oid == 705 { "p" } else { "b" },
        t.category,
        false,
        true,
        ",",
        0u32,
        if t.is_array {
            Some("array_subscript_handler")
        } else {
            None
        },
        element,
        array,
        io("in"),
        io("out"),
        io("recv"),
        io("send"),
        NULL,
        NULL,
        NULL,
        align(t.len),
        if t.len > 0 { "p" } else { "x" },
        false,
        0u32,
        -1,
        0,
        collation,
        NULL,
        NULL,
        NULL
    ]
}
