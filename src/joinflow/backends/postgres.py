"""PostgreSQL (psycopg 3). A joinflow schema is a PostgreSQL schema in one database
(``database.name``, default ``postgres``). Unsigned integers become the next wider signed type
with a CHECK on the range; enums are varchar with a CHECK; comments use COMMENT ON.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

from .. import errors
from .base import PH, Backend, ColumnInfo, ForeignKeyInfo, IndexInfo, Run, as_uuid, dump_json, \
    binary_bytes_per_row, format_time, parse_time


class PostgresBackend(Backend):
    name = "postgresql"
    dialect = "postgres"
    placeholder = "%s"
    max_params = 60000
    type_sql = {
        "int8": "smallint", "int16": "smallint", "int32": "integer", "int64": "bigint",
        "uint8": "smallint", "uint16": "integer", "uint32": "bigint", "uint64": "numeric(20,0)",
        "float32": "real", "float64": "double precision", "bool": "smallint",
        "decimal": "numeric({p},{s})", "char": "char({n})", "varchar": "varchar({n})",
        "text": "text", "date": "date", "datetime": "timestamp{prec}", "time": "interval",
        "timestamp": "timestamp{prec}", "uuid": "uuid", "json": "jsonb", "bytes": "bytea",
    }

    supports_copy = True
    cascade_subqueries = True  # a temporary table costs catalog writes here
    failed_statement_aborts_transaction = True

    def create_filled_key_table_sql(self, schema, name, select, key):
        # no index: the DELETEs join the key table by hash (an index costs more than it saves)
        cols = ", ".join(self.quote(k) for k in key)
        return (f"CREATE TEMPORARY TABLE {self.temp_table_ref(schema, name)} AS "
                f"SELECT {cols} FROM ({select}) AS _keys")

    def delete_by_keys_sql(self, target, keys, key):
        on = " AND ".join(f"_t.{self.quote(k)} = _k.{self.quote(k)}" for k in key)
        return f"DELETE FROM {target} AS _t USING {keys} AS _k WHERE {on}"

    def drop_temp_tables_sql(self, tables):
        if not tables:
            return []
        return ["DROP TABLE IF EXISTS " + ", ".join(self.temp_table_ref(s, nm) for s, nm in tables)]

    def order_term(self, expr: str, direction: str, core: str) -> str:
        return f"{expr} {direction} " + ("NULLS FIRST" if direction == "ASC" else "NULLS LAST")

    def literal(self, value: Any) -> str:
        if isinstance(value, (bytes, bytearray, memoryview)):  # X'..' would be a bit string
            return "'\\x" + bytes(value).hex() + "'::bytea"
        return super().literal(value)

    def integer_type_enforces(self, core: str) -> bool:
        return core in ("int16", "int32", "int64")

    def column_type(self, spec) -> str:
        if spec.core in ("datetime", "timestamp") and not spec.args:
            return "timestamp(0)"  # DataJoint's datetime has whole seconds unless declared
        return super().column_type(spec)

    def checks(self, column: str, spec) -> list[str]:
        # bool is smallint 0/1, as in MySQL: DataJoint fragments ("flag = 1", "flag",
        # "NOT flag") are written for an integer-valued boolean.
        out = super().checks(column, spec)
        if spec.core == "bool":
            out.append(f"{self.quote(column)} IN (0, 1)")
        return out

    # -- connection ---------------------------------------------------------
    def connect(self, config: Any) -> Any:
        import psycopg
        kwargs: dict[str, Any] = dict(host=config["database.host"] or "localhost",
                      port=config["database.port"] or 5432,
                      user=config["database.user"] or "postgres",
                      dbname=config["database.name"] or "postgres", autocommit=True,
                      connect_timeout=10)
        if config["database.password"]:
            kwargs["password"] = config["database.password"]
        tls = config["database.use_tls"]  # None: libpq's default ("prefer")
        if tls is not None:
            kwargs["sslmode"] = "require" if tls else "disable"
        raw = psycopg.connect(**kwargs)
        self.pipelines = psycopg.Pipeline.is_supported()
        self.on_connect(raw)
        return raw

    def on_connect(self, raw: Any) -> None:
        raw.execute("SET client_min_messages TO WARNING")
        raw.execute("SET TIME ZONE 'UTC'")
        # binary results of types psycopg does not know (native enums of DataJoint schemas)
        # come back as text, as they do in text format
        raw.adapters.register_loader(0, _unknown_binary_loader())

    pipelines = True  # unless libpq is older than 14 (checked on connect)

    def pipeline(self, raw: Any) -> Any:
        return raw.pipeline()

    def cursor(self, raw: Any, binary: bool = False) -> Any:
        # bytea in text format is hex: twice the bytes on the wire and a decoding pass
        return raw.cursor(binary=True) if binary else raw.cursor()

    #: average bytes of binary values per row from which one statement per row (binary
    #: parameters, pipelined by executemany) beats COPY (text: hex) and multi-row VALUES
    large_row_bytes = 16384

    def bulk_style_for(self, rows: list) -> str:
        big = binary_bytes_per_row(rows) >= self.large_row_bytes
        return "executemany" if big else self.bulk_style

    def describe_target(self, config: Any) -> str:
        user = config["database.user"] or "postgres"
        host = config["database.host"] or "localhost"
        return f"postgresql://{user}@{host}:{config['database.port'] or 5432}"

    def is_disconnect(self, exc: BaseException) -> bool:
        import psycopg
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))

    # -- values -------------------------------------------------------------
    def adapter(self, core: str, args: tuple = ()) -> Callable[[Any], Any] | None:
        if core == "json":
            from psycopg.types.json import Jsonb
            def to_jsonb(v: Any) -> Any:
                if v is None:
                    return None
                text = dump_json(v)  # now, so a bad value fails here with its attribute named
                return Jsonb(v, dumps=lambda _obj: text)
            return to_jsonb
        return {
            "uuid": lambda v: None if v is None else as_uuid(v),
            "time": format_time,
            # sent untyped ('1'/'0'): PostgreSQL casts it to the column's type, so the same
            # value fits joinflow's smallint 0/1 columns and DataJoint's native boolean ones
            "bool": lambda v: None if v is None else ("1" if v else "0"),
        }.get(core) or super().adapter(core, args)

    def converter(self, core: str, args: tuple = ()) -> Callable[[Any], Any] | None:
        return {
            "time": parse_time,
            "uint64": lambda v: None if v is None else int(v),
            "char": lambda v: None if v is None else v.rstrip(" "),
            "bool": lambda v: None if v is None else bool(v),
        }.get(core)

    def json_extract_sql(self, column: str) -> str:
        return f"({column} #>> {PH})"

    def json_document_sql(self, column: str) -> str:
        return f"({column}::jsonb #> {PH}) = CAST({PH} AS jsonb)"

    def json_path_param(self, path: tuple, mysql_path: str) -> Any:
        return [str(p) for p in path]

    # -- catalog ---------------------------------------------------------------
    system_schemas = frozenset({"information_schema", "public"})

    def is_system_schema(self, schema: str) -> bool:
        return super().is_system_schema(schema) or schema.lower().startswith("pg_")

    def schema_exists(self, run: Run, schema: str) -> bool:
        return bool(run("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)))

    def list_schemas(self, run: Run) -> list[str]:
        rows = run("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' "
                   "AND nspname NOT IN ('information_schema', 'public') ORDER BY nspname", ())
        return [r[0] for r in rows]

    def create_schema(self, run: Run, schema: str) -> None:
        run(f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}", ())

    def drop_schema(self, run: Run, schema: str) -> None:
        run(f"DROP SCHEMA IF EXISTS {self.quote(schema)} CASCADE", ())

    def list_tables(self, run: Run, schema: str) -> list[str]:
        rows = run("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.oid", (schema,))
        return [r[0] for r in rows]

    def columns(self, run: Run, schema: str, table: str) -> list[ColumnInfo]:
        rows = run(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), col_description(c.oid, a.attnum), "
            "COALESCE(a.attnum = ANY(i.indkey), false), "
            "(SELECT string_agg(quote_literal(e.enumlabel), ',' ORDER BY e.enumsortorder) "
            "FROM pg_enum e WHERE e.enumtypid = a.atttypid) "
            "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum", (schema, table))
        # a native enum type (DataJoint declares enums with CREATE TYPE) reads as enum(...)
        return [ColumnInfo(r[0], f"enum({r[6]})" if r[6] else r[1], r[2], r[3], r[4] or "", r[5])
                for r in rows]

    def primary_key_order(self, run: Run, schema: str, table: str) -> list[str]:
        rows = run(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            "WHERE i.indisprimary AND n.nspname = %s AND c.relname = %s ORDER BY k.ord",
            (schema, table))
        return [r[0] for r in rows]

    def table_comment(self, run: Run, schema: str, table: str) -> str:
        rows = run("SELECT obj_description(c.oid, 'pg_class') FROM pg_class c JOIN pg_namespace n "
                   "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
                   (schema, table))
        return (rows[0][0] or "") if rows else ""

    def foreign_keys(self, run: Run, schemas: list[str] | None = None) -> list[ForeignKeyInfo]:
        rows = run(
            "SELECT con.conname, cn.nspname, cc.relname, pn.nspname, pc.relname, "
            "ca.attname, pa.attname "
            "FROM pg_constraint con "
            "JOIN pg_class cc ON cc.oid = con.conrelid JOIN pg_namespace cn ON cn.oid = cc.relnamespace "
            "JOIN pg_class pc ON pc.oid = con.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace "
            "CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(ck, pk, ord) "
            "JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.ck "
            "JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.pk "
            "WHERE con.contype = 'f' ORDER BY cn.nspname, cc.relname, con.conname, k.ord", ())
        return _group_fks(rows, schemas)

    def indexes(self, run: Run, schema: str, table: str) -> list[IndexInfo]:
        rows = run(
            "SELECT ic.relname, i.indisunique, a.attname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_class ic ON ic.oid = i.indexrelid "
            "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
            "WHERE n.nspname = %s AND c.relname = %s AND NOT i.indisprimary "
            "ORDER BY ic.relname, k.ord", (schema, table))
        grouped: dict[tuple, list] = {}
        for name, unique, col in rows:
            grouped.setdefault((name, unique), []).append(col)
        return [IndexInfo(n, tuple(c), u) for (n, u), c in grouped.items()]

    def table_size(self, run: Run, schema: str, table: str) -> int | None:
        rows = run("SELECT pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
                   "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
                   (schema, table))
        return int(rows[0][0]) if rows else None

    # -- DDL -------------------------------------------------------------------
    def column_sql(self, name, sql_type, nullable, default, comment, checks, autoincrement=False):
        if autoincrement:
            sql_type = {"smallint": "smallserial", "integer": "serial", "bigint": "bigserial"}.get(
                sql_type, sql_type)
        parts = [self.quote(name), sql_type]
        if not nullable:
            parts.append("NOT NULL")
        if default is not None:
            parts.append(f"DEFAULT {default}")
        parts += [f"CHECK ({c})" for c in checks]
        return " ".join(parts)

    def create_table_sql(self, schema, table, columns, pk, fks, indexes, comment):
        body = columns + [f"PRIMARY KEY ({', '.join(self.quote(c) for c in pk)})"] + fks
        return [f"CREATE TABLE {self.full_name(schema, table)} (\n  " + ",\n  ".join(body) +
                "\n)"] + indexes

    def comment_statements(self, schema, table, comment, column_comments):
        full = self.full_name(schema, table)
        out = [(f"COMMENT ON TABLE {full} IS {self.literal(comment)}", ())]
        out += [(f"COMMENT ON COLUMN {full}.{self.quote(c)} IS {self.literal(t)}", ())
                for c, t in column_comments.items()]
        return out

    def index_sql(self, schema, table, name, columns, unique):
        cols = ", ".join(self.quote(c) for c in columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        full = f"{table}__{name}"  # index names are per schema in PostgreSQL
        if len(full.encode()) > 63:  # identifiers are cut at 63 bytes: keep them unique
            digest = hashlib.md5(full.encode()).hexdigest()[:8]
            full = full.encode()[:50].decode(errors="ignore") + "_" + digest
        return f"CREATE {kind} {self.quote(full)} ON {self.full_name(schema, table)} ({cols})"

    # -- errors ----------------------------------------------------------------
    def translate_error(self, exc: BaseException) -> errors.JoinflowError | None:
        import psycopg
        from psycopg import errors as pe
        if not isinstance(exc, psycopg.Error):
            return None
        msg = str(exc).strip()
        table = {
            pe.UniqueViolation: errors.DuplicateError,
            pe.ForeignKeyViolation: errors.ForeignKeyError,
            pe.NotNullViolation: errors.DataError,
            pe.CheckViolation: errors.DataError,
            pe.NumericValueOutOfRange: errors.DataError,
            pe.InvalidTextRepresentation: errors.DataError,
            pe.StringDataRightTruncation: errors.DataError,
            pe.InvalidDatetimeFormat: errors.DataError,
            pe.DatetimeFieldOverflow: errors.DataError,
            pe.UndefinedTable: errors.MissingTableError,
            pe.InvalidSchemaName: errors.MissingTableError,
            pe.InsufficientPrivilege: errors.AccessError,
            pe.InvalidPassword: errors.AccessError,
            pe.InvalidAuthorizationSpecification: errors.AccessError,
            pe.UndefinedColumn: errors.QueryError,
            pe.SyntaxError: errors.QueryError,
            pe.UndefinedFunction: errors.QueryError,
            pe.DatatypeMismatch: errors.QueryError,
            pe.GroupingError: errors.QueryError,
            pe.AmbiguousColumn: errors.QueryError,
        }
        for cls, target in table.items():
            if isinstance(exc, cls):
                return target(msg)
        if isinstance(exc, psycopg.OperationalError):
            if "authentication" in msg or "password" in msg:
                return errors.AccessError(msg)
            return errors.LostConnectionError(msg)
        if isinstance(exc, psycopg.IntegrityError):
            return errors.IntegrityError(msg)
        return errors.JoinflowError(f"postgresql error: {msg}")


_UNKNOWN_LOADER: Any = None


def _unknown_binary_loader() -> Any:
    global _UNKNOWN_LOADER
    if _UNKNOWN_LOADER is None:
        from psycopg import pq
        from psycopg.adapt import Loader

        class UnknownBinaryAsText(Loader):
            format = pq.Format.BINARY

            def load(self, data: Any) -> Any:
                try:
                    return bytes(data).decode()
                except UnicodeDecodeError:
                    return bytes(data)
        _UNKNOWN_LOADER = UnknownBinaryAsText
    return _UNKNOWN_LOADER


def _group_fks(rows: list, schemas: list[str] | None) -> list[ForeignKeyInfo]:
    grouped: dict[tuple, list] = {}
    for name, cs, ct, ps, pt, col, ref in rows:
        if schemas is not None and cs not in schemas:
            continue
        grouped.setdefault((name, cs, ct, ps, pt), []).append((col, ref))
    return [ForeignKeyInfo(n, cs, ct, ps, pt, tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))
            for (n, cs, ct, ps, pt), pairs in grouped.items()]
