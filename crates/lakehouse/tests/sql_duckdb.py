"""Runs queries on DuckDB over the same CSV files, for tests/sql.rs.

stdin: {"tables": [{"name", "csv", "columns": [[name, manifest type], ...]}], "queries": [sql]}
stdout: [{"rows": [[...]]} | {"error": "..."}] in query order; values as JSON with dates and
timestamps in ISO 8601 and decimals as numbers.
"""
import datetime
import decimal
import json
import sys

import duckdb

TYPES = {
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "utf8": "VARCHAR",
}


def value(v):
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, float) and v != v:
        return "NaN"
    return v


def main():
    spec = json.load(sys.stdin)
    con = duckdb.connect()
    for table in spec["tables"]:
        columns = ", ".join(
            f"'{name}': '{TYPES[ty]}'" for name, ty in table["columns"]
        )
        con.execute(
            f"CREATE TABLE {table['name']} AS SELECT * FROM read_csv("
            f"'{table['csv']}', header = true, nullstr = '', columns = {{{columns}}})"
        )
    out = []
    for sql in spec["queries"]:
        try:
            rows = con.execute(sql).fetchall()
            out.append({"rows": [[value(v) for v in row] for row in rows]})
        except Exception as e:  # reported per query, compared by the test
            out.append({"error": str(e)})
    json.dump(out, sys.stdout)


main()
