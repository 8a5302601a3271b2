#!/usr/bin/env bash
# ingest on S3: the ingest benchmark's CSV (bench/ingest/gen_csv.py) through the gateway's
# POST /v1/ingest into a loopback S3 server (moto), with the standalone server and with the
# split deployment (one process per role), next to the same ingest into a local directory in
# the same run. Reports MB/s and the peak RSS (VmHWM) of every process, moto's included.
# Goals: S3 ≥ 0.8× the local directory's MB/s; every lakehouse process ≤ 256 MiB.
#
#   bench/ingest/s3.sh                         # 1 GiB CSV, fastest of 3 per deployment
#   bench/ingest/s3.sh --size 100M --repeat 1  # quick look
#
# Installs moto[server] from PyPI if missing; the CSVs are shared with bench/ingest/run.sh
# (CSV_DIR, default /var/tmp/lakehouse-bench/ingest). Env: CSV_DIR, CARGO_TARGET_DIR (default
# /var/tmp/lakehouse-target), LAKEHOUSE_BIN (use this binary instead of building one).
set -euo pipefail
cd "$(dirname "$0")/../.."
command_line="${LAKEHOUSE_BIN:+LAKEHOUSE_BIN=$LAKEHOUSE_BIN }bench/ingest/s3.sh${*:+ $*}"

usage() { echo "usage: bench/ingest/s3.sh [--size 1G] [--repeat N]" >&2; exit 2; }
size=1G repeat=3
while (($#)); do
  case "$1" in
    --size) size=${2:?}; shift 2 ;;
    --repeat) repeat=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
[[ $size =~ ^[0-9]+[KMGT]$ && $repeat =~ ^[1-9][0-9]*$ ]] || usage

csv_dir=${CSV_DIR:-/var/tmp/lakehouse-bench/ingest}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lakehouse-target}"

# --- tools ----------------------------------------------------------------------------------
if ! command -v curl >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi
if ! command -v moto_server >/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
if [[ -n ${LAKEHOUSE_BIN:-} ]]; then
  bin=$LAKEHOUSE_BIN
else
  cargo build --release --locked -p lakehouse
  bin="$CARGO_TARGET_DIR/release/lakehouse"
fi

# --- scratch space, processes and cleanup -----------------------------------------------------
mkdir -p "$csv_dir"
work=$(mktemp -d "$csv_dir/s3.XXXXXX")   # removed on exit
pids=()                                  # every process this script started
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
peak_rss_mib() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
results="$work/results.jsonl"

wait_for() {  # URL PID LOG: until URL answers 2xx (30 s at most), or the process exits
  for _ in $(seq 1 300); do
    if ! kill -0 "$2" 2>/dev/null; then echo "exited during start-up:" >&2; cat "$3" >&2; exit 1; fi
    if curl -fs -o /dev/null --max-time 2 "$1"; then return 0; fi
    sleep 0.1
  done
  echo "$1 did not answer within 30 s:" >&2; cat "$3" >&2; exit 1
}

# --- the CSV ----------------------------------------------------------------------------------
csv="$csv_dir/ingest-$size.csv"
if [[ ! -s $csv ]]; then
  echo "== generating a $size CSV"
  python3 bench/ingest/gen_csv.py "$size" "$csv"
fi
bytes=$(stat -c %s "$csv")
rows=$(($(wc -l < "$csv") - 1))   # no field holds a newline; also warms the page cache
echo "== $size CSV: $bytes bytes, $rows rows"

# --- the S3 server ----------------------------------------------------------------------------
moto_port=$(free_port)
moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
moto=$!; pids+=("$moto")
wait_for "http://127.0.0.1:$moto_port/" "$moto" "$work/moto.log"
endpoint="http://127.0.0.1:$moto_port"

s3_section() {  # BUCKET: [storage] and [s3] of a lakehouse.toml on it (created here)
  curl -fsS -X PUT -o /dev/null "$endpoint/$1"
  printf '[storage]\nbackend = "s3"\n\n[s3]\nendpoint = "%s"\nregion = "us-east-1"\nbucket = "%s"\n' "$endpoint" "$1"
  printf 'access_key_id = "bench"\nsecret_access_key = "bench"\nuse_path_style = true\n'
}

# --- deployments ------------------------------------------------------------------------------
# Each start_* sets `gateway` (its URL) and `procs` ("role:pid" for every process it started).
gateway="" procs=()

start_local() {
  local port; port=$(free_port)
  mkdir -p "$work/data"
  LAKEHOUSE_GATEWAY_BIND="127.0.0.1:$port" LAKEHOUSE_QUERYD_PG_BIND="127.0.0.1:$(free_port)" \
    LAKEHOUSE_LOG_LEVEL=warn "$bin" serve --data-dir "$work/data" >"$work/local.log" 2>&1 &
  pids+=($!); procs=("standalone:$!"); gateway="http://127.0.0.1:$port"
  wait_for "$gateway/health" "$!" "$work/local.log"
}

start_s3_standalone() {
  local port; port=$(free_port)
  { s3_section "standalone"; printf '\n[gateway]\nbind = "127.0.0.1:%s"\n\n[queryd]\npg_bind = "127.0.0.1:%s"\n' "$port" "$(free_port)"; } >"$work/standalone.toml"
  LAKEHOUSE_LOG_LEVEL=warn "$bin" serve --config "$work/standalone.toml" >"$work/s3-standalone.log" 2>&1 &
  pids+=($!); procs=("standalone:$!"); gateway="http://127.0.0.1:$port"
  wait_for "$gateway/health" "$!" "$work/s3-standalone.log"
}

start_s3_split() {
  local role port file="$work/split.toml"
  declare -A ports
  for role in storaged catalogd ingestd queryd vectord gateway; do ports[$role]=$(free_port); done
  local url="http://127.0.0.1"
  {
    s3_section "split"
    printf '\n[storaged]\nbind = "127.0.0.1:%s"\n' "${ports[storaged]}"
    printf '\n[catalogd]\nbind = "127.0.0.1:%s"\n' "${ports[catalogd]}"
    printf '\n[ingestd]\nbind = "127.0.0.1:%s"\ncatalogd_url = "%s:%s"\n' "${ports[ingestd]}" "$url" "${ports[catalogd]}"
    printf '\n[queryd]\nbind = "127.0.0.1:%s"\npg_bind = "127.0.0.1:%s"\ncatalogd_url = "%s:%s"\n' \
      "${ports[queryd]}" "$(free_port)" "$url" "${ports[catalogd]}"
    printf '\n[vectord]\nbind = "127.0.0.1:%s"\n' "${ports[vectord]}"
    printf '\n[gateway]\nbind = "127.0.0.1:%s"\n' "${ports[gateway]}"
    for role in storaged catalogd ingestd queryd vectord; do
      printf '%s_url = "%s:%s"\n' "$role" "$url" "${ports[$role]}"
    done
  } >"$file"
  procs=()
  for role in storaged catalogd ingestd queryd vectord gateway; do
    LAKEHOUSE_LOG_LEVEL=warn "$bin" serve --config "$file" --services "$role" >"$work/split-$role.log" 2>&1 &
    pids+=($!); procs+=("$role:$!")
    wait_for "$url:${ports[$role]}/health" "$!" "$work/split-$role.log"
  done
  gateway="$url:${ports[gateway]}"
}

stop_deployment() {  # SIGTERM every process of the deployment, SIGKILL after 10 s
  local entry pid
  for entry in "${procs[@]}"; do kill -TERM "${entry#*:}" 2>/dev/null || true; done
  for entry in "${procs[@]}"; do
    pid=${entry#*:}
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}

measure() {  # DEPLOYMENT (local | s3-standalone | s3-split)
  local deployment=$1 name code t0 t1 entry rss
  "start_${deployment//-/_}"
  for i in $(seq 1 "$repeat"); do
    name="bench_$i"
    echo "== $deployment: POST /v1/ingest/$name, run $i of $repeat"
    t0=$(now)
    # -T streams the file; an empty Expect: skips curl's wait for "100 Continue".
    code=$(curl -sS -X POST -T "$csv" -H 'Content-Type: text/csv' -H 'Expect:' --max-time 1800 \
      -o "$work/response.json" -w '%{http_code}' "$gateway/v1/ingest/$name?mode=overwrite")
    t1=$(now)
    if [[ $code != 201 ]]; then
      echo "the ingest answered HTTP $code:" >&2; head -c 2000 "$work/response.json" >&2; echo >&2
      tail -n 20 "$work"/*.log >&2; exit 1
    fi
    python3 - "$work/response.json" "$deployment" "$bytes" "$rows" "$t0" "$t1" >> "$results" <<'PY'
import json, sys
path, deployment, csv_bytes, rows, t0, t1 = sys.argv[1:]
m = json.load(open(path))
if int(m["rows"]) != int(rows):
    sys.exit(f"{deployment}: the manifest says {m['rows']} rows, the CSV has {rows}")
print(json.dumps({"deployment": deployment, "csv_bytes": int(csv_bytes),
                  "seconds": float(t1) - float(t0), "parquet_bytes": int(m["bytes"])}))
PY
    echo "   $(tail -n 1 "$results")"
  done
  for entry in "${procs[@]}"; do
    rss=$(peak_rss_mib "${entry#*:}")
    echo "{\"deployment\": \"$deployment\", \"process\": \"${entry%%:*}\", \"peak_rss_mib\": $rss}" >> "$results"
  done
  stop_deployment
}

load=$(cut -d' ' -f1 /proc/loadavg)
echo "== load average at start: $load (on $(nproc) cores)"
measure local
measure s3-standalone
measure s3-split
echo "{\"deployment\": \"moto\", \"process\": \"moto_server\", \"peak_rss_mib\": $(peak_rss_mib "$moto")}" >> "$results"

echo
python3 - "$results" "$command_line" "$size" "$rows" "$load" "${LAKEHOUSE_BIN:-release build}" <<'PY'
import datetime, json, sys
path, command, size, rows, load, build = sys.argv[1:]
lines = [json.loads(l) for l in open(path)]
runs = [l for l in lines if "seconds" in l]
rss = [l for l in lines if "peak_rss_mib" in l]
def best(d):
    return min(r["seconds"] for r in runs if r["deployment"] == d)
csv_bytes = runs[0]["csv_bytes"]
local = csv_bytes / best("local") / 1e6
print(f"## ingest on S3 (issue 15) — {datetime.date.today()}\n")
print(f"Command: `{command}` ({build}; {csv_bytes:,}-byte CSV, {int(rows):,} rows; "
      "moto_server on loopback; page cache warm; fastest of the runs; load average at start "
      f"{load}).\n")
print("| deployment | seconds | MB/s | ÷ local directory | goal |")
print("| --- | --- | --- | --- | --- |")
for d in ["local", "s3-standalone", "s3-split"]:
    rate = csv_bytes / best(d) / 1e6
    ratio = "" if d == "local" else f"**{rate / local:.2f}**"
    goal = "" if d == "local" else ("≥ 0.8 ✓" if rate / local >= 0.8 else "≥ 0.8 ✗")
    print(f"| {d} | {best(d):.2f} | {rate:.0f} | {ratio} | {goal} |")
print("\n| deployment | process | peak RSS MiB | goal ≤ 256 |")
print("| --- | --- | --- | --- |")
for r in rss:
    ok = "" if r["process"] == "moto_server" else ("✓" if r["peak_rss_mib"] <= 256 else "✗")
    print(f"| {r['deployment']} | {r['process']} | {r['peak_rss_mib']:.1f} | {ok} |")
print("\nAll runs (seconds): " + "; ".join(
    f"{d} " + ", ".join(f"{r['seconds']:.2f}" for r in runs if r["deployment"] == d)
    for d in ["local", "s3-standalone", "s3-split"]))
PY
echo
echo "Load average at the end: $(cut -d' ' -f1 /proc/loadavg)."
