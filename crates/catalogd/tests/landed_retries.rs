//! A manifest PUT that lands but reports failure (S3 answered 5xx, object_store retried, and
//! the retry met our own write: 412). The commit must be reported as made, not re-planned
//! into "a duplicate", which would lead the writer to delete the files it now lists.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use catalogd::{
    Catalog, ColumnType, Commit, CommitMode, Committed, DataFile, Field, Schema, StoreCatalog,
};
use storaged::{
    ByteStream, GetObject, KeyPrefix, ObjectKey, ObjectMeta, ObjectStoreBackend, PutMode, Store,
    StoreError, StoreExt,
};

/// Lets the first manifest PUT through, then answers it with 412.
struct LandsThenFails {
    inner: Arc<dyn Store>,
    tripped: AtomicBool,
}

#[async_trait::async_trait]
impl Store for LandsThenFails {
    async fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        let meta = self.inner.put(key, body, mode).await?;
        if key.as_str().starts_with("_catalog/") && !self.tripped.swap(true, Ordering::SeqCst) {
            return Err(StoreError::PreconditionFailed(
                "retried PUT met its own write".into(),
            ));
        }
        Ok(meta)
    }
    async fn get(&self, key: &ObjectKey) -> Result<GetObject, StoreError> {
        self.inner.get(key).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        self.inner.head(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StoreError> {
        self.inner.list(prefix).await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[tokio::test]
async fn a_put_that_landed_before_failing_is_a_made_commit() {
    for mode in [
        CommitMode::Create,
        CommitMode::Append,
        CommitMode::Overwrite,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let local: Arc<dyn Store> = Arc::new(ObjectStoreBackend::local(dir.path()).unwrap());
        let file_key = "datasets/t/v1/part-0.parquet";
        let key = ObjectKey::parse(file_key).unwrap();
        let data = bytes::Bytes::from_static(b"PAR1");
        local.put_bytes(&key, data, PutMode::Create).await.unwrap();
        let store = Arc::new(LandsThenFails {
            inner: local,
            tripped: AtomicBool::new(false),
        });
        let catalog = StoreCatalog::new(store, 10);
        let commit = Commit {
            name: "t".parse().unwrap(),
            mode,
            schema: Schema {
                fields: vec![Field {
                    name: "n".into(),
                    data_type: ColumnType::Int64,
                    nullable: true,
                }],
            },
            files: vec![DataFile {
                key: file_key.into(),
                rows: 1,
                bytes: 4,
                partition_values: Default::default(),
                stats: Default::default(),
            }],
            source_sha256: Some("ab".repeat(32)),
            idempotency_key: Some("k".into()),
            evolve: false,
            partition_by: vec![],
        };
        match catalog.commit(commit).await {
            Ok(Committed::Created(m)) => {
                assert_eq!(m.current.version, 1, "{mode:?}");
                assert_eq!(m.current.files[0].key, file_key);
            }
            other => panic!("{mode:?}: expected Created, got {other:?}"),
        }
    }
}
