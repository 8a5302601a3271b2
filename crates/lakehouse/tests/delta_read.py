"""Reads a Delta table with PyPI `deltalake` (delta-rs's Python binding), for tests/delta.rs.

stdin: {"uri": "...", "storage_options": {...} | null, "versions": [0, 1, ...]}
stdout: {"version": N, "history": [{"version", "operation", "lakehouse"}], "schema":
[[name, type, nullable]], "rows": {"0": [[...], ...], ...}, "files": [{"num_records",
"min.col", "max.col", "null_count.col", ...}]} -- rows sorted, dates and timestamps as ISO
8601 text, so the test compares them with our SQL answers; "files" are the current
version's add actions with the statistics `deltalake` parsed from them.
"""

import datetime
import json
import os
import sys

import deltalake
import pyarrow


def plain(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def rows_of(table):
    data = table.to_pyarrow_table()
    names = data.column_names
    rows = [[plain(row[n]) for n in names] for row in data.to_pylist()]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def main():
    request = json.load(sys.stdin)
    options = request.get("storage_options") or None
    table = deltalake.DeltaTable(request["uri"], storage_options=options)
    out = {"version": table.version(), "history": [], "schema": [], "rows": {}, "files": []}
    for entry in table.history():
        out["history"].append(
            {
                "version": entry.get("version"),
                "operation": entry.get("operation"),
                "lakehouse": entry.get("lakehouse"),
            }
        )
    for field in table.schema().fields:
        out["schema"].append([field.name, str(field.type.type), field.nullable])
    actions = pyarrow.table(table.get_add_actions(flatten=True)).to_pylist()
    out["files"] = [{k: plain(v) for k, v in action.items()} for action in actions]
    for version in request["versions"]:
        at = deltalake.DeltaTable(request["uri"], version=version, storage_options=options)
        out["rows"][str(version)] = rows_of(at)
    json.dump(out, sys.stdout)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
    # (The binding's runtime can abort while the interpreter tears down; the answer is out.)
    os._exit(0)
