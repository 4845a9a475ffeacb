"""DataJoint 0.14 external storage (``blob@store``, ``attach@store``, ``filepath@store``
columns: a 16-byte hash referencing ``~external_<store>``) to DataJoint 2.x JSON columns
(``<blob@store>``, ``<attach@store>``, ``<filepath@store>``), in DataJoint 2.3.5's steps:

1. ``migrate_external(schema, dry_run=False)`` adds ``<column>_v2`` (JSON) beside each 0.x
   column and fills it. Every object is read from its 0.14 place, checked against its 0.14
   hash, and copied to its 2.x hash-addressed place (``{hash_prefix}/{schema}/{hash}``;
   attachments as ``filename NUL contents``) **before** any row points at it; the 0.14 object
   and tracking row stay. ``filepath@`` files stay where they are (2.x references them in
   place): their existence and size are checked. Rows whose object is missing or corrupted
   are left unconverted and listed in ``details[...]['errors']``; running it again resumes.
2. The lab verifies (both DataJoint 2.x and joinflow read the ``_v2`` columns).
3. ``migrate_external(schema, dry_run=False, finalize=True)`` renames ``<column>`` to
   ``<column>_v1`` (nullable, still referencing the tracking table, so 0.x cleanup never
   removes its objects) and ``<column>_v2`` to ``<column>``. It refuses while any row is
   unconverted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from ..backends.base import PH, ColumnInfo, as_uuid, dump_json
from ..catalog import split_label
from ..errors import JoinflowError
from ..definition.types import TypeSpec
from ..objectstores import store_access
from ..storage.external import SqlTracking
from ..storage.hashing import legacy_path
from ..storage.legacy import TRACKING_PREFIX, TrackingRow, tracking_table
from . import _catalog as cat
from ._catalog import MigrationError
from .labels import LEGACY_EXTERNAL
from .objects import BATCH, Route, convert_many

log = logging.getLogger("joinflow.migrate")


@dataclass(frozen=True)
class LegacyColumn:
    """A DataJoint 0.x external storage column."""

    database: str
    table: str
    info: ColumnInfo
    kind: str       # blob, attach, filepath
    store: str
    comment: str    # the user's comment, without the label
    target_store: str | None = None  # the store the 2.x column names (default: ``store``)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def full_table(self) -> str:
        return f"{self.database}.{self.table}"

    @property
    def new_label(self) -> str:
        return f":<{self.kind}@{self.target_store or self.store}>:{self.comment}"


def find_legacy_columns(conn: Any, database: str, kinds: tuple[str, ...]) -> list[LegacyColumn]:
    out = []
    for table in cat.user_tables(conn, database):
        for col in cat.columns(conn, database, table):
            label, comment = split_label(col.comment)
            m = LEGACY_EXTERNAL.match(label or "")
            if m and m.group(1) in kinds:
                out.append(LegacyColumn(database, table, col, m.group(1), m.group(2), comment))
    return out


# -- one column ---------------------------------------------------------------------------------
def _count(conn: Any, col: LegacyColumn, where: str) -> int:
    full = cat.full_name(conn, col.database, col.table)
    return int(conn.query(f"SELECT COUNT(*) FROM {full} WHERE {where}")[0][0])


def _pending_where(conn: Any, col: LegacyColumn, has_new: bool) -> str:
    q = conn.backend.quote
    where = f"{q(col.name)} IS NOT NULL"
    return where + (f" AND {q(col.name + '_v2')} IS NULL" if has_new else "")


def _store(conn: Any, name: str) -> Any:
    try:
        return store_access(conn).get(name)
    except JoinflowError as exc:
        raise MigrationError(f"store {name!r} cannot be used: {exc} (see "
                             "check_store_configuration)") from exc


def _default_route(conn: Any, col: LegacyColumn) -> Route:
    store = _store(conn, col.store)
    return Route(store, col.store, col.database, store, col.store,
                 scratch=conn.config["download_path"])


def _fill(conn: Any, col: LegacyColumn, detail: dict, route: Route) -> int:
    """Fill ``<column>_v2`` for every row not converted yet (objects first, then the rows, a
    batch at a time); returns the rows converted."""
    backend, q = conn.backend, conn.backend.quote
    full = cat.full_name(conn, col.database, col.table)
    pending = _pending_where(conn, col, True)
    before = _count(conn, col, pending)
    raw = [r[0] for r in conn.query(f"SELECT DISTINCT {q(col.name)} FROM {full} WHERE {pending}")]
    convert_uuid = backend.converter("uuid") or (lambda v: v)
    uids = {value: as_uuid(convert_uuid(value)) for value in raw}
    tracked = SqlTracking(conn).rows(col.database, col.store, list(dict.fromkeys(uids.values())))
    missing = [f"hash {u} has no row in {tracking_table(col.store)}"
               for u in dict.fromkeys(uids.values()) if u not in tracked]
    adapt_json = backend.adapter("json") or dump_json
    update = backend.render(f"UPDATE {full} SET {q(col.name + '_v2')} = {PH} WHERE "
                            f"{q(col.name)} = {PH} AND {q(col.name + '_v2')} IS NULL")
    rows = list(tracked.values())
    errors = list(missing)
    for start in range(0, len(rows), BATCH * 16):
        refs, failed = convert_many(col.kind, route, col.database, rows[start:start + BATCH * 16])
        errors += failed
        params = [(adapt_json(refs[uid]), value) for value, uid in uids.items() if uid in refs]
        if params:
            with conn.transaction:  # one commit per batch of rows
                conn.query_raw(update, params, many=True)
    if errors:
        detail["errors"] = errors
    return before - _count(conn, col, pending)


def _has_new_column(conn: Any, col: LegacyColumn) -> bool:
    """Whether ``<column>_v2`` exists; raises when it is there but not made by a migration
    (a user's own column of that name must never be filled or renamed)."""
    new = cat.column(conn, col.database, col.table, col.name + "_v2")
    if new is None:
        return False
    label = split_label(new.comment)[0] or ""
    if not label.startswith(f"<{col.kind}@"):
        raise MigrationError(f"{col.full_table}.{col.name}_v2 is not a column this migration "
                             f"made (its type is {label or new.sql_type!r}): rename it first")
    return True


def _migrate_column(conn: Any, col: LegacyColumn, dry_run: bool,
                    route: Route | None = None) -> dict:
    detail: dict[str, Any] = {"table": col.full_table, "column": col.name, "store": col.store,
                              "type": col.kind, "action": "migrate", "status": "pending",
                              "rows": 0}
    has_new = _has_new_column(conn, col)
    pending = _count(conn, col, _pending_where(conn, col, has_new))
    if has_new and not pending:
        detail["status"] = "already_migrated"
        return detail
    if dry_run:
        detail.update(rows=pending, status="dry_run")
        return detail
    route = route or _default_route(conn, col)  # the store is usable before anything changes
    if not has_new:
        cat.run(conn, cat.add_json_column(conn, col.database, col.table, col.name + "_v2",
                                          col.new_label))
    detail["rows"] = _fill(conn, col, detail, route)
    detail["status"] = "incomplete" if detail.get("errors") else "migrated"
    log.info("%s.%s: %d rows converted to %s", col.full_table, col.name, detail["rows"],
             col.new_label)
    return detail


def _finalize_column(conn: Any, col: LegacyColumn, dry_run: bool) -> dict:
    detail: dict[str, Any] = {"table": col.full_table, "column": col.name, "store": col.store,
                              "type": col.kind, "action": "finalize", "status": "pending",
                              "rows": 0}
    if not _has_new_column(conn, col):
        raise MigrationError(f"Finalize refused: {col.full_table}.{col.name} has no "
                             f"{col.name}_v2 column; run the migration without finalize first")
    left = _count(conn, col, _pending_where(conn, col, True))
    if left:
        raise MigrationError(f"Finalize refused: {left} rows of {col.full_table}.{col.name} "
                             "are not converted yet (see the errors of the migration run)")
    detail["rows"] = _count(conn, col, f"{conn.backend.quote(col.name + '_v2')} IS NOT NULL")
    if dry_run:
        detail["status"] = "dry_run"
        return detail
    backend = conn.backend
    old = f"legacy 0.x {col.kind}@{col.store}: {col.comment}".rstrip(": ")
    json_type = backend.column_type(TypeSpec(core="json"))
    statements = cat.rename_column(conn, col.database, col.table, col.name, col.name + "_v1",
                                   sql_type=col.info.sql_type, nullable=True, comment=old)
    statements += cat.rename_column(conn, col.database, col.table, col.name + "_v2", col.name,
                                    sql_type=json_type, nullable=col.info.nullable,
                                    comment=col.new_label)
    if backend.name == "sqlite" and not col.info.nullable:
        _sqlite_drop_not_null(conn, col.database, col.table, col.name)
    try:
        _run_together(conn, col, statements)
    except Exception as exc:
        raise MigrationError(f"Finalize failed for {col.full_table}.{col.name}: {exc}") from exc
    detail["status"] = "finalized"
    return detail


def _run_together(conn: Any, col: LegacyColumn, statements: list[cat.Statement]) -> None:
    """Both renames or neither: one transaction, or on MySQL (DDL commits at once; MariaDB
    refuses both renames in one ALTER) the first rename undone when the second fails."""
    if conn.backend.name != "mysql":
        with conn.transaction:
            cat.run(conn, statements)
        return
    original = cat.mysql_column_sql(conn, col.database, col.table, col.name)
    cat.run(conn, statements[:1])
    try:
        cat.run(conn, statements[1:])
    except Exception:
        q = conn.backend.quote
        cat.run(conn, [(f"ALTER TABLE {cat.full_name(conn, col.database, col.table)} CHANGE "
                        f"COLUMN {q(col.name + '_v1')} {original}", ())])
        raise


def _sqlite_drop_not_null(conn: Any, database: str, table: str, name: str) -> None:
    """SQLite cannot relax NOT NULL with ALTER TABLE; its documented in-place edit of the
    table's SQL (no change to stored data) does it."""
    import re
    full = f"{database}.{table}"
    sql = conn.query_raw("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (full,))[0][0]
    quoted = conn.backend.quote(name)
    new = re.sub(r"([\n,(]\s*" + re.escape(quoted) + r" \S+) NOT NULL", r"\1", sql, count=1)
    if new == sql:
        return
    version = conn.query_raw("PRAGMA schema_version")[0][0]
    conn.query_raw("PRAGMA writable_schema = ON")
    try:
        conn.query_raw("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
                       (new, full))
        conn.query_raw(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        conn.query_raw("PRAGMA writable_schema = OFF")


def _run_columns(schema: Any, kinds: tuple[str, ...], dry_run: bool, finalize: bool,
                 source_schema: str | None = None) -> dict:
    conn = schema.connection
    columns = find_legacy_columns(conn, schema.database, kinds)
    result: dict[str, Any] = {"columns_found": len(columns), "columns_migrated": 0,
                              "rows_migrated": 0, "details": []}
    for col in columns:
        if finalize:
            detail = _finalize_column(conn, col, dry_run)
        else:
            route = None
            if source_schema and not dry_run:
                route = replace(_default_route(conn, col), source_schema=source_schema)
            detail = _migrate_column(conn, col, dry_run, route)
        if detail["status"] in ("migrated", "finalized"):
            result["columns_migrated"] += 1
        if detail["status"] in ("migrated", "incomplete"):
            result["rows_migrated"] += detail["rows"]
        result["details"].append(detail)
    return result


def migrate_external(schema: Any, dry_run: bool = True, finalize: bool = False, *,
                     source_schema: str | None = None) -> dict:
    """0.x ``blob@store`` / ``attach@store`` columns to 2.x ``<blob@store>`` /
    ``<attach@store>`` (see the module's steps). Returns columns_found, columns_migrated,
    rows_migrated, details (per column: table, column, store, type, action, status, rows and,
    for rows left unconverted, errors).

    ``source_schema`` (joinflow only): the schema whose name 0.14 put in the objects' paths,
    when ``schema`` is a copy of it (``create_parallel_schema``); default ``schema`` itself."""
    return _run_columns(schema, ("blob", "attach"), dry_run, finalize, source_schema)


def migrate_filepath(schema: Any, dry_run: bool = True, finalize: bool = False) -> dict:
    """0.x ``filepath@store`` columns to 2.x ``<filepath@store>``: the files stay where they
    are; same steps and result as :func:`migrate_external`."""
    return _run_columns(schema, ("filepath",), dry_run, finalize)


# -- single column, another store ---------------------------------------------------------------
def migrate_external_pointers_v2(schema: str, table: str, attribute: str, source_store: str,
                                 dest_store: str, copy_files: bool = False,
                                 connection: Any = None, source_schema: str | None = None
                                 ) -> dict:
    """Convert one 0.x external attribute of ``schema.table`` to a 2.x column of
    ``dest_store`` in one go (migrate, then finalize), e.g. in a parallel copy of a schema.

    The 0.14 objects are read from ``source_store`` under ``source_schema`` (default
    ``schema``; for a copy made by :func:`create_parallel_schema` this is the production
    schema, where 0.14 put them). ``copy_files=True`` copies each object to its 2.x place in
    ``dest_store``; without it blobs are referenced where they are (their bytes are already
    2.x's object; the reference then names ``source_store``) and attachments are refused.
    Returns rows_migrated, files_copied, errors."""
    from ..connection import conn as default_connection
    conn = connection or default_connection()
    if tracking_table(source_store) not in conn.backend.list_tables(conn.run, schema):
        raise MigrationError(f"External tracking table {schema}.{tracking_table(source_store)} "
                             "not found. Cannot migrate external pointers from 0.14 format.")
    found = [c for c in find_legacy_columns(conn, schema, ("blob", "attach", "filepath"))
             if c.table == table and c.name == attribute]
    if not found:
        raise MigrationError(f"Attribute {attribute} not found in {schema}.{table} as a 0.x "
                             "external storage column")
    col = LegacyColumn(found[0].database, table, found[0].info, found[0].kind, source_store,
                       found[0].comment, dest_store)
    source, dest = _store(conn, source_store), _store(conn, dest_store)
    route = Route(source, source_store, source_schema or schema, dest, dest_store, copy_files,
                  scratch=conn.config["download_path"])
    before = _objects_in(dest) if copy_files else set()
    detail = _migrate_column(conn, col, False, route)
    errors = list(detail.get("errors", []))
    if not errors:
        _finalize_column(conn, col, False)
    copied = len(_objects_in(dest) - before) if copy_files else 0
    return {"rows_migrated": detail["rows"], "files_copied": copied, "errors": errors}


def _objects_in(store: Any) -> set[str]:
    try:
        return set(store.list(""))
    except Exception:  # noqa: BLE001 - only counts copies for the report
        return set()


# -- checks ---------------------------------------------------------------------------------------
def _store_names(conn: Any, database: str) -> list[str]:
    names = [c.store for c in find_legacy_columns(conn, database, ("blob", "attach", "filepath"))]
    names += [t[len(TRACKING_PREFIX):] for t in cat.hidden_tables(conn, database, TRACKING_PREFIX)]
    return sorted(set(n for n in names if n))


def check_store_configuration(schema: Any) -> dict:
    """Whether every store the schema's 0.x columns and ``~external_<store>`` tables name is
    configured in ``dj.config['stores']`` and reachable. Returns stores_configured,
    stores_missing, stores_unreachable, details (store, status, location, protocol, error)."""
    conn = schema.connection
    configured = conn.config["stores"] or {}
    result: dict[str, Any] = {"stores_configured": [], "stores_missing": [],
                              "stores_unreachable": [], "details": []}
    for name in _store_names(conn, schema.database):
        detail: dict[str, Any] = {"store": name, "status": "missing", "location": None,
                                  "protocol": None}
        if name not in configured:
            result["stores_missing"].append(name)
            result["details"].append(detail)
            continue
        detail["location"] = configured[name].get("location")
        detail["protocol"] = configured[name].get("protocol", "file")
        try:
            store = store_access(conn).get(name)
            reachable = bool(store.fs.exists(_probe(store)))
            error = None if reachable else f"location does not exist: {detail['location']}"
        except Exception as exc:  # noqa: BLE001 - reported per store
            reachable, error = False, str(exc)
        if reachable:
            detail["status"] = "configured"
            result["stores_configured"].append(name)
        else:
            detail.update(status="unreachable", error=error)
            result["stores_unreachable"].append(name)
        result["details"].append(detail)
    return result


def _probe(store: Any) -> str:
    """What must exist for a store to be usable: a file store's folder, else its bucket
    (an empty location in an object store is fine)."""
    root = store.spec.root.rstrip("/")
    return root if store.is_local else root.split("/", 1)[0]


def _tracking_entries(conn: Any, database: str, store: str) -> list[TrackingRow]:
    backend, q = conn.backend, conn.backend.quote
    convert = backend.converter("uuid") or (lambda v: v)
    full = backend.full_name(database, tracking_table(store))
    rows = conn.query(f"SELECT {q('hash')}, {q('size')}, {q('attachment_name')}, "
                      f"{q('filepath')} FROM {full}")
    return [TrackingRow(as_uuid(convert(h)), int(size), name, path)
            for h, size, name, path in rows]


def _object_path(row: TrackingRow, database: str, spec: Any) -> str:
    if row.filepath and not row.attachment_name:
        return row.filepath
    return legacy_path(row.hash, database, subfolding=spec.subfolding,
                       attachment_name=row.attachment_name)


def verify_external_integrity(schema: Any, store_name: str | None = None) -> dict:
    """Whether every entry of the schema's ``~external_<store>`` tables (or of
    ``store_name``'s) has its object in the store (any protocol, checked in one batch per
    store). Returns total_references, valid, missing (store, hash, filepath, full_path,
    expected_size), stores_checked."""
    conn, database = schema.connection, schema.database
    stores = [store_name] if store_name else \
        [t[len(TRACKING_PREFIX):] for t in cat.hidden_tables(conn, database, TRACKING_PREFIX)]
    result: dict[str, Any] = {"total_references": 0, "valid": 0, "missing": [],
                              "stores_checked": []}
    present_tables = cat.hidden_tables(conn, database, TRACKING_PREFIX)
    for name in stores:
        if tracking_table(name) not in present_tables:
            raise MigrationError(f"schema {database!r} has no {tracking_table(name)} table")
        result["stores_checked"].append(name)
        entries = _tracking_entries(conn, database, name)
        result["total_references"] += len(entries)
        try:
            store = store_access(conn).get(name)
            paths = [_object_path(r, database, store.spec) for r in entries]
            present = store.exists_many(paths)
        except Exception as exc:  # noqa: BLE001 - an unusable store: nothing is present
            log.warning("store %r cannot be checked: %s", name, exc)
            store, present = None, [False] * len(entries)
            paths = [_object_path(r, database, _NoSpec) for r in entries]
        for row, path, ok in zip(entries, paths, present):
            if ok:
                result["valid"] += 1
                continue
            result["missing"].append({
                "store": name, "hash": row.hash.hex.upper(), "filepath": path,
                "full_path": store.full_path(path) if store is not None else path,
                "expected_size": row.size})
    return result


class _NoSpec:
    subfolding = None
