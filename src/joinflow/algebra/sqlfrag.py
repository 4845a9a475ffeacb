"""Translate DataJoint-style SQL fragments (MySQL syntax) to each backend's SQL.

DataJoint users write bits of SQL in MySQL syntax: restrictions
(``table & "session_date > '2024-01-01'"``), projections
(``proj(total='a + b')``) and aggregations (``aggr(..., n='count(*)')``).
joinflow runs on SQLite, PostgreSQL and MySQL/MariaDB, so every fragment is
parsed once with sqlglot's MySQL reader and rendered for the target backend.

Pipeline (all on the sqlglot syntax tree, never on SQL text):

1. **parse** the fragment as a single MySQL expression; statements, several
   statements, placeholders and variables are refused with a
   :class:`~joinflow.errors.QueryError` naming the fragment;
2. **normalize** MySQL-isms the reader leaves behind (``YEAR(DATE(x))``);
3. **coerce truthiness** (PostgreSQL only): MySQL has no real boolean type, so
   ``WHERE flag``, ``SUM(x > 1)`` or ``proj(big='x > 1')`` are legal there.
   Non-boolean values in a boolean position become ``(v) <> 0``, booleans in a
   value position become ``CAST(b AS INTEGER)``, and ``TRUE``/``FALSE`` compared
   with values become ``1``/``0``;
4. **rewrite** functions from the per-dialect table :data:`REWRITES`
   (data: an expression class, or an unknown function's name, mapped to a SQL
   template in the target dialect or to a small builder function);
5. **generate** SQL with quoted identifiers and, with ``bind=True``, the
   fragment's own literals turned into placeholders.

SQLite connections must register the helpers of this module: the functions
of :func:`sqlite_functions` (``conn.create_function(name, nargs, fn,
deterministic=True)``) -- ``regexp``, because SQLite parses ``x REGEXP p`` but
ships no implementation, and ``mysql_mod`` for ``MOD``/``%`` (SQLite's ``%``
truncates reals to integers) -- and the aggregates of :func:`sqlite_aggregates`
(``STDDEV_POP``, ``VAR_SAMP``, ...; ``conn.create_aggregate``).

Emulated MySQL semantics include: NULL from division (``/``, ``DIV``, ``MOD``)
by zero; ``/`` always dividing as reals; ``DIV`` truncating toward zero;
``CONCAT`` being NULL when any argument is NULL (rendered as ``||``, which
behaves so on SQLite and PostgreSQL, unlike PostgreSQL's ``CONCAT``);
``GREATEST``/``LEAST`` being NULL when any argument is; ``TIMESTAMPDIFF``
truncating toward zero, with MySQL's whole-month rule for MONTH/QUARTER/YEAR;
``<=>`` (``IS`` on SQLite, ``IS NOT DISTINCT FROM`` on PostgreSQL); ``LIKE``'s
backslash escape on SQLite.

Not emulated (documented limitations):

* MySQL's default collations compare strings case-insensitively (``=``,
  ``LIKE``, ``REGEXP``) and ignore trailing spaces. PostgreSQL compares
  case-sensitively and so does the SQLite ``regexp`` helper; SQLite's ``=`` is
  case-sensitive but its ``LIKE`` is case-insensitive for ASCII unless the
  connection sets ``PRAGMA case_sensitive_like = ON``.
* ``LENGTH`` counts bytes on MySQL, characters elsewhere.
* ``NOW()``/``CURDATE()`` on SQLite use the machine's local time
  (``'localtime'``), like MySQL's default ``SYSTEM`` time zone; date arithmetic
  (``d + INTERVAL 1 DAY``) on SQLite yields ``'YYYY-MM-DD HH:MM:SS'`` text.
* ``GROUP_CONCAT(DISTINCT x ORDER BY x)`` on PostgreSQL orders by ``x`` as text
  (PostgreSQL requires the ORDER BY of a DISTINCT aggregate to be its argument).
  On SQLite before 3.44, ``GROUP_CONCAT(... ORDER BY k)`` runs as a registered aggregate
  (one value, one key); several keys need SQLite 3.44.
* ``j->>'$.a'`` of a JSON ``null`` is the string ``'null'`` on MySQL and SQL
  NULL on PostgreSQL and SQLite.
* Expressions made only of untyped ``NULL``s, ``LIKE``/``REGEXP`` on a non-text
  column, JSON functions beyond ``->``/``->>``/``JSON_EXTRACT`` with literal
  paths and MySQL functions without a counterpart are passed through (best
  effort) and may fail at run time on the other backends.
* MySQL output assumes the default ``sql_mode`` (no ``NO_BACKSLASH_ESCAPES``:
  backslashes in strings are written escaped).

With ``bind=True`` the text uses the backend's paramstyle (``?`` for SQLite,
``%s`` for PostgreSQL and MySQL); for the ``%s`` style every literal ``%`` in
the text is doubled, so the text must be executed *with* the params (even when
the list is empty). Only literals written in the fragment are bound; format
strings, separators, interval amounts and literals introduced by a translation
stay inline.
"""
from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, TypeAlias

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.tokens import TokenType

from joinflow.errors import QueryError

__all__ = [
    "REWRITES",
    "TIMESTAMPDIFF",
    "Dialect",
    "Kind",
    "is_aggregate",
    "referenced_columns",
    "sqlite_aggregates",
    "sqlite_functions",
    "translate",
]

Dialect = Literal["sqlite", "postgresql", "mysql"]
Kind = Literal["condition", "expression"]

# A rewrite is either a SQL template in the *target* dialect whose ``:name``
# placeholders are filled with the node's arguments (``:this``,
# ``:expression``, ... ; ``:arg0``, ``:arg1`` for functions sqlglot does not
# know), or a function building the replacement node.
Rewrite: TypeAlias = str | Callable[[exp.Expr], exp.Expr]
RewriteKey: TypeAlias = type | str  # an exp class, or the upper-case name of an unknown function

_DIALECT_ALIASES: dict[str, str] = {
    "sqlite": "sqlite", "sqlite3": "sqlite",
    "postgresql": "postgresql", "postgres": "postgresql", "pg": "postgresql",
    "mysql": "mysql", "mariadb": "mysql",
}
_SQLGLOT_DIALECT: dict[str, str] = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql"}
_PARAMSTYLE: dict[str, str] = {"sqlite": "?", "postgresql": "%s", "mysql": "%s"}
_KINDS = ("condition", "expression")

_BIND_KEY = "joinflow_bind"  # meta flag: a user literal that may become a placeholder
_MARKER = "\x00"              # brackets a parameter's index in generated text
_MARKER_RE = re.compile(r"\x00(\d+)\x00")

# ---------------------------------------------------------------------------
# rewrite tables
# ---------------------------------------------------------------------------

_SQLITE_PARTS: dict[RewriteKey, Rewrite] = {
    exp.Year: "CAST(STRFTIME('%Y', :this) AS INTEGER)",
    exp.Month: "CAST(STRFTIME('%m', :this) AS INTEGER)",
    exp.Day: "CAST(STRFTIME('%d', :this) AS INTEGER)",
    exp.DayOfMonth: "CAST(STRFTIME('%d', :this) AS INTEGER)",
    exp.DayOfYear: "CAST(STRFTIME('%j', :this) AS INTEGER)",
    exp.DayOfWeek: "CAST(STRFTIME('%w', :this) AS INTEGER) + 1",
    exp.Week: "(CAST(STRFTIME('%j', :this) AS INTEGER) + 6 - CAST(STRFTIME('%w', :this) AS INTEGER)) / 7",
    exp.Quarter: "(CAST(STRFTIME('%m', :this) AS INTEGER) + 2) / 3",
    exp.Hour: "CAST(STRFTIME('%H', :this) AS INTEGER)",
    exp.Minute: "CAST(STRFTIME('%M', :this) AS INTEGER)",
    exp.Second: "CAST(STRFTIME('%S', :this) AS INTEGER)",
    "WEEKDAY": "(CAST(STRFTIME('%w', :arg0) AS INTEGER) + 6) % 7",
}

_PG_DATE = "CAST(EXTRACT({part} FROM CAST(:this AS DATE)) AS INTEGER)"
_PG_TIME = "CAST(EXTRACT({part} FROM CAST(:this AS TIME)) AS INTEGER)"
_PG_PARTS: dict[RewriteKey, Rewrite] = {
    exp.Year: _PG_DATE.format(part="YEAR"),
    exp.Month: _PG_DATE.format(part="MONTH"),
    exp.Day: _PG_DATE.format(part="DAY"),
    exp.DayOfMonth: _PG_DATE.format(part="DAY"),
    exp.DayOfYear: _PG_DATE.format(part="DOY"),
    exp.DayOfWeek: _PG_DATE.format(part="DOW") + " + 1",
    exp.Week: "CAST(TRUNC((EXTRACT(DOY FROM CAST(:this AS DATE)) + 6"
              " - EXTRACT(DOW FROM CAST(:this AS DATE))) / 7) AS INTEGER)",
    exp.Quarter: _PG_DATE.format(part="QUARTER"),
    exp.Hour: _PG_TIME.format(part="HOUR"),
    exp.Minute: _PG_TIME.format(part="MINUTE"),
    exp.Second: "CAST(FLOOR(EXTRACT(SECOND FROM CAST(:this AS TIME))) AS INTEGER)",
}


def _sqlite_month_diff() -> str:
    """Whole months from :start to :end, truncated toward zero like MySQL."""
    def part(fmt: str, arg: str) -> str:
        return f"CAST(STRFTIME('{fmt}', :{arg}) AS INTEGER)"

    raw = (f"((({part('%Y', 'end')} - {part('%Y', 'start')}) * 12"
           f" + {part('%m', 'end')} - {part('%m', 'start')}))")
    rest_end = "STRFTIME('%d %H:%M:%f', :end)"
    rest_start = "STRFTIME('%d %H:%M:%f', :start)"
    return (f"({raw} - CASE WHEN {raw} > 0 AND {rest_end} < {rest_start} THEN 1"
            f" WHEN {raw} < 0 AND {rest_end} > {rest_start} THEN -1 ELSE 0 END)")


_SQLITE_MS = "CAST(ROUND((JULIANDAY(:end) - JULIANDAY(:start)) * 86400000.0) AS INTEGER)"
_SQLITE_MONTHS = _sqlite_month_diff()
_PG_EPOCH = "EXTRACT(EPOCH FROM CAST(:end AS TIMESTAMP) - CAST(:start AS TIMESTAMP))"
_PG_AGE = "AGE(CAST(:end AS TIMESTAMP), CAST(:start AS TIMESTAMP))"
_PG_MONTHS = f"CAST(EXTRACT(YEAR FROM {_PG_AGE}) * 12 + EXTRACT(MONTH FROM {_PG_AGE}) AS BIGINT)"

#: TIMESTAMPDIFF(unit, start, end) per dialect and unit (integer division truncates toward zero)
TIMESTAMPDIFF: dict[str, dict[str, str]] = {
    "sqlite": {
        "MICROSECOND": f"{_SQLITE_MS} * 1000",
        "SECOND": f"{_SQLITE_MS} / 1000",
        "MINUTE": f"{_SQLITE_MS} / 60000",
        "HOUR": f"{_SQLITE_MS} / 3600000",
        "DAY": f"{_SQLITE_MS} / 86400000",
        "WEEK": f"{_SQLITE_MS} / 604800000",
        "MONTH": _SQLITE_MONTHS,
        "QUARTER": f"{_SQLITE_MONTHS} / 3",
        "YEAR": f"{_SQLITE_MONTHS} / 12",
    },
    "postgresql": {
        "MICROSECOND": f"CAST(TRUNC({_PG_EPOCH} * 1000000) AS BIGINT)",
        "SECOND": f"CAST(TRUNC({_PG_EPOCH}) AS BIGINT)",
        "MINUTE": f"CAST(TRUNC({_PG_EPOCH} / 60) AS BIGINT)",
        "HOUR": f"CAST(TRUNC({_PG_EPOCH} / 3600) AS BIGINT)",
        "DAY": f"CAST(TRUNC({_PG_EPOCH} / 86400) AS BIGINT)",
        "WEEK": f"CAST(TRUNC({_PG_EPOCH} / 604800) AS BIGINT)",
        "MONTH": _PG_MONTHS,
        "QUARTER": f"{_PG_MONTHS} / 3",
        "YEAR": f"CAST(EXTRACT(YEAR FROM {_PG_AGE}) AS BIGINT)",
    },
}


def _timestampdiff(dialect: str) -> Callable[[exp.Expr], exp.Expr]:
    def rewrite(node: exp.Expr) -> exp.Expr:
        unit = node.text("unit").upper().removeprefix("SQL_TSI_")
        unit = {"FRAC_SECOND": "MICROSECOND"}.get(unit, unit)
        template = TIMESTAMPDIFF[dialect].get(unit)
        if template is None:
            raise QueryError(f"TIMESTAMPDIFF unit {unit or '?'!r} is not supported")
        return _fill(template, dialect, {"start": node.expression, "end": node.this})
    return rewrite


def _boolean_to_int(node: exp.Expr) -> exp.Expr:
    return exp.Literal.number(1 if node.this else 0)


def _sqlite_boolean(node: exp.Expr) -> exp.Expr:
    """TRUE/FALSE -> 1/0, except in ``x IS TRUE`` (SQLite's IS TRUE tests truthiness)."""
    return node if isinstance(node.parent, exp.Is) else _boolean_to_int(node)


def _if_to_case(node: exp.Expr) -> exp.Expr:
    """MySQL's IF(c, a, b) -> CASE (If nodes that are already CASE branches stay)."""
    if isinstance(node.parent, exp.Case):
        return node
    return exp.Case(ifs=[exp.If(this=node.this, true=node.args.get("true"))],
                    default=node.args.get("false"))


def _like_escape(node: exp.Expr) -> exp.Expr:
    """SQLite's LIKE has no default escape character; MySQL's and PostgreSQL's is ``\\``."""
    pattern = node.expression
    if isinstance(node.parent, exp.Escape) or not (isinstance(pattern, exp.Literal) and "\\" in pattern.this):
        return node
    return exp.Escape(this=node, expression=exp.Literal.string("\\"))


_SQLITE_SHIFT_UNITS: dict[str, tuple[int, str]] = {
    "SECOND": (1, "seconds"), "MINUTE": (1, "minutes"), "HOUR": (1, "hours"),
    "DAY": (1, "days"), "WEEK": (7, "days"), "MONTH": (1, "months"),
    "QUARTER": (3, "months"), "YEAR": (1, "years"),
}


def _sqlite_date_shift(node: exp.Expr) -> exp.Expr:
    """``d + INTERVAL n unit`` / DATE_ADD / DATE_SUB -> ``DATETIME(d, '+n unit')``."""
    if isinstance(node, (exp.DateAdd, exp.DateSub)):
        base, amount, unit = node.this, node.expression, node.text("unit")
    elif isinstance(node.expression, exp.Interval):
        base, amount, unit = node.this, node.expression.this, node.expression.text("unit")
    elif isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
        base, amount, unit = node.expression, node.this.this, node.this.text("unit")
    else:
        return node
    factor, name = _SQLITE_SHIFT_UNITS.get(unit.upper(), (0, ""))
    if not factor:
        raise QueryError(f"INTERVAL unit {unit!r} is not supported on sqlite")
    sign = -1 if isinstance(node, (exp.Sub, exp.DateSub)) else 1
    if isinstance(amount, exp.Literal) and re.fullmatch(r"[+-]?[0-9]+", amount.this.strip()):
        modifier: exp.Expr = exp.Literal.string(f"{sign * factor * int(amount.this):+d} {name}")
    else:
        scaled = exp.Mul(this=_atom(amount), expression=exp.Literal.number(sign * factor))
        modifier = exp.DPipe(this=exp.Paren(this=scaled), expression=exp.Literal.string(f" {name}"))
    return exp.Anonymous(this="DATETIME", expressions=[base, modifier])


def _anonymous(name: str) -> Callable[[exp.Expr], exp.Expr]:
    """Render any node as ``NAME(args...)`` (keeps the function name stable)."""
    def rewrite(node: exp.Expr) -> exp.Expr:
        args = [v for v in node.args.values() if isinstance(v, exp.Expr)]
        return exp.Anonymous(this=name, expressions=args)
    return rewrite


def _text(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Literal) and node.is_string:
        return node
    return exp.Cast(this=node, to=exp.DataType.build("TEXT"))


def _pg_concat(node: exp.Expr) -> exp.Expr:
    """MySQL CONCAT is NULL if any argument is NULL: PostgreSQL ``||`` (not CONCAT)."""
    parts = [_text(_atom(arg)) for arg in node.expressions]
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part)
    return exp.Paren(this=result) if len(parts) > 1 else result


def _as_text(value: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this="JF_TEXT", expressions=[value])


def _text_values(node: exp.Expr) -> None:
    """Concatenated numbers are written the way PostgreSQL and MySQL write them (``3``, not
    SQLite's ``3.0``): wrap the GROUP_CONCAT value in the registered JF_TEXT()."""
    holder = node.this.this if isinstance(node.this, exp.Order) else None
    target = holder if holder is not None else node.this
    if isinstance(target, exp.Distinct):
        target.set("expressions", [_as_text(v) for v in target.expressions])
    elif holder is not None:
        node.this.set("this", _as_text(holder))
    else:
        node.set("this", _as_text(target))


def _sqlite_text(value: Any) -> Any:
    """A float as its shortest text without a needless ``.0`` (``3`` and ``0.25``)."""
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return value


def _sqlite_group_concat(node: exp.Expr) -> exp.Expr:
    """SQLite before 3.44 has no ORDER BY inside aggregates: an ordered GROUP_CONCAT becomes
    the registered aggregate ``JF_GROUP_CONCAT_ORDERED(value, key, descending, separator)``."""
    import sqlite3
    _text_values(node)
    body = node.this
    separator = node.args.get("separator")
    if isinstance(body, exp.Distinct) and len(body.expressions) == 1:
        # SQLite's DISTINCT aggregates take one argument: no separator
        if separator is None or (isinstance(separator, exp.Literal) and separator.this == ","):
            node.set("separator", None)
            return node
        value = body.expressions[0]
        key = value.expressions[0] if isinstance(value, exp.Anonymous) else value
        return exp.Anonymous(this="JF_GROUP_CONCAT_ORDERED", expressions=[
            value, key.copy(), exp.Literal.number(0), separator, exp.Literal.number(1)])
    if not isinstance(body, exp.Order) or sqlite3.sqlite_version_info >= (3, 44):
        return node
    value, distinct = body.this, isinstance(body.this, exp.Distinct)
    if distinct:
        value = value.expressions[0] if len(value.expressions) == 1 else None
    if len(body.expressions) != 1 or value is None:
        raise QueryError("GROUP_CONCAT over several values or ORDER BY keys needs SQLite 3.44 "
                         f"or newer (this is {sqlite3.sqlite_version})")
    ordered = body.expressions[0]
    separator = node.args.get("separator") or exp.Literal.string(",")
    return exp.Anonymous(this="JF_GROUP_CONCAT_ORDERED", expressions=[
        value, ordered.this, exp.Literal.number(1 if ordered.args.get("desc") else 0),
        separator, exp.Literal.number(int(distinct))])


def _pg_group_concat(node: exp.Expr) -> exp.Expr:
    """GROUP_CONCAT -> STRING_AGG over text values with an explicit separator."""
    body, order = node.this, None
    if isinstance(body, exp.Order):
        order, body = body, body.this
    distinct = isinstance(body, exp.Distinct)
    values = list(body.expressions) if distinct else [body]
    value = _pg_concat(exp.Concat(expressions=values)) if len(values) > 1 else _text(values[0])
    if distinct:
        for ordered in order.expressions if order else []:
            if ordered.this in values:
                ordered.set("this", value.copy())
        value = exp.Distinct(expressions=[value])
    if order is not None:
        order.set("this", value)
        value = order
    separator = node.args.get("separator") or exp.Literal.string(",")
    return exp.GroupConcat(this=value, separator=separator)


def _numeric(node: exp.Expr) -> exp.Expr:
    """A NUMERIC operand: PostgreSQL has no ``%``/DIV for double precision."""
    if isinstance(node, exp.Literal) and node.is_int:
        return node
    return exp.Cast(this=node, to=exp.DataType.build("NUMERIC"))


def _nonzero(node: exp.Expr) -> exp.Expr:
    """MySQL divides by zero into NULL; PostgreSQL raises."""
    return exp.Nullif(this=node, expression=exp.Literal.number(0))


def _pg_mod(node: exp.Expr) -> exp.Expr:
    return exp.Mod(this=_atom(_numeric(node.this)), expression=_nonzero(_numeric(node.expression)))


def _pg_intdiv(node: exp.Expr) -> exp.Expr:
    quotient = exp.Anonymous(this="DIV", expressions=[_numeric(node.this), _nonzero(_numeric(node.expression))])
    return exp.Cast(this=quotient, to=exp.DataType.build("BIGINT"))


def _null_if_any_null(node: exp.Expr) -> exp.Expr:
    """MySQL's GREATEST/LEAST are NULL when any argument is; PostgreSQL's skip NULLs."""
    args = [node.this, *node.expressions]
    tests = [exp.Is(this=_atom(arg.copy()), expression=exp.Null()) for arg in args]
    return exp.Case(ifs=[exp.If(this=exp.or_(*tests), true=exp.Null())], default=node)


_PG_CAST_TYPES: dict[exp.DType, exp.DType] = {
    exp.DType.UBIGINT: exp.DType.BIGINT,
    exp.DType.UINT: exp.DType.BIGINT,
    exp.DType.UTINYINT: exp.DType.SMALLINT,
    exp.DType.USMALLINT: exp.DType.INT,
}


def _pg_cast(node: exp.Expr) -> exp.Expr:
    """MySQL's CAST(x AS CHAR) is a string of any length, not char(1); no unsigned types."""
    to = node.args.get("to")
    if not isinstance(to, exp.DataType):
        return node
    if to.this in (exp.DType.CHAR, exp.DType.NCHAR) and not to.expressions:
        node.set("to", exp.DataType.build("TEXT"))
    elif to.this in _PG_CAST_TYPES:
        node.set("to", exp.DataType(this=_PG_CAST_TYPES[to.this]))
    return node


def _json_path_literal(path: exp.Expr) -> exp.Expr:
    """A MySQL JSON path ``$.a.b[0]`` as a PostgreSQL text-array literal ``'{a,b,0}'``."""
    keys = []
    for part in path.expressions if isinstance(path, exp.JSONPath) else []:
        if isinstance(part, exp.JSONPathRoot):
            continue
        if not isinstance(part, (exp.JSONPathKey, exp.JSONPathSubscript)) or not isinstance(part.this, (str, int)):
            raise QueryError(f"JSON path {path.sql('mysql')} is not supported on PostgreSQL")
        keys.append(str(part.this))
    if not isinstance(path, exp.JSONPath):
        raise QueryError("only literal JSON paths are supported on PostgreSQL")
    quoted = ('"' + k.replace("\\", "\\\\").replace('"', '\\"') + '"' for k in keys)
    return exp.Literal.string("{" + ",".join(quoted) + "}")


def _pg_json(cls: type) -> Callable[[exp.Expr], exp.Expr]:
    """``j -> '$.a'`` -> ``j #> '{"a"}'``: works on json and jsonb columns alike."""
    def rewrite(node: exp.Expr) -> exp.Expr:
        return cls(this=node.this, expression=_json_path_literal(node.expression))
    return rewrite


def _sqlite_json_extract(node: exp.Expr) -> exp.Expr:
    """``JSON_EXTRACT(j, p)`` / ``j -> p``: SQLite's json_extract() gives SQL values (numbers
    compare as numbers), as MySQL's JSON comparison does; its ``->`` would give JSON text."""
    path = node.expression
    text = path.sql("mysql").strip("'") if isinstance(path, exp.JSONPath) else None
    return exp.Anonymous(this="json_extract", expressions=[
        node.this, exp.Literal.string(text) if text is not None else path])


def _pg_literal_date_shift(node: exp.Expr) -> exp.Expr:
    """``'2017-05-20' - INTERVAL 7 DAY``: MySQL reads the string as a date; PostgreSQL needs
    the cast (to TIMESTAMP, which compares with dates and timestamps alike)."""
    if isinstance(node.expression, exp.Interval):
        side = node.this
        if isinstance(side, exp.Literal) and side.is_string:
            node.set("this", exp.Cast(this=side, to=exp.DataType.build("TIMESTAMP")))
    elif isinstance(node, exp.Add) and isinstance(node.this, exp.Interval):
        side = node.expression
        if isinstance(side, exp.Literal) and side.is_string:
            node.set("expression", exp.Cast(this=side, to=exp.DataType.build("TIMESTAMP")))
    return node


def _pg_round(node: exp.Expr) -> exp.Expr:
    """ROUND(x, n): PostgreSQL rounds only NUMERIC to n places and returns NUMERIC (Decimal);
    MySQL returns a float for a float argument. Round as NUMERIC, return DOUBLE PRECISION."""
    decimals = node.args.get("decimals")
    if decimals is None:
        return node
    numeric = exp.Cast(this=node.this, to=exp.DataType.build("NUMERIC"))
    rounded = exp.Anonymous(this="ROUND", expressions=[numeric, decimals])
    return exp.Cast(this=rounded, to=exp.DataType.build("DOUBLE PRECISION"))


def _sqlite_round(node: exp.Expr) -> exp.Expr:
    """ROUND(x, -n): SQLite ignores negative places; round x / 10^n and scale back."""
    decimals = node.args.get("decimals")
    places = decimals.this if isinstance(decimals, exp.Neg) else None
    if not (isinstance(places, exp.Literal) and not places.is_string):
        return node
    scale = exp.Literal.number(10 ** int(places.this))
    inner = exp.Anonymous(this="ROUND", expressions=[exp.Div(this=exp.Paren(this=node.this),
                                                               expression=scale)])
    return exp.Paren(this=exp.Mul(this=inner, expression=scale.copy()))


def _literal_kind(node: exp.Expr) -> str | None:
    """'number', 'string' or 'boolean' for a literal operand (negatives included), else None."""
    value = node.this if isinstance(node, exp.Neg) else node
    if isinstance(value, exp.Boolean):
        return "boolean"
    if isinstance(value, exp.Literal):
        return "string" if value.is_string else "number"
    return None


def _compared_with(node: exp.Expr) -> list[tuple[str, str | None]]:
    """(argument name, literal kind of the other side) for each side of a comparison or IN."""
    if isinstance(node, exp.In):
        kinds = {_literal_kind(v) for v in node.expressions}
        return [("this", kinds.pop() if len(kinds) == 1 else None)]
    return [("this", _literal_kind(node.expression)), ("expression", _literal_kind(node.this))]


def _sqlite_json_compare(node: exp.Expr) -> exp.Expr:
    """A JSON value compared with literals: json_extract() (SQL values, like MySQL's JSON
    comparison); elsewhere ``->`` keeps JSON text (a JSON null stays non-NULL, as in MySQL)."""
    for key, kind in _compared_with(node):
        if kind and isinstance(node.args.get(key), exp.JSONExtract):
            node.set(key, _sqlite_json_extract(node.args[key]))
    return node


_PG_CASTS = {"number": "DOUBLE PRECISION", "boolean": "BOOLEAN"}


def _pg_json_compare(node: exp.Expr) -> exp.Expr:
    """MySQL compares JSON values with numbers, strings and booleans directly; PostgreSQL needs
    the text (``#>>``) of the value, cast when compared with a number or a boolean."""
    for key, kind in _compared_with(node):
        side = node.args.get(key)
        inner = side.this if isinstance(side, exp.Paren) else side
        if kind is None or not isinstance(inner, (exp.JSONBExtract, exp.JSONBExtractScalar)):
            continue
        text = exp.Paren(this=exp.JSONBExtractScalar(this=inner.this, expression=inner.expression))
        node.set(key, text if kind == "string" else exp.Cast(
            this=text, to=exp.DataType.build(_PG_CASTS[kind])))
    return node


def _mysql_json_scalar(node: exp.Expr) -> exp.Expr:
    """MariaDB has no ``->>``: JSON_UNQUOTE(JSON_EXTRACT(...))."""
    extract = exp.JSONExtract(this=node.this, expression=node.expression)
    return exp.Anonymous(this="JSON_UNQUOTE", expressions=[extract])


#: Per-dialect rewrites of the MySQL syntax tree: key -> template or builder.
REWRITES: dict[str, dict[RewriteKey, Rewrite]] = {
    "sqlite": {
        **_SQLITE_PARTS,
        exp.Boolean: _sqlite_boolean,
        exp.If: _if_to_case,
        exp.Xor: "(:this <> 0) <> (:expression <> 0)",
        exp.Like: _like_escape,
        exp.Round: _sqlite_round,
        **{cmp: _sqlite_json_compare
           for cmp in (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In)},
        exp.Add: _sqlite_date_shift,
        exp.Sub: _sqlite_date_shift,
        exp.DateAdd: _sqlite_date_shift,
        exp.DateSub: _sqlite_date_shift,
        exp.TimestampDiff: _timestampdiff("sqlite"),
        exp.DateDiff: "CAST(JULIANDAY(DATE(:this)) - JULIANDAY(DATE(:expression)) AS INTEGER)",
        exp.Rand: "(RANDOM() / 18446744073709551616.0 + 0.5)",
        exp.Mod: "MYSQL_MOD(:this, :expression)",
        exp.Left: "SUBSTR(:this, 1, :expression)",
        exp.Right: "SUBSTR(:this, MAX(LENGTH(:this) - :expression + 1, 1))",
        exp.CurrentTimestamp: "DATETIME('now', 'localtime')",
        exp.Localtimestamp: "DATETIME('now', 'localtime')",
        exp.CurrentDate: "DATE('now', 'localtime')",
        exp.CurrentTime: "TIME('now', 'localtime')",
        exp.Localtime: "TIME('now', 'localtime')",
        exp.UtcTimestamp: "DATETIME('now')",
        "NOW": "DATETIME('now', 'localtime')",
        "SYSDATE": "DATETIME('now', 'localtime')",
        "UTC_DATE": "DATE('now')",
        exp.GroupConcat: _sqlite_group_concat,
        exp.StddevPop: _anonymous("STDDEV_POP"),
        exp.StddevSamp: _anonymous("STDDEV_SAMP"),
        exp.VariancePop: _anonymous("VAR_POP"),
        exp.Variance: _anonymous("VAR_SAMP"),
    },
    "postgresql": {
        **_PG_PARTS,
        "WEEKDAY": "CAST(EXTRACT(ISODOW FROM CAST(:arg0 AS DATE)) AS INTEGER) - 1",
        exp.GroupConcat: _pg_group_concat,
        exp.Concat: _pg_concat,
        exp.TimestampDiff: _timestampdiff("postgresql"),
        exp.Xor: ":this <> :expression",
        exp.IntDiv: _pg_intdiv,
        exp.Mod: _pg_mod,
        exp.Round: _pg_round,
        exp.Add: _pg_literal_date_shift,
        exp.Sub: _pg_literal_date_shift,
        exp.Greatest: _null_if_any_null,
        exp.Least: _null_if_any_null,
        exp.Cast: _pg_cast,
        exp.UtcTimestamp: "(NOW() AT TIME ZONE 'UTC')",
        exp.CurrentTime: "LOCALTIME",
        "SYSDATE": "NOW()",
        "UTC_DATE": "CAST(NOW() AT TIME ZONE 'UTC' AS DATE)",
        exp.JSONExtract: _pg_json(exp.JSONBExtract),
        exp.JSONExtractScalar: _pg_json(exp.JSONBExtractScalar),
        **{cmp: _pg_json_compare
           for cmp in (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In)},
    },
    "mysql": {
        exp.JSONExtractScalar: _mysql_json_scalar,
    },
}


def _regexp_binary(self: Any, node: exp.Expr) -> str:
    """MariaDB has no REGEXP_LIKE(): keep the ``x REGEXP p`` operator."""
    return self.binary(node, "REGEXP")


#: Per-dialect generator overrides (how a node is spelled, not what it means).
_GENERATOR_TRANSFORMS: dict[str, dict[type, Callable[..., str]]] = {
    "mysql": {exp.RegexpLike: _regexp_binary},
}

# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------


def translate(fragment: str, dialect: str, *, kind: str = "condition",
              bind: bool = False) -> tuple[str, list]:
    """Parse a MySQL-syntax fragment and render it for `dialect`.

    kind="condition" (a boolean WHERE condition) or "expression" (a value
    expression, e.g. for proj/aggr). Returns ``(sql_text, params)``. With
    ``bind=True``, literal values (strings, numbers) written in the fragment are
    replaced by placeholders (``?`` for sqlite, ``%s`` for postgresql and mysql)
    and returned in ``params``; with ``bind=False`` params is ``[]``.
    Identifiers come out quoted for the target dialect (backticks for mysql,
    double quotes otherwise). Results are cached since fragments repeat.

    Raises QueryError for an unknown dialect or kind and for a fragment that
    cannot be parsed or translated.
    """
    text, params = _translate_cached(_fragment(fragment), _dialect(dialect), _kind(kind), bool(bind))
    return text, list(params)


def referenced_columns(fragment: str) -> set[str]:
    """Names of the columns the fragment refers to (outside any subquery)."""
    return set(_columns_cached(_fragment(fragment)))


def is_aggregate(fragment: str) -> bool:
    """True if the fragment contains an aggregate function (count, sum, avg, ...)."""
    return _is_aggregate_cached(_fragment(fragment))


def sqlite_functions() -> dict[str, tuple[int, Callable[..., Any]]]:
    """Scalar functions a SQLite connection must register (``create_function``)."""
    return {"regexp": (2, _sqlite_regexp), "mysql_mod": (2, _sqlite_mod),
            "jf_text": (1, _sqlite_text)}


def sqlite_aggregates() -> dict[str, tuple[int, type]]:
    """Aggregates a SQLite connection must register (``create_aggregate``)."""
    return {
        "stddev_pop": (1, _StddevPop),
        "stddev_samp": (1, _StddevSamp),
        "var_pop": (1, _VarPop),
        "var_samp": (1, _VarSamp),
        "jf_group_concat_ordered": (5, _GroupConcatOrdered),
    }

# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------

_REFUSED: dict[type, str] = {
    exp.Placeholder: "placeholders are not allowed in a fragment",
    exp.Parameter: "user variables are not allowed in a fragment",
    exp.SessionParameter: "session variables are not allowed in a fragment",
    exp.Alias: "aliases (AS) are not allowed in a fragment",
}


def _fragment(fragment: object) -> str:
    if not isinstance(fragment, str):
        raise QueryError(f"an SQL fragment must be a string, not {type(fragment).__name__}")
    return fragment


def _dialect(dialect: str) -> str:
    try:
        return _DIALECT_ALIASES[str(dialect).lower()]
    except KeyError:
        raise QueryError(f"unknown SQL dialect {dialect!r}; expected one of sqlite, postgresql, mysql") from None


def _kind(kind: str) -> str:
    if kind not in _KINDS:
        raise QueryError(f"unknown fragment kind {kind!r}; expected 'condition' or 'expression'")
    return kind


def _describe(exc: Exception) -> str:
    """A one-line reason from a sqlglot error (no ANSI underlining, no trace)."""
    errors = getattr(exc, "errors", None) or []
    if errors and errors[0].get("description"):
        err = errors[0]
        near = f" near {err['highlight']!r}" if err.get("highlight") else ""
        col = f" (column {err['col']})" if err.get("col") else ""
        description = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", err["description"])
        return f"{description}{near}{col}"
    return str(exc).replace("\x1b[4m", "").replace("\x1b[0m", "").splitlines()[0]


def _parse_as_projection(fragment: str) -> exp.Expr | None:
    """Second try, for expressions starting with a statement keyword (``REPLACE(s, 'a', 'b')``)."""
    try:
        statements = sqlglot.parse(f"SELECT {fragment}", read="mysql")
    except SqlglotError:
        return None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        return None
    select = statements[0]
    extras = [key for key, value in select.args.items() if key != "expressions" and value]
    if extras or len(select.expressions) != 1:
        return None
    return select.expressions[0]


@functools.lru_cache(maxsize=2048)
def _parse_cached(fragment: str) -> exp.Expr:
    if not fragment.strip():
        raise QueryError("empty SQL fragment")
    tree: exp.Expr | None
    try:
        tree = sqlglot.parse_one(fragment, read="mysql", into=exp.Condition)
    except SqlglotError as exc:
        tree = _parse_as_projection(fragment)
        if tree is None:
            raise QueryError(f"cannot parse SQL fragment {fragment!r}: {_describe(exc)}") from exc
    _check_parentheses(fragment)
    _validate(tree, fragment)
    return tree


def _check_parentheses(fragment: str) -> None:
    """sqlglot forgives some unclosed parentheses (``GROUP_CONCAT(x``); we do not."""
    depth = 0
    try:
        tokens = sqlglot.tokenize(fragment, read="mysql")
    except SqlglotError as exc:
        raise QueryError(f"cannot parse SQL fragment {fragment!r}: {_describe(exc)}") from exc
    for token in tokens:
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        if depth < 0:
            break
    if depth:
        raise QueryError(f"cannot parse SQL fragment {fragment!r}: unbalanced parentheses")


def _validate(tree: exp.Expr, fragment: str) -> None:
    if isinstance(tree, (exp.Star, exp.Query, exp.Command)):
        raise QueryError(f"SQL fragment {fragment!r} is not an expression")
    for node in tree.walk():
        for cls, reason in _REFUSED.items():
            if isinstance(node, cls):
                raise QueryError(f"invalid SQL fragment {fragment!r}: {reason}")
        if isinstance(node, exp.Distinct) and not node.expressions and not isinstance(node.parent, exp.Query):
            raise QueryError(f"invalid SQL fragment {fragment!r}: DISTINCT without an argument")


def _parse(fragment: str) -> exp.Expr:
    """A private copy of the parsed fragment (the cached tree is never mutated)."""
    return _parse_cached(fragment).copy()


def _outside_subqueries(tree: exp.Expr) -> Iterator[exp.Expr]:
    return tree.walk(prune=lambda node: isinstance(node, exp.Query))


@functools.lru_cache(maxsize=2048)
def _columns_cached(fragment: str) -> frozenset[str]:
    tree = _parse_cached(fragment)
    return frozenset(node.name for node in _outside_subqueries(tree)
                     if isinstance(node, exp.Column) and node.name)


_AGGREGATE_NAMES = frozenset({
    "BIT_AND", "BIT_OR", "BIT_XOR", "GROUP_CONCAT", "JSON_ARRAYAGG", "JSON_OBJECTAGG",
    "STD", "STDDEV", "STDDEV_POP", "STDDEV_SAMP", "VARIANCE", "VAR_POP", "VAR_SAMP",
})


@functools.lru_cache(maxsize=2048)
def _is_aggregate_cached(fragment: str) -> bool:
    for node in _outside_subqueries(_parse_cached(fragment)):
        if isinstance(node, exp.Window):
            continue
        if isinstance(node, exp.AggFunc) and not isinstance(node.parent, exp.Window):
            return True
        if isinstance(node, exp.Anonymous) and node.name.upper() in _AGGREGATE_NAMES:
            return True
    return False

# ---------------------------------------------------------------------------
# tree passes
# ---------------------------------------------------------------------------

_DATE_PARTS = (exp.Year, exp.Month, exp.Day, exp.DayOfMonth, exp.DayOfYear, exp.DayOfWeek,
               exp.Week, exp.Quarter)
_STRUCTURAL = (exp.Interval, exp.DateAdd, exp.DateSub, exp.GroupConcat, exp.DataType,
               exp.Ordered, exp.Escape)
_STRUCTURAL_ARGS = frozenset({"format", "separator", "escape", "unit", "zone"})


def _normalize(tree: exp.Expr) -> exp.Expr:
    """Drop the DATE() sqlglot wraps around YEAR()/MONTH()/... arguments."""
    for node in list(tree.find_all(*_DATE_PARTS)):
        arg = node.this
        if isinstance(arg, exp.TsOrDsToDate) and set(k for k, v in arg.args.items() if v) == {"this"}:
            arg.replace(arg.this)
    return tree


def _mark_bindable(tree: exp.Expr) -> None:
    """Flag the fragment's own literal values; template literals are never bound."""
    for node in tree.find_all(exp.Literal):
        if node.arg_key in _STRUCTURAL_ARGS or isinstance(node.parent, _STRUCTURAL):
            continue
        node.meta[_BIND_KEY] = True


def _atom(node: exp.Expr) -> exp.Expr:
    """Parenthesize a non-atomic node before it is placed into another expression."""
    if isinstance(node, exp.Func) and not isinstance(node, exp.Binary):
        return node
    if isinstance(node, (exp.Column, exp.Literal, exp.Paren, exp.Boolean, exp.Null,
                         exp.Cast, exp.Identifier, exp.Case, exp.Subquery, exp.Placeholder)):
        return node
    return exp.Paren(this=node)


@functools.cache
def _template_tree(template: str, dialect: str) -> exp.Expr:
    return sqlglot.parse_one(template, read=_SQLGLOT_DIALECT[dialect], into=exp.Condition)


def _fill(template: str, dialect: str, values: Mapping[str, exp.Expr | None]) -> exp.Expr:
    """The template's tree with each ``:name`` replaced by a copy of ``values[name]``."""
    def substitute(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder) and node.this:
            value = values.get(node.name)
            if value is None:
                raise QueryError(f"missing argument {node.name!r}")
            return _atom(value.copy())
        return node

    return _template_tree(template, dialect).copy().transform(substitute)


def _node_values(node: exp.Expr) -> dict[str, exp.Expr]:
    if isinstance(node, exp.Anonymous):
        return {f"arg{i}": arg for i, arg in enumerate(node.expressions)}
    return {key: value for key, value in node.args.items() if isinstance(value, exp.Expr)}


def _apply_template(template: str, dialect: str, node: exp.Expr) -> exp.Expr:
    values = _node_values(node)
    used = {p.name for p in _template_tree(template, dialect).find_all(exp.Placeholder)}
    unused = sorted(set(values) - used)
    if unused:
        what = "too many arguments" if isinstance(node, exp.Anonymous) else f"unsupported argument {', '.join(unused)}"
        raise QueryError(f"{node.sql('mysql')} is not supported on {dialect} ({what})")
    return _fill(template, dialect, values)


def _rewrite_key(node: exp.Expr) -> RewriteKey:
    return node.name.upper() if isinstance(node, exp.Anonymous) else type(node)


def _needs_paren(parent: exp.Expr) -> bool:
    """Whether a compound node placed under `parent` must be parenthesized."""
    if isinstance(parent, (exp.Paren, exp.Cast)):
        return False
    return isinstance(parent, (exp.Binary, exp.Unary, exp.Between, exp.In, exp.Is))


def _rewrite(tree: exp.Expr, dialect: str) -> exp.Expr:
    """Apply REWRITES bottom-up (children first); new nodes are not rewritten again."""
    table = REWRITES[dialect]
    root = tree
    for node in reversed(list(tree.walk())):
        rule = table.get(_rewrite_key(node))
        if rule is None:
            continue
        parent, key, index = node.parent, node.arg_key or "this", node.index
        new = _apply_template(rule, dialect, node) if isinstance(rule, str) else rule(node)
        if new is node:
            continue
        if parent is None:
            root = new
        else:
            parent.set(key, _atom(new) if _needs_paren(parent) else new, index)
    return root


# --- PostgreSQL truthiness ---------------------------------------------------

_BOOLEAN_NODES = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
_ARITHMETIC = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg,
               exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot,
               exp.BitwiseLeftShift, exp.BitwiseRightShift)


def _is_boolean(node: exp.Expr | None) -> bool:
    if isinstance(node, exp.Paren):
        return _is_boolean(node.this)
    if isinstance(node, (exp.If, exp.Case)):
        branches = _branches(node)
        return bool(branches) and all(_is_boolean(b) for b in branches)
    return isinstance(node, _BOOLEAN_NODES)


def _branches(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Case):
        candidates = [b.args.get("true") for b in node.args.get("ifs") or []] + [node.args.get("default")]
    elif isinstance(node, exp.If):
        candidates = [node.args.get("true"), node.args.get("false")]
    else:
        return []
    return [b for b in candidates if b is not None and not isinstance(b, exp.Null)]


def _mixed_branches(node: exp.Expr) -> bool:
    """A CASE/IF whose results are partly boolean, partly not (fine in MySQL only)."""
    kinds = {_is_boolean(b) for b in _branches(node)}
    return len(kinds) > 1


def _child_context(parent: exp.Expr, key: str, context: str | None) -> str | None:
    """"bool", "value" or None (leave alone) for the child under `key` of `parent`."""
    if isinstance(parent, (exp.Paren, exp.Case)) or (isinstance(parent, exp.If) and key != "this"):
        # CASE/IF branches take the context of the whole; mixed branches must agree on a type
        return "value" if context is None and _mixed_branches(parent) else context
    if isinstance(parent, (exp.Connector, exp.Not)):
        return "bool"
    if isinstance(parent, exp.If):
        return "bool"
    if isinstance(parent, exp.Is):
        return "bool" if key == "this" and isinstance(parent.expression, exp.Boolean) else None
    if isinstance(parent, _COMPARISONS):
        other = parent.expression if key == "this" else parent.this
        return None if _is_boolean(other) else "value"
    if isinstance(parent, exp.In):
        operands = [parent.this, *parent.expressions]
        return None if all(_is_boolean(op) for op in operands) else "value"
    if isinstance(parent, (exp.Query, exp.Subquery, exp.Window, exp.Order, exp.Ordered)):
        return None
    if isinstance(parent, (exp.Func, exp.Between, exp.Distinct, *_ARITHMETIC)):
        return "value"
    return None


def _coerce(node: exp.Expr, context: str | None) -> exp.Expr:
    """Make MySQL's integer/boolean mixing valid PostgreSQL (see module docstring)."""
    if isinstance(node, exp.Query):
        return node
    for child in list(node.iter_expressions()):
        key, index = child.arg_key or "this", child.index
        new = _coerce(child, _child_context(node, key, context))
        if new is not child:
            node.set(key, new, index)
    return _coerce_node(node, context)


def _coerce_node(node: exp.Expr, context: str | None) -> exp.Expr:
    if context == "bool" and not _is_boolean(node):
        if isinstance(node, exp.Literal) and not node.is_string:
            return exp.Boolean(this=float(node.this) != 0)
        if isinstance(node, (exp.Null, exp.Literal, exp.Paren)):
            return node
        under_is = isinstance(node.parent, exp.Is)
        test = exp.NEQ(this=_atom(node), expression=exp.Literal.number(0))
        return exp.Paren(this=test) if under_is else test
    if context == "value" and _is_boolean(node):
        if isinstance(node, exp.Boolean):
            return _boolean_to_int(node)
        return exp.Cast(this=_atom(node), to=exp.DataType.build("INT"))
    return node

# ---------------------------------------------------------------------------
# generation
# ---------------------------------------------------------------------------


def _literal_value(node: exp.Literal) -> Any:
    if node.is_string:
        return node.this
    text = node.this
    return int(text) if re.fullmatch(r"[0-9]+", text) else float(text)


def _literal_sql(self: Any, node: exp.Literal) -> str:
    if self.jf_params is not None and node.meta.get(_BIND_KEY):
        self.jf_params.append(_literal_value(node))
        return f"{_MARKER}{len(self.jf_params) - 1}{_MARKER}"
    return super(type(self), self).literal_sql(node)


@functools.cache
def _generator_class(dialect: str) -> type:
    base = sqlglot.Dialect.get_or_raise(_SQLGLOT_DIALECT[dialect]).generator_class
    return type(f"Joinflow{base.__name__}", (base,), {
        "__slots__": ("jf_params",),
        "TRANSFORMS": {**base.TRANSFORMS, **_GENERATOR_TRANSFORMS.get(dialect, {})},
        "literal_sql": _literal_sql,
    })


def _generate(tree: exp.Expr, dialect: str, bind: bool) -> tuple[str, tuple]:
    generator = _generator_class(dialect)(
        dialect=_SQLGLOT_DIALECT[dialect], identify=True, comments=False,
        unsupported_level=ErrorLevel.RAISE)
    generator.jf_params = [] if bind else None
    text = generator.generate(tree, copy=False)
    if not bind:
        return text, ()
    return _assemble(text, generator.jf_params, _PARAMSTYLE[dialect])


def _assemble(text: str, values: list, style: str) -> tuple[str, tuple]:
    """Replace the parameter markers by `style` placeholders, params in text order."""
    pieces = _MARKER_RE.split(text)
    out, params = [], []
    for i, piece in enumerate(pieces):
        if i % 2:
            out.append(style)
            params.append(values[int(piece)])
        else:
            out.append(piece.replace("%", "%%") if style == "%s" else piece)
    return "".join(out), tuple(params)


@functools.lru_cache(maxsize=4096)
def _translate_cached(fragment: str, dialect: str, kind: str, bind: bool) -> tuple[str, tuple]:
    tree = _normalize(_parse(fragment))
    if bind:
        _mark_bindable(tree)
    try:
        if dialect == "postgresql":
            tree = _coerce(tree, "bool" if kind == "condition" else "value")
        tree = _rewrite(tree, dialect)
        return _generate(tree, dialect, bind)
    except QueryError as exc:
        raise QueryError(f"cannot translate SQL fragment {fragment!r} to {dialect}: {exc}") from exc
    except (SqlglotError, ValueError, TypeError, AttributeError, LookupError) as exc:
        raise QueryError(f"cannot translate SQL fragment {fragment!r} to {dialect}: {_describe(exc)}") from exc

# ---------------------------------------------------------------------------
# SQLite helpers
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _sqlite_regexp(pattern: Any, value: Any) -> int | None:
    """SQLite calls ``regexp(pattern, value)`` for ``value REGEXP pattern``."""
    if pattern is None or value is None:
        return None
    return int(_compiled(str(pattern)).search(str(value)) is not None)


def _as_number(value: Any) -> int | float:
    if isinstance(value, (int, float)):
        return value
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return 0  # MySQL reads a non-numeric string as 0


def _sqlite_mod(dividend: Any, divisor: Any) -> int | float | None:
    """MySQL's MOD: NULL for a zero divisor, the sign of the dividend, works on reals.

    (SQLite's ``%`` truncates both operands to integers.)
    """
    if dividend is None or divisor is None:
        return None
    a, b = _as_number(dividend), _as_number(divisor)
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        remainder = abs(a) % abs(b)
        return -remainder if a < 0 else remainder
    return math.fmod(a, b)


class _Moments:
    """Welford's running mean and variance; subclasses pick the statistic."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0

    def step(self, value: Any) -> None:
        if value is None:
            return
        self.n += 1
        delta = float(value) - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (float(value) - self.mean)

    def _var(self, ddof: int) -> float | None:
        return self.m2 / (self.n - ddof) if self.n > ddof else None


class _VarPop(_Moments):
    def finalize(self) -> float | None:
        return self._var(0)


class _VarSamp(_Moments):
    def finalize(self) -> float | None:
        return self._var(1)


class _GroupConcatOrdered:
    """GROUP_CONCAT(value ORDER BY key [DESC] SEPARATOR sep) for SQLite < 3.44."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, Any]] = []
        self.desc, self.sep = False, ","
        self.seen: set[Any] = set()

    def step(self, value: Any, key: Any, desc: int, sep: str, distinct: int) -> None:
        self.desc, self.sep = bool(desc), sep
        if value is None or (distinct and value in self.seen):
            return
        self.seen.add(value) if distinct else None
        self.items.append((key, value))

    def finalize(self) -> str | None:
        if not self.items:
            return None
        keys = [(k is not None, k) for k, _ in self.items]  # NULL keys first ascending
        order = sorted(range(len(self.items)), key=lambda i: keys[i], reverse=self.desc)
        return self.sep.join(str(self.items[i][1]) for i in order)


class _StddevPop(_Moments):
    def finalize(self) -> float | None:
        var = self._var(0)
        return None if var is None else math.sqrt(var)


class _StddevSamp(_Moments):
    def finalize(self) -> float | None:
        var = self._var(1)
        return None if var is None else math.sqrt(var)
