//! Conformance checks of everything around commits: delete, names, missing and corrupt
//! manifests, the sweep, and concurrent writers in two processes.

use super::*;

pub async fn delete_removes_the_manifest_and_the_files_it_names(make: Make) {
    let w = make(10).await;
    let store = &*w.store;
    let a = data_file(store, "datasets/t/v1/a", 1).await;
    let stray = data_file(store, "datasets/t/v9/uncommitted", 1).await;
    let neighbour = data_file(store, "datasets/t2/v1/a", 1).await;
    created(
        w.catalog
            .commit(commit("t", CommitMode::Create, vec![a]))
            .await,
    );
    created(
        w.catalog
            .commit(commit("t2", CommitMode::Create, vec![neighbour.clone()]))
            .await,
    );
    w.catalog.delete(&name("t")).await.unwrap();
    assert!(matches!(
        w.catalog.get(&name("t")).await,
        Err(CatalogError::NotFound { .. })
    ));
    assert!(!exists(store, "_catalog/t.json").await);
    assert!(!exists(store, "_tables/t.json").await);
    assert!(!exists(store, "datasets/t/_delta_log/00000000000000000000.json").await);
    assert!(!exists(store, "datasets/t/v1/a").await);
    // A file no version names (an ingest in another process may be about to commit it) is
    // the sweep's to judge, not the delete's.
    assert!(exists(store, &stray.key).await);
    catalogd::sweep_unreferenced(store, &*w.catalog, Utc::now() + Duration::minutes(1))
        .await
        .unwrap();
    assert!(!exists(store, &stray.key).await);
    assert!(
        exists(store, &neighbour.key).await,
        "datasets/t2/ is another dataset"
    );
    // (What makes t2 a dataset — its manifest, or its registration and Delta log — is
    // not the sweep's either.)
    assert_eq!(
        keys(&w.catalog.get(&name("t2")).await.unwrap()),
        [neighbour.key.as_str()]
    );
    assert!(matches!(
        w.catalog.delete(&name("t")).await,
        Err(CatalogError::NotFound { .. })
    ));
    let listed = w.catalog.list().await.unwrap();
    assert_eq!(
        listed.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["t2"]
    );
}

pub async fn invalid_names_are_refused_naming_the_rule(make: Make) {
    let _w = make(10).await;
    for (text, rule) in [
        ("", "empty"),
        ("1st", "start with a letter"),
        ("a-b", "'-'"),
        ("a/b", "'/'"),
    ] {
        match text.parse::<DatasetName>() {
            Err(e @ CatalogError::InvalidName { .. }) => {
                assert!(e.to_string().contains(rule), "{text:?}: {e}");
                assert_eq!((e.status().as_u16(), e.code()), (400, "invalid_name"));
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    assert!(DatasetName::try_from("x".repeat(64)).is_err());
}

pub async fn missing_datasets_are_not_found(make: Make) {
    let w = make(10).await;
    let err = w.catalog.get(&name("nothing_here")).await.unwrap_err();
    assert!(
        matches!(&err, CatalogError::NotFound { name } if name == "nothing_here"),
        "{err:?}"
    );
    assert!(err.to_string().contains("nothing_here"));
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (404, "dataset_not_found")
    );
    let err = w.catalog.delete(&name("nothing_here")).await.unwrap_err();
    assert!(matches!(err, CatalogError::NotFound { .. }), "{err:?}");
    assert!(w.catalog.list().await.unwrap().is_empty());
}

pub async fn bad_commits_are_refused_and_write_nothing(make: Make) {
    let w = make(10).await;
    let outside = data_file(&*w.store, "datasets/other/a", 1).await;
    let inside = data_file(&*w.store, "datasets/t/a", 1).await;
    let twice = commit("t", CommitMode::Create, vec![inside.clone(), inside]);
    let mut bad_sha = commit("t", CommitMode::Create, vec![]);
    bad_sha.source_sha256 = Some("not hex".into());
    let mut no_columns = commit("t", CommitMode::Create, vec![]);
    no_columns.schema.fields.clear();
    for (c, why) in [
        (
            commit("t", CommitMode::Create, vec![outside]),
            "not under datasets/t/",
        ),
        (twice, "twice"),
        (bad_sha, "64 hex"),
        (no_columns, "no columns"),
    ] {
        match w.catalog.commit(c).await {
            Err(e @ CatalogError::BadCommit(_)) => {
                assert!(e.to_string().contains(why), "{e}");
                assert_eq!(e.status().as_u16(), 400);
            }
            other => panic!("expected bad_commit ({why}), got {other:?}"),
        }
    }
    assert!(matches!(
        w.catalog.get(&name("t")).await,
        Err(CatalogError::NotFound { .. })
    ));
}

pub async fn corrupt_manifests_are_named_and_skipped_by_list(make: Make) {
    let w = make(10).await;
    let put = |key: &'static str, body: &'static [u8]| {
        let store = w.store.clone();
        async move {
            let key = ObjectKey::parse(key).unwrap();
            store
                .put_bytes(&key, Bytes::from_static(body), PutMode::Overwrite)
                .await
                .unwrap();
        }
    };
    put("_catalog/broken.json", b"{not json").await;
    let good = created(
        w.catalog
            .commit(commit("good", CommitMode::Create, vec![]))
            .await,
    );
    // A manifest under another dataset's key is corrupt too.
    let moved = serde_json::to_vec(&good).unwrap();
    let key = ObjectKey::parse("_catalog/moved.json").unwrap();
    w.store
        .put_bytes(&key, moved.into(), PutMode::Overwrite)
        .await
        .unwrap();
    for (dataset, key) in [
        ("broken", "_catalog/broken.json"),
        ("moved", "_catalog/moved.json"),
    ] {
        match w.catalog.get(&name(dataset)).await {
            Err(e @ CatalogError::Corrupt { .. }) => {
                assert!(e.to_string().contains(key), "{e}");
                assert_eq!((e.status().as_u16(), e.code()), (500, "corrupt_manifest"));
            }
            other => panic!("{dataset}: expected Corrupt, got {other:?}"),
        }
    }
    let listed = w.catalog.list().await.unwrap();
    assert_eq!(listed, vec![good], "list skips corrupt manifests");
    let commit_over = w
        .catalog
        .commit(commit("broken", CommitMode::Overwrite, vec![]))
        .await;
    assert!(
        matches!(commit_over, Err(CatalogError::Corrupt { .. })),
        "never silently replaced"
    );
    w.catalog.delete(&name("broken")).await.unwrap();
    assert!(matches!(
        w.catalog.get(&name("broken")).await,
        Err(CatalogError::NotFound { .. })
    ));
}

pub async fn sweep_removes_orphans_only(make: Make) {
    let w = make(10).await;
    let store = &*w.store;
    let kept = data_file(store, "datasets/kept/v1/a", 1).await;
    created(
        w.catalog
            .commit(commit("kept", CommitMode::Create, vec![kept.clone()]))
            .await,
    );
    let orphans = [
        data_file(store, "datasets/kept/v2/crashed-ingest", 1).await,
        data_file(store, "datasets/gone/v1/a", 1).await,
    ];
    let unreadable = data_file(store, "datasets/broken/v1/a", 1).await;
    let key = ObjectKey::parse("_catalog/broken.json").unwrap();
    store
        .put_bytes(&key, Bytes::from_static(b"[]"), PutMode::Overwrite)
        .await
        .unwrap();

    let removed = catalogd::sweep_unreferenced(store, &*w.catalog, Utc::now() - Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(removed, 0, "every file is newer than the cutoff");
    assert!(orphans[0].key.starts_with("datasets/") && exists(store, &orphans[0].key).await);

    let removed =
        catalogd::sweep_unreferenced(store, &*w.catalog, Utc::now() + Duration::minutes(1))
            .await
            .unwrap();
    assert_eq!(removed, 2);
    for orphan in &orphans {
        assert!(!exists(store, &orphan.key).await, "{} removed", orphan.key);
    }
    assert!(exists(store, &kept.key).await, "referenced files stay");
    assert!(
        exists(store, &unreadable.key).await,
        "an unreadable manifest protects its dataset"
    );
    assert!(
        exists(store, "_catalog/kept.json").await && exists(store, "_catalog/broken.json").await
    );
}

pub async fn concurrent_appends_from_two_processes_all_land(make: Make) {
    let w = make(64).await;
    let mut files = Vec::new();
    for i in 0..40 {
        files.push(data_file(&*w.store, &format!("datasets/busy/part-{i:02}"), 1).await);
    }
    let appends = files.iter().enumerate().map(|(i, f)| {
        let catalog = if i % 2 == 0 {
            w.catalog.clone()
        } else {
            w.peer.clone()
        };
        let c = commit("busy", CommitMode::Append, vec![f.clone()]);
        tokio::spawn(async move { catalog.commit(c).await })
    });
    for result in futures::future::join_all(appends).await {
        created(result.unwrap());
    }
    let m = w.catalog.get(&name("busy")).await.unwrap();
    assert_eq!(m.current.version, 40);
    let mut landed: Vec<&str> = keys(&m);
    landed.sort();
    let expected: Vec<&str> = files.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(landed, expected, "every append landed exactly once");
    assert_eq!(m.current.rows, 40);
    assert_eq!(m.versions.len(), 39);
}
