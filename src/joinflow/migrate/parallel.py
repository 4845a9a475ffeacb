"""Parallel copies of a schema (DataJoint 2.3.5's ``create_parallel_schema``,
``copy_table_data``, ``compare_query_results``, ``backup_schema``, ``restore_schema``), on
every backend: a copy has the same tables (hidden ones too: ``~external_*``, ``~lineage``),
columns, comments, indexes and foreign keys (a reference to a table of the copied schema
points into the copy)."""
from __future__ import annotations

import logging
import math
import time
from typing import Any

from ..backends.base import PH
from . import _catalog as cat
from ._catalog import MigrationError

log = logging.getLogger("joinflow.migrate")


def _connection(connection: Any) -> Any:
    from ..connection import conn as default_connection
    return connection or default_connection()


def _ordered_tables(conn: Any, schema: str) -> list[str]:
    """Every table of ``schema``, parents before children; hidden tables (``~external_*``,
    which user tables reference, ``~lineage``, ...) first."""
    names = conn.backend.list_tables(conn.run, schema)
    hidden = [t for t in names if t.startswith("~")]
    conn.invalidate()  # the graph must include tables made since it was read
    order = conn.dependencies.topo_sort([f"{schema}.{t}" for t in names if t not in hidden])
    ordered = [n.split(".", 1)[1] for n in order if n.split(".", 1)[0] == schema]
    return hidden + ordered + [t for t in names if t not in ordered and t not in hidden]


def _create_like(conn: Any, source: str, dest: str, table: str) -> None:
    backend = conn.backend
    src, dst = backend.full_name(source, table), backend.full_name(dest, table)
    if backend.name == "mysql":
        conn.query(f"CREATE TABLE {dst} LIKE {src}")
    elif backend.name == "postgresql":
        conn.query(f"CREATE TABLE {dst} (LIKE {src} INCLUDING ALL)")
    else:
        _sqlite_create_like(conn, source, dest, table)


def _sqlite_create_like(conn: Any, source: str, dest: str, table: str) -> None:
    """SQLite: the table's and its indexes' SQL with the schema prefix replaced (foreign keys
    included), and its comments in ``~columns``."""
    old, new = f'"{source}.', f'"{dest}.'
    rows = conn.query_raw("SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS "
                          "NOT NULL ORDER BY type DESC", (f"{source}.{table}",))
    for _kind, sql in rows:
        conn.query_raw(sql.replace(old, new))
    conn.query_raw('INSERT OR REPLACE INTO "~columns" (tbl, col, comment) SELECT ?, col, '
                   'comment FROM "~columns" WHERE tbl = ?', (f"{dest}.{table}",
                                                             f"{source}.{table}"))


def _foreign_key_sql(conn: Any, source: str, dest: str) -> list[str]:
    """Statements adding the source's foreign keys to the copy (MySQL, PostgreSQL: LIKE
    copies none); references into ``source`` point into ``dest``."""
    backend, q = conn.backend, conn.backend.quote
    out = []
    for fk in backend.foreign_keys(conn.run, [source]):
        if fk.child_schema != source:
            continue
        parent = dest if fk.parent_schema == source else fk.parent_schema
        cols = ", ".join(q(c) for c in fk.columns)
        refs = ", ".join(q(c) for c in fk.ref_columns)
        out.append(f"ALTER TABLE {backend.full_name(dest, fk.child_table)} ADD FOREIGN KEY "
                   f"({cols}) REFERENCES {backend.full_name(parent, fk.parent_table)} ({refs}) "
                   "ON UPDATE CASCADE ON DELETE RESTRICT")
    return out


def _insert_select(conn: Any, source: str, dest: str, table: str, where: str | None = None,
                   limit: int | None = None) -> None:
    backend = conn.backend
    names = ", ".join(backend.quote(c.name) for c in cat.columns(conn, source, table))
    sql = (f"INSERT INTO {backend.full_name(dest, table)} ({names}) SELECT {names} FROM "
           f"{backend.full_name(source, table)}")
    params: tuple = ()
    if where:
        sql += f" WHERE {where}"
    if limit:
        sql += f" LIMIT {PH}"
        params = (int(limit),)
    conn.query(sql, params) if params else conn.query_raw(sql)


def create_parallel_schema(source: str, dest: str, copy_data: bool = False,
                           connection: Any = None) -> dict:
    """Create schema ``dest`` with the tables of ``source`` (and their rows with
    ``copy_data``). Refuses when ``dest`` already has tables. Returns tables_created,
    data_copied, tables."""
    conn = _connection(connection)
    backend = conn.backend
    if not backend.schema_exists(conn.run, source):
        raise MigrationError(f"schema {source!r} does not exist")
    if backend.schema_exists(conn.run, dest):
        if backend.list_tables(conn.run, dest):
            raise MigrationError(f"schema {dest!r} already has tables: choose a new name")
    else:
        backend.create_schema(conn.run, dest)
    tables = _ordered_tables(conn, source)
    result: dict[str, Any] = {"tables_created": 0, "data_copied": copy_data, "tables": []}
    for table in tables:
        _create_like(conn, source, dest, table)
        result["tables_created"] += 1
        result["tables"].append(table)
    for table in tables if copy_data else ():
        _insert_select(conn, source, dest, table)
    for sql in _foreign_key_sql(conn, source, dest) if backend.name != "sqlite" else ():
        conn.query(sql)
    conn.invalidate()
    log.info("created %d tables in %s", result["tables_created"], dest)
    return result


def copy_table_data(source_schema: str, dest_schema: str, table: str, limit: int | None = None,
                    where_clause: str | None = None, connection: Any = None) -> dict:
    """Copy rows of ``table`` from ``source_schema`` into the same table of ``dest_schema``
    (optionally only ``where_clause``, SQL of the backend, and at most ``limit`` rows).
    Returns rows_copied (rows in the destination table afterwards) and time_taken."""
    conn = _connection(connection)
    start = time.time()
    _insert_select(conn, source_schema, dest_schema, table, where_clause, limit)
    full = conn.backend.full_name(dest_schema, table)
    rows = int(conn.query(f"SELECT COUNT(*) FROM {full}")[0][0])
    return {"rows_copied": rows, "time_taken": time.time() - start}


def _differ(a: Any, b: Any, tolerance: float) -> bool:
    if a is None or b is None:
        return (a is None) != (b is None)
    if isinstance(a, float) or isinstance(b, float):
        try:
            x, y = float(a), float(b)
        except (TypeError, ValueError):
            return a != b
        return not (math.isclose(x, y, abs_tol=tolerance) or (math.isnan(x) and math.isnan(y)))
    if isinstance(a, memoryview) or isinstance(b, memoryview):
        return bytes(a) != bytes(b)
    return bool(a != b)


def _sorted_rows(conn: Any, schema: str, table: str, names: list[str], key: list[str]) -> list:
    q = conn.backend.quote
    order = ", ".join(q(k) for k in (key or names))
    return conn.query(f"SELECT {', '.join(q(n) for n in names)} FROM "
                      f"{conn.backend.full_name(schema, table)} ORDER BY {order}")


def compare_query_results(prod_schema: str, test_schema: str, table: str,
                          tolerance: float = 1e-6, connection: Any = None) -> dict:
    """Compare ``table`` in two schemas row by row (ordered by the primary key), floats within
    ``tolerance``. Returns match, row_count, discrepancies (one line each)."""
    conn = _connection(connection)
    backend = conn.backend
    counts = [int(conn.query(f"SELECT COUNT(*) FROM {backend.full_name(s, table)}")[0][0])
              for s in (prod_schema, test_schema)]
    result: dict[str, Any] = {"match": True, "row_count": counts[0], "discrepancies": []}
    if counts[0] != counts[1]:
        result["match"] = False
        result["discrepancies"].append(f"Row count mismatch: prod={counts[0]}, "
                                       f"test={counts[1]}")
        return result
    names = [c.name for c in cat.columns(conn, prod_schema, table)]
    key = backend.primary_key_order(conn.run, prod_schema, table)
    prod = _sorted_rows(conn, prod_schema, table, names, key)
    test = _sorted_rows(conn, test_schema, table, names, key)
    for i, (a, b) in enumerate(zip(prod, test)):
        for name, x, y in zip(names, a, b):
            if _differ(x, y, tolerance):
                result["match"] = False
                result["discrepancies"].append(f"Row {i}, {name}: {x!r} != {y!r}")
    return result


def _row_total(conn: Any, schema: str, tables: list[str]) -> int:
    return sum(int(conn.query(f"SELECT COUNT(*) FROM {conn.backend.full_name(schema, t)}")[0][0])
               for t in tables)


def backup_schema(schema: str, backup_name: str, connection: Any = None) -> dict:
    """A full copy of ``schema`` (every table, hidden ones too, with rows) as ``backup_name``.
    Objects in stores are not copied (rows still reference them by path and hash). Returns
    tables_backed_up, rows_backed_up, backup_location."""
    from ..schema import Schema
    conn = _connection(connection)
    existed = conn.backend.schema_exists(conn.run, backup_name)
    try:
        made = create_parallel_schema(schema, backup_name, copy_data=True, connection=conn)
    except MigrationError:
        raise
    except Exception as exc:  # a partial backup must never be restored over the schema
        removed = not existed and conn.backend.schema_exists(conn.run, backup_name)
        if removed:
            Schema(backup_name, connection=conn, create_schema=False).drop(force=True)
        note = " (the partial copy was removed)" if removed else " (drop the partial copy)"
        raise MigrationError(f"backup of {schema!r} as {backup_name!r} failed{note}: "
                             f"{exc}") from exc
    return {"tables_backed_up": made["tables_created"],
            "rows_backed_up": _row_total(conn, backup_name, made["tables"]),
            "backup_location": backup_name}


def restore_schema(backup: str, dest: str, connection: Any = None) -> dict:
    """Replace schema ``dest`` by a copy of ``backup`` (``dest`` is dropped first, as
    DataJoint does). Returns tables_restored, rows_restored."""
    from ..schema import Schema
    conn = _connection(connection)
    if backup == dest:
        raise MigrationError(f"backup and destination are the same schema {dest!r}: "
                             "nothing was dropped")
    if not conn.backend.schema_exists(conn.run, backup):
        raise MigrationError(f"backup schema {backup!r} does not exist: nothing was dropped")
    if conn.backend.schema_exists(conn.run, dest) and \
            not [t for t in conn.backend.list_tables(conn.run, backup) if not t.startswith("~")]:
        raise MigrationError(f"backup schema {backup!r} has no tables: {dest!r} was not "
                             "dropped")
    if conn.backend.schema_exists(conn.run, dest):
        Schema(dest, connection=conn, create_schema=False).drop(force=True)
    made = create_parallel_schema(backup, dest, copy_data=True, connection=conn)
    return {"tables_restored": made["tables_created"],
            "rows_restored": _row_total(conn, dest, made["tables"])}
