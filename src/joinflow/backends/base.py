"""The backend interface: what differs between SQLite, PostgreSQL and MySQL, kept as data plus a
few short methods. A backend never holds a connection; ``Connection`` passes a ``run`` callable
(``run(sql, params) -> list[tuple]``) to the catalog methods.

Placeholders: compiled SQL uses ``PH`` as the placeholder marker; ``Backend.render`` turns it
into the driver's style (and escapes ``%`` for the ``%s`` drivers).
"""
from __future__ import annotations

import contextlib

import datetime as dt
import decimal
import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import errors
from ..definition.types import INTEGER_RANGES, TypeSpec

PH = "\ue000"  # placeholder marker in compiled SQL
Run = Callable[[str, tuple], list]


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    sql_type: str
    nullable: bool
    default: Any          # SQL text of the default, or None
    comment: str
    in_key: bool
    autoincrement: bool = False


@dataclass(frozen=True)
class ForeignKeyInfo:
    name: str
    child_schema: str
    child_table: str
    parent_schema: str
    parent_table: str
    columns: tuple        # child columns
    ref_columns: tuple    # parent columns, in the same order


@dataclass(frozen=True)
class IndexInfo:
    name: str
    columns: tuple
    unique: bool


def to_python_scalar(value: Any) -> Any:
    """numpy scalars -> python scalars (drivers do not adapt numpy types)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def parse_time(value: Any) -> dt.timedelta | None:
    """'[-]HH:MM:SS[.ffffff]', time or timedelta -> timedelta (DataJoint returns timedelta)."""
    if value is None or isinstance(value, dt.timedelta):
        return value
    if isinstance(value, dt.time):
        return dt.timedelta(hours=value.hour, minutes=value.minute, seconds=value.second,
                            microseconds=value.microsecond)
    text = str(value)
    sign = -1 if text.startswith("-") else 1
    h, m, s = text.lstrip("-").split(":")
    return sign * dt.timedelta(hours=int(h), minutes=int(m), seconds=float(s))


def format_time(value: Any) -> Any:
    if isinstance(value, dt.timedelta):
        total = value.total_seconds()
        sign = "-" if total < 0 else ""
        total = abs(total)
        h, rem = divmod(total, 3600)
        m, s = divmod(rem, 60)
        return f"{sign}{int(h):02d}:{int(m):02d}:{s:09.6f}".rstrip("0").rstrip(".")
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


def integer_value(value: Any) -> Any:
    """An integer attribute's value: ints, bools, numpy integers, whole floats and numeric
    strings are accepted; anything else (2.7, 'abc') is a DataError on every backend."""
    cls = value.__class__
    if cls is int or value is None:
        return value
    if cls is bool or isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating, decimal.Decimal)):
        if value == value and float(value).is_integer():
            return int(value)
    elif isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    if isinstance(value, (float, np.floating, decimal.Decimal)) and math.isfinite(value):
        raise errors.DataError(f"{value!r} is not an integer (a number with a fraction is not "
                               "rounded: round it first, e.g. round(x))")
    if isinstance(value, (str, float, np.floating, decimal.Decimal)):
        raise errors.DataError(f"{value!r} is not an integer")
    raise errors.DataError(f"expected an integer, got {what(value)}")


def bytes_value(value: Any) -> Any:
    """A bytes attribute takes bytes (or a buffer of them): not arrays or other objects."""
    if value is None or isinstance(value, (bytes, bytearray)):
        return value
    if isinstance(value, memoryview):  # the drivers bind contiguous buffers only
        return value if value.c_contiguous else value.tobytes()
    raise errors.DataError(f"a bytes attribute takes bytes, not {type(value).__name__} "
                           "(store Python objects and arrays in a <blob> attribute)")


def what(value: Any) -> str:
    """A short description of a value for error messages."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 43 else text}"


_NUMBERS = (int, float, decimal.Decimal, np.number, np.bool_)
_FLOAT32_MAX = 3.4028234663852886e38
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def value_check(core: str, args: tuple = ()) -> Callable[[Any], Any] | None:
    """The check of a value for a column of type ``core``, the same on every backend: it
    returns the value (numeric strings as numbers) or raises ``DataError`` saying what is wrong
    with it; the caller names the table and attribute. None: nothing to check."""
    if core in INTEGER_RANGES:
        lo, hi = INTEGER_RANGES[core]

        def check_integer(v: Any) -> Any:
            v = integer_value(v)
            if not lo <= v <= hi:
                raise errors.DataError(f"{v} is out of range for {core} [{lo}, {hi}]")
            return v
        return check_integer
    if core in ("float32", "float64"):
        def check_float(v: Any) -> Any:
            if isinstance(v, str):
                try:
                    v = float(v)
                except ValueError:
                    raise errors.DataError(f"{v!r} is not a number") from None
            elif not isinstance(v, _NUMBERS):
                raise errors.DataError(f"expected a number, got {what(v)}")
            if core == "float32" and _FLOAT32_MAX < abs(float(v)) < float("inf"):
                raise errors.DataError(f"{v} is out of range for float32")
            return v
        return check_float
    if core == "decimal":
        p, sc = (int(args[0]), int(args[1]) if len(args) > 1 else 0) if args else (10, 0)
        bound, step = decimal.Decimal(10) ** (p - sc), decimal.Decimal(1).scaleb(-sc)
        wide = decimal.Context(prec=p + 40)

        def check_decimal(v: Any) -> Any:
            if isinstance(v, str):
                try:
                    v = decimal.Decimal(v.strip())
                except decimal.InvalidOperation:
                    raise errors.DataError(f"{v!r} is not a number") from None
            elif not isinstance(v, _NUMBERS):
                raise errors.DataError(f"expected a number, got {what(v)}")
            d = v if isinstance(v, decimal.Decimal) else decimal.Decimal(
                str(int(v) if isinstance(v, (bool, np.bool_)) else v))
            if d.is_finite() and (abs(d) >= bound
                                 or abs(d).quantize(step, context=wide) >= bound):
                raise errors.DataError(f"{v} is out of range for decimal({p},{sc}): at most "
                                       f"{p - sc} digits before the point")
            return v
        return check_decimal
    if core in ("char", "varchar", "text"):
        max_len = int(args[0]) if args and core != "text" else None

        def check_string(v: Any) -> Any:
            if not isinstance(v, (str, *_NUMBERS)):
                raise errors.DataError(f"expected a string, got {what(v)}")
            if max_len is not None and len(str(v)) > max_len:
                raise errors.DataError(f"{v!r} is too long for {core}({max_len}) "
                                       f"({len(str(v))} characters)")
            return v
        return check_string
    if core == "enum":
        def check_enum(v: Any) -> Any:
            if v not in args or not isinstance(v, str):
                raise errors.DataError(f"{v!r} is not one of {list(args)}")
            return v
        return check_enum
    if core in ("date", "datetime", "timestamp"):
        def check_when(v: Any) -> Any:
            if isinstance(v, str):
                try:
                    dt.datetime.fromisoformat(v.strip())
                except ValueError:
                    raise errors.DataError(f"{v!r} is not a valid {core}") from None
            elif not isinstance(v, (dt.date, np.datetime64)):
                raise errors.DataError(f"expected a {core}, got {what(v)}")
            return v
        return check_when
    if core == "time":
        def check_time(v: Any) -> Any:
            if isinstance(v, (str, dt.time, dt.timedelta)):
                try:
                    parse_time(v)
                    return v
                except ValueError:
                    pass
            raise errors.DataError(f"expected a time ('HH:MM:SS', time or timedelta), got "
                                   f"{what(v)}")
        return check_time
    if core == "bool":
        def check_bool(v: Any) -> Any:
            if isinstance(v, str) and v.strip().lower() in _BOOL_WORDS:
                return _BOOL_WORDS[v.strip().lower()]
            if not isinstance(v, _NUMBERS):
                raise errors.DataError(f"expected true or false, got {what(v)}")
            return v
        return check_bool
    return None


def as_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return uuid.UUID(bytes=bytes(value))
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise errors.DataError(f"not a valid UUID: {value!r}") from None


def json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (dt.date, dt.datetime, uuid.UUID, decimal.Decimal)):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dump_json(value: Any) -> str:
    return json.dumps(value, default=json_default)


def binary_bytes_per_row(rows: list) -> float:
    """Average bytes of the binary values (bytes, bytearray, memoryview) in ``rows``, judged
    by the columns holding binary values in the first row."""
    if not rows:
        return 0.0
    binary = [j for j, v in enumerate(rows[0]) if isinstance(v, (bytes, bytearray, memoryview))]
    if not binary:
        return 0.0
    total = 0
    for r in rows:
        for j in binary:
            v = r[j]
            if v is not None:
                total += v.nbytes if isinstance(v, memoryview) else len(v)
    return total / len(rows)


class Backend:
    """Base class; subclasses set the class attributes and override the catalog methods."""

    name: ClassVar[str] = ""
    placeholder: ClassVar[str] = "?"
    quote_char: ClassVar[str] = '"'
    stores_infinity: ClassVar[bool] = True  # float columns hold inf/-inf (MySQL's do not)
    system_schemas: ClassVar[frozenset[str]] = frozenset()  # the server's own: never dropped

    def is_system_schema(self, schema: str) -> bool:
        return schema.lower() in self.system_schemas
    type_sql: ClassVar[dict[str, str]] = {}
    #: True where the database checks unsigned ranges itself (MySQL)
    native_unsigned: ClassVar[bool] = False
    #: max bound parameters in one statement
    max_params: ClassVar[int] = 30000
    dialect: ClassVar[str] = ""

    # -- text -------------------------------------------------------------
    def quote(self, name: str) -> str:
        q = self.quote_char
        return q + name.replace(q, q + q) + q

    # DataJoint's adapter names
    @property
    def backend(self) -> str:
        """The backend's name (``mysql``, ``postgresql``, ``sqlite``), as DataJoint's adapter."""
        return self.name

    def quote_identifier(self, name: str) -> str:
        """DataJoint's adapter name for :meth:`quote`."""
        return self.quote(name)

    def full_name(self, schema: str, table: str) -> str:
        return f"{self.quote(schema)}.{self.quote(table)}"

    def literal(self, value: Any) -> str:
        """An SQL literal, for DDL only (defaults, comments): values in DML are always bound."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, float, decimal.Decimal)):
            return repr(value) if not isinstance(value, decimal.Decimal) else str(value)
        if isinstance(value, (bytes, bytearray)):
            return "X'" + bytes(value).hex() + "'"
        return "'" + str(value).replace("'", "''") + "'"

    def render(self, sql: str) -> str:
        """Replace placeholder markers with the driver's placeholder style."""
        if self.placeholder == "%s":
            return sql.replace("%", "%%").replace(PH, "%s")
        return sql.replace(PH, "?")

    # -- types -------------------------------------------------------------
    def column_type(self, spec: TypeSpec) -> str:
        core = spec.core
        if core == "decimal":
            return self.type_sql["decimal"].format(p=spec.args[0], s=spec.args[1])
        if core in ("char", "varchar"):
            return self.type_sql[core].format(n=spec.args[0])
        if core == "enum":
            return self.enum_type(spec.args)
        if core in ("datetime", "timestamp"):
            prec = f"({spec.args[0]})" if spec.args else ""
            return self.type_sql[core].format(prec=prec)
        if core == "bytes" and spec.args and "binary" in self.type_sql:
            return self.type_sql["binary"].format(n=spec.args[0])
        return self.type_sql[core]

    def enum_type(self, values: tuple) -> str:
        width = max(len(v) for v in values)
        return self.type_sql["varchar"].format(n=max(width, 1))

    def checks(self, column: str, spec: TypeSpec) -> list[str]:
        """CHECK constraint conditions a column needs on this backend (ranges, enums)."""
        q = self.quote(column)
        out = []
        if spec.core in INTEGER_RANGES and not (self.native_unsigned or spec.core == "int64"):
            lo, hi = INTEGER_RANGES[spec.core]
            if self.name == "sqlite" and spec.core == "uint64":
                hi = INTEGER_RANGES["int64"][1]
            if not self.integer_type_enforces(spec.core):
                out.append(f"{q} BETWEEN {lo} AND {hi}")
        if spec.core == "enum" and not self.native_enum:
            out.append(f"{q} IN ({', '.join(self.literal(v) for v in spec.args)})")
        return out

    native_enum: ClassVar[bool] = False

    def integer_type_enforces(self, core: str) -> bool:
        """True when the SQL type itself limits the range exactly."""
        return False

    def default_sql(self, spec: TypeSpec, value: Any) -> str:
        from ..definition.parser import SqlDefault
        if isinstance(value, SqlDefault):
            if value.text == "CURRENT_TIMESTAMP" and spec.args and self.name == "mysql":
                return f"CURRENT_TIMESTAMP({int(spec.args[0])})"  # must match the precision
            return value.text
        if spec.core == "bool" and isinstance(value, (bool, int)):
            return self.bool_literal(bool(value))
        if spec.core == "json" and not isinstance(value, str):
            return self.literal(dump_json(value))
        if spec.core in ("uuid", "date", "datetime", "timestamp", "time"):
            adapt = self.adapter(spec.core)  # the stored form (e.g. 16 bytes for a uuid)
            if adapt is not None:
                try:
                    value = adapt(value)
                except (ValueError, TypeError) as exc:
                    raise errors.DefinitionError(
                        f"invalid default {value!r} for type {spec.render()}: {exc}",
                        token=str(value)) from None
        return self.literal(value)

    def bool_literal(self, value: bool) -> str:
        return "1" if value else "0"

    # -- value adaptation -------------------------------------------------
    def text_sql(self, expr: str) -> str:
        """``expr`` (e.g. a JSON column) as text, for ``LIKE``."""
        return f"CAST({expr} AS TEXT)"

    def adapter(self, core: str, args: tuple = ()) -> Callable[[Any], Any] | None:
        """A function converting a Python value into a driver parameter, or None."""
        if core in INTEGER_RANGES:
            return integer_value
        if core == "bytes":
            return bytes_value
        return None

    def converter(self, core: str, args: tuple = ()) -> Callable[[Any], Any] | None:
        """A function converting a fetched driver value into the Python value, or None."""
        return None

    def column_converter(self, core: str, args: tuple = ()) -> Callable[[list], list] | None:
        """A faster equivalent of `converter` for a whole fetched column without NULLs, or None
        (then `converter` is applied value by value)."""
        return None

    # -- connection ----------------------------------------------------------
    def connect(self, config: Any) -> Any:
        raise NotImplementedError

    def describe_target(self, config: Any) -> str:
        raise NotImplementedError

    def on_connect(self, raw: Any) -> None:
        """Session settings run right after connecting."""

    def begin_sql(self) -> str:
        return "BEGIN"

    #: statements can be pipelined (sent together, results read after): see ``pipeline``
    pipelines = False

    def pipeline(self, raw: Any) -> Any:
        """A context in which statements executed on ``raw`` are sent without waiting for each
        one's result; leaving it reads them all (and raises the first error)."""
        return contextlib.nullcontext()

    def cursor(self, raw: Any, binary: bool = False) -> Any:
        """A driver cursor; ``binary``: the results carry large binary values (PostgreSQL then
        asks for the binary result format)."""
        return raw.cursor()

    def is_disconnect(self, exc: BaseException) -> bool:
        return False

    # -- catalog -----------------------------------------------------------
    def schema_exists(self, run: Run, schema: str) -> bool:
        return schema in self.list_schemas(run)

    def list_schemas(self, run: Run) -> list[str]:
        raise NotImplementedError

    def create_schema(self, run: Run, schema: str) -> None:
        raise NotImplementedError

    def drop_schema(self, run: Run, schema: str) -> None:
        raise NotImplementedError

    def list_tables(self, run: Run, schema: str) -> list[str]:
        raise NotImplementedError

    def columns(self, run: Run, schema: str, table: str) -> list[ColumnInfo]:
        raise NotImplementedError

    def table_comment(self, run: Run, schema: str, table: str) -> str:
        raise NotImplementedError

    def foreign_keys(self, run: Run, schemas: list[str] | None = None) -> list[ForeignKeyInfo]:
        """All foreign keys whose child is in ``schemas`` (None: every schema)."""
        raise NotImplementedError

    def indexes(self, run: Run, schema: str, table: str) -> list[IndexInfo]:
        raise NotImplementedError

    def table_size(self, run: Run, schema: str, table: str) -> int | None:
        """Bytes of data and indexes (None where the database cannot tell)."""
        return None

    # -- DDL ---------------------------------------------------------------
    def create_table_sql(self, schema: str, table: str, columns: list[str], pk: list[str],
                         fks: list[str], indexes: list[str], comment: str) -> list[str]:
        """Statements creating a table (column definitions already rendered)."""
        raise NotImplementedError

    def singleton_key_type(self) -> str:
        """The SQL type of a singleton table's hidden key column (a bool that keeps its
        default)."""
        return self.column_type(TypeSpec(core="bool"))

    def column_sql(self, name: str, sql_type: str, nullable: bool, default: str | None,
                   comment: str, checks: list[str], autoincrement: bool = False) -> str:
        raise NotImplementedError

    def comment_statements(self, schema: str, table: str, comment: str,
                           column_comments: dict[str, str]) -> list[tuple[str, tuple]]:
        """Statements (sql, params) recording comments the CREATE could not hold."""
        return []

    def index_sql(self, schema: str, table: str, name: str, columns: list[str], unique: bool) -> str:
        cols = ", ".join(self.quote(c) for c in columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        return f"CREATE {kind} {self.quote(name)} ON {self.full_name(schema, table)} ({cols})"

    def drop_table_sql(self, schema: str, table: str) -> str:
        return f"DROP TABLE {self.full_name(schema, table)}"

    # -- scratch tables (session-local) --------------------------------------------
    def temp_table_ref(self, schema: str, name: str) -> str:
        """How SQL names a temporary table made for work in ``schema``."""
        return self.quote(name)

    def create_key_table_sql(self, schema: str, name: str, source: str, key: list[str]) -> list[str]:
        """Statements making an empty temporary table with ``source``'s ``key`` columns (their
        exact types, native enums included) and an index on them."""
        ref, cols = self.temp_table_ref(schema, name), ", ".join(self.quote(k) for k in key)
        return [f"CREATE TEMPORARY TABLE {ref} AS SELECT {cols} FROM {source} LIMIT 0",
                f"CREATE INDEX {self.quote(name + '_k')} ON {ref} ({cols})"]

    def drop_temp_table_sql(self, schema: str, name: str) -> str:
        return f"DROP TABLE IF EXISTS {self.temp_table_ref(schema, name)}"

    def create_filled_key_table_sql(self, schema: str, name: str, select: str,
                                    key: list[str]) -> str | None:
        """One statement making a temporary table of ``select``'s rows (``key`` columns, their
        types kept) whose row count is the number of rows; None: not on this backend."""
        return None

    def drop_temp_tables_sql(self, tables: list[tuple[str, str]]) -> list[str]:
        """Statements dropping the temporary tables ``(schema, name)``."""
        return [self.drop_temp_table_sql(s, nm) for s, nm in tables]

    def delete_by_keys_sql(self, target: str, keys: str, key: list[str]) -> str:
        """DELETE the rows of ``target`` whose primary key ``key`` is in table ``keys``."""
        cols = ", ".join(self.quote(k) for k in key)
        return f"DELETE FROM {target} WHERE ({cols}) IN (SELECT {cols} FROM {keys})"

    #: a failed statement aborts the enclosing transaction (PostgreSQL): a statement that
    #: may fail inside a transaction the caller continues needs a savepoint of its own
    failed_statement_aborts_transaction: ClassVar[bool] = False
    #: a cascade restricts children by nested subqueries where safe (no key tables)
    cascade_subqueries: ClassVar[bool] = False
    #: one writer at a time for the whole database (SQLite): a transaction kept open across
    #: several keys would shut other worker processes out
    single_writer: ClassVar[bool] = False

    # -- DML ---------------------------------------------------------------
    #: how many rows one statement carries: "executemany" (the driver batches) or "values"
    #: (multi-row VALUES built here)
    bulk_style: ClassVar[str] = "values"
    #: a plain bulk insert may use COPY (PostgreSQL)
    supports_copy: ClassVar[bool] = False
    #: SQL that means "this column's default" in UPDATE ... SET (None: repeat the default text)
    default_keyword: ClassVar[str | None] = "DEFAULT"
    #: the LIMIT that means "no limit" (needed before OFFSET)
    limit_all: ClassVar[str] = "ALL"

    def bulk_style_for(self, rows: list) -> str:
        """How to write these rows: ``bulk_style``, "executemany" (PostgreSQL: pipelined
        statements with binary parameters) or "each" (one execute per row) where rows
        carrying large values go faster one statement each."""
        return self.bulk_style


    def insert_sql(self, target: str, columns: list[str], rows: int = 1) -> str:
        """INSERT text for ``rows`` rows of bound values."""
        cols = ", ".join(self.quote(c) for c in columns)
        one = "(" + ", ".join([PH] * len(columns)) + ")"
        return f"INSERT INTO {target} ({cols}) VALUES {', '.join([one] * rows)}"

    def insert_defaults_sql(self, target: str, skip: bool = False) -> str:
        """A row of defaults only (``skip``: nothing if it clashes with an existing row)."""
        return f"INSERT INTO {target} DEFAULT VALUES" + (" ON CONFLICT DO NOTHING" if skip else "")

    def insert_select_sql(self, target: str, columns: list[str], select: str,
                          upsert: bool = False) -> str:
        cols = ", ".join(self.quote(c) for c in columns)
        return f"INSERT INTO {target} ({cols}) SELECT * FROM ({select}) AS _src"

    def default_value_sql(self, attr: Any) -> str:
        """What sets a column back to its default in UPDATE ... SET."""
        if self.default_keyword is not None:
            return self.default_keyword
        return attr.default if attr.default is not None else "NULL"

    def upsert_clause(self, target: str, pk: list[str], assignments: list[str]) -> str:
        """What to do with a row whose key exists: nothing, or the assignments."""
        keys = ", ".join(self.quote(c) for c in pk)
        if not assignments:  # skip rows that clash on the key or on any unique index
            return " ON CONFLICT DO NOTHING"
        return f" ON CONFLICT ({keys}) DO UPDATE SET " + ", ".join(assignments)

    def new_value_sql(self, column: str) -> str:
        """The value an upserted row brought for ``column``."""
        return f"excluded.{self.quote(column)}"

    def delete_sql(self, source: str, alias: str, where: str) -> str:
        """DELETE the rows of ``source`` (``table AS alias``) matching ``where``."""
        return f"DELETE FROM {source} WHERE {where}"

    def order_term(self, expr: str, direction: str, core: str) -> str:
        """One ORDER BY term: NULLs first ascending and last descending on every backend."""
        return f"{expr} {direction}"

    def union_operand(self, select: str) -> str:
        return f"({select})"

    #: an upsert also fires on a clash with a secondary unique index (MySQL's ON DUPLICATE KEY)
    upsert_fires_on_unique_indexes: ClassVar[bool] = False
    #: the database creates an index for every foreign key by itself (MySQL)
    indexes_foreign_keys: ClassVar[bool] = False
    #: a nullable column needs an explicit DEFAULT NULL in its definition
    explicit_null_default: ClassVar[bool] = True

    # -- JSON paths ----------------------------------------------------------------
    def json_path_condition(self, column: str, path: tuple, value: Any) -> tuple[str, list]:
        """``column``'s value at ``path`` equals ``value`` (None: missing or JSON null;
        lists and dicts compare as JSON documents)."""
        mysql_path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f'."{p}"' for p in path)
        path_param = self.json_path_param(path, mysql_path)
        value = to_python_scalar(value)
        if value is None:
            return self.json_null_sql(column), [path_param]
        if isinstance(value, (list, dict)):
            return self.json_document_sql(column), [path_param, dump_json(value)]
        return f"{self.json_extract_sql(column)} = {PH}", [path_param, self.json_scalar(value)]

    def json_null_sql(self, column: str) -> str:
        return f"{self.json_extract_sql(column)} IS NULL"

    def json_document_sql(self, column: str) -> str:
        return f"json_extract({column}, {PH}) = json({PH})"

    def json_extract_sql(self, column: str) -> str:
        return f"json_extract({column}, {PH})"

    def json_path_param(self, path: tuple, mysql_path: str) -> Any:
        return mysql_path

    def json_scalar(self, value: Any) -> Any:
        """A JSON scalar as the extraction yields it (text on PostgreSQL and MySQL)."""
        value = to_python_scalar(value)
        if isinstance(value, str):
            return value
        return json.dumps(value, default=json_default)

    def before_delete(self, run: Run, schema: str) -> None:
        """Session preparation before a DELETE on ``schema`` (MySQL needs a default database
        for aliased multi-table DELETE)."""

    # -- errors --------------------------------------------------------------
    def translate_error(self, exc: BaseException) -> errors.JoinflowError | None:
        """Map a driver exception onto the joinflow hierarchy (None: not a driver error)."""
        return None


_IDENT_RE = re.compile(r"^[A-Za-z_~#][\w#~$]*$")
