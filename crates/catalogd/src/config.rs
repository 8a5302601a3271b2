//! `[catalogd]`: its bind, the storaged it keeps manifests in (split, local data), and how
//! many versions a dataset keeps.

use std::net::SocketAddr;

use common::config::keys::Default::{Int, Str};
use common::config::keys::Kind::{Int as I, Str as S};
use common::config::keys::{Key, key};
use common::config::{ConfigError, Fields};

pub const KEYS: &[Key] = &[
    key(
        "catalogd",
        "bind",
        S,
        Str("127.0.0.1:3212"),
        "catalogd's own bind (split mode)",
    ),
    key(
        "catalogd",
        "storaged_url",
        S,
        Str("http://127.0.0.1:3211"),
        "split mode with a local data directory: the storaged that owns it (on S3 the role uses the bucket directly)",
    ),
    key(
        "catalogd",
        "keep_versions",
        I,
        Int(10),
        "versions kept per dataset (current included, at least 1); older files are deleted after a commit",
    ),
];

#[derive(Clone, Debug)]
pub struct CatalogdConfig {
    pub bind: SocketAddr,
    pub storaged_url: String,
    /// Versions kept per dataset, the current one included (at least 1).
    pub keep_versions: u32,
}

impl CatalogdConfig {
    pub fn from_fields(c: &Fields) -> Result<CatalogdConfig, ConfigError> {
        let keep = c.uint("keep_versions")?;
        Ok(CatalogdConfig {
            bind: c.addr("bind")?,
            storaged_url: c.url("storaged_url")?,
            keep_versions: u32::try_from(keep)
                .ok()
                .filter(|k| *k >= 1)
                .ok_or_else(|| c.invalid("keep_versions", keep, "must be 1..=4294967295"))?,
        })
    }
}
