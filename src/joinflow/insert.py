"""The insert path: normalize rows from any source into columns, encode column-wise (codecs
and backend adapters), group rows by the defaults they rely on, and write each group through
the fastest statement the driver offers — all in one transaction."""
from __future__ import annotations

import collections.abc
import datetime as dt
import json
import math
import re
import sys
import uuid
import warnings
from itertools import repeat
from operator import is_not, itemgetter
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import errors
from .backends.base import PH, to_python_scalar, value_check
from .codecs.base import ObjectWrite, RowWrite
from .codecs.pipeline import ColumnEncoder, Pending, column_encoder
from .definition.types import INTEGER_RANGES
from . import objectstores
from .tableref import TableRef
from .validation import ValidationResult

OMIT: Any = object()
COPY_THRESHOLD = 200  # rows; PostgreSQL uses COPY above this for plain inserts


# --------------------------------------------------------------------------- normalization
def _is_dataframe(obj: Any) -> bool:
    """A pandas DataFrame (polars' DataFrame has the same name but no index)."""
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "columns") and \
        type(obj).__module__.split(".")[0] == "pandas"


def _columnar(obj: Any) -> tuple[list[str], list[list]] | None:
    """(names, columns) of a pyarrow Table/RecordBatch or a polars DataFrame, else None.
    Neither library is imported: an object of theirs can only exist if it is installed."""
    module = type(obj).__module__.split(".")[0]
    kind = type(obj).__name__
    if module == "pyarrow" and kind in ("Table", "RecordBatch"):
        names = [str(nm) for nm in obj.column_names]
        return names, [obj.column(i).to_pylist() for i in range(len(names))]
    if module == "polars" and kind == "DataFrame":
        names = [str(nm) for nm in obj.columns]
        return names, [obj.get_column(nm).to_list() for nm in names]
    return None


POSITIONAL_WARNING = ("Positional inserts (tuples/lists) are deprecated and will be removed in a "
                      "future version. Use dicts with explicit field names instead: "
                      "table.insert1({'field': value, ...})")


def _read_csv(path: Any) -> list[dict]:
    """The rows of a CSV file as text, as DataJoint reads them (csv.DictReader): each value is
    converted by its attribute's type, so zip codes and phone numbers keep leading zeros."""
    import csv
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter=","))


def normalize(table: TableRef, rows: Any) -> tuple[list[str], list[list]]:
    """(field names, list of columns) for any accepted row source."""
    if isinstance(rows, (str, Path)) and str(rows).endswith(".csv"):
        rows = _read_csv(rows)
    if _is_dataframe(rows):
        df = rows
        if df.index.nlevels > 1 or df.index.name is not None:
            df = df.reset_index()
        names = [str(c) for c in df.columns]
        return names, [df[c].tolist() for c in df.columns]
    columnar = _columnar(rows)
    if columnar is not None:
        return columnar
    if isinstance(rows, np.ndarray) and rows.dtype.names:
        return list(rows.dtype.names), [rows[nm].tolist() for nm in rows.dtype.names]
    rows = list(rows)
    if not rows:
        return [], []
    first = rows[0]
    if set(map(type, rows)) == {dict} and set(map(len, rows)) == {len(first)}:
        # the common case, checked at C speed: dicts of as many fields as the first, each
        # holding all of its fields, hold the same fields
        try:
            return list(first), [list(map(itemgetter(nm), rows)) for nm in first]
        except KeyError:
            pass
    kinds = {"record" if isinstance(r, np.void) else "dict"
             if isinstance(r, collections.abc.Mapping) else "sequence" for r in rows}
    if len(kinds) > 1:
        raise errors.DataError(f"attempt to insert rows of different kinds ({', '.join(sorted(kinds))}"
                               "): use dicts for all rows, or sequences in heading order for all")
    if isinstance(first, np.void):
        names = list(first.dtype.names or ())
        return names, [list(c) for c in zip(*(r.tolist() for r in rows))]
    if isinstance(first, collections.abc.Mapping):
        keyset = first.keys()
        if all(r.keys() == keyset for r in rows):
            return list(keyset), [[r[nm] for r in rows] for nm in keyset]
        # rows with different fields: a missing field takes its default
        names = list(dict.fromkeys(k for r in rows for k in r.keys()))
        return names, [[r.get(nm) for r in rows] for nm in names]
    names = table.heading.names
    for r in rows:
        if isinstance(r, (str, bytes)) or not isinstance(r, collections.abc.Sequence) and \
                not isinstance(r, np.ndarray):
            raise errors.DataError(f"cannot insert a row of type {type(r).__name__}: use a dict, "
                                   "a sequence in heading order or a numpy record")
        if len(r) != len(names):
            raise errors.DataError(f"Incorrect number of attributes: {len(r)} given, "
                                   f"{len(names)} expected (a row has {len(r)} values but "
                                   f"{table.full_table_name} has {len(names)} attributes {names})")
    warnings.warn(POSITIONAL_WARNING, DeprecationWarning, stacklevel=_user_stacklevel())
    return list(names), [list(c) for c in zip(*rows)]


def _user_stacklevel() -> int:
    """The stack level of the first frame outside joinflow (the user's insert call)."""
    import sys
    frame: Any = sys._getframe(1)
    level = 1
    package = __name__.rsplit(".", 1)[0]
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == package:
        frame, level = frame.f_back, level + 1
    return level


# --------------------------------------------------------------------------- encoding
def _is_missing(v: Any) -> bool:
    """pandas' missing markers (NA, NaT) — what a DataFrame holds for NULL."""
    name = type(v).__name__
    return name in ("NAType", "NaTType")


#: classes whose values need no check for a column type (the adapter still converts them)
PLAIN_CLASSES: dict[str, tuple] = {
    "date": (dt.date, dt.datetime), "datetime": (dt.datetime, dt.date),
    "timestamp": (dt.datetime, dt.date), "time": (dt.timedelta, dt.time), "bool": (bool,)}


def _refusing_infinity(check: Callable[[Any], Any], backend: str) -> Callable[[Any], Any]:
    def check_finite(v: Any) -> Any:
        v = check(v)
        if isinstance(v, (float, np.floating)) and math.isinf(v):
            raise errors.DataError(f"{v} cannot be stored: {backend} float columns have no "
                                   "infinite values")
        return v
    return check_finite


def _converter(table: TableRef, attr: Any, enc: ColumnEncoder | None = OMIT
               ) -> Callable[..., list]:
    """``convert(column, keys=None)``: driver values for a column (``keys``: each row's
    primary key, used only by codecs that read it)."""
    if enc is OMIT:
        enc = column_encoder(table, attr)
    numeric = attr.numeric
    core = attr.core
    # a float NaN cannot be a value of a string/date/uuid/... column: it is pandas' NULL.
    # Codec columns (blobs, json) keep NaN as a value.
    nan_is_null = not attr.codec and core != "json"
    # the same checks on every backend (the driver's own words only as a last resort)
    check = None if attr.codec else value_check(core, attr.spec.args)
    finite_only = core in ("float32", "float64") and check is not None and \
        not table.connection.backend.stores_infinity
    if finite_only and check is not None:
        check = _refusing_infinity(check, table.connection.backend.name)
    # fast paths: plain ints, floats and strings that are valid as they are
    int_range: tuple[float, float] | None = None
    float_range: tuple[float, float] | None = None
    str_limit: float | None = None
    if check is not None:
        if core in INTEGER_RANGES:
            int_range = INTEGER_RANGES[core]
        elif core in ("float32", "float64"):
            top = 3.4028234663852886e38 if core == "float32" else \
                sys.float_info.max if finite_only else math.inf
            int_range = float_range = (-top, top)
        elif core in ("char", "varchar", "text"):
            str_limit = attr.spec.args[0] if core != "text" else math.inf
    plain = PLAIN_CLASSES.get(core, ()) if check is not None else ()

    def careful(v: Any, key: Any = None) -> Any:
        if v is None or _is_missing(v):
            return None
        if isinstance(v, np.generic) and not attr.codec:  # codecs (blobs) keep numpy types
            return one(v.item())
        if isinstance(v, float) and math.isnan(v) and nan_is_null:
            return None
        if numeric and v.__class__ is str and v == "":
            return None
        try:
            if check is not None:
                v = check(v)
            return v if enc is None else enc(v, key)
        except errors.CodecError:
            raise
        except (errors.DataError, ValueError, TypeError) as exc:
            text = str(exc)
            if core == "uuid" and not attr.codec and "UUID" not in text:
                text = f"badly formed UUID value {v!r}"
            raise errors.DataError(f"{text} for attribute `{attr.name}` of "
                                   f"{table.full_table_name}") from exc

    def one(v: Any, key: Any = None) -> Any:
        cls = v.__class__
        if cls is int:  # (an integer adapter leaves an int in range as it is)
            if int_range is not None and int_range[0] <= v <= int_range[1]:
                return v
        elif cls is str:
            if str_limit is not None and len(v) <= str_limit:
                return v if enc is None else enc(v, key)
        elif cls is float:
            if v != v and nan_is_null:
                return None
            if float_range is not None and float_range[0] <= v <= float_range[1]:
                return v if enc is None else enc(v, key)
        elif cls in plain:
            return v if enc is None else enc(v, key)
        return careful(v, key)

    adapt = None if enc is None else enc.adapt  # codec columns are never plain (no check)
    kinds_ok = {float} if float_range is not None else {int} if int_range is not None else \
        {str} if str_limit is not None else set(plain)

    def plain_column(col: list) -> list | None:
        """The column converted at C speed when every value is of a class that passes as it
        is (ints and floats in range and not NaN, strings within the limit, dates...), else
        None (then each value is converted by ``one``, which words the errors)."""
        kinds = set(map(type, col))
        if not kinds or not kinds <= kinds_ok:
            return None
        if float_range is not None:
            total = sum(col)
            if total != total or not float_range[0] <= min(col) <= max(col) <= float_range[1]:
                return None  # NaN (NULL) or out of range
        elif int_range is not None:
            if not int_range[0] <= min(col) <= max(col) <= int_range[1]:
                return None
            return col  # (an integer adapter leaves an int in range as it is)
        elif str_limit is not None and max(map(len, col)) > str_limit:
            return None
        return col if adapt is None else list(map(adapt, col))

    def convert(col: list, keys: list | None = None) -> list:
        if keys is None:
            if kinds_ok and len(col) > 8 and (done := plain_column(col)) is not None:
                return done
            return [one(v) for v in col]
        return [one(v, k) for v, k in zip(col, keys)]
    convert.one = one  # type: ignore[attr-defined]  # one value (insert1's fast path)
    return convert


def prepare(table: TableRef, rows: Any, ignore_extra_fields: bool,
            pending: Pending | None = None) -> tuple[list[str], list[list]]:
    names, cols = normalize(table, rows)
    heading = table.heading
    extra = [nm for nm in names if nm not in heading]
    if extra and not ignore_extra_fields:
        raise errors.UnknownAttributeError(f"attribute(s) {extra} not in the heading of "
                               f"{table.full_table_name}; to ignore extra fields, set "
                               "ignore_extra_fields=True")
    keep = [i for i, nm in enumerate(names) if nm in heading]
    names, cols = [names[i] for i in keep], [cols[i] for i in keep]
    if cols and cols[0]:
        checked = heading.memo.setdefault("complete", set())
        if (ident := frozenset(names)) not in checked:
            _check_missing(table, names)  # raises if a required attribute is missing
            checked.add(ident)
    attrs = [heading[nm] for nm in names]
    if not any(a.codec for a in attrs):  # plain columns: converters kept with the heading
        return names, [convert(c) for convert, c in zip(_plain_converters(table, attrs), cols)]
    stores = objectstores.stores_if_needed(table.connection, attrs)
    encs = [column_encoder(table, a, pending, stores) for a in attrs]
    keys = None
    if any(e is not None and e.uses_row_key for e in encs):
        pk = [names.index(k) for k in heading.primary_key if k in names]  # (the table's order)
        keys = [{names[j]: cols[j][i] for j in pk} for i in range(len(cols[0]) if cols else 0)]
    return names, [_converter(table, a, e)(c, keys) for a, e, c in zip(attrs, encs, cols)]


def _plain_converters(table: TableRef, attrs: list) -> list[Callable[..., list]]:
    """The converters of codec-less attributes (they depend on the attribute, the table and
    the backend only), made once per heading."""
    memo = table.heading.memo
    where = (table.connection.backend.name, table.full_table_name)
    out = []
    for a in attrs:
        convert = memo.get(("convert", a.name, where))
        if convert is None:
            convert = memo[("convert", a.name, where)] = _converter(table, a)
        out.append(convert)
    return out


def _check_missing(table: TableRef, names: list[str], empty_row: bool = False) -> None:
    heading = table.heading
    missing = [a.name for a in heading.values() if a.name not in names and not a.nullable
               and a.default is None and not a.autoincrement]
    if missing and empty_row:
        raise errors.DataError(f"Cannot insert empty row. The following attributes require "
                               f"values: {missing} (they have no default in "
                               f"{table.full_table_name})")
    if missing:
        raise errors.DataError(f"missing value(s) for attribute(s) {missing} of "
                               f"{table.full_table_name}")


# --------------------------------------------------------------------------- writing
def _has_none(column: list) -> bool:
    """``None in column`` without comparing arrays element-wise."""
    return not all(map(is_not, column, repeat(None)))


def _groups(table: TableRef, names: list[str], cols: list[list]) -> list[tuple[list[str], list]]:
    """Rows grouped by which defaulted columns they leave out (None -> column default)."""
    heading = table.heading
    defaulted = [j for j, nm in enumerate(names)
                 if (heading[nm].default is not None or heading[nm].autoincrement)
                 and not heading[nm].nullable and _has_none(cols[j])]
    for j, nm in enumerate(names):
        a = heading[nm]
        if not a.nullable and a.default is None and not a.autoincrement and _has_none(cols[j]):
            raise errors.DataError(f"attribute {nm!r} of {table.full_table_name} cannot be "
                                   "null and has no default")
    rows = list(zip(*cols))
    if not defaulted:
        return [(names, rows)]
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault(tuple(j for j in defaulted if r[j] is None), []).append(r)
    out = []
    for omit, grp in groups.items():
        idx = [j for j in range(len(names)) if j not in omit]
        out.append(([names[j] for j in idx], [tuple(r[j] for j in idx) for r in grp]))
    return out


def _write(table: TableRef, names: list[str], rows: list, mode: str) -> None:
    conn, backend = table.connection, table.connection.backend
    target = table.full_table_name
    if not names:  # every column takes its default: one statement per row
        for _ in rows:
            conn.query(backend.insert_defaults_sql(target, skip=mode != "error"), ())
        return
    style = backend.bulk_style_for(rows)  # large binary values: one statement per row
    if style != "executemany" and backend.supports_copy and mode == "error" and \
            len(rows) >= COPY_THRESHOLD:
        _copy(conn, target, names, rows)
        return
    clause = conflict_clause(table, names, mode)
    if mode == "replace" and backend.upsert_fires_on_unique_indexes:
        _refuse_unique_clashes(table, names, rows)
    if mode == "replace":  # one statement may not update a row twice (PostgreSQL): last wins
        key = [names.index(k) for k in table.primary_key if k in names]
        if key or not table.primary_key:  # a singleton table keeps the last row
            rows = list({tuple(r[j] for j in key): r for r in rows}.values())
    if style in ("executemany", "each"):
        memo, ident = table.heading.memo, ("insert", tuple(names), mode, backend.name, target)
        sql = memo.get(ident)
        if sql is None:
            sql = memo[ident] = backend.render(backend.insert_sql(target, names) + clause)
        if style == "each" or len(rows) == 1:  # PyMySQL's executemany copies large rows again
            for r in rows:
                conn.query_raw(sql, r, fetch=False)
        else:
            conn.query_raw(sql, rows, many=True)
        return
    per = max(1, min(1000, backend.max_params // len(names)))
    for i in range(0, len(rows), per):
        chunk = rows[i:i + per]
        sql = backend.insert_sql(target, names, rows=len(chunk)) + clause
        conn.query(sql, [v for r in chunk for v in r])


def _refuse_unique_clashes(table: TableRef, names: list[str], rows: list) -> None:
    """``replace`` overwrites the row with the same key, never another row that happens to
    hold the same value of a unique secondary index (MySQL would update that row instead)."""
    conn, pk = table.connection, table.primary_key
    for index in conn.backend.indexes(conn.run, table.database, table.table_name):
        cols = list(index.columns)
        if not index.unique or set(cols) <= set(pk) or not set(cols) <= set(names):
            continue
        at = [names.index(c) for c in cols]
        wanted = {tuple(r[j] for j in at): tuple(r[names.index(k)] for k in pk) for r in rows}
        found = (table & [dict(zip(cols, v)) for v in wanted]).to_arrays(*cols, include_key=True)
        keys, values = found[0], list(zip(*found[1:]))
        for key, value in zip(keys, values):
            if tuple(key[k] for k in pk) != wanted.get(tuple(value), tuple(key[k] for k in pk)):
                raise errors.DuplicateError(
                    f"replace would overwrite another row of {table.full_table_name}: "
                    f"{dict(zip(cols, value))} already belongs to {key}")


def conflict_clause(table: TableRef, names: list[str], mode: str) -> str:
    """What to do with rows whose key exists: 'skip' keeps the existing row; 'replace'
    overwrites it entirely — attributes the new row leaves out return to their default
    (like SQL ``REPLACE``, but without deleting the row, so children stay intact)."""
    if mode == "error":
        return ""
    backend, pk = table.connection.backend, table.heading.table_key
    q = backend.quote
    sets: list[str] = []
    if mode == "replace":
        sets = [f"{q(nm)} = {backend.new_value_sql(nm)}" for nm in names if nm not in pk]
        sets += [f"{q(a.name)} = {backend.default_value_sql(a)}" for a in table.heading.values()
                 if a.name not in names and not a.in_key and not a.autoincrement]
    return backend.upsert_clause(table.full_table_name, pk, sets)


def _copy(conn: Any, target: str, names: list[str], rows: list) -> None:
    cols = ", ".join(conn.backend.quote(c) for c in names)
    conn.copy_rows(f"COPY {target} ({cols}) FROM STDIN", rows)


def named_data_error(table: TableRef, exc: errors.DataError) -> errors.DataError:
    """A DataError worded by the database, reworded to name the table and (when the message
    lets us find it) the attribute. Values are checked before they are sent, so this is the
    fallback for what only the database can see."""
    text, where, cause = str(exc), str(table.full_table_name), exc.__cause__
    if where in text or cause is None or isinstance(cause, errors.JoinflowError) or \
            type(cause).__module__.split(".")[0] not in ("sqlite3", "psycopg", "pymysql"):
        return exc  # already worded by joinflow
    for name in table.heading.names:
        if re.search(rf"""(?:^|[\s.("'`]){re.escape(name)}(?:$|[\s)"'`])|_{re.escape(name)}_check""",
                     text):
            return errors.DataError(f"invalid value for attribute `{name}` of {where}: {text}")
    return errors.DataError(f"invalid value for {where}: {text}")


def insert_rows(table: TableRef, rows: Any, *, mode: str = "error", ignore_extra_fields: bool = False,
                chunk_size: int | None = None) -> None:
    try:
        if mode != "replace" and (rows.__class__ is tuple or rows.__class__ is list) and \
                len(rows) == 1 and rows[0].__class__ is dict and _insert_one(table, rows[0], mode):
            return
        _insert_rows(table, rows, mode, ignore_extra_fields, chunk_size)
    except errors.DataError as exc:
        err = named_data_error(table, exc)
        if err is exc:
            raise
        raise err from exc
    except errors.DuplicateError as exc:
        if mode != "error" or "skip_duplicates" in str(exc):
            raise
        raise errors.DuplicateError(
            f"{exc}\nTo ignore duplicate entries in insert, set skip_duplicates=True") from exc


def _insert_rows(table: TableRef, rows: Any, mode: str, ignore_extra_fields: bool,
                 chunk_size: int | None) -> None:
    from .expression import QueryExpression
    if isinstance(rows, type) and issubclass(rows, QueryExpression):
        rows = rows()
    if isinstance(rows, QueryExpression):
        if chunk_size is not None:
            raise errors.JoinflowError("chunk_size is not supported for QueryExpression inserts: "
                                       "INSERT ... SELECT runs as one statement on the server")
        return insert_select(table, rows, mode, ignore_extra_fields)
    if isinstance(rows, collections.abc.Iterator):
        rows = list(rows)
    if chunk_size and any(a.spec.store is not None for a in table.heading.values()):
        # objects are uploaded per chunk, so that a failing chunk removes its own objects
        # only (never those of the chunks committed before it)
        names, cols = normalize(table, rows)
        if names:
            each = [dict(zip(names, r)) for r in zip(*cols)]
            for i in range(0, len(each), chunk_size):
                _insert_rows(table, each[i:i + chunk_size], mode, ignore_extra_fields, None)
            return
    pending = Pending()
    names, cols = prepare(table, rows, ignore_extra_fields, pending)
    conn = table.connection
    if not names and _count_empty_rows(rows):  # rows of defaults only, e.g. [{}, {}]
        _check_missing(table, [], empty_row=True)
        groups: list[tuple[list, list]] = [([], [()] * _count_empty_rows(rows))]
    elif not cols or not cols[0]:
        return
    else:
        groups = _groups(table, names, cols)
    created, claimed = _write_objects(conn, pending, table.database)
    try:
        _write_rows(table, conn, groups, pending, created, mode, chunk_size)
    finally:
        release_pending(claimed)


def _write_rows(table: TableRef, conn: Any, groups: list, pending: Pending, created: list,
                mode: str, chunk_size: int | None) -> None:
    owning = mode != "error" and bool(objectstores.schema_addressed_attrs(table.heading))
    if not chunk_size and not owning and _one_statement(conn, groups, pending, created):
        _write(table, groups[0][0], groups[0][1], mode)  # atomic by itself
        return
    if not chunk_size:
        with conn.transaction:
            _guard(conn, created)
            _write_tracking_rows(conn, pending.rows)
            for gnames, grows in groups:
                if owning:
                    _superseded(table, gnames, grows, mode)
                _write(table, gnames, grows, mode)
        return
    for gnames, grows in groups:
        for i in range(0, len(grows), chunk_size):
            with conn.transaction:
                _guard(conn, created)
                _write_tracking_rows(conn, pending.rows)
                if owning:
                    _superseded(table, gnames, grows[i:i + chunk_size], mode)
                _write(table, gnames, grows[i:i + chunk_size], mode)


def _superseded(table: TableRef, names: list[str], rows: list, mode: str) -> None:
    """Inside the rows' transaction, before they are written: the schema-addressed objects
    this write leaves without a row — with ``replace`` the objects of the rows it overwrites,
    with ``skip_duplicates`` the new objects of the rows it skips — are removed once the
    transaction commits (unless a row holds them then; a rollback removes nothing)."""
    conn, attrs = table.connection, objectstores.schema_addressed_attrs(table.heading)
    if mode == "skip":
        at = [names.index(a.name) if a.name in names else None for a in attrs]
        # (driver values: PostgreSQL's JSON adapter wraps the metadata, ``.obj`` holds it)
        values = [tuple(None if j is None else getattr(r[j], "obj", r[j]) for j in at)
                  for r in rows]
        objectstores.remove_after_commit(
            conn, objectstores.owned_by_values(attrs, values, table.database, table.table_name))
        return
    pk = table.primary_key
    if not pk or any(k not in names for k in pk):
        return
    at = [names.index(k) for k in pk]
    _remove_replaced(table, attrs, [tuple(r[j] for j in at) for r in rows])


def _remove_replaced(table: TableRef, attrs: list, keys: list[tuple]) -> None:
    """The objects of the rows with primary keys ``keys`` (as the INSERT binds them), read
    under a lock and removed once the transaction commits (``replace`` overwrites them)."""
    from .storage.schema_addressed import locking_read
    conn, backend, pk = table.connection, table.connection.backend, table.primary_key
    one = "(" + " AND ".join(f"{backend.quote(k)} = {PH}" for k in pk) + ")"
    cols = ", ".join(backend.quote(a.name) for a in attrs)
    per = max(1, backend.max_params // len(pk))
    for i in range(0, len(keys), per):
        chunk = keys[i:i + per]
        if backend.name == "mysql" and chunk:
            # lock only rows that exist: InnoDB's locking read of a missing key takes a gap
            # lock, and two writers inserting new keys into one gap would deadlock on them
            chunk = list(conn.query(
                f"SELECT {', '.join(backend.quote(k) for k in pk)} FROM "
                f"{table.full_table_name} WHERE " + " OR ".join([one] * len(chunk)),
                [v for key in chunk for v in key]))
        if not chunk:
            continue
        old = conn.query(locking_read(conn, f"SELECT {cols} FROM {table.full_table_name} "
                                            "WHERE " + " OR ".join([one] * len(chunk))),
                         [v for key in chunk for v in key])
        objectstores.remove_after_commit(
            conn, objectstores.owned_by_values(attrs, list(old), table.database,
                                               table.table_name))


class _OnePlan:
    """How a dict with these fields, in this order, is inserted as one row: its statement and
    one converter per field. Made once per heading, mode and field order."""

    __slots__ = ("sql", "converters", "required")

    def __init__(self, sql: str, converters: list, required: frozenset) -> None:
        self.sql, self.converters, self.required = sql, converters, required


def _one_plan(table: TableRef, names: tuple, mode: str) -> _OnePlan | None:
    """The plan for ``insert1`` of a dict with fields ``names``, or None when the general path
    must handle it: unknown fields (an error, or ignored), codec columns (objects, tracking
    rows), required attributes missing (the general path words the error)."""
    heading = table.heading
    if not names or any(nm not in heading for nm in names):
        return None
    attrs = [heading[nm] for nm in names]
    if any(a.codec for a in attrs):
        return None
    try:
        _check_missing(table, list(names))
    except errors.DataError:
        return None
    backend = table.connection.backend
    target = table.full_table_name
    sql = backend.render(backend.insert_sql(target, list(names)) + conflict_clause(
        table, list(names), mode))
    return _OnePlan(sql, [c.one for c in _plain_converters(table, attrs)],  # type: ignore[attr-defined]
                    frozenset(j for j, a in enumerate(attrs) if not a.nullable))


def _insert_one(table: TableRef, row: dict, mode: str) -> bool:
    """``insert1`` of a dict of plain values in one statement, with everything but the values
    kept per heading: the insert of a typical ``make``. False (nothing done) when the general
    path is needed: codecs, missing or unknown fields, a NULL for a required attribute (its
    default, or the error), a transaction that a failed statement would spoil (PostgreSQL
    outside populate)."""
    memo = table.heading.memo
    ident = ("one", tuple(row), mode, table.database, table.table_name)
    plan = memo.get(ident, OMIT)
    if plan is OMIT:
        plan = memo[ident] = _one_plan(table, ident[1], mode)
    if plan is None:
        return False
    conn = table.connection
    if conn.in_transaction and conn.backend.failed_statement_aborts_transaction and \
            not getattr(conn, "_populating", False):
        return False
    values = tuple([one(v) for one, v in zip(plan.converters, row.values())])
    if None in values and any(values[j] is None for j in plan.required):
        return False
    conn.query_raw(plan.sql, values, fetch=False)
    return True


def _one_statement(conn: Any, groups: list, pending: Pending, created: list) -> bool:
    """Whether the rows are written by one statement that needs no transaction or savepoint
    of its own: one row, no tracking rows, no new objects to discard on failure, and either
    no transaction (autocommit) or one that a failed statement leaves usable (MySQL, SQLite;
    on PostgreSQL only inside populate, where a failed insert fails the key anyway).
    insert1 then costs one round trip instead of three (BEGIN/COMMIT or SAVEPOINT/RELEASE)."""
    if len(groups) != 1 or len(groups[0][1]) != 1 or pending.rows or created:
        return False
    if not conn.in_transaction:
        return True
    return not conn.backend.failed_statement_aborts_transaction or \
        bool(getattr(conn, "_populating", False))


def _write_objects(conn: Any, pending: Pending, schema: str) -> tuple[list[ObjectWrite], Any]:
    """Upload the objects the rows need, before any of the rows is written (concurrently;
    content-addressed objects that exist are not written again). First the pending-write
    records that keep garbage collection off them (``storage.pending``). Returns the new
    objects and the records the caller releases after its transaction (None: nothing to do)."""
    if not pending.writes:
        return [], None
    from .storage.pending import claim
    claimed = claim(conn, schema, pending.writes)
    try:
        return objectstores.store_access(conn).put_pending(pending.writes), claimed
    except BaseException:
        release_pending(claimed)
        raise


def release_pending(claimed: Any) -> None:
    """Remove an insert's pending-write records once its rows are committed or rolled back."""
    if claimed is not None:
        from .storage.pending import release
        release(claimed)


def _guard(conn: Any, created: list[ObjectWrite]) -> None:
    """If the current transaction fails, remove the new objects no committed row uses."""
    if created:
        stores = objectstores.store_access(conn)
        conn.on_rollback(lambda: stores.discard(created, conn))


def _write_tracking_rows(conn: Any, tracking: list[RowWrite]) -> None:
    """Rows the values need in tracking tables (DataJoint 0.x ``~external_*``), in the same
    transaction, before the rows that reference them; existing ones are kept."""
    backend, seen = conn.backend, set()
    for rec in tracking:
        names = list(rec.values)
        ident = (rec.schema, rec.table, tuple(repr(rec.values[n]) for n in names))
        if ident in seen:
            continue
        seen.add(ident)
        target = backend.full_name(rec.schema, rec.table)
        sql = backend.insert_sql(target, names) + backend.upsert_clause(target, names[:1], [])
        conn.query(sql, [_tracking_param(backend, rec.values[n]) for n in names])


def _tracking_param(backend: Any, value: Any) -> Any:
    """A tracking-row value as a driver parameter (UUIDs in the backend's uuid form)."""
    if isinstance(value, uuid.UUID):
        return backend.adapter("uuid")(value) if backend.adapter("uuid") else value
    return value


def _count_empty_rows(rows: Any) -> int:
    """How many rows there are when none of them names a field."""
    try:
        return len(rows) if all(isinstance(r, collections.abc.Mapping) and not r
                                for r in rows) else 0
    except TypeError:
        return 0


def insert_select(table: TableRef, query: Any, mode: str, ignore_extra_fields: bool) -> None:
    heading = table.heading
    names = [nm for nm in query.heading.names if nm in heading]
    extra = [nm for nm in query.heading.names if nm not in heading]
    if extra and not ignore_extra_fields:
        raise errors.UnknownAttributeError(f"attribute(s) {extra} not found in {table.full_table_name}; to "
                               "ignore extra attributes in insert, set ignore_extra_fields=True")
    _check_missing(table, names)
    sql, params = query.compile(columns=names)
    backend = table.connection.backend
    stmt = backend.insert_select_sql(table.full_table_name, names, sql, upsert=mode != "error")
    stmt += conflict_clause(table, names, mode)
    conn = table.connection
    attrs = objectstores.schema_addressed_attrs(heading) if mode == "replace" else []
    with conn.transaction:
        if attrs and all(k in names for k in table.primary_key) and table.primary_key:
            _remove_replaced(table, attrs, _target_keys(table, sql, params))
        conn.query(stmt, params)


def _target_keys(table: TableRef, source: str, params: Any) -> list[tuple]:
    """The primary keys of ``table``'s rows that the rows of the query ``source`` overwrite
    (an ``INSERT ... SELECT`` with ``replace``)."""
    backend = table.connection.backend
    pk = ", ".join(backend.quote(k) for k in table.primary_key)
    return [tuple(r) for r in table.connection.query(
        f"SELECT {pk} FROM {table.full_table_name} WHERE ({pk}) IN "
        f"(SELECT {pk} FROM ({source}) AS _jf_source)", params)]


# --------------------------------------------------------------------------- update
def update_row(table: TableRef, key: dict, values: dict) -> None:
    conn, backend = table.connection, table.connection.backend
    heading = table.heading
    sets, params = [], []
    pending = Pending()
    stores = objectstores.stores_if_needed(conn, [heading[nm] for nm in values])
    for name, value in values.items():
        attr = heading[name]
        q = backend.quote(name)
        if value is None and not attr.nullable:
            if attr.default is None:
                raise errors.DataError(f"attribute {name!r} cannot be null and has no default")
            sets.append(f"{q} = {backend.default_value_sql(attr)}")
            continue
        enc = column_encoder(table, attr, pending, stores)
        sets.append(f"{q} = {PH}")
        params.append(_converter(table, attr, enc)([value], [key])[0])
    where = []
    for k, v in key.items():
        where.append(f"{backend.quote(k)} = {PH}")
        params.append(_converter(table, heading[k])([v])[0])
    sql = f"UPDATE {table.full_table_name} SET {', '.join(sets)}"
    if where:  # none for a singleton table: its one row
        sql += f" WHERE {' AND '.join(where)}"
    created, claimed = _write_objects(conn, pending, table.database)
    try:
        with conn.transaction:
            _guard(conn, created)
            _write_tracking_rows(conn, pending.rows)
            replaced = objectstores.owned_by_rows(table & key, list(values)) if stores else []
            conn.query(sql, params)
            objectstores.remove_after_commit(conn, replaced)  # the old schema-addressed objects
    except errors.DataError as exc:
        err = named_data_error(table, exc)
        if err is exc:
            raise
        raise err from exc
    finally:
        release_pending(claimed)


# --------------------------------------------------------------------------- validate
def _check_value(attr: Any, v: Any) -> str | None:
    core = attr.core
    if attr.codec:
        from .codecs.base import registry
        try:
            registry.chain_for(attr.spec)[0][0].validate(v)
        except (TypeError, ValueError) as exc:
            return str(exc)
        return None
    if core in INTEGER_RANGES:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            if not (isinstance(v, float) and v.is_integer()):
                return f"expected an integer, got {v!r}"
        lo, hi = INTEGER_RANGES[core]
        if not lo <= int(v) <= hi:
            return f"{v} is out of range for {core} [{lo}, {hi}]"
    elif core in ("float32", "float64", "decimal") and not isinstance(v, (int, float, np.number)):
        import decimal
        if not isinstance(v, decimal.Decimal):
            return f"expected a number, got {v!r}"
    elif core in ("varchar", "char") and (not isinstance(v, str) or len(v) > attr.spec.args[0]):
        return f"expected a string of at most {attr.spec.args[0]} characters, got {v!r}"
    elif core == "enum" and v not in attr.spec.args:
        return f"{v!r} is not one of {list(attr.spec.args)}"
    elif core == "uuid":
        try:
            v if isinstance(v, uuid.UUID) else uuid.UUID(bytes=v) if isinstance(v, bytes) \
                else uuid.UUID(str(v))
        except (ValueError, TypeError):
            return f"badly formed UUID value {v!r}"
    elif core == "json":
        try:
            json.dumps(v)
        except (TypeError, ValueError) as exc:
            return f"not JSON serializable: {exc}"
    return None


def validate_rows(table: TableRef, rows: Any, *, ignore_extra_fields: bool = False
                  ) -> ValidationResult:
    heading = table.heading
    problems: list[tuple[int, str | None, str]] = []
    try:
        names, cols = normalize(table, rows)
    except errors.DataError as exc:
        return ValidationResult(errors=[(0, None, str(exc))], rows_checked=0)
    nrows = len(cols[0]) if cols else 0
    for nm, col in zip(names, cols):
        if nm not in heading and not ignore_extra_fields:
            for i in [i for i, v in enumerate(col) if v is not None] or [0]:
                problems.append((i, nm, f"attribute {nm!r} is not in the heading"))
    for a in heading.values():
        if a.name not in names and not a.nullable and a.default is None and not a.autoincrement:
            problems.append((0, a.name, f"required attribute {a.name!r} is missing"))
    for nm, col in zip(names, cols):
        if nm not in heading:
            continue
        attr = heading[nm]
        for i, v in enumerate(col):
            v = to_python_scalar(v)
            if v is None or _is_missing(v) or (
                    isinstance(v, float) and math.isnan(v) and not attr.codec
                    and attr.core != "json") or (attr.numeric and isinstance(v, str) and v == ""):
                if not attr.nullable and attr.default is None:
                    problems.append((i, nm, "value is null but the attribute is required"))
                continue
            msg = _check_value(attr, v)
            if msg:
                problems.append((i, nm, msg))
    return ValidationResult(errors=problems, rows_checked=nrows)
