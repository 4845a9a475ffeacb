"""Issue 8's workloads side by side: the raw driver (the floor), joinflow, and DataJoint 2.3.5.

    .venv/bin/python bench/bench_compare.py [--repeat 3] [--backends sqlite,postgresql,mysql]
        [--dj-python /work/venvs/dj235/bin/python] [--only populate,cascade delete] [--quick]

The workloads are written once against the DataJoint API (bench/workloads.py) and run by
joinflow in this process and by DataJoint in its own virtual environment (bench/dj_side.py,
through a subprocess; ``--dj-python`` or ``$JF_DATAJOINT_PYTHON``, default
/work/venvs/dj235/bin/python). DataJoint supports MySQL/MariaDB and PostgreSQL, not SQLite; its
column is skipped, with a message, where it cannot run. The raw floor is the same work done
with the driver by hand in this process: ``executemany``/``COPY``; ``fetchall``; blobs as
pre-packed bytes, one row per transaction (PostgreSQL: binary parameters and a binary
cursor), fetched with ``fetchall`` + ``np.frombuffer`` of each stored array (read-only views of
the driver's bytes, as joinflow's arrays are); populate as one BEGIN/INSERT/COMMIT per key;
the cascade as three handwritten DELETEs in one transaction. The two blob floors run right
after joinflow's blob insert and fetch, on the same rows: 100 MB of blobs written and read in
another phase of the process ran up to 2x faster or slower (file and allocator state, whoever
the reader), which swamped the comparison.
Times are best of ``--repeat`` rounds, all in the same run (raw and joinflow interleaved:
each round runs every workload once by hand, then once by joinflow; DataJoint runs its
repetitions afterwards in its own process); ratios are joinflow / raw and
DataJoint / joinflow (above 1: joinflow is faster). Rows marked ``(cpu)`` give the client's
CPU seconds (``time.process_time``) of the best run: what the client itself spends, unaffected
by the load of a shared server (populate's per-key COMMITs wait for the disk; on a busy
machine its wall time swings 3x between runs).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))
import joinflow as dj  # noqa: E402
from conftest import backend_config, unique_name  # noqa: E402
from joinflow.codecs.blob import pack  # noqa: E402

import workloads as wl  # noqa: E402

DEFAULT_DJ = "/work/venvs/dj235/bin/python"


# ------------------------------------------------------------------------------ raw floors
class Raw:
    """The floor: each workload done by hand with the driver on joinflow's tables."""

    def __init__(self, conn: dj.Connection, tables: dict) -> None:
        self.conn, self.raw, self.b = conn, conn._raw, conn.backend
        self.t = {k: v.full_table_name for k, v in tables.items()}

    def _tx(self, fn) -> None:
        if self.b.name == "sqlite":
            self.raw.execute("BEGIN")
            fn(self.raw.cursor())
            self.raw.execute("COMMIT")
        elif self.b.name == "mysql":
            self.raw.begin()
            with self.raw.cursor() as cur:
                fn(cur)
            self.raw.commit()
        else:
            with self.raw.transaction(), self.raw.cursor() as cur:
                fn(cur)

    def _sql(self, table: str, cols: list[str], binary: set = frozenset()) -> str:
        ph = [("%b" if c in binary and self.b.name == "postgresql" else "%s")
              if self.b.placeholder == "%s" else "?" for c in cols]
        return (f"INSERT INTO {self.t[table]} ({', '.join(self.b.quote(c) for c in cols)}) "
                f"VALUES ({', '.join(ph)})")

    def insert(self, rows: list[dict]) -> None:
        cols = ["id", "value", "label", "day", "count"]
        tuples = [tuple(r[c] for c in cols) for r in rows]
        if self.b.name == "sqlite":
            tuples = [(i, v, lb, d.isoformat(), c) for i, v, lb, d, c in tuples]
        if self.b.name == "postgresql":
            q = ", ".join(self.b.quote(c) for c in cols)
            with self.raw.cursor() as cur, cur.copy(f"COPY {self.t['Item']} ({q}) FROM STDIN") as cp:
                for t in tuples:
                    cp.write_row(t)
            return
        self._tx(lambda cur: cur.executemany(self._sql("Item", cols), tuples))

    def select(self, table: str, binary: bool = False) -> tuple[list[str], list]:
        cur = self.raw.cursor(binary=True) if binary else self.raw.cursor()
        cur.execute(f"SELECT * FROM {self.t[table]}")
        rows = cur.fetchall()
        names = [d[0] for d in cur.description]
        cur.close()
        return names, rows

    def blob_insert(self, payload: list[tuple]) -> None:
        sql = self._sql("Blob", ["bid", "data"], {"data"})
        for row in payload:  # one transaction per row, like the workload's insert1
            self._tx(lambda cur, row=row: cur.execute(sql, row))

    def populate(self) -> None:
        keys = [r[0] for r in self.select("Src")[1]]
        sql = self._sql("Comp", ["k", "v"])
        for k in keys:
            self._tx(lambda cur, k=k: cur.execute(sql, (k, k)))

    def cascade(self, limit: int) -> None:
        def run(cur):
            for t in ("DelC", "DelB", "DelA"):
                cur.execute(f"DELETE FROM {self.t[t]} WHERE {self.b.quote('a')} < {limit}")
        self._tx(run)


def raw_floor(conn, tables, sizes) -> dict[str, float]:
    """The floor of each workload selected by ``sizes["only"]`` (default: all)."""
    r, rep, out = Raw(conn, tables), sizes["repeat"], {}
    T, want = tables, set(sizes.get("only") or wl.WORKLOADS)
    cpu: list[float] = []

    def time(name: str, fn, setup=None) -> None:
        if name in want:
            out[name] = wl.best(fn, rep, setup=setup)
            cpu.append(wl.CPU[-1])

    if want & {"insert", "fetch to_dicts", "fetch to_pandas"}:
        rows = wl.make_rows(sizes["rows"])
        T["Item"].delete_quick()
        time("insert", lambda: r.insert(rows), setup=T["Item"].delete_quick)
        if "insert" not in want:
            r.insert(rows)
        time("fetch to_dicts", lambda: (lambda n, x: [dict(zip(n, y)) for y in x])(
            *r.select("Item")))
        time("fetch to_pandas", lambda: pd.DataFrame.from_records(r.select("Item")[1]))
        T["Item"].delete_quick()
    if "populate" in want:
        T["Comp"].delete_quick()
        T["Src"].delete_quick()
        T["Src"].insert([dict(k=i) for i in range(sizes["keys"])])
        time("populate", r.populate, setup=T["Comp"].delete_quick)
        T["Comp"].delete_quick()
        T["Src"].delete_quick()
    if "cascade delete" in want:
        a, b, c = wl.delete_rows(sizes["del_a"], sizes["fanout"])

        def fill():
            for name in ("DelC", "DelB", "DelA"):
                T[name].delete_quick()
            T["DelA"].insert(a), T["DelB"].insert(b), T["DelC"].insert(c)
        time("cascade delete", lambda: r.cascade(sizes["del_a"] // 2), setup=fill)
        for name in ("DelC", "DelB", "DelA"):
            T[name].delete_quick()
    return {**out, **{f"{w} (cpu)": c for w, c in zip(out, cpu)}}


# ------------------------------------------------------------------------------ DataJoint
def datajoint_side(python: str | None, backend: str, cfg, sizes: dict) -> tuple[dict, str]:
    if backend == "sqlite":
        return {}, "DataJoint has no SQLite backend"
    if not python or not Path(python).exists():
        return {}, f"DataJoint skipped: no interpreter at {python!r} (set --dj-python)"
    args = dict(backend=backend, host=cfg["database.host"] or "127.0.0.1",
                port=cfg["database.port"] or (5432 if backend == "postgresql" else 3306),
                user=cfg["database.user"] or ("postgres" if backend == "postgresql" else "root"),
                password=cfg["database.password"], sizes=sizes)
    proc = subprocess.run([python, str(HERE / "dj_side.py"), json.dumps(args)],
                          capture_output=True, text=True)
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            out[rec["workload"]] = rec["seconds"]
            out[rec["workload"] + " (cpu)"] = rec.get("cpu")
    if proc.returncode:
        return out, f"DataJoint failed on {backend}: {proc.stderr.strip().splitlines()[-1:]}"
    return out, ""


# ------------------------------------------------------------------------------ main
def bench_backend(backend: str, sizes: dict, tmp: str, dj_python: str | None) -> tuple[dict, str]:
    cfg = backend_config(backend, Path(tmp))
    conn = dj.Connection(config=cfg)
    schema = dj.Schema(unique_name("bench"), connection=conn)
    try:
        tables = wl.declare(dj, schema)
        # interleaved: each round times every workload once by hand, then once by joinflow,
        # so that both see the same load of a shared machine; best of the rounds
        once, raw, jf = dict(sizes, repeat=1), {}, {}
        floor = Raw(conn, tables)
        payload = [(i, pack(a)) for i, a in  # packed before the clock starts
                   enumerate(wl.make_blobs(sizes["blobs"], sizes["blob_mb"]))]

        def blob_fetch_floor() -> list:
            return [np.frombuffer(b, np.float64, offset=29)
                    for _, b in floor.select("Blob", binary=floor.b.name == "postgresql")[1]]
        for _ in range(sizes["repeat"]):
            raw_res = raw_floor(conn, tables, once)
            jf_res = wl.run(dj, schema, tables=tables, blob_fetch_floor=blob_fetch_floor,
                            blob_insert_floor=lambda: floor.blob_insert(payload), **once)
            for w in ("blob insert", "blob insert (cpu)", "blob fetch", "blob fetch (cpu)"):
                # timed beside joinflow's: the same rows, the same state of file and allocator
                name = w.split(" (")[0]
                moved = jf_res.pop(w.replace(name, name + " floor"), None)
                if moved is not None:
                    raw_res[w] = moved
            for best, res in ((raw, raw_res), (jf, jf_res)):
                for w, t in res.items():
                    best[w] = min(t, best.get(w, t))
    finally:
        schema.drop(prompt=False)
        conn.close()
    djt, note = datajoint_side(dj_python, backend, cfg, sizes)
    names = [w for w in wl.WORKLOADS if w in jf] + [f"{w} (cpu)" for w in wl.WORKLOADS if w in jf]
    return {w: (raw.get(w), jf.get(w), djt.get(w)) for w in names}, note


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgresql,mysql")
    ap.add_argument("--dj-python", default=os.environ.get("JF_DATAJOINT_PYTHON", DEFAULT_DJ))
    ap.add_argument("--no-dj", action="store_true", help="skip DataJoint")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--only", default="", help="comma-separated workloads")
    args = ap.parse_args()
    sizes = dict(rows=100_000, blobs=20, blob_mb=5, keys=1000, del_a=200, fanout=10,
                 repeat=args.repeat)
    if args.quick:
        sizes.update(rows=5000, blobs=4, blob_mb=1, keys=100, del_a=20, fanout=5)
    if args.only:
        sizes["only"] = [w.strip() for w in args.only.split(",")]
    print(f"sizes: {sizes}; best of {args.repeat}\n")
    print("| backend | workload | raw (s) | joinflow (s) | DataJoint (s) | joinflow/raw "
          "| DataJoint/joinflow |")
    print("|---|---|---:|---:|---:|---:|---:|")
    notes = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            res, note = bench_backend(backend, sizes, tmp, None if args.no_dj else args.dj_python)
            if note:
                notes.append(f"{backend}: {note}")
            for w, (raw, jf, djt) in res.items():
                fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
                r1 = f"{jf / raw:.2f}x" if raw else "–"
                r2 = f"{djt / jf:.2f}x" if djt else "–"
                print(f"| {backend} | {w} | {fmt(raw)} | {fmt(jf)} | {fmt(djt)} | {r1} | {r2} |",
                      flush=True)
    for nt in notes:
        print(f"\n{nt}")


if __name__ == "__main__":
    main()
