"""``<object@>`` / ``<object@store>``: a file or folder per row, schema-addressed (DataJoint 2.3.5).

Insert takes a local file or folder path (``str``/``Path``), ``bytes``, an ``(ext, data)`` pair
(``data``: bytes or a readable binary file), or the metadata dict of an object already in the
store (what ``staged_insert1`` hands over). The row holds DataJoint's JSON, keys in its order::

    {"path": ..., "store": ..., "size": ..., "ext": ..., "is_dir": ..., "item_count": ...,
     "timestamp": ...}

(``store`` is null for the default store; ``item_count`` is null for a file). A folder's files
go below ``path``, with a manifest beside it at ``{path}.manifest.json``. Fetch returns a lazy
:class:`ObjectRef`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..codecs.base import CodecContext, Encoded, ObjectWrite
from ..errors import CodecError, DataError
from .objectref import ObjectRef
from .schema_addressed import MANIFEST_SUFFIX, SchemaAddressedCodec, utc_timestamp


class ValueTypeError(CodecError, DataError, TypeError):
    """A value of a type the codec does not take: a ``DataError`` as every refused value in
    joinflow, and a ``TypeError`` as DataJoint raises it (passed on unchanged by the insert)."""


class ObjectCodec(SchemaAddressedCodec):
    """``<object@store>``: files and folders, one per row (no deduplication); fetch returns
    an :class:`ObjectRef`."""

    name = "object"

    def validate(self, value: Any) -> None:
        if isinstance(value, (bytes, bytearray, memoryview, str, os.PathLike)):
            return
        if isinstance(value, tuple) and len(value) == 2:
            return
        if isinstance(value, dict) and "path" in value:
            return
        raise ValueTypeError(f"<object> expects bytes or path (a file or folder path, bytes, "
                             f"an (ext, data) pair or object metadata), got "
                             f"{type(value).__name__}")

    def encode(self, value: Any, *, context: CodecContext | None = None,
               key: Any = None, store_name: str | None = None) -> Any:
        """The row's metadata and the pending writes. Called directly in DataJoint's style
        (``context`` a dict, with ``key`` and ``store_name``), the object is written at once
        and the metadata returned."""
        if isinstance(value, dict):  # metadata of an object already in the store (staged)
            return value
        if isinstance(context, Mapping):
            ctx = self.datajoint_context(context, key, store_name)
            return self.write_now(self.encode(value, context=ctx), ctx)
        ctx = self.require_stores(context, "<object@>")
        if isinstance(value, (str, os.PathLike)):
            return self._encode_path(Path(value), ctx)
        if isinstance(value, tuple):
            ext, data = value
            if hasattr(data, "read"):
                data = data.read()
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"<object> (ext, data): data must be bytes or a binary file, "
                                f"got {type(data).__name__}")
            return self._encode_bytes(bytes(data), ext or None, ctx)
        return self._encode_bytes(bytes(value), None, ctx)

    def _metadata(self, ctx: CodecContext, path: str, size: int, ext: str | None,
                  is_dir: bool, item_count: int | None) -> dict[str, Any]:
        return {"path": path, "store": self.stored_store_name(ctx), "size": size, "ext": ext,
                "is_dir": is_dir, "item_count": item_count, "timestamp": utc_timestamp()}

    def _encode_bytes(self, data: bytes, ext: str | None, ctx: CodecContext) -> Encoded:
        if ext and ("/" in ext or "\\" in ext or ".." in ext):
            raise DataError(f"attribute {ctx.attribute!r}: extension {ext!r} names a folder "
                            "(an extension is e.g. '.csv')")
        if ext and not ext.startswith("."):
            ext = "." + ext
        path = self.new_path(ctx, ext)
        write = ObjectWrite(ctx.store, path, data=data, size=len(data), content_addressed=False)
        return Encoded(self._metadata(ctx, path, len(data), ext, False, None), writes=(write,))

    def _encode_path(self, source: Path, ctx: CodecContext) -> Encoded:
        if not source.exists():
            raise DataError(f"Source path not found: {source} (attribute {ctx.attribute!r})")
        if not source.is_dir():
            ext = source.suffix or None
            path = self.new_path(ctx, ext)
            size = source.stat().st_size
            write = ObjectWrite(ctx.store, path, source=os.fspath(source), size=size,
                                content_addressed=False)
            return Encoded(self._metadata(ctx, path, size, ext, False, None), writes=(write,))
        path = self.new_path(ctx, None)
        files = folder_files(source)
        writes = [ObjectWrite(ctx.store, f"{path}/{rel}", source=os.fspath(source / rel),
                              size=size, content_addressed=False) for rel, size in files]
        total = sum(size for _, size in files)
        manifest = {"files": [{"path": rel, "size": size} for rel, size in files],
                    "total_size": total, "item_count": len(files), "created": utc_timestamp()}
        data = json.dumps(manifest, indent=2).encode()
        writes.append(ObjectWrite(ctx.store, path + MANIFEST_SUFFIX, data=data, size=len(data),
                                  content_addressed=False))
        return Encoded(self._metadata(ctx, path, total, None, True, len(files)),
                       writes=tuple(writes))

    def decode(self, stored: Any, *, context: CodecContext | None = None,
               key: Any = None) -> ObjectRef:
        if isinstance(context, Mapping):  # a direct call in DataJoint's style
            context = self.datajoint_context(context, key, None)
        stores = context.stores if context is not None else None
        return ObjectRef.from_json(stored, stores=stores)


def folder_files(folder: Path) -> list[tuple[str, int]]:
    """``(path relative to folder, size)`` of every file below ``folder``, in walk order
    (folders and files sorted by name)."""
    out = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            full = Path(root, name)
            out.append((full.relative_to(folder).as_posix(), full.stat().st_size))
    return out


__all__ = ["ObjectCodec", "ValueTypeError", "folder_files"]
