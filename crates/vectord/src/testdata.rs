//! Seeded data for tests: a small RNG, clustered datasets, brute-force ground truth.

use crate::distance::Metric;

/// SplitMix64: small, seeded, good enough for test data.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-12);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` points around `clusters` random centres (spread 0.3 in a unit-variance space).
pub(crate) fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    let centres: Vec<Vec<f64>> = (0..clusters)
        .map(|_| (0..dim).map(|_| rng.normal()).collect())
        .collect();
    (0..n)
        .map(|_| {
            let c = &centres[rng.below(clusters)];
            c.iter().map(|x| (x + 0.3 * rng.normal()) as f32).collect()
        })
        .collect()
}

/// A clustered dataset of `n` points and `queries` more from the same clusters.
pub(crate) fn with_queries(
    n: usize,
    queries: usize,
    dim: usize,
    clusters: usize,
    seed: u64,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut all = clustered(n + queries, dim, clusters, seed);
    let q = all.split_off(n);
    (all, q)
}

fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    match metric {
        Metric::L2 => a
            .iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum(),
        Metric::Dot => -dot,
        Metric::Cosine => {
            let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            1.0 - dot / (na * nb)
        }
    }
}

/// Positions of the `k` nearest of `data` (those `keep` accepts) to `q`, exactly.
pub(crate) fn nearest(
    data: &[Vec<f32>],
    q: &[f32],
    k: usize,
    metric: Metric,
    keep: impl Fn(usize) -> bool,
) -> Vec<usize> {
    let mut all: Vec<(f64, usize)> = data
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(i, v)| (distance(metric, q, v), i))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|(_, i)| i).collect()
}

/// Fraction of `truth` found in `got`.
pub(crate) fn recall(truth: &[usize], got: &[usize]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    truth.iter().filter(|t| got.contains(t)).count() as f64 / truth.len() as f64
}
