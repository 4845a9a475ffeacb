"""Garbage collection of object stores: ``dj.gc`` (DataJoint 2.3.5's API, plus the module
functions ``scan``/``collect`` of DataJoint 2.0-2.2).

DataJoint 2.x stores hold two sections per schema, and every managed path names its schema:

* hash-addressed (``<hash@>``, ``<blob@>``, ``<attach@>``):
  ``{hash_prefix}/{schema}/[folds/]{hash}``, one object per distinct content of the schema;
* schema-addressed (``<object@>``, ``<npy@>``): ``{schema_prefix}/{schema}/{table}/...``, one
  file, or a folder plus its ``.manifest.json``, per value; with a store ``partition_pattern``
  the partition segments come first: ``{schema_prefix}/{attr=value}/.../{schema}/...``.

A section whose prefix is empty lies at the store's root, among other files (``<filepath@>``
content, DataJoint 0.x external objects): it is never collected (``stats["warnings"]`` says
so). Store validation refuses equal ``hash_prefix`` and ``schema_prefix``.

A collector is bound to one store and a set of schemas and only ever lists and deletes inside
those schemas' two sections, so other schemas' objects and anything else in the store (e.g.
``<filepath@>`` content) are out of its reach. A stored object is an orphan when no row of its
schema refers to it (the ``path`` in the stored JSON of the schema's store-backed columns,
read raw — no decoding, no download; a folder-valued object covers the files below it and its
manifest) and no insert is writing it right now.

In-flight inserts: an insert commits pending-write records (``storage.pending``) before it
writes its objects and removes them after its transaction. The collector lists the store
first, then reads the records, then the rows: an object it saw in the store was recorded
before it was written, so either the record is still there (kept) or the row was committed
(referenced). Records of dead sessions no longer protect anything and are removed by
``collect(dry_run=False)``; the records are read once more right before deleting. On SQLite,
a writer inside an enclosing transaction records nothing (no second connection can write
then), but it holds the database's write lock from before its upload until its commit: the
collector reads the records and rows under that lock (``BEGIN IMMEDIATE``), so it waits for
such a writer's commit and sees its rows.

DataJoint 0.14 stores (``blob@store`` etc.) are collected by ``schema.external[store]``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import posixpath
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .. import errors
from ..backends.base import PH
from . import pending as pending_records

log = logging.getLogger("joinflow")

_BASE32_HASH = re.compile(r"^[a-z2-7]{26}$")
MANIFEST = ".manifest.json"
#: the name an orphaned hash-addressed object has while GC decides (``.jf-gc-{hash}``)
QUARANTINE = ".jf-gc-"
DELETE_BATCH = 100
#: how long a pending-write record protects its objects where sessions cannot be checked
#: (SQLite; on MySQL, other users' sessions without the PROCESS privilege)
PENDING_TIMEOUT = pending_records.PENDING_TIMEOUT


def _is_covered(path: str, referenced: set[str]) -> bool:
    """Whether a stored file belongs to a referenced object: the object itself, a file below a
    folder-valued object, or an object's ``.manifest.json``."""
    if path.endswith(MANIFEST):
        path = path[:-len(MANIFEST)]
    if path in referenced:
        return True
    cut = path.rfind("/")
    while cut > 0:
        if path[:cut] in referenced:
            return True
        cut = path.rfind("/", 0, cut)
    return False


def _clean_path(path: Any) -> str:
    """A path given to a delete function, normalized; refuses absolute paths, ``..``
    segments and anything that is not a plain store-relative path, so that a path that looks
    inside a section cannot point outside it."""
    if not isinstance(path, str) or not path or "\0" in path or "\\" in path:
        raise errors.JoinflowError(f"invalid store path {path!r} for garbage collection")
    if path.startswith("/") or ".." in path.split("/"):
        raise errors.JoinflowError(
            f"invalid store path {path!r} for garbage collection: it must be relative to the "
            "store's root, without '..'")
    return posixpath.normpath(path)


def _stored_paths(value: Any) -> list[tuple[str, str | None]]:
    """``(path, store)`` of a raw stored JSON value (dict, JSON text or bytes)."""
    if value is None:
        return []
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return []
    if isinstance(value, dict) and isinstance(value.get("path"), str):
        store = value.get("store")
        return [(value["path"], store if isinstance(store, str) else None)]
    return []


def _column_kind(attr: Any) -> str | None:
    """``"hash"`` for hash-addressed columns, ``"schema"`` for the other store-backed codec
    columns of DataJoint 2.x (``<object@>``, ``<npy@>``, custom ones), None otherwise
    (in-table values, 0.x ``name@store`` columns, ``<filepath@>``)."""
    spec = attr.spec
    if not attr.codec or spec.store is None or spec.legacy or attr.codec == "filepath":
        return None
    from ..codecs.base import registry
    from .codecs import HashCodec
    try:
        chain = registry.chain_for(spec)[0]
    except Exception:  # noqa: BLE001 - a codec this process does not know: read its JSON
        return "schema"
    return "hash" if any(isinstance(c, HashCodec) for c in chain) else "schema"


def _progress(total: int, desc: str) -> Any:
    """A tqdm bar when a person is watching (stderr is a terminal), else None."""
    if total < 2:
        return None
    try:
        if not (sys.stderr and sys.stderr.isatty()):
            return None
        from tqdm import tqdm
    except (ImportError, AttributeError, ValueError, OSError):
        return None
    return tqdm(total=total, desc=desc)


class _Section:
    """One store's view for GC: listings and deletions inside the managed sections."""

    def __init__(self, store: str | None, config: Any) -> None:
        from .stores import Stores
        stores = Stores.from_config(config)
        self.name = stores.resolve(store)
        self.store = stores.get(store)
        spec = self.store.spec
        self.hash_prefix = spec.hash_prefix.strip("/")
        self.schema_prefix = spec.schema_prefix.strip("/")
        from .schema_addressed import partition_attributes
        #: the key attributes a ``partition_pattern`` puts before the schema, in order
        self.partition = partition_attributes(spec.partition_pattern)

    def hash_section(self, schema: str) -> str:
        return f"{self.hash_prefix}/{schema}" if self.hash_prefix else schema

    def schema_section(self, schema: str) -> str:
        return f"{self.schema_prefix}/{schema}" if self.schema_prefix else schema

    def listing(self, section: str, scan_errors: list[str] | None) -> dict[str, int]:
        """Every object below ``section`` (store-relative path -> size)."""
        from .store import TEMP_PREFIX
        store = self.store
        try:
            found = store.fs.find(store.full_path(section), detail=True)
        except FileNotFoundError:
            return {}
        except Exception as exc:  # noqa: BLE001 - a partial listing must block deletion
            message = f"listing {section!r} in store {self.name!r} failed: {exc}"
            log.warning(message)
            if scan_errors is not None:
                scan_errors.append(message)
            return {}
        out: dict[str, int] = {}
        for full, info in found.items():
            rel = store._relative_to_root(full)
            if not rel.startswith(section + "/") or \
                    posixpath.basename(rel).startswith(TEMP_PREFIX):
                continue
            if isinstance(info, dict) and info.get("type", "file") == "directory":
                continue
            size = info.get("size") if isinstance(info, dict) else None
            out[rel] = int(size or 0)
        return out

    def hash_paths(self, schema: str, scan_errors: list[str] | None = None) -> dict[str, int]:
        return {p: s for p, s in self.listing(self.hash_section(schema), scan_errors).items()
                if _BASE32_HASH.match(posixpath.basename(p))}

    def schema_paths(self, schema: str, scan_errors: list[str] | None = None) -> dict[str, int]:
        return self.schema_paths_of([schema], scan_errors)

    def schema_paths_of(self, schemas: Sequence[str],
                        scan_errors: list[str] | None = None) -> dict[str, int]:
        """The files of the schemas' schema-addressed objects. With a ``partition_pattern``,
        objects lie at ``{schema_prefix}/{attr=value}/.../{schema}/...``: the whole prefix is
        listed and a file kept when the segment after its partition segments is one of the
        schemas."""
        if not self.partition or not self.schema_prefix:
            out: dict[str, int] = {}
            for schema in schemas:
                out.update(self.listing(self.schema_section(schema), scan_errors))
            return out
        wanted = set(schemas)
        return {p: n for p, n in self.listing(self.schema_prefix, scan_errors).items()
                if self.schema_of(p) in wanted}

    def schema_of(self, path: str) -> str | None:
        """The schema whose schema-addressed section holds ``path`` (partition segments
        ``attr=value`` of the store's ``partition_pattern`` skipped, in the pattern's order;
        a table without some of the attributes has fewer), None when none does."""
        prefix = self.schema_prefix + "/" if self.schema_prefix else ""
        if not path.startswith(prefix):
            return None
        segments = path[len(prefix):].split("/")
        i = 0
        for attr in self.partition:
            if i < len(segments) - 1 and segments[i].startswith(attr + "="):
                i += 1
        if len(segments) - i < 2:  # the schema and at least one more segment
            return None
        return segments[i]

    def quarantined(self, schema: str) -> dict[str, str]:
        """Objects a collection moved aside and did not finish with (it was interrupted):
        quarantine path -> original path."""
        found = self.listing(self.hash_section(schema), None)
        out = {}
        for path in found:
            name = posixpath.basename(path)
            if name.startswith(QUARANTINE) and _BASE32_HASH.match(name[len(QUARANTINE):]):
                out[path] = posixpath.join(posixpath.dirname(path), name[len(QUARANTINE):])
        return out

    def move(self, source: str, target: str) -> None:
        """Rename an object (atomic on a local store; copy then delete on S3)."""
        store = self.store
        with store._errors("move", source):
            store.fs.mv(store.full_path(source), store.full_path(target))

    def remove(self, paths: Sequence[str], bar: Any = None) -> tuple[list[str], int]:
        """Remove ``paths`` in batches; returns (removed, errors)."""
        removed, failures = [], 0
        for i in range(0, len(paths), DELETE_BATCH):
            batch = list(paths[i:i + DELETE_BATCH])
            try:
                self.store.remove(batch)
                removed += batch
            except errors.StoreError:
                for path in batch:
                    try:
                        self.store.remove(path)
                        removed.append(path)
                    except errors.StoreError as exc:
                        failures += 1
                        log.warning("could not delete %s from store %r: %s", path, self.name,
                                    exc)
            if bar is not None:
                bar.update(len(batch))
        return removed, failures

    def prune(self, paths: Iterable[str]) -> None:
        """Remove the folders the deleted ``paths`` left empty (local stores; best effort),
        up to the store's root."""
        if not self.store.is_local:
            return
        import os
        folders = {posixpath.dirname(p) for p in paths}
        for folder in sorted(folders, key=len, reverse=True):
            while folder:
                try:
                    os.rmdir(self.store.full_path(folder))
                except OSError:
                    break
                folder = posixpath.dirname(folder)

    def delete_one(self, path: str, prune: bool) -> bool:
        try:
            if not self.store.exists(path):
                return False
            self.store.remove(path)
        except errors.StoreError as exc:
            log.warning("could not delete %s from store %r: %s", path, self.name, exc)
            return False
        if prune:
            self.prune([path])
        return True


class GarbageCollector:
    """Garbage collection of one store for a fixed set of schemas (DataJoint 2.3.5's
    ``dj.gc.GarbageCollector``).

    ``GarbageCollector(*schemas, store=None, config=None)``: the store (None: the default
    store) is resolved at once, from ``config`` (default: the first schema's connection's
    configuration). Only the schemas' own sections of the store are ever listed or deleted
    from. ``pending_timeout`` (seconds, joinflow): where a writer's session cannot be checked
    (SQLite), how long its pending-write record protects the objects it is writing.
    """

    def __init__(self, *schemas: Any, store: str | None = None, config: Any = None,
                 pending_timeout: float = PENDING_TIMEOUT) -> None:
        if not schemas:
            raise errors.JoinflowError("At least one schema must be provided")
        self.schemas = schemas
        self.store = store
        self.config = config if config is not None else schemas[0].connection.config
        self._section = _Section(store, self.config)
        self.backend = self._section.store
        self._hash_prefix = self._section.hash_prefix
        self._schema_prefix = self._section.schema_prefix
        self.pending_timeout = float(pending_timeout)
        self._scan_errors: list[str] = []

    def __repr__(self) -> str:
        names = ", ".join(s.database for s in self.schemas)
        return f"GarbageCollector({names}; store {self._section.name!r})"

    def _check_fresh_reads(self) -> None:
        """GC must see every committed row: not from a transaction's snapshot (MySQL's
        repeatable read) nor from the query cache."""
        for schema in self.schemas:
            conn = schema.connection
            if conn.in_transaction:
                raise errors.JoinflowError(
                    "garbage collection cannot run inside a transaction: it must see the rows "
                    "other sessions commit meanwhile")
            if getattr(conn, "_query_cache", None):
                raise errors.JoinflowError(
                    "garbage collection needs fresh reads: turn the query cache off first "
                    "(conn.set_query_cache(None))")

    # -- references ------------------------------------------------------------------------
    def hash_references(self, verbose: bool = False) -> set[str]:
        """Store paths of hash-addressed objects that rows of the schemas refer to (this
        store only)."""
        return self._references("hash", verbose)

    def schema_references(self, verbose: bool = False) -> set[str]:
        """Store paths of schema-addressed objects (``<object@>``, ``<npy@>``, ...) that rows
        of the schemas refer to (this store only); a folder-valued object is its folder."""
        return self._references("schema", verbose)

    def _references(self, kind: str, verbose: bool) -> set[str]:
        found: set[str] = set()
        mine = self._section.name
        columns = self._columns(kind)
        bar = _progress(len(columns), f"gc: reading {kind}-addressed references")
        try:
            for conn, db, table, name in columns:
                if verbose:
                    log.info("gc: scanning %s.%s.%s", db, table, name)
                backend = conn.backend
                col = backend.quote(name)
                rows = conn.query(f"SELECT {col} FROM {backend.full_name(db, table)} "
                                  f"WHERE {col} IS NOT NULL")
                for (value,) in rows:
                    for path, store in _stored_paths(value):
                        if not store or store == mine:
                            found.add(path)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return found

    def _columns(self, kind: str) -> list[tuple[Any, str, str, str]]:
        """``(connection, schema, table, column)`` of the schemas' ``kind`` columns."""
        from ..catalog import load_heading
        out = []
        for schema in self.schemas:
            conn, db = schema.connection, schema.database
            for table in conn.backend.list_tables(conn.run, db):
                if table.startswith("~"):
                    continue
                try:
                    heading = load_heading(conn, db, table)
                except errors.JoinflowError as exc:
                    raise errors.JoinflowError(
                        f"garbage collection cannot read the heading of {db}.{table}: {exc}"
                    ) from exc
                out += [(conn, db, table, a.name) for a in heading.values()
                        if _column_kind(a) == kind]
        return out

    # -- listings ----------------------------------------------------------------------------
    def list_hash_paths(self, schema_name: str) -> dict[str, int]:
        """The schema's hash-addressed objects in the store: path -> size."""
        return self._section.hash_paths(schema_name, self._scan_errors)

    def list_schema_paths(self, schema_name: str) -> dict[str, int]:
        """The files of the schema's schema-addressed objects (manifests included): path ->
        size."""
        return self._section.schema_paths(schema_name, self._scan_errors)

    # -- in-flight writes ------------------------------------------------------------------
    def pending_paths(self) -> set[str]:
        """Paths that inserts in progress (live sessions) are writing into the schemas."""
        return {r.path for r in self._pending()[0]}

    def _pending(self) -> tuple[list[Any], dict[str, list[Any]]]:
        alive: list[Any] = []
        stale: dict[str, list[Any]] = {}
        for schema in self.schemas:
            conn = schema.connection
            found = pending_records.records(conn, schema.database)
            ok, dead = pending_records.split(conn, found, self.pending_timeout)
            alive += ok
            if dead:
                stale[schema.database] = dead
        return alive, stale

    # -- deletion ------------------------------------------------------------------------------
    def delete_schema_path(self, path: str) -> bool:
        """Delete one schema-addressed file (not a folder) and the folders it leaves empty;
        False when it was not there."""
        path = self._check_inside(path, self._section.schema_section)
        return self._section.delete_one(path, prune=True)

    def delete_hash_path(self, path: str) -> bool:
        """Delete one hash-addressed object; False when it was not there."""
        path = self._check_inside(path, self._section.hash_section)
        return self._section.delete_one(path, prune=False)

    def _check_inside(self, path: str, section: Any) -> str:
        """The normalized ``path``, when it is inside one of the schemas' ``section``."""
        clean = _clean_path(path)
        prefix = self._section.schema_prefix if section == self._section.schema_section \
            else self._section.hash_prefix
        if not prefix:  # the section would be {schema}/ at the store's root: others' files
            raise errors.JoinflowError(
                f"store {self._section.name!r} has an empty prefix for this section: garbage "
                "collection deletes nothing there")
        inside = any(clean.startswith(section(s.database) + "/") for s in self.schemas)
        if not inside and section == self._section.schema_section and self._section.partition:
            inside = self._section.schema_of(clean) in {s.database for s in self.schemas}
        if not inside:
            raise errors.JoinflowError(
                f"{path!r} is outside this collector's schemas' sections of store "
                f"{self._section.name!r}; garbage collection deletes nothing else")
        return clean

    # -- hash-addressed deletion -----------------------------------------------------------------
    def _delete_hashed(self, paths: Sequence[str], bar: Any) -> tuple[list[str], int, list[str]]:
        """Delete orphaned hash-addressed objects, safe against an insert that found one
        present (identical content is not written again) just before it goes: per batch, each
        object is first moved aside (``.jf-gc-{hash}``), then the pending-write records and
        the rows are read again; an object now recorded or referenced is moved back, the
        others are deleted. An insert that checked for the object before the move had
        committed its record before that check, so the second read sees the record or, once
        released, the committed row; one that checks after the move finds no object and writes
        it again. Returns (deleted, failures, kept)."""
        deleted: list[str] = []
        kept: list[str] = []
        failures = 0
        section = self._section
        for i in range(0, len(paths), DELETE_BATCH):
            batch = paths[i:i + DELETE_BATCH]
            moved: dict[str, str] = {}
            for path in batch:
                aside = posixpath.join(posixpath.dirname(path),
                                       QUARANTINE + posixpath.basename(path))
                try:
                    section.move(path, aside)
                    moved[path] = aside
                except errors.StoreError as exc:
                    if not isinstance(exc, errors.MissingObjectError):
                        failures += 1
                        log.warning("could not delete %s from store %r: %s", path,
                                    section.name, exc)
            if moved:
                in_use = self._in_use(list(moved))
                for path in [p for p in moved if p in in_use]:
                    if self._restore(moved.pop(path), path):
                        kept.append(path)
                    else:
                        failures += 1
                gone, bad = section.remove(list(moved.values()))
                failures += bad
                done = set(gone)
                deleted += [p for p, aside in moved.items() if aside in done]
            if bar is not None:
                bar.update(len(batch))
        return deleted, failures, kept

    def _restore(self, aside: str, path: str) -> bool:
        try:
            self._section.move(aside, path)
            return True
        except errors.StoreError as exc:
            log.error("garbage collection moved %s of store %r aside as %s and could not move "
                      "it back, though an insert uses it: %s (the next collection retries)",
                      path, self._section.name, aside, exc)
            return False

    def _in_use(self, paths: Sequence[str]) -> set[str]:
        """Which of the hash-addressed ``paths`` a live pending-write record or a row now
        refers to (records first, then rows)."""
        wanted = set(paths)
        with self._writers_held():
            used = {r.path for r in self._pending()[0]} & wanted
            todo = sorted(wanted - used)
            if todo:
                used |= self._hash_rows_naming(todo)
        return used

    @contextlib.contextmanager
    def _writers_held(self) -> Iterator[None]:
        """While the records and rows are read: on SQLite, the database's write lock (``BEGIN
        IMMEDIATE``). A writer inside an enclosing transaction there records no pending write
        (a second connection cannot write while it holds the lock), but it holds that lock
        from before its upload until its rows commit: so this read waits for its commit and
        sees its rows, and a writer that starts later uploads after the store was listed.
        Other backends: nothing (their writers' records are visible at once)."""
        with contextlib.ExitStack() as stack:
            seen: list[Any] = []
            for schema in self.schemas:
                conn = schema.connection
                if conn.backend.name == "sqlite" and not any(conn is c for c in seen):
                    seen.append(conn)
                    stack.enter_context(conn.transaction)
            yield

    def _hash_rows_naming(self, paths: Sequence[str]) -> set[str]:
        """The ``paths`` some row of the schemas' hash-addressed columns refers to (rows found
        by the object's hash in the column's text)."""
        wanted = set(paths)
        tokens = sorted({posixpath.basename(p) for p in paths})
        found: set[str] = set()
        for conn, db, table, name in self._columns("hash"):
            backend = conn.backend
            text = backend.text_sql(backend.quote(name))
            where = " OR ".join([f"{text} LIKE {PH}"] * len(tokens))
            rows = conn.query(f"SELECT {backend.quote(name)} FROM {backend.full_name(db, table)}"
                              f" WHERE {where}", [f"%{t}%" for t in tokens])
            for (value,) in rows:
                found |= {p for p, _ in _stored_paths(value) if p in wanted}
        return found

    def _finish_quarantined(self) -> int:
        """Objects another collection moved aside and did not finish with (interrupted, or
        running now): back where they were when in use — the records and rows are read after
        the listing, so after the move — else deleted. Returns the failures."""
        aside: dict[str, str] = {}
        for schema in self.schemas:
            aside.update(self._section.quarantined(schema.database))
        if not aside:
            return 0
        in_use = self._in_use(sorted(set(aside.values())))
        failures = 0
        for moved, path in aside.items():
            if path not in in_use:
                failures += self._section.remove([moved])[1]
            elif not self._restore(moved, path) and not self._section.store.exists(path):
                failures += 1
        return failures

    # -- the whole run -------------------------------------------------------------------------
    def collect(self, dry_run: bool = True, verbose: bool = False) -> dict[str, Any]:
        """Report the orphans of the schemas in the store and, with ``dry_run=False``, delete
        them (DataJoint 2.3.5's statistics; joinflow adds ``in_flight`` — orphans kept because
        an insert in progress is writing them — ``in_flight_paths`` and
        ``stale_records_removed``). A listing that failed blocks deletion."""
        self._check_fresh_reads()
        self._scan_errors = []
        warnings = self._skipped_sections()
        for message in warnings:
            log.warning("gc: %s", message)
        collect_hash, collect_schema = bool(self._hash_prefix), bool(self._schema_prefix)
        # order matters: store listing, then pending records, then rows (see module docs)
        hash_stored: dict[str, int] = {}
        schema_stored: dict[str, int] = {}
        if collect_hash:
            for schema in self.schemas:
                hash_stored.update(self.list_hash_paths(schema.database))
        if collect_schema:
            schema_stored = self._section.schema_paths_of(
                [s.database for s in self.schemas], self._scan_errors)
        with self._writers_held():
            alive, stale = self._pending()
            hash_refs = self.hash_references(verbose)
            schema_refs = self.schema_references(verbose)
        protected = {r.path for r in alive}

        # a backstop should the two sections ever share folders: an object of one section is
        # never collected as an orphan of the other
        hash_dirs = tuple(self._section.hash_section(s.database) + "/" for s in self.schemas)
        schema_dirs = tuple(self._section.schema_section(s.database) + "/"
                            for s in self.schemas)
        hash_orphans = sorted(p for p in hash_stored
                              if p not in hash_refs and not p.startswith(schema_dirs))
        schema_orphans = sorted(p for p in schema_stored
                                if not _is_covered(p, schema_refs) and
                                not p.startswith(hash_dirs))
        in_flight = sorted(p for p in hash_orphans + schema_orphans
                           if _is_covered(p, protected))
        hash_orphans = [p for p in hash_orphans if not _is_covered(p, protected)]
        schema_orphans = [p for p in schema_orphans if not _is_covered(p, protected)]

        hash_deleted: list[str] = []
        schema_deleted: list[str] = []
        failures = 0
        removed_records = 0
        if not dry_run:
            if self._scan_errors:
                raise errors.JoinflowError(
                    f"refusing to delete: {len(self._scan_errors)} store listing(s) failed, and "
                    f"a partial listing could make live objects look orphaned: "
                    f"{self._scan_errors}")
            for schema in self.schemas:
                if stale.get(schema.database):
                    removed_records += pending_records.remove(
                        schema.connection, schema.database, stale[schema.database])
            # a last look at the records, right before deleting
            late = {r.path for r in self._pending()[0]} - protected
            if late:
                in_flight = sorted(set(in_flight) | {
                    p for p in hash_orphans + schema_orphans if _is_covered(p, late)})
                hash_orphans = [p for p in hash_orphans if not _is_covered(p, late)]
                schema_orphans = [p for p in schema_orphans if not _is_covered(p, late)]
            if collect_hash:
                failures += self._finish_quarantined()
            bar = _progress(len(hash_orphans) + len(schema_orphans), "gc: deleting")
            try:
                hash_deleted, bad, kept = self._delete_hashed(hash_orphans, bar)
                failures += bad
                in_flight = sorted(set(in_flight) | set(kept))
                schema_deleted, bad = self._section.remove(schema_orphans, bar)
                failures += bad
            finally:
                if bar is not None:
                    bar.close()
            self._section.prune(schema_deleted)
            if verbose:
                for path in hash_deleted:
                    log.info("gc: deleted %s (%d bytes)", path, hash_stored.get(path, 0))
                for path in schema_deleted:
                    log.info("gc: deleted %s (%d bytes)", path, schema_stored.get(path, 0))
        freed = sum(hash_stored.get(p, 0) for p in hash_deleted) + \
            sum(schema_stored.get(p, 0) for p in schema_deleted)
        return {
            "hash_paths_referenced": len(hash_refs),
            "hash_paths_stored": len(hash_stored),
            "hash_paths_orphaned": len(hash_orphans),
            "hash_paths_orphaned_bytes": sum(hash_stored.get(p, 0) for p in hash_orphans),
            "orphaned_hash_paths": hash_orphans,
            "schema_paths_referenced": len(schema_refs),
            "schema_paths_stored": len(schema_stored),
            "schema_paths_orphaned": len(schema_orphans),
            "schema_paths_orphaned_bytes": sum(schema_stored.get(p, 0) for p in schema_orphans),
            "orphaned_schema_paths": schema_orphans,
            "hash_paths_deleted": len(hash_deleted),
            "schema_paths_deleted": len(schema_deleted),
            "deleted": len(hash_deleted) + len(schema_deleted),
            "bytes_freed": freed,
            "errors": failures,
            "scan_errors": list(self._scan_errors),
            "dry_run": dry_run,
            "in_flight": len(in_flight),
            "in_flight_paths": in_flight,
            "stale_records_removed": removed_records,
            "warnings": warnings,
        }

    def _skipped_sections(self) -> list[str]:
        """Why a section is not collected: an empty prefix puts the section at the store's
        root, ``{schema}/``, where other files (``<filepath@>`` content, DataJoint 0.x
        external objects) live too, so nothing there can be taken for an orphan."""
        out = []
        for key, prefix, kind in (("hash_prefix", self._hash_prefix, "hash"),
                                  ("schema_prefix", self._schema_prefix, "schema")):
            if not prefix:
                out.append(f"store {self._section.name!r} has an empty {key}: its "
                           f"{kind}-addressed objects lie at the store's root among other "
                           f"files and are not collected")
        return out


# ---------------------------------------------------------------------- DataJoint 2.0-2.2
def _config(config: Any) -> Any:
    if config is not None:
        return config
    from .. import config as global_config
    return global_config


def scan_hash_references(*schemas: Any, store_name: str | None = None,
                         verbose: bool = False) -> set[str]:
    """DataJoint 2.0-2.2: ``GarbageCollector(*schemas, store=store_name).hash_references()``."""
    return GarbageCollector(*schemas, store=store_name).hash_references(verbose)


def scan_schema_references(*schemas: Any, store_name: str | None = None,
                           verbose: bool = False) -> set[str]:
    """DataJoint 2.0-2.2: ``GarbageCollector(...).schema_references()``."""
    return GarbageCollector(*schemas, store=store_name).schema_references(verbose)


def list_hash_paths(store_name: str | None = None, config: Any = None, *,
                    schema_name: str) -> dict[str, int]:
    """DataJoint 2.0-2.2: one schema's hash-addressed objects in a store (path -> size)."""
    return _Section(store_name, _config(config)).hash_paths(schema_name)


def list_schema_paths(store_name: str | None = None, config: Any = None, *,
                      schema_name: str) -> dict[str, int]:
    """DataJoint 2.0-2.2: one schema's schema-addressed files in a store (path -> size)."""
    return _Section(store_name, _config(config)).schema_paths(schema_name)


def delete_schema_path(path: str, store_name: str | None = None, config: Any = None) -> bool:
    """DataJoint 2.0-2.2: delete one schema-addressed file (and the folders it leaves empty)."""
    section = _Section(store_name, _config(config))
    clean = _clean_path(path)
    prefix = section.schema_prefix
    # inside some schema's own section: {schema_prefix}/{schema}/..., never the prefix's root
    inside = clean[len(prefix) + 1:] if prefix and clean.startswith(prefix + "/") else ""
    if "/" not in inside:
        raise errors.JoinflowError(f"{path!r} is not in a schema's section "
                                   f"{prefix + '/{schema}/'!r} of store {section.name!r}")
    return section.delete_one(clean, prune=True)


def scan(*schemas: Any, store_name: str | None = None, verbose: bool = False) -> dict[str, Any]:
    """DataJoint 2.0-2.2: the orphans of ``schemas`` in a store, deleting nothing."""
    stats = GarbageCollector(*schemas, store=store_name).collect(dry_run=True, verbose=verbose)
    return _scan_stats(stats)


def _scan_stats(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "hash_referenced": s["hash_paths_referenced"],
        "hash_stored": s["hash_paths_stored"],
        "hash_orphaned": s["hash_paths_orphaned"],
        "hash_orphaned_bytes": s["hash_paths_orphaned_bytes"],
        "orphaned_hashes": s["orphaned_hash_paths"],
        "schema_paths_referenced": s["schema_paths_referenced"],
        "schema_paths_stored": s["schema_paths_stored"],
        "schema_paths_orphaned": s["schema_paths_orphaned"],
        "schema_paths_orphaned_bytes": s["schema_paths_orphaned_bytes"],
        "orphaned_paths": s["orphaned_schema_paths"],
        "referenced": s["hash_paths_referenced"] + s["schema_paths_referenced"],
        "stored": s["hash_paths_stored"] + s["schema_paths_stored"],
        "orphaned": s["hash_paths_orphaned"] + s["schema_paths_orphaned"],
        "orphaned_bytes": s["hash_paths_orphaned_bytes"] + s["schema_paths_orphaned_bytes"],
        "in_flight": s["in_flight"],
        "warnings": s["warnings"],
    }


def collect(*schemas: Any, store_name: str | None = None, dry_run: bool = True,
            verbose: bool = False) -> dict[str, Any]:
    """DataJoint 2.0-2.2: delete the orphans of ``schemas`` in a store (``dry_run=True``:
    report only)."""
    s = GarbageCollector(*schemas, store=store_name).collect(dry_run=dry_run, verbose=verbose)
    scanned = _scan_stats(s)
    return {
        "referenced": scanned["referenced"],
        "stored": scanned["stored"],
        "orphaned": scanned["orphaned"],
        "hash_deleted": s["hash_paths_deleted"],
        "schema_paths_deleted": s["schema_paths_deleted"],
        "deleted": s["deleted"],
        "bytes_freed": s["bytes_freed"],
        "errors": s["errors"],
        "dry_run": dry_run,
        "hash_orphaned": s["hash_paths_orphaned"],
        "schema_paths_orphaned": s["schema_paths_orphaned"],
        "in_flight": s["in_flight"],
        "warnings": s["warnings"],
    }


__all__ = ["GarbageCollector", "collect", "delete_schema_path", "list_hash_paths",
           "list_schema_paths", "scan", "scan_hash_references", "scan_schema_references"]
