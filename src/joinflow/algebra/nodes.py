"""Immutable query nodes. Each node computes and validates its heading when built;
nothing here touches a database. ``compiler.compile_query`` turns a node into ``(sql, params)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import QueryError, SemanticMatchError
from ..heading import Attribute, Heading


# --------------------------------------------------------------------------- conditions
class Cond:
    """A restriction condition."""


@dataclass(frozen=True)
class TrueCond(Cond):
    pass


@dataclass(frozen=True)
class FalseCond(Cond):
    pass


@dataclass(frozen=True)
class EqCond(Cond):
    """attr = value for each item (values are bound parameters); NULL matches IS NULL."""

    items: tuple  # ((attr, value, core type), ...)


@dataclass(frozen=True)
class JsonPathCond(Cond):
    """A value inside a json attribute equals ``value``: ``{'params.a.b': 1}``."""

    attr: str
    path: tuple  # keys (str) and array indexes (int)
    value: Any


@dataclass(frozen=True)
class SqlCond(Cond):
    text: str


@dataclass(frozen=True)
class QueryCond(Cond):
    """Semijoin: rows with a match in ``node`` on the shared attributes ``on``."""

    node: "Node"
    on: tuple


@dataclass(frozen=True)
class AndCond(Cond):
    conds: tuple


@dataclass(frozen=True)
class OrCond(Cond):
    conds: tuple


@dataclass(frozen=True)
class NotCond(Cond):
    cond: Cond


# --------------------------------------------------------------------------- nodes
class Node:
    heading: Heading

    @property
    def primary_key(self) -> list[str]:
        return self.heading.primary_key


@dataclass(frozen=True)
class TableNode(Node):
    schema: str
    table: str
    heading: Heading = field(compare=False)
    temporary: bool = False   # a session-local scratch table (e.g. keys a cascade deletes)


@dataclass(frozen=True)
class Restrict(Node):
    child: Node
    cond: Cond

    @property
    def heading(self) -> Heading:  # type: ignore[override]
        return self.child.heading


@dataclass(frozen=True)
class Proj(Node):
    """Projection; ``items`` are (name, source_name or None, expression or None)."""

    child: Node
    items: tuple
    heading: Heading = field(compare=False)


@dataclass(frozen=True)
class Join(Node):
    left: Node
    right: Node
    on: tuple
    outer: bool
    heading: Heading = field(compare=False)


@dataclass(frozen=True)
class Aggr(Node):
    group: Node            # provides the primary key (a query or a U node)
    child: Node
    on: tuple
    items: tuple           # (name, expression)
    keep_all: bool
    heading: Heading = field(compare=False)


@dataclass(frozen=True)
class Union(Node):
    left: Node
    right: Node
    heading: Heading = field(compare=False)


@dataclass(frozen=True)
class Distinct(Node):
    """dj.U(attrs) & q: the distinct values of ``attrs`` in ``child``."""

    child: Node
    names: tuple
    heading: Heading = field(compare=False)


@dataclass(frozen=True)
class Top(Node):
    child: Node
    limit: int | None
    order_by: tuple
    offset: int

    @property
    def heading(self) -> Heading:  # type: ignore[override]
        return self.child.heading


@dataclass(frozen=True)
class Rekey(Node):
    """Same rows, another primary key (dj.U('a') * q)."""

    child: Node
    heading: Heading = field(compare=False)


# --------------------------------------------------------------------------- semantic matching
def shared_attributes(a: Heading, b: Heading, semantic_check: bool = True) -> tuple:
    """Namesake attributes of two headings on which they match.

    With ``semantic_check``, namesakes must share a (non-null) lineage; otherwise raise."""
    common = [n for n in a.names if n in b]
    if semantic_check:
        for n in common:
            la, lb = a[n].lineage, b[n].lineage
            if la is None or lb is None or la != lb:
                raise SemanticMatchError(
                    f"cannot match on attribute {n!r}: its lineage differs between the operands "
                    f"({la or 'no lineage'} vs {lb or 'no lineage'}). Rename it with .proj() "
                    f"or pass semantic_check=False.")
    return tuple(common)


def join_primary_key(a: Heading, b: Heading) -> list[str]:
    """DataJoint 2.x: if A's key determines B's key (all of B's key is in A), the result keeps
    A's key; else if B determines A, B's key; else the union of both keys (A's first)."""
    pa, pb = a.primary_key, b.primary_key
    if all(k in a for k in pb):
        return pa
    if all(k in b for k in pa):
        return pb
    return pa + [k for k in pb if k not in pa]


def join_heading(a: Heading, b: Heading, outer: bool = False) -> Heading:
    """The heading of A * B: the key by the 2.x rules; when only B determines A, the join is
    read as B * A (B's attributes first), else A's attributes come first."""
    key = join_primary_key(a, b)
    b_first = not outer and key == b.primary_key and key != a.primary_key
    first, second = (b, a) if b_first else (a, b)
    attrs: list[Attribute] = [first[n] for n in first.names]
    for n in second.names:
        if n not in first:
            attr = second[n]
            attrs.append(attr.replace(nullable=True) if outer and second is b else attr)
    return Heading(attrs, "").with_key(key)


def make_join(left: Node, right: Node, *, outer: bool = False, semantic_check: bool = True) -> Join:
    on = shared_attributes(left.heading, right.heading, semantic_check)
    if outer:
        missing = [k for k in right.primary_key if k not in left.heading]
        if missing:
            raise QueryError(
                "Left join requires the left operand to determine the right operand (A → B). "
                f"The following attributes from the right operand's primary key are not "
                f"determined by the left operand: {missing}. Use an inner join or restructure "
                "the query.")
    return Join(left, right, on, outer, join_heading(left.heading, right.heading, outer))


@dataclass(frozen=True)
class UGroup(Node):
    """dj.U(attrs) as the grouping operand of an aggregation (no rows of its own)."""

    names: tuple
    heading: Heading = field(compare=False)
