//! The frame shared by snapshots and log records:
//!
//! ```text
//! magic (4 bytes) | envelope length (u32, big-endian) | envelope (JSON) | body
//! ```
//!
//! The envelope names the body's length and SHA-256 ([`BodyDigest`]), so a torn or
//! bit-rotted file is refused before its body is interpreted.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::FormatError;

/// The body's size and lowercase hex SHA-256, as recorded in the envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyDigest {
    pub bytes: u64,
    pub sha256: String,
}

impl BodyDigest {
    pub fn of(body: &[u8]) -> BodyDigest {
        BodyDigest {
            bytes: body.len() as u64,
            sha256: sha256_hex(body),
        }
    }

    /// Checks `body` against the digest: length first (cheap), then the hash.
    pub(crate) fn check(&self, body: &[u8]) -> Result<(), FormatError> {
        if self.bytes != body.len() as u64 {
            return Err(FormatError::BodyLength {
                expected: self.bytes,
                actual: body.len(),
            });
        }
        let actual = sha256_hex(body);
        if !actual.eq_ignore_ascii_case(&self.sha256) {
            return Err(FormatError::ChecksumMismatch {
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Magic and envelope length: the first 8 bytes, followed by the envelope.
pub(crate) fn header(magic: &[u8; 4], envelope: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + envelope.len());
    out.extend_from_slice(magic);
    // An envelope is a few hundred bytes of JSON: far below u32::MAX.
    out.extend_from_slice(&(envelope.len() as u32).to_be_bytes());
    out.extend_from_slice(envelope);
    out
}

/// A file split into its envelope and body (nothing checked but the framing).
pub(crate) struct Framed<'a> {
    pub(crate) envelope: &'a [u8],
    pub(crate) body: &'a [u8],
}

pub(crate) fn split<'a>(
    kind: &'static str,
    magic: &[u8; 4],
    bytes: &'a [u8],
) -> Result<Framed<'a>, FormatError> {
    if bytes.len() < 8 {
        return Err(FormatError::Short {
            kind,
            len: bytes.len(),
        });
    }
    if &bytes[..4] != magic {
        return Err(FormatError::BadMagic {
            kind,
            found: format!("\"{}\"", bytes[..4].escape_ascii()),
        });
    }
    let len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let available = bytes.len() - 8;
    if len as usize > available {
        return Err(FormatError::EnvelopePastEnd { len, available });
    }
    let (envelope, body) = bytes[8..].split_at(len as usize);
    Ok(Framed { envelope, body })
}

/// Parses an envelope, checking `format_version` before anything else so that a future
/// format is reported as such rather than as a missing field.
pub(crate) fn envelope<T: DeserializeOwned>(
    bytes: &[u8],
    supported: u32,
) -> Result<T, FormatError> {
    #[derive(Deserialize)]
    struct Version {
        format_version: u64,
    }
    let version: Version =
        serde_json::from_slice(bytes).map_err(|e| FormatError::BadEnvelope(format!("{e}")))?;
    if version.format_version != u64::from(supported) {
        return Err(FormatError::UnsupportedVersion {
            found: version.format_version,
            supported,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| FormatError::BadEnvelope(format!("{e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_errors_are_typed() {
        assert_eq!(
            split("LHV1", b"LHV1", b"LHV1").err(),
            Some(FormatError::Short {
                kind: "LHV1",
                len: 4
            })
        );
        assert!(matches!(
            split("LHV1", b"LHV1", b"LHV2\0\0\0\0"),
            Err(FormatError::BadMagic { found, .. }) if found == "\"LHV2\""
        ));
        assert_eq!(
            split("LHV1", b"LHV1", b"LHV1\0\0\0\x05abc").err(),
            Some(FormatError::EnvelopePastEnd {
                len: 5,
                available: 3
            })
        );
        let f = split("LHV1", b"LHV1", b"LHV1\0\0\0\x02{}rest").unwrap();
        assert_eq!((f.envelope, f.body), (&b"{}"[..], &b"rest"[..]));
    }

    #[test]
    fn digests_check_length_then_hash() {
        let d = BodyDigest::of(b"graph");
        assert!(d.check(b"graph").is_ok());
        assert!(matches!(
            d.check(b"graphs"),
            Err(FormatError::BodyLength { .. })
        ));
        assert!(matches!(
            d.check(b"grapH"),
            Err(FormatError::ChecksumMismatch { .. })
        ));
    }

    #[test]
    fn the_version_is_checked_first() {
        #[derive(Deserialize, Debug)]
        struct E {
            #[allow(dead_code)]
            needed: u32,
        }
        assert_eq!(
            envelope::<E>(br#"{"format_version": 2}"#, 1).unwrap_err(),
            FormatError::UnsupportedVersion {
                found: 2,
                supported: 1
            }
        );
        assert!(matches!(
            envelope::<E>(b"{", 1),
            Err(FormatError::BadEnvelope(_))
        ));
        assert!(matches!(
            envelope::<E>(br#"{"format_version": 1}"#, 1),
            Err(FormatError::BadEnvelope(m)) if m.contains("needed")
        ));
    }
}
