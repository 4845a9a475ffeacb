"""The codec/transaction seam that object storage builds on: codecs that ask for object
writes (``Encoded``), uploads before the row's transaction and cleanup when it fails,
transaction hooks, per-row keys and column-wise decoding. A recording in-memory store stands
in for the storage layer here; the real stores are tested in test_storage_*.py."""
from __future__ import annotations

import hashlib

import pytest

import joinflow as dj
from joinflow import objectstores
from joinflow.codecs.base import Encoded, ObjectWrite


class MemoryStores:
    """Records what the insert path asks of the storage layer."""

    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.puts: list[list[str]] = []
        self.discarded: list[str] = []

    def get(self, name):
        return self

    def put_pending(self, writes):
        self.puts.append([w.path for w in writes])
        created = [w for w in writes if w.path not in self.objects]
        for w in created:
            self.objects[w.path] = bytes(w.data)
        return created

    def discard(self, writes, connection):
        for w in writes:
            self.discarded.append(w.path)
            self.objects.pop(w.path, None)


class Memo(dj.Codec):
    """<memo@>: bytes kept in the (fake) store, the row holds the digest."""

    name = "memo"
    decoded_batches: list[int] = []

    def get_dtype(self, is_store):
        return "varchar(64)"

    def encode(self, value, *, context=None):
        digest = hashlib.md5(value).hexdigest()
        return Encoded(digest, writes=(ObjectWrite(context.store, f"m/{digest}", data=value,
                                                   size=len(value)),))

    def decode_column(self, values, *, context):
        Memo.decoded_batches.append(len(values))
        store = context.stores.get(context.store)
        return [None if v is None else store.objects[f"m/{v}"] for v in values]


class Keyed(dj.Codec):
    """A codec that reads the row's primary key (as schema-addressed objects will)."""

    name = "keyed"
    uses_row_key = True

    def get_dtype(self, is_store):
        return "varchar(64)"

    def encode(self, value, *, context=None):
        return f"{context.key['id']}:{value}"

    def decode(self, stored, *, context=None):
        return stored.split(":", 1)[1]


@pytest.fixture
def stores(monkeypatch):
    fake = MemoryStores()
    monkeypatch.setattr(objectstores, "store_access", lambda connection: fake)
    return fake


@pytest.fixture
def Obj(schema, tmp_path):
    # a store must be configured at declaration (the fake stands in for it at run time)
    stores = {"default": "mem", "mem": {"protocol": "file", "location": str(tmp_path)}}
    with dj.config.override(stores=stores):
        return _declare_obj(schema)


def _declare_obj(schema):
    @schema
    class Obj(dj.Manual):
        definition = """
        id : int32
        ---
        data : <memo@>
        tag = null : <keyed>
        """
    return Obj


def test_objects_uploaded_before_rows_and_decoded_per_column(Obj, stores):
    Obj.insert([{"id": i, "data": b"x%d" % (i % 3), "tag": "t"} for i in range(6)])
    assert stores.puts == [[f"m/{hashlib.md5(b'x%d' % (i % 3)).hexdigest()}" for i in range(6)]]
    assert len(stores.objects) == 3  # the same content is one object
    Memo.decoded_batches.clear()
    rows = Obj.to_dicts(order_by="id")
    assert [r["data"] for r in rows] == [b"x%d" % (i % 3) for i in range(6)]
    assert Memo.decoded_batches == [6]  # one call for the whole column
    assert stores.discarded == []


def test_failed_insert_removes_the_objects_it_created(Obj, stores):
    Obj.insert1({"id": 1, "data": b"kept"})
    with pytest.raises(dj.errors.DuplicateError):
        Obj.insert([{"id": 2, "data": b"new"}, {"id": 1, "data": b"kept"}])
    assert stores.discarded == [f"m/{hashlib.md5(b'new').hexdigest()}"]
    assert len(Obj) == 1 and list(stores.objects) == [f"m/{hashlib.md5(b'kept').hexdigest()}"]


def test_user_transaction_rollback_removes_objects(Obj, stores, conn):
    with pytest.raises(RuntimeError):
        with conn.transaction:
            Obj.insert1({"id": 1, "data": b"a"})
            Obj.insert1({"id": 2, "data": b"b"})
            raise RuntimeError("user code failed")
    assert len(Obj) == 0
    assert sorted(stores.discarded) == sorted(f"m/{hashlib.md5(v).hexdigest()}" for v in (b"a", b"b"))
    with conn.transaction:
        Obj.insert1({"id": 3, "data": b"c"})
    assert len(stores.discarded) == 2 and len(Obj) == 1


def test_update1_and_chunks_go_through_the_same_path(Obj, stores):
    Obj.insert([{"id": i, "data": b"%d" % i} for i in range(5)], chunk_size=2)
    assert len(Obj) == 5 and len(stores.objects) == 5
    Obj.update1({"id": 1, "data": b"changed"})
    assert (Obj & {"id": 1}).fetch1("data") == b"changed"
    assert f"m/{hashlib.md5(b'changed').hexdigest()}" in stores.objects


def test_codec_receives_the_rows_key(Obj, stores, conn):
    Obj.insert([{"id": 7, "data": b"a", "tag": "x"}, {"id": 8, "data": b"b", "tag": "y"}])
    raw = conn.query(f"SELECT tag FROM {Obj.full_table_name} ORDER BY id")
    assert [r[0] for r in raw] == ["7:x", "8:y"]
    assert (Obj & {"id": 8}).fetch1("tag") == "y"


def test_transaction_hooks(conn):
    seen = []
    with conn.transaction:
        conn.on_commit(lambda: seen.append("outer commit"))
        conn.on_rollback(lambda: seen.append("outer rollback"))
        with pytest.raises(KeyError):
            with conn.transaction:
                conn.on_commit(lambda: seen.append("inner commit"))
                conn.on_rollback(lambda: seen.append("inner rollback"))
                raise KeyError("inner fails")
        assert seen == ["inner rollback"]
        with conn.transaction:
            conn.on_rollback(lambda: seen.append("released rollback"))
    assert seen == ["inner rollback", "outer commit"]
    seen.clear()
    conn.start_transaction()
    conn.on_rollback(lambda: seen.append("manual rollback"))
    conn.cancel_transaction()
    conn.on_commit(lambda: seen.append("no transaction: now"))
    assert seen == ["manual rollback", "no transaction: now"]


def test_failing_hook_does_not_hide_the_outcome(conn, caplog):
    with conn.transaction:
        conn.on_commit(lambda: 1 / 0)
        conn.on_commit(lambda: caplog.handler.records.append(None))
    assert any("transaction hook" in r.getMessage() for r in caplog.records if r)


def test_call_style_resolved_once_per_codec(monkeypatch, schema):
    import inspect

    from joinflow.codecs import base

    @schema
    class Up(dj.Manual):
        definition = """
        id : int32
        ---
        s : <upper2>
        """

    calls = []
    real = inspect.signature
    monkeypatch.setattr(base.inspect, "signature", lambda f: calls.append(f) or real(f))
    Up.insert([{"id": i, "s": "abc"} for i in range(200)])
    assert [r["s"] for r in Up.to_dicts()] == ["abc"] * 200
    assert len(calls) <= 2  # encode and decode, once each


class Upper2(dj.Codec):
    """DataJoint 2.x call style."""

    name = "upper2"

    def get_dtype(self, is_store):
        return "varchar(16)"

    def encode(self, value, *, key=None, store_name=None):
        return value.upper()

    def decode(self, stored, *, key=None):
        return stored.lower()
