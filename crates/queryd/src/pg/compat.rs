//! The statements clients send that are not queries: session settings (`SET`, `RESET`,
//! `SHOW`, `DISCARD`), transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`, savepoints)
//! and `DEALLOCATE`. They are answered here, before the engine — which refuses `SET` —
//! because drivers and BI tools send them on every connection.
//!
//! None of them changes what a query does: a `SET` is remembered for the session's own
//! `SHOW` and otherwise ignored (results are always UTF-8, ISO dates, UTC), and a
//! transaction is a no-op around read-only queries that each see the latest data.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::engine::QueryOptions;

/// What clients see as the server's version (`server_version`, `version()`); psql and
/// drivers parse the leading `major.minor`.
pub const SERVER_VERSION: &str = "16.0 (lakehouse)";
pub const SERVER_VERSION_NUM: &str = "160000";

/// A setting `SHOW` knows: canonical name, value, description.
pub type Setting = (&'static str, String, &'static str);

/// The server's settings as `SHOW` reports them before any `SET`.
pub fn defaults(options: &QueryOptions) -> Vec<Setting> {
    let timeout = if options.timeout.is_zero() {
        "0".to_string()
    } else {
        format!("{}ms", options.timeout.as_millis())
    };
    let s = |v: &str| v.to_string();
    vec![
        ("application_name", s(""), "Sets the application name."),
        (
            "bytea_output",
            s("hex"),
            "Sets the output format for bytea.",
        ),
        (
            "client_encoding",
            s("UTF8"),
            "Sets the client's character set encoding.",
        ),
        (
            "DateStyle",
            s("ISO, MDY"),
            "Sets the display format for date and time values.",
        ),
        (
            "default_transaction_isolation",
            s("read committed"),
            "Sets the transaction isolation level of each new transaction.",
        ),
        (
            "default_transaction_read_only",
            s("on"),
            "Sets the default read-only status of new transactions.",
        ),
        (
            "extra_float_digits",
            s("1"),
            "Sets the number of digits displayed for floating-point values.",
        ),
        (
            "integer_datetimes",
            s("on"),
            "Shows whether datetimes are integer based.",
        ),
        (
            "IntervalStyle",
            s("postgres"),
            "Sets the display format for interval values.",
        ),
        (
            "is_superuser",
            s("off"),
            "Shows whether the current user is a superuser.",
        ),
        (
            "lc_collate",
            s("C.UTF-8"),
            "Shows the collation order locale.",
        ),
        (
            "lc_ctype",
            s("C.UTF-8"),
            "Shows the character classification and case conversion locale.",
        ),
        (
            "max_identifier_length",
            s("63"),
            "Shows the maximum identifier length.",
        ),
        (
            "search_path",
            s("\"$user\", public"),
            "Sets the schema search order for names that are not schema-qualified.",
        ),
        (
            "server_encoding",
            s("UTF8"),
            "Shows the server (database) character set encoding.",
        ),
        (
            "server_version",
            s(SERVER_VERSION),
            "Shows the server version.",
        ),
        (
            "server_version_num",
            s(SERVER_VERSION_NUM),
            "Shows the server version as an integer.",
        ),
        (
            "standard_conforming_strings",
            s("on"),
            "Causes '...' strings to treat backslashes literally.",
        ),
        (
            "statement_timeout",
            timeout,
            "The query timeout ([queryd] query_timeout).",
        ),
        (
            "TimeZone",
            s("UTC"),
            "Sets the time zone for displaying and interpreting time stamps.",
        ),
        (
            "transaction_isolation",
            s("read committed"),
            "Sets the current transaction's isolation level.",
        ),
        (
            "transaction_read_only",
            s("on"),
            "Sets the current transaction's read-only status.",
        ),
    ]
}

/// One connection's `SET` values, by lower-case name.
#[derive(Debug, Default)]
pub struct Session {
    values: Mutex<BTreeMap<String, String>>,
}

impl Session {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, String>) -> T) -> T {
        f(&mut self.values.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set(&self, name: &str, value: &str) {
        self.with(|v| v.insert(name.to_ascii_lowercase(), value.to_string()));
    }

    pub fn reset(&self, name: Option<&str>) {
        self.with(|v| match name {
            Some(name) => {
                v.remove(&name.to_ascii_lowercase());
            }
            None => v.clear(),
        });
    }

    /// `SHOW name`: the session's value, else the default; `None` for a name neither
    /// knows. The name comes back in its canonical spelling (the result's column name).
    pub fn show(&self, name: &str, defaults: &[Setting]) -> Option<(String, String)> {
        let lower = name.to_ascii_lowercase();
        let known = defaults.iter().find(|(n, ..)| n.eq_ignore_ascii_case(name));
        let canonical = known.map_or_else(|| lower.clone(), |(n, ..)| n.to_string());
        match self.with(|v| v.get(&lower).cloned()) {
            Some(value) => Some((canonical, value)),
            None => known.map(|(_, value, _)| (canonical, value.clone())),
        }
    }

    /// `SHOW ALL`: every setting with the session's values applied.
    pub fn all(&self, defaults: &[Setting]) -> Vec<(String, String, String)> {
        defaults
            .iter()
            .map(|(name, value, description)| {
                let value = self
                    .with(|v| v.get(&name.to_ascii_lowercase()).cloned())
                    .unwrap_or_else(|| value.clone());
                (name.to_string(), value, description.to_string())
            })
            .collect()
    }
}

/// A statement answered without the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local {
    /// `SET name = value`; `name` is `None` for forms with nothing to `SHOW` later
    /// (`SET TRANSACTION ...`, `SET ROLE ...`).
    Set {
        name: Option<String>,
        value: Option<String>,
    },
    /// `RESET name` / `RESET ALL` (`None`).
    Reset(Option<String>),
    /// `DISCARD ALL|PLANS|SEQUENCES|TEMP`: the command tag.
    Discard(String),
    /// `BEGIN` / `START TRANSACTION`: the command tag.
    Begin(&'static str),
    Commit,
    Rollback,
    /// `SAVEPOINT`, `RELEASE`, `ROLLBACK TO`: the command tag.
    Savepoint(&'static str),
    /// `DEALLOCATE name` / `DEALLOCATE ALL` (`None`).
    Deallocate(Option<String>),
    Unlisten,
    /// `SHOW name` (`all` for every setting).
    Show(String),
}

impl Local {
    /// The command tag PostgreSQL completes it with.
    pub fn tag(&self) -> String {
        match self {
            Local::Set { .. } => "SET".into(),
            Local::Reset(_) => "RESET".into(),
            Local::Discard(tag) => tag.clone(),
            Local::Begin(tag) | Local::Savepoint(tag) => (*tag).into(),
            Local::Commit => "COMMIT".into(),
            Local::Rollback => "ROLLBACK".into(),
            Local::Deallocate(None) => "DEALLOCATE ALL".into(),
            Local::Deallocate(Some(_)) => "DEALLOCATE".into(),
            Local::Unlisten => "UNLISTEN".into(),
            Local::Show(_) => "SHOW".into(),
        }
    }
}

/// A lexical token of a statement's head: a lower-cased word, a quoted string's
/// contents, or one punctuation character.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Text(String),
    Symbol(char),
}

fn tokens(sql: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '-' && sql_starts_comment(&chars) {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
        } else if c == '/' && block_comment_start(&chars) {
            let mut previous = ' ';
            chars.next();
            chars.next();
            for c in chars.by_ref() {
                if previous == '*' && c == '/' {
                    break;
                }
                previous = c;
            }
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut text = String::new();
            while let Some(d) = chars.next() {
                if d == c {
                    if chars.peek() == Some(&c) {
                        chars.next();
                        text.push(c);
                    } else {
                        break;
                    }
                } else {
                    text.push(d);
                }
            }
            out.push(if c == '"' {
                Token::Word(text)
            } else {
                Token::Text(text)
            });
        } else if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' || c == '+' {
            let mut word = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_alphanumeric() || matches!(d, '_' | '.' | '$' | '-' | '+') {
                    word.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token::Word(word.to_lowercase()));
        } else {
            out.push(Token::Symbol(c));
            chars.next();
        }
    }
    out
}

fn sql_starts_comment(chars: &std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut ahead = chars.clone();
    ahead.next();
    ahead.peek() == Some(&'-')
}

fn block_comment_start(chars: &std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut ahead = chars.clone();
    ahead.next();
    ahead.peek() == Some(&'*')
}

fn word(token: Option<&Token>) -> Option<&str> {
    match token {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    }
}

/// The statement's local meaning, or `None` when it is for the engine.
pub fn classify(sql: &str) -> Option<Local> {
    let tokens = tokens(sql);
    let words: Vec<Option<&str>> = tokens.iter().map(|t| word(Some(t))).collect();
    let first = words.first().copied().flatten()?;
    let second = words.get(1).copied().flatten();
    Some(match first {
        "set" => set(&tokens[1..]),
        "reset" => match second? {
            "all" => Local::Reset(None),
            "time" => Local::Reset(Some("TimeZone".into())),
            name => Local::Reset(Some(name.to_string())),
        },
        "discard" => Local::Discard(format!("DISCARD {}", second?.to_uppercase())),
        "begin" => Local::Begin("BEGIN"),
        "start" if second == Some("transaction") => Local::Begin("START TRANSACTION"),
        "commit" | "end" => Local::Commit,
        "rollback" | "abort" if second == Some("to") => Local::Savepoint("ROLLBACK"),
        "rollback" | "abort" => Local::Rollback,
        "savepoint" => Local::Savepoint("SAVEPOINT"),
        "release" => Local::Savepoint("RELEASE"),
        "unlisten" => Local::Unlisten,
        "deallocate" => {
            let name = match second? {
                "prepare" => words.get(2).copied().flatten()?,
                name => name,
            };
            Local::Deallocate((name != "all").then(|| name.to_string()))
        }
        "show" => Local::Show(match (second?, words.get(2).copied().flatten()) {
            ("time", Some("zone")) => "TimeZone".into(),
            ("transaction", Some("isolation")) => "transaction_isolation".into(),
            (name, _) => name.to_string(),
        }),
        _ => return None,
    })
}

/// `SET [SESSION | LOCAL] name {TO | =} value [, ...]` and its special forms.
fn set(tokens: &[Token]) -> Local {
    let mut rest = tokens;
    if matches!(word(rest.first()), Some("session" | "local"))
        && !matches!(word(rest.get(1)), Some("to") | None)
        && rest.get(1) != Some(&Token::Symbol('='))
    {
        rest = &rest[1..];
    }
    let value = |tokens: &[Token]| -> Option<String> {
        let parts: Vec<String> = tokens
            .iter()
            .filter_map(|t| match t {
                Token::Word(w) | Token::Text(w) => Some(w.clone()),
                Token::Symbol(_) => None,
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    };
    let named = |name: &str, tokens: &[Token]| Local::Set {
        name: Some(name.to_string()),
        value: value(tokens),
    };
    match word(rest.first()) {
        Some("time") if word(rest.get(1)) == Some("zone") => named("TimeZone", &rest[2..]),
        Some("names") => named("client_encoding", &rest[1..]),
        Some("schema") => named("search_path", &rest[1..]),
        Some("transaction" | "characteristics" | "authorization" | "role" | "session") | None => {
            Local::Set {
                name: None,
                value: None,
            }
        }
        Some(name) => {
            let after = &rest[1..];
            let after = match after.first() {
                Some(Token::Symbol('=')) => &after[1..],
                Some(Token::Word(w)) if w == "to" => &after[1..],
                _ => after,
            };
            named(name, after)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(name: &str, value: &str) -> Option<Local> {
        Some(Local::Set {
            name: Some(name.into()),
            value: Some(value.into()),
        })
    }

    #[test]
    fn driver_and_tool_statements() {
        assert_eq!(
            classify("SET extra_float_digits = 3"),
            set_of("extra_float_digits", "3")
        );
        assert_eq!(
            classify("set application_name to 'PostgreSQL JDBC Driver'"),
            set_of("application_name", "PostgreSQL JDBC Driver")
        );
        assert_eq!(classify("SET TIME ZONE 'UTC'"), set_of("TimeZone", "UTC"));
        assert_eq!(
            classify("SET search_path = public, pg_catalog"),
            set_of("search_path", "public, pg_catalog")
        );
        assert_eq!(
            classify("SET SESSION statement_timeout TO 5000"),
            set_of("statement_timeout", "5000")
        );
        assert_eq!(
            classify("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED"),
            Some(Local::Set {
                name: None,
                value: None
            })
        );
        assert_eq!(
            classify("/* hi */ BEGIN READ ONLY"),
            Some(Local::Begin("BEGIN"))
        );
        assert_eq!(
            classify("start transaction"),
            Some(Local::Begin("START TRANSACTION"))
        );
        assert_eq!(classify("COMMIT"), Some(Local::Commit));
        assert_eq!(
            classify("ROLLBACK TO SAVEPOINT a"),
            Some(Local::Savepoint("ROLLBACK"))
        );
        assert_eq!(
            classify("DISCARD ALL").map(|l| l.tag()),
            Some("DISCARD ALL".into())
        );
        assert_eq!(classify("DEALLOCATE ALL"), Some(Local::Deallocate(None)));
        assert_eq!(
            classify("deallocate \"s1\""),
            Some(Local::Deallocate(Some("s1".into())))
        );
        assert_eq!(
            classify("SHOW TIME ZONE"),
            Some(Local::Show("TimeZone".into()))
        );
        assert_eq!(classify("SELECT 1"), None);
        assert_eq!(classify("-- comment\nselect 1"), None);
    }

    #[test]
    fn show_uses_session_values_then_defaults() {
        let defaults = defaults(&QueryOptions::default());
        let session = Session::default();
        assert_eq!(
            session.show("datestyle", &defaults),
            Some(("DateStyle".into(), "ISO, MDY".into()))
        );
        session.set("DateStyle", "German");
        assert_eq!(session.show("DATESTYLE", &defaults).unwrap().1, "German");
        session.reset(None);
        assert_eq!(session.show("DateStyle", &defaults).unwrap().1, "ISO, MDY");
        assert_eq!(session.show("no_such_thing", &defaults), None);
    }
}
