//! `lakehouse serve`: builds the services named on the command line and serves them.
//!
//! Standalone (no `--services`): one process, one bind (the gateway's), services wired
//! in-process. Split (`--services a,b`): each role on its own bind from `lakehouse.toml`,
//! reaching the others over HTTP.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use catalogd::{Catalog, StoreCatalog};
use chrono::{DateTime, Utc};
use clap::Args;
use common::config::{Config, Overrides, StorageConfig};
use common::server::{self, Shutdown};
use ingestd::Ingestor;
use storaged::http::StorageApi;
use storaged::{DataDirLock, ObjectStoreBackend, Store, StoreHealth};

use crate::EXIT_CONFIG;

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

/// The roles a split deployment can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Gateway,
    Storaged,
    Catalogd,
    Ingestd,
    Queryd,
    Vectord,
}

const ROLES: &[(&str, Option<Role>)] = &[
    ("gateway", Some(Role::Gateway)),
    ("storaged", Some(Role::Storaged)),
    ("catalogd", Some(Role::Catalogd)),
    ("ingestd", Some(Role::Ingestd)),
    ("queryd", Some(Role::Queryd)),
    ("vectord", Some(Role::Vectord)),
];

fn parse_roles(names: &[String]) -> Result<Vec<Role>, String> {
    let mut roles = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        match ROLES.iter().find(|(n, _)| *n == name) {
            Some((_, Some(role))) if !roles.contains(role) => roles.push(*role),
            Some((_, Some(_))) => {}
            Some((_, None)) => {
                return Err(format!("--services: {name} is not part of this build yet"));
            }
            None => {
                let known: Vec<&str> = ROLES.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "--services: unknown service {name:?} (known: {})",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(roles)
}

/// Loads and checks the configuration; on failure prints one message and gives exit code 2.
pub fn load_config(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ExitCode> {
    let env = |k: &str| std::env::var(k).ok();
    match Config::load(path, &env, overrides) {
        Ok((config, report)) => {
            common::telemetry::init_logging(
                common::config::tracing_level(&config.log_level).unwrap_or("info"),
            );
            for warning in report.warnings {
                tracing::warn!("{warning}");
            }
            Ok(config)
        }
        Err(e) => {
            eprintln!("lakehouse: {e}");
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

/// The effective configuration as TOML-ish text, secrets redacted.
pub fn describe_config(c: &Config) -> String {
    let redact = |v: &Option<String>| if v.is_some() { "\"<set>\"" } else { "\"\"" };
    let storage = match &c.storage {
        StorageConfig::Local { data_dir } => {
            format!(
                "[storage]\nbackend = \"local\"\ndata_dir = {:?}\n",
                data_dir.display().to_string()
            )
        }
        StorageConfig::S3(s3) => format!(
            "[storage]\nbackend = \"s3\"\n\n[s3]\nendpoint = {:?}\nregion = {:?}\nbucket = {:?}\n\
             access_key_id = {}\nsecret_access_key = {}\nuse_path_style = {}\n",
            s3.endpoint.clone().unwrap_or_default(),
            s3.region,
            s3.bucket,
            redact(&s3.access_key_id),
            redact(&s3.secret_access_key),
            s3.use_path_style
        ),
    };
    let g = &c.gateway;
    let i = &c.ingestd;
    [
        format!(
            "[gateway]\nbind = \"{}\"\nstoraged_url = {:?}\ncatalogd_url = {:?}\ningestd_url = {:?}\n\
             queryd_url = {:?}\nvectord_url = {:?}\napi_key = {}\nupstream_timeout = \"{}s\"\n\
             allowed_hosts = {:?}\nallowed_origins = {:?}\nheader_read_timeout = \"{}ms\"\n\
             body_idle_timeout = \"{}ms\"\nbody_timeout = \"{}ms\"\ntls_cert = {:?}\ntls_key = {:?}\n\
             tls_ca = {:?}\n",
            g.bind,
            g.storaged_url,
            g.catalogd_url,
            g.ingestd_url,
            g.queryd_url,
            g.vectord_url,
            redact(&g.api_key),
            g.upstream_timeout.as_secs(),
            g.allowed_hosts,
            g.allowed_origins,
            g.client_limits.header_read_timeout.as_millis(),
            g.client_limits.body_idle_timeout.as_millis(),
            g.client_limits.body_timeout.map_or(0, |d| d.as_millis()),
            shown_path(&g.tls.cert),
            shown_path(&g.tls.key),
            shown_path(&g.tls.ca),
        ),
        format!(
            "[storaged]\nbind = \"{}\"\nmax_object_bytes = {}\n",
            c.storaged.bind, c.storaged.max_object_bytes
        ),
        format!(
            "[catalogd]\nbind = \"{}\"\nstoraged_url = {:?}\nkeep_versions = {}\n",
            c.catalogd.bind, c.catalogd.storaged_url, c.catalogd.keep_versions
        ),
        format!(
            "[ingestd]\nbind = \"{}\"\nstoraged_url = {:?}\ncatalogd_url = {:?}\nmax_ingest_bytes = {}\n\
             max_gzip_ratio = {}\nmax_columns = {}\n",
            i.bind, i.storaged_url, i.catalogd_url, i.max_ingest_bytes, i.max_gzip_ratio,
            i.max_columns
        ),
        format!(
            "[queryd]\nbind = \"{}\"\ncatalogd_url = {:?}\npg_bind = \"{}\"\nrefresh_every = \"{}s\"\n\
             query_timeout = \"{}s\"\nquery_memory_limit = {}\nmax_concurrent_queries = {}\n\
             query_queue_timeout = \"{}ms\"\nmax_pg_connections = {}\n",
            c.queryd.bind,
            c.queryd.catalogd_url,
            c.queryd.pg_bind,
            c.queryd.refresh_every.as_secs(),
            c.queryd.query_timeout.as_secs(),
            c.queryd.query_memory_limit,
            c.queryd.max_concurrent_queries,
            c.queryd.query_queue_timeout.as_millis(),
            c.queryd.max_pg_connections,
        ),
        format!(
            "[vectord]\nbind = \"{}\"\nstoraged_url = {:?}\npersist = {}\nmemory_limit = {}\n",
            c.vectord.bind,
            c.vectord.storaged_url,
            c.vectord.persist,
            c.vectord.memory_limit.unwrap_or(0)
        ),
        storage,
        format!("[log]\nlevel = {:?}", c.log_level),
    ]
    .join("\n")
}

/// A path as a TOML string, empty when unset.
fn shown_path(path: &Option<std::path::PathBuf>) -> String {
    path.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

pub fn run(args: ServeArgs) -> ExitCode {
    let overrides = Overrides {
        data_dir: args.data_dir.clone(),
    };
    let config = match load_config(args.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let roles = match parse_roles(&args.services) {
        Ok(r) => r,
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
    match runtime.block_on(serve(config, roles)) {
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

/// The query engine with `[queryd]`'s limits and the PostgreSQL catalog and functions.
fn query_engine(
    catalog: Arc<dyn Catalog>,
    data: Arc<dyn object_store::ObjectStore>,
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
    Ok(engine)
}

/// The PostgreSQL protocol on `[queryd] pg_bind`; the gateway's API key, when set, is the
/// password; TLS with the process's certificate.
async fn serve_postgres(
    servers: &mut tokio::task::JoinSet<std::io::Result<()>>,
    engine: queryd::QueryEngine,
    config: &Config,
    tls: Option<&common::tls::ServerTls>,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let listener = server::bind("queryd (PostgreSQL)", config.queryd.pg_bind).await?;
    let options = queryd::pg::PgOptions {
        password: config.gateway.api_key.clone(),
        max_connections: config.queryd.max_pg_connections,
        tls: tls.cloned(),
    };
    servers.spawn(queryd::pg::serve(engine, listener, shutdown, options));
    Ok(())
}

/// The data files a split queryd reads: S3 directly; a local directory — which belongs to
/// the storaged process on this machine — read in place (queryd never writes to it).
fn query_data_store(config: &Config) -> anyhow::Result<Arc<dyn object_store::ObjectStore>> {
    match &config.storage {
        StorageConfig::S3(s3) => Ok(ObjectStoreBackend::s3(s3)?.object_store()),
        StorageConfig::Local { data_dir } => {
            let fs = object_store::local::LocalFileSystem::new_with_prefix(data_dir)
                .with_context(|| format!("data directory {}", data_dir.display()))?;
            Ok(Arc::new(fs))
        }
    }
}

/// Keeps the engine's dataset list (information_schema, `\dt`) fresh in the background;
/// table lookups never wait for it.
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

/// The store of a split role that is not storaged: S3 directly (no hop through storaged),
/// or, when the data is in a local directory — which belongs to the storaged process —
/// storaged over HTTP at `storaged_url`.
async fn store_for_role(config: &Config, storaged_url: &str) -> anyhow::Result<Arc<dyn Store>> {
    match config.storage {
        StorageConfig::S3(_) => Ok(open_store(config).await?),
        StorageConfig::Local { .. } => Ok(Arc::new(
            storaged::StoreClient::new(storaged_url)
                .with_api_key(config.gateway.api_key.as_deref()),
        )),
    }
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
/// background, sparing any written since `older_than` (an ingest may still be committing).
fn sweep_in_background(
    store: Arc<dyn Store>,
    catalog: Arc<dyn Catalog>,
    older_than: DateTime<Utc>,
) {
    tokio::spawn(async move {
        match catalogd::sweep_unreferenced(&*store, &*catalog, older_than).await {
            Ok(removed) => tracing::info!(removed, "swept unreferenced data files"),
            Err(e) => tracing::warn!(error = %e, "sweeping unreferenced data files failed"),
        }
    });
}

/// Every address this process will listen on, by role.
fn binds(config: &Config, roles: &[Role]) -> Vec<(&'static str, std::net::SocketAddr)> {
    let runs = |role: Role| roles.is_empty() || roles.contains(&role);
    let mut binds = Vec::new();
    if runs(Role::Gateway) {
        binds.push(("gateway", config.gateway.bind));
    }
    if runs(Role::Queryd) {
        binds.push(("queryd (PostgreSQL)", config.queryd.pg_bind));
    }
    let split = [
        (Role::Storaged, "storaged", config.storaged.bind),
        (Role::Catalogd, "catalogd", config.catalogd.bind),
        (Role::Ingestd, "ingestd", config.ingestd.bind),
        (Role::Queryd, "queryd", config.queryd.bind),
        (Role::Vectord, "vectord", config.vectord.bind),
    ];
    for (role, name, addr) in split {
        if roles.contains(&role) {
            binds.push((name, addr));
        }
    }
    binds
}

/// With TLS on, every server of a split deployment speaks HTTPS only: the URLs this
/// process's roles call must say `https://`.
fn check_https_urls(config: &Config, roles: &[Role]) -> Result<(), Refused> {
    let g = &config.gateway;
    let calls = [
        (Role::Gateway, "gateway", "storaged_url", &g.storaged_url),
        (Role::Gateway, "gateway", "catalogd_url", &g.catalogd_url),
        (Role::Gateway, "gateway", "ingestd_url", &g.ingestd_url),
        (Role::Gateway, "gateway", "queryd_url", &g.queryd_url),
        (Role::Gateway, "gateway", "vectord_url", &g.vectord_url),
        (
            Role::Catalogd,
            "catalogd",
            "storaged_url",
            &config.catalogd.storaged_url,
        ),
        (
            Role::Ingestd,
            "ingestd",
            "storaged_url",
            &config.ingestd.storaged_url,
        ),
        (
            Role::Ingestd,
            "ingestd",
            "catalogd_url",
            &config.ingestd.catalogd_url,
        ),
        (
            Role::Vectord,
            "vectord",
            "storaged_url",
            &config.vectord.storaged_url,
        ),
        (
            Role::Queryd,
            "queryd",
            "catalogd_url",
            &config.queryd.catalogd_url,
        ),
    ];
    for (role, section, key, url) in calls {
        if roles.contains(&role) && url.starts_with("http://") {
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
fn warn_open_binds(config: &Config, roles: &[Role]) {
    let tls = config.gateway.tls.cert.is_some();
    for (role, addr) in binds(config, roles) {
        if addr.ip().is_loopback() {
            continue;
        }
        if config.gateway.api_key.is_some() {
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

/// The ingestor of either deployment, with the `[ingestd]` limits.
fn ingestor(store: Arc<dyn Store>, catalog: Arc<dyn Catalog>, config: &Config) -> Ingestor {
    let i = &config.ingestd;
    Ingestor::new(store, catalog, i.max_ingest_bytes)
        .with_max_gzip_ratio(i.max_gzip_ratio)
        .with_max_columns(usize::try_from(i.max_columns).unwrap_or(usize::MAX))
}

async fn serve(config: Config, roles: Vec<Role>) -> anyhow::Result<()> {
    let started = Utc::now();
    let (trigger, shutdown) = Shutdown::new();
    server::on_signals(trigger);
    let access = common::server::Access::from_config(&config);
    let tls = common::tls::ServerTls::from_config(&config.gateway.tls)
        .and_then(|tls| {
            common::tls::trust(config.gateway.tls.ca.as_ref(), "config: [gateway] tls_ca")
                .map(|()| tls)
        })
        .map_err(|e| Refused(e.to_string()))?;
    if tls.is_some() {
        check_https_urls(&config, &roles)?;
    }
    let serving = server::ServeOptions {
        limits: config.gateway.client_limits,
        tls: tls.as_ref().map(common::tls::ServerTls::http),
    };
    let gateway_options = gateway::GatewayOptions {
        access: access.clone(),
        upstream_timeout: config.gateway.upstream_timeout,
    };
    let api_key = config.gateway.api_key.as_deref();
    warn_open_binds(&config, &roles);
    let mut servers = tokio::task::JoinSet::new();

    // One store per process, shared by every role in it.
    let backend = if roles.is_empty() || roles.contains(&Role::Storaged) {
        Some(open_store(&config).await?)
    } else {
        None
    };
    let store: Option<Arc<dyn Store>> = if let Some(backend) = &backend {
        Some(backend.clone())
    } else if roles.contains(&Role::Catalogd) {
        Some(store_for_role(&config, &config.catalogd.storaged_url).await?)
    } else if roles.contains(&Role::Ingestd) {
        Some(store_for_role(&config, &config.ingestd.storaged_url).await?)
    } else if roles.contains(&Role::Vectord) && config.vectord.persist {
        if matches!(config.storage, StorageConfig::Local { .. })
            && config.vectord.storaged_url.is_empty()
        {
            anyhow::bail!(
                "[vectord] persist = true needs [vectord] storaged_url when the data is in a local directory"
            );
        }
        Some(store_for_role(&config, &config.vectord.storaged_url).await?)
    } else {
        None
    };
    // `/health` of every split role that uses the store asks it (one cached probe).
    let store_check = store
        .as_ref()
        .map(|s| StoreHealth::new(s.clone()).as_check());
    let keep_versions = config.catalogd.keep_versions;
    // The process's vector indexes (standalone, or the vectord role), flushed at shutdown.
    let vectors = if roles.is_empty() || roles.contains(&Role::Vectord) {
        let persisted = store.as_ref().filter(|_| config.vectord.persist);
        Some(
            open_vectors(persisted)
                .await?
                .with_memory_limit(config.vectord.memory_limit),
        )
    } else {
        None
    };

    if roles.is_empty()
        && let (Some(backend), Some(vectors)) = (&backend, &vectors)
    {
        let store: Arc<dyn Store> = backend.clone();
        let catalog: Arc<dyn Catalog> = Arc::new(StoreCatalog::new(store.clone(), keep_versions));
        // Alone on its data: whatever no manifest references was left by an earlier run.
        sweep_in_background(store.clone(), catalog.clone(), started);
        let health = gateway::Health::Local {
            services: vec![
                ("storaged".into(), store.describe()),
                (
                    "catalogd".into(),
                    format!("manifests in {}", store.describe()),
                ),
                ("ingestd".into(), "in-process".into()),
                ("queryd".into(), "in-process".into()),
                ("vectord".into(), vectors.describe()),
            ],
            store: Some(StoreHealth::new(store.clone())),
        };
        let engine = query_engine(catalog.clone(), backend.object_store(), &config)?;
        serve_postgres(
            &mut servers,
            engine.clone(),
            &config,
            tls.as_ref(),
            shutdown.clone(),
        )
        .await?;
        let ingestor = ingestor(store.clone(), catalog.clone(), &config);
        let api = StorageApi {
            store: store.clone(),
            max_object_bytes: config.storaged.max_object_bytes,
        };
        let services = storaged::http::router(api)
            .merge(catalogd::http::router(catalog))
            .merge(ingestd::http::router(ingestor))
            .merge(queryd::http::router(engine))
            .merge(vectord::http::router(vectors.clone()));
        let router = gateway::standalone(services, health, &gateway_options);
        let listener = server::bind("gateway", config.gateway.bind).await?;
        servers.spawn(server::serve(
            "gateway",
            listener,
            router,
            shutdown.clone(),
            serving.clone(),
        ));
    }
    if roles.contains(&Role::Storaged)
        && let Some(store) = &store
    {
        let api = StorageApi {
            store: store.clone(),
            max_object_bytes: config.storaged.max_object_bytes,
        };
        let router = common::server::service_router_checked(
            storaged::http::router(api),
            &access,
            store_check.clone(),
        );
        let listener = server::bind("storaged", config.storaged.bind).await?;
        servers.spawn(server::serve(
            "storaged",
            listener,
            router,
            shutdown.clone(),
            serving.clone(),
        ));
    }
    // One in-process catalog per process, so its per-dataset lock orders every commit and
    // delete made here (catalogd's routes and ingestd's commits alike).
    let local_catalog: Option<Arc<dyn Catalog>> = match &store {
        Some(store) if roles.contains(&Role::Catalogd) => {
            Some(Arc::new(StoreCatalog::new(store.clone(), keep_versions)))
        }
        _ => None,
    };
    if let (Some(store), Some(catalog)) = (&store, &local_catalog) {
        let catalog = catalog.clone();
        // Ingests in other processes hold leases the sweep honours; the start time only
        // spares what lease-less writers (uploads through /v1/storage) wrote since.
        sweep_in_background(store.clone(), catalog.clone(), started);
        let router = common::server::service_router_checked(
            catalogd::http::router(catalog),
            &access,
            store_check.clone(),
        );
        let listener = server::bind("catalogd", config.catalogd.bind).await?;
        servers.spawn(server::serve(
            "catalogd",
            listener,
            router,
            shutdown.clone(),
            serving.clone(),
        ));
    }
    if roles.contains(&Role::Ingestd)
        && let Some(store) = &store
    {
        let catalog: Arc<dyn Catalog> = match &local_catalog {
            Some(catalog) => catalog.clone(),
            None => Arc::new(
                catalogd::CatalogClient::new(&config.ingestd.catalogd_url).with_api_key(api_key),
            ),
        };
        if local_catalog.is_none() {
            // The parts a crash of this process left behind; other ingestd replicas'
            // running ingests hold leases the sweep honours.
            sweep_in_background(store.clone(), catalog.clone(), started);
        }
        let ingestor = ingestor(store.clone(), catalog, &config);
        let router = common::server::service_router_checked(
            ingestd::http::router(ingestor),
            &access,
            store_check.clone(),
        );
        let listener = server::bind("ingestd", config.ingestd.bind).await?;
        servers.spawn(server::serve(
            "ingestd",
            listener,
            router,
            shutdown.clone(),
            serving.clone(),
        ));
    }
    if roles.contains(&Role::Queryd) {
        let catalog: Arc<dyn Catalog> = match &local_catalog {
            Some(catalog) => catalog.clone(),
            None => Arc::new(
                catalogd::CatalogClient::new(&config.queryd.catalogd_url).with_api_key(api_key),
            ),
        };
        let engine = query_engine(catalog, query_data_store(&config)?, &config)?;
        refresh_in_background(engine.clone(), config.queryd.refresh_every);
        serve_postgres(
            &mut servers,
            engine.clone(),
            &config,
            tls.as_ref(),
            shutdown.clone(),
        )
        .await?;
        let router =
            common::server::service_router_checked(queryd::http::router(engine), &access, None);
        let listener = server::bind("queryd", config.queryd.bind).await?;
        servers.spawn(server::serve(
            "queryd",
            listener,
            router,
            shutdown.clone(),
            serving.clone(),
        ));
    }
    if roles.contains(&Role::Vectord)
        && let Some(vectors) = &vectors
    {
        let router = common::server::service_router_checked(
            vectord::http::router(vectors.clone()),
            &access,
            store_check.clone(),
        );
        let listener = server::bind("vectord", config.vectord.bind).await?;
        servers.spawn(server::serve(
            "vectord",
            listener,
            router,
            shutdown.clone(),
            serving.clone(),
        ));
    }
    if roles.contains(&Role::Gateway) {
        let upstreams = gateway::Upstreams {
            storaged: config.gateway.storaged_url.clone(),
            catalogd: config.gateway.catalogd_url.clone(),
            ingestd: config.gateway.ingestd_url.clone(),
            queryd: config.gateway.queryd_url.clone(),
            vectord: config.gateway.vectord_url.clone(),
        };
        let router = gateway::split(&upstreams, &gateway_options);
        let listener = server::bind("gateway", config.gateway.bind).await?;
        servers.spawn(server::serve(
            "gateway",
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
    if let Some(vectors) = &vectors {
        vectors.flush().await;
    }
    Ok(())
}
