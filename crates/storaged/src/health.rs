//! [`StoreHealth`]: what `/health` says about a store — [`Store::probe`], cached for a few
//! seconds, so health checks however frequent cost the store at most one small request per
//! [`HEALTH_TTL`], and concurrent checks share one probe.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::store::Store;

/// How long a probe's answer is reused.
pub const HEALTH_TTL: Duration = Duration::from_secs(3);

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
        let verdict = self.store.probe().await.map_err(|e| e.to_string());
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
