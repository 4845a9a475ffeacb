"""``<npy@store>``: numpy arrays as standard ``.npy`` files at schema-addressed paths, fetched as
lazy :class:`NpyRef` references (DataJoint 2.3.5 layout and row JSON).

The object lives at ``{schema_prefix}/{schema}/{table}/{attr=value}/.../{field}_{token}.npy``
(see :mod:`.schema_addressed`); the row holds ``{"path", "store", "dtype", "shape"}`` (``store``
is null for the default store; ``dtype`` is ``str(array.dtype)``). Fetch never downloads:
every row becomes an :class:`NpyRef` whose shape, dtype and size come from that JSON.

Beyond DataJoint: indexing an unloaded reference along the first axis (``ref[100:200]``,
``ref[5]``, ``ref[10:20, 3]``) reads only the bytes of those rows from the store (one ranged
read for C order, one per column run for Fortran order), after one small read of the ``.npy``
header. Stored bytes never run code: arrays are read with ``allow_pickle=False``, and object
arrays are refused both ways.
"""
from __future__ import annotations

import ast
import hashlib
import io
import math
import operator
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from ..codecs.base import CodecContext, Encoded, ObjectWrite
from ..errors import CodecError, ObjectIntegrityError
from .schema_addressed import SchemaAddressedCodec, parse_stored

#: bytes read first to find the ``.npy`` header (np.save pads it to a multiple of 64 bytes: 128 for most arrays)
HEADER_PROBE = 256
#: a Fortran-ordered slice needs one read per column run; above this many, load the whole array
MAX_RANGES = 64
MMAP_FOLDER = "joinflow_mmap"


def parse_dtype(text: Any) -> Any:
    """The numpy dtype of the ``dtype`` string in an ``<npy@>`` row (``str(array.dtype)``).

    Structured dtypes print as a list (``"[('x', '<f8'), ('y', '<i4')]"``) or a dict that
    ``numpy.dtype`` does not parse from text: those are read as Python literals
    (``ast.literal_eval``, which evaluates no code)."""
    import numpy as np

    if isinstance(text, np.dtype):
        return text
    try:
        return np.dtype(text)
    except TypeError:
        pass
    try:
        return np.dtype(ast.literal_eval(text))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise CodecError(f"<npy@>: not a numpy dtype: {text!r}") from exc


class _Source:
    """How an :class:`NpyRef` reads its object: a joinflow ``Store`` (ranged reads, local
    paths) or any object with DataJoint's backend methods (``get_buffer``; ``protocol`` and
    ``_full_path`` for memory maps)."""

    def __init__(self, backend: Any, path: str) -> None:
        self.backend, self.path = backend, path
        self.is_store = hasattr(backend, "get_bytes") and hasattr(backend, "full_path")

    def read_all(self) -> bytes:
        if self.is_store:
            return bytes(self.backend.get_bytes(self.path))
        return bytes(self.backend.get_buffer(self.path))

    @property
    def can_range(self) -> bool:
        return self.is_store and hasattr(self.backend, "get_ranges")

    def read_ranges(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return list(self.backend.get_ranges(self.path, ranges))

    def local_path(self) -> str | None:
        """The object's own file, when the store is a local folder."""
        if self.is_store:
            return self.backend.full_path(self.path) if self.backend.is_local else None
        if getattr(self.backend, "protocol", None) == "file":
            return str(self.backend._full_path(self.path))
        return None

    def cache_key(self) -> str:
        where = self.backend.url(self.path) if self.is_store else \
            f"{getattr(self.backend, 'protocol', '')}:{self.path}"
        return hashlib.sha256(where.encode()).hexdigest()[:32]

    def download(self, target: str) -> None:
        if self.is_store:
            self.backend.get_file(self.path, target)
            return
        from .store import atomic_local_write
        data = self.read_all()
        atomic_local_write(target, lambda f: f.write(data))


class NpyRef:
    """A lazy reference to an array stored as a ``.npy`` file: what ``<npy@>`` fetches.

    ``shape``, ``dtype``, ``ndim``, ``size``, ``itemsize``, ``nbytes``, ``path`` and ``store``
    come from the row's JSON (no I/O). ``load()`` downloads the array once and caches it;
    ``np.asarray(ref)``, ``np.mean(ref)``, ``np.add(ref, 1)`` use it through ``__array__``.
    ``ref[i]``, ``ref[a:b]``, ``ref[a:b, ...]`` on a reference not loaded yet read only the
    rows needed (ranged reads); other indexing loads the array.
    """

    __slots__ = ("_meta", "_backend", "_cached", "_dtype", "_header", "__weakref__")

    def __init__(self, metadata: Mapping[str, Any], backend: Any) -> None:
        self._meta = dict(metadata)
        self._backend = backend
        self._cached: Any = None
        self._dtype: Any = None
        self._header: tuple[int, bool, Any] | None = None  # (data offset, fortran, dtype)

    # -- metadata (no I/O) ----------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self._meta["shape"])

    @property
    def dtype(self) -> Any:
        if self._dtype is None:
            self._dtype = parse_dtype(self._meta["dtype"])
        return self._dtype

    @property
    def ndim(self) -> int:
        return len(self._meta["shape"])

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return int(self.dtype.itemsize)

    @property
    def nbytes(self) -> int:
        """Bytes of the array's data (from shape and dtype)."""
        return self.size * self.itemsize

    @property
    def path(self) -> str:
        """The object's path within its store."""
        return str(self._meta["path"])

    @property
    def store(self) -> str | None:
        """The store's name (``None``: the default store)."""
        return self._meta.get("store")

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the row's JSON."""
        return dict(self._meta)

    @property
    def is_loaded(self) -> bool:
        """True once the whole array has been downloaded (and cached)."""
        return self._cached is not None

    # -- data -----------------------------------------------------------------------------------
    def _source(self) -> _Source:
        return _Source(self._backend, self.path)

    def load(self, mmap_mode: str | None = None) -> Any:
        """The array: downloaded on first call, then cached (the same object every call).

        ``mmap_mode`` (``'r'`` or ``'c'``, copy-on-write) returns a ``numpy.memmap`` instead,
        not cached: the store's own file for a local store, else a copy downloaded once to
        ``{tempdir}/joinflow_mmap/``. ``'r+'``/``'w+'`` are refused: they would change the
        stored object behind the database's back."""
        if mmap_mode is not None:
            return self._load_mmap(mmap_mode)
        if self._cached is None:
            self._cached = self._checked(_read_npy(io.BytesIO(self._source().read_all()),
                                                   self.path))
        return self._cached

    def _load_mmap(self, mode: str) -> Any:
        import numpy as np

        if mode not in ("r", "c"):
            raise CodecError(f"NpyRef.load(mmap_mode={mode!r}): only 'r' (read-only) and 'c' "
                             "(copy-on-write) are allowed; writing would change the stored "
                             f"object {self.path!r} in place")
        source = self._source()
        local = source.local_path()
        if local is None:
            folder = os.path.join(tempfile.gettempdir(), MMAP_FOLDER)
            os.makedirs(folder, exist_ok=True)
            local = os.path.join(folder, f"{source.cache_key()}.npy")
            if not os.path.exists(local):  # objects are never rewritten (fresh token per write)
                source.download(local)
        try:
            arr = np.load(local, mmap_mode=mode, allow_pickle=False)  # type: ignore[arg-type]
        except ValueError as exc:
            raise _invalid(self.path, exc) from exc
        return self._checked(arr)

    def _checked(self, arr: Any) -> Any:
        if tuple(arr.shape) != self.shape:
            raise ObjectIntegrityError(f"{self.path!r} holds an array of shape {arr.shape}, but "
                                       f"its row says {self.shape}")
        return arr

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        arr = self.load()
        if dtype is not None and arr.dtype != dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def __getitem__(self, key: Any) -> Any:
        if self._cached is None:
            part = self._read_rows(key)
            if part is not None:
                return part
        return self.load()[key]

    def __len__(self) -> int:
        if not self._meta["shape"]:
            raise TypeError("len() of unsized object: a 0-dimensional array")
        return int(self._meta["shape"][0])

    def __iter__(self) -> Any:
        if not self._meta["shape"]:
            raise TypeError("iteration over a 0-dimensional array")
        return iter(self.load())

    def __repr__(self) -> str:
        try:
            dtype = str(self.dtype)
        except CodecError:
            dtype = repr(self._meta.get("dtype"))
        status = "loaded" if self.is_loaded else "not loaded"
        return f"NpyRef(shape={self.shape}, dtype={dtype}, {status})"

    __str__ = __repr__

    # -- ranged reads ---------------------------------------------------------------------------
    def _read_rows(self, key: Any) -> Any:
        """``self[key]`` from the rows it needs alone, or None when that does not apply (the
        caller loads the whole array)."""
        import numpy as np

        shape = self.shape
        if not shape or not self._source().can_range:
            return None
        parts = key if isinstance(key, tuple) else (key,)
        if not parts:
            return None
        first, rest = parts[0], parts[1:]
        n = shape[0]
        if isinstance(first, slice):
            rows = range(*first.indices(n))
        elif isinstance(first, (int, np.integer)) and not isinstance(first, (bool, np.bool_)):
            i = operator.index(first)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis 0 with size {n}")
            rows = range(i % n, i % n + 1)
        else:
            return None
        if len(rows):
            lo, hi = min(rows[0], rows[-1]), max(rows[0], rows[-1]) + 1
        else:
            lo = hi = 0
        if hi - lo == n:
            return None  # every row: load (and cache) the array instead
        block = self._read_block(lo, hi)
        if block is None:
            return None
        if isinstance(first, slice):
            if len(rows) == 0:
                local = slice(0, 0)
            else:
                stop = rows[-1] - lo + (1 if rows.step > 0 else -1)
                local = slice(rows[0] - lo, stop if stop >= 0 else None, rows.step)
            return block[(local,) + rest]
        return block[(0,) + rest]

    def _read_block(self, lo: int, hi: int) -> Any:
        """Rows ``lo:hi`` as a writable array, from ranged reads (None: not possible)."""
        import numpy as np

        header = self._read_header()
        if header is None:
            return None
        offset, fortran, dtype = header
        shape = self.shape
        inner = math.prod(shape[1:])
        count = hi - lo
        item = dtype.itemsize
        out_shape = (count,) + shape[1:]
        if count == 0 or inner == 0 or item == 0:
            return np.empty(out_shape, dtype=dtype)
        n = shape[0]
        if not fortran or len(shape) == 1:
            ranges = [(offset + lo * inner * item, offset + hi * inner * item)]
        else:
            if inner > MAX_RANGES:
                return None
            ranges = [(offset + (k * n + lo) * item, offset + (k * n + hi) * item)
                      for k in range(inner)]
        chunks = self._source().read_ranges(ranges)
        data = bytearray(b"".join(chunks))
        if len(data) != sum(e - s for s, e in ranges):
            raise ObjectIntegrityError(f"{self.path!r} is shorter than its header says: the "
                                       "object is truncated")
        arr = np.frombuffer(data, dtype=dtype)
        return arr.reshape(out_shape, order="F" if fortran else "C")

    def _read_header(self) -> tuple[int, bool, Any] | None:
        """``(data offset, fortran order, dtype)`` from the object's header (cached)."""
        if self._header is None:
            source = self._source()
            head = source.read_ranges([(0, HEADER_PROBE)])[0]
            parsed = _parse_header(head, self.path)
            if parsed is None:
                return None
            offset, shape, fortran, dtype = parsed
            if offset > len(head):
                head += source.read_ranges([(len(head), offset)])[0]
                parsed = _parse_header(head, self.path)
                if parsed is None:
                    return None
                offset, shape, fortran, dtype = parsed
            if dtype.hasobject:
                raise _object_array(self.path)
            if tuple(shape) != self.shape:
                raise ObjectIntegrityError(f"{self.path!r} holds an array of shape {shape}, "
                                           f"but its row says {self.shape}")
            self._header = (offset, bool(fortran), dtype)
        return self._header


def _parse_header(head: bytes, path: str) -> tuple[int, tuple, bool, Any] | None:
    """``(data offset, shape, fortran, dtype)`` of a ``.npy`` file starting with ``head``; the
    offset alone (shape ``()``) when ``head`` is too short to hold the whole header; None for a
    format version this reader leaves to ``numpy.load``."""
    import numpy as np
    from numpy.lib import format as npformat

    fp = io.BytesIO(head)
    try:
        version = npformat.read_magic(fp)
    except ValueError as exc:
        raise _invalid(path, exc) from exc
    size_bytes = 2 if version == (1, 0) else 4
    if version not in ((1, 0), (2, 0)) or len(head) < 8 + size_bytes:
        return None
    length = int.from_bytes(head[8:8 + size_bytes], "little")
    offset = 8 + size_bytes + length
    if offset > len(head):
        return offset, (), False, np.dtype("u1")
    reader = npformat.read_array_header_1_0 if version == (1, 0) else \
        npformat.read_array_header_2_0
    try:
        shape, fortran, dtype = reader(fp)
    except ValueError as exc:
        raise _invalid(path, exc) from exc
    return offset, tuple(shape), bool(fortran), dtype


def _read_npy(fp: Any, path: str) -> Any:
    import numpy as np

    try:
        return np.load(fp, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise _object_array(path) from exc
        raise _invalid(path, exc) from exc


def _object_array(path: str) -> CodecError:
    return CodecError(f"{path!r} holds an object array (pickled Python objects): joinflow never "
                      "unpickles stored data")


def _invalid(path: str, exc: Exception) -> ObjectIntegrityError:
    return ObjectIntegrityError(f"{path!r} is not a valid .npy file: {exc}")


class NpyCodec(SchemaAddressedCodec):
    """``<npy@>`` / ``<npy@store>``: a numpy array (not of object dtype) stored as a standard
    ``.npy`` file, one per row; fetch returns an :class:`NpyRef` (nothing downloaded)."""

    name = "npy"

    def get_dtype(self, is_store: bool) -> str:
        if not is_store:
            raise CodecError("<npy> requires @: write <npy@> (the default store) or "
                             "<npy@store>")
        return "json"

    def validate(self, value: Any) -> None:
        self._array(value)

    @staticmethod
    def _array(value: Any) -> Any:
        import numpy as np

        if isinstance(value, NpyRef):
            value = value.load()
        if not isinstance(value, np.ndarray):
            raise CodecError(f"<npy> requires numpy.ndarray, got {type(value).__name__}")
        if value.dtype.hasobject:
            raise CodecError("<npy> does not support object dtype arrays (they would be "
                             "pickled); store them with <blob@>")
        if isinstance(value, np.ma.MaskedArray):
            raise CodecError("<npy> cannot keep the mask of a masked array; store "
                             "arr.filled(...) or arr.data and the mask separately")
        return value

    def encode(self, value: Any, *, context: CodecContext | None = None) -> Encoded:
        import numpy as np

        arr = self._array(value)
        ctx = self.require_stores(context, "<npy@>")
        path = self.new_path(ctx, ext=".npy")
        buffer = io.BytesIO()
        np.save(buffer, arr, allow_pickle=False)
        data = buffer.getbuffer()  # no copy of the file's bytes
        meta = {"path": path, "store": self.stored_store_name(ctx), "dtype": str(arr.dtype),
                "shape": [int(n) for n in arr.shape]}
        write = ObjectWrite(ctx.store, path, data=data, size=len(data), content_addressed=False)
        return Encoded(meta, writes=(write,))

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> NpyRef:
        return self.decode_column([stored], context=self.require_stores(context, "<npy@>"))[0]

    def decode_column(self, values: list, *, context: CodecContext) -> list:
        ctx = self.require_stores(context, "<npy@>")
        stores: dict[str | None, Any] = {}
        out: list[Any] = []
        for value in values:
            if value is None:
                out.append(None)
                continue
            meta = parse_stored(value)
            if "shape" not in meta or "dtype" not in meta:
                raise CodecError(f"attribute {ctx.attribute!r} of {ctx.full_table_name}: not an "
                                 f"<npy@> reference (no shape or dtype): {value!r}")
            name = meta.get("store")
            if name not in stores:
                stores[name] = self.store_of(ctx, name or "")
            out.append(NpyRef(meta, stores[name]))
        return out


__all__ = ["NpyCodec", "NpyRef", "parse_dtype"]
