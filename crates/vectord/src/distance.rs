//! Metrics and the distance kernels the graph runs on.
//!
//! The graph compares *internal* distances, where smaller is nearer:
//! - `l2`: the squared Euclidean distance;
//! - `cosine`: vectors are normalised to unit length when they enter the index (and queries
//!   when they are searched), so cosine is `-dot`;
//! - `dot`: `-dot`.
//!
//! [`Metric::reported`] turns an internal distance into the one answered to users:
//! Euclidean distance for `l2`, `1 - cos` for `cosine` (0 = same direction, 2 = opposite),
//! `-dot` for `dot`. Each is monotonic in the internal one, so orders agree.
//!
//! Kernels: AVX-512F, or AVX2 + FMA, chosen once at run time by CPU detection; elsewhere a
//! portable loop with eight independent accumulators that LLVM vectorises with the
//! baseline instruction set. Every kernel reads `min(a.len(), b.len())` elements, so no
//! input makes one read out of bounds.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// How two vectors are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Cosine,
    L2,
    Dot,
}

impl Metric {
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::L2 => "l2",
            Metric::Dot => "dot",
        }
    }

    /// The internal distance of this metric (see the module doc).
    pub(crate) fn kernel(self) -> Kernel {
        let k = kernels();
        match self {
            Metric::L2 => Kernel(k.l2sq),
            Metric::Cosine | Metric::Dot => Kernel(k.neg_dot),
        }
    }

    /// The distance answered to users for an internal distance `d`.
    pub fn reported(self, d: f32) -> f32 {
        match self {
            Metric::L2 => d.max(0.0).sqrt(),
            Metric::Cosine => (1.0 + d).max(0.0),
            Metric::Dot => d,
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An internal distance function: smaller is nearer.
#[derive(Clone, Copy)]
pub(crate) struct Kernel(fn(&[f32], &[f32]) -> f32);

impl Kernel {
    #[inline]
    pub(crate) fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        (self.0)(a, b)
    }
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kernel")
    }
}

struct Kernels {
    l2sq: fn(&[f32], &[f32]) -> f32,
    neg_dot: fn(&[f32], &[f32]) -> f32,
    name: &'static str,
}

fn kernels() -> &'static Kernels {
    static KERNELS: OnceLock<Kernels> = OnceLock::new();
    KERNELS.get_or_init(detect)
}

/// The squared Euclidean distance of `a` and `b` (their first `min(a.len(), b.len())`
/// components), on this CPU's kernel: SQL's `l2_distance` and `<->` (queryd) run on it.
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    (kernels().l2sq)(a, b)
}

/// The inner product of `a` and `b` (as [`l2_squared`] reads them), on this CPU's kernel.
pub fn inner_product(a: &[f32], b: &[f32]) -> f32 {
    -(kernels().neg_dot)(a, b)
}

/// Which kernel family this CPU runs (for logs and benchmarks).
pub fn kernel_name() -> &'static str {
    kernels().name
}

fn detect() -> Kernels {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Kernels {
                l2sq: x86::l2sq_avx512,
                neg_dot: x86::neg_dot_avx512,
                name: "avx512f",
            };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Kernels {
                l2sq: x86::l2sq_avx2,
                neg_dot: x86::neg_dot_avx2,
                name: "avx2+fma",
            };
        }
    }
    Kernels {
        l2sq: portable::l2sq,
        neg_dot: portable::neg_dot,
        name: "portable",
    }
}

/// Scales `v` to unit length, computing the norm in f64 so that neither large nor tiny
/// components overflow or vanish. Returns the original norm; a zero (or non-finite) norm
/// leaves `v` unchanged and the caller must refuse the vector.
pub(crate) fn normalise(v: &mut [f32]) -> f64 {
    let norm = squared_norm(v).sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
    norm
}

/// The squared Euclidean norm, in f64.
pub(crate) fn squared_norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum()
}

mod portable {
    const LANES: usize = 8;

    pub(super) fn neg_dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0.0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..LANES {
                acc[i] += x[i] * y[i];
            }
        }
        let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
        -(acc.iter().sum::<f32>() + tail)
    }

    pub(super) fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0.0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..LANES {
                let d = x[i] - y[i];
                acc[i] += d * d;
            }
        }
        let tail: f32 = ra.iter().zip(rb).map(|(x, y)| (x - y) * (x - y)).sum();
        acc.iter().sum::<f32>() + tail
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The wrappers are safe `fn`s so they fit the kernel table; they are only ever put in
    //! it by `detect`, after the CPU was seen to have the features they are compiled for.

    use std::arch::x86_64::*;

    pub(super) fn neg_dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through the kernel table, filled after detecting avx2+fma.
        -unsafe { dot_avx2(a, b) }
    }

    pub(super) fn l2sq_avx2(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as above.
        unsafe { l2sq_avx2_impl(a, b) }
    }

    pub(super) fn neg_dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: only reachable through the kernel table, filled after detecting avx512f.
        -unsafe { dot_avx512(a, b) }
    }

    pub(super) fn l2sq_avx512(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: as above.
        unsafe { l2sq_avx512_impl(a, b) }
    }

    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
        _mm_cvtss_f32(s)
    }

    #[target_feature(enable = "avx2,fma")]
    fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (every load below): i + 8 <= n, and n is within both slices.
        while i + 32 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let (x, y) = unsafe {
                    (
                        _mm256_loadu_ps(pa.add(i + 8 * j)),
                        _mm256_loadu_ps(pb.add(i + 8 * j)),
                    )
                };
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut total = hsum256(sum);
        for k in i..n {
            total += a[k] * b[k];
        }
        total
    }

    #[target_feature(enable = "avx2,fma")]
    fn l2sq_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (every load below): i + 8 <= n, and n is within both slices.
        while i + 32 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let d = unsafe {
                    _mm256_sub_ps(
                        _mm256_loadu_ps(pa.add(i + 8 * j)),
                        _mm256_loadu_ps(pb.add(i + 8 * j)),
                    )
                };
                *acc = _mm256_fmadd_ps(d, d, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            let d =
                unsafe { _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut total = hsum256(sum);
        for k in i..n {
            let d = a[k] - b[k];
            total += d * d;
        }
        total
    }

    #[target_feature(enable = "avx512f")]
    fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 2];
        let mut i = 0;
        // SAFETY (every load below): i + 16 <= n, and n is within both slices.
        while i + 32 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let (x, y) = unsafe {
                    (
                        _mm512_loadu_ps(pa.add(i + 16 * j)),
                        _mm512_loadu_ps(pb.add(i + 16 * j)),
                    )
                };
                *acc = _mm512_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        if i + 16 <= n {
            let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
            acc[0] = _mm512_fmadd_ps(x, y, acc[0]);
            i += 16;
        }
        if i < n {
            // A masked load reads only the lanes below n.
            let mask: __mmask16 = (1u32 << (n - i)).wrapping_sub(1) as __mmask16;
            let (x, y) = unsafe {
                (
                    _mm512_maskz_loadu_ps(mask, pa.add(i)),
                    _mm512_maskz_loadu_ps(mask, pb.add(i)),
                )
            };
            acc[1] = _mm512_fmadd_ps(x, y, acc[1]);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]))
    }

    #[target_feature(enable = "avx512f")]
    fn l2sq_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 2];
        let mut i = 0;
        // SAFETY (every load below): i + 16 <= n, and n is within both slices.
        while i + 32 <= n {
            for (j, acc) in acc.iter_mut().enumerate() {
                let d = unsafe {
                    _mm512_sub_ps(
                        _mm512_loadu_ps(pa.add(i + 16 * j)),
                        _mm512_loadu_ps(pb.add(i + 16 * j)),
                    )
                };
                *acc = _mm512_fmadd_ps(d, d, *acc);
            }
            i += 32;
        }
        if i + 16 <= n {
            let d =
                unsafe { _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
            acc[0] = _mm512_fmadd_ps(d, d, acc[0]);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u32 << (n - i)).wrapping_sub(1) as __mmask16;
            let d = unsafe {
                _mm512_sub_ps(
                    _mm512_maskz_loadu_ps(mask, pa.add(i)),
                    _mm512_maskz_loadu_ps(mask, pb.add(i)),
                )
            };
            acc[1] = _mm512_fmadd_ps(d, d, acc[1]);
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    fn reference_l2sq(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
            .sum()
    }

    #[test]
    fn every_kernel_agrees_with_the_f64_reference_at_every_length() {
        let mut kinds: Vec<(&str, Kernels)> = vec![(
            "portable",
            Kernels {
                l2sq: portable::l2sq,
                neg_dot: portable::neg_dot,
                name: "portable",
            },
        )];
        kinds.push(("detected", detect()));
        for (name, k) in &kinds {
            for n in 0..200usize {
                let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) / 3.0).collect();
                let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 11) as f32 - 5.0) / 2.0).collect();
                let dot = -(k.neg_dot)(&a, &b) as f64;
                let l2 = (k.l2sq)(&a, &b) as f64;
                let tol = 1e-4 * (1.0 + n as f64);
                assert!(
                    (dot - reference_dot(&a, &b)).abs() < tol,
                    "{name} dot n={n}"
                );
                assert!((l2 - reference_l2sq(&a, &b)).abs() < tol, "{name} l2 n={n}");
            }
        }
    }

    #[test]
    fn unequal_lengths_read_only_the_common_prefix() {
        let k = kernels();
        assert_eq!((k.l2sq)(&[1.0, 2.0, 3.0], &[1.0, 2.0]), 0.0);
        assert_eq!((k.neg_dot)(&[1.0; 40], &[2.0; 17]), -34.0);
    }

    #[test]
    fn normalising_survives_huge_and_tiny_components() {
        let mut big = vec![3e30f32, 4e30];
        assert!(normalise(&mut big) > 0.0);
        assert!((big[0] - 0.6).abs() < 1e-6 && (big[1] - 0.8).abs() < 1e-6);
        let mut tiny = vec![3e-40f32, 4e-40];
        assert!(normalise(&mut tiny) > 0.0);
        assert!((tiny[0] - 0.6).abs() < 1e-4, "{tiny:?}");
        let mut zero = vec![0.0f32; 4];
        assert_eq!(normalise(&mut zero), 0.0);
    }

    #[test]
    fn reported_distances_follow_the_metric() {
        assert_eq!(Metric::L2.reported(9.0), 3.0);
        assert_eq!(Metric::Cosine.reported(-1.0), 0.0);
        assert_eq!(Metric::Dot.reported(-2.5), -2.5);
    }
}
