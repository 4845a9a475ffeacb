"""Seed 002 ("Use Object Storage"), hash-addressed part, as a DataJoint 2.x user writes it:
``<blob@>`` next to ``<blob>``, named store tiers, deduplication, ``<attach@>`` with
``AttachFileType``, stores configured in ``datajoint.json``. Run against a local file store
and S3 (a loopback S3 server)."""
from __future__ import annotations

import base64
import hashlib
import json
import uuid

import numpy as np
import pytest

import joinflow as dj


def djhash(data: bytes) -> str:
    """DataJoint 2.x content hash: MD5, base32, lowercase, no padding (26 characters)."""
    return base64.b32encode(hashlib.md5(data).digest()).decode().lower().rstrip("=")


class Tiers:
    """Two stores, ``raw`` (the default) and ``archive``, on a file system or on S3."""

    def __init__(self, kind, tmp_path, s3=None):
        self.kind, self.s3, self.specs = kind, s3, {}
        for name in ("raw", "archive"):
            self.specs[name] = (s3.store_config() if kind == "s3" else
                                {"protocol": "file", "location": str(tmp_path / name)})

    def objects(self, name) -> dict:
        """{path relative to the store root: bytes} of every object in a store."""
        spec = self.specs[name]
        if self.kind == "file":
            from pathlib import Path
            root = Path(spec["location"])
            return {p.relative_to(root).as_posix(): p.read_bytes()
                    for p in sorted(root.rglob("*")) if p.is_file()}
        fs, root = self.s3.filesystem(), f"{self.s3.bucket}/{spec['location']}"
        return {p[len(root) + 1:]: fs.cat_file(p) for p in sorted(fs.find(root))}

    def mtimes(self, name) -> dict:
        spec = self.specs[name]
        if self.kind == "file":
            from pathlib import Path
            return {p: p.stat().st_mtime_ns for p in Path(spec["location"]).rglob("*") if p.is_file()}
        fs = self.s3.filesystem()
        return {p: fs.info(p)["LastModified"]
                for p in fs.find(f"{self.s3.bucket}/{spec['location']}")}


@pytest.fixture(params=["file", "s3"])
def tiers(request, tmp_path):
    s3 = request.getfixturevalue("moto_s3") if request.param == "s3" else None
    where = Tiers(request.param, tmp_path, s3)
    with dj.config.override(stores={"default": "raw", **where.specs}):
        yield where


def test_recording_in_table_and_object_store(schema, tiers, conn):
    @schema
    class Recording(dj.Manual):
        definition = """
        recording_id : uuid
        ---
        metadata : <blob>           # In-table: stored in database column
        raw_data : <blob@>          # Object store: hash-addressed
        """
    key = {"recording_id": uuid.uuid4()}
    raw = np.random.randn(32, 3000)
    Recording.insert1({**key, "metadata": {"channels": 32, "rate": 30000}, "raw_data": raw})
    row = (Recording & key).fetch1()
    assert row["metadata"] == {"channels": 32, "rate": 30000}
    np.testing.assert_array_equal(row["raw_data"], raw)
    assert row["raw_data"].dtype == raw.dtype and row["raw_data"].shape == raw.shape
    # the row holds DataJoint 2.x's JSON; the object is at _hash/{schema}/{hash}
    [stored] = conn.query(f"SELECT raw_data FROM {Recording.full_table_name}")
    meta = stored[0] if isinstance(stored[0], dict) else json.loads(stored[0])
    assert set(meta) >= {"hash", "path", "schema", "store", "size"}
    assert meta["schema"] == schema.database and meta["store"] is None
    assert meta["path"] == f"_hash/{schema.database}/{meta['hash']}"
    [(path, data)] = tiers.objects("raw").items()
    assert path == meta["path"]
    assert meta["hash"] == djhash(data) and meta["size"] == len(data)


def test_named_store_tiers(schema, tiers):
    @schema
    class Experiment(dj.Manual):
        definition = """
        experiment_id : uuid
        ---
        raw_video : <blob@raw>        # Fast local storage
        processed : <blob@archive>    # long-term
        """
    key = {"experiment_id": uuid.uuid4()}
    Experiment.insert1({**key, "raw_video": np.zeros((4, 8, 8), np.uint8), "processed": [1, 2]})
    assert len(tiers.objects("raw")) == 1 and len(tiers.objects("archive")) == 1
    video, processed = (Experiment & key).fetch1("raw_video", "processed")
    assert video.shape == (4, 8, 8) and video.dtype == np.uint8
    assert list(processed) == [1, 2]


def test_identical_content_is_stored_once(schema, tiers):
    @schema
    class Table(dj.Manual):
        definition = """
        id : int32
        ---
        array : <blob@>
        """
    data = np.zeros((300, 300))
    Table.insert1({"id": 1, "array": data})
    before = tiers.mtimes("raw")
    assert len(before) == 1
    Table.insert1({"id": 2, "array": data})  # references the same object: not written again
    assert tiers.mtimes("raw") == before
    a, b = Table.to_arrays("array")
    np.testing.assert_array_equal(a, data)
    np.testing.assert_array_equal(b, data)
    (Table & {"id": 1}).delete()  # the other row still needs the object
    np.testing.assert_array_equal((Table & {"id": 2}).fetch1("array"), data)


def test_attach_with_attach_file_type(schema, tiers, tmp_path):
    @schema
    class Document(dj.Manual):
        definition = """
        doc_id : uuid
        ---
        report : <attach@>          # Preserves filename
        """
    src = tmp_path / "in" / "report.pdf"
    src.parent.mkdir()
    src.write_bytes(b"%PDF-1.4 fake" * 1000)
    key = {"doc_id": uuid.uuid4()}
    Document.insert1({**key, "report": dj.AttachFileType(str(src))})
    [(path, data)] = tiers.objects("raw").items()
    assert data == b"report.pdf\0" + src.read_bytes()
    assert path.rsplit("/", 1)[-1] == djhash(data)
    down = tmp_path / "down"
    path = (Document & key).fetch1("report", download_path=str(down))
    assert str(path) == str(down / "report.pdf") and open(path, "rb").read() == src.read_bytes()


def test_hash_codec_takes_bytes(schema, tiers):
    @schema
    class Raw(dj.Manual):
        definition = """
        id : int32
        ---
        payload : <hash@archive>
        """
    Raw.insert1({"id": 1, "payload": b"raw-bytes"})
    assert (Raw & {"id": 1}).fetch1("payload") == b"raw-bytes"
    with pytest.raises((TypeError, dj.errors.DataError)):
        Raw.insert1({"id": 2, "payload": "not bytes"})
    assert len(Raw) == 1


def test_stores_from_datajoint_json(tmp_path, monkeypatch):
    cfg_file = tmp_path / "datajoint.json"
    cfg_file.write_text(json.dumps({"stores": {
        "default": "hot",
        "hot": {"protocol": "file", "location": str(tmp_path / "ssd")},
        "warm": {"protocol": "s3", "endpoint": "127.0.0.1:9", "bucket": "project-data",
                 "location": "active", "access_key": "k", "secret_key": "s3cr3t"}}}))
    cfg = dj.Config()
    cfg.load(cfg_file)
    assert cfg["stores"]["default"] == "hot"
    assert cfg["stores.warm.bucket"] == "project-data"
    assert "s3cr3t" not in repr(cfg)


def movie_with_clip(schema, tmp_path, megabytes: int):
    """A table with an ``<attach@archive>`` column and a local file of that many MB."""
    @schema
    class Movie(dj.Manual):
        definition = """
        id : int32
        ---
        clip : <attach@archive>
        """
    src = tmp_path / "clip.bin"
    chunk = np.random.default_rng(megabytes).bytes(1 << 20)
    with open(src, "wb") as f:
        for _ in range(megabytes):
            f.write(chunk)
    return Movie, src, chunk


def test_large_attachment_is_streamed_not_read_whole(schema, tiers, tmp_path):
    import tracemalloc

    Movie, src, chunk = movie_with_clip(schema, tmp_path, 24)
    tracemalloc.start()
    try:
        Movie.insert1({"id": 1, "clip": str(src)})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if tiers.kind == "file":  # (with S3, the loopback server in this process holds a copy)
        assert peak < 12 << 20, f"insert held {peak >> 20} MB for a 24 MB file"
    [(path, data)] = tiers.objects("archive").items()
    assert len(data) == len(b"clip.bin\0") + (24 << 20)
    assert path.rsplit("/", 1)[-1] == djhash(data)
    got = (Movie & {"id": 1}).fetch1("clip", download_path=str(tmp_path / "down"))
    assert open(got, "rb").read(1 << 20) == chunk


def test_large_attachment_is_fetched_as_a_stream(schema, tiers, tmp_path, monkeypatch):
    """Objects over the streaming size go to download_path through a file, not memory."""
    import tracemalloc

    from joinflow.storage import codecs as storage_codecs
    monkeypatch.setattr(storage_codecs, "STREAM_OVER", 1 << 20)

    Movie, src, _ = movie_with_clip(schema, tmp_path, 16)
    Movie.insert1({"id": 1, "clip": str(src)})
    down = tmp_path / "down"
    tracemalloc.start()
    try:
        got = (Movie & {"id": 1}).fetch1("clip", download_path=str(down))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if tiers.kind == "file":
        assert peak < 8 << 20, f"fetch held {peak >> 20} MB for a 16 MB attachment"
    assert open(got, "rb").read() == src.read_bytes()
    assert sorted(p.name for p in down.iterdir()) == ["clip.bin"]  # no temporary file left
    again = (Movie & {"id": 1}).fetch1("clip", download_path=str(down))
    assert again == got  # an identical file is reused
    [(path, _)] = tiers.objects("archive").items()
    if tiers.kind == "file":  # a corrupted object is named, and nothing is left behind
        obj = tmp_path / "archive" / path
        data = bytearray(obj.read_bytes())
        data[-1] ^= 1
        obj.write_bytes(bytes(data))
        with pytest.raises(dj.errors.ObjectIntegrityError):
            (Movie & {"id": 1}).fetch1("clip", download_path=str(tmp_path / "down2"))
        assert not (tmp_path / "down2").exists() or not any((tmp_path / "down2").iterdir())
