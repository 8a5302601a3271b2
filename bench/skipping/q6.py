"""TPC-H Q6 with and without file skipping; driven by bench/skipping/run.sh.

Loads SF1 lineitem three times into a running server:
- `whole`: one create of the CSV (every file spans all seven years);
- `years`: the CSV split by l_shipdate year (cached beside it), one create and six
  appends — unpartitioned, but each file holds one year;
- `by_year`: the CSV with a column `l_year` (the year of l_shipdate) added, created with
  `partition_by=l_year` — one ingest, its rows routed to seven partitions.
Then, best and median of REPEAT after a warm-up, for each table: Q6 over HTTP (wall time
from request to answer), the number of distinct files its plan opens (EXPLAIN), and DuckDB running
Q6 on the same table's Parquet files (the manifest's keys) in this process; on `by_year`
also Q6 with `and l_year = 1994` (partition pruning; DuckDB reads l_year from the Hive
paths). Answers must agree. Prints one JSON line per table and query. Env TABLES (default
whole,years,by_year) loads fewer (an older binary without partition_by: whole,years).
"""

import json
import os
import re
import statistics
import sys
import time
import urllib.request

import duckdb

Q6 = """select sum(l_extendedprice * l_discount) as revenue from {table}
where l_shipdate >= date '1994-01-01' and l_shipdate < date '1994-01-01' + interval '1' year
and l_discount between 0.06 - 0.01 and 0.06 + 0.01 and l_quantity < 24"""


def post(url, body, content_type):
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    request.add_header("Expect", "")
    with urllib.request.urlopen(request, timeout=1200) as response:
        return response.status, response.read()


def sql(base, text):
    status, body = post(f"{base}/v1/sql", json.dumps({"sql": text}).encode(), "application/json")
    if status != 200:
        sys.exit(f"{text}: {status} {body[:300]}")
    return json.loads(body)["rows"]


def split_by_year(source, out_dir):
    """`out_dir/YYYY.csv` for each year of l_shipdate, with the header; once. (Only the last
    column, l_comment, can hold a quoted comma, so the date is the 11th comma-split field.)"""
    done = os.path.join(out_dir, "done")
    if not os.path.exists(done):
        files = {}
        with open(source) as f:
            header = next(f)
            at = header.rstrip("\n").split(",").index("l_shipdate")
            for line in f:
                year = line.split(",", at + 1)[at][:4]
                out = files.get(year)
                if out is None:
                    out = files[year] = open(os.path.join(out_dir, f"{year}.csv"), "w")
                    out.write(header)
                out.write(line)
        for out in files.values():
            out.close()
        open(done, "w").close()
    names = [n for n in os.listdir(out_dir) if len(n) == 8 and n.endswith(".csv") and n[:4].isdigit()]
    return sorted(os.path.join(out_dir, n) for n in names)


def with_year(source, out_dir):
    """`out_dir/with_year.csv`: the CSV with `l_year` appended to every line; once."""
    path = os.path.join(out_dir, "with_year.csv")
    if not os.path.exists(path):
        with open(source) as f, open(path + ".tmp", "w") as out:
            header = next(f)
            at = header.rstrip("\n").split(",").index("l_shipdate")
            out.write(header.rstrip("\n") + ",l_year\n")
            for line in f:
                out.write(line.rstrip("\n") + "," + line.split(",", at + 1)[at][:4] + "\n")
        os.rename(path + ".tmp", path)
    return path


def ingest(base, table, path, mode, query=""):
    with open(path, "rb") as f:
        status, body = post(f"{base}/v1/ingest/{table}?mode={mode}{query}", f.read(), "text/csv")
    if status != 201:
        sys.exit(f"ingest {table} {path}: {status} {body[:300]}")
    return json.loads(body)


def timed(run, repeat):
    run()
    seconds, answer = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        answer = run()
        seconds.append(time.perf_counter() - t0)
    return answer, {
        "best": round(min(seconds) * 1000, 1),
        "median": round(statistics.median(seconds) * 1000, 1),
    }


def main():
    base, data, source, years_dir, repeat = sys.argv[1:6]
    repeat = int(repeat)
    tables = os.environ.get("TABLES", "whole,years,by_year").split(",")
    loads = []
    if "whole" in tables:
        t0 = time.perf_counter()
        m = ingest(base, "whole", source, "create")
        loads.append(("whole", m, time.perf_counter() - t0))
    if "years" in tables:
        years = split_by_year(source, years_dir)
        t0 = time.perf_counter()
        for i, path in enumerate(years):
            m = ingest(base, "years", path, "create" if i == 0 else "append")
        loads.append(("years", m, time.perf_counter() - t0))
    if "by_year" in tables:
        path = with_year(source, years_dir)
        t0 = time.perf_counter()
        m = ingest(base, "by_year", path, "create", "&partition_by=l_year")
        loads.append(("by_year", m, time.perf_counter() - t0))
    for table, m, load_s in loads:
        files = m["files"] if "files" in m else m["current"]["files"]
        keys = [os.path.join(data, f["key"]) for f in files]
        con = duckdb.connect()
        con.execute(
            f"create view lineitem as select * from read_parquet({keys!r}, "
            f"hive_partitioning = {'true' if table == 'by_year' else 'false'})"
        )
        queries = [("q6", Q6)]
        if table == "by_year":
            queries.append(("q6_and_l_year", Q6 + " and l_year = 1994"))
        for label, query in queries:
            plan = json.dumps(sql(base, "explain " + query.format(table=table)))
            ours, ours_ms = timed(lambda: sql(base, query.format(table=table))[0][0], repeat)
            theirs, duck_ms = timed(
                lambda: con.execute(query.format(table="lineitem")).fetchone()[0], repeat
            )
            if abs(float(ours) - float(theirs)) > 1e-6 * abs(float(theirs)):
                sys.exit(f"{table} {label}: lakehouse {ours} != duckdb {theirs}")
            print(json.dumps({
                "table": table,
                "query": label,
                "files": len(keys),
                "files_opened": len(set(re.findall(r"[\w/=.-]+\.parquet", plan))),
                "load_s": round(load_s, 1),
                "lakehouse_ms": ours_ms,
                "duckdb_ms": duck_ms,
                "ratio_best": round(ours_ms["best"] / duck_ms["best"], 2),
                "revenue": ours,
            }), flush=True)


if __name__ == "__main__":
    main()
