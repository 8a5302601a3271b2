//! What every process of a deployment applies, whatever roles it runs: who may call it (the
//! API key, browsers' hosts and origins), bounds on slow clients, TLS, and the log level.
//! The keys live in `[gateway]` (where the Go system kept its key) and `[log]`; this crate
//! implements them ([`crate::auth`], [`crate::browser`], [`crate::slow`], [`crate::tls`],
//! [`crate::telemetry`]), so it declares them.

use std::path::PathBuf;

use super::keys::Default::{Empty, Str, Unset};
use super::keys::Kind::{List as L, Str as S};
use super::keys::{Key, key, secret};
use super::{ConfigError, Fields};

/// `[gateway]`'s process-wide keys.
pub const KEYS: &[Key] = &[
    secret(
        "gateway",
        "api_key",
        "when set (or `LAKEHOUSE_API_KEY`), every route but `/health` needs `Authorization: Bearer KEY`, on the gateway and every split service; also the PostgreSQL password",
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
];

/// `[log]`.
pub const LOG_KEYS: &[Key] = &[key(
    "log",
    "level",
    S,
    Str("info"),
    "`trace`, `debug`, `info`, `warn` or `error`; `RUST_LOG` overrides",
)];

/// The process-wide settings, typed and checked.
#[derive(Clone, Debug)]
pub struct ProcessConfig {
    pub api_key: Option<String>,
    /// Names of this server besides IP addresses, `localhost` and the hosts of the service
    /// URLs (see [`crate::browser`]); lowercase, no port.
    pub allowed_hosts: Vec<String>,
    /// Other origins (`scheme://host[:port]`) whose web pages may call the API.
    pub allowed_origins: Vec<String>,
    /// Bounds on slow clients, for every HTTP server of the process.
    pub client_limits: crate::server::ClientLimits,
    /// Certificates: what every server of the process presents, what its clients trust.
    pub tls: TlsConfig,
    pub log_level: String,
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

impl ProcessConfig {
    /// From `[gateway]` and `[log]`; the key may also come from `LAKEHOUSE_API_KEY`.
    pub fn from_fields(
        gateway: &Fields,
        log: &Fields,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProcessConfig, ConfigError> {
        let g = gateway;
        let log_level = log.str("level")?;
        if super::tracing_level(&log_level).is_none() {
            return Err(log.invalid(
                "level",
                format!("{log_level:?}"),
                "must be one of trace, debug, info, warn, error",
            ));
        }
        Ok(ProcessConfig {
            api_key: g
                .opt_str("api_key")?
                .or_else(|| env("LAKEHOUSE_API_KEY"))
                .filter(|k| !k.is_empty()),
            allowed_hosts: g.list("allowed_hosts", check_host_name)?,
            allowed_origins: g.list("allowed_origins", check_origin)?,
            client_limits: crate::server::ClientLimits {
                header_read_timeout: g.positive_duration("header_read_timeout")?,
                body_idle_timeout: g.positive_duration("body_idle_timeout")?,
                body_timeout: Some(g.duration("body_timeout")?).filter(|d| !d.is_zero()),
            },
            tls: tls_config(g)?,
            log_level,
        })
    }

    /// What browsers may do ([`crate::browser`]): the server's names are `allowed_hosts`
    /// plus the host of every URL in `service_urls` (a split deployment reaches its
    /// services by those names).
    pub fn browser_policy<'a>(
        &self,
        service_urls: impl IntoIterator<Item = &'a str>,
    ) -> crate::browser::BrowserPolicy {
        let url_hosts = service_urls.into_iter().filter_map(|url| {
            let authority = url.split_once("://")?.1.split('/').next()?;
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            Some(crate::browser::host_name(host).to_ascii_lowercase())
        });
        let mut hosts: Vec<String> = self
            .allowed_hosts
            .iter()
            .cloned()
            .chain(url_hosts)
            .collect();
        hosts.sort();
        hosts.dedup();
        crate::browser::BrowserPolicy::new(hosts, self.allowed_origins.iter().cloned())
    }
}

/// `[gateway] tls_cert` and `tls_key` come together; empty strings are unset.
fn tls_config(g: &Fields) -> Result<TlsConfig, ConfigError> {
    let tls = TlsConfig {
        cert: g.opt_path("tls_cert")?,
        key: g.opt_path("tls_key")?,
        ca: g.opt_path("tls_ca")?,
    };
    if tls.cert.is_some() != tls.key.is_some() {
        return Err(ConfigError(
            "config: [gateway] tls_cert and tls_key go together: set both (TLS) or neither".into(),
        ));
    }
    Ok(tls)
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
