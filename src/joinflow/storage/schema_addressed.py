"""Schema-addressed objects: one object (file or folder) per row and attribute, at a path that
mirrors the schema (DataJoint 2.3.5 layout, byte- and JSON-compatible)::

    {schema_prefix}/[{partition attr=value}/...]{schema}/{table}/{attr=value}/.../{field}_{token}{ext}

``schema_prefix`` (default ``_schema``; ``""`` for none), ``partition_pattern`` (e.g.
``"{subject}"``: those key attributes lead the path, before the schema) and ``token_length``
(a random suffix, 4 to 16 characters, default 8) come from the store's settings. Nothing is
deduplicated: every write gets a fresh token, so re-inserting a row never overwrites the object
of another (or of a row being deleted).

Codecs built on :class:`SchemaAddressedCodec` (``<object@>``, ``<npy@>``) declare
``uses_row_key``: their ``CodecContext.key`` holds the row's primary key, in the table's
primary-key order. The API for such a codec::

    store = self.store_of(context)              # the joinflow Store of the column
    path = self.new_path(context, ext=".npy")   # a fresh path for this row's object
    ...                                         # return Encoded(json, writes=(ObjectWrite(...),))
    self.owned(stored)                          # (store, [paths]) a stored value owns (delete)

Writes are ``ObjectWrite(..., content_addressed=False)``: the insert path uploads them before
the row's transaction and removes them if it fails; deleting a row removes what it owns after
the delete commits (``remove_owned_after_commit``).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import re
import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..codecs.base import Codec, CodecContext
from ..errors import CodecError, ConfigError

log = logging.getLogger("joinflow")

#: the characters of a path token (URL- and filename-safe)
TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
TOKEN_MIN, TOKEN_MAX = 4, 16
#: characters that make a key value unusable as a path segment as it is
UNSAFE_CHARS = frozenset('/\\:*?"<>|')
LONG_VALUE = 100      # longer key values are shortened (first 50 characters + a hash)
MANIFEST_SUFFIX = ".manifest.json"
REFERENCE_BATCH = 100  # paths per query when checking which objects rows still hold


def generate_token(length: int = 8) -> str:
    """A random token of ``length`` characters (clamped to 4..16)."""
    n = min(TOKEN_MAX, max(TOKEN_MIN, int(length)))
    return "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(n))


def encode_pk_value(value: Any) -> str:
    """A primary-key value as a path segment: numbers as ``str``, datetimes as
    ``YYYY-MM-DDTHH-MM-SS``, dates (and times) in ISO form, other values as text, percent-quoted
    when they contain a path-unsafe character and shortened (with an MD5 suffix) beyond 100
    characters."""
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, _dt.datetime):
        return value.strftime("%Y-%m-%dT%H-%M-%S")
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    text = str(value)
    if len(text) > LONG_VALUE:
        digest = hashlib.md5(text.encode()).hexdigest()[:8]
        return urllib.parse.quote(f"{text[:50]}_{digest}", safe="")
    if any(c in UNSAFE_CHARS for c in text):
        return urllib.parse.quote(text, safe="")
    return text


def partition_attributes(pattern: str | None) -> list[str]:
    """The attribute names of a ``partition_pattern`` such as ``"{subject}/{session}"``."""
    return re.findall(r"\{(\w+)\}", pattern) if pattern else []


def build_object_path(schema: str, table: str, field: str, primary_key: Mapping[str, Any],
                      ext: str | None = None, partition_pattern: str | None = None,
                      token_length: int = 8, *, schema_prefix: str = "_schema"
                      ) -> tuple[str, str]:
    """``(path, token)``: a fresh store-relative path for ``field`` of the row ``primary_key``
    of ``schema.table``."""
    token = generate_token(token_length)
    if ext and not ext.startswith("."):
        ext = "." + ext
    leading = partition_attributes(partition_pattern)
    segments = [schema_prefix.strip("/")] if schema_prefix.strip("/") else []
    segments += [f"{a}={encode_pk_value(primary_key[a])}" for a in leading if a in primary_key]
    segments += [schema, table]
    segments += [f"{a}={encode_pk_value(v)}" for a, v in primary_key.items() if a not in leading]
    segments.append(f"{field}_{token}{ext or ''}")
    return "/".join(segments), token


def utc_timestamp() -> str:
    """The current time as DataJoint writes it into object metadata (ISO, ``+00:00``)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def parse_stored(value: Any) -> dict[str, Any]:
    """A stored schema-addressed value (JSON text or a dict) as a dict with a ``path``."""
    if isinstance(value, (str, bytes, bytearray)):
        value = json.loads(value)
    if not isinstance(value, Mapping) or not isinstance(value.get("path"), str):
        raise CodecError(f"not a schema-addressed object reference: {value!r}")
    return dict(value)


class SchemaAddressedCodec(Codec, register=False):
    """Base of codecs that store one object per row at a schema-addressed path (``<object@>``,
    ``<npy@>``). Store only: the column holds JSON metadata with at least ``path`` and
    ``store``."""

    uses_row_key = True

    def get_dtype(self, is_store: bool) -> str:
        if not is_store:
            raise CodecError(f"<{self.name}> requires a store: write <{self.name}@> or "
                             f"<{self.name}@store>")
        return "json"

    # -- for subclasses -----------------------------------------------------------------------
    @staticmethod
    def datajoint_context(context: Mapping[str, Any], key: Mapping[str, Any] | None,
                          store_name: str | None) -> CodecContext:
        """The ``CodecContext`` of a call in DataJoint 2.3.4+'s style, ``encode(value,
        key=..., context={"schema", "table", "field", "config"}, store_name=...)``."""
        from .access import stores_for
        config = context.get("config")
        if config is None:
            raise CodecError("a direct call in DataJoint's style needs context['config'] (the "
                             "connection's configuration, e.g. table.connection.config)")
        return CodecContext(schema=context.get("schema", ""), table=context.get("table", ""),
                            attribute=context.get("field", ""), store=store_name,
                            key=dict(key) if key is not None else None, config=config,
                            stores=stores_for(config))

    @staticmethod
    def write_now(encoded: Any, context: CodecContext) -> Any:
        """Perform an ``Encoded``'s writes at once (a direct call, outside an insert) and
        return its value."""
        from ..codecs.base import Encoded
        if isinstance(encoded, Encoded):
            context.stores.put_pending(encoded.writes)  # type: ignore[union-attr]
            return encoded.value
        return encoded

    @staticmethod
    def require_stores(context: CodecContext | None, what: str = "the object") -> CodecContext:
        if context is None or context.stores is None:
            raise CodecError(f"{what} needs the configured stores: it can only be used through "
                             "a table")
        return context

    def store_of(self, context: CodecContext | None, name: str | None = None) -> Any:
        """The ``Store`` of the column (or of the store ``name`` a stored value names)."""
        ctx = self.require_stores(context, f"<{self.name}@>")
        try:
            return ctx.stores.get(name if name is not None else ctx.store)  # type: ignore[union-attr]
        except ConfigError as exc:  # (a ValueError would be reworded as a bad value)
            raise CodecError(f"<{self.name}@{ctx.store or ''}> of attribute {ctx.attribute!r}: "
                             f"{exc}") from exc

    def new_path(self, context: CodecContext | None, ext: str | None = None) -> str:
        """A fresh path for this row's object of the column (needs ``context.key``)."""
        ctx = self.require_stores(context, f"<{self.name}@>")
        if ctx.key is None:
            raise CodecError(f"<{self.name}@> of attribute {ctx.attribute!r} needs the row's "
                             "primary key to place its object")
        spec = self.store_of(ctx).spec
        path, _ = build_object_path(ctx.schema, ctx.table, ctx.attribute, ctx.key, ext,
                                    spec.partition_pattern, spec.token_length,
                                    schema_prefix=spec.schema_prefix)
        return path

    @staticmethod
    def stored_store_name(context: CodecContext) -> str | None:
        """The ``store`` value written into the metadata: the declared store name, ``None``
        for the default store (``<name@>``)."""
        return context.store or None

    def referenced_paths(self, stored: Any) -> list[tuple[str, str | None]]:
        """``[(path, store)]`` a stored value references (DataJoint's garbage-collector API);
        ``[]`` for ``None`` or anything that is not object metadata."""
        try:
            ref = parse_stored(stored) if stored is not None else None
        except (CodecError, ValueError):
            return []
        return [] if ref is None else [(ref["path"], ref.get("store"))]

    def owned(self, stored: Any) -> tuple[str | None, list[str]]:
        """``(store name, paths)`` of what a stored value owns: its object, and for a folder
        everything below it and its manifest. Paths ending in ``/`` are folders."""
        ref = parse_stored(stored)
        path = ref["path"]
        if ref.get("is_dir"):
            return ref.get("store"), [path.rstrip("/") + "/", path + MANIFEST_SUFFIX]
        return ref.get("store"), [path]


# -- cleanup of what deleted rows own -------------------------------------------------------
def schema_addressed_columns(heading: Any) -> list[Any]:
    """The attributes of a heading stored by a schema-addressed codec."""
    from ..codecs.base import registry
    out = []
    for attr in heading.values():
        if not attr.codec or attr.spec.store is None or attr.spec.legacy:
            continue
        try:
            chain, _ = registry.chain_for(attr.spec)
        except Exception:  # noqa: BLE001 - an unknown codec owns nothing we know of
            continue
        if any(isinstance(c, SchemaAddressedCodec) for c in chain):
            out.append(attr)
    return out


@dataclass(frozen=True)
class Owned:
    """An object a deleted row owned: its ``path`` (the one in the row's metadata) and the
    ``pieces`` to remove (``path/``: a folder and everything under it)."""

    schema: str                 # the schema of the table the row was in
    store: str | None
    path: str
    pieces: tuple[str, ...]


def owned_objects(attrs: Sequence[Any], rows: Sequence[Sequence[Any]], schema: str,
                  table: str) -> list[Owned]:
    """What the stored values ``rows`` (one column per attribute of ``attrs``) of a row of
    ``schema.table`` own: only objects in that table's own section of the column's declared
    store (``.../{schema}/{table}/.../{attribute}_{token}``). Metadata naming anything else
    (inserted by hand, copied from another table or schema) owns nothing here: such objects
    are left to the garbage collector, which knows every reference."""
    from ..codecs.base import registry
    out: list[Owned] = []
    for j, attr in enumerate(attrs):
        chain, _ = registry.chain_for(attr.spec)
        codec = next(c for c in chain if isinstance(c, SchemaAddressedCodec))
        declared = attr.spec.store or ""
        for row in rows:
            value = row[j]
            if value is None:
                continue
            try:
                store, pieces = codec.owned(value)
                path = parse_stored(value)["path"]
            except (CodecError, ValueError) as exc:
                log.warning("attribute %r: not removing an object: %s", attr.name, exc)
                continue
            if (store or "") != declared or not in_own_section(path, schema, table, attr.name):
                log.info("attribute %r: %s is not in %s.%s's own section of store %r; left to "
                         "the garbage collector", attr.name, path, schema, table, declared)
                continue
            out.append(Owned(schema, store, path, tuple(pieces)))
    return out


def in_own_section(path: str, schema: str, table: str, field: str) -> bool:
    """Whether ``path`` is an object path of ``field`` of a row of ``schema.table``:
    normalized, relative, ``.../{schema}/{table}/.../{field}_...``."""
    parts = path.rstrip("/").split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return False
    if not parts[-1].startswith(field + "_"):
        return False
    return any(parts[i] == schema and parts[i + 1] == table for i in range(len(parts) - 2))


def still_referenced(connection: Any, objects: Sequence[Owned]) -> set[str]:
    """The paths of ``objects`` that rows of their schemas still hold (a row copied with
    INSERT ... SELECT, or metadata inserted again, shares its object). Candidate rows are
    found with LIKE on the object's file name (ASCII: field and token), then each candidate's
    stored JSON is parsed and its ``path`` compared: the JSON text may escape characters of
    the path (``Jos\\u00e9``, ``\\t``), so the text itself is never compared."""
    from ..backends.base import PH
    from ..catalog import load_heading
    backend, found = connection.backend, set()
    for schema in dict.fromkeys(o.schema for o in objects):
        paths = list(dict.fromkeys(o.path for o in objects if o.schema == schema))
        for table in backend.list_tables(connection.run, schema):
            for attr in schema_addressed_columns(load_heading(connection, schema, table)):
                text = backend.text_sql(backend.quote(attr.name))
                todo = [p for p in paths if p not in found]
                for i in range(0, len(todo), REFERENCE_BATCH):
                    batch = todo[i:i + REFERENCE_BATCH]
                    names = [_like_name(p) for p in batch]
                    if any(n is None for n in names):  # a name JSON may escape: every row
                        where, params = f"{text} IS NOT NULL", []
                    else:
                        where = " OR ".join([f"{text} LIKE {PH}"] * len(batch))
                        params = [f"%{n}%" for n in names]
                    rows = connection.query(
                        f"SELECT {text} FROM {backend.full_name(schema, table)} WHERE {where}",
                        params)
                    held = {_stored_path(v) for (v,) in rows}
                    found |= {p for p in batch if p in held}
    return found


def _like_name(path: str) -> str | None:
    """The object's file name, when JSON text holds it as it is (printable ASCII without
    quotes or backslashes, which JSON escapes); None otherwise."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    if name.isascii() and name.isprintable() and '"' not in name and "\\" not in name:
        return name
    return None


def _stored_path(value: Any) -> str | None:
    try:
        return parse_stored(value)["path"]
    except (CodecError, ValueError, TypeError):
        return None


def remove_objects(stores: Any, objects: Sequence[tuple[str | None, str]]) -> None:
    """Remove objects (``path/``: a folder and everything under it); never raises (a failure
    is logged: the rows are already gone, the objects are garbage for the collector)."""
    for name in dict.fromkeys(s for s, _ in objects):
        paths = [p for s, p in objects if s == name]
        try:
            store = stores.get(name)
            files = [p for p in paths if not p.endswith("/")]
            if files:
                store.remove(files)
            for folder in (p for p in paths if p.endswith("/")):
                remove_folder(store, folder.rstrip("/"))
            if store.is_local:
                prune_empty_folders(store, paths)
        except Exception as exc:  # noqa: BLE001 - see docstring
            log.warning("could not remove %d object(s) of deleted rows from store %r: %s",
                        len(paths), name, exc)


def prune_empty_folders(store: Any, paths: Sequence[str]) -> None:
    """Local stores: remove the folders left empty above removed objects, up to the root."""
    import os
    root = os.path.normpath(store.spec.root)
    for folder in sorted({os.path.dirname(os.path.normpath(store.full_path(p.rstrip("/"))))
                          for p in paths}, key=len, reverse=True):
        while folder.startswith(root + os.sep):
            try:
                os.rmdir(folder)
            except OSError:  # not empty (or already gone): stop here
                break
            folder = os.path.dirname(folder)


def remove_folder(store: Any, path: str) -> None:
    """Remove a folder object and everything below it (absent: nothing to do)."""
    import contextlib
    import shutil
    full = store.full_path(path)
    if store.is_local:
        shutil.rmtree(full, ignore_errors=True)
        return
    with contextlib.suppress(FileNotFoundError):
        store.fs.rm(full, recursive=True)


def kept_schema_addressed_columns(heading: Any) -> list:
    """:func:`schema_addressed_columns`, kept in the heading's memo (asked per insert)."""
    memo = getattr(heading, "memo", None)
    found = memo.get("schema_addressed") if memo is not None else None
    if found is None:
        found = schema_addressed_columns(heading)
        if memo is not None:
            memo["schema_addressed"] = found
    return found


def owned_by_rows(query: Any, attributes: Sequence[str] | None = None) -> list[Owned]:
    """The schema-addressed objects the rows of ``query`` (a restricted table) own (only in
    ``attributes``, if given); read before the rows are deleted or updated, inside the same
    transaction."""
    heading = query.heading
    attrs = kept_schema_addressed_columns(heading)
    if attributes is not None:
        attrs = [a for a in attrs if a.name in attributes]
    if not attrs:
        return []
    select, params = query.compile(columns=[a.name for a in attrs])
    conn = query.connection
    return owned_objects(attrs, conn.query(locking_read(conn, select), params), query.database,
                         query.table_name)


def locking_read(connection: Any, select: str) -> str:
    """``select`` (a SELECT of one table's rows) as a locking read inside a transaction on
    PostgreSQL and MySQL (``FOR UPDATE``): it reads the rows' latest committed values and
    holds them until the transaction ends, so that a concurrent ``replace``, ``update1`` or
    delete of the same rows waits, then reads what this one wrote (a plain read sees a
    snapshot: both writers would remove the same old object, and the one written in between
    would leak). SQLite needs none: ``BEGIN IMMEDIATE`` holds the database's write lock."""
    if not connection.in_transaction or connection.backend.name not in ("mysql", "postgresql"):
        return select
    if any(word in select.upper() for word in (" DISTINCT ", " GROUP BY ", " UNION ")):
        return select  # not a plain row selection: FOR UPDATE does not apply
    return select + " FOR UPDATE"


def remove_after_commit(connection: Any, objects: Sequence[Owned]) -> None:
    """Once the current transaction commits (now, outside one), remove ``objects`` except
    those rows still hold; a rolled back transaction removes nothing."""
    if not objects:
        return
    from ..objectstores import store_access
    stores = store_access(connection)
    found = list(objects)

    def remove() -> None:
        try:
            keep = still_referenced(connection, found)
        except Exception as exc:  # noqa: BLE001 - when in doubt, keep (the collector's job)
            log.warning("could not check whether other rows hold the objects of deleted "
                        "rows; keeping them: %s", exc)
            return
        remove_objects(stores, [(o.store, piece) for o in found if o.path not in keep
                                for piece in o.pieces])
    connection.on_commit(remove)


__all__ = ["MANIFEST_SUFFIX", "SchemaAddressedCodec", "TOKEN_ALPHABET", "build_object_path",
           "encode_pk_value", "generate_token", "owned_objects", "parse_stored",
           "kept_schema_addressed_columns", "partition_attributes", "remove_objects",
           "schema_addressed_columns",
           "utc_timestamp", "owned_by_rows", "remove_after_commit", "Owned", "locking_read",
           "still_referenced"]
