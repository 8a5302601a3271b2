//! Every configuration key, declared once: its section, name, type, default and what it
//! does. The loader takes defaults and the typing of `LAKEHOUSE_<SECTION>_<KEY>` overrides
//! from here, warns about any key not here, `lakehouse config` prints every key from here,
//! and docs/configuration.md is [`reference`] (a test fails when the two differ).

/// How a key's value is written: in the file, and in its environment override.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string (a bind, a URL, a path, a duration such as `"30s"`).
    Str,
    /// A non-negative integer.
    Int,
    Bool,
    /// A list of strings; in the environment, comma-separated.
    List,
}

/// A key's value when the file and the environment leave it unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    Str(&'static str),
    Int(u64),
    Bool(bool),
    /// An empty list.
    Empty,
    /// Unset: the feature is off, or the value comes from elsewhere (the doc says where).
    Unset,
    /// Worked out when the configuration loads, as the text says.
    Computed(&'static str),
}

/// One configuration key.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub section: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    pub default: Default,
    /// A secret: never shown, by `lakehouse config` or in an error.
    pub secret: bool,
    /// What it does, one line of Markdown.
    pub doc: &'static str,
}

impl Key {
    /// The environment variable that overrides it.
    pub fn env_var(&self) -> String {
        format!(
            "LAKEHOUSE_{}_{}",
            self.section.to_uppercase(),
            self.name.to_uppercase()
        )
    }
}

const fn key(
    section: &'static str,
    name: &'static str,
    kind: Kind,
    default: Default,
    doc: &'static str,
) -> Key {
    Key {
        section,
        name,
        kind,
        default,
        secret: false,
        doc,
    }
}

const fn secret(section: &'static str, name: &'static str, doc: &'static str) -> Key {
    Key {
        secret: true,
        ..key(section, name, Kind::Str, Default::Unset, doc)
    }
}

use self::Default::{Bool, Computed, Empty, Int, Str, Unset};
use self::Kind::{Int as I, List as L, Str as S};

/// Every key the loader knows, section by section; the Go system's keys among them.
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
    secret(
        "gateway",
        "api_key",
        "when set (or `LAKEHOUSE_API_KEY`), every route but `/health` needs `Authorization: Bearer KEY`, on the gateway and every split service; also the PostgreSQL password",
    ),
    key(
        "gateway",
        "upstream_timeout",
        S,
        Str("10m"),
        "split mode: how long a service may stay silent — to begin its answer once the request is sent, or between two chunks of it — before the gateway answers `504`",
    ),
    key(
        "gateway",
        "allowed_hosts",
        L,
        Empty,
        "DNS names the server answers to besides IP addresses, `localhost` and the hosts of the service URLs; any other `Host` is `403 forbidden_host` (DNS rebinding; docs/api.md, Browsers)",
    ),
    key(
        "gateway",
        "allowed_origins",
        L,
        Empty,
        "other sites' origins (`https://host[:port]`) whose web pages may call the API (CORS); any other `Origin`, or `Sec-Fetch-Site: cross-site`, is `403`",
    ),
    key(
        "gateway",
        "header_read_timeout",
        S,
        Str("10s"),
        "a request head (a TLS handshake included) not complete in time closes the connection; more than 0",
    ),
    key(
        "gateway",
        "body_idle_timeout",
        S,
        Str("30s"),
        "a request body silent this long fails with `400` naming the key; more than 0",
    ),
    key(
        "gateway",
        "body_timeout",
        S,
        Str("1h"),
        "a request body not whole this long after the request began fails with `400` naming the key (`0s` = none)",
    ),
    key(
        "gateway",
        "tls_cert",
        S,
        Unset,
        "PEM certificate chain (leaf first): with `tls_key`, every HTTP server of the process and the PostgreSQL port speak TLS only (docs/api.md, TLS)",
    ),
    key(
        "gateway",
        "tls_key",
        S,
        Unset,
        "PEM private key of `tls_cert`",
    ),
    key(
        "gateway",
        "tls_ca",
        S,
        Unset,
        "PEM CA certificates the process's own clients trust besides the system's (split roles calling each other, S3)",
    ),
    key(
        "storaged",
        "bind",
        S,
        Str("127.0.0.1:3211"),
        "storaged's own bind (split mode)",
    ),
    key(
        "storaged",
        "max_object_bytes",
        I,
        Int(5 << 30),
        "larger PUTs get `413 too_large` and store nothing",
    ),
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
    key(
        "s3",
        "endpoint",
        S,
        Computed("`AWS_ENDPOINT_URL`, else AWS"),
        "any S3-compatible server's URL",
    ),
    key(
        "s3",
        "region",
        S,
        Computed("`AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`"),
        "the bucket's region",
    ),
    key(
        "s3",
        "bucket",
        S,
        Unset,
        "the bucket every object lives in; required with `[storage] backend = \"s3\"`, and the backend's default when set",
    ),
    secret(
        "s3",
        "access_key_id",
        "S3 credentials; unset: from `[queryd] secrets_path`, else `AWS_ACCESS_KEY_ID`",
    ),
    secret(
        "s3",
        "secret_access_key",
        "S3 credentials; unset: from `[queryd] secrets_path`, else `AWS_SECRET_ACCESS_KEY`",
    ),
    key(
        "s3",
        "use_path_style",
        Kind::Bool,
        Bool(false),
        "`http://host/bucket/key` instead of `http://bucket.host/key` (most servers other than AWS)",
    ),
    key(
        "s3",
        "connect_timeout",
        S,
        Str("3s"),
        "opening a connection to the store; more than 0 (docs/api.md, A sick store)",
    ),
    key(
        "s3",
        "read_timeout",
        S,
        Str("15s"),
        "from sending a request to the first byte of its answer, then each silence between two chunks of a body; more than 0",
    ),
    key(
        "s3",
        "request_timeout",
        S,
        Str("30s"),
        "one store call end to end, its retries included; past it the request answers `503 store_unavailable`; more than 0",
    ),
    key(
        "s3",
        "max_retries",
        I,
        Int(2),
        "retries of an idempotent call after a transport error or a 5xx (0 to 10)",
    ),
    key(
        "s3",
        "retry_timeout",
        S,
        Str("20s"),
        "no retry starts later than this after the call's first attempt",
    ),
    key(
        "storage",
        "backend",
        S,
        Computed("`s3` if `[s3] bucket` is set, else `local`"),
        "where objects live: `local` or `s3`",
    ),
    key(
        "storage",
        "data_dir",
        S,
        Str("./lakehouse-data"),
        "the local backend's directory (`--data-dir` sets it and implies `local`)",
    ),
    key(
        "log",
        "level",
        S,
        Str("info"),
        "`trace`, `debug`, `info`, `warn` or `error`; `RUST_LOG` overrides",
    ),
];

/// The sections, in the order of [`KEYS`].
pub fn sections() -> Vec<&'static str> {
    let mut sections: Vec<&str> = Vec::new();
    for k in KEYS {
        if !sections.contains(&k.section) {
            sections.push(k.section);
        }
    }
    sections
}

/// The declaration of `[section] name`.
pub fn find(section: &str, name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.section == section && k.name == name)
}

/// How a default reads in the docs.
pub fn shown_default(default: &Default) -> String {
    match default {
        Default::Str(s) => format!("`{s}`"),
        Default::Int(n) => {
            const GIB: u64 = 1 << 30;
            if *n >= GIB && n % GIB == 0 {
                format!("{n} ({} GiB)", n / GIB)
            } else {
                n.to_string()
            }
        }
        Default::Bool(b) => format!("`{b}`"),
        Default::Empty => "`[]`".into(),
        Default::Unset => "unset".into(),
        Default::Computed(how) => (*how).into(),
    }
}

/// docs/configuration.md: every key with its default, environment variable and doc line.
pub fn reference() -> String {
    let mut text = String::from(
        "# Configuration\n\n\
         <!-- Generated from crates/common/src/config/keys.rs by `lakehouse config --reference`;\n     \
         a test fails when this file and the declarations differ. -->\n\n\
         `lakehouse serve --config lakehouse.toml` reads a TOML file (the Go system's loads\n\
         unchanged; [lakehouse.example.toml](lakehouse.example.toml) shows one); without one,\n\
         every key has its default: standalone, data in `./lakehouse-data`, loopback only. A\n\
         `LAKEHOUSE_<SECTION>_<KEY>` environment variable overrides the file (a list is\n\
         comma-separated); a key the loader does not know is ignored with a warning.\n\
         `lakehouse config [--config FILE]` prints the configuration in effect, secrets hidden.\n",
    );
    for section in sections() {
        text +=
            &format!("\n## [{section}]\n\n| key | default | what it does |\n| --- | --- | --- |\n");
        for k in KEYS.iter().filter(|k| k.section == section) {
            text += &format!(
                "| `{}` | {} | {} |\n",
                k.name,
                shown_default(&k.default),
                k.doc
            );
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_configuration_md_is_the_reference_of_the_declarations() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let docs = std::fs::read_to_string(path).expect("docs/configuration.md");
        assert!(
            docs == reference(),
            "docs/configuration.md differs from the keys declared in \
             crates/common/src/config/keys.rs: run \
             `cargo run -p lakehouse -- config --reference > docs/configuration.md`"
        );
    }

    #[test]
    fn every_key_is_declared_once_with_a_doc_line() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(
                !KEYS[..i]
                    .iter()
                    .any(|o| o.section == k.section && o.name == k.name),
                "[{}] {} declared twice",
                k.section,
                k.name
            );
            assert!(!k.doc.is_empty() && !k.doc.contains('\n'), "{k:?}");
            assert!(!k.secret || k.default == Default::Unset, "{k:?}");
        }
    }
}
