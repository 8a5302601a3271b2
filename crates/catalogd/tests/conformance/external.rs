//! Conformance checks of external tables: a Delta table at its own location, registered
//! as a dataset, read and appended to, never deleted by us.

use super::*;

/// Copies every object under `from` to the same relative key under `to` (a Delta table's
/// paths are relative, so the copy is the same table elsewhere).
async fn copy_prefix(store: &dyn Store, from: &str, to: &str) {
    let objects = store
        .list(&storaged::KeyPrefix::parse(from).unwrap())
        .await
        .unwrap();
    for meta in objects {
        let body = store
            .get_bytes(&ObjectKey::parse(&meta.key).unwrap())
            .await
            .unwrap();
        let key = format!("{to}{}", &meta.key[from.len()..]);
        store
            .put_bytes(&ObjectKey::parse(&key).unwrap(), body, PutMode::Overwrite)
            .await
            .unwrap();
    }
}

pub async fn an_external_table_is_registered_read_appended_and_only_unregistered(make: Make) {
    let w = make(1).await;
    let store = &*w.store;
    let a = data_file(store, "datasets/src/v1/a", 3).await;
    created(
        w.catalog
            .commit(commit("src", CommitMode::Create, vec![a]))
            .await,
    );
    copy_prefix(store, "datasets/src/", "external/t/").await;

    let m = w
        .catalog
        .register(&name("ext"), "external/t")
        .await
        .unwrap();
    assert_eq!(m.location.as_deref(), Some("external/t/"));
    assert_eq!((m.current.version, m.current.rows), (0, 3));
    assert_eq!(keys(&m), ["external/t/v1/a"]);
    assert_eq!(m.read_only, None);
    let seen = w.peer.get(&name("ext")).await.unwrap();
    assert_eq!(seen.location, m.location);

    // Refusals change nothing.
    let bad = |r: Result<catalogd::Manifest, CatalogError>| match r {
        Err(CatalogError::BadCommit(message)) => message,
        other => panic!("expected bad_commit, got {other:?}"),
    };
    assert!(matches!(
        w.catalog.register(&name("ext"), "external/t").await,
        Err(CatalogError::Exists { .. })
    ));
    assert!(bad(w.catalog.register(&name("x"), "datasets/src").await).contains("under datasets/"));
    assert!(bad(w.catalog.register(&name("x"), "external/none").await).contains("no Delta table"));
    assert!(bad(w.catalog.register(&name("x"), "external/t/v1").await).contains("overlaps"));

    // Appends land under the location; a file elsewhere is refused.
    let b = data_file(store, "external/t/v1/b", 2).await;
    let m = created(
        w.catalog
            .commit(commit("ext", CommitMode::Append, vec![b]))
            .await,
    );
    assert_eq!((m.current.version, m.current.rows), (1, 5));
    let stray = data_file(store, "datasets/ext/v2/c", 1).await;
    match w
        .catalog
        .commit(commit("ext", CommitMode::Append, vec![stray]))
        .await
    {
        Err(CatalogError::BadCommit(message)) => assert!(message.contains("not under external/t/")),
        other => panic!("expected bad_commit, got {other:?}"),
    }
    // An overwrite with a keep window of 1 deletes nothing of the owner's; nor does the sweep.
    let c = data_file(store, "external/t/v3/c", 1).await;
    created(
        w.catalog
            .commit(commit("ext", CommitMode::Overwrite, vec![c]))
            .await,
    );
    catalogd::sweep_unreferenced(store, &*w.catalog, Utc::now() + Duration::minutes(1))
        .await
        .unwrap();
    for key in ["external/t/v1/a", "external/t/v1/b", "external/t/v3/c"] {
        assert!(exists(store, key).await, "{key}");
    }

    // Delete unregisters; the table stays, and registers again.
    w.catalog.delete(&name("ext")).await.unwrap();
    assert!(matches!(
        w.peer.get(&name("ext")).await,
        Err(CatalogError::NotFound { .. })
    ));
    assert!(exists(store, "external/t/_delta_log/00000000000000000000.json").await);
    assert!(exists(store, "external/t/v1/a").await);
    let again = w.peer.register(&name("ext"), "external/t/").await.unwrap();
    assert_eq!((again.current.version, again.current.rows), (2, 1));
}
