//! Conformance checks of commits: create, overwrite, append, no-ops, the keep window.

use super::*;

pub async fn create_get_and_list(make: Make) {
    let w = make(10).await;
    let store = &*w.store;
    let before = Utc::now() - Duration::seconds(5);
    let files = vec![
        data_file(store, "datasets/trips/v1/part-0.parquet", 3).await,
        data_file(store, "datasets/trips/v1/part-1.parquet", 4).await,
    ];
    let m = created(
        w.catalog
            .commit(commit("trips", CommitMode::Create, files.clone()))
            .await,
    );
    assert_eq!(m.name, name("trips"));
    assert_eq!(m.current.version, 1);
    assert_eq!(m.current.mode, CommitMode::Create);
    assert_eq!((m.current.rows, m.current.bytes), (7, 70));
    assert_eq!(m.current.files, files);
    assert_eq!(m.current.schema, trips_schema());
    assert!(m.current.created_at > before && m.current.created_at <= Utc::now());
    assert!(m.versions.is_empty());
    assert_eq!(w.catalog.get(&name("trips")).await.unwrap(), m);
    assert_eq!(
        w.peer.get(&name("trips")).await.unwrap(),
        m,
        "another process sees it"
    );

    for other in ["zeta", "Alpha", "_tmp"] {
        created(
            w.catalog
                .commit(commit(other, CommitMode::Create, vec![]))
                .await,
        );
    }
    let listed: Vec<String> = w
        .catalog
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name.to_string())
        .collect();
    assert_eq!(listed, ["Alpha", "_tmp", "trips", "zeta"], "sorted by name");
}

pub async fn create_of_an_existing_dataset_is_refused(make: Make) {
    let w = make(10).await;
    let f = data_file(&*w.store, "datasets/t/v1/a", 1).await;
    let m = created(
        w.catalog
            .commit(commit("t", CommitMode::Create, vec![f]))
            .await,
    );
    let again = w
        .catalog
        .commit(commit("t", CommitMode::Create, vec![]))
        .await;
    assert!(
        matches!(&again, Err(CatalogError::Exists { name }) if name == "t"),
        "{again:?}"
    );
    assert_eq!(w.catalog.get(&name("t")).await.unwrap(), m, "unchanged");
}

pub async fn overwrite_bumps_the_version(make: Make) {
    let w = make(10).await;
    let store = &*w.store;
    let a = data_file(store, "datasets/t/v1/a", 1).await;
    let b = data_file(store, "datasets/t/v2/b", 2).await;
    let v1 = created(
        w.catalog
            .commit(commit("t", CommitMode::Create, vec![a]))
            .await,
    );
    let v2 = created(
        w.catalog
            .commit(commit("t", CommitMode::Overwrite, vec![b.clone()]))
            .await,
    );
    assert_eq!(v2.current.version, 2);
    assert_eq!(v2.current.mode, CommitMode::Overwrite);
    assert_eq!(v2.current.files, vec![b]);
    assert_eq!(v2.current.rows, 2);
    // A commit answers its version; the kept ones are in the manifest it wrote.
    let v2 = w.catalog.get(&v2.name).await.unwrap();
    assert_eq!(v2.versions, vec![v1.current.clone()]);
    assert_eq!(v2.version(1), Some(&v1.current));
    assert!(
        exists(store, "datasets/t/v1/a").await,
        "v1 is kept, so are its files"
    );
    // An overwrite of a missing dataset creates it.
    let fresh = created(
        w.catalog
            .commit(commit("fresh", CommitMode::Overwrite, vec![]))
            .await,
    );
    assert_eq!(fresh.current.version, 1);
}

pub async fn an_overwrite_with_the_same_sha_is_existing(make: Make) {
    let w = make(10).await;
    let sha = "0123456789abcdef".repeat(4);
    let mut c = commit(
        "t",
        CommitMode::Overwrite,
        vec![data_file(&*w.store, "datasets/t/a", 1).await],
    );
    c.source_sha256 = Some(sha.clone());
    let v1 = created(w.catalog.commit(c.clone()).await);
    assert_eq!(v1.current.source_sha256.as_deref(), Some(sha.as_str()));
    c.files = vec![data_file(&*w.store, "datasets/t/b", 1).await];
    assert_eq!(
        existing(w.catalog.commit(c.clone()).await),
        v1,
        "nothing written"
    );
    assert_eq!(w.catalog.get(&name("t")).await.unwrap(), v1);
    c.source_sha256 = Some("f".repeat(64));
    assert_eq!(
        created(w.catalog.commit(c.clone()).await).current.version,
        2
    );
    // Without a SHA an overwrite always writes.
    c.source_sha256 = None;
    assert_eq!(created(w.catalog.commit(c).await).current.version, 3);
}

pub async fn an_idempotency_key_replay_is_existing(make: Make) {
    let w = make(10).await;
    let mut c = commit(
        "t",
        CommitMode::Create,
        vec![data_file(&*w.store, "datasets/t/a", 1).await],
    );
    c.idempotency_key = Some("upload-1".into());
    let v1 = created(w.catalog.commit(c.clone()).await);
    assert_eq!(v1.current.idempotency_key.as_deref(), Some("upload-1"));
    assert_eq!(
        existing(w.catalog.commit(c.clone()).await),
        v1,
        "a retried create is not a 409"
    );

    let mut append = commit(
        "t",
        CommitMode::Append,
        vec![data_file(&*w.store, "datasets/t/b", 2).await],
    );
    append.idempotency_key = Some("upload-2".into());
    let v2 = created(w.catalog.commit(append.clone()).await);
    assert_eq!(v2.current.files.len(), 2);
    assert_eq!(
        existing(w.peer.commit(append).await),
        v2,
        "a replayed append adds nothing"
    );
    // A key of an older kept version also matches.
    assert_eq!(existing(w.catalog.commit(c).await), v2);
}

pub async fn append_adds_files_to_the_current_ones(make: Make) {
    let w = make(10).await;
    let store = &*w.store;
    let a = data_file(store, "datasets/t/v1/a", 1).await;
    let b = data_file(store, "datasets/t/v2/b", 2).await;
    created(
        w.catalog
            .commit(commit("t", CommitMode::Create, vec![a.clone()]))
            .await,
    );
    let v2 = created(
        w.catalog
            .commit(commit("t", CommitMode::Append, vec![b.clone()]))
            .await,
    );
    assert_eq!(v2.current.version, 2);
    assert_eq!(v2.current.mode, CommitMode::Append);
    assert_eq!(v2.current.files, vec![a, b]);
    assert_eq!((v2.current.rows, v2.current.bytes), (3, 30));
    // An append to a missing dataset creates version 1.
    let c = data_file(store, "datasets/new/c", 5).await;
    let new = created(
        w.catalog
            .commit(commit("new", CommitMode::Append, vec![c.clone()]))
            .await,
    );
    assert_eq!(
        (new.current.version, new.current.files.clone()),
        (1, vec![c])
    );
}

pub async fn an_incompatible_append_lists_every_difference(make: Make) {
    let w = make(10).await;
    let a = data_file(&*w.store, "datasets/t/a", 1).await;
    let m = created(
        w.catalog
            .commit(commit("t", CommitMode::Create, vec![a]))
            .await,
    );
    let mut c = commit(
        "t",
        CommitMode::Append,
        vec![data_file(&*w.store, "datasets/t/b", 1).await],
    );
    c.schema = schema(&[
        ("id", ColumnType::Int64),
        ("price", ColumnType::Utf8),
        ("y", ColumnType::Boolean),
    ]);
    match w.catalog.commit(c).await {
        Err(CatalogError::SchemaMismatch { name, differences }) => {
            assert_eq!(name, "t");
            assert_eq!(
                differences,
                [
                    "missing column \"city\"",
                    "column 3 \"price\": float64 in the dataset, utf8 in the upload",
                    "column \"price\" is column 3 in the dataset, column 2 in the upload",
                    "extra column \"y\" (evolve=true adds new columns after the dataset's)",
                ]
            );
        }
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
    assert_eq!(w.catalog.get(&name("t")).await.unwrap(), m, "unchanged");
}

/// `evolve` lets an append add columns after the dataset's: the new version's schema has
/// them, nullable; the version before keeps its own; the dataset's columns still must match.
pub async fn an_evolving_append_adds_columns(make: Make) {
    let w = make(10).await;
    let a = data_file(&*w.store, "datasets/t/a", 1).await;
    created(
        w.catalog
            .commit(commit("t", CommitMode::Create, vec![a]))
            .await,
    );
    let mut wider = trips_schema();
    wider.fields.push(Field {
        name: "paid".into(),
        data_type: ColumnType::Boolean,
        nullable: false,
    });
    let mut c = commit(
        "t",
        CommitMode::Append,
        vec![data_file(&*w.store, "datasets/t/b", 1).await],
    );
    c.schema = wider.clone();
    assert!(
        matches!(
            w.catalog.commit(c.clone()).await,
            Err(CatalogError::SchemaMismatch { .. })
        ),
        "without evolve"
    );
    let mut changed = c.clone();
    changed.evolve = true;
    changed.schema.fields[0].data_type = ColumnType::Utf8;
    match w.catalog.commit(changed).await {
        Err(CatalogError::SchemaMismatch { differences, .. }) => assert_eq!(
            differences,
            ["column 1 \"id\": int64 in the dataset, utf8 in the upload"]
        ),
        other => panic!("expected a schema mismatch, got {other:?}"),
    }
    c.evolve = true;
    let v2 = created(w.catalog.commit(c).await);
    wider.fields[3].nullable = true;
    assert_eq!((v2.current.version, &v2.current.schema), (2, &wider));
    let read = w.catalog.get(&name("t")).await.unwrap();
    assert_eq!(read.current.schema, wider);
    let v1 = read.all_versions().find(|v| v.version == 1).unwrap();
    assert_eq!(v1.schema, trips_schema());
}

pub async fn the_keep_window_deletes_only_unreferenced_files(make: Make) {
    let w = make(2).await;
    let store = &*w.store;
    let a = data_file(store, "datasets/t/v1/a", 1).await;
    created(
        w.catalog
            .commit(commit("t", CommitMode::Create, vec![a]))
            .await,
    );
    let b = data_file(store, "datasets/t/v2/b", 1).await;
    created(
        w.catalog
            .commit(commit("t", CommitMode::Append, vec![b]))
            .await,
    );
    // v3 replaces everything; v1 falls out, but kept v2 still references a.
    let c = data_file(store, "datasets/t/v3/c", 1).await;
    let v3 = created(
        w.catalog
            .commit(commit("t", CommitMode::Overwrite, vec![c]))
            .await,
    );
    assert_eq!(v3.current.version, 3);
    let v3 = w.catalog.get(&v3.name).await.unwrap();
    assert_eq!(
        v3.all_versions().map(|v| v.version).collect::<Vec<_>>(),
        [3, 2]
    );
    assert!(exists(store, "datasets/t/v1/a").await && exists(store, "datasets/t/v2/b").await);
    // v4 appends; v2 falls out and nothing kept references a or b any more.
    let d = data_file(store, "datasets/t/v4/d", 1).await;
    let v4 = created(
        w.catalog
            .commit(commit("t", CommitMode::Append, vec![d]))
            .await,
    );
    assert_eq!(keys(&v4), ["datasets/t/v3/c", "datasets/t/v4/d"]);
    assert!(!exists(store, "datasets/t/v1/a").await, "a went with v2");
    assert!(!exists(store, "datasets/t/v2/b").await, "b went with v2");
    assert!(exists(store, "datasets/t/v3/c").await && exists(store, "datasets/t/v4/d").await);
}

/// A dataset deleted (or a file swept) while an ingest was uploading: the commit must not
/// produce a manifest pointing at nothing.
pub async fn a_commit_naming_a_missing_file_is_refused(make: Make) {
    let w = make(10).await;
    let kept = data_file(&*w.store, "datasets/t/v1/a", 1).await;
    let mut gone = data_file(&*w.store, "datasets/t/v1/b", 1).await;
    gone.key = "datasets/t/v1/never-written".into();
    let refused = w
        .catalog
        .commit(commit("t", CommitMode::Create, vec![kept, gone]))
        .await;
    match refused {
        Err(CatalogError::ConcurrentUpdate(message)) => {
            assert!(message.contains("never-written"), "{message}")
        }
        other => panic!("expected ConcurrentUpdate, got {other:?}"),
    }
    assert!(matches!(
        w.catalog.get(&name("t")).await,
        Err(CatalogError::NotFound { .. })
    ));
}
