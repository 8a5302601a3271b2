//! `[ingestd]`: its bind, its peers (split), and the limits on what an ingest may bring.

use std::net::SocketAddr;

use common::config::keys::Default::{Int, Str};
use common::config::keys::Kind::{Int as I, Str as S};
use common::config::keys::{Key, key};
use common::config::{ConfigError, Fields};

pub const KEYS: &[Key] = &[
    key(
        "ingestd",
        "bind",
        S,
        Str("127.0.0.1:3213"),
        "ingestd's own bind (split mode)",
    ),
    key(
        "ingestd",
        "storaged_url",
        S,
        Str("http://127.0.0.1:3211"),
        "split mode with a local data directory: the storaged that owns it (on S3 the role uses the bucket directly)",
    ),
    key(
        "ingestd",
        "catalogd_url",
        S,
        Str("http://127.0.0.1:3212"),
        "split mode: where ingestd commits versions",
    ),
    key(
        "ingestd",
        "max_ingest_bytes",
        I,
        Int(0),
        "bytes an ingest may bring, counted decoded for a gzip body (`413 too_large` past it; 0 = none). Not needed for memory safety: ingest streams",
    ),
    key(
        "ingestd",
        "max_gzip_ratio",
        I,
        Int(200),
        "a gzip body decoding to more than this many times its size is refused (`413 too_large`): a decompression bomb (0 = none)",
    ),
    key(
        "ingestd",
        "max_columns",
        I,
        Int(4096),
        "columns a dataset may have; an upload with more is refused (`422 too_many_columns`)",
    ),
];

#[derive(Clone, Debug)]
pub struct IngestdConfig {
    pub bind: SocketAddr,
    pub storaged_url: String,
    pub catalogd_url: String,
    /// 0 = unlimited.
    pub max_ingest_bytes: u64,
    /// Decoded ÷ wire size a gzip body may reach; 0 = unlimited.
    pub max_gzip_ratio: u64,
    /// Columns a dataset may have.
    pub max_columns: u64,
}

impl IngestdConfig {
    pub fn from_fields(i: &Fields) -> Result<IngestdConfig, ConfigError> {
        Ok(IngestdConfig {
            bind: i.addr("bind")?,
            storaged_url: i.url("storaged_url")?,
            catalogd_url: i.url("catalogd_url")?,
            max_ingest_bytes: i.uint("max_ingest_bytes")?,
            max_gzip_ratio: i.uint("max_gzip_ratio")?,
            max_columns: i.uint("max_columns")?,
        })
    }
}
