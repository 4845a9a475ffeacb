"""Object storage under concurrent writers, and the write paths that replace rows: no
schema-addressed object is leaked or lost.

* Two connections replacing (``insert(replace=True)``, ``update1``) or deleting the same row:
  the second writer reads the row's objects under the first one's lock (``SELECT ... FOR
  UPDATE`` on PostgreSQL and MySQL; SQLite's ``BEGIN IMMEDIATE`` holds the database's write
  lock), so it removes what the first one committed, and nothing stays behind.
* ``insert(query, replace=True)`` (``INSERT ... SELECT``) removes the objects of the rows it
  overwrites once it commits.
* An insert inside an enclosing transaction on SQLite is protected from garbage collection
  too.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import connect
from storage_helpers import files_under

import joinflow as dj
import joinflow.insert as insert_module

DEFINITION = """
key : int32
---
f : <object@>
"""


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    dj.config["stores"] = {"default": "main", "main": {"protocol": "file",
                                                       "location": str(root)}}
    return root


def rec_table(schema: dj.Schema, name: str = "Rec") -> Any:
    return schema(type(name, (dj.Manual,), {"definition": DEFINITION}))


def second_view(schema: dj.Schema, backend: str, tmp_path: Path) -> tuple[Any, Any]:
    """``Rec`` of ``schema`` through a second connection to the same database."""
    other = connect(backend, tmp_path)
    view = dj.Schema(schema.database, connection=other)
    return other, rec_table(view)


class Gate:
    """Holds the first writer after it has read (and locked) the row it replaces."""

    def __init__(self) -> None:
        self.reached, self.go = threading.Event(), threading.Event()
        self.holder: int | None = None

    def pause_here(self) -> None:
        if threading.get_ident() == self.holder:
            self.reached.set()
            assert self.go.wait(30), "the test never opened the gate"


def run(fn: Any) -> tuple[threading.Thread, list[BaseException]]:
    failures: list[BaseException] = []

    def body() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, failures


def race(gate: Gate, first: Any, second: Any) -> None:
    """``first`` runs until it has read the row's objects and pauses; ``second`` starts and
    gets 0.5 s to run into the lock; then ``first`` finishes, and ``second``."""
    def held() -> None:
        gate.holder = threading.get_ident()
        first()
    t1, f1 = run(held)
    assert gate.reached.wait(30), f"the first writer never read the row: {f1}"
    t2, f2 = run(second)
    time.sleep(0.5)
    gate.go.set()
    t1.join(30)
    t2.join(30)
    assert not t1.is_alive() and not t2.is_alive()
    assert f1 == [] and f2 == [], (f1, f2)


def test_concurrent_replace_of_one_key_leaks_nothing(schema, backend, store_root, tmp_path,
                                                     monkeypatch):
    Rec = rec_table(schema)
    Rec.insert1({"key": 1, "f": b"original"})
    other, RecB = second_view(schema, backend, tmp_path)
    gate = Gate()
    read = insert_module._superseded

    def read_then_pause(*args: Any, **kwargs: Any) -> None:
        read(*args, **kwargs)
        gate.pause_here()
    monkeypatch.setattr(insert_module, "_superseded", read_then_pause)
    try:
        race(gate, lambda: Rec.insert1({"key": 1, "f": b"first"}, replace=True),
             lambda: RecB.insert1({"key": 1, "f": b"second"}, replace=True))
    finally:
        other.close()
    ref = Rec.fetch1("f")
    assert ref.read() == b"second"
    assert files_under(store_root) == [ref.path]


def test_concurrent_update1_of_one_key_leaks_nothing(schema, backend, store_root, tmp_path,
                                                     monkeypatch):
    Rec = rec_table(schema)
    Rec.insert1({"key": 1, "f": b"original"})
    other, RecB = second_view(schema, backend, tmp_path)
    gate = Gate()
    owned = insert_module.objectstores.owned_by_rows

    def read_then_pause(*args: Any, **kwargs: Any) -> Any:
        found = owned(*args, **kwargs)
        gate.pause_here()
        return found
    monkeypatch.setattr(insert_module.objectstores, "owned_by_rows", read_then_pause)
    try:
        race(gate, lambda: Rec.update1({"key": 1, "f": b"first"}),
             lambda: RecB.update1({"key": 1, "f": b"second"}))
    finally:
        other.close()
    ref = Rec.fetch1("f")
    assert ref.read() == b"second"
    assert files_under(store_root) == [ref.path]


def test_delete_racing_a_replace_leaks_nothing(schema, backend, store_root, tmp_path,
                                               monkeypatch):
    Rec = rec_table(schema)
    Rec.insert1({"key": 1, "f": b"original"})
    other, RecB = second_view(schema, backend, tmp_path)
    gate = Gate()
    read = insert_module._superseded

    def read_then_pause(*args: Any, **kwargs: Any) -> None:
        read(*args, **kwargs)
        gate.pause_here()
    monkeypatch.setattr(insert_module, "_superseded", read_then_pause)
    try:
        race(gate, lambda: Rec.insert1({"key": 1, "f": b"replaced"}, replace=True),
             lambda: (RecB & {"key": 1}).delete())
    finally:
        other.close()
    assert len(Rec) == 0
    assert files_under(store_root) == []


# ---------------------------------------------------------------------- INSERT ... SELECT
def test_insert_select_with_replace_removes_the_overwritten_objects(schema, store_root):
    Rec, Copy = rec_table(schema), rec_table(schema, "Copy")
    Rec.insert([{"key": 1, "f": b"one"}, {"key": 2, "f": b"two"}])
    Copy.insert([{"key": 2, "f": b"old two"}, {"key": 3, "f": b"three"}])
    old = {r["key"]: r["f"].path for r in Copy.to_dicts()}
    Copy.insert(Rec, replace=True)
    copied = {r["key"]: r["f"] for r in Copy.to_dicts()}
    assert {k: r.read() for k, r in copied.items()} == {1: b"one", 2: b"two", 3: b"three"}
    # the copies reference Rec's objects; the object of Copy's old row 2 is gone
    assert copied[2].path == Rec.fetch("f", order_by="key")[1].path
    assert files_under(store_root) == sorted(
        [r.path for r in Rec.fetch("f")] + [old[3]])
    # a rolled-back INSERT ... SELECT removes nothing
    Rec.insert1({"key": 3, "f": b"3"})
    before = files_under(store_root)
    with pytest.raises(RuntimeError), schema.connection.transaction:
        Copy.insert(Rec & {"key": 3}, replace=True)
        raise RuntimeError("user code failed")
    assert files_under(store_root) == before
    # objects still held by another row stay: replacing a copy with itself keeps Rec's objects
    Copy.insert(Rec, replace=True)
    assert all(r.read() for r in Copy.fetch("f"))
    assert files_under(store_root) == sorted(r.path for r in Rec.fetch("f"))


def test_insert_select_with_skip_duplicates_keeps_every_object(schema, store_root):
    Rec, Copy = rec_table(schema), rec_table(schema, "Copy")
    Rec.insert([{"key": 1, "f": b"one"}, {"key": 2, "f": b"two"}])
    Copy.insert1({"key": 2, "f": b"mine"})
    Copy.insert(Rec, skip_duplicates=True)
    got = {r["key"]: r["f"].read() for r in Copy.to_dicts()}
    assert got == {1: b"one", 2: b"mine"}
    assert len(files_under(store_root)) == 3


# ------------------------------------------------ GC and a writer inside a transaction
def test_gc_spares_the_objects_of_a_writer_inside_a_transaction(schema, backend, store_root,
                                                                tmp_path):
    """A writer inside ``with conn.transaction:`` (a ``make``) has uploaded its objects and
    not yet committed its row while ``dj.gc`` runs on another connection: nothing of it is
    collected — on the servers its pending-write records protect it, on SQLite the collector
    reads under the write lock the writer holds, so it waits for the commit."""
    @schema
    class Mixed(dj.Manual):
        definition = """
        key : int32
        ---
        blob : <blob@>
        f : <object@>
        """
    Mixed.insert1({"key": 0, "blob": [0], "f": b"zero"})
    other, view = connect(backend, tmp_path), None
    try:
        view = dj.Schema(schema.database, connection=other)
        MixedB = view(type("Mixed", (dj.Manual,), {"definition": Mixed.definition}))
        other.start_transaction()
        MixedB.insert1({"key": 1, "blob": list(range(50)), "f": b"in flight"})
        uploaded = files_under(store_root)
        assert len(uploaded) == 4
        reports: list[dict] = []
        collector, failures = run(lambda: reports.append(
            dj.gc.GarbageCollector(schema).collect(dry_run=False)))
        time.sleep(0.5)
        other.commit_transaction()
        collector.join(60)
        assert failures == [] and len(reports) == 1
        assert reports[0]["deleted"] == 0
        assert files_under(store_root) == uploaded
        row = (Mixed & {"key": 1}).fetch1()
        assert row["blob"] == list(range(50)) and row["f"].read() == b"in flight"
    finally:
        if other.in_transaction:
            other.cancel_transaction()
        other.close()


def test_insert_select_replace_with_a_composite_key_and_npy(schema, store_root):
    import numpy as np
    definition = """
    subject : varchar(16)
    sess : int32
    ---
    arr : <npy@>
    """
    Src = schema(type("Src", (dj.Manual,), {"definition": definition}))
    Dst = schema(type("Dst", (dj.Manual,), {"definition": definition}))
    Src.insert([{"subject": "m1", "sess": 1, "arr": np.arange(3)},
                {"subject": "m1", "sess": 2, "arr": np.arange(4)}])
    Dst.insert([{"subject": "m1", "sess": 2, "arr": np.zeros(2)},
                {"subject": "m2", "sess": 2, "arr": np.ones(2)}])
    Dst.insert(Src & {"sess": 2}, replace=True)
    got = {(r["subject"], r["sess"]): r["arr"].load().tolist() for r in Dst.to_dicts()}
    assert got == {("m1", 2): [0, 1, 2, 3], ("m2", 2): [1.0, 1.0]}
    assert len(files_under(store_root)) == 3  # Src's two, Dst's m2 (m1's old one is gone)
    # update1 of an <npy@> value: the old file goes once the update commits
    Dst.update1({"subject": "m2", "sess": 2, "arr": np.full(2, 7)})
    assert (Dst & {"subject": "m2"}).fetch1("arr").load().tolist() == [7, 7]
    assert len(files_under(store_root)) == 3
