//! Result column names as PostgreSQL gives them (its `FigureColname`): a column keeps its
//! name, a function call is named after the function (`count`, `version`), a cast after
//! its operand or else its type (`int4`), `CASE` is `case`, and anything else
//! `?column?`. DataFusion names such columns after the whole expression
//! (`count(*)`, `Int64(1) + Int64(2)`), which clients reading columns by name trip on.
//!
//! Names are figured from the statement as the client wrote it; only the names in the
//! row description change, never the plan.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName, Query,
    SelectItem, SetExpr, Statement, TableFactor, Value, Visit, Visitor,
};
use pgwire::api::Type;

/// The name of each result column, when the select list can be matched to the result
/// (no `*`); `None` otherwise.
pub fn column_names(statement: &DFStatement) -> Option<Vec<String>> {
    let DFStatement::Statement(inner) = statement else {
        return None;
    };
    let Statement::Query(query) = inner.as_ref() else {
        return None;
    };
    query_names(query)
}

/// The SELECT that names a query's columns: its body's, through parentheses and the left
/// side of set operations.
pub(crate) fn leftmost_select(query: &Query) -> Option<&datafusion::sql::sqlparser::ast::Select> {
    let mut body = query.body.as_ref();
    loop {
        match body {
            SetExpr::Query(q) => body = q.body.as_ref(),
            SetExpr::SetOperation { left, .. } => body = left.as_ref(),
            SetExpr::Select(select) => return Some(select),
            _ => return None,
        }
    }
}

fn query_names(query: &Query) -> Option<Vec<String>> {
    let select = leftmost_select(query)?;
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(expr) => Some(pg_name(expr)),
            _ => None,
        })
        .collect()
}

/// The name PostgreSQL gives a result column computed by `expr`.
pub fn pg_name(expr: &Expr) -> String {
    figure(expr).map_or_else(|| "?column?".to_string(), |(name, _)| name)
}

/// Gives every unnamed item of the top-level select lists an alias that is unique but
/// reads back as the item's PostgreSQL name ([`display_name`]): DataFusion refuses two
/// result columns of the same name (`SELECT n.oid, n.* ...`), PostgreSQL does not.
pub fn alias_duplicates(statement: &mut DFStatement) {
    let DFStatement::Statement(inner) = statement else {
        return;
    };
    let Statement::Query(query) = inner.as_mut() else {
        return;
    };
    alias_set(query.body.as_mut());
}

fn alias_set(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for (i, item) in select.projection.iter_mut().enumerate() {
                if let SelectItem::UnnamedExpr(expr) = item {
                    let alias = Ident::new(format!("{}{UNIQUE}{i}", pg_name(expr)));
                    let expr = std::mem::replace(expr, Expr::value(Value::Null));
                    *item = SelectItem::ExprWithAlias { expr, alias };
                }
            }
        }
        SetExpr::Query(query) => alias_set(query.body.as_mut()),
        SetExpr::SetOperation { left, right, .. } => {
            alias_set(left);
            alias_set(right);
        }
        _ => {}
    }
}

/// Separates a column's name from what makes it unique.
const UNIQUE: char = '\u{1f}';

/// A result column's name as the client sees it.
pub fn display_name(name: &str) -> &str {
    name.split(UNIQUE).next().unwrap_or(name)
}

/// A name and its strength: 2 for a real name (column, function), 1 for a fallback
/// (a type, `case`) that a cast's operand may override.
fn figure(expr: &Expr) -> Option<(String, u8)> {
    match expr {
        Expr::Identifier(id) => Some((id.value.clone(), 2)),
        Expr::CompoundIdentifier(ids) => Some((ids.last()?.value.clone(), 2)),
        Expr::Nested(inner) => figure(inner),
        Expr::Function(f) => {
            let name = last(&f.name)?;
            if name.eq_ignore_ascii_case("array")
                && matches!(f.args, FunctionArguments::Subquery(_))
            {
                return Some(("array".into(), 2));
            }
            Some((name.to_ascii_lowercase(), 2))
        }
        Expr::Cast {
            expr, data_type, ..
        } => match figure(expr) {
            Some((name, 2)) => Some((name, 2)),
            _ => Some((type_name(data_type)?, 1)),
        },
        Expr::Case { .. } => Some(("case".into(), 1)),
        Expr::Exists { .. } => Some(("exists".into(), 2)),
        Expr::Array(_) => Some(("array".into(), 2)),
        Expr::Subquery(query) => {
            let names = query_names(query)?;
            (names.len() == 1 && names[0] != "?column?").then(|| (names[0].clone(), 2))
        }
        Expr::Extract { .. } => Some(("extract".into(), 2)),
        Expr::Substring { .. } => Some(("substring".into(), 2)),
        Expr::Trim { .. } => Some(("btrim".into(), 2)),
        Expr::Position { .. } => Some(("position".into(), 2)),
        Expr::Overlay { .. } => Some(("overlay".into(), 2)),
        Expr::Ceil { .. } => Some(("ceil".into(), 2)),
        Expr::Floor { .. } => Some(("floor".into(), 2)),
        _ => None,
    }
}

fn last(name: &ObjectName) -> Option<String> {
    name.0.last()?.as_ident().map(|i| i.value.clone())
}

/// The types casts give parameters: `$1::int8` makes `$1` an int8, as PostgreSQL infers
/// (DataFusion leaves a cast placeholder untyped). Index 0 is `$1`.
pub fn parameter_casts(statement: &DFStatement) -> Vec<Option<Type>> {
    struct Casts(Vec<Option<Type>>);
    impl Casts {
        fn set(&mut self, index: usize, ty: Type) {
            if self.0.len() <= index {
                self.0.resize(index + 1, None);
            }
            self.0[index].get_or_insert(ty);
        }
    }
    impl Visitor for Casts {
        type Break = ();
        /// `vector_search(index, query, k, ...)`: a bare parameter as the query is a vector.
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name,
                args: Some(args),
                ..
            } = factor
                && name.to_string().eq_ignore_ascii_case("vector_search")
                && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(query))) = args.args.get(1)
                && let Some(index) = placeholder_index(query)
            {
                self.set(index, super::types::vector_type());
            }
            ControlFlow::Continue(())
        }

        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            // A bare parameter of a vector function (pgvector's operators and casts are
            // these functions by now) is a vector, as pgvector's operators make it.
            if let Expr::Function(function) = expr
                && crate::vector::takes_vectors(&function.name.to_string())
                && let FunctionArguments::List(list) = &function.args
            {
                for arg in &list.args {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(arg)) = arg
                        && let Some(index) = placeholder_index(arg)
                    {
                        self.set(index, super::types::vector_type());
                    }
                }
            }
            if let Expr::Cast {
                expr, data_type, ..
            } = expr
                && let Some(index) = placeholder_index(expr)
                && let Some(ty) = type_name(data_type).and_then(|n| pg_type_named(&n))
            {
                self.set(index, ty);
            }
            ControlFlow::Continue(())
        }
    }
    let mut casts = Casts(Vec::new());
    match statement {
        DFStatement::Statement(inner) => {
            let _ = inner.visit(&mut casts);
        }
        DFStatement::Explain(explain) => return parameter_casts(&explain.statement),
        _ => {}
    }
    casts.0
}

fn pg_type_named(name: &str) -> Option<Type> {
    Some(match name {
        "int2" => Type::INT2,
        "int4" => Type::INT4,
        "int8" => Type::INT8,
        "float4" => Type::FLOAT4,
        "float8" => Type::FLOAT8,
        "bool" => Type::BOOL,
        "text" => Type::TEXT,
        "varchar" => Type::VARCHAR,
        "numeric" => Type::NUMERIC,
        "date" => Type::DATE,
        "time" => Type::TIME,
        "timestamp" => Type::TIMESTAMP,
        "timestamptz" => Type::TIMESTAMPTZ,
        "bytea" => Type::BYTEA,
        "vector" => super::types::vector_type(),
        _ => return None,
    })
}

/// `n - 1` of a placeholder `$n`.
fn placeholder_index(expr: &Expr) -> Option<usize> {
    let Expr::Value(value) = expr else {
        return None;
    };
    let Value::Placeholder(name) = &value.value else {
        return None;
    };
    name.strip_prefix('$')?
        .parse::<usize>()
        .ok()
        .filter(|&n| n <= crate::engine::MAX_PARAMETERS)?
        .checked_sub(1)
}

/// PostgreSQL's internal name of a type as a cast names its column.
fn type_name(data_type: &DataType) -> Option<String> {
    Some(
        match data_type {
            DataType::SmallInt(_) | DataType::Int2(_) => "int2",
            DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => "int4",
            DataType::BigInt(_) | DataType::Int8(_) => "int8",
            DataType::Real | DataType::Float4 => "float4",
            DataType::DoublePrecision | DataType::Float8 | DataType::Double(_) => "float8",
            DataType::Float(_) => "float8",
            DataType::Bool | DataType::Boolean => "bool",
            DataType::Text => "text",
            DataType::Varchar(_) | DataType::CharacterVarying(_) | DataType::CharVarying(_) => {
                "varchar"
            }
            DataType::Char(_) | DataType::Character(_) => "bpchar",
            DataType::Numeric(_) | DataType::Decimal(_) | DataType::Dec(_) => "numeric",
            DataType::Date => "date",
            DataType::Time(..) => "time",
            DataType::Timestamp(_, tz) => {
                if matches!(
                    tz,
                    datafusion::sql::sqlparser::ast::TimezoneInfo::Tz
                        | datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone
                ) {
                    "timestamptz"
                } else {
                    "timestamp"
                }
            }
            DataType::Interval { .. } => "interval",
            DataType::Bytea => "bytea",
            DataType::Regclass => "regclass",
            DataType::JSON => "json",
            DataType::JSONB => "jsonb",
            DataType::Uuid => "uuid",
            DataType::Custom(name, _) => return last(name),
            _ => return None,
        }
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use crate::dialect::parse_statements;

    use super::*;

    fn names(sql: &str) -> Option<Vec<String>> {
        let statement = parse_statements(sql).unwrap().pop_front().unwrap();
        column_names(&statement)
    }

    #[test]
    fn like_postgres() {
        let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            names("SELECT version(), pg_catalog.current_database(), count(*), 1 + 2, 'x'"),
            strings(&[
                "version",
                "current_database",
                "count",
                "?column?",
                "?column?"
            ])
        );
        assert_eq!(
            names(
                "SELECT t.id, fare::text, 1::integer, CASE WHEN true THEN 1 END, sum(x)::bigint AS s FROM t"
            ),
            strings(&["id", "fare", "int4", "case", "s"])
        );
        assert_eq!(names("SELECT current_user"), strings(&["current_user"]));
        assert_eq!(names("SELECT * FROM t"), None);
        assert_eq!(names("SHOW TABLES"), None);
    }

    #[test]
    fn duplicates_get_unique_aliases_that_read_back() {
        let sql = "SELECT n.oid, n.*, count(*) FROM n";
        let mut statement = parse_statements(sql).unwrap().pop_front().unwrap();
        alias_duplicates(&mut statement);
        let DFStatement::Statement(inner) = &statement else {
            panic!("a statement");
        };
        let Statement::Query(query) = inner.as_ref() else {
            panic!("a query");
        };
        let SetExpr::Select(select) = query.body.as_ref() else {
            panic!("a select");
        };
        let aliases: Vec<String> = select
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(aliases.len(), 2);
        assert_ne!(aliases[0], "oid");
        assert_eq!(display_name(&aliases[0]), "oid");
        assert_eq!(display_name(&aliases[1]), "count");
    }
}
