//! [`IndexName`]: a validated index name, the only form in which a name reaches the
//! registry or an object key.
//!
//! The rule is the dataset names' (DESIGN §2): `[A-Za-z_][A-Za-z0-9_]{0,62}`. Past this
//! boundary a name can be put into `_vectors/{name}.lhv1` without escaping, and it never
//! contains a `.`, so `{name}.lhv1` and `{name}.log/` cannot collide with another index's
//! keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::VectorError;

/// Longest name, in characters (all ASCII).
pub const MAX_NAME_LEN: usize = 63;

/// A name that passed every rule; see the module doc.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IndexName(String);

impl IndexName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The rule `text` breaks, if any.
fn rule_broken(text: &str) -> Option<String> {
    let Some(first) = text.chars().next() else {
        return Some("an index name must not be empty".into());
    };
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Some(format!(
            "an index name must start with a letter or '_', not {first:?}"
        ));
    }
    if let Some((i, c)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Some(format!(
            "an index name may hold only letters, digits and '_', but character {} is {c:?}",
            i + 1
        ));
    }
    if text.len() > MAX_NAME_LEN {
        return Some(format!(
            "an index name is at most {MAX_NAME_LEN} characters long, this one has {}",
            text.len()
        ));
    }
    None
}

impl TryFrom<String> for IndexName {
    type Error = VectorError;

    fn try_from(text: String) -> Result<IndexName, VectorError> {
        match rule_broken(&text) {
            None => Ok(IndexName(text)),
            Some(reason) => Err(VectorError::InvalidName { name: text, reason }),
        }
    }
}

impl FromStr for IndexName {
    type Err = VectorError;

    fn from_str(text: &str) -> Result<IndexName, VectorError> {
        IndexName::try_from(text.to_string())
    }
}

impl From<IndexName> for String {
    fn from(name: IndexName) -> String {
        name.0
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reason(text: &str) -> String {
        match text.parse::<IndexName>() {
            Err(VectorError::InvalidName { reason, .. }) => reason,
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn each_broken_rule_is_named() {
        assert!(reason("").contains("empty"));
        assert!(reason("1abc").contains("start with a letter"));
        assert!(reason("a.b").contains("character 2 is '.'"));
        assert!(reason(&"x".repeat(64)).contains("at most 63"));
        for good in ["a", "_", "Docs_2024", &"x".repeat(63)] {
            assert_eq!(good.parse::<IndexName>().unwrap().as_str(), good);
        }
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_pattern(text in "\\PC{0,70}") {
            let matches = !text.is_empty()
                && text.len() <= MAX_NAME_LEN
                && text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            prop_assert_eq!(text.parse::<IndexName>().is_ok(), matches);
        }
    }
}
