#!/usr/bin/env python3
"""Renders the TPC-H benchmark's results as a markdown section for docs/benchmarks.md.

    bench/tpch/report.py --work RUN_DIR --save OUT.json --command "..." [--load-start X ...]
    bench/tpch/report.py OUT.json          # render a saved run again

With --work, gathers what run.sh left in RUN_DIR (phases.jsonl, ingest.jsonl, load.json,
queries.json, wrk/NAME.{txt,path,body}) into one JSON document, saves it, and renders it.
Per query the fastest timed run counts (the median is shown beside it); the ratio is ours ÷
DuckDB; the geometric mean is over the queries both engines answered.
"""

import argparse
import datetime
import glob
import json
import math
import os
import platform
import re
import sys

GOAL = 1.0


# --- gathering ---------------------------------------------------------------------------------

def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        return None
    return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]


def parse_wrk(text):
    out = {"requests_per_s": None, "p50_ms": None, "p99_ms": None, "requests": None,
           "non_2xx": 0, "socket_errors": None}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        out["requests_per_s"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        if m := re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M):
            out[key] = to_ms(m.group(1))
    if m := re.search(r"(\d+) requests in", text):
        out["requests"] = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text):
        out["non_2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: (.*)", text):
        out["socket_errors"] = m.group(1).strip()
    return out


def machine(args):
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "")
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_model": model,
            "mem_gib": round(mem_kib / 1048576, 1), "kernel": platform.release(),
            "load_start": args.load_start, "load_end": args.load_end}


def gather(args):
    work = args.work
    ingest = read_jsonl(os.path.join(work, "ingest.jsonl"))
    with open(os.path.join(work, "load.json")) as f:
        load = json.load(f)
    by_table = {t["table"]: t for t in load["tables"]}
    for row in ingest:
        row.update({k: v for k, v in by_table.get(row["table"], {}).items() if k != "table"})
    with open(os.path.join(work, "queries.json")) as f:
        queries = json.load(f)
    wrk = []
    for path in sorted(glob.glob(os.path.join(work, "wrk", "*.txt"))):
        stem = path[:-4]
        with open(path) as f:
            text = f.read()
        with open(stem + ".path") as f:
            url_path = f.read().strip()
        with open(stem + ".body") as f:
            body = f.read().strip()
        wrk.append({"name": os.path.basename(stem), "path": url_path, "body": body,
                    **parse_wrk(text), "output": text})
    import duckdb
    import pyarrow
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": args.command,
        "machine": machine(args),
        "versions": {"lakehouse": args.lakehouse_rev, "tpchgen": args.tpchgen,
                     "duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__,
                     "python": platform.python_version()},
        "phases": read_jsonl(os.path.join(work, "phases.jsonl")),
        "ingest": {"tables": ingest, "problems": load["problems"]},
        "queries": queries,
        "wrk": wrk,
    }


# --- rendering ---------------------------------------------------------------------------------

def ms(x):
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def side_cell(side):
    s = side.get("summary")
    if side["error"] or not s:
        return "failed"
    return f"{ms(s['min'])} ({ms(s['median'])})"


def check_cell(check):
    if check == "ok":
        return "✓"
    if check.startswith("ok"):
        return "✓ (order of ties)"
    if check.startswith("mismatch"):
        return "✗ **differs**"
    return "—"


def render(doc):
    q = doc["queries"]
    m = doc["machine"]
    v = doc["versions"]
    sf = q["scale_factor"]
    sf_text = f"{sf:g}"
    out = [f"## TPC-H SF{sf_text} (issue 4) — {doc['date'][:10]}", ""]
    if "LAKEHOUSE_BIN=" not in doc["command"]:
        build = "release build"
    elif "/debug/" in doc["command"]:
        build = "given binary, a **dev-profile build, not release: no figure here is for the record**"
    else:
        build = "given binary"
    out.append(
        f"Command: `{doc['command']}` ({build}, "
        f"lakehouse {v['lakehouse']}; data from {v['tpchgen']} (`csv`, SF{sf_text}); DuckDB "
        f"{v['duckdb']} embedded (Python {v['python']}), `threads` = {q['engine_threads']}, as "
        f"many as the server uses; per query 1 warm-up + {q['repeat']} timed runs per engine, "
        f"the engines alternating query by query; {m['nproc']} cores ({m['cpu_model']}), "
        f"{m['mem_gib']} GiB; load average {m['load_start']} at the start, {m['load_end']} at "
        f"the end).")

    # Ingest.
    tables = doc["ingest"]["tables"]
    out += ["", "**Load** (`POST /v1/ingest/{table}`, curl -T, one table after the other):", "",
            "| table | rows | CSV MB | seconds | MB/s | Parquet MB |",
            "| --- | --- | --- | --- | --- | --- |"]
    for t in tables:
        out.append(f"| {t['table']} | {t.get('rows', 0):,} | {t['csv_bytes'] / 1e6:,.1f} | "
                   f"{t['seconds']:.2f} | {t['csv_bytes'] / 1e6 / t['seconds']:.0f} | "
                   f"{t.get('parquet_bytes', 0) / 1e6:,.1f} |")
    total_b = sum(t["csv_bytes"] for t in tables)
    total_s = sum(t["seconds"] for t in tables)
    total_p = sum(t.get("parquet_bytes", 0) for t in tables)
    out.append(f"| **all 8** | {sum(t.get('rows', 0) for t in tables):,} | {total_b / 1e6:,.1f} | "
               f"{total_s:.2f} | **{total_b / 1e6 / total_s:.0f}** | {total_p / 1e6:,.1f} |")
    for p in doc["ingest"]["problems"]:
        out.append(f"\n- load: {p}")

    # Queries.
    out += ["", f"**Queries** (ms, fastest of {q['repeat']}, median in brackets; "
                f"`POST /v1/sql` with format `{q['format']}`, timed to the response's last byte; "
                "DuckDB `con.sql(q).to_arrow_table()`):", "",
            "| query | lakehouse ms | DuckDB ms | lakehouse ÷ DuckDB | rows | same answer |",
            "| --- | --- | --- | --- | --- | --- |"]
    ratios, notes = [], []
    ours_total = duck_total = ours_cpu = duck_cpu = 0.0
    for r in q["queries"]:
        o, d = r["ours"], r["duckdb"]
        ratio = ""
        if o.get("summary") and d.get("summary") and not o["error"] and not d["error"]:
            x = o["summary"]["min"] / d["summary"]["min"]
            ratios.append(x)
            ratio = f"{x:.2f}"
            ours_total += o["summary"]["min"]
            duck_total += d["summary"]["min"]
            ours_cpu += sorted(o["cpu_ms"])[len(o["cpu_ms"]) // 2]
            duck_cpu += sorted(d["cpu_ms"])[len(d["cpu_ms"]) // 2]
        rows = o["rows"] if o["rows"] is not None else d["rows"]
        if o["rows"] is not None and d["rows"] is not None and o["rows"] != d["rows"]:
            rows = f"{o['rows']} vs {d['rows']}"
        out.append(f"| Q{r['query']} | {side_cell(o)} | {side_cell(d)} | {ratio} | "
                   f"{'' if rows is None else rows} | {check_cell(r['check'])} |")
        if o["error"]:
            notes.append(f"- Q{r['query']}, lakehouse failed: `{o['error']}`")
        if d["error"]:
            notes.append(f"- Q{r['query']}, DuckDB failed: `{d['error']}`")
        if r["check"].startswith("mismatch"):
            notes.append(f"- Q{r['query']}, answers differ: {r['check']}")
    out.append("")
    if ratios:
        geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        ok = "✓" if geo <= GOAL and len(ratios) == len(q["queries"]) else "✗"
        of = "" if len(ratios) == len(q["queries"]) else f", over the {len(ratios)} of " \
                                                           f"{len(q['queries'])} queries both ran"
        out.append(f"- geometric mean of lakehouse ÷ DuckDB: **{geo:.2f}×** (goal ≤ {GOAL:.1f}×"
                   f"{of}) {ok}")
        out.append(f"- sum of the fastest runs: lakehouse {ours_total / 1000:.2f} s, DuckDB "
                   f"{duck_total / 1000:.2f} s; CPU of the median runs: lakehouse "
                   f"{ours_cpu / 1000:.2f} s (server process), DuckDB {duck_cpu / 1000:.2f} s")
    else:
        out.append("- no query ran on both engines: no ratio")
    same = sum(1 for r in q["queries"] if r["check"].startswith("ok"))
    out.append(f"- answers: {same} of {len(q['queries'])} the same (row counts and every value; "
               "numbers within 1e-6 relative)")
    out += notes

    # wrk.
    if doc["wrk"]:
        out += ["", "**HTTP path** (`wrk -t2 -c16 --latency`, keep-alive, same server):", "",
                "| request | requests/s | p50 ms | p99 ms | non-2xx |",
                "| --- | --- | --- | --- | --- |"]
        for w in doc["wrk"]:
            what = f"`GET {w['path']}`"
            if w["body"]:
                what = f"`POST {w['path']}` `{json.loads(w['body'])['sql']}`"
            p50 = f"{w['p50_ms']:.2f}" if w["p50_ms"] is not None else "?"
            p99 = f"{w['p99_ms']:.2f}" if w["p99_ms"] is not None else "?"
            rps = f"{w['requests_per_s']:,.0f}" if w["requests_per_s"] is not None else "?"
            bad = w["non_2xx"] or 0
            out.append(f"| {what} | {rps} | {p50} | {p99} | {bad}"
                       f"{' ✗' if bad else ''} |")
            if w["socket_errors"]:
                out.append(f"\n- {what}: socket errors {w['socket_errors']}")

    # Phases.
    if doc["phases"]:
        out += ["", "Phases (s): " + ", ".join(f"{p['phase']} {p['seconds']:.0f}"
                                                  for p in doc["phases"]) + "."]
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("saved", nargs="?")
    p.add_argument("--work")
    p.add_argument("--save")
    p.add_argument("--command", default="")
    p.add_argument("--load-start", default="")
    p.add_argument("--load-end", default="")
    p.add_argument("--lakehouse-rev", default="")
    p.add_argument("--tpchgen", default="")
    args = p.parse_args()
    if args.work:
        doc = gather(args)
        if args.save:
            with open(args.save, "w") as f:
                json.dump(doc, f, indent=1)
    elif args.saved:
        with open(args.saved) as f:
            doc = json.load(f)
    else:
        p.error("give a saved results file or --work")
    print(render(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
