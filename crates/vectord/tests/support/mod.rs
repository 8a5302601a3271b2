//! Shared by the integration tests: a real local store, a store that can be made to fail
//! or count, seeded data.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use storaged::{
    ByteStream, GetObject, KeyPrefix, ObjectKey, ObjectMeta, ObjectStoreBackend, PutMode, Store,
    StoreError,
};
use vectord::{AddRequest, CreateRequest, Metric, RawItem, RawVector, SavePolicy, SearchRequest};

/// A store over a real local directory that counts snapshot PUTs and can be switched to
/// fail every write with `Unavailable` (a store that is down).
pub struct Flaky {
    pub inner: Arc<dyn Store>,
    pub down: AtomicBool,
    pub snapshot_puts: AtomicUsize,
    pub log_puts: AtomicUsize,
}

impl Flaky {
    pub fn new(dir: &std::path::Path) -> Arc<Flaky> {
        Arc::new(Flaky {
            inner: Arc::new(ObjectStoreBackend::local(dir).unwrap()),
            down: AtomicBool::new(false),
            snapshot_puts: AtomicUsize::new(0),
            log_puts: AtomicUsize::new(0),
        })
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the test store is down".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for Flaky {
    async fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        mode: PutMode,
    ) -> Result<ObjectMeta, StoreError> {
        self.check()?;
        if key.as_str().ends_with(".lhv1") {
            self.snapshot_puts.fetch_add(1, Ordering::SeqCst);
        } else {
            self.log_puts.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.put(key, body, mode).await
    }
    async fn get(&self, key: &ObjectKey) -> Result<GetObject, StoreError> {
        self.inner.get(key).await
    }
    async fn head(&self, key: &ObjectKey) -> Result<ObjectMeta, StoreError> {
        self.inner.head(key).await
    }
    async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        self.check()?;
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &KeyPrefix) -> Result<Vec<ObjectMeta>, StoreError> {
        self.inner.list(prefix).await
    }
    fn describe(&self) -> String {
        format!("flaky {}", self.inner.describe())
    }
}

/// Snapshots after 50 ms of quiet, without a cool-down: tests see them quickly.
pub fn quick_policy() -> SavePolicy {
    SavePolicy {
        idle: Duration::from_millis(50),
        cost_factor: 0,
        ..SavePolicy::default()
    }
}

/// Snapshots only when flushed.
pub fn never_policy() -> SavePolicy {
    SavePolicy {
        idle: Duration::from_secs(3600),
        max_log_entries: u64::MAX,
        max_log_bytes: u64::MAX,
        cost_factor: 0,
    }
}

pub fn create(name: &str, dim: usize, metric: Metric) -> CreateRequest {
    CreateRequest {
        name: name.into(),
        dim,
        metric,
        m: Some(8),
        ef_construction: Some(64),
    }
}

/// Seeded points around a few centres (SplitMix64 + Box–Muller).
pub fn points(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut normal = move || {
        let (u, v) = (next().max(1e-12), next());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let centres: Vec<Vec<f64>> = (0..8)
        .map(|_| (0..dim).map(|_| normal()).collect())
        .collect();
    (0..n)
        .map(|i| {
            centres[i % 8]
                .iter()
                .map(|c| (c + 0.3 * normal()) as f32)
                .collect()
        })
        .collect()
}

pub fn batch(ids: std::ops::Range<usize>, data: &[Vec<f32>]) -> AddRequest {
    AddRequest {
        items: ids
            .map(|i| RawItem {
                id: format!("v{i}"),
                vector: RawVector::new(data[i].clone()),
                metadata: Some(json!({"i": i, "even": i % 2 == 0})),
            })
            .collect(),
    }
}

pub fn search(vector: &[f32], k: usize, filter: Option<Value>) -> SearchRequest {
    SearchRequest {
        vector: RawVector::new(vector.to_vec()),
        k,
        ef: Some(64),
        filter: filter.and_then(|f| f.as_object().cloned()),
    }
}

/// Keys under `_vectors/` in the store.
pub async fn keys(store: &dyn Store) -> Vec<String> {
    store
        .list(&KeyPrefix::parse("_vectors/").unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect()
}

/// Polls `cond` every 10 ms for up to 10 s.
pub async fn eventually(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    for _ in 0..1000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}
