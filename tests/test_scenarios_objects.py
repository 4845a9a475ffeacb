"""User scenarios for object storage, written from DataJoint's documents (seeds 000, 002 and
003) and pinned by running each one on DataJoint 2.3.5 first (MariaDB and PostgreSQL, a file
store in a temporary folder): the same paths, row JSON, refs, download paths and error words.

Where joinflow differs on purpose (staged inserts name the table, not the class; a staged
field nothing was written to is refused; deleted rows' objects go at once) the test says so;
see docs/compatibility.md."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from storage_helpers import files_under

import joinflow as dj
from joinflow.errors import ConfigError, DataError, JoinflowError, MissingObjectError

TOKEN = r"[A-Za-z0-9_-]"


def token_of(path: str, field: str) -> str:
    """The random token of ``{field}_{token}{ext}``, the path's last segment."""
    name = path.rsplit("/", 1)[-1]
    return name[len(field) + 1:].split(".")[0]


def stored(table: Any, attr: str, **key: Any) -> dict[str, Any]:
    """A row's stored JSON, read with plain SQL (what DataJoint reads)."""
    q = table.connection.backend.quote
    where = " AND ".join(f"{q(k)} = %s" for k in key)
    (value,) = table.connection.query(
        f"SELECT {q(attr)} FROM {table.full_table_name} WHERE {where}",
        args=tuple(key.values())).fetchone()
    return value if isinstance(value, dict) else json.loads(value)


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    """Seed 002's tiers as file stores: ``raw`` (the default), ``part`` (partitioned by
    subject then session, 4-character tokens) and ``data`` (seed 000's filepath store)."""
    roots = {name: tmp_path / name for name in ("raw", "part", "data")}
    for root in roots.values():
        root.mkdir()
    dj.config["stores"] = {
        "default": "raw", "filepath_default": "data",
        "raw": {"protocol": "file", "location": str(roots["raw"])},
        "part": {"protocol": "file", "location": str(roots["part"]),
                 "partition_pattern": "{subject_id}/{session_id}", "token_length": 4},
        "data": {"protocol": "file", "location": str(roots["data"]),
                 "stage": str(roots["data"])},
    }
    return roots


def imaging_session(schema: dj.Schema) -> Any:
    @schema
    class ImagingSession(dj.Manual):
        definition = """
        subject_id : int32
        session_id : int32
        ---
        n_frames : int32
        frame_rate : float32
        frames : <object@>
        """
    return ImagingSession


def write_zarr_like(mapping: Any, n_frames: int) -> None:
    """What ``zarr.open(store, mode='w', shape=(n, 2), chunks=(1, 2), dtype='int32')`` and a
    frame-by-frame loop put into an FSMap: metadata and one chunk per frame."""
    mapping[".zarray"] = json.dumps({"shape": [n_frames, 2], "chunks": [1, 2],
                                     "dtype": "<i4", "zarr_format": 2}).encode()
    for i in range(n_frames):
        mapping[f"{i}.0"] = np.array([i, i], dtype="<i4").tobytes()


# ------------------------------------------------------------------ seed 002: staged Zarr write
def test_staged_insert1_writes_zarr_straight_into_the_store(schema, stores):
    ImagingSession = imaging_session(schema)
    with ImagingSession.staged_insert1 as staged:
        staged.rec["subject_id"] = 1
        staged.rec["session_id"] = 1
        store = staged.store("frames", ".zarr")
        write_zarr_like(store, 5)
        staged.rec["n_frames"] = 5
        staged.rec["frame_rate"] = 30.0
    meta = stored(ImagingSession, "frames", subject_id=1, session_id=1)
    # DataJoint puts the class name (ImagingSession) in the path; joinflow the table's name
    assert re.fullmatch(rf"_schema/{schema.database}/imaging_session/subject_id=1/session_id=1/"
                        rf"frames_{TOKEN}{{8}}\.zarr", meta["path"])
    assert {k: meta[k] for k in ("store", "ext", "is_dir", "item_count", "size")} == {
        "store": None, "ext": ".zarr", "is_dir": True, "item_count": 6,
        "size": len(json.dumps({"shape": [5, 2], "chunks": [1, 2], "dtype": "<i4",
                                "zarr_format": 2})) + 5 * 8}
    assert files_under(stores["raw"] / meta["path"]) == [".zarray", *(f"{i}.0" for i in range(5))]
    row = (ImagingSession & {"subject_id": 1}).fetch1()
    assert (row["n_frames"], float(row["frame_rate"])) == (5, 30.0)
    ref = row["frames"]
    assert isinstance(ref, dj.ObjectRef) and ref.is_dir and ref.ext == ".zarr"
    assert sorted(ref.fsmap) == [".zarray", *(f"{i}.0" for i in range(5))]
    assert np.frombuffer(ref.fsmap["3.0"], dtype="<i4").tolist() == [3, 3]
    assert ref.verify() is True and ref.listdir()[0] == ".zarray"


def test_staged_open_writes_files_in_partitioned_stores(schema, stores):
    @schema
    class Scan(dj.Manual):
        definition = """
        session_id : int32
        subject_id : int32
        ---
        notes : <object@raw>
        volume : <object@part>
        """
    with Scan.staged_insert1 as staged:
        staged.rec.update(session_id=6, subject_id=3)
        with staged.open("notes", ".txt") as f:
            f.write(b"hello")
        with staged.open("volume", ".h5") as f:
            f.write(b"h5data")
    notes = stored(Scan, "notes", session_id=6)
    volume = stored(Scan, "volume", session_id=6)
    db = schema.database
    assert re.fullmatch(rf"_schema/{db}/scan/session_id=6/subject_id=3/notes_{TOKEN}{{8}}\.txt",
                        notes["path"])
    # partition_pattern's attributes lead, in the pattern's order; token_length 4
    assert re.fullmatch(rf"_schema/subject_id=3/session_id=6/{db}/scan/volume_{TOKEN}{{4}}\.h5",
                        volume["path"])
    assert (notes["size"], notes["ext"], notes["is_dir"], notes["item_count"],
            notes["store"]) == (5, ".txt", False, None, "raw")
    assert (volume["size"], volume["store"]) == (6, "part")
    assert (stores["part"] / volume["path"]).read_bytes() == b"h5data"
    assert (Scan & {"session_id": 6}).fetch1("volume").read() == b"h5data"


def test_staged_insert_errors_and_cleanup(schema, stores):
    ImagingSession = imaging_session(schema)

    @schema
    class Arrays(dj.Manual):
        definition = """
        aid : int32
        ---
        arr : <npy@>
        """
    with pytest.raises(DataError, match=r"Primary key values must be set in staged\.rec "
                                        r"before calling store\(\) or open\(\)\. Missing: "
                                        r"session_id"):
        with ImagingSession.staged_insert1 as staged:
            staged.rec["subject_id"] = 1
            staged.store("frames", ".zarr")
    with pytest.raises(dj.DataJointError, match="Attribute 'arr' is not an <object> type"):
        with Arrays.staged_insert1 as staged:
            staged.rec["aid"] = 1
            staged.open("arr", ".npy")
    with pytest.raises(dj.DataJointError, match="Attribute 'nope' not found in table heading"):
        with ImagingSession.staged_insert1 as staged:
            staged.open("nope", ".dat")
    # an error inside the block: no row, nothing left in the store ("atomic")
    with pytest.raises(RuntimeError, match="acquisition failed"):
        with ImagingSession.staged_insert1 as staged:
            staged.rec.update(subject_id=1, session_id=2, n_frames=1, frame_rate=1.0)
            write_zarr_like(staged.store("frames", ".zarr"), 3)
            raise RuntimeError("acquisition failed")
    # an insert that fails (n_frames missing) removes what was written too
    with pytest.raises(DataError):
        with ImagingSession.staged_insert1 as staged:
            staged.rec.update(subject_id=1, session_id=3, frame_rate=1.0)
            write_zarr_like(staged.store("frames", ".zarr"), 2)
    # DataJoint inserts a row pointing at nothing (size 0) when nothing was written; joinflow
    # refuses it (on purpose)
    with pytest.raises(JoinflowError, match="nothing was written to 'frames'"):
        with ImagingSession.staged_insert1 as staged:
            staged.rec.update(subject_id=1, session_id=4, n_frames=0, frame_rate=1.0)
            staged.store("frames", ".zarr")
    assert len(ImagingSession) == 0 and len(Arrays) == 0
    assert files_under(stores["raw"]) == []


# ------------------------------------------------------------- <object@>: inserts and ObjectRef
def dataset(schema: dj.Schema) -> Any:
    @schema
    class Dataset(dj.Manual):
        definition = """
        dataset_id : int32
        ---
        data : <object@>
        folder = null : <object@raw>
        """
    return Dataset


@pytest.fixture
def source(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    (src / "folder" / "sub").mkdir(parents=True)
    (src / "data.csv").write_bytes(b"a,b\n1,2\n")
    (src / "folder" / "one.txt").write_bytes(b"one")
    (src / "folder" / "sub" / "two.bin").write_bytes(bytes(range(256)))
    return {"file": src / "data.csv", "folder": src / "folder"}


def test_insert_forms_and_their_row_json(schema, stores, source):
    Dataset = dataset(schema)
    Dataset.insert([
        {"dataset_id": 1, "data": str(source["file"]), "folder": source["folder"]},
        {"dataset_id": 2, "data": (".bin", b"rawbytes")},
        {"dataset_id": 3, "data": b"plain"},
    ])
    db = schema.database
    first, folder = stored(Dataset, "data", dataset_id=1), stored(Dataset, "folder", dataset_id=1)
    assert re.fullmatch(rf"_schema/{db}/dataset/dataset_id=1/data_{TOKEN}{{8}}\.csv",
                        first["path"])
    assert {k: first[k] for k in ("store", "size", "ext", "is_dir", "item_count")} == {
        "store": None, "size": 8, "ext": ".csv", "is_dir": False, "item_count": None}
    assert {k: folder[k] for k in ("store", "size", "ext", "is_dir", "item_count")} == {
        "store": "raw", "size": 259, "ext": None, "is_dir": True, "item_count": 2}
    assert stored(Dataset, "data", dataset_id=2)["ext"] == ".bin"
    assert stored(Dataset, "data", dataset_id=2)["path"].endswith(".bin")
    plain = stored(Dataset, "data", dataset_id=3)
    assert (plain["ext"], plain["size"]) == (None, 5)
    assert re.fullmatch(rf".*/data_{TOKEN}{{8}}", plain["path"])
    assert files_under(stores["raw"]) == sorted([
        first["path"], stored(Dataset, "data", dataset_id=2)["path"], plain["path"],
        f"{folder['path']}.manifest.json", f"{folder['path']}/one.txt",
        f"{folder['path']}/sub/two.bin"])


def test_fetch_returns_refs_and_nothing_is_read(schema, stores, source):
    Dataset = dataset(schema)
    Dataset.insert1({"dataset_id": 1, "data": source["file"], "folder": source["folder"]})
    Dataset.insert1({"dataset_id": 2, "data": b"x"})
    for path in files_under(stores["raw"]):
        (stores["raw"] / path).chmod(0)  # any read would fail: fetching reads nothing
    try:
        row = (Dataset & {"dataset_id": 1}).fetch1()
        assert isinstance(row["data"], dj.ObjectRef) and isinstance(row["folder"], dj.ObjectRef)
        assert [type(r["data"]).__name__ for r in Dataset.to_dicts(order_by="dataset_id")] == \
            ["ObjectRef", "ObjectRef"]
        assert (Dataset & {"dataset_id": 2}).fetch1("folder") is None
        refs = Dataset.fetch("data", order_by="dataset_id")
        assert [r.size for r in refs] == [8, 1]
    finally:
        for path in files_under(stores["raw"]):
            (stores["raw"] / path).chmod(0o644)


def test_object_ref_api_in_datajoints_words(schema, stores, source):
    Dataset = dataset(schema)
    Dataset.insert1({"dataset_id": 1, "data": source["file"], "folder": source["folder"]})
    f, g = (Dataset & {"dataset_id": 1}).fetch1("data", "folder")
    assert repr(f) == f"ObjectRef(file: {f.path}, size=8)" and str(f) == f.path
    assert repr(g) == f"ObjectRef(folder: {g.path}, size=259)"
    assert (f.size, f.ext, f.is_dir, f.item_count, f.store, f.hash, f.url, f.mime_type) == \
        (8, ".csv", False, None, None, None, None, None)
    assert (g.size, g.is_dir, g.item_count, g.store) == (259, True, 2, "raw")
    assert f.full_path == str(stores["raw"] / f.path)
    assert f.read() == b"a,b\n1,2\n"
    assert g.listdir() == ["one.txt", "sub"] and g.listdir("sub") == ["two.bin"]
    assert sorted((root, sorted(dirs), sorted(files)) for root, dirs, files in g.walk()) == \
        [("", ["sub"], ["one.txt"]), ("sub", [], ["two.bin"])]
    assert g.open("one.txt").read() == b"one" and g.open("one.txt", mode="r").read() == "one"
    assert [f.exists(), g.exists(), g.exists("one.txt"), g.exists("nope")] == \
        [True, True, True, False]
    assert sorted(g.fsmap) == ["one.txt", "sub/two.bin"]
    assert f.verify() is True and g.verify() is True
    with pytest.raises(dj.DataJointError, match=r"Cannot read\(\) a directory"):
        g.read()
    with pytest.raises(dj.DataJointError, match=r"Cannot listdir\(\) on a file"):
        f.listdir()
    with pytest.raises(dj.DataJointError, match=r"Cannot walk\(\) on a file"):
        list(f.walk())
    with pytest.raises(dj.DataJointError, match="Cannot use subpath on a file object"):
        f.open("x")
    # tampering is found by verify(), in DataJoint's words
    (stores["raw"] / f.path).write_bytes(b"changed!!!")
    with pytest.raises(dj.errors.ObjectIntegrityError,
                       match=rf"Size mismatch for {re.escape(f.path)}: expected 8, got 10"):
        f.verify()
    (stores["raw"] / g.path / "one.txt").unlink()
    with pytest.raises(dj.errors.ObjectIntegrityError,
                       match="Folder verification failed(.|\n)*Missing file: one.txt"):
        g.verify()


def test_download_paths(schema, stores, source, tmp_path):
    Dataset = dataset(schema)
    Dataset.insert1({"dataset_id": 1, "data": source["file"], "folder": source["folder"]})
    f, g = (Dataset & {"dataset_id": 1}).fetch1("data", "folder")
    into = tmp_path / "into"
    into.mkdir()
    # a file into an existing folder keeps its stored name
    got = f.download(into)
    assert got == into / f.path.rsplit("/", 1)[-1] and got.read_bytes() == b"a,b\n1,2\n"
    # a file to a path that is not a folder goes to that path (folders made)
    assert f.download(tmp_path / "new" / "x.csv") == tmp_path / "new" / "x.csv"
    # a folder: the destination is returned, the folder lands under its stored name
    dest = tmp_path / "tree"
    assert g.download(dest) == dest
    name = g.path.rsplit("/", 1)[-1]
    assert files_under(dest) == [f"{name}/one.txt", f"{name}/sub/two.bin"]
    # one file of a folder
    assert g.download(tmp_path / "one", subpath="sub/two.bin") == tmp_path / "one"
    assert (tmp_path / "one").read_bytes() == bytes(range(256))


def test_insert_errors_store_nothing(schema, stores, tmp_path):
    Dataset = dataset(schema)

    @schema
    class Waveform(dj.Manual):
        definition = """
        wid : int32
        ---
        note : <object@>
        waveform : <npy@>
        """
    with pytest.raises(DataError, match=f"Source path not found: {re.escape(str(tmp_path))}"):
        Dataset.insert1({"dataset_id": 1, "data": str(tmp_path / "nope.dat")})
    with pytest.raises(TypeError, match="<object> expects bytes or path.*got int") as caught:
        Dataset.insert1({"dataset_id": 1, "data": 42})
    assert isinstance(caught.value, DataError)  # joinflow's class for a refused value
    with pytest.raises(dj.DataJointError, match="<npy> requires numpy.ndarray, got list"):
        Waveform.insert1({"wid": 1, "note": b"uploaded first", "waveform": [1, 2, 3]})
    assert len(Dataset) == 0 and len(Waveform) == 0
    assert files_under(stores["raw"]) == []


# --------------------------------------------------------------------------- seed 002: <npy@>
def test_npy_ref_metadata_numpy_protocol_and_bulk_fetch(schema, stores):
    @schema
    class Recording(dj.Manual):
        definition = """
        recording_id : int32
        ---
        waveform : <npy@raw>
        """
    Recording.insert([{"recording_id": i, "waveform": np.arange(12 * (i + 1), dtype="<i4")
                       .reshape(3 * (i + 1), 4)} for i in range(3)])
    meta = stored(Recording, "waveform", recording_id=0)
    assert re.fullmatch(rf"_schema/{schema.database}/recording/recording_id=0/"
                        rf"waveform_{TOKEN}{{8}}\.npy", meta["path"])
    assert {k: meta[k] for k in ("store", "dtype", "shape")} == \
        {"store": "raw", "dtype": "int32", "shape": [3, 4]}
    ref = (Recording & "recording_id=0").fetch1("waveform")
    assert isinstance(ref, dj.NpyRef)
    assert (ref.shape, ref.dtype, ref.nbytes, ref.is_loaded) == ((3, 4), np.dtype("int32"),
                                                                 48, False)
    assert (ref.ndim, ref.size, len(ref)) == (2, 12, 3)
    assert repr(ref) == "NpyRef(shape=(3, 4), dtype=int32, not loaded)"
    assert ref.store == "raw" and ref.path == meta["path"]
    assert float(np.mean(ref)) == 5.5
    assert (np.asarray(ref) + 1).tolist() == (np.arange(12).reshape(3, 4) + 1).tolist()
    assert ref[1:3].tolist() == [[4, 5, 6, 7], [8, 9, 10, 11]]
    arr = ref.load()
    assert ref.is_loaded and arr.tolist() == np.arange(12).reshape(3, 4).tolist()
    # bulk fetch: metadata only, downloads only what is asked for
    results = Recording.to_dicts(order_by="recording_id")
    assert [r["waveform"].is_loaded for r in results] == [False] * 3
    big = [r["waveform"].load().shape for r in results if r["waveform"].shape[0] > 5]
    assert big == [(6, 4), (9, 4)]
    assert [r["waveform"].is_loaded for r in results] == [False, True, True]


# ------------------------------------------------------------------ store configuration keys
def test_store_keys_datajoint_accepts_and_refuses(tmp_path):
    base = {"protocol": "file", "location": str(tmp_path)}
    for extra in ({"subfolding": [2, 2]}, {"stage": str(tmp_path)}, {"token_length": 16},
                  {"partition_pattern": "{subject}"}, {"hash_prefix": "h"},
                  {"schema_prefix": "objects"}, {"filepath_prefix": "raw"}):
        dj.config["stores"] = {"default": "s", "s": {**base, **extra}}
        assert dj.config["stores"]["s"] == {**base, **extra}
    # DataJoint 2.3.5 has no object_prefix (the schema-addressed section is schema_prefix)
    with pytest.raises(ConfigError, match="object_prefix"):
        dj.config["stores"] = {"default": "s", "s": {**base, "object_prefix": "objs"}}
    # seed 003's project_name / datajoint_store.json: DataJoint 2.3.5 accepts no such key and
    # writes no store metadata file (its helper for it is never called)
    with pytest.raises(ConfigError, match="project_name"):
        dj.config["stores"] = {"default": "s", "s": {**base, "project_name": "lab"}}
    with pytest.raises(ConfigError, match="endpoint"):
        dj.config["stores"] = {"default": "s", "s": {**base, "endpoint": "host:9000"}}
    with pytest.raises(ConfigError, match="hash_prefix='x' and schema_prefix='x/y' overlap"):
        dj.config["stores"] = {"default": "s", "s": {**base, "hash_prefix": "x",
                                                     "schema_prefix": "x/y"}}
    with pytest.raises(ConfigError, match="unknown protocol 'ftpx'"):
        dj.config["stores"] = {"default": "s", "s": {"protocol": "ftpx", "location": "x"}}


def test_store_keys_shape_the_paths(schema, tmp_path):
    root = tmp_path / "s"
    dj.config["stores"] = {"default": "s", "s": {"protocol": "file", "location": str(root)}}

    @schema
    class Item(dj.Manual):
        definition = """
        item_id : int32
        ---
        b = null : <blob@s>
        o = null : <object@s>
        """
    cases = [  # (store keys, row) -> the file the row leaves, as DataJoint 2.3.5 writes it
        ({"subfolding": [2, 2]}, {"b": np.arange(3)},
         rf"_hash/{schema.database}/nt/bk/ntbkwkogoaeivvblrks3iudwiy"),
        ({"hash_prefix": "h"}, {"b": np.arange(4)},
         rf"h/{schema.database}/7yazpfoxl63sicj7mzwvnebbmq"),
        ({"schema_prefix": "objects"}, {"o": b"x"},
         rf"objects/{schema.database}/item/item_id=\d+/o_{TOKEN}{{8}}"),
        ({"token_length": 2}, {"o": b"x"}, rf"_schema/{schema.database}/item/item_id=\d+/o_{TOKEN}{{4}}"),
        ({"token_length": 20}, {"o": b"x"},
         rf"_schema/{schema.database}/item/item_id=\d+/o_{TOKEN}{{16}}"),
        ({"partition_pattern": "{item_id}"}, {"o": b"x"},
         rf"_schema/item_id=\d+/{schema.database}/item/o_{TOKEN}{{8}}"),
        ({"partition_pattern": "{not_a_key}"}, {"o": b"x"},
         rf"_schema/{schema.database}/item/item_id=\d+/o_{TOKEN}{{8}}"),
        ({"stage": str(tmp_path / "stage")}, {"o": b"x"},
         rf"_schema/{schema.database}/item/item_id=\d+/o_{TOKEN}{{8}}"),
    ]
    with dj.config.override(**{"blob.compression": "always"}):
        for i, (keys, row, pattern) in enumerate(cases):
            dj.config["stores"] = {"default": "s", "s": {"protocol": "file",
                                                         "location": str(root), **keys}}
            Item.insert1({"item_id": i, **row})
            (path,) = files_under(root)
            assert re.fullmatch(pattern, path), (keys, path)
            (Item & {"item_id": i}).delete()
            if files_under(root):  # hash-addressed objects wait for the collector
                dj.gc.GarbageCollector(schema, store="s").collect(dry_run=False)
            assert files_under(root) == []


# ------------------------------------------------------------ seed 000: <filepath@> references
def test_filepath_references_files_already_in_the_store(schema, stores):
    data = stores["data"]
    (data / "images").mkdir()
    (data / "images" / "image_0.tif").write_bytes(b"tiff-bytes")
    (data / "_hash").mkdir()
    (data / "_hash" / "x").write_bytes(b"x")

    @schema
    class ScanImages(dj.Manual):
        definition = """
        session_id : int32
        image_id : int32
        ---
        image_path : <filepath@data>
        folder = null : <filepath@>
        """
    # seed 000 writes the absolute path below the store's location
    ScanImages.insert1((0, 0, str(data / "images" / "image_0.tif"), "images"))
    ScanImages.insert1((0, 1, "images/image_0.tif", None))
    first = stored(ScanImages, "image_path", session_id=0, image_id=0)
    assert {k: first[k] for k in ("path", "store", "size", "is_dir")} == \
        {"path": "images/image_0.tif", "store": "data", "size": 10, "is_dir": False}
    assert stored(ScanImages, "folder", session_id=0, image_id=0)["is_dir"] is True
    row = (ScanImages & {"session_id": 0, "image_id": 0}).fetch1()
    assert isinstance(row["image_path"], dj.ObjectRef)
    assert repr(row["image_path"]) == "ObjectRef(file: images/image_0.tif, size=10)"
    assert row["image_path"].read() == b"tiff-bytes"
    assert row["folder"].listdir() == ["image_0.tif"]
    with pytest.raises(ValueError, match="cannot use reserved section '_hash'"):
        ScanImages.insert1((0, 2, "_hash/x", None))
    (data / "_schema").mkdir()
    (data / "_schema" / "y").write_bytes(b"y")
    with pytest.raises(ValueError, match="cannot use reserved section '_schema'"):
        ScanImages.insert1((0, 2, "_schema/y", None))
    with pytest.raises(FileNotFoundError, match="File not found in store 'data': images/none"):
        ScanImages.insert1((0, 3, "images/none.tif", None))
    with pytest.raises(MissingObjectError, match="File not found in store 'data'"):
        ScanImages.insert1((0, 4, str(stores["raw"] / "elsewhere.tif"), None))
    assert len(ScanImages) == 2
    # the safe way to change a referenced file: delete the row, change the file, insert again
    (ScanImages & {"session_id": 0}).delete()
    assert (data / "images" / "image_0.tif").read_bytes() == b"tiff-bytes"
    (data / "images" / "image_0.tif").write_bytes(b"new tiff")
    ScanImages.insert1((0, 0, "images/image_0.tif", None))
    assert stored(ScanImages, "image_path", session_id=0, image_id=0)["size"] == 8


# ---------------------------------------------------------------- seed 003: garbage collection
def test_collector_report_for_schema_addressed_orphans(schema, stores, source):
    Dataset = dataset(schema)
    Dataset.insert1({"dataset_id": 1, "data": source["file"], "folder": source["folder"]})
    orphan = f"_schema/{schema.database}/dataset/dataset_id=99/data_ABCDEFGH.dat"
    (stores["raw"] / orphan).parent.mkdir(parents=True)
    (stores["raw"] / orphan).write_bytes(b"orph")
    report = dj.gc.GarbageCollector(schema, store="raw").collect(dry_run=True)
    assert {k: report[k] for k in ("dry_run", "deleted", "bytes_freed", "errors",
                                   "schema_paths_orphaned", "schema_paths_orphaned_bytes",
                                   "orphaned_schema_paths", "hash_paths_orphaned")} == {
        "dry_run": True, "deleted": 0, "bytes_freed": 0, "errors": 0,
        "schema_paths_orphaned": 1, "schema_paths_orphaned_bytes": 4,
        "orphaned_schema_paths": [orphan], "hash_paths_orphaned": 0}
    assert (stores["raw"] / orphan).exists()
    report = dj.gc.GarbageCollector(schema, store="raw").collect(dry_run=False)
    assert (report["deleted"], report["schema_paths_deleted"], report["bytes_freed"]) == (1, 1, 4)
    assert not (stores["raw"] / orphan).exists()
    assert (Dataset & {"dataset_id": 1}).fetch1("folder").verify() is True


# ------------------------------------------------------------- seed 002: an S3 tier (moto)
def test_s3_tier_staged_zarr_refs_npy_and_download(schema, moto_s3, tmp_path):
    """Seed 002's ``archive`` tier on S3: the same paths, refs and cleanup as on a file
    store."""
    archive = moto_s3.store_config()
    dj.config["stores"] = {"default": "archive", "archive": archive}
    fs, root = moto_s3.filesystem(), f"{moto_s3.bucket}/{archive['location']}"

    def s3_files() -> list[str]:
        return sorted(p[len(root) + 1:] for p in fs.find(root)) if fs.exists(root) else []

    @schema
    class Session(dj.Manual):
        definition = """
        session_id : int32
        ---
        frames : <object@archive>
        trace = null : <npy@archive>
        """
    with Session.staged_insert1 as staged:
        staged.rec["session_id"] = 1
        write_zarr_like(staged.store("frames", ".zarr"), 3)
        staged.rec["trace"] = np.linspace(0, 1, 50)
    with pytest.raises(RuntimeError):
        with Session.staged_insert1 as staged:
            staged.rec["session_id"] = 2
            write_zarr_like(staged.store("frames", ".zarr"), 2)
            raise RuntimeError("camera unplugged")
    meta = stored(Session, "frames", session_id=1)
    assert re.fullmatch(rf"_schema/{schema.database}/session/session_id=1/frames_{TOKEN}{{8}}"
                        r"\.zarr", meta["path"])
    assert (meta["store"], meta["is_dir"], meta["item_count"]) == ("archive", True, 4)
    assert [p for p in s3_files() if "session_id=2" in p] == []
    row = (Session & {"session_id": 1}).fetch1()
    ref, trace = row["frames"], row["trace"]
    assert ref.full_path == f"s3://{root}/{meta['path']}"  # (DataJoint leaves out the location)
    assert ref.listdir() == [".zarray", "0.0", "1.0", "2.0"] and ref.verify() is True
    assert np.frombuffer(ref.fsmap["2.0"], dtype="<i4").tolist() == [2, 2]
    assert ref.download(tmp_path / "local") == tmp_path / "local"
    name = meta["path"].rsplit("/", 1)[-1]
    assert files_under(tmp_path / "local") == [f"{name}/{k}" for k in
                                               (".zarray", "0.0", "1.0", "2.0")]
    assert (trace.shape, trace.is_loaded) == ((50,), False)
    assert trace[10:12].tolist() == np.linspace(0, 1, 50)[10:12].tolist()
    (Session & {"session_id": 1}).delete()
    assert s3_files() == []
