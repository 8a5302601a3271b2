//! Small builders of SQL syntax the statement rewrites share (the PostgreSQL front end's
//! compatibility rewrites, pgvector's operators).

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
    ObjectName, Value,
};

/// `name(args...)`.
pub(crate) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// `NULL`.
pub(crate) fn null() -> Expr {
    Expr::value(Value::Null)
}

/// The expression, leaving `NULL` in its place.
pub(crate) fn take(expr: &mut Expr) -> Expr {
    std::mem::replace(expr, null())
}
