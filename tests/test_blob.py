"""Tests of the blob wire format: golden vectors from DataJoint 2.3.5, every supported type,
hand-built MATLAB (mym) blobs, property-based round trips and fuzzing of the decoder."""
from __future__ import annotations

import datetime
import decimal
import json
import math
import random
import struct
import time
import tracemalloc
import uuid
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from joinflow.codecs.blob import (
    pack_buffer,
    ZLIB_PREFIX,
    CompressionPolicy,
    MatCell,
    MatStruct,
    pack,
    unpack,
)
from joinflow.errors import BlobError, CodecError

# DataJoint 2.3.5's blob bytes for 66 values (from ../shared/blob-vectors, kept with the tests)
VECTORS = Path(__file__).parent / "data" / "blob-vectors-datajoint-2.3.5.json"
CASES = json.loads(VECTORS.read_text())["cases"] if VECTORS.exists() else []
NAMES = {"np": np, "uuid": uuid, "datetime": datetime, "decimal": decimal}
needs_vectors = pytest.mark.skipif(not CASES, reason=f"{VECTORS} not present")

U32, I32, U64 = (lambda x: struct.pack("<I", x)), (lambda x: struct.pack("<i", x)), (lambda x: struct.pack("<Q", x))


# ------------------------------------------------------------------ comparison helpers

def expected_of(value: Any) -> Any:
    """What unpack(pack(value)) returns, following DataJoint's decoding rules."""
    if isinstance(value, (MatCell, MatStruct)):
        return value
    if isinstance(value, np.ndarray):
        return _expected_array(value)
    if isinstance(value, (np.str_, np.bytes_)):
        return value.item()
    if isinstance(value, np.generic):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(expected_of(v) for v in value)
    if isinstance(value, dict):
        return {expected_of(k): expected_of(v) for k, v in value.items()}
    if isinstance(value, frozenset):
        return set(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def _expected_array(arr: np.ndarray) -> Any:
    arr = np.asarray(arr)
    if arr.dtype.names:
        fields = [(n, _expected_array(arr[n])) for n in arr.dtype.names]
        out = np.recarray(arr.shape, dtype=[(n, f.dtype, f.shape[arr.ndim:]) for n, f in fields])
        for name, field in fields:
            out[name] = field
    elif arr.dtype.kind in "UO":
        out = np.empty(arr.shape, dtype=object)
        for index in np.ndindex(arr.shape):
            out[index] = expected_of(arr[index])
    else:
        out = arr.astype(arr.dtype.newbyteorder("="))
    return out[()] if out.ndim == 0 else out


def assert_same(actual: Any, expected: Any, path: str = "value") -> None:
    """Deep equality that also checks types, dtypes and shapes; NaN equals NaN."""
    assert type(actual) is type(expected), f"{path}: {type(actual)} != {type(expected)}"
    if isinstance(expected, np.ndarray):
        _assert_same_array(actual, expected, path)
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, f"{path}[{i}]")
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{path}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(actual[key], expected[key], f"{path}[{key!r}]")
    elif isinstance(expected, decimal.Decimal):
        assert str(actual) == str(expected), path
    elif isinstance(expected, np.void):
        assert actual.dtype == expected.dtype, path
        for name in expected.dtype.names:
            assert_same(actual[name], expected[name], f"{path}.{name}")
    elif isinstance(expected, (float, complex, np.inexact)):
        np.testing.assert_equal(actual, expected, err_msg=path)
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def _assert_same_array(actual: np.ndarray, expected: np.ndarray, path: str) -> None:
    assert actual.dtype == expected.dtype, f"{path}: dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{path}: shape {actual.shape} != {expected.shape}"
    if expected.dtype.names:
        for name in expected.dtype.names:
            _assert_same_array(np.asarray(actual[name]), np.asarray(expected[name]), f"{path}.{name}")
    elif expected.dtype.kind == "O":
        for index in np.ndindex(expected.shape):
            assert_same(actual[index], expected[index], f"{path}{list(index)}")
    else:
        np.testing.assert_array_equal(actual, expected, err_msg=path, strict=True)


def payload(blob: bytes) -> bytes:
    """The uncompressed blob."""
    return zlib.decompress(blob[14:]) if blob.startswith(ZLIB_PREFIX) else blob


def roundtrip(value: Any, **kwargs: Any) -> Any:
    return unpack(pack(value, **kwargs))


# ------------------------------------------------------------------ golden vectors

def case_id(case: dict) -> str:
    return case["expr"] if len(case["expr"]) <= 60 else case["expr"][:57] + "..."


GOOD = [pytest.param(c, id=case_id(c)) for c in CASES if "error" not in c]
BAD = [pytest.param(c, id=case_id(c)) for c in CASES if "error" in c]


def evaluate(case: dict) -> Any:
    return eval(case["expr"], dict(NAMES))  # trusted, checked-in test data


@needs_vectors
@pytest.mark.parametrize("case", GOOD)
def test_vector_pack_is_byte_identical(case: dict) -> None:
    assert pack(evaluate(case), compress=False).hex() == case["plain"]


@needs_vectors
@pytest.mark.parametrize("case", GOOD)
@pytest.mark.parametrize("form", ["plain", "compressed"])
def test_vector_unpack_matches_reference(case: dict, form: str) -> None:
    value = unpack(bytes.fromhex(case[form]))
    assert type(value).__name__ == case["unpacked_type"]
    reference, ours = case["unpacked_repr"], repr(value)
    assert ours == reference or (len(reference) == 300 and ours.startswith(reference))  # reference reprs are cut at 300
    assert_same(value, expected_of(evaluate(case)))


@needs_vectors
@pytest.mark.parametrize("case", GOOD)
def test_vector_compressed_pack(case: dict) -> None:
    ours, reference = pack(evaluate(case), compress=True), bytes.fromhex(case["compressed"])
    assert ours.startswith(ZLIB_PREFIX) == reference.startswith(ZLIB_PREFIX)  # same decision
    assert payload(ours) == payload(reference)
    assert_same(unpack(ours), expected_of(evaluate(case)))
    if ours != reference:  # deflate output may differ between zlib builds, the payload may not
        pytest.skip(f"zlib {zlib.ZLIB_RUNTIME_VERSION} deflates differently from the reference build")


@needs_vectors
@pytest.mark.parametrize("case", BAD)
def test_vector_errors_are_refused(case: dict) -> None:
    with pytest.raises(CodecError, match="cannot pack"):
        pack(evaluate(case))


def test_all_vector_cases_are_used() -> None:
    assert len(GOOD) + len(BAD) == len(CASES)


# ------------------------------------------------------------------ explicit types

NUMERIC = ["bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
           "float32", "float64", "complex64", "complex128"]


def sample_array(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    values = np.arange(math.prod(shape)).reshape(shape)
    if dtype.startswith("complex"):
        return (values + 1j * (values[::-1] if values.ndim else values) - 3).astype(dtype)
    if dtype == "bool":
        return values % 3 == 0
    return (values - (values.size // 2 if dtype[0] in "if" else 0)).astype(dtype)


@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("shape", [(0,), (7,), (3, 4), (2, 3, 4), (0, 3), (2, 0, 4), (1, 1)], ids=str)
def test_numeric_arrays(dtype: str, shape: tuple[int, ...]) -> None:
    arr = sample_array(dtype, shape)
    blob = pack(arr, compress=False)
    assert blob.startswith(b"mYm\0")  # MATLAB-readable
    assert_same(unpack(blob), arr)
    assert_same(unpack(pack(np.asfortranarray(arr))), arr)
    assert pack(np.asfortranarray(arr), compress=False) == blob


@pytest.mark.parametrize("dtype", NUMERIC)
def test_numeric_layouts_and_views(dtype: str) -> None:
    base = sample_array(dtype, (6, 8))
    for view in (base[::2, 1::3], base.T, base[:, ::-1], base[1], base[:, 2], base.reshape(4, 3, 4)[:, 1:, ::2]):
        assert_same(roundtrip(view), np.array(view))
    big_endian = base.astype(np.dtype(dtype).newbyteorder(">"))
    assert pack(big_endian) == pack(base)


@pytest.mark.parametrize("dtype", NUMERIC)
def test_numpy_scalars_and_0d_arrays(dtype: str) -> None:
    scalar = sample_array(dtype, (3,))[1]
    assert isinstance(scalar, np.generic)
    blob = pack(scalar, compress=False)
    assert blob.startswith(b"dj0\0")  # 0-d arrays are not MATLAB-readable
    assert_same(unpack(blob), scalar)
    assert pack(np.array(scalar)) == blob


def test_fortran_data_order() -> None:
    blob = pack(np.array([[1, 2, 3], [4, 5, 6]], dtype="int8"), compress=False)
    assert blob[-6:] == bytes([1, 4, 2, 5, 3, 6])
    complex_blob = pack(np.array([1 + 2j, 3 + 4j], dtype="complex64"), compress=False)
    assert np.frombuffer(complex_blob[-16:], "<f4").tolist() == [1, 3, 2, 4]  # real parts, then imaginary


def test_decoded_arrays_are_read_only_views_or_writable_copies() -> None:
    arr = np.arange(1000.0).reshape(20, 50)
    stored = pack(arr, compress=False)
    view = unpack(stored)  # DataJoint's arrays: read-only views of the stored bytes
    assert_same(view, arr)
    assert not view.flags.writeable and view.flags.f_contiguous
    with pytest.raises(ValueError, match="read-only"):
        view[0, 0] = -1.0
    blob = bytearray(stored)  # bytes the caller may change: never aliased
    out = unpack(blob)
    blob[-8:] = b"\0" * 8
    assert out[-1, -1] == 999.0 and not out.flags.writeable
    out = unpack(blob, writable=True)
    out[0, 0] = -1.0
    assert out.flags.writeable and out.flags.f_contiguous and out.flags.aligned
    assert out[-1, -1] == 0.0 and unpack(stored)[0, 0] == 0.0
    assert_same(unpack(memoryview(bytes(pack(arr)))), arr)


@pytest.mark.parametrize("unit", ["Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"])
def test_datetime64_arrays(unit: str) -> None:
    arr = np.array([[0, 1, 2], [-5, 10**6, 42]], dtype=f"datetime64[{unit}]")
    arr[0, 0] = np.datetime64("NaT")
    assert_same(roundtrip(arr), arr)
    assert_same(roundtrip(arr[0, 1]), arr[0, 1])
    swapped = arr.astype(arr.dtype.newbyteorder(">"))
    assert pack(swapped) == pack(arr) and pack(arr.T) == pack(np.ascontiguousarray(arr.T))


def test_unicode_and_object_arrays() -> None:
    words = np.array([["a", "bb", ""], ["ünï", "✓", "x" * 50]])
    assert_same(roundtrip(words), expected_of(words))
    assert roundtrip(np.array("solo")) == "solo"
    mixed = np.array([1, "a", None, [1, 2], {"k": (1,)}, np.arange(3), 2.5, b"x"], dtype=object)
    assert_same(roundtrip(mixed), mixed)
    assert_same(roundtrip(mixed.reshape(2, 4)), mixed.reshape(2, 4))


def test_structured_arrays() -> None:
    dtype = [("id", "<i4"), ("x", ">f8"), ("name", "U5"), ("when", "datetime64[s]"),
             ("vec", "f4", (3,)), ("flag", "?")]
    arr = np.zeros((2, 3), dtype=dtype)
    arr["id"] = np.arange(6).reshape(2, 3)
    arr["name"] = "ab"
    arr["vec"] = 1.5
    for value in (arr, arr[0], arr.view(np.recarray), np.rec.array(arr[:, ::2])):
        assert_same(roundtrip(value), expected_of(value))
    record = roundtrip(arr[0, 0])
    assert isinstance(record, np.record) and record["name"] == "ab"
    nested = np.zeros(2, dtype=[("inner", [("a", "i2"), ("b", "f4")]), ("c", "u1")])
    nested["inner"]["b"] = [1.5, 2.5]
    assert_same(roundtrip(nested), expected_of(nested))


PYTHON_VALUES = [
    None, True, False, 0, 1, -1, 127, 128, -128, -129, 255, 2**63, -(2**63) - 1, 10**400, -(10**400),
    0.0, -0.0, 1.5, float("nan"), float("inf"), -float("inf"), 1e-310, 1 + 2j, complex(float("nan"), 1),
    "", "hello", "ünïcödé ✓ 𝄞", "\0", b"", b"\x00\xff", bytearray(b"ba"),
    [], (), {}, set(), frozenset({1, 2}), [1, [2, [3, [4]]]], (1, ("a", None)), {1, "a", (2, 3)},
    {"a": 1, 2: "b", (1, 2): [3], None: {}}, {"nested": {"arr": np.eye(3), "list": [np.int8(4)]}},
    decimal.Decimal("3.14159"), decimal.Decimal("-0.00"), decimal.Decimal("1E+30"), decimal.Decimal("Infinity"),
    datetime.date(1, 1, 1), datetime.date(9999, 12, 31), datetime.datetime(2024, 2, 29, 0, 0),
    datetime.datetime(1970, 1, 1, 23, 59, 59, 999999), datetime.time(0, 0), datetime.time(12, 30, 1, 5),
    uuid.UUID(int=0), uuid.UUID("5f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"), np.str_("numpy str"),
    np.bytes_(b"numpy bytes"),
    np.datetime64("2024-01-01T12:00", "m"), np.array([1, 2]).view(np.matrix),
]


def _value_id(v: Any) -> str:
    """A stable test id (set reprs depend on hash randomization, which differs per worker)."""
    text = repr(sorted(map(repr, v))) if isinstance(v, (set, frozenset)) else repr(v)
    return f"{type(v).__name__}:{text}"[:50]


@pytest.mark.parametrize("value", PYTHON_VALUES, ids=_value_id)
def test_python_values(value: Any) -> None:
    assert_same(roundtrip(value), expected_of(value))
    assert_same(roundtrip(value, compress=True), expected_of(value))


def test_int_encoding_is_minimal_signed() -> None:
    assert pack(127, compress=False) == b"dj0\0\x0a\x01\x00\x7f"
    assert pack(128, compress=False) == b"dj0\0\x0a\x02\x00\x80\x00"
    assert pack(-(2**70), compress=False).hex().endswith("09000000000000000000c0")


def test_datetime_encoding() -> None:
    blob = pack(datetime.datetime(2024, 2, 29, 13, 45, 7, 123456), compress=False)
    assert struct.unpack("<iq", blob[5:]) == (20240229, 134507123456)
    assert struct.unpack("<iq", pack(datetime.date(2024, 2, 29))[5:]) == (20240229, -1)
    assert struct.unpack("<iq", pack(datetime.time(1, 2, 3))[5:]) == (-1, 10203000000)


def test_subclasses_use_their_base_encoding() -> None:
    class MyStr(str): ...

    class MyDict(dict): ...

    assert_same(roundtrip(MyStr("x")), "x")
    assert_same(roundtrip(MyDict(a=1)), {"a": 1})
    assert_same(roundtrip(np.float64(2.5)), np.float64(2.5))  # a float subclass, packed as a 0-d array


@pytest.mark.parametrize("value", [
    object(), np.array([b"ab"]), np.float16(1), np.zeros(3, "float16"), np.timedelta64(1, "s"),
    np.zeros(2, "datetime64[10s]"), np.zeros(2, "datetime64"), datetime.datetime.now(datetime.timezone.utc),
    datetime.time(1, tzinfo=datetime.timezone.utc), np.zeros(2, dtype=[]), "\ud800", 1 << (8 * 70000),
    {"f": lambda: 1}, Path("."),
], ids=lambda v: type(v).__name__)
def test_unsupported_values_raise_codec_error(value: Any) -> None:
    with pytest.raises(CodecError, match="cannot pack"):
        pack(value)


def test_nesting_limits() -> None:
    deep: list = []
    for _ in range(95):
        deep = [deep]
    assert_same(roundtrip(deep), deep)
    for _ in range(10):
        deep = [deep]
    with pytest.raises(CodecError, match="nesting deeper"):
        pack(deep)
    loop: list = []
    loop.append(loop)
    with pytest.raises(CodecError, match="nesting deeper"):
        pack(loop)


def test_headers_follow_matlab_compatibility() -> None:
    assert pack(np.zeros(3))[:4] == b"mYm\0"
    assert pack(np.zeros(3, bool))[:4] == b"mYm\0"
    for value in (np.float64(1), [np.zeros(3)], np.array(["a"]), np.zeros(2, "datetime64[D]"), {"a": 1}):
        assert pack(value)[:4] == b"dj0\0"


def test_protocol_argument() -> None:
    assert pack(np.eye(2), protocol="mYm") == pack(np.eye(2), protocol="dj0")
    with pytest.raises(CodecError, match="not MATLAB-readable"):
        pack({"a": 1}, protocol="mYm")
    with pytest.raises(ValueError, match="unknown blob protocol"):
        pack(1, protocol="v2")  # type: ignore[arg-type]


# ------------------------------------------------------------------ compression

def test_auto_compression_decides_from_a_sample() -> None:
    random_floats = np.random.default_rng(1).standard_normal(200_000)
    assert not pack(random_floats).startswith(ZLIB_PREFIX)
    zeros = np.zeros(200_000)
    assert pack(zeros).startswith(ZLIB_PREFIX)
    assert_same(unpack(pack(zeros)), zeros)
    assert not pack(np.zeros(100)).startswith(ZLIB_PREFIX)  # 800 bytes: below the minimum size
    assert not pack(zeros, compress=False).startswith(ZLIB_PREFIX)
    never = CompressionPolicy(max_ratio=0.0)
    assert not pack(zeros, compress=never).startswith(ZLIB_PREFIX)
    with pytest.raises(ValueError, match="compress must be"):
        pack(zeros, compress="always")  # type: ignore[arg-type]


def test_auto_compression_is_fast_on_incompressible_data() -> None:
    noise = np.random.default_rng(2).random(2_000_000)  # 16 MB
    start = time.perf_counter()
    blob = pack(noise)
    assert time.perf_counter() - start < 1.0
    assert not blob.startswith(ZLIB_PREFIX)


def test_forced_compression_keeps_only_smaller_results() -> None:
    assert pack("x" * 3000, compress=True).startswith(ZLIB_PREFIX)
    # DataJoint (checked with 0.14.10): serialized blobs over 1000 bytes are compressed
    assert len(pack(np.zeros(971, np.uint8), compress=False)) == 1000
    assert not pack(np.zeros(971, np.uint8), compress=True).startswith(ZLIB_PREFIX)
    assert pack(np.zeros(972, np.uint8), compress=True).startswith(ZLIB_PREFIX)
    noise = np.random.default_rng(3).bytes(5000)
    assert not pack(noise, compress=True).startswith(ZLIB_PREFIX)


# ------------------------------------------------------------------ MATLAB (mym) blobs

def mx_array(values: Any, cls: int, dtype: str) -> bytes:
    """An 'A' element as mym writes it: ndim, dims, class, complexity, Fortran-order data."""
    arr = np.atleast_2d(np.asarray(values, dtype=dtype))
    dims = b"".join(U64(d) for d in arr.shape)
    return b"A" + U64(arr.ndim) + dims + U32(cls) + U32(0) + arr.tobytes(order="F")


def mx_char(text: str) -> bytes:
    units = np.frombuffer(text.encode("utf-16-le"), "<u2")
    return mx_array(units.reshape(1, -1), 4, "<u2")


def mx_cell(shape: tuple[int, ...], elements: list[bytes]) -> bytes:
    dims = b"".join(U64(d) for d in shape)
    return b"C" + U64(len(shape)) + dims + b"".join(U64(len(e)) + e for e in elements)


def mx_struct(shape: tuple[int, ...], names: list[str], elements: list[list[bytes]]) -> bytes:
    dims = b"".join(U64(d) for d in shape)
    head = b"S" + U64(len(shape)) + dims + I32(len(names)) + b"".join(n.encode() + b"\0" for n in names)
    return head + b"".join(U64(len(v)) + v for element in elements for v in element)


def test_matlab_numeric_and_char() -> None:
    assert_same(unpack(b"mYm\0" + mx_array([[1.0, 2.0, 3.0]], 6, "<f8")), np.array([[1.0, 2.0, 3.0]]))
    assert_same(unpack(b"mYm\0" + mx_array([[1.0, 2.0, 3.0]], 6, "<f8"), squeeze=True), np.array([1.0, 2.0, 3.0]))
    assert_same(unpack(b"mYm\0" + mx_array(7, 9, "u1"), squeeze=True), np.uint8(7))
    assert unpack(b"mYm\0" + mx_char("hello ✓ 𝄞")) == "hello ✓ 𝄞"
    assert unpack(b"mYm\0" + mx_char("")) == ""
    matrix = b"mYm\0A" + U64(2) + U64(2) + U64(2) + U32(4) + U32(0) + "acbd".encode("utf-16-le")
    assert unpack(matrix).tolist() == [["a", "b"], ["c", "d"]]


def test_matlab_cell() -> None:
    blob = b"mYm\0" + mx_cell((1, 3), [mx_array(1, 6, "<f8"), mx_char("two"), mx_cell((0, 0), [])])
    cell = unpack(blob)
    assert type(cell) is MatCell and cell.shape == (1, 3) and cell.dtype == object
    assert cell[0, 0].shape == (1, 1) and cell[0, 1] == "two" and cell[0, 2].shape == (0, 0)
    squeezed = unpack(blob, squeeze=True)
    assert squeezed.shape == (3,) and squeezed[0] == 1.0
    fortran = unpack(b"mYm\0" + mx_cell((2, 2), [mx_char(c) for c in "acbd"]))
    assert fortran.tolist() == [["a", "b"], ["c", "d"]]
    compressed_raw = b"mYm\0" + mx_cell((1, 200), [mx_char("same")] * 200)
    compressed = ZLIB_PREFIX + U64(len(compressed_raw)) + zlib.compress(compressed_raw)
    assert unpack(compressed).shape == (1, 200)


def test_matlab_struct() -> None:
    elements = [[mx_array(1, 6, "<f8"), mx_char("first")], [mx_array([[1, 2]], 12, "<i4"), mx_char("second")]]
    blob = b"mYm\0" + mx_struct((1, 2), ["value", "name"], elements)
    s = unpack(blob)
    assert type(s) is MatStruct and s.shape == (1, 2) and s.dtype.names == ("value", "name")
    assert s[0, 1]["name"] == "second" and s.name[0, 0] == "first"
    assert_same(s[0, 1]["value"], np.array([[1, 2]], dtype="int32"))
    squeezed = unpack(blob, squeeze=True)
    assert squeezed.shape == (2,) and squeezed[0]["value"] == 1.0
    scalar = unpack(b"mYm\0" + mx_struct((1, 1), ["a"], [[mx_array(5, 6, "<f8")]]), squeeze=True)
    assert isinstance(scalar, np.record) and scalar["a"] == 5.0
    nested = b"mYm\0" + mx_struct((1, 1), ["inner", "c"], [[mx_struct((1, 1), ["x"], [[mx_char("deep")]]),
                                                            mx_cell((1, 1), [mx_char("in cell")])]])
    value = unpack(nested)
    assert value[0, 0]["inner"][0, 0]["x"] == "deep" and value[0, 0]["c"][0, 0] == "in cell"
    assert unpack(b"mYm\0" + mx_struct((0, 0), ["a", "b"], [])).shape == (0, 0)


def test_matlab_cells_and_structs_round_trip() -> None:
    cell = np.empty((2, 2), dtype=object).view(MatCell)
    cell[:] = [[np.eye(2), np.zeros(3)], [np.arange(4.0), np.ones((1, 1))]]
    blob = pack(cell)
    assert blob[:5] == b"mYm\0C"  # all MATLAB-readable
    assert_same(unpack(blob), cell)
    s = np.recarray((1, 2), dtype=[("a", object), ("b", object)]).view(MatStruct)
    s[0, 0]["a"], s[0, 0]["b"], s[0, 1]["a"], s[0, 1]["b"] = np.eye(2), cell, np.zeros(1), np.ones(2)
    blob = pack(s)
    assert blob[:5] == b"mYm\0S"
    assert_same(unpack(blob), s)
    s[0, 0]["b"] = "text"  # str is a dj0 type
    assert pack(s)[:4] == b"dj0\0"


def test_matlab_sparse_is_reported_as_unsupported() -> None:
    sparse = b"mYm\0P" + U64(2) + U64(2) + U64(1) + U32(6) + U32(0) + U64(0) * 3 + U64(0) + b"\0" * 8
    with pytest.raises(BlobError, match="sparse"):
        unpack(sparse)


# ------------------------------------------------------------------ property tests

def _object_array(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(), st.complex_numbers(allow_nan=False), st.text(max_size=20), st.binary(max_size=20),
    st.decimals(allow_nan=False), st.dates(), st.datetimes(), st.times(), st.uuids(),
    hnp.arrays(st.sampled_from(NUMERIC), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)),
    hnp.arrays(st.sampled_from(["datetime64[s]", "datetime64[D]", "U3"]),
               hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=3)),
    hnp.from_dtype(np.dtype("int16")), hnp.from_dtype(np.dtype("float32")),
)
KEYS = st.one_of(st.text(max_size=5), st.integers(), st.tuples(st.integers(), st.text(max_size=2)))
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.lists(children, max_size=4).map(tuple),
        st.dictionaries(KEYS, children, max_size=4), st.sets(KEYS, max_size=4),
        st.lists(children, min_size=1, max_size=4).map(_object_array),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES, st.sampled_from([False, True, "auto"]))
def test_property_round_trip(value: Any, compress: Any) -> None:
    assert_same(unpack(pack(value, compress=compress)), expected_of(value))


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(st.sampled_from(NUMERIC), hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)))
def test_property_arrays_match_fortran_layout(arr: np.ndarray) -> None:
    blob = pack(arr, compress=False)
    assert pack(np.asfortranarray(arr), compress=False) == blob == pack(arr.copy(order="C"), compress=False)
    assert_same(unpack(blob), arr)


# ------------------------------------------------------------------ fuzzing and safety

def fuzz_corpus() -> list[bytes]:
    cell = np.empty((1, 2), dtype=object).view(MatCell)
    cell[0, 0], cell[0, 1] = np.eye(2), np.zeros(1)
    values = [v for v in PYTHON_VALUES if not isinstance(v, np.matrix)] + [
        np.arange(12.0).reshape(3, 4), np.array([1 + 2j, 3 - 4j]), np.array(["ab", "c"]),
        np.zeros(3, "datetime64[ms]"), np.rec.array([(1, 2.0, "x")], dtype=[("a", "i4"), ("b", "f8"), ("c", "U2")]),
        cell, {"k": [1, (2, {3})], "z": np.zeros((40, 40))}, "x" * 3000,
    ]
    corpus = [pack(v, compress=False) for v in values] + [pack(v, compress=True) for v in values[-3:]]
    corpus += [bytes.fromhex(c[k]) for c in CASES if "error" not in c for k in ("plain", "compressed")]
    corpus.append(b"mYm\0" + mx_struct((1, 2), ["a", "b"], [[mx_char("x"), mx_array(1, 6, "<f8")]] * 2))
    return corpus


def unpack_safely(data: bytes) -> None:
    """unpack may return a value or raise BlobError, nothing else, and must be quick."""
    start = time.perf_counter()
    try:
        unpack(data)
    except BlobError as exc:
        assert str(exc)
    assert time.perf_counter() - start < 2.0, f"unpack took too long on {data[:60].hex()}"


def mutate(rng: random.Random, blob: bytes) -> bytes:
    data = bytearray(blob)
    choice = rng.randrange(6)
    if choice == 0:                              # truncate
        return bytes(data[:rng.randrange(len(data))])
    if choice == 1:                              # flip a few bytes
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif choice == 2:                            # plant a huge 64-bit length or count
        at = rng.randrange(max(1, len(data) - 8))
        data[at:at + 8] = U64(rng.choice([2**64 - 1, 2**63, 10**15, 2**32, len(data) + 1]))
    elif choice == 3:                            # insert junk
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.randbytes(rng.randint(1, 9))
    elif choice == 4:                            # delete a slice
        at = rng.randrange(len(data))
        del data[at:at + rng.randint(1, 9)]
    else:                                        # change a type code or class id byte
        at = rng.randrange(4, max(5, len(data)))
        data[at:at + 1] = bytes([rng.choice(b"\x01\x02\x03\x04\x05\x06\x0a\x0b\x0c\x0d\xffAFSCPdtu")])
    return bytes(data)


def test_fuzz_mutated_blobs() -> None:
    rng = random.Random(20240229)
    corpus = fuzz_corpus()
    for _ in range(6000):
        blob = rng.choice(corpus)
        for _ in range(rng.randint(1, 3)):
            blob = mutate(rng, blob) if blob else blob
        unpack_safely(blob)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([b"mYm\0", b"dj0\0"]), st.binary(max_size=200))
def test_fuzz_random_bytes(header: bytes, body: bytes) -> None:
    unpack_safely(header + body)
    unpack_safely(body)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(b"\x01\x02\x03\x04\x05\x06\x0a\x0b\x0c\x0d\xffAFSCPdtu"), st.binary(max_size=120))
def test_fuzz_each_type_code(code: int, body: bytes) -> None:
    unpack_safely(b"dj0\0" + bytes([code]) + body)


def test_empty_and_non_blob_input() -> None:
    for data in (b"", b"dj0", b"xyz\0\xff", b"dj0\0", b"ZL123\0", b"ZL123\0" + U64(5)):
        with pytest.raises(BlobError):
            unpack(data)
    with pytest.raises(BlobError, match="trailing"):
        unpack(b"dj0\0\xff\xff")


def test_truncation_message_names_the_problem() -> None:
    blob = b"mYm\0A" + U64(1) + U64(100) + U32(6) + U32(0) + b"\0" * 12
    with pytest.raises(BlobError, match=r"truncated blob: need 800 bytes for float64 array data at offset 29, have 12"):
        unpack(blob)


def assert_fails_fast(blob: bytes, match: str) -> None:
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(BlobError, match=match):
            unpack(blob)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 0.5
    assert peak < 4 << 20, f"allocated {peak} bytes before failing"


@pytest.mark.parametrize("blob, match", [
    (b"mYm\0A" + U64(1) + U64(10**15) + U32(6) + U32(0) + b"\0" * 16, "truncated"),
    (b"mYm\0A" + U64(3) + U64(10**5) * 3 + U32(5) + U32(0) + b"\0" * 16, "declares 1000000000000000"),
    (b"mYm\0A" + U64(2) + U64(2**40) * 2 + U32(6) + U32(0), "impossibly large"),
    (b"mYm\0A" + U64(10**9) + U64(1), "dimensions"),
    (b"mYm\0C" + U64(2) + U64(10**7) * 2 + U64(9), "declares 100000000000000"),
    (b"mYm\0S" + U64(1) + U64(10**12) + I32(0), "without fields"),
    (b"mYm\0S" + U64(1) + U64(10**6) + I32(2) + b"a\0b\0", "declares 2000000"),
    (b"dj0\0\x02" + U64(2**63) + U64(1) + b"\xff", "list items"),
    (b"dj0\0\x04" + U64(10**12), "dict entries"),
    (b"dj0\0\x05" + U64(2**64 - 1) + b"abc", "truncated"),
    (b"dj0\0\x02" + U64(1) + U64(2**60) + b"\xff", "declares"),
    (b"dj0\0F" + U32(2**31) + b"a\0", "recarray fields"),
])
def test_hostile_headers_fail_before_allocating(blob: bytes, match: str) -> None:
    assert_fails_fast(blob, match)


def test_zlib_bomb_fails_fast() -> None:
    body = zlib.compress(b"dj0\0\x06" + U64(200_000_000) + b"\0" * 200_000_000, 9)
    assert_fails_fast(ZLIB_PREFIX + U64(1000) + body, "inflates to more")
    assert_fails_fast(ZLIB_PREFIX + U64(10**12) + body[:1000], "maximum ratio")
    truncated = zlib.compress(b"dj0\0" + b"\xff")
    with pytest.raises(BlobError, match="ends after"):
        unpack(ZLIB_PREFIX + U64(5) + truncated[:-3])
    with pytest.raises(BlobError, match="corrupt zlib"):
        unpack(ZLIB_PREFIX + U64(5) + b"not zlib at all")
    with pytest.raises(BlobError, match="after the zlib stream"):
        unpack(ZLIB_PREFIX + U64(5) + truncated + b"junk")


def test_deep_nesting_is_refused() -> None:
    depth = 10_000
    sizes = [1]
    for _ in range(depth - 1):
        sizes.append(sizes[-1] + 17)
    levels = [b"\x02" + U64(1) + U64(size) for size in reversed(sizes)]
    blob = b"dj0\0" + b"".join(levels) + b"\xff"
    with pytest.raises(BlobError, match="deeper than"):
        unpack(blob)


def test_item_lengths_must_match_their_values() -> None:
    good = pack([1], compress=False)
    bad = good[:13] + U64(5) + good[21:] + b"\0"
    with pytest.raises(BlobError, match="declares 5 bytes but uses 4"):
        unpack(bad)


@pytest.mark.parametrize("blob, match", [
    (b"dj0\0t" + I32(-1) + struct.pack("<q", -1), "neither date nor time"),
    (b"dj0\0t" + I32(20241399) + struct.pack("<q", -1), "invalid datetime"),
    (b"dj0\0t" + I32(-1) + struct.pack("<q", 256000000000), "invalid datetime"),
    (b"dj0\0d" + U64(3) + b"abc", "invalid Decimal"),
    (b"dj0\0\x05" + U64(2) + b"\xff\xfe", "not valid UTF-8"),
    (b"dj0\0\x03" + U64(1) + U64(13) + b"\x02" + U64(0) + b"\0" * 4, "declares 13 bytes"),
    (b"dj0\0\x03" + U64(1) + U64(9) + b"\x02" + U64(0), "unhashable"),
    (b"dj0\0\x04" + U64(1) + U64(9) + b"\x02" + U64(0) + U64(1) + b"\xff", "unhashable"),
    (b"dj0\0A" + U64(1) + U64(1) + U32(99) + U32(0) + b"\0" * 8, "unsupported array class 99"),
    (b"dj0\0A" + U64(1) + U64(1) + U32(12) + U32(1) + b"\0" * 8, "complexity"),
    (b"dj0\0F" + U32(1) + b"abc", "unterminated"),
    (b"dj0\0F" + U32(2) + b"a\0a\0" + pack(np.zeros(1))[4:] * 2, "invalid record array"),
    (b"dj0\0F" + U32(2) + b"a\0b\0" + pack(np.zeros(1))[4:] + pack(np.zeros(2))[4:], "mismatched shapes"),
    (b"dj0\0F" + U32(0), "without fields"),
    (b"dj0\0\x42", "unknown type code 0x42"),
])
def test_malformed_values(blob: bytes, match: str) -> None:
    with pytest.raises(BlobError, match=match):
        unpack(blob)


@pytest.mark.parametrize("make", [
    lambda: np.arange(300_000, dtype=np.float64),
    lambda: np.arange(600_000, dtype=np.float32).reshape(600, 1000),
    lambda: np.asfortranarray(np.arange(300_000, dtype=np.int64).reshape(300, 1000)),
    lambda: (np.arange(400_000) * (1 + 2j)).astype(np.complex128).reshape(400, 1000)[::2, ::3],
    lambda: np.arange(2_000_000, dtype=np.uint8).reshape(100, 200, 100).transpose(2, 0, 1),
    lambda: {"a": np.ones((700, 300)), "b": [np.zeros(200_000, dtype=np.int16), "x"]},
], ids=["1d", "2d-C", "2d-F", "complex-view", "3d-transposed", "nested"])
def test_pack_buffer_matches_pack(make):
    value = make()
    buffered = pack_buffer(value, compress=False)
    assert isinstance(buffered, memoryview) and buffered.readonly
    assert bytes(buffered) == pack(value, compress=False)
    again = unpack(buffered)
    if isinstance(value, np.ndarray):
        assert again.dtype == value.dtype and np.array_equal(again, value)
    assert pack_buffer(np.zeros(1_000_000), compress="auto")[:6] == b"ZL123\0"
