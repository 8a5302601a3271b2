//! The whole configuration: each crate's section, gathered. The keys of a section are
//! declared by the crate that owns it, beside the typed struct it reads
//! (`gateway::config`, `storaged::config`, `catalogd::config`, `ingestd::config`,
//! `vectord::config`, `queryd::config`, and `common::config::process` for what every
//! process applies); this module puts the declarations in one list ([`declared`]), loads
//! the file against it (`common::config::load`), has each crate read its section, and
//! joins what crosses sections: the S3 credentials' secrets file (named in `[queryd]`) and
//! the server's own names for the browser checks (every service URL).

use std::path::Path;

use catalogd::config::CatalogdConfig;
use common::config::keys::{self, Declared};
use common::config::{ConfigError, LoadReport, Overrides, ProcessConfig, Raw};
use gateway::config::GatewayConfig;
use ingestd::config::IngestdConfig;
use queryd::config::QuerydConfig;
use storaged::config::{StorageConfig, StoragedConfig};
use toml::Value;
use vectord::config::VectordConfig;

/// Every key, in the order `lakehouse config` and docs/configuration.md show them.
pub fn declared() -> Declared {
    Declared::new(&[
        gateway::config::KEYS,
        common::config::process::KEYS,
        storaged::config::KEYS,
        catalogd::config::KEYS,
        ingestd::config::KEYS,
        vectord::config::KEYS,
        queryd::config::KEYS,
        common::config::process::LOG_KEYS,
    ])
}

/// The whole configuration, typed and checked.
#[derive(Clone, Debug)]
pub struct Config {
    /// What every process applies: the API key, browsers, slow clients, TLS, the log level.
    pub process: ProcessConfig,
    pub gateway: GatewayConfig,
    pub storaged: StoragedConfig,
    pub catalogd: CatalogdConfig,
    pub ingestd: IngestdConfig,
    pub vectord: VectordConfig,
    pub queryd: QuerydConfig,
    pub storage: StorageConfig,
}

impl Config {
    /// Loads `path` (or nothing: the defaults), applies `LAKEHOUSE_*` variables from `env`,
    /// then command-line overrides, and checks every value.
    pub fn load(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        overrides: &Overrides,
    ) -> Result<(Config, LoadReport), ConfigError> {
        let (raw, report) = common::config::load(path, declared(), env, overrides)?;
        Ok((Config::from_raw(&raw, env)?, report))
    }

    /// The embedded default: standalone, local storage in `./lakehouse-data`.
    #[cfg(test)]
    pub fn default_standalone() -> Config {
        Config::from_raw(&Raw::defaults(declared()), &|_| None)
            .expect("built-in defaults are valid")
    }

    fn from_raw(raw: &Raw, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let queryd = QuerydConfig::from_fields(&raw.fields("queryd"))?;
        let storage = StorageConfig::from_fields(
            &raw.fields("storage"),
            &raw.fields("s3"),
            queryd.secrets_path.as_deref(),
            env,
        )?;
        Ok(Config {
            process: ProcessConfig::from_fields(&raw.fields("gateway"), &raw.fields("log"), env)?,
            gateway: GatewayConfig::from_fields(&raw.fields("gateway"))?,
            storaged: StoragedConfig::from_fields(&raw.fields("storaged"))?,
            catalogd: CatalogdConfig::from_fields(&raw.fields("catalogd"))?,
            ingestd: IngestdConfig::from_fields(&raw.fields("ingestd"))?,
            vectord: VectordConfig::from_fields(&raw.fields("vectord"))?,
            queryd,
            storage,
        })
    }

    /// What browsers may do (`common::browser`): the server's names are `[gateway]
    /// allowed_hosts` plus the host of every service URL in this config (a split deployment
    /// reaches its services by those names).
    pub fn browser_policy(&self) -> common::browser::BrowserPolicy {
        let g = &self.gateway;
        self.process.browser_policy([
            g.storaged_url.as_str(),
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
            &self.queryd.vectord_url,
        ])
    }

    /// Who may call this process's servers: the API key and the browser checks.
    pub fn access(&self) -> common::server::Access {
        common::server::Access {
            api_key: self.process.api_key.clone(),
            browser: std::sync::Arc::new(self.browser_policy()),
        }
    }

    /// `lakehouse config`: every declared key, section by section, as TOML — the value the
    /// file, the environment or the command line set (`effective`, from [`LoadReport`]),
    /// else the default, worked out where it is computed; secrets as `"<set>"`, unset keys
    /// as a comment.
    pub fn describe(&self, effective: &toml::Table) -> String {
        let declared = declared();
        let mut text = String::new();
        for section in declared.sections() {
            if !text.is_empty() {
                text.push('\n');
            }
            text += &format!("[{section}]\n");
            let set = effective.get(section).and_then(Value::as_table);
            for key in declared.section(section) {
                let value = set.and_then(|t| t.get(key.name));
                let shown = match (key.secret, value, key.default) {
                    (true, _, _) => self
                        .secret_is_set(key.section, key.name)
                        .then(|| "\"<set>\"".to_string()),
                    // An empty string leaves an optional key unset (as the sections read it).
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
            ("gateway", "api_key") => self.process.api_key.is_some(),
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
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use common::config::Overrides;

    use super::*;

    #[test]
    fn docs_configuration_md_is_the_reference_of_the_declarations() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let docs = std::fs::read_to_string(path).expect("docs/configuration.md");
        assert!(
            docs == declared().reference(),
            "docs/configuration.md differs from the keys the crates declare: run \
             `cargo run -p lakehouse -- config --reference > docs/configuration.md`"
        );
    }

    #[test]
    fn every_key_is_declared_once_with_a_doc_line() {
        let keys: Vec<_> = declared().keys().collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(
                !keys[..i]
                    .iter()
                    .any(|o| o.section == k.section && o.name == k.name),
                "[{}] {} declared twice",
                k.section,
                k.name
            );
            assert!(!k.doc.is_empty() && !k.doc.contains('\n'), "{k:?}");
            assert!(!k.secret || k.default == keys::Default::Unset, "{k:?}");
        }
    }

    const SEED: &str = include_str!("../tests/data/lakehouse-go.toml");

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
            Some(common::mem::physical_memory() / 2)
        );
        assert!(c.process.tls.cert.is_none() && c.process.tls.ca.is_none());
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
        assert_eq!(c.process.tls.cert.as_deref(), Some(Path::new("c.pem")));
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
        assert_eq!(
            keys,
            declared().keys().count(),
            "one line per declared key: {out}"
        );
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
        assert_eq!(c.process.allowed_hosts, ["lake.example"]);
        assert_eq!(c.process.allowed_origins, ["https://console.example:8443"]);
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
        assert_eq!(c.process.allowed_hosts, ["a.example", "b.example"]);
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

    /// The split config is what the binary's loader reads: every key known, every URL the
    /// layout's.
    #[test]
    fn the_split_config_loads_with_every_role_wired_to_its_peers() {
        let layout = test_support::SplitLayout::new();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lakehouse.toml");
        let storage = format!(
            "[storage]\nbackend = \"local\"\ndata_dir = {:?}\n",
            dir.path().join("data").display().to_string()
        );
        let extra = [
            ("gateway", "api_key = \"k\""),
            ("catalogd", "keep_versions = 2"),
        ];
        std::fs::write(&file, layout.config(&storage, &extra)).unwrap();
        let (config, report) = Config::load(Some(&file), &|_| None, &Overrides::default())
            .unwrap_or_else(|e| panic!("{}", e.0));
        assert_eq!(report.warnings, Vec::<String>::new());
        let url = test_support::SplitLayout::url;
        let g = &config.gateway;
        assert_eq!(g.bind.port(), layout.gateway);
        assert_eq!(config.process.api_key.as_deref(), Some("k"));
        assert_eq!(
            [
                &g.storaged_url,
                &g.catalogd_url,
                &g.ingestd_url,
                &g.queryd_url,
                &g.vectord_url
            ],
            [
                &url(layout.storaged),
                &url(layout.catalogd),
                &url(layout.ingestd),
                &url(layout.queryd),
                &url(layout.vectord),
            ]
        );
        assert_eq!(config.storaged.bind.port(), layout.storaged);
        assert_eq!(config.catalogd.keep_versions, 2);
        assert_eq!(config.ingestd.catalogd_url, url(layout.catalogd));
        assert_eq!(config.queryd.bind.port(), layout.queryd);
        assert_eq!(config.queryd.storaged_url, url(layout.storaged));
        assert_eq!(config.queryd.vectord_url, url(layout.vectord));
        assert_eq!(config.vectord.storaged_url, url(layout.storaged));
    }
}
