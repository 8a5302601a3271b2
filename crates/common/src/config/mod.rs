//! Configuration: the Go system's `lakehouse.toml` plus this system's own keys (docs/api.md, docs/lakehouse.example.toml).
//!
//! Loading is three layers, later wins: built-in defaults, the TOML file, then
//! `LAKEHOUSE_<SECTION>_<KEY>` environment variables. Every key is declared once, in
//! [`keys::KEYS`] (type, default, doc line): that table gives the defaults, drives the
//! unknown-key warnings, the typing of environment overrides, `lakehouse config` and
//! docs/configuration.md. Values are checked once, here: past [`Config::load`] a bind is a
//! `SocketAddr`, a URL a `Url`-shaped string, a duration a `Duration`.

pub mod keys;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Value;

/// A configuration problem: the message names the key and the value at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    /// Names the key and shows its value — except for a secret's, which never appears in
    /// a message (errors reach logs and terminals).
    fn key(section: &str, key: &str, value: impl std::fmt::Display, why: &str) -> Self {
        if keys::find(section, key).is_some_and(|k| k.secret) {
            return ConfigError(format!(
                "config: [{section}] {key} (value not shown): {why}"
            ));
        }
        ConfigError(format!("config: [{section}] {key} = {value}: {why}"))
    }
}

/// Where a TOML file is broken, without its text (which may hold secrets): `line L, column
/// C: what` from the parser's span and message (the message of a syntax error names tokens
/// and keys, not values).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let what = e.message().lines().next().unwrap_or("invalid TOML");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what.to_string(),
    }
}

/// The whole configuration, typed and checked.
#[derive(Clone, Debug)]
pub struct Config {
    pub gateway: GatewayConfig,
    pub storaged: StoragedConfig,
    pub catalogd: ServiceLink,
    pub ingestd: IngestdConfig,
    pub vectord: VectordConfig,
    pub queryd: QuerydConfig,
    pub storage: StorageConfig,
    pub log_level: String,
}

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub bind: SocketAddr,
    pub storaged_url: String,
    pub catalogd_url: String,
    pub ingestd_url: String,
    pub queryd_url: String,
    pub vectord_url: String,
    pub api_key: Option<String>,
    /// (split) How long a service behind the gateway may stay silent: to answer once the
    /// request is sent, and between two chunks of its answer. Past it: 504.
    pub upstream_timeout: Duration,
    /// Names of this server besides IP addresses, `localhost` and the hosts of the service
    /// URLs (see [`crate::browser`]); lowercase, no port.
    pub allowed_hosts: Vec<String>,
    /// Other origins (`scheme://host[:port]`) whose web pages may call the API.
    pub allowed_origins: Vec<String>,
    /// Bounds on slow clients, for every HTTP server of the process.
    pub client_limits: crate::server::ClientLimits,
    /// Certificates: what every server of the process presents, what its clients trust.
    pub tls: TlsConfig,
}

/// `[gateway] tls_cert`, `tls_key`, `tls_ca` (see [`crate::tls`]).
#[derive(Clone, Debug, Default)]
pub struct TlsConfig {
    /// PEM certificate chain (leaf first) and private key: with both, every HTTP server
    /// and the PostgreSQL port of the process speak TLS only.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// PEM certificates the process's own clients (a split role calling another, the
    /// gateway's proxy) trust besides the system's roots: the CA of a private certificate.
    pub ca: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct StoragedConfig {
    pub bind: SocketAddr,
    /// Largest object a PUT may store; larger bodies get 413 and store nothing.
    pub max_object_bytes: u64,
}

/// A service that only has a bind and reaches storaged (catalogd today).
#[derive(Clone, Debug)]
pub struct ServiceLink {
    pub bind: SocketAddr,
    pub storaged_url: String,
    pub keep_versions: u32,
}

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

#[derive(Clone, Debug)]
pub struct VectordConfig {
    pub bind: SocketAddr,
    pub storaged_url: String,
    pub persist: bool,
    /// Bytes all vector indexes together may hold; `None` = no limit. Unset: half of
    /// the machine's memory.
    pub memory_limit: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct QuerydConfig {
    pub bind: SocketAddr,
    pub catalogd_url: String,
    pub storaged_url: String,
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
    /// The declared defaults ([`keys::KEYS`]).
    fn default() -> S3Timeouts {
        s3_timeouts(&Raw::default().fields("s3")).expect("declared defaults are valid")
    }
}

/// The merged TOML tree: the file, then the environment, then the command line.
#[derive(Debug, Default)]
struct Raw(toml::Table);

impl Raw {
    /// `[section]`'s keys, read with their declared defaults (none when the section is
    /// absent or not a table, which [`warn_unknown`] reports as ignored).
    fn fields(&self, section: &'static str) -> Fields {
        let raw = match self.0.get(section) {
            Some(Value::Table(t)) => t.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            _ => RawSection::new(),
        };
        Fields { section, raw }
    }
}

type RawSection = BTreeMap<String, Value>;

/// What [`Config::load`] found besides the config itself.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Unknown sections and keys, named, for the caller to log as warnings.
    pub warnings: Vec<String>,
    /// The keys set by the file, the environment and the command line, merged (what
    /// [`Config::describe`] shows beside the defaults).
    pub effective: toml::Table,
}

/// Options the command line adds on top of the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--data-dir`: sets `[storage] data_dir` and implies the local backend.
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// What browsers may do ([`crate::browser`]): the server's names are `[gateway]
    /// allowed_hosts` plus the host of every service URL in this config (a split deployment
    /// reaches its services by those names).
    pub fn browser_policy(&self) -> crate::browser::BrowserPolicy {
        let g = &self.gateway;
        let urls = [
            &g.storaged_url,
            &g.catalogd_url,
            &g.ingestd_url,
            &g.queryd_url,
            &g.vectord_url,
            &self.catalogd.storaged_url,
            &self.ingestd.storaged_url,
            &self.ingestd.catalogd_url,
            &self.vectord.storaged_url,
            &self.queryd.catalogd_url,
            &self.queryd.storaged_url,
        ];
        let url_hosts = urls.into_iter().filter_map(|url| {
            let authority = url.split_once("://")?.1.split('/').next()?;
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            Some(crate::browser::host_name(host).to_ascii_lowercase())
        });
        let mut hosts: Vec<String> = g.allowed_hosts.iter().cloned().chain(url_hosts).collect();
        hosts.sort();
        hosts.dedup();
        crate::browser::BrowserPolicy::new(hosts, g.allowed_origins.iter().cloned())
    }

    /// Loads `path` (or nothing: the embedded defaults), applies `LAKEHOUSE_*` variables from
    /// `env`, then command-line overrides, and checks every value.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<(Config, LoadReport), ConfigError> {
        let mut tree = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    ConfigError(format!("config: cannot read {}: {e}", p.display()))
                })?;
                toml::from_str::<toml::Table>(&text).map_err(|e| {
                    ConfigError(format!(
                        "config: {} is not valid TOML: {}",
                        p.display(),
                        toml_error(&text, &e)
                    ))
                })?
            }
            None => toml::Table::new(),
        };
        let mut report = LoadReport::default();
        warn_unknown(&tree, &mut report);
        apply_env(&mut tree, env)?;
        if let Some(dir) = &overrides.data_dir {
            let storage = section_mut(&mut tree, "storage");
            storage.insert("backend".into(), Value::String("local".into()));
            storage.insert("data_dir".into(), Value::String(dir.display().to_string()));
        }
        let raw = Raw(tree);
        let config = Config::from_raw(&raw, env)?;
        report.effective = raw.0;
        Ok((config, report))
    }

    /// The embedded default: standalone, local storage in `./lakehouse-data`.
    pub fn default_standalone() -> Config {
        Config::from_raw(&Raw::default(), &|_| None).expect("built-in defaults are valid")
    }

    /// `lakehouse config`: every declared key, section by section, as TOML — the value the
    /// file, the environment or the command line set (`effective`, from [`LoadReport`]),
    /// else the default, worked out where it is computed; secrets as `"<set>"`, unset keys
    /// as a comment.
    pub fn describe(&self, effective: &toml::Table) -> String {
        let mut text = String::new();
        for section in keys::sections() {
            if !text.is_empty() {
                text.push('\n');
            }
            text += &format!("[{section}]\n");
            let set = effective.get(section).and_then(Value::as_table);
            for key in keys::KEYS.iter().filter(|k| k.section == section) {
                let value = set.and_then(|t| t.get(key.name));
                let shown = match (key.secret, value, key.default) {
                    (true, _, _) => self
                        .secret_is_set(key.section, key.name)
                        .then(|| "\"<set>\"".to_string()),
                    // An empty string leaves an optional key unset (as from_raw reads it).
                    (false, Some(Value::String(s)), keys::Default::Unset) if s.is_empty() => None,
                    (false, Some(value), _) => Some(value.to_string()),
                    (false, None, keys::Default::Str(s)) => Some(Value::from(s).to_string()),
                    (false, None, keys::Default::Int(n)) => Some(n.to_string()),
                    (false, None, keys::Default::Bool(b)) => Some(b.to_string()),
                    (false, None, keys::Default::Empty) => Some("[]".into()),
                    (false, None, keys::Default::Unset) => None,
                    (false, None, keys::Default::Computed(_)) => {
                        self.computed(key.section, key.name)
                    }
                };
                match shown {
                    Some(v) => text += &format!("{} = {v}\n", key.name),
                    None => text += &format!("# {}: unset\n", key.name),
                }
            }
        }
        text
    }

    fn secret_is_set(&self, section: &str, name: &str) -> bool {
        let s3 = self.storage.s3();
        match (section, name) {
            ("gateway", "api_key") => self.gateway.api_key.is_some(),
            ("s3", "access_key_id") => s3.is_some_and(|s3| s3.access_key_id.is_some()),
            ("s3", "secret_access_key") => s3.is_some_and(|s3| s3.secret_access_key.is_some()),
            _ => unreachable!("[{section}] {name} is not a declared secret"),
        }
    }

    /// The value in effect of a key whose default is [`keys::Default::Computed`], as TOML;
    /// `None` when it stays unset.
    fn computed(&self, section: &str, name: &str) -> Option<String> {
        let s3 = self.storage.s3();
        let quoted = |s: &str| Value::from(s).to_string();
        match (section, name) {
            ("vectord", "persist") => Some(self.vectord.persist.to_string()),
            ("vectord", "memory_limit") => Some(self.vectord.memory_limit.unwrap_or(0).to_string()),
            ("s3", "endpoint") => s3.and_then(|s3| s3.endpoint.as_deref()).map(quoted),
            ("s3", "region") => s3.map(|s3| quoted(&s3.region)),
            ("storage", "backend") => Some(quoted(match self.storage {
                StorageConfig::Local { .. } => "local",
                StorageConfig::S3(_) => "s3",
            })),
            _ => unreachable!("[{section}] {name} is not declared as computed"),
        }
    }

    fn from_raw(raw: &Raw, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let g = raw.fields("gateway");
        let gateway = GatewayConfig {
            bind: g.addr("bind")?,
            storaged_url: g.url("storaged_url")?,
            catalogd_url: g.url("catalogd_url")?,
            ingestd_url: g.url("ingestd_url")?,
            queryd_url: g.url("queryd_url")?,
            vectord_url: g.url("vectord_url")?,
            api_key: g
                .opt_str("api_key")?
                .or_else(|| env("LAKEHOUSE_API_KEY"))
                .filter(|k| !k.is_empty()),
            upstream_timeout: g.duration("upstream_timeout")?,
            allowed_hosts: g.list("allowed_hosts", check_host_name)?,
            allowed_origins: g.list("allowed_origins", check_origin)?,
            client_limits: crate::server::ClientLimits {
                header_read_timeout: g.positive_duration("header_read_timeout")?,
                body_idle_timeout: g.positive_duration("body_idle_timeout")?,
                body_timeout: Some(g.duration("body_timeout")?).filter(|d| !d.is_zero()),
            },
            tls: tls_config(&g)?,
        };
        let s = raw.fields("storaged");
        let storaged = StoragedConfig {
            bind: s.addr("bind")?,
            max_object_bytes: s.uint("max_object_bytes")?,
        };
        let c = raw.fields("catalogd");
        let catalogd = ServiceLink {
            bind: c.addr("bind")?,
            storaged_url: c.url("storaged_url")?,
            keep_versions: u32::try_from(c.uint("keep_versions")?)
                .ok()
                .filter(|k| *k >= 1)
                .ok_or_else(|| {
                    ConfigError::key("catalogd", "keep_versions", "…", "must be 1..=4294967295")
                })?,
        };
        let i = raw.fields("ingestd");
        let ingestd = IngestdConfig {
            bind: i.addr("bind")?,
            storaged_url: i.url("storaged_url")?,
            catalogd_url: i.url("catalogd_url")?,
            max_ingest_bytes: i.uint("max_ingest_bytes")?,
            max_gzip_ratio: i.uint("max_gzip_ratio")?,
            max_columns: i.uint("max_columns")?,
        };
        let v = raw.fields("vectord");
        let vectord_url = v.url_or_empty("storaged_url")?;
        let vectord = VectordConfig {
            bind: v.addr("bind")?,
            // The Go file's empty storaged_url meant "no persistence"; keep that meaning.
            persist: v.opt_bool("persist")?.unwrap_or(!vectord_url.is_empty()),
            storaged_url: vectord_url,
            memory_limit: match v.raw.get("memory_limit") {
                None => Some(crate::mem::physical_memory() / 2),
                Some(_) => Some(v.uint("memory_limit")?).filter(|b| *b > 0),
            },
        };
        let q = raw.fields("queryd");
        let queryd = QuerydConfig {
            bind: q.addr("bind")?,
            catalogd_url: q.url("catalogd_url")?,
            storaged_url: q.url("storaged_url")?,
            secrets_path: q
                .opt_str("secrets_path")?
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            refresh_every: q.duration("refresh_every")?,
            pg_bind: q.addr("pg_bind")?,
            query_timeout: q.duration("query_timeout")?,
            query_memory_limit: q.uint("query_memory_limit")?,
            max_concurrent_queries: q.usize("max_concurrent_queries")?,
            query_queue_timeout: q.duration("query_queue_timeout")?,
            max_pg_connections: q.usize("max_pg_connections")?,
            pg_startup_timeout: q.positive_duration("pg_startup_timeout")?,
        };
        let storage = storage_config(raw, &queryd, env)?;
        let l = raw.fields("log");
        let log_level = l.str("level")?;
        if tracing_level(&log_level).is_none() {
            return Err(ConfigError::key(
                "log",
                "level",
                format!("{log_level:?}"),
                "must be one of trace, debug, info, warn, error",
            ));
        }
        Ok(Config {
            gateway,
            storaged,
            catalogd,
            ingestd,
            vectord,
            queryd,
            storage,
            log_level,
        })
    }
}

/// `[gateway] tls_cert` and `tls_key` come together; empty strings are unset.
fn tls_config(g: &Fields) -> Result<TlsConfig, ConfigError> {
    let path = |key: &str| -> Result<Option<PathBuf>, ConfigError> {
        Ok(g.opt_str(key)?.filter(|p| !p.is_empty()).map(PathBuf::from))
    };
    let tls = TlsConfig {
        cert: path("tls_cert")?,
        key: path("tls_key")?,
        ca: path("tls_ca")?,
    };
    if tls.cert.is_some() != tls.key.is_some() {
        return Err(ConfigError(
            "config: [gateway] tls_cert and tls_key go together: set both (TLS) or neither".into(),
        ));
    }
    Ok(tls)
}

/// Resolves `[storage]`: local unless `backend = "s3"`, or unset with an `[s3]` bucket.
fn storage_config(
    raw: &Raw,
    queryd: &QuerydConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StorageConfig, ConfigError> {
    let st = raw.fields("storage");
    let s3 = raw.fields("s3");
    let bucket = s3.opt_str("bucket")?.filter(|b| !b.is_empty());
    let backend = match st.opt_str("backend")? {
        Some(b) => b,
        None if bucket.is_some() => "s3".into(),
        None => "local".into(),
    };
    match backend.as_str() {
        "local" => Ok(StorageConfig::Local {
            data_dir: PathBuf::from(st.str("data_dir")?),
        }),
        "s3" => {
            let bucket = bucket.ok_or_else(|| {
                ConfigError("config: [storage] backend = \"s3\" needs [s3] bucket".into())
            })?;
            let secrets = match &queryd.secrets_path {
                Some(p) => read_secrets(p)?,
                None => Secrets::default(),
            };
            let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
            let endpoint =
                non_empty(s3.opt_str("endpoint")?).or_else(|| non_empty(env("AWS_ENDPOINT_URL")));
            if let Some(e) = &endpoint {
                check_url("s3", "endpoint", e)?;
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
                timeouts: s3_timeouts(&s3)?,
            }))
        }
        other => Err(ConfigError::key(
            "storage",
            "backend",
            format!("{other:?}"),
            "must be \"local\" or \"s3\"",
        )),
    }
}

/// `[s3]`'s timeouts and retries; a zero timeout is refused (it would fail every call).
fn s3_timeouts(s3: &Fields) -> Result<S3Timeouts, ConfigError> {
    let max_retries = s3.uint("max_retries")?;
    let max_retries = u32::try_from(max_retries)
        .ok()
        .filter(|r| *r <= 10)
        .ok_or_else(|| {
            ConfigError::key(
                "s3",
                "max_retries",
                max_retries.to_string(),
                "must be 0 to 10",
            )
        })?;
    Ok(S3Timeouts {
        connect_timeout: s3.positive_duration("connect_timeout")?,
        read_timeout: s3.positive_duration("read_timeout")?,
        request_timeout: s3.positive_duration("request_timeout")?,
        max_retries,
        retry_timeout: s3.duration("retry_timeout")?,
    })
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
                Some(Value::String(s)) => Ok(Some(s.clone())),
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

/// Maps a `[log] level` to a tracing level name, `None` when it is not one.
pub fn tracing_level(level: &str) -> Option<&'static str> {
    match level.to_ascii_lowercase().as_str() {
        "trace" => Some("trace"),
        "debug" => Some("debug"),
        "info" => Some("info"),
        "warn" | "warning" => Some("warn"),
        "error" => Some("error"),
        _ => None,
    }
}

fn warn_unknown(tree: &toml::Table, report: &mut LoadReport) {
    for (section, value) in tree {
        let known = keys::sections().contains(&section.as_str());
        match (known, value) {
            (false, _) => report
                .warnings
                .push(format!("config: unknown section [{section}] ignored")),
            (true, Value::Table(_)) => {}
            (true, _) => report
                .warnings
                .push(format!("config: [{section}] should be a table; ignored")),
        }
        if let (true, Value::Table(t)) = (known, value) {
            for key in t.keys().filter(|k| keys::find(section, k).is_none()) {
                report
                    .warnings
                    .push(format!("config: unknown key [{section}] {key} ignored"));
            }
        }
    }
}

fn section_mut<'a>(tree: &'a mut toml::Table, section: &str) -> &'a mut toml::Table {
    let entry = tree
        .entry(section.to_string())
        .or_insert_with(|| Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(toml::Table::new());
    }
    entry.as_table_mut().expect("just made a table")
}

/// Applies `LAKEHOUSE_<SECTION>_<KEY>` for every declared key, typed as declared.
fn apply_env(
    tree: &mut toml::Table,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for key in keys::KEYS {
        {
            let var = key.env_var();
            let Some(text) = env(&var) else { continue };
            let value =
                match key.kind {
                    keys::Kind::Str => Value::String(text),
                    keys::Kind::List => Value::Array(
                        text.split(',')
                            .map(str::trim)
                            .filter(|item| !item.is_empty())
                            .map(|item| Value::String(item.to_string()))
                            .collect(),
                    ),
                    keys::Kind::Int => Value::Integer(text.trim().parse().map_err(|_| {
                        ConfigError(format!("config: {var}={text:?}: not an integer"))
                    })?),
                    keys::Kind::Bool => Value::Boolean(match text.trim() {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => {
                            return Err(ConfigError(format!(
                                "config: {var}={text:?}: not true or false"
                            )));
                        }
                    }),
                };
            section_mut(tree, key.section).insert(key.name.to_string(), value);
        }
    }
    Ok(())
}

/// Typed access to one section's raw values, with the key named in every error and the
/// declared default ([`keys::KEYS`]) for a key the section leaves unset.
struct Fields {
    section: &'static str,
    raw: RawSection,
}

impl Fields {
    fn err(&self, key: &str, value: &Value, why: &str) -> ConfigError {
        ConfigError::key(self.section, key, value, why)
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>, ConfigError> {
        debug_assert!(
            keys::find(self.section, key).is_some(),
            "[{}] {key} is read but not declared",
            self.section
        );
        match self.raw.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(key, v, "must be a string")),
        }
    }

    /// A list of strings (absent = empty), each passed through `check`, which answers why
    /// an item is unusable.
    fn list(
        &self,
        key: &str,
        check: fn(&str) -> Result<String, &'static str>,
    ) -> Result<Vec<String>, ConfigError> {
        let items = match self.raw.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(v) => return Err(self.err(key, v, "must be a list of strings")),
        };
        items
            .iter()
            .map(|item| match item {
                Value::String(text) => check(text).map_err(|why| self.err(key, item, why)),
                other => Err(self.err(key, other, "must be a list of strings")),
            })
            .collect()
    }

    /// The declared default of `key`; a key read but not declared is a bug.
    fn default(&self, key: &str) -> keys::Default {
        keys::find(self.section, key)
            .unwrap_or_else(|| panic!("[{}] {key} is read but not declared", self.section))
            .default
    }

    fn default_mismatch(&self, key: &str) -> ! {
        panic!(
            "[{}] {key} is declared with a default its reader cannot use: {:?}",
            self.section,
            self.default(key)
        )
    }

    fn str(&self, key: &str) -> Result<String, ConfigError> {
        match (self.opt_str(key)?, self.default(key)) {
            (Some(s), _) => Ok(s),
            (None, keys::Default::Str(s)) => Ok(s.to_string()),
            (None, _) => self.default_mismatch(key),
        }
    }

    fn addr(&self, key: &str) -> Result<SocketAddr, ConfigError> {
        let text = self.str(key)?;
        text.parse().map_err(|_| {
            self.err(
                key,
                &Value::String(text.clone()),
                "not a socket address (e.g. 127.0.0.1:3110)",
            )
        })
    }

    fn url(&self, key: &str) -> Result<String, ConfigError> {
        let text = self.str(key)?;
        check_url(self.section, key, &text)?;
        Ok(text.trim_end_matches('/').to_string())
    }

    fn url_or_empty(&self, key: &str) -> Result<String, ConfigError> {
        match self.opt_str(key)? {
            Some(s) if s.is_empty() => Ok(s),
            _ => self.url(key),
        }
    }

    fn uint(&self, key: &str) -> Result<u64, ConfigError> {
        match self.raw.get(key) {
            None => match self.default(key) {
                keys::Default::Int(n) => Ok(n),
                _ => self.default_mismatch(key),
            },
            Some(Value::Integer(i)) if *i >= 0 => Ok(*i as u64),
            Some(v) => Err(self.err(key, v, "must be a non-negative integer")),
        }
    }

    fn usize(&self, key: &str) -> Result<usize, ConfigError> {
        let n = self.uint(key)?;
        usize::try_from(n).map_err(|_| self.err(key, &Value::Integer(n as i64), "too large"))
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.raw.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(key, v, "must be true or false")),
        }
    }

    fn bool(&self, key: &str) -> Result<bool, ConfigError> {
        match (self.opt_bool(key)?, self.default(key)) {
            (Some(b), _) | (None, keys::Default::Bool(b)) => Ok(b),
            (None, _) => self.default_mismatch(key),
        }
    }

    /// A duration that must not be zero.
    fn positive_duration(&self, key: &str) -> Result<Duration, ConfigError> {
        let d = self.duration(key)?;
        if d.is_zero() {
            let shown = Value::String(self.str(key)?);
            return Err(self.err(key, &shown, "must be more than 0"));
        }
        Ok(d)
    }

    fn duration(&self, key: &str) -> Result<Duration, ConfigError> {
        let text = self.str(key)?;
        parse_duration(&text).ok_or_else(|| {
            self.err(
                key,
                &Value::String(text.clone()),
                "not a duration (e.g. \"500ms\", \"30s\", \"5m\", \"1h\")",
            )
        })
    }
}

fn check_url(section: &str, key: &str, text: &str) -> Result<(), ConfigError> {
    let ok = (text.starts_with("http://") || text.starts_with("https://"))
        && text
            .split("://")
            .nth(1)
            .is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(())
    } else {
        Err(ConfigError::key(
            section,
            key,
            format!("{text:?}"),
            "not an http:// or https:// URL",
        ))
    }
}

/// An `allowed_hosts` entry: a DNS name, lowercased.
fn check_host_name(text: &str) -> Result<String, &'static str> {
    let ok = !text.is_empty()
        && text.len() <= 253
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err("not a host name (letters, digits, '-' and '.'; no scheme, port or path)")
    }
}

/// An `allowed_origins` entry: `http://` or `https://`, a host, maybe a port; lowercased.
fn check_origin(text: &str) -> Result<String, &'static str> {
    const WHY: &str = "not an origin: http:// or https://, a host, maybe :port, no path";
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or(WHY)?;
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) if !rest.ends_with(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = (host.starts_with('[') && host.ends_with(']')) || check_host_name(host).is_ok();
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    if host_ok && port_ok {
        Ok(text.to_ascii_lowercase())
    } else {
        Err(WHY)
    }
}

/// Parses `"500ms"`, `"30s"`, `"5m"`, `"1h"` (the Go `time.ParseDuration` forms we accept).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../tests/data/lakehouse-go.toml");

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn load_str(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Config, LoadReport), ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lakehouse.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), env, &Overrides::default())
    }

    #[test]
    fn seed_file_loads_unchanged_without_warnings() {
        let (config, report) = load_str(SEED, &no_env).unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(config.gateway.bind.to_string(), "127.0.0.1:3110");
        assert_eq!(config.storaged.bind.to_string(), "127.0.0.1:3211");
        assert_eq!(config.ingestd.max_ingest_bytes, 268_435_456);
        assert_eq!(config.queryd.refresh_every, Duration::from_secs(30));
        assert!(config.vectord.persist);
        match config.storage {
            StorageConfig::S3(s3) => {
                assert_eq!(s3.bucket, "lakehouse-go-primary");
                assert_eq!(s3.endpoint.as_deref(), Some("http://localhost:9000"));
                assert!(s3.use_path_style);
                assert_eq!(s3.access_key_id, None, "empty keys mean: look elsewhere");
            }
            other => panic!("seed has an [s3] bucket, so s3 is the default: {other:?}"),
        }
    }

    #[test]
    fn defaults_are_standalone_local() {
        let c = Config::default_standalone();
        assert!(
            matches!(c.storage, StorageConfig::Local { ref data_dir } if data_dir == Path::new("./lakehouse-data"))
        );
        assert_eq!(c.queryd.pg_bind.to_string(), "127.0.0.1:5433");
        assert_eq!(c.storaged.max_object_bytes, 5 << 30);
        assert_eq!(c.ingestd.max_ingest_bytes, 0);
        assert_eq!(c.queryd.max_concurrent_queries, 8);
        assert_eq!(c.queryd.query_queue_timeout, Duration::from_secs(10));
        assert_eq!(c.queryd.max_pg_connections, 100);
        assert_eq!(
            c.vectord.memory_limit,
            Some(crate::mem::physical_memory() / 2)
        );
        assert!(c.gateway.tls.cert.is_none() && c.gateway.tls.ca.is_none());
    }

    #[test]
    fn limits_and_tls_keys_load_and_are_checked() {
        let text = "[queryd]\nmax_concurrent_queries = 2\nquery_queue_timeout = \"250ms\"\n\
                    max_pg_connections = 0\n[vectord]\nmemory_limit = 0\n\
                    [gateway]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n";
        let (c, report) = load_str(text, &no_env).unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(c.queryd.max_concurrent_queries, 2);
        assert_eq!(c.queryd.query_queue_timeout, Duration::from_millis(250));
        assert_eq!(c.queryd.max_pg_connections, 0);
        assert_eq!(c.vectord.memory_limit, None, "0 = no limit");
        assert_eq!(c.gateway.tls.cert.as_deref(), Some(Path::new("c.pem")));
        let env = |k: &str| (k == "LAKEHOUSE_VECTORD_MEMORY_LIMIT").then(|| "1048576".to_string());
        let (c, _) = load_str("", &env).unwrap();
        assert_eq!(c.vectord.memory_limit, Some(1 << 20));

        let e = load_str("[gateway]\ntls_cert = \"c.pem\"\n", &no_env).unwrap_err();
        assert!(
            e.to_string().contains("tls_cert and tls_key go together"),
            "{e}"
        );
        let e = load_str("[queryd]\nmax_pg_connections = -1\n", &no_env).unwrap_err();
        assert!(e.to_string().contains("[queryd] max_pg_connections"), "{e}");
    }

    #[test]
    fn env_overrides_win_and_are_typed() {
        let env = |k: &str| match k {
            "LAKEHOUSE_GATEWAY_BIND" => Some("127.0.0.1:4000".to_string()),
            "LAKEHOUSE_QUERYD_PG_BIND" => Some("127.0.0.1:6543".to_string()),
            "LAKEHOUSE_STORAGED_MAX_OBJECT_BYTES" => Some("1024".to_string()),
            "LAKEHOUSE_VECTORD_PERSIST" => Some("false".to_string()),
            _ => None,
        };
        let (c, _) = load_str(SEED, &env).unwrap();
        assert_eq!(c.gateway.bind.to_string(), "127.0.0.1:4000");
        assert_eq!(c.queryd.pg_bind.to_string(), "127.0.0.1:6543");
        assert_eq!(c.storaged.max_object_bytes, 1024);
        assert!(!c.vectord.persist);
    }

    #[test]
    fn describe_shows_every_declared_key_and_never_a_secret() {
        let text = "[gateway]\napi_key = \"hunter2\"\nupstream_timeout = \"5m\"\n\
                    [s3]\nbucket = \"b\"\nsecret_access_key = \"s3cr3t\"\n";
        let (c, report) = load_str(text, &no_env).unwrap();
        let out = c.describe(&report.effective);
        assert!(!out.contains("hunter2") && !out.contains("s3cr3t"), "{out}");
        for line in [
            "api_key = \"<set>\"",
            "secret_access_key = \"<set>\"",
            "# access_key_id: unset",
            "upstream_timeout = \"5m\"",
            "body_timeout = \"1h\"",
            "backend = \"s3\"",
            "region = \"us-east-1\"",
            "# endpoint: unset",
        ] {
            assert!(out.lines().any(|l| l == line), "{line:?} in {out}");
        }
        let keys = out
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('['))
            .count();
        assert_eq!(keys, keys::KEYS.len(), "one line per declared key: {out}");
        assert!(toml::from_str::<toml::Table>(&out).is_ok(), "{out}");
    }

    #[test]
    fn unknown_keys_warn_by_name() {
        let (_, report) = load_str("[gateway]\nbnd = \"x\"\n[nope]\na = 1\n", &no_env).unwrap();
        assert!(
            report.warnings.iter().any(|w| w.contains("[gateway] bnd")),
            "{:?}",
            report.warnings
        );
        assert!(
            report.warnings.iter().any(|w| w.contains("[nope]")),
            "{:?}",
            report.warnings
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            ("[gateway]\nbind = \"nowhere\"\n", "[gateway] bind"),
            (
                "[storaged]\nmax_object_bytes = -1\n",
                "[storaged] max_object_bytes",
            ),
            (
                "[queryd]\nrefresh_every = \"soon\"\n",
                "[queryd] refresh_every",
            ),
            (
                "[catalogd]\nstoraged_url = \"ftp://x\"\n",
                "[catalogd] storaged_url",
            ),
            ("[storage]\nbackend = \"tape\"\n", "[storage] backend"),
            ("[log]\nlevel = \"loud\"\n", "[log] level"),
            ("[storage]\nbackend = \"s3\"\n", "[s3] bucket"),
        ];
        for (text, needle) in cases {
            let err = load_str(text, &no_env).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?} gave {err:?}");
        }
        let env =
            |k: &str| (k == "LAKEHOUSE_STORAGED_MAX_OBJECT_BYTES").then(|| "lots".to_string());
        let err = load_str("", &env).unwrap_err().to_string();
        assert!(err.contains("LAKEHOUSE_STORAGED_MAX_OBJECT_BYTES"), "{err}");
    }

    #[test]
    fn browser_names_and_origins_come_from_the_lists_and_the_service_urls() {
        let text = "[gateway]\nallowed_hosts = [\"Lake.Example\"]\n\
                    allowed_origins = [\"https://console.example:8443\"]\n\
                    catalogd_url = \"http://catalogd:3212\"\n";
        let (c, _) = load_str(text, &no_env).unwrap();
        assert_eq!(c.gateway.allowed_hosts, ["lake.example"]);
        assert_eq!(c.gateway.allowed_origins, ["https://console.example:8443"]);
        let policy = c.browser_policy();
        for host in [
            "lake.example",
            "catalogd:3212",
            "127.0.0.1:3110",
            "localhost",
        ] {
            assert!(policy.host_allowed(host), "{host}");
        }
        assert!(!policy.host_allowed("evil.example"));
        // The environment gives a list comma-separated.
        let env = |k: &str| {
            (k == "LAKEHOUSE_GATEWAY_ALLOWED_HOSTS").then(|| "a.example, b.example".to_string())
        };
        let (c, _) = load_str("", &env).unwrap();
        assert_eq!(c.gateway.allowed_hosts, ["a.example", "b.example"]);
        for (text, why) in [
            ("allowed_hosts = \"a.example\"", "must be a list of strings"),
            ("allowed_hosts = [\"a.example:80\"]", "not a host name"),
            ("allowed_hosts = [\"http://a.example\"]", "not a host name"),
            ("allowed_origins = [\"console.example\"]", "not an origin"),
            (
                "allowed_origins = [\"https://console.example/app\"]",
                "not an origin",
            ),
            (
                "allowed_origins = [\"https://console.example:x\"]",
                "not an origin",
            ),
            ("allowed_origins = [1]", "must be a list of strings"),
        ] {
            let err = load_str(&format!("[gateway]\n{text}\n"), &no_env)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("[gateway] allowed_") && err.contains(why),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn errors_never_show_secret_values_or_file_content() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.toml");
        let config = |path: &Path| {
            format!(
                "[queryd]\nsecrets_path = {:?}\n[s3]\nbucket = \"b\"\n",
                path.display().to_string()
            )
        };
        for (body, needle) in [
            (
                "access_key_id = \"AKIA-SECRET-1\"\nsecret_access_key = \"SECRET-2",
                "line 2",
            ),
            (
                "secret_access_key = 4242424242\n",
                "secret_access_key must be a string",
            ),
            (
                "access_key_id = [\"AKIA-SECRET-3\"]\n",
                "access_key_id must be a string",
            ),
        ] {
            std::fs::write(&secrets, body).unwrap();
            let err = load_str(&config(&secrets), &no_env)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
            for secret in ["SECRET", "4242"] {
                assert!(!err.contains(secret), "{err}");
            }
        }
        for text in [
            "[gateway]\napi_key = 4242424242\n",
            "[s3]\nbucket = \"b\"\nsecret_access_key = [\"SECRET-4\"]\n",
        ] {
            let err = load_str(text, &no_env).unwrap_err().to_string();
            assert!(err.contains("(value not shown)"), "{err}");
            assert!(!err.contains("SECRET") && !err.contains("4242"), "{err}");
        }
        // A broken config file is reported by line and column, not by its text.
        let err = load_str("[gateway]\napi_key = \"SECRET-5\nbind = 1\n", &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
    }

    #[test]
    fn s3_credentials_fall_back_to_secrets_then_aws_env() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets.toml");
        std::fs::write(
            &secrets,
            "access_key_id = \"AK\"\nsecret_access_key = \"SK\"\n",
        )
        .unwrap();
        let text = format!(
            "[s3]\nbucket = \"b\"\n[queryd]\nsecrets_path = {:?}\n",
            secrets.display().to_string()
        );
        let env = |k: &str| (k == "AWS_ACCESS_KEY_ID").then(|| "ENV".to_string());
        let (c, _) = load_str(&text, &env).unwrap();
        let StorageConfig::S3(s3) = c.storage else {
            panic!("s3 expected")
        };
        assert_eq!(s3.access_key_id.as_deref(), Some("AK"));
        assert_eq!(s3.secret_access_key.as_deref(), Some("SK"));
        let (c, _) = load_str("[s3]\nbucket = \"b\"\n", &env).unwrap();
        let StorageConfig::S3(s3) = c.storage else {
            panic!("s3 expected")
        };
        assert_eq!(s3.access_key_id.as_deref(), Some("ENV"));
    }

    #[test]
    fn data_dir_override_implies_local() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, SEED).unwrap();
        let o = Overrides {
            data_dir: Some(PathBuf::from("/tmp/x")),
        };
        let (c, _) = Config::load(Some(&path), &no_env, &o).unwrap();
        assert!(
            matches!(c.storage, StorageConfig::Local { ref data_dir } if data_dir == Path::new("/tmp/x"))
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("10"), None);
    }
}
