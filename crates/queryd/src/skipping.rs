//! File skipping: which of a version's files a query's filters rule out, by the bounds and
//! null counts the table's log keeps for each file (`add.stats`) and by partition values —
//! decided at planning time, before any file's footer is read.
//!
//! Bounds are only ever used to rule a file out, so a bound wider than the data (a
//! timestamp kept to the millisecond, a cut text) costs a file read, never a row.

use std::collections::HashSet;
use std::sync::Arc;

use catalogd::DataFile;
use datafusion::arrow::array::{ArrayRef, BooleanArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::catalog::Session;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, DFSchema, DataFusionError, ScalarValue};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::conjunction;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;

/// What the log says of one file, per table column (in the table schema's order).
#[derive(Debug, Clone)]
pub struct FileBounds {
    min: Vec<Option<ScalarValue>>,
    max: Vec<Option<ScalarValue>>,
    nulls: Vec<Option<u64>>,
    rows: u64,
}

impl FileBounds {
    /// `schema` is the table's (file columns, then partition columns); `partition` holds
    /// the file's values of the partition columns, in order.
    pub fn new(schema: &SchemaRef, file: &DataFile, partition: &[ScalarValue]) -> FileBounds {
        let file_columns = schema.fields().len() - partition.len();
        let mut bounds = FileBounds {
            min: Vec::with_capacity(schema.fields().len()),
            max: Vec::with_capacity(schema.fields().len()),
            nulls: Vec::with_capacity(schema.fields().len()),
            rows: file.rows,
        };
        for field in &schema.fields()[..file_columns] {
            let name = field.name();
            let ty = field.data_type();
            bounds
                .min
                .push(file.stats.min.get(name).and_then(|v| scalar(v, ty, false)));
            bounds
                .max
                .push(file.stats.max.get(name).and_then(|v| scalar(v, ty, true)));
            bounds.nulls.push(file.stats.nulls.get(name).copied());
        }
        for value in partition {
            let known = (!value.is_null()).then(|| value.clone());
            bounds.min.push(known.clone());
            bounds.max.push(known);
            bounds
                .nulls
                .push(Some(if value.is_null() { file.rows } else { 0 }));
        }
        bounds
    }
}

/// A bound from the log as a value of the column's type; `None` when it is not one (an
/// unknown bound). A timestamp maximum is raised to the end of its millisecond: Delta
/// keeps milliseconds, and writers other than ours cut instead of rounding up.
fn scalar(value: &serde_json::Value, ty: &DataType, upper: bool) -> Option<ScalarValue> {
    match ty {
        DataType::Int64 => value.as_i64().map(|v| ScalarValue::Int64(Some(v))),
        DataType::Float64 => value.as_f64().map(|v| ScalarValue::Float64(Some(v))),
        DataType::Boolean => value.as_bool().map(|v| ScalarValue::Boolean(Some(v))),
        DataType::Utf8View => value
            .as_str()
            .map(|v| ScalarValue::Utf8View(Some(v.to_string()))),
        DataType::Date32 => ScalarValue::try_from_string(value.as_str()?.to_string(), ty).ok(),
        DataType::Timestamp(TimeUnit::Microsecond, None) => {
            let text = value.as_str()?;
            let text = text.strip_suffix('Z').unwrap_or(text);
            match ScalarValue::try_from_string(text.to_string(), ty).ok()? {
                ScalarValue::TimestampMicrosecond(Some(us), None) if upper => Some(
                    ScalarValue::TimestampMicrosecond(Some(us.saturating_add(999)), None),
                ),
                other => Some(other),
            }
        }
        _ => None,
    }
}

/// Which of `files` may hold rows passing every one of `filters` (`true`: keep). All
/// kept when the filters give nothing to prune by.
pub fn keep(
    state: &dyn Session,
    schema: &SchemaRef,
    filters: &[Expr],
    files: &[&FileBounds],
) -> Result<Vec<bool>, DataFusionError> {
    let all = vec![true; files.len()];
    let Some(filter) = conjunction(filters.iter().cloned()) else {
        return Ok(all);
    };
    let df_schema = DFSchema::try_from(schema.clone())?;
    let expr = match state.create_physical_expr(filter, &df_schema) {
        Ok(expr) => expr,
        Err(e) => {
            tracing::debug!(error = %e, "no file skipping for this filter");
            return Ok(all);
        }
    };
    // `None` when the filter gives nothing to prune by.
    let Some(predicate) = PruningPredicateBuilder::new()
        .with_file_schema(schema.clone())
        .with_max_in_list_size(state.config_options().execution.parquet.max_in_list_size)
        .build(expr)
    else {
        return Ok(all);
    };
    predicate.prune(&Containers {
        schema: schema.clone(),
        files,
    })
}

/// The files, as the containers a pruning predicate decides on.
struct Containers<'a> {
    schema: SchemaRef,
    files: &'a [&'a FileBounds],
}

impl Containers<'_> {
    fn bounds(
        &self,
        column: &Column,
        side: impl Fn(&FileBounds) -> &Vec<Option<ScalarValue>>,
    ) -> Option<ArrayRef> {
        let index = self.schema.index_of(column.name()).ok()?;
        let ty = self.schema.field(index).data_type();
        let values: Vec<&Option<ScalarValue>> =
            self.files.iter().map(|f| &side(f)[index]).collect();
        if values.iter().all(|v| v.is_none()) {
            return None;
        }
        let null = ScalarValue::try_from(ty).ok()?;
        ScalarValue::iter_to_array(
            values
                .into_iter()
                .map(|v| v.clone().unwrap_or_else(|| null.clone())),
        )
        .ok()
    }
}

impl PruningStatistics for Containers<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, |f| &f.min)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bounds(column, |f| &f.max)
    }

    fn num_containers(&self) -> usize {
        self.files.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let index = self.schema.index_of(column.name()).ok()?;
        let counts: UInt64Array = self.files.iter().map(|f| f.nulls[index]).collect();
        (counts.iter().any(|c| c.is_some())).then(|| Arc::new(counts) as ArrayRef)
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let rows: UInt64Array = self.files.iter().map(|f| Some(f.rows)).collect();
        Some(Arc::new(rows))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::prelude::{SessionContext, col, lit};

    fn file(min: serde_json::Value, max: serde_json::Value, nulls: serde_json::Value) -> DataFile {
        let mut file = DataFile::new("datasets/t/part.parquet", 10, 100);
        file.stats = catalogd::FileStats::from_delta(
            &serde_json::json!({"minValues": min, "maxValues": max, "nullCount": nulls}),
        );
        file
    }

    #[test]
    fn files_outside_a_filter_are_skipped() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("s", DataType::Utf8View, true),
            Field::new("year", DataType::Int64, true),
        ]));
        let files = [
            file(
                serde_json::json!({"n": 1, "t": "2020-01-01 00:00:00.000", "s": "a"}),
                serde_json::json!({"n": 5, "t": "2020-01-01 00:00:01.000", "s": "m"}),
                serde_json::json!({"n": 0, "s": 0}),
            ),
            file(
                serde_json::json!({"n": 6, "t": "2020-01-01T00:00:02Z"}),
                serde_json::json!({"n": 9, "t": "2020-01-01T00:00:02Z"}),
                serde_json::json!({"n": 0, "s": 10}),
            ),
            // No statistics: never skipped by them.
            file(
                serde_json::json!({}),
                serde_json::json!({}),
                serde_json::json!({}),
            ),
        ];
        let partitions = [
            vec![ScalarValue::Int64(Some(2020))],
            vec![ScalarValue::Int64(Some(2021))],
            vec![ScalarValue::Int64(None)],
        ];
        let bounds: Vec<FileBounds> = files
            .iter()
            .zip(&partitions)
            .map(|(f, p)| FileBounds::new(&schema, f, p))
            .collect();
        let refs: Vec<&FileBounds> = bounds.iter().collect();
        let ctx = SessionContext::new();
        let state = ctx.state();
        let kept = |filters: Vec<Expr>| keep(&state, &schema, &filters, &refs).unwrap();
        assert_eq!(kept(vec![col("n").gt(lit(5i64))]), [false, true, true]);
        assert_eq!(kept(vec![col("n").lt_eq(lit(5i64))]), [true, false, true]);
        assert_eq!(kept(vec![col("s").eq(lit("z"))]), [false, false, true]);
        assert_eq!(kept(vec![col("s").is_not_null()]), [true, false, true]);
        assert_eq!(
            kept(vec![col("year").eq(lit(2021i64))]),
            [false, true, false]
        );
        assert_eq!(kept(vec![col("year").is_null()]), [false, false, true]);
        // The maximum of a millisecond-cut timestamp covers the rest of its millisecond.
        let just_after = ScalarValue::TimestampMicrosecond(Some(1_577_836_802_000_500), None);
        assert_eq!(
            kept(vec![col("t").eq(Expr::Literal(just_after, None))]),
            [false, true, true]
        );
        assert_eq!(kept(vec![]), [true, true, true]);
    }
}
