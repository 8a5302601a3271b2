//! Splitting a simple-protocol query string into its statements at top-level `;`.
//!
//! A `;` inside a string (`'…'`, `E'…'` with backslash escapes, `$tag$…$tag$`), a quoted
//! identifier or a comment (`--`, nested `/* */`) does not end a statement. Pieces that
//! hold only whitespace and comments are dropped, as PostgreSQL skips them.

/// One statement of a query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    pub sql: &'a str,
    /// Characters before it in the query string (for error positions).
    pub offset: usize,
}

pub fn split(query: &str) -> Vec<Piece<'_>> {
    let bytes = query.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut significant = false;
    let mut i = 0;
    let mut push = |start: usize, end: usize, significant: bool| {
        if significant {
            pieces.push(Piece {
                sql: &query[start..end],
                offset: query[..start].chars().count(),
            });
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match b {
            b';' => {
                push(start, i, significant);
                start = i + 1;
                significant = false;
                i += 1;
            }
            b'-' if next == Some(b'-') => {
                i = bytes[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(bytes.len(), |p| i + p + 1);
            }
            b'/' if next == Some(b'*') => i = block_comment_end(bytes, i),
            _ if b.is_ascii_whitespace() => i += 1,
            b'\'' => {
                let escapes = i > 0
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && (i < 2 || !is_ident_byte(bytes[i - 2]));
                i = quoted_end(bytes, i, b'\'', escapes);
                significant = true;
            }
            b'"' => {
                i = quoted_end(bytes, i, b'"', false);
                significant = true;
            }
            b'$' => {
                i = dollar_quote_end(query, i).unwrap_or(i + 1);
                significant = true;
            }
            _ => {
                // Identifiers and keywords as a whole, so `e'` inside one is not `E'`.
                i += 1;
                if is_ident_byte(b) {
                    while i < bytes.len() && is_ident_byte(bytes[i]) {
                        i += 1;
                    }
                }
                significant = true;
            }
        }
    }
    push(start, bytes.len(), significant);
    pieces
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The index after a `/* … */` comment starting at `i`; comments nest.
fn block_comment_end(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The index after the quoted text opened by `quote` at `i` (a doubled quote is an
/// escaped quote; with `escapes`, so is a backslash-escaped one).
fn quoted_end(bytes: &[u8], mut i: usize, quote: u8, escapes: bool) -> usize {
    i += 1;
    while i < bytes.len() {
        if escapes && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The index after a `$tag$ … $tag$` string starting at `i`, or `None` when the `$` at
/// `i` does not open one (a `$1` parameter, say).
fn dollar_quote_end(query: &str, i: usize) -> Option<usize> {
    let rest = &query[i + 1..];
    let tag_len = rest.find('$')?;
    let tag = &rest[..tag_len];
    let valid = tag
        .chars()
        .next()
        .is_none_or(|c| c.is_alphabetic() || c == '_')
        && tag.chars().all(|c| c.is_alphanumeric() || c == '_');
    if !valid {
        return None;
    }
    let delimiter = &query[i..i + tag_len + 2];
    let body = i + delimiter.len();
    Some(
        query[body..]
            .find(delimiter)
            .map_or(query.len(), |p| body + p + delimiter.len()),
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sqls(query: &str) -> Vec<&str> {
        split(query).into_iter().map(|p| p.sql.trim()).collect()
    }

    #[test]
    fn splits_at_top_level_semicolons() {
        assert_eq!(
            sqls("SET extra_float_digits = 3; SELECT 1"),
            vec!["SET extra_float_digits = 3", "SELECT 1"]
        );
        assert_eq!(sqls("SELECT 1;;\n; -- done\n"), vec!["SELECT 1"]);
        assert_eq!(sqls(" ; /* nothing */ "), Vec::<&str>::new());
    }

    #[test]
    fn semicolons_inside_strings_and_comments_stay() {
        for query in [
            "SELECT 'a;b', \"c;d\" FROM t",
            "SELECT E'it\\'s;' AS x",
            "SELECT $$;$$, $tag$ ; $tag$",
            "SELECT 1 /* a; /* nested; */ b; */ + 1",
            "SELECT 1 -- trailing; comment\n+ 2",
            "SELECT 'it''s; fine'",
        ] {
            assert_eq!(sqls(query), vec![query], "{query}");
        }
        assert_eq!(sqls("SELECT $1; SELECT $2"), vec!["SELECT $1", "SELECT $2"]);
        assert_eq!(
            sqls("SELECT type'x'; SELECT 2"),
            vec!["SELECT type'x'", "SELECT 2"]
        );
    }

    #[test]
    fn offsets_count_characters() {
        let pieces = split("SELECT 'é'; SELECT 2");
        assert_eq!(pieces[1].offset, 11);
        assert_eq!(pieces[1].sql, " SELECT 2");
    }

    proptest! {
        #[test]
        fn never_panics_and_pieces_are_in_order(query in "[a-z'\"$;/*\\-\\\\E \n é]{0,40}") {
            let pieces = split(&query);
            let mut last = 0;
            for piece in pieces {
                prop_assert!(piece.offset >= last);
                last = piece.offset + piece.sql.chars().count();
                prop_assert!(last <= query.chars().count());
            }
        }
    }
}
