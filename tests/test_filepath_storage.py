"""``<filepath@>`` (DataJoint 2.x): references to files and folders already in a store, on every
database backend with a file store (the core cases also on S3, moto): DataJoint 2.3.5's row JSON,
the reserved sections, ``filepath_prefix``, ``stores.filepath_default``, lazy ``ObjectRef`` on
fetch, nothing copied and nothing removed by a delete."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_object_storage import Where, _file_store, _s3_store, raw_json

import joinflow as dj
from joinflow.errors import CodecError, DataError, DefinitionError, MissingObjectError

FILE = b"\x00raw acquisition bytes\xff" * 100


def _repo(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """Store ``repo`` (file or S3) holding ``subject1/session1/data.bin`` and the folder
    ``subject1/session1/imaging/`` with two files; ``main`` for joinflow's own objects."""
    where = _file_store(tmp_path, "repo") if kind == "file" else \
        _s3_store(request.getfixturevalue("moto_s3"))
    main = _file_store(tmp_path, "main")
    dj.config["stores"] = {"default": "main", "filepath_default": "repo", "main": main.config,
                           "repo": where.config}
    root = where.root
    where.fs.makedirs(f"{root}/subject1/session1/imaging", exist_ok=True)
    where.fs.pipe_file(f"{root}/subject1/session1/data.bin", FILE)
    where.fs.pipe_file(f"{root}/subject1/session1/imaging/a.tif", b"A" * 10)
    where.fs.pipe_file(f"{root}/subject1/session1/imaging/b.tif", b"B" * 20)
    return where


@pytest.fixture(params=["file", "s3"])
def any_repo(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """``repo`` as a file store and on S3 (the round trips)."""
    return _repo(request.param, request, tmp_path)


@pytest.fixture
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """``repo`` as a file store (the checks, which do not depend on the protocol)."""
    return _repo("file", request, tmp_path)


def make_table(schema: dj.Schema) -> Any:
    @schema
    class Recording(dj.Manual):
        definition = """
        rec : int32
        ---
        raw : <filepath@repo>
        other = null : <filepath@>
        """
    return Recording


def test_reference_round_trip_without_copy(schema, any_repo):
    repo = any_repo
    Recording = make_table(schema)
    before = repo.files()
    Recording.insert1(dict(rec=1, raw="subject1/session1/data.bin"))
    assert repo.files() == before  # nothing copied, nothing written
    ref = (Recording & "rec = 1").fetch1("raw")
    assert isinstance(ref, dj.ObjectRef)
    assert ref.path == "subject1/session1/data.bin" and ref.size == len(FILE)
    assert ref.is_dir is False and ref.store == "repo"
    assert ref.read() == FILE
    with ref.open() as f:
        assert f.read(4) == FILE[:4]
    assert ref.exists() and ref.verify()
    stored = raw_json(Recording, "raw", order="rec")[0]
    meta = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
    assert sorted(meta) == ["is_dir", "path", "size", "store", "timestamp"]
    assert meta["store"] == "repo" and meta["size"] == len(FILE)


def test_folder_reference_and_default_store(schema, any_repo, tmp_path):
    Recording = make_table(schema)
    Recording.insert1(dict(rec=1, raw="subject1/session1/data.bin",
                           other="subject1/session1/imaging"))
    ref = (Recording & "rec = 1").fetch1("other")
    assert ref.is_dir and ref.size is None and ref.store is None  # <filepath@>: filepath_default
    assert sorted(ref.listdir()) == ["a.tif", "b.tif"]
    with ref.open("b.tif") as f:
        assert f.read() == b"B" * 20
    ref.download(tmp_path / "down")  # a folder lands as down/imaging/, as in DataJoint
    assert sorted(p.name for p in (tmp_path / "down" / "imaging").iterdir()) == ["a.tif", "b.tif"]


def test_delete_keeps_the_referenced_file(schema, repo):
    Recording = make_table(schema)
    Recording.insert1(dict(rec=1, raw="subject1/session1/data.bin"))
    Recording.insert1(dict(rec=2, raw="/subject1/session1/data.bin"))  # leading / is the root
    Recording.insert1(dict(rec=3, raw="./subject1//session1/data.bin"))
    assert (Recording & "rec = 2").fetch1("raw").path == "subject1/session1/data.bin"
    assert (Recording & "rec = 3").fetch1("raw").path == "subject1/session1/data.bin"
    before = repo.files()
    Recording.delete()
    assert len(Recording) == 0 and repo.files() == before
    assert repo.read("subject1/session1/data.bin") == FILE


def test_missing_file_is_refused_and_nothing_written(schema, repo):
    Recording = make_table(schema)
    with pytest.raises(MissingObjectError, match=r"not found in store 'repo'.*nope\.bin"):
        Recording.insert1(dict(rec=1, raw="subject1/nope.bin"))
    assert isinstance(MissingObjectError("x"), FileNotFoundError)  # DataJoint raises that
    assert len(Recording) == 0


@pytest.mark.parametrize("path, match", [
    ("_hash/abc/def", "reserved section '_hash'"),
    ("/_schema/x/y.npy", "reserved section '_schema'"),
    ("../outside.bin", "leaves the store"),
    ("a/../../outside.bin", "leaves the store"),
    ("", "empty"),
    ("./_schema/x/y.npy", "reserved section '_schema'"),
    ("a//.//../_hash/z", "leaves the store"),
])
def test_bad_paths_are_refused(schema, repo, path, match):
    Recording = make_table(schema)
    with pytest.raises(DataError, match=match) as info:
        Recording.insert1(dict(rec=1, raw=path))
    assert isinstance(info.value, ValueError)  # DataJoint raises ValueError
    assert len(Recording) == 0


def test_filepath_prefix_is_enforced(schema, tmp_path):
    where = _file_store(tmp_path, "repo", filepath_prefix="raw")
    dj.config["stores"] = {"repo": where.config}
    (tmp_path / "repo" / "raw").mkdir(parents=True)
    (tmp_path / "repo" / "raw" / "ok.bin").write_bytes(b"ok")
    (tmp_path / "repo" / "elsewhere.bin").write_bytes(b"no")

    @schema
    class Ref(dj.Manual):
        definition = """
        id : int32
        ---
        f : <filepath@repo>
        """
    Ref.insert1(dict(id=1, f="raw/ok.bin"))
    with pytest.raises(DataError, match="must use prefix 'raw'"):
        Ref.insert1(dict(id=2, f="elsewhere.bin"))
    assert (Ref & "id = 1").fetch1("f").read() == b"ok"


def test_without_store_is_a_definition_error(schema):
    with pytest.raises((DefinitionError, CodecError), match="requires a store"):
        @schema
        class Bad(dj.Manual):
            definition = """
            id : int32
            ---
            f : <filepath>
            """


def test_unconfigured_store_is_named_at_declaration(schema, tmp_path):
    dj.config["stores"] = {"main": _file_store(tmp_path, "main").config}
    with pytest.raises(DefinitionError, match="filepath_default"):
        @schema
        class Ref(dj.Manual):
            definition = """
            id : int32
            ---
            f : <filepath@>
            """


def test_update1_and_null(schema, repo):
    Recording = make_table(schema)
    Recording.insert1(dict(rec=1, raw="subject1/session1/data.bin"))
    Recording.update1(dict(rec=1, other="subject1/session1/imaging/a.tif"))
    assert (Recording & "rec = 1").fetch1("other").read() == b"A" * 10
    Recording.update1(dict(rec=1, other=None))
    assert (Recording & "rec = 1").fetch1("other") is None


def test_verify_notices_a_changed_file(schema, repo):
    Recording = make_table(schema)
    Recording.insert1(dict(rec=1, raw="subject1/session1/data.bin"))
    repo.fs.pipe_file(f"{repo.root}/subject1/session1/data.bin", b"shorter")
    ref = (Recording & "rec = 1").fetch1("raw")
    with pytest.raises(dj.errors.ObjectIntegrityError, match="Size mismatch"):
        ref.verify()


def test_fetch_reads_nothing_from_the_store(schema, any_repo):
    """Fetch is lazy: the metadata comes from the row; the file is looked at only when asked
    (here it has gone since the insert, which only ``exists``/``read`` notice)."""
    repo = any_repo
    Recording = make_table(schema)
    Recording.insert1(dict(rec=1, raw="subject1/session1/data.bin"))
    repo.remove("subject1/session1/data.bin")
    ref = (Recording & "rec = 1").fetch1("raw")
    assert ref.path == "subject1/session1/data.bin" and ref.size == len(FILE)
    assert not ref.exists()
    with pytest.raises(FileNotFoundError):
        ref.read()
