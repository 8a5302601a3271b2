//! Manifests past the pointer threshold: stored as a body object plus a pointer at
//! `_catalog/{name}.json` (docs/formats.md, "Manifests"). Local tests use a tiny threshold so
//! every manifest takes that path; one test on S3 commits a manifest over 8 MiB (the limit
//! of a conditional PUT there) with the default threshold.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use catalogd::{
    Catalog, CatalogError, ColumnType, Commit, CommitMode, Committed, DataFile, DatasetName, Field,
    Manifest, Schema, StoreCatalog,
};
use storaged::{KeyPrefix, ObjectKey, ObjectStoreBackend, PutMode, Store, StoreError, StoreExt};

fn name(text: &str) -> DatasetName {
    text.parse().unwrap()
}

fn schema() -> Schema {
    Schema {
        fields: vec![Field {
            name: "id".into(),
            data_type: ColumnType::Int64,
            nullable: true,
        }],
    }
}

async fn data_file(store: &dyn Store, key: &str) -> DataFile {
    store
        .put_bytes(
            &ObjectKey::parse(key).unwrap(),
            Bytes::from_static(b"PAR1"),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    DataFile {
        key: key.into(),
        rows: 1,
        bytes: 4,
        partition_values: Default::default(),
        stats: Default::default(),
    }
}

fn commit(dataset: &str, mode: CommitMode, files: Vec<DataFile>) -> Commit {
    Commit {
        name: name(dataset),
        mode,
        schema: schema(),
        files,
        source_sha256: None,
        idempotency_key: None,
        evolve: false,
        partition_by: vec![],
    }
}

fn created(result: Result<Committed, CatalogError>) -> Manifest {
    match result {
        Ok(Committed::Created(m)) => m,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn keys_under(store: &dyn Store, prefix: &str) -> Vec<String> {
    store
        .list(&KeyPrefix::parse(prefix).unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect()
}

async fn json_at(store: &dyn Store, key: &str) -> serde_json::Value {
    let bytes = store
        .get_bytes(&ObjectKey::parse(key).unwrap())
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn local() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
    (dir, store)
}

/// A catalog storing every manifest over 64 bytes (all of them) as body + pointer.
fn pointing(store: &Arc<dyn Store>, keep: u32) -> StoreCatalog {
    StoreCatalog::new(store.clone(), keep).with_pointer_threshold(64)
}

#[tokio::test]
async fn a_manifest_over_the_threshold_round_trips() {
    let (_dir, store) = local();
    let catalog = pointing(&store, 3);
    let a = data_file(&*store, "datasets/big/v1/a").await;
    let b = data_file(&*store, "datasets/big/v2/b").await;
    let c = data_file(&*store, "datasets/big/v3/c").await;
    let small = data_file(&*store, "datasets/small/v1/a").await;
    let m1 = created(
        catalog
            .commit(commit("big", CommitMode::Create, vec![a.clone()]))
            .await,
    );
    // Another dataset, inline (the default threshold): both kinds list side by side.
    let inline = StoreCatalog::new(store.clone(), 3);
    created(
        inline
            .commit(commit("small", CommitMode::Create, vec![small]))
            .await,
    );

    // The manifest key holds a pointer naming the body, its size and SHA-256.
    let pointer = json_at(&*store, "_catalog/big.json").await;
    assert_eq!(pointer["name"], "big");
    assert_eq!(pointer["version"], 1);
    let body_key = pointer["key"].as_str().unwrap().to_string();
    assert!(body_key.starts_with("_catalog/big/1-"), "{body_key}");
    let body = store
        .get_bytes(&ObjectKey::parse(&body_key).unwrap())
        .await
        .unwrap();
    assert_eq!(pointer["bytes"], body.len() as u64);
    assert_eq!(pointer["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(serde_json::from_slice::<Manifest>(&body).unwrap(), m1);

    assert_eq!(catalog.get(&name("big")).await.unwrap(), m1);
    let listed = catalog.list().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["big", "small"], "bodies are not datasets");

    // Append, then overwrite: each commit replaces the body and removes the old one.
    let m2 = created(
        catalog
            .commit(commit("big", CommitMode::Append, vec![b.clone()]))
            .await,
    );
    assert_eq!((m2.current.version, m2.current.rows), (2, 2));
    let m3 = created(
        inline
            .commit(commit("big", CommitMode::Append, vec![c.clone()]))
            .await,
    );
    assert_eq!(
        keys_under(&*store, "_catalog/big/").await,
        Vec::<String>::new(),
        "back to inline: the last body is gone"
    );
    let m4 = created(
        catalog
            .commit(commit("big", CommitMode::Overwrite, vec![]))
            .await,
    );
    assert_eq!(keys_under(&*store, "_catalog/big/").await.len(), 1);
    let got = inline.get(&name("big")).await.unwrap();
    assert_eq!(got, m4);
    let versions: Vec<u64> = got.all_versions().map(|v| v.version).collect();
    assert_eq!(versions, [4, 3, 2]);
    assert_eq!(got.version(3), Some(&m3.current));
    assert_eq!(got.version(2).map(|v| v.rows), Some(2));

    // An idempotent no-op and a lost race write nothing extra.
    let peer = pointing(&store, 3);
    let mut racing = Vec::new();
    for i in 0..6 {
        let f = data_file(&*store, &format!("datasets/big/r/{i}")).await;
        let catalog = if i % 2 == 0 { &catalog } else { &peer };
        racing.push(catalog.commit(commit("big", CommitMode::Append, vec![f])));
    }
    for result in futures::future::join_all(racing).await {
        created(result);
    }
    assert_eq!(
        keys_under(&*store, "_catalog/big/").await.len(),
        1,
        "one body: losers removed theirs, winners their predecessor's"
    );
    assert_eq!(catalog.get(&name("big")).await.unwrap().current.rows, 6);

    catalog.delete(&name("big")).await.unwrap();
    inline.delete(&name("small")).await.unwrap();
    assert_eq!(keys_under(&*store, "_catalog/").await, Vec::<String>::new());
    assert!(matches!(
        catalog.get(&name("big")).await,
        Err(CatalogError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_corrupt_or_missing_body_is_a_corrupt_manifest() {
    let (_dir, store) = local();
    let catalog = pointing(&store, 3);
    for dataset in ["flipped", "gone", "moved"] {
        created(
            catalog
                .commit(commit(dataset, CommitMode::Create, vec![]))
                .await,
        );
    }
    created(
        catalog
            .commit(commit("fine", CommitMode::Create, vec![]))
            .await,
    );
    let body_of = |dataset: &'static str| {
        let store = store.clone();
        async move {
            let pointer = json_at(&*store, &format!("_catalog/{dataset}.json")).await;
            ObjectKey::parse(pointer["key"].as_str().unwrap()).unwrap()
        }
    };
    // One byte changed (same length): the SHA-256 no longer matches.
    let key = body_of("flipped").await;
    let mut bytes = store.get_bytes(&key).await.unwrap().to_vec();
    let at = bytes.iter().position(|&b| b == b'1').unwrap();
    bytes[at] = b'2';
    store
        .put_bytes(&key, bytes.into(), PutMode::Overwrite)
        .await
        .unwrap();
    // The body removed.
    store.delete(&body_of("gone").await).await.unwrap();
    // Another dataset's pointer: names a body outside its own prefix.
    let theirs = store
        .get_bytes(&ObjectKey::parse("_catalog/fine.json").unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(theirs.to_vec())
        .unwrap()
        .replacen("\"fine\"", "\"moved\"", 1);
    store
        .put_bytes(
            &ObjectKey::parse("_catalog/moved.json").unwrap(),
            text.into(),
            PutMode::Overwrite,
        )
        .await
        .unwrap();

    for (dataset, why) in [
        ("flipped", "SHA-256"),
        ("gone", "missing"),
        ("moved", "outside"),
    ] {
        match catalog.get(&name(dataset)).await {
            Err(e @ CatalogError::Corrupt { .. }) => {
                assert!(e.to_string().contains(why), "{dataset}: {e}");
                assert!(
                    e.to_string().contains(&format!("_catalog/{dataset}.json")),
                    "{e}"
                );
                assert_eq!(e.code(), "corrupt_manifest");
            }
            other => panic!("{dataset}: expected Corrupt, got {other:?}"),
        }
    }
    let listed = catalog.list().await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["fine"],
        "list skips corrupt manifests"
    );
    assert!(matches!(
        catalog
            .commit(commit("gone", CommitMode::Overwrite, vec![]))
            .await,
        Err(CatalogError::Corrupt { .. })
    ));
    // A corrupt manifest can still be deleted, pointer and body (when the pointer names
    // one of its own). The body "moved" had before its pointer was replaced is named by
    // nothing now: it is left to the sweep.
    let orphan = keys_under(&*store, "_catalog/moved/").await;
    assert_eq!(orphan.len(), 1);
    for dataset in ["flipped", "gone", "moved", "fine"] {
        catalog.delete(&name(dataset)).await.unwrap();
    }
    assert_eq!(keys_under(&*store, "_catalog/").await, orphan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_fail_while_commits_replace_bodies() {
    let (_dir, store) = local();
    let writer = Arc::new(pointing(&store, 4));
    let peer = Arc::new(pointing(&store, 4));
    created(
        writer
            .commit(commit("hot", CommitMode::Create, vec![]))
            .await,
    );
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..4 {
        let reader = StoreCatalog::new(store.clone(), 4);
        let done = done.clone();
        readers.push(tokio::spawn(async move {
            let (mut reads, mut last) = (0u32, 0u64);
            while !done.load(Ordering::SeqCst) || reads < 5 {
                let m = if r % 2 == 0 {
                    reader.get(&name("hot")).await.unwrap()
                } else {
                    let listed = reader.list().await.unwrap();
                    assert_eq!(listed.len(), 1, "the dataset is always listed");
                    listed.into_iter().next().unwrap()
                };
                assert!(m.current.version >= last, "versions never go back");
                assert_eq!(m.current.rows, m.current.version - 1);
                last = m.current.version;
                reads += 1;
            }
            reads
        }));
    }
    for i in 0..40 {
        let f = data_file(&*store, &format!("datasets/hot/p/{i}")).await;
        let catalog = if i % 2 == 0 { &writer } else { &peer };
        created(
            catalog
                .commit(commit("hot", CommitMode::Append, vec![f]))
                .await,
        );
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        let reads = reader.await.unwrap();
        assert!(reads >= 5);
    }
    assert_eq!(keys_under(&*store, "_catalog/hot/").await.len(), 1);
}

#[tokio::test]
async fn the_sweep_removes_only_bodies_no_commit_can_point_to() {
    let (_dir, store) = local();
    let catalog = pointing(&store, 3);
    created(
        catalog
            .commit(commit("t", CommitMode::Create, vec![]))
            .await,
    );
    created(
        catalog
            .commit(commit("t", CommitMode::Overwrite, vec![]))
            .await,
    );
    let live = keys_under(&*store, "_catalog/t/").await;
    assert_eq!(live.len(), 1);
    let put = |key: &'static str| {
        let store = store.clone();
        async move {
            store
                .put_bytes(
                    &ObjectKey::parse(key).unwrap(),
                    Bytes::from_static(b"{}"),
                    PutMode::Overwrite,
                )
                .await
                .unwrap();
        }
    };
    put("_catalog/t/2-00aa.json").await; // lost the race for version 2
    put("_catalog/t/3-00bb.json").await; // a commit of version 3 in flight
    put("_catalog/gone/4-00cc.json").await; // no pointer and version 4: never committable
    put("_catalog/new/1-00dd.json").await; // a create in flight (young)
    let removed = catalogd::sweep_unreferenced(
        &*store,
        &catalog,
        chrono::Utc::now() + chrono::Duration::minutes(1),
    )
    .await
    .unwrap();
    assert_eq!(removed, 2);
    let mut left = keys_under(&*store, "_catalog/").await;
    left.sort();
    let mut expected = vec![
        "_catalog/new/1-00dd.json".to_string(),
        "_catalog/t.json".into(),
        "_catalog/t/3-00bb.json".into(),
        live[0].clone(),
    ];
    expected.sort();
    assert_eq!(left, expected);
    assert_eq!(catalog.get(&name("t")).await.unwrap().current.version, 2);
}

/// On S3 a conditional PUT is one part (at most 8 MiB here): a manifest past that commits
/// through its pointer with the default threshold. ~1,000 files with long keys, appended to
/// one at a time, make each kept version list ~1 MB of entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_over_8_mib_commits_and_appends_on_s3() {
    if std::env::var("LAKEHOUSE_TEST_S3_ENDPOINT").is_err() {
        eprintln!("skipped: LAKEHOUSE_TEST_S3_ENDPOINT is not set");
        return;
    }
    common::tls::install_provider();
    let server = test_support::S3Server::start();
    let bucket = server.bucket("big-manifest").await;
    let s3 = ObjectStoreBackend::s3(&server.s3_config(&bucket)).unwrap();
    s3.check().await.unwrap();
    let store: Arc<dyn Store> = Arc::new(s3);
    let catalog = StoreCatalog::new(store.clone(), 10);
    let pad = "x".repeat(900);
    let mut files = Vec::new();
    let puts = (0..1000).map(|i| {
        let store = store.clone();
        let key = format!("datasets/big/v1/{i:04}-{pad}");
        async move { data_file(&*store, &key).await }
    });
    let mut puts = futures::stream::iter(puts).buffered(16);
    use futures::StreamExt;
    while let Some(f) = puts.next().await {
        files.push(f);
    }
    created(
        catalog
            .commit(commit("big", CommitMode::Create, files))
            .await,
    );
    let mut size = 0;
    let mut version = 1;
    while size <= 8 << 20 {
        version += 1;
        let f = data_file(&*store, &format!("datasets/big/v{version}/{pad}")).await;
        let m = created(
            catalog
                .commit(commit("big", CommitMode::Append, vec![f]))
                .await,
        );
        assert_eq!(m.current.version, version);
        size = serde_json::to_vec(&m).unwrap().len();
    }
    assert!(size > 8 << 20, "{size}");
    // One more append on top of the big one, then read it back.
    let f = data_file(&*store, &format!("datasets/big/last/{pad}")).await;
    let m = created(
        catalog
            .commit(commit("big", CommitMode::Append, vec![f]))
            .await,
    );
    let fresh = StoreCatalog::new(store.clone(), 10);
    assert_eq!(fresh.get(&name("big")).await.unwrap(), m);
    assert_eq!(m.current.rows, 1000 + version);
    let bodies = store
        .list(&KeyPrefix::parse("_catalog/big/").unwrap())
        .await
        .unwrap();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0].size > 8 << 20, "{}", bodies[0].size);
    let pointer = store
        .head(&ObjectKey::parse("_catalog/big.json").unwrap())
        .await
        .unwrap();
    assert!(
        pointer.size < 1024,
        "the pointer is small: {}",
        pointer.size
    );
    fresh.delete(&name("big")).await.unwrap();
    assert!(matches!(
        store
            .head(&ObjectKey::parse("_catalog/big.json").unwrap())
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        store
            .list(&KeyPrefix::parse("_catalog/").unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}
