#!/usr/bin/env python3
"""Generates the ingest benchmark's CSV: deterministic, with a header, about SIZE bytes.

    bench/ingest/gen_csv.py SIZE OUT      # SIZE like 100M, 1G, 4G (binary units: 1G = 2^30 bytes)

Columns (empty field = null):
  id      int64, 0, 1, 2, ... (never null)
  qty     small int 0..999, ~2% null
  amount  float with 2-6 decimals, 0.00 .. 99999.999999
  score   float, ~30% negative, ~2% in exponent form (1.5e-3, -7.25e+2), ~3% null
  day     date YYYY-MM-DD (2015..2025), ~2% null
  ts      timestamp YYYY-MM-DD HH:MM:SS, ~15% with .mmm or .uuuuuu, ~1% null
  active  true/false, ~1% null
  code    short string of 3-8 chars from 40 values, skewed (low cardinality)
  comment long string of ~40-300 chars cut from a fixed text: ~75% contain commas (so they
          are quoted), ~4% a double quote (written doubled), ~10% end in a word with
          non-ASCII letters; ~4% null

Every value is a function of the row number alone (integer hashes computed in SQL, no RNG
state), so the same SIZE gives the same bytes on every run, with any thread count (DuckDB
keeps row order). DuckDB writes the file (COPY ... TO CSV, all cores). The row count comes
from a 200,000-row sample's bytes per row, corrected for the id column's growing width.
Writes OUT.tmp, then renames it to OUT, so an interrupted run never leaves a truncated OUT.
"""

import os
import random
import re
import sys
import time

import duckdb

SEED = 20261126
SAMPLE_ROWS = 200_000

CODES = [
    "USD", "EUR", "GBP", "JPY", "CHF", "ACME", "GLOBEX", "INITECH", "UMBRELLA", "HOOLI",
    "STARK", "WAYNE", "TYRELL", "CYBER", "OSCORP", "DUFF", "NUKA", "VAULT", "APERTUR", "BLKMESA",
    "N01", "N02", "N03", "S-104", "S-205", "EU-WEST", "US-EAST", "AP-SOUTH", "RETAIL", "WHOLESL",
    "ONLINE", "STORE", "PHONE", "PARTNER", "PROMO", "REFUND", "CREDIT", "DEBIT", "XFER", "MISC",
]

# Comments are cut from one 8 MB ASCII text: the everyday words below, most frequent, then
# ~3,000 made-up ones, Zipf-distributed. A small corpus would repeat inside every Parquet page
# and compress ~10x; this one compresses ~3.5x with zstd, like prose.
WORDS = (
    "the quick brown fox jumps over lazy dog order shipped delayed customer asked refund "
    "warehouse pallet invoice overdue payment received partial backorder item damaged in transit "
    "replacement sent tracking number updated address corrected priority standard express "
    "note see attached per agreement quarterly review pending approval escalated resolved"
).split()
SYLLABLES = "ka to ri ne so mu la pe di go ba vi ch st tr en or an".split()
CORPUS_CHARS = 8_000_000
# Appended to ~10% of comments. Kept out of the corpus: substr() on a string with any
# non-ASCII byte walks it character by character (100x slower than the ASCII fast path).
NON_ASCII = ["café", "crème brûlée", "naïve", "résumé", "façade", "Zürich", "São Paulo", "Øresund"]


def parse_size(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)(?:i?B)?", text.strip(), re.IGNORECASE)
    if not m:
        sys.exit(f"gen_csv: bad SIZE {text!r} (expected e.g. 100M, 1G, 4G)")
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m.group(2).upper()]
    return int(float(m.group(1)) * scale)


def corpus():
    """CORPUS_CHARS of ASCII text with commas, full stops and a few "quoted" words."""
    rng = random.Random(SEED)
    made_up = {"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(6000)}
    vocab = WORDS + sorted(made_up - set(WORDS))
    words = rng.choices(vocab, weights=[1 / (k + 1) for k in range(len(vocab))], k=CORPUS_CHARS // 4)
    marks = rng.choices(["{}", "{},", "{}.", '"{}"'], weights=[890, 80, 28, 2], k=len(words))
    text = " ".join(m.format(w) for m, w in zip(marks, words))
    assert len(text) >= CORPUS_CHARS and text.isascii()
    return text[:CORPUS_CHARS]


def load_corpus(con):
    con.execute("CREATE TEMP TABLE corpus AS SELECT ?::VARCHAR AS text", [corpus()])


def select_sql(rows):
    codes = "[" + ", ".join(f"'{c}'" for c in CODES) + "]"
    accents = "[" + ", ".join(f"'{w}'" for w in NON_ASCII) + "]"
    # h1..h4: four independent 32-bit hashes of the row number (lowbias32-style multiply and
    # xor-shift rounds; every product stays below 2^63, so BIGINT never overflows). Columns
    # draw from different bits of them, so they look independent of each other.
    return f"""
    WITH a AS (
        SELECT i,
               (i * 2654435761 + {SEED}) % 4294967296 AS x1,
               (i * 2246822519 + {SEED * 3}) % 4294967296 AS x2,
               (i * 3266489917 + {SEED * 7}) % 4294967296 AS x3,
               (i * 668265263 + {SEED * 11}) % 4294967296 AS x4
        FROM range({rows}) t(i)
    ), b AS (
        SELECT i,
               (xor(x1, x1 >> 16) * 2146121005) % 4294967296 AS x1,
               (xor(x2, x2 >> 16) * 2146121005) % 4294967296 AS x2,
               (xor(x3, x3 >> 16) * 2146121005) % 4294967296 AS x3,
               (xor(x4, x4 >> 16) * 2146121005) % 4294967296 AS x4
        FROM a
    ), c AS (
        SELECT i,
               (xor(x1, x1 >> 15) * 1291169091) % 4294967296 AS x1,
               (xor(x2, x2 >> 15) * 1291169091) % 4294967296 AS x2,
               (xor(x3, x3 >> 15) * 1291169091) % 4294967296 AS x3,
               (xor(x4, x4 >> 15) * 1291169091) % 4294967296 AS x4
        FROM b
    ), h AS (
        SELECT i, xor(x1, x1 >> 16) AS h1, xor(x2, x2 >> 16) AS h2,
               xor(x3, x3 >> 16) AS h3, xor(x4, x4 >> 16) AS h4
        FROM c
    ), v AS (
        SELECT i, h1, h2, h3, h4,
               2 + h2 % 5 AS amount_dec,                          -- 2..6 decimals
               (h1 >> 8) % 1000 AS score_int,
               strftime(TIMESTAMP '2020-01-01' + to_seconds((h3 >> 4) % 157680000),
                        '%Y-%m-%d %H:%M:%S') AS ts_text,          -- 5 years of seconds
               40 + (h3 >> 6) % 261 AS comment_len,               -- 40..300
               1 + h4 % {CORPUS_CHARS - 300} AS comment_at
        FROM h
    )
    SELECT
        i AS id,
        CASE WHEN h1 % 50 = 0 THEN NULL ELSE (h2 >> 7) % 1000 END AS qty,
        ((h1 >> 6) % 100000)::VARCHAR || '.'
            || lpad(((h3 >> 3) % (10 ** amount_dec)::BIGINT)::VARCHAR, amount_dec::INT, '0')
            AS amount,
        CASE
            WHEN (h2 >> 11) % 100 < 3 THEN NULL
            WHEN (h2 >> 11) % 100 < 5 THEN                          -- 1.5e-3, -7.25e+2
                CASE WHEN (h2 >> 18) % 10 < 3 THEN '-' ELSE '' END
                || (1 + score_int % 9)::VARCHAR || '.' || ((h3 >> 10) % 100)::VARCHAR
                || CASE WHEN (h1 >> 20) % 4 = 0 THEN 'e+' ELSE 'e-' END
                || (1 + (h1 >> 22) % 5)::VARCHAR
            ELSE
                CASE WHEN (h2 >> 18) % 10 < 3 THEN '-' ELSE '' END
                || score_int::VARCHAR || '.' || lpad(((h3 >> 12) % 1000)::VARCHAR, 3, '0')
        END AS score,
        CASE WHEN (h2 >> 21) % 50 = 0 THEN NULL
             ELSE DATE '2015-01-01' + ((h1 >> 3) % 4000)::INTEGER END AS day,
        CASE
            WHEN (h4 >> 20) % 100 = 0 THEN NULL
            WHEN (h4 >> 20) % 100 < 9 THEN ts_text || '.' || lpad(((h1 >> 4) % 1000)::VARCHAR, 3, '0')
            WHEN (h4 >> 20) % 100 < 16 THEN ts_text || '.' || lpad(((h1 >> 2) % 1000000)::VARCHAR, 6, '0')
            ELSE ts_text
        END AS ts,
        CASE WHEN (h2 >> 22) % 100 = 0 THEN NULL ELSE (h3 >> 28) % 2 = 0 END AS active,
        -- skewed: index = floor(40 * u^2), so a few codes dominate
        {codes}[1 + (40 * ((h2 >> 2) % 1000) * ((h2 >> 2) % 1000)) // 1000000] AS code,
        CASE WHEN (h1 >> 26) % 25 = 0 THEN NULL
             ELSE trim(substr(corpus.text, comment_at, comment_len))
                  || CASE WHEN (h2 >> 14) % 10 = 0
                          THEN ' ' || {accents}[1 + (h4 >> 24) % {len(NON_ASCII)}] ELSE '' END
        END AS comment
    FROM v, corpus
    """


def id_bytes(rows):
    """Bytes the id column takes in rows 0..rows-1 (digits, without the comma)."""
    total, width, start = 0, 1, 0
    while start < rows:
        end = min(rows, 10**width)
        total += (end - start) * width
        start, width = end, width + 1
    return total


def rows_for(target, sample_bytes):
    """Rows whose file is about target bytes, given a SAMPLE_ROWS-row file of sample_bytes."""
    other = (sample_bytes - id_bytes(SAMPLE_ROWS)) / SAMPLE_ROWS  # per row, header amortised
    lo, hi = 1, max(2, target)
    while lo < hi:  # smallest row count whose estimate reaches target; ~40 steps
        mid = (lo + hi) // 2
        if mid * other + id_bytes(mid) < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


def write(con, rows, path):
    tmp = path + ".tmp"
    con.execute(f"COPY ({select_sql(rows)}) TO '{tmp}' (FORMAT csv, HEADER true)")
    os.replace(tmp, path)
    return os.path.getsize(path)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_csv.py SIZE OUT   (SIZE like 100M, 1G, 4G)")
    target = parse_size(sys.argv[1])
    out = sys.argv[2]
    started = time.monotonic()
    con = duckdb.connect()
    load_corpus(con)
    sample = out + ".sample"
    sample_bytes = write(con, SAMPLE_ROWS, sample)
    os.remove(sample)
    rows = rows_for(target, sample_bytes)
    size = write(con, rows, out)
    seconds = time.monotonic() - started
    print(f"rows={rows} bytes={size} seconds={seconds:.1f} file={out}")


if __name__ == "__main__":
    main()
