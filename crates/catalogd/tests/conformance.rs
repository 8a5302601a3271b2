//! One conformance suite for the `Catalog` seam, run against three wirings: in-process over
//! a local directory, in-process over S3 (a real S3-compatible server on loopback, see
//! `test-support`), and `CatalogClient` → catalogd's real router on a loopback port over a
//! local directory. Each wiring also has a `peer`: a second catalog over the same store
//! with its own locks, standing in for a second process. The same three wirings of
//! `DeltaCatalog` (`delta_*`) run every check that does not look at manifest objects.

use std::sync::Arc;

use bytes::Bytes;
use catalogd::{
    Catalog, CatalogClient, CatalogError, ColumnType, Commit, CommitMode, Committed, DataFile,
    DatasetName, DeltaCatalog, Field, Schema, StoreCatalog,
};
use chrono::{Duration, Utc};
use futures::future::BoxFuture;
use storaged::{ObjectKey, ObjectStoreBackend, PutMode, Store, StoreError, StoreExt};
use test_support::S3Server;

/// A catalog, a peer over the same store, the store itself, and whatever must live as long.
struct Wiring {
    catalog: Arc<dyn Catalog>,
    peer: Arc<dyn Catalog>,
    store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
    _s3: Option<S3Server>,
    _servers: Vec<tokio::task::JoinHandle<()>>,
}

/// Builds a wiring whose catalogs keep `keep_versions` versions.
type Make = fn(u32) -> BoxFuture<'static, Wiring>;

/// The in-process catalog of a wiring: manifests or Delta tables.
type Kind = fn(Arc<dyn Store>, u32) -> Arc<dyn Catalog>;

fn manifests(store: Arc<dyn Store>, keep: u32) -> Arc<dyn Catalog> {
    Arc::new(StoreCatalog::new(store, keep))
}

fn delta(store: Arc<dyn Store>, keep: u32) -> Arc<dyn Catalog> {
    Arc::new(DeltaCatalog::new(store, keep))
}

fn in_process_of(kind: Kind, store: Arc<dyn Store>, keep: u32) -> Wiring {
    Wiring {
        catalog: kind(store.clone(), keep),
        peer: kind(store.clone(), keep),
        store,
        _dir: None,
        _s3: None,
        _servers: vec![],
    }
}

fn local_of(kind: Kind, keep: u32) -> BoxFuture<'static, Wiring> {
    Box::pin(async move {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
        Wiring {
            _dir: Some(dir),
            ..in_process_of(kind, store, keep)
        }
    })
}

fn s3_of(kind: Kind, keep: u32) -> BoxFuture<'static, Wiring> {
    Box::pin(async move {
        common::tls::install_provider();
        let server = S3Server::start();
        let bucket = server.bucket("catalog").await;
        let config = server.s3_config(&bucket);
        let store = ObjectStoreBackend::s3(&config).unwrap();
        store.check().await.unwrap();
        Wiring {
            _s3: Some(server),
            ..in_process_of(kind, Arc::new(store), keep)
        }
    })
}

fn http_local_of(kind: Kind, keep: u32) -> BoxFuture<'static, Wiring> {
    Box::pin(async move {
        let inner = local_of(kind, keep).await;
        let (catalog, one) = serve(kind(inner.store.clone(), keep)).await;
        let (peer, two) = serve(kind(inner.store.clone(), keep)).await;
        Wiring {
            catalog,
            peer,
            _servers: vec![one, two],
            ..inner
        }
    })
}

fn local(keep: u32) -> BoxFuture<'static, Wiring> {
    local_of(manifests, keep)
}

fn s3(keep: u32) -> BoxFuture<'static, Wiring> {
    s3_of(manifests, keep)
}

fn http_local(keep: u32) -> BoxFuture<'static, Wiring> {
    http_local_of(manifests, keep)
}

fn delta_local(keep: u32) -> BoxFuture<'static, Wiring> {
    local_of(delta, keep)
}

fn delta_s3(keep: u32) -> BoxFuture<'static, Wiring> {
    s3_of(delta, keep)
}

fn delta_http_local(keep: u32) -> BoxFuture<'static, Wiring> {
    http_local_of(delta, keep)
}

/// Serves `catalog` through catalogd's real router; returns its client.
async fn serve(catalog: Arc<dyn Catalog>) -> (Arc<dyn Catalog>, tokio::task::JoinHandle<()>) {
    let router = common::server::service_router(catalogd::http::router(catalog), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (
        Arc::new(CatalogClient::new(&format!("http://{addr}"))),
        server,
    )
}

fn name(text: &str) -> DatasetName {
    text.parse().unwrap()
}

fn schema(columns: &[(&str, ColumnType)]) -> Schema {
    Schema {
        fields: columns
            .iter()
            .map(|(n, t)| Field {
                name: n.to_string(),
                data_type: *t,
                nullable: true,
            })
            .collect(),
    }
}

fn trips_schema() -> Schema {
    schema(&[
        ("id", ColumnType::Int64),
        ("city", ColumnType::Utf8),
        ("price", ColumnType::Float64),
    ])
}

/// Stores a data file of `rows` rows (`rows * 10` bytes) and describes it.
async fn data_file(store: &dyn Store, key: &str, rows: u64) -> DataFile {
    let body = Bytes::from(vec![b'.'; rows as usize * 10]);
    store
        .put_bytes(&ObjectKey::parse(key).unwrap(), body, PutMode::Overwrite)
        .await
        .unwrap();
    DataFile {
        key: key.into(),
        rows,
        bytes: rows * 10,
        partition_values: Default::default(),
        stats: Default::default(),
    }
}

fn commit(dataset: &str, mode: CommitMode, files: Vec<DataFile>) -> Commit {
    Commit {
        name: name(dataset),
        mode,
        schema: trips_schema(),
        files,
        source_sha256: None,
        idempotency_key: None,
        evolve: false,
        partition_by: vec![],
    }
}

async fn exists(store: &dyn Store, key: &str) -> bool {
    match store.head(&ObjectKey::parse(key).unwrap()).await {
        Ok(_) => true,
        Err(StoreError::NotFound { .. }) => false,
        Err(e) => panic!("head {key}: {e}"),
    }
}

fn created(result: Result<Committed, CatalogError>) -> catalogd::Manifest {
    match result {
        Ok(Committed::Created(m)) => m,
        other => panic!("expected Created, got {other:?}"),
    }
}

fn existing(result: Result<Committed, CatalogError>) -> catalogd::Manifest {
    match result {
        Ok(Committed::Existing(m)) => m,
        other => panic!("expected Existing, got {other:?}"),
    }
}

fn keys(m: &catalogd::Manifest) -> Vec<&str> {
    m.current.files.iter().map(|f| f.key.as_str()).collect()
}

#[path = "conformance/commits.rs"]
mod commits;
#[path = "conformance/external.rs"]
mod external;
#[path = "conformance/lifecycle.rs"]
mod lifecycle;
use commits::*;
use external::*;
use lifecycle::*;

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod in_process_local { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check(super::local).await } )* }
        mod in_process_s3 { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check(super::s3).await } )* }
        mod http_local { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check(super::http_local).await } )* }
    };
}

/// The checks that hold whatever the catalog stores, over Delta tables.
macro_rules! conformance_delta {
    ($($check:ident),* $(,)?) => {
        mod delta_local { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check(super::delta_local).await } )* }
        mod delta_s3 { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check(super::delta_s3).await } )* }
        mod delta_http_local { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $check() { super::$check(super::delta_http_local).await } )* }
    };
}

conformance!(
    create_get_and_list,
    create_of_an_existing_dataset_is_refused,
    overwrite_bumps_the_version,
    an_overwrite_with_the_same_sha_is_existing,
    an_idempotency_key_replay_is_existing,
    append_adds_files_to_the_current_ones,
    an_incompatible_append_lists_every_difference,
    an_evolving_append_adds_columns,
    the_keep_window_deletes_only_unreferenced_files,
    delete_removes_the_manifest_and_the_files_it_names,
    invalid_names_are_refused_naming_the_rule,
    missing_datasets_are_not_found,
    bad_commits_are_refused_and_write_nothing,
    corrupt_manifests_are_named_and_skipped_by_list,
    sweep_removes_orphans_only,
    concurrent_appends_from_two_processes_all_land,
    a_commit_naming_a_missing_file_is_refused,
);

conformance_delta!(
    create_get_and_list,
    create_of_an_existing_dataset_is_refused,
    overwrite_bumps_the_version,
    an_overwrite_with_the_same_sha_is_existing,
    an_idempotency_key_replay_is_existing,
    append_adds_files_to_the_current_ones,
    an_incompatible_append_lists_every_difference,
    an_evolving_append_adds_columns,
    the_keep_window_deletes_only_unreferenced_files,
    delete_removes_the_manifest_and_the_files_it_names,
    invalid_names_are_refused_naming_the_rule,
    missing_datasets_are_not_found,
    bad_commits_are_refused_and_write_nothing,
    concurrent_appends_from_two_processes_all_land,
    a_commit_naming_a_missing_file_is_refused,
    an_external_table_is_registered_read_appended_and_only_unregistered,
);
