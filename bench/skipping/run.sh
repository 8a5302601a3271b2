#!/usr/bin/env bash
# File skipping and partitions (issue 17): TPC-H Q6 on SF1 `lineitem` loaded three ways —
# whole (one create: every file spans all seven years of l_shipdate), year by year (a
# create and six appends: unpartitioned, each file one year) and partitioned by an added
# `l_year` column (`partition_by=l_year`, one ingest) — through POST /v1/sql, against DuckDB
# embedded on the same Parquet files in the same run (bench/skipping/q6.py says what is
# timed). On the year-by-year and partitioned tables the log's statistics rule out six
# years' files when Q6 is planned; on the whole one every file is opened and pruned by row
# group only.
#
#   bench/skipping/run.sh                      # release build, local data directory
#
# Env: TABLES (default whole,years,by_year), BENCH_DIR (default
#      /var/tmp/lakehouse-bench/skipping), TPCH_CSV (SF1 lineitem.csv,
#      default the one bench/tpch/run.sh generates), REPEAT (default 5), LAKEHOUSE_BIN (use
#      this binary instead of building), CARGO_TARGET_DIR (default /var/tmp/lakehouse-target).
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=${BENCH_DIR:-/var/tmp/lakehouse-bench/skipping}
csv=${TPCH_CSV:-/var/tmp/lakehouse-bench/tpch/sf1/csv/lineitem.csv}
repeat=${REPEAT:-5}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lakehouse-target}"

[[ -s $csv ]] || { echo "no $csv: run bench/tpch/run.sh once (it generates SF1)" >&2; exit 1; }
if ! python3 -c 'import duckdb' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check duckdb
fi
if [[ -n ${LAKEHOUSE_BIN:-} ]]; then
  bin=$LAKEHOUSE_BIN
else
  cargo build --release --locked -p lakehouse
  bin="$CARGO_TARGET_DIR/release/lakehouse"
fi

rm -rf "$bench/data" && mkdir -p "$bench/data" "$bench/years"
. bench/standalone.sh
standalone "$bin" "$bench"

echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "duckdb $(python3 -c 'import duckdb; print(duckdb.__version__)'), best/median of $repeat"
timeout 3000 python3 bench/skipping/q6.py "http://127.0.0.1:$port" "$bench/data" "$csv" \
  "$bench/years" "$repeat" | tee "$bench/results.jsonl"
