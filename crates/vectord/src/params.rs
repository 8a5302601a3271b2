//! [`IndexParams`]: what an index is built with, checked once by [`IndexParams::new`], and
//! the limits every input is held to.

use serde::{Deserialize, Serialize};

use crate::distance::Metric;

/// Largest dimension.
pub const MAX_DIM: usize = 16_384;
/// `m` bounds: links per node on the upper layers (twice that on layer 0).
pub const MIN_M: usize = 2;
pub const MAX_M: usize = 128;
pub const DEFAULT_M: usize = 16;
/// `ef_construction` bounds.
pub const MAX_EF_CONSTRUCTION: usize = 10_000;
pub const DEFAULT_EF_CONSTRUCTION: usize = 200;
/// Longest item id, in bytes of UTF-8.
pub const MAX_ID_BYTES: usize = 256;
/// Largest item metadata, in bytes of compact JSON.
pub const MAX_METADATA_BYTES: usize = 64 << 10;
/// Largest `k` and `ef` of a search.
pub const MAX_K: usize = 10_000;
pub const MAX_EF: usize = 100_000;
/// `ef` when a search does not give one: `max(k, DEFAULT_EF)`.
pub const DEFAULT_EF: usize = 64;

/// An index's parameters; immutable once the index exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexParams {
    pub dim: usize,
    pub metric: Metric,
    pub m: usize,
    pub ef_construction: usize,
}

impl IndexParams {
    /// Checks every parameter against its bounds; the message names the one out of range.
    pub fn new(
        dim: usize,
        metric: Metric,
        m: usize,
        ef_construction: usize,
    ) -> Result<IndexParams, String> {
        if dim == 0 || dim > MAX_DIM {
            return Err(format!("dim must be between 1 and {MAX_DIM}, not {dim}"));
        }
        if !(MIN_M..=MAX_M).contains(&m) {
            return Err(format!("m must be between {MIN_M} and {MAX_M}, not {m}"));
        }
        if ef_construction == 0 || ef_construction > MAX_EF_CONSTRUCTION {
            return Err(format!(
                "ef_construction must be between 1 and {MAX_EF_CONSTRUCTION}, not {ef_construction}"
            ));
        }
        Ok(IndexParams {
            dim,
            metric,
            m,
            ef_construction,
        })
    }

    /// Links per node on layer 0.
    pub fn m0(&self) -> usize {
        2 * self.m
    }

    /// Candidates kept while linking a new node: never fewer than `m`.
    pub fn effective_ef_construction(&self) -> usize {
        self.ef_construction.max(self.m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_parameters_are_named() {
        let e = |d, m, ef| IndexParams::new(d, Metric::L2, m, ef).unwrap_err();
        assert!(e(0, 16, 200).contains("dim"));
        assert!(e(MAX_DIM + 1, 16, 200).contains("dim"));
        assert!(e(8, 1, 200).contains("m must be"));
        assert!(e(8, 129, 200).contains("m must be"));
        assert!(e(8, 16, 0).contains("ef_construction"));
        let p = IndexParams::new(8, Metric::Cosine, 4, 2).unwrap();
        assert_eq!((p.m0(), p.effective_ef_construction()), (8, 4));
    }
}
