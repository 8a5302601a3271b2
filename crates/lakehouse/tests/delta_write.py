"""Writes a Delta table with PyPI `deltalake` (delta-rs's Python binding), for tests/delta.rs:
the tables another tool wrote that lakehouse registers and reads.

stdin: {"uri": "...", "storage_options": {...} | null, "steps": [step, ...]} where a step is
  {"write": {"mode": "overwrite" | "append", "columns": [[name, type], ...],
             "rows": [[...], ...], "partition_by": [...], "configuration": {...}}}
             (type: int64, int32, float64,
             utf8, bool, date, timestamp, timestamp_utc, decimal; dates and timestamps as ISO
             8601 text), or
  {"delete": "predicate"}
stdout: {"version": N, "rows": {"0": [{column: value}, ...], ...}} -- every version's rows
(column -> value, dates and timestamps as ISO 8601 text), sorted.
"""

import datetime
import decimal
import json
import os
import sys

import deltalake
import pyarrow as pa

TYPES = {
    "int64": pa.int64(),
    "int32": pa.int32(),
    "float64": pa.float64(),
    "utf8": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamp_utc": pa.timestamp("us", tz="UTC"),
    "decimal": pa.decimal128(10, 2),
}


def value(kind, v):
    if v is None:
        return None
    if kind == "date":
        return datetime.date.fromisoformat(v)
    if kind == "timestamp":
        return datetime.datetime.fromisoformat(v)
    if kind == "timestamp_utc":
        return datetime.datetime.fromisoformat(v).replace(tzinfo=datetime.timezone.utc)
    if kind == "decimal":
        return decimal.Decimal(v)
    return v


def plain(v):
    if isinstance(v, datetime.datetime):
        return v.replace(tzinfo=None).isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    return v


def table_of(step):
    columns = step["columns"]
    arrays = [
        pa.array([value(kind, row[i]) for row in step["rows"]], type=TYPES[kind])
        for i, (_, kind) in enumerate(columns)
    ]
    return pa.table(arrays, names=[name for name, _ in columns])


def main():
    request = json.load(sys.stdin)
    uri = request["uri"]
    options = request.get("storage_options") or None
    for step in request["steps"]:
        if "write" in step:
            w = step["write"]
            deltalake.write_deltalake(
                uri,
                table_of(w),
                mode=w["mode"],
                partition_by=w.get("partition_by") or None,
                configuration=w.get("configuration") or None,
                storage_options=options,
            )
        else:
            deltalake.DeltaTable(uri, storage_options=options).delete(step["delete"])
    table = deltalake.DeltaTable(uri, storage_options=options)
    out = {"version": table.version(), "rows": {}}
    for version in range(table.version() + 1):
        at = deltalake.DeltaTable(uri, version=version, storage_options=options)
        rows = [
            {k: plain(v) for k, v in row.items()} for row in at.to_pyarrow_table().to_pylist()
        ]
        out["rows"][str(version)] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
    json.dump(out, sys.stdout)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
    # (The binding's runtime can abort while the interpreter tears down; the answer is out.)
    os._exit(0)
