"""Storage-layer benchmark: joinflow's Store batches against raw fsspec/s3fs, same run, same bytes.

    .venv/bin/python bench/bench_storage.py [--n 1000] [--kb 100] [--repeat 3] [--out FILE]

Stores: a local ``file`` store (tmp folder) and S3 on moto's server, run as a separate process on
a free 127.0.0.1 port (so the server's CPU does not share this process's GIL). For each store,
best-of-N wall time for:

* write: ``Store.put_many`` vs raw ``fs.pipe({path: bytes})`` (s3fs: its concurrent batch),
* read: ``Store.get_many`` vs raw ``fs.cat([paths])``,
* and the hash-addressed building blocks: ``upload_missing`` on new objects (exists check +
  write) and ``fetch_verified`` (read + MD5 check of every object), against the same raw calls.

Then the codec level (``--rows``, default 1000, of the same payloads as uint8 arrays): insert
and fetch of ``<blob@>`` rows (SQLite database) into each store, against in-table ``<blob>``
and against raw ``fs.pipe``/``fs.cat`` of the same serialized bytes.

Writes a markdown table to ``bench/RESULTS_storage.md`` (or --out).
"""
from __future__ import annotations

import argparse
import itertools
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joinflow.storage import (
    Store,
    StoreSpec,
    content_hash,
    fetch_verified,
    upload_missing,
)


def best_s(fn: Callable[[], Any], repeat: int, setup: Callable[[], Any] | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def bench_store(store: Store, payloads: list[bytes], repeat: int) -> list[tuple[str, float, float]]:
    """Rows of (operation, joinflow seconds, raw seconds)."""
    fs = store.fs
    rows = []
    keys = [content_hash(p) for p in payloads]

    def fresh(prefix: str) -> list[str]:
        return [f"{prefix}-{uuid.uuid4().hex[:6]}/{k}" for k in keys]

    paths: list[str] = []

    def new_paths() -> None:
        paths[:] = fresh("w")

    jf_put = best_s(lambda: store.put_many(list(zip(paths, payloads))), repeat, new_paths)
    raw_put = best_s(lambda: fs.pipe({store.full_path(p): d for p, d in zip(paths, payloads)}),
                     repeat, new_paths)
    rows.append(("write (put_many vs fs.pipe)", jf_put, raw_put))
    jf_up = best_s(lambda: upload_missing(store, list(zip(paths, payloads))), repeat, new_paths)
    rows.append(("write new, deduplicated (upload_missing vs fs.pipe)", jf_up, raw_put))
    jf_skip = best_s(lambda: upload_missing(store, list(zip(paths, payloads))), repeat)
    rows.append(("re-insert existing (upload_missing: exists only)", jf_skip, raw_put))

    fulls = [store.full_path(p) for p in paths]
    jf_get = best_s(lambda: store.get_many(paths), repeat)
    raw_get = best_s(lambda: fs.cat(fulls), repeat)
    rows.append(("read (get_many vs fs.cat)", jf_get, raw_get))
    objects = list(zip(paths, keys))
    jf_fetch = best_s(lambda: fetch_verified(store, objects), repeat)
    rows.append(("read + verify MD5 (fetch_verified vs fs.cat)", jf_fetch, raw_get))
    return rows


_COUNTER = itertools.count()


def bench_codecs(store_config: dict[str, Any], payloads: list[bytes], repeat: int,
                 tmp: str) -> list[tuple[str, float, float]]:
    """``<blob@>`` rows against in-table ``<blob>`` and raw fsspec, on SQLite."""
    import numpy as np

    import joinflow as dj
    from joinflow.codecs.blob import pack

    arrays = [np.frombuffer(p, dtype=np.uint8) for p in payloads]
    dj.config["database.backend"] = "sqlite"
    dj.config["stores"] = {"default": "main", "main": store_config}
    dj.config["safemode"] = False
    store = Store(StoreSpec.from_dict("main", store_config))
    tables: dict[str, Any] = {}

    def fresh() -> None:  # a new schema each time: new objects, no dedup across runs
        n = next(_COUNTER)
        conn = dj.Connection(config=_sqlite_config(dj, f"{tmp}/bench_{n}.db"))
        schema = dj.Schema(f"bench_{n}", connection=conn)

        class InStore(dj.Manual):
            definition = "id : int\n---\nb : <blob@>"

        class InTable(dj.Manual):
            definition = "id : int\n---\nb : <blob>"

        tables["store"], tables["table"] = schema(InStore), schema(InTable)

    rows = [{"id": i, "b": a} for i, a in enumerate(arrays)]
    jf_ins = best_s(lambda: tables["store"].insert(rows), repeat, fresh)
    in_table_ins = best_s(lambda: tables["table"].insert(rows), repeat, fresh)
    blobs = [pack(a, compress=True) for a in arrays]
    paths: list[str] = []

    def new_paths() -> None:
        paths[:] = [f"raw-{uuid.uuid4().hex[:6]}/{i}" for i in range(len(blobs))]

    raw_put = best_s(lambda: store.fs.pipe({store.full_path(p): b
                                            for p, b in zip(paths, blobs)}), repeat, new_paths)
    fresh()
    tables["store"].insert(rows)
    tables["table"].insert(rows)
    jf_get = best_s(lambda: tables["store"].to_arrays("b"), repeat)
    in_table_get = best_s(lambda: tables["table"].to_arrays("b"), repeat)
    raw_get = best_s(lambda: store.fs.cat([store.full_path(p) for p in paths]), repeat)
    return [("insert <blob@> rows vs raw fs.pipe", jf_ins, raw_put),
            ("insert in-table <blob> rows vs raw fs.pipe", in_table_ins, raw_put),
            ("fetch <blob@> column vs raw fs.cat", jf_get, raw_get),
            ("fetch in-table <blob> column vs raw fs.cat", in_table_get, raw_get)]


def _sqlite_config(dj: Any, path: str) -> Any:
    cfg = dj.config.child()
    cfg["database.backend"] = "sqlite"
    cfg["database.path"] = path
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--kb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).with_name("RESULTS_storage.md")))
    parser.add_argument("--rows", type=int, default=1000, help="rows for the codec level")
    parser.add_argument("--ceph", metavar="HOST:PORT",
                        help="also run against Ceph's RADOS gateway (keys testkey/testsecret)")
    args = parser.parse_args()
    payloads = [os.urandom(args.kb * 1024) for _ in range(args.n)]
    results: dict[str, list[tuple[str, float, float]]] = {}
    rows_payloads = payloads[:args.rows]
    with tempfile.TemporaryDirectory() as tmp:
        local_cfg = {"protocol": "file", "location": f"{tmp}/store"}
        local = Store(StoreSpec.from_dict("file", local_cfg))
        results["file"] = bench_store(local, payloads, args.repeat)
        results["file: codecs"] = bench_codecs(local_cfg, rows_payloads, args.repeat, tmp)
        proc, endpoint = start_moto()
        try:
            s3_cfg = {"protocol": "s3", "endpoint": endpoint, "bucket": "bench",
                      "location": "run", "access_key": "k", "secret_key": "s"}
            s3 = Store(StoreSpec.from_dict("s3", s3_cfg))
            s3.fs.mkdir("bench")
            results["s3 (moto, separate process)"] = bench_store(s3, payloads, args.repeat)
            results["s3 (moto): codecs"] = bench_codecs(s3_cfg, rows_payloads, args.repeat, tmp)
        finally:
            proc.terminate()
            proc.wait()
    if args.ceph:
        results["s3 (Ceph RADOS gateway, memstore)"] = bench_ceph(args.ceph, payloads, args.repeat)
    write_report(args, results)


def bench_ceph(endpoint: str, payloads: list[bytes], repeat: int) -> list[tuple[str, float, float]]:
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    store = Store(StoreSpec.from_dict("ceph", {"protocol": "s3", "endpoint": endpoint,
                                               "bucket": bucket, "location": "run",
                                               "access_key": "testkey",
                                               "secret_key": "testsecret"}))
    store.fs.mkdir(bucket)
    try:
        return bench_store(store, payloads, repeat)
    finally:
        store.fs.rm(bucket, recursive=True)


def write_report(args: argparse.Namespace, results: dict[str, list[tuple[str, float, float]]]) -> None:
    import fsspec
    import s3fs
    lines = [
        "# Storage layer benchmark",
        "",
        (f"`{' '.join(['.venv/bin/python', *sys.argv])}` — {args.n} objects x "
         f"{args.kb} KB, best of {args.repeat}; Python {platform.python_version()}, "
         f"fsspec {fsspec.__version__}, s3fs {s3fs.__version__}, {os.cpu_count()} cores."),
        ("Raw = fsspec's own batch call on the same filesystem (s3fs: concurrent `pipe`/`cat`; "
         "local: sequential). Ratio = joinflow / raw."),
        "",
    ]
    for store, rows in results.items():
        lines += [f"## {store}", "", "| operation | joinflow s | raw s | ratio |", "|---|---|---|---|"]
        lines += [f"| {op} | {jf:.3f} | {raw:.3f} | {jf / raw:.2f} |" for op, jf, raw in rows]
        lines.append("")
    text = "\n".join(lines)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
