//! Configuration: the Go system's `lakehouse.toml` plus this system's own keys
//! (docs/configuration.md, docs/lakehouse.example.toml) — the mechanism every crate's
//! section uses.
//!
//! Loading is three layers, later wins: built-in defaults, the TOML file, then
//! `LAKEHOUSE_<SECTION>_<KEY>` environment variables. Every key is declared once
//! ([`keys::Key`]), by the crate that owns its section, beside the typed struct that crate
//! reads from a [`Fields`]; the binary gathers the declarations ([`keys::Declared`]),
//! [`load`]s the file against them (defaults, unknown-key warnings, typed environment
//! overrides) and has each crate read its section. Values are checked when read: past
//! loading a bind is a `SocketAddr`, a URL a `Url`-shaped string, a duration a `Duration`.

pub mod keys;
pub mod process;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Value;

use keys::{Declared, Key};
pub use process::{ProcessConfig, TlsConfig};

/// A configuration problem: the message names the key and the value at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where a TOML file is broken, without its text (which may hold secrets): `line L, column
/// C: what` from the parser's span and message (the message of a syntax error names tokens
/// and keys, not values).
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().lines().next().unwrap_or("invalid TOML");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what.to_string(),
    }
}

/// The merged TOML tree (the file, then the environment, then the command line), read
/// against the declarations.
#[derive(Debug, Default)]
pub struct Raw {
    tree: toml::Table,
    declared: Declared,
}

impl Raw {
    /// Nothing set: every key at its declared default.
    pub fn defaults(declared: Declared) -> Raw {
        Raw {
            tree: toml::Table::new(),
            declared,
        }
    }

    /// `[section]`'s keys, read with their declared defaults (none when the section is
    /// absent or not a table, which [`load`] reports as ignored).
    pub fn fields(&self, section: &'static str) -> Fields {
        let raw = match self.tree.get(section) {
            Some(Value::Table(t)) => t.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => RawSection::new(),
        };
        Fields {
            section,
            raw,
            keys: self.declared.section(section),
        }
    }
}

type RawSection = BTreeMap<String, Value>;

/// What [`load`] found besides the values themselves.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Unknown sections and keys, named, for the caller to log as warnings.
    pub warnings: Vec<String>,
    /// The keys set by the file, the environment and the command line, merged (what
    /// `lakehouse config` shows beside the defaults).
    pub effective: toml::Table,
}

/// Options the command line adds on top of the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir`: sets `[storage] data_dir` and implies the local backend.
    pub data_dir: Option<PathBuf>,
}

/// Reads `path` (or nothing: every key at its default), warns about what `declared` does
/// not know, applies `LAKEHOUSE_*` variables from `env`, then command-line overrides.
pub fn load(
    path: Option<&Path>,
    declared: Declared,
    env: &dyn Fn(&str) -> Option<String>,
    overrides: &Overrides,
) -> Result<(Raw, LoadReport), ConfigError> {
    let mut tree = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError(format!("config: cannot read {}: {e}", p.display())))?;
            toml::from_str::<toml::Table>(&text).map_err(|e| {
                ConfigError(format!(
                    "config: {} is not valid TOML: {}",
                    p.display(),
                    toml_error(&text, &e)
                ))
            })?
        }
        None => toml::Table::new(),
    };
    let mut report = LoadReport::default();
    warn_unknown(&tree, &declared, &mut report);
    apply_env(&mut tree, &declared, env)?;
    if let Some(dir) = &overrides.data_dir {
        let storage = section_mut(&mut tree, "storage");
        storage.insert("backend".into(), Value::String("local".into()));
        storage.insert("data_dir".into(), Value::String(dir.display().to_string()));
    }
    report.effective = tree.clone();
    Ok((Raw { tree, declared }, report))
}

/// Maps a `[log] level` to a tracing level name, `None` when it is not one.
pub fn tracing_level(level: &str) -> Option<&'static str> {
    match level.to_ascii_lowercase().as_str() {
        "trace" => Some("trace"),
        "debug" => Some("debug"),
        "info" => Some("info"),
        "warn" | "warning" => Some("warn"),
        "error" => Some("error"),
        _ => None,
    }
}

fn warn_unknown(tree: &toml::Table, declared: &Declared, report: &mut LoadReport) {
    for (section, value) in tree {
        let known = declared.sections().contains(&section.as_str());
        match (known, value) {
            (false, _) => report
                .warnings
                .push(format!("config: unknown section [{section}] ignored")),
            (true, Value::Table(_)) => {}
            (true, _) => report
                .warnings
                .push(format!("config: [{section}] should be a table; ignored")),
        }
        if let (true, Value::Table(t)) = (known, value) {
            for key in t.keys().filter(|k| declared.find(section, k).is_none()) {
                report
                    .warnings
                    .push(format!("config: unknown key [{section}] {key} ignored"));
            }
        }
    }
}

fn section_mut<'a>(tree: &'a mut toml::Table, section: &str) -> &'a mut toml::Table {
    let entry = tree
        .entry(section.to_string())
        .or_insert_with(|| Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(toml::Table::new());
    }
    entry.as_table_mut().expect("just made a table")
}

/// Applies `LAKEHOUSE_<SECTION>_<KEY>` for every declared key, typed as declared.
fn apply_env(
    tree: &mut toml::Table,
    declared: &Declared,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for key in declared.keys() {
        {
            let var = key.env_var();
            let Some(text) = env(&var) else { continue };
            let value =
                match key.kind {
                    keys::Kind::Str => Value::String(text),
                    keys::Kind::List => Value::Array(
                        text.split(',')
                            .map(str::trim)
                            .filter(|item| !item.is_empty())
                            .map(|item| Value::String(item.to_string()))
                            .collect(),
                    ),
                    keys::Kind::Int => Value::Integer(text.trim().parse().map_err(|_| {
                        ConfigError(format!("config: {var}={text:?}: not an integer"))
                    })?),
                    keys::Kind::Bool => Value::Boolean(match text.trim() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => {
                            return Err(ConfigError(format!(
                                "config: {var}={text:?}: not true or false"
                            )));
                        }
                    }),
                };
            section_mut(tree, key.section).insert(key.name.to_string(), value);
        }
    }
    Ok(())
}

/// Typed access to one section's raw values, with the key named in every error and the
/// declared default for a key the section leaves unset.
pub struct Fields {
    section: &'static str,
    raw: RawSection,
    keys: Vec<&'static Key>,
}

impl Fields {
    /// `section` with nothing set: each key at its default in `keys`.
    pub fn defaults(section: &'static str, keys: &'static [Key]) -> Fields {
        Fields {
            section,
            raw: RawSection::new(),
            keys: keys.iter().filter(|k| k.section == section).collect(),
        }
    }

    fn err(&self, key: &str, value: &Value, why: &str) -> ConfigError {
        self.invalid(key, value, why)
    }

    /// `[section] key` holds an unusable value: the message names the key and shows the
    /// value — except a secret's, which never appears in a message (errors reach logs and
    /// terminals).
    pub fn invalid(&self, key: &str, value: impl std::fmt::Display, why: &str) -> ConfigError {
        let section = self.section;
        if self.declared(key).is_some_and(|k| k.secret) {
            return ConfigError(format!(
                "config: [{section}] {key} (value not shown): {why}"
            ));
        }
        ConfigError(format!("config: [{section}] {key} = {value}: {why}"))
    }

    fn declared(&self, key: &str) -> Option<&'static Key> {
        self.keys.iter().copied().find(|k| k.name == key)
    }

    /// Whether the file, the environment or the command line set `key`.
    pub fn is_set(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    /// A path; an empty string is unset.
    pub fn opt_path(&self, key: &str) -> Result<Option<PathBuf>, ConfigError> {
        Ok(self
            .opt_str(key)?
            .filter(|p| !p.is_empty())
            .map(PathBuf::from))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<String>, ConfigError> {
        debug_assert!(
            self.declared(key).is_some(),
            "[{}] {key} is read but not declared",
            self.section
        );
        match self.raw.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(key, v, "must be a string")),
        }
    }

    /// A list of strings (absent = empty), each passed through `check`, which answers why
    /// an item is unusable.
    pub fn list(
        &self,
        key: &str,
        check: fn(&str) -> Result<String, &'static str>,
    ) -> Result<Vec<String>, ConfigError> {
        let items = match self.raw.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(v) => return Err(self.err(key, v, "must be a list of strings")),
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(text) => check(text).map_err(|why| self.err(key, item, why)),
                other => Err(self.err(key, other, "must be a list of strings")),
            })
            .collect()
    }

    /// The declared default of `key`; a key read but not declared is a bug.
    fn default(&self, key: &str) -> keys::Default {
        self.declared(key)
            .unwrap_or_else(|| panic!("[{}] {key} is read but not declared", self.section))
            .default
    }

    fn default_mismatch(&self, key: &str) -> ! {
        panic!(
            "[{}] {key} is declared with a default its reader cannot use: {:?}",
            self.section,
            self.default(key)
        )
    }

    pub fn str(&self, key: &str) -> Result<String, ConfigError> {
        match (self.opt_str(key)?, self.default(key)) {
            (Some(s), _) => Ok(s),
            (None, keys::Default::Str(s)) => Ok(s.to_string()),
            (None, _) => self.default_mismatch(key),
        }
    }

    pub fn addr(&self, key: &str) -> Result<SocketAddr, ConfigError> {
        let text = self.str(key)?;
        text.parse().map_err(|_| {
            self.err(
                key,
                &Value::String(text.clone()),
                "not a socket address (e.g. 127.0.0.1:3110)",
            )
        })
    }

    pub fn url(&self, key: &str) -> Result<String, ConfigError> {
        let text = self.str(key)?;
        check_url(&text).map_err(|why| self.invalid(key, format!("{text:?}"), why))?;
        Ok(text.trim_end_matches('/').to_string())
    }

    pub fn url_or_empty(&self, key: &str) -> Result<String, ConfigError> {
        match self.opt_str(key)? {
            Some(s) if s.is_empty() => Ok(s),
            _ => self.url(key),
        }
    }

    pub fn uint(&self, key: &str) -> Result<u64, ConfigError> {
        match self.raw.get(key) {
            None => match self.default(key) {
                keys::Default::Int(n) => Ok(n),
                _ => self.default_mismatch(key),
            },
            Some(Value::Integer(i)) if *i >= 0 => Ok(*i as u64),
            Some(v) => Err(self.err(key, v, "must be a non-negative integer")),
        }
    }

    pub fn usize(&self, key: &str) -> Result<usize, ConfigError> {
        let n = self.uint(key)?;
        usize::try_from(n).map_err(|_| self.err(key, &Value::Integer(n as i64), "too large"))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.raw.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(key, v, "must be true or false")),
        }
    }

    pub fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        match (self.opt_bool(key)?, self.default(key)) {
            (Some(b), _) | (None, keys::Default::Bool(b)) => Ok(b),
            (None, _) => self.default_mismatch(key),
        }
    }

    /// A duration that must not be zero.
    pub fn positive_duration(&self, key: &str) -> Result<Duration, ConfigError> {
        let d = self.duration(key)?;
        if d.is_zero() {
            let shown = Value::String(self.str(key)?);
            return Err(self.err(key, &shown, "must be more than 0"));
        }
        Ok(d)
    }

    pub fn duration(&self, key: &str) -> Result<Duration, ConfigError> {
        let text = self.str(key)?;
        parse_duration(&text).ok_or_else(|| {
            self.err(
                key,
                &Value::String(text.clone()),
                "not a duration (e.g. \"500ms\", \"30s\", \"5m\", \"1h\")",
            )
        })
    }
}

/// An `http://` or `https://` URL with something after the scheme; the error says why not.
pub fn check_url(text: &str) -> Result<(), &'static str> {
    let ok = (text.starts_with("http://") || text.starts_with("https://"))
        && text
            .split("://")
            .nth(1)
            .is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(())
    } else {
        Err("not an http:// or https:// URL")
    }
}

/// Parses `"500ms"`, `"30s"`, `"5m"`, `"1h"` (the Go `time.ParseDuration` forms we accept).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("10"), None);
    }
}
