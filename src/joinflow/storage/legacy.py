"""DataJoint 0.12-0.14 external storage: ``blob@store``, ``attach@store``, ``filepath@store``.

The column holds a UUID (``binary(16)`` on MySQL, ``uuid`` on PostgreSQL, a 16-byte BLOB on
SQLite) referencing a row of the schema's tracking table ``~external_<store>`` (hash, size,
attachment_name, filepath, contents_hash, timestamp). Hashes, object bytes and paths are
DataJoint 0.14's:

* blob: ``uuid = md5(serialized blob)``; object ``{schema}/{h[0:2]}/{h[2:4]}/{uuidhex}`` holding
  the blob bytes (compressed as DataJoint does).
* attach: ``uuid = md5(filename + NUL + contents)``; object ``.../{uuidhex}.{filename}`` holding
  the raw file.
* filepath: ``uuid = md5(relative path)``, ``contents_hash = md5(contents)``; the file inside the
  store's ``stage`` is copied to ``{relative path}`` in the store.

Subfolding comes from the store spec, (2, 2) by default. Encoding returns the object write and
the tracking row (``Encoded``); the insert path uploads before the transaction and writes the
tracking row inside it. Decoding fetches a whole column: the tracking rows in one query (through
the narrow :class:`TrackingLookup` on the context), the objects in one concurrent batch.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Protocol

from ..codecs import blob as blobfmt
from ..codecs.base import (Codec, CodecContext, Encoded, ObjectUse, ObjectWrite, RowWrite,
                           registry)
from ..codecs.builtin import safe_filename, write_attachment
from ..errors import CodecError, DataError
from .cache import ObjectCache
from .hashing import (
    legacy_attachment_uuid,
    legacy_file_uuid,
    legacy_path,
    legacy_to_hash,
    legacy_uuid,
)
from .transfer import fetch_verified

TRACKING_PREFIX = "~external_"
DOWNLOAD_THREADS = 16


def tracking_table(store: str) -> str:
    """The name of the tracking table of ``store`` (``~external_<store>``)."""
    return TRACKING_PREFIX + store


@dataclass(frozen=True)
class TrackingRow:
    """One row of a ``~external_<store>`` table."""

    hash: uuid.UUID
    size: int
    attachment_name: str | None = None
    filepath: str | None = None
    contents_hash: uuid.UUID | None = None


class TrackingLookup(Protocol):
    """Read access to tracking rows, as codecs see it (no connection, nothing else)."""

    def rows(self, schema: str, store: str, hashes: Sequence[uuid.UUID]
             ) -> Mapping[uuid.UUID, TrackingRow]:
        """The tracking rows of ``hashes`` (missing ones are left out), in one batch."""


# ------------------------------------------------------------------------------ helpers
def _store(context: CodecContext) -> Any:
    if context.stores is None:
        raise CodecError(f"attribute {context.attribute!r}: no object stores are available")
    return context.stores.get(context.store)


def _lookup(context: CodecContext) -> TrackingLookup:
    if context.tracking is None:
        raise CodecError(f"attribute {context.attribute!r}: the tracking table of store "
                         f"{context.store!r} cannot be read here")
    return context.tracking


def _object_path(uid: uuid.UUID, context: CodecContext, store: Any,
                 attachment_name: str | None = None) -> str:
    return legacy_path(uid, context.schema, subfolding=store.spec.subfolding,
                       attachment_name=attachment_name)


def _config_value(config: Any, key: str) -> Any:
    if config is None:
        return None
    try:
        return config[key]
    except (KeyError, LookupError):
        return None


def _use(context: CodecContext, uid: uuid.UUID) -> ObjectUse:
    """Rows refer to the object through the tracking table's ``hash``."""
    return ObjectUse(context.schema, uid, tracking_table(context.store or ""))


def _tracking_row(context: CodecContext, uid: uuid.UUID, size: int, **values: Any) -> RowWrite:
    row = {"hash": uid, "size": size, "attachment_name": None, "filepath": None,
           "contents_hash": None, **values}
    return RowWrite(context.schema, tracking_table(context.store or ""), row)


def _uuids(values: list) -> list[uuid.UUID]:
    return list(dict.fromkeys(v for v in values if v is not None))


# ------------------------------------------------------------------------------ blob@store
class LegacyBlobCodec(Codec, register=False):
    """``blob@store``: a serialized blob in the store, tracked by its MD5 as a UUID."""

    name: ClassVar[str] = "blob"
    dtype: ClassVar[str] = "uuid"

    def encode(self, value: Any, *, context: CodecContext | None = None) -> Encoded:
        assert context is not None
        data = blobfmt.pack(value, compress=True)
        uid = legacy_uuid(data)
        store = _store(context)
        write = ObjectWrite(context.store, _object_path(uid, context, store), data=data,
                            size=len(data), use=_use(context, uid))
        return Encoded(uid, writes=(write,), rows=(_tracking_row(context, uid, len(data)),))

    def decode_column(self, values: list, *, context: CodecContext) -> list:
        """Cache hits first, the rest in one concurrent batch; every object verified against
        its hash (the UUID is the MD5 of the blob bytes)."""
        uids = _uuids(values)
        if not uids:
            return list(values)
        store = _store(context)
        objects = [(_object_path(u, context, store), legacy_to_hash(u)) for u in uids]
        data = dict(zip(uids, fetch_verified(store, objects, _cache(context)), strict=True))
        return [None if v is None else blobfmt.unpack(
            data[v], squeeze=context.squeeze,
            writable=bool(context.config is not None and context.config["blob.writable_arrays"]))
                for v in values]

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> Any:
        assert context is not None
        return self.decode_column([stored], context=context)[0]


def _cache(context: CodecContext) -> ObjectCache | None:
    """``dj.config['cache']`` as an object cache (blob@ values only, as DataJoint 0.14)."""
    if not _config_value(context.config, "cache"):
        return None
    return ObjectCache.from_config(context.config)


# ------------------------------------------------------------------------------ attach@store
class LegacyAttachCodec(Codec, register=False):
    """``attach@store``: the raw file in the store as ``{uuidhex}.{filename}``; fetch writes it
    into the download folder and returns its path."""

    name: ClassVar[str] = "attach"
    dtype: ClassVar[str] = "uuid"

    def validate(self, value: Any) -> None:
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"attach@ takes a file path, got {type(value).__name__}")
        if not Path(value).is_file():
            raise ValueError(f"attachment file not found: {value}")

    def encode(self, value: Any, *, context: CodecContext | None = None) -> Encoded:
        assert context is not None
        self.validate(value)
        local = Path(value)
        name = local.name
        uid, size = legacy_attachment_uuid(local, name), local.stat().st_size
        store = _store(context)
        write = ObjectWrite(context.store, _object_path(uid, context, store, name),
                            source=str(local), size=size, use=_use(context, uid))
        row = _tracking_row(context, uid, size, attachment_name=name)
        return Encoded(uid, writes=(write,), rows=(row,))

    def decode_column(self, values: list, *, context: CodecContext) -> list:
        uids = _uuids(values)
        if not uids:
            return list(values)
        rows = _lookup(context).rows(context.schema, context.store or "", uids)
        folder = Path(context.download_path)
        local = {u: _reusable(folder, rows[u]) for u in uids if u in rows}
        want = [u for u in uids if u in rows and local[u] is None]
        if want:
            store = _store(context)
            paths = [_object_path(u, context, store, rows[u].attachment_name) for u in want]
            for uid, data in zip(want, store.get_many(paths)):
                local[uid] = write_attachment(folder, rows[uid].attachment_name or uid.hex, data)
        out: list[str | None] = []
        for v in values:
            if v is None:
                out.append(None)
            elif v not in rows:
                raise CodecError(f"attribute {context.attribute!r}: attachment {v} has no row in "
                                 f"{tracking_table(context.store or '')}")
            else:
                out.append(str(local[v]))
        return out

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> Any:
        assert context is not None
        return self.decode_column([stored], context=context)[0]


def _reusable(folder: Path, row: TrackingRow) -> Path | None:
    """An existing download of the same attachment (same name and content hash), if any."""
    name = safe_filename(row.attachment_name or row.hash.hex)
    candidate = folder / name
    if candidate.is_file() and not candidate.is_symlink() and \
            candidate.stat().st_size == row.size and \
            legacy_attachment_uuid(candidate, name) == row.hash:
        return candidate
    return None


# ------------------------------------------------------------------------------ filepath@store
class LegacyFilepathCodec(Codec, register=False):
    """``filepath@store``: a file inside the store's ``stage`` folder, copied into the store at
    the same relative path; the tracking row records the path and the contents' MD5."""

    name: ClassVar[str] = "filepath"
    dtype: ClassVar[str] = "uuid"

    def validate(self, value: Any) -> None:
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"filepath@ takes a file path, got {type(value).__name__}")

    def encode(self, value: Any, *, context: CodecContext | None = None) -> Encoded:
        assert context is not None
        self.validate(value)
        store = _store(context)
        local, rel = _staged(value, store, context)
        uid = legacy_uuid(rel.encode())
        if not local.is_file():
            raise DataError(f"attribute {context.attribute!r}: file not found: {local}")
        size = local.stat().st_size
        limit = _config_value(context.config, "filepath_checksum_size_limit_insert")
        contents = None if limit is not None and size > limit else legacy_file_uuid(local)
        existing = _lookup(context).rows(context.schema, context.store or "", [uid]).get(uid)
        if existing is not None:
            if existing.contents_hash != contents:
                raise DataError(f"A different version of '{rel}' has already been placed.")
            return Encoded(uid)
        writes: tuple[ObjectWrite, ...] = ()
        if not _same_file(store, rel, local):
            writes = (ObjectWrite(context.store, rel, source=str(local), size=size,
                                  content_addressed=False, use=_use(context, uid)),)
        row = _tracking_row(context, uid, size, filepath=rel, contents_hash=contents)
        return Encoded(uid, writes=writes, rows=(row,))

    def decode_column(self, values: list, *, context: CodecContext) -> list:
        uids = _uuids(values)
        if not uids:
            return list(values)
        rows = _lookup(context).rows(context.schema, context.store or "", uids)
        store = _store(context)
        stage = _stage(store, context)
        relative = {u: rows[u].filepath for u in uids if u in rows}
        local = {u: stage / rel for u, rel in relative.items() if rel}
        limit = _config_value(context.config, "filepath_checksum_size_limit")
        todo = [u for u in local if not _intact(local[u], rows[u], limit)]
        _download(store, [(str(relative[u]), local[u]) for u in todo])
        for u in todo:
            if not _intact(local[u], rows[u], limit):
                raise CodecError(f"'{local[u]}' downloaded but did not pass checksum.")
        out = []
        for v in values:
            if v is not None and v not in local:
                raise CodecError(f"attribute {context.attribute!r}: filepath {v} has no row in "
                                 f"{tracking_table(context.store or '')}")
            out.append(None if v is None else str(local[v]))
        return out

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> Any:
        assert context is not None
        return self.decode_column([stored], context=context)[0]


def _stage(store: Any, context: CodecContext) -> Path:
    stage = store.spec.stage
    if not stage:
        raise CodecError(f"attribute {context.attribute!r}: store {store.spec.name!r} has no "
                         "'stage' folder, which filepath@ needs")
    return Path(stage).absolute()


def _staged(value: Any, store: Any, context: CodecContext) -> tuple[Path, str]:
    """The absolute local path and its store-relative path (POSIX), checked to be in stage."""
    stage = _stage(store, context)
    local = Path(os.path.abspath(os.fspath(value)))
    try:
        rel = local.relative_to(stage)
    except ValueError:
        raise DataError(f"The path {local.parent} is not in stage {stage}") from None
    if not rel.parts or ".." in rel.parts:
        raise DataError(f"The path {local} is not a file in stage {stage}")
    return local, PurePosixPath(*rel.parts).as_posix()


def _same_file(store: Any, rel: str, local: Path) -> bool:
    """True when the store's copy *is* the staged file (a file store whose stage is its
    location): nothing to copy, and nothing to remove if the insert fails."""
    if store.spec.protocol != "file":
        return False
    target = Path(store.full_path(rel))
    try:
        return target.exists() and os.path.samefile(target, local)
    except OSError:
        return False


def _intact(path: Path, row: TrackingRow, limit: int | None) -> bool:
    if not path.is_file() or path.stat().st_size != row.size:
        return False
    if row.contents_hash is None or (limit is not None and row.size >= limit):
        return True
    return legacy_file_uuid(path) == row.contents_hash


def _download(store: Any, items: list[tuple[str, Path]]) -> None:
    """Download ``(store path, local path)`` pairs concurrently (streamed, atomic)."""
    if not items:
        return
    if len(items) == 1:
        store.get_file(*items[0])
        return
    with ThreadPoolExecutor(max_workers=min(DOWNLOAD_THREADS, len(items))) as pool:
        list(pool.map(lambda item: store.get_file(*item), items))


# ------------------------------------------------------------------------------ registration
LEGACY_CODECS: dict[str, Codec] = {
    "blob": LegacyBlobCodec(), "attach": LegacyAttachCodec(), "filepath": LegacyFilepathCodec()}
registry.set_legacy_external(LEGACY_CODECS)
