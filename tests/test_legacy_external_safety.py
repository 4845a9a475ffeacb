"""DataJoint 0.x external storage: declaration checks, failed inserts, hostile tracking rows,
and the tracking-table layout on every backend."""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np
import pytest

import joinflow as dj
from storage_helpers import files_under
from joinflow.backends.base import PH
from joinflow.storage.hashing import legacy_path


@pytest.fixture
def store_dir(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    with dj.config.override(stores={"local": {"protocol": "file", "location": str(root)}}):
        yield root


@pytest.mark.parametrize("type_", ["blob@nope", "attach@nope", "filepath@nope", "<blob@nope>",
                                   "<attach@nope>"])
def test_unknown_store_fails_at_declaration(schema, store_dir, type_):
    class Bad(dj.Manual):
        definition = f"""
        k : int
        ---
        v : {type_}
        """

    with pytest.raises(dj.errors.DefinitionError) as info:
        schema(Bad)
    assert "'nope'" in str(info.value) and "configured stores: 'local'" in str(info.value)
    assert "bad" not in schema.connection.backend.list_tables(schema.connection.run,
                                                              schema.database)


def test_default_store_needs_stores_default(schema, store_dir):
    class NoDefault(dj.Manual):
        definition = """
        k : int
        ---
        v : <blob@>
        """

    with pytest.raises(dj.errors.DefinitionError, match="stores.*default"):
        schema(NoDefault)


def test_tracking_table_layout(schema, store_dir):
    @schema
    class T(dj.Manual):
        definition = """
        k : int
        ---
        b = null : blob@local   # a comment
        """

    ext = schema.external["local"]
    heading = ext.heading
    assert heading.primary_key == ["hash"]
    assert heading.names == ["hash", "size", "attachment_name", "filepath", "contents_hash",
                             "timestamp"]
    assert heading["hash"].core == "uuid" and heading["contents_hash"].core == "uuid"
    assert T.heading["b"].declared == "blob@local" and T.heading["b"].comment == "a comment"
    T.insert1((1, None))
    T.insert1((2, np.arange(3)))
    assert (T & {"k": 1}).fetch1("b") is None
    [stored] = [p for p in store_dir.rglob("*") if p.is_file()]
    assert len(ext) == 1 and ext.fetch1("size") == stored.stat().st_size
    assert ext.fetch1("hash") == uuid.UUID(bytes=hashlib.md5(stored.read_bytes()).digest())
    deps = schema.connection.dependencies
    fks = deps.child_fks(schema.database, "~external_local")
    assert [(fk.child_table, fk.columns, fk.ref_columns) for fk in fks] == [("t", ("b",), ("hash",))]
    assert deps.parent_fks(schema.database, "t") == []  # storage, not a parent
    assert "->" not in T.describe()
    with pytest.raises(dj.errors.IntegrityError):  # rows keep their objects' entries
        ext.delete_quick()


def test_failed_insert_leaves_no_rows_and_no_objects(schema, store_dir, tmp_path):
    @schema
    class T(dj.Manual):
        definition = """
        k : int
        ---
        b : blob@local
        a : attach@local
        """

    att = tmp_path / "first.txt"
    att.write_text("first")
    T.insert1((1, np.arange(4), str(att)))
    before, tracked = files_under(store_dir), len(schema.external["local"])
    other = tmp_path / "second.txt"
    other.write_text("second")
    with pytest.raises(dj.errors.DuplicateError):
        T.insert([(2, np.ones(7), str(other)), (1, np.zeros(9), str(other))])
    assert len(T()) == 1
    assert files_under(store_dir) == before
    assert len(schema.external["local"]) == tracked
    with pytest.raises(dj.errors.DataJointError), schema.connection.transaction:
        T.insert1((3, np.full(5, 3.0), str(other)))
        raise dj.errors.DataJointError("abort the enclosing transaction")
    assert files_under(store_dir) == before and len(T()) == 1


@pytest.mark.parametrize("name", ["../evil.txt", "sub/../../evil.txt", "/abs/evil.txt",
                                  "nul\0evil.txt", "..", "dir/evil.txt"])
def test_hostile_attachment_names_stay_in_download_path(schema, store_dir, tmp_path, name):
    @schema
    class T(dj.Manual):
        definition = """
        k : int
        ---
        a : attach@local
        """

    if "\0" in name and schema.connection.backend.name == "postgresql":
        pytest.skip("PostgreSQL text columns cannot hold NUL: such a row cannot exist there")
    content = b"payload"
    uid = uuid.UUID(bytes=hashlib.md5(name.encode() + b"\0" + content).digest())
    try:  # plant the object where DataJoint 0.14 would look for it, if that path is valid
        target = Path(store_dir, legacy_path(uid, schema.database, attachment_name=name))
        if target.resolve().is_relative_to(store_dir.resolve()) and "\0" not in name:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    except (OSError, ValueError):
        pass
    schema.external["local"].insert1({"hash": uid, "size": len(content),
                                      "attachment_name": name})
    conn = schema.connection  # a row written by someone else, pointing at the entry
    adapt = conn.backend.adapter("uuid") or (lambda v: v)
    conn.query(f"INSERT INTO {T.full_table_name} VALUES (1, {PH})", [adapt(uid)])
    downloads = tmp_path / "downloads"
    outside_before = sorted(p for p in tmp_path.rglob("*evil*") if downloads not in p.parents)
    try:
        path = T.fetch1("a")
    except (dj.errors.DataJointError, OSError):
        path = None
    if path is not None:
        assert Path(path).resolve().parent == downloads.resolve()
        assert Path(path).read_bytes() == content
    outside_after = sorted(p for p in tmp_path.rglob("*evil*") if downloads not in p.parents)
    assert outside_after == outside_before
    assert not (tmp_path / "evil.txt").exists()


def test_unused_entries_deleted_with_files(schema, store_dir):
    @schema
    class T(dj.Manual):
        definition = """
        k : int
        ---
        b : blob@local
        """

    T.insert([(i, np.full(3, i)) for i in range(4)])
    assert len(files_under(store_dir)) == 4
    (T & "k < 2").delete()
    ext = schema.external["local"]
    assert len(ext.unused()) == 2 and len(files_under(store_dir)) == 4
    with pytest.raises(dj.errors.DataJointError, match="either True or False"):
        ext.delete(delete_external_files="yes")
    assert ext.delete(delete_external_files=True, limit=1, display_progress=False) == []
    assert len(ext.unused()) == 1 and len(files_under(store_dir)) == 3
    assert ext.delete(delete_external_files=False) is None  # rows only
    assert len(ext) == 2 and len(files_under(store_dir)) == 3
    assert sorted(T.fetch("k")) == [2, 3]
    assert [v.tolist() for v in T.fetch("b", order_by="k")] == [[2, 2, 2], [3, 3, 3]]


def test_corrupted_blob_is_detected(schema, store_dir):
    @schema
    class T(dj.Manual):
        definition = """
        k : int
        ---
        b : blob@local
        """

    T.insert1((1, np.arange(10)))
    [stored] = [p for p in store_dir.rglob("*") if p.is_file()]
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.raises(dj.errors.ObjectIntegrityError, match="corrupted"):
        T.fetch1("b")


def test_column_downloads_are_concurrent(schema, tmp_path, moto_s3):
    with dj.config.override(stores={"s3": moto_s3.store_config()}):
        @schema
        class T(dj.Manual):
            definition = """
            k : int
            ---
            b : blob@s3
            a : attach@s3
            """

        rows = []
        for i in range(8):
            att = tmp_path / f"file{i}.txt"
            att.write_text(f"attachment {i}")
            rows.append((i, np.full(50, i), str(att)))
        T.insert(rows)
        moto_s3.meter.reset(latency=0.2)
        try:
            b, a = T.fetch("b", "a", order_by="k")
            peak = moto_s3.meter.peak
        finally:
            moto_s3.meter.reset()
        assert [v[0] for v in b] == list(range(8))
        assert [Path(p).read_text() for p in a] == [f"attachment {i}" for i in range(8)]
        assert peak > 1, "objects of a column must be fetched concurrently"


def test_entry_kept_when_its_file_cannot_be_removed(schema, store_dir, monkeypatch):
    @schema
    class T(dj.Manual):
        definition = """
        k : int
        ---
        b : blob@local
        """

    T.insert1((1, np.arange(6)))
    T.delete()
    ext = schema.external["local"]
    [(uid, path)] = ext.fetch_external_paths()

    def refuse(self, paths):
        raise dj.errors.StoreError("store 'local': permission denied")

    monkeypatch.setattr("joinflow.storage.store.Store.remove", refuse)
    errors = ext.delete(display_progress=False)
    assert errors == [(uid, path, "store 'local': permission denied")]
    assert len(ext) == 1 and Path(path).is_file()
    monkeypatch.undo()
    assert ext.delete(display_progress=False) == []
    assert len(ext) == 0 and not Path(path).exists()
