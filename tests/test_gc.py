"""Garbage collection of object stores (``dj.gc``), safe under concurrent writers.

Orphans of a schema's sections are found and deleted; referenced objects (also shared ones),
other schemas' objects and anything else in the store are never touched; an insert in
progress (pending-write record committed, object uploaded, row not yet committed) keeps its
objects until its session is gone."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import joinflow as dj
import joinflow.insert as insert_module
from joinflow.storage import pending
from storage_helpers import files_under

DJ_PYTHON = os.environ.get("JF_DATAJOINT_PYTHON") or "/work/venvs/dj235/bin/python"


@pytest.fixture
def store_dir(tmp_path):
    stores = {"default": "main", "main": {"protocol": "file", "location": str(tmp_path / "s")}}
    with dj.config.override(stores=stores):
        yield tmp_path / "s"


def _rec(schema):
    @schema
    class Rec(dj.Manual):
        definition = """
        id : int32
        ---
        data : <blob@>
        """
    return Rec


def _hash_files(root: Path, db: str) -> list[str]:
    return [f"_hash/{db}/{p}" for p in files_under(root / "_hash" / db)]


def _records(conn, db):
    return pending.records(conn, db)


# ------------------------------------------------------------------------ hash-addressed
def test_dry_run_reports_and_deletes_nothing(schema, store_dir):
    Rec = _rec(schema)
    Rec.insert([{"id": 1, "data": np.arange(100)}, {"id": 2, "data": np.arange(200)}])
    assert len(_hash_files(store_dir, schema.database)) == 2  # one object per row
    before = files_under(store_dir)
    (Rec & {"id": 2}).delete()
    collector = dj.gc.GarbageCollector(schema)
    stats = collector.collect()
    assert stats["dry_run"] is True
    assert stats["hash_paths_stored"] == 2 and stats["hash_paths_referenced"] == 1
    assert stats["hash_paths_orphaned"] == 1 and stats["deleted"] == 0
    assert stats["bytes_freed"] == 0 and stats["errors"] == 0
    orphan = stats["orphaned_hash_paths"][0]
    assert orphan.startswith(f"_hash/{schema.database}/")
    assert stats["hash_paths_orphaned_bytes"] == (store_dir / orphan).stat().st_size
    assert files_under(store_dir) == before
    for key in ("referenced", "stored", "orphaned", "orphaned_bytes"):
        assert key not in stats


def test_collect_deletes_orphans_and_keeps_referenced(schema, store_dir):
    Rec = _rec(schema)
    shared, lonely = np.arange(1000.0), np.arange(7.0)
    Rec.insert([{"id": 1, "data": shared}, {"id": 2, "data": shared}, {"id": 3, "data": lonely}])
    assert len(_hash_files(store_dir, schema.database)) == 2  # dedup: one object for 1 and 2
    (Rec & "id in (1, 3)").delete()
    collector = dj.gc.GarbageCollector(schema, store="main")
    [orphan] = collector.collect()["orphaned_hash_paths"]
    size = (store_dir / orphan).stat().st_size
    stats = collector.collect(dry_run=False)
    assert stats["hash_paths_deleted"] == 1 and stats["deleted"] == 1
    assert stats["bytes_freed"] == size and stats["dry_run"] is False
    assert not (store_dir / orphan).exists()
    assert len(_hash_files(store_dir, schema.database)) == 1  # row 2 still uses `shared`
    np.testing.assert_array_equal((Rec & {"id": 2}).fetch1("data"), shared)
    again = collector.collect(dry_run=False)
    assert again["hash_paths_orphaned"] == 0 and again["deleted"] == 0


def test_attach_orphans(schema, store_dir, tmp_path):
    @schema
    class Doc(dj.Manual):
        definition = """
        id : int32
        ---
        doc : <attach@>
        """
    for i in (1, 2):
        (tmp_path / f"f{i}.txt").write_text(f"file {i}")
        Doc.insert1({"id": i, "doc": str(tmp_path / f"f{i}.txt")})
    (Doc & {"id": 1}).delete()
    stats = dj.gc.GarbageCollector(schema).collect(dry_run=False)
    assert stats["hash_paths_deleted"] == 1
    assert len(_hash_files(store_dir, schema.database)) == 1
    assert Path((Doc & {"id": 2}).fetch1("doc")).read_text() == "file 2"


def test_other_schemas_and_unrelated_files_are_never_touched(make_schema, store_dir):
    a, b = make_schema("gca"), make_schema("gcb")
    RecA, RecB = _rec(a), _rec(b)
    for Rec in (RecA, RecB):
        Rec.insert([{"id": 1, "data": np.arange(10)}, {"id": 2, "data": np.arange(20)}])
        (Rec & {"id": 2}).delete()  # an orphan in each schema
    unrelated = ["notes/readme.txt", f"_hash/{a.database}/README",
                 f"_hash/{a.database}x/aaaaaaaaaaaaaaaaaaaaaaaaaa", "_hash/orphan.bin",
                 f"{a.database}/aaaaaaaaaaaaaaaaaaaaaaaaaa"]
    for rel in unrelated:
        (store_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (store_dir / rel).write_text("user data")
    b_before = _hash_files(store_dir, b.database)
    assert len(b_before) == 2
    collector = dj.gc.GarbageCollector(a)
    assert all(p.startswith(f"_hash/{a.database}/")
               for p in collector.list_hash_paths(a.database))
    stats = collector.collect(dry_run=False)
    assert stats["hash_paths_stored"] == 2 and stats["hash_paths_deleted"] == 1
    assert _hash_files(store_dir, b.database) == b_before
    for rel in unrelated:
        assert (store_dir / rel).read_text() == "user data"
    with pytest.raises(dj.errors.JoinflowError, match="outside"):
        collector.delete_schema_path("notes/readme.txt")
    assert (store_dir / "notes/readme.txt").exists()


def test_datajoint_2_0_functions(schema, store_dir):
    Rec = _rec(schema)
    Rec.insert([{"id": 1, "data": np.arange(10)}, {"id": 2, "data": np.arange(20)}])
    (Rec & {"id": 2}).delete()
    scanned = dj.gc.scan(schema)
    assert scanned["hash_orphaned"] == 1 and scanned["orphaned"] == 1
    assert scanned["referenced"] == 1 and scanned["stored"] == 2
    assert len(dj.gc.scan_hash_references(schema)) == 1
    listed = dj.gc.list_hash_paths(schema_name=schema.database)
    assert sorted(listed) == _hash_files(store_dir, schema.database)
    assert dj.gc.collect(schema)["deleted"] == 0
    done = dj.gc.collect(schema, store_name="main", dry_run=False)
    assert done["hash_deleted"] == 1 and done["deleted"] == 1 and done["dry_run"] is False
    assert len(_hash_files(store_dir, schema.database)) == 1


def test_requires_a_schema_and_a_known_store(schema, store_dir):
    with pytest.raises(dj.errors.DataJointError, match="At least one schema"):
        dj.gc.GarbageCollector(store="main")
    with pytest.raises(dj.errors.JoinflowError, match="nope"):
        dj.gc.GarbageCollector(schema, store="nope")


def test_delete_path_functions_refuse_paths_leaving_the_section(schema, store_dir):
    """A path that starts inside a section but climbs out with ``..`` (or is absolute) is
    refused, by the collector and by the DataJoint 2.0 module function; nothing is deleted."""
    db = schema.database
    precious = store_dir / "raw" / "precious.dat"
    precious.parent.mkdir(parents=True)
    precious.write_bytes(b"precious")
    lonely = store_dir / "_schema" / "lonely.dat"  # in no schema's section
    lonely.parent.mkdir(parents=True)
    lonely.write_bytes(b"not a schema's")
    collector = dj.gc.GarbageCollector(schema)
    for path in (f"_schema/{db}/../../raw/precious.dat", f"_hash/{db}/../../raw/precious.dat",
                 f"_schema/{db}/x/../../../raw/precious.dat", str(precious)):
        with pytest.raises(dj.errors.JoinflowError, match="invalid store path"):
            collector.delete_schema_path(path)
        with pytest.raises(dj.errors.JoinflowError, match="invalid store path"):
            collector.delete_hash_path(path)
        with pytest.raises(dj.errors.JoinflowError, match="invalid store path"):
            dj.gc.delete_schema_path(path)
    for path in ("_schema/../raw/precious.dat", "_schema/x/../../raw/precious.dat"):
        with pytest.raises(dj.errors.JoinflowError, match="invalid store path"):
            dj.gc.delete_schema_path(path, store_name="main")
    with pytest.raises(dj.errors.JoinflowError, match="not in a schema's section"):
        dj.gc.delete_schema_path("_schema/lonely.dat")
    with pytest.raises(dj.errors.JoinflowError, match="outside"):
        collector.delete_schema_path(f"_schema/{db}x/t/f.dat")
    assert precious.read_bytes() == b"precious" and lonely.exists()
    # a harmless ./ is normalized, and the file of the section is deleted
    mine = store_dir / "_schema" / db / "t" / "f.dat"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"orphan")
    assert collector.delete_schema_path(f"_schema/./{db}/t/f.dat") is True
    assert not mine.exists() and precious.exists()
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"orphan")
    assert dj.gc.delete_schema_path(f"_schema/{db}/t/./f.dat") is True
    assert not mine.exists() and precious.exists()


def test_empty_schema_prefix_section_is_not_collected(schema, tmp_path, caplog):
    """``schema_prefix=""`` puts the schema section at the store's root, ``{schema}/``, where
    ``<filepath@>`` files and DataJoint 0.x external objects live too: GC skips that section
    (and says so) and still collects the hash section."""
    root = tmp_path / "s"
    stores = {"default": "main",
              "main": {"protocol": "file", "location": str(root), "schema_prefix": ""}}
    with dj.config.override(stores=stores):
        @schema
        class Raw(dj.Manual):
            definition = """
            id : int32
            ---
            f : <filepath@main>
            data : <blob@>
            """
        db = schema.database
        kept = {f"{db}/raw/session1.dat": b"referenced by a row",
                f"{db}/3f/a9/3fa9c0d4b6a84c0e9d6b1e2f3a4b5c6d": b"0.x external object",
                f"{db}/raw/unreferenced.dat": b"user data"}
        for rel, data in kept.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        Raw.insert([{"id": 1, "f": f"{db}/raw/session1.dat", "data": np.arange(5)},
                    {"id": 2, "f": f"{db}/raw/session1.dat", "data": np.arange(6)}])
        (Raw & {"id": 2}).delete()  # leaves one hash-addressed orphan
        with caplog.at_level("WARNING", logger="joinflow"):
            stats = dj.gc.GarbageCollector(schema).collect(dry_run=False)
        for rel, data in kept.items():
            assert (root / rel).read_bytes() == data
        assert stats["schema_paths_stored"] == 0 and stats["schema_paths_deleted"] == 0
        assert stats["hash_paths_deleted"] == 1 and stats["errors"] == 0
        [warning] = stats["warnings"]
        assert "'main'" in warning and "schema_prefix" in warning
        assert "schema_prefix" in caplog.text
        assert dj.gc.scan(schema)["warnings"] == [warning]
        assert (Raw & {"id": 1}).fetch1("f").read() == b"referenced by a row"


def test_empty_hash_prefix_section_is_not_collected(schema, tmp_path):
    root = tmp_path / "s"
    stores = {"default": "main",
              "main": {"protocol": "file", "location": str(root), "hash_prefix": ""}}
    with dj.config.override(stores=stores):
        Rec = _rec(schema)
        Rec.insert([{"id": 1, "data": np.arange(5)}, {"id": 2, "data": np.arange(6)}])
        db = schema.database
        before = files_under(root / db)
        assert len(before) == 2
        (Rec & {"id": 2}).delete()
        (root / db / "aaaaaaaaaaaaaaaaaaaaaaaaaa").write_bytes(b"a user's file")
        stats = dj.gc.GarbageCollector(schema).collect(dry_run=False)
        assert stats["hash_paths_stored"] == 0 and stats["deleted"] == 0
        assert "hash_prefix" in stats["warnings"][0]
        assert len(files_under(root / db)) == 3


def test_sections_sharing_a_folder_never_collect_each_other(schema, store_dir, monkeypatch):
    """A backstop behind the store validation (which refuses equal prefixes): should the hash
    and schema sections be the same folder, a live hash-addressed object is not a schema
    orphan, and a schema-addressed file is not a hash orphan."""
    from joinflow.storage import gc as gc_module
    Rec = _rec(schema)
    Rec.insert1({"id": 1, "data": np.arange(5)})
    db = schema.database
    [live] = _hash_files(store_dir, db)
    collector = dj.gc.GarbageCollector(schema)
    monkeypatch.setattr(collector._section, "schema_prefix", "_hash")
    monkeypatch.setattr(collector, "_schema_prefix", "_hash")
    stats = collector.collect(dry_run=False)
    assert stats["orphaned_schema_paths"] == [] and stats["deleted"] == 0
    assert (store_dir / live).exists()
    np.testing.assert_array_equal((Rec & {"id": 1}).fetch1("data"), np.arange(5))
    assert gc_module._Section.schema_section(collector._section, db) == f"_hash/{db}"


# ------------------------------------------------------------------------ schema-addressed
class GcRef(dj.Codec):
    """A schema-addressed codec of the test: stores DataJoint 2.3.5's <object@> JSON as given
    (the file is written by the test)."""

    name = "gc_test_ref"

    def get_dtype(self, is_store: bool) -> str:
        return "json"

    def encode(self, value, *, key=None, store_name=None):
        return value

    def decode(self, stored, *, key=None):
        return stored


def test_schema_addressed_references_from_stored_json(schema, store_dir):
    @schema
    class Obj(dj.Manual):
        definition = """
        id : int32
        ---
        obj : <gc_test_ref@main>
        """
    db = schema.database
    base = f"_schema/{db}/obj"
    files = {f"{base}/id=1/obj_AAAAAAAA.npy": b"npy", f"{base}/id=2/obj_BBBBBBBB/a.txt": b"a",
             f"{base}/id=2/obj_BBBBBBBB/sub/b.txt": b"b",
             f"{base}/id=2/obj_BBBBBBBB.manifest.json": b"{}",
             f"{base}/id=1/obj_OLDOLDOL.npy": b"superseded",
             f"{base}/id=3/obj_CCCCCCCC/c.txt": b"orphan folder",
             f"{base}/id=3/obj_CCCCCCCC.manifest.json": b"{}"}
    for rel, data in files.items():
        (store_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (store_dir / rel).write_bytes(data)
    # DataJoint 2.3.5's stored JSON: <npy@> {path, dtype, shape, store}; <object@> {path,
    # size, store, is_dir, ext, timestamp, item_count}
    Obj.insert([
        {"id": 1, "obj": {"path": f"{base}/id=1/obj_AAAAAAAA.npy", "dtype": "int64",
                          "shape": [3], "store": "main"}},
        {"id": 2, "obj": {"ext": None, "path": f"{base}/id=2/obj_BBBBBBBB", "size": 2,
                          "store": None, "is_dir": True, "timestamp": "2026-01-01T00:00:00",
                          "item_count": 2}},
        {"id": 4, "obj": {"path": "_schema/elsewhere/x", "store": "other"}}])
    collector = dj.gc.GarbageCollector(schema)
    assert collector.schema_references() == {f"{base}/id=1/obj_AAAAAAAA.npy",
                                             f"{base}/id=2/obj_BBBBBBBB"}
    stats = collector.collect(dry_run=False)
    assert stats["schema_paths_stored"] == 7
    assert stats["orphaned_schema_paths"] == sorted([
        f"{base}/id=1/obj_OLDOLDOL.npy", f"{base}/id=3/obj_CCCCCCCC.manifest.json",
        f"{base}/id=3/obj_CCCCCCCC/c.txt"])
    assert stats["schema_paths_deleted"] == 3
    assert files_under(store_dir / "_schema" / db / "obj") == sorted([
        "id=1/obj_AAAAAAAA.npy", "id=2/obj_BBBBBBBB/a.txt", "id=2/obj_BBBBBBBB/sub/b.txt",
        "id=2/obj_BBBBBBBB.manifest.json"])
    assert not (store_dir / base / "id=3").exists()  # emptied folders are pruned


def test_partitioned_schema_addressed_objects(make_schema, tmp_path):
    """With a store ``partition_pattern``, objects lie at
    ``_schema/{attr=value}/.../{schema}/...``: GC finds their orphans there, keeps the live
    ones and never takes another schema's partitioned files."""
    root = tmp_path / "s"
    stores = {"default": "main", "main": {"protocol": "file", "location": str(root),
                                          "partition_pattern": "{subject}/{session}"}}
    with dj.config.override(stores=stores):
        a, b = make_schema("gcpa"), make_schema("gcpb")
        tables = {}
        for schema in (a, b):
            @schema
            class Scan(dj.Manual):
                definition = """
                subject : int32
                session : int32
                ---
                img : <npy@>
                """

            @schema
            class Note(dj.Manual):  # no partition attribute in its key
                definition = """
                nid : int32
                ---
                img : <npy@>
                """
            tables[schema.database] = (Scan, Note)
            Scan.insert([{"subject": 1, "session": 1, "img": np.arange(3)},
                         {"subject": 2, "session": 1, "img": np.arange(4)}])
            Note.insert1({"nid": 1, "img": np.arange(5)})
        live = sorted(files_under(root))
        assert any(f"subject=1/session=1/{a.database}/" in p for p in live)
        orphans = [f"_schema/subject=1/session=1/{a.database}/scan/img_ORPHAN01.npy",
                   f"_schema/subject=9/{a.database}/scan/session=3/img_ORPHAN02.npy",
                   f"_schema/{a.database}/note/nid=7/img_ORPHAN03.npy"]
        foreign = [f"_schema/subject=1/session=1/{b.database}/scan/img_NOTMINE1.npy",
                   f"_schema/subject=1/session=1/{a.database}x/scan/img_NOTMINE2.npy",
                   "_schema/subject=1/loose.dat"]
        for rel in orphans + foreign:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(b"x")
        collector = dj.gc.GarbageCollector(a)
        assert sorted(collector.list_schema_paths(a.database)) == sorted(
            [p for p in live if a.database + "/" in p] + orphans)
        stats = collector.collect(dry_run=False)
        assert stats["orphaned_schema_paths"] == sorted(orphans)
        assert stats["schema_paths_deleted"] == 3 and stats["errors"] == 0
        assert sorted(files_under(root)) == sorted(live + foreign)
        Scan, Note = tables[a.database]
        np.testing.assert_array_equal((Scan & {"subject": 2}).fetch1("img"), np.arange(4))
        np.testing.assert_array_equal(Note.fetch1("img"), np.arange(5))
        # one file at a time: a partitioned path of the schema is inside its section
        mine = next(p for p in live if f"subject=1/session=1/{a.database}/" in p)
        assert collector.delete_schema_path(mine) is True and not (root / mine).exists()
        with pytest.raises(dj.errors.JoinflowError, match="outside"):
            collector.delete_schema_path(foreign[0])
        assert (root / foreign[0]).exists()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_schema_addressed_rows_written_by_datajoint(backend, conn, store_dir, tmp_path):
    """DataJoint 2.3.5 writes <object@>/<npy@>/<blob@> rows; joinflow's GC keeps what they
    use and deletes what a deleted row leaves. (DataJoint 2.3.5 cannot insert <object@> on
    MySQL: 'dict can not be used as parameter'.)"""
    if not Path(DJ_PYTHON).exists():
        pytest.skip(f"DataJoint 2.3.5's python not found at {DJ_PYTHON} (JF_DATAJOINT_PYTHON)")
    db = f"jft_gcdj_{os.getpid()}_{int(time.time() * 1000) % 10**6}"
    cfg = conn.config
    script = r'''
import json, sys, numpy as np, datajoint as dj
a = json.loads(sys.argv[1])
dj.config["database.backend"] = "postgresql"
dj.config["database.host"] = a["host"]; dj.config["database.port"] = a["port"]
dj.config["database.user"] = a["user"]; dj.config["database.password"] = a["password"] or ""
dj.config["safemode"] = False
dj.config["stores"] = {"default": "main", "main": {"protocol": "file", "location": a["store"]}}
schema = dj.Schema(a["db"])
@schema
class T(dj.Manual):
    definition = """
    rid : int32
    ---
    obj : <object@main>
    arr : <npy@main>
    b : <blob@main>
    """
T.insert([dict(rid=i, obj=b"x" * i, arr=np.arange(i), b=np.arange(i % 2)) for i in (1, 2, 3)])
(T & "rid = 3").delete()
'''
    args = {"host": cfg["database.host"], "port": cfg["database.port"],
            "user": cfg["database.user"], "password": cfg["database.password"],
            "store": str(store_dir), "db": db}
    store_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([DJ_PYTHON, "-c", script, json.dumps(args)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    schema = dj.Schema(db, connection=conn, create_schema=False)
    try:
        assert proc.returncode == 0, proc.stderr[-3000:]
        collector = dj.gc.GarbageCollector(schema)
        stats = collector.collect(dry_run=False)
        assert stats["schema_paths_referenced"] == 4  # rows 1 and 2: obj and arr each
        assert stats["schema_paths_deleted"] == 2  # row 3's obj and arr
        assert stats["hash_paths_referenced"] == 2 and stats["hash_paths_deleted"] == 0
        left = files_under(store_dir / "_schema" / db)
        assert len(left) == 4 and not any("rid=3" in p for p in left)
    finally:
        schema.drop(prompt=False)


# ------------------------------------------------------------------------ in-flight inserts
def _paused_writer(monkeypatch):
    """Inserts that stop after their pending-write records and uploads: the row is never
    written and the records stay (a writer caught between upload and commit)."""
    monkeypatch.setattr(insert_module, "_write_rows", lambda *a, **k: None)
    monkeypatch.setattr(insert_module, "release_pending", lambda claimed: None)


def _wait_dead(conn, session):
    if conn.backend.name == "sqlite":
        return
    for _ in range(100):
        ids, _ = pending.live_sessions(conn)
        if session not in ids:
            return
        time.sleep(0.05)
    raise AssertionError(f"session {session} still listed")


def test_in_flight_insert_is_not_collected(schema, store_dir, conn, backend, monkeypatch):
    Rec = _rec(schema)
    Rec.insert1({"id": 0, "data": np.arange(3)})  # (creates the bookkeeping table)
    other = dj.Connection(config=conn.config)
    session = pending.session_id(other)
    try:
        with monkeypatch.context() as m:
            _paused_writer(m)
            dj.FreeTable(other, Rec.full_table_name).insert1({"id": 1, "data": np.arange(50)})
        [rec] = _records(conn, schema.database)
        assert rec.session == session and rec.path.startswith(f"_hash/{schema.database}/")
        assert (store_dir / rec.path).exists() and len(Rec) == 1  # uploaded, no row
        collector = dj.gc.GarbageCollector(schema)
        stats = collector.collect(dry_run=False)
        assert stats["in_flight"] == 1 and stats["in_flight_paths"] == [rec.path]
        assert stats["deleted"] == 0 and stats["hash_paths_orphaned"] == 0
        assert (store_dir / rec.path).exists()
        assert collector.pending_paths() == {rec.path}
    finally:
        other.close()
    _wait_dead(conn, session)
    # the writer's session is gone: its record protects nothing and is removed
    # (SQLite lists no sessions: there the record goes once older than pending_timeout)
    timeout = 0.0 if backend == "sqlite" else 3600.0
    stats = dj.gc.GarbageCollector(schema, pending_timeout=timeout).collect(dry_run=False)
    assert stats["in_flight"] == 0 and stats["stale_records_removed"] == 1
    assert stats["hash_paths_deleted"] == 1 and not (store_dir / rec.path).exists()
    assert _records(conn, schema.database) == []
    np.testing.assert_array_equal((Rec & {"id": 0}).fetch1("data"), np.arange(3))


def test_sqlite_records_count_as_alive_until_the_timeout(schema, store_dir, conn, backend,
                                                         monkeypatch):
    if backend != "sqlite":
        pytest.skip("SQLite only: sessions cannot be listed there")
    Rec = _rec(schema)
    with monkeypatch.context() as m:
        _paused_writer(m)
        Rec.insert1({"id": 1, "data": np.arange(50)})
    [rec] = _records(conn, schema.database)
    assert dj.gc.GarbageCollector(schema).collect(dry_run=False)["in_flight"] == 1
    assert (store_dir / rec.path).exists()
    alive, stale = pending.split(conn, [rec], timeout=60.0, now=rec.created + 61.0)
    assert alive == [] and stale == [rec]


def test_records_are_gone_after_commit_and_rollback(schema, store_dir, conn, backend):
    Rec = _rec(schema)
    db = schema.database
    Rec.insert1({"id": 1, "data": np.arange(10)})
    assert _records(conn, db) == []  # autocommitted insert: released after its commit
    with pytest.raises(dj.errors.DuplicateError):
        Rec.insert([{"id": 2, "data": np.arange(11)}, {"id": 1, "data": np.arange(12)}])
    assert _records(conn, db) == []  # rolled back: released too
    Rec.insert([{"id": 3, "data": np.arange(13)}, {"id": 4, "data": np.arange(14)}],
               chunk_size=1)
    assert _records(conn, db) == []
    observer = dj.Connection(config=conn.config)
    try:
        for outcome in ("commit", "rollback"):
            conn.start_transaction()
            Rec.insert1({"id": 10, "data": np.arange(20)})
            with conn.transaction:  # a savepoint inside: records outlive it
                Rec.insert1({"id": 11, "data": np.arange(21)})
            if backend != "sqlite":  # visible to others while the transaction is open
                seen = _records(observer, db)
                assert len(seen) == 2
                assert {r.session for r in seen} == {pending.session_id(conn)}
            if outcome == "commit":
                conn.commit_transaction()
                (Rec & "id >= 10").delete()
            else:
                conn.cancel_transaction()
            assert _records(observer, db) == [] and _records(conn, db) == []
    finally:
        observer.close()
    assert pending.TABLE not in schema.list_tables()
    assert pending.TABLE in conn.backend.list_tables(conn.run, db)
    assert all(pending.TABLE not in str(n) for n in dj.Diagram(schema).nodes())


def test_inserts_without_objects_write_no_records(schema, store_dir, conn):
    @schema
    class Plain(dj.Manual):
        definition = """
        id : int32
        ---
        v : float64
        """
    Plain.insert([{"id": 1, "v": 1.0}])
    Plain.insert1({"id": 2, "v": 2.0})
    assert pending.TABLE not in conn.backend.list_tables(conn.run, schema.database)


def test_in_transaction_writer_is_protected(schema, store_dir, conn, backend):
    """A real writer inside a transaction (as in populate's make): its object is uploaded, its
    row not yet committed; GC keeps the object; the rollback removes it and the record."""
    if backend == "sqlite":
        pytest.skip("SQLite: inserts inside an enclosing transaction are not recorded")
    Rec = _rec(schema)
    Rec.insert1({"id": 0, "data": np.arange(3)})
    other = dj.Connection(config=conn.config)
    try:
        RecB = dj.FreeTable(other, Rec.full_table_name)
        other.start_transaction()
        RecB.insert1({"id": 1, "data": np.arange(77)})
        [rec] = _records(conn, schema.database)
        stats = dj.gc.GarbageCollector(schema).collect(dry_run=False)
        assert stats["in_flight"] == 1 and stats["deleted"] == 0
        assert (store_dir / rec.path).exists()
        other.commit_transaction()
        assert _records(conn, schema.database) == []
        stats = dj.gc.GarbageCollector(schema).collect(dry_run=False)
        assert stats["deleted"] == 0 and stats["hash_paths_referenced"] == 2
        np.testing.assert_array_equal((Rec & {"id": 1}).fetch1("data"), np.arange(77))
    finally:
        other.close()


# ------------------------------------------------------------------------ S3
@pytest.fixture
def s3_store(moto_s3):
    stores = {"default": "main", "main": moto_s3.store_config()}
    with dj.config.override(stores=stores):
        yield moto_s3, stores["main"]["location"]


def _s3_files(server, location, section):
    fs = server.filesystem()
    base = f"{server.bucket}/{location}/{section}"
    return sorted(p[len(f"{server.bucket}/{location}/"):] for p in fs.find(base))


def test_s3_collect(make_schema, s3_store, conn, monkeypatch):
    server, location = s3_store
    a, b = make_schema("gca"), make_schema("gcb")
    RecA, RecB = _rec(a), _rec(b)
    shared = np.arange(500.0)
    for Rec in (RecA, RecB):
        Rec.insert([{"id": 1, "data": shared}, {"id": 2, "data": shared},
                    {"id": 3, "data": np.arange(9)}])
        (Rec & "id in (1, 3)").delete()
    fs = server.filesystem()
    fs.pipe(f"{server.bucket}/{location}/notes/x.txt", b"user")
    fs.pipe(f"{server.bucket}/{location}/_hash/{a.database}/README", b"user")
    b_before = _s3_files(server, location, f"_hash/{b.database}")
    collector = dj.gc.GarbageCollector(a)
    dry = collector.collect()
    assert dry["hash_paths_orphaned"] == 1 and dry["deleted"] == 0
    assert len(_s3_files(server, location, f"_hash/{a.database}")) == 3
    # an insert in progress into schema a: record committed, object uploaded, no row
    with monkeypatch.context() as m:
        _paused_writer(m)
        RecA.insert1({"id": 9, "data": np.arange(31)})
    stats = collector.collect(dry_run=False)
    assert stats["hash_paths_deleted"] == 1 and stats["in_flight"] == 1
    assert stats["errors"] == 0 and stats["bytes_freed"] > 0
    left = _s3_files(server, location, f"_hash/{a.database}")
    assert len(left) == 3 and f"_hash/{a.database}/README" in left  # shared, in-flight, README
    assert _s3_files(server, location, f"_hash/{b.database}") == b_before
    assert fs.cat(f"{server.bucket}/{location}/notes/x.txt") == b"user"
    np.testing.assert_array_equal((RecA & {"id": 2}).fetch1("data"), shared)


# ------------------------------------------------------------------------ an object found present
def _before_first_move(monkeypatch, hook):
    """Run ``hook`` once, just before GC moves its first orphan aside."""
    from joinflow.storage import gc as gc_module
    original = gc_module._Section.move
    calls = []

    def move(self, source, target):
        if not calls:
            calls.append(source)
            hook(source)
        return original(self, source, target)
    monkeypatch.setattr(gc_module._Section, "move", move)
    return calls


@pytest.mark.parametrize("writer", ["recorded", "committed"])
def test_orphan_reused_by_an_insert_during_gc_stays(schema, store_dir, conn, monkeypatch,
                                                    writer):
    """Another insert finds an orphan present (identical content: not written again) after
    GC read the rows and records: it is recorded while GC decides (its row not yet committed)
    or has already committed its row. GC must not delete the object either way."""
    Rec = _rec(schema)
    x = np.arange(321)
    Rec.insert1({"id": 1, "data": x})
    (Rec & {"id": 1}).delete()  # x's object is an orphan now
    [orphan] = _hash_files(store_dir, schema.database)
    other = dj.Connection(config=conn.config)
    try:
        def writer_arrives(path):
            assert path == orphan
            table = dj.FreeTable(other, Rec.full_table_name)
            if writer == "recorded":
                with monkeypatch.context() as m:
                    _paused_writer(m)
                    table.insert1({"id": 2, "data": x})
            else:
                table.insert1({"id": 2, "data": x})
        calls = _before_first_move(monkeypatch, writer_arrives)
        stats = dj.gc.GarbageCollector(schema).collect(dry_run=False)
        assert calls == [orphan]
        assert stats["hash_paths_deleted"] == 0 and stats["in_flight_paths"] == [orphan]
        assert _hash_files(store_dir, schema.database) == [orphan]  # moved back
        if writer == "committed":
            np.testing.assert_array_equal((Rec & {"id": 2}).fetch1("data"), x)
    finally:
        other.close()


def test_objects_left_aside_by_an_interrupted_gc(schema, store_dir):
    Rec = _rec(schema)
    Rec.insert([{"id": 1, "data": np.arange(10)}, {"id": 2, "data": np.arange(20)}])
    paths = _hash_files(store_dir, schema.database)
    (Rec & {"id": 2}).delete()
    referenced = dj.gc.GarbageCollector(schema).hash_references()
    [live] = referenced
    [dead] = [p for p in paths if p != live]
    for path in (live, dead):  # what an interrupted collection leaves
        f = store_dir / path
        f.rename(f.with_name(".jf-gc-" + f.name))
    stats = dj.gc.GarbageCollector(schema).collect(dry_run=False)
    assert stats["errors"] == 0
    assert _hash_files(store_dir, schema.database) == [live]
    np.testing.assert_array_equal((Rec & {"id": 1}).fetch1("data"), np.arange(10))


# ------------------------------------------------------------------------ a failed insert's cleanup
def test_failed_insert_keeps_objects_another_writer_found_present(schema, store_dir, conn,
                                                                  monkeypatch):
    """Writer A uploads X and fails; writer B has just found X present (its pending record is
    committed, its row is not): A's cleanup must leave X — also when B arrives between A's
    check and A's removal (A writes X back)."""
    from joinflow.storage.store import Store
    Rec = _rec(schema)
    Rec.insert1({"id": 0, "data": np.arange(2)})
    x = np.arange(4321)
    other = dj.Connection(config=conn.config)
    original = Store.remove
    arrived = []

    def remove(self, paths):
        if not arrived:  # B checks for X just before A removes it
            arrived.append(paths)
            with monkeypatch.context() as m:
                _paused_writer(m)
                dj.FreeTable(other, Rec.full_table_name).insert1({"id": 2, "data": x})
        return original(self, paths)
    try:
        monkeypatch.setattr(Store, "remove", remove)
        with pytest.raises(RuntimeError):
            with conn.transaction:
                Rec.insert1({"id": 1, "data": x})
                raise RuntimeError("A fails")
        assert arrived  # A did remove X, then wrote it back
        [rec] = _records(conn, schema.database)
        assert (store_dir / rec.path).exists()
        # B commits its row now: it can be read
        dj.FreeTable(other, Rec.full_table_name).insert1({"id": 2, "data": x})
        np.testing.assert_array_equal((Rec & {"id": 2}).fetch1("data"), x)
    finally:
        other.close()


def test_legacy_external_delete_keeps_objects_of_inserts_in_progress(schema, tmp_path, conn,
                                                                     monkeypatch):
    """DataJoint 0.14 stores: ``schema.external[store].delete()`` removes unused entries and
    their objects, except an object an insert in progress has found present."""
    stores = {"old": {"protocol": "file", "location": str(tmp_path / "old")}}
    (tmp_path / "old").mkdir()
    with dj.config.override(stores=stores):
        @schema
        class Old(dj.Manual):
            definition = """
            id : int32
            ---
            data : blob@old
            """
        x = np.arange(999)
        Old.insert([{"id": 1, "data": x}, {"id": 2, "data": np.arange(5)}])
        Old.delete()  # both entries unused now
        assert len(files_under(tmp_path / "old")) == 2
        other = dj.Connection(config=conn.config)
        try:
            with monkeypatch.context() as m:
                _paused_writer(m)  # found x's object present, row not yet committed
                dj.FreeTable(other, Old.full_table_name).insert1({"id": 3, "data": x})
            [rec] = _records(conn, schema.database)
            assert schema.external["old"].delete() == []
            assert len(files_under(tmp_path / "old")) == 1
            assert (tmp_path / "old" / rec.path).exists()
            assert len(schema.external["old"]) == 1  # its entry stays too
        finally:
            other.close()


def test_progress_bar_when_stderr_is_a_terminal(schema, store_dir, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True
    Rec = _rec(schema)
    Rec.insert([{"id": i, "data": np.arange(i + 1)} for i in range(5)])
    Rec.delete()
    screen = Terminal()
    with monkeypatch.context() as m:
        m.setattr(sys, "stderr", screen)
        stats = dj.gc.GarbageCollector(schema).collect(dry_run=False)
    assert stats["hash_paths_deleted"] == 5
    assert "gc: deleting" in screen.getvalue() and "5/5" in screen.getvalue()


def test_codecs_name_the_paths_their_values_reference():
    """DataJoint's collector API on the codecs: ``referenced_paths(stored)``."""
    from joinflow.codecs import get_codec
    hashed = {"path": "_hash/s/abc", "hash": "abc", "store": None}
    assert get_codec("hash").referenced_paths(hashed) == [("_hash/s/abc", None)]
    assert get_codec("hash").referenced_paths('{"path": "p", "store": "m"}') == [("p", "m")]
    assert get_codec("object").referenced_paths({"path": "a/b", "store": "local"}) == \
        [("a/b", "local")]
    for codec in ("hash", "object", "npy"):
        assert get_codec(codec).referenced_paths("not json") == []
        assert get_codec(codec).referenced_paths({"hash": "x"}) == []
        assert get_codec(codec).referenced_paths(None) == []
