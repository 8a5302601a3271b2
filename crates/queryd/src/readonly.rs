//! The read-only rule: a query may read catalog datasets and nothing else.
//!
//! Checked on the parsed statement, before planning, so a refusal names what was refused:
//! any statement but a query, `SHOW`, `DESCRIBE` or `EXPLAIN` of one (`INSERT`, `CREATE
//! TABLE`, `COPY`, `SET`, `CREATE EXTERNAL TABLE`, ...); `SELECT ... INTO`; a file path or
//! URL used as a table (`FROM 'data.csv'`); a table function other than the row generators.
//! DataFusion's own `SQLOptions` (no DDL, DML or statements) check the plan again.

use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{Query, SetExpr, Statement, TableFactor, Visit, Visitor};

use crate::error::QueryError;

/// Table functions that only generate rows.
const ALLOWED_TABLE_FUNCTIONS: &[&str] = &["generate_series", "range", "vector_search"];

/// Refuses anything but a read of catalog datasets.
pub fn check(statement: &DFStatement) -> Result<(), QueryError> {
    match statement {
        DFStatement::Statement(inner) => check_sql(inner),
        DFStatement::Explain(explain) => check(&explain.statement),
        DFStatement::CreateExternalTable(_) => Err(refused("CREATE EXTERNAL TABLE", "")),
        DFStatement::CopyTo(_) => Err(refused("COPY", "")),
        DFStatement::Reset(_) => Err(refused("RESET", "")),
    }
}

fn check_sql(statement: &Statement) -> Result<(), QueryError> {
    match statement {
        Statement::Query(_)
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowVariable { .. }
        | Statement::ExplainTable { .. } => {}
        Statement::Explain { statement, .. } => return check_sql(statement),
        other => return Err(refused(&statement_kind(other), "")),
    }
    match statement.visit(&mut Relations) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn refused(kind: &str, detail: &str) -> QueryError {
    QueryError::ReadOnly {
        kind: kind.to_string(),
        detail: detail.to_string(),
    }
}

/// `CreateTable(..)` → `CREATE TABLE`: the statement's variant name, as SQL words.
pub fn statement_kind(statement: &Statement) -> String {
    let debug = format!("{statement:?}");
    let variant: String = debug
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let mut words = String::new();
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            words.push(' ');
        }
        words.push(c.to_ascii_uppercase());
    }
    words
}

/// Walks every query and table reference of a statement.
struct Relations;

impl Visitor for Relations {
    type Break = QueryError;

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<QueryError> {
        if let SetExpr::Select(select) = query.body.as_ref()
            && select.into.is_some()
        {
            return ControlFlow::Break(refused("SELECT INTO", "it creates a table"));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<QueryError> {
        match factor {
            TableFactor::Table { name, args, .. } => {
                let text = name.to_string();
                let last = name
                    .0
                    .last()
                    .and_then(|part| part.as_ident())
                    .map(|ident| ident.value.as_str())
                    .unwrap_or(text.as_str());
                if args.is_some() {
                    let function = last.to_ascii_lowercase();
                    if !ALLOWED_TABLE_FUNCTIONS.contains(&function.as_str()) {
                        return ControlFlow::Break(refused(
                            &format!("the table function {function}"),
                            "only generate_series, range and vector_search are available; tables are the catalog's datasets",
                        ));
                    }
                } else if looks_like_path(last) {
                    return ControlFlow::Break(refused(
                        "a file path or URL as a table",
                        &format!("{last:?}; tables are the catalog's datasets"),
                    ));
                }
            }
            TableFactor::TableFunction { .. } | TableFactor::Function { .. } => {
                return ControlFlow::Break(refused(
                    "a table function",
                    "tables are the catalog's datasets",
                ));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// A dataset name is `[A-Za-z_][A-Za-z0-9_]*` with an optional `@vN`; a path or URL has
/// a separator, a scheme or an extension.
fn looks_like_path(name: &str) -> bool {
    name.contains(['/', '\\', ':', '.', '~'])
}

#[cfg(test)]
mod tests {
    use datafusion::sql::parser::DFParser;

    use super::*;

    fn verdict(sql: &str) -> Result<(), String> {
        let mut statements = DFParser::parse_sql(sql).expect("parses");
        let statement = statements.pop_front().expect("one statement");
        check(&statement).map_err(|e| e.to_string())
    }

    #[test]
    fn queries_are_allowed() {
        for sql in [
            "SELECT 1",
            "SELECT * FROM trips WHERE x > 1",
            "WITH t AS (SELECT 1 AS a) SELECT * FROM t",
            "SELECT * FROM \"trips@v2\"",
            "SELECT * FROM generate_series(1, 10)",
            "EXPLAIN SELECT * FROM trips",
            "SHOW TABLES",
            "SHOW COLUMNS FROM trips",
            "DESCRIBE trips",
        ] {
            assert_eq!(verdict(sql), Ok(()), "{sql}");
        }
    }

    #[test]
    fn writes_and_file_reads_are_refused_by_kind() {
        for (sql, kind) in [
            ("INSERT INTO trips VALUES (1)", "INSERT"),
            ("UPDATE trips SET a = 1", "UPDATE"),
            ("DELETE FROM trips", "DELETE"),
            ("CREATE TABLE t (a INT)", "CREATE TABLE"),
            ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"),
            ("DROP TABLE trips", "DROP"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
            ("COPY trips TO '/tmp/x.csv'", "COPY"),
            (
                "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
                "CREATE EXTERNAL TABLE",
            ),
            ("SELECT * INTO t2 FROM trips", "SELECT INTO"),
            (
                "SELECT * FROM '/etc/passwd'",
                "a file path or URL as a table",
            ),
            (
                "SELECT * FROM \"s3://bucket/x.parquet\"",
                "a file path or URL as a table",
            ),
            (
                "SELECT * FROM read_parquet('/tmp/x.parquet')",
                "the table function read_parquet",
            ),
            ("EXPLAIN INSERT INTO trips VALUES (1)", "INSERT"),
            (
                "SELECT * FROM (SELECT * FROM 'x.csv') s",
                "a file path or URL as a table",
            ),
        ] {
            let message = verdict(sql).expect_err(sql);
            assert!(
                message.contains(&format!("{kind} is not allowed")),
                "{sql}: {message}"
            );
        }
    }
}
