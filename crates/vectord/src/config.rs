//! `[vectord]`: its bind, where its indexes persist, and the memory all of them may hold.

use std::net::SocketAddr;

use common::config::keys::Default::{Computed, Str};
use common::config::keys::Kind::{self as Kind, Int as I, Str as S};
use common::config::keys::{Key, key};
use common::config::{ConfigError, Fields};

pub const KEYS: &[Key] = &[
    key(
        "vectord",
        "bind",
        S,
        Str("127.0.0.1:3215"),
        "vectord's own bind (split mode)",
    ),
    key(
        "vectord",
        "storaged_url",
        S,
        Str("http://127.0.0.1:3211"),
        "split mode with a local data directory: the storaged that holds the indexes (on S3 vectord uses the bucket directly); `\"\"` turns persistence off, as in the Go system",
    ),
    key(
        "vectord",
        "persist",
        Kind::Bool,
        Computed("`true` unless `storaged_url = \"\"`"),
        "keep vector indexes in the store (`_vectors/`); `false`: in memory only, gone at exit",
    ),
    key(
        "vectord",
        "memory_limit",
        I,
        Computed("half the machine's memory"),
        "bytes all vector indexes may hold together (0 = none); an add past it gets `507 vector_memory_exceeded` and applies nothing",
    ),
];

#[derive(Clone, Debug)]
pub struct VectordConfig {
    pub bind: SocketAddr,
    pub storaged_url: String,
    pub persist: bool,
    /// Bytes all vector indexes together may hold; `None` = no limit. Unset: half of
    /// the machine's memory.
    pub memory_limit: Option<u64>,
}

impl VectordConfig {
    pub fn from_fields(v: &Fields) -> Result<VectordConfig, ConfigError> {
        let storaged_url = v.url_or_empty("storaged_url")?;
        Ok(VectordConfig {
            bind: v.addr("bind")?,
            // The Go file's empty storaged_url meant "no persistence"; keep that meaning.
            persist: v.opt_bool("persist")?.unwrap_or(!storaged_url.is_empty()),
            storaged_url,
            memory_limit: if v.is_set("memory_limit") {
                Some(v.uint("memory_limit")?).filter(|b| *b > 0)
            } else {
                Some(common::mem::physical_memory() / 2)
            },
        })
    }
}
