"""User SQL fragments inside a compiled query.

A fragment (``"session_date > '2024-01-01'"``, ``"count(*)"``) is written in MySQL syntax over
attribute names. Here its column references are checked against the operand's heading and
replaced by the operand's SQL expressions; ``sqlfrag.translate`` renders the rest for the target
dialect with literals bound as parameters. Templates are cached per (fragment, dialect, names).
"""
from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp

from ..backends.base import PH, Backend
from ..errors import QueryError, UnknownAttributeError
from .sqlfrag import translate

_TIMESTAMP_TYPES = (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ,
                    exp.DataType.Type.DATETIME)
_MARK = "jfcol{}x"
_MARK_RE = re.compile(r"[`\"]?jfcol(\d+)x[`\"]?")
_PYFORMAT_RE = re.compile(r"%([s%])")


def _full_timestamp(text: str) -> str:
    import datetime as dt
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"invalid TIMESTAMP literal {text!r}") from None
    return value.isoformat(sep=" ", timespec="microseconds" if value.microsecond else "seconds")


@functools.lru_cache(maxsize=4096)
def _template(text: str, dialect: str, kind: str, names: tuple) -> tuple[str, tuple, tuple]:
    """(template with column marks, referenced names by mark index, bound params)."""
    translate(text, "mysql", kind=kind)  # full validation of the fragment as written
    try:
        tree = sqlglot.parse_one(text, read="mysql")
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"cannot parse SQL fragment {text!r}: {str(exc).splitlines()[0]}") from exc
    if tree is None:
        raise QueryError(f"empty SQL fragment {text!r}")
    used: list[str] = []

    def mark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and \
                node.this.is_string and node.to.this in _TIMESTAMP_TYPES:
            # TIMESTAMP '2023-07-01' means 2023-07-01 00:00:00: written out in full, the plain
            # string compares right everywhere (SQLite keeps datetimes as ISO text)
            return exp.Literal.string(_full_timestamp(node.this.this))
        if isinstance(node, exp.Column) and not node.table:
            name = node.name
            if name not in names:
                low = {n.lower(): n for n in names}
                if name.lower() not in low:
                    raise UnknownAttributeError(f"unknown attribute {name!r} in {text!r}; "
                                     f"available: {', '.join(names)}")
                name = low[name.lower()]
            if name not in used:
                used.append(name)
            return exp.column(_MARK.format(used.index(name)))
        return node

    marked = tree.transform(mark).sql(dialect="mysql")
    sql, params = translate(marked, dialect, kind=kind, bind=True)
    return sql, tuple(used), tuple(params)


def render_fragment(text: str, backend: Backend, cols: dict[str, str],
                    kind: str = "condition") -> tuple[str, list]:
    """Render a MySQL-syntax fragment over ``cols`` (name -> SQL expression) for ``backend``."""
    template, used, params = _template(text, backend.name, kind, tuple(cols))
    if backend.placeholder == "%s":
        # pyformat text: "%s" is a placeholder and "%%" a literal percent sign (which
        # Backend.render doubles again), so undo the doubling here.
        template = _PYFORMAT_RE.sub(lambda m: PH if m.group(1) == "s" else "%", template)
    else:
        template = template.replace("?", PH)
    sql = _MARK_RE.sub(lambda m: cols[used[int(m.group(1))]], template)
    return sql, list(params)
