//! [`DatasetName`]: a validated dataset name, the only form in which a name reaches the
//! catalog.
//!
//! Names are SQL table names, `[A-Za-z_][A-Za-z0-9_]{0,62}` ([`common::name`]). A name is checked
//! once, by [`DatasetName::from_str`] / [`TryFrom<String>`] (and so by deserialization);
//! past that boundary the type proves the check was done, so a name can be put into an
//! object key (`_catalog/{name}.json`, `datasets/{name}/`) without escaping.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CatalogError;

/// A name that passed every rule; see the module doc.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DatasetName(String);

impl DatasetName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DatasetName {
    type Error = CatalogError;

    fn try_from(text: String) -> Result<DatasetName, CatalogError> {
        match common::name::rule_broken("a dataset name", &text) {
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

    #[test]
    fn good_names_parse_and_keep_their_text() {
        for text in ["a", "_", "Sales_2024", "_tmp", &"x".repeat(63)] {
            let name: DatasetName = text.parse().unwrap();
            assert_eq!(name.as_str(), text);
            assert_eq!(name.to_string(), text);
        }
    }

    #[test]
    fn a_broken_rule_is_an_invalid_name_error_about_a_dataset() {
        match "a-b".parse::<DatasetName>() {
            Err(CatalogError::InvalidName { name, reason }) => {
                assert_eq!(name, "a-b");
                assert!(reason.starts_with("a dataset name "), "{reason}");
                assert!(reason.contains("character 2 is '-'"), "{reason}");
            }
            other => panic!("a-b should be refused, got {other:?}"),
        }
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
        fn every_valid_name_round_trips(text in "[A-Za-z_][A-Za-z0-9_]{0,62}") {
            let name: DatasetName = text.parse().unwrap();
            let json = serde_json::to_string(&name).unwrap();
            prop_assert_eq!(serde_json::from_str::<DatasetName>(&json).unwrap(), name);
        }
    }
}
