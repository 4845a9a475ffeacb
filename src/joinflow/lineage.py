"""DataJoint 2.x's ``~lineage`` table: where each attribute of each table was born.

joinflow computes lineage from the foreign-key graph (``catalog.py``) and does not need this
table, but DataJoint 2.x reads it for semantic matching: joinflow creates it in the schemas it creates
and keeps it current (where it exists) for every table it declares, alters or drops, so
DataJoint sees the same lineage in joinflow's schemas."""
from __future__ import annotations

from typing import Any

from . import errors
from .backends.base import PH
from .definition.types import TypeSpec

TABLE = "~lineage"
COLUMNS = (("table_name", 64, "table name within the schema"),
           ("attribute_name", 64, "attribute name"),
           ("lineage", 255, "origin: schema.table.attribute"))


def exists(conn: Any, schema: str) -> bool:
    return TABLE in conn.backend.list_tables(conn.run, schema)


def create(conn: Any, schema: str) -> None:
    """Create ``~lineage`` in a schema joinflow creates (concurrent callers are fine).

    Existing schemas keep what they have: one made by DataJoint 2.x has the table already;
    adding it to a DataJoint 0.x schema would make its unlabelled blob columns read as 2.x
    raw bytes (see ``catalog``)."""
    backend = conn.backend
    cols = [backend.column_sql(name, backend.column_type(TypeSpec("varchar", (size,))), False,
                               None, comment, []) for name, size, comment in COLUMNS]
    stmts = backend.create_table_sql(schema, TABLE, cols, ["table_name", "attribute_name"],
                                     [], [], "lineage of attributes (DataJoint 2.x)")
    stmts[0] = stmts[0].replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ", 1)
    try:
        conn.execute_script(stmts)
    except errors.JoinflowError:
        if not exists(conn, schema):  # lost a creation race: fine if the table is there
            raise


def record(conn: Any, schema: str, table: str) -> None:
    """Replace the lineage rows of ``table`` with its current heading's lineage."""
    from .catalog import load_heading
    if not exists(conn, schema):
        return
    target = conn.backend.full_name(schema, TABLE)
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
    if table == TABLE or not exists(conn, schema):
        return
    conn.query(f"DELETE FROM {backend.full_name(schema, TABLE)} "
               f"WHERE {backend.quote('table_name')} = {PH}", (table,))
