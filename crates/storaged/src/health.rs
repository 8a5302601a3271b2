//! [`StoreHealth`]: what `/health` says about a store — [`Store::probe`], cached for a few
//! seconds, so health checks however frequent cost the store at most one small request per
//! [`HEALTH_TTL`], and concurrent checks share one probe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::store::Store;

/// How long a probe's answer is reused.
pub const HEALTH_TTL: Duration = Duration::from_secs(3);

/// How long a probe may take before `/health` says the store did not answer: below the
/// store's own timeouts (S3's `request_timeout` is 30 s by default), so a health check
/// answers, with its cause, before whoever asked gives up (the split gateway waits a
/// second longer than this for each service's `/health`).
pub const PROBE_LIMIT: Duration = Duration::from_secs(4);

pub struct StoreHealth {
    store: Arc<dyn Store>,
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl std::fmt::Debug for StoreHealth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHealth")
            .field("store", &self.store.describe())
            .finish()
    }
}

impl StoreHealth {
    pub fn new(store: Arc<dyn Store>) -> Arc<StoreHealth> {
        Arc::new(StoreHealth {
            store,
            last: tokio::sync::Mutex::new(None),
        })
    }

    /// `Ok` when the store answered its last probe (at most [`HEALTH_TTL`] ago), otherwise
    /// why not, naming the store.
    pub async fn check(&self) -> Result<(), String> {
        let mut last = self.last.lock().await;
        if let Some((at, verdict)) = last.as_ref()
            && at.elapsed() < HEALTH_TTL
        {
            return verdict.clone();
        }
        let verdict = match tokio::time::timeout(PROBE_LIMIT, self.store.probe()).await {
            Ok(answered) => answered.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "{} did not answer a probe within {} s",
                self.store.describe(),
                PROBE_LIMIT.as_secs()
            )),
        };
        *last = Some((Instant::now(), verdict.clone()));
        verdict
    }

    /// [`StoreHealth::check`] as the closure `common::server` serves at `/health`.
    pub fn as_check(self: &Arc<StoreHealth>) -> common::server::HealthCheck {
        let me = self.clone();
        Arc::new(move || {
            let me = me.clone();
            Box::pin(async move { me.check().await })
        })
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::error::StoreError;
    use crate::key::{KeyPrefix, ObjectKey};
    use crate::store::{ByteStream, GetObject, ObjectMeta, PutMode};

    /// A store that accepts every call and never answers (a stalled connection).
    struct Silent;

    #[async_trait]
    impl Store for Silent {
        async fn put(
            &self,
            _: &ObjectKey,
            _: ByteStream,
            _: PutMode,
        ) -> Result<ObjectMeta, StoreError> {
            std::future::pending().await
        }
        async fn get(&self, _: &ObjectKey) -> Result<GetObject, StoreError> {
            std::future::pending().await
        }
        async fn head(&self, _: &ObjectKey) -> Result<ObjectMeta, StoreError> {
            std::future::pending().await
        }
        async fn delete(&self, _: &ObjectKey) -> Result<(), StoreError> {
            std::future::pending().await
        }
        async fn list(&self, _: &KeyPrefix) -> Result<Vec<ObjectMeta>, StoreError> {
            std::future::pending().await
        }
        fn describe(&self) -> String {
            "a silent store".into()
        }
    }

    #[tokio::test]
    async fn a_silent_store_is_reported_within_the_probe_limit() {
        let health = StoreHealth::new(Arc::new(Silent));
        let started = Instant::now();
        let verdict = health.check().await;
        let took = started.elapsed();
        assert!(
            took >= PROBE_LIMIT && took < PROBE_LIMIT + Duration::from_secs(1),
            "{took:?}"
        );
        assert_eq!(
            verdict,
            Err("a silent store did not answer a probe within 4 s".to_string())
        );
        // The verdict is reused, not asked again, for HEALTH_TTL.
        let started = Instant::now();
        assert!(health.check().await.is_err());
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}
