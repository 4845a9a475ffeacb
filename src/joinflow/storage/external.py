"""The database side of DataJoint 0.12-0.14 external storage: the ``~external_<store>``
tracking tables, the read-only lookup the legacy codecs use, and ``schema.external``.

``schema.external[store]`` is an :class:`ExternalTable` (a table over ``~external_<store>``)
with ``used()``, ``unused()``, ``fetch_external_paths()`` and ``delete()``. Deleting user rows
leaves the tracking rows and objects in place (DataJoint 0.14); ``delete()`` removes unused
entries and their objects.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ..backends.base import PH, as_uuid
from ..condition import AndList, Not
from ..errors import DataError, JoinflowError
from ..table import FreeTable
from .hashing import legacy_path
from .legacy import TRACKING_PREFIX, TrackingRow, tracking_table
from .pending import recorded

TRACKING_COLUMNS = ("hash", "size", "attachment_name", "filepath", "contents_hash")
LOOKUP_CHUNK = 500

#: DataJoint 0.14's DDL of a tracking table, verbatim in effect (MySQL/MariaDB)
MYSQL_TRACKING_DDL = """CREATE TABLE IF NOT EXISTS {name} (
`hash` binary(16) NOT NULL COMMENT ':uuid:hash of contents (blob), of filename + contents (attach), or relative filepath (filepath)',
`size` bigint unsigned NOT NULL COMMENT 'size of object in bytes',
`attachment_name` varchar(255) DEFAULT NULL COMMENT 'the filename of an attachment',
`filepath` varchar(1000) DEFAULT NULL COMMENT 'relative filepath or attachment filename',
`contents_hash` binary(16) DEFAULT NULL COMMENT ':uuid:used for the filepath datatype',
`timestamp` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP COMMENT 'automatic timestamp',
PRIMARY KEY (`hash`)
) ENGINE=InnoDB, COMMENT 'external storage tracking'"""

#: the same table for the other backends, declared through joinflow's own declaration
TRACKING_DEFINITION = """
# external storage tracking
hash : uuid  # hash of contents (blob), of filename + contents (attach), or relative filepath (filepath)
---
size : uint64  # size of object in bytes
attachment_name = null : varchar(255)  # the filename of an attachment
filepath = null : varchar(1000)  # relative filepath or attachment filename
contents_hash = null : uuid  # used for the filepath datatype
timestamp = CURRENT_TIMESTAMP : timestamp  # automatic timestamp
"""


# ------------------------------------------------------------------------------ tracking tables
def ensure_tracking_table(conn: Any, schema: str, store: str) -> None:
    """Create ``~external_<store>`` in ``schema`` unless it exists."""
    backend, table = conn.backend, tracking_table(store)
    if table in backend.list_tables(conn.run, schema):
        return
    if backend.name == "mysql":
        conn.query_raw(MYSQL_TRACKING_DDL.format(name=backend.full_name(schema, table)), ())
    else:
        from ..declare import build_attributes, ddl
        from ..definition.parser import parse_definition
        spec = parse_definition(TRACKING_DEFINITION, table=table)
        attrs = build_attributes(spec, [], backend)
        conn.execute_script(ddl(schema, table, spec, [], attrs, backend))
    conn.invalidate()


def legacy_stores(attrs: Sequence[Any]) -> list[str]:
    """The stores named by DataJoint 0.x ``name@store`` attributes, in order."""
    return list(dict.fromkeys(a.spec.store for a in attrs if a.spec.legacy and a.spec.store))


@dataclass(frozen=True)
class SqlTracking:
    """:class:`~joinflow.storage.legacy.TrackingLookup` over a connection: reads tracking
    rows, one query per batch of hashes. The connection is private to this object."""

    _conn: Any = field(repr=False)

    def rows(self, schema: str, store: str, hashes: Sequence[uuid.UUID]
             ) -> dict[uuid.UUID, TrackingRow]:
        backend = self._conn.backend
        adapt = backend.adapter("uuid") or (lambda v: v)
        convert = backend.converter("uuid") or (lambda v: v)
        target = backend.full_name(schema, tracking_table(store))
        cols = ", ".join(backend.quote(c) for c in TRACKING_COLUMNS)
        out: dict[uuid.UUID, TrackingRow] = {}
        for i in range(0, len(hashes), LOOKUP_CHUNK):
            chunk = list(hashes[i:i + LOOKUP_CHUNK])
            sql = (f"SELECT {cols} FROM {target} WHERE {backend.quote('hash')} IN "
                   f"({', '.join([PH] * len(chunk))})")
            for h, size, name, path, contents in self._conn.query(sql, [adapt(h) for h in chunk]):
                uid = as_uuid(convert(h))
                out[uid] = TrackingRow(uid, int(size), name, path,
                                       None if contents is None else as_uuid(convert(contents)))
        return out


# ------------------------------------------------------------------------------ schema.external
class ExternalTable(FreeTable):
    """``schema.external[store]``: the tracking table ``~external_<store>`` of a schema."""

    def __init__(self, conn: Any, schema: str, store: str) -> None:
        super().__init__(conn, f"{schema}.{tracking_table(store)}")
        self.store = store

    # -- which entries rows refer to --------------------------------------------------------
    def _referencing(self) -> list[Any]:
        """For each column referencing this table: its distinct values, named ``hash``."""
        conn = self.connection
        out = []
        for fk in conn.dependencies.child_fks(self.database, self.table_name):
            child = FreeTable(conn, f"{fk.child_schema}.{fk.child_table}")
            for col, ref in zip(fk.columns, fk.ref_columns):
                if ref == "hash":
                    out.append(child.proj(hash=col) if col != "hash" else child)
        return out

    def used(self) -> Any:
        """The entries some row refers to."""
        refs = self._referencing()
        return self._unrestricted().restrict(refs if refs else False, semantic_check=False)

    def unused(self) -> Any:
        """The entries no row refers to."""
        refs = self._referencing()
        return self._unrestricted().restrict(AndList([Not(r) for r in refs]),
                                             semantic_check=False)

    # -- paths -------------------------------------------------------------------------------
    def _store(self) -> Any:
        from ..objectstores import store_access
        return store_access(self.connection).get(self.store)

    def _relative_path(self, row: Mapping[str, Any], spec: Any) -> str:
        if row.get("filepath") and not row.get("attachment_name"):
            return str(row["filepath"])
        return legacy_path(row["hash"], self.database, subfolding=spec.subfolding,
                           attachment_name=row.get("attachment_name"))

    def fetch_external_paths(self, **fetch_kwargs: Any) -> list[tuple[uuid.UUID, PurePosixPath]]:
        """``(hash, full path)`` of each entry (path = store location / object path)."""
        spec = self._store().spec
        rows = self.fetch(as_dict=True, **fetch_kwargs)
        return [(r["hash"], PurePosixPath(spec.location or "", self._relative_path(r, spec)))
                for r in rows]

    # -- cleanup -----------------------------------------------------------------------------
    def delete(self, *, delete_external_files: bool | None = None,  # type: ignore[override]
               limit: int | None = None,
               display_progress: bool = True, errors_as_string: bool = True) -> list | None:
        """Delete the unused entries; with ``delete_external_files`` (default True, as
        DataJoint 0.12) also their objects. Returns the list of ``(hash, path, error)`` for
        objects that could not be removed (their entries are kept)."""
        if delete_external_files not in (True, False, None):
            raise DataError("The delete_external_files argument must be set to either True or "
                            "False in delete()")
        if delete_external_files is False:
            self.unused().delete_quick()
            return None
        store = self._store()
        entries = self.unused().fetch(as_dict=True, limit=limit, order_by="hash")
        failures: list = []
        for row in _progress(entries, display_progress):
            failure = self._delete_entry(row, store)
            if failure is not None:
                failures.append(failure if not errors_as_string else
                                (failure[0], failure[1], str(failure[2])))
        return failures

    def _delete_entry(self, row: Mapping[str, Any], store: Any) -> tuple | None:
        """Delete one unused entry and its object in one transaction: if the object cannot be
        removed, the entry stays."""
        path = self._relative_path(row, store.spec)
        conn = self.connection
        try:
            with conn.transaction:
                if not (self.unused() & {"hash": row["hash"]}).delete_quick(get_count=True):
                    return None  # used again meanwhile, or already gone
                if recorded(conn, self.database, [path]):
                    raise _InFlight  # an insert in progress found it present: keep both
                store.remove(path)
        except _InFlight:
            return None
        except (JoinflowError, OSError) as exc:
            return (row["hash"], PurePosixPath(store.spec.location or "", path), exc)
        return None


class _InFlight(Exception):
    """An unused entry's object is being reused by an insert in progress."""


def _progress(items: list, display: bool) -> Any:
    from tqdm import tqdm
    return tqdm(items, disable=None if display else True)


class ExternalMapping(Mapping[str, ExternalTable]):
    """``schema.external``: store name -> :class:`ExternalTable`. Indexing creates the tracking
    table when needed; iteration lists the stores used so far and those with a table."""

    def __init__(self, schema: Any) -> None:
        self._schema = schema
        self._tables: dict[str, ExternalTable] = {}

    def __getitem__(self, store: str) -> ExternalTable:
        if store not in self._tables:
            conn, database = self._schema.connection, self._schema.database
            from ..objectstores import store_access
            store_access(conn).get(store)  # an unknown store fails here, naming it
            ensure_tracking_table(conn, database, store)
            self._tables[store] = ExternalTable(conn, database, store)
        return self._tables[store]

    def _names(self) -> list[str]:
        conn = self._schema.connection
        configured = conn.config["stores"] or {}
        present = [t[len(TRACKING_PREFIX):] for t in
                   conn.backend.list_tables(conn.run, self._schema.database)
                   if t.startswith(TRACKING_PREFIX)]
        return list(dict.fromkeys([*self._tables, *(s for s in present if s in configured)]))

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __repr__(self) -> str:
        lines = [f"External file tables for schema `{self._schema.database}`:"]
        for name in self:
            spec = self[name]._store().spec
            lines.append(f'    "{name}" {spec.protocol}:{spec.location}')
        return "\n".join(lines)
