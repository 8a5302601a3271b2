#!/usr/bin/env bash
# ingest benchmark: a generated CSV (ints, floats, dates, timestamps, short and long strings)
# ingested through POST /v1/ingest vs, in the same run on the same file, DuckDB's
# `COPY (SELECT * FROM read_csv(f)) TO 'f.parquet'` and pyarrow's streaming CSV → Parquet.
# Goals: ≥ 1.0× DuckDB's MB/s; server peak RSS ≤ 256 MiB, flat when the input grows (--grow).
#
#   bench/ingest/run.sh                          # 1 GiB CSV, fastest of 3
#   bench/ingest/run.sh --size 1G --grow 4G      # and the server alone on 4 GiB (peak RSS)
#   bench/ingest/run.sh --size 100M --repeat 1   # quick look
#
# Installs duckdb and pyarrow from PyPI if missing. Generated CSVs are kept in CSV_DIR
# (default /var/tmp/lakehouse-bench/ingest, on a real disk) and made only when missing.
# Env: CSV_DIR, CARGO_TARGET_DIR (default /var/tmp/lakehouse-target), LAKEHOUSE_BIN (use this
# binary instead of building one).
set -euo pipefail
cd "$(dirname "$0")/../.."
command_line="${LAKEHOUSE_BIN:+LAKEHOUSE_BIN=$LAKEHOUSE_BIN }bench/ingest/run.sh${*:+ $*}"

usage() { echo "usage: bench/ingest/run.sh [--size 1G] [--grow 4G] [--repeat N]" >&2; exit 2; }
size=1G grow="" repeat=3
while (($#)); do
  case "$1" in
    --size) size=${2:?}; shift 2 ;;
    --grow) grow=${2:?}; shift 2 ;;
    --repeat) repeat=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
sizes=("$size"); if [[ -n $grow ]]; then sizes+=("$grow"); fi
[[ $repeat =~ ^[1-9][0-9]*$ ]] || usage
for s in "${sizes[@]}"; do [[ $s =~ ^[0-9]+[KMGT]$ ]] || usage; done

csv_dir=${CSV_DIR:-/var/tmp/lakehouse-bench/ingest}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lakehouse-target}"

# --- tools ----------------------------------------------------------------------------------
if ! command -v curl >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi
if ! python3 -c 'import duckdb, pyarrow' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check duckdb pyarrow
fi
if [[ -n ${LAKEHOUSE_BIN:-} ]]; then
  bin=$LAKEHOUSE_BIN
else
  cargo build --release --locked -p lakehouse
  bin="$CARGO_TARGET_DIR/release/lakehouse"
fi

# --- scratch space and cleanup ----------------------------------------------------------------
mkdir -p "$csv_dir"
work=$(mktemp -d "$csv_dir/run.XXXXXX")   # same disk as the CSVs; removed on exit
server=""
cleanup() {
  if [[ -n $server ]]; then stop_server; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
elapsed() { python3 -c "print(round($2 - $1, 3))"; }
# Generous bound on any one conversion: 600 s, or 1 MB/s of CSV if that is longer.
time_limit() { python3 -c "print(max(600, $1 // 1000000))"; }
# user + system CPU seconds of a process so far (fields 14 and 15 of /proc/PID/stat, in ticks).
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
peak_rss_mib() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
results="$work/results.jsonl"
touch "$results"

# --- the CSVs ---------------------------------------------------------------------------------
csv_of() { echo "$csv_dir/ingest-$1.csv"; }
for s in "${sizes[@]}"; do
  if [[ ! -s $(csv_of "$s") ]]; then
    echo "== generating a $s CSV"
    python3 bench/ingest/gen_csv.py "$s" "$(csv_of "$s")"
  fi
done

# Rows (no field holds a newline, so lines - header) and a warm page cache for every reader.
count_rows() { echo $(($(wc -l < "$1") - 1)); }

# --- peers ------------------------------------------------------------------------------------
measure_peers() {  # SIZE
  local csv bytes rows limit json
  csv=$(csv_of "$1"); bytes=$(stat -c %s "$csv"); rows=$(count_rows "$csv")
  limit=$(time_limit "$bytes")
  for i in $(seq 1 "$repeat"); do
    for peer in duckdb duckdb-zstd pyarrow; do
      echo "== $peer, $1 CSV, run $i of $repeat"
      json=$(timeout "$limit" python3 bench/ingest/peers.py "$peer" "$csv" "$work/peer.parquet")
      rm -f "$work/peer.parquet"
      echo "   $json"
      python3 - "$json" "$1" "$bytes" "$rows" >> "$results" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
size, csv_bytes, rows = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if r["rows"] != rows:
    sys.exit(f"{r['peer']} wrote {r['rows']} rows, the CSV has {rows}")
print(json.dumps({"size": size, "csv_bytes": csv_bytes, "rows": rows, "who": r["peer"],
                  "seconds": r["seconds"], "cpu_seconds": r["cpu_seconds"],
                  "peak_rss_mib": r["peak_rss_mib"], "parquet_bytes": r["parquet_bytes"]}))
PY
    done
  done
}

# --- the server -------------------------------------------------------------------------------
port=""
start_server() {  # DATA_DIR LOG
  port=$(free_port)
  LAKEHOUSE_GATEWAY_BIND="127.0.0.1:$port" LAKEHOUSE_QUERYD_PG_BIND="127.0.0.1:$(free_port)" \
    LAKEHOUSE_LOG_LEVEL=warn "$bin" serve --data-dir "$1" >"$2" 2>&1 &
  server=$!
  for _ in $(seq 1 200); do   # 20 s at most
    if ! kill -0 "$server" 2>/dev/null; then
      echo "the server exited during start-up:" >&2; cat "$2" >&2; server=""; exit 1
    fi
    if curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$port/health"; then return 0; fi
    sleep 0.1
  done
  echo "the server did not answer GET /health with 200 within 20 s:" >&2; cat "$2" >&2; exit 1
}

stop_server() {  # SIGTERM (graceful), SIGKILL after 10 s
  kill -TERM "$server" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
}

measure_server() {  # SIZE RUNS
  local csv bytes rows limit data log name code t0 t1 cpu0 cpu1 rss
  csv=$(csv_of "$1"); bytes=$(stat -c %s "$csv"); rows=$(count_rows "$csv")
  limit=$(time_limit "$bytes")
  data="$work/data-$1"; log="$work/server-$1.log"
  mkdir -p "$data"
  start_server "$data" "$log"   # fresh per size, so VmHWM below is this size's alone
  for i in $(seq 1 "$2"); do
    # A new name per run: an overwrite with the same bytes is a no-op by design (source SHA-256).
    name="bench_${1}_$i"
    echo "== lakehouse POST /v1/ingest/$name, $1 CSV, run $i of $2"
    cpu0=$(cpu_seconds "$server"); t0=$(now)
    # -T streams the file from disk (--data-binary would read it all into curl's memory first);
    # an empty Expect: skips curl's wait for "100 Continue".
    if ! code=$(curl -sS -X POST -T "$csv" -H 'Content-Type: text/csv' -H 'Expect:' \
        --max-time "$limit" -o "$work/response.json" -w '%{http_code}' \
        "http://127.0.0.1:$port/v1/ingest/$name?mode=overwrite"); then
      echo "the ingest request failed (curl above); server log:" >&2; tail -n 20 "$log" >&2; exit 1
    fi
    t1=$(now); cpu1=$(cpu_seconds "$server")
    if [[ $code == 404 ]] && grep -q route_not_found "$work/response.json"; then
      echo "   POST /v1/ingest is not in this build (404 route_not_found): server not measured" >&2
      echo "{\"size\": \"$1\", \"who\": \"lakehouse\", \"missing\": \"no ingest endpoint in this build (404 route_not_found)\"}" >> "$results"
      stop_server; rm -rf "$data"; return 0
    fi
    if [[ $code != 2?? ]]; then
      echo "the ingest answered HTTP $code:" >&2; head -c 2000 "$work/response.json" >&2; echo >&2
      tail -n 20 "$log" >&2; exit 1
    fi
    rss=$(peak_rss_mib "$server")
    echo "   HTTP $code in $(elapsed "$t0" "$t1") s, server VmHWM $rss MiB"
    python3 - "$work/response.json" "$1" "$bytes" "$rows" "$(elapsed "$t0" "$t1")" \
      "$(elapsed "$cpu0" "$cpu1")" "$rss" "$data" >> "$results" <<'PY'
import json, os, sys
manifest_path, size, csv_bytes, rows, seconds, cpu, rss, data = sys.argv[1:]
manifest = json.load(open(manifest_path))
if "rows" in manifest and int(manifest["rows"]) != int(rows):
    sys.exit(f"the manifest says {manifest['rows']} rows, the CSV has {rows}")
files = manifest.get("files") or []
if files and all("bytes" in f for f in files):
    parquet = sum(int(f["bytes"]) for f in files)
else:  # no sizes in the manifest: everything the store holds for this dataset
    parquet = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(data) for f in fs
                  if f.endswith(".parquet") and f"/{manifest.get('name', '')}/" in os.path.join(d, f))
print(json.dumps({"size": size, "csv_bytes": int(csv_bytes), "rows": int(rows),
                  "who": "lakehouse", "seconds": float(seconds), "cpu_seconds": float(cpu),
                  "peak_rss_mib": float(rss), "parquet_bytes": parquet}))
PY
  done
  stop_server
  rm -rf "$data"
}

load=$(cut -d' ' -f1 /proc/loadavg)
echo "== load average at start: $load (on $(nproc) cores; other work on the machine skews every figure)"
rows=$(count_rows "$(csv_of "$size")")   # also warms the page cache
echo "== $size CSV: $(stat -c %s "$(csv_of "$size")") bytes, $rows rows"
measure_peers "$size"
measure_server "$size" "$repeat"
if [[ -n $grow ]]; then
  echo "== $grow CSV: $(count_rows "$(csv_of "$grow")") rows"
  measure_server "$grow" 1
fi

echo
python3 bench/ingest/report.py "$results" "$command_line" "$size" "$grow"
echo
echo "Load average at start: $load; at the end: $(cut -d' ' -f1 /proc/loadavg)."
if grep -q '"missing"' "$results"; then exit 1; fi
