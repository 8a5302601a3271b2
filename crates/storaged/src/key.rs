//! [`ObjectKey`]: a validated object key, the only form in which a key reaches a store.
//!
//! A key is a `/`-separated list of segments. Its canonical text (what LIST returns and
//! what the object stores hold) escapes exactly two characters inside a segment: `%` as
//! `%25` and a literal `/` as `%2F`. Parsing percent-decodes each segment first, so the
//! canonical text is also a valid URL path, canonicalising is idempotent, and
//! `PUT /v1/storage/a%2Fb` stores one segment `a/b` (text `a%2Fb`) that GET, HEAD, DELETE
//! and LIST all see as that same single segment (seed review K-B1).
//!
//! Rules, checked on the decoded segments so that encoding cannot smuggle anything past
//! them: non-empty key, no leading `/`, no empty segment, no `.` or `..` segment, no
//! control characters, valid UTF-8, and at most [`MAX_KEY_BYTES`] of canonical text.

use std::fmt;

use percent_encoding::percent_decode_str;

/// Longest key, in bytes of canonical text (S3's limit).
pub const MAX_KEY_BYTES: usize = 1024;

/// A key that passed every rule; see the module doc.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

/// Why a key was refused: the rule broken, for the 400 message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is empty")]
    Empty,
    #[error("key must not start with '/'")]
    LeadingSlash,
    #[error("key has an empty segment (two '/' in a row, or a trailing '/')")]
    EmptySegment,
    #[error("key has a '{0}' segment")]
    DotSegment(&'static str),
    #[error("key has a control character (U+{0:04X})")]
    Control(u32),
    #[error("key is not valid UTF-8 once percent-decoded")]
    NotUtf8,
    #[error("key is {0} bytes long; the limit is {MAX_KEY_BYTES}")]
    TooLong(usize),
}

impl ObjectKey {
    /// Parses a key given as text: a URL path below `/v1/storage/`, or a canonical key.
    pub fn parse(text: &str) -> Result<ObjectKey, KeyError> {
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        if text.starts_with('/') {
            return Err(KeyError::LeadingSlash);
        }
        let canonical = canonical_segments(text, false)?;
        Ok(ObjectKey(canonical))
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as an `object_store` path (the canonical text is always a valid one).
    pub fn to_path(&self) -> object_store::path::Path {
        // A canonical segment has no '/' nor control character and is never `.` or `..`,
        // which is all `Path::parse` checks; it keeps the text as it is.
        object_store::path::Path::parse(&self.0).expect("a canonical key is a valid path")
    }

    /// The inverse of [`ObjectKey::to_path`], for keys read back from a store.
    pub fn from_path(path: &object_store::path::Path) -> Result<ObjectKey, KeyError> {
        ObjectKey::parse(path.as_ref())
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A LIST prefix: like a key, but it may be empty or end with `/`, and it is matched
/// against canonical key text as a plain string prefix (S3 semantics).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(text: &str) -> Result<KeyPrefix, KeyError> {
        if text.is_empty() {
            return Ok(KeyPrefix::default());
        }
        if text.starts_with('/') {
            return Err(KeyError::LeadingSlash);
        }
        Ok(KeyPrefix(canonical_segments(text, true)?))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The deepest whole directory the prefix names (`a/b/c` → `a/b`, `a/b/` → `a/b`):
    /// where an object store's segment-wise listing must start.
    pub fn directory(&self) -> Option<object_store::path::Path> {
        let dir = match self.0.rfind('/') {
            Some(i) => &self.0[..i],
            None => return None,
        };
        ObjectKey::parse(dir).ok().map(|k| k.to_path())
    }

    pub fn matches(&self, key: &str) -> bool {
        key.starts_with(&self.0)
    }
}

/// Decodes, checks and re-encodes each segment; a trailing '/' is allowed for prefixes.
fn canonical_segments(text: &str, allow_trailing_slash: bool) -> Result<String, KeyError> {
    let mut out = String::with_capacity(text.len());
    let (body, trailing) = match text.strip_suffix('/') {
        Some(b) if allow_trailing_slash => (b, true),
        _ => (text, false),
    };
    for (i, raw) in body.split('/').enumerate() {
        let segment = percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| KeyError::NotUtf8)?;
        if segment.is_empty() {
            return Err(KeyError::EmptySegment);
        }
        if segment == "." || segment == ".." {
            return Err(KeyError::DotSegment(if segment == "." {
                "."
            } else {
                ".."
            }));
        }
        if let Some(c) = segment.chars().find(|c| c.is_control()) {
            return Err(KeyError::Control(c as u32));
        }
        if i > 0 {
            out.push('/');
        }
        for c in segment.chars() {
            match c {
                '%' => out.push_str("%25"),
                '/' => out.push_str("%2F"),
                c => out.push(c),
            }
        }
    }
    if trailing {
        out.push('/');
    }
    if out.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong(out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_are_kept() {
        let k = ObjectKey::parse("datasets/t/v1/part-0.parquet").unwrap();
        assert_eq!(k.as_str(), "datasets/t/v1/part-0.parquet");
        assert_eq!(k.to_path().as_ref(), "datasets/t/v1/part-0.parquet");
    }

    #[test]
    fn encoded_slash_stays_inside_its_segment() {
        let k = ObjectKey::parse("a%2Fb/c").unwrap();
        assert_eq!(k.as_str(), "a%2Fb/c");
        assert_eq!(k.to_path().parts().count(), 2);
        assert_eq!(
            ObjectKey::parse("a%2fb/c").unwrap(),
            k,
            "hex case does not matter"
        );
    }

    #[test]
    fn canonical_form_is_a_fixed_point() {
        for text in ["a%2Fb", "100%", "x%25y", "sp ace/é/%C3%A9", "a%20b"] {
            let once = ObjectKey::parse(text).unwrap();
            let twice = ObjectKey::parse(once.as_str()).unwrap();
            assert_eq!(once, twice, "{text}");
        }
        assert_eq!(ObjectKey::parse("100%").unwrap().as_str(), "100%25");
        assert_eq!(ObjectKey::parse("a%20b").unwrap().as_str(), "a b");
    }

    #[test]
    fn every_rule_is_enforced_also_when_encoded() {
        let cases: &[(&str, KeyError)] = &[
            ("", KeyError::Empty),
            ("/a", KeyError::LeadingSlash),
            ("a//b", KeyError::EmptySegment),
            ("a/", KeyError::EmptySegment),
            ("a/./b", KeyError::DotSegment(".")),
            ("a/../b", KeyError::DotSegment("..")),
            ("a/%2E%2E/b", KeyError::DotSegment("..")),
            ("%2e", KeyError::DotSegment(".")),
            ("a\u{1}b", KeyError::Control(1)),
            ("a%0Ab", KeyError::Control(10)),
            ("a%7Fb", KeyError::Control(0x7f)),
            ("a%FFb", KeyError::NotUtf8),
        ];
        for (text, want) in cases {
            assert_eq!(ObjectKey::parse(text).unwrap_err(), *want, "{text:?}");
        }
        let long = "x".repeat(MAX_KEY_BYTES + 1);
        assert_eq!(
            ObjectKey::parse(&long).unwrap_err(),
            KeyError::TooLong(MAX_KEY_BYTES + 1)
        );
        assert!(ObjectKey::parse(&"x".repeat(MAX_KEY_BYTES)).is_ok());
        // Escaping counts: 400 '%' become 1200 bytes of canonical text.
        assert!(matches!(
            ObjectKey::parse(&"%".repeat(400)),
            Err(KeyError::TooLong(1200))
        ));
    }

    #[test]
    fn prefixes() {
        let p = KeyPrefix::parse("_catalog/").unwrap();
        assert_eq!(p.directory().unwrap().as_ref(), "_catalog");
        assert!(p.matches("_catalog/t.json"));
        let p = KeyPrefix::parse("data").unwrap();
        assert!(p.directory().is_none());
        assert!(p.matches("datasets/x"));
        assert!(KeyPrefix::parse("a/../b").is_err());
        assert_eq!(KeyPrefix::parse("").unwrap().as_str(), "");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
    use proptest::prelude::*;

    /// A segment a user might mean: any text without control characters, not `.` or `..`.
    fn segment() -> impl Strategy<Value = String> {
        "[^\\p{Cc}]{1,12}".prop_filter("not a dot segment", |s| s != "." && s != "..")
    }

    proptest! {
        #[test]
        fn canonicalising_is_idempotent(text in "\\PC{0,40}") {
            if let Ok(key) = ObjectKey::parse(&text) {
                prop_assert_eq!(ObjectKey::parse(key.as_str()), Ok(key.clone()));
                prop_assert_eq!(ObjectKey::from_path(&key.to_path()), Ok(key));
            }
        }

        #[test]
        fn url_encoded_segments_round_trip(segments in prop::collection::vec(segment(), 1..5)) {
            let url_path = segments
                .iter()
                .map(|s| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string())
                .collect::<Vec<_>>()
                .join("/");
            let key = ObjectKey::parse(&url_path).unwrap();
            let parts: Vec<String> = key
                .as_str()
                .split('/')
                .map(|p| percent_decode_str(p).decode_utf8().unwrap().into_owned())
                .collect();
            prop_assert_eq!(parts, segments);
        }

        #[test]
        fn control_characters_never_pass(prefix in "[a-z]{0,5}", c in prop::char::range('\u{0}', '\u{1f}'), suffix in "[a-z]{0,5}") {
            let raw = format!("{prefix}{c}{suffix}");
            prop_assert!(ObjectKey::parse(&raw).is_err());
            let encoded = utf8_percent_encode(&raw, NON_ALPHANUMERIC).to_string();
            prop_assert!(ObjectKey::parse(&encoded).is_err());
        }
    }
}
