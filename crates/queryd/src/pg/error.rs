//! Query errors as PostgreSQL `ErrorResponse`s: the SQLSTATE from
//! [`QueryError::sqlstate`], the message from its `Display`, and for a syntax error the
//! cursor position (a 1-based character offset into the query string the client sent).

use pgwire::error::{ErrorInfo, PgWireError};

use crate::error::QueryError;

/// An `ERROR` with `code` and `message`.
pub fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}

pub fn pg_error(e: &QueryError) -> PgWireError {
    let status = e.status();
    if status.is_server_error() {
        tracing::warn!(error = %e, "query failed");
    }
    user_error(e.sqlstate(), e.to_string())
}

/// As [`pg_error`], for `e` raised by the statement that starts `offset` characters into
/// the query string: a syntax error's line and column become a position in that string.
pub fn pg_error_in(e: &QueryError, statement: &str, offset: usize) -> PgWireError {
    let mut error = pg_error(e);
    if let (
        QueryError::Syntax {
            line: Some(line),
            column: Some(column),
            ..
        },
        PgWireError::UserError(info),
    ) = (e, &mut error)
        && let Some(at) = char_offset(statement, *line, *column)
    {
        info.position = Some((offset + at).to_string());
    }
    error
}

/// The 1-based character offset of 1-based (`line`, `column`) in `text`.
fn char_offset(text: &str, line: u64, column: u64) -> Option<usize> {
    let line = usize::try_from(line).ok()?.checked_sub(1)?;
    let column = usize::try_from(column).ok()?;
    let before: usize = text
        .split('\n')
        .take(line)
        .map(|l| l.chars().count() + 1)
        .sum();
    Some(before + column.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_across_lines() {
        assert_eq!(char_offset("SELECT FROM", 1, 8), Some(8));
        assert_eq!(char_offset("SELECT 'é',\nFROM x", 2, 1), Some(13));
        assert_eq!(char_offset("x", 0, 1), None);
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let e = QueryError::Syntax {
            message: "Expected: an expression, found: FROM at Line: 1, Column: 8".into(),
            line: Some(1),
            column: Some(8),
        };
        let PgWireError::UserError(info) = pg_error_in(&e, "SELECT FROM", 10) else {
            panic!("a user error");
        };
        assert_eq!(info.code, "42601");
        assert_eq!(info.position.as_deref(), Some("18"));
    }
}
