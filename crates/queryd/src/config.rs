//! `[queryd]`: its binds (HTTP and PostgreSQL), its peers (split), and the limits on
//! queries and connections.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::config::keys::Default::{Int, Str, Unset};
use common::config::keys::Kind::{Int as I, Str as S};
use common::config::keys::{Key, key};
use common::config::{ConfigError, Fields};

pub const KEYS: &[Key] = &[
    key(
        "queryd",
        "bind",
        S,
        Str("127.0.0.1:3214"),
        "queryd's own bind (split mode)",
    ),
    key(
        "queryd",
        "catalogd_url",
        S,
        Str("http://127.0.0.1:3212"),
        "split mode: where queryd reads the catalog",
    ),
    key(
        "queryd",
        "storaged_url",
        S,
        Str("http://127.0.0.1:3211"),
        "split mode with a local data directory: the storaged queryd reads data files from, by ranged GETs (on S3 queryd reads the bucket directly)",
    ),
    key(
        "queryd",
        "vectord_url",
        S,
        Str("http://127.0.0.1:3215"),
        "split mode: the vectord whose indexes SQL's `vector_search` reads",
    ),
    key(
        "queryd",
        "secrets_path",
        S,
        Unset,
        "a TOML file with `access_key_id` and `secret_access_key` for S3 (the Go system's secrets file); a missing file is no error",
    ),
    key(
        "queryd",
        "refresh_every",
        S,
        Str("30s"),
        "split mode: how often the table list (`information_schema`, `\\dt`) is refreshed in the background; tables themselves are read from the catalog at planning time",
    ),
    key(
        "queryd",
        "pg_bind",
        S,
        Str("127.0.0.1:5433"),
        "the PostgreSQL wire protocol's bind",
    ),
    key(
        "queryd",
        "query_timeout",
        S,
        Str("300s"),
        "a query running longer is stopped (`408 query_timeout`, SQLSTATE `57014`; `0s` = none)",
    ),
    key(
        "queryd",
        "query_memory_limit",
        I,
        Int(2 << 30),
        "bytes one query may hold; sorts, joins and aggregates spill to disk first, then `422 query_memory_exceeded` (0 = none)",
    ),
    key(
        "queryd",
        "max_concurrent_queries",
        I,
        Int(8),
        "queries running at once, HTTP and PostgreSQL together (0 = none); one more waits `query_queue_timeout` for a slot, then `503 too_many_queries` with `Retry-After` (SQLSTATE `53000`)",
    ),
    key(
        "queryd",
        "query_queue_timeout",
        S,
        Str("10s"),
        "how long a query waits for a free slot",
    ),
    key(
        "queryd",
        "max_pg_connections",
        I,
        Int(100),
        "open PostgreSQL connections (0 = none); one more gets `FATAL 53300` too many clients",
    ),
    key(
        "queryd",
        "pg_startup_timeout",
        S,
        Str("10s"),
        "how long a PostgreSQL connection may take from accept to ready for queries (TLS, startup, authentication) before it is closed, freeing its place under `max_pg_connections`",
    ),
];

#[derive(Clone, Debug)]
pub struct QuerydConfig {
    pub bind: SocketAddr,
    pub catalogd_url: String,
    pub storaged_url: String,
    /// Split mode: where `vector_search` sends searches.
    pub vectord_url: String,
    /// The Go system's secrets file, with the S3 credentials (read with `[s3]`).
    pub secrets_path: Option<PathBuf>,
    pub refresh_every: Duration,
    pub pg_bind: SocketAddr,
    /// Planning plus execution of one query.
    pub query_timeout: Duration,
    /// Memory one query may hold, in bytes (sorts, joins and aggregates spill to disk first).
    pub query_memory_limit: u64,
    /// Queries running at once (HTTP and PostgreSQL together); 0 = no limit.
    pub max_concurrent_queries: usize,
    /// How long a query waits for a free slot before it is refused (503, SQLSTATE 53000).
    pub query_queue_timeout: Duration,
    /// Open PostgreSQL connections; past it a new one gets `53300 too_many_connections`.
    pub max_pg_connections: usize,
    /// From accept to ready for queries; past it the connection is closed.
    pub pg_startup_timeout: Duration,
}

impl QuerydConfig {
    pub fn from_fields(q: &Fields) -> Result<QuerydConfig, ConfigError> {
        Ok(QuerydConfig {
            bind: q.addr("bind")?,
            catalogd_url: q.url("catalogd_url")?,
            storaged_url: q.url("storaged_url")?,
            vectord_url: q.url("vectord_url")?,
            secrets_path: q.opt_path("secrets_path")?,
            refresh_every: q.duration("refresh_every")?,
            pg_bind: q.addr("pg_bind")?,
            query_timeout: q.duration("query_timeout")?,
            query_memory_limit: q.uint("query_memory_limit")?,
            max_concurrent_queries: q.usize("max_concurrent_queries")?,
            query_queue_timeout: q.duration("query_queue_timeout")?,
            max_pg_connections: q.usize("max_pg_connections")?,
            pg_startup_timeout: q.positive_duration("pg_startup_timeout")?,
        })
    }
}
