"""Reads after many appends: our `SELECT count(*)` against PyPI `deltalake` on the same table.

Driven by bench/delta/run.sh, against a running server. Appends a small CSV (ROWS rows) to a
fresh dataset until it has 1, 10, 100, 1,000 ... versions (the marks given); at each mark it
measures, best and median of REPEAT:

- lakehouse: `POST /v1/sql {"sql": "SELECT count(*) FROM t"}` over HTTP, wall time from
  request to answer (planning reads the table's log: the registration, a LIST of entries
  newer than the cached version, and the data files' list);
- deltalake: `DeltaTable(path)` then `count_rows()` of its dataset, in this process, a fresh
  open each time (it reads the last checkpoint and the entries after it, as a new reader of
  our table would);
- the append itself (`POST /v1/ingest/t?mode=append`, the median of the last 10 before the
  mark): the commit reads the table, HEADs the new file and writes one log entry.

Both answers must equal the rows appended. Prints one JSON line per mark.
"""

import json
import statistics
import sys
import time
import urllib.request

import deltalake


def post(url, body, content_type):
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status, response.read()


def main():
    base, table_path, marks, rows, repeat = (
        sys.argv[1],
        sys.argv[2],
        [int(m) for m in sys.argv[3].split(",")],
        int(sys.argv[4]),
        int(sys.argv[5]),
    )
    csv = ("id,city,price\n" + "".join(f"{i},c{i % 7},{i * 0.5}\n" for i in range(rows))).encode()
    sql = json.dumps({"sql": "SELECT count(*) AS n FROM t"}).encode()
    appended = 0
    append_seconds = []
    for mark in marks:
        while appended < mark:
            mode = "create" if appended == 0 else "append"
            t0 = time.perf_counter()
            status, _ = post(f"{base}/v1/ingest/t?mode={mode}", csv, "text/csv")
            append_seconds.append(time.perf_counter() - t0)
            if status != 201:
                sys.exit(f"append {appended + 1}: status {status}")
            appended += 1
        ours, theirs = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            status, body = post(f"{base}/v1/sql", sql, "application/json")
            ours.append(time.perf_counter() - t0)
            n = json.loads(body)["rows"][0][0]
            if n != appended * rows:
                sys.exit(f"lakehouse counted {n} rows after {appended} appends of {rows}")
            t0 = time.perf_counter()
            n = deltalake.DeltaTable(table_path).to_pyarrow_dataset().count_rows()
            theirs.append(time.perf_counter() - t0)
            if n != appended * rows:
                sys.exit(f"deltalake counted {n} rows after {appended} appends of {rows}")
        last = append_seconds[-10:]
        print(
            json.dumps(
                {
                    "versions": appended,
                    "lakehouse_count_ms": {
                        "best": round(min(ours) * 1000, 2),
                        "median": round(statistics.median(ours) * 1000, 2),
                    },
                    "deltalake_count_ms": {
                        "best": round(min(theirs) * 1000, 2),
                        "median": round(statistics.median(theirs) * 1000, 2),
                    },
                    "append_ms_median_last_10": round(statistics.median(last) * 1000, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
