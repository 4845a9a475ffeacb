"""Converting DataJoint 0.14 objects to DataJoint 2.x references, object by object.

A 0.14 blob object is the serialized blob; its hash is the MD5 of those bytes (as a UUID). A
0.14 attachment object is the file's contents; its hash is the MD5 of ``name NUL contents``.
DataJoint 2.x stores both hash-addressed (``{hash_prefix}/{schema}/{hash}``, the base32 MD5
of the object): a blob as the same bytes, an attachment as ``name NUL contents``. Each
object is read, checked against its 0.14 hash, and written to its 2.x place (unless there)
before any row points at it; the 0.14 object is never touched. Small objects go in
concurrent batches; objects over ``STREAM_OVER`` bytes pass through a temporary file, never
whole in memory. ``filepath@`` files are referenced where they are, after checking them."""
from __future__ import annotations

import os
import posixpath
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..storage.hashing import (content_hash, file_hash, hash_path, legacy_file_uuid,
                               legacy_path, legacy_to_hash, legacy_uuid)
from ..storage.legacy import TrackingRow

#: objects converted per batch (one concurrent read, existence check and write each)
BATCH = 64
#: objects larger than this go through a temporary file
STREAM_OVER = 64 << 20


class Skip(Exception):
    """This object cannot be converted (missing, corrupted, unusable): its rows stay as they
    are, and the message is reported."""


@dataclass(frozen=True)
class Route:
    """Where a column's objects are (``source`` store named ``source_name``, 0.14 layout under
    ``source_schema``) and where their 2.x references point (``dest`` named ``dest_name``).
    ``copy``: objects are copied to their 2.x place; without it, 0.14 blob objects are
    referenced where they are (their bytes are the 2.x object). ``scratch``: the folder for
    temporary files."""

    source: Any
    source_name: str
    source_schema: str
    dest: Any
    dest_name: str
    copy: bool = True
    scratch: str | None = None


def _attachment_name(row: TrackingRow) -> str:
    name = row.attachment_name or ""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise Skip(f"attachment {row.hash} has an unusable name {name!r}")
    return name


def _source_path(kind: str, route: Route, row: TrackingRow) -> tuple[str, str]:
    """The 0.14 object's path and the hash prefix (``name NUL`` for attachments)."""
    folds = route.source.spec.subfolding
    if kind == "blob":
        return legacy_path(row.hash, route.source_schema, subfolding=folds), ""
    if not route.copy:
        raise Skip(f"attachment {row.hash}: 2.x stores attachments as name + contents, so they "
                   "must be copied (copy_files=True)")
    name = _attachment_name(row)
    return legacy_path(row.hash, route.source_schema, subfolding=folds,
                       attachment_name=name), name + "\0"


def _reference(route: Route, database: str, key: str, size: int) -> tuple[str, dict]:
    spec = route.dest.spec
    path = hash_path(key, database, hash_prefix=spec.hash_prefix, subfolding=spec.subfolding)
    return path, {"hash": key, "path": path, "schema": database, "store": route.dest_name,
                  "size": size}


def _in_place(route: Route, database: str, row: TrackingRow, src: str, size: int) -> dict:
    """A 0.14 blob referenced where it is (no copy)."""
    return {"hash": legacy_to_hash(row.hash), "path": src, "schema": database,
            "store": route.source_name, "size": size}


# -- one object -------------------------------------------------------------------------------
def convert_one(kind: str, route: Route, database: str, row: TrackingRow) -> dict:
    """The 2.x JSON for one tracking row; the object is copied (and checked) first."""
    if kind == "filepath":
        return _filepath(route, row)
    src, prefix = _source_path(kind, route, row)
    if row.size > STREAM_OVER:
        return _convert_file(kind, route, database, row, src, prefix)
    try:
        data = route.source.get_bytes(src)
    except Exception as exc:  # noqa: BLE001 - reported per object
        raise Skip(f"cannot read {src}: {exc}") from exc
    _check(data, prefix, row, src)
    if not route.copy:
        return _in_place(route, database, row, src, len(data))
    obj = prefix.encode() + data
    path, ref = _reference(route, database, content_hash(obj), len(obj))
    if not route.dest.exists(path):
        route.dest.put_bytes(path, obj)
    if route.dest.size(path) != len(obj):
        raise Skip(f"the copy at {path} has the wrong size")
    return ref


def _check(data: bytes, prefix: str, row: TrackingRow, src: str) -> None:
    if legacy_uuid(data, prefix) != row.hash:
        raise Skip(f"{src} does not match its hash {row.hash}: the object is corrupted")


def _convert_file(kind: str, route: Route, database: str, row: TrackingRow, src: str,
                  prefix: str) -> dict:
    """A large object, through a temporary file (checked and hashed in chunks)."""
    if route.scratch:
        os.makedirs(route.scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=route.scratch, prefix=".jf-migrate-") as folder:
        local = os.path.join(folder, "object")
        try:
            route.source.get_file(src, local)
        except Exception as exc:  # noqa: BLE001 - reported per object
            raise Skip(f"cannot read {src}: {exc}") from exc
        if legacy_file_uuid(local, prefix) != row.hash:
            raise Skip(f"{src} does not match its hash {row.hash}: the object is corrupted")
        size = os.path.getsize(local)
        if not route.copy:
            return _in_place(route, database, row, src, size)
        head = prefix.encode()
        path, ref = _reference(route, database, file_hash(local, head), size + len(head))
        if not route.dest.exists(path):
            route.dest.put_file(path, local, head)
        if route.dest.size(path) != size + len(head):
            raise Skip(f"the copy at {path} has the wrong size")
        return ref


def _filepath(route: Route, row: TrackingRow) -> dict:
    rel = posixpath.normpath((row.filepath or "").lstrip("/"))
    if not row.filepath or rel.startswith("..") or rel == ".":
        raise Skip(f"tracking row {row.hash} has no usable filepath {row.filepath!r}")
    for prefix in (route.dest.spec.hash_prefix, route.dest.spec.schema_prefix):
        prefix = (prefix or "").strip("/")
        if prefix and (rel == prefix or rel.startswith(prefix + "/")):
            raise Skip(f"{rel} lies in the section {prefix!r} that DataJoint 2.x manages")
    try:
        size = route.source.size(rel)
    except Exception as exc:  # noqa: BLE001 - reported per file
        raise Skip(f"file {rel} is missing from store {route.source_name!r}: {exc}") from exc
    if size != row.size:
        raise Skip(f"file {rel} has {size} bytes, its tracking row says {row.size}")
    if route.dest is not route.source:
        if not route.copy:
            raise Skip(f"file {rel} is in store {route.source_name!r}: referencing it from "
                       f"{route.dest_name!r} needs copy_files=True")
        if not route.dest.exists(rel):
            _copy_file(route, rel, size)
    return {"path": rel, "store": route.dest_name, "size": size, "is_dir": False,
            "timestamp": datetime.now(timezone.utc).isoformat()}


def _copy_file(route: Route, rel: str, size: int) -> None:
    """Copy a file between stores (a large one through a temporary file)."""
    if size <= STREAM_OVER:
        route.dest.put_bytes(rel, route.source.get_bytes(rel))
        return
    if route.scratch:
        os.makedirs(route.scratch, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=route.scratch, prefix=".jf-migrate-") as folder:
        local = os.path.join(folder, "file")
        route.source.get_file(rel, local)
        route.dest.put_file(rel, local)


# -- many objects -------------------------------------------------------------------------------
def convert_many(kind: str, route: Route, database: str,
                 rows: list[TrackingRow]) -> tuple[dict[uuid.UUID, dict], list[str]]:
    """2.x JSON per hash for ``rows`` and the messages of those that cannot be converted.
    Small blobs and attachments go in concurrent batches; when a batch fails (a missing
    object, a failed write), its objects are done one by one so each failure is named."""
    refs: dict[uuid.UUID, dict] = {}
    errors: list[str] = []
    single = [r for r in rows if kind == "filepath" or r.size > STREAM_OVER or not route.copy]
    batched = [r for r in rows if r not in single]
    for start in range(0, len(batched), BATCH):
        chunk = batched[start:start + BATCH]
        try:
            done, failed = _batch(kind, route, database, chunk)
        except Exception:  # noqa: BLE001 - the chunk goes one by one below
            single += chunk
            continue
        refs.update(done)
        errors += failed
    for row in single:
        try:
            refs[row.hash] = convert_one(kind, route, database, row)
        except Skip as exc:
            errors.append(str(exc))
    return refs, errors


def _batch(kind: str, route: Route, database: str,
           rows: list[TrackingRow]) -> tuple[dict[uuid.UUID, dict], list[str]]:
    """One concurrent read of the 0.14 objects, their checks, one existence check and one
    concurrent write of the 2.x objects. Raises when a read or a write fails."""
    errors: list[str] = []
    sources: list[tuple[TrackingRow, str, str]] = []
    for row in rows:
        try:
            sources.append((row, *_source_path(kind, route, row)))
        except Skip as exc:
            errors.append(str(exc))
    datas = route.source.get_many([src for _, src, _ in sources])
    objects: dict[uuid.UUID, tuple[str, dict, bytes]] = {}
    for (row, src, prefix), data in zip(sources, datas):
        try:
            _check(data, prefix, row, src)
        except Skip as exc:
            errors.append(str(exc))
            continue
        obj = prefix.encode() + data
        path, ref = _reference(route, database, content_hash(obj), len(obj))
        objects[row.hash] = (path, ref, obj)
    unique = {path: obj for path, _, obj in objects.values()}
    present = route.dest.exists_many(list(unique))
    missing = [(p, obj) for (p, obj), there in zip(unique.items(), present) if not there]
    damaged = {p for (p, obj), there in zip(unique.items(), present)
               if there and route.dest.size(p) != len(obj)}
    if missing:
        route.dest.put_many(missing)
        if not all(route.dest.exists_many([p for p, _ in missing])):
            raise Skip("a batch of copies did not arrive")
    errors += [f"the copy at {p} has the wrong size" for p in sorted(damaged)]
    return {h: ref for h, (p, ref, _) in objects.items() if p not in damaged}, errors
