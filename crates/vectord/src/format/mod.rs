//! The bytes vectord keeps in the store, and their readers (docs/formats.md, "Vector
//! indexes").
//!
//! - [`lhv1`]: an index snapshot, `_vectors/{name}.lhv1`.
//! - [`wal`]: a write-ahead log record, `_vectors/{name}.log/{incarnation}/{seq}.lhvw`.
//!
//! Both are *framed* ([`frame`]): a 4-byte magic, a u32 big-endian envelope length, a JSON
//! envelope (which carries the body's length and checksum), then a little-endian binary
//! body. Readers check everything and return a typed [`FormatError`]: they never panic on
//! any input, and never allocate more than the input's size justifies.

mod bytes;
pub mod frame;
pub mod lhv1;
pub mod wal;

/// Why bytes from the store do not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(
        "{len} bytes is too short for a {kind} file: it needs at least 8 (magic and envelope length)"
    )]
    Short { kind: &'static str, len: usize },
    #[error("bad magic {found}: a {kind} file starts with {kind:?}")]
    BadMagic { kind: &'static str, found: String },
    #[error(
        "the envelope length {len} runs past the end of the file ({available} bytes follow the 8-byte header)"
    )]
    EnvelopePastEnd { len: u32, available: usize },
    #[error("bad envelope: {0}")]
    BadEnvelope(String),
    #[error("format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion { found: u64, supported: u32 },
    #[error("the body is {actual} bytes but the envelope says {expected}")]
    BodyLength { expected: u64, actual: usize },
    #[error(
        "checksum mismatch: the envelope says {algorithm} {expected}, the body hashes to {actual}"
    )]
    ChecksumMismatch {
        algorithm: &'static str,
        expected: String,
        actual: String,
    },
    #[error("the body does not decode at byte {offset}: {reason}")]
    Undecodable { offset: usize, reason: String },
}
