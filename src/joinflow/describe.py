"""Regenerate a table's definition text from the catalog (heading, foreign keys, indexes)."""
from __future__ import annotations

import re
from typing import Any

from .catalog import load_heading


def default_text(attr: Any) -> str | None:
    """The definition-language default of an attribute (None: no default)."""
    if attr.nullable:
        return "null"
    d = attr.default
    if d is None:
        return None
    d = re.sub(r"::[\w\s]+(\(\d+\))?(\[\])?$", "", str(d).strip())
    if d.lower() in ("current_timestamp()", "current_timestamp", "now()") or \
            d.upper().startswith("CURRENT_TIMESTAMP"):
        return "CURRENT_TIMESTAMP"
    if d.upper() == "NULL":
        return "null"
    if attr.core == "bool" and d.lower() in ("true", "false"):
        return d.lower()
    if not d.startswith("'") and attr.core in ("char", "varchar", "text", "enum", "date",
                                               "datetime", "time", "timestamp", "json"):
        return '"' + d.replace('"', '\\"') + '"'
    return d


def class_name(conn: Any, schema: str, table: str, home: str) -> str:
    schema_obj = conn.schemas.get(schema)
    cls = schema_obj._classes.get(table) if schema_obj is not None else None
    if cls is not None:
        name = cls.__name__
        master = getattr(cls, "master", None)
        if master is not None:
            name = f"{master.__name__}.{name}"
    else:
        from .delete import master_of
        from .user_tables import tier_of, to_camel
        master = master_of(table)
        if master:
            name = f"{to_camel(tier_of(master)[1])}.{to_camel(table[len(master) + 2:])}"
        else:
            name = to_camel(tier_of(table)[1])
    return name if schema == home else f"{schema}.{name}"


def describe(table: Any, context: dict | None = None) -> str:
    conn = table.connection
    heading = load_heading(conn, table.database, table.table_name)
    fks = conn.dependencies.parent_fks(table.database, table.table_name)
    indexes = conn.backend.indexes(conn.run, table.database, table.table_name)
    unique_sets = {tuple(i.columns) for i in indexes if i.unique}
    lines = [f"# {heading.table_comment}"] if heading.table_comment else []
    covered: set[str] = set()
    in_key = True
    by_first = {fk.columns[0]: fk for fk in fks}
    for attr in heading.values():
        if in_key and not attr.in_key:
            lines.append("---")
            in_key = False
        if attr.name in covered:
            continue
        fk = by_first.get(attr.name)
        if fk is not None:
            covered.update(fk.columns)
            lines.append(_fk_line(conn, table, fk, heading, unique_sets))
            continue
        default = default_text(attr)
        head = attr.name + (f" = {default}" if default is not None else "")
        lines.append(f"{head} : {attr.declared}" + (f"  # {attr.comment}" if attr.comment else ""))
    fk_sets = {tuple(fk.columns) for fk in fks}
    for idx in indexes:
        if tuple(idx.columns) in fk_sets:
            continue
        lines.append(("unique " if idx.unique else "") + f"index({', '.join(idx.columns)})")
    return "\n".join(lines) + "\n"


def _fk_line(conn: Any, table: Any, fk: Any, heading: Any, unique_sets: set) -> str:
    options = []
    if any(heading[c].nullable for c in fk.columns if c in heading):
        options.append("nullable")
    if tuple(fk.columns) in unique_sets:
        options.append("unique")
    name = class_name(conn, fk.parent_schema, fk.parent_table, table.database)
    renames = [f"{c}='{r}'" for c, r in zip(fk.columns, fk.ref_columns) if c != r]
    ref = name + (f".proj({', '.join(renames)})" if renames else "")
    return "-> " + (f"[{', '.join(options)}] " if options else "") + ref
