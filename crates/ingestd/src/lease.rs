//! The lease an ingest holds while it runs, so the sweep spares its uncommitted parts however
//! long it takes (format and rules: [`catalogd::lease`], docs/formats.md "The sweep").
//!
//! Written before the first part, renewed in a background task, checked just before the
//! commit (an ingest that could not renew for half the TTL fails with 503 rather than commit
//! parts a sweep may have judged abandoned), deleted after the commit or the failure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use catalogd::DatasetName;
use catalogd::lease::{Lease, lease_key};
use chrono::Utc;
use storaged::{ObjectKey, PutMode, Store, StoreError, StoreExt};

use crate::error::IngestError;

/// How often to renew, and after how long without renewal the sweep may take the files.
#[derive(Clone, Copy, Debug)]
pub struct LeaseTiming {
    pub renew: Duration,
    pub ttl: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            renew: catalogd::lease::LEASE_RENEW,
            ttl: catalogd::lease::LEASE_TTL,
        }
    }
}

pub(crate) struct IngestLease {
    store: Arc<dyn Store>,
    key: ObjectKey,
    /// When the lease was last written successfully.
    renewed: Arc<Mutex<Instant>>,
    timing: LeaseTiming,
    task: tokio::task::JoinHandle<()>,
}

fn body(lease: &Lease) -> Bytes {
    serde_json::to_vec(lease).map_or_else(|_| Bytes::from_static(b"{}"), Bytes::from)
}

impl IngestLease {
    /// Writes the lease (before any part is written) and starts renewing it.
    pub async fn take(
        store: Arc<dyn Store>,
        dataset: &DatasetName,
        tag: &str,
        timing: LeaseTiming,
    ) -> Result<IngestLease, IngestError> {
        let key = lease_key(dataset, tag)?;
        let now = Utc::now();
        let mut lease = Lease {
            dataset: dataset.clone(),
            tag: tag.to_string(),
            started: now,
            renewed: now,
            holder: format!(
                "{}/{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into()),
                std::process::id()
            ),
        };
        store
            .put_bytes(&key, body(&lease), PutMode::Overwrite)
            .await?;
        let renewed = Arc::new(Mutex::new(Instant::now()));
        let task = {
            let (store, key, renewed) = (store.clone(), key.clone(), renewed.clone());
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(timing.renew);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    lease.renewed = Utc::now();
                    match store
                        .put_bytes(&key, body(&lease), PutMode::Overwrite)
                        .await
                    {
                        Ok(_) => {
                            *renewed.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now()
                        }
                        Err(error) => {
                            tracing::warn!(%key, %error, "could not renew an ingest lease");
                        }
                    }
                }
            })
        };
        Ok(IngestLease {
            store,
            key,
            renewed,
            timing,
            task,
        })
    }

    /// Fails unless the lease was renewed within half its TTL: past that, a sweep may soon
    /// (or already) judge the parts abandoned, so they must not be committed.
    pub fn check(&self) -> Result<(), IngestError> {
        let since = self
            .renewed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed();
        if since > self.timing.ttl / 2 {
            return Err(IngestError::Store(StoreError::Unavailable(format!(
                "this ingest's lease {} could not be renewed for {} s (the sweep may remove the \
                 parts of an ingest whose lease is {} s old); nothing was committed, retry",
                self.key,
                since.as_secs(),
                self.timing.ttl.as_secs()
            ))));
        }
        Ok(())
    }

    /// Stops renewing and deletes the lease (the ingest committed, or removed its parts).
    pub async fn release(self) {
        self.task.abort();
        if let Err(error) = self.store.delete(&self.key).await {
            tracing::warn!(key = %self.key, %error, "could not delete an ingest lease (it expires)");
        }
    }

    /// Stops renewing and leaves the lease to expire: the commit's outcome is unknown, and a
    /// commit still in flight may yet name the parts, so the sweep must wait a TTL.
    pub fn abandon(self) {
        self.task.abort();
    }
}

impl Drop for IngestLease {
    fn drop(&mut self) {
        self.task.abort();
    }
}
