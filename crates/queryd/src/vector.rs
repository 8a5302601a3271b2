//! pgvector's SQL, over both front ends: vector columns (`vector(N)`, a fixed-size list of
//! float32), the distance operators and functions, and `vector` as a type in casts.
//!
//! | SQL | meaning |
//! | --- | --- |
//! | `a <-> b`, `l2_distance(a, b)` | Euclidean distance |
//! | `a <=> b`, `cosine_distance(a, b)` | `1 - cos(a, b)`; NaN when either is all zeros |
//! | `a <#> b`, `negative_inner_product(a, b)` | `-(a · b)` (smaller is nearer, as the others) |
//! | `inner_product(a, b)` | `a · b` |
//! | `vector_dims(a)` | the number of components |
//! | `x::vector`, `x::vector(N)`, `CAST(x AS vector(N))` | `to_vector(x[, N])` |
//!
//! A vector value is a vector column, pgvector's text (`'[1, 2.5, 3]'`), an `ARRAY[...]`
//! of numbers, or a bound parameter holding either. The operators are rewritten into the
//! functions before planning ([`rewrite`]); the functions compute on vectord's SIMD kernels,
//! the same the HNSW index runs on. Two vectors of different dimensions are an error, as in
//! pgvector, and a null vector gives a null distance.

use std::hash::{Hash, Hasher};
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, Float32Builder, Float64Array,
    Int32Array, ListArray, ListBuilder,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float32Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, DataType as SqlType, Expr as SqlExpr, ObjectName, ObjectNamePart, Value,
    visit_expressions_mut,
};

use crate::ast::{call, take};
use crate::error::QueryError;

/// The most components a vector has (pgvector's limit, and a dataset column's).
const MAX_DIMENSIONS: usize = 16_000;

/// Rewrites pgvector's operators into the functions, and casts to `vector` into
/// `to_vector`, everywhere in the statement.
pub(crate) fn rewrite(statement: &mut DFStatement) {
    match statement {
        DFStatement::Statement(inner) => {
            let _ = visit_expressions_mut(inner.as_mut(), |expr| {
                rewrite_expr(expr);
                ControlFlow::<()>::Continue(())
            });
        }
        DFStatement::Explain(explain) => rewrite(&mut explain.statement),
        // Refused by the read-only rule.
        DFStatement::CreateExternalTable(_) | DFStatement::CopyTo(_) | DFStatement::Reset(_) => {}
    }
}

fn rewrite_expr(expr: &mut SqlExpr) {
    match expr {
        SqlExpr::BinaryOp { left, op, right } => {
            let name = match op {
                BinaryOperator::LtDashGt => "l2_distance",
                BinaryOperator::Spaceship => "cosine_distance",
                BinaryOperator::Custom(op) if op == "<#>" => "negative_inner_product",
                _ => return,
            };
            let args = vec![take(left), take(right)];
            *expr = call(name, args);
        }
        SqlExpr::Cast {
            expr: inner,
            data_type: SqlType::Custom(name, modifiers),
            ..
        } if is_vector_type(name) => {
            let mut args = vec![take(inner)];
            if let [dims] = modifiers.as_slice() {
                args.push(SqlExpr::value(Value::Number(dims.clone(), false)));
            } else if !modifiers.is_empty() {
                // `vector(1, 2)`: left for to_vector to refuse by its arguments.
                args.extend(
                    modifiers
                        .iter()
                        .map(|m| SqlExpr::value(Value::Number(m.clone(), false))),
                );
            }
            *expr = call("to_vector", args);
        }
        _ => {}
    }
}

/// `vector`, `public.vector`.
fn is_vector_type(name: &ObjectName) -> bool {
    let last = name.0.last().and_then(ObjectNamePart::as_ident);
    last.is_some_and(|i| i.value.eq_ignore_ascii_case("vector"))
        && name.0.len() <= 2
        && name
            .0
            .first()
            .and_then(ObjectNamePart::as_ident)
            .is_some_and(|first| name.0.len() == 1 || first.value.eq_ignore_ascii_case("public"))
}

/// The vector functions, for every query.
pub fn functions() -> Vec<ScalarUDF> {
    FUNCTIONS
        .into_iter()
        .map(|kind| {
            ScalarUDF::from(VectorFunction {
                kind,
                signature: Signature::variadic_any(Volatility::Immutable),
                // (DataFusion's own inner_product, which this one replaces, answers to it.)
                aliases: match kind {
                    Kind::Inner => vec!["dot_product".to_string()],
                    _ => vec![],
                },
            })
        })
        .collect()
}

/// Whether the function named `name` takes vectors (its bare parameters are vectors).
pub fn takes_vectors(name: &str) -> bool {
    FUNCTIONS
        .iter()
        .any(|k| k.name().eq_ignore_ascii_case(name))
}

const FUNCTIONS: [Kind; 6] = [
    Kind::L2,
    Kind::Cosine,
    Kind::Inner,
    Kind::NegativeInner,
    Kind::Dims,
    Kind::ToVector,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    L2,
    Cosine,
    Inner,
    NegativeInner,
    Dims,
    ToVector,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::L2 => "l2_distance",
            Kind::Cosine => "cosine_distance",
            Kind::Inner => "inner_product",
            Kind::NegativeInner => "negative_inner_product",
            Kind::Dims => "vector_dims",
            Kind::ToVector => "to_vector",
        }
    }
}

#[derive(Debug)]
struct VectorFunction {
    kind: Kind,
    signature: Signature,
    aliases: Vec<String>,
}

impl PartialEq for VectorFunction {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl Eq for VectorFunction {}

impl Hash for VectorFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
    }
}

/// An error in the query's values or arguments (a 400, SQLSTATE 22000/42883 family).
fn invalid(message: String) -> datafusion::common::DataFusionError {
    QueryError::Invalid(message).into()
}

/// Whether a column of `data_type` is a vector: a fixed-size list of float32, or the list
/// `x::vector` gives where the plan does not know the dimension ([`any_length_vector`]).
pub fn is_vector(data_type: &DataType) -> bool {
    match data_type {
        DataType::FixedSizeList(item, _) => item.data_type() == &DataType::Float32,
        other => other == &any_length_vector(),
    }
}

/// `x::vector` where nothing fixes the dimension when the query is planned.
fn any_length_vector() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Float32, false)))
}

/// A vector column's type: `dims` float32s, never null.
pub fn vector_type(dims: i32) -> DataType {
    DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, false)), dims)
}

impl ScalarUDFImpl for VectorFunction {
    fn name(&self) -> &str {
        self.kind.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        // (return_field_from_args answers instead.)
        Err(invalid(format!("{} has no fixed return type", self.name())))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let name = self.name();
        let arity = args.arg_fields.len();
        let data_type = match self.kind {
            Kind::L2 | Kind::Cosine | Kind::Inner | Kind::NegativeInner => {
                if arity != 2 {
                    return Err(invalid(format!(
                        "{name} takes two vectors, not {arity} arguments"
                    )));
                }
                for field in args.arg_fields {
                    check_vector_type(name, field.data_type())?;
                }
                DataType::Float64
            }
            Kind::Dims => {
                if arity != 1 {
                    return Err(invalid(format!(
                        "{name} takes one vector, not {arity} arguments"
                    )));
                }
                check_vector_type(name, args.arg_fields[0].data_type())?;
                DataType::Int32
            }
            Kind::ToVector => {
                if !(1..=2).contains(&arity) {
                    return Err(invalid(format!(
                        "vector takes at most one modifier, its dimension, not {}",
                        arity.saturating_sub(1)
                    )));
                }
                check_vector_type("vector", args.arg_fields[0].data_type())?;
                let declared = match args.scalar_arguments.get(1) {
                    None => None,
                    Some(Some(n)) => Some(declared_dims(n)?),
                    Some(None) => {
                        return Err(invalid(
                            "the dimension of vector(N) is a number written in the query".into(),
                        ));
                    }
                };
                let known = match (args.arg_fields[0].data_type(), args.scalar_arguments[0]) {
                    (DataType::FixedSizeList(_, n), _) => Some(*n as usize),
                    (_, Some(value)) => vector_of_scalar(value)?.map(|v| v.len()),
                    _ => None,
                };
                let dims = match (declared, known) {
                    (Some(declared), Some(known)) if declared != known => {
                        return Err(invalid(format!(
                            "expected {declared} dimensions, not {known}"
                        )));
                    }
                    (Some(dims), _) | (None, Some(dims)) => dims,
                    // A text column, or a parameter not yet bound: vectors of the length
                    // each value gives (pgvector's `vector` without a dimension).
                    (None, None) => {
                        return Ok(Arc::new(Field::new(name, any_length_vector(), true)));
                    }
                };
                vector_type(dims as i32)
            }
        };
        Ok(Arc::new(Field::new(name, data_type, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let name = self.name();
        let out: ArrayRef = match self.kind {
            Kind::Dims => {
                let v = Vectors::of(name, &args.args[0])?;
                Arc::new(
                    (0..rows)
                        .map(|r| v.row(r).map(|v| v.len() as i32))
                        .collect::<Int32Array>(),
                )
            }
            Kind::ToVector if args.return_field.data_type() == &any_length_vector() => {
                // Text rows may hold vectors of different lengths: each is read alone.
                let each: Vec<Option<Vec<f32>>> = match &args.args[0] {
                    ColumnarValue::Array(array)
                        if matches!(
                            array.data_type(),
                            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                        ) =>
                    {
                        let text = cast(array, &DataType::Utf8)?;
                        let text = text.as_string::<i32>();
                        (0..rows)
                            .map(|r| text.is_valid(r).then(|| parse_vector(text.value(r))))
                            .map(Option::transpose)
                            .collect::<Result<_>>()?
                    }
                    other => {
                        let v = Vectors::of("vector", other)?;
                        (0..rows).map(|r| v.row(r).map(<[f32]>::to_vec)).collect()
                    }
                };
                let mut list = ListBuilder::new(Float32Builder::new())
                    .with_field(Arc::new(Field::new("item", DataType::Float32, false)));
                for row in each {
                    match row {
                        Some(row) => {
                            list.values().append_slice(&row);
                            list.append(true);
                        }
                        None => list.append(false),
                    }
                }
                Arc::new(list.finish())
            }
            Kind::ToVector => {
                let DataType::FixedSizeList(_, dims) = args.return_field.data_type() else {
                    return Err(invalid("to_vector returns a vector".into()));
                };
                let v = Vectors::of("vector", &args.args[0])?;
                let dims = *dims as usize;
                let mut values = Vec::with_capacity(rows * dims);
                let mut valid = Vec::with_capacity(rows);
                for r in 0..rows {
                    match v.row(r) {
                        Some(row) if row.len() != dims => {
                            return Err(invalid(format!(
                                "expected {dims} dimensions, not {}",
                                row.len()
                            )));
                        }
                        Some(row) => {
                            values.extend_from_slice(row);
                            valid.push(true);
                        }
                        None => {
                            values.resize(values.len() + dims, 0.0);
                            valid.push(false);
                        }
                    }
                }
                let nulls = NullBuffer::from(valid);
                Arc::new(FixedSizeListArray::new(
                    Arc::new(Field::new("item", DataType::Float32, false)),
                    dims as i32,
                    Arc::new(Float32Array::from(values)),
                    (nulls.null_count() > 0).then_some(nulls),
                ))
            }
            distance => {
                let a = Vectors::of(name, &args.args[0])?;
                let b = Vectors::of(name, &args.args[1])?;
                Arc::new(distances(distance, &a, &b, rows)?)
            }
        };
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        if all_scalar && out.len() == 1 {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// Refuses, at planning, an argument no vector can be read from.
fn check_vector_type(name: &str, data_type: &DataType) -> Result<()> {
    let ok = match data_type {
        DataType::FixedSizeList(item, _) | DataType::List(item) | DataType::LargeList(item) => {
            item.data_type().is_numeric()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{name} takes vectors (a vector column, '[1,2,3]', ARRAY[1,2,3]), not {data_type}"
        )))
    }
}

/// The `N` of `vector(N)`.
fn declared_dims(n: &ScalarValue) -> Result<usize> {
    let text = n.to_string();
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_DIMENSIONS).contains(&n) => Ok(n),
        _ => Err(invalid(format!(
            "the dimension of vector(N) is from 1 to {MAX_DIMENSIONS}, not {text}"
        ))),
    }
}

/// pgvector's text form, `[1, 2.5, 3]`.
pub fn parse_vector(text: &str) -> Result<Vec<f32>> {
    let bad = || invalid(format!("invalid input syntax for type vector: {text:?}"));
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(bad)?;
    let mut out = Vec::new();
    for part in inner.split(',') {
        let x: f32 = part.trim().parse().map_err(|_| bad())?;
        if x.is_nan() {
            return Err(invalid("NaN not allowed in vector".into()));
        }
        if x.is_infinite() {
            return Err(invalid("infinite value not allowed in vector".into()));
        }
        out.push(x);
    }
    check_len(out.len())?;
    Ok(out)
}

fn check_len(n: usize) -> Result<()> {
    if n == 0 {
        return Err(invalid("vector must have at least 1 dimension".into()));
    }
    if n > MAX_DIMENSIONS {
        return Err(invalid(format!(
            "vector cannot have more than {MAX_DIMENSIONS} dimensions"
        )));
    }
    Ok(())
}

/// The vector a constant holds (`None` for null).
pub(crate) fn vector_of_scalar(value: &ScalarValue) -> Result<Option<Vec<f32>>> {
    match value {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
            v.as_deref().map(parse_vector).transpose()
        }
        ScalarValue::Null => Ok(None),
        other => {
            let array = other.to_array()?;
            let fixed = to_fixed(&array)?;
            Ok(fixed.and_then(|f| f.is_valid(0).then(|| row_of(&f, 0).to_vec())))
        }
    }
}

/// A function's vector argument, read once per batch.
enum Vectors {
    /// The same vector (or null) for every row.
    One(Option<Vec<f32>>),
    /// One per row, float32 components.
    Many(FixedSizeListArray),
    /// One per row, each of its own length (`x::vector` of text, no dimension given).
    Ragged(ListArray),
}

impl Vectors {
    fn of(name: &str, value: &ColumnarValue) -> Result<Vectors> {
        match value {
            ColumnarValue::Scalar(scalar) => Ok(Vectors::One(vector_of_scalar(scalar)?)),
            ColumnarValue::Array(array) if array.data_type() == &any_length_vector() => {
                Ok(Vectors::Ragged(array.as_list::<i32>().clone()))
            }
            ColumnarValue::Array(array) => match to_fixed(array)? {
                Some(fixed) => Ok(Vectors::Many(fixed)),
                None if array.logical_null_count() == array.len() => Ok(Vectors::One(None)),
                None => Err(invalid(format!(
                    "{name} takes vectors, not {}",
                    array.data_type()
                ))),
            },
        }
    }

    fn row(&self, r: usize) -> Option<&[f32]> {
        match self {
            Vectors::One(v) => v.as_deref(),
            Vectors::Many(list) => list.is_valid(r).then(|| row_of(list, r)),
            Vectors::Ragged(list) => list.is_valid(r).then(|| {
                let start = list.value_offsets()[r] as usize;
                let n = list.value_length(r) as usize;
                &list.values().as_primitive::<Float32Type>().values()[start..start + n]
            }),
        }
    }
}

fn row_of(list: &FixedSizeListArray, r: usize) -> &[f32] {
    let n = list.value_length() as usize;
    let start = list.value_offset(r) as usize;
    &list.values().as_primitive::<Float32Type>().values()[start..start + n]
}

/// Any array of vectors as a fixed-size list of float32 without null components; `None`
/// for an array that holds no vector at all (all null, or not of a vector type).
fn to_fixed(array: &ArrayRef) -> Result<Option<FixedSizeListArray>> {
    let float_list =
        |n: i32| DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), n);
    let fixed: ArrayRef = match array.data_type() {
        DataType::FixedSizeList(item, _) if item.data_type() == &DataType::Float32 => array.clone(),
        DataType::FixedSizeList(item, n) if item.data_type().is_numeric() => {
            cast(array, &float_list(*n))?
        }
        DataType::List(item) | DataType::LargeList(item) if item.data_type().is_numeric() => {
            let lengths: Vec<usize> = match array.data_type() {
                DataType::List(_) => {
                    let list = array.as_list::<i32>();
                    (0..list.len())
                        .filter(|&i| list.is_valid(i))
                        .map(|i| list.value_length(i) as usize)
                        .collect()
                }
                _ => {
                    let list = array.as_list::<i64>();
                    (0..list.len())
                        .filter(|&i| list.is_valid(i))
                        .map(|i| list.value_length(i) as usize)
                        .collect()
                }
            };
            let Some(&n) = lengths.first() else {
                return Ok(None);
            };
            if let Some(&other) = lengths.iter().find(|&&l| l != n) {
                return Err(invalid(format!(
                    "different vector dimensions {n} and {other}"
                )));
            }
            check_len(n)?;
            cast(array, &float_list(n as i32))?
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = cast(array, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            let Some(first) = (0..text.len()).find(|&i| text.is_valid(i)) else {
                return Ok(None);
            };
            let n = parse_vector(text.value(first))?.len();
            let mut flat: Vec<f32> = Vec::with_capacity(text.len() * n);
            for i in 0..text.len() {
                if text.is_null(i) {
                    flat.resize(flat.len() + n, 0.0);
                    continue;
                }
                let at = flat.len();
                flat.extend(parse_vector(text.value(i))?);
                if flat.len() - at != n {
                    return Err(invalid(format!(
                        "different vector dimensions {n} and {}",
                        flat.len() - at
                    )));
                }
            }
            Arc::new(FixedSizeListArray::new(
                Arc::new(Field::new("item", DataType::Float32, false)),
                n as i32,
                Arc::new(Float32Array::from(flat)),
                text.nulls().cloned(),
            ))
        }
        _ => return Ok(None),
    };
    // A vector column as ingest wrote it holds finite components only; any other array of
    // numbers is checked as pgvector checks its input: no null, NaN or infinite component
    // (a float64 past float32's range is infinite here) in a vector that is not null.
    let checked = matches!(array.data_type(),
        DataType::FixedSizeList(item, _) if item.data_type() == &DataType::Float32
            && !item.is_nullable());
    let fixed = fixed.as_fixed_size_list().clone();
    if !checked {
        let components = fixed.values().as_primitive::<Float32Type>();
        let n = fixed.value_length() as usize;
        for r in (0..fixed.len()).filter(|&r| fixed.is_valid(r)) {
            let start = fixed.value_offset(r) as usize;
            for i in start..start + n {
                if components.is_null(i) {
                    return Err(invalid("a vector has no null components".into()));
                }
                let x = components.value(i);
                if x.is_nan() {
                    return Err(invalid("NaN not allowed in vector".into()));
                }
                if x.is_infinite() {
                    return Err(invalid("infinite value not allowed in vector".into()));
                }
            }
        }
    }
    Ok(Some(fixed))
}

/// The distance of each row's pair of vectors.
fn distances(kind: Kind, a: &Vectors, b: &Vectors, rows: usize) -> Result<Float64Array> {
    use vectord::distance::{inner_product, l2_squared};
    // A constant side's norm once, not per row.
    let norm_of = |v: &Vectors| match v {
        Vectors::One(Some(v)) => Some(f64::from(inner_product(v, v))),
        _ => None,
    };
    let (norm_a, norm_b) = (norm_of(a), norm_of(b));
    let mut out = Vec::with_capacity(rows);
    for r in 0..rows {
        let (Some(x), Some(y)) = (a.row(r), b.row(r)) else {
            out.push(None);
            continue;
        };
        if x.len() != y.len() {
            return Err(invalid(format!(
                "different vector dimensions {} and {}",
                x.len(),
                y.len()
            )));
        }
        out.push(Some(match kind {
            Kind::L2 => f64::from(l2_squared(x, y)).sqrt(),
            Kind::Inner => f64::from(inner_product(x, y)),
            Kind::NegativeInner => -f64::from(inner_product(x, y)),
            _ => {
                let na = norm_a.unwrap_or_else(|| f64::from(inner_product(x, x)));
                let nb = norm_b.unwrap_or_else(|| f64::from(inner_product(y, y)));
                let similarity = f64::from(inner_product(x, y)) / (na * nb).sqrt();
                if similarity.is_nan() {
                    f64::NAN
                } else {
                    1.0 - similarity.clamp(-1.0, 1.0)
                }
            }
        }));
    }
    Ok(Float64Array::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_vectors_parse_as_pgvector_reads_them() {
        assert_eq!(parse_vector("[1, 2.5,-3e1 ]").unwrap(), [1.0, 2.5, -30.0]);
        assert_eq!(parse_vector(" [0] ").unwrap(), [0.0]);
        for bad in ["", "[]", "1,2", "[1,2", "[1,,2]", "[a]", "[[1]]"] {
            assert!(parse_vector(bad).is_err(), "{bad}");
        }
        assert!(
            parse_vector("[NaN]")
                .unwrap_err()
                .to_string()
                .contains("NaN not allowed")
        );
        assert!(
            parse_vector("[1e39]")
                .unwrap_err()
                .to_string()
                .contains("infinite")
        );
    }

    #[test]
    fn distances_match_their_definitions() {
        let a = Vectors::One(Some(vec![1.0, 0.0, 2.0]));
        let column = FixedSizeListArray::new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            3,
            Arc::new(Float32Array::from(vec![
                1.0, 0.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0,
            ])),
            Some(NullBuffer::from(vec![true, true, true])),
        );
        let b = Vectors::Many(column);
        let l2 = distances(Kind::L2, &a, &b, 3).unwrap();
        assert_eq!(l2.value(0), 0.0);
        assert!((l2.value(1) - (1.0f64 + 9.0 + 4.0).sqrt()).abs() < 1e-6);
        let inner = distances(Kind::Inner, &a, &b, 3).unwrap();
        assert_eq!((inner.value(0), inner.value(1)), (5.0, 8.0));
        let negative = distances(Kind::NegativeInner, &a, &b, 3).unwrap();
        assert_eq!(negative.value(1), -8.0);
        let cosine = distances(Kind::Cosine, &a, &b, 3).unwrap();
        assert!(cosine.value(0).abs() < 1e-6);
        assert!((cosine.value(1) - (1.0 - 8.0 / (5.0f64.sqrt() * 5.0))).abs() < 1e-6);
        // All zeros: no direction, NaN (pgvector's answer).
        assert!(cosine.value(2).is_nan());
        let short = Vectors::One(Some(vec![1.0, 2.0]));
        let Vectors::Many(column) = b else {
            unreachable!()
        };
        let err = distances(Kind::L2, &short, &Vectors::Many(column), 3).unwrap_err();
        assert!(
            err.to_string()
                .contains("different vector dimensions 2 and 3"),
            "{err}"
        );
    }
}
