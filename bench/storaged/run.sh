#!/usr/bin/env bash
# storaged benchmark (issue 2): 1 GiB PUT/GET through storaged vs cp/cat of the same file
# on the same disk, and 4 KiB GETs under wrk vs nginx serving the same files. Ratios, not
# absolute numbers, are the result: both sides run in the same run on the same machine.
#
#   bench/storaged/run.sh            # needs wrk and nginx (installed from Debian if missing)
#
# Env: BENCH_DIR (default /var/tmp/lakehouse-bench/storaged, must be on a real disk),
#      SIZE_MIB (default 1024), WRK_SECONDS (default 10), REPEAT (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
bench=${BENCH_DIR:-/var/tmp/lakehouse-bench/storaged}
size_mib=${SIZE_MIB:-1024}
wrk_seconds=${WRK_SECONDS:-10}
repeat=${REPEAT:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/lakehouse-target}"

for tool in wrk nginx curl; do
  if ! command -v "$tool" >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light curl >/dev/null
  fi
done
cargo build --release --locked -p lakehouse
bin="$CARGO_TARGET_DIR/release/lakehouse"

rm -rf "$bench" && mkdir -p "$bench/data" "$bench/raw"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
mbps() { python3 -c "print(f'{$1/1048576/($3-$2):.0f}')"; }
best() { sort -g | tail -1; }   # highest throughput of the repeats
peak_rss_mib() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

echo "== generating a ${size_mib} MiB file"
head -c "$((size_mib << 20))" /dev/urandom > "$bench/src.bin"
bytes=$((size_mib << 20))
cat "$bench/src.bin" > /dev/null  # warm the page cache for every reader alike

port=$(free_port)
LAKEHOUSE_GATEWAY_BIND="127.0.0.1:$port" LAKEHOUSE_QUERYD_PG_BIND="127.0.0.1:$(free_port)" \
  LAKEHOUSE_LOG_LEVEL=warn "$bin" serve --data-dir "$bench/data" &
server=$!; pids+=("$server")
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
base="http://127.0.0.1:$port/v1/storage"

echo "== 1 GiB PUT / GET, best of $repeat"
cp_rates=(); cpsync_rates=(); put_rates=(); cat_rates=(); get_rates=()
for i in $(seq 1 "$repeat"); do
  rm -f "$bench/raw/copy.bin"; t0=$(now); cp "$bench/src.bin" "$bench/raw/copy.bin"; t1=$(now)
  cp_rates+=("$(mbps $bytes $t0 $t1)")
  rm -f "$bench/raw/copy.bin"; t0=$(now); cp "$bench/src.bin" "$bench/raw/copy.bin"; sync "$bench/raw/copy.bin"; t1=$(now)
  cpsync_rates+=("$(mbps $bytes $t0 $t1)")
  t0=$(now); curl -fsS -o /dev/null -T "$bench/src.bin" "$base/big/object.bin"; t1=$(now)
  put_rates+=("$(mbps $bytes $t0 $t1)")
  t0=$(now); cat "$bench/raw/copy.bin" > /dev/null; t1=$(now)
  cat_rates+=("$(mbps $bytes $t0 $t1)")
  t0=$(now); curl -fsS -o /dev/null "$base/big/object.bin"; t1=$(now)
  get_rates+=("$(mbps $bytes $t0 $t1)")
done
cmp -s "$bench/src.bin" "$bench/data/big/object.bin" || { echo "stored object differs from the source"; exit 1; }
put_rss=$(peak_rss_mib "$server")
cp_best=$(printf '%s\n' "${cp_rates[@]}" | best); cpsync_best=$(printf '%s\n' "${cpsync_rates[@]}" | best)
put_best=$(printf '%s\n' "${put_rates[@]}" | best); cat_best=$(printf '%s\n' "${cat_rates[@]}" | best)
get_best=$(printf '%s\n' "${get_rates[@]}" | best)

echo "== nginx serving the same directory"
nport=$(free_port)
mkdir -p "$bench/nginx"
cat > "$bench/nginx/nginx.conf" <<CONF
worker_processes auto;
pid $bench/nginx/nginx.pid;
error_log $bench/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $bench/nginx/body;
  proxy_temp_path $bench/nginx/proxy;
  fastcgi_temp_path $bench/nginx/fastcgi;
  uwsgi_temp_path $bench/nginx/uwsgi;
  scgi_temp_path $bench/nginx/scgi;
  server {
    listen 127.0.0.1:$nport;
    location /v1/storage/ { alias $bench/data/; }
  }
}
CONF
nginx -c "$bench/nginx/nginx.conf" -g 'daemon off;' &
pids+=("$!")
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$nport/v1/storage/big/object.bin" -r 0-0 && break; sleep 0.1; done
nginx_get_rates=()
for i in $(seq 1 "$repeat"); do
  t0=$(now); curl -fsS -o /dev/null "http://127.0.0.1:$nport/v1/storage/big/object.bin"; t1=$(now)
  nginx_get_rates+=("$(mbps $bytes $t0 $t1)")
done
nginx_get_best=$(printf '%s\n' "${nginx_get_rates[@]}" | best)

echo "== 4 KiB GETs under wrk -c 32, ${wrk_seconds}s each"
for i in $(seq 0 999); do head -c 4096 /dev/urandom > "$bench/obj"; curl -fsS -o /dev/null -T "$bench/obj" "$base/small/o$i"; done
cat > "$bench/rotate.lua" <<'LUA'
local i = 0
request = function()
  i = (i + 1) % 1000
  return wrk.format("GET", "/v1/storage/small/o" .. i)
end
LUA
rps() { wrk -t 2 -c 32 -d "${wrk_seconds}s" -s "$bench/rotate.lua" "$1" | awk '/Requests\/sec/ {print $2}'; }
lat() { wrk -t 2 -c 32 -d "${wrk_seconds}s" --latency -s "$bench/rotate.lua" "$1" | awk '/ 99%/ {print $2}'; }
ours_rps=$(rps "http://127.0.0.1:$port"); nginx_rps=$(rps "http://127.0.0.1:$nport")
get_rss=$(peak_rss_mib "$server")

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
cat <<REPORT

| measure | storaged | peer | ratio (goal) |
| --- | --- | --- | --- |
| PUT ${size_mib} MiB, MB/s (fsynced) | $put_best | cp + sync: $cpsync_best | $(ratio $put_best $cpsync_best) (≥ 0.8) |
| PUT ${size_mib} MiB, MB/s | $put_best | cp (no fsync): $cp_best | $(ratio $put_best $cp_best) |
| GET ${size_mib} MiB, MB/s | $get_best | cat > /dev/null: $cat_best | $(ratio $get_best $cat_best) (≥ 0.8) |
| GET ${size_mib} MiB, MB/s | $get_best | nginx (sendfile): $nginx_get_best | $(ratio $get_best $nginx_get_best) |
| 4 KiB GET, requests/s (wrk -c 32) | $ours_rps | nginx: $nginx_rps | $(ratio $ours_rps $nginx_rps) (≥ 0.8) |
| server peak RSS after the 1 GiB PUT+GET, MiB | $put_rss | | (≤ 64) |
| server peak RSS after wrk, MiB | $get_rss | | |

PUT and GET by curl over loopback (the client's own cost is counted against storaged);
best of $repeat; page cache warm for every reader.
REPORT
