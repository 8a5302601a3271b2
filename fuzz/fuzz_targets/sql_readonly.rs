//! The read-only rule on arbitrary SQL text, as `POST /v1/sql` and the PostgreSQL front end
//! apply it (`QueryEngine::parse`: PostgreSQL dialect, one statement, `readonly::check`),
//! against DataFusion's own verdict:
//!
//! - a statement the rule lets through never plans into DDL, DML or a statement that
//!   DataFusion's read-only `SQLOptions` refuse — the rule is the first line, and must
//!   not rely on the second;
//! - the simple protocol's statement splitter cuts a query string where the SQL parser
//!   does, whenever every piece parses alone;
//! - a statement the PostgreSQL front end answers itself (`SET`, `BEGIN`, `SHOW`, ...)
//!   is never a query;
//! - nothing panics, in the rule, the parser or the planner.
//!
//! The engine reads a catalog in an empty local directory: every table is unknown, so
//! planning stops at the first table, but every statement kind reaches the planner.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement;
use libfuzzer_sys::fuzz_target;
use queryd::fuzzing::{compat, statements};
use queryd::{QueryEngine, QueryError, QueryOptions};

struct Fixture {
    engine: QueryEngine,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let backend = Arc::new(storaged::ObjectStoreBackend::local(dir.path()).expect("a store"));
        let catalog = Arc::new(catalogd::StoreCatalog::new(backend.clone(), 3));
        let options = QueryOptions {
            timeout: Duration::from_secs(10),
            target_partitions: 1,
            ..QueryOptions::default()
        };
        let mut engine =
            QueryEngine::new(catalog, backend.object_store(), options).expect("an engine");
        queryd::pg::install(&mut engine).expect("pg_catalog");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        Fixture {
            engine,
            runtime,
            _dir: dir,
        }
    })
}

/// What DataFusion's read-only `SQLOptions::verify_plan` says when it refuses a plan.
const REFUSED_BY_DATAFUSION: [&str; 3] = [
    "DDL not supported",
    "DML not supported",
    "Statement not supported",
];

fn parse(sql: &str) -> Option<Vec<DFStatement>> {
    queryd::dialect::parse_statements(sql).ok().map(Vec::from)
}

fn is_query(statement: &DFStatement) -> bool {
    matches!(statement, DFStatement::Statement(s) if matches!(**s, Statement::Query(_)))
}

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    if let Ok(statement) = f.engine.parse(sql) {
        let text = statement.to_string();
        if let Err(QueryError::Invalid(message)) =
            f.runtime.block_on(f.engine.plan_statement(statement))
        {
            // (Its messages start so; other planning errors start with their own words,
            // and may hold the query's text further on.)
            assert!(
                !REFUSED_BY_DATAFUSION.iter().any(|m| message.starts_with(m)),
                "the read-only rule let through what DataFusion refuses: {text}: {message}"
            );
        }
    }

    let Some(statements) = parse(sql) else {
        return;
    };
    let pieces = statements::split(sql);
    let alone: Option<Vec<DFStatement>> = pieces
        .iter()
        .map(|p| {
            parse(p.sql)
                .filter(|s| s.len() == 1)
                .and_then(|mut s| s.pop())
        })
        .collect();
    if let Some(alone) = alone {
        assert_eq!(
            alone.len(),
            statements.len(),
            "the splitter found {:?}, the parser {} statements",
            pieces.iter().map(|p| p.sql).collect::<Vec<_>>(),
            statements.len()
        );
        for (piece, statement) in pieces.iter().zip(&alone) {
            if compat::classify(piece.sql).is_some() {
                assert!(
                    !is_query(statement),
                    "{:?} answered as a local command",
                    piece.sql
                );
            }
        }
    }
});
