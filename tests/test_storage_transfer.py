"""Failures, atomicity, concurrency, deduplication, verification and the local cache."""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from joinflow.errors import MissingObjectError, ObjectIntegrityError, StoreError
from joinflow.storage import (
    ObjectCache,
    Store,
    StoreSpec,
    content_hash,
    fetch_verified,
    upload_missing,
)
from joinflow.storage.failures import classify
from joinflow.storage.store import TEMP_PREFIX


def file_store(folder: Path, name: str = "local") -> Store:
    return Store(StoreSpec.from_dict(name, {"protocol": "file", "location": str(folder)}))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- failures -----------------------------------------------------------------------------------
def test_unreachable_endpoint_fails_fast_with_one_line() -> None:
    port = closed_port()
    spec = StoreSpec.from_dict("shared", {
        "protocol": "s3", "endpoint": f"127.0.0.1:{port}", "bucket": "b", "location": "",
        "access_key": "datajoint", "secret_key": "VERYSECRET",
        "storage_options": {"config_kwargs": {"connect_timeout": 1,
                                              "retries": {"max_attempts": 1}}}})
    start = time.monotonic()
    with pytest.raises(StoreError) as info:
        Store(spec).get_bytes("x/y")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert message.startswith(f"store 'shared' (s3 http://127.0.0.1:{port}/b): cannot reach "
                              f"http://127.0.0.1:{port}")
    assert "\n" not in message and "VERYSECRET" not in message and "Traceback" not in message
    assert info.value.__cause__ is not None  # the driver error is kept


def test_missing_bucket(moto_s3: Any) -> None:
    store = Store(StoreSpec.from_dict("s3", {**moto_s3.store_config(), "bucket": "no-such-b"}))
    with pytest.raises(StoreError, match=r"store 's3' .*bucket 'no-such-b' does not exist"):
        store.put_bytes("a", b"x")
    with pytest.raises(StoreError, match="does not exist"):
        store.list()


def test_missing_object_is_not_a_bucket_problem(moto_s3: Any) -> None:
    store = Store(StoreSpec.from_dict("s3", moto_s3.store_config()))
    with pytest.raises(MissingObjectError, match=r"object not found \[read 'nope'\]"):
        store.get_bytes("nope")


@pytest.mark.ceph
def test_bad_credentials_on_a_real_server(ceph_s3: Any) -> None:
    config = {**ceph_s3.store_config(), "secret_key": "WRONGSECRET"}
    store = Store(StoreSpec.from_dict("ceph", config))
    with pytest.raises(StoreError, match=r"store 'ceph' .*access denied") as info:
        store.put_bytes("a", b"x")
    assert "WRONGSECRET" not in str(info.value) and "\n" not in str(info.value)


class NoCredentialsError(Exception):  # named like botocore's
    pass


@pytest.mark.parametrize("exc, kind, problem", [
    (PermissionError("Access Denied"), StoreError, "access denied"),
    (OSError("An error occurred (InvalidAccessKeyId) when calling"), StoreError, "access denied"),
    (NoCredentialsError("Unable to locate credentials"), StoreError, "no credentials"),
    (FileNotFoundError("x"), MissingObjectError, "object not found"),
    (ImportError("Install s3fs to access S3"), StoreError, "needs a package"),
    (TimeoutError("timed out"), StoreError, "cannot reach"),
    (ValueError("strange"), StoreError, "ValueError: strange"),
])
def test_classification(exc: BaseException, kind: type, problem: str) -> None:
    spec = StoreSpec.from_dict("s", {"protocol": "s3", "bucket": "b"})
    got_kind, got_problem = classify(exc, spec)
    assert got_kind is kind and problem in got_problem


def test_file_store_permission_problem_is_not_about_credentials() -> None:
    spec = StoreSpec.from_dict("f", {"protocol": "file", "location": "/x"})
    _kind, problem = classify(PermissionError(13, "Permission denied", "/x/a"), spec)
    assert problem.startswith("permission denied")


def test_uninstalled_protocol_implementation() -> None:
    pytest.importorskip("fsspec")
    spec = StoreSpec.from_dict("cloud", {"protocol": "gcs", "bucket": "b"})
    try:
        import gcsfs  # noqa: F401
        pytest.skip("gcsfs is installed")
    except ImportError:
        pass
    with pytest.raises(StoreError, match=r"store 'cloud' .*needs a package"):
        Store(spec).exists("x")


# -- atomic writes --------------------------------------------------------------------------------
def test_killed_writer_leaves_no_partial_object(tmp_path: Path) -> None:
    """A writer killed mid-write leaves at most a hidden temporary file, never a partial object
    under the final name."""
    flag = tmp_path / "writing"
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from joinflow.storage.store import atomic_local_write
        def write(f):
            f.write(b"x" * 1000)
            f.flush()
            Path({str(flag)!r}).touch()
            time.sleep(60)
        atomic_local_write({str(tmp_path / 'store' / 'obj')!r}, write)
    """)
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(200):
            if flag.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert flag.exists(), "writer did not start"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    store = file_store(tmp_path / "store")
    assert not store.exists("obj")
    temps = [p.name for p in (tmp_path / "store").iterdir()]
    assert len(temps) == 1 and temps[0].startswith(TEMP_PREFIX)  # the partial data was real
    assert store.list() == []  # ...and hidden


# -- concurrency --------------------------------------------------------------------------------
def test_get_many_issues_concurrent_requests(moto_s3: Any) -> None:
    store = Store(StoreSpec.from_dict("s3", moto_s3.store_config()))
    items = [(f"c/{i:03d}", os.urandom(1000)) for i in range(200)]
    store.put_many(items)
    meter = moto_s3.meter
    latency = 0.05  # per request: 200 sequential GETs would need >= 10 s
    meter.reset(latency=latency)
    try:
        start = time.monotonic()
        got = store.get_many([p for p, _ in items])
        elapsed = time.monotonic() - start
        peak, requests = meter.peak, meter.requests
    finally:
        meter.reset()
    assert got == [d for _, d in items]
    assert requests == 200  # one GET each (no HEAD first)
    # concurrency is shown by the requests in flight at once, counted at the server; the wall
    # time is only a loose check (moto shares this process's GIL, and CI machines are shared)
    assert peak >= 16, f"only {peak} requests were ever in flight"
    assert elapsed < 200 * latency * 0.8, f"{elapsed:.2f}s: no faster than sequential"


def test_put_many_and_exists_many_are_concurrent(moto_s3: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(StoreSpec.from_dict("s3", moto_s3.store_config()))
    monkeypatch.setattr("joinflow.storage.store.LIST_MIN_BATCH", 10**9)  # HEADs, not a listing
    meter = moto_s3.meter
    meter.reset(latency=0.02)
    try:
        store.put_many([(f"p/{i}", b"x") for i in range(64)])
        put_peak = meter.peak
        meter.reset(latency=0.02)
        assert all(store.exists_many([f"p/{i}" for i in range(64)]))
        exists_peak = meter.peak
    finally:
        meter.reset()
    assert put_peak >= 8 and exists_peak >= 8


def test_thread_pool_for_sync_filesystems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = file_store(tmp_path)
    store.put_many([(f"t/{i}", b"%d" % i) for i in range(32)])
    state = {"now": 0, "peak": 0}
    lock = threading.Lock()
    real = store.fs.cat_file

    def slow_cat(path: str, *args: Any, **kwargs: Any) -> bytes:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(store.fs, "cat_file", slow_cat)
    assert store.get_many([f"t/{i}" for i in range(32)]) == [b"%d" % i for i in range(32)]
    assert state["peak"] >= 4


# -- dedup and verification -------------------------------------------------------------------------
def test_upload_missing_skips_existing_objects(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    assert upload_missing(store, [("a", b"1"), ("b", b"2"), ("a", b"1")]) == ["a", "b"]
    before = os.stat(tmp_path / "a").st_mtime_ns
    assert upload_missing(store, [("a", b"1"), ("c", b"3")]) == ["c"]
    assert os.stat(tmp_path / "a").st_mtime_ns == before  # not rewritten


def test_fetch_verified_detects_corruption(tmp_path: Path) -> None:
    store = file_store(tmp_path)
    good, bad = b"good bytes", b"original"
    store.put_many([("g", good), ("b", bad)])
    (tmp_path / "b").write_bytes(b"tampered")
    assert fetch_verified(store, [("g", content_hash(good))]) == [good]
    with pytest.raises(ObjectIntegrityError, match=r"store 'local': object 'b' is corrupted"):
        fetch_verified(store, [("g", content_hash(good)), ("b", content_hash(bad))])


def test_second_fetch_is_served_by_the_cache_with_the_store_gone(tmp_path: Path) -> None:
    store = file_store(tmp_path / "store")
    cache = ObjectCache(tmp_path / "cache")
    data = [os.urandom(100) for _ in range(5)]
    objects = [(f"o/{i}", content_hash(d)) for i, d in enumerate(data)]
    store.put_many([(p, d) for (p, _), d in zip(objects, data)])
    assert fetch_verified(store, objects, cache) == data
    for p, _ in objects:
        (tmp_path / "store" / p).unlink()  # the store is gone...
    assert fetch_verified(store, objects, cache) == data  # ...and the cache answers
    with pytest.raises(MissingObjectError):
        fetch_verified(store, objects)


def test_cache_with_an_unreachable_s3_store(tmp_path: Path) -> None:
    spec = StoreSpec.from_dict("down", {"protocol": "s3", "bucket": "b",
                                        "endpoint": f"127.0.0.1:{closed_port()}"})
    cache = ObjectCache(tmp_path / "cache")
    cache.put(content_hash(b"abc"), b"abc")
    assert fetch_verified(Store(spec), [("x", content_hash(b"abc"))], cache) == [b"abc"]


# -- the cache -----------------------------------------------------------------------------------
def test_cache_round_trip_and_verification(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path)
    key = content_hash(b"payload")
    assert cache.get(key) is None and key not in cache
    cache.put(key, b"payload")
    assert cache.get(key) == b"payload" and key in cache
    assert cache.path(key) == tmp_path / key[:2] / key
    cache.path(key).write_bytes(b"bit rot")
    assert cache.get(key) is None and not cache.path(key).exists()  # dropped, a miss
    with pytest.raises(ObjectIntegrityError, match="hashes differently"):
        cache.put(key, b"not the payload")


def test_cache_files(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path / "c")
    src = tmp_path / "src"
    src.write_bytes(b"file contents")
    key = content_hash(b"file contents")
    cache.put_file(key, src)
    path = cache.get_path(key)
    assert path is not None and path.read_bytes() == b"file contents"
    assert cache.get_path(content_hash(b"other")) is None


def test_cache_evicts_least_recently_used(tmp_path: Path) -> None:
    cache = ObjectCache(tmp_path, size_limit=3000)
    blobs = [bytes([i]) * 1000 for i in range(3)]
    keys = [content_hash(b) for b in blobs]
    for k, b in zip(keys, blobs):
        cache.put(k, b)
        time.sleep(0.01)
    assert cache.get(keys[0]) == blobs[0]  # refreshes the oldest entry
    time.sleep(0.01)
    newest = bytes([9]) * 1000
    cache.put(content_hash(newest), newest)  # 4000 > 3000: evict to <= 2700
    assert cache.size() <= 2700
    assert keys[1] not in cache and keys[2] not in cache  # the least recently used went
    assert keys[0] in cache and content_hash(newest) in cache
    cache.put(content_hash(b"z" * 5000), b"z" * 5000)  # larger than the limit: not cached
    assert content_hash(b"z" * 5000) not in cache


def test_cache_from_config(tmp_path: Path) -> None:
    from joinflow.settings import Config
    cfg = Config()
    assert ObjectCache.from_config(cfg) is None
    cfg["cache"] = str(tmp_path)
    cfg["cache_size_limit"] = 10
    cache = ObjectCache.from_config(cfg)
    assert cache is not None and cache.folder == tmp_path and cache.size_limit == 10


def _cache_writer(folder: str, seed: int, out: Any) -> None:
    cache = ObjectCache(folder, size_limit=200_000)
    shared = [bytes([i]) * 2000 for i in range(50)]  # both processes write these
    own = [os.urandom(2000) for _ in range(50)]
    bad = 0
    for data in (shared + own) if seed else (own + shared):
        key = content_hash(data)
        cache.put(key, data)
        got = cache.get(key)
        bad += got is not None and got != data
    out.put(bad)


def test_two_processes_write_the_same_cache(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_cache_writer, args=(str(tmp_path), s, out)) for s in (0, 1)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == [0, 0] and all(p.exitcode == 0 for p in procs)
    cache = ObjectCache(tmp_path)
    for data in (bytes([i]) * 2000 for i in range(50)):
        assert cache.get(content_hash(data)) in (None, data)
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(TEMP_PREFIX)]
