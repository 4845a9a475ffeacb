"""Delete with cascade, and drop. The cascade is computed from the dependency graph (never by
parsing driver errors): every descendant's rows that reference deleted rows, through renamed
foreign keys and across schemas, are deleted first, leaves first, in one transaction."""
from __future__ import annotations

import logging
import os
from typing import Any

from . import errors, lineage
from .algebra import nodes as n
from .algebra.compiler import Compiler
from .naming import master_of
from .prompt import confirm as _confirm, should_prompt
from .tableref import BaseTable, TableRef, free_table

log = logging.getLogger("joinflow")


def _free(conn: Any, node_id: str) -> BaseTable:
    return free_table(conn, node_id)


class KeySets:
    """Temporary tables holding the primary keys of the rows a cascade deletes, one per table
    and round. Children are restricted by these flat tables, so the SQL does not nest deeper
    with every level (SQLite's parser gives up after a few), and all keys are fixed before
    anything is deleted (a restriction may read tables the cascade empties first)."""

    _counter = 0

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.made: list[tuple[str, str]] = []

    def store(self, query: TableRef) -> tuple[Any, int]:
        """Copy the keys of ``query`` into a new temporary table: (a query over it, the
        number of keys). Where the backend can, one statement makes and fills the table and
        its row count is the count; elsewhere an empty copy, an index and an INSERT."""
        from .expression import QueryExpression
        from .heading import Heading
        backend, schema = self.conn.backend, query.database
        KeySets._counter += 1
        name = f"jf_keys_{os.getpid()}_{KeySets._counter}"
        key = query.primary_key
        attrs = [query.heading[k] for k in key]
        select, params = query.compile(columns=key)
        filled = backend.create_filled_key_table_sql(schema, name, select, key)
        if filled is not None:
            self.conn.query(filled, params)
            self.made.append((schema, name))
            count = self.conn.last_rowcount
        else:
            source = backend.full_name(schema, query.table_name)
            statements = backend.create_key_table_sql(schema, name, source, key)
            self.conn.query(statements[0])
            self.made.append((schema, name))
            for stmt in statements[1:]:
                self.conn.query(stmt)
            target = backend.temp_table_ref(schema, name)
            quoted = ", ".join(backend.quote(k) for k in key)
            self.conn.query(f"INSERT INTO {target} ({quoted}) {select}", params)
            count = self.conn.last_rowcount
        node = n.TableNode(schema, name, Heading(attrs), temporary=True)
        keys = QueryExpression._from(node, self.conn)
        return keys, count if count is not None and count >= 0 else len(keys)

    def drop(self) -> None:
        backend = self.conn.backend
        for stmt in backend.drop_temp_tables_sql(self.made):
            try:
                self.conn.query(stmt)
            except errors.JoinflowError:  # pragma: no cover - the session ends them anyway
                log.debug("could not drop scratch tables: %s", stmt)
        self.made.clear()


def _reads(node: Any, tables: set[tuple[str, str]]) -> bool:
    """Whether evaluating ``node`` may read one of ``tables`` (SQL text with a subquery
    counts as reading anything)."""
    if isinstance(node, n.TableNode):
        return (node.schema, node.table) in tables
    if isinstance(node, n.SqlCond):
        return "select" in node.text.lower()
    if isinstance(node, (n.Node, n.Cond)):
        return any(_reads(getattr(node, f), tables) for f in node.__dataclass_fields__
                   if f != "heading")
    if isinstance(node, tuple):
        return any(_reads(x, tables) for x in node)
    return False


#: the most tables a cascade restricts by nested subqueries (deeper: key tables)
SUBQUERY_MAX_TABLES = 24
#: the longest restriction (characters of SQL) a cascade renders as nested subqueries
SUBQUERY_MAX_SQL = 20000


def _use_subqueries(conn: Any, roots: dict[str, list]) -> bool:
    """Restrict children by nested subqueries instead of key tables, where the backend
    prefers it (making temporary tables is costly on PostgreSQL) and it is safe: the roots'
    restrictions read no table the cascade deletes from (so every restriction reads only
    ancestors, which are deleted after the table they restrict)."""
    if not conn.backend.cascade_subqueries:
        return False
    deps = conn.dependencies
    affected: set[str] = set()
    for r in roots:
        affected.update(deps.descendants(*r.split(".", 1)))
    if len(affected) > SUBQUERY_MAX_TABLES:
        return False
    below = {tuple(x.split(".", 1)) for x in affected}
    for node_id, conds in roots.items():
        below_root = below - {tuple(node_id.split(".", 1))}
        for c in conds:
            node = getattr(c, "node", None)
            if node is None or _reads(node, below_root):
                return False
    return True


def _restrictions(conn: Any, roots: dict[str, list], keysets: KeySets | None
                  ) -> tuple[dict[str, Any], dict[str, int]]:
    """Per affected table (parents first): the rows to delete, as a restriction by a
    temporary key table (``keysets``; None: by nested subqueries), and their count."""
    if keysets is None:
        return _subquery_restrictions(conn, roots)
    deps = conn.dependencies
    order = _cascade_order(deps, roots)
    pending: dict[str, list] = {k: list(v) for k, v in roots.items()}
    out: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for node in order:
        conds = pending.get(node)
        if not conds:
            continue
        keys, counts[node] = keysets.store(_combine(conn, node, conds))
        out[node] = _free(conn, node).restrict(keys, semantic_check=False)
        if not counts[node]:
            continue
        schema, name = node.split(".", 1)
        for fk in deps.child_fks(schema, name):
            child = f"{fk.child_schema}.{fk.child_table}"
            renames = {c: p for c, p in zip(fk.columns, fk.ref_columns) if c != p}
            proj = keys.proj(**renames) if renames else keys
            pending.setdefault(child, []).append(proj.proj(*fk.columns) if renames or
                                                  set(proj.heading.names) != set(fk.columns)
                                                  else proj)
    return out, counts


def _cascade_order(deps: Any, roots: dict[str, list]) -> list[str]:
    """The roots and every table below them, parents first."""
    affected: set[str] = set()
    for r in roots:
        affected.update(deps.descendants(*r.split(".", 1)))
    return deps.topo_sort(sorted(affected))


def _subquery_restrictions(conn: Any, roots: dict[str, list]
                           ) -> tuple[dict[str, Any], dict[str, int]] | None:
    """Like ``_restrictions``, each child restricted by its parents' restrictions as nested
    subqueries; all counts come from one statement. None when the SQL would grow too long."""
    deps = conn.dependencies
    order = _cascade_order(deps, roots)
    pending: dict[str, list] = {k: list(v) for k, v in roots.items()}
    out: dict[str, Any] = {}
    for node in order:
        conds = pending.get(node)
        if not conds:
            continue
        query = out[node] = _combine(conn, node, conds)
        schema, name = node.split(".", 1)
        for fk in deps.child_fks(schema, name):
            child = f"{fk.child_schema}.{fk.child_table}"
            renames = {c: p for c, p in zip(fk.columns, fk.ref_columns) if c != p}
            keys = query.proj(**renames) if renames else query.proj()
            pending.setdefault(child, []).append(
                keys.proj(*fk.columns) if set(keys.heading.names) != set(fk.columns) else keys)
    selects, params = [], []
    for query in out.values():
        sql, ps = query.compile(count=True)
        if len(sql) > SUBQUERY_MAX_SQL:
            return None
        selects.append(f"({sql})")
        params += ps
    row = conn.query("SELECT " + ", ".join(selects), params)[0]
    return out, {node: int(c) for node, c in zip(out, row)}


def _combine(conn: Any, node: str, conds: list) -> Any:
    """One query for a table restricted by any of ``conds`` (a cond may be the table itself,
    already restricted, as given by the user)."""
    table = _free(conn, node)
    if len(conds) == 1 and isinstance(conds[0], BaseTable) and conds[0].node_id == node:
        table._node = conds[0]._node
        return table
    conds = [c.proj() if isinstance(c, BaseTable) and c.node_id == node else c for c in conds]
    return table.restrict(conds if len(conds) > 1 else conds[0], semantic_check=False)


def _integrity(conn: Any, queries: dict[str, Any], counts: dict[str, int], mode: str,
               roots: dict[str, list]) -> dict[str, list] | None:
    """Check parts against masters; with mode='cascade' return extended roots (or None)."""
    extra: dict[str, list] = {}
    for node, count in counts.items():
        schema, name = node.split(".", 1)
        master = master_of(name)
        if not count or master is None or f"{schema}.{master}" in queries:
            continue
        if mode == "enforce":
            raise errors.JoinflowError(
                f"Cannot delete from a Part directly ({name!r} before its master {master!r}). "
                "Delete from master instead, or use part_integrity='ignore' to break "
                "integrity, or part_integrity='cascade' to also delete master.")
        if mode == "cascade":  # the part's key table holds the master keys, fixed already
            mq = _free(conn, f"{schema}.{master}")
            keys = queries[node].proj(*[k for k in mq.primary_key if k in queries[node].heading])
            extra.setdefault(f"{schema}.{master}", []).append(mq.restrict(keys, False).proj())
    if not extra:
        return None
    merged = {k: list(v) for k, v in roots.items()}
    for k, v in extra.items():
        merged.setdefault(k, []).extend(v)
    return merged


def _delete_sql(query: TableRef) -> tuple[str, list]:
    backend = query.connection.backend
    keys = _key_table_of(query)
    if keys is not None:  # rows whose whole primary key is in a cascade's key table
        return backend.delete_by_keys_sql(backend.full_name(query.database, query.table_name),
                                          backend.temp_table_ref(keys.schema, keys.table),
                                          query.primary_key), []
    comp = Compiler(backend)
    s = comp.compile(query.node)
    target = backend.full_name(query.database, query.table_name)
    src = s.sources[0][1] if len(s.sources) == 1 and not s.sealed else None
    if src is not None and src.startswith(target + " AS "):
        alias = src[len(target) + 4:]
        where = " AND ".join(f"({w})" for w, _ in s.where) or "1=1"
        params = [p for _, ps in s.where for p in ps]
        return backend.delete_sql(src, alias, where), params
    sql, params = comp.to_sql(query.node, columns=query.primary_key)
    if not query.primary_key:  # a singleton table: its one row, if the query keeps it
        return f"DELETE FROM {target} WHERE EXISTS (SELECT * FROM ({sql}) AS _del)", params
    keys = ", ".join(backend.quote(k) for k in query.primary_key)
    return f"DELETE FROM {target} WHERE ({keys}) IN (SELECT * FROM ({sql}) AS _del)", params


def _key_table_of(query: TableRef) -> Any:
    """The key table (a temporary TableNode) if ``query`` is a table restricted by exactly
    a key table over its whole primary key (what a cascade in key-table mode makes)."""
    node = query.node
    if not (isinstance(node, n.Restrict) and isinstance(node.child, n.TableNode)
            and isinstance(node.cond, n.QueryCond)):
        return None
    keys, pk = node.cond.node, query.primary_key
    if isinstance(keys, n.TableNode) and keys.temporary and \
            list(keys.heading.names) == list(pk) and set(node.cond.on) == set(pk):
        return keys
    return None


def delete_quick(query: TableRef) -> int:
    sql, params = _delete_sql(query)
    conn = query.connection
    conn.backend.before_delete(conn.run, query.database)
    with conn.transaction:
        conn.query(sql, params)
        return conn.last_rowcount


def cascade_delete(table: TableRef, *, transaction: bool = True, prompt: bool | None = None,
                   part_integrity: str = "enforce", dry_run: bool = False) -> Any:
    if part_integrity not in ("enforce", "ignore", "cascade"):
        raise errors.JoinflowError("part_integrity must be 'enforce', 'ignore' or 'cascade'")
    conn = table.connection
    # The cached dependency graph is current for everything this process declared; a child
    # table declared meanwhile by another process makes the DELETE fail on its foreign key
    # (the transaction is rolled back): then reload the graph and cascade again. Without our
    # own transaction (nothing to roll back to), or when counts are shown, reload first.
    retry = transaction and not dry_run and not should_prompt(prompt, conn.config)
    if not retry:
        conn._graph_cache = None
    for attempt in (0, 1):
        keysets = KeySets(conn)
        try:
            return _cascade(table, keysets, transaction, prompt, part_integrity, dry_run)
        except errors.ForeignKeyError:
            if not retry or attempt:
                raise
            log.info("a table unknown to the cached dependency graph blocked the delete; "
                     "reloading the graph")
            conn._graph_cache = None
        finally:
            keysets.drop()
    raise AssertionError("unreachable")  # pragma: no cover


def _cascade(table: TableRef, keysets: KeySets, transaction: bool, prompt: bool | None,
             part_integrity: str, dry_run: bool) -> Any:
    conn = table.connection
    roots: dict[str, list] = {table.node_id: [table]}
    # a singleton table (no key attributes) cannot be referenced, so no key tables are needed
    # (and none could be made: they hold primary keys)
    subqueries = _use_subqueries(conn, roots) or not table.primary_key
    while True:
        found = _restrictions(conn, roots, None if subqueries else keysets)
        if found is None:  # the nested SQL grew too long: key tables
            subqueries = False
            continue
        queries, counts = found
        extended = _integrity(conn, queries, counts, part_integrity, roots)
        if extended is None:
            break
        roots = extended
        subqueries = False  # masters restricted by their parts' keys: fix every key first
    named = {conn.backend.full_name(*k.split(".", 1)): c for k, c in counts.items() if c}
    if dry_run:
        return named
    if not named:
        log.info("nothing to delete")
        return 0
    prompt = should_prompt(prompt, conn.config)
    if prompt:
        lines = "\n".join(f"  {c} rows from {name}" for name, c in named.items())
        print("About to delete:\n" + lines)
        if not _confirm("Proceed?"):
            print("Delete cancelled.")
            return 0
    deleted = _execute(conn, queries, counts, table.node_id, transaction)
    if prompt:
        print("Deletes committed.")
    return deleted


def _execute(conn: Any, queries: dict, counts: dict, root: str, transaction: bool) -> int:
    """Delete leaves first; the count of rows deleted from ``root``."""
    deleted = 0
    prepared = None
    with conn.transaction if transaction else _null():
        for node in reversed(list(queries)):
            if not counts.get(node):
                continue
            sql, params = _delete_sql(queries[node])
            schema = node.split(".", 1)[0]
            if schema != prepared:
                conn.backend.before_delete(conn.run, schema)
                prepared = schema
            conn.query(sql, params)
            if node == root:
                deleted = conn.last_rowcount
    return deleted


def _null() -> Any:
    import contextlib
    return contextlib.nullcontext()


def drop_tables(conn: Any, nodes: list[str]) -> None:
    """DROP each table in order; refuse (before dropping anything) if a table that stays
    still references one of them."""
    backend = conn.backend
    conn._graph_cache = None
    deps = conn.dependencies
    dropped: set[str] = set()
    for node in nodes:
        schema, name = node.split(".", 1)
        children = {f"{fk.child_schema}.{fk.child_table}" for fk in deps.child_fks(schema, name)}
        blocking = sorted(children - dropped - {node})
        if blocking:
            raise errors.ForeignKeyError(
                f"cannot drop {backend.full_name(schema, name)}: referenced by "
                + ", ".join(backend.full_name(*b.split(".", 1)) for b in blocking)
                + "; drop those first or use drop() to drop descendants too")
        dropped.add(node)
    for node in nodes:
        schema, name = node.split(".", 1)
        conn.query(backend.drop_table_sql(schema, name), ())
        if hasattr(backend, "forget_table"):
            backend.forget_table(conn.run, schema, name)
        lineage.forget(conn, schema, name)
    conn.invalidate()


def drop(table: TableRef, *, prompt: bool | None = None, part_integrity: str = "enforce") -> None:
    conn = table.connection
    conn._graph_cache = None
    if master_of(table.table_name) and part_integrity != "ignore":
        raise errors.JoinflowError("Cannot drop a Part directly. Drop master instead, or use "
                                   "part_integrity='ignore' to force.")
    nodes = conn.dependencies.descendants(table.database, table.table_name)
    nodes += [x for x in (f"{table.database}.{p}" for p in conn.backend.list_tables(
        conn.run, table.database) if p.startswith(table.table_name + "__")) if x not in nodes]
    nodes = conn.dependencies.topo_sort(nodes)
    if part_integrity == "enforce":
        for x in nodes:
            schema, name = x.split(".", 1)
            master = master_of(name)
            if master and f"{schema}.{master}" not in nodes:
                raise errors.JoinflowError(
                    f"dropping {table.full_table_name} would drop the part table "
                    f"{conn.backend.full_name(schema, name)} without its master "
                    f"{conn.backend.full_name(schema, master)}: drop the master first, or use "
                    "part_integrity='ignore'")
    prompt = should_prompt(prompt, conn.config)
    if prompt:
        for x in nodes:
            print(f"{conn.backend.full_name(*x.split('.', 1))} ({len(_free(conn, x))} tuples)")
        if not _confirm("Proceed?"):
            print("Drop cancelled.")
            return
    drop_tables(conn, list(reversed(nodes)))
    if prompt:
        print("Tables dropped.")
