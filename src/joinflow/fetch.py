"""Fetching: run a compiled query, decode columns in bulk (backend converters, then codecs)
and shape the result as dicts, a DataFrame, numpy arrays or a text/HTML preview."""
from __future__ import annotations

import contextlib
import gc
import warnings
from typing import Any, Iterator

import numpy as np

from .algebra.nodes import Top
from .codecs.pipeline import ColumnDecoder, column_decoder
from .errors import QueryError
from . import objectstores



# --------------------------------------------------------------------------- core
def _names(query: Any, attrs: tuple) -> list[str]:
    names = []
    for a in attrs:
        if a == "KEY":
            names += [k for k in query.primary_key if k not in names]
        elif a not in query.heading:
            raise QueryError(f"attribute {a!r} not found in the query")
        elif a not in names:
            names.append(a)
    return names


def _order(order_by: Any) -> tuple:
    if order_by is None:
        return ()
    return (order_by,) if isinstance(order_by, str) else tuple(order_by)


def rows(query: Any, names: list[str] | None = None, order_by: Any = None,
         limit: int | None = None, offset: int | None = None) -> tuple[list[str], list]:
    """Raw rows (driver values) for ``names`` (default: all attributes)."""
    names = list(query.heading.names) if names is None else names
    if offset and limit is None:
        warnings.warn("offset without limit: all rows after the offset are returned", stacklevel=3)
    if order_by is None and (limit is not None or offset):
        # like adding dj.Top(limit, order_by=None): keep a preceding Top's order, else KEY
        node = query.node
        order_by = node.order_by if isinstance(node, Top) else "KEY"
    sql, params = query.compile(order_by=_order(order_by), limit=limit, offset=offset or 0,
                                columns=names)
    heading = query.heading
    binary = any(heading[nm].core == "bytes" for nm in names)  # blobs, attachments, bytes
    return names, query.connection.query(sql, params, binary=binary)


def decoders(query: Any, names: list[str], download_path: str | None = None,
             squeeze: bool = False) -> list[ColumnDecoder | None]:
    """Column decoders for ``names`` (None where the driver value is final)."""
    attrs = [query.heading[nm] for nm in names]
    stores = objectstores.stores_if_needed(query.connection, attrs)
    return [column_decoder(query, a, download_path, squeeze, stores) for a in attrs]


def _columns(raw: list, names: list[str]) -> list[list]:
    """The driver rows as columns; ``raw`` is emptied, so that decoders that work in place
    release each large driver value (a blob) as soon as it is decoded."""
    cols = [list(c) for c in zip(*raw)] if raw else [[] for _ in names]
    raw.clear()
    return cols


def decoded_columns(query: Any, names: list[str], raw: list, **kw: Any) -> list[list]:
    """Column-wise decoded values (``raw`` is consumed)."""
    cols = _columns(raw, names)
    for i, dec in enumerate(decoders(query, names, kw.get("download_path"), kw.get("squeeze", False))):
        if dec is not None:
            cols[i] = dec(cols[i])
    return cols


def _fetch_columns(query: Any, names: list[str], order_by: Any, limit: Any, offset: Any,
                   **kw: Any) -> list[list]:
    names, raw = rows(query, names, order_by, limit, offset)
    return decoded_columns(query, names, raw, **kw)


# --------------------------------------------------------------------------- 2.x API
def to_dicts(self: Any, order_by: Any = None, limit: int | None = None,
             offset: int | None = None, squeeze: bool = False,
             download_path: str | None = None) -> list[dict]:
    """All rows as a list of dicts."""
    names, raw = rows(self, list(self.heading.names), order_by, limit, offset)
    decs = decoders(self, names, download_path, squeeze)
    with _no_gc():
        if not any(decs):  # the common case: build dicts straight from the driver rows
            return [dict(zip(names, r)) for r in raw]
        if not raw:
            return []
        cols = _columns(raw, names)
        for i, dec in enumerate(decs):
            if dec is not None:
                cols[i] = dec(cols[i])
        return [dict(zip(names, r)) for r in zip(*cols)]


ITERATION_BATCH = 1000  # rows decoded at a time while iterating over a query


def iterate(self: Any) -> Iterator[dict]:
    """A generator of the rows as dicts (``for row in query``). The query runs on the first
    ``next()``; codec values are decoded one batch of rows at a time, so stopping early skips
    decoding (and downloading) the rest."""
    names, raw = rows(self)
    decs = decoders(self, names)
    for start in range(0, len(raw), ITERATION_BATCH):
        batch = raw[start:start + ITERATION_BATCH]
        if not any(decs):
            yield from (dict(zip(names, r)) for r in batch)
            continue
        cols = [list(c) for c in zip(*batch)]
        for i, dec in enumerate(decs):
            if dec is not None:
                cols[i] = dec(cols[i])
        yield from (dict(zip(names, r)) for r in zip(*cols))


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while materializing many small objects (it would
    otherwise run many times over objects that cannot be garbage). Process-wide, but brief."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def to_pandas(self: Any, order_by: Any = None, limit: int | None = None,
              offset: int | None = None, squeeze: bool = False,
              download_path: str | None = None) -> Any:
    """A DataFrame indexed by the primary key."""
    import pandas as pd
    names, raw = rows(self, list(self.heading.names), order_by, limit, offset)
    with _no_gc():
        df = pd.DataFrame.from_records(raw, columns=names, coerce_float=False)
        for i, dec in enumerate(decoders(self, names, download_path, squeeze)):
            if dec is not None and raw:  # decode the driver values (pandas would turn NULL to NaN)
                values = dec([r[i] for r in raw])
                df[names[i]] = pd.Series(values, dtype=_series_dtype(values), index=df.index)
    if self.primary_key:
        df = df.set_index(self.primary_key)
    return df


def _computed_dtype(values: list) -> Any:
    """A numeric dtype for a computed attribute when its values allow one (else object):
    ints -> int64; floats (or ints and floats, NULL as NaN) -> float64."""
    kinds = {type(v) for v in values}
    if not values or not kinds <= {int, float, type(None), np.int64, np.float64}:
        return object
    if kinds <= {int, np.int64}:
        return np.dtype(np.int64)
    if kinds & {float, np.float64}:
        return np.dtype(np.float64)
    return object


def _series_dtype(values: list) -> Any:
    """bool for a NULL-free boolean column, else object (keeps None, dates, arrays, paths)."""
    if values and all(type(v) is bool for v in values):
        return bool
    return object


def _dtype(attr: Any, values: list) -> Any:
    core = attr.core
    if (core == "computed" or attr.expression is not None) and not attr.codec and \
            core not in ("date", "datetime", "timestamp", "time", "decimal", "uuid", "json"):
        return _computed_dtype(values)
    if attr.codec or attr.nullable and not core.startswith("float"):
        return object
    if core.startswith(("int", "uint")):
        return np.dtype(core)
    if core in ("float32", "float64"):
        return np.dtype(core)
    if core == "bool":
        return np.dtype(bool)
    return object


def _named_array(attr: Any, values: list) -> np.ndarray:
    """A column fetched by name (``to_arrays('a')``, ``fetch('a')``): as :func:`_array`, but
    NULL-free text comes back as a numpy string array (``<U..``), as DataJoint returns it."""
    if values and not attr.codec and attr.core in ("varchar", "char", "enum") and \
            all(type(v) is str for v in values):
        return np.array(values)
    return _array(attr, values)


def _array(attr: Any, values: list) -> np.ndarray:
    dt = _dtype(attr, values)
    if dt is object:
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr
    if np.dtype(dt).kind == "f":
        values = [np.nan if v is None else v for v in values]
    return np.array(values, dtype=dt)


def to_arrays(self: Any, *attrs: str, include_key: bool = False, order_by: Any = None,
              limit: int | None = None, offset: int | None = None, squeeze: bool = False,
              download_path: str | None = None) -> Any:
    """No names: a structured array; names: a tuple of arrays (keys first if include_key)."""
    if not attrs:
        names = list(self.heading.names)
        cols = _fetch_columns(self, names, order_by, limit, offset, squeeze=squeeze,
                              download_path=download_path)
        arrays = [_array(self.heading[nm], c) for nm, c in zip(names, cols)]
        dtype = [(nm, a.dtype) for nm, a in zip(names, arrays)]
        out = np.empty(len(cols[0]) if cols else 0, dtype=dtype)
        for nm, a in zip(names, arrays):
            out[nm] = a
        return out
    names = _names(self, attrs)
    pk = self.primary_key if include_key else []
    all_names = names + [k for k in pk if k not in names]
    by_name = dict(zip(all_names, _fetch_columns(self, all_names, order_by, limit, offset,
                                                 squeeze=squeeze, download_path=download_path)))
    selected = tuple(_named_array(self.heading[nm], by_name[nm]) for nm in names)
    if include_key:
        keys_list = [dict(zip(pk, r)) for r in zip(*(by_name[k] for k in pk))]
        return (keys_list, *selected)
    return selected[0] if len(selected) == 1 else selected


# --------------------------------------------------------------------------- Arrow / polars
def _optional(module: str, extra: str, method: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{method}() needs {module}, which is not installed: "
                          f"pip install 'joinflow[{extra}]' (or pip install {module})") from exc


def _arrow_type(pa: Any, attr: Any) -> Any:
    """The Arrow type of a column of ``attr``, or None to let pyarrow infer it."""
    core = attr.core
    if attr.codec or attr.expression is not None or core == "computed":
        return None
    if core.startswith(("int", "uint")) and core[-1].isdigit():
        return getattr(pa, core)()
    fixed = {"float32": pa.float32, "float64": pa.float64, "bool": pa.bool_, "varchar": pa.string,
             "char": pa.string, "enum": pa.string, "date": pa.date32,
             "datetime": lambda: pa.timestamp("us"), "timestamp": lambda: pa.timestamp("us"),
             "time": lambda: pa.duration("us"), "uuid": getattr(pa, "uuid", None)}
    make = fixed.get(core)
    return make() if make else None


def _arrow_column(pa: Any, attr: Any, values: list) -> Any:
    typ = _arrow_type(pa, attr)
    if attr.core == "uuid" and typ is not None:
        values = [None if v is None else v.bytes for v in values]
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        if attr.core == "json":  # heterogeneous documents: JSON text
            import json
            return pa.array([None if v is None else json.dumps(v, default=_as_json) for v in values],
                            pa.string())
        raise QueryError(f"attribute {attr.name!r} cannot be converted to Arrow ({exc}); "
                         "fetch it with to_dicts() or to_pandas()") from exc


def _as_json(value: Any) -> Any:
    """A decoded codec value (an ``ObjectRef``) as its stored metadata, for JSON text."""
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_arrow(self: Any, order_by: Any = None, limit: int | None = None,
             offset: int | None = None, squeeze: bool = False,
             download_path: str | None = None) -> Any:
    """All rows as a ``pyarrow.Table`` (columns typed from the heading, also when empty).
    Needs the ``arrow`` extra."""
    pa = _optional("pyarrow", "arrow", "to_arrow")
    names = list(self.heading.names)
    cols = _fetch_columns(self, names, order_by, limit, offset, squeeze=squeeze,
                          download_path=download_path)
    arrays = [_arrow_column(pa, self.heading[nm], c) for nm, c in zip(names, cols)]
    return pa.Table.from_arrays(arrays, names=names)


def to_polars(self: Any, order_by: Any = None, limit: int | None = None,
              offset: int | None = None, squeeze: bool = False,
              download_path: str | None = None) -> Any:
    """All rows as a ``polars.DataFrame`` (UUIDs as text: polars has no UUID type).
    Needs the ``polars`` extra."""
    pl = _optional("polars", "polars", "to_polars")
    _optional("pyarrow", "polars", "to_polars")
    table = to_arrow(self, order_by=order_by, limit=limit, offset=offset, squeeze=squeeze,
                     download_path=download_path)
    import pyarrow as pa
    for i, nm in enumerate(table.column_names):
        if self.heading[nm].core == "uuid" and self.heading[nm].expression is None:
            text = pa.array([None if v is None else str(v) for v in table.column(i).to_pylist()],
                            pa.string())
            table = table.set_column(i, nm, text)
    return pl.from_arrow(table)


def keys(self: Any, order_by: Any = None, limit: int | None = None,
         offset: int | None = None, **_: Any) -> list[dict]:
    """Primary key values as a list of dicts."""
    pk = self.primary_key
    if not pk:  # a singleton table (or a query without key): an empty key per row
        return [{} for _ in range(len(self if limit is None and not offset else
                                      self.to_dicts(limit=limit, offset=offset)))]
    cols = _fetch_columns(self, pk, order_by, limit, offset)
    with _no_gc():  # (many small dicts: the collector would walk the heap over and over)
        return [dict(zip(pk, r)) for r in zip(*cols)] if cols[0] else []


def fetch1(self: Any, *attrs: str, squeeze: bool = False,
           download_path: str | None = None, as_dict: bool | None = None) -> Any:
    """Exactly one row: a dict, or the named values (one value or a tuple). ``as_dict=True``
    (DataJoint 0.12 documentation): the row as a dict, of the named attributes if any."""
    names = list(self.heading.names) if not attrs else _names(self, attrs)
    _, raw = rows(self, names, limit=2)
    if len(raw) != 1:
        count = len(self) if raw else 0
        raise QueryError(f"fetch1 requires exactly one row, but the query has {count} rows")
    cols = decoded_columns(self, names, raw, squeeze=squeeze, download_path=download_path)
    row = dict(zip(names, (c[0] for c in cols)))
    if not attrs:
        return row
    if as_dict:
        return {k: row[k] for k in names}
    values = [{k: row[k] for k in self.primary_key} if a == "KEY" else row[a] for a in attrs]
    return values[0] if len(values) == 1 else tuple(values)


def head(self: Any, limit: int = 25, **kw: Any) -> list[dict]:
    return to_dicts(self, order_by="KEY", limit=limit, **kw)


def tail(self: Any, limit: int = 25, **kw: Any) -> list[dict]:
    desc = [f"{k} DESC" for k in self.primary_key]
    return list(reversed(to_dicts(self, order_by=desc, limit=limit, **kw)))


def cursor(self: Any, as_dict: bool = False) -> Any:
    names, raw = rows(self)
    return [dict(zip(names, r)) for r in raw] if as_dict else raw


# --------------------------------------------------------------------------- legacy fetch
def fetch(self: Any, *attrs: str, offset: int | None = None, limit: int | None = None,
          order_by: Any = None, format: str | None = None, as_dict: bool | None = None,
          squeeze: bool = False, download_path: str | None = None) -> Any:
    """DataJoint's ``fetch``: a record array by default; ``as_dict=True`` dicts;
    ``format='frame'`` a DataFrame; attribute names give arrays (``'KEY'`` gives key dicts)."""
    kw = dict(order_by=order_by, limit=limit, offset=offset, squeeze=squeeze,
              download_path=download_path)
    if format is not None and (attrs or as_dict):
        raise QueryError("cannot specify output format when as_dict=True or when attributes "
                         "are selected to be fetched separately")
    if format not in (None, "array", "frame"):
        raise QueryError(f'fetch output format must be "array" or "frame", not {format!r} '
                         '(use to_arrow() or to_polars() for Arrow tables and polars DataFrames)')
    if not attrs:
        if as_dict:
            return to_dicts(self, **kw)
        fmt = format or self.connection.config["fetch_format"]
        return to_pandas(self, **kw) if fmt == "frame" else to_arrays(self, **kw)
    names = _names(self, attrs)
    cols = dict(zip(names, _fetch_columns(self, names, order_by, limit, offset, squeeze=squeeze,
                                          download_path=download_path)))
    if as_dict:
        return [dict(zip(names, r)) for r in zip(*(cols[nm] for nm in names))]
    out: list[np.ndarray | list[dict]] = []  # returned as a tuple, as DataJoint's
    for a in attrs:
        if a == "KEY":
            pk = self.primary_key
            out.append([dict(zip(pk, r)) for r in zip(*(cols[k] for k in pk))])
        else:
            out.append(_named_array(self.heading[a], cols[a]))
    return out[0] if len(out) == 1 else tuple(out)


# --------------------------------------------------------------------------- preview
def _cell(value: Any, width: int) -> str:
    if isinstance(value, (bytes, bytearray)) or isinstance(value, np.ndarray):
        text = "=BLOB="
    elif value is None:
        text = "None"
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _preview_rows(query: Any, limit: int | None) -> tuple[list[str], list, int]:
    cfg = query.connection.config
    limit = limit or cfg["display.limit"]
    names = list(query.heading.names)
    plain = [nm for nm in names if not query.heading[nm].codec]
    _, raw = rows(query, plain, limit=limit)  # Top's own order is kept, else KEY order
    total = len(query) if len(raw) >= limit else len(raw)
    count = len(raw)
    cols = decoded_columns(query, plain, raw)  # plain columns only: converters, no codecs
    idx = {nm: i for i, nm in enumerate(plain)}
    table = [[cols[idx[nm]][j] if nm in idx else b"" for nm in names] for j in range(count)]
    return names, table, total


def preview(query: Any, limit: int | None = None) -> str:
    width = query.connection.config["display.width"]
    names, table, total = _preview_rows(query, limit)
    pk = set(query.primary_key)
    head = ["*" + nm if nm in pk else nm for nm in names]
    cells = [[_cell(v, width) for v in r] for r in table]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    if total > len(table):
        lines.append(" ...")
    lines.append(f" (Total: {total})")
    return "\n".join(lines) + "\n"  # ends with a newline, as DataJoint's


def preview_html(query: Any) -> str:
    import html
    width = query.connection.config["display.width"]
    names, table, total = _preview_rows(query, None)
    pk = set(query.primary_key)
    th = "".join(f"<th>{'<b>' if nm in pk else ''}{html.escape(nm)}{'</b>' if nm in pk else ''}</th>"
                 for nm in names)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v, width))}</td>" for v in r) + "</tr>"
                  for r in table)
    more = "<p>...</p>" if total > len(table) else ""
    return (f"{_HTML_STYLE}<div class=\"joinflow-query\"><table><thead><tr>{th}</tr></thead>"
            f"<tbody>{trs}</tbody></table>{more}<p>Total: {total}</p></div>")


# notebooks show ``_repr_html_``: the style block comes first, as in DataJoint
_HTML_STYLE = ("<style type=\"text/css\">"
               ".joinflow-query table{border-collapse:collapse;font-size:90%}"
               ".joinflow-query th,.joinflow-query td{padding:2px 8px;text-align:left;"
               "border-bottom:1px solid #ddd}"
               ".joinflow-query th{background:#eee}"
               "</style>")
