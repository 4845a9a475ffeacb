"""One conformance class, ``StoreTests``, run against every kind of store: a local folder,
fsspec's memory filesystem, S3 on moto (loopback) and, as the ``ceph`` integration group, S3 on
Ceph's RADOS gateway."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from joinflow.errors import MissingObjectError, StoreError
from joinflow.storage import LocalFile, Store, StoreSpec
from joinflow.storage import store as store_module


def _payload(n: int, seed: int = 0) -> bytes:
    return bytes((i * 31 + seed) % 256 for i in range(n))


class StoreTests:
    """Behaviour every store must share. Subclasses provide ``store_config``."""

    @pytest.fixture
    def store(self, store_config: dict[str, Any]) -> Store:
        store = Store(StoreSpec.from_dict("conformance", store_config))
        yield store
        try:
            store.remove(store.list())
        except StoreError:  # pragma: no cover - best effort cleanup
            pass

    def test_put_get_bytes(self, store: Store) -> None:
        store.put_bytes("a/b/c.bin", b"hello")
        assert store.get_bytes("a/b/c.bin") == b"hello"

    def test_all_byte_values_and_empty_object(self, store: Store) -> None:
        data = bytes(range(256)) * 3
        store.put_bytes("bytes", data)
        store.put_bytes("empty", b"")
        assert store.get_bytes("bytes") == data
        assert store.get_bytes("empty") == b""
        assert store.size("empty") == 0

    def test_exists_and_size(self, store: Store) -> None:
        assert not store.exists("x/y")
        store.put_bytes("x/y", b"12345")
        assert store.exists("x/y")
        assert store.size("x/y") == 5

    def test_overwrite_replaces_the_object(self, store: Store) -> None:
        store.put_bytes("o", b"first")
        store.put_bytes("o", b"second, longer")
        assert store.get_bytes("o") == b"second, longer"

    def test_missing_object_raises_missing_object_error(self, store: Store) -> None:
        with pytest.raises(MissingObjectError, match=r"store 'conformance'.*not found.*nope/x"):
            store.get_bytes("nope/x")
        with pytest.raises(FileNotFoundError):  # MissingObjectError is one
            store.size("nope/x")

    def test_put_file_streams_with_prefix(self, store: Store, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
        local = tmp_path / "big.dat"
        data = _payload(3 * store_module.CHUNK_SIZE + 123)
        local.write_bytes(data)
        reads: list[int] = []
        real_read = store_module.shutil.copyfileobj

        def counting_copy(src: Any, dst: Any, length: int = 0) -> None:
            reads.append(length)
            real_read(src, dst, length)

        monkeypatch.setattr(store_module.shutil, "copyfileobj", counting_copy)
        store.put_file("files/big.dat", local, prefix=b"big.dat\0")
        store.put_file("files/plain.dat", local)
        assert store.get_bytes("files/big.dat") == b"big.dat\0" + data
        assert store.get_bytes("files/plain.dat") == data
        assert reads and all(n == store_module.CHUNK_SIZE for n in reads)  # chunked, not whole

    def test_get_file_and_open(self, store: Store, tmp_path: Path) -> None:
        store.put_bytes("d/obj", b"payload")
        target = tmp_path / "out" / "obj"
        target.parent.mkdir()
        store.get_file("d/obj", target)
        assert target.read_bytes() == b"payload"
        with store.open("d/obj") as f:
            assert f.read() == b"payload"
        with pytest.raises(MissingObjectError):
            store.get_file("d/missing", tmp_path / "out" / "missing")
        assert not (tmp_path / "out" / "missing").exists()

    def test_remove_and_remove_missing(self, store: Store) -> None:
        store.put_many([("r/1", b"1"), ("r/2", b"2"), ("r/3", b"3")])
        store.remove(["r/1", "r/2"])
        store.remove("r/never-existed")
        assert store.list("r") == ["r/3"]

    def test_list_and_walk(self, store: Store) -> None:
        for path in ("l/a", "l/sub/b", "l/sub/deeper/c", "other/d"):
            store.put_bytes(path, b".")
        assert store.list("l") == ["l/a", "l/sub/b", "l/sub/deeper/c"]
        assert store.list() == ["l/a", "l/sub/b", "l/sub/deeper/c", "other/d"]
        assert store.list("nothing-here") == []
        walked = {folder: sorted(files) for folder, _, files in store.walk("l")}
        assert walked["l"] == ["a"] and walked["l/sub/deeper"] == ["c"]

    def test_full_path_is_under_the_root(self, store: Store) -> None:
        assert store.full_path("a/b") == store.spec.root.rstrip("/") + "/a/b"
        assert store.url("a/b").startswith(store.spec.fsspec_protocol + "://")

    @pytest.mark.parametrize("bad", ["../x", "/abs/x", "", "a/../../x", "a\0b"])
    def test_paths_outside_the_store_are_refused(self, store: Store, bad: str) -> None:
        with pytest.raises(StoreError, match="invalid object path"):
            store.put_bytes(bad, b"x")

    def test_batches_keep_order(self, store: Store, tmp_path: Path) -> None:
        local = tmp_path / "f.txt"
        local.write_bytes(b"from a file")
        items: list[tuple[str, Any]] = [(f"m/{i:03d}", _payload(1000, i)) for i in range(40)]
        items += [("m/file", local), ("m/prefixed", LocalFile(local, b"f.txt\0"))]
        store.put_many(items)
        paths = [p for p, _ in items]
        got = store.get_many(paths)
        assert got[:40] == [d for _, d in items[:40]]
        assert got[40:] == [b"from a file", b"f.txt\0from a file"]
        assert store.exists_many(["m/000", "m/none", "m/file"]) == [True, False, True]

    def test_get_many_with_a_missing_object_raises(self, store: Store) -> None:
        store.put_bytes("g/1", b"1")
        with pytest.raises(MissingObjectError, match="g/2"):
            store.get_many(["g/1", "g/2"])

    def test_empty_batches(self, store: Store) -> None:
        assert store.get_many([]) == [] and store.exists_many([]) == []
        store.put_many([])

    def test_failed_streaming_write_leaves_no_object(self, store: Store, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
        local = tmp_path / "src"
        local.write_bytes(_payload(10_000))

        def broken_copy(prefix: bytes, src: Any, dst: Any) -> None:
            dst.write(prefix + src.read(5000))
            raise OSError("disk went away")

        monkeypatch.setattr(store_module, "_copy", broken_copy)
        with pytest.raises(StoreError, match="disk went away"):
            store.put_file("partial/obj", local, prefix=b"name\0")
        assert not store.exists("partial/obj")
        assert store.list("partial") == []

    def test_ranged_reads(self, store: Store) -> None:
        """What ``NpyRef`` slices rely on: exact byte ranges, one or several at a time, a
        range past the end cut short, a missing object named."""
        data = _payload(100_000, seed=3)
        store.put_bytes("r/obj", data)
        assert store.get_range("r/obj", 0, 10) == data[:10]
        assert store.get_range("r/obj", 99_990, 100_000) == data[99_990:]
        assert store.get_range("r/obj", 99_990, 200_000) == data[99_990:]
        spans = [(5, 17), (50_000, 50_001), (12_345, 67_890)]
        assert store.get_ranges("r/obj", spans) == [data[a:b] for a, b in spans]
        assert store.get_ranges("r/obj", []) == []
        with pytest.raises(MissingObjectError, match="r/missing"):
            store.get_range("r/missing", 0, 10)


class TestFileStore(StoreTests):
    @pytest.fixture
    def store_config(self, tmp_path: Path) -> dict[str, Any]:
        return {"protocol": "file", "location": str(tmp_path / "store")}


class TestMemoryStore(StoreTests):
    @pytest.fixture
    def store_config(self) -> dict[str, Any]:
        return {"protocol": "memory", "location": f"jft-{uuid.uuid4().hex}"}


class TestMotoS3Store(StoreTests):
    @pytest.fixture
    def store_config(self, moto_s3: Any) -> dict[str, Any]:
        return moto_s3.store_config()


@pytest.mark.ceph
class TestCephS3Store(StoreTests):
    @pytest.fixture
    def store_config(self, ceph_s3: Any) -> dict[str, Any]:
        return ceph_s3.store_config()


# -- file-store specifics ------------------------------------------------------------------------
def test_file_store_creates_readable_objects(tmp_path: Path) -> None:
    store = Store(StoreSpec.from_dict("f", {"protocol": "file", "location": str(tmp_path)}))
    store.put_bytes("a/b", b"x")
    mode = os.stat(tmp_path / "a" / "b").st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not mkstemp's 0600: other users of a shared store can read
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b"]  # no temp file left
