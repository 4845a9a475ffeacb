"""MySQL / MariaDB (PyMySQL). A joinflow schema is a MySQL database. Unsigned types and enums
are native; UUIDs are ``binary(16)`` with ``:uuid:`` in the comment (DataJoint's convention).
MariaDB's JSON is an alias of LONGTEXT with a validity check; MySQL 8 has a real JSON type —
joinflow reads both.
"""
from __future__ import annotations

import logging

import datetime as dt
import json
from typing import Any, Callable

from .. import errors
from .base import (PH, Backend, ColumnInfo, ForeignKeyInfo, IndexInfo, Run, as_uuid,
                   binary_bytes_per_row, bytes_value, dump_json, format_time, parse_time)
from .postgres import _group_fks

def _utc_naive(value: Any) -> Any:
    """Timezone-aware datetimes are stored in UTC (as on the other backends)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


log = logging.getLogger("joinflow")

DISCONNECT_CODES = {2006, 2013, 2014, 2045, 2055, 0}


class MySQLBackend(Backend):
    name = "mysql"
    stores_infinity = False
    system_schemas = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
    dialect = "mysql"
    placeholder = "%s"
    quote_char = "`"
    native_unsigned = True
    native_enum = True
    max_params = 60000
    type_sql = {
        "int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint",
        "uint8": "tinyint unsigned", "uint16": "smallint unsigned", "uint32": "int unsigned",
        "uint64": "bigint unsigned", "float32": "float", "float64": "double", "bool": "tinyint",
        "decimal": "decimal({p},{s})", "char": "char({n})", "varchar": "varchar({n})",
        "text": "longtext", "date": "date", "datetime": "datetime{prec}", "time": "time(6)",
        "timestamp": "timestamp{prec}", "uuid": "binary(16)", "json": "json",
        "bytes": "longblob", "binary": "varbinary({n})",
    }

    def integer_type_enforces(self, core: str) -> bool:
        return True

    def enum_type(self, values: tuple) -> str:
        return "enum(" + ", ".join(self.literal(v) for v in values) + ")"

    def literal(self, value: Any) -> str:
        if isinstance(value, str):
            return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
        return super().literal(value)

    def checks(self, column: str, spec) -> list[str]:
        if spec.core == "bool":
            return [f"{self.quote(column)} IN (0, 1)"]
        return []

    # -- connection ---------------------------------------------------------
    def connect(self, config: Any) -> Any:
        import pymysql
        kwargs: dict[str, Any] = {
            "host": config["database.host"] or "localhost",
            "port": config["database.port"] or 3306, "user": config["database.user"] or "root",
            "password": config["database.password"] or "", "autocommit": True,
            "charset": "utf8mb4", "connect_timeout": 10, "local_infile": False}
        tls = config["database.use_tls"]  # True: required; False: off; None: preferred
        if tls is False:
            raw = pymysql.connect(**kwargs)
        else:
            ssl = tls if isinstance(tls, dict) else {"check_hostname": False}
            try:
                raw = pymysql.connect(**kwargs, ssl=ssl)
            except pymysql.err.OperationalError as exc:
                if tls is not None or exc.args[0] != 2026:  # 2026: the server has no TLS
                    raise
                log.warning("SSL connection failed (%s). Falling back to non-SSL connection.",
                            exc.args[1] if len(exc.args) > 1 else exc)
                raw = pymysql.connect(**kwargs)
        self.on_connect(raw)
        return raw

    def on_connect(self, raw: Any) -> None:
        # large blobs arrive as memoryviews of the packed buffer: written as hex literals
        # straight from the buffer, as PyMySQL writes bytes, without a copy into bytes first
        raw.encoders[memoryview] = _escape_buffer
        with raw.cursor() as cur:
            cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,"
                        "NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO'")
            cur.execute("SET SESSION time_zone = '+00:00'")
            # older servers add ON UPDATE CURRENT_TIMESTAMP to a first timestamp column
            cur.execute("SET SESSION explicit_defaults_for_timestamp = 1")
            # '/' and AVG() over integers: full precision, as on the other backends
            cur.execute("SET SESSION div_precision_increment = 30")
            cur.execute("SELECT @@max_allowed_packet")
            self.max_packet = int(cur.fetchone()[0])
            cur.execute("SELECT VERSION()")
            version = str(cur.fetchone()[0])
            self.skip_locked = _has_skip_locked(version)
            if "mariadb" in version.lower():
                # MariaDB 10.11's split-materialized optimization returns too few rows for
                # unions of restricted aggregations (found by differential testing)
                cur.execute("SET SESSION optimizer_switch = 'split_materialized=off'")

    #: ``SELECT ... FOR UPDATE SKIP LOCKED`` (MySQL 8.0.1+, MariaDB 10.6+); set on connect
    skip_locked = False

    def describe_target(self, config: Any) -> str:
        user = config["database.user"] or "root"
        host = config["database.host"] or "localhost"
        return f"mysql://{user}@{host}:{config['database.port'] or 3306}"

    def begin_sql(self) -> str:
        return "START TRANSACTION"

    def is_disconnect(self, exc: BaseException) -> bool:
        import pymysql
        if isinstance(exc, pymysql.err.InterfaceError):
            return True
        return isinstance(exc, pymysql.err.OperationalError) and exc.args and \
            exc.args[0] in DISCONNECT_CODES

    # -- values -------------------------------------------------------------
    def text_sql(self, expr: str) -> str:
        return f"CAST({expr} AS CHAR)"

    def adapter(self, core: str, args: tuple = ()) -> Callable[[Any], Any] | None:
        return {
            "datetime": _utc_naive, "timestamp": _utc_naive,
            "uuid": lambda v: None if v is None else as_uuid(v).bytes,
            "json": lambda v: None if v is None else dump_json(v),
            "bool": lambda v: None if v is None else int(bool(v)),
            "time": format_time,
            "bytes": self._bytes_param,
        }.get(core) or super().adapter(core, args)

    max_packet = 1 << 26

    def _bytes_param(self, value: Any) -> Any:
        """PyMySQL sends bytes; a value the server cannot receive is refused up front (the
        server would otherwise drop the connection)."""
        value = bytes_value(value)
        size = 0 if value is None else value.nbytes if isinstance(value, memoryview) \
            else len(value)
        if size > self.max_packet - (1 << 16):
            raise errors.DataError(
                f"a value of {size:,} bytes exceeds the server's max_allowed_packet "
                f"({self.max_packet:,} bytes): raise it on the server, or keep the attribute in "
                "an object store (<blob@store>)")
        return value

    def converter(self, core: str, args: tuple = ()) -> Callable[[Any], Any] | None:
        return {
            "uuid": lambda v: None if v is None else as_uuid(v),
            "json": lambda v: None if v is None else json.loads(v),
            "bool": lambda v: None if v is None else bool(v),
            "time": parse_time,
        }.get(core)

    def json_extract_sql(self, column: str) -> str:
        return f"JSON_UNQUOTE(JSON_EXTRACT({column}, {PH}))"

    def json_null_sql(self, column: str) -> str:
        # JSON null extracts as the JSON literal null, not SQL NULL
        return f"COALESCE(JSON_TYPE(JSON_EXTRACT({column}, {PH})), 'NULL') = 'NULL'"

    def json_document_sql(self, column: str) -> str:
        # MariaDB stores JSON as text: compare compacted documents
        return f"JSON_COMPACT(JSON_EXTRACT({column}, {PH})) = JSON_COMPACT({PH})"

    # -- catalog ---------------------------------------------------------------
    def list_schemas(self, run: Run) -> list[str]:
        rows = run("SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN "
                   "('mysql', 'information_schema', 'performance_schema', 'sys') "
                   "ORDER BY schema_name", ())
        return [r[0] for r in rows]

    def schema_exists(self, run: Run, schema: str) -> bool:
        # system databases too: activating `information_schema` must not try to create it
        return bool(run("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                        (schema,)))

    def create_schema(self, run: Run, schema: str) -> None:
        run(f"CREATE DATABASE IF NOT EXISTS {self.quote(schema)} "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", ())

    def drop_schema(self, run: Run, schema: str) -> None:
        run(f"DROP DATABASE IF EXISTS {self.quote(schema)}", ())

    def list_tables(self, run: Run, schema: str) -> list[str]:
        rows = run("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                   "AND table_type = 'BASE TABLE' ORDER BY create_time, table_name", (schema,))
        return [r[0] for r in rows]

    def columns(self, run: Run, schema: str, table: str) -> list[ColumnInfo]:
        rows = run("SELECT column_name, column_type, is_nullable = 'YES', column_default, "
                   "column_comment, column_key = 'PRI', extra FROM information_schema.columns "
                   "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                   (schema, table))
        return [ColumnInfo(r[0], r[1], bool(r[2]), r[3], r[4] or "", bool(r[5]),
                           "auto_increment" in (r[6] or "")) for r in rows]

    def primary_key_order(self, run: Run, schema: str, table: str) -> list[str]:
        rows = run("SELECT column_name FROM information_schema.key_column_usage WHERE "
                   "table_schema = %s AND table_name = %s AND constraint_name = 'PRIMARY' "
                   "ORDER BY ordinal_position", (schema, table))
        return [r[0] for r in rows]

    def table_comment(self, run: Run, schema: str, table: str) -> str:
        rows = run("SELECT table_comment FROM information_schema.tables WHERE table_schema = %s "
                   "AND table_name = %s", (schema, table))
        return (rows[0][0] or "") if rows else ""

    def foreign_keys(self, run: Run, schemas: list[str] | None = None) -> list[ForeignKeyInfo]:
        rows = run("SELECT constraint_name, table_schema, table_name, referenced_table_schema, "
                   "referenced_table_name, column_name, referenced_column_name "
                   "FROM information_schema.key_column_usage WHERE referenced_table_name IS NOT NULL "
                   "ORDER BY table_schema, table_name, constraint_name, ordinal_position", ())
        return _group_fks(rows, schemas)

    def indexes(self, run: Run, schema: str, table: str) -> list[IndexInfo]:
        rows = run("SELECT index_name, non_unique = 0, column_name FROM information_schema.statistics "
                   "WHERE table_schema = %s AND table_name = %s AND index_name <> 'PRIMARY' "
                   "ORDER BY index_name, seq_in_index", (schema, table))
        grouped: dict[tuple, list] = {}
        for name, unique, col in rows:
            grouped.setdefault((name, bool(unique)), []).append(col)
        return [IndexInfo(n, tuple(c), u) for (n, u), c in grouped.items()]

    def table_size(self, run: Run, schema: str, table: str) -> int | None:
        rows = run("SELECT data_length + index_length FROM information_schema.tables "
                   "WHERE table_schema = %s AND table_name = %s", (schema, table))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- DDL -------------------------------------------------------------------
    def column_sql(self, name, sql_type, nullable, default, comment, checks, autoincrement=False):
        parts = [self.quote(name), sql_type, "NULL" if nullable else "NOT NULL"]
        if default is not None:
            parts.append(f"DEFAULT {default}")
        if autoincrement:
            parts.append("AUTO_INCREMENT")
        parts.append(f"COMMENT {self.literal(comment)}")
        parts += [f"CHECK ({c})" for c in checks]
        return " ".join(parts)

    def create_table_sql(self, schema, table, columns, pk, fks, indexes, comment):
        body = columns + [f"PRIMARY KEY ({', '.join(self.quote(c) for c in pk)})"] + fks
        return [f"CREATE TABLE {self.full_name(schema, table)} (\n  " + ",\n  ".join(body) +
                f"\n) ENGINE=InnoDB COMMENT={self.literal(comment)}"] + indexes

    def index_sql(self, schema, table, name, columns, unique):
        cols = ", ".join(self.quote(c) for c in columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        return f"CREATE {kind} {self.quote(name)} ON {self.full_name(schema, table)} ({cols})"

    # -- DML ---------------------------------------------------------------------
    bulk_style = "executemany"  # PyMySQL rewrites it into multi-row INSERTs
    limit_all = "18446744073709551615"
    indexes_foreign_keys = True
    upsert_fires_on_unique_indexes = True

    def insert_defaults_sql(self, target: str, skip: bool = False) -> str:
        return f"INSERT {'IGNORE ' if skip else ''}INTO {target} () VALUES ()"

    def upsert_clause(self, target: str, pk: list[str], assignments: list[str]) -> str:
        if not assignments:  # a no-op assignment, qualified (INSERT ... SELECT has namesakes)
            k = f"{target}.{self.quote(pk[0])}"
            assignments = [f"{k} = {k}"]
        return " ON DUPLICATE KEY UPDATE " + ", ".join(assignments)

    def new_value_sql(self, column: str) -> str:
        return f"VALUES({self.quote(column)})"

    def delete_sql(self, source: str, alias: str, where: str) -> str:
        return f"DELETE {alias} FROM {source} WHERE {where}"

    def before_delete(self, run: Run, schema: str) -> None:
        # an aliased multi-table DELETE resolves its alias in the default database (MariaDB)
        run(f"USE {self.quote(schema)}", ())

    def temp_table_ref(self, schema: str, name: str) -> str:
        return self.full_name(schema, name)

    def create_key_table_sql(self, schema, name, source, key):
        # one statement: CREATE INDEX would commit an open transaction (even on a temp table)
        ref, cols = self.temp_table_ref(schema, name), ", ".join(self.quote(k) for k in key)
        return [f"CREATE TEMPORARY TABLE {ref} (INDEX ({cols})) SELECT {cols} FROM {source} "
                "LIMIT 0"]

    def drop_temp_table_sql(self, schema: str, name: str) -> str:
        return f"DROP TEMPORARY TABLE IF EXISTS {self.temp_table_ref(schema, name)}"

    def create_filled_key_table_sql(self, schema, name, select, key):
        cols = ", ".join(self.quote(k) for k in key)
        return (f"CREATE TEMPORARY TABLE {self.temp_table_ref(schema, name)} (INDEX ({cols})) "
                f"SELECT {cols} FROM ({select}) AS _keys")

    cascade_subqueries = True  # nested semi-joins beat making and joining key tables

    def bulk_style_for(self, rows: list) -> str:
        # PyMySQL's executemany builds one statement per 1 MB, copying large rows once more
        return "each" if binary_bytes_per_row(rows) >= 65536 else self.bulk_style

    def delete_by_keys_sql(self, target, keys, key):
        # a join: MariaDB evaluates EXISTS/IN per row of the target in a DELETE
        on = " AND ".join(f"_t.{self.quote(k)} = _k.{self.quote(k)}" for k in key)
        return f"DELETE _t FROM {target} AS _t JOIN {keys} AS _k ON {on}"

    def drop_temp_tables_sql(self, tables):
        if not tables:
            return []
        return ["DROP TEMPORARY TABLE IF EXISTS " +
                ", ".join(self.temp_table_ref(s, nm) for s, nm in tables)]

    def order_term(self, expr: str, direction: str, core: str) -> str:
        if core == "enum":  # MySQL sorts enums by declaration index; sort by value
            expr = f"CAST({expr} AS CHAR)"
        return f"{expr} {direction}"

    # -- errors ----------------------------------------------------------------
    def translate_error(self, exc: BaseException) -> errors.JoinflowError | None:
        import pymysql
        if not isinstance(exc, pymysql.err.Error):
            return None
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        msg = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        table = {1062: errors.DuplicateError, 1451: errors.ForeignKeyError,
                 1452: errors.ForeignKeyError, 1216: errors.ForeignKeyError,
                 1217: errors.ForeignKeyError, 1048: errors.DataError, 1264: errors.DataError,
                 1265: errors.DataError, 1366: errors.DataError, 1406: errors.DataError,
                 1292: errors.DataError, 4025: errors.DataError, 3819: errors.DataError,
                 1146: errors.MissingTableError, 1049: errors.MissingTableError,
                 1045: errors.AccessError, 1044: errors.AccessError, 1142: errors.AccessError,
                 1054: errors.QueryError, 1064: errors.QueryError, 1055: errors.QueryError,
                 1364: errors.DataError}
        if code in table:
            return table[code](msg)
        if self.is_disconnect(exc):
            return errors.LostConnectionError(msg)
        return errors.JoinflowError(f"mysql error {code}: {msg}")


def _escape_buffer(value: memoryview, mapping: Any = None) -> str:
    """PyMySQL encoder for memoryviews: the hex literal PyMySQL writes for bytes."""
    return f"X'{value.hex()}'"


def _has_skip_locked(version: str) -> bool:
    """Whether a server of this ``VERSION()`` knows ``FOR UPDATE SKIP LOCKED``."""
    import re
    found = re.match(r"(\d+)\.(\d+)\.?(\d*)", version)
    if not found:
        return False
    major, minor, patch = (int(g or 0) for g in found.groups())
    if "mariadb" in version.lower():
        return (major, minor) >= (10, 6)
    return (major, minor, patch) >= (8, 0, 1)
