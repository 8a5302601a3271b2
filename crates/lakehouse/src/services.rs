//! The services of a deployment, one row each in [`SERVICES`], and the one start function
//! per service that both deployments use.
//!
//! A row says what the rest of the binary needs to know of a service: its name (as
//! `--services` and `/health` spell it), the `/v1/...` paths it answers (the split gateway
//! forwards each, and everything under it, to the service), where it listens, where the
//! gateway reaches it, and the other services it calls. [`start`] builds its routes from the
//! process's [`Wiring`] — what the services of one process share. Standalone runs every
//! service through [`start`] and mounts their routes on the gateway's bind; a split process
//! serves each of its services on that service's bind. Adding a service is one row, one
//! [`Role`] and its arm in [`start`] (plus its `[section]` in the config).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use catalogd::{Catalog, DeltaCatalog};
use chrono::{DateTime, Utc};
use common::server::{self, Shutdown};
use ingestd::Ingestor;
use storaged::config::StorageConfig;
use storaged::http::StorageApi;
use storaged::{ObjectStoreBackend, Store, StoreExt};

use crate::config::Config;

/// The services behind the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Storaged,
    Catalogd,
    Ingestd,
    Queryd,
    Vectord,
}

/// One service: how the rest of the binary finds it.
pub struct Service {
    pub role: Role,
    /// Its name: in `--services`, `/health`, logs, and as its config section.
    pub name: &'static str,
    /// The paths it answers; each and everything under it is the service's.
    pub prefixes: &'static [&'static str],
    /// Where it listens in a split deployment (its section's `bind`).
    pub bind: fn(&Config) -> SocketAddr,
    /// Where the split gateway reaches it (`[gateway] {name}_url`); `/health` below it.
    pub url: fn(&Config) -> &str,
    /// The services it calls in a split deployment: (its section's key, URL).
    pub calls: fn(&Config) -> Vec<(&'static str, &str)>,
}

pub const SERVICES: &[Service] = &[
    Service {
        role: Role::Storaged,
        name: "storaged",
        prefixes: &["/v1/storage"],
        bind: |c| c.storaged.bind,
        url: |c| &c.gateway.storaged_url,
        calls: |_| Vec::new(),
    },
    Service {
        role: Role::Catalogd,
        name: "catalogd",
        prefixes: &["/v1/datasets"],
        bind: |c| c.catalogd.bind,
        url: |c| &c.gateway.catalogd_url,
        calls: |c| vec![("storaged_url", &c.catalogd.storaged_url)],
    },
    Service {
        role: Role::Ingestd,
        name: "ingestd",
        prefixes: &["/v1/ingest"],
        bind: |c| c.ingestd.bind,
        url: |c| &c.gateway.ingestd_url,
        calls: |c| {
            vec![
                ("storaged_url", &c.ingestd.storaged_url),
                ("catalogd_url", &c.ingestd.catalogd_url),
            ]
        },
    },
    Service {
        role: Role::Queryd,
        name: "queryd",
        prefixes: &["/v1/sql"],
        bind: |c| c.queryd.bind,
        url: |c| &c.gateway.queryd_url,
        calls: |c| {
            vec![
                ("storaged_url", &c.queryd.storaged_url),
                ("catalogd_url", &c.queryd.catalogd_url),
            ]
        },
    },
    Service {
        role: Role::Vectord,
        name: "vectord",
        prefixes: &["/v1/vectors"],
        bind: |c| c.vectord.bind,
        url: |c| &c.gateway.vectord_url,
        calls: |c| vec![("storaged_url", &c.vectord.storaged_url)],
    },
];

/// What a process runs: every service behind its gateway (standalone), or the services and
/// gateway named by `--services`, each on its own bind (split).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Deployment {
    Standalone,
    Split { roles: Vec<Role>, gateway: bool },
}

impl Deployment {
    /// From `--services` (empty: standalone).
    pub fn parse(names: &[String]) -> Result<Deployment, String> {
        let names: Vec<&str> = names
            .iter()
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Ok(Deployment::Standalone);
        }
        let (mut roles, mut gateway) = (Vec::new(), false);
        for name in names {
            if name == "gateway" {
                gateway = true;
                continue;
            }
            match SERVICES.iter().find(|s| s.name == name) {
                Some(s) if !roles.contains(&s.role) => roles.push(s.role),
                Some(_) => {}
                None => {
                    let known: Vec<&str> = std::iter::once("gateway")
                        .chain(SERVICES.iter().map(|s| s.name))
                        .collect();
                    return Err(format!(
                        "--services: unknown service {name:?} (known: {})",
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(Deployment::Split { roles, gateway })
    }

    /// Whether `role` runs in this process.
    pub fn runs(&self, role: Role) -> bool {
        match self {
            Deployment::Standalone => true,
            Deployment::Split { roles, .. } => roles.contains(&role),
        }
    }

    /// The services this process runs, in the table's order.
    pub fn services(&self) -> impl Iterator<Item = &'static Service> + '_ {
        SERVICES.iter().filter(|s| self.runs(s.role))
    }

    /// Whether this process serves the gateway (standalone always does).
    pub fn gateway(&self) -> bool {
        match self {
            Deployment::Standalone => true,
            Deployment::Split { gateway, .. } => *gateway,
        }
    }

    /// Every address this process will listen on, by what listens there.
    pub fn binds(&self, config: &Config) -> Vec<(&'static str, SocketAddr)> {
        let mut binds = Vec::new();
        if self.gateway() {
            binds.push(("gateway", config.gateway.bind));
        }
        if self.runs(Role::Queryd) {
            binds.push(("queryd (PostgreSQL)", config.queryd.pg_bind));
        }
        if matches!(self, Deployment::Split { .. }) {
            binds.extend(self.services().map(|s| (s.name, (s.bind)(config))));
        }
        binds
    }

    /// Every URL this process calls another service at: (section, key, URL).
    pub fn calls<'c>(&self, config: &'c Config) -> Vec<(&'static str, String, &'c str)> {
        let Deployment::Split { gateway, .. } = self else {
            return Vec::new();
        };
        let mut calls = Vec::new();
        if *gateway {
            for s in SERVICES {
                calls.push(("gateway", format!("{}_url", s.name), (s.url)(config)));
            }
        }
        for s in self.services() {
            let own = (s.calls)(config).into_iter();
            calls.extend(own.map(|(key, url)| (s.name, key.to_string(), url)));
        }
        calls
    }
}

/// What the services of one process share, built once before any of them starts.
pub struct Wiring {
    pub config: Config,
    pub deployment: Deployment,
    pub started: DateTime<Utc>,
    /// The store, owned by this process (a local directory locked, or S3) when storaged
    /// runs here.
    pub backend: Option<Arc<ObjectStoreBackend>>,
    /// The store the services use: the owned one, or (split) S3 directly or storaged over
    /// HTTP.
    pub store: Option<Arc<dyn Store>>,
    /// The in-process catalog when catalogd runs here: one per process, so its per-dataset
    /// lock orders every commit and delete made here (catalogd's routes and ingestd's
    /// commits alike).
    pub catalog: Option<Arc<dyn Catalog>>,
    /// The vector indexes, when vectord runs here; flushed at shutdown.
    pub vectors: Option<vectord::Vectors>,
    /// TLS of every server of the process.
    pub tls: Option<common::tls::ServerTls>,
    pub shutdown: Shutdown,
}

impl Wiring {
    /// The catalog a service reaches: this process's when catalogd runs here, catalogd at
    /// `url` otherwise.
    pub fn catalog(&self, url: &str) -> Arc<dyn Catalog> {
        match &self.catalog {
            Some(catalog) => catalog.clone(),
            None => Arc::new(
                catalogd::CatalogClient::new(url)
                    .with_api_key(self.config.process.api_key.as_deref()),
            ),
        }
    }

    fn store(&self, who: &str) -> anyhow::Result<Arc<dyn Store>> {
        self.store
            .clone()
            .with_context(|| format!("{who} needs a store"))
    }

    /// Whether `role` runs in this process.
    pub fn runs(&self, role: Role) -> bool {
        self.deployment.runs(role)
    }
}

/// Starts `service` in this process: its routes, and any server of its own besides
/// (queryd's PostgreSQL port), spawned on `servers`.
pub async fn start(
    service: &Service,
    w: &Wiring,
    servers: &mut tokio::task::JoinSet<std::io::Result<()>>,
) -> anyhow::Result<Router> {
    let config = &w.config;
    Ok(match service.role {
        Role::Storaged => storaged::http::router(StorageApi {
            store: w.store("storaged")?,
            max_object_bytes: config.storaged.max_object_bytes,
        }),
        Role::Catalogd => {
            catalogd::http::router(w.catalog.clone().context("catalogd needs its catalog")?)
        }
        Role::Ingestd => {
            let i = &config.ingestd;
            let ingestor = Ingestor::new(
                w.store("ingestd")?,
                w.catalog(&i.catalogd_url),
                i.max_ingest_bytes,
            )
            // The body's idle clock is the server's, [gateway] body_idle_timeout: one
            // limit, whichever layer notices first.
            .with_body_idle_timeout(config.process.client_limits.body_idle_timeout)
            .with_max_gzip_ratio(i.max_gzip_ratio)
            .with_max_columns(usize::try_from(i.max_columns).unwrap_or(usize::MAX));
            ingestd::http::router(ingestor)
        }
        Role::Queryd => {
            let data = match &w.backend {
                Some(backend) => backend.object_store(),
                None => query_data_store(config).await?,
            };
            let vectors: Arc<dyn queryd::vector_search::VectorIndexes> = match &w.vectors {
                Some(vectors) => Arc::new(vectors.clone()),
                None => Arc::new(queryd::vector_search::VectordClient::new(
                    &config.queryd.vectord_url,
                    config.process.api_key.as_deref(),
                )),
            };
            let engine = query_engine(
                w.catalog(&config.queryd.catalogd_url),
                data,
                vectors,
                config,
            )?;
            if w.catalog.is_none() {
                refresh_in_background(engine.clone(), config.queryd.refresh_every);
            }
            let listener = server::bind("queryd (PostgreSQL)", config.queryd.pg_bind).await?;
            let options = queryd::pg::PgOptions {
                password: config.process.api_key.clone(),
                max_connections: config.queryd.max_pg_connections,
                tls: w.tls.clone(),
                startup_timeout: Some(config.queryd.pg_startup_timeout),
            };
            servers.spawn(queryd::pg::serve(
                engine.clone(),
                listener,
                w.shutdown.clone(),
                options,
            ));
            queryd::http::router(engine)
        }
        Role::Vectord => {
            vectord::http::router(w.vectors.clone().context("vectord needs its indexes")?)
        }
    })
}

/// What `/health` says of `service` when it runs in the gateway's process.
pub fn describe(service: &Service, w: &Wiring) -> String {
    let store = || w.store.as_ref().map_or_else(String::new, |s| s.describe());
    match service.role {
        Role::Storaged => store(),
        Role::Catalogd => format!("manifests in {}", store()),
        Role::Ingestd | Role::Queryd => "in-process".into(),
        Role::Vectord => w
            .vectors
            .as_ref()
            .map_or_else(|| "in-process".into(), vectord::Vectors::describe),
    }
}

/// The query engine with `[queryd]`'s limits and the PostgreSQL catalog and functions.
fn query_engine(
    catalog: Arc<dyn Catalog>,
    data: Arc<dyn object_store::ObjectStore>,
    vectors: Arc<dyn queryd::vector_search::VectorIndexes>,
    config: &Config,
) -> anyhow::Result<queryd::QueryEngine> {
    let options = queryd::QueryOptions {
        timeout: config.queryd.query_timeout,
        memory_limit: config.queryd.query_memory_limit,
        max_concurrent: config.queryd.max_concurrent_queries,
        queue_timeout: config.queryd.query_queue_timeout,
        ..queryd::QueryOptions::default()
    };
    let mut engine = queryd::QueryEngine::new(catalog, data, options)?;
    queryd::pg::install(&mut engine)?;
    engine.set_vector_indexes(vectors)?;
    Ok(engine)
}

/// How long a starting queryd waits for storaged to take its probe ([`shares_directory`]).
const PROBE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// The data files a queryd without the store in its process reads: S3 directly (a hop
/// less than through storaged). A local directory is storaged's: queryd reads it from
/// storaged at `[queryd] storaged_url` by ranged GETs, so it needs no share of the disk —
/// unless [`shares_directory`] finds the directory storaged serves at queryd's own
/// `[storage] data_dir` (the roles on one machine), where it reads the files in place,
/// read-only: the same bytes without a copy through storaged (measured in
/// docs/benchmarks.md).
async fn query_data_store(config: &Config) -> anyhow::Result<Arc<dyn object_store::ObjectStore>> {
    let data_dir = match &config.storage {
        StorageConfig::S3(s3) => return Ok(ObjectStoreBackend::s3(s3)?.object_store()),
        StorageConfig::Local { data_dir } => data_dir,
    };
    let url = &config.queryd.storaged_url;
    let client =
        Arc::new(storaged::StoreClient::new(url).with_api_key(config.process.api_key.as_deref()));
    if let Ok(fs) = object_store::local::LocalFileSystem::new_with_prefix(data_dir)
        && shares_directory(&*client, &fs).await
    {
        tracing::info!(dir = %data_dir.display(), "queryd reads the data files in place: storaged serves this directory");
        return Ok(Arc::new(fs));
    }
    tracing::info!(storaged = %url, "queryd reads the data files through storaged");
    Ok(Arc::new(storaged::StoreObjects::new(client)))
}

/// Whether `local` is the directory storaged serves: an object written through storaged
/// reads back the same from `local` (then removed, through storaged). A storaged that does
/// not take the write within [`PROBE_PATIENCE`] (still starting), or another directory,
/// says no, and queryd reads through storaged, which is right everywhere.
async fn shares_directory(
    storaged: &dyn Store,
    local: &object_store::local::LocalFileSystem,
) -> bool {
    use object_store::ObjectStoreExt;
    let token = format!(
        "{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    );
    let Ok(key) = storaged::ObjectKey::parse(&format!("_lakehouse/probe/queryd-{token}")) else {
        return false;
    };
    let deadline = tokio::time::Instant::now() + PROBE_PATIENCE;
    while let Err(e) = storaged
        .put_bytes(&key, token.clone().into(), storaged::PutMode::Create)
        .await
    {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(error = %e, "storaged did not take queryd's probe of the data directory");
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let read = match local.get(&key.to_path()).await {
        Ok(object) => object.bytes().await.ok(),
        Err(_) => None,
    };
    let _ = storaged.delete(&key).await;
    read.is_some_and(|bytes| bytes == token.as_bytes())
}

/// Keeps the engine's dataset list (information_schema, `\dt`) fresh in the background
/// when the catalog is in another process; table lookups never wait for it.
fn refresh_in_background(engine: queryd::QueryEngine, every: std::time::Duration) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            if let Err(e) = engine.datasets().refresh_names().await {
                tracing::debug!(error = %e, "refreshing the dataset list failed");
            }
        }
    });
}

/// The in-process catalog over `store`, once every dataset of the layout before Delta
/// tables in it (manifests under `_catalog/`) has been converted (docs/formats.md,
/// "Converting manifests"); a conversion that fails stops the start with its reason.
pub async fn local_catalog(
    store: Arc<dyn Store>,
    config: &Config,
) -> anyhow::Result<Arc<dyn Catalog>> {
    let catalog = DeltaCatalog::new(store, config.catalogd.keep_versions);
    let migrated = catalog
        .migrate()
        .await
        .map_err(|e| anyhow::anyhow!("converting the datasets' manifests to Delta tables: {e}"))?;
    for m in migrated {
        tracing::info!(dataset = %m.name, versions = m.versions, "dataset converted to a Delta table");
    }
    Ok(Arc::new(catalog))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn services_are_parsed_from_the_table() {
        assert_eq!(Deployment::parse(&[]).unwrap(), Deployment::Standalone);
        assert_eq!(
            Deployment::parse(&names(&["queryd", " gateway", "queryd", ""])).unwrap(),
            Deployment::Split {
                roles: vec![Role::Queryd],
                gateway: true
            }
        );
        let e = Deployment::parse(&names(&["storaged", "webd"])).unwrap_err();
        assert_eq!(
            e,
            "--services: unknown service \"webd\" (known: gateway, storaged, catalogd, \
             ingestd, queryd, vectord)"
        );
    }

    #[test]
    fn every_role_has_one_row_with_its_own_paths() {
        for role in [
            Role::Storaged,
            Role::Catalogd,
            Role::Ingestd,
            Role::Queryd,
            Role::Vectord,
        ] {
            assert_eq!(SERVICES.iter().filter(|s| s.role == role).count(), 1);
        }
        let mut prefixes: Vec<&str> = SERVICES
            .iter()
            .flat_map(|s| s.prefixes.iter().copied())
            .collect();
        let all = prefixes.len();
        prefixes.sort_unstable();
        prefixes.dedup();
        assert_eq!(prefixes.len(), all, "a path served by two services");
    }

    #[test]
    fn a_split_process_listens_on_its_services_binds_and_calls_their_peers() {
        let config = Config::default_standalone();
        let split = Deployment::parse(&names(&["ingestd", "queryd"])).unwrap();
        let binds: Vec<&str> = split.binds(&config).into_iter().map(|(n, _)| n).collect();
        assert_eq!(binds, ["queryd (PostgreSQL)", "ingestd", "queryd"]);
        let calls: Vec<(&str, String)> = split
            .calls(&config)
            .into_iter()
            .map(|(s, k, _)| (s, k))
            .collect();
        assert_eq!(
            calls,
            [
                ("ingestd", "storaged_url".to_string()),
                ("ingestd", "catalogd_url".to_string()),
                ("queryd", "storaged_url".to_string()),
                ("queryd", "catalogd_url".to_string())
            ]
        );
        let binds: Vec<&str> = Deployment::Standalone
            .binds(&config)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(binds, ["gateway", "queryd (PostgreSQL)"]);
        assert!(Deployment::Standalone.calls(&config).is_empty());
    }
}
