"""``<filepath@>`` / ``<filepath@store>`` (DataJoint 2.x): a reference to a file or folder that
already exists in a store. Nothing is copied; the row holds DataJoint 2.3.5's JSON::

    {"path": ..., "store": ..., "size": ..., "is_dir": ..., "timestamp": ...}

``path`` is relative to the store's root (normalized: an absolute path inside a ``file``
store's location is made relative to it, then a leading ``/`` and ``./`` are dropped;
``store`` is null for ``<filepath@>``, which uses ``stores.filepath_default``). The path may
not lie in the sections joinflow manages (the store's ``hash_prefix`` and ``schema_prefix``),
must start with ``filepath_prefix`` when the store sets one, and may not climb out of the store
(``..``). The file must exist when the row is inserted: it is checked, and its size recorded,
while the value is encoded — before the row's transaction, so no lock is held during the
store's round trip. Fetch returns a lazy :class:`ObjectRef`; ``ref.verify()`` checks that the
file still has the recorded size. A referenced file belongs to whoever put it there: deleting
the row, and garbage collection, never remove it.

(DataJoint 0.12–0.14's ``filepath@store``, with ``~external_<store>`` tracking and checksums,
lives in ``legacy.py``.)
"""
from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..codecs.base import Codec, CodecContext
from ..errors import CodecError, ConfigError, DataError, MissingObjectError
from .objectref import ObjectRef


class FilepathCodec(Codec):
    """``<filepath@store>``: the path of an existing file or folder in a store."""

    name = "filepath"

    def get_dtype(self, is_store: bool) -> str:
        if not is_store:
            raise CodecError("<filepath> requires a store: write <filepath@> (the store named by "
                             "stores.filepath_default) or <filepath@store>")
        return "json"

    def validate(self, value: Any) -> None:
        if not isinstance(value, (str, os.PathLike)):
            from .objects import ValueTypeError
            raise ValueTypeError(f"<filepath> expects a path string or Path, got "
                                 f"{type(value).__name__}")

    def encode(self, value: Any, *, context: CodecContext | None = None, key: Any = None,
               store_name: str | None = None) -> dict[str, Any]:
        if isinstance(context, Mapping) or context is None:  # DataJoint's direct-call style
            from .schema_addressed import SchemaAddressedCodec
            context = SchemaAddressedCodec.datajoint_context(context or {}, key, store_name)
        self.validate(value)
        path = os.fspath(value)
        if isinstance(path, bytes):
            path = path.decode()
        path = path.replace("\\", "/")
        store = self._store(context, context.store)
        relative = _check_path(_inside_local_root(path, store), store.spec, context)
        full = store.full_path(relative)
        try:
            found = bool(store.fs.exists(full))
            is_dir = found and bool(store.fs.isdir(full))
        except Exception as exc:  # noqa: BLE001 - named with the store below
            raise MissingObjectError(f"<filepath@{context.store or ''}> of attribute "
                                     f"{context.attribute!r}: cannot reach {path!r} in store "
                                     f"{store.name!r}: {exc}") from exc
        if not found:
            raise MissingObjectError(f"File not found in store {store.name!r}: {path} "
                                     f"(attribute {context.attribute!r}; <filepath@> references "
                                     "a file already in the store, relative to its location)")
        size = None if is_dir else store.size(relative)
        return {"path": relative, "store": context.store or None, "size": size, "is_dir": is_dir,
                "timestamp": datetime.now(timezone.utc).isoformat()}

    def decode(self, stored: Any, *, context: CodecContext | None = None,
               key: Any = None) -> ObjectRef:
        if isinstance(context, Mapping) or context is None:
            from .schema_addressed import SchemaAddressedCodec
            context = SchemaAddressedCodec.datajoint_context(context or {}, key, None)
        ref = ObjectRef.from_json(stored)
        return ObjectRef.from_json(stored, backend=_LazyStore(self, context, ref.store))

    def _store(self, context: CodecContext, name: str | None) -> Any:
        if context.stores is None:
            raise CodecError("<filepath@> needs the configured stores: it can only be used "
                             "through a table")
        try:
            return context.stores.get(name or None, filepath=True)
        except ConfigError as exc:
            raise CodecError(f"<filepath@{name or ''}> of attribute {context.attribute!r}: "
                             f"{exc}") from exc


class _LazyStore:
    """The store of a fetched reference, resolved on first use (a row's metadata can be read
    where the store is not reachable or not configured)."""

    def __init__(self, codec: FilepathCodec, context: CodecContext, name: str | None) -> None:
        self._codec, self._context, self._name = codec, context, name
        self._store: Any = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        if self._store is None:
            self._store = self._codec._store(self._context, self._name)
        return getattr(self._store, attr)


def _inside_local_root(path: str, store: Any) -> str:
    """An absolute local path inside a ``file`` store's location, made relative to it (as
    DataJoint 0.14's docs write ``filepath@data`` values: ``'/data/images/image_0.tif'`` for
    the store at ``/data``); any other path unchanged."""
    if not (store.is_local and os.path.isabs(path)):
        return path
    root = store.spec.root.rstrip("/")
    normalized = posixpath.normpath(path)
    if normalized.startswith(root + "/"):
        return normalized[len(root) + 1:]
    return path


def _check_path(path: str, spec: Any, context: CodecContext) -> str:
    """The path relative to the store's root, normalized (``./a//b`` -> ``a/b``), after the
    checks: not empty, not leaving the store, not in a reserved section, within
    ``filepath_prefix`` when the store sets one."""
    where = f"<filepath@{context.store or ''}> of attribute {context.attribute!r}"
    if not path.strip("/"):
        raise DataError(f"{where}: the path is empty")
    if ".." in path.split("/"):
        raise DataError(f"{where}: {path!r} leaves the store (no '..' in a filepath)")
    relative = posixpath.normpath(path.lstrip("/"))
    if relative in (".", "") or relative.startswith("../"):
        raise DataError(f"{where}: {path!r} does not name a file in the store")
    for setting in ("hash_prefix", "schema_prefix"):
        prefix = (getattr(spec, setting, None) or "").strip("/")
        if prefix and (relative == prefix or relative.startswith(prefix + "/")):
            raise DataError(f"<filepath@> cannot use reserved section '{prefix}' ({setting}): "
                            f"joinflow manages it. Got path: {path}")
    required = (getattr(spec, "filepath_prefix", None) or "").strip("/")
    if required and not (relative == required or relative.startswith(required + "/")):
        raise DataError(f"<filepath@> must use prefix '{required}' (filepath_prefix). "
                        f"Got path: {path}")
    return relative


__all__ = ["FilepathCodec"]
