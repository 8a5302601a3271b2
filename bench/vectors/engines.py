"""hnswlib's and faiss's side of the vector benchmark (bench/vectors/run.sh): the same steps
as vectord's (crates/vectord/examples/ann_bench.rs), one engine per process.

  python3 engines.py hnswlib|faiss DIR METRIC M EF_CONSTRUCTION EF,EF,... INDEX_FILE > result.json

- hnswlib: `Index(space)`, `init_index(M, ef_construction, random_seed=42)`,
  `add_items(base, num_threads=2)`; queries `knn_query(queries, k, num_threads=1)` (one
  query after another on one thread, in C++); `save_index` / `load_index`.
- faiss: `IndexHNSWFlat(dim, M, metric)` with `hnsw.efConstruction`; faiss keeps 2·M links
  on layer 0 and M above (`set_default_probas`), as hnswlib and vectord do. `add` with
  `omp_set_num_threads(2)`; search with `omp_set_num_threads(1)` and `hnsw.efSearch = ef`
  (faiss searches with max(efSearch, k)); `write_index` / `read_index`. For cosine it gets
  unit vectors and METRIC_INNER_PRODUCT (normalised outside the timing).
QPS is the best of three passes over all queries; load is the best of three.

After the load, every fifth base vector (positions 2, 7, 12, ...) is deleted and the sweep
repeated, one pass per ef, against the exact neighbours left: hnswlib `mark_deleted` (the
deleted keep routing searches, as vectord's tombstones do). faiss's HNSW cannot remove
vectors, so it has no such phase.
"""
import gc
import json
import os
import sys
import time

import numpy as np

K = 10
GT_WIDTH = 100
BUILD_THREADS = 2


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def recall(labels, truth):
    found = sum(len(set(row[:K].tolist()) & set(t.tolist())) for row, t in zip(labels, truth))
    return found / (K * len(truth))


def unit(x):
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


class Hnswlib:
    def __init__(self, dim, metric, m, efc):
        import hnswlib
        self.mod, self.dim, self.metric, self.m, self.efc = hnswlib, dim, metric, m, efc
        self.space = {"l2": "l2", "cosine": "cosine", "dot": "ip"}[metric]
        self.version = getattr(hnswlib, "__version__", None) or _dist_version("hnswlib")

    def build(self, base):
        self.index = self.mod.Index(space=self.space, dim=self.dim)
        self.index.init_index(max_elements=len(base), ef_construction=self.efc, M=self.m,
                              random_seed=42)
        self.index.add_items(base, np.arange(len(base)), num_threads=BUILD_THREADS)
        self.n = len(base)

    def prepare(self, queries):
        return queries

    def search(self, queries, ef):
        self.index.set_ef(ef)
        labels, _ = self.index.knn_query(queries, k=K, num_threads=1)
        return labels

    def save(self, path):
        self.index.save_index(path)

    def drop(self):
        del self.index

    def load(self, path):
        self.index = self.mod.Index(space=self.space, dim=self.dim)
        self.index.load_index(path, max_elements=self.n)

    def delete(self, labels):
        for label in labels.tolist():
            self.index.mark_deleted(label)


class Faiss:
    def __init__(self, dim, metric, m, efc):
        import faiss
        self.mod, self.dim, self.metric, self.m, self.efc = faiss, dim, metric, m, efc
        self.version = faiss.__version__

    def build(self, base):
        faiss = self.mod
        faiss.omp_set_num_threads(BUILD_THREADS)
        kind = faiss.METRIC_L2 if self.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        self.index = faiss.IndexHNSWFlat(self.dim, self.m, kind)
        self.index.hnsw.efConstruction = self.efc
        self.index.add(unit(base) if self.metric == "cosine" else base)
        faiss.omp_set_num_threads(1)

    def prepare(self, queries):
        return unit(queries) if self.metric == "cosine" else queries

    def search(self, queries, ef):
        self.index.hnsw.efSearch = ef
        _, labels = self.index.search(queries, K)
        return labels

    def save(self, path):
        self.mod.write_index(self.index, path)

    def drop(self):
        del self.index

    def load(self, path):
        self.index = self.mod.read_index(path)


def _dist_version(name):
    from importlib.metadata import version
    return version(name)


def main(argv):
    if len(argv) != 7 or argv[0] not in ("hnswlib", "faiss"):
        sys.exit(__doc__)
    engine_name, d, metric, m, efc, efs, index_file = argv
    m, efc, efs = int(m), int(efc), [int(e) for e in efs.split(",")]
    meta = json.load(open(f"{d}/meta.json"))
    dim = meta["dim"]
    base = np.fromfile(f"{d}/base.f32", dtype="<f4").reshape(-1, dim)
    queries = np.fromfile(f"{d}/query.f32", dtype="<f4").reshape(-1, dim)
    gt = np.fromfile(f"{d}/gt.i32", dtype="<i4").reshape(-1, GT_WIDTH)
    truth = gt[:, :K]
    engine = (Hnswlib if engine_name == "hnswlib" else Faiss)(dim, metric, m, efc)
    print(f"{engine_name} {engine.version}: {len(base)} base, {len(queries)} queries, dim {dim}, "
          f"{metric}, M {m}, ef_construction {efc}, build threads {BUILD_THREADS}",
          file=sys.stderr, flush=True)

    # --- build ------------------------------------------------------------------------------
    gc.collect()
    rss_before = status_kib("VmRSS")
    reset_peak_rss()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    engine.build(base)
    build_s = time.perf_counter() - t0
    build_cpu_s = cpu_seconds() - cpu0
    index_rss = status_kib("VmRSS") - rss_before
    print(f"build {build_s:.2f} s ({build_cpu_s:.1f} CPU-s), index RSS {index_rss >> 10} MiB",
          file=sys.stderr, flush=True)

    # --- ef sweep -----------------------------------------------------------------------------
    prepared = engine.prepare(queries)
    sweep = []
    for ef in efs:
        took, labels = float("inf"), None
        for _ in range(3):
            t0 = time.perf_counter()
            labels = engine.search(prepared, ef)
            took = min(took, time.perf_counter() - t0)
        r = recall(labels, truth)
        qps = len(queries) / took
        print(f"ef {ef:>5}  recall@{K} {r:.4f}  QPS {qps:>8.0f}", file=sys.stderr, flush=True)
        sweep.append({"ef": ef, "recall": r, "qps": qps})
    peak_rss = status_kib("VmHWM")

    # --- save, read, load ---------------------------------------------------------------------
    t0 = time.perf_counter()
    engine.save(index_file)
    save_s = time.perf_counter() - t0
    file_bytes = os.path.getsize(index_file)
    check_ef = efs[len(efs) // 2]
    recall_before = recall(engine.search(prepared, check_ef), truth)
    engine.drop()
    gc.collect()
    read_s = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        with open(index_file, "rb") as f:
            data = f.read()
        read_s = min(read_s, time.perf_counter() - t0)
        assert len(data) == file_bytes
        del data
    load_s = float("inf")
    for _ in range(3):
        if hasattr(engine, "index"):
            engine.drop()
            gc.collect()
        t0 = time.perf_counter()
        engine.load(index_file)
        load_s = min(load_s, time.perf_counter() - t0)
    recall_after = recall(engine.search(prepared, check_ef), truth)
    print(f"file {file_bytes >> 20} MiB, save {save_s:.2f} s, read {read_s:.3f} s, load {load_s:.3f} s; "
          f"recall@{K} at ef {check_ef}: {recall_before:.4f} before, {recall_after:.4f} after",
          file=sys.stderr, flush=True)

    # --- delete a fifth (as ann_bench.rs) -----------------------------------------------------
    after_delete = None
    if hasattr(engine, "delete"):
        gone = np.arange(2, len(base), 5)
        truth_left = np.array([row[row % 5 != 2][:K] for row in gt])
        assert truth_left.shape == (len(queries), K), f"{K} left of {GT_WIDTH}"
        t0 = time.perf_counter()
        engine.delete(gone)
        delete_s = time.perf_counter() - t0
        deleted_sweep = []
        for ef in efs:
            t0 = time.perf_counter()
            labels = engine.search(prepared, ef)
            qps = len(queries) / (time.perf_counter() - t0)
            r = recall(labels, truth_left)
            print(f"deleted: ef {ef:>5}  recall@{K} {r:.4f}  QPS {qps:>8.0f}", file=sys.stderr,
                  flush=True)
            deleted_sweep.append({"ef": ef, "recall": r, "qps": qps})
        print(f"deleted {len(gone)} items in {delete_s:.2f} s", file=sys.stderr, flush=True)
        after_delete = {"deleted": len(gone), "delete_s": delete_s, "sweep": deleted_sweep,
                        "compact_s": None, "compacted_sweep": None}

    print(json.dumps({
        "engine": engine_name, "version": engine.version,
        "n": len(base), "nq": len(queries), "dim": dim, "metric": metric, "k": K,
        "m": m, "ef_construction": efc, "build_threads": BUILD_THREADS,
        "build_s": build_s, "build_cpu_s": build_cpu_s,
        "sweep": sweep,
        "index_rss_bytes": index_rss * 1024, "own_estimate_bytes": None,
        "peak_rss_bytes": peak_rss * 1024,
        "save_s": save_s, "file_bytes": file_bytes,
        "read_s": read_s, "load_s": load_s,
        "check_ef": check_ef, "recall_before_save": recall_before, "recall_after_load": recall_after,
        "after_delete": after_delete,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
