//! The functions PostgreSQL clients call that DataFusion lacks: `version()`,
//! `current_database()`, `current_schema()`, and the `pg_catalog` helpers psql's `\d`
//! family and BI tools use (`format_type`, `pg_get_userbyid`, `pg_table_is_visible`,
//! privilege checks, descriptions, ...). Most are constant here: one owner, everything
//! visible and readable, no comments or defaults.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::catalog::{self, OWNER_NAME};
use super::compat::{self, SERVER_VERSION};
use super::types::format_type;
use crate::engine::{CATALOG_NAME, QueryOptions, SCHEMA_NAME};
use crate::tables::DatasetSchema;

type Body = Arc<dyn Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync>;

/// A function is its name: DataFusion compares functions by equality, and names are
/// unique in a session.
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Result<ScalarValue, Body>,
}

impl std::fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl Hash for PgFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match &self.body {
            Ok(value) => Ok(ColumnarValue::Scalar(value.clone())),
            Err(body) => {
                let arrays = ColumnarValue::values_to_arrays(&args.args)?;
                Ok(ColumnarValue::Array(body(&arrays, args.number_rows)?))
            }
        }
    }
}

/// Arguments of any types, at least `min` of them.
fn any_args() -> Signature {
    Signature::variadic_any(Volatility::Stable)
}

fn constant(name: &'static str, signature: Signature, value: ScalarValue) -> ScalarUDF {
    ScalarUDF::from(PgFunction {
        name,
        signature,
        returns: value.data_type(),
        body: Ok(value),
    })
}

fn text(value: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(value.to_string()))
}

fn per_row(
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: impl Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync + 'static,
) -> ScalarUDF {
    ScalarUDF::from(PgFunction {
        name,
        signature,
        returns,
        body: Err(Arc::new(body)),
    })
}

/// `name(text) -> oid`: the OID `lookup` finds for each name, null for none.
fn name_to_oid(name: &'static str, lookup: fn(&str) -> Option<u32>) -> ScalarUDF {
    per_row(
        name,
        Signature::any(1, Volatility::Stable),
        DataType::UInt32,
        move |args, _| {
            let out: datafusion::arrow::array::UInt32Array = texts(&args[0])?
                .iter()
                .map(|v| v.as_deref().and_then(lookup))
                .collect();
            Ok(Arc::new(out))
        },
    )
}

/// The values of an OID-like argument.
fn oids(array: &ArrayRef) -> Result<Vec<Option<u32>>> {
    let ints = cast(array, &DataType::Int64)?;
    Ok(ints
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.and_then(|v| u32::try_from(v).ok()))
        .collect())
}

fn texts(array: &ArrayRef) -> Result<Vec<Option<String>>> {
    let strings = cast(array, &DataType::Utf8)?;
    Ok(strings
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

/// `oid -> text` over the first argument, null for a null or unknown OID.
fn oid_to_text(
    name: &'static str,
    signature: Signature,
    f: impl Fn(u32, &[ArrayRef], usize) -> Option<String> + Send + Sync + 'static,
) -> ScalarUDF {
    per_row(name, signature, DataType::Utf8, move |args, _| {
        let first = args.first().map(oids).transpose()?.unwrap_or_default();
        let out: StringArray = first
            .iter()
            .enumerate()
            .map(|(row, oid)| oid.and_then(|oid| f(oid, args, row)))
            .collect();
        Ok(Arc::new(out) as ArrayRef)
    })
}

/// PostgreSQL's `quote_ident`: quoted unless a plain lower-case identifier.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Every function this module adds, for registering on the engine.
pub fn all(datasets: Arc<DatasetSchema>, options: &QueryOptions) -> Vec<ScalarUDF> {
    let nullary = || Signature::nullary(Volatility::Stable);
    let number = SERVER_VERSION.split(' ').next().unwrap_or(SERVER_VERSION);
    let version = format!(
        "PostgreSQL {number} (lakehouse {}) on {}-{}, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
    );
    let schemas = |with_catalog: bool| {
        let names: Vec<ScalarValue> = if with_catalog {
            vec![text("pg_catalog"), text(SCHEMA_NAME)]
        } else {
            vec![text(SCHEMA_NAME)]
        };
        ScalarValue::List(ScalarValue::new_list_nullable(&names, &DataType::Utf8))
    };
    let settings = compat::defaults(options);
    let mut functions = vec![
        constant("version", nullary(), text(&version)),
        constant("current_database", nullary(), text(CATALOG_NAME)),
        constant("current_catalog", nullary(), text(CATALOG_NAME)),
        constant("current_schema", nullary(), text(SCHEMA_NAME)),
        constant(
            "pg_backend_pid",
            nullary(),
            ScalarValue::Int32(Some(std::process::id() as i32)),
        ),
        constant(
            "pg_is_in_recovery",
            nullary(),
            ScalarValue::Boolean(Some(false)),
        ),
        constant("pg_my_temp_schema", nullary(), ScalarValue::UInt32(Some(0))),
        // Every query runs in its own one-statement transaction here.
        constant("txid_current", nullary(), ScalarValue::Int64(Some(1))),
        per_row(
            "current_schemas",
            Signature::any(1, Volatility::Stable),
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            move |args, rows| {
                let with_catalog = cast(&args[0], &DataType::Boolean)?;
                let values: Vec<ScalarValue> = with_catalog
                    .as_boolean()
                    .iter()
                    .map(|v| schemas(v.unwrap_or(false)))
                    .collect();
                if values.is_empty() {
                    return schemas(false).to_array_of_size(rows);
                }
                ScalarValue::iter_to_array(values)
            },
        ),
        constant("pg_get_userbyid", any_args(), text(OWNER_NAME)),
        constant("pg_encoding_to_char", any_args(), text("UTF8")),
        constant(
            "pg_relation_is_publishable",
            any_args(),
            ScalarValue::Boolean(Some(false)),
        ),
        constant(
            "pg_is_other_temp_schema",
            any_args(),
            ScalarValue::Boolean(Some(false)),
        ),
        per_row(
            "quote_ident",
            Signature::any(1, Volatility::Immutable),
            DataType::Utf8,
            |args, _| {
                let out: StringArray = texts(&args[0])?
                    .iter()
                    .map(|v| v.as_deref().map(quote_ident))
                    .collect();
                Ok(Arc::new(out))
            },
        ),
        oid_to_text("format_type", any_args(), |oid, args, row| {
            let typmod = args
                .get(1)
                .and_then(|a| cast(a, &DataType::Int64).ok())
                .and_then(|a| {
                    let a = a.as_primitive::<Int64Type>();
                    (!a.is_null(row)).then(|| a.value(row) as i32)
                });
            Some(format_type(oid, typmod))
        }),
        oid_to_text("regtype_name", any_args(), |oid, _, _| {
            Some(format_type(oid, None))
        }),
        oid_to_text("regnamespace_name", any_args(), |oid, _, _| {
            catalog::namespace_name(oid).map(str::to_string)
        }),
        {
            let datasets = datasets.clone();
            oid_to_text("regclass_name", any_args(), move |oid, _, _| {
                catalog::relation_name(oid, &datasets)
            })
        },
        name_to_oid("to_regclass", regclass_oid),
        name_to_oid("to_regtype", super::types::regtype_oid),
        {
            let settings = settings.clone();
            per_row(
                "current_setting",
                any_args(),
                DataType::Utf8,
                move |args, _| {
                    let out: StringArray = texts(&args[0])?
                        .iter()
                        .map(|name| {
                            let name = name.as_deref()?;
                            settings
                                .iter()
                                .find(|(n, ..)| n.eq_ignore_ascii_case(name))
                                .map(|(_, v, _)| v.clone())
                        })
                        .collect();
                    Ok(Arc::new(out))
                },
            )
        },
        per_row(
            "pg_size_pretty",
            Signature::any(1, Volatility::Immutable),
            DataType::Utf8,
            |args, _| {
                let sizes = cast(&args[0], &DataType::Int64)?;
                let out: StringArray = sizes
                    .as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.map(size_pretty))
                    .collect();
                Ok(Arc::new(out))
            },
        ),
        per_row("set_config", any_args(), DataType::Utf8, |args, _| {
            let out: StringArray = texts(args.get(1).unwrap_or(&args[0]))?
                .into_iter()
                .collect();
            Ok(Arc::new(out))
        }),
    ];
    for name in [
        "pg_table_is_visible",
        "pg_type_is_visible",
        "pg_function_is_visible",
        "has_table_privilege",
        "has_schema_privilege",
        "has_database_privilege",
        "has_column_privilege",
        "has_any_column_privilege",
        "has_function_privilege",
        "has_sequence_privilege",
    ] {
        functions.push(constant(name, any_args(), ScalarValue::Boolean(Some(true))));
    }
    // Sizes are not tracked per relation here.
    for name in [
        "pg_table_size",
        "pg_relation_size",
        "pg_total_relation_size",
        "pg_indexes_size",
    ] {
        functions.push(constant(name, any_args(), ScalarValue::Int64(None)));
    }
    for name in [
        "pg_get_expr",
        "pg_get_indexdef",
        "pg_get_constraintdef",
        "pg_get_viewdef",
        "pg_get_triggerdef",
        "pg_get_functiondef",
        "pg_get_partkeydef",
        "pg_get_ruledef",
        "pg_get_statisticsobjdef_columns",
        "obj_description",
        "col_description",
        "shobj_description",
    ] {
        functions.push(constant(name, any_args(), ScalarValue::Utf8(None)));
    }
    functions
}

/// PostgreSQL's `pg_size_pretty`: bytes below 10 kB, then the largest unit that keeps the
/// number below 10240, rounded half up.
pub fn size_pretty(bytes: i64) -> String {
    const UNITS: [&str; 6] = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    let mut size = bytes;
    let mut unit = 0;
    while size.abs() >= 10 * 1024 && unit + 1 < UNITS.len() {
        let half = if size < 0 { -512 } else { 512 };
        size = (size + half) / 1024;
        unit += 1;
    }
    format!("{size} {}", UNITS[unit])
}

/// The OID of `[schema.]name` as `'name'::regclass` gives it.
pub fn regclass_oid(name: &str) -> Option<u32> {
    let (schema, name) = match name.rsplit_once('.') {
        Some((schema, name)) => (Some(schema.trim_matches('"')), name),
        None => (None, name),
    };
    let name = name.trim_matches('"');
    match schema {
        Some("pg_catalog") => catalog::relation_oid(name),
        Some("public") => Some(catalog::dataset_oid(name)),
        Some(_) => None,
        None => catalog::relation_oid(name).or_else(|| Some(catalog::dataset_oid(name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_ident_quotes_only_when_needed() {
        assert_eq!(quote_ident("trips"), "trips");
        assert_eq!(quote_ident("Trips"), "\"Trips\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1x"), "\"1x\"");
    }

    #[test]
    fn sizes_like_postgres() {
        assert_eq!(size_pretty(0), "0 bytes");
        assert_eq!(size_pretty(10_239), "10239 bytes");
        assert_eq!(size_pretty(10_240), "10 kB");
        assert_eq!(size_pretty(5 << 30), "5120 MB");
    }

    #[test]
    fn regclass_of_names() {
        assert_eq!(regclass_oid("trips"), Some(catalog::dataset_oid("trips")));
        assert_eq!(
            regclass_oid("public.trips"),
            Some(catalog::dataset_oid("trips"))
        );
        assert_eq!(
            regclass_oid("pg_catalog.pg_class"),
            catalog::relation_oid("pg_class")
        );
        assert_eq!(regclass_oid("other.x"), None);
    }
}
