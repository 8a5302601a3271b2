//! A delete in one process racing a commit in another: the delete must remove only the files
//! of the manifest it read, never files a fresh commit (landing right after the manifest was
//! deleted) names.

use std::sync::Arc;

use bytes::Bytes;
use catalogd::{
    Catalog, ColumnType, Commit, CommitMode, Committed, DataFile, Field, Schema, StoreCatalog,
};
use storaged::{
    ByteStream, GetObject, KeyPrefix, ObjectKey, ObjectMeta, ObjectStoreBackend, PutMode, Store,
    StoreError, StoreExt,
};
use tokio::sync::{Mutex, oneshot};

/// Process B's view of the store: right after it deleted the manifest, it reports that and
/// waits to be resumed.
struct PausesAfterManifestDelete {
    inner: Arc<dyn Store>,
    deleted: Mutex<Option<oneshot::Sender<()>>>,
    resume: Mutex<Option<oneshot::Receiver<()>>>,
}

#[async_trait::async_trait]
impl Store for PausesAfterManifestDelete {
    async fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        self.inner.put(key, body, mode).await
    }
    async fn get(&self, key: &ObjectKey) -> Result<GetObject, StoreError> {
        self.inner.get(key).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        self.inner.head(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.inner.delete(key).await?;
        if key.as_str() == "_catalog/t.json" {
            if let Some(deleted) = self.deleted.lock().await.take() {
                let _ = deleted.send(());
            }
            if let Some(resume) = self.resume.lock().await.take() {
                let _ = resume.await;
            }
        }
        Ok(())
    }
    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StoreError> {
        self.inner.list(prefix).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

async fn data_file(store: &dyn Store, key: &str) -> DataFile {
    store
        .put_bytes(
            &ObjectKey::parse(key).unwrap(),
            Bytes::from_static(b"PAR1"),
            PutMode::Create,
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

fn commit(mode: CommitMode, files: Vec<DataFile>) -> Commit {
    Commit {
        name: "t".parse().unwrap(),
        mode,
        schema: Schema {
            fields: vec![Field {
                name: "n".into(),
                data_type: ColumnType::Int64,
                nullable: true,
            }],
        },
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_never_removes_the_files_of_a_commit_from_another_process() {
    for threshold in [usize::MAX, 0] {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
        let (deleted_tx, deleted_rx) = oneshot::channel();
        let (resume_tx, resume_rx) = oneshot::channel();
        let b_store = Arc::new(PausesAfterManifestDelete {
            inner: store.clone(),
            deleted: Mutex::new(Some(deleted_tx)),
            resume: Mutex::new(Some(resume_rx)),
        });
        // Process A commits; process B deletes (its own catalog, its own locks).
        let a = StoreCatalog::new(store.clone(), 10).with_pointer_threshold(threshold);
        let b = Arc::new(StoreCatalog::new(b_store, 10).with_pointer_threshold(threshold));
        let old = data_file(&*store, "datasets/t/v1/part-0-aaaa.parquet").await;
        let appended = data_file(&*store, "datasets/t/v2/part-0-bbbb.parquet").await;
        a.commit(commit(CommitMode::Create, vec![old.clone()]))
            .await
            .unwrap();
        a.commit(commit(CommitMode::Append, vec![appended.clone()]))
            .await
            .unwrap();

        let deleting = tokio::spawn({
            let b = b.clone();
            async move { b.delete(&"t".parse().unwrap()).await }
        });
        deleted_rx.await.unwrap();
        // B has deleted the manifest and not yet its files. A's ingest writes its files and
        // commits: no manifest, so a create-only PUT, which succeeds.
        let fresh = data_file(&*store, "datasets/t/v1/part-0-cccc.parquet").await;
        let made = a
            .commit(commit(CommitMode::Overwrite, vec![fresh.clone()]))
            .await
            .unwrap();
        assert!(matches!(made, Committed::Created(_)));
        resume_tx.send(()).unwrap();
        deleting.await.unwrap().unwrap();

        let manifest = a.get(&"t".parse().unwrap()).await.unwrap();
        assert_eq!(manifest.current.version, 1);
        for key in manifest.referenced_keys() {
            assert!(
                exists(&*store, key).await,
                "{key}, named by A's manifest, was deleted (threshold {threshold})"
            );
        }
        // What B's manifest named is gone.
        assert!(!exists(&*store, &old.key).await);
        assert!(!exists(&*store, &appended.key).await);
    }
}
