"""Schema-addressed objects end to end: ``<object@>`` (files, folders, bytes, streams),
``ObjectRef``, ``staged_insert1`` and the removal of a deleted row's objects, on every database
backend with a file store (the core round trips also on S3, moto): DataJoint 2.3.5's path
layout and row JSON, nothing left behind by a failed insert, staged insert or rolled-back
delete, and interoperability with the real DataJoint both ways."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import fsspec
import pytest
from conftest import unique_name
from storage_helpers import files_under
from test_interop_datajoint import DJ_PRELUDE, needs_datajoint, run_dj

import joinflow as dj
from joinflow.errors import ConfigError, DataError, DefinitionError, JoinflowError, StoreError
from joinflow.storage import Stores, build_object_path, encode_pk_value, generate_token

TOKEN = r"[A-Za-z0-9_-]"
META_KEYS = ["path", "store", "size", "ext", "is_dir", "item_count", "timestamp"]


# ----------------------------------------------------------------------------------- fixtures
class Where:
    """A configured store and a view of its files, whatever the protocol."""

    def __init__(self, config: dict[str, Any], fs: Any, root: str) -> None:
        self.config, self.fs, self.root = config, fs, root.rstrip("/")

    def files(self) -> list[str]:
        """Every object in the store, relative to its root, sorted."""
        if not self.fs.exists(self.root):
            return []
        found = self.fs.find(self.root)
        return sorted(f[len(self.root) + 1:] for f in (str(p) for p in found))

    def read(self, path: str) -> bytes:
        return bytes(self.fs.cat_file(f"{self.root}/{path}"))

    def remove(self, path: str) -> None:
        self.fs.rm(f"{self.root}/{path}", recursive=True)


def _file_store(tmp_path: Path, name: str, **extra: Any) -> Where:
    config = {"protocol": "file", "location": str(tmp_path / name), **extra}
    return Where(config, fsspec.filesystem("file"), str(tmp_path / name))


def _s3_store(server: Any, **extra: Any) -> Where:
    config = server.store_config(**extra)
    return Where(config, server.filesystem(), f"{server.bucket}/{config['location']}")


@pytest.fixture(params=["file", "s3", pytest.param("ceph", marks=pytest.mark.ceph)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """The default store ``main``, a file store or S3 (moto; Ceph's RADOS gateway in the
    ``ceph`` integration group)."""
    where = _file_store(tmp_path, "main") if request.param == "file" else \
        _s3_store(request.getfixturevalue("moto_s3" if request.param == "s3" else "ceph_s3"))
    dj.config["stores"] = {"default": "main", "main": where.config}
    return where


@pytest.fixture
def file_store(tmp_path: Path) -> Where:
    """The default store ``main`` (a file store) and ``part`` (partitioned, short tokens)."""
    where = _file_store(tmp_path, "main")
    part = _file_store(tmp_path, "part", partition_pattern="{subject}", token_length=5,
                       schema_prefix="objs")
    dj.config["stores"] = {"default": "main", "main": where.config, "part": part.config}
    return where


@pytest.fixture
def source(tmp_path: Path) -> dict[str, Path]:
    """A local file and a local folder (with a subfolder) to insert."""
    src = tmp_path / "src"
    (src / "folder" / "sub").mkdir(parents=True)
    (src / "data.csv").write_bytes(b"a,b\n1,2\n")
    (src / "folder" / "one.txt").write_bytes(b"one")
    (src / "folder" / "sub" / "two.bin").write_bytes(bytes(range(256)) * 4)
    return {"file": src / "data.csv", "folder": src / "folder"}


REC_DEFINITION = """
subject : varchar(20)
sess : int32
---
f : <object@main>
g = null : <object@>
"""


def make_table(schema: dj.Schema, name: str = "Rec") -> Any:
    """``Rec`` (or another table of the same shape, e.g. ``Copy`` for rows copied with
    INSERT ... SELECT)."""
    return schema(type(name, (dj.Manual,), {"definition": REC_DEFINITION}))


def raw_json(table: Any, attr: str, order: str = "sess") -> list[Any]:
    """A column's stored values with plain SQL: (the text when the backend keeps it as text,
    parsed) — the key order is only meaningful where the text is kept."""
    q = table.connection.backend.quote
    rows = table.connection.query(
        f"SELECT {q(attr)} FROM {table.full_table_name} ORDER BY {q(order)}").fetchall()
    return [v for (v,) in rows]


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


def local_tree(root: Path) -> dict[str, bytes]:
    return {p: (root / p).read_bytes() for p in files_under(root)}


# -------------------------------------------------------------------------- round trips (file, S3)
def test_file_folder_bytes_and_stream_round_trip(schema: dj.Schema, store: Where,
                                                 source: dict[str, Path],
                                                 tmp_path: Path) -> None:
    Rec = make_table(schema)
    Rec.insert1({"subject": "s1", "sess": 1, "f": str(source["file"]), "g": source["folder"]})
    Rec.insert([{"subject": "s1", "sess": 2, "f": b"\x00raw bytes\xff"},
                {"subject": "s1", "sess": 3, "f": (".txt", io.BytesIO(b"streamed text"))},
                {"subject": "s1", "sess": 4, "f": ("dat", b"tuple bytes")}])
    refs = dict(zip(*Rec.fetch("sess", "f", order_by="sess")))
    assert all(isinstance(r, dj.ObjectRef) for r in refs.values())
    assert refs[1].read() == source["file"].read_bytes() and refs[1].ext == ".csv"
    assert (refs[1].size, refs[1].is_dir, refs[1].item_count) == (8, False, None)
    assert refs[2].read() == b"\x00raw bytes\xff" and refs[2].ext is None
    assert refs[3].read() == b"streamed text" and refs[3].ext == ".txt"
    assert refs[4].read() == b"tuple bytes" and refs[4].ext == ".dat"
    with refs[1].open() as f:
        assert f.read() == b"a,b\n1,2\n"
    assert refs[1].exists() and refs[1].verify()
    # the folder: listing, reading inside it, a whole download, verification by manifest
    folder = (Rec & {"sess": 1}).fetch1("g")
    assert (folder.is_dir, folder.item_count, folder.size, folder.ext) == (True, 2, 1027, None)
    assert folder.listdir() == ["one.txt", "sub"] and folder.listdir("sub") == ["two.bin"]
    walked = {root: sorted(files) for root, _, files in folder.walk()}
    assert walked == {"": ["one.txt"], "sub": ["two.bin"]}
    with folder.open("sub/two.bin") as f:
        assert f.read() == bytes(range(256)) * 4
    assert folder.exists("one.txt") and not folder.exists("nope.txt")
    assert folder.verify()
    # (DataJoint's layout: the folder goes below the destination, by its name)
    assert folder.download(tmp_path / "fetched") == tmp_path / "fetched"
    name = folder.path.rsplit("/", 1)[1]
    assert local_tree(tmp_path / "fetched" / name) == local_tree(source["folder"])
    one = folder.download(tmp_path / "single", "sub/two.bin")
    assert one.read_bytes() == bytes(range(256)) * 4
    (tmp_path / "into").mkdir()
    copied = refs[1].download(tmp_path / "into")
    assert copied.parent == tmp_path / "into" and copied.read_bytes() == b"a,b\n1,2\n"
    # fsspec access (e.g. zarr.open(ref.fsmap))
    assert sorted(folder.fsmap) == ["one.txt", "sub/two.bin"]
    assert folder.fs.cat_file(folder.fsmap.root + "/one.txt") == b"one"
    with pytest.raises(JoinflowError, match="Cannot read"):
        folder.read()
    with pytest.raises(JoinflowError, match="Cannot listdir"):
        refs[1].listdir()


def test_fetch_reads_nothing_from_the_store(schema: dj.Schema, store: Where,
                                            source: dict[str, Path]) -> None:
    """The metadata comes from the row: with the object gone, fetch still works; only reading
    the content fails."""
    Rec = make_table(schema)
    Rec.insert1({"subject": "s1", "sess": 1, "f": str(source["file"])})
    path = (Rec & {"sess": 1}).fetch1("f").path
    store.remove(path)
    ref = (Rec & {"sess": 1}).fetch1("f")
    assert (ref.path, ref.size, ref.ext) == (path, 8, ".csv")
    assert not ref.exists()
    with pytest.raises(StoreError):
        ref.read()
    with pytest.raises(dj.errors.ObjectIntegrityError):
        ref.verify()


def test_staged_insert_round_trip(schema: dj.Schema, store: Where) -> None:
    Rec = make_table(schema)
    with Rec.staged_insert1 as staged:
        staged.rec["subject"] = "st"
        staged.rec["sess"] = 9
        with staged.open("f", ".dat") as fh:
            fh.write(b"staged file")
        mapper = staged.store("g", ".zarr")
        assert isinstance(mapper, fsspec.FSMap)
        mapper["a/b"] = b"123"
        mapper["c"] = b"4"
        assert len(Rec) == 0  # the row comes at the end
    f, g = (Rec & {"sess": 9}).fetch1("f", "g")
    assert f.read() == b"staged file" and (f.ext, f.size, f.is_dir) == (".dat", 11, False)
    assert (g.ext, g.size, g.is_dir, g.item_count) == (".zarr", 4, True, 2)
    assert dict(g.fsmap) == {"a/b": b"123", "c": b"4"}
    assert g.verify()  # (no manifest: a staged folder is checked for existence)
    prefix = f"_schema/{schema.database}/rec/subject=st/sess=9/"
    assert all(p.startswith(prefix) for p in store.files())


def test_garbage_collection_spares_a_staged_insert_in_progress(schema: dj.Schema,
                                                                file_store: Where) -> None:
    Rec = make_table(schema)
    with Rec.staged_insert1 as staged:
        staged.rec.update(subject="a", sess=1)
        staged.store("g", ".zarr")["x/y"] = b"being written"
        with staged.open("f", ".txt") as fh:
            fh.write(b"also")
        stats = dj.gc.GarbageCollector(schema).collect(dry_run=False)
        assert stats["in_flight"] == 2 and stats["deleted"] == 0
    g = Rec.fetch1("g")
    assert dict(g.fsmap) == {"x/y": b"being written"}
    assert dj.gc.GarbageCollector(schema).collect(dry_run=False)["deleted"] == 0


def test_delete_removes_objects_after_commit(schema: dj.Schema, store: Where,
                                             source: dict[str, Path], conn: dj.Connection
                                             ) -> None:
    Rec = make_table(schema)
    Rec.insert1({"subject": "a", "sess": 1, "f": str(source["file"]), "g": source["folder"]})
    Rec.insert1({"subject": "b", "sess": 2, "f": b"keep me"})
    before = store.files()
    kept = (Rec & {"sess": 2}).fetch1("f").path
    # a rolled-back delete removes nothing
    with pytest.raises(RuntimeError), conn.transaction:
        (Rec & {"sess": 1}).delete()
        assert store.files() == before  # not before the commit
        raise RuntimeError("user code failed")
    assert store.files() == before and len(Rec) == 2
    (Rec & {"sess": 1}).fetch1("g").verify()
    # a committed one removes the row's file, folder and manifest
    (Rec & {"sess": 1}).delete()
    assert store.files() == [kept]
    assert (Rec & {"sess": 2}).fetch1("f").read() == b"keep me"
    Rec.delete_quick()
    assert store.files() == []


def test_cascade_removes_the_objects_of_every_deleted_table(schema: dj.Schema,
                                                              file_store: Where) -> None:
    @schema
    class Session(dj.Manual):
        definition = """
        sess : int32
        ---
        raw : <object@>
        """

    @schema
    class Result(dj.Manual):
        definition = """
        -> Session
        step : int32
        ---
        out : <object@main>
        """
    Session.insert([{"sess": 1, "raw": b"s1"}, {"sess": 2, "raw": b"s2"}])
    Result.insert([{"sess": 1, "step": 1, "out": b"r11"}, {"sess": 1, "step": 2, "out": b"r12"},
                   {"sess": 2, "step": 1, "out": b"r21"}])
    survivors = sorted([(Session & {"sess": 2}).fetch1("raw").path,
                        (Result & {"sess": 2}).fetch1("out").path])
    (Session & {"sess": 1}).delete()
    assert file_store.files() == survivors
    assert (Result & {"sess": 2}).fetch1("out").read() == b"r21"


def test_delete_keeps_objects_other_rows_hold(schema: dj.Schema, file_store: Where) -> None:
    """A row copied with INSERT ... SELECT holds the same object: deleting either row keeps
    it while the other holds it. The copy does not own it (it lies in the original table's
    section), so when the copy goes last the object is left to the garbage collector."""
    Rec = make_table(schema)
    Copy = make_table(schema, "Copy")
    Rec.insert1({"subject": "a", "sess": 1, "f": b"shared"})
    Copy.insert(Rec)
    path = Copy.fetch1("f").path
    Rec.delete()
    assert file_store.files() == [path] and Copy.fetch1("f").read() == b"shared"
    Copy.delete()
    assert file_store.files() == [path]
    assert dj.gc.GarbageCollector(schema).collect(dry_run=False)["deleted"] == 1
    assert file_store.files() == []


# ------------------------------------------------------------------------- layout and row JSON
def test_path_layout_and_row_json_as_datajoint_writes_them(schema: dj.Schema,
                                                           file_store: Where,
                                                           source: dict[str, Path]) -> None:
    Rec = make_table(schema)
    Rec.insert1({"sess": 2, "subject": "s/1", "f": str(source["file"]), "g": source["folder"]})
    db = schema.database
    (f_raw,), (g_raw,) = raw_json(Rec, "f"), raw_json(Rec, "g")
    f, g = as_dict(f_raw), as_dict(g_raw)
    if isinstance(f_raw, str):  # kept as text: DataJoint's key order
        assert list(json.loads(f_raw)) == META_KEYS and list(json.loads(g_raw)) == META_KEYS
    assert set(f) == set(META_KEYS) == set(g)
    # the key in the table's primary-key order, "/" quoted; the attribute and a fresh token
    assert re.fullmatch(rf"_schema/{db}/rec/subject=s%2F1/sess=2/f_{TOKEN}{{8}}\.csv",
                        f["path"])
    assert {k: f[k] for k in ("store", "size", "ext", "is_dir", "item_count")} == \
        {"store": "main", "size": 8, "ext": ".csv", "is_dir": False, "item_count": None}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", f["timestamp"])
    # <object@>: the default store, named null
    assert re.fullmatch(rf"_schema/{db}/rec/subject=s%2F1/sess=2/g_{TOKEN}{{8}}", g["path"])
    assert {k: g[k] for k in ("store", "size", "ext", "is_dir", "item_count")} == \
        {"store": None, "size": 1027, "ext": None, "is_dir": True, "item_count": 2}
    assert file_store.files() == sorted([
        f["path"], f"{g['path']}/one.txt", f"{g['path']}/sub/two.bin",
        f"{g['path']}.manifest.json"])
    assert file_store.read(f["path"]) == source["file"].read_bytes()
    manifest = json.loads(file_store.read(g["path"] + ".manifest.json"))
    assert list(manifest) == ["files", "total_size", "item_count", "created"]
    assert manifest["files"] == [{"path": "one.txt", "size": 3},
                                 {"path": "sub/two.bin", "size": 1024}]
    assert (manifest["total_size"], manifest["item_count"]) == (1027, 2)


def test_store_settings_shape_the_path(schema: dj.Schema, file_store: Where,
                                       tmp_path: Path) -> None:
    @schema
    class Part(dj.Manual):
        definition = """
        subject : varchar(20)
        sess : int32
        ---
        f : <object@part>
        """
    Part.insert1({"subject": "mouse", "sess": 3, "f": b"rawbytes"})
    stored = as_dict(raw_json(Part, "f")[0])
    # schema_prefix "objs", the partition attribute first, 5-character tokens
    assert re.fullmatch(rf"objs/subject=mouse/{schema.database}/part/sess=3/f_{TOKEN}{{5}}",
                        stored["path"])
    assert stored["store"] == "part"
    assert (tmp_path / "part" / stored["path"]).read_bytes() == b"rawbytes"


def test_path_helpers() -> None:
    import datetime
    path, token = build_object_path("db", "tab", "f", {"a": 1, "b": "x y"}, "npy")
    assert path == f"_schema/db/tab/a=1/b=x y/f_{token}.npy" and len(token) == 8
    path, token = build_object_path("db", "tab", "f", {"a": 1, "b": 2}, None,
                                    "{b}", 30, schema_prefix="")
    assert path == f"b=2/db/tab/a=1/f_{token}" and len(token) == 16
    assert len(generate_token(1)) == 4
    assert set(generate_token(16)) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert encode_pk_value(datetime.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03-04-05"
    assert encode_pk_value(datetime.date(2024, 1, 2)) == "2024-01-02"
    assert encode_pk_value("a:b") == "a%3Ab" and encode_pk_value(-5) == "-5"
    codec = dj.get_codec("object")
    assert codec.referenced_paths('{"path": "s/t/k=1/f_x", "store": "main"}') == \
        [("s/t/k=1/f_x", "main")]
    assert codec.referenced_paths({"path": "p", "store": None}) == [("p", None)]
    assert codec.referenced_paths(None) == [] == codec.referenced_paths({"other": 1})
    long = encode_pk_value("x" * 150)
    assert long.startswith("x" * 50 + "_") and len(long) == 59


# ------------------------------------------------------------------------ failures leave nothing
def test_failed_insert_leaves_no_object_and_no_row(schema: dj.Schema, store: Where,
                                                   source: dict[str, Path],
                                                   conn: dj.Connection) -> None:
    Rec = make_table(schema)
    Rec.insert1({"subject": "a", "sess": 1, "f": b"first"})
    before = store.files()
    with pytest.raises(dj.errors.DuplicateError):
        Rec.insert([{"subject": "b", "sess": 2, "f": str(source["file"]),
                     "g": source["folder"]},
                    {"subject": "a", "sess": 1, "f": b"duplicate"}])
    assert store.files() == before and len(Rec) == 1
    with pytest.raises(RuntimeError), conn.transaction:
        Rec.insert1({"subject": "c", "sess": 3, "f": b"x", "g": source["folder"]})
        raise RuntimeError("user code failed")
    assert store.files() == before and len(Rec) == 1


def test_failed_upload_leaves_nothing(schema: dj.Schema, file_store: Where,
                                      source: dict[str, Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """One file of a folder fails to upload: the files already uploaded are removed."""
    from joinflow.storage.store import Store
    put_file = Store.put_file

    def failing(self: Store, path: str, *args: Any, **kwargs: Any) -> None:
        if path.endswith("two.bin"):
            raise OSError("disk full (simulated)")
        put_file(self, path, *args, **kwargs)
    monkeypatch.setattr(Store, "put_file", failing)
    Rec = make_table(schema)
    with pytest.raises(StoreError, match="disk full"):
        Rec.insert1({"subject": "a", "sess": 1, "f": str(source["file"]),
                     "g": source["folder"]})
    assert file_store.files() == [] and len(Rec) == 0


def test_failed_staged_insert_leaves_nothing(schema: dj.Schema, store: Where) -> None:
    Rec = make_table(schema)
    with pytest.raises(ValueError, match="simulated"):
        with Rec.staged_insert1 as staged:
            staged.rec.update(subject="a", sess=1)
            with staged.open("f", ".dat") as fh:
                fh.write(b"will be removed")
            staged.store("g", ".zarr")["x/y"] = b"gone too"
            assert store.files()  # written straight to the store
            raise ValueError("simulated failure")
    assert store.files() == [] and len(Rec) == 0
    # the row's insert fails (a duplicate): what was written goes too
    Rec.insert1({"subject": "a", "sess": 1, "f": b"first"})
    before = store.files()
    with pytest.raises(dj.errors.DuplicateError):
        with Rec.staged_insert1 as staged:
            staged.rec.update(subject="a", sess=1)
            with staged.open("f", ".dat") as fh:
                fh.write(b"duplicate")
    assert store.files() == before and len(Rec) == 1


# ---------------------------------------------------------------------------------- errors
def test_clear_errors(schema: dj.Schema, file_store: Where, tmp_path: Path) -> None:
    Rec = make_table(schema)
    with pytest.raises(DataError, match="not found"):
        Rec.insert1({"subject": "a", "sess": 1, "f": str(tmp_path / "missing.dat")})
    with pytest.raises(DataError, match="<object> expects"):
        Rec.insert1({"subject": "a", "sess": 1, "f": 42})
    with pytest.raises(DataError, match="Primary key values must be set.*Missing: sess"):
        with Rec.staged_insert1 as staged:
            staged.rec["subject"] = "a"
            staged.store("f", ".dat")
    with pytest.raises(JoinflowError, match="is not an <object> type"):
        with Rec.staged_insert1 as staged:
            staged.rec.update(subject="a", sess=1)
            staged.open("subject")
    with pytest.raises(JoinflowError, match="not found in table heading"):
        with Rec.staged_insert1 as staged:
            staged.open("nope")
    with pytest.raises(JoinflowError, match="nothing was written"):
        with Rec.staged_insert1 as staged:
            staged.rec.update(subject="a", sess=1)
            staged.store("g")
    assert len(Rec) == 0 and file_store.files() == []

    # a store configured when the table was declared, gone when inserting
    stores = dict(dj.config["stores"])
    dj.config["stores"] = {**stores, "extra": {"protocol": "file",
                                               "location": str(tmp_path / "extra")}}

    @schema
    class Elsewhere(dj.Manual):
        definition = """
        id : int32
        ---
        f : <object@extra>
        """
    dj.config["stores"] = stores
    with pytest.raises(dj.errors.CodecError, match="store 'extra' is not configured"):
        Elsewhere.insert1({"id": 1, "f": b"x"})
    assert len(Elsewhere) == 0
    with pytest.raises((DefinitionError, dj.errors.CodecError), match="requires a store"):
        @schema
        class InTable(dj.Manual):
            definition = """
            id : int32
            ---
            f : <object>
            """
    with pytest.raises(ConfigError, match="names no attribute"):
        dj.config["stores"] = {"default": "main", "main": {
            "protocol": "file", "location": str(tmp_path), "partition_pattern": "subject"}}
        Stores.from_config(dj.config).get("main")


# ----------------------------------------------------------------------- DataJoint 2.3.5 interop
DJ_STORE = r'''
dj.config["stores"] = {"default": "local", "local": {"protocol": "file", "location": args["loc"]}}
'''

DJ_READS_OBJECTS = DJ_PRELUDE + DJ_STORE + r'''
vm = dj.VirtualModule("vm", args["schema"])
out = {}
for r in vm.Rec.to_dicts(order_by="sess"):
    f, g = r["f"], r["g"]
    out[r["sess"]] = {"f": f.read(), "f_ext": f.ext, "f_size": f.size,
                      "g": None if g is None else {p: g.open(p).read() for p in ["one.txt", "sub/two.bin"]},
                      "g_verify": None if g is None else g.verify(),
                      "g_list": None if g is None else sorted(g.listdir())}
(vm.Rec & {"sess": 1}).delete()
with open(args["out"], "wb") as fh:
    pickle.dump(out, fh)
'''

DJ_WRITES_OBJECTS = DJ_PRELUDE + DJ_STORE + r'''
schema = dj.Schema(args["schema"])

@schema
class Rec(dj.Manual):
    definition = """
    subject : varchar(20)
    sess : int32
    ---
    f : <object@local>
    g = null : <object@local>
    """

Rec.insert1(dict(subject="a/b", sess=1, f=args["file"], g=args["folder"]))
with Rec.staged_insert1 as staged:
    staged.rec["subject"] = "st"
    staged.rec["sess"] = 2
    with staged.open("f", ".dat") as fh:
        fh.write(b"staged by datajoint")
with open(args["out"], "wb") as fh:
    pickle.dump({}, fh)
'''


@needs_datajoint
@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_datajoint_reads_objects_joinflow_wrote(schema: dj.Schema, conn: dj.Connection,
                                                tmp_path: Path, source: dict[str, Path]
                                                ) -> None:
    loc = tmp_path / "loc"
    loc.mkdir()
    dj.config["stores"] = {"default": "local",
                           "local": {"protocol": "file", "location": str(loc)}}

    @schema
    class Rec(dj.Manual):
        definition = """
        subject : varchar(20)
        sess : int32
        ---
        f : <object@local>
        g = null : <object@local>
        """
    Rec.insert1({"subject": "a/b", "sess": 1, "f": str(source["file"]), "g": source["folder"]})
    with Rec.staged_insert1 as staged:
        staged.rec.update(subject="st", sess=2)
        with staged.open("f", ".bin") as fh:
            fh.write(b"staged by joinflow")
    out = run_dj(DJ_READS_OBJECTS, conn, schema.database, tmp_path, loc=str(loc))
    assert out[1]["f"] == source["file"].read_bytes()
    assert (out[1]["f_ext"], out[1]["f_size"]) == (".csv", 8)
    assert out[1]["g"] == {"one.txt": b"one", "sub/two.bin": bytes(range(256)) * 4}
    assert out[1]["g_verify"] is True and out[1]["g_list"] == ["one.txt", "sub"]
    assert out[2]["f"] == b"staged by joinflow" and out[2]["g"] is None
    assert len(Rec) == 1  # DataJoint deleted row 1 (and left its objects to its collector)


@needs_datajoint
@pytest.mark.parametrize("backend", ["postgresql", "mysql"])
def test_joinflow_reads_objects_datajoint_wrote(conn: dj.Connection, tmp_path: Path,
                                                source: dict[str, Path]) -> None:
    loc = tmp_path / "loc"
    loc.mkdir()
    dj.config["stores"] = {"default": "local",
                           "local": {"protocol": "file", "location": str(loc)}}
    name = unique_name("jft_djo")
    try:
        run_dj(DJ_WRITES_OBJECTS, conn, name, tmp_path, loc=str(loc),
               file=str(source["file"]), folder=str(source["folder"]))
        vm = dj.VirtualModule("vm", name, connection=conn)
        f, g = (vm.Rec & {"sess": 1}).fetch1("f", "g")
        assert f.read() == source["file"].read_bytes() and f.ext == ".csv"
        assert re.fullmatch(rf"_schema/{name}/rec/subject=a%2Fb/sess=1/f_{TOKEN}{{8}}\.csv",
                            f.path)
        assert g.verify() and g.item_count == 2 and g.listdir() == ["one.txt", "sub"]
        g.download(tmp_path / "dl")
        assert local_tree(tmp_path / "dl" / Path(g.path).name) == local_tree(source["folder"])
        staged = (vm.Rec & {"sess": 2}).fetch1("f")
        assert staged.read() == b"staged by datajoint"
        # joinflow's delete removes what the row owns, after the commit
        (vm.Rec & {"sess": 1}).delete()
        assert not (loc / f.path).exists() and not (loc / g.path).exists()
        assert (loc / staged.path).exists()
    finally:
        dj.Schema(name, connection=conn).drop(prompt=False)


def test_codec_called_directly_in_datajoint_style(file_store: Where) -> None:
    """``encode(value, key=..., context={schema, table, field, config}, store_name=...)``
    writes the object at once and returns the row's metadata."""
    from joinflow.storage.objects import ObjectCodec
    codec = ObjectCodec()
    meta = codec.encode((".bin", b"direct"), key={"id": 7}, store_name="main",
                        context={"schema": "db", "table": "tab", "field": "f",
                                 "config": dj.config})
    assert re.fullmatch(rf"_schema/db/tab/id=7/f_{TOKEN}{{8}}\.bin", meta["path"])
    assert list(meta) == META_KEYS and meta["store"] == "main" and meta["size"] == 6
    assert file_store.files() == [meta["path"]]
    assert codec.decode(meta, context={"config": dj.config}).read() == b"direct"


def test_update1_replaces_the_object(schema: dj.Schema, file_store: Where,
                                     conn: dj.Connection) -> None:
    """update1 writes the new object; the old one goes once the update commits (a rolled back
    update keeps the old and removes the new)."""
    Rec = make_table(schema)
    Rec.insert1({"subject": "a", "sess": 1, "f": b"old"})
    old = Rec.fetch1("f").path
    with pytest.raises(RuntimeError), conn.transaction:
        Rec.update1({"subject": "a", "sess": 1, "f": b"rolled back"})
        raise RuntimeError("user code failed")
    assert file_store.files() == [old] and Rec.fetch1("f").read() == b"old"
    Rec.update1({"subject": "a", "sess": 1, "f": b"new"})
    ref = Rec.fetch1("f")
    assert ref.read() == b"new" and file_store.files() == [ref.path] != [old]


def test_replace_and_skip_duplicates_leave_no_orphans(schema: dj.Schema, file_store: Where,
                                                       conn: dj.Connection) -> None:
    """insert(replace=True) removes the objects of the rows it overwrites once it commits;
    skip_duplicates=True removes the new objects of the rows it skips; a rolled back replace
    keeps the old objects and removes the new."""
    Rec = make_table(schema)
    Rec.insert([{"subject": "a", "sess": 1, "f": b"one"}, {"subject": "a", "sess": 2, "f": b"two"}])
    before = {r["sess"]: r["f"].path for r in Rec.to_dicts()}
    Rec.insert([{"subject": "a", "sess": 1, "f": b"again"}, {"subject": "a", "sess": 3, "f": b"3"}],
               skip_duplicates=True)
    kept = {r["sess"]: r["f"] for r in Rec.to_dicts()}
    assert kept[1].path == before[1] and kept[1].read() == b"one"
    assert file_store.files() == sorted(r.path for r in kept.values())
    with pytest.raises(RuntimeError), conn.transaction:
        Rec.insert1({"subject": "a", "sess": 2, "f": b"rolled back"}, replace=True)
        raise RuntimeError("user code failed")
    assert file_store.files() == sorted(r.path for r in kept.values())
    Rec.insert([{"subject": "a", "sess": 2, "f": b"TWO"}, {"subject": "a", "sess": 4, "f": b"4"}],
               replace=True)
    now = {r["sess"]: r["f"] for r in Rec.to_dicts()}
    assert now[2].read() == b"TWO" and now[2].path != before[2]
    assert file_store.files() == sorted(r.path for r in now.values())
    Rec.insert1({"subject": "a", "sess": 5, "f": b"5", "g": b"g5"})
    Rec.insert1({"subject": "a", "sess": 5, "f": b"5b"}, replace=True)  # g back to null
    row = (Rec & {"sess": 5}).fetch1()
    assert row["g"] is None and row["f"].read() == b"5b"
    assert file_store.files() == sorted(r["f"].path for r in Rec.to_dicts())


def test_other_fetch_formats(schema: dj.Schema, file_store: Where) -> None:
    """pandas holds ObjectRefs; Arrow (no object type) the metadata as JSON text."""
    pytest.importorskip("pyarrow")
    Rec = make_table(schema)
    Rec.insert1({"subject": "a", "sess": 1, "f": b"abc"})
    ref = Rec.fetch1("f")
    frame = Rec.to_pandas()
    assert frame["f"].iloc[0] == ref and frame["f"].iloc[0].read() == b"abc"
    arrow = Rec.to_arrow()
    assert json.loads(arrow.column("f")[0].as_py()) == ref.to_json()


# --------------------------------------------------------------- found in review (data loss)
def test_failed_chunk_keeps_the_objects_of_committed_chunks(schema: dj.Schema,
                                                            file_store: Where) -> None:
    Rec = make_table(schema)
    Rec.insert1({"subject": "a", "sess": 3, "f": b"three"})
    rows = [{"subject": "a", "sess": s, "f": f"{s}".encode()} for s in (1, 2, 3, 4)]
    with pytest.raises(dj.errors.DuplicateError):
        Rec.insert(rows, chunk_size=2)  # the second chunk clashes on sess 3
    got = {r["sess"]: r["f"] for r in Rec.to_dicts()}
    assert sorted(got) == [1, 2, 3]
    assert [got[s].read() for s in (1, 2, 3)] == [b"1", b"2", b"three"]
    assert file_store.files() == sorted(r.path for r in got.values())


def test_delete_removes_only_objects_in_the_rows_own_section(schema: dj.Schema,
                                                             file_store: Where,
                                                             tmp_path: Path) -> None:
    """Metadata naming another place (inserted by hand, or a row copied into another table)
    owns nothing there: deleting that row leaves the object to the garbage collector."""
    Rec = make_table(schema)
    precious = Path(file_store.root) / "raw" / "precious.dat"
    precious.parent.mkdir(parents=True)
    precious.write_bytes(b"keep me")
    Rec.insert1({"subject": "a", "sess": 1, "f": b"mine"})
    Rec.insert1({"subject": "a", "sess": 2, "f": {"path": "raw", "is_dir": True}})
    Rec.insert1({"subject": "a", "sess": 3, "f": {"path": "raw/precious.dat", "is_dir": False,
                                                  "store": "main"}})
    Copy = make_table(schema, "Copy")
    Copy.insert(Rec & {"sess": 1})
    Copy.delete()  # the copy's object lies in Rec's section: Rec's row still needs it
    assert (Rec & {"sess": 1}).fetch1("f").read() == b"mine"
    (Rec & "sess > 1").delete()
    assert precious.read_bytes() == b"keep me"
    assert (Rec & {"sess": 1}).fetch1("f").read() == b"mine"


def test_skip_duplicates_with_unicode_and_tab_keys_keeps_inserted_objects(
        schema: dj.Schema, file_store: Where) -> None:
    """The check for rows still holding an object compares parsed paths: JSON text escapes
    ``é`` and tabs, which a text match would miss (and then remove a live object)."""
    Rec = make_table(schema)
    Rec.insert1({"subject": "x", "sess": 1, "f": b"old"})
    Rec.insert([{"subject": "José", "sess": 1, "f": b"new"},
                {"subject": "a\tb", "sess": 1, "f": b"tab"},
                {"subject": "x", "sess": 1, "f": b"skipped"}], skip_duplicates=True)
    got = {r["subject"]: r["f"] for r in Rec.to_dicts()}
    assert got["José"].read() == b"new" and got["a\tb"].read() == b"tab"
    assert got["x"].read() == b"old"
    assert file_store.files() == sorted(r.path for r in got.values())


def test_paths_from_users_stay_inside(schema: dj.Schema, file_store: Where,
                                      source: dict[str, Path]) -> None:
    Rec = make_table(schema)
    Rec.insert1({"subject": "a", "sess": 1, "f": source["folder"]})
    ref = Rec.fetch1("f")
    assert ref.open("sub/two.bin").read() == bytes(range(256)) * 4
    for bad in ("../other", "sub/../../x", ".."):
        with pytest.raises(JoinflowError, match="not inside"):
            ref.open(bad)
    with pytest.raises(DataError, match="extension"):
        Rec.insert1({"subject": "a", "sess": 2, "f": ("/../../x", b"data")})
    with pytest.raises(DataError, match="extension"):
        with Rec.staged_insert1 as staged:
            staged.rec.update(subject="a", sess=3)
            staged.open("f", "/../escape")
    assert len(Rec & "sess > 1") == 0
