//! The thread pool for vectord's CPU-heavy writes: parallel batch inserts and compaction.
//!
//! Its own pool, so a long build neither queues behind nor starves other users of rayon's
//! global pool; searches do not run here (they run on tokio's blocking pool), so a large
//! batch being built never delays them beyond sharing the cores.

use std::sync::OnceLock;

use rayon::prelude::*;

fn pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        match rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("vectord-build-{i}"))
            .build()
        {
            Ok(pool) => Some(pool),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the vectord build threads; building on one thread");
                None
            }
        }
    })
    .as_ref()
}

/// Runs `f(i)` for every `i` in `0..n`, on the build pool when `n` is worth it.
pub(crate) fn for_each(n: usize, min_parallel: usize, f: impl Fn(usize) + Send + Sync) {
    match pool() {
        Some(pool) if n >= min_parallel => pool.install(|| (0..n).into_par_iter().for_each(f)),
        _ => (0..n).for_each(f),
    }
}

/// `f(i)` for every `i` in `0..n`, collected in order, on the build pool when worth it.
pub(crate) fn map<T: Send>(
    n: usize,
    min_parallel: usize,
    f: impl Fn(usize) -> T + Send + Sync,
) -> Vec<T> {
    match pool() {
        Some(pool) if n >= min_parallel => pool.install(|| (0..n).into_par_iter().map(f).collect()),
        _ => (0..n).map(f).collect(),
    }
}
