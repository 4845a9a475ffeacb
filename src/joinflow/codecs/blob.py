"""DataJoint-compatible blob serialization (the ``mYm`` / ``dj0`` wire format).

Layout (all integers little-endian)::

    blob        := [ "ZL123\\0" u64:raw_length zlib(raw) ] | raw
    raw         := header value
    header      := "mYm\\0"   value is MATLAB-readable (numeric arrays, cells, structs)
                 | "dj0\\0"   value uses Python-only codes (DataJoint >= 0.12)
    value       := u8:code payload
    item        := u64:byte_length value            (length-prefixed value)

    code  payload
    0x01  tuple     u64:n item*n
    0x02  list      u64:n item*n
    0x03  set       u64:n item*n
    0x04  dict      u64:n (item:key item:value)*n
    0x05  str       u64:n utf-8 bytes
    0x06  bytes     u64:n bytes
    0x0a  int       u16:n n bytes, two's complement
    0x0b  bool      u8
    0x0c  complex   f64:real f64:imag
    0x0d  float     f64
    0xff  None
    'A'   ndarray   u64:ndim u64*ndim:shape u32:class u32:is_complex data
                    numeric classes (MATLAB mxClassID): 3 bool, 4 char (UTF-16 units),
                    6 float64, 7 float32, 8/9 int8/uint8, 10/11 int16/uint16, 12/13
                    int32/uint32, 14/15 int64/uint64; data in Fortran (column-major)
                    order, complex arrays store all real parts then all imaginary parts.
                    Class 5: elements are items, Fortran order (object and str arrays).
                    Class 0x10000+k: datetime64 with unit ("Y","M","W","D","h","m","s",
                    "ms","us","ns","ps","fs","as")[k], int64 data.
                    ndim 0 (numpy scalars) is a dj0 feature; MATLAB never writes it.
    'F'   recarray  u32:nfields (name "\\0")*nfields value*nfields  (one array per field)
    'S'   struct    u64:ndim u64*ndim:shape i32:nfields (name "\\0")*nfields
                    (item per field, per element in Fortran order)       [MATLAB]
    'C'   cell      u64:ndim u64*ndim:shape item per element, Fortran order [MATLAB]
    'P'   sparse    MATLAB sparse matrix: recognised, not supported
    'd'   Decimal   u64:n str(value) as utf-8
    't'   datetime  i32:yyyymmdd (-1: no date) i64:hhmmssuuuuuu (-1: no time)
    'u'   UUID      16 bytes

Decoded numeric arrays are single, writable, Fortran-ordered copies, independent of
the input buffer.  0-d arrays decode to numpy scalars; ``str`` and ``U`` arrays decode
as object arrays, as DataJoint does.  MATLAB cells and structs decode to `MatCell` and
`MatStruct`, which are written back as cells and structs.  Nothing here uses pickle;
every length, count and shape is checked against the bytes that remain before anything
is allocated, so malformed input raises `BlobError` quickly.
"""
from __future__ import annotations

import datetime as dt
import math
import struct
import sys
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Final, Literal, NoReturn

import numpy as np

from joinflow.errors import BlobError, CodecError

__all__ = ["CompressionPolicy", "MatCell", "MatStruct", "pack", "unpack"]

MYM: Final = b"mYm\0"
DJ0: Final = b"dj0\0"
ZLIB_PREFIX: Final = b"ZL123\0"
MAX_DEPTH: Final = 100       # nesting limit, for pack and unpack alike
MAX_NDIM: Final = 64         # numpy's own limit
_MAX_ELEMENTS: Final = 1 << 56  # product of non-zero dims; numpy needs it * itemsize < 2**63
_MAX_INFLATE_RATIO: Final = 1100  # deflate cannot expand more than ~1032:1
MIN_COMPRESS: Final = 1024   # "auto" never compresses blobs of this size or less
FORCED_COMPRESS_OVER: Final = 1000  # compress=True: DataJoint compresses blobs over 1000 bytes

_U16, _U32, _I32 = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<i")
_U64, _F64 = struct.Struct("<Q"), struct.Struct("<d")
_C128 = struct.Struct("<dd")
_DATETIME = struct.Struct("<iq")
_CLASS_AND_COMPLEXITY = struct.Struct("<II")
_SHAPES: Final = [struct.Struct(f"<{n}Q") for n in range(MAX_NDIM + 1)]
_LITTLE_ENDIAN: Final = "<=|" if sys.byteorder == "little" else "<|"


class Code:
    """One-byte type codes."""

    TUPLE, LIST, SET, DICT, STR, BYTES = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
    INT, BOOL, COMPLEX, FLOAT, NONE = 0x0A, 0x0B, 0x0C, 0x0D, 0xFF
    ARRAY, RECARRAY, STRUCT, CELL, SPARSE = 0x41, 0x46, 0x53, 0x43, 0x50
    DECIMAL, DATETIME, UUID = 0x64, 0x74, 0x75


_MATLAB_CODES: Final = frozenset({Code.ARRAY, Code.STRUCT, Code.CELL, Code.SPARSE})

# MATLAB mxClassID <-> numpy dtype
_CLASS_OF: Final[dict[np.dtype, int]] = {
    np.dtype(t): c for t, c in [
        ("bool", 3), ("float64", 6), ("float32", 7), ("int8", 8), ("uint8", 9),
        ("int16", 10), ("uint16", 11), ("int32", 12), ("uint32", 13),
        ("int64", 14), ("uint64", 15)]
}
_DTYPE_OF: Final[dict[int, np.dtype]] = {c: t for t, c in _CLASS_OF.items()}
_COMPLEX_OF: Final[dict[np.dtype, np.dtype]] = {np.dtype("float32"): np.dtype("complex64"),
                      np.dtype("float64"): np.dtype("complex128")}
_CHAR_CLASS, _OBJECT_CLASS, _DATETIME_CLASS = 4, 5, 0x10000
_DATETIME_UNITS: Final = ("Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as")


class MatCell(np.ndarray):
    """An object array that is a MATLAB cell array (packed with code 'C')."""


class MatStruct(np.recarray):
    """A record array that is a MATLAB struct array (packed with code 'S')."""


@dataclass(frozen=True)
class CompressionPolicy:
    """When ``compress="auto"`` compresses: only if a zlib sample shrinks enough."""

    min_size: int = MIN_COMPRESS  #: never compress blobs of this size or less
    sample_size: int = 24 * 1024  #: at most this many bytes are compressed to estimate the ratio
    sample_share: int = 16        #: ... and at most 1/sample_share of the blob (>= 4 KB)
    max_ratio: float = 0.85       #: compress only if the sample shrinks below this
    level: int = 1                #: zlib level for automatic compression

    def worth_it(self, raw: bytes | memoryview) -> bool:
        """Whether compressing ``raw`` is likely to pay off (judged on a small sample, so
        the decision costs a few percent of compressing the whole blob)."""
        if len(raw) <= self.min_size:
            return False
        size = min(self.sample_size, max(4096, len(raw) // self.sample_share))
        sample = _sample(memoryview(raw), size)
        return len(zlib.compress(sample, self.level)) < self.max_ratio * len(sample)


def _sample(raw: memoryview, size: int) -> bytes:
    """Up to ``size`` bytes taken from the start, middle and end of ``raw``."""
    if len(raw) <= 2 * size:
        return bytes(raw)
    third = size // 3
    mid = len(raw) // 2
    return b"".join((raw[:third], raw[mid:mid + third], raw[-third:]))


AUTO: Final = CompressionPolicy()


# --------------------------------------------------------------------------- pack

def pack(obj: Any, *, compress: bool | Literal["auto"] | CompressionPolicy = "auto",
         protocol: Literal["dj0", "mYm"] = "dj0") -> bytes:
    """Serialize ``obj`` into a DataJoint blob.

    ``compress``: ``True`` zlib-compresses blobs over 1000 bytes (level 6, kept only if
    smaller: DataJoint's rule), ``False`` never, ``"auto"`` (or a `CompressionPolicy`)
    only when a sample shows it pays.  ``protocol="dj0"`` writes the ``mYm`` header when the value
    is MATLAB-readable and ``dj0`` otherwise, exactly as DataJoint; ``"mYm"`` insists on
    a MATLAB-readable value and raises `CodecError` if it is not.
    """
    parts = [c.materialize() if type(c) is _FortranChunk else c for c in _serialize(obj, protocol)]
    return _maybe_compress(b"".join(parts), compress)


def _serialize(obj: Any, protocol: str) -> list[Any]:
    """The header and the chunks of one blob (bytes, byte memoryviews or `_FortranChunk`)."""
    if protocol not in ("dj0", "mYm"):
        raise ValueError(f"unknown blob protocol {protocol!r}; use 'dj0' or 'mYm'")
    writer = _Writer()
    try:
        writer.value(obj)
    except RecursionError:
        raise CodecError("cannot pack: nesting too deep for the Python stack") from None
    if protocol == "mYm" and writer.dj0_reason:
        raise CodecError(f"value is not MATLAB-readable ({writer.dj0_reason}); use protocol='dj0'")
    return [DJ0 if writer.dj0_reason else MYM, *writer.chunks]


#: above this size `pack_buffer` assembles the blob in a numpy buffer instead of ``bytes``
BUFFER_THRESHOLD: Final = 1 << 20


def pack_buffer(obj: Any, *, compress: bool | Literal["auto"] | CompressionPolicy = "auto",
                protocol: Literal["dj0", "mYm"] = "dj0") -> bytes | memoryview:
    """Like `pack`, but a large uncompressed blob comes back as a read-only ``memoryview`` of a
    numpy buffer: big ``bytes`` objects are allocated on small pages and cost several times a
    memory copy in page faults, numpy buffers use huge pages. Database drivers bind either."""
    parts = _serialize(obj, protocol)
    sizes = [c.nbytes if type(c) is _FortranChunk else memoryview(c).nbytes for c in parts]
    total = sum(sizes)
    if total < BUFFER_THRESHOLD:
        parts = [c.materialize() if type(c) is _FortranChunk else c for c in parts]
        return _maybe_compress(b"".join(parts), compress)
    buf = np.empty(total, dtype=np.uint8)
    pos = 0
    for chunk, size in zip(parts, sizes):
        if type(chunk) is _FortranChunk:
            chunk.write_into(buf[pos:pos + size])
        else:
            buf[pos:pos + size] = np.frombuffer(chunk, dtype=np.uint8, count=size)
        pos += size
    raw = buf.data.toreadonly()  # memoryview(buf): numpy types ndarray as a Buffer only on 3.12+
    if _compression_level(raw, compress) is None:
        return raw
    return _maybe_compress(bytes(raw), compress)


def _maybe_compress(raw: bytes, compress: bool | str | CompressionPolicy) -> bytes:
    """``raw`` framed as ``ZL123`` + length + zlib data, if asked for and smaller."""
    level = _compression_level(raw, compress)
    if level is None:
        return raw
    packed = b"".join((ZLIB_PREFIX, _U64.pack(len(raw)), zlib.compress(raw, level)))
    return packed if len(packed) < len(raw) else raw


def _compression_level(raw: bytes | memoryview, compress: bool | str | CompressionPolicy) -> int | None:
    """The zlib level to try on ``raw``, or None to store it as it is."""
    if compress is True:
        return zlib.Z_DEFAULT_COMPRESSION if len(raw) > FORCED_COMPRESS_OVER else None
    if compress is False:
        return None
    if compress == "auto":
        policy = AUTO
    elif isinstance(compress, CompressionPolicy):
        policy = compress
    else:
        raise ValueError(f"compress must be True, False, 'auto' or a CompressionPolicy, not {compress!r}")
    return policy.level if policy.worth_it(raw) else None


Encoder = Callable[["_Writer", Any], None]
_BYTE: Final = [bytes((i,)) for i in range(256)]


class _Writer:
    """Collects the chunks of one blob and counts their bytes."""

    __slots__ = ("chunks", "depth", "dj0_reason", "size")

    def __init__(self) -> None:
        self.chunks: list[bytes | memoryview | _FortranChunk] = []  # memoryviews of format "B"
        self.dj0_reason = ""   # why the value needs the dj0 header, "" if it does not
        self.depth = 0
        self.size = 0

    def value(self, obj: Any) -> None:
        """Append one typed value."""
        (_ENCODERS.get(type(obj)) or _find_encoder(obj))(self, obj)

    def item(self, obj: Any) -> None:
        """Append a value preceded by its length: the way containers nest values."""
        if self.depth >= MAX_DEPTH:
            raise CodecError(f"cannot pack: nesting deeper than {MAX_DEPTH} levels")
        slot, start = len(self.chunks), self.size
        self.chunks.append(b"")
        self.depth += 1
        self.value(obj)
        self.depth -= 1  # not restored on errors: a failed pack drops the writer
        self.chunks[slot] = _U64.pack(self.size - start)
        self.size += 8

    def put(self, code: int, *parts: bytes | memoryview | _FortranChunk) -> None:
        """Append a type code and payload parts."""
        if code not in _MATLAB_CODES and not self.dj0_reason:
            self.dj0_reason = f"type code {code:#04x}"
        self.chunks.append(_BYTE[code])
        self.chunks.extend(parts)
        self.size += 1 + sum(map(len, parts))

    def items(self, code: int, values: Iterable[Any], count: int, head: bytes | None = None) -> None:
        """Append a code, a head (the count by default) and length-prefixed values."""
        self.put(code, _U64.pack(count) if head is None else head)
        for value in values:
            self.item(value)


def _find_encoder(obj: Any) -> Encoder:
    for base, encoder in _SUBCLASS_ENCODERS:
        if isinstance(obj, base):
            _ENCODERS[type(obj)] = encoder
            return encoder
    raise CodecError(f"cannot pack a value of type {type(obj).__module__}.{type(obj).__qualname__}")


def _enc_none(w: _Writer, obj: None) -> None:
    w.put(Code.NONE)


def _enc_bool(w: _Writer, obj: bool) -> None:
    w.put(Code.BOOL, b"\x01" if obj else b"\x00")


def _enc_int(w: _Writer, obj: int) -> None:
    n = (int(obj).bit_length() + 8) // 8
    if n > 0xFFFF:
        raise CodecError(f"cannot pack an int of {n} bytes (limit 65535)")
    w.put(Code.INT, _U16.pack(n), int(obj).to_bytes(n, "little", signed=True))


def _enc_float(w: _Writer, obj: float) -> None:
    w.put(Code.FLOAT, _F64.pack(obj))


def _enc_complex(w: _Writer, obj: complex) -> None:
    w.put(Code.COMPLEX, _C128.pack(obj.real, obj.imag))


def _enc_str(w: _Writer, obj: str) -> None:
    try:
        data = str.encode(obj, "utf-8")
    except UnicodeEncodeError as exc:
        raise CodecError(f"cannot pack a str that is not valid Unicode: {exc.reason}") from None
    w.put(Code.STR, _U64.pack(len(data)), data)


def _enc_bytes(w: _Writer, obj: bytes | bytearray | memoryview) -> None:
    data = bytes(obj)  # no copy for bytes
    w.put(Code.BYTES, _U64.pack(len(data)), data)


def _enc_decimal(w: _Writer, obj: Decimal) -> None:
    data = str(obj).encode()
    w.put(Code.DECIMAL, _U64.pack(len(data)), data)


def _enc_uuid(w: _Writer, obj: uuid.UUID) -> None:
    w.put(Code.UUID, obj.bytes)


def _date_int(d: dt.date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _time_int(t: dt.time | dt.datetime) -> int:
    if t.tzinfo is not None:
        raise CodecError(f"cannot pack timezone-aware {type(t).__name__} {t!r}; convert to naive first")
    return ((t.hour * 100 + t.minute) * 100 + t.second) * 1_000_000 + t.microsecond


def _enc_datetime(w: _Writer, obj: dt.datetime) -> None:
    w.put(Code.DATETIME, _DATETIME.pack(_date_int(obj), _time_int(obj)))


def _enc_date(w: _Writer, obj: dt.date) -> None:
    w.put(Code.DATETIME, _DATETIME.pack(_date_int(obj), -1))


def _enc_time(w: _Writer, obj: dt.time) -> None:
    w.put(Code.DATETIME, _DATETIME.pack(-1, _time_int(obj)))


def _enc_tuple(w: _Writer, obj: tuple) -> None:
    w.items(Code.TUPLE, obj, len(obj))


def _enc_list(w: _Writer, obj: list) -> None:
    w.items(Code.LIST, obj, len(obj))


def _enc_set(w: _Writer, obj: set | frozenset) -> None:
    w.items(Code.SET, obj, len(obj))


def _enc_dict(w: _Writer, obj: Mapping) -> None:
    w.put(Code.DICT, _U64.pack(len(obj)))
    for key, value in obj.items():
        w.item(key)
        w.item(value)


def _enc_numpy_scalar(w: _Writer, obj: np.generic) -> None:
    _enc_ndarray(w, np.asarray(obj))


def _shape_head(arr: np.ndarray) -> bytes:
    return _U64.pack(arr.ndim) + _SHAPES[arr.ndim].pack(*arr.shape)


def _array_head(arr: np.ndarray, cls: int, is_complex: bool = False) -> bytes:
    return b"".join((_shape_head(arr), _U32.pack(cls), _U32.pack(is_complex)))


class _FortranChunk:
    """An array whose Fortran-order bytes are still to be written: `pack_buffer` copies it
    straight into its output (one strided pass); `pack` materializes it first."""

    __slots__ = ("arr", "nbytes")

    def __init__(self, arr: np.ndarray) -> None:
        self.arr, self.nbytes = arr, arr.nbytes

    def __len__(self) -> int:
        return self.nbytes

    def materialize(self) -> memoryview:
        return np.asfortranarray(self.arr).T.reshape(-1).view(np.uint8).data

    def write_into(self, out: np.ndarray, block: int = 256) -> None:
        """Copy in blocks of rows: reads stay sequential and each block's strided writes
        stay in cache (1.5x of a plain copy for a C-ordered matrix, against 2.2x unblocked)."""
        target = out.view(self.arr.dtype).reshape(self.arr.shape, order="F")
        if self.arr.ndim < 2:
            target[...] = self.arr
            return
        for i in range(0, self.arr.shape[0], block):
            target[i:i + block] = self.arr[i:i + block]


def _fortran_bytes(arr: np.ndarray) -> memoryview | _FortranChunk:
    """The array's elements as little-endian bytes in Fortran order, copying only if needed."""
    if arr.dtype.byteorder not in _LITTLE_ENDIAN:
        arr = arr.astype(arr.dtype.newbyteorder("<"), order="F")
    elif not arr.flags.f_contiguous:
        return _FortranChunk(arr)
    return arr.T.reshape(-1).view(np.uint8).data


def _enc_ndarray(w: _Writer, obj: np.ndarray) -> None:
    arr = np.asarray(obj)
    if arr.dtype.names is not None:
        _enc_recarray(w, arr)
    elif arr.dtype.kind in "OU":
        _enc_object_array(w, arr)
    elif arr.dtype.kind == "M":
        _enc_datetime_array(w, arr)
    else:
        _enc_numeric_array(w, arr)


def _enc_numeric_array(w: _Writer, arr: np.ndarray) -> None:
    cls = _numeric_class(arr.dtype)
    if cls is None:
        raise CodecError(f"cannot pack numpy dtype {arr.dtype.str!r}: no blob representation "
                         "(supported: bool, int8..uint64, float32/64, complex64/128, datetime64, str, object)")
    if arr.ndim == 0 and not w.dj0_reason:
        w.dj0_reason = "0-d array or numpy scalar"
    if arr.dtype.kind == "c":
        w.put(Code.ARRAY, _array_head(arr, cls, True), _fortran_bytes(arr.real), _fortran_bytes(arr.imag))
    else:
        w.put(Code.ARRAY, _array_head(arr, cls), _fortran_bytes(arr))


@cache
def _numeric_class(dtype: np.dtype) -> int | None:
    """The MATLAB class of a numeric dtype (of its parts, if complex), in either byte order."""
    real = np.dtype(f"f{dtype.itemsize // 2}") if dtype.kind == "c" else dtype.newbyteorder("=")
    return _CLASS_OF.get(real)


def _enc_object_array(w: _Writer, arr: np.ndarray) -> None:
    w.dj0_reason = w.dj0_reason or f"{arr.dtype} array"
    w.items(Code.ARRAY, arr.ravel(order="F"), arr.size, _array_head(arr, _OBJECT_CLASS))


def _enc_datetime_array(w: _Writer, arr: np.ndarray) -> None:
    unit, count = np.datetime_data(arr.dtype)
    if count != 1 or unit not in _DATETIME_UNITS:
        raise CodecError(f"cannot pack numpy dtype {arr.dtype}: only datetime64 with a plain unit "
                         f"({', '.join(_DATETIME_UNITS)}) is supported")
    w.dj0_reason = w.dj0_reason or "datetime64 array"
    cls = _DATETIME_CLASS + _DATETIME_UNITS.index(unit)
    ticks = arr.astype(arr.dtype.newbyteorder("<"), copy=False).view("<i8")
    w.put(Code.ARRAY, _array_head(arr, cls), _fortran_bytes(ticks))


def _field_names(names: tuple[str, ...]) -> bytes:
    if not names:
        raise CodecError("cannot pack a structured array without fields")
    encoded = [n.encode() for n in names]
    if any(b"\0" in n for n in encoded):
        raise CodecError(f"cannot pack field names containing NUL: {names!r}")
    return b"".join(n + b"\0" for n in encoded)


def _enc_recarray(w: _Writer, arr: np.ndarray) -> None:
    names = arr.dtype.names or ()
    w.put(Code.RECARRAY, _U32.pack(len(names)), _field_names(names))
    for name in names:
        w.value(np.asarray(arr[name]))


def _enc_matcell(w: _Writer, obj: MatCell) -> None:
    arr = obj.view(np.ndarray)
    w.items(Code.CELL, arr.ravel(order="F"), arr.size, _shape_head(arr))


def _enc_matstruct(w: _Writer, obj: MatStruct) -> None:
    arr = obj.view(np.ndarray)
    names = arr.dtype.names or ()
    w.put(Code.STRUCT, _shape_head(arr), _I32.pack(len(names)), _field_names(names))
    fields = [arr[name].ravel(order="F") for name in names]
    for i in range(arr.size):
        for field in fields:
            w.item(field[i])


_ENCODERS: dict[type, Encoder] = {
    type(None): _enc_none, bool: _enc_bool, int: _enc_int, float: _enc_float,
    complex: _enc_complex, str: _enc_str, bytes: _enc_bytes, bytearray: _enc_bytes,
    memoryview: _enc_bytes, tuple: _enc_tuple, list: _enc_list, set: _enc_set,
    frozenset: _enc_set, dict: _enc_dict, Decimal: _enc_decimal, uuid.UUID: _enc_uuid,
    dt.datetime: _enc_datetime, dt.date: _enc_date, dt.time: _enc_time,
    np.ndarray: _enc_ndarray, MatStruct: _enc_matstruct,
}

# checked in order for types not in _ENCODERS (subclasses); numpy scalars that subclass
# Python types (np.float64 is a float) are arrays on the wire, np.str_ is a str.
_SUBCLASS_ENCODERS: tuple[tuple[type | tuple[type, ...], Encoder], ...] = (
    (str, _enc_str), ((bytes, bytearray), _enc_bytes), (np.generic, _enc_numpy_scalar),
    (MatStruct, _enc_matstruct), (MatCell, _enc_matcell), (np.ndarray, _enc_ndarray),
    (int, _enc_int), (float, _enc_float), (complex, _enc_complex),
    (dt.datetime, _enc_datetime), (dt.date, _enc_date), (dt.time, _enc_time),
    (Decimal, _enc_decimal), (uuid.UUID, _enc_uuid), (list, _enc_list),
    (tuple, _enc_tuple), ((set, frozenset), _enc_set), (Mapping, _enc_dict),
)


# ------------------------------------------------------------------------- unpack

def unpack(data: bytes | bytearray | memoryview, *, squeeze: bool = False,
           writable: bool = False) -> Any:
    """Deserialize a blob made by `pack`, DataJoint (``dj0``) or MATLAB's mym (``mYm``).

    ``squeeze`` drops singleton dimensions of every decoded array.  0-d arrays always
    come back as numpy scalars.  Numeric arrays are read-only views of ``data``, as
    DataJoint returns them (no copy: they keep ``data`` alive); ``writable`` gives each its
    own writable, aligned copy instead.  Malformed, truncated or unsupported bytes raise
    `BlobError`; the whole input must be consumed.
    """
    buf = _byte_view(data)
    if buf[:len(ZLIB_PREFIX)] == ZLIB_PREFIX:
        buf = memoryview(_inflate(buf))
    elif not writable and not buf.readonly:  # views must not see the caller change its bytes
        buf = memoryview(buf.tobytes())
    header = bytes(buf[:4])
    if header not in (MYM, DJ0):
        raise BlobError(f"not a blob: unknown header {header!r} (expected b'mYm\\0' or b'dj0\\0')")
    reader = _Reader(buf, 4, squeeze, writable)
    try:
        value = reader.value()
    except RecursionError:
        raise BlobError("blob nests too deep for the Python stack") from None
    if reader.pos != len(buf):
        raise BlobError(f"{len(buf) - reader.pos} unexpected trailing bytes at offset {reader.pos}")
    return value


def _byte_view(data: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(data)
    if view.ndim == 1 and view.format in ("B", "b", "c"):
        return view.cast("B") if view.format != "B" else view
    return memoryview(view.tobytes())


def _inflate(buf: memoryview) -> bytes:
    """Inflate a ``ZL123`` blob, never producing more than its declared length."""
    head = len(ZLIB_PREFIX) + 8
    if len(buf) < head:
        raise BlobError(f"truncated blob: need {head} bytes for the compression header, have {len(buf)}")
    declared = _U64.unpack_from(buf, len(ZLIB_PREFIX))[0]
    body = buf[head:]
    if declared > _MAX_INFLATE_RATIO * len(body) + 64:
        raise BlobError(f"compressed blob declares {declared} bytes from {len(body)} compressed bytes, "
                        "beyond zlib's maximum ratio")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(body, declared + 1)
    except zlib.error as exc:
        raise BlobError(f"corrupt zlib data in compressed blob: {exc}") from None
    if len(raw) != declared or not inflater.eof:
        raise BlobError(f"compressed blob declares {declared} bytes but its zlib stream "
                        f"{'inflates to more' if len(raw) > declared else f'ends after {len(raw)}'}")
    if inflater.unused_data:
        raise BlobError(f"{len(inflater.unused_data)} unexpected bytes after the zlib stream")
    return raw


Decoder = Callable[["_Reader"], Any]
_U8_DTYPE, _U64_DTYPE = np.dtype("u1"), np.dtype("<u8")


class _Reader:
    """A cursor over the blob that checks every read against the bytes left."""

    __slots__ = ("buf", "depth", "end", "pos", "squeeze", "writable")

    def __init__(self, buf: memoryview, pos: int, squeeze: bool, writable: bool = False) -> None:
        self.buf, self.pos, self.end = buf, pos, len(buf)
        self.squeeze, self.depth, self.writable = squeeze, 0, writable

    @property
    def left(self) -> int:
        return self.end - self.pos

    def short(self, size: int, what: str) -> NoReturn:
        raise BlobError(f"truncated blob: need {size} bytes for {what} at offset {self.pos}, have {self.left}")

    def need(self, size: int, what: str) -> None:
        if size > self.end - self.pos:
            self.short(size, what)

    def expect(self, count: int, min_size: int, what: str) -> None:
        """Reject counts that the remaining bytes cannot possibly hold."""
        if count * min_size > self.end - self.pos:
            raise BlobError(f"blob declares {count} {what} at offset {self.pos} "
                            f"but only {self.left} bytes remain")

    def descend(self) -> None:
        if self.depth >= MAX_DEPTH:
            raise BlobError(f"blob nests deeper than {MAX_DEPTH} levels at offset {self.pos}")
        self.depth += 1

    def take(self, size: int, what: str) -> memoryview:
        pos = self.pos
        if size > self.end - pos:
            self.short(size, what)
        self.pos = pos + size
        return self.buf[pos:pos + size]

    def read(self, fmt: struct.Struct, what: str) -> tuple[Any, ...]:
        pos = self.pos
        if pos + fmt.size > self.end:
            self.short(fmt.size, what)
        self.pos = pos + fmt.size
        return fmt.unpack_from(self.buf, pos)

    def u64(self, what: str) -> int:
        pos = self.pos
        if pos + 8 > self.end:
            self.short(8, what)
        self.pos = pos + 8
        return _U64.unpack_from(self.buf, pos)[0]

    def array(self, dtype: np.dtype, count: int, what: str) -> np.ndarray:
        """A read-only view of ``count`` elements."""
        self.need(count * dtype.itemsize, what)
        if count == 0:
            return np.empty(0, dtype)
        view = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += count * dtype.itemsize
        return view

    def cstring(self, what: str) -> str:
        """A NUL-terminated UTF-8 string."""
        start, window = self.pos, 64
        while (found := bytes(self.buf[start:min(start + window, self.end)]).find(b"\0")) < 0:
            if start + window >= self.end:
                raise BlobError(f"truncated blob: unterminated {what} at offset {start}")
            window *= 4
        self.pos = start + found + 1
        try:
            return bytes(self.buf[start:start + found]).decode()
        except UnicodeDecodeError:
            raise BlobError(f"{what} at offset {start} is not valid UTF-8") from None

    def shape(self, what: str) -> tuple[int, ...]:
        ndim = self.u64(what)
        if ndim > MAX_NDIM:
            raise BlobError(f"{what} at offset {self.pos - 8} declares {ndim} dimensions (limit {MAX_NDIM})")
        shape: tuple[int, ...] = self.read(_SHAPES[ndim], what)
        if math.prod(d for d in shape if d) >= _MAX_ELEMENTS:  # numpy limit, even when size 0
            raise BlobError(f"{what} shape {shape} at offset {self.pos} is impossibly large")
        return shape

    def value(self) -> Any:
        """One typed value."""
        pos = self.pos
        if pos >= self.end:
            self.short(1, "type code")
        decoder = _DECODERS.get(self.buf[pos])
        if decoder is None:
            raise BlobError(f"unknown type code {self.buf[pos]:#04x} at offset {pos}")
        self.pos = pos + 1
        return decoder(self)

    def item(self, what: str) -> Any:
        """One length-prefixed value, which must fill exactly its declared length."""
        size = self.u64(what)
        start, outer = self.pos, self.end
        if size > outer - start:
            raise BlobError(f"truncated blob: {what} at offset {start} declares {size} bytes, have {outer - start}")
        self.descend()
        self.end = start + size
        value = self.value()
        if self.pos != self.end:
            raise BlobError(f"{what} at offset {start} declares {size} bytes but uses {self.pos - start}")
        self.end = outer  # not restored on errors: a failed unpack drops the reader
        self.depth -= 1
        return value

    def items(self, count: int, what: str) -> list[Any]:
        self.expect(count, 9, what)
        return [self.item(what) for _ in range(count)]

    def finish(self, arr: np.ndarray) -> Any:
        """Apply ``squeeze``; 0-d arrays become numpy scalars."""
        if self.squeeze:
            arr = arr.squeeze()
        return arr[()] if arr.ndim == 0 else arr


def _dec_none(r: _Reader) -> None:
    return None


def _dec_bool(r: _Reader) -> bool:
    return r.take(1, "bool")[0] != 0


def _dec_int(r: _Reader) -> int:
    size = r.read(_U16, "int length")[0]
    return int.from_bytes(r.take(size, "int"), "little", signed=True)


def _dec_float(r: _Reader) -> float:
    return r.read(_F64, "float")[0]


def _dec_complex(r: _Reader) -> complex:
    return complex(*r.read(_C128, "complex"))


def _text(r: _Reader, what: str) -> str:
    at = r.pos
    data = r.take(r.u64(what), what)
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise BlobError(f"{what} at offset {at} is not valid UTF-8: {exc.reason}") from None


def _dec_str(r: _Reader) -> str:
    return _text(r, "str")


def _dec_bytes(r: _Reader) -> bytes:
    return bytes(r.take(r.u64("bytes length"), "bytes"))


def _dec_decimal(r: _Reader) -> Decimal:
    at = r.pos
    text = _text(r, "Decimal")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BlobError(f"invalid Decimal {text[:40]!r} at offset {at}") from None


def _dec_uuid(r: _Reader) -> uuid.UUID:
    return uuid.UUID(bytes=bytes(r.take(16, "UUID")))


def _dec_datetime(r: _Reader) -> dt.date | dt.time | dt.datetime:
    at = r.pos
    day, clock = r.read(_DATETIME, "datetime")
    try:
        return _make_datetime(day, clock)
    except (ValueError, OverflowError) as exc:
        raise BlobError(f"invalid datetime ({day}, {clock}) at offset {at}: {exc}") from None


def _make_datetime(day: int, clock: int) -> dt.date | dt.time | dt.datetime:
    date = None if day == -1 else dt.date(day // 10000, day // 100 % 100, day % 100)
    if clock == -1:
        if date is None:
            raise ValueError("neither date nor time")
        return date
    if clock < 0:
        raise ValueError("negative time")
    seconds, micro = divmod(clock, 1_000_000)
    minutes, second = divmod(seconds, 100)
    time = dt.time(*divmod(minutes, 100), second, micro)
    return time if date is None else dt.datetime.combine(date, time)


def _dec_tuple(r: _Reader) -> tuple:
    return tuple(r.items(r.u64("tuple length"), "tuple items"))


def _dec_list(r: _Reader) -> list:
    return r.items(r.u64("list length"), "list items")


def _dec_set(r: _Reader) -> set:
    at = r.pos
    values = r.items(r.u64("set length"), "set items")
    try:
        return set(values)
    except TypeError as exc:
        raise BlobError(f"set at offset {at} holds an unhashable value: {exc}") from None


def _dec_dict(r: _Reader) -> dict:
    at = r.pos
    count = r.u64("dict length")
    r.expect(count, 18, "dict entries")
    pairs = [(r.item("dict key"), r.item("dict value")) for _ in range(count)]
    try:
        return dict(pairs)
    except TypeError as exc:
        raise BlobError(f"dict at offset {at} has an unhashable key: {exc}") from None


def _dec_array(r: _Reader) -> Any:
    arr = _read_array(r)
    return arr if isinstance(arr, str) else r.finish(arr)


def _read_array(r: _Reader) -> np.ndarray | str:
    """An 'A' payload as an array (a str for MATLAB char vectors), before `finish`."""
    at = r.pos - 1
    shape = r.shape("array shape")
    cls, is_complex = r.read(_CLASS_AND_COMPLEXITY, "array class")
    if is_complex > 1 or (is_complex and cls not in (6, 7)):
        raise BlobError(f"unsupported array at offset {at}: class {cls} with complexity {is_complex}")
    count = math.prod(shape)
    if cls in _DTYPE_OF:
        return _read_numeric(r, shape, count, _DTYPE_OF[cls], bool(is_complex))
    if cls == _OBJECT_CLASS:
        return _read_objects(r, shape, count)
    if _DATETIME_CLASS <= cls < _DATETIME_CLASS + len(_DATETIME_UNITS):
        return _read_datetimes(r, shape, count, _DATETIME_UNITS[cls - _DATETIME_CLASS])
    if cls == _CHAR_CLASS:
        return _read_chars(r, shape, count)
    raise BlobError(f"unsupported array class {cls} at offset {at}")


def _read_numeric(r: _Reader, shape: tuple[int, ...], count: int, dtype: np.dtype,
                  is_complex: bool) -> np.ndarray:
    size = count * dtype.itemsize * (2 if is_complex else 1)
    if size > r.left:  # the label is formatted only when needed
        r.short(size, f"{'complex ' if is_complex else ''}{dtype} array data")
    if not is_complex:
        view = r.array(dtype, count, "array data").reshape(shape, order="F")
        if r.writable:
            return view.copy(order="K")
        view.flags.writeable = False  # (also when the bytes given were writable)
        return view
    out = np.empty(shape, _COMPLEX_OF[dtype], order="F")
    out.real = r.array(dtype, count, "array data").reshape(shape, order="F")
    out.imag = r.array(dtype, count, "array data").reshape(shape, order="F")
    return out


def _object_array(values: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out.reshape(shape, order="F")


def _read_objects(r: _Reader, shape: tuple[int, ...], count: int) -> np.ndarray:
    return _object_array(r.items(count, "array elements"), shape)


def _read_datetimes(r: _Reader, shape: tuple[int, ...], count: int, unit: str) -> np.ndarray:
    ticks = r.array(np.dtype("<i8"), count, f"datetime64[{unit}] array data")
    return ticks.reshape(shape, order="F").copy(order="K").view(f"datetime64[{unit}]")


def _read_chars(r: _Reader, shape: tuple[int, ...], count: int) -> np.ndarray | str:
    """MATLAB char arrays (UTF-16 code units): a str if at most one dimension exceeds 1."""
    units = r.array(np.dtype("<u2"), count, "char array data")
    if sum(d > 1 for d in shape) <= 1:
        return units.tobytes().decode("utf-16-le", "surrogatepass")
    chars = [chr(u) for u in units.tolist()]
    return np.array(chars, dtype="U1").reshape(shape, order="F")


def _dec_recarray(r: _Reader) -> Any:
    count = r.read(_U32, "recarray field count")[0]
    r.expect(count, 2, "recarray fields")
    names = [r.cstring("recarray field name") for _ in range(count)]
    r.descend()
    fields = [_read_field(r) for _ in names]
    r.depth -= 1
    return r.finish(_make_recarray(names, fields))


def _read_field(r: _Reader) -> np.ndarray:
    """A recarray field: an array kept as an array (not squeezed, not made a scalar)."""
    r.need(1, "recarray field")
    if r.buf[r.pos] == Code.ARRAY:
        r.pos += 1
        field = _read_array(r)
    else:
        field = r.value()
    return field if isinstance(field, np.ndarray) else np.asarray(field)


def _make_recarray(names: list[str], fields: list[np.ndarray]) -> np.recarray:
    if not fields:
        raise BlobError("record array without fields")
    ndim = min(f.ndim for f in fields)
    shape = fields[0].shape[:ndim]
    if any(f.shape[:ndim] != shape for f in fields):
        raise BlobError(f"record array fields {names} have mismatched shapes {[f.shape for f in fields]}")
    try:
        out = np.recarray(shape, dtype=[(n, f.dtype, f.shape[ndim:]) for n, f in zip(names, fields)])
        for name, field in zip(names, fields):
            out[name] = field
    except (ValueError, TypeError, KeyError) as exc:
        raise BlobError(f"invalid record array fields {names}: {exc}") from None
    return out


def _dec_struct(r: _Reader) -> Any:
    shape = r.shape("struct shape")
    nfields = r.read(_I32, "struct field count")[0]
    if nfields < 0:
        raise BlobError(f"struct at offset {r.pos - 4} declares {nfields} fields")
    r.expect(nfields, 1, "struct field names")
    names = [r.cstring("struct field name") for _ in range(nfields)]
    count = math.prod(shape)
    r.expect(count * nfields, 9, "struct field values")
    if not names and count > 1 << 20:
        raise BlobError(f"struct without fields declares {count} elements")
    columns: list[list[Any]] = [[] for _ in names]
    for _ in range(count if names else 0):
        for column in columns:
            column.append(r.item("struct field value"))
    return r.finish(_make_struct(names, columns, shape))


def _make_struct(names: list[str], columns: list[list[Any]], shape: tuple[int, ...]) -> MatStruct:
    try:
        out = np.recarray(shape, dtype=[(name, object) for name in names]).view(MatStruct)
        for name, column in zip(names, columns):
            out[name] = _object_array(column, shape)
    except (ValueError, TypeError, KeyError) as exc:
        raise BlobError(f"invalid struct fields {names}: {exc}") from None
    return out


def _dec_cell(r: _Reader) -> Any:
    shape = r.shape("cell shape")
    values = r.items(math.prod(shape), "cell elements")
    return r.finish(_object_array(values, shape).view(MatCell))


def _dec_sparse(r: _Reader) -> Any:
    raise BlobError(f"unsupported blob content at offset {r.pos - 1}: MATLAB sparse matrix")


_DECODERS: dict[int, Decoder] = {
    Code.NONE: _dec_none, Code.BOOL: _dec_bool, Code.INT: _dec_int, Code.FLOAT: _dec_float,
    Code.COMPLEX: _dec_complex, Code.STR: _dec_str, Code.BYTES: _dec_bytes,
    Code.TUPLE: _dec_tuple, Code.LIST: _dec_list, Code.SET: _dec_set, Code.DICT: _dec_dict,
    Code.DECIMAL: _dec_decimal, Code.UUID: _dec_uuid, Code.DATETIME: _dec_datetime,
    Code.ARRAY: _dec_array, Code.RECARRAY: _dec_recarray, Code.STRUCT: _dec_struct,
    Code.CELL: _dec_cell, Code.SPARSE: _dec_sparse,
}
