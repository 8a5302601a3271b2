#!/usr/bin/env python3
"""One peer conversion of the ingest benchmark, in a fresh process, as one JSON line.

    bench/ingest/peers.py duckdb        IN.csv OUT.parquet   # COPY ... TO, DuckDB's default (snappy)
    bench/ingest/peers.py duckdb-zstd   IN.csv OUT.parquet   # ... (FORMAT parquet, COMPRESSION zstd)
    bench/ingest/peers.py pyarrow       IN.csv OUT.parquet   # open_csv -> ParquetWriter, zstd

Prints {"peer", "seconds", "cpu_seconds", "rows", "parquet_bytes", "peak_rss_mib"}. seconds
and cpu_seconds (user + system, all threads) cover the conversion only, not the interpreter
start or imports, like the server's figures, taken from a server that is already up. peak_rss_mib is this process's VmHWM, interpreter
included (~30 MiB of it is Python and the imports). rows is read back from the Parquet footer,
so a peer that silently dropped rows shows it.
"""

import json
import os
import resource
import sys
import time

# DuckDB's default row group (122,880 rows): pyarrow would otherwise write one row group per
# CSV block (~1 MiB, ~4,000 rows), which is a different file, not just a slower one.
ROW_GROUP_ROWS = 122_880


class Clock:
    """Wall and CPU (user + system, all threads of this process) time from creation."""

    def __init__(self):
        self.wall, self.cpu = time.monotonic(), self._cpu()

    @staticmethod
    def _cpu():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def stop(self):
        return time.monotonic() - self.wall, self._cpu() - self.cpu


def duckdb_copy(src, dst, options):
    import duckdb

    con = duckdb.connect()  # threads = all cores by default
    clock = Clock()
    con.execute(f"COPY (SELECT * FROM read_csv('{src}')) TO '{dst}' {options}")
    return clock.stop()


def pyarrow_stream(src, dst):
    import pyarrow as pa
    import pyarrow.csv as csv
    import pyarrow.parquet as pq

    clock = Clock()
    reader = csv.open_csv(src)  # streaming: one block at a time, schema from the first block
    pending, pending_rows = [], 0
    with pq.ParquetWriter(dst, reader.schema, compression="zstd") as writer:
        for batch in reader:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending), row_group_size=pending_rows)
                pending, pending_rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=pending_rows)
    return clock.stop()


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("duckdb", "duckdb-zstd", "pyarrow"):
        sys.exit("usage: peers.py duckdb|duckdb-zstd|pyarrow IN.csv OUT.parquet")
    peer, src, dst = sys.argv[1:]
    if peer == "duckdb":
        seconds, cpu_seconds = duckdb_copy(src, dst, "")
    elif peer == "duckdb-zstd":
        seconds, cpu_seconds = duckdb_copy(src, dst, "(FORMAT parquet, COMPRESSION zstd)")
    else:
        seconds, cpu_seconds = pyarrow_stream(src, dst)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    import pyarrow.parquet as pq

    rows = pq.ParquetFile(dst).metadata.num_rows
    print(json.dumps({
        "peer": peer,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 2),
        "rows": rows,
        "parquet_bytes": os.path.getsize(dst),
        "peak_rss_mib": round(peak_kib / 1024, 1),
    }))


if __name__ == "__main__":
    main()
