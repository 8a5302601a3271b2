//! Rewrites that let DataFusion run what PostgreSQL clients send, applied to the parsed
//! statement before the read-only rule and planning.
//!
//! On every statement, PostgreSQL spellings DataFusion lacks become equivalents:
//! `OPERATOR(pg_catalog.~)` → `~`; `COLLATE x` is dropped (text compares bytewise);
//! `pg_catalog.f(...)` → `f(...)`; unqualified `pg_class` & co. → `pg_catalog.pg_class`
//! (PostgreSQL searches `pg_catalog` first); `current_user` → the session's user;
//! `current_schema` → `current_schema()`; casts to `regclass`, `regtype`,
//! `regnamespace`, `oid`, `name`, `"char"`, `character varying`, `json`, ... → functions
//! or types DataFusion has.
//!
//! On statements that read `pg_catalog`, subqueries DataFusion cannot plan (correlated,
//! not aggregated, the shape psql's `\d` uses) are replaced by their value when it is
//! known: a scalar subquery over a relation that is always empty here (`pg_attrdef`,
//! `pg_collation`, ...) is `NULL`, `EXISTS` over one is `false`, and `ARRAY(subquery)`
//! (only used for options and ACLs, which are all null here) is `NULL`.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    ArrayElemTypeDef, BinaryOperator, CastKind, CharacterLength, DataType, Expr, FunctionArguments,
    GroupByExpr, Ident, JoinOperator, ObjectName, ObjectNamePart, Query, SelectItem, SetExpr,
    SetOperator, Statement, TableFactor, TimezoneInfo, Value, Visit, VisitMut, Visitor, VisitorMut,
};

use super::catalog::defs;
use super::functions::regclass_oid;
use crate::ast::{call, null, take};

/// Applies every rewrite to `statement`; `user` is the session's user name.
pub fn rewrite(statement: &mut DFStatement, user: &str) {
    match statement {
        DFStatement::Statement(inner) => rewrite_sql(inner, user),
        DFStatement::Explain(explain) => rewrite(&mut explain.statement, user),
        _ => {}
    }
}

fn rewrite_sql(statement: &mut Statement, user: &str) {
    let _ = statement.visit(&mut Compat { user });
    if reads_catalog(statement) {
        let _ = statement.visit(&mut KnownSubqueries);
    }
}

/// Whether the statement names a `pg_catalog` relation (after qualification).
fn reads_catalog(statement: &Statement) -> bool {
    struct Finder(bool);
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
            if catalog_relation(name).is_some() {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(false);
    let _ = statement.visit(&mut finder);
    finder.0
}

fn part(part: &ObjectNamePart) -> Option<&str> {
    part.as_ident().map(|i| i.value.as_str())
}

/// The relation's name when `name` is `pg_catalog.x` for an emulated `x`.
fn catalog_relation(name: &ObjectName) -> Option<&str> {
    match name.0.as_slice() {
        [schema, table] if part(schema)?.eq_ignore_ascii_case("pg_catalog") => {
            let table = part(table)?;
            defs::relation(table).map(|_| table)
        }
        [catalog, schema, table]
            if part(schema)?.eq_ignore_ascii_case("pg_catalog") && part(catalog).is_some() =>
        {
            let table = part(table)?;
            defs::relation(table).map(|_| table)
        }
        _ => None,
    }
}

fn ident(name: &str) -> Ident {
    Ident::new(name)
}

struct Compat<'a> {
    user: &'a str,
}

impl VisitorMut for Compat<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, args, .. } = factor {
            if args.is_some() {
                // Table functions: `pg_catalog.generate_series(...)`.
                strip_catalog(name);
            } else if name.0.len() == 1
                && let Some(table) = part(&name.0[0])
                && defs::relation(table).is_some()
            {
                name.0
                    .insert(0, ObjectNamePart::Identifier(ident("pg_catalog")));
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::BinaryOp { op, .. } => {
                if let BinaryOperator::PGCustomBinaryOperator(path) = op
                    && let Some(plain) = plain_operator(path)
                {
                    *op = plain;
                }
            }
            Expr::Collate { expr: inner, .. } => *expr = take(inner),
            Expr::Identifier(id)
                if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("current_schema") =>
            {
                *expr = call("current_schema", vec![]);
            }
            Expr::Function(function) => {
                strip_catalog(&mut function.name);
                if matches!(function.args, FunctionArguments::None)
                    && function.name.0.len() == 1
                    && let Some(name) = part(&function.name.0[0])
                {
                    match name.to_ascii_lowercase().as_str() {
                        "current_user" | "session_user" | "user" | "current_role" => {
                            *expr = Expr::value(Value::SingleQuotedString(self.user.to_string()));
                        }
                        "current_catalog" => *expr = call("current_database", vec![]),
                        _ => {}
                    }
                }
            }
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } => {
                if let Some(replacement) = cast(inner, data_type) {
                    *expr = replacement;
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn strip_catalog(name: &mut ObjectName) {
    if name.0.len() == 2 && part(&name.0[0]).is_some_and(|s| s.eq_ignore_ascii_case("pg_catalog")) {
        name.0.remove(0);
    }
}

fn plain_operator(path: &[String]) -> Option<BinaryOperator> {
    let op = match path {
        [schema, op] if schema.eq_ignore_ascii_case("pg_catalog") => op.as_str(),
        [op] => op.as_str(),
        _ => return None,
    };
    Some(match op {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "~~" => BinaryOperator::PGLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "!~~*" => BinaryOperator::PGNotILikeMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        "<=" => BinaryOperator::LtEq,
        ">" => BinaryOperator::Gt,
        ">=" => BinaryOperator::GtEq,
        "||" => BinaryOperator::StringConcat,
        "+" => BinaryOperator::Plus,
        "-" => BinaryOperator::Minus,
        _ => return None,
    })
}

/// The replacement for `inner::data_type`, or `None` to keep the cast; a type DataFusion
/// lacks is replaced in place.
fn cast(inner: &mut Expr, data_type: &mut DataType) -> Option<Expr> {
    let name = match data_type {
        DataType::Regclass => "regclass".to_string(),
        DataType::Custom(name, _) => {
            strip_catalog(name);
            match name.0.as_slice() {
                [only] => part(only)?.to_ascii_lowercase(),
                _ => return None,
            }
        }
        DataType::CharacterVarying(_) | DataType::CharVarying(_) => {
            *data_type = DataType::Varchar(None);
            return None;
        }
        DataType::Character(_) | DataType::JSON | DataType::JSONB | DataType::Uuid => {
            *data_type = DataType::Text;
            return None;
        }
        DataType::Timestamp(Some(_), tz) => {
            *data_type = DataType::Timestamp(None, *tz);
            return None;
        }
        _ => return None,
    };
    let mut simple = |t: DataType| {
        *data_type = t;
        None
    };
    match name.as_str() {
        "regclass" => Some(match inner {
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) => match regclass_oid(s) {
                    Some(oid) => Expr::value(Value::Number(oid.to_string(), false)),
                    None => null(),
                },
                _ => call("regclass_name", vec![take(inner)]),
            },
            _ => call("regclass_name", vec![take(inner)]),
        }),
        "regtype" => Some(call("regtype_name", vec![take(inner)])),
        "regnamespace" => Some(call("regnamespace_name", vec![take(inner)])),
        "regproc" | "regprocedure" | "regoper" | "regoperator" | "regrole" | "regconfig" => {
            simple(DataType::Text)
        }
        "oid" | "xid" | "cid" | "regdictionary" => simple(DataType::BigInt(None)),
        "name" | "bpchar" | "char" | "citext" | "json" | "jsonb" | "uuid" | "aclitem" => {
            simple(DataType::Text)
        }
        "text" => simple(DataType::Text),
        "varchar" => simple(DataType::Varchar(None::<CharacterLength>)),
        "int2" | "smallint" => simple(DataType::SmallInt(None)),
        "int4" | "int" | "integer" => simple(DataType::Int(None)),
        "int8" | "bigint" => simple(DataType::BigInt(None)),
        "float4" | "real" => simple(DataType::Real),
        "float8" => simple(DataType::DoublePrecision),
        "bool" | "boolean" => simple(DataType::Boolean),
        "timestamptz" => simple(DataType::Timestamp(None, TimezoneInfo::Tz)),
        _ => None,
    }
}

/// Replaces subqueries whose value is known without running them.
struct KnownSubqueries;

impl VisitorMut for KnownSubqueries {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Subquery(query) if always_empty(query) => *expr = null(),
            Expr::Exists { subquery, negated } if always_empty(subquery) => {
                *expr = Expr::value(Value::Boolean(*negated));
            }
            Expr::Subquery(query) => aggregate_scalar(query),
            Expr::Function(function)
                if matches!(function.args, FunctionArguments::Subquery(_))
                    && function.name.0.len() == 1
                    && part(&function.name.0[0])
                        .is_some_and(|n| n.eq_ignore_ascii_case("array")) =>
            {
                // A null text[], so array_to_string & co. still plan.
                *expr = Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(null()),
                    data_type: DataType::Array(ArrayElemTypeDef::SquareBracket(
                        Box::new(DataType::Text),
                        None,
                    )),
                    array: false,
                    format: None,
                };
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Wraps the one value of a plain `(SELECT x FROM ... WHERE ...)` in `max(x)`:
/// DataFusion plans a correlated scalar subquery only when it is aggregated, and the
/// catalog's subqueries find at most one row, whose value `max` is.
fn aggregate_scalar(query: &mut Query) {
    const AGGREGATES: &[&str] = &[
        "count",
        "max",
        "min",
        "sum",
        "avg",
        "array_agg",
        "string_agg",
        "bool_and",
        "bool_or",
        "every",
    ];
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if grouped || select.distinct.is_some() || select.having.is_some() {
        return;
    }
    let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] =
        select.projection.as_mut_slice()
    else {
        return;
    };
    if let Expr::Function(f) = value
        && f.name
            .0
            .last()
            .and_then(part)
            .is_some_and(|n| AGGREGATES.iter().any(|a| a.eq_ignore_ascii_case(n)))
    {
        return;
    }
    *value = call("max", vec![take(value)]);
    query.order_by = None;
}

/// Whether `query` has no rows whatever the data: every row would have to come from a
/// relation that is always empty here.
pub fn always_empty(query: &Query) -> bool {
    set_empty(&query.body)
}

fn set_empty(body: &SetExpr) -> bool {
    match body {
        SetExpr::Select(select) => select.from.iter().any(|from| {
            factor_empty(&from.relation)
                || from.joins.iter().any(|join| {
                    factor_empty(&join.relation)
                        && matches!(
                            join.join_operator,
                            JoinOperator::Join(_)
                                | JoinOperator::Inner(_)
                                | JoinOperator::CrossJoin(_)
                                | JoinOperator::Semi(_)
                                | JoinOperator::LeftSemi(_)
                        )
                })
        }),
        SetExpr::Query(query) => always_empty(query),
        SetExpr::SetOperation {
            op, left, right, ..
        } => match op {
            SetOperator::Union => set_empty(left) && set_empty(right),
            SetOperator::Intersect => set_empty(left) || set_empty(right),
            SetOperator::Except | SetOperator::Minus => set_empty(left),
        },
        _ => false,
    }
}

fn factor_empty(factor: &TableFactor) -> bool {
    match factor {
        TableFactor::Table {
            name, args: None, ..
        } => catalog_relation(name).is_some_and(defs::is_empty_relation),
        TableFactor::Derived { subquery, .. } => always_empty(subquery),
        _ => false,
    }
}

/// Whether a statement is a query with no rows whatever the data ([`always_empty`]).
pub fn statement_always_empty(statement: &DFStatement) -> bool {
    match statement {
        DFStatement::Statement(inner) => match inner.as_ref() {
            Statement::Query(query) => always_empty(query),
            _ => false,
        },
        _ => false,
    }
}

/// The column names of a statement whose result is [`always_empty`], when they can be
/// told without planning it (no `*`).
pub fn empty_result_columns(statement: &DFStatement) -> Option<Vec<String>> {
    let DFStatement::Statement(inner) = statement else {
        return None;
    };
    let Statement::Query(query) = inner.as_ref() else {
        return None;
    };
    if !always_empty(query) {
        return None;
    }
    let select = super::names::leftmost_select(query)?;
    select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(expr) => Some(match expr {
                Expr::Identifier(id) => id.value.clone(),
                Expr::CompoundIdentifier(ids) => ids.last()?.value.clone(),
                Expr::Function(f) => f.name.0.last().and_then(part)?.to_string(),
                _ => "?column?".to_string(),
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::dialect::parse_statements;

    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = parse_statements(sql).unwrap().pop_front().unwrap();
        rewrite(&mut statement, "alice");
        statement.to_string()
    }

    #[test]
    fn psql_describe_constructs() {
        assert_eq!(
            rewritten(
                "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(trips)$' COLLATE pg_catalog.default"
            ),
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname ~ '^(trips)$'"
        );
        assert_eq!(
            rewritten("SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"),
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a"
        );
        assert_eq!(
            rewritten("SELECT c.reloftype::pg_catalog.regtype::pg_catalog.text FROM pg_class c"),
            "SELECT regtype_name(c.reloftype)::TEXT FROM pg_catalog.pg_class c"
        );
    }

    #[test]
    fn session_functions() {
        assert_eq!(
            rewritten("SELECT current_user, current_schema, current_catalog"),
            "SELECT 'alice', current_schema(), current_database()"
        );
    }

    #[test]
    fn subqueries_over_empty_relations_are_null() {
        assert_eq!(
            rewritten(
                "SELECT a.attname, (SELECT d.adbin FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid) FROM pg_catalog.pg_attribute a"
            ),
            "SELECT a.attname, NULL FROM pg_catalog.pg_attribute a"
        );
        assert_eq!(
            rewritten(
                "SELECT array_to_string(array(select x from unnest(c.reloptions) x), ', ') FROM pg_class c"
            ),
            "SELECT array_to_string(CAST(NULL AS TEXT[]), ', ') FROM pg_catalog.pg_class c"
        );
    }

    #[test]
    fn correlated_catalog_subqueries_are_aggregated() {
        assert_eq!(
            rewritten(
                "SELECT t.typname FROM pg_type t WHERE (SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid)"
            ),
            "SELECT t.typname FROM pg_catalog.pg_type t WHERE (SELECT max(c.relkind = 'c') FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)"
        );
    }

    #[test]
    fn user_queries_keep_their_subqueries() {
        let sql = "SELECT (SELECT max(x) FROM t) FROM u";
        assert_eq!(rewritten(sql), sql);
    }

    #[test]
    fn empty_results_are_recognised() {
        let parse = |sql: &str| parse_statements(sql).unwrap().pop_front().unwrap();
        assert_eq!(
            empty_result_columns(&parse(
                "SELECT pol.polname, pol.polpermissive AS p FROM pg_catalog.pg_policy pol WHERE pol.polrelid = '1'"
            )),
            Some(vec!["polname".to_string(), "p".to_string()])
        );
        assert_eq!(
            empty_result_columns(&parse(
                "SELECT c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid"
            )),
            None
        );
        assert_eq!(
            empty_result_columns(&parse(
                "SELECT c.relname FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i WHERE c.oid = i.inhparent"
            )),
            Some(vec!["relname".to_string()])
        );
    }
}
