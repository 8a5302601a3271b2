//! [`DatasetName`]: a validated dataset name, the only form in which a name reaches the
//! catalog.
//!
//! Names are SQL table names: `[A-Za-z_][A-Za-z0-9_]{0,62}` (DESIGN §2). A name is checked
//! once, by [`DatasetName::from_str`] / [`TryFrom<String>`] (and so by deserialization);
//! past that boundary the type proves the check was done, so a name can be put into an
//! object key (`_catalog/{name}.json`, `datasets/{name}/`) without escaping.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CatalogError;

/// Longest name, in characters (all ASCII).
pub const MAX_NAME_LEN: usize = 63;

/// A name that passed every rule; see the module doc.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatasetName(String);

impl DatasetName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The rule `text` breaks, if any.
fn rule_broken(text: &str) -> Option<String> {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return Some("a dataset name must not be empty".into());
    };
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Some(format!(
            "a dataset name must start with a letter or '_', not {first:?}"
        ));
    }
    if let Some((i, c)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Some(format!(
            "a dataset name may hold only letters, digits and '_', but character {} is {c:?}",
            i + 1
        ));
    }
    if text.len() > MAX_NAME_LEN {
        return Some(format!(
            "a dataset name is at most {MAX_NAME_LEN} characters long, this one has {}",
            text.len()
        ));
    }
    None
}

impl TryFrom<String> for DatasetName {
    type Error = CatalogError;

    fn try_from(text: String) -> Result<DatasetName, CatalogError> {
        match rule_broken(&text) {
            None => Ok(DatasetName(text)),
            Some(reason) => Err(CatalogError::InvalidName { name: text, reason }),
        }
    }
}

impl FromStr for DatasetName {
    type Err = CatalogError;

    fn from_str(text: &str) -> Result<DatasetName, CatalogError> {
        DatasetName::try_from(text.to_string())
    }
}

impl From<DatasetName> for String {
    fn from(name: DatasetName) -> String {
        name.0
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DatasetName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reason(text: &str) -> String {
        match text.parse::<DatasetName>() {
            Err(CatalogError::InvalidName { reason, .. }) => reason,
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn good_names_parse_and_keep_their_text() {
        for text in ["a", "_", "Sales_2024", "_tmp", &"x".repeat(63)] {
            let name: DatasetName = text.parse().unwrap();
            assert_eq!(name.as_str(), text);
            assert_eq!(name.to_string(), text);
        }
    }

    #[test]
    fn each_broken_rule_is_named() {
        assert!(reason("").contains("empty"));
        assert!(reason("1abc").contains("start with a letter"));
        assert!(reason("a-b").contains("character 2 is '-'"));
        assert!(reason("a b").contains("character 2"));
        assert!(reason("café").contains("character 4 is 'é'"));
        assert!(reason(&"x".repeat(64)).contains("at most 63"));
        assert!(reason("../x").contains("start with a letter"));
    }

    #[test]
    fn deserialization_validates() {
        let name: DatasetName = serde_json::from_str("\"trips\"").unwrap();
        assert_eq!(name.as_str(), "trips");
        assert_eq!(serde_json::to_string(&name).unwrap(), "\"trips\"");
        let err = serde_json::from_str::<DatasetName>("\"no-dashes\"").unwrap_err();
        assert!(err.to_string().contains("character 3 is '-'"), "{err}");
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_pattern(text in "\\PC{0,70}") {
            let matches = !text.is_empty()
                && text.len() <= MAX_NAME_LEN
                && text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            prop_assert_eq!(text.parse::<DatasetName>().is_ok(), matches);
        }

        #[test]
        fn every_valid_name_round_trips(text in "[A-Za-z_][A-Za-z0-9_]{0,62}") {
            let name: DatasetName = text.parse().unwrap();
            let json = serde_json::to_string(&name).unwrap();
            prop_assert_eq!(serde_json::from_str::<DatasetName>(&json).unwrap(), name);
        }
    }
}
