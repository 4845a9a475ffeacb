"""Hash-addressed codecs end to end: ``<blob@>``, ``<blob@store>``, ``<attach@>``, ``<hash@store>``
on every database backend x (a file store, S3 on moto): DataJoint 2.3.5's row JSON and object
layout, deduplication, verification, the cache, concurrent fetch, cleanup after a failed insert."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import joinflow as dj
from joinflow.errors import CodecError, MissingObjectError, ObjectIntegrityError
from joinflow.storage import Store, StoreSpec


@pytest.fixture(params=["file", "s3"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Store]:
    """Two configured stores, ``main`` (the default) and ``cold`` (subfolding 2/2)."""
    if request.param == "file":
        main = {"protocol": "file", "location": str(tmp_path / "main")}
        cold = {"protocol": "file", "location": str(tmp_path / "cold"), "subfolding": [2, 2]}
    else:
        server = request.getfixturevalue("moto_s3")
        main, cold = server.store_config(), server.store_config(subfolding=[2, 2])
    dj.config["stores"] = {"default": "main", "main": main, "cold": cold}
    return {n: Store(StoreSpec.from_dict(n, c)) for n, c in (("main", main), ("cold", cold))}


def make_table(schema: dj.Schema) -> type:
    @schema
    class Obj(dj.Manual):
        definition = """
        id : int
        ---
        b : <blob@>
        c = null : <blob@cold>
        a = null : <attach@>
        h = null : <hash@cold>
        """
    return Obj


def raw_refs(table: Any, attr: str) -> list[dict[str, Any] | None]:
    """The column's stored JSON, read with plain SQL (no codec)."""
    rows = table.connection.query(f"SELECT {attr} FROM {table.full_table_name} ORDER BY id")
    return [v if v is None or isinstance(v, dict) else json.loads(v)
            for (v,) in rows.fetchall()]


def test_round_trip_and_datajoint_layout(schema: dj.Schema, stores: dict[str, Store],
                                         tmp_path: Path) -> None:
    Obj = make_table(schema)
    attach = tmp_path / "hello.txt"
    attach.write_bytes(b"hello attachment\n")
    Obj.insert1({"id": 1, "b": np.arange(5), "c": {"k": [1, 2]}, "a": str(attach),
                 "h": b"raw-bytes"})
    row = (Obj & {"id": 1}).fetch1()
    assert np.array_equal(row["b"], np.arange(5)) and row["c"] == {"k": [1, 2]}
    assert row["h"] == b"raw-bytes"
    assert Path(row["a"]).read_bytes() == b"hello attachment\n"
    db = schema.database
    b, = raw_refs(Obj, "b")
    if Obj.connection.backend.name != "postgresql":  # jsonb reorders keys
        assert list(b) == ["hash", "path", "schema", "store", "size"]  # DataJoint's order
    assert b == {"hash": "mhmckyclcrjf5zaexdm2zxjwiu", "schema": db, "store": None, "size": 69,
                 "path": f"_hash/{db}/mhmckyclcrjf5zaexdm2zxjwiu"}  # as DataJoint 2.3.5
    a, = raw_refs(Obj, "a")
    assert a["hash"] == "mybwkebhejadxcfxwtwnlzlsqi" and a["size"] == 27  # name NUL contents
    h, = raw_refs(Obj, "h")
    assert h["path"] == f"_hash/{db}/cf/se/cfseqgiwbaoy5o5ilw7jmkui7m" and h["store"] == "cold"
    assert stores["main"].get_bytes(b["path"])[:4] == b"mYm\0"
    assert stores["main"].get_bytes(a["path"]) == b"hello.txt\0hello attachment\n"
    assert stores["cold"].get_bytes(h["path"]) == b"raw-bytes"


def test_identical_content_is_stored_once(schema: dj.Schema, stores: dict[str, Store]) -> None:
    Obj = make_table(schema)
    data = np.zeros((100, 100))
    Obj.insert([{"id": i, "b": data} for i in range(3)])
    Obj.insert1({"id": 3, "b": data})
    refs = raw_refs(Obj, "b")
    assert len({r["path"] for r in refs}) == 1
    assert stores["main"].list() == [refs[0]["path"]]
    assert all(np.array_equal(v, data) for v in Obj.to_arrays("b"))


def test_existing_objects_are_not_uploaded_again(schema: dj.Schema, stores: dict[str, Store],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    Obj = make_table(schema)
    Obj.insert1({"id": 1, "b": b"x" * 1000})
    written: list[str] = []
    real = Store.put_many

    def spy(self: Store, items: Any) -> None:
        written.extend(p for p, _ in items)
        real(self, items)

    monkeypatch.setattr(Store, "put_many", spy)
    Obj.insert1({"id": 2, "b": b"x" * 1000, "h": b"new"})
    assert written == [raw_refs(Obj, "h")[1]["path"]]  # only the new object


def test_corruption_is_detected(schema: dj.Schema, stores: dict[str, Store]) -> None:
    Obj = make_table(schema)
    Obj.insert1({"id": 1, "b": np.arange(10)})
    path = raw_refs(Obj, "b")[0]["path"]
    stores["main"].put_bytes(path, b"mYm\0tampered")
    with pytest.raises(ObjectIntegrityError, match=rf"attribute 'b' of .*obj.*{path}.*corrupted"):
        Obj.fetch1("b")


def test_missing_object_names_the_attribute(schema: dj.Schema, stores: dict[str, Store]) -> None:
    Obj = make_table(schema)
    Obj.insert1({"id": 1, "b": 1, "h": b"gone"})
    stores["cold"].remove(raw_refs(Obj, "h")[0]["path"])
    with pytest.raises(MissingObjectError, match=r"attribute 'h' of .*not found"):
        Obj.fetch1("h")


def test_cache_serves_a_second_fetch_without_the_store(schema: dj.Schema,
                                                       stores: dict[str, Store],
                                                       tmp_path: Path) -> None:
    dj.config["cache"] = str(tmp_path / "cache")
    Obj = make_table(schema)
    Obj.insert([{"id": i, "b": np.full(10, i)} for i in range(4)])
    first = Obj.to_arrays("b")
    stores["main"].remove(stores["main"].list())  # the objects are gone...
    second = Obj.to_arrays("b")  # ...the cache answers
    assert all(np.array_equal(x, y) for x, y in zip(first, second, strict=True))


def test_a_column_is_fetched_in_one_concurrent_batch(schema: dj.Schema,
                                                     stores: dict[str, Store],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    Obj = make_table(schema)
    Obj.insert([{"id": i, "b": np.full(20, i)} for i in range(50)])
    batches: list[int] = []
    real = Store.get_many

    def spy(self: Store, paths: Any) -> list[bytes]:
        batches.append(len(paths))
        return real(self, paths)

    monkeypatch.setattr(Store, "get_many", spy)
    values = Obj.to_arrays("b")
    assert batches == [50] and all(np.array_equal(v, np.full(20, i)) for i, v in enumerate(values))


def test_failed_insert_removes_the_objects_it_created(schema: dj.Schema,
                                                      stores: dict[str, Store]) -> None:
    Obj = make_table(schema)
    Obj.insert1({"id": 1, "b": b"kept"})
    kept = raw_refs(Obj, "b")[0]["path"]
    with pytest.raises(dj.errors.DuplicateError):
        Obj.insert([{"id": 2, "b": b"new object"}, {"id": 1, "b": b"kept"}])
    assert stores["main"].list() == [kept]  # the new object is gone, the shared one stays
    assert len(Obj) == 1


def test_hash_values_must_be_bytes(schema: dj.Schema, stores: dict[str, Store]) -> None:
    Obj = make_table(schema)
    with pytest.raises((TypeError, dj.errors.DataError), match="expects bytes"):
        Obj.insert1({"id": 1, "b": 1, "h": "a string"})


def test_hash_needs_a_store(schema: dj.Schema, stores: dict[str, Store]) -> None:
    with pytest.raises((CodecError, dj.errors.DefinitionError), match="requires a store"):
        @schema
        class NoStore(dj.Manual):
            definition = """
            id : int
            ---
            h : <hash>
            """


def test_put_pending_writes_missing_objects_and_reports_them(tmp_path: Path) -> None:
    from joinflow.codecs.base import ObjectWrite
    from joinflow.settings import Config
    from joinflow.storage import stores_for
    cfg = Config()
    cfg["stores"] = {"default": "main", "main": {"protocol": "file", "location": str(tmp_path)}}
    access = stores_for(cfg)
    src = tmp_path / "src.txt"
    src.write_bytes(b"contents")
    (tmp_path / "old").write_bytes(b"old")
    (tmp_path / "fixed").write_bytes(b"stale")
    writes = [ObjectWrite("", "a", data=b"A"), ObjectWrite(None, "a", data=b"A"),  # same object
              ObjectWrite("main", "f", source=str(src), prefix=b"src.txt\0"),
              ObjectWrite("", "old", data=b"old"),                                 # exists: skip
              ObjectWrite("", "fixed", data=b"fresh", content_addressed=False)]    # rewritten
    created = access.put_pending(writes)
    # a fresh (schema-addressed) path is written without an existence check: it is created
    assert sorted(w.path for w in created) == ["a", "f", "fixed"]
    assert (tmp_path / "f").read_bytes() == b"src.txt\0contents"
    assert (tmp_path / "fixed").read_bytes() == b"fresh"
    access.discard(created, None)
    assert not (tmp_path / "a").exists() and not (tmp_path / "f").exists()
    assert (tmp_path / "old").exists()
