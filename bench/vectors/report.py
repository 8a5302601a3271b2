"""The vector benchmark's markdown report from its per-engine JSON results.

  python3 report.py RESULTS_DIR [RESULTS_DIR...]

Each RESULTS_DIR (one run of run.sh) holds `run.json` (command, date, machine, load) and `{dataset}-{engine}.json`
(what ann_bench / engines.py print). QPS at a recall target is linearly interpolated in
recall between the two sweep points around it (and the smallest swept ef reaching it is
given beside); ratios are vectord ÷ hnswlib.
"""
import glob
import json
import os
import sys

ENGINES = ["vectord", "hnswlib", "faiss"]
TARGETS = [0.90, 0.95, 0.99]
MIB = 1 << 20


def at_recall(sweep, target):
    """(interpolated QPS, smallest ef reaching target, its QPS), or None when never reached."""
    points = sorted(sweep, key=lambda p: p["ef"])
    for i, p in enumerate(points):
        if p["recall"] >= target:
            if i == 0 or p["recall"] == points[i - 1]["recall"]:
                return p["qps"], p["ef"], p["qps"]
            a = points[i - 1]
            w = (target - a["recall"]) / (p["recall"] - a["recall"])
            return a["qps"] + w * (p["qps"] - a["qps"]), p["ef"], p["qps"]
    return None


def fmt(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return ""
    return f"{a / b:.{digits}f}"


def dataset_section(name, results):
    first = next(iter(results.values()))
    out = [f"**{name}**: {first['n']:,} base vectors, {first['nq']:,} queries, dim {first['dim']}, "
           f"{first['metric']}, M {first['m']}, ef_construction {first['ef_construction']}, "
           f"recall@{first['k']}.", ""]
    cols = [e for e in ENGINES if e in results]
    out.append("| measure | " + " | ".join(cols) + " | vectord ÷ hnswlib | goal |")
    out.append("| --- |" + " --- |" * (len(cols) + 2))
    v, h = results.get("vectord"), results.get("hnswlib")

    def row(label, get, digits=0, goal="", lower_is_better=True, show_ratio=True):
        vals = [get(results[e]) for e in cols]
        r = ratio(get(v), get(h)) if (v and h and show_ratio) else ""
        out.append(f"| {label} | " + " | ".join(fmt(x, digits) for x in vals) + f" | {r} | {goal} |")

    row("build, s (2 threads)", lambda r: r["build_s"], 1, "≤ 1.0")
    row("build, CPU-s", lambda r: r["build_cpu_s"], 1)
    for t in TARGETS:
        def interp(r, t=t):
            got = at_recall(r["sweep"], t)
            return got[0] if got else None
        row(f"QPS at recall {t:.2f} (interpolated)", interp, 0, "≥ 1.0" if t == 0.95 else "")
        cells = []
        for e in cols:
            got = at_recall(results[e]["sweep"], t)
            cells.append(f"ef {got[1]}: {fmt(got[2])}" if got else
                         f"not reached (max {max(p['recall'] for p in results[e]['sweep']):.4f})")
        out.append(f"| … smallest swept ef reaching {t:.2f}: QPS | " + " | ".join(cells) + " | | |")
    row("index memory, MiB (RSS growth during build)", lambda r: r["index_rss_bytes"] / MIB, 0)
    row("engine's own estimate, MiB", lambda r: r["own_estimate_bytes"] / MIB
        if r.get("own_estimate_bytes") is not None else None, 0, show_ratio=False)
    row("peak RSS of the process (data + build + search), MiB", lambda r: r["peak_rss_bytes"] / MIB, 0)
    row("index file, MB", lambda r: r["file_bytes"] / 1e6, 0)
    row("save, s", lambda r: r["save_s"], 2)
    row("read the file (warm page cache), s", lambda r: r["read_s"], 3)
    row("load, s", lambda r: r["load_s"], 3)
    out.append("| load ÷ read | " + " | ".join(
        f"{results[e]['load_s'] / results[e]['read_s']:.1f}" for e in cols) + " | | ≤ 2 (vectord) |")
    out.append("| recall at ef {} before save / after load | ".format(first["check_ef"]) + " | ".join(
        f"{results[e]['recall_before_save']:.4f} / {results[e]['recall_after_load']:.4f}" for e in cols)
        + " | | |")
    out.append("")
    out += delete_section(results, cols, first["check_ef"])
    out.append("<details><summary>ef sweep (recall@10 / QPS, best of 3 passes)</summary>")
    out.append("")
    out.append("| ef | " + " | ".join(cols) + " |")
    out.append("| --- |" + " --- |" * len(cols))
    efs = sorted({p["ef"] for e in cols for p in results[e]["sweep"]})
    for ef in efs:
        cells = []
        for e in cols:
            p = next((p for p in results[e]["sweep"] if p["ef"] == ef), None)
            cells.append(f"{p['recall']:.4f} / {fmt(p['qps'])}" if p else "")
        out.append(f"| {ef} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("</details>")
    out.append("")
    return out, goals(results)


def delete_section(results, cols, check_ef):
    """After every fifth vector is deleted: vectord with its tombstones and after compaction,
    hnswlib with mark_deleted; recall against the exact neighbours left."""
    variants = []
    for e in cols:
        d = results[e].get("after_delete")
        if not d:
            continue
        variants.append((f"{e} (tombstones)" if e == "vectord" else f"{e} (mark_deleted)",
                         d["sweep"], d["delete_s"], results[e]))
        if d.get("compacted_sweep"):
            variants.append((f"{e} (compacted)", d["compacted_sweep"], d["compact_s"], results[e]))
    if not variants:
        return []
    first = variants[0][3]["after_delete"]
    out = [f"After deleting every fifth vector ({first['deleted']:,} items; one pass per ef; "
           f"recall against the exact neighbours left):", "",
           "| measure | " + " | ".join(v[0] for v in variants) + " |",
           "| --- |" + " --- |" * len(variants)]
    out.append("| delete (compaction), s | " + " | ".join(fmt(v[2], 2) for v in variants) + " |")

    def at(sweep, ef):
        return next((p for p in sweep if p["ef"] == ef), None)

    out.append(f"| recall at ef {check_ef}: before deleting → after | " + " | ".join(
        f"{at(v[3]['sweep'], check_ef)['recall']:.4f} → {at(v[1], check_ef)['recall']:.4f}"
        for v in variants) + " |")
    for t in TARGETS:
        cells = []
        for v in variants:
            got = at_recall(v[1], t)
            cells.append(f"{fmt(got[0])} (ef {got[1]})" if got else "not reached")
        out.append(f"| QPS at recall {t:.2f} (interpolated; smallest ef reaching it) | "
                   + " | ".join(cells) + " |")
    out.append("")
    out.append("<details><summary>ef sweep after deleting (recall@10 / QPS, one pass)</summary>")
    out.append("")
    out.append("| ef | " + " | ".join(v[0] for v in variants) + " |")
    out.append("| --- |" + " --- |" * len(variants))
    for p in first["sweep"]:
        out.append(f"| {p['ef']} | " + " | ".join(
            f"{at(v[1], p['ef'])['recall']:.4f} / {fmt(at(v[1], p['ef'])['qps'])}" for v in variants)
            + " |")
    out += ["", "</details>", ""]
    return out


def goals(results):
    v, h = results.get("vectord"), results.get("hnswlib")
    if not (v and h):
        return []
    got = []
    qv, qh = at_recall(v["sweep"], 0.95), at_recall(h["sweep"], 0.95)
    if qv and qh:
        r = qv[0] / qh[0]
        got.append(("QPS at recall 0.95 ≥ 1.0× hnswlib", f"{r:.2f}×", r >= 1.0))
    else:
        got.append(("QPS at recall 0.95 ≥ 1.0× hnswlib", "recall 0.95 not reached", False))
    r = v["build_s"] / h["build_s"]
    got.append(("build time ≤ 1.0× hnswlib", f"{r:.2f}×", r <= 1.0))
    r = v["load_s"] / v["read_s"]
    got.append(("load ≤ 2× reading the file", f"{r:.1f}×", r <= 2.0))
    return got


def main(dirs):
    by_set, runs = {}, {}
    for d in dirs:
        run = json.load(open(os.path.join(d, "run.json")))
        for path in sorted(glob.glob(os.path.join(d, "*-*.json"))):
            dataset, engine = os.path.basename(path)[:-5].rsplit("-", 1)
            by_set.setdefault(dataset, {})[engine] = json.load(open(path))
            runs[dataset] = run
    versions = {}
    for results in by_set.values():
        for e, r in results.items():
            versions[e] = r["version"]
    first = next(iter(runs.values()))
    out = [f"## Vectors (issue 5) — {first['date']}", "",
           "Each engine in its own process, one at a time under `flock`; release build; build "
           "with 2 threads; queries one at a time on one thread, best of 3 passes; load best "
           "of 3 with the page cache warm.", "",
           f"Machine: {first['cores']} cores, {first['memory']}. Versions: "
           + ", ".join(f"{e} {versions[e]}" for e in ENGINES if e in versions)
           + f"; Python {first['python']}.", ""]
    summary = []
    for dataset in sorted(by_set, key=lambda s: (s != "clustered", s)):
        run = runs[dataset]
        out += [f"Command: `{run['command']}`; load average {run['load_start']} at its start, "
                f"{run['load_end']} at its end.", ""]
        lines, g = dataset_section(dataset, by_set[dataset])
        out += lines
        summary += [(dataset, *x) for x in g]
    out.append("Goals (vectord):")
    out.append("")
    for dataset, goal, value, met in summary:
        out.append(f"- {dataset}: {goal}: **{value}** — {'met ✓' if met else 'not met ✗'}")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
