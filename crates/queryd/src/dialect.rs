//! How both front ends parse SQL: [`parse_statements`], with PostgreSQL's dialect changed
//! in two ways and every parse bounded in work.
//!
//! - **Named function arguments are identifiers** (`f(name => value)`), as in PostgreSQL
//!   itself. sqlparser's PostgreSQL dialect accepts any expression as the name, and parses
//!   every function argument twice to find out: once as a possible name, and again as the
//!   value when no `=>` follows. Nested calls that end in a syntax error thus cost 2ⁿ parses
//!   for n levels — a 145-byte query held a core for seconds before it was refused.
//! - **`<=>` binds as PostgreSQL's other operators** (pgvector's cosine distance), tighter
//!   than comparisons: `emb <=> q < 0.5` is `(emb <=> q) < 0.5`, as `<->` and `<#>` already
//!   were. sqlparser gives it the precedence of `=` (MySQL's null-safe equality).
//! - **Bounded work.** sqlparser retries other readings at many places (a keyword as a plain
//!   name, a word as a type name, `(` as a subquery), so nestings of such constructs that do
//!   not parse still cost 2ⁿ: 24 levels of `CAST(` took 56 s. The dialect counts the
//!   expressions the parser starts and refuses the parse past a budget proportional to the
//!   text ([`LakehouseDialect::BASE_FUEL`], [`LakehouseDialect::FUEL_PER_BYTE`]) or past
//!   [`LakehouseDialect::TIME_LIMIT`]. Runs of blanks and comments reach the parser as one
//!   token, since the parser steps over them one token at a time at every look-ahead.
//!
//! Everything else forwards to [`PostgreSqlDialect`], method by method: a `Dialect` method
//! not forwarded here would silently fall back to sqlparser's generic default. The list is
//! every method `PostgreSqlDialect` overrides in sqlparser 0.62; check it when sqlparser is
//! upgraded (the unit tests below parse one statement per forwarded behaviour).

use std::any::TypeId;
use std::cell::Cell;
use std::time::{Duration, Instant};

use std::collections::VecDeque;

use datafusion::common::DataFusionError;
use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::{QueryError, locate_at_end};

/// Parses `sql` into statements with [`LakehouseDialect`]; a parse the dialect stopped is
/// refused as [`QueryError::too_complex`].
pub fn parse_statements(sql: &str) -> Result<VecDeque<DFStatement>, QueryError> {
    let dialect = LakehouseDialect::for_sql(sql);
    let parsed = tokens(&dialect, sql).and_then(|tokens| {
        DFParserBuilder::new(tokens)
            .with_dialect(&dialect)
            .build()?
            .parse_statements()
    });
    // A stopped parse is refused even when the parser made something of it: some of its
    // retries swallow the refusal and take another reading.
    match (parsed, dialect.refused()) {
        (_, Some(why)) => Err(QueryError::too_complex(why)),
        (Ok(statements), None) => Ok(statements),
        (Err(e), None) => Err(locate_at_end(e.into(), sql)),
    }
}

/// `sql`'s tokens, each run of blanks and comments kept as its first token only.
fn tokens(dialect: &LakehouseDialect, sql: &str) -> Result<Vec<TokenWithSpan>, DataFusionError> {
    let mut tokens = Tokenizer::new(dialect, sql)
        .tokenize_with_location()
        .map_err(ParserError::from)?;
    tokens.dedup_by(|next, kept| {
        matches!(next.token, Token::Whitespace(_)) && matches!(kept.token, Token::Whitespace(_))
    });
    Ok(tokens)
}

/// PostgreSQL's dialect with identifier-only argument names, `<=>` at the precedence of
/// other operators, and a bound on parsing work (see the module documentation).
#[derive(Debug)]
pub struct LakehouseDialect {
    /// Expressions the parser may still start; [`LakehouseDialect::for_sql`] sets it.
    fuel: Cell<u64>,
    /// When parsing must have ended.
    deadline: Instant,
    refused: Cell<Option<Refused>>,
}

/// Why [`LakehouseDialect`] stopped a parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It started more expressions than its fuel allows.
    Fuel,
    /// It ran past [`LakehouseDialect::TIME_LIMIT`].
    Time,
}

impl LakehouseDialect {
    /// Expressions a query may start per byte of its text, beyond
    /// [`LakehouseDialect::BASE_FUEL`]. The TPC-H queries start 0.02–0.06 per byte, deep
    /// nestings that parse (20 levels of casts, calls, subqueries, `CASE`) at most 0.44.
    pub const FUEL_PER_BYTE: u64 = 2;
    /// Expressions any query may start: at about a microsecond each, a query that spends
    /// them all is refused in tens of milliseconds.
    pub const BASE_FUEL: u64 = 20_000;
    /// How long a parse may take. Fuel alone does not bound time: what the parser does
    /// between two expressions can read to the end of the text (a retry that reaches a
    /// megabyte of trailing blanks reads them all, blank by blank), so a long query could
    /// spend its fuel a thousand times slower. Parsing the largest request, 1 MiB of plain
    /// SQL, takes a fraction of this.
    pub const TIME_LIMIT: Duration = Duration::from_secs(2);

    /// The dialect for parsing `sql`: its work is bounded by the text's length.
    pub fn for_sql(sql: &str) -> Self {
        LakehouseDialect {
            fuel: Cell::new(Self::BASE_FUEL + Self::FUEL_PER_BYTE * sql.len() as u64),
            deadline: Instant::now() + Self::TIME_LIMIT,
            refused: Cell::new(None),
        }
    }

    /// Whether (and why) parsing was stopped: the error the parser returned is then whatever
    /// it made of the refusal, not a fault of the query's text.
    pub fn refused(&self) -> Option<Refused> {
        self.refused.get()
    }

    fn refuse(&self, why: Refused) -> Option<Result<Expr, ParserError>> {
        self.refused.set(Some(why));
        Some(Err(ParserError::RecursionLimitExceeded))
    }
}

const POSTGRES: PostgreSqlDialect = PostgreSqlDialect {};

macro_rules! forward {
    ($($name:ident),* $(,)?) => {
        $(fn $name(&self) -> bool {
            POSTGRES.$name()
        })*
    };
}

impl Dialect for LakehouseDialect {
    /// The parser's `dialect_of!(… is PostgreSqlDialect)` checks hold for this dialect.
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    fn supports_named_fn_args_with_expr_name(&self) -> bool {
        false
    }

    /// Counts every expression the parser starts, and refuses the rest once the fuel is
    /// spent or the time is up. `RecursionLimitExceeded` is the one error sqlparser's backtracking passes on
    /// rather than retrying another way; where it is swallowed anyway, the retry starts an
    /// expression and is refused at once.
    fn parse_prefix(&self, _parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        if let Some(why) = self.refused.get() {
            return self.refuse(why);
        }
        match self.fuel.get() {
            0 => self.refuse(Refused::Fuel),
            _ if Instant::now() > self.deadline => self.refuse(Refused::Time),
            left => {
                self.fuel.set(left - 1);
                None
            }
        }
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        match parser.peek_token_ref().token {
            Token::Spaceship => Some(Ok(self.prec_value(Precedence::PgOther))),
            _ => POSTGRES.get_next_precedence(parser),
        }
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        POSTGRES.identifier_quote_style(identifier)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        POSTGRES.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        POSTGRES.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        POSTGRES.is_identifier_part(ch)
    }

    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool {
        POSTGRES.is_reserved_for_identifier(kw)
    }

    fn is_custom_operator_part(&self, ch: char) -> bool {
        POSTGRES.is_custom_operator_part(ch)
    }

    fn prec_value(&self, prec: Precedence) -> u8 {
        POSTGRES.prec_value(prec)
    }

    forward!(
        supports_unicode_string_literal,
        supports_filter_during_aggregation,
        supports_group_by_expr,
        allow_extract_custom,
        allow_extract_single_quotes,
        supports_create_index_with_clause,
        supports_explain_with_utility_options,
        supports_listen_notify,
        supports_factorial_operator,
        supports_bitwise_shift_operators,
        supports_comment_on,
        supports_load_extension,
        supports_named_fn_args_with_colon_operator,
        supports_empty_projections,
        supports_nested_comments,
        supports_string_escape_constant,
        supports_numeric_literal_underscores,
        supports_array_typedef_with_brackets,
        supports_geometric_types,
        supports_set_names,
        supports_alter_column_type_using,
        supports_notnull_operator,
        supports_interval_options,
        supports_insert_table_alias,
        supports_create_table_like_parenthesized,
        supports_select_wildcard_with_alias,
        supports_comma_separated_trim,
        supports_xml_expressions,
        supports_comment_optimizer_hint,
    );
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, SelectItem, SetExpr, Statement};
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parse(sql: &str) -> Result<String, String> {
        parse_with(&LakehouseDialect::for_sql(sql), sql)
    }

    fn parse_with(dialect: &dyn Dialect, sql: &str) -> Result<String, String> {
        Parser::parse_sql(dialect, sql)
            .map(|statements| format!("{statements:?}"))
            .map_err(|e| e.to_string())
    }

    /// Statements that exercise what PostgreSQL's dialect changes from the generic one: each
    /// parses to the same tree under both dialects, so a method left unforwarded shows here.
    #[test]
    fn parses_as_postgres_does() {
        for sql in [
            r#"SELECT "Mixed Case", U&'d\0061t\+000061', E'a\nb' FROM t"#,
            "SELECT count(*) FILTER (WHERE x > 1) FROM t GROUP BY ROLLUP (a, b)",
            "SELECT EXTRACT('year' FROM d), EXTRACT(epoch FROM d) FROM t",
            "SELECT 5 !, 1 << 2, 8 >> 1, a ## b, a <-> b, a <#> b, a @> b FROM t",
            "SELECT 1_000_000, x::int[], a COLLATE \"C\", b ->> 'k' FROM t",
            "SELECT /* a /* nested */ comment */ 1",
            "SELECT x NOTNULL, y ISNULL FROM t",
            "SELECT a.* AS x, TRIM(BOTH 'x' FROM s), xml '<a/>' FROM t",
            "SELECT a ~ 'x', a ~* 'x', a !~ 'x', b ^ 2, c::text || d, e[1], f OPERATOR(pg_catalog.+) g",
            "SELECT INTERVAL '1 day', interval FROM t WHERE a BETWEEN 1 AND 2 AND b LIKE 'x%'",
            "EXPLAIN (ANALYZE, VERBOSE) SELECT 1",
            "SET NAMES 'UTF8'",
            "LISTEN chan",
            "SELECT FROM t",
        ] {
            let postgres = parse_with(&PostgreSqlDialect {}, sql);
            assert!(postgres.is_ok(), "{sql}: {postgres:?}");
            assert_eq!(parse(sql), postgres, "{sql}");
        }
    }

    /// The top operator of the first projection, and the operator of its right operand.
    fn operators(dialect: &dyn Dialect, sql: &str) -> (BinaryOperator, Option<BinaryOperator>) {
        let statement = Parser::parse_sql(dialect, sql).unwrap().remove(0);
        let Statement::Query(query) = statement else {
            panic!("{sql}")
        };
        let SetExpr::Select(select) = *query.body else {
            panic!("{sql}")
        };
        let SelectItem::UnnamedExpr(Expr::BinaryOp { op, right, .. }) = &select.projection[0]
        else {
            panic!("{sql}")
        };
        let inner = match &**right {
            Expr::BinaryOp { op, .. } => Some(op.clone()),
            _ => None,
        };
        (op.clone(), inner)
    }

    #[test]
    fn spaceship_binds_tighter_than_comparisons() {
        use BinaryOperator::{Gt, Spaceship};
        let ours = LakehouseDialect::for_sql("");
        assert_eq!(
            operators(&ours, "SELECT 0.5 > a <=> b"),
            (Gt, Some(Spaceship))
        );
        assert_eq!(
            operators(&PostgreSqlDialect {}, "SELECT 0.5 > a <=> b"),
            (Spaceship, None)
        );
        // `<->` already bound so under both.
        let ours = operators(&ours, "SELECT 0.5 > a <-> b");
        assert_eq!(
            ours,
            operators(&PostgreSqlDialect {}, "SELECT 0.5 > a <-> b")
        );
        assert_eq!(ours.0, Gt);
    }

    /// The query the `sql_readonly` fuzz target found, and nestings that doubled the parse
    /// time with every level before (in an optimised build: 24 levels of `N(` 53 s, of `CAST(`
    /// or `ARRAY[` 56 s, 20 of `POSITION(` 156 s). The first two are refused as syntax errors
    /// now; the others exhaust their budget and are refused in milliseconds.
    #[test]
    fn nestings_that_fail_are_refused_at_once() {
        let found = "SELeCT CAST( CASTTSELEC/ K(PON(N(N(N(-E.(SELECT+USESELEC/ K(PON(N(N(N(-E.(SE(\
                     N(N(-E.(SELECT+USESELEC/ K(PON(N(N(N(-E.(SELECT+USELEUP:\u{1b}nt0C6INYt88";
        let nest = |level: &str, n: usize| format!("SELECT {}-E.(SELECT+1", level.repeat(n));
        for (sql, exhausts) in [
            (found.to_string(), false),
            (nest("N(", 40), false),
            (nest("CAST(", 24), true),
            (nest("ARRAY[", 24), true),
            (nest("POSITION(", 20), true),
            (nest("(SELECT ", 40), false),
        ] {
            let dialect = LakehouseDialect::for_sql(&sql);
            let started = Instant::now();
            assert!(parse_with(&dialect, &sql).is_err(), "{sql}");
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{sql}: {:?}",
                started.elapsed()
            );
            assert_eq!(dialect.refused().is_some(), exhausts, "{sql}");
        }
    }

    /// Blanks and comments cost nothing however many there are: sqlparser steps over them
    /// one token at a time at every look-ahead, so before they were collapsed these took
    /// 2 s (the time limit), 1.3 ms per expression started.
    #[test]
    fn padding_does_not_slow_refusals() {
        let nest = format!("SELECT {}-E.(SELECT+1", "CAST(".repeat(30));
        for padding in [" ".repeat(200_000), "/**/ -- \n".repeat(20_000)] {
            let sql = format!("{nest}{padding}");
            let started = Instant::now();
            let refused = parse_statements(&sql).unwrap_err().to_string();
            assert!(refused.contains("too many retries"), "{refused}");
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "{:?}",
                started.elapsed()
            );
        }
        let sql = format!("SELECT{}1 /* a */ -- b\n", " ".repeat(10));
        assert_eq!(parse_statements(&sql).unwrap()[0].to_string(), "SELECT 1");
    }

    /// Deep nestings that parse stay far inside the budget.
    #[test]
    fn deep_queries_that_parse_are_not_refused() {
        for (open, close) in [
            ("(", ")"),
            ("CAST(", " AS int)"),
            ("f(", ")"),
            ("coalesce(a, ", ")"),
            ("CASE WHEN a THEN ", " END"),
            ("(SELECT ", ")"),
            ("POSITION('a' IN ", ")"),
            ("SUBSTRING(", " FROM 1 FOR 2)"),
        ] {
            let sql = format!("SELECT {}1{}", open.repeat(20), close.repeat(20));
            let dialect = LakehouseDialect::for_sql(&sql);
            assert!(parse_with(&dialect, &sql).is_ok(), "{sql}");
            let spent = LakehouseDialect::BASE_FUEL
                + LakehouseDialect::FUEL_PER_BYTE * sql.len() as u64
                - dialect.fuel.get();
            assert!(spent <= sql.len() as u64 / 2, "{sql}: {spent}");
        }
    }

    #[test]
    fn named_arguments_are_identifiers() {
        assert!(parse("SELECT f(a => 1)").unwrap().contains("Named"));
        assert!(parse("SELECT f(lower(a) => 1)").is_err());
    }
}
