"""The vector benchmark's data sets (bench/vectors/run.sh), each a directory of raw files:

  meta.json   {"dim", "metric", "n", "nq", "source"}
  base.f32    n × dim little-endian f32, row-major
  query.f32   nq × dim, not in the base set
  gt.i32      nq × 100: the exact 100 nearest base positions of each query, nearest first
              (brute force: float32 GEMM, then the candidates re-ranked in float64)

  python3 data.py clustered DIR N NQ DIM        synthetic clustered vectors (l2)
  python3 data.py minilm DIR EMBEDDINGS NQ [N]  sentence embeddings (cosine): the first NQ
                                                rows of EMBEDDINGS (a 384-d .f32 file, rows
                                                in shuffled order) are the queries, the next
                                                N (default: all the rest) the base
A directory is written under DIR.tmp and renamed when complete.
"""
import json
import os
import shutil
import sys
import time

import numpy as np

GT_WIDTH = 100


def clustered(n, nq, dim, seed=7, clusters=1000, spread=(0.2, 0.6)):
    """Gaussian blobs around `clusters` standard-normal centres, each with its own spread;
    queries are fresh draws from the same mixture."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    scales = rng.uniform(spread[0], spread[1], clusters).astype(np.float32)

    def draw(k):
        out = np.empty((k, dim), dtype=np.float32)
        for s in range(0, k, 100_000):
            c = rng.integers(0, clusters, min(100_000, k - s))
            noise = rng.standard_normal((len(c), dim), dtype=np.float32)
            out[s:s + len(c)] = centres[c] + scales[c, None] * noise
        return out

    return draw(n), draw(nq)


def ground_truth(base, query, metric, width=GT_WIDTH, chunk=50):
    """Exact neighbours by brute force: float32 scores pick 4 × width candidates, float64
    distances order them (so float32 rounding cannot reorder near ties among the top)."""
    if metric == "cosine":
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        query = query / np.linalg.norm(query, axis=1, keepdims=True)
    bn = (base.astype(np.float64) ** 2).sum(1).astype(np.float32)
    gt = np.empty((len(query), width), dtype=np.int32)
    pick = min(4 * width, len(base) - 1)
    started = time.time()
    for s in range(0, len(query), chunk):
        q = query[s:s + chunk]
        score = q @ base.T
        score *= -2 if metric == "l2" else -1
        if metric == "l2":
            score += bn[None, :]  # |b|² - 2 q·b: smaller is nearer, as for -cos
        cand = np.argpartition(score, pick, axis=1)[:, :pick]
        del score
        for i, row in enumerate(cand):
            v = base[row].astype(np.float64)
            qq = q[i].astype(np.float64)
            d = ((v - qq) ** 2).sum(1) if metric == "l2" else -(v @ qq)
            order = np.lexsort((row, d))[:width]
            gt[s + i] = row[order]
        if s // chunk % 40 == 0:
            print(f"  ground truth {s + len(q)}/{len(query)} ({time.time() - started:.0f} s)",
                  file=sys.stderr, flush=True)
    return gt


def write(dirname, base, query, metric, source):
    tmp = dirname + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    base.astype("<f4").tofile(f"{tmp}/base.f32")
    query.astype("<f4").tofile(f"{tmp}/query.f32")
    ground_truth(base, query, metric).astype("<i4").tofile(f"{tmp}/gt.i32")
    meta = {"dim": base.shape[1], "metric": metric, "n": len(base), "nq": len(query),
            "source": source}
    with open(f"{tmp}/meta.json", "w") as f:
        json.dump(meta, f, indent=1)
    shutil.rmtree(dirname, ignore_errors=True)
    os.rename(tmp, dirname)


def main(argv):
    if len(argv) >= 5 and argv[0] == "clustered":
        d, n, nq, dim = argv[1], int(argv[2]), int(argv[3]), int(argv[4])
        base, query = clustered(n, nq, dim)
        write(d, base, query, "l2",
              f"synthetic: 1000 Gaussian clusters (standard-normal centres, per-cluster sigma "
              f"uniform in [0.2, 0.6]), seed 7; {n} base + {nq} query draws")
    elif len(argv) >= 4 and argv[0] == "minilm":
        d, emb, nq = argv[1], argv[2], int(argv[3])
        vectors = np.fromfile(emb, dtype="<f4").reshape(-1, 384)
        n = int(argv[4]) if len(argv) > 4 else len(vectors) - nq
        if nq + n > len(vectors):
            sys.exit(f"{emb} has {len(vectors)} embeddings; {nq} queries + {n} base do not fit")
        write(d, vectors[nq:nq + n], vectors[:nq], "cosine",
              f"all-MiniLM-L6-v2 embeddings of {nq + n} distinct sentences ({emb})")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
