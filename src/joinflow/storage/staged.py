"""``Table.staged_insert1``: write an ``<object@>`` attribute's content straight into its store
(a Zarr array, an HDF5 file, ...), then insert the row (DataJoint 2.3.5's API)::

    with Recording.staged_insert1 as staged:
        staged.rec["subject_id"] = 123
        staged.rec["session_id"] = 45
        z = zarr.open(staged.store("raw_data", ".zarr"), mode="w", shape=(1000, 1000))
        z[:] = data
        with staged.open("notes", ".txt") as f:
            f.write(b"...")
    # clean exit: each object's metadata is computed and the row inserted (insert1)
    # any error (in the block or in the insert): everything written is removed, no row

Until the row is inserted, a pending-write record (``storage.pending``) for each object keeps a
concurrent garbage collection (``dj.gc``) off what is being written.
The primary key must be set in ``staged.rec`` before ``store``/``open``: it places the object.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from ..codecs.base import ObjectWrite
from ..errors import DataError, JoinflowError
from . import pending
from .access import stores_for
from .schema_addressed import build_object_path, remove_folder, utc_timestamp

log = logging.getLogger("joinflow")


@dataclass(frozen=True)
class _Staged:
    path: str
    ext: str | None
    store_name: str | None      # the declared store (None: the default store)


class StagedInsert:
    """The handle ``staged_insert1`` yields: ``rec`` (the row's values), ``store(field, ext)``
    (an fsspec mapping for Zarr), ``open(field, ext)`` (a writable file) and ``fs``."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self._rec: dict[str, Any] = {}
        self._staged: dict[str, _Staged] = {}
        self._claims: list[Any] = []

    @property
    def rec(self) -> dict[str, Any]:
        """The row's values; the ``<object@>`` attributes written here are filled in on exit."""
        return self._rec

    def _stores(self) -> Any:
        return stores_for(self._table.connection.config)

    @property
    def fs(self) -> Any:
        """The fsspec filesystem of the default store."""
        return self._stores().get(None).fs

    def _resolve(self, field: str, ext: str) -> tuple[str, Any]:
        """(path, Store) of ``field``'s object, made on first use."""
        stores = self._stores()
        staged = self._staged.get(field)
        if staged is not None:
            return staged.path, stores.get(staged.store_name)
        table = self._table
        heading = table.heading
        if field not in heading:
            raise JoinflowError(f"Attribute {field!r} not found in table heading "
                                f"({table.full_table_name})")
        attr = heading[field]
        if attr.spec.codec != "object" or attr.spec.store is None:
            raise JoinflowError(f"Attribute {field!r} is not an <object> type "
                                f"({table.full_table_name}): staged inserts write <object@> "
                                "attributes only")
        missing = [k for k in table.primary_key if k not in self._rec]
        if missing:
            raise DataError("Primary key values must be set in staged.rec before calling store() "
                            f"or open(). Missing: {', '.join(missing)} (for {field!r})")
        if ext and ("/" in ext or "\\" in ext or ".." in ext):
            raise DataError(f"extension {ext!r} of {field!r}: an extension names no folder "
                            "(e.g. '.zarr', '.h5')")
        key = {k: self._rec[k] for k in table.primary_key}
        store_name = attr.spec.store or None
        store = stores.get(store_name)
        spec = store.spec
        path, _ = build_object_path(table.database, table.table_name, field, key, ext or None,
                                    spec.partition_pattern, spec.token_length,
                                    schema_prefix=spec.schema_prefix)
        if ext and not ext.startswith("."):
            ext = "." + ext
        # a pending-write record keeps garbage collection off the object until the row is in
        self._claims.append(pending.claim(table.connection, table.database,
                                          [ObjectWrite(store_name, path)]))
        self._staged[field] = _Staged(path, ext or None, store_name)
        return path, store

    def store(self, field: str, ext: str = "") -> Any:
        """An ``fsspec.FSMap`` for writing ``field``'s object as a folder (e.g. a Zarr store)."""
        import fsspec
        path, store = self._resolve(field, ext)
        return fsspec.FSMap(store.full_path(path), store.fs)

    def open(self, field: str, ext: str = "", mode: str = "wb") -> IO[Any]:
        """A file for writing ``field``'s object."""
        path, store = self._resolve(field, ext)
        return store.open(path, mode)

    # -- ending ----------------------------------------------------------------------------------
    def _metadata(self, field: str) -> dict[str, Any]:
        staged = self._staged[field]
        store = self._stores().get(staged.store_name)
        full = store.full_path(staged.path)
        fs = store.fs
        if fs.isdir(full):
            sizes = [int(info.get("size") or 0)
                     for info in fs.find(full, detail=True).values()
                     if info.get("type", "file") == "file"]
            size, is_dir, count = sum(sizes), True, len(sizes)
        elif fs.exists(full):
            size, is_dir, count = int(fs.size(full)), False, None
        else:
            raise JoinflowError(f"staged insert: nothing was written to {field!r} (call "
                                "staged.open() or staged.store() and write to it)")
        return {"path": staged.path, "store": staged.store_name, "size": size,
                "ext": staged.ext, "is_dir": is_dir, "item_count": count,
                "timestamp": utc_timestamp()}

    def _finish(self) -> None:
        for field in self._staged:
            self._rec[field] = self._metadata(field)
        self._table.insert1(self._rec)

    def _discard(self) -> None:
        """Remove everything written (best effort: a failure is logged)."""
        stores = self._stores()
        for field, staged in self._staged.items():
            try:
                store = stores.get(staged.store_name)
                full = store.full_path(staged.path)
                if store.fs.isdir(full):
                    remove_folder(store, staged.path)
                else:
                    store.remove(staged.path)
            except Exception as exc:  # noqa: BLE001 - must not hide the original error
                log.warning("staged insert: could not remove the object of %r at %s: %s",
                            field, staged.path, exc)


@contextlib.contextmanager
def staged_insert1(table: Any) -> Iterator[StagedInsert]:
    """The context manager behind ``Table.staged_insert1``."""
    staged = StagedInsert(table)
    try:
        yield staged
        staged._finish()
    except BaseException:
        staged._discard()
        raise
    finally:
        for claim in staged._claims:
            pending.release(claim)


__all__ = ["StagedInsert", "staged_insert1"]
