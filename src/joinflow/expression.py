"""QueryExpression: the user-facing relational algebra (restrict, join, proj, aggr, union,
U, Top) over immutable nodes, plus the fetch methods. Compilation is delegated to
``algebra.compiler`` and decoding to ``fetch``.
"""
from __future__ import annotations

from typing import Any, Iterator

from . import fetch as _fetch
from .algebra import nodes as n
from .algebra.compiler import compile_query
from .condition import Top, make_condition
from .errors import QueryError, UnknownAttributeError
from .heading import Heading


class QueryExpression:
    """An immutable query over one connection."""

    _node: n.Node | None = None
    _connection: Any = None

    @classmethod
    def _from(cls, node: n.Node, connection: Any) -> "QueryExpression":
        q = QueryExpression.__new__(QueryExpression)
        q._node, q._connection = node, connection
        return q

    # -- basics ---------------------------------------------------------------
    @property
    def node(self) -> n.Node:
        if self._node is None:  # a bare ``QueryExpression()``: tables override this property
            raise AttributeError("this QueryExpression has no query")
        return self._node

    @property
    def connection(self) -> Any:
        return self._connection

    @property
    def heading(self) -> Heading:
        return self.node.heading

    @property
    def primary_key(self) -> list[str]:
        return self.heading.primary_key

    def _check_same(self, other: "QueryExpression") -> None:
        if other.connection is not self.connection:
            raise QueryError("cannot combine queries from different connections")

    def make_sql(self, **kwargs: Any) -> str:
        """The SQL text (with the driver's placeholders) this query compiles to."""
        sql, _ = self.compile(**kwargs)
        return self.connection.backend.render(sql)

    @property
    def sql(self) -> str:
        return self.make_sql()

    def compile(self, **kwargs: Any) -> tuple[str, list]:
        return compile_query(self.node, self.connection.backend, **kwargs)

    # -- restriction -------------------------------------------------------------
    def restrict(self, restriction: Any, semantic_check: bool = True) -> "QueryExpression":
        if isinstance(restriction, Top):
            order = restriction.order_by
            if order is None:
                order = self.node.order_by if isinstance(self.node, n.Top) else ("KEY",)
            _check_order(order, self.heading)
            return self._from(n.Top(self.node, restriction.limit, order, restriction.offset),
                              self.connection)
        if isinstance(restriction, QueryExpression):
            self._check_same(restriction)
        cond = make_condition(restriction, self.heading, semantic_check)
        return self._from(n.Restrict(self.node, cond), self.connection)

    def __and__(self, restriction: Any) -> "QueryExpression":
        return self.restrict(restriction)

    def __sub__(self, restriction: Any) -> "QueryExpression":
        from .condition import Not
        if isinstance(restriction, Top):
            raise QueryError("dj.Top cannot be subtracted")
        return self.restrict(Not(restriction))

    def __xor__(self, other: Any) -> "QueryExpression":
        raise QueryError("the ^ operator was removed in DataJoint 2.0; use "
                         ".restrict(other, semantic_check=False)")

    def __matmul__(self, other: Any) -> "QueryExpression":
        raise QueryError("the @ operator was removed in DataJoint 2.0; use "
                         ".join(other, semantic_check=False)")

    # -- join ----------------------------------------------------------------
    def join(self, other: Any, semantic_check: bool = True, left: bool = False) -> "QueryExpression":
        other = _as_query(other)
        if isinstance(other, U):
            return other * self
        self._check_same(other)
        node = n.make_join(self.node, other.node, outer=left, semantic_check=semantic_check)
        return self._from(node, self.connection)

    def __mul__(self, other: Any) -> "QueryExpression":
        return self.join(other)

    def __rmul__(self, other: Any) -> "QueryExpression":
        return _as_query(other).join(self)

    def extend(self, other: Any, semantic_check: bool = True) -> "QueryExpression":
        return self.join(other, semantic_check=semantic_check, left=True)

    # -- projection --------------------------------------------------------------
    def proj(self, *attributes: Any, **named: str) -> "QueryExpression":
        node = make_proj(self.node, attributes, named)
        return self._from(node, self.connection)

    # -- aggregation -------------------------------------------------------------
    def aggr(self, group: Any, *attributes: Any, exclude_nonmatching: bool | None = None,
             keep_all_rows: bool | None = None, **named: str) -> "QueryExpression":
        group = _as_query(group)
        self._check_same(group)
        keep = True
        if exclude_nonmatching is not None:
            keep = not exclude_nonmatching
        elif keep_all_rows is not None:
            keep = bool(keep_all_rows)
        missing = [k for k in self.primary_key if k not in group.heading]
        if missing:
            raise QueryError(f"aggregation requires the group to contain the primary key of the "
                             f"grouping expression; missing: {missing}")
        on = n.shared_attributes(self.heading, group.heading)
        grouped = _make_aggr(self.node, group.node, on, named, keep)
        # the result: A's primary key, the attributes of A listed (``...``: all), the aggregates
        node = make_proj(grouped, tuple(attributes) + tuple(named), {})
        return self._from(node, self.connection)

    aggregate = aggr

    # -- union -----------------------------------------------------------------
    def __add__(self, other: Any) -> "QueryExpression":
        other = _as_query(other)
        self._check_same(other)
        return self._from(make_union_node(self.node, other.node), self.connection)

    # -- fetch -----------------------------------------------------------------
    to_dicts = _fetch.to_dicts
    to_pandas = _fetch.to_pandas
    to_arrays = _fetch.to_arrays
    to_arrow = _fetch.to_arrow
    to_polars = _fetch.to_polars
    keys = _fetch.keys
    fetch = _fetch.fetch
    fetch1 = _fetch.fetch1
    head = _fetch.head
    tail = _fetch.tail
    cursor = _fetch.cursor

    def __len__(self) -> int:
        sql, params = self.compile(count=True)
        return int(self.connection.query(sql, params)[0][0])

    def __bool__(self) -> bool:
        sql, params = self.compile(limit=1, columns=[])
        return bool(self.connection.query(sql, params))

    def __iter__(self) -> Iterator[dict]:
        """The rows as dicts, lazily: the query runs when iteration starts and values are
        decoded (blobs, attachments, objects) a batch of rows at a time."""
        return _fetch.iterate(self)

    def __contains__(self, item: Any) -> bool:
        return bool(self & item)

    def __repr__(self) -> str:
        return _fetch.preview(self)

    def _repr_html_(self) -> str:
        return _fetch.preview_html(self)

    def preview(self, limit: int | None = None) -> str:
        return _fetch.preview(self, limit)


class U:
    """The universal set: ``dj.U('a') & q`` (distinct values), ``dj.U('a').aggr(q, ...)``
    (group by ``a``), ``dj.U().aggr(q, n='count(*)')`` (one row)."""

    def __init__(self, *names: str) -> None:
        self.names = tuple(names)

    def __and__(self, query: Any) -> QueryExpression:
        query = _as_query(query)
        if not isinstance(query, QueryExpression):
            raise QueryError("dj.U can only be restricted with a query")
        _check_names(self.names, query.heading)
        heading = query.heading.select(list(self.names)).with_key(list(self.names))
        return QueryExpression._from(n.Distinct(query.node, self.names, heading), query.connection)

    __rand__ = __and__

    def __mul__(self, query: Any) -> QueryExpression:
        query = _as_query(query)
        _check_names(self.names, query.heading)
        key = query.primary_key + [a for a in self.names if a not in query.primary_key]
        return QueryExpression._from(n.Rekey(query.node, query.heading.with_key(key)),
                                     query.connection)

    __rmul__ = __mul__

    def __sub__(self, other: Any) -> None:
        raise QueryError("dj.U(...) - query produces an infinite set and is not supported")

    def aggr(self, group: Any, exclude_nonmatching: bool | None = None,
             keep_all_rows: bool | None = None, **named: str) -> QueryExpression:
        if exclude_nonmatching is False or keep_all_rows:
            raise QueryError("cannot keep all rows when aggregating on a universal set")
        group = _as_query(group)
        _check_names(self.names, group.heading)
        heading = group.heading.select(list(self.names)).with_key(list(self.names))
        unode = n.UGroup(self.names, heading)
        node = _make_aggr(unode, group.node, self.names, named, False)
        return QueryExpression._from(node, group.connection)

    aggregate = aggr

    @property
    def primary_key(self) -> list[str]:
        return list(self.names)


def _check_order(order: tuple, heading: Heading) -> None:
    """Validate order_by terms ('attr', 'attr DESC', 'KEY', 'KEY DESC', comma lists)."""
    for item in order:
        for part in str(item).split(","):
            words = part.strip().split()
            if not words:
                continue
            if len(words) > 2 or len(words) == 2 and words[1].upper() not in ("ASC", "DESC"):
                raise QueryError(f"invalid order_by term {part.strip()!r}: use 'attr', "
                                 f"'attr DESC' or 'KEY DESC'")
            name = words[0].strip('`"')
            if words[0].upper() != "KEY" and name not in heading:
                raise QueryError(f"order_by: attribute {name!r} not found in the query")


def _check_names(names: tuple, heading: Heading) -> None:
    for a in names:
        if a not in heading:
            raise UnknownAttributeError(f"attribute {a!r} not found in the query")


def _as_query(obj: Any) -> Any:
    if isinstance(obj, type) and issubclass(obj, QueryExpression):
        return obj()
    if isinstance(obj, (QueryExpression, U)):
        return obj
    raise QueryError(f"expected a query expression, got {type(obj).__name__}")


def make_proj(node: n.Node, attributes: tuple, named: dict) -> n.Proj:
    """Projection: primary key always kept (unless renamed); ``...`` keeps all; ``'-a'`` drops."""
    heading = node.heading
    for a in attributes:
        if not isinstance(a, str) and a is not Ellipsis:
            raise QueryError(f"{a!r} is not a valid attribute name for proj")
    keep_all = Ellipsis in attributes
    excluded = {a[1:].strip() for a in attributes if isinstance(a, str) and a.startswith("-")}
    wanted = [a for a in attributes if isinstance(a, str) and not a.startswith("-")]
    for a in list(excluded) + wanted:
        if a not in heading:
            raise UnknownAttributeError(f"attribute {a!r} not found")
    for a in excluded:
        if heading[a].in_key:
            raise QueryError(f"cannot exclude primary key attribute {a!r}")
    clash = [a for a in wanted if a in named]
    if clash:
        raise QueryError(f"attribute {clash[0]!r} already exists: it is both kept and defined "
                         "by proj")
    renames: dict[str, list[str]] = {}  # source attribute -> new names, in call order
    for new, expr in named.items():
        if not isinstance(expr, str):
            raise QueryError(f"proj({new}=...) must be an attribute name or an SQL expression "
                             f"string, not {type(expr).__name__}")
        if expr.strip() in heading:
            renames.setdefault(expr.strip(), []).append(new)
    # (name, source attribute or None, SQL expression or None), as `n.Proj` takes them
    items: list[tuple[str, str | None, str | None]] = []
    attrs = []
    for attr in heading.values():  # kept and renamed attributes stay in heading order
        name = attr.name
        selected = attr.in_key or keep_all or name in wanted
        if selected and name not in excluded and name not in named and (
                name not in renames or name in wanted):
            items.append((name, name, None))
            attrs.append(attr)
        for new in renames.get(name, []):
            items.append((new, name, None))
            attrs.append(attr.replace(name=new))
    for new, expr in named.items():
        if expr.strip() not in heading:
            if new in heading and heading[new].in_key:
                raise QueryError(f"cannot replace primary key attribute {new!r} by an expression")
            items.append((new, None, expr))
            attrs.append(_computed(new, expr, heading))
    names = [a.name for a in attrs]
    dup = {x for x in names if names.count(x) > 1}
    if dup:
        raise QueryError(f"attribute {sorted(dup)[0]!r} already exists")
    heading = Heading(attrs, heading.table_comment)
    return n.Proj(node, tuple(items), heading.with_key(heading.primary_key))


_SAME_TYPE = ("max", "min", "any_value")


def infer_spec(expr: str, heading: Heading) -> Any:
    """The type of a computed attribute where the expression tells it: a (parenthesized)
    attribute or MIN/MAX of one keeps its type (dates stay dates on SQLite), SUM/AVG of a
    decimal stays decimal, COUNT is int64; anything else is 'computed' (driver value)."""
    import sqlglot
    from sqlglot import exp

    from .definition.types import TypeSpec
    computed = TypeSpec(core="computed")
    try:
        tree = sqlglot.parse_one(expr, read="mysql")
    except Exception:  # noqa: BLE001 - the compiler reports bad fragments
        return computed
    while isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, exp.Count):
        return TypeSpec(core="int64")
    if isinstance(tree, (exp.TsOrDsToDate, exp.Date, exp.CurrentDate)):
        return TypeSpec(core="date")
    func = tree.key.lower() if isinstance(tree, exp.Func) else ""
    arg = tree.this if isinstance(tree, (exp.Max, exp.Min, exp.AnyValue, exp.Sum, exp.Avg)) else tree
    while isinstance(arg, exp.Paren):
        arg = arg.this
    if not isinstance(arg, exp.Column) or arg.name not in heading or heading[arg.name].codec:
        return computed
    spec = heading[arg.name].spec
    if arg is tree or func in _SAME_TYPE:
        return spec
    if func in ("sum", "avg") and spec.core == "decimal":
        return TypeSpec(core="decimal")
    return computed


def _computed(name: str, expr: str, heading: Heading | None = None) -> Any:
    from .definition.types import TypeSpec
    from .heading import Attribute
    spec = infer_spec(expr, heading) if heading is not None else TypeSpec(core="computed")
    return Attribute(name, spec, False, True, expression=expr)


def _make_aggr(group: n.Node, child: n.Node, on: tuple, named: dict, keep: bool) -> n.Aggr:
    attrs = list(group.heading.values())
    for name in named:
        if name in group.heading:
            raise QueryError(f"attribute {name!r} already exists")
        attrs.append(_computed(name, named[name], n.join_heading(group.heading, child.heading)
                               if not isinstance(group, n.UGroup) else child.heading))
    heading = Heading(attrs).with_key(group.heading.primary_key)
    return n.Aggr(group, child, tuple(on), tuple(named.items()), keep, heading)


def make_union_node(a: n.Node, b: n.Node) -> n.Node:
    """A + B: rows of both; for a key in both, A's values win; secondaries present on one
    side only are NULL on the other side's rows."""
    ha, hb = a.heading, b.heading
    if set(ha.primary_key) != set(hb.primary_key):
        raise QueryError(f"the operands of a union must share the same primary key: "
                         f"{ha.primary_key} vs {hb.primary_key}")
    shared = set(ha.secondary_attributes) & set(hb.secondary_attributes)
    if shared:
        raise QueryError(f"the operands of a union must not share secondary attributes: "
                         f"{sorted(shared)}")
    n.shared_attributes(ha.select(ha.primary_key), hb.select(hb.primary_key), True)
    left = n.make_join(a, b, outer=True) if hb.secondary_attributes else a
    only_b = n.Restrict(b, n.NotCond(n.QueryCond(a, tuple(ha.primary_key))))
    heading = left.heading if hb.secondary_attributes else Heading(
        list(ha.values()) + [x.replace(nullable=True) for x in hb.values() if x.name not in ha])
    heading = Heading(list(heading.values())).with_key(ha.primary_key)
    return n.Union(left, only_b, heading)
