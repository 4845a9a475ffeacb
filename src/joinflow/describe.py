"""Regenerate a table's definition text from the catalog (heading, foreign keys, indexes)."""
from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

from .catalog import load_heading
from .naming import master_of, split_tier, to_camel
from .tableref import TableRef


_MYSQL_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "b": "\b"}


def _unquote(d: str, backslash_escapes: bool) -> str:
    """The value of an SQL string literal ``'...'`` ('' doubled; MySQL also uses backslashes)."""
    body = d[1:-1]
    if not backslash_escapes:
        return body.replace("''", "'")
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(_MYSQL_ESCAPES.get(nxt, nxt))
            i += 2
        elif ch == "'" and body[i + 1:i + 2] == "'":
            out.append("'")
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def default_text(attr: Any, dialect: str = "") -> str | None:
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
    if len(d) >= 2 and d[0] == "'" and d[-1] == "'":
        value = _unquote(d, dialect == "mysql")
    elif d[:2] in ("X'", "x'") and d.endswith("'"):
        value = bytes.fromhex(d[2:-1]).decode("latin-1")
    elif attr.core in ("char", "varchar", "text", "enum", "date", "datetime", "time",
                       "timestamp", "json", "uuid"):
        value = d  # MySQL 8 shows string defaults unquoted
    elif attr.numeric and re.fullmatch(r"-?\d+(\.\d*)?([eE][-+]?\d+)?", d):
        return _number_text(attr, d)
    else:
        return d
    if attr.core == "uuid" and len(value) == 16:
        value = str(uuid.UUID(bytes=value.encode("latin-1")))
    if attr.numeric and re.fullmatch(r"-?\d+(\.\d*)?([eE][-+]?\d+)?", value):
        return _number_text(attr, value)
    return '"' + value.replace('"', '""') + '"'


def _number_text(attr: Any, text: str) -> str:
    """A numeric default written the same way whichever database stored it: ``2.50`` for a
    ``decimal(5,2)``, ``1000.0`` for a float declared ``1e3``, ``7`` for an integer."""
    if attr.core == "decimal":
        scale = attr.spec.args[1] if len(attr.spec.args) > 1 else 0
        return str(Decimal(text).quantize(Decimal(1).scaleb(-scale)))
    if attr.core in ("float32", "float64", "float", "double"):
        return repr(float(text))
    return str(int(Decimal(text)))


def class_name(conn: Any, schema: str, table: str, home: str) -> str:
    schema_obj = conn.schemas.get(schema)
    cls = schema_obj._classes.get(table) if schema_obj is not None else None
    if cls is not None:
        name = cls.__name__
        master = getattr(cls, "master", None)
        if master is not None:
            name = f"{master.__name__}.{name}"
    else:
        master = master_of(table)
        if master:
            name = f"{to_camel(split_tier(master)[1])}.{to_camel(table[len(master) + 2:])}"
        else:
            name = to_camel(split_tier(table)[1])
    return name if schema == home else f"{schema}.{name}"


def describe(table: TableRef, context: dict | None = None) -> str:
    conn = table.connection
    heading = load_heading(conn, table.database, table.table_name)
    fks = conn.dependencies.parent_fks(table.database, table.table_name)
    indexes = sorted(conn.backend.indexes(conn.run, table.database, table.table_name),
                     key=lambda i: i.name)  # the same order on every backend
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
        default = default_text(attr, conn.backend.name)
        head = attr.name + (f" = {default}" if default is not None else "")
        lines.append(f"{head} : {attr.declared}" + (f"  # {attr.comment}" if attr.comment else ""))
    fk_sets = {tuple(fk.columns) for fk in fks}
    for idx in indexes:
        if tuple(idx.columns) in fk_sets:
            continue
        lines.append(("unique " if idx.unique else "") + f"index ({', '.join(idx.columns)})")
    return "\n".join(lines) + "\n"


def _fk_line(conn: Any, table: TableRef, fk: Any, heading: Any, unique_sets: set) -> str:
    options = []
    if any(heading[c].nullable for c in fk.columns if c in heading):
        options.append("nullable")
    if tuple(fk.columns) in unique_sets:
        options.append("unique")
    name = class_name(conn, fk.parent_schema, fk.parent_table, table.database)
    renames = [f"{c}='{r}'" for c, r in zip(fk.columns, fk.ref_columns) if c != r]
    ref = name + (f".proj({', '.join(renames)})" if renames else "")
    return "-> " + (f"[{', '.join(options)}] " if options else "") + ref
