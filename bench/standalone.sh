# Sourced by benchmark scripts: `standalone BIN DIR` starts `BIN serve --data-dir DIR/data`
# on free loopback ports (log in DIR/server.log), waits until it is healthy, and sets
# `port`; the server is stopped when the script exits.
server=""
stop_standalone() {
  if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
}
trap stop_standalone EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
standalone() {
  local bin=$1 dir=$2
  port=$(free_port)
  LAKEHOUSE_GATEWAY_BIND="127.0.0.1:$port" LAKEHOUSE_QUERYD_PG_BIND="127.0.0.1:$(free_port)" \
    LAKEHOUSE_LOG_LEVEL=warn "$bin" serve --data-dir "$dir/data" >"$dir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$port/health" && return 0
    kill -0 "$server" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "the server did not become healthy (log: $dir/server.log)" >&2
  exit 1
}
