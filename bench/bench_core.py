"""Core engine benchmark: joinflow against the raw driver, same run, same tables.

    .venv/bin/python bench/bench_core.py [--rows 100000] [--backends sqlite,postgresql,mysql]

Measures (median of --repeat runs): bulk insert of N rows with 5 mixed columns, fetch of those
rows with to_dicts() and to_pandas(), and a 3-table join with a restriction. Prints a markdown
table of seconds and ratios (joinflow / raw driver).
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import joinflow as dj  # noqa: E402
from conftest import backend_config, unique_name  # noqa: E402


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def make_rows(n):
    base = dt.date(2020, 1, 1)
    return [dict(id=i, value=i * 0.5, label=f"row{i % 1000}", day=base + dt.timedelta(days=i % 365),
                 count=i % 30000) for i in range(n)]


def raw_insert(conn, table, rows):
    b = conn.backend
    cols = ["id", "value", "label", "day", "count"]
    tuples = [tuple(r[c] for c in cols) for r in rows]
    if b.name == "sqlite":
        tuples = [(i, v, lb, d.isoformat(), c) for i, v, lb, d, c in tuples]
    sql = f"INSERT INTO {table} ({', '.join(b.quote(c) for c in cols)}) VALUES ({', '.join([b.placeholder] * 5)})"
    raw = conn._raw
    if b.name == "postgresql":
        with raw.cursor() as cur:
            with cur.copy(f"COPY {table} ({', '.join(b.quote(c) for c in cols)}) FROM STDIN") as cp:
                for t in tuples:
                    cp.write_row(t)
        return
    cur = raw.cursor()
    if b.name == "sqlite":
        raw.execute("BEGIN")
        cur.executemany(sql, tuples)
        raw.execute("COMMIT")
    else:
        raw.begin()
        cur.executemany(sql, tuples)
        raw.commit()
    cur.close()


def raw_fetch(conn, sql):
    cur = conn._raw.cursor()
    cur.execute(sql)
    rows = cur.fetchall()
    names = [d[0] for d in cur.description]
    cur.close()
    return names, rows


def bench_backend(backend, nrows, repeat, tmp):
    conn = dj.Connection(config=backend_config(backend, Path(tmp)))
    schema = dj.Schema(unique_name("bench"), connection=conn)
    results = {}
    try:
        @schema
        class Item(dj.Manual):
            definition = """
            id : int32
            ---
            value : float64
            label : varchar(32)
            day : date
            count : int32
            """

        @schema
        class Group(dj.Manual):
            definition = """
            gid : int32
            ---
            gname : varchar(16)
            """

        @schema
        class Member(dj.Manual):
            definition = """
            -> Group
            -> Item
            ---
            weight : float64
            """

        rows = make_rows(nrows)
        table = Item.full_table_name

        def clear():
            conn.query(f"DELETE FROM {table}")

        def jf_insert():
            clear()
            Item.insert(rows)

        def drv_insert():
            clear()
            raw_insert(conn, table, rows)

        results["insert"] = (timed(drv_insert, repeat), timed(jf_insert, repeat))
        select = f"SELECT * FROM {table}"
        results["fetch to_dicts"] = (
            timed(lambda: (lambda n, r: [dict(zip(n, x)) for x in r])(*raw_fetch(conn, select)), repeat),
            timed(lambda: Item.to_dicts(), repeat))
        results["fetch to_pandas"] = (
            timed(lambda: pd.DataFrame.from_records(raw_fetch(conn, select)[1]), repeat),
            timed(lambda: Item.to_pandas(), repeat))
        Group.insert([dict(gid=g, gname=f"g{g}") for g in range(100)])
        Member.insert([dict(gid=i % 100, id=i, weight=1.0) for i in range(0, nrows, 2)])
        q = Group * Member * Item & "value > 100" & "gname < 'g5'"
        sql = conn.backend.render(q.compile()[0])
        params = q.compile()[1]
        handwritten = (f"SELECT g.gid, g.gname, m.id, m.weight, i.value, i.label, i.day, i.count "
                       f"FROM {Group.full_table_name} g JOIN {Member.full_table_name} m ON g.gid = m.gid "
                       f"JOIN {table} i ON i.id = m.id WHERE i.value > 100 AND g.gname < 'g5'")

        def raw_join():
            cur = conn._raw.cursor()
            cur.execute(handwritten)
            names = [d[0] for d in cur.description]
            [dict(zip(names, r)) for r in cur.fetchall()]
            cur.close()
        results["3-table join"] = (timed(raw_join, repeat), timed(lambda: q.to_dicts(), repeat))
        assert len(q) == len(q.to_dicts()), sql and params
    finally:
        schema.drop(prompt=False)
        conn.close()
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgresql,mysql")
    args = ap.parse_args()
    print(f"rows={args.rows} repeat={args.repeat} (median of repeats)\n")
    print("| backend | operation | raw driver (ms) | joinflow (ms) | ratio |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            for op, (raw, jf) in bench_backend(backend, args.rows, args.repeat, tmp).items():
                print(f"| {backend} | {op} | {raw * 1000:.1f} | {jf * 1000:.1f} | {jf / raw:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
