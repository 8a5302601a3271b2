//! `lakehouse serve`: builds the services named on the command line and serves them.
//!
//! Standalone (no `--services`): every service in one process (started as a split process
//! starts each, [`crate::services::start`]), their routes on one bind (the gateway's).
//! Split (`--services a,b`): each service on its own bind from `lakehouse.toml`, reaching
//! the others over HTTP.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use clap::Args;
use common::config::{LoadReport, Overrides};
use common::server::{self, Shutdown};
use storaged::config::StorageConfig;
use storaged::{DataDirLock, ObjectStoreBackend, Store, StoreHealth};

use crate::config::Config;

use crate::EXIT_CONFIG;
use crate::services::{self, Deployment, Role, SERVICES, Wiring};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// lakehouse.toml to load; without it, the embedded defaults (standalone, ./lakehouse-data).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Keep data in this local directory (sets [storage] data_dir, implies the local backend).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Roles to run, comma-separated (split deployment): storaged, catalogd, ingestd, queryd,
    /// vectord, gateway.
    #[arg(long, value_delimiter = ',')]
    services: Vec<String>,
}

/// Loads and checks the configuration, logging its warnings; on failure prints one message
/// and gives exit code 2.
pub fn load_config(
    path: Option<&Path>,
    overrides: &Overrides,
) -> Result<(Config, LoadReport), ExitCode> {
    let env = |k: &str| std::env::var(k).ok();
    match Config::load(path, &env, overrides) {
        Ok((config, report)) => {
            common::telemetry::init_logging(
                common::config::tracing_level(&config.process.log_level).unwrap_or("info"),
            );
            for warning in &report.warnings {
                tracing::warn!("{warning}");
            }
            Ok((config, report))
        }
        Err(e) => {
            eprintln!("lakehouse: {e}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
    };
    let config = match load_config(args.config.as_deref(), &overrides) {
        Ok((config, _)) => config,
        Err(code) => return code,
    };
    let deployment = match Deployment::parse(&args.services) {
        Ok(d) => d,
        Err(message) => {
            eprintln!("lakehouse: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    common::tls::install_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lakehouse: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config, deployment)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Refused>().is_some() => {
            tracing::error!("{e:#}");
            eprintln!("lakehouse: {e:#}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("lakehouse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Why this process will not serve at all (exit code 2): the data directory is another
/// server's, the S3 endpoint breaks the conditional writes commits rely on, or the TLS
/// files are unusable.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The process's store. A local directory is locked for the process's life first (one
/// writing server per directory, before anything in it is touched); an S3 endpoint must
/// honour conditional writes.
async fn open_store(config: &Config) -> anyhow::Result<Arc<ObjectStoreBackend>> {
    let backend = match &config.storage {
        StorageConfig::Local { data_dir } => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
            let lock = DataDirLock::acquire(data_dir).map_err(|e| Refused(e.to_string()))?;
            tracing::debug!(dir = %lock.path().display(), "data directory locked");
            // Held until the process exits; the kernel releases it however it exits.
            std::mem::forget(lock);
            ObjectStoreBackend::local(data_dir)?
        }
        StorageConfig::S3(s3) => ObjectStoreBackend::s3(s3)?,
    };
    backend.check().await?;
    let backend = Arc::new(backend);
    verify_conditional_writes(&backend).await?;
    tracing::info!(store = %backend.describe(), "object store ready");
    Ok(backend)
}

/// Refuses an S3 endpoint that ignores `If-None-Match: *` or `If-Match`. When it cannot be
/// asked yet (unreachable), the process starts — requests answer 503 meanwhile — and asks
/// again every few seconds; an endpoint found breaking them then stops the process.
async fn verify_conditional_writes(backend: &Arc<ObjectStoreBackend>) -> anyhow::Result<()> {
    const AGAIN: std::time::Duration = std::time::Duration::from_secs(5);
    match backend.verify_conditional_writes().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(broken)) => Err(Refused(broken).into()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check yet that the store honours conditional writes; asking again every {AGAIN:?}");
            let backend = backend.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(AGAIN).await;
                    match backend.verify_conditional_writes().await {
                        Ok(Ok(())) => {
                            tracing::info!("the store honours conditional writes");
                            return;
                        }
                        Ok(Err(broken)) => {
                            tracing::error!("{broken}");
                            eprintln!("lakehouse: {broken}");
                            std::process::exit(EXIT_CONFIG.into());
                        }
                        Err(_) => {}
                    }
                }
            });
            Ok(())
        }
    }
}

/// The store of a split process without storaged, for the first of its services that
/// uses one (catalogd, ingestd, or vectord when it persists): S3 directly (no hop through
/// storaged), or, when the data is in a local directory — which belongs to the storaged
/// process — storaged over HTTP at that service's `storaged_url`.
async fn split_store(
    config: &Config,
    deployment: &Deployment,
) -> anyhow::Result<Option<Arc<dyn Store>>> {
    let storaged_url = if deployment.runs(Role::Catalogd) {
        &config.catalogd.storaged_url
    } else if deployment.runs(Role::Ingestd) {
        &config.ingestd.storaged_url
    } else if deployment.runs(Role::Vectord) && config.vectord.persist {
        if matches!(config.storage, StorageConfig::Local { .. })
            && config.vectord.storaged_url.is_empty()
        {
            anyhow::bail!(
                "[vectord] persist = true needs [vectord] storaged_url when the data is in a local directory"
            );
        }
        &config.vectord.storaged_url
    } else {
        return Ok(None);
    };
    Ok(Some(match config.storage {
        StorageConfig::S3(_) => open_store(config).await?,
        StorageConfig::Local { .. } => Arc::new(
            storaged::StoreClient::new(storaged_url)
                .with_api_key(config.process.api_key.as_deref()),
        ),
    }))
}

/// The vector indexes: persisted under `_vectors/` in `store`, or in memory with
/// `[vectord] persist = false` (or no store to persist in).
async fn open_vectors(store: Option<&Arc<dyn Store>>) -> anyhow::Result<vectord::Vectors> {
    match store {
        Some(store) => vectord::Vectors::open(store.clone())
            .await
            .context("loading the vector indexes"),
        None => Ok(vectord::Vectors::in_memory()),
    }
}

/// Removes data files no manifest references (left by a crash mid-ingest) in the
/// background, once per process that commits (catalogd or ingestd runs here), sparing any
/// written since the process started (an ingest may still be committing). Ingests in other
/// processes hold leases the sweep honours; the start time only spares what lease-less
/// writers (uploads through /v1/storage) wrote since.
fn sweep_in_background(w: &Wiring) {
    let Some(store) = w.store.clone() else {
        return;
    };
    if !w.runs(Role::Catalogd) && !w.runs(Role::Ingestd) {
        return;
    }
    let catalog = w.catalog(&w.config.ingestd.catalogd_url);
    let older_than = w.started;
    tokio::spawn(async move {
        match catalogd::sweep_unreferenced(&*store, &*catalog, older_than).await {
            Ok(removed) => tracing::info!(removed, "swept unreferenced data files"),
            Err(e) => tracing::warn!(error = %e, "sweeping unreferenced data files failed"),
        }
    });
}

/// With TLS on, every server of a split deployment speaks HTTPS only: the URLs this
/// process's services call must say `https://`.
fn check_https_urls(config: &Config, deployment: &Deployment) -> Result<(), Refused> {
    for (section, key, url) in deployment.calls(config) {
        if url.starts_with("http://") {
            return Err(Refused(format!(
                "config: [{section}] {key} = {url:?}: with [gateway] tls_cert set every \
                 service listens on HTTPS only; use an https:// URL"
            )));
        }
    }
    Ok(())
}

/// With no API key, anyone who can reach a bind can read and change everything: fine on
/// loopback (the default), loudly warned about anywhere else; so is a key sent in clear
/// text (no TLS) beyond loopback.
fn warn_open_binds(config: &Config, deployment: &Deployment) {
    let tls = config.process.tls.cert.is_some();
    for (role, addr) in deployment.binds(config) {
        if addr.ip().is_loopback() {
            continue;
        }
        if config.process.api_key.is_some() {
            if !tls {
                tracing::warn!(
                    role,
                    %addr,
                    "NO TLS: {role} listens on {addr}, beyond this machine, in clear text: \
                     the API key and every row cross the network readable. Set [gateway] \
                     tls_cert and tls_key."
                );
            }
        } else {
            tracing::warn!(
                role,
                %addr,
                "NO API KEY: {role} listens on {addr}, beyond this machine, and anyone who \
                 can reach it can read, change and delete every dataset and index. Set \
                 [gateway] api_key (or LAKEHOUSE_API_KEY), or bind to 127.0.0.1."
            );
        }
    }
}

async fn serve(config: Config, deployment: Deployment) -> anyhow::Result<()> {
    let started = Utc::now();
    let (trigger, shutdown) = Shutdown::new();
    server::on_signals(trigger);
    let access = config.access();
    let tls = common::tls::ServerTls::from_config(&config.process.tls)
        .and_then(|tls| {
            common::tls::trust(config.process.tls.ca.as_ref(), "config: [gateway] tls_ca")
                .map(|()| tls)
        })
        .map_err(|e| Refused(e.to_string()))?;
    if tls.is_some() {
        check_https_urls(&config, &deployment)?;
    }
    let serving = server::ServeOptions {
        limits: config.process.client_limits,
        tls: tls.as_ref().map(common::tls::ServerTls::http),
    };
    let gateway_options = gateway::GatewayOptions {
        access: access.clone(),
        upstream_timeout: config.gateway.upstream_timeout,
    };
    warn_open_binds(&config, &deployment);

    // What the services of this process share, built once.
    let backend = if deployment.runs(Role::Storaged) {
        Some(open_store(&config).await?)
    } else {
        None
    };
    let store: Option<Arc<dyn Store>> = match &backend {
        Some(backend) => Some(backend.clone()),
        None => split_store(&config, &deployment).await?,
    };
    let catalog = match &store {
        Some(store) if deployment.runs(Role::Catalogd) => {
            Some(services::local_catalog(store.clone(), &config).await?)
        }
        _ => None,
    };
    let vectors = if deployment.runs(Role::Vectord) {
        let persisted = store.as_ref().filter(|_| config.vectord.persist);
        Some(
            open_vectors(persisted)
                .await?
                .with_memory_limit(config.vectord.memory_limit),
        )
    } else {
        None
    };
    let wiring = Wiring {
        config,
        deployment,
        started,
        backend,
        store,
        catalog,
        vectors,
        tls,
        shutdown: shutdown.clone(),
    };
    let config = &wiring.config;
    sweep_in_background(&wiring);

    let mut servers = tokio::task::JoinSet::new();
    let mut started_services = Vec::new();
    for service in wiring.deployment.services() {
        let routes = services::start(service, &wiring, &mut servers).await?;
        started_services.push((service, routes));
    }
    // What each HTTP server serves, and where: standalone, every service behind the
    // gateway's one bind; split, each service on its own and the gateway, if named.
    let mut binds: Vec<(&str, std::net::SocketAddr, axum::Router)> = Vec::new();
    if wiring.deployment == Deployment::Standalone {
        let health = gateway::Health::Local {
            services: started_services
                .iter()
                .map(|(s, _)| (s.name.to_string(), services::describe(s, &wiring)))
                .collect(),
            store: wiring.store.clone().map(StoreHealth::new),
        };
        let routes = started_services
            .into_iter()
            .fold(axum::Router::new(), |all, (_, routes)| all.merge(routes));
        let router = gateway::standalone(routes, health, &gateway_options);
        binds.push(("gateway", config.gateway.bind, router));
    } else {
        // Each service on its own bind; `/health` of those that use the store asks it
        // (one cached probe).
        let store_check = wiring
            .store
            .as_ref()
            .map(|s| StoreHealth::new(s.clone()).as_check());
        for (service, routes) in started_services {
            let check = store_check.clone().filter(|_| service.role != Role::Queryd);
            let router = common::server::service_router_checked(routes, &access, check);
            binds.push((service.name, (service.bind)(config), router));
        }
        if wiring.deployment.gateway() {
            let upstreams: Vec<gateway::Upstream> = SERVICES
                .iter()
                .map(|s| gateway::Upstream {
                    name: s.name,
                    url: (s.url)(config).to_string(),
                    prefixes: s.prefixes,
                })
                .collect();
            let router = gateway::split(&upstreams, &gateway_options);
            binds.push(("gateway", config.gateway.bind, router));
        }
    }
    for (name, bind, router) in binds {
        let listener = server::bind(name, bind).await?;
        servers.spawn(server::serve(
            name,
            listener,
            router,
            shutdown.clone(),
            serving.clone(),
        ));
    }
    while let Some(done) = servers.join_next().await {
        done.context("server task")?.context("server")?;
    }
    // Every request has drained: snapshot the indexes with logged writes not yet in one,
    // so the next start replays nothing (the log keeps them durable regardless).
    if let Some(vectors) = &wiring.vectors {
        vectors.flush().await;
    }
    Ok(())
}
