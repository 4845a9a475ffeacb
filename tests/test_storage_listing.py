"""``Store.exists_many`` on S3 answers a large batch by listing the batch's common folder
(bounded pages), falling back to HEADs for what a truncated listing did not show; never a
wrong "exists"."""
from __future__ import annotations

import os
from typing import Any

import pytest

from joinflow.storage import Store, StoreSpec, content_hash, upload_missing
from joinflow.storage import store as store_module


def s3_store(server: Any) -> Store:
    return Store(StoreSpec.from_dict("s3", server.store_config()))


def metered(server: Any, call: Any) -> tuple[Any, int]:
    server.meter.reset()
    try:
        result = call()
        return result, server.meter.requests
    finally:
        server.meter.reset()


def test_new_objects_cost_a_listing_not_a_head_each(moto_s3: Any) -> None:
    store = s3_store(moto_s3)
    payloads = [os.urandom(64) + b"%d" % i for i in range(500)]
    items = [(f"_hash/schema/{content_hash(p)}", p) for p in payloads]
    written, requests = metered(moto_s3, lambda: upload_missing(store, items))
    assert sorted(written) == sorted(p for p, _ in items)
    assert 500 < requests <= 502  # 1 LIST (empty folder) + 500 PUTs; 1,000 before (HEAD+PUT)
    assert store.exists_many([p for p, _ in items]) == [True] * 500
    written, requests = metered(moto_s3, lambda: upload_missing(store, items))
    assert written == [] and requests <= 2  # a retried insert: listing only, no re-upload


def test_listing_stays_bounded_and_falls_back_to_heads(moto_s3: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "LIST_PAGE", 10)  # budget: ceil(40/10)+1 = 5 pages
    store = s3_store(moto_s3)
    others = [(f"h/s/o{i:03d}", b"o") for i in range(200)]  # sort before the asked keys
    asked = [f"h/s/x{i:03d}" for i in range(40)]
    store.put_many(others + [(p, b"x") for p in asked[::2]])
    expected = [i % 2 == 0 for i in range(40)]
    got, requests = metered(moto_s3, lambda: store.exists_many(asked))
    assert got == expected
    assert requests == 5 + 40  # the listing saw only "o…" keys: a HEAD for every path
    monkeypatch.setattr(store_module, "LIST_PAGE", 100)  # budget 2 pages: sees o000..o199
    store.put_many([(f"h/s/a{i:03d}", b"a") for i in range(150)])  # now 370 keys
    got, requests = metered(moto_s3, lambda: store.exists_many(asked))
    assert got == expected and requests == 2 + 40
    monkeypatch.setattr(store_module, "LIST_PAGE", 1000)  # one page holds all: no HEADs
    got, requests = metered(moto_s3, lambda: store.exists_many(asked))
    assert got == expected and requests == 1


def test_partial_listing_answers_what_it_saw(moto_s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "LIST_PAGE", 20)  # budget ceil(40/20)+1 = 3 pages
    store = s3_store(moto_s3)
    asked = [f"d/k{i:03d}" for i in range(40)]
    store.put_many([(p, b"x") for p in asked[:30]] + [(f"d/z{i:03d}", b"z") for i in range(100)])
    got, requests = metered(moto_s3, lambda: store.exists_many(asked))
    assert got == [True] * 30 + [False] * 10
    assert requests == 3 + 10  # the first 30 keys were listed; HEAD only for the other 10


def test_only_exact_keys_count(moto_s3: Any) -> None:
    store = s3_store(moto_s3)
    # present: a key that is a prefix of an asked path, a longer key, a folder's content,
    # the asked name in another folder, a "folder marker" key
    store.put_many([("p/q/ab", b"1"), ("p/q/abcd", b"1"), ("p/q/abc/inner", b"1"),
                    ("p/other/abc", b"1")]
                   + [(f"p/q/f{i:02d}", b"f") for i in range(0, 40, 2)])
    bucket, key, _ = store.fs.split_path(store.full_path("p/q/dir"))
    store.fs.call_s3("put_object", Bucket=bucket, Key=key + "/", Body=b"")  # a folder marker
    asked = ["p/q/abc", "p/q/a", "p/q/dir", "p/q/abcd", "p/q/ab"] + [f"p/q/f{i:02d}"
                                                                       for i in range(40)]
    expected = [False, False, False, True, True] + [i % 2 == 0 for i in range(40)]
    got, requests = metered(moto_s3, lambda: store.exists_many(asked))
    assert got == expected and requests == 1
    # the same answers from HEADs (below the batch size that lists)
    assert [store.exists(p) for p in asked[:5]] == expected[:5]


def test_paths_across_folders_and_duplicates(moto_s3: Any) -> None:
    store = s3_store(moto_s3)
    present = [f"_hash/s{i % 3}/{i:02d}/obj" for i in range(0, 60, 3)]
    store.put_many([(p, b"x") for p in present])
    asked = [f"_hash/s{i % 3}/{i:02d}/obj" for i in range(60)]
    asked += asked[:10]  # duplicates are answered like the first
    got, requests = metered(moto_s3, lambda: store.exists_many(asked))
    assert got == [p in present for p in asked] and requests == 1


def test_listing_failure_falls_back_to_heads(moto_s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = s3_store(moto_s3)
    store.put_many([(f"n/{i}", b"x") for i in range(0, 40, 2)])

    async def denied(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError("no s3:ListBucket")

    monkeypatch.setattr(store, "_list_keys", denied)
    got, requests = metered(moto_s3, lambda: store.exists_many([f"n/{i}" for i in range(40)]))
    assert got == [i % 2 == 0 for i in range(40)] and requests == 40
