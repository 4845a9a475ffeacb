"""SQLite: the embedded default.

A joinflow schema is a *name prefix* inside one database file: table ``lab.#subject`` is the
single SQLite identifier ``"lab.#subject"``. Keeping every schema in one file is what lets SQLite
enforce foreign keys between schemas (it cannot across ATTACHed files). Tables are STRICT, so a
column refuses values of the wrong storage class. Column and table comments (which carry the
declared type, ``:<blob>:comment``) live in the catalog table ``"~columns"``; schemas are listed in
``"~schemas"``.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import sqlite3
import uuid
from typing import Any, Callable

from .. import errors
from ..definition.types import INTEGER_RANGES
from .base import Backend, ColumnInfo, ForeignKeyInfo, IndexInfo, Run, as_uuid, dump_json, \
    format_time, integer_value, parse_time

SEP = "."
CATALOG = [
    'CREATE TABLE IF NOT EXISTS "~schemas" (name TEXT PRIMARY KEY, '
    "created TEXT DEFAULT CURRENT_TIMESTAMP)",
    'CREATE TABLE IF NOT EXISTS "~columns" (tbl TEXT NOT NULL, col TEXT NOT NULL, '
    "comment TEXT NOT NULL, PRIMARY KEY (tbl, col))",
]


def _regexp(pattern: str, value: Any) -> bool | None:
    if value is None or pattern is None:
        return None
    return re.search(pattern, str(value)) is not None


def _parse_when(value: str, what: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise errors.DataError(f"not a valid {what}: {value!r}") from None


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _date(value: Any) -> Any:
    if value.__class__ is dt.date:
        return value.isoformat()
    if isinstance(value, str):
        value = _parse_when(value, "date")
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    return value.isoformat() if isinstance(value, dt.date) else value


def _datetime(value: Any) -> Any:
    if isinstance(value, str):
        value = _parse_when(value, "datetime")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat() + " 00:00:00"
    return value


def _round_time(value: Any, digits: int) -> Any:
    """A datetime rounded to ``digits`` fractional digits, as the servers store it."""
    if isinstance(value, str):
        value = _parse_when(value, "datetime")
    if not isinstance(value, dt.datetime) or digits >= 6:
        return value
    step = 10 ** (6 - digits)
    micro = round(value.microsecond / step) * step
    return value.replace(microsecond=0) + dt.timedelta(microseconds=micro)


_from_date = dt.date.fromisoformat
_from_datetime = dt.datetime.fromisoformat


def _int(value: Any) -> Any:
    """SQLite integers are signed 64-bit: a larger value is a DataError (not OverflowError)."""
    if value.__class__ is int:
        if not -9223372036854775808 <= value <= 9223372036854775807:
            raise errors.DataError(f"integer {value} is out of range (SQLite stores integers as "
                                   "signed 64-bit)")
    elif value.__class__ is float and value.is_integer():
        return int(value)  # e.g. pandas turns integer columns with NaN into floats
    return value


def _round_micro(value: dt.datetime, precision: int) -> dt.datetime:
    """Round microseconds to the declared fractional precision, as MySQL and PostgreSQL do
    on store (SQLite keeps the text as given)."""
    step = 10 ** (6 - precision)
    micro = value.microsecond
    rounded = (micro + step // 2) // step * step
    return value.replace(microsecond=0) + dt.timedelta(microseconds=rounded)


def _to_datetime_with(precision: int) -> Callable[[Any], Any]:
    if precision >= 6:
        return _to_datetime

    def convert(v: Any) -> Any:
        v = _from_datetime(v) if v.__class__ is str else v
        if isinstance(v, dt.datetime) and v.microsecond:
            v = _round_micro(v, precision)
        return v
    return convert


def _to_datetime(v: Any) -> Any:
    return _from_datetime(v) if v.__class__ is str else v


def _to_date(v: Any) -> Any:
    return (_from_date(v) if len(v) == 10 else _from_date(v[:10])) if v.__class__ is str else v


def _to_dates(column: list) -> list:
    """`_to_date` of each value: at C speed when all are ISO dates (as joinflow writes them;
    a longer text or another type makes ``fromisoformat`` raise, and then each value is
    converted by `_to_date`)."""
    try:
        return list(map(_from_date, column))
    except (TypeError, ValueError):
        return [_to_date(v) for v in column]


class SQLiteBackend(Backend):
    name = "sqlite"
    dialect = "sqlite"
    placeholder = "?"
    max_params = 32000
    type_sql = {
        # INT, not INTEGER: a lone INTEGER PRIMARY KEY would become the rowid, which ignores the
        # column's default and invents keys (auto_increment columns are INTEGER on purpose)
        "int8": "INT", "int16": "INT", "int32": "INT", "int64": "INT",
        "uint8": "INT", "uint16": "INT", "uint32": "INT", "uint64": "INT",
        "float32": "REAL", "float64": "REAL", "bool": "INTEGER", "decimal": "REAL",
        "char": "TEXT", "varchar": "TEXT", "text": "TEXT", "date": "TEXT", "datetime": "TEXT",
        "time": "TEXT", "timestamp": "TEXT", "uuid": "BLOB", "json": "TEXT", "bytes": "BLOB",
    }

    bulk_style = "executemany"
    default_keyword = None      # UPDATE ... SET col = DEFAULT is not SQLite
    limit_all = "-1"
    explicit_null_default = False
    single_writer = True

    def insert_select_sql(self, target, columns, select, upsert=False):
        # an upsert after INSERT ... SELECT needs a WHERE clause (parser ambiguity)
        return super().insert_select_sql(target, columns, select) + (" WHERE true" if upsert else "")

    def insert_defaults_sql(self, target: str, skip: bool = False) -> str:
        return f"INSERT {'OR IGNORE ' if skip else ''}INTO {target} DEFAULT VALUES"

    def union_operand(self, select: str) -> str:
        return f"SELECT * FROM ({select})"

    def column_type(self, spec):  # every core type maps to one STRICT storage class
        return self.type_sql.get(spec.core, "TEXT") if spec.core != "enum" else "TEXT"

    def full_name(self, schema: str, table: str) -> str:
        return self.quote(f"{schema}{SEP}{table}")

    def checks(self, column: str, spec) -> list[str]:
        q = self.quote(column)
        out = super().checks(column, spec)
        if spec.core in ("char", "varchar"):
            out.append(f"length({q}) <= {int(spec.args[0])}")
        elif spec.core == "bool":
            out.append(f"{q} IN (0, 1)")
        elif spec.core == "json":  # json_valid(NULL) is 0 on older SQLite
            out.append(f"{q} IS NULL OR json_valid({q})")
        elif spec.core == "decimal":
            precision, scale = (list(spec.args) + [10, 0])[:2]
            bound = f"1e{int(precision) - int(scale)}"
            out.append(f"{q} > -{bound} AND {q} < {bound}")
        elif spec.core == "date":
            out.append(f"{q} = date({q})")
        elif spec.core in ("datetime", "timestamp"):
            out.append(f"substr({q}, 1, 19) = datetime({q})")
        elif spec.core == "uuid":
            out.append(f"length({q}) = 16")
        return out

    # -- connection -----------------------------------------------------------
    def connect(self, config: Any) -> sqlite3.Connection:
        path = config["database.path"]
        raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                              timeout=30.0)
        self.on_connect(raw)
        return raw

    def on_connect(self, raw: sqlite3.Connection) -> None:
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("PRAGMA busy_timeout = 30000")
        if raw.execute("PRAGMA database_list").fetchone()[2]:
            raw.execute("PRAGMA journal_mode = WAL")
            raw.execute("PRAGMA synchronous = NORMAL")
        raw.create_function("REGEXP", 2, _regexp, deterministic=True)
        # Unicode case folding (SQLite's built-ins fold ASCII only) and case-sensitive LIKE,
        # as on PostgreSQL and MySQL with a binary collation
        raw.create_function("upper", 1, _upper, deterministic=True)
        raw.create_function("lower", 1, _lower, deterministic=True)
        raw.execute("PRAGMA case_sensitive_like = ON")
        try:
            from ..algebra.sqlfrag import sqlite_aggregates, sqlite_functions
            for fname, (nargs, fn) in sqlite_functions().items():
                raw.create_function(fname, nargs, fn, deterministic=False)
            for fname, (nargs, cls) in sqlite_aggregates().items():
                raw.create_aggregate(fname, nargs, cls)
        except ImportError:  # pragma: no cover
            pass
        for stmt in CATALOG:
            raw.execute(stmt)

    def describe_target(self, config: Any) -> str:
        return f"sqlite:{config['database.path']}"

    def begin_sql(self) -> str:
        return "BEGIN IMMEDIATE"

    # -- values ---------------------------------------------------------------
    def adapter(self, core: str, args: tuple = ()) -> Callable[[Any], Any] | None:
        if core in INTEGER_RANGES:
            return lambda v: _int(integer_value(v))
        if core in ("datetime", "timestamp"):
            digits = args[0] if args else 0
            return lambda v: _datetime(_round_time(v, digits))
        return {
            "bool": lambda v: None if v is None else int(bool(v)),
            "date": _date,
            "time": format_time,
            # CHAR(n) pads with spaces elsewhere and returns the value without them
            "char": lambda v: v.rstrip(" ") if v.__class__ is str else v,
            "uuid": lambda v: None if v is None else as_uuid(v).bytes,
            "json": lambda v: None if v is None else dump_json(v),
            "decimal": lambda v: float(v) if isinstance(v, (decimal.Decimal, str)) else v,
        }.get(core) or super().adapter(core, args)

    def converter(self, core: str, args: tuple = ()) -> Callable[[Any], Any] | None:
        if core == "decimal":
            q = decimal.Decimal(1).scaleb(-int(args[1])) if len(args) > 1 else None
            ctx = decimal.Context(prec=max(28, int(args[0]) + 2) if args else 28)
            return lambda v: None if v is None else (
                decimal.Decimal(repr(v)).quantize(q, context=ctx) if q is not None
                else decimal.Decimal(repr(v)))
        if core in ("datetime", "timestamp"):
            return _to_datetime_with(int(args[0]) if args else 0)
        return {
            "bool": lambda v: None if v is None else bool(v),
            "date": _to_date,
            "time": parse_time,
            "uuid": lambda v: None if v is None else uuid.UUID(bytes=v),
            "json": lambda v: None if v is None else json.loads(v),
        }.get(core)

    def column_converter(self, core: str, args: tuple = ()) -> Callable[[list], list] | None:
        return _to_dates if core == "date" else None

    def json_scalar(self, value: Any) -> Any:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, (dict, list)):
            return dump_json(value)
        return value

    # -- catalog ---------------------------------------------------------------
    def list_schemas(self, run: Run) -> list[str]:
        return [r[0] for r in run('SELECT name FROM "~schemas" ORDER BY name', ())]

    def create_schema(self, run: Run, schema: str) -> None:
        run('INSERT OR IGNORE INTO "~schemas" (name) VALUES (?)', (schema,))

    def drop_schema(self, run: Run, schema: str) -> None:
        run('DELETE FROM "~schemas" WHERE name = ?', (schema,))

    def list_tables(self, run: Run, schema: str) -> list[str]:
        prefix = schema + SEP
        rows = run("SELECT name FROM sqlite_master WHERE type = 'table' "
                   "AND substr(name, 1, ?) = ? ORDER BY rowid", (len(prefix), prefix))
        return [r[0][len(prefix):] for r in rows]

    def columns(self, run: Run, schema: str, table: str) -> list[ColumnInfo]:
        full = f"{schema}{SEP}{table}"
        comments = dict(run('SELECT col, comment FROM "~columns" WHERE tbl = ?', (full,)))
        rows = run('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) '
                   "ORDER BY cid", (full,))
        sql = run("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (full,))
        auto = bool(sql) and "PRIMARY KEY AUTOINCREMENT" in (sql[0][0] or "")
        return [ColumnInfo(n, t, not nn, d, comments.get(n, ""), bool(pk), auto and bool(pk))
                for n, t, nn, d, pk in rows]

    def primary_key_order(self, run: Run, schema: str, table: str) -> list[str]:
        rows = run("SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
                   (f"{schema}{SEP}{table}",))
        return [r[0] for r in rows]

    def table_comment(self, run: Run, schema: str, table: str) -> str:
        rows = run('SELECT comment FROM "~columns" WHERE tbl = ? AND col = \'\'',
                   (f"{schema}{SEP}{table}",))
        return rows[0][0] if rows else ""

    def foreign_keys(self, run: Run, schemas: list[str] | None = None) -> list[ForeignKeyInfo]:
        rows = run("SELECT m.name, f.id, f.seq, f.\"table\", f.\"from\", f.\"to\" "
                   "FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f "
                   "WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq", ())
        grouped: dict[tuple, list] = {}
        for child, fk_id, _seq, parent, col, ref in rows:
            grouped.setdefault((child, fk_id, parent), []).append((col, ref))
        out = []
        for (child, fk_id, parent), pairs in grouped.items():
            cs, _, ct = child.partition(SEP)
            ps, _, pt = parent.partition(SEP)
            if schemas is not None and cs not in schemas:
                continue
            out.append(ForeignKeyInfo(f"fk{fk_id}", cs, ct, ps, pt,
                                      tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)))
        return out

    def indexes(self, run: Run, schema: str, table: str) -> list[IndexInfo]:
        full = f"{schema}{SEP}{table}"
        out = []
        for name, unique, origin in run('SELECT name, "unique", origin FROM pragma_index_list(?)',
                                        (full,)):
            if origin != "c":
                continue
            cols = run("SELECT name FROM pragma_index_info(?) ORDER BY seqno", (name,))
            out.append(IndexInfo(name, tuple(c[0] for c in cols), bool(unique)))
        return out

    def table_size(self, run: Run, schema: str, table: str) -> int | None:
        try:  # the dbstat table exists only where SQLite was built with it
            rows = run("SELECT SUM(pgsize) FROM dbstat WHERE name = ? OR name IN (SELECT name "
                       "FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)",
                       (f"{schema}{SEP}{table}", f"{schema}{SEP}{table}"))
        except errors.JoinflowError:
            return None
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- DDL -------------------------------------------------------------------
    def column_sql(self, name, sql_type, nullable, default, comment, checks, autoincrement=False):
        parts = [self.quote(name), "INTEGER" if autoincrement else sql_type]
        if autoincrement:  # only a single INTEGER key column can be AUTOINCREMENT in SQLite
            parts.append("PRIMARY KEY AUTOINCREMENT")
        if not nullable:
            parts.append("NOT NULL")
        if default is not None:
            parts.append(f"DEFAULT {default}" if default != "CURRENT_TIMESTAMP"
                         else "DEFAULT CURRENT_TIMESTAMP")
        parts += [f"CHECK ({c})" for c in checks]
        return " ".join(parts)

    def singleton_key_type(self) -> str:
        return "INT"  # an INTEGER PRIMARY KEY column is the rowid: its default would be ignored

    def create_table_sql(self, schema, table, columns, pk, fks, indexes, comment):
        inline = any("PRIMARY KEY AUTOINCREMENT" in c for c in columns)
        if inline and len(pk) > 1:
            raise errors.DefinitionError("SQLite allows auto_increment only on a table whose "
                                         "primary key is that one integer attribute",
                                         table=table)
        key = [] if inline else [f"PRIMARY KEY ({', '.join(self.quote(c) for c in pk)})"]
        body = columns + key + fks
        return [f"CREATE TABLE {self.full_name(schema, table)} (\n  " + ",\n  ".join(body) +
                "\n) STRICT"] + indexes

    def comment_statements(self, schema, table, comment, column_comments):
        full = f"{schema}{SEP}{table}"
        sql = 'INSERT OR REPLACE INTO "~columns" (tbl, col, comment) VALUES (?, ?, ?)'
        return [(sql, (full, "", comment))] + [(sql, (full, c, t)) for c, t in column_comments.items()]

    def drop_table_sql(self, schema: str, table: str) -> str:
        return f"DROP TABLE {self.full_name(schema, table)}"

    def temp_table_ref(self, schema: str, name: str) -> str:
        return f"temp.{self.quote(name)}"

    def create_key_table_sql(self, schema, name, source, key):
        cols = ", ".join(self.quote(k) for k in key)
        return [f"CREATE TEMP TABLE {self.quote(name)} AS SELECT {cols} FROM {source} LIMIT 0",
                f"CREATE INDEX temp.{self.quote(name + '_k')} ON {self.quote(name)} ({cols})"]

    def forget_table(self, run: Run, schema: str, table: str) -> None:
        run('DELETE FROM "~columns" WHERE tbl = ?', (f"{schema}{SEP}{table}",))

    def index_sql(self, schema, table, name, columns, unique):
        cols = ", ".join(self.quote(c) for c in columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        return (f"CREATE {kind} {self.quote(f'{schema}{SEP}{table}{SEP}{name}')} "
                f"ON {self.full_name(schema, table)} ({cols})")

    # -- errors ----------------------------------------------------------------
    def translate_error(self, exc: BaseException) -> errors.JoinflowError | None:
        if not isinstance(exc, sqlite3.Error):
            return None
        msg = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            if msg.startswith("UNIQUE") or "PRIMARY KEY" in msg:
                return errors.DuplicateError(f"duplicate entry: {msg}")
            if "FOREIGN KEY" in msg:
                return errors.ForeignKeyError(f"foreign key constraint failed: {msg}")
            if msg.startswith("NOT NULL"):
                return errors.DataError(f"missing value: {msg}")
            if msg.startswith("CHECK"):
                return errors.DataError(f"value out of range or not allowed: {msg}")
            return errors.IntegrityError(msg)
        if "no such table" in msg:
            return errors.MissingTableError(msg)
        if any(w in msg for w in ("syntax error", "no such column", "no such function",
                                  "ambiguous column", "misuse of aggregate")):
            return errors.QueryError(f"invalid query: {msg}")
        if "cannot store" in msg or "datatype mismatch" in msg:
            return errors.DataError(f"value of the wrong type: {msg}")
        return errors.JoinflowError(f"sqlite error: {msg}")
