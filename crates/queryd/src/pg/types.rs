//! Arrow types as PostgreSQL types: the OID a result column is described with, its
//! `typlen` and `typmod`, and the names `format_type` and `pg_type` report.
//!
//! Every Arrow type has exactly one PostgreSQL type, so a column's description, its
//! encoding (encode.rs) and the catalog's `pg_attribute` always agree. Types PostgreSQL
//! has no counterpart for (lists, structs, intervals, ...) are `text` holding their
//! display form.

use datafusion::arrow::datatypes::{DataType, Schema};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldFormat, FieldInfo};

/// pgvector's `vector` type. The extension's OID is whatever its database gave it; ours is
/// fixed, and clients look it up by name (`to_regtype('vector')`, `pg_type`) as they must
/// with pgvector.
pub const VECTOR_OID: u32 = 16_385;
/// `vector[]`.
pub const VECTOR_ARRAY_OID: u32 = 16_386;

/// The `vector` type, as a column is described with it.
pub fn vector_type() -> Type {
    static VECTOR: std::sync::LazyLock<Type> = std::sync::LazyLock::new(|| {
        Type::new(
            "vector".into(),
            VECTOR_OID,
            Type::TEXT.kind().clone(),
            "public".into(),
        )
    });
    VECTOR.clone()
}

pub use crate::vector::is_vector;

/// The PostgreSQL type a column of `data_type` is sent as.
pub fn pg_type(data_type: &DataType) -> Type {
    match data_type {
        vector if is_vector(vector) => vector_type(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Type::INT2,
        DataType::Int32 | DataType::UInt16 => Type::INT4,
        DataType::Int64 | DataType::UInt32 => Type::INT8,
        DataType::UInt64 => Type::NUMERIC,
        DataType::Float16 | DataType::Float32 => Type::FLOAT4,
        DataType::Float64 => Type::FLOAT8,
        DataType::Boolean => Type::BOOL,
        DataType::Date32 | DataType::Date64 => Type::DATE,
        DataType::Time32(_) | DataType::Time64(_) => Type::TIME,
        DataType::Timestamp(_, None) => Type::TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => Type::TIMESTAMPTZ,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => Type::NUMERIC,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Type::BYTEA,
        DataType::Dictionary(_, value) => pg_type(value),
        // Strings, nulls, and everything shown as its display text.
        _ => Type::TEXT,
    }
}

/// `atttypmod`: precision and scale of a numeric, -1 for every other type.
pub fn type_modifier(data_type: &DataType) -> i32 {
    match data_type {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => ((i32::from(*p) << 16) | (i32::from(*s) & 0xffff)) + 4,
        DataType::Dictionary(_, value) => type_modifier(value),
        // pgvector's: the dimension itself.
        DataType::FixedSizeList(_, n) if is_vector(data_type) => *n,
        _ => -1,
    }
}

/// One built-in type as `pg_type` lists it.
#[derive(Debug, Clone, Copy)]
pub struct TypeInfo {
    pub oid: u32,
    pub name: &'static str,
    /// What `format_type` prints: `bigint`, `double precision`, ...
    pub sql_name: &'static str,
    pub len: i16,
    pub category: &'static str,
    /// The array type's OID (0 for none), or for an array type its element's OID.
    pub array: u32,
    pub is_array: bool,
}

const fn scalar(
    oid: u32,
    name: &'static str,
    sql_name: &'static str,
    len: i16,
    category: &'static str,
    array: u32,
) -> TypeInfo {
    TypeInfo {
        oid,
        name,
        sql_name,
        len,
        category,
        array,
        is_array: false,
    }
}

const fn array(oid: u32, name: &'static str, sql_name: &'static str, element: u32) -> TypeInfo {
    TypeInfo {
        oid,
        name,
        sql_name,
        len: -1,
        category: "A",
        array: element,
        is_array: true,
    }
}

/// The types results and the catalog use, and their array types.
pub const TYPES: &[TypeInfo] = &[
    scalar(16, "bool", "boolean", 1, "B", 1000),
    scalar(17, "bytea", "bytea", -1, "U", 1001),
    scalar(18, "char", "\"char\"", 1, "Z", 1002),
    scalar(19, "name", "name", 64, "S", 1003),
    scalar(20, "int8", "bigint", 8, "N", 1016),
    scalar(21, "int2", "smallint", 2, "N", 1005),
    scalar(23, "int4", "integer", 4, "N", 1007),
    scalar(25, "text", "text", -1, "S", 1009),
    scalar(26, "oid", "oid", 4, "N", 1028),
    scalar(700, "float4", "real", 4, "N", 1021),
    scalar(701, "float8", "double precision", 8, "N", 1022),
    scalar(705, "unknown", "unknown", -2, "X", 0),
    scalar(1043, "varchar", "character varying", -1, "S", 1015),
    scalar(1082, "date", "date", 4, "D", 1182),
    scalar(1083, "time", "time without time zone", 8, "D", 1183),
    scalar(
        1114,
        "timestamp",
        "timestamp without time zone",
        8,
        "D",
        1115,
    ),
    scalar(
        1184,
        "timestamptz",
        "timestamp with time zone",
        8,
        "D",
        1185,
    ),
    scalar(1186, "interval", "interval", 16, "T", 1187),
    // (Never a result's type; listed as PostgreSQL has it, for clients that look it up:
    // pgvector's adapter does.)
    scalar(1560, "bit", "bit", -1, "V", 1561),
    scalar(1700, "numeric", "numeric", -1, "N", 1231),
    scalar(VECTOR_OID, "vector", "vector", -1, "U", VECTOR_ARRAY_OID),
    array(1000, "_bool", "boolean[]", 16),
    array(1001, "_bytea", "bytea[]", 17),
    array(1002, "_char", "\"char\"[]", 18),
    array(1003, "_name", "name[]", 19),
    array(1005, "_int2", "smallint[]", 21),
    array(1007, "_int4", "integer[]", 23),
    array(1009, "_text", "text[]", 25),
    array(1015, "_varchar", "character varying[]", 1043),
    array(1016, "_int8", "bigint[]", 20),
    array(1021, "_float4", "real[]", 700),
    array(1022, "_float8", "double precision[]", 701),
    array(1028, "_oid", "oid[]", 26),
    array(1115, "_timestamp", "timestamp without time zone[]", 1114),
    array(1182, "_date", "date[]", 1082),
    array(1183, "_time", "time without time zone[]", 1083),
    array(1185, "_timestamptz", "timestamp with time zone[]", 1184),
    array(1187, "_interval", "interval[]", 1186),
    array(1231, "_numeric", "numeric[]", 1700),
    array(1561, "_bit", "bit[]", 1560),
    array(VECTOR_ARRAY_OID, "_vector", "vector[]", VECTOR_OID),
];

pub fn type_info(oid: u32) -> Option<&'static TypeInfo> {
    TYPES.iter().find(|t| t.oid == oid)
}

/// The OID `to_regtype(name)` gives: a type's name (`int4`, `vector`) or SQL name
/// (`integer`, `double precision`), with an optional schema (`pg_catalog.`, `public.`) and
/// type modifier (`numeric(10,2)`), and `[]` for its array type; `None` for a type this
/// server does not have (`to_regtype` is then null, as PostgreSQL's).
pub fn regtype_oid(name: &str) -> Option<u32> {
    let mut name = name.trim().to_ascii_lowercase();
    let array = name.ends_with("[]");
    if array {
        name.truncate(name.len() - 2);
    }
    if let Some(open) = name.find('(')
        && name.ends_with(')')
    {
        name.truncate(open);
    }
    let name = name.trim();
    let name = ["pg_catalog.", "public."]
        .iter()
        .find_map(|schema| name.strip_prefix(schema))
        .unwrap_or(name);
    let name = match name {
        "int" => "int4",
        "float" => "float8",
        "decimal" => "numeric",
        other => other,
    };
    let info = TYPES
        .iter()
        .find(|t| !t.is_array && (t.name == name || t.sql_name == name))?;
    match array {
        false => Some(info.oid),
        true => (info.array != 0).then_some(info.array),
    }
}

/// `format_type(oid, typmod)`: the SQL name of a type, with a numeric's precision and
/// scale; `???` for an OID this server does not know, as PostgreSQL prints.
pub fn format_type(oid: u32, typmod: Option<i32>) -> String {
    let Some(info) = type_info(oid) else {
        return "???".to_string();
    };
    match (oid, typmod) {
        (1700, Some(m)) if m >= 4 => {
            let m = m - 4;
            format!("numeric({},{})", (m >> 16) & 0xffff, m & 0xffff)
        }
        (1043, Some(m)) if m >= 4 => format!("character varying({})", m - 4),
        (VECTOR_OID, Some(m)) if m > 0 => format!("vector({m})"),
        _ => info.sql_name.to_string(),
    }
}

/// `typlen` of the type a column is sent as.
pub fn type_len(data_type: &DataType) -> i16 {
    type_info(pg_type(data_type).oid()).map_or(-1, |t| t.len)
}

/// The row description of a result: each column's name, type and format.
pub fn fields(schema: &Schema, format: &Format) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let data_type = field.data_type();
            FieldInfo::new(
                field.name().clone(),
                None,
                None,
                pg_type(data_type),
                field_format(format, i),
            )
            .with_type_size(type_len(data_type))
            .with_type_modifier(type_modifier(data_type))
        })
        .collect()
}

/// The format of column `i`; a client that sends fewer codes than columns gets text for
/// the rest rather than a panic.
pub fn field_format(format: &Format, i: usize) -> FieldFormat {
    match format {
        Format::Individual(codes) => FieldFormat::from(codes.get(i).copied().unwrap_or(0)),
        other => other.format_for(i),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::TimeUnit;

    use super::*;

    #[test]
    fn the_issue_types_have_their_oids() {
        let cases = [
            (DataType::Int64, 20),
            (DataType::Int32, 23),
            (DataType::Int16, 21),
            (DataType::Int8, 21),
            (DataType::UInt32, 20),
            (DataType::Float64, 701),
            (DataType::Float32, 700),
            (DataType::Boolean, 16),
            (DataType::Utf8, 25),
            (DataType::Utf8View, 25),
            (DataType::Date32, 1082),
            (DataType::Timestamp(TimeUnit::Microsecond, None), 1114),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                1184,
            ),
            (DataType::Decimal128(10, 2), 1700),
            (DataType::Binary, 17),
            (DataType::Null, 25),
        ];
        for (data_type, oid) in cases {
            assert_eq!(pg_type(&data_type).oid(), oid, "{data_type}");
        }
    }

    #[test]
    fn format_type_names() {
        assert_eq!(format_type(20, None), "bigint");
        assert_eq!(format_type(1114, Some(-1)), "timestamp without time zone");
        let typmod = type_modifier(&DataType::Decimal128(12, 3));
        assert_eq!(format_type(1700, Some(typmod)), "numeric(12,3)");
        assert_eq!(format_type(999_999, None), "???");
        let vector = DataType::FixedSizeList(
            std::sync::Arc::new(datafusion::arrow::datatypes::Field::new(
                "item",
                DataType::Float32,
                false,
            )),
            384,
        );
        assert_eq!(pg_type(&vector).oid(), VECTOR_OID);
        assert_eq!(pg_type(&vector).name(), "vector");
        assert_eq!(
            format_type(VECTOR_OID, Some(type_modifier(&vector))),
            "vector(384)"
        );
        assert_eq!(format_type(VECTOR_OID, Some(-1)), "vector");
        for (name, oid) in [
            ("vector", Some(VECTOR_OID)),
            ("public.vector", Some(VECTOR_OID)),
            ("vector(3)", Some(VECTOR_OID)),
            ("vector[]", Some(VECTOR_ARRAY_OID)),
            ("integer", Some(23)),
            ("INT", Some(23)),
            ("pg_catalog.int8", Some(20)),
            ("double precision", Some(701)),
            ("numeric(10,2)", Some(1700)),
            ("text[]", Some(1009)),
            ("hstore", None),
            ("unknown[]", None),
        ] {
            assert_eq!(regtype_oid(name), oid, "{name}");
        }
    }
}
