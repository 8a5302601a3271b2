#!/usr/bin/env python3
"""Renders the ingest benchmark's results (JSON lines from run.sh) as a markdown section for
docs/benchmarks.md.

    bench/ingest/report.py RESULTS.jsonl "COMMAND" SIZE [GROW]

Each line is one measurement: {"size", "csv_bytes", "rows", "who", "seconds", "cpu_seconds",
"peak_rss_mib", "parquet_bytes"}, or {"size", "who": "lakehouse", "missing": "why"} when the
server could not be measured. Throughput is CSV bytes / seconds with MB = 10^6; of the
repeats, the fastest counts (peak RSS: the highest).
"""

import datetime
import json
import os
import platform
import sys

PEERS = [
    ("duckdb", "DuckDB `COPY (SELECT * FROM read_csv(f)) TO 'f.parquet'` (snappy, its default)"),
    ("duckdb-zstd", "DuckDB, same with `(FORMAT parquet, COMPRESSION zstd)`"),
    ("pyarrow", "pyarrow `csv.open_csv` → `ParquetWriter(compression='zstd')`, streaming"),
]
SERVER = "lakehouse `POST /v1/ingest/{name}` (curl -T, zstd)"
GOAL_RATIO = 1.0
GOAL_RSS_MIB = 256


def best(runs):
    """Fastest run, with the highest peak RSS of all runs."""
    fastest = dict(min(runs, key=lambda r: r["seconds"]))
    fastest["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    fastest["count"] = len(runs)
    return fastest


def mbps(r):
    return r["csv_bytes"] / 1e6 / r["seconds"]


def row(label, r, server=None):
    ratio = f"{mbps(server) / mbps(r):.2f}" if server else ""
    return (f"| {label} | {r['seconds']:.2f} | {mbps(r):.0f} | {r['cpu_seconds']:.1f} | "
            f"{r['peak_rss_mib']:.0f} | {r['parquet_bytes'] / 1e6:.0f} | {ratio} |")


def versions():
    found = []
    for mod in ("duckdb", "pyarrow"):
        try:
            found.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            pass
    return ", ".join(found)


def main():
    path, command, size = sys.argv[1:4]
    grow = sys.argv[4] if len(sys.argv) > 4 else ""
    with open(path) as f:
        results = [json.loads(line) for line in f if line.strip()]
    at = {}
    missing = {}
    for r in results:
        if "missing" in r:
            missing[r["size"]] = r["missing"]
        else:
            at.setdefault((r["size"], r["who"]), []).append(r)
    base = at.get((size, "duckdb")) or at.get((size, "lakehouse"))
    if not base:
        sys.exit("report: no results")
    base = base[0]
    server = best(at[(size, "lakehouse")]) if (size, "lakehouse") in at else None

    out = [f"## ingest — {datetime.date.today().isoformat()}", ""]
    out.append(
        f"Command: `{command}` ({'given binary' if 'LAKEHOUSE_BIN=' in command else 'release build'}; {base['csv_bytes']:,}-byte CSV, {base['rows']:,} rows "
        f"from `bench/ingest/gen_csv.py {size}`; page cache warm; fastest of "
        f"{len(at.get((size, 'duckdb'), [base]))}; {os.cpu_count()} cores; {versions()}; "
        f"Python {platform.python_version()}).")
    out += ["", f"| {size} CSV → Parquet | seconds | MB/s | CPU s | peak RSS MiB | Parquet MB | "
                "lakehouse ÷ this (MB/s) |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    if server:
        out.append(row(SERVER, server))
    else:
        out.append(f"| {SERVER} | — | — | — | — | — | {missing.get(size, 'not measured')} |")
    for key, label in PEERS:
        if (size, key) in at:
            out.append(row(label, best(at[(size, key)]), server))
    grown = best(at[(grow, "lakehouse")]) if grow and (grow, "lakehouse") in at else None
    if grown:
        out.append(row(f"lakehouse, {grow} CSV ({grown['csv_bytes']:,} bytes)", grown))
    elif grow:
        out.append(f"| lakehouse, {grow} CSV | — | — | — | — | — | {missing.get(grow, 'not measured')} |")

    out += ["", "CPU s: user + system time of the converting process during the conversion (the "
                "server's from /proc; curl's own CPU is not counted). Peak RSS: VmHWM of that "
                "process (the peers' includes ~40-55 MiB of Python and imports; the server's "
                "is read right after its ingests, from a server started fresh for that size). "
                "MB = 10^6 bytes of CSV.", ""]
    if server:
        duck = best(at[(size, "duckdb")]) if (size, "duckdb") in at else None
        if duck:
            ratio = mbps(server) / mbps(duck)
            out.append(f"- lakehouse ÷ DuckDB: **{ratio:.2f}×** (goal ≥ {GOAL_RATIO:.1f}×) "
                       f"{'✓' if ratio >= GOAL_RATIO else '✗'}")
        rss = [server["peak_rss_mib"]] + ([grown["peak_rss_mib"]] if grown else [])
        ok = max(rss) <= GOAL_RSS_MIB
        sizes = f"{size}" + (f" / {grow}" if grown else "")
        out.append(f"- server peak RSS at {sizes}: **{' / '.join(f'{m:.0f}' for m in rss)} MiB** "
                   f"(goal ≤ {GOAL_RSS_MIB} MiB and flat) {'✓' if ok else '✗'}")
    else:
        out.append(f"- lakehouse not measured: {missing.get(size, 'no result')}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
