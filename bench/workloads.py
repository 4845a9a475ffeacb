"""The workloads of issue 8, written once against the DataJoint API: run unchanged by joinflow
(``import joinflow as dj``) in bench/bench_compare.py and by DataJoint 2.3.5 in its own virtual
environment (bench/dj_side.py). Standard library + numpy only; no joinflow imports.

Every workload is timed best-of-``repeat``; the state it needs is rebuilt (untimed) before each
repetition.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any, Callable

import numpy as np

#: workload names, in report order
WORKLOADS = ["insert", "fetch to_dicts", "fetch to_pandas", "blob insert", "blob fetch",
             "populate", "cascade delete"]


def make_rows(n: int) -> list[dict]:
    base = dt.date(2020, 1, 1)
    return [dict(id=i, value=i * 0.5, label=f"row{i % 1000}", day=base + dt.timedelta(days=i % 365),
                 count=i % 30000) for i in range(n)]


def make_blobs(count: int, mb: float) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    n = int(mb * 1e6 / 8)
    return [rng.random(n) for _ in range(count)]


def delete_rows(a_rows: int, fanout: int) -> tuple[list, list, list]:
    """A (a_rows), B (fanout per A), C (fanout per B); the workload deletes A & 'a < a_rows/2'."""
    a = [dict(a=i) for i in range(a_rows)]
    b = [dict(a=i, b=j) for i in range(a_rows) for j in range(fanout)]
    c = [dict(a=i, b=j, c=k) for i in range(a_rows) for j in range(fanout) for k in range(fanout)]
    return a, b, c


#: client CPU seconds (``time.process_time``) of the best-of-``repeat`` run of each ``best``
#: call, in call order: what the client itself spends, unaffected by the server's load
#: (populate's per-key commits wait for the disk)
CPU: list[float] = []


def best(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> float:
    times, cpu = [], []
    for _ in range(repeat):
        if setup is not None:
            setup()
        c, t = time.process_time(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    CPU.append(min(cpu))
    return min(times)


def declare(dj: Any, schema: Any) -> dict:
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
    class Blob(dj.Manual):
        definition = """
        bid : int32
        ---
        data : <blob>
        """

    @schema
    class Src(dj.Manual):
        definition = """
        k : int32
        """

    @schema
    class Comp(dj.Computed):
        definition = """
        -> Src
        ---
        v : int32
        """

        def make(self, key):
            self.insert1(dict(key, v=key["k"]))

    @schema
    class DelA(dj.Manual):
        definition = """
        a : int32
        """

    @schema
    class DelB(dj.Manual):
        definition = """
        -> DelA
        b : int32
        """

    @schema
    class DelC(dj.Manual):
        definition = """
        -> DelB
        c : int32
        """

    return dict(Item=Item, Blob=Blob, Src=Src, Comp=Comp, DelA=DelA, DelB=DelB, DelC=DelC)


def run(dj: Any, schema: Any, *, rows: int, blobs: int, blob_mb: float, keys: int,
        del_a: int, fanout: int, repeat: int, only: list[str] | None = None,
        report: Callable[[str, float], Any] = lambda name, t: None,
        tables: dict | None = None,
        blob_insert_floor: Callable[[], Any] | None = None,
        blob_fetch_floor: Callable[[], Any] | None = None) -> dict[str, float]:
    """Time each workload on the tables of ``declare`` (declared in ``schema`` unless given);
    ``{name: seconds}``. ``blob_insert_floor``, ``blob_fetch_floor``: the driver doing the same
    blob work, timed right after joinflow's (recorded as ``blob insert floor``, ``blob fetch
    floor``), in the same state of the process and the tables."""
    t = tables or declare(dj, schema)
    Item, Blob, Src, Comp = t["Item"], t["Blob"], t["Src"], t["Comp"]
    DelA, DelB, DelC = t["DelA"], t["DelB"], t["DelC"]
    out: dict[str, float] = {}
    want = set(only or WORKLOADS)

    def record(name: str, seconds: float) -> None:
        out[name] = seconds
        out[name + " (cpu)"] = CPU[-1]
        report(name, seconds)

    if want & {"insert", "fetch to_dicts", "fetch to_pandas"}:
        data = make_rows(rows)
        record("insert", best(lambda: Item.insert(data), repeat, setup=Item.delete_quick))
        if "fetch to_dicts" in want:
            record("fetch to_dicts", best(lambda: Item.to_dicts(), repeat))
        if "fetch to_pandas" in want:
            record("fetch to_pandas", best(lambda: Item.to_pandas(), repeat))
        Item.delete_quick()
    if want & {"blob insert", "blob fetch"}:
        arrays = make_blobs(blobs, blob_mb)
        brows = [dict(bid=i, data=a) for i, a in enumerate(arrays)]
        # one row per insert: DataJoint sends a whole insert as one statement, which must fit
        # the server's max_allowed_packet (16 MB by default on MariaDB)
        record("blob insert", best(lambda: [Blob.insert1(r) for r in brows], repeat,
                                   setup=Blob.delete_quick))
        if blob_insert_floor is not None:
            record("blob insert floor", best(blob_insert_floor, repeat, setup=Blob.delete_quick))
            Blob.delete_quick()
            for r in brows:
                Blob.insert1(r)
        if "blob fetch" in want:
            got: list = []  # the last result only, like the raw floor's (freed between runs)
            record("blob fetch", best(lambda: got.append(Blob.to_dicts()), repeat,
                                      setup=got.clear))
            check = got[-1]
            assert len(check) == blobs and np.array_equal(check[-1]["data"], arrays[-1])
            del got[:], check
            if blob_fetch_floor is not None:  # the same rows, the same process state
                record("blob fetch floor", best(lambda: got.append(blob_fetch_floor()), repeat,
                                                setup=got.clear))
                del got[:]
        Blob.delete_quick()
    if "populate" in want:
        Src.insert([dict(k=i) for i in range(keys)])
        record("populate", best(lambda: Comp.populate(), repeat, setup=Comp.delete_quick))
        assert len(Comp()) == keys
        Comp.delete_quick()
        Src.delete_quick()  # the next round starts from empty tables
    if "cascade delete" in want:
        a, b, c = delete_rows(del_a, fanout)

        def fill() -> None:
            DelC.delete_quick()
            DelB.delete_quick()
            DelA.delete_quick()
            DelA.insert(a)
            DelB.insert(b)
            DelC.insert(c)
        record("cascade delete", best(lambda: (DelA & f"a < {del_a // 2}").delete(), repeat,
                                      setup=fill))
        assert len(DelC()) == len(c) // 2
    return out
