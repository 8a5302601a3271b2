//! A number written with an exponent (`1e99`, `2.5E-3`) is a double, as in DuckDB.
//!
//! A number with a decimal point and no exponent stays an exact decimal (engine.rs:
//! `parse_float_as_decimal`), and an integer an integer. DataFusion alone would type `1e99`
//! as `decimal(1,-99)`, and Arrow and DataFusion compute decimal precision and scale in
//! `i8`: a scale that negative overflows them (the `sql_readonly` fuzz target found two such
//! panics, in type coercion and in decimal subtraction; release builds wrap and fail with a
//! puzzling error). A negative scale written out (`CAST(x AS DECIMAL(10,-2))`) is still
//! accepted, as in PostgreSQL; Cargo.toml keeps the test builds' arithmetic on the extreme
//! ones (`DECIMAL(76,-76)`) the same as release's.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlType, Expr as SqlExpr, Value, ValueWithSpan, visit_expressions_mut,
};

/// Rewrites every number literal with an exponent into `CAST('…' AS DOUBLE PRECISION)`.
pub(crate) fn scientific_as_double(statement: &mut DFStatement) {
    match statement {
        DFStatement::Statement(inner) => {
            let _ = visit_expressions_mut(inner.as_mut(), |expr| {
                rewrite(expr);
                ControlFlow::<()>::Continue(())
            });
        }
        DFStatement::Explain(explain) => scientific_as_double(&mut explain.statement),
        // Refused by the read-only rule.
        DFStatement::CreateExternalTable(_) | DFStatement::CopyTo(_) | DFStatement::Reset(_) => {}
    }
}

fn rewrite(expr: &mut SqlExpr) {
    let SqlExpr::Value(ValueWithSpan {
        value: Value::Number(text, _),
        span,
    }) = expr
    else {
        return;
    };
    if !text.contains(['e', 'E']) {
        return;
    }
    // The dialect allows `1_000e3`; Arrow's float parser does not. Out of a double's range
    // (`1e309`), the literal is left to DataFusion, which refuses it by its decimal scale.
    let digits = text.replace('_', "");
    if !digits.parse::<f64>().is_ok_and(f64::is_finite) {
        return;
    }
    *text = digits;
    let text = std::mem::take(text);
    let span = *span;
    *expr = SqlExpr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(SqlExpr::Value(ValueWithSpan {
            value: Value::SingleQuotedString(text),
            span,
        })),
        data_type: SqlType::DoublePrecision,
        array: false,
        format: None,
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::Array;
    use datafusion::arrow::datatypes::DataType;
    use futures::TryStreamExt;

    use crate::{QueryEngine, QueryError, QueryOptions};

    fn engine() -> (QueryEngine, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let backend = Arc::new(storaged::ObjectStoreBackend::local(dir.path()).unwrap());
        let catalog = Arc::new(catalogd::StoreCatalog::new(backend.clone(), 3));
        let engine =
            QueryEngine::new(catalog, backend.object_store(), QueryOptions::default()).unwrap();
        (engine, dir)
    }

    /// The single value `sql` answers, with its type.
    async fn value(sql: &str) -> Result<(DataType, String), QueryError> {
        let (engine, _dir) = engine();
        let query = engine.plan(sql).await?;
        let batches: Vec<_> = query.execute().await?.try_collect().await?;
        let column = batches[0].column(0);
        let text = datafusion::arrow::util::display::array_value_to_string(column, 0).unwrap();
        Ok((column.data_type().clone(), text))
    }

    #[tokio::test]
    async fn a_number_with_an_exponent_is_a_double() {
        for (sql, want) in [
            ("SELECT 1e99", "1e99"),
            ("SELECT 2.5E-3", "0.0025"),
            ("SELECT -1.5e2", "-150.0"),
            ("SELECT 1e3 + 0.5", "1000.5"),
            ("SELECT 1_000e-3", "1.0"),
        ] {
            let (data_type, text) = value(sql).await.unwrap();
            assert_eq!(
                (data_type, text.as_str()),
                (DataType::Float64, want),
                "{sql}"
            );
        }
    }

    #[tokio::test]
    async fn a_number_past_a_double_is_refused() {
        let error = value("SELECT 1e309").await.unwrap_err().to_string();
        assert!(error.contains("scale"), "{error}");
    }

    #[tokio::test]
    async fn numbers_without_an_exponent_keep_their_types() {
        assert_eq!(
            value("SELECT 0.06 + 0.01").await.unwrap(),
            (DataType::Decimal128(3, 2), "0.07".to_string())
        );
        assert_eq!(
            value("SELECT 12").await.unwrap(),
            (DataType::Int64, "12".to_string())
        );
    }

    #[tokio::test]
    async fn the_fuzz_findings_fail_without_a_panic() {
        // Found by the sql_readonly fuzz target: as decimals with scale -99 these
        // overflowed i8 arithmetic in DataFusion's type coercion and Arrow's subtraction.
        for sql in [
            "SELECT 3*77999999=92841043*779999999999E99",
            "SELECT 3*77999999=92841-43*779999999999E99",
        ] {
            let (data_type, text) = value(sql).await.unwrap();
            assert_eq!(
                (data_type, text.as_str()),
                (DataType::Boolean, "false"),
                "{sql}"
            );
        }
    }

    #[tokio::test]
    async fn a_negative_scale_written_out_works_or_fails_without_a_panic() {
        assert_eq!(
            value("SELECT CAST(1234 AS DECIMAL(10,-2))").await.unwrap(),
            (DataType::Decimal128(10, -2), "1200".to_string())
        );
        let sql = "SELECT CAST(1 AS DECIMAL(76,-76)) - CAST(1 AS DECIMAL(76,76))";
        assert!(value(sql).await.is_err(), "{sql}");
    }
}
