//! The naming rule that dataset and index names share (docs/api.md): SQL table names,
//! `[A-Za-z_][A-Za-z0-9_]{0,62}`. A name that passes can go into an object key without
//! escaping and never holds a `.` or a `/`. Each service wraps it in its own type
//! (`catalogd::DatasetName`, `vectord::IndexName`) with its own error.

/// Longest name, in characters (all ASCII).
pub const MAX_NAME_LEN: usize = 63;

/// The rule `text` breaks, if any, said of `what` ("a dataset name", "an index name").
pub fn rule_broken(what: &str, text: &str) -> Option<String> {
    let Some(first) = text.chars().next() else {
        return Some(format!("{what} must not be empty"));
    };
    if !(first.is_ascii_alphabetic() || first == '_') {
        return Some(format!(
            "{what} must start with a letter or '_', not {first:?}"
        ));
    }
    if let Some((i, c)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Some(format!(
            "{what} may hold only letters, digits and '_', but character {} is {c:?}",
            i + 1
        ));
    }
    if text.len() > MAX_NAME_LEN {
        return Some(format!(
            "{what} is at most {MAX_NAME_LEN} characters long, this one has {}",
            text.len()
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reason(text: &str) -> String {
        rule_broken("a name", text).unwrap_or_else(|| panic!("{text:?} should be refused"))
    }

    #[test]
    fn each_broken_rule_is_named() {
        assert_eq!(reason(""), "a name must not be empty");
        assert!(reason("1abc").contains("start with a letter"));
        assert!(reason("a-b").contains("character 2 is '-'"));
        assert!(reason("a.b").contains("character 2 is '.'"));
        assert!(reason("a b").contains("character 2"));
        assert!(reason("café").contains("character 4 is 'é'"));
        assert!(reason(&"x".repeat(64)).contains("at most 63"));
        assert!(reason("../x").contains("start with a letter"));
        for good in ["a", "_", "Sales_2024", "_tmp", &"x".repeat(63)] {
            assert_eq!(rule_broken("a name", good), None, "{good}");
        }
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_pattern(text in "\\PC{0,70}") {
            let matches = !text.is_empty()
                && text.len() <= MAX_NAME_LEN
                && text.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            prop_assert_eq!(rule_broken("a name", &text).is_none(), matches);
        }
    }
}
