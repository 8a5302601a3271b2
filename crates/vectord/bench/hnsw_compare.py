"""hnswlib on the same files as vectord's ann_bench example; makes the data when missing.

python3 hnsw_compare.py DIR N NQ DIM METRIC M EFC EF,EF,...
"""
import os, sys, time
import numpy as np, hnswlib

d, n, nq, dim, metric, M, efc, efs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7]), [int(x) for x in sys.argv[8].split(',')]
space = {'l2': 'l2', 'cosine': 'cosine', 'dot': 'ip'}[metric]
os.makedirs(d, exist_ok=True)
if not os.path.exists(f'{d}/gt.i32'):
    rng = np.random.default_rng(7)
    clusters = int(os.environ.get('CLUSTERS', '1000'))
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    lo, hi = [float(x) for x in os.environ.get('SPREAD', '0.2,0.6').split(',')]
    scales = rng.uniform(lo, hi, clusters).astype(np.float32)
    def gen(k):
        c = rng.integers(0, clusters, k)
        return (centres[c] + scales[c, None] * rng.standard_normal((k, dim)).astype(np.float32)).astype(np.float32)
    base, query = gen(n), gen(nq)
    base.tofile(f'{d}/base.f32'); query.tofile(f'{d}/query.f32')
    if metric == 'cosine':
        b = base / np.linalg.norm(base, axis=1, keepdims=True); q = query / np.linalg.norm(query, axis=1, keepdims=True)
    else:
        b, q = base, query
    gt = np.zeros((nq, 100), dtype=np.int32)
    bn = (b * b).sum(1)
    for s in range(0, nq, 500):
        qq = q[s:s+500]
        dist = -qq @ b.T if metric in ('cosine', 'dot') else bn[None, :] - 2 * qq @ b.T
        gt[s:s+500] = np.argsort(dist, axis=1)[:, :100]
    gt.tofile(f'{d}/gt.i32')
base = np.fromfile(f'{d}/base.f32', dtype=np.float32).reshape(-1, dim)
query = np.fromfile(f'{d}/query.f32', dtype=np.float32).reshape(-1, dim)
gt = np.fromfile(f'{d}/gt.i32', dtype=np.int32).reshape(-1, 100)
print(f'hnswlib {hnswlib.__version__ if hasattr(hnswlib, "__version__") else ""}; {len(base)} base, {len(query)} queries, dim {dim}, {metric}, M {M}, ef_construction {efc}')
p = hnswlib.Index(space=space, dim=dim)
p.init_index(max_elements=len(base), ef_construction=efc, M=M, random_seed=42)
t = time.perf_counter()
p.add_items(base, np.arange(len(base)), num_threads=int(os.environ.get('THREADS', '2')))
build = time.perf_counter() - t
print(f'build {build:.2f} s ({len(base)/build:.0f} inserts/s)')
k = 10
for ef in efs:
    p.set_ef(ef)
    took = 1e9
    for rep in range(3):
        t = time.perf_counter()
        labels, _ = p.knn_query(query, k=k, num_threads=1)
        took = min(took, time.perf_counter() - t)
    rec = np.mean([len(set(labels[i]) & set(gt[i, :k])) / k for i in range(len(query))])
    print(f'ef {ef:>4}  recall@{k} {rec:.4f}  QPS {len(query)/took:>8.0f}')
