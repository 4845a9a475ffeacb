"""``<npy@>`` and ``NpyRef`` end to end, on every database backend, with a file store (and the
core cases on S3, moto): exact round trips, DataJoint 2.3.5's path and row JSON, metadata without
any read, ranged reads for slices, cleanup after a failed insert, and interoperability with the
real DataJoint 2.3.5 (PostgreSQL; skipped without ``JF_DATAJOINT_PYTHON``)."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from storage_helpers import files_under

import joinflow as dj
from joinflow.errors import CodecError, ObjectIntegrityError
from joinflow.storage import Store
from joinflow.storage.npy import HEADER_PROBE

ARRAYS: list[Any] = [
    np.arange(12, dtype=np.float64).reshape(3, 4),
    np.asfortranarray(np.arange(24, dtype=np.int32).reshape(2, 3, 4)),
    np.array(3.5),                                   # 0-d
    np.array(7, dtype=">i4"),                        # 0-d big-endian
    np.zeros((0, 3)),                                # empty
    np.zeros((4, 0), dtype=np.int16),                # empty inner axis
    np.arange(10, dtype=">f8"),                      # big-endian
    np.array([True, False, True]),
    np.array([1 + 2j, -3.5 - 4j], dtype=np.complex64),
    np.array([[1 + 2j], [3 - 4j]], dtype=np.complex128),
    np.arange(6, dtype=np.uint64).reshape(3, 2) * (2**63 // 6),
    np.array([np.nan, np.inf, -np.inf, -0.0]),
    np.array(["ab", "cdé"], dtype="U3"),
    np.array([b"x", b"yz"], dtype="S2"),
    np.array(["2024-01-02T03:04:05", "NaT"], dtype="datetime64[ns]"),
    np.array([1, 2], dtype="timedelta64[s]"),
    np.array([(1, 2.5, "a"), (3, -1.0, "bc")],
             dtype=[("x", "<i4"), ("y", ">f8"), ("label", "U10")]),
    np.arange(8, dtype=np.int8).reshape(2, 2, 2)[:, ::-1],  # non-contiguous view
    np.float16([1.5, -2.25]),
]


@pytest.fixture
def file_store(tmp_path: Path) -> Path:
    root = tmp_path / "objects"
    dj.config["stores"] = {"default": "main", "main": {"protocol": "file", "location": str(root)},
                           "other": {"protocol": "file", "location": str(tmp_path / "other")}}
    return root


@pytest.fixture(params=["file", "s3", pytest.param("ceph", marks=pytest.mark.ceph)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The default store ``main``: a folder, or a bucket prefix on moto (on Ceph's RADOS
    gateway in the ``ceph`` integration group)."""
    if request.param == "file":
        main: dict[str, Any] = {"protocol": "file", "location": str(tmp_path / "objects")}
    else:
        main = request.getfixturevalue("moto_s3" if request.param == "s3" else "ceph_s3") \
            .store_config()
    dj.config["stores"] = {"default": "main", "main": main}
    from joinflow.storage import StoreSpec
    return Store(StoreSpec.from_dict("main", main))


def make_table(schema: dj.Schema) -> type:
    @schema
    class Rec(dj.Manual):
        definition = """
        rid : int32
        ---
        wav : <npy@>
        other = null : <npy@other>
        """
    return Rec


def make_plain(schema: dj.Schema) -> type:
    @schema
    class Arr(dj.Manual):
        definition = """
        rid : int32
        ---
        wav : <npy@>
        """
    return Arr


def raw_json(table: Any, attr: str) -> list[Any]:
    rows = table.connection.query(
        f"SELECT {attr} FROM {table.full_table_name} ORDER BY rid").fetchall()
    return [v if v is None or isinstance(v, dict) else json.loads(v) for (v,) in rows]


def assert_same(got: Any, want: Any) -> None:
    assert type(got) is np.ndarray
    assert got.dtype == want.dtype and got.dtype.str == want.dtype.str
    assert got.shape == want.shape
    if want.dtype.kind in "fcmM":
        np.testing.assert_array_equal(got, want)  # NaN == NaN, NaT == NaT here
    else:
        assert np.array_equal(got, want)
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()


class ReadCounter:
    """Counts what a Store reads (calls and bytes); ``forbid`` makes any read fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, forbid: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.forbid = forbid
        for name in ("get_bytes", "get_ranges", "get_many", "get_file", "open"):
            original = getattr(Store, name)
            monkeypatch.setattr(Store, name, self._wrap(name, original))

    def _wrap(self, name: str, original: Any) -> Any:
        counter = self

        def wrapper(store: Store, *args: Any, **kwargs: Any) -> Any:
            if counter.forbid:
                raise AssertionError(f"Store.{name} called: no read may happen here")
            result = original(store, *args, **kwargs)
            size = sum(len(r) for r in result) if isinstance(result, list) else \
                len(result) if isinstance(result, bytes) else 0
            counter.calls.append((name, size))
            return result
        return wrapper

    @property
    def bytes(self) -> int:
        return sum(n for _, n in self.calls)


# ---------------------------------------------------------------------------------- round trips
def test_round_trip_many_dtypes_and_layouts(schema: dj.Schema, file_store: Path) -> None:
    Rec = make_table(schema)
    Rec.insert([{"rid": i, "wav": a} for i, a in enumerate(ARRAYS)])
    refs = Rec.to_dicts(order_by="rid")
    for row, want in zip(refs, ARRAYS, strict=True):
        ref = row["wav"]
        assert isinstance(ref, dj.NpyRef) and not ref.is_loaded
        assert ref.shape == want.shape and ref.dtype == want.dtype
        assert ref.ndim == want.ndim and ref.size == want.size and ref.nbytes == want.nbytes
        got = ref.load()
        assert_same(got, want)
        assert ref.is_loaded and ref.load() is got
        if want.ndim > 1 and want.flags.f_contiguous and not want.flags.c_contiguous:
            assert got.flags.f_contiguous  # the file keeps Fortran order
        assert row["other"] is None


def test_datajoint_path_and_json(schema: dj.Schema, file_store: Path, tmp_path: Path) -> None:
    @schema
    class Sess(dj.Manual):
        definition = """
        subject : varchar(16)
        sess : int32
        ---
        trace : <npy@>
        image = null : <npy@other>
        """

    a = np.arange(6, dtype=">i2").reshape(2, 3)
    Sess.insert1({"subject": "a b/c", "sess": 3, "trace": a, "image": np.eye(2)})
    (trace,) = [v if isinstance(v, dict) else json.loads(v) for (v,) in Sess.connection.query(
        f"SELECT trace FROM {Sess.full_table_name}").fetchall()]
    (image,) = [v if isinstance(v, dict) else json.loads(v) for (v,) in Sess.connection.query(
        f"SELECT image FROM {Sess.full_table_name}").fetchall()]
    if Sess.connection.backend.name != "postgresql":  # jsonb reorders keys
        assert list(trace) == ["path", "store", "dtype", "shape"]  # DataJoint's order
    db, table = schema.database, Sess.table_name
    assert re.fullmatch(rf"_schema/{db}/{table}/subject=a%20b%2Fc/sess=3/trace_[\w-]{{8}}\.npy",
                        trace["path"]), trace["path"]
    assert trace == {"path": trace["path"], "store": None, "dtype": ">i2", "shape": [2, 3]}
    assert image["store"] == "other" and image["dtype"] == "float64"
    assert image["path"].startswith(f"_schema/{db}/{table}/subject=a%20b%2Fc/sess=3/image_")
    # standard .npy files, readable by numpy alone
    assert_same(np.load(file_store / trace["path"]), a)
    assert_same(np.load(tmp_path / "other" / image["path"]), np.eye(2))
    assert files_under(file_store) == [trace["path"]]


def test_core_cases_on_file_and_s3(schema: dj.Schema, any_store: Store,
                                   monkeypatch: pytest.MonkeyPatch,
                                   request: pytest.FixtureRequest) -> None:
    Arr = make_plain(schema)
    big = np.arange(20000, dtype=np.float64).reshape(1000, 20)
    Arr.insert([{"rid": 1, "wav": big}, {"rid": 2, "wav": np.asfortranarray(big[:50])},
                {"rid": 3, "wav": np.array(2.0)}])
    (path,) = [j["path"] for j in raw_json(Arr, "wav")][:1]
    assert any_store.exists(path)
    counter = ReadCounter(monkeypatch, forbid=True)
    refs = Arr.to_dicts(order_by="rid")
    assert [r["wav"].shape for r in refs] == [(1000, 20), (50, 20), ()]
    counter.forbid = False
    ref = refs[0]["wav"]
    on_moto = request.node.callspec.params.get("any_store") == "s3"
    meter = request.getfixturevalue("moto_s3").meter if on_moto else None
    if meter is not None:
        meter.reset()
    part = ref[100:110]
    if meter is not None:
        assert meter.requests == 2  # two ranged GETs: the header, then the rows
    assert_same(part, big[100:110])
    assert counter.bytes < HEADER_PROBE + 10 * 20 * 8 + 1  # the header probe and ten rows
    assert not ref.is_loaded
    assert_same(refs[1]["wav"][5:7], big[5:7])
    assert_same(refs[2]["wav"].load(), np.array(2.0))
    assert_same(ref.load(), big)


# ---------------------------------------------------------------------------------- laziness
def test_fetch_downloads_nothing(schema: dj.Schema, file_store: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    Arr = make_plain(schema)
    Arr.insert({"rid": i, "wav": np.full((3, 2), i, dtype=np.int64)} for i in range(1000))
    counter = ReadCounter(monkeypatch, forbid=True)
    rows = Arr.to_dicts()
    assert len(rows) == 1000
    for r in rows:
        ref = r["wav"]
        assert (ref.shape, ref.dtype, ref.nbytes, ref.size, len(ref)) == \
            ((3, 2), np.dtype(np.int64), 48, 6, 3)
        assert not ref.is_loaded and ref.path.endswith(".npy") and ref.store is None
        assert "not loaded" in repr(ref)
    one = (Arr & {"rid": 7}).fetch1("wav")
    assert isinstance(one, dj.NpyRef)
    assert not counter.calls
    counter.forbid = False
    assert np.mean(one) == 7.0 and one.is_loaded and "loaded" in repr(one)
    assert counter.calls == [("get_bytes", 176)]  # one read of the whole file
    assert not rows[0]["wav"].is_loaded


def test_numpy_integration(schema: dj.Schema, file_store: Path) -> None:
    Arr = make_plain(schema)
    a = np.arange(100).reshape(10, 10)
    Arr.insert1({"rid": 1, "wav": a})
    ref = Arr.fetch1("wav")
    assert np.array_equal(np.add(ref, 1), a + 1)
    assert np.array_equal(np.asarray(ref, dtype=np.float32), a.astype(np.float32))
    assert ref[5, 5] == 55 and np.array_equal(ref[:, 0], a[:, 0])
    assert [list(r) for r in ref] == a.tolist()
    # an NpyRef can be inserted again (copied to another row)
    Arr.insert1({"rid": 2, "wav": ref})
    assert_same((Arr & {"rid": 2}).fetch1("wav").load(), a)


# ---------------------------------------------------------------------------------- ranged reads
SLICES: list[Any] = [
    np.s_[3], np.s_[-1], np.s_[10:20], np.s_[10:20, 2], np.s_[10:20, 1:3], np.s_[::-3],
    np.s_[50:10:-4], np.s_[40:41], np.s_[5:5], np.s_[90:200], np.s_[-5:], np.s_[7, ::2],
    np.s_[3:9:2, 1], np.s_[0:99],
]


@pytest.mark.parametrize("order", ["C", "F"])
def test_slices_read_only_their_rows(schema: dj.Schema, file_store: Path,
                                     monkeypatch: pytest.MonkeyPatch, order: str) -> None:
    Arr = make_plain(schema)
    a = np.array(np.arange(100 * 4 * 3, dtype="<f8").reshape(100, 4, 3), order=order)
    Arr.insert1({"rid": 1, "wav": a})
    for key in SLICES:
        ref = Arr.fetch1("wav")
        counter = ReadCounter(monkeypatch)
        got = ref[key]
        want = a[key]
        assert_same(np.asarray(got), want) if np.ndim(want) else None
        assert np.array_equal(got, want) and np.asarray(got).dtype == want.dtype
        first = key[0] if isinstance(key, tuple) else key
        rows = range(*first.indices(100)) if isinstance(first, slice) else \
            range(first % 100, first % 100 + 1)
        span = max(rows) - min(rows) + 1 if len(rows) else 0
        if span < 100:  # only the rows' bytes (and the header), nothing cached
            assert counter.bytes <= HEADER_PROBE + span * 12 * 8, (key, counter.calls)
            assert not ref.is_loaded
        else:  # every row: loaded once, cached
            assert ref.is_loaded and counter.calls == [("get_bytes", a.nbytes + 128)]
        monkeypatch.undo()
    # a slice of a loaded reference reads nothing more
    ref = Arr.fetch1("wav")
    ref.load()
    counter = ReadCounter(monkeypatch, forbid=True)
    assert_same(ref[10:12], a[10:12])


def test_large_array_slice_costs_its_bytes(schema: dj.Schema, file_store: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    Arr = make_plain(schema)
    a = np.random.default_rng(1).standard_normal((20000, 50))  # 8 MB
    Arr.insert1({"rid": 1, "wav": a})
    ref = Arr.fetch1("wav")
    counter = ReadCounter(monkeypatch)
    assert_same(ref[100:200], a[100:200])
    assert counter.bytes == HEADER_PROBE + 100 * 50 * 8
    assert_same(ref[300:310], a[300:310])  # the header is read once
    assert counter.bytes == HEADER_PROBE + 110 * 50 * 8
    with pytest.raises(IndexError, match="out of bounds"):
        ref[20000]


def test_mmap(schema: dj.Schema, any_store: Store) -> None:
    Arr = make_plain(schema)
    a = np.arange(50, dtype=np.int32)
    Arr.insert1({"rid": 1, "wav": a})
    ref = Arr.fetch1("wav")
    m = ref.load(mmap_mode="r")
    assert isinstance(m, np.memmap) and np.array_equal(m, a)
    assert not ref.is_loaded
    with pytest.raises(CodecError, match="in place"):
        ref.load(mmap_mode="r+")


# ---------------------------------------------------------------------------------- refusals
def test_refusals(schema: dj.Schema, file_store: Path) -> None:
    Arr = make_plain(schema)
    with pytest.raises(CodecError, match="requires numpy.ndarray"):
        Arr.insert1({"rid": 1, "wav": [1, 2, 3]})
    with pytest.raises(CodecError, match="object dtype"):
        Arr.insert1({"rid": 1, "wav": np.array([{}, []], dtype=object)})
    with pytest.raises(CodecError, match="object dtype"):
        Arr.insert1({"rid": 1, "wav": np.zeros(2, dtype=[("a", "i4"), ("o", "O")])})
    with pytest.raises(CodecError, match="mask"):
        Arr.insert1({"rid": 1, "wav": np.ma.masked_array([1, 2], mask=[0, 1])})
    assert len(Arr()) == 0 and files_under(file_store) == []
    with pytest.raises(dj.DataJointError, match="requires @"):
        @schema
        class NoStore(dj.Manual):
            definition = """
            rid : int32
            ---
            wav : <npy>
            """


def test_object_array_on_store_is_never_unpickled(schema: dj.Schema, file_store: Path) -> None:
    Arr = make_plain(schema)
    Arr.insert1({"rid": 1, "wav": np.arange(3)})
    path = raw_json(Arr, "wav")[0]["path"]
    evil = np.array([{"a": 1}, None], dtype=object)
    np.save(file_store / path, evil, allow_pickle=True)
    with pytest.raises(CodecError, match="object array"):
        Arr.fetch1("wav").load()
    with pytest.raises(CodecError, match="object array"):
        Arr.fetch1("wav")[0:1]


def test_corrupted_object_is_reported(schema: dj.Schema, file_store: Path) -> None:
    Arr = make_plain(schema)
    Arr.insert1({"rid": 1, "wav": np.arange(30)})
    path = raw_json(Arr, "wav")[0]["path"]
    data = (file_store / path).read_bytes()
    (file_store / path).write_bytes(data[:-16])
    with pytest.raises(ObjectIntegrityError, match="truncated"):
        Arr.fetch1("wav")[20:30]
    with pytest.raises(ObjectIntegrityError, match="not a valid .npy"):
        Arr.fetch1("wav").load()
    (file_store / path).write_bytes(b"not an npy file at all")
    with pytest.raises(ObjectIntegrityError, match="not a valid .npy"):
        Arr.fetch1("wav")[0:1]


def test_failed_insert_leaves_no_object_and_no_row(schema: dj.Schema, any_store: Store) -> None:
    Arr = make_plain(schema)
    Arr.insert1({"rid": 1, "wav": np.arange(3)})
    before = any_store.list()
    with pytest.raises(dj.DuplicateError):
        Arr.insert([{"rid": 2, "wav": np.arange(4)}, {"rid": 1, "wav": np.arange(5)}])
    assert any_store.list() == before
    with pytest.raises(CodecError, match="object dtype"):  # a bad value later in the batch
        Arr.insert([{"rid": 3, "wav": np.arange(4)}, {"rid": 4, "wav": np.array([None])}])
    assert any_store.list() == before
    assert Arr.to_dicts(order_by="rid")[0]["rid"] == 1 and len(Arr()) == 1
    assert_same(Arr.fetch1("wav").load(), np.arange(3))


def test_delete_removes_the_object(schema: dj.Schema, any_store: Store) -> None:
    Arr = make_plain(schema)
    Arr.insert([{"rid": 1, "wav": np.arange(3)}, {"rid": 2, "wav": np.arange(4)}])
    paths = [j["path"] for j in raw_json(Arr, "wav")]
    assert any_store.list() == sorted(paths)
    (Arr & {"rid": 1}).delete(prompt=False)
    assert any_store.list() == [paths[1]]
    Arr.delete(prompt=False)
    assert any_store.list() == []


# ---------------------------------------------------------------------------------- unit level
def test_ref_without_database(tmp_path: Path) -> None:
    class Backend:  # DataJoint's backend interface
        protocol = "file"

        def get_buffer(self, path: str) -> bytes:
            return (tmp_path / path).read_bytes()

        def _full_path(self, path: str) -> str:
            return str(tmp_path / path)

    np.save(tmp_path / "a.npy", np.arange(4.0))
    meta = {"path": "a.npy", "store": None, "dtype": "[('x', '<f8'), ('y', 'S3')]",
            "shape": [2]}
    ref = dj.NpyRef(meta, Backend())
    assert ref.dtype == np.dtype([("x", "<f8"), ("y", "S3")]) and ref.itemsize == 11
    ref = dj.NpyRef({"path": "a.npy", "store": None, "dtype": "float64", "shape": [4]},
                    Backend())
    assert np.array_equal(ref[1:3], [1.0, 2.0]) and ref.is_loaded  # no ranged reads: load
    assert isinstance(ref.load(mmap_mode="c"), np.memmap)
    with pytest.raises(TypeError, match="0-dimensional"):
        len(dj.NpyRef({"path": "x", "store": None, "dtype": "i4", "shape": []}, Backend()))
    with pytest.raises(CodecError, match="not a numpy dtype"):
        _ = dj.NpyRef({"path": "x", "store": None, "dtype": "__import__('os')", "shape": []},
                      Backend()).dtype


# ---------------------------------------------------------------------------------- DataJoint 2.3.5
# PostgreSQL only: DataJoint 2.3.5 misreads MariaDB json columns (see test_storage_interop.py),
# and its <npy@> without a store name fails (it looks up the store ''), so DataJoint's side
# names the store.
DJ_NPY_ARRAYS = r'''
import numpy as np
def npy_arrays():
    return [np.arange(12, dtype=np.float64).reshape(3, 4),
            np.asfortranarray(np.arange(24, dtype=">i4").reshape(2, 3, 4)),
            np.array(2.5), np.zeros((0, 3), dtype=np.int16),
            np.array([1 + 2j, 3 - 4j]), np.array([True, False]),
            np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", ">f8")])]
'''


def _dj_scripts() -> tuple[str, str]:
    from test_interop_datajoint import DJ_PRELUDE
    stores = r'''
dj.config["stores"] = {"default": "main", "main": {"protocol": "file", "location": args["main"]}}
''' + DJ_NPY_ARRAYS
    reads = DJ_PRELUDE + stores + r'''
import io
def npy(a):  # as .npy bytes: pickle loses the byte order of Fortran-ordered arrays
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()
vm = dj.VirtualModule("vm", args["schema"])
rows = []
for r in vm.Rec.to_dicts(order_by="rid"):
    rows.append({"rid": r["rid"], "lazy": type(r["wav"]).__name__, "shape": r["wav"].shape,
                 "wav": npy(r["wav"].load()), "dflt": npy(r["dflt"].load())})
with open(args["out"], "wb") as f:
    pickle.dump(rows, f)
'''
    writes = DJ_PRELUDE + stores + r'''
schema = dj.Schema(args["schema"])

@schema
class Rec(dj.Manual):
    definition = """
    rid : int32
    ---
    wav : <npy@main>
    """

Rec.insert([{"rid": i, "wav": a} for i, a in enumerate(npy_arrays())])
with open(args["out"], "wb") as f:
    pickle.dump([], f)
'''
    return reads, writes


def _interop_setup(tmp_path: Path) -> dict[str, str]:
    from test_interop_datajoint import DJ_PYTHON
    if not DJ_PYTHON:
        pytest.skip("set JF_DATAJOINT_PYTHON to a python with datajoint==2.3.5 (and "
                    "psycopg2-binary) to run the DataJoint interoperability tests")
    main = tmp_path / "main"
    main.mkdir()
    dj.config["stores"] = {"default": "main",
                           "main": {"protocol": "file", "location": str(main)}}
    return {"main": str(main)}


def _npy_arrays() -> list[Any]:
    scope: dict[str, Any] = {}
    exec(DJ_NPY_ARRAYS, scope)  # noqa: S102 - the arrays both interpreters use
    return scope["npy_arrays"]()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_datajoint_reads_joinflow_npy(schema: dj.Schema, conn: dj.Connection,
                                      tmp_path: Path) -> None:
    locations = _interop_setup(tmp_path)
    from test_interop_datajoint import run_dj

    @schema
    class Rec(dj.Manual):
        definition = """
        rid : int32
        ---
        wav : <npy@main>
        dflt : <npy@>
        """

    arrays = _npy_arrays()
    Rec.insert([{"rid": i, "wav": a, "dflt": a[..., None]} for i, a in enumerate(arrays)])
    rows = run_dj(_dj_scripts()[0], conn, schema.database, tmp_path, **locations)
    assert [r["rid"] for r in rows] == list(range(len(arrays)))
    for row, want in zip(rows, arrays, strict=True):
        assert row["lazy"] == "NpyRef" and row["shape"] == want.shape
        assert_same(np.load(io.BytesIO(row["wav"])), want)
        assert_same(np.load(io.BytesIO(row["dflt"])), want[..., None])


@pytest.mark.parametrize("backend", ["postgresql"])
def test_joinflow_reads_datajoint_npy(conn: dj.Connection, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    locations = _interop_setup(tmp_path)
    from conftest import unique_name
    from test_interop_datajoint import run_dj

    name = unique_name("jft_djnpy")
    try:
        run_dj(_dj_scripts()[1], conn, name, tmp_path, **locations)
        vm = dj.VirtualModule("vm", name, connection=conn)
        rows = vm.Rec.to_dicts(order_by="rid")
        arrays = _npy_arrays()
        assert len(rows) == len(arrays)
        for row, want in zip(rows, arrays, strict=True):
            ref = row["wav"]
            assert isinstance(ref, dj.NpyRef) and ref.store == "main"
            assert ref.shape == want.shape and ref.dtype == want.dtype  # structured too
            if want.ndim and len(want) > 1:
                counter = ReadCounter(monkeypatch)
                assert_same(ref[0:1], want[0:1])  # ranged read of DataJoint's file
                assert counter.calls and not ref.is_loaded
                monkeypatch.undo()
            assert_same(ref.load(), want)
    finally:
        dj.Schema(name, connection=conn).drop(prompt=False)


@pytest.mark.filterwarnings("ignore:Stored array in format 3.0")
def test_long_and_unicode_headers(schema: dj.Schema, file_store: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    Arr = make_plain(schema)
    wide = np.zeros(20, dtype=[(f"field_{i:02d}", "<f4") for i in range(40)])  # header > probe
    wide["field_07"] = np.arange(20)
    greek = np.array([(1, 2.0), (3, 4.0), (5, 6.0)], dtype=[("α", "<i4"), ("β", "<f8")])
    Arr.insert([{"rid": 1, "wav": wide}, {"rid": 2, "wav": greek}])  # greek: .npy version 3.0
    ref_wide, ref_greek = (r["wav"] for r in Arr.to_dicts(order_by="rid"))
    assert ref_wide.dtype == wide.dtype and ref_greek.dtype == greek.dtype
    counter = ReadCounter(monkeypatch)
    assert_same(ref_wide[5:7], wide[5:7])
    assert len(counter.calls) == 3 and not ref_wide.is_loaded  # probe, rest of header, rows
    assert_same(ref_greek[1:2], greek[1:2])  # a version this reader leaves to numpy: load
    assert ref_greek.is_loaded
    assert_same(ref_wide.load(), wide)
