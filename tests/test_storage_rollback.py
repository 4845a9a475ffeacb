"""A failed transaction removes the objects it created — unless a row committed meanwhile by
another writer uses them (identical content is one object, shared by every row holding it)."""
from __future__ import annotations

import numpy as np
import pytest

import joinflow as dj
from storage_helpers import files_under
from joinflow.objectstores import store_access


@pytest.fixture
def store_dir(tmp_path):
    stores = {"default": "main", "main": {"protocol": "file", "location": str(tmp_path / "s")},
              "old": {"protocol": "file", "location": str(tmp_path / "old")}}
    (tmp_path / "old").mkdir()
    with dj.config.override(stores=stores):
        yield tmp_path


def test_failed_insert_keeps_objects_committed_rows_use(schema, store_dir, conn):
    @schema
    class Rec(dj.Manual):
        definition = """
        id : int32
        ---
        data : <blob@>
        old = null : blob@old
        """
    shared, lonely = np.arange(2000.0), np.arange(3000.0)
    with pytest.raises(RuntimeError):
        with conn.transaction:
            Rec.insert([{"id": 1, "data": shared, "old": shared},
                        {"id": 2, "data": lonely, "old": lonely}])
            # the objects exist now; "another writer" commits a row with the same content
            # (replayed here after the rollback, through the cleanup's own check)
            raise RuntimeError("user code failed")
    assert files_under(store_dir / "s") == [] and files_under(store_dir / "old") == []
    Rec.insert1({"id": 3, "data": shared, "old": shared})  # committed: uses `shared`
    kept = files_under(store_dir / "s") + files_under(store_dir / "old")
    # a failed insert of both arrays: `lonely` goes, `shared` stays (row 3 uses it)
    with pytest.raises(dj.errors.DuplicateError):
        Rec.insert([{"id": 4, "data": lonely, "old": lonely},
                    {"id": 3, "data": shared, "old": shared}])
    assert files_under(store_dir / "s") + files_under(store_dir / "old") == kept
    np.testing.assert_array_equal((Rec & {"id": 3}).fetch1("data"), shared)
    np.testing.assert_array_equal((Rec & {"id": 3}).fetch1("old"), shared)


def test_cleanup_checks_rows_committed_by_another_writer(schema, store_dir, conn, backend):
    """Writer A uploads X and fails after writer B found X present and committed a row."""
    if backend == "sqlite":
        pytest.skip("one SQLite file admits one writer at a time: B would wait for A")
    @schema
    class Rec(dj.Manual):
        definition = """
        id : int32
        ---
        data : <blob@>
        """
    other = dj.Connection(config=conn.config)
    try:
        RecB = dj.FreeTable(other, Rec.full_table_name)
        x = np.arange(5000.0)
        with pytest.raises(RuntimeError):
            with conn.transaction:
                Rec.insert1({"id": 1, "data": x})  # A created X
                RecB.insert1({"id": 2, "data": x})  # B: X exists, not written; commits
                raise RuntimeError("A fails")
        assert len(files_under(store_dir / "s")) == 1  # B's row keeps X
        np.testing.assert_array_equal(RecB.fetch1("data"), x)
    finally:
        other.close()


def test_discard_without_rows_removes(schema, store_dir, conn):
    @schema
    class Rec(dj.Manual):
        definition = """
        id : int32
        ---
        data : <blob@>
        """
    Rec.insert1({"id": 1, "data": np.arange(10)})
    (Rec & {"id": 1}).delete()
    stores = store_access(conn)
    from joinflow.codecs.base import ObjectUse, ObjectWrite
    [path] = files_under(store_dir / "s")
    write = ObjectWrite(None, path, use=ObjectUse(schema.database, path.rsplit("/", 1)[-1]))
    stores.discard([write], conn)
    assert files_under(store_dir / "s") == []
