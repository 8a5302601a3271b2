#!/usr/bin/env bash
# Gateway benchmark (issue 6): the gateway's hop in a split deployment against calling the
# service directly, in one run on one machine. Six processes of the release binary on a
# local data directory (storaged owns it), the Go system's layout on free ports.
#
#   bench/gateway/run.sh     # needs wrk (installed from Debian if missing)
#
# Measured, each pair alternating direct / through the gateway, REPEAT rounds:
#   - a small SQL query (SELECT count(*) of a 3-row dataset) under wrk: p50, p99, requests/s;
#   - a 4 KiB GET (1,000 objects in rotation) under wrk: p50, p99, requests/s;
#   - a 1 GiB PUT by curl: MB/s, and the gateway's peak RSS (bodies stream through it).
# The result is the median of the rounds and the gateway ÷ direct ratios
# (goal: ≤ 1.10 added latency, ≥ 0.9 throughput).
#
# Env: BENCH_DIR (default /var/tmp/lakehouse-bench/gateway, on a real disk), SIZE_MIB
#      (default 1024), WRK_SECONDS (default 10), WRK_CONNECTIONS (default 16; 1 measures the
#      hop on an idle machine, one request at a time), REPEAT (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
bench=${BENCH_DIR:-/var/tmp/lakehouse-bench/gateway}
size_mib=${SIZE_MIB:-1024}
wrk_seconds=${WRK_SECONDS:-10}
conns=${WRK_CONNECTIONS:-16}
threads=$(( conns < 2 ? conns : 2 ))
repeat=${REPEAT:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lakehouse-target}"

if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked -p lakehouse
bin="$CARGO_TARGET_DIR/release/lakehouse"

rm -rf "$bench" && mkdir -p "$bench/data"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

gw=$(free_port); st=$(free_port); ca=$(free_port); ing=$(free_port); qd=$(free_port); vd=$(free_port); pg=$(free_port)
cat > "$bench/lakehouse.toml" <<TOML
[gateway]
bind = "127.0.0.1:$gw"
storaged_url = "http://127.0.0.1:$st"
catalogd_url = "http://127.0.0.1:$ca"
ingestd_url = "http://127.0.0.1:$ing"
queryd_url = "http://127.0.0.1:$qd"
vectord_url = "http://127.0.0.1:$vd"
[storaged]
bind = "127.0.0.1:$st"
[catalogd]
bind = "127.0.0.1:$ca"
storaged_url = "http://127.0.0.1:$st"
[ingestd]
bind = "127.0.0.1:$ing"
storaged_url = "http://127.0.0.1:$st"
catalogd_url = "http://127.0.0.1:$ca"
[queryd]
bind = "127.0.0.1:$qd"
pg_bind = "127.0.0.1:$pg"
catalogd_url = "http://127.0.0.1:$ca"
[vectord]
bind = "127.0.0.1:$vd"
storaged_url = "http://127.0.0.1:$st"
[storage]
backend = "local"
data_dir = "$bench/data"
[log]
level = "warn"
TOML
declare -A pid_of
for role in storaged catalogd ingestd queryd vectord gateway; do
  "$bin" serve --config "$bench/lakehouse.toml" --services "$role" >"$bench/$role.log" 2>&1 &
  pids+=("$!"); pid_of[$role]=$!
  sleep 0.3
done
for _ in $(seq 1 150); do curl -fs -o /dev/null "http://127.0.0.1:$gw/health" && break; sleep 0.2; done
curl -fsS -o /dev/null "http://127.0.0.1:$gw/health" || { echo "the split deployment did not start"; tail "$bench"/*.log; exit 1; }
peak_rss_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

echo "== data: a 3-row dataset, 1,000 objects of 4 KiB, a ${size_mib} MiB file"
printf 'id,name,price\n1,apple,0.5\n2,pear,0.75\n3,plum,0.2\n' > "$bench/small.csv"
curl -fsS -o /dev/null -X POST -T "$bench/small.csv" -H 'Content-Type: text/csv' "http://127.0.0.1:$gw/v1/ingest/small"
for i in $(seq 0 999); do head -c 4096 /dev/urandom > "$bench/obj"; curl -fsS -o /dev/null -T "$bench/obj" "http://127.0.0.1:$st/v1/storage/small/o$i"; done
head -c "$((size_mib << 20))" /dev/urandom > "$bench/big.bin"
cat "$bench/big.bin" > /dev/null
cat > "$bench/rotate.lua" <<'LUA'
local i = 0
request = function()
  i = (i + 1) % 1000
  return wrk.format("GET", "/v1/storage/small/o" .. i)
end
LUA
sql_body='{"sql": "SELECT count(*) AS n FROM small"}'
curl -fsS "http://127.0.0.1:$qd/v1/sql" -d "$sql_body" | grep -q '"rows":\[\[3\]\]' || { echo "the SQL query does not answer 3"; exit 1; }

# wrk --latency → "p50_ms p99_ms rps"
wrk_run() {
  local out
  out=$(WRK_SQL_BODY="$sql_body" wrk -t "$threads" -c "$conns" -d "${wrk_seconds}s" --latency -s "$1" "$2")
  echo "$out" | awk '
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    / 50%/ {p50=ms($2)} / 99%/ {p99=ms($2)} /Requests\/sec/ {rps=$2}
    END {printf "%.3f %.3f %.0f\n", p50, p99, rps}'
}
put_mbps() {
  local t0 t1
  t0=$(now); curl -fsS -o /dev/null -T "$bench/big.bin" "$1"; t1=$(now)
  python3 -c "print(f'{$size_mib * 1048576 / 1e6 / ($t1 - $t0):.0f}')"
}

: > "$bench/rounds.txt"
for round in $(seq 1 "$repeat"); do
  echo "== round $round of $repeat"
  echo "sql direct $(wrk_run bench/tpch/wrk_sql.lua "http://127.0.0.1:$qd/v1/sql")" >> "$bench/rounds.txt"
  echo "sql gateway $(wrk_run bench/tpch/wrk_sql.lua "http://127.0.0.1:$gw/v1/sql")" >> "$bench/rounds.txt"
  echo "get direct $(wrk_run "$bench/rotate.lua" "http://127.0.0.1:$st")" >> "$bench/rounds.txt"
  echo "get gateway $(wrk_run "$bench/rotate.lua" "http://127.0.0.1:$gw")" >> "$bench/rounds.txt"
  echo "put direct $(put_mbps "http://127.0.0.1:$st/v1/storage/big/direct.bin")" >> "$bench/rounds.txt"
  echo "put gateway $(put_mbps "http://127.0.0.1:$gw/v1/storage/big/gateway.bin")" >> "$bench/rounds.txt"
done
cmp -s "$bench/big.bin" "$bench/data/big/gateway.bin" || { echo "the object PUT through the gateway differs from the source"; exit 1; }
gateway_rss=$(peak_rss_mib "${pid_of[gateway]}")
cat "$bench/rounds.txt"

python3 - "$bench/rounds.txt" "$size_mib" "$conns" "$wrk_seconds" "$repeat" "$gateway_rss" <<'PY'
import statistics, sys
path, size, conns, secs, repeat, rss = sys.argv[1:]
rows = {}
for line in open(path):
    what, via, *values = line.split()
    rows.setdefault((what, via), []).append([float(v) for v in values])
med = lambda what, via, i: statistics.median(r[i] for r in rows[(what, via)])
def line(label, what, i, goal, fmt="{:.2f}"):
    d, g = med(what, "direct", i), med(what, "gateway", i)
    return f"| {label} | {fmt.format(d)} | {fmt.format(g)} | {g / d:.2f} | {goal} |"
print()
print("| measure | direct | through the gateway | gateway ÷ direct | goal |")
print("| --- | --- | --- | --- | --- |")
threads = min(int(conns), 2)
print(line(f"small SQL, p50 ms (wrk -t{threads} -c{conns})", "sql", 0, "≤ 1.10"))
print(line("small SQL, p99 ms", "sql", 1, "≤ 1.10"))
print(line("small SQL, requests/s", "sql", 2, "", "{:,.0f}"))
print(line(f"4 KiB GET, p50 ms (wrk -t{threads} -c{conns})", "get", 0, "≤ 1.10"))
print(line("4 KiB GET, p99 ms", "get", 1, "≤ 1.10"))
print(line("4 KiB GET, requests/s", "get", 2, "", "{:,.0f}"))
print(line(f"{size} MiB PUT (curl), MB/s", "put", 0, "≥ 0.9", "{:,.0f}"))
print()
print(f"Medians of {repeat} rounds, each alternating direct and gateway; wrk runs {secs} s. "
      f"Gateway peak RSS over the whole run (every PUT streamed through it): {rss} MiB.")
PY
