//! The frame shared by snapshots and log records:
//!
//! ```text
//! magic (4 bytes) | envelope length (u32, big-endian) | envelope (JSON) | body
//! ```
//!
//! The envelope names the body's length and checksum ([`BodyDigest`]), so a torn or
//! bit-rotted file is refused before its body is interpreted.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use twox_hash::XxHash3_128;

use super::FormatError;

/// The body's size and checksum, as recorded in the envelope: XXH3-128 (32 lowercase hex
/// digits) in what this build writes; SHA-256 (64) in files of earlier builds, still read.
///
/// The checksum guards against torn writes and bit rot, not forgery (whoever can write the
/// store can write a matching digest of any kind), so the fast hash is the right one: it
/// runs at memory speed where SHA-256 took 0.35 s of a million-vector load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyDigest {
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xxh3_128: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl BodyDigest {
    pub fn of(body: &[u8]) -> BodyDigest {
        BodyDigest {
            bytes: body.len() as u64,
            xxh3_128: Some(xxh3_hex(body)),
            sha256: None,
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
        let (algorithm, expected, actual) = match (&self.xxh3_128, &self.sha256) {
            (Some(expected), _) => ("xxh3_128", expected, xxh3_hex(body)),
            (None, Some(expected)) => ("sha256", expected, sha256_hex(body)),
            (None, None) => {
                return Err(FormatError::BadEnvelope(
                    "the body's digest has neither xxh3_128 nor sha256".into(),
                ));
            }
        };
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(FormatError::ChecksumMismatch {
                algorithm,
                expected: expected.clone(),
                actual,
            });
        }
        Ok(())
    }
}

fn xxh3_hex(bytes: &[u8]) -> String {
    format!("{:032x}", XxHash3_128::oneshot(bytes))
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
        assert_eq!(d.xxh3_128.as_deref().map(str::len), Some(32));
        assert!(d.check(b"graph").is_ok());
        assert!(matches!(
            d.check(b"graphs"),
            Err(FormatError::BodyLength { .. })
        ));
        assert!(matches!(
            d.check(b"grapH"),
            Err(FormatError::ChecksumMismatch {
                algorithm: "xxh3_128",
                ..
            })
        ));
        let none = BodyDigest {
            xxh3_128: None,
            ..d
        };
        assert!(
            matches!(none.check(b"graph"), Err(FormatError::BadEnvelope(m)) if m.contains("neither"))
        );
    }

    #[test]
    fn earlier_builds_sha256_digests_are_still_checked() {
        // As written by builds before XXH3: {"bytes": 5, "sha256": "…"}.
        let d: BodyDigest = serde_json::from_str(
            r#"{"bytes":5,"sha256":"9A3B7A2C3D06BD2B1D8D3D27D0A0C3C53E7F1C3DF6D6D4C8C3D3C0B1A2B3C4D5"}"#,
        )
        .unwrap();
        assert!(matches!(
            d.check(b"graph"),
            Err(FormatError::ChecksumMismatch {
                algorithm: "sha256",
                ..
            })
        ));
        let right = BodyDigest {
            sha256: Some(sha256_hex(b"graph").to_uppercase()),
            ..d
        };
        assert!(right.check(b"graph").is_ok(), "hex compares in either case");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
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
