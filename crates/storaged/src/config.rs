//! `[storaged]` (its bind, the largest object), `[storage]` (where objects live) and
//! `[s3]` (the bucket, its credentials, and how long to wait on it).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::config::keys::Default::{Bool, Computed, Int, Str, Unset};
use common::config::keys::Kind::{self as Kind, Int as I, Str as S};
use common::config::keys::{Key, key, secret};
use common::config::{ConfigError, Fields, check_url, toml_error};

pub const KEYS: &[Key] = &[
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
];

#[derive(Clone, Debug)]
pub struct StoragedConfig {
    pub bind: SocketAddr,
    /// Largest object a PUT may store; larger bodies get 413 and store nothing.
    pub max_object_bytes: u64,
}

impl StoragedConfig {
    pub fn from_fields(s: &Fields) -> Result<StoragedConfig, ConfigError> {
        Ok(StoragedConfig {
            bind: s.addr("bind")?,
            max_object_bytes: s.uint("max_object_bytes")?,
        })
    }
}

/// Where objects live.
#[derive(Clone, Debug)]
pub enum StorageConfig {
    Local { data_dir: PathBuf },
    S3(S3Config),
}

impl StorageConfig {
    /// The S3 settings, when objects live there.
    pub fn s3(&self) -> Option<&S3Config> {
        match self {
            StorageConfig::S3(s3) => Some(s3),
            StorageConfig::Local { .. } => None,
        }
    }

    /// Resolves `[storage]`: local unless `backend = "s3"`, or unset with an `[s3]` bucket.
    /// S3 credentials come from `[s3]`, else the Go system's secrets file at
    /// `secrets_path` (`[queryd] secrets_path`, where that system named it), else the
    /// `AWS_*` environment.
    pub fn from_fields(
        storage: &Fields,
        s3: &Fields,
        secrets_path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<StorageConfig, ConfigError> {
        let bucket = s3.opt_str("bucket")?.filter(|b| !b.is_empty());
        let backend = match storage.opt_str("backend")? {
            Some(b) => b,
            None if bucket.is_some() => "s3".into(),
            None => "local".into(),
        };
        match backend.as_str() {
            "local" => Ok(StorageConfig::Local {
                data_dir: PathBuf::from(storage.str("data_dir")?),
            }),
            "s3" => {
                let bucket = bucket.ok_or_else(|| {
                    ConfigError("config: [storage] backend = \"s3\" needs [s3] bucket".into())
                })?;
                let secrets = match secrets_path {
                    Some(p) => read_secrets(p)?,
                    None => Secrets::default(),
                };
                let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
                let endpoint = non_empty(s3.opt_str("endpoint")?)
                    .or_else(|| non_empty(env("AWS_ENDPOINT_URL")));
                if let Some(e) = &endpoint {
                    check_url(e).map_err(|why| s3.invalid("endpoint", format!("{e:?}"), why))?;
                }
                Ok(StorageConfig::S3(S3Config {
                    endpoint,
                    region: non_empty(s3.opt_str("region")?)
                        .or_else(|| non_empty(env("AWS_REGION")))
                        .or_else(|| non_empty(env("AWS_DEFAULT_REGION")))
                        .unwrap_or_else(|| "us-east-1".into()),
                    bucket,
                    access_key_id: non_empty(s3.opt_str("access_key_id")?)
                        .or(secrets.access_key_id)
                        .or_else(|| non_empty(env("AWS_ACCESS_KEY_ID"))),
                    secret_access_key: non_empty(s3.opt_str("secret_access_key")?)
                        .or(secrets.secret_access_key)
                        .or_else(|| non_empty(env("AWS_SECRET_ACCESS_KEY"))),
                    use_path_style: s3.bool("use_path_style")?,
                    timeouts: S3Timeouts::from_fields(s3)?,
                }))
            }
            other => Err(storage.invalid(
                "backend",
                format!("{other:?}"),
                "must be \"local\" or \"s3\"",
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct S3Config {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub use_path_style: bool,
    pub timeouts: S3Timeouts,
}

/// How long the S3 client waits, and how often it retries, before a request that touches a
/// sick store answers `503 store_unavailable` (`[s3]` keys of the same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct S3Timeouts {
    /// Establishing a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// The longest wait for an answer: from sending a request (a single PUT or part is at
    /// most 8 MiB) to the first byte of its response, and then between two chunks of a body
    /// being read. A store that accepts connections and never answers is detected after
    /// this long.
    pub read_timeout: Duration,
    /// The longest one store call may take end to end, retries included (HEAD, LIST, DELETE,
    /// a single PUT, one part of a multipart upload, or a GET until its body starts).
    pub request_timeout: Duration,
    /// Retries of a call that failed with a transport error or a 5xx (idempotent calls).
    pub max_retries: u32,
    /// No retry starts later than this after the call's first attempt.
    pub retry_timeout: Duration,
}

impl Default for S3Timeouts {
    /// The declared defaults ([`KEYS`]).
    fn default() -> S3Timeouts {
        S3Timeouts::from_fields(&Fields::defaults("s3", KEYS)).expect("declared defaults are valid")
    }
}

impl S3Timeouts {
    /// `[s3]`'s timeouts and retries; a zero timeout is refused (it would fail every call).
    pub fn from_fields(s3: &Fields) -> Result<S3Timeouts, ConfigError> {
        let max_retries = s3.uint("max_retries")?;
        let max_retries = u32::try_from(max_retries)
            .ok()
            .filter(|r| *r <= 10)
            .ok_or_else(|| s3.invalid("max_retries", max_retries, "must be 0 to 10"))?;
        Ok(S3Timeouts {
            connect_timeout: s3.positive_duration("connect_timeout")?,
            read_timeout: s3.positive_duration("read_timeout")?,
            request_timeout: s3.positive_duration("request_timeout")?,
            max_retries,
            retry_timeout: s3.duration("retry_timeout")?,
        })
    }
}

#[derive(Debug, Default)]
struct Secrets {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
}

/// The Go system's secrets file. A missing file is not an error (the Go system's config names a
/// path that exists only on its production hosts); an unreadable or malformed one is, reported
/// by line and key — never by content.
fn read_secrets(path: &Path) -> Result<Secrets, ConfigError> {
    let invalid = |why: String| {
        ConfigError(format!(
            "config: secrets file {} is not valid: {why}",
            path.display()
        ))
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let table =
                toml::from_str::<toml::Table>(&text).map_err(|e| invalid(toml_error(&text, &e)))?;
            let field = |key: &str| match table.get(key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("{key} must be a string"))),
            };
            Ok(Secrets {
                access_key_id: field("access_key_id")?,
                secret_access_key: field("secret_access_key")?,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Secrets::default()),
        Err(e) => Err(ConfigError(format!(
            "config: cannot read secrets file {}: {e}",
            path.display()
        ))),
    }
}
