"""DataJoint 0.12-0.14 external storage as seeds 000 and 001 write it: ``blob@store``,
``attach@store``, ``filepath@store`` with ``~external_<store>`` tracking tables, on every
database backend, with a file store in tmp_path and S3 on a loopback moto server."""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

import joinflow as dj


@pytest.fixture
def seed_stores(tmp_path, moto_s3, monkeypatch):
    """Seed 001's two stores: 'shared' on S3, 'local' in ./dj-store (cwd = tmp_path)."""
    monkeypatch.chdir(tmp_path)
    shared = moto_s3.store_config()
    stores = {"shared": shared, "local": {"protocol": "file",
                                         "location": os.path.abspath("./dj-store")}}
    os.makedirs("./dj-store")
    with dj.config.override(stores=stores, cache=None):
        yield stores


def s3_objects(server, location: str) -> list[str]:
    fs = server.filesystem()
    try:
        return sorted(fs.find(f"{server.bucket}/{location}"))
    except FileNotFoundError:
        return []


def local_objects(root: str | Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def test_seed_001_blobs_and_attachments(schema, seed_stores, moto_s3):
    @schema
    class Test(dj.Manual):
        definition = """
        # Test blob and attachments
        id : int
        ---
        b0 : longblob # a python object stored internally in the table
        b1 : blob@shared # a python object stored on S3
        b2 : blob@local # a python object store on the file system
        a0 : attach # a file attachment stored internally in the table
        a1 : attach@shared # a file attachment stored on s3
        a2 : attach@local # a file attachment stored on the file system
        """

    q0, q1, q2 = np.random.randn(3, 4), np.random.randn(7), np.random.randn(2, 3, 4)
    f0, f1, f2 = "./outfile0.npy", "./outfile1.npy", "./outfile2.npy"
    np.save(f0, q0)
    np.save(f1, q1)
    np.save(f2, q2)
    Test.delete()
    Test.insert1(dict(id=1, b0=q0, b1=q1, b2=q2, a0=f0, a1=f1, a2=f2))  # noqa: C408  (as seed 001)
    os.remove(f0)
    os.remove(f1)
    os.remove(f2)
    result = Test.fetch(as_dict=True)
    assert np.array_equal(q0, result[0]["b0"])
    assert np.array_equal(q1, result[0]["b1"])
    assert np.array_equal(q2, result[0]["b2"])
    assert np.array_equal(np.load(result[0]["a1"]), q1)
    assert np.array_equal(np.load(result[0]["a2"]), q2)
    assert Path(result[0]["a1"]).name == "outfile1.npy"

    text = repr(schema.external)
    location = seed_stores["shared"]["location"]
    assert text.splitlines()[0] == f"External file tables for schema `{schema.database}`:"
    assert f'    "shared" s3:{location}' in text
    assert f'    "local" file:{os.path.abspath("./dj-store")}' in text

    local_paths = schema.external["local"].fetch_external_paths()
    assert len(local_paths) == 2 and all(isinstance(u, uuid.UUID) for u, _ in local_paths)
    assert all(Path(p).is_file() for _, p in local_paths)
    names = sorted(p.name for _, p in local_paths)
    assert any(n.endswith(".outfile2.npy") for n in names)
    shared_paths = schema.external["shared"].fetch_external_paths()
    assert all(p.parts[:2] == (location, schema.database) for _, p in shared_paths)
    assert len(s3_objects(moto_s3, location)) == 2

    for store in ("shared", "local"):
        assert len(schema.external[store].used()) == 2
        assert len(schema.external[store].unused()) == 0

    Test.delete()  # cascading delete leaves tracking rows and objects
    assert len(schema.external["shared"].unused()) == 2
    assert len(schema.external["shared"].used()) == 0
    assert len(s3_objects(moto_s3, location)) == 2
    assert schema.external["shared"].delete() == []
    assert len(schema.external["shared"]) == 0
    assert s3_objects(moto_s3, location) == []
    assert len(local_objects("./dj-store")) == 2
    for s in schema.external.values():
        s.delete()
    assert local_objects("./dj-store") == []
    assert len(schema.external["local"]) == 0


def test_cascade_and_cache(schema, seed_stores, tmp_path):
    """Seed 001's WebImage -> OriginalFile (attach@shared) -> Slide (blob@local) pipeline,
    with the cache example: a second fetch is served from dj.config['cache']."""
    @schema
    class WebImage(dj.Lookup):
        definition = """
        image_number : int
        ---
        image_name : varchar(30)
        """
        contents = [(0, "pyramidal"), (1, "striatal")]  # noqa: RUF012  (DataJoint style)

    @schema
    class OriginalFile(dj.Imported):
        definition = """
        -> WebImage
        ---
        image_file : attach@shared
        """

        def make(self, key):
            local_file = os.path.join(os.path.abspath("."), f"image{key['image_number']}.raw")
            with open(local_file, "wb") as f:
                f.write(bytes([key["image_number"]]) * 3000)
            self.insert1(dict(key, image_file=local_file))
            os.remove(local_file)

    @schema
    class Slide(dj.Computed):
        definition = """
        -> OriginalFile
        ---
        image_array : blob@local # array in specified store
        """

        def make(self, key):
            file = (OriginalFile & key).fetch1("image_file")
            image = np.frombuffer(Path(file).read_bytes(), np.uint8)
            self.insert1(dict(key, image_array=image))
            os.remove(file)

    OriginalFile.populate()
    Slide.populate()
    assert len(Slide()) == 2
    arrays = dict(zip(*Slide.fetch("image_number", "image_array")))
    assert arrays[1].tolist() == [1] * 3000

    dj.config["cache"] = str(tmp_path / "dj-cache")
    first = Slide.fetch("image_array", order_by="image_number")
    store_root = seed_stores["local"]["location"]
    shutil.rmtree(store_root)
    os.makedirs(store_root)
    second = Slide.fetch("image_array", order_by="image_number")  # from the cache alone
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    dj.config["cache"] = None
    with pytest.raises(FileNotFoundError):
        Slide.fetch("image_array")

    assert len(schema.external["shared"].unused()) == 0
    (WebImage & "image_number=0").delete()
    assert len(OriginalFile()) == 1 and len(Slide()) == 1
    assert len(schema.external["shared"].unused()) == 1
    assert len(schema.external["local"].unused()) == 1
    assert schema.external["shared"].delete() == []
    assert len(schema.external["shared"]) == 1
    assert (OriginalFile & "image_number=1").fetch1("image_file").endswith("image1.raw")


# ------------------------------------------------------------------------------ seed 000
@pytest.fixture
def seed_000_folders(tmp_path):
    """/input and /data of seed 000, as folders in tmp_path."""
    data, inp = tmp_path / "data", tmp_path / "input"
    (data / "attach").mkdir(parents=True)
    (data / "images").mkdir()
    inp.mkdir()
    stores = {"localattach": {"protocol": "file", "location": str(data / "attach")},
              "data": {"protocol": "file", "location": str(data), "stage": str(data)}}
    with dj.config.override(stores=stores):
        yield data, inp


def test_seed_000_attach_and_filepath(schema, seed_000_folders, tmp_path, monkeypatch):
    data, inp = seed_000_folders
    monkeypatch.setenv("FILEPATH_FEATURE_SWITCH", "TRUE")  # accepted, not needed

    @schema
    class Session(dj.Manual):
        definition = """
        session_id : int
        """

    @schema
    class ScanAttachment(dj.Manual):
        definition = """
        -> Session
        ---
        scan_image:    attach@localattach  # attached image scans
        """

    @schema
    class ScanImages(dj.Manual):
        definition = """
        -> Session
        image_id:    int
        ---
        image_path:  filepath@data
        """

    Session.insert1((0,))
    (inp / "image0.tif").write_bytes(b"TIFF" * 100)
    ScanAttachment.insert1((0, str(inp / "image0.tif")))
    monkeypatch.chdir(tmp_path)
    dj.config["download_path"] = "."
    s0 = (ScanAttachment & {"session_id": 0}).fetch1()
    assert s0 == {"session_id": 0, "scan_image": "image0.tif"}
    with open(s0["scan_image"], "rb") as fh:
        assert fh.read() == b"TIFF" * 100

    image = data / "images" / "image_0.tif"
    image.write_bytes(b"image zero")
    ScanImages.insert1((0, 0, str(image)))
    assert (ScanImages() & {"session_id": 0}).fetch1(as_dict=True) == \
        {"session_id": 0, "image_id": 0, "image_path": str(image)}
    assert image.read_bytes() == b"image zero"  # stage == location: the file is its own copy
    row = schema.external["data"].fetch1()
    assert row["filepath"] == "images/image_0.tif" and row["size"] == 10
    assert row["hash"] == uuid.UUID(bytes=__import__("hashlib").md5(b"images/image_0.tif").digest())

    ScanImages.insert1((0, 1, str(image)))  # same file, same contents: nothing new
    assert len(schema.external["data"]) == 1
    image.write_bytes(b"image zero, changed")
    with pytest.raises(dj.errors.DataJointError, match="A different version of "
                       "'images/image_0.tif' has already been placed"):
        ScanImages.insert1((0, 2, str(image)))
    with pytest.raises(dj.errors.DataJointError, match="is not in stage"):
        ScanImages.insert1((0, 3, str(inp / "image0.tif")))


def test_filepath_downloads_missing_and_checks(schema, tmp_path):
    stage, loc = tmp_path / "stage", tmp_path / "loc"
    (stage / "sub").mkdir(parents=True)
    loc.mkdir()
    stores = {"raw": {"protocol": "file", "location": str(loc), "stage": str(stage)}}
    with dj.config.override(stores=stores):
        @schema
        class Raw(dj.Manual):
            definition = """
            rid : int
            ---
            f : filepath@raw
            """

        files = {i: stage / "sub" / f"f{i}.dat" for i in range(3)}
        for i, p in files.items():
            p.write_bytes(f"payload {i}".encode() * 50)
        Raw.insert([(i, str(p)) for i, p in files.items()])
        assert (loc / "sub" / "f1.dat").read_bytes() == files[1].read_bytes()
        for p in files.values():
            p.unlink()
        paths = Raw.fetch("f", order_by="rid")
        assert paths.tolist() == [str(files[i]) for i in range(3)]
        assert files[2].read_bytes() == b"payload 2" * 50
        files[0].unlink()
        (loc / "sub" / "f0.dat").write_bytes(b"x" * len(b"payload 0" * 50))  # corrupt copy
        with pytest.raises(dj.errors.DataJointError, match="did not pass checksum"):
            (Raw & {"rid": 0}).fetch1("f")


def test_fetch_external_paths_layout(schema, tmp_path):
    store = tmp_path / "s"
    store.mkdir()
    with dj.config.override(stores={"s": {"protocol": "file", "location": str(store),
                                          "subfolding": (1, 3)}}):
        @schema
        class T(dj.Manual):
            definition = """
            k : int
            ---
            b : blob@s
            """

        T.insert1((1, np.arange(5)))
        [(uid, path)] = schema.external["s"].fetch_external_paths()
        h = "61d825604b14525ee404b8d9acdd3645"  # DataJoint 0.14's hash of np.arange(5)
        assert uid == uuid.UUID(h)
        assert path == PurePosixPath(str(store), schema.database, h[:1], h[1:4], h)
        assert Path(path).read_bytes()[:4] == b"mYm\0"
        assert (T & {"k": 1}).fetch1("b").tolist() == [0, 1, 2, 3, 4]


def test_filepath_and_update1_on_s3(schema, tmp_path, moto_s3):
    stage = tmp_path / "stage"
    (stage / "run1").mkdir(parents=True)
    spec = moto_s3.store_config(stage=str(stage))
    with dj.config.override(stores={"s3raw": spec}):
        @schema
        class Rec(dj.Manual):
            definition = """
            rid : int
            ---
            f : filepath@s3raw
            b = null : blob@s3raw
            """

        files = [stage / "run1" / f"part{i}.bin" for i in range(3)]
        for i, p in enumerate(files):
            p.write_bytes(bytes([i]) * 2048)
        Rec.insert([{"rid": i, "f": str(p)} for i, p in enumerate(files)])
        keys = sorted(k.split("/", 2)[2] for k in s3_objects(moto_s3, spec["location"]))
        assert keys == [f"run1/part{i}.bin" for i in range(3)]
        for p in files:
            p.unlink()
        assert Rec.fetch("f", order_by="rid").tolist() == [str(p) for p in files]
        assert files[1].read_bytes() == bytes([1]) * 2048

        Rec.update1({"rid": 1, "b": {"calibrated": np.arange(4)}})
        assert (Rec & {"rid": 1}).fetch1("b")["calibrated"].tolist() == [0, 1, 2, 3]
        assert len(schema.external["s3raw"]) == 4 and len(schema.external["s3raw"].unused()) == 0
        Rec.update1({"rid": 1, "b": None})
        assert len(schema.external["s3raw"].unused()) == 1
        assert schema.external["s3raw"].delete(display_progress=False) == []
        assert len(s3_objects(moto_s3, spec["location"])) == 3
