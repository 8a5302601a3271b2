#!/usr/bin/env bash
# Reads after many appends (issue 17): the time to plan and answer `SELECT count(*)` on a
# dataset after 1, 10, 100 and 1,000 appends, against PyPI `deltalake` opening the same
# Delta table and counting its rows, in one run; and the time of an append as the log grows.
# Flat is the goal: delta-rs checkpoints every 100 versions and a server keeps each table
# it has read, applying only the entries written since.
#
#   bench/delta/run.sh                      # release build, local data directory
#
# Env: BENCH_DIR (default /var/tmp/lakehouse-bench/delta), MARKS (default 1,10,100,1000),
#      ROWS (rows per append, default 100), REPEAT (default 5), LAKEHOUSE_BIN (use this
#      binary instead of building), CARGO_TARGET_DIR (default /var/tmp/lakehouse-target).
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=${BENCH_DIR:-/var/tmp/lakehouse-bench/delta}
marks=${MARKS:-1,10,100,1000}
rows=${ROWS:-100}
repeat=${REPEAT:-5}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lakehouse-target}"

if ! python3 -c 'import deltalake, pyarrow' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'deltalake==1.6.6' pyarrow
fi
if [[ -n ${LAKEHOUSE_BIN:-} ]]; then
  bin=$LAKEHOUSE_BIN
else
  cargo build --release --locked -p lakehouse
  bin="$CARGO_TARGET_DIR/release/lakehouse"
fi

rm -rf "$bench" && mkdir -p "$bench/data"
. bench/standalone.sh
standalone "$bin" "$bench"

echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "deltalake $(python3 -c 'import deltalake; print(deltalake.__version__)')," \
  "marks $marks, $rows rows per append, best/median of $repeat"
timeout 3000 python3 bench/delta/appends.py "http://127.0.0.1:$port" "$bench/data/datasets/t" \
  "$marks" "$rows" "$repeat" | tee "$bench/results.jsonl"
echo "== log: $(ls "$bench/data/datasets/t/_delta_log" | grep -c '\.json$') entries," \
  "$(ls "$bench/data/datasets/t/_delta_log" | grep -c 'checkpoint.parquet$') checkpoints"
