"""The fast paths of issue 8 keep values exact: binary bytea both ways on PostgreSQL (one
statement per row for large values, binary result format for fetches of binary columns),
blobs on MySQL and SQLite, cascade delete through deep chains, populate's per-key path."""
from __future__ import annotations

import numpy as np
import pytest

import joinflow as dj

EDGE_BYTES = [b"", b"\x00", b"\x01", b"\x00" * 7 + b"\xff\x00", bytes(range(256)) * 4,
              b"\\x00'\"\n\r\x1a%s?" * 3, np.random.default_rng(1).bytes(3_000_000)]


def test_bytes_roundtrip_exact(schema):
    @schema
    class Raw(dj.Manual):
        definition = """
        id : int32
        ---
        data : bytes
        note = null : varchar(8)
        """
    rows = [dict(id=i, data=b, note=None if i % 2 else "x") for i, b in enumerate(EDGE_BYTES)]
    Raw.insert(rows)  # mixes large and small values in one insert
    got = Raw.to_dicts(order_by="id")
    assert [r["data"] for r in got] == EDGE_BYTES
    assert [type(r["data"]) for r in got] == [bytes] * len(EDGE_BYTES)
    assert [r["note"] for r in got] == [r["note"] for r in rows]
    for i, b in enumerate(EDGE_BYTES):  # one row at a time (insert1 / fetch1)
        Raw.insert1(dict(id=100 + i, data=b))
        assert (Raw & dict(id=100 + i)).fetch1("data") == b
    # many small rows (COPY on PostgreSQL) next to the large-value path
    small = [dict(id=1000 + i, data=bytes([i % 256]) * (i % 5)) for i in range(500)]
    Raw.insert(small)
    assert (Raw & "id >= 1000").to_arrays("data").tolist() == [r["data"] for r in small]


def test_blob_roundtrip_through_binary_paths(schema):
    @schema
    class Blobs(dj.Manual):
        definition = """
        id : int32
        ---
        kind : enum('a', 'b')
        data : <blob>
        """
    rng = np.random.default_rng(2)
    values = [np.array([]), np.zeros(1), b"\x00", "text\x00nul", rng.random(700_000),
              rng.integers(0, 255, size=(300, 400), dtype=np.uint8), {"a": np.arange(3)}]
    Blobs.insert([dict(id=i, kind="ab"[i % 2], data=v) for i, v in enumerate(values)])
    got = Blobs.to_dicts(order_by="id")
    assert [r["kind"] for r in got] == ["ab"[i % 2] for i in range(len(values))]
    for want, row in zip(values, got):
        have = row["data"]
        if isinstance(want, dict):
            assert np.array_equal(have["a"], want["a"])
        elif isinstance(want, np.ndarray):
            assert np.array_equal(np.asarray(have).reshape(want.shape), want)
        else:
            assert have == want
    df = Blobs.to_pandas()
    assert np.array_equal(df.loc[4, "data"], values[4])


def test_replace_and_skip_with_large_values(schema):
    @schema
    class R(dj.Manual):
        definition = """
        id : int32
        ---
        data : bytes
        """
    big = [bytes([i]) * 100_000 for i in range(5)]
    R.insert([dict(id=i, data=b) for i, b in enumerate(big)])
    R.insert([dict(id=i, data=b"new" * 50_000) for i in range(3)], replace=True)
    R.insert([dict(id=i, data=b"skip" * 50_000) for i in range(6)], skip_duplicates=True)
    got = dict(zip(*R.to_arrays("id", "data")))
    assert got[0] == got[2] == b"new" * 50_000 and got[4] == big[4] and got[5] == b"skip" * 50_000
