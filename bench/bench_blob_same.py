"""`<blob>` insert and fetch against the driver on the same connection and the same table.

    .venv/bin/python bench/bench_blob_same.py [--rounds 6] [--backends sqlite,postgresql,mysql]

bench_compare.py times the raw floor and joinflow on separate passes, each over rows it wrote
itself; with 100 MB of blobs the table's (and SQLite file's) state after earlier rounds of
delete and re-insert moves both by 20-50%. Here each round alternates on one connection and one
table: joinflow ``insert1`` of 20 x 5 MB float64 arrays and the driver inserting the same
arrays packed beforehand (one transaction per row), which of them goes first alternating by
round; joinflow ``to_dicts()``, then the driver's ``fetchall()`` of the same rows (PostgreSQL:
binary cursor). Prints the ratios per round and of the best times.
Servers: PostgreSQL 127.0.0.1:5432 (postgres), MariaDB/MySQL 127.0.0.1:3306 (root).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import joinflow as dj  # noqa: E402
from bench_populate import connect  # noqa: E402
from joinflow.codecs.blob import pack  # noqa: E402


def run(backend: str, rounds: int, tmp: Path) -> list[tuple[float, float, float, float]]:
    conn = connect(backend, tmp / f"{uuid.uuid4().hex[:8]}.db")
    schema = dj.Schema("benchsame_" + uuid.uuid4().hex[:8], connection=conn)

    @schema
    class Blob(dj.Manual):
        definition = "bid : int32\n---\ndata : <blob>"

    rng = np.random.default_rng(0)
    rows = [{"bid": i, "data": rng.random(625_000)} for i in range(20)]
    packed = [(r["bid"], pack(r["data"])) for r in rows]
    ph = "?" if backend == "sqlite" else "%s"
    insert = f"INSERT INTO {Blob.full_table_name} VALUES ({ph}, {ph})"
    select = f"SELECT * FROM {Blob.full_table_name}"
    raw = conn._raw
    out = []
    try:
        def jf() -> float:
            Blob.delete_quick()
            t = time.perf_counter()
            for r in rows:
                Blob.insert1(r)
            return time.perf_counter() - t

        def floor() -> float:
            Blob.delete_quick()
            t = time.perf_counter()
            for r in packed:  # one transaction per row, as insert1
                cur = raw.cursor()
                cur.execute("BEGIN")
                cur.execute(insert, r)
                cur.execute("COMMIT")
                cur.close()
            return time.perf_counter() - t

        for i in range(rounds):
            # who goes first alternates: the first insert after the fetches of the round
            # before runs on another file (SQLite) and memory state than the second
            if i % 2:
                raw_insert, jf_insert = floor(), jf()
            else:
                jf_insert, raw_insert = jf(), floor()
            t = time.perf_counter()
            got = Blob.to_dicts()
            jf_fetch = time.perf_counter() - t
            assert np.array_equal(got[-1]["data"], rows[-1]["data"])
            del got
            t = time.perf_counter()
            cur = raw.cursor(binary=True) if backend == "postgresql" else raw.cursor()
            cur.execute(select)
            fetched = cur.fetchall()
            raw_fetch = time.perf_counter() - t
            del fetched
            cur.close()
            out.append((raw_insert, jf_insert, raw_fetch, jf_fetch))
    finally:
        schema.drop(prompt=False)
        conn.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--backends", default="sqlite,postgresql,mysql")
    args = ap.parse_args()
    print("| backend | round | insert raw (s) | insert joinflow (s) | ratio | fetch raw (s) | "
          "fetch joinflow (s) | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            rounds = run(backend, args.rounds, Path(tmp))
            for i, (ri, ji, rf, jf) in enumerate(rounds, 1):
                print(f"| {backend} | {i} | {ri:.3f} | {ji:.3f} | {ji / ri:.2f}x | {rf:.3f} | "
                      f"{jf:.3f} | {jf / rf:.2f}x |")
            ri, ji, rf, jf = (min(col) for col in zip(*rounds))  # best of, as bench_compare
            print(f"| {backend} | best | {ri:.3f} | {ji:.3f} | {ji / ri:.2f}x | {rf:.3f} | "
                  f"{jf:.3f} | {jf / rf:.2f}x |")


if __name__ == "__main__":
    main()
