"""Compile query nodes to ``(sql, params)`` for one backend. Pure: no connection needed.

Every node becomes a ``Select`` (columns as name -> SQL expression over aliased sources, WHERE
conditions, grouping, ordering). A node extends its child's ``Select`` when it safely can and
wraps it as a derived table otherwise. Aliases come from a counter local to one compilation, so
the same query always compiles to the same text. Values are bound (``PH`` markers), never
pasted into the text.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..backends.base import PH, Backend, to_python_scalar
from ..errors import QueryError
from . import nodes as n
from .fragments import render_fragment


@dataclass
class Select:
    columns: dict[str, str]                    # output name -> SQL expression
    sources: list[tuple[str, str, list]]       # (join keyword, "source AS alias ON ...", params)
    where: list[tuple[str, list]] = field(default_factory=list)
    group_by: list[str] = field(default_factory=list)
    order_by: list[str] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    distinct: bool = False
    #: bound values of computed columns whose expression holds placeholders (by column name).
    #: A Select with such columns is rendered (or wrapped) before anything refers to them.
    col_params: dict[str, list] = field(default_factory=dict)
    #: a base table's hidden columns (name -> SQL expression): never output, but a string
    #: restriction of the table (or of its restrictions) may name them, as in DataJoint
    hidden: dict[str, str] = field(default_factory=dict)

    @property
    def sealed(self) -> bool:
        """True when adding conditions or sources would change its meaning."""
        return bool(self.group_by or self.limit is not None or self.offset or self.distinct)


class Compiler:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.q = backend.quote
        self._n = 0

    def alias(self, prefix: str = "t") -> str:
        self._n += 1
        return f"_{prefix}{self._n}"

    # ----------------------------------------------------------------- entry points
    def to_sql(self, node: n.Node, *, order_by: tuple = (), limit: int | None = None,
               offset: int = 0, columns: list[str] | None = None, distinct: bool = False,
               count: bool = False) -> tuple[str, list]:
        s = self.compile(node)
        if order_by or limit is not None or offset:
            if s.sealed:
                s = self.wrap(s)
            s.order_by = self.order_terms(order_by, s, node)
            s.limit, s.offset = limit, offset
        if columns is not None:
            s = replace(s, columns={c: s.columns[c] for c in columns})
        if distinct:
            s = replace(s, distinct=True)
        sql, params = self.render(s)
        if count:
            return f"SELECT count(*) FROM ({sql}) AS _count", params
        return sql, params

    def order_terms(self, order_by: tuple, s: Select, node: n.Node) -> list[str]:
        terms = []
        for item in order_by:
            for part in str(item).split(","):
                words = part.strip().split()
                if not words:
                    continue
                name, direction = words[0], (words[1].upper() if len(words) > 1 else "ASC")
                if direction not in ("ASC", "DESC"):
                    raise QueryError(f"invalid order_by term {part!r}: use 'attr', 'attr DESC'")
                # KEY: the primary key, unless an attribute has that name (``key desc``)
                names = node.heading.primary_key if name.upper() == "KEY" and \
                    name.strip("`\"") not in node.heading else [name.strip("`\"")]
                for nm in names:
                    if nm not in s.columns:
                        raise QueryError(f"order_by: unknown attribute {nm!r}")
                    core = node.heading[nm].core if nm in node.heading else ""
                    terms.append(self.backend.order_term(s.columns[nm], direction, core))
        return terms

    # ----------------------------------------------------------------- rendering
    def render(self, s: Select) -> tuple[str, list]:
        params: list = []
        for name in s.columns:
            params += s.col_params.get(name, [])
        cols = ", ".join(f"{expr} AS {self.q(name)}" if expr != self.qualified_self(expr, name)
                         else expr for name, expr in s.columns.items()) or "1 AS _dummy"
        sql = ["SELECT DISTINCT " if s.distinct else "SELECT ", cols]
        for i, (kw, text, p) in enumerate(s.sources):
            sql.append((" FROM " if i == 0 else f" {kw} ") + text)
            params += p
        if s.where:
            sql.append(" WHERE " + " AND ".join(f"({w})" for w, _ in s.where))
            for _, p in s.where:
                params += p
        if s.group_by:
            sql.append(" GROUP BY " + ", ".join(s.group_by))
        if s.order_by:
            sql.append(" ORDER BY " + ", ".join(s.order_by))
        if s.limit is not None:
            sql.append(f" LIMIT {int(s.limit)}")
        if s.offset:
            if s.limit is None:
                sql.append(" LIMIT " + self.backend.limit_all)
            sql.append(f" OFFSET {int(s.offset)}")
        return "".join(sql), params

    def qualified_self(self, expr: str, name: str) -> str:
        """An expression that already yields the column ``name`` needs no alias."""
        return expr if expr.endswith("." + self.q(name)) or expr == self.q(name) else ""

    def wrap(self, s: Select) -> Select:
        # hidden columns pass through a plain (e.g. limited) select, not a distinct or grouped one
        hidden = {h: e for h, e in s.hidden.items() if h not in s.columns} \
            if not (s.distinct or s.group_by) else {}
        sql, params = self.render(replace(s, columns={**s.columns, **hidden}) if hidden else s)
        a = self.alias("s")
        return Select({c: f"{a}.{self.q(c)}" for c in s.columns}, [("", f"({sql}) AS {a}", params)],
                      hidden={h: f"{a}.{self.q(h)}" for h in hidden})

    def as_source(self, node: n.Node) -> tuple[str, dict[str, str], list]:
        """A node as one FROM source: (text, columns, params)."""
        if isinstance(node, n.TableNode):
            a = self.alias("t")
            full = (self.backend.temp_table_ref(node.schema, node.table) if node.temporary
                    else self.backend.full_name(node.schema, node.table))
            return f"{full} AS {a}", {c: f"{a}.{self.q(c)}" for c in node.heading.names}, []
        sql, params = self.render(self.compile(node))
        a = self.alias("s")
        return f"({sql}) AS {a}", {c: f"{a}.{self.q(c)}" for c in node.heading.names}, params

    # ----------------------------------------------------------------- nodes
    def compile(self, node: n.Node) -> Select:
        method = getattr(self, "c_" + type(node).__name__.lower(), None)
        if method is None:
            raise QueryError(f"cannot compile {type(node).__name__}")
        return method(node)

    def c_tablenode(self, node: n.TableNode) -> Select:
        text, cols, params = self.as_source(node)
        alias = text.rsplit(" AS ", 1)[1]
        return Select(cols, [("", text, params)],
                      hidden={h.name: f"{alias}.{self.q(h.name)}" for h in node.heading.hidden})

    def c_restrict(self, node: n.Restrict) -> Select:
        s = self.compile(node.child)
        if s.sealed:
            s = self.wrap(s)
        text, params = self.condition(node.cond, {**s.hidden, **s.columns})
        if text != "1=1":
            s.where.append((text, params))
        return s

    def c_top(self, node: n.Top) -> Select:
        s = self.compile(node.child)
        if s.sealed:
            s = self.wrap(s)
        s.order_by = self.order_terms(node.order_by or ("KEY",), s, node.child)
        s.limit, s.offset = node.limit, node.offset
        return s

    def c_proj(self, node: n.Proj) -> Select:
        s = self.compile(node.child)
        if s.sealed:
            s = self.wrap(s)
        cols: dict[str, str] = {}
        col_params: dict[str, list] = {}
        for name, source, expr in node.items:
            if expr is not None:
                text, params = self.expression(expr, s.columns)
                cols[name] = "(" + text + ")"
                if params:
                    col_params[name] = params
            else:
                cols[name] = s.columns[source]
        s.columns, s.col_params = cols, col_params
        # computed columns with bound values are only safe in the SELECT list: wrap
        return self.wrap(s) if col_params else s

    def c_rekey(self, node: n.Rekey) -> Select:
        return self.compile(node.child)

    def c_distinct(self, node: n.Distinct) -> Select:
        s = self.compile(node.child)
        if s.sealed:
            s = self.wrap(s)
        s.columns = {c: s.columns[c] for c in node.names}
        s.distinct = True
        return s

    def c_join(self, node: n.Join) -> Select:
        s = self.compile(node.left)
        if s.sealed or node.outer and s.where:
            s = self.wrap(s)
        text, rcols, params = self.as_source(node.right)
        on = [f"{s.columns[c]} = {rcols[c]}" for c in node.on] or ["1=1"]
        kw = "LEFT JOIN" if node.outer else "JOIN"
        s.sources.append((kw, f"{text} ON " + " AND ".join(on), params))
        for c in node.right.heading.names:
            if c not in s.columns:
                s.columns[c] = rcols[c]
        return s

    def c_union(self, node: n.Union) -> Select:
        names = node.heading.names
        left_sql, lp = self.to_sub(node.left, names)
        right_sql, rp = self.to_sub(node.right, names)
        a = self.alias("u")
        return Select({c: f"{a}.{self.q(c)}" for c in names},
                      [("", f"({left_sql} UNION ALL {right_sql}) AS {a}", lp + rp)])

    def to_sub(self, node: n.Node, names: list[str]) -> tuple[str, list]:
        s = self.compile(node)
        s = replace(s, columns={c: s.columns.get(c, "NULL") for c in names})
        sql, params = self.render(s)
        return self.backend.union_operand(sql), params

    def c_aggr(self, node: n.Aggr) -> Select:
        key = node.group.heading.primary_key
        by_u = isinstance(node.group, n.UGroup)
        inner = node.child if by_u else n.Join(
            node.group, node.child, node.on, False,
            n.join_heading(node.group.heading, node.child.heading))
        s = self.compile(inner)
        if s.sealed:
            s = self.wrap(s)
        group_by = [s.columns[c] for c in key]
        agg: dict[str, str] = {c: s.columns[c] for c in key}
        agg_params: dict[str, list] = {}
        for name, expr in node.items:
            text, params = self.expression(expr, s.columns)
            agg[name] = "(" + text + ")"
            if params:
                agg_params[name] = params
        s.columns, s.group_by, s.col_params = agg, group_by, agg_params
        if by_u:
            return self.wrap(s)
        agg_sql, agg_args = self.render(s)
        outer = self.compile(node.group)
        if outer.sealed:
            outer = self.wrap(outer)
        a = self.alias("g")
        on = " AND ".join(f"{outer.columns[c]} = {a}.{self.q(c)}" for c in key) or "1=1"
        kw = "LEFT JOIN" if node.keep_all else "JOIN"
        outer.sources.append((kw, f"({agg_sql}) AS {a} ON {on}", agg_args))
        for name, expr in node.items:
            col = f"{a}.{self.q(name)}"
            outer.columns[name] = f"COALESCE({col}, 0)" if node.keep_all and is_count(expr) else col
        return outer

    def expression(self, expr: str, cols: dict[str, str]) -> tuple[str, list]:
        return render_fragment(expr, self.backend, cols, kind="expression")

    # ----------------------------------------------------------------- conditions
    def bind(self, value: Any, spec: Any) -> Any:
        """A restriction value as the driver parameter for an attribute of type ``spec``."""
        value = to_python_scalar(value)
        core, args = (spec, ()) if isinstance(spec, str) else (spec.core, spec.args)
        adapt = self.backend.adapter(core, args)
        return adapt(value) if adapt else value

    def condition(self, cond: n.Cond, cols: dict[str, str]) -> tuple[str, list]:
        if isinstance(cond, n.TrueCond):
            return "1=1", []
        if isinstance(cond, n.FalseCond):
            return "1=0", []
        if isinstance(cond, n.EqCond):
            parts, params = [], []
            for attr, value, core in cond.items:
                if value is None:
                    parts.append(f"{cols[attr]} IS NULL")
                else:
                    parts.append(f"{cols[attr]} = {PH}")
                    params.append(self.bind(value, core))
            return (" AND ".join(parts) or "1=1"), params
        if isinstance(cond, n.JsonPathCond):
            return self.backend.json_path_condition(cols[cond.attr], cond.path, cond.value)
        if isinstance(cond, n.SqlCond):
            return render_fragment(cond.text, self.backend, cols, kind="condition")
        if isinstance(cond, n.QueryCond):
            text, rcols, params = self.as_source(cond.node)
            on = " AND ".join(f"{rcols[c]} = {cols[c]}" for c in cond.on) or "1=1"
            return f"EXISTS (SELECT 1 FROM {text} WHERE {on})", params
        if isinstance(cond, (n.AndCond, n.OrCond)):
            if not cond.conds:
                return ("1=1", []) if isinstance(cond, n.AndCond) else ("1=0", [])
            parts, params = [], []
            for c in cond.conds:
                t, p = self.condition(c, cols)
                parts.append(f"({t})")
                params += p
            joiner = " AND " if isinstance(cond, n.AndCond) else " OR "
            return joiner.join(parts), params
        if isinstance(cond, n.NotCond):
            t, p = self.condition(cond.cond, cols)
            return f"NOT ({t})", p
        raise QueryError(f"unsupported condition {cond!r}")


def is_count(expr: str) -> bool:
    return expr.strip().lower().startswith("count(")


def compile_query(node: n.Node, backend: Backend, **kwargs: Any) -> tuple[str, list]:
    """``(sql, params)`` for a node; ``sql`` uses the ``PH`` placeholder marker."""
    return Compiler(backend).to_sql(node, **kwargs)
