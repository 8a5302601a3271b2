#!/usr/bin/env python3
"""The TPC-H benchmark's driver: checks what ingest made of the tables, then runs the 22
queries through the server's `POST /v1/sql` and through DuckDB embedded on the same Parquet
files, query by query, and compares their answers.

    bench/tpch/tpch.py check-load MANIFEST_DIR CSV_DIR OUT.json
    bench/tpch/tpch.py queries --url URL --server-pid PID --manifests DIR --data-dir DIR
                       --sf SF --repeat N --timeout S [--format json|arrow] [--only 1,6]
                       OUT.json

check-load reads the manifests ingest answered (MANIFEST_DIR/{table}.json) and reports, per
table, rows (against the CSV's lines), Parquet bytes and every column whose type is not the
one TPC-H's data calls for (keys and integers int64, decimals float64, dates date, text utf8).

queries: for each query, the server first (one warm-up, then N timed runs), then DuckDB
(`SET threads` = the cores this process may use, as `nproc` counts them: the server's
default; a view per table over
`read_parquet([...])` of exactly the files the manifest lists), the same policy. Interleaving
per query rather than engine after engine keeps a load change on this shared machine from
falling on one engine only. Timed: the server, from sending the request to the last byte of
the response (JSON encoding and HTTP included: that is the API's cost); DuckDB,
`con.sql(q).to_arrow_table()` (every row materialized, the cheapest complete fetch). The
answers compared are the warm-up's. CPU: the server's user+system time from /proc (10 ms
ticks); DuckDB's, this process's getrusage (its threads and the fetch). A query that fails
or passes --timeout on either side is recorded with the error text and the run goes on.
"""

import argparse
import datetime
import decimal
import http.client
import json
import math
import os
import resource
import statistics
import sys
import threading
import time
import urllib.parse

TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]
QUERY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "queries")
REL_TOL = 1e-6
ABS_TOL = 1e-9
HEAD_ROWS = 3  # of each answer, kept in the results for a look at a mismatch

# Column types the data calls for after ingest's inference. l_quantity is DECIMAL in the
# spec, but every value is whole (1..50) and the generator writes "17", so int64 is right.
FLOATS = {"s_acctbal", "c_acctbal", "p_retailprice", "ps_supplycost", "o_totalprice",
          "l_extendedprice", "l_discount", "l_tax"}
DATES = {"o_orderdate", "l_shipdate", "l_commitdate", "l_receiptdate"}
INTS = {"r_regionkey", "n_nationkey", "n_regionkey", "s_suppkey", "s_nationkey", "c_custkey",
        "c_nationkey", "p_partkey", "p_size", "ps_partkey", "ps_suppkey", "ps_availqty",
        "o_orderkey", "o_custkey", "o_shippriority", "l_orderkey", "l_partkey", "l_suppkey",
        "l_linenumber", "l_quantity"}


def expected_type(column):
    if column in FLOATS:
        return "float64"
    if column in DATES:
        return "date"
    if column in INTS:
        return "int64"
    return "utf8"


# --- check-load --------------------------------------------------------------------------------

def check_load(manifest_dir, csv_dir, out):
    tables, problems = [], []
    for t in TABLES:
        with open(os.path.join(manifest_dir, f"{t}.json")) as f:
            manifest = json.load(f)
        with open(os.path.join(csv_dir, f"{t}.csv"), "rb") as f:
            csv_rows = sum(1 for _ in f) - 1  # no TPC-H field holds a newline
        rows = int(manifest.get("rows", -1))
        if rows != csv_rows:
            problems.append(f"{t}: the manifest has {rows} rows, the CSV {csv_rows}")
        fields = manifest["schema"]["fields"]
        schema = {fld["name"]: fld["type"] for fld in fields}
        for name, typ in schema.items():
            want = expected_type(name)
            if typ != want:
                problems.append(f"{t}.{name}: ingested as {typ}, expected {want}")
        tables.append({"table": t, "rows": rows, "files": len(manifest["files"]),
                       "parquet_bytes": sum(int(f.get("bytes", 0)) for f in manifest["files"]),
                       "schema": schema})
    with open(out, "w") as f:
        json.dump({"tables": tables, "problems": problems}, f, indent=1)
    for p in problems:
        print(f"   WARNING: {p}", file=sys.stderr)
    return 0


# --- the two engines ---------------------------------------------------------------------------

def server_cpu(pid):
    """User + system CPU seconds of a process (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


class QueryFailed(Exception):
    pass


class Server:
    """POST /v1/sql over one kept-alive connection (re-opened after any failure)."""

    def __init__(self, url, pid, timeout, fmt):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.pid, self.timeout, self.fmt = pid, timeout, fmt
        self.conn = None

    def _post(self, sql):
        body = json.dumps({"sql": sql, "format": self.fmt}).encode()
        deadline = time.monotonic() + self.timeout
        try:
            try:
                resp, data = self._exchange(body)
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # The server closed the kept-alive connection between two requests: once more
                # on a new one.
                self.close()
                resp, data = self._exchange(body)
        except TimeoutError:
            self.close()
            raise QueryFailed(f"no complete answer within {self.timeout:g} s (client timeout)")
        except http.client.IncompleteRead as e:
            self.close()
            tail = e.partial[-600:].decode("utf-8", "replace")
            raise QueryFailed(f"response cut short after {len(e.partial)} bytes (the query "
                              f"failed after its first rows); its end: {tail}")
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise QueryFailed(f"HTTP request failed: {type(e).__name__}: {e}")
        if time.monotonic() > deadline:
            raise QueryFailed(f"answered after the {self.timeout:g} s timeout")
        if resp.status != 200:
            self.close()  # the server may close it after an error; start afresh
            raise QueryFailed(f"HTTP {resp.status}: {data[:2000].decode('utf-8', 'replace')}")
        return data

    def _exchange(self, body):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.conn.request("POST", "/v1/sql", body, {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        return resp, resp.read()

    def run(self, sql):
        """(seconds, cpu_seconds, raw body) of one request."""
        cpu0, t0 = server_cpu(self.pid), time.perf_counter()
        data = self._post(sql)
        t1, cpu1 = time.perf_counter(), server_cpu(self.pid)
        return t1 - t0, cpu1 - cpu0, data

    def answer(self, data):
        """(column names, rows) of a raw body."""
        if self.fmt == "arrow":
            import pyarrow.ipc
            table = pyarrow.ipc.open_stream(data).read_all()
            return table.column_names, [tuple(r.values()) for r in table.to_pylist()]
        doc = json.loads(data)
        if "error" in doc:
            raise QueryFailed(f"error after rows: {json.dumps(doc['error'])}")
        if doc.get("row_count") != len(doc["rows"]):
            raise QueryFailed(f"row_count {doc.get('row_count')} but {len(doc['rows'])} rows")
        return [c["name"] for c in doc["columns"]], [tuple(r) for r in doc["rows"]]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class DuckDB:
    def __init__(self, manifest_dir, data_dir, threads, timeout):
        import duckdb
        self.duckdb = duckdb
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {int(threads)}")
        self.timeout = timeout
        for t in TABLES:
            with open(os.path.join(manifest_dir, f"{t}.json")) as f:
                files = [os.path.join(data_dir, x["key"]) for x in json.load(f)["files"]]
            listed = ", ".join("'" + p.replace("'", "''") + "'" for p in files)
            self.con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet([{listed}])")

    def _bounded(self, fn):
        timer = threading.Timer(self.timeout, self.con.interrupt)
        timer.start()
        try:
            return fn()
        except self.duckdb.InterruptException:
            raise QueryFailed(f"no answer within {self.timeout:g} s (interrupted)")
        except self.duckdb.Error as e:
            raise QueryFailed(f"{type(e).__name__}: {e}")
        finally:
            timer.cancel()

    def run(self, sql):
        cpu0, t0 = self_cpu(), time.perf_counter()
        table = self._bounded(lambda: self.con.sql(sql).to_arrow_table())
        t1, cpu1 = time.perf_counter(), self_cpu()
        return t1 - t0, cpu1 - cpu0, table

    def answer(self, table):
        return table.column_names, [tuple(r.values()) for r in table.to_pylist()]


def measure(engine, sql, repeat):
    """Warm-up (its answer kept), then `repeat` timed runs."""
    out = {"ms": [], "cpu_ms": [], "rows": None, "error": None}
    try:
        _, _, raw = engine.run(sql)
        columns, rows = engine.answer(raw)
        out["columns"], out["rows"] = columns, len(rows)
        out["head"] = [[norm(v) for v in row] for row in rows[:HEAD_ROWS]]
        for _ in range(repeat):
            seconds, cpu, _ = engine.run(sql)
            out["ms"].append(round(seconds * 1000, 2))
            out["cpu_ms"].append(round(cpu * 1000, 1))
    except QueryFailed as e:
        out["error"] = str(e)
        return out, None
    return out, rows


# --- comparing answers ---------------------------------------------------------------------------

def norm(v):
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    return v


def as_number(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def same_value(a, b):
    a, b = norm(a), norm(b)
    if a == b:
        return True
    x, y = as_number(a), as_number(b)
    if x is None or y is None or not (isinstance(a, (int, float)) or isinstance(b, (int, float))):
        return False
    if math.isnan(x) and math.isnan(y):
        return True
    return math.isclose(x, y, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def sort_key(row):
    key = []
    for v in map(norm, row):
        n = as_number(v) if isinstance(v, (int, float)) else None
        key.append((0, float(f"{n:.6g}"), "") if n is not None else (1, 0.0, str(v)))
    return key


def first_difference(ours, theirs):
    for i, (a, b) in enumerate(zip(ours, theirs)):
        for j, (x, y) in enumerate(zip(a, b)):
            if not same_value(x, y):
                return i, j, x, y
    return None


def compare(ours_cols, ours, duck_cols, duck):
    """'ok', 'ok (rows in another order: ties in ORDER BY)', or 'mismatch: ...'."""
    if len(ours_cols) != len(duck_cols):
        return f"mismatch: {len(ours_cols)} columns {ours_cols}, DuckDB {len(duck_cols)} {duck_cols}"
    if len(ours) != len(duck):
        return f"mismatch: {len(ours)} rows, DuckDB {len(duck)}"
    diff = first_difference(ours, duck)
    if diff is None:
        return "ok"
    if first_difference(sorted(ours, key=sort_key), sorted(duck, key=sort_key)) is None:
        return "ok (rows in another order: ties in ORDER BY)"
    i, j, x, y = diff
    return (f"mismatch: row {i + 1}, column {ours_cols[j]!r}: ours {x!r}, DuckDB {y!r} "
            f"(tolerance {REL_TOL:g} relative)")


# --- queries -------------------------------------------------------------------------------------

def query_text(n, sf):
    with open(os.path.join(QUERY_DIR, f"q{n:02d}.sql")) as f:
        sql = f.read()
    # Q11's FRACTION is 0.0001 / SF (spec 2.4.11.3).
    return sql.replace(":fraction", repr(0.0001 / sf))


def summary(ms):
    return {"min": min(ms), "median": statistics.median(ms)} if ms else None


def run_queries(args):
    only = [int(x) for x in args.only.split(",")] if args.only else list(range(1, 23))
    threads = len(os.sched_getaffinity(0))  # what nproc says; the server uses as many
    server = Server(args.url, args.server_pid, args.timeout, args.format)
    duck = DuckDB(args.manifests, args.data_dir, threads, args.timeout)
    results = []
    for n in only:
        sql = query_text(n, args.sf)
        ours, ours_rows = measure(server, sql, args.repeat)
        theirs, duck_rows = measure(duck, sql, args.repeat)
        if ours_rows is not None and duck_rows is not None:
            check = compare(ours["columns"], ours_rows, theirs["columns"], duck_rows)
        else:
            check = "not compared: " + ("ours failed" if ours_rows is None else "DuckDB failed")
        r = {"query": n, "ours": ours, "duckdb": theirs, "check": check}
        for side in ("ours", "duckdb"):
            r[side]["summary"] = summary(r[side]["ms"])
        results.append(r)
        print(f"   Q{n:02d}: ours {fmt_side(ours)} | DuckDB {fmt_side(theirs)} | {check}",
              flush=True)
    server.close()
    doc = {"engine_threads": threads, "repeat": args.repeat, "timeout_s": args.timeout,
           "format": args.format, "scale_factor": args.sf,
           "duckdb_version": duck.duckdb.__version__, "queries": results}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    return 0


def fmt_side(side):
    if side["error"]:
        return "FAILED: " + side["error"][:300]
    s = summary(side["ms"])
    return f"{s['min']:.0f} ms (median {s['median']:.0f}), {side['rows']} rows"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check-load")
    c.add_argument("manifests")
    c.add_argument("csv_dir")
    c.add_argument("out")
    q = sub.add_parser("queries")
    q.add_argument("--url", required=True)
    q.add_argument("--server-pid", type=int, required=True)
    q.add_argument("--manifests", required=True)
    q.add_argument("--data-dir", required=True)
    q.add_argument("--sf", type=float, required=True)
    q.add_argument("--repeat", type=int, default=3)
    q.add_argument("--timeout", type=float, default=300)
    q.add_argument("--format", choices=["json", "arrow"], default="json")
    q.add_argument("--only", default="")
    q.add_argument("out")
    args = p.parse_args()
    if args.cmd == "check-load":
        return check_load(args.manifests, args.csv_dir, args.out)
    return run_queries(args)


if __name__ == "__main__":
    sys.exit(main())
