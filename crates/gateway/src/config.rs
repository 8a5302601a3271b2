//! `[gateway]`'s own keys: its bind, and where the split gateway sends each service's
//! paths. (The section's process-wide keys — the API key, browsers, slow clients, TLS —
//! are declared by `common::config::process`, which implements them.)

use std::net::SocketAddr;
use std::time::Duration;

use common::config::keys::Default::Str;
use common::config::keys::Kind::Str as S;
use common::config::keys::{Key, key};
use common::config::{ConfigError, Fields};

pub const KEYS: &[Key] = &[
    key(
        "gateway",
        "bind",
        S,
        Str("127.0.0.1:3110"),
        "the gateway's bind: every route in standalone mode",
    ),
    key(
        "gateway",
        "storaged_url",
        S,
        Str("http://127.0.0.1:3211"),
        "split mode: where the gateway sends `/v1/storage`",
    ),
    key(
        "gateway",
        "catalogd_url",
        S,
        Str("http://127.0.0.1:3212"),
        "split mode: where the gateway sends `/v1/datasets`",
    ),
    key(
        "gateway",
        "ingestd_url",
        S,
        Str("http://127.0.0.1:3213"),
        "split mode: where the gateway sends `/v1/ingest`",
    ),
    key(
        "gateway",
        "queryd_url",
        S,
        Str("http://127.0.0.1:3214"),
        "split mode: where the gateway sends `/v1/sql`",
    ),
    key(
        "gateway",
        "vectord_url",
        S,
        Str("http://127.0.0.1:3215"),
        "split mode: where the gateway sends `/v1/vectors`",
    ),
    key(
        "gateway",
        "upstream_timeout",
        S,
        Str("10m"),
        "split mode: how long a service may stay silent — to begin its answer once the request is sent, or between two chunks of it — before the gateway answers `504`",
    ),
];

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub bind: SocketAddr,
    pub storaged_url: String,
    pub catalogd_url: String,
    pub ingestd_url: String,
    pub queryd_url: String,
    pub vectord_url: String,
    /// (split) How long a service behind the gateway may stay silent: to answer once the
    /// request is sent, and between two chunks of its answer. Past it: 504.
    pub upstream_timeout: Duration,
}

impl GatewayConfig {
    pub fn from_fields(g: &Fields) -> Result<GatewayConfig, ConfigError> {
        Ok(GatewayConfig {
            bind: g.addr("bind")?,
            storaged_url: g.url("storaged_url")?,
            catalogd_url: g.url("catalogd_url")?,
            ingestd_url: g.url("ingestd_url")?,
            queryd_url: g.url("queryd_url")?,
            vectord_url: g.url("vectord_url")?,
            upstream_timeout: g.duration("upstream_timeout")?,
        })
    }
}
