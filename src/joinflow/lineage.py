"""DataJoint 2.x's ``~lineage`` table: where each attribute of each table was born.

joinflow computes lineage from the foreign-key graph (``catalog.py``) and does not need this
table, but DataJoint 2.x reads it for semantic matching: joinflow keeps it current for every
table it declares, alters or drops, so DataJoint sees the same lineage in joinflow's schemas."""
from __future__ import annotations

from typing import Any

from .backends.base import PH
from .definition.types import TypeSpec

TABLE = "~lineage"
COLUMNS = (("table_name", 64, "table name within the schema"),
           ("attribute_name", 64, "attribute name"),
           ("lineage", 255, "origin: schema.table.attribute"))


def _ensure(conn: Any, schema: str) -> str:
    backend = conn.backend
    if TABLE not in backend.list_tables(conn.run, schema):
        cols = [backend.column_sql(name, backend.column_type(TypeSpec("varchar", (size,))), False,
                                   None, comment, []) for name, size, comment in COLUMNS]
        stmts = backend.create_table_sql(schema, TABLE, cols, ["table_name", "attribute_name"],
                                         [], [], "lineage of attributes (DataJoint 2.x)")
        conn.execute_script(stmts)
    return backend.full_name(schema, TABLE)


def record(conn: Any, schema: str, table: str) -> None:
    """Replace the lineage rows of ``table`` with its current heading's lineage."""
    from .catalog import load_heading
    target = _ensure(conn, schema)
    q = conn.backend.quote
    rows = [(table, a.name, a.lineage) for a in load_heading(conn, schema, table).values()
            if a.lineage]
    with conn.transaction:
        conn.query(f"DELETE FROM {target} WHERE {q('table_name')} = {PH}", (table,))
        if rows:
            cols = ", ".join(q(c) for c, _, _ in COLUMNS)
            conn.query_raw(conn.backend.render(f"INSERT INTO {target} ({cols}) VALUES "
                                               f"({PH}, {PH}, {PH})"), rows, many=True)


def forget(conn: Any, schema: str, table: str) -> None:
    """Remove ``table``'s rows (after it is dropped)."""
    backend = conn.backend
    if table == TABLE or TABLE not in backend.list_tables(conn.run, schema):
        return
    conn.query(f"DELETE FROM {backend.full_name(schema, TABLE)} "
               f"WHERE {backend.quote('table_name')} = {PH}", (table,))
