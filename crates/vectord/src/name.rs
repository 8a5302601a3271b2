//! [`IndexName`]: a validated index name, the only form in which a name reaches the
//! registry or an object key.
//!
//! The rule is the dataset names' ([`common::name`]): `[A-Za-z_][A-Za-z0-9_]{0,62}`. Past this
//! boundary a name can be put into `_vectors/{name}.lhv1` without escaping, and it never
//! contains a `.`, so `{name}.lhv1` and `{name}.log/` cannot collide with another index's
//! keys.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::VectorError;

/// A name that passed every rule; see the module doc.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IndexName(String);

impl IndexName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IndexName {
    type Error = VectorError;

    fn try_from(text: String) -> Result<IndexName, VectorError> {
        match common::name::rule_broken("an index name", &text) {
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
    use super::*;

    #[test]
    fn a_broken_rule_is_an_invalid_name_error_about_an_index() {
        match "a.b".parse::<IndexName>() {
            Err(VectorError::InvalidName { name, reason }) => {
                assert_eq!(name, "a.b");
                assert!(reason.starts_with("an index name "), "{reason}");
                assert!(reason.contains("character 2 is '.'"), "{reason}");
            }
            other => panic!("a.b should be refused, got {other:?}"),
        }
        for good in ["a", "_", "Docs_2024", &"x".repeat(63)] {
            assert_eq!(good.parse::<IndexName>().unwrap().as_str(), good);
        }
    }
}
