"""Turn the things users restrict by (dicts, strings, lists, queries, records, DataFrames,
``AndList``, ``Not``, bools) into condition nodes."""
from __future__ import annotations

import collections.abc
import re
from typing import Any

import numpy as np

from .algebra import nodes as n
from .errors import QueryArgumentError, QueryError, UnknownAttributeError
from .heading import Heading


class AndList(list):
    """A list of conditions that must all hold (a plain list means any one)."""


class Not:
    """Negates a restriction: ``q & dj.Not(cond)`` is ``q - cond``."""

    def __init__(self, restriction: Any) -> None:
        self.restriction = restriction


class Top:
    """``q & dj.Top(limit, order_by, offset)``: the first rows in an order."""

    def __init__(self, limit: int | None = 1, order_by: str | list | None = "KEY",
                 offset: int = 0) -> None:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise QueryArgumentError("Top limit must be an integer")
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise QueryArgumentError("The offset argument must be an integer")
        order: tuple[str, ...] | None = None
        if order_by is not None:  # None: inherit a preceding Top's order, else KEY
            if not isinstance(order_by, (str, list, tuple)):
                raise QueryArgumentError("Top order_by must be a string or a list of strings")
            names = [order_by] if isinstance(order_by, str) else list(order_by)
            if not all(isinstance(o, str) for o in names):
                raise QueryArgumentError("Top order_by attributes must all be strings")
            order = tuple(names)
        self.limit, self.order_by, self.offset = limit, order, offset

    def __repr__(self) -> str:
        order = None if self.order_by is None else list(self.order_by)
        return f"Top(limit={self.limit!r}, order_by={order!r}, offset={self.offset!r})"


_PATH_PART = re.compile(r"\.?([A-Za-z_][\w]*)|\[(\d+)\]")


def json_path(key: str, heading: Heading) -> tuple[str, tuple] | None:
    """``'params.a[0].b'`` -> ``('params', ('a', 0, 'b'))`` when params is a json attribute."""
    attr, _, rest = key.partition(".")
    if "[" in attr:
        attr, bracket, tail = attr.partition("[")
        rest = bracket + tail + ("." + rest if rest else "")
    if attr not in heading or heading[attr].core != "json" or not rest:
        return None
    parts, pos, rest = [], 0, "." + rest if not rest.startswith("[") else rest
    for m in _PATH_PART.finditer(rest):
        if m.start() != pos:
            return None
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return (attr, tuple(parts)) if pos == len(rest) else None


def dict_condition(mapping: collections.abc.Mapping, heading: Heading) -> n.Cond:
    items = tuple((k, v, heading[k].spec) for k, v in mapping.items()
                  if k in heading and not heading[k].codec)
    paths = []
    for k, v in mapping.items():
        found = json_path(k, heading) if isinstance(k, str) and k not in heading else None
        if found:
            paths.append(n.JsonPathCond(found[0], found[1], v))
    if paths:
        return n.AndCond(((n.EqCond(items),) if items else ()) + tuple(paths))
    return n.EqCond(items) if items else n.TrueCond()


def make_condition(arg: Any, heading: Heading, semantic_check: bool = True) -> n.Cond:
    """The condition node for one restriction argument."""
    from .expression import QueryExpression, U
    if isinstance(arg, type) and issubclass(arg, QueryExpression):
        arg = arg()
    if isinstance(arg, bool) or isinstance(arg, np.bool_):
        return n.TrueCond() if arg else n.FalseCond()
    if isinstance(arg, str):
        check_fragment_names(arg, heading)
        return n.SqlCond(arg)
    if isinstance(arg, U):
        return n.TrueCond()
    if isinstance(arg, QueryExpression):
        on = n.shared_attributes(heading, arg.heading, semantic_check)
        return n.QueryCond(arg.node, on)
    if isinstance(arg, Not):
        return n.NotCond(make_condition(arg.restriction, heading, semantic_check))
    if isinstance(arg, collections.abc.Mapping):
        return dict_condition(arg, heading)
    if isinstance(arg, np.void):
        return dict_condition({k: arg[k] for k in arg.dtype.names or ()}, heading)
    if isinstance(arg, AndList):
        return n.AndCond(tuple(make_condition(a, heading, semantic_check) for a in arg))
    if _is_dataframe(arg):
        records = [{k: None if _is_missing(v) else v for k, v in r.items()}
                   for r in arg.reset_index().to_dict("records")]
        return make_condition(records, heading, semantic_check)
    if isinstance(arg, np.ndarray) and arg.dtype.names:
        return make_condition(list(arg), heading, semantic_check)
    if isinstance(arg, Top):
        raise QueryError(f"Invalid restriction type {arg!r}: dj.Top cannot be combined inside a "
                         "list or AndList; apply it with its own &")
    if isinstance(arg, (list, tuple, set, frozenset, collections.abc.Iterator)):
        conds = tuple(make_condition(a, heading, semantic_check) for a in arg)
        if any(isinstance(c, n.TrueCond) for c in conds):
            return n.TrueCond()
        return n.OrCond(tuple(c for c in conds if not isinstance(c, n.FalseCond)))
    raise QueryError(f"invalid restriction type {type(arg).__name__}: {arg!r}")


def check_fragment_names(text: str, heading: Heading) -> None:
    """Fail early (at restriction time) when a SQL condition names an unknown attribute.
    A table's hidden attributes (e.g. ``_job_duration``) may be named, as in DataJoint."""
    from .algebra.sqlfrag import referenced_columns
    names = set(heading.names) | {a.name for a in heading.hidden}
    lower = {nm.lower() for nm in names}
    for col in sorted(referenced_columns(text)):
        if col not in names and col.lower() not in lower:
            raise UnknownAttributeError(f"attribute {col!r} is not found in query (condition {text!r}); "
                             f"available: {', '.join(heading.names)}")


def _is_missing(value: Any) -> bool:
    """NaN/NaT/NA that pandas puts where the fetched value was NULL."""
    if value is None or isinstance(value, (str, bytes)):
        return False
    try:
        import pandas as pd
        result = pd.isna(value)
    except (ImportError, TypeError, ValueError):
        return False
    return result is True or isinstance(result, np.bool_) and bool(result)


def _is_dataframe(arg: Any) -> bool:
    return type(arg).__name__ == "DataFrame" and hasattr(arg, "reset_index")
