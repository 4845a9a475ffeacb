"""``<hash@store>``: bytes in a store, addressed by their content hash (DataJoint 2.x layout).

``<blob@>`` and ``<attach@>`` chain onto it (their stored form is ``<hash>``). The row holds the
JSON DataJoint 2.3.5 writes, keys in its order: ``{"hash", "path", "schema", "store", "size"}``
(``store`` is null for the default store); the object lives at
``{hash_prefix}/{schema}/[folds/]{hash}`` in the store. Identical content in a schema is stored
once; fetch decodes a whole column at once (cache first, then one concurrent batch per store)
and verifies every object against its hash.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..codecs.base import Codec, CodecContext, Encoded, FileContent, ObjectUse, ObjectWrite
from ..errors import CodecError, ObjectIntegrityError, StoreError
from .cache import ObjectCache
from .hashing import content_hash, file_hash, hash_path, is_hash
from .transfer import fetch_verified

Reference = Mapping[str, Any]
#: objects larger than this are streamed to a file when the next codec takes files
STREAM_OVER = 64 << 20


class HashCodec(Codec):
    """``<hash@store>``: raw bytes, hash-addressed and deduplicated; fetch returns bytes."""

    name = "hash"

    def get_dtype(self, is_store: bool) -> str:
        if not is_store:
            raise CodecError("<hash> requires a store: write <hash@> or <hash@store>")
        return "json"

    def validate(self, value: Any) -> None:
        if not isinstance(value, (bytes, bytearray, memoryview, FileContent)):
            raise TypeError(f"<hash> expects bytes, got {type(value).__name__}")

    def referenced_paths(self, stored: Any) -> list[tuple[str, str | None]]:
        """``[(path, store)]`` a stored value references (DataJoint's collector API); ``[]``
        for ``None``, text that is not JSON, or metadata without a path."""
        if isinstance(stored, (str, bytes, bytearray)):
            try:
                stored = json.loads(stored)
            except ValueError:
                return []
        if not isinstance(stored, Mapping) or not isinstance(stored.get("path"), str):
            return []
        return [(stored["path"], stored.get("store"))]

    def encode(self, value: Any, *, context: CodecContext | None = None) -> Encoded:
        ctx = _require_stores(context)
        store = ctx.stores.get(ctx.store)  # type: ignore[union-attr]
        if isinstance(value, FileContent):  # a local file: hashed and uploaded in chunks
            key, size = file_hash(value.path, value.prefix), value.size
        else:
            key, size = content_hash(value), len(memoryview(value).cast("B"))
        spec = store.spec
        path = hash_path(key, ctx.schema, hash_prefix=spec.hash_prefix,
                         subfolding=spec.subfolding)
        ref = {"hash": key, "path": path, "schema": ctx.schema, "store": ctx.store or None,
               "size": size}
        use = ObjectUse(ctx.schema, key)
        if isinstance(value, FileContent):
            write = ObjectWrite(ctx.store, path, source=value.path, prefix=value.prefix,
                                size=size, use=use)
        else:
            write = ObjectWrite(ctx.store, path, data=value, size=size, use=use)
        return Encoded(ref, writes=(write,))

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> bytes:
        return self.decode_column([stored], context=_require_stores(context))[0]

    def decode_column(self, values: list, *, context: CodecContext) -> list:
        """The objects of a column: cache hits, then one concurrent batch per store. When the
        next codec takes files (``<attach@>``), objects over ``STREAM_OVER`` bytes are streamed
        to a local file instead (verified as they are), never held in memory."""
        ctx = _require_stores(context)
        refs = [None if v is None else _reference(v, ctx) for v in values]
        found: dict[tuple[str, str], Any] = {}
        for store_name in dict.fromkeys(r.get("store") or "" for r in refs if r is not None):
            group = [r for r in refs if r is not None and (r.get("store") or "") == store_name]
            large = [r for r in group if ctx.files_ok and (r.get("size") or 0) > STREAM_OVER]
            found.update(_fetch(ctx, store_name, [r for r in group if r not in large]))
            found.update(_download(ctx, store_name, large))
        return [None if r is None else found[(r.get("store") or "", r["path"])] for r in refs]


def _require_stores(context: CodecContext | None) -> CodecContext:
    if context is None or context.stores is None:
        raise CodecError("<hash@> needs the configured stores: it can only be used through a "
                         "table")
    return context


def _reference(value: Any, ctx: CodecContext) -> Reference:
    if isinstance(value, (str, bytes)):
        import json
        value = json.loads(value)
    ok = isinstance(value, Mapping) and is_hash(value.get("hash")) and isinstance(
        value.get("path"), str)
    if not ok:
        raise CodecError(f"{_where(ctx)}: not a hash-addressed object reference: {value!r}")
    return value  # type: ignore[return-value]


def _fetch(ctx: CodecContext, store_name: str,
           refs: list[Reference]) -> dict[tuple[str, str], bytes]:
    store = ctx.stores.get(store_name or None)  # type: ignore[union-attr]
    objects = list(dict.fromkeys((r["path"], r["hash"]) for r in refs))
    cache = ObjectCache.from_config(ctx.config) if ctx.config is not None else None
    try:
        data = fetch_verified(store, objects, cache)
    except StoreError as exc:
        raise type(exc)(f"{_where(ctx)}: {exc}") from exc
    return {(store_name, path): d for (path, _), d in zip(objects, data, strict=True)}


def _download(ctx: CodecContext, store_name: str,
              refs: list[Reference]) -> dict[tuple[str, str], FileContent]:
    """Large objects streamed into temporary files beside the download folder, verified."""
    if not refs:
        return {}
    store = ctx.stores.get(store_name or None)  # type: ignore[union-attr]
    folder = Path(ctx.download_path)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, str], FileContent] = {}
    for ref in refs:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".jf-", suffix=".download")
        os.close(fd)
        try:
            store.get_file(ref["path"], tmp)
            if file_hash(tmp) != ref["hash"]:
                raise ObjectIntegrityError(f"{_where(ctx)}: {ref['path']} does not match its "
                                           f"content hash {ref['hash']}: the object is corrupted")
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        out[(store_name, ref["path"])] = FileContent(tmp)
    return out


def _where(ctx: CodecContext) -> str:
    return f"attribute {ctx.attribute!r} of {ctx.full_table_name or 'the table'}"
