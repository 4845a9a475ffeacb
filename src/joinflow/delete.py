"""Delete with cascade, and drop. The cascade is computed from the dependency graph (never by
parsing driver errors): every descendant's rows that reference deleted rows, through renamed
foreign keys and across schemas, are deleted first, leaves first, in one transaction."""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Iterator

from . import errors, lineage
from .algebra import nodes as n
from .algebra.compiler import Compiler
from .dependencies import split_id
from .diagram.restriction import Fixed, Restrictor, check_part_integrity, master_name
from .naming import master_of
from .storage.schema_addressed import owned_by_rows, remove_after_commit
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

    def fix(self, name: str, query: Any) -> Fixed:
        """The engine's ``fix``: ``name``'s rows as a restriction by a new key table."""
        keys, count = self.store(query)
        return Fixed(_free(self.conn, name).restrict(keys, semantic_check=False), keys, count)

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
    if isinstance(node, (n.Node, n.Cond)) and dataclasses.is_dataclass(node):  # every one is
        return any(_reads(getattr(node, f.name), tables) for f in dataclasses.fields(node)
                   if f.name != "heading")
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
    below = {split_id(x) for x in affected}
    for node_id, conds in roots.items():
        below_root = below - {split_id(node_id)}
        for c in conds:
            node = getattr(c, "node", None)
            if node is None or _reads(node, below_root):
                return False
    return True


def _plan(table: TableRef, keysets: KeySets | None, part_integrity: str, count: bool = True
          ) -> tuple[Restrictor, dict[str, int] | None] | None:
    """The restriction engine run for a delete of ``table``: per affected table (full name,
    parents first) its count (None without ``count``). With ``keysets`` each table's keys are
    fixed in a key table as soon as its restriction is complete; without, restrictions nest
    as subqueries (None when the SQL would grow too long or a part lifted its master: use
    key tables)."""
    conn = table.connection
    conn.dependencies.ensure(table.full_table_name)
    engine = Restrictor(conn, conn.dependencies, "cascade")
    engine.seed(table.full_table_name, table)
    fix = None if keysets is None else keysets.fix
    engine.down([table.full_table_name], part_integrity, fix=fix, skip_empty=fix is not None)
    names = engine.restricted()
    if keysets is None:
        if engine.lifted:  # masters restricted by their parts' rows: fix every key first
            return None
        for name in names:
            if len(engine.table(name).compile(count=True)[0]) > SUBQUERY_MAX_SQL:
                return None
        if not count:
            return engine, None
    return engine, engine.counts(names)


def _integrity(engine: Restrictor, counts: dict[str, int]) -> None:
    """``part_integrity='enforce'``: no part loses rows unless its master loses rows too."""
    for name, count in counts.items():
        master = master_name(engine.graph, name)
        if count and master is not None and not counts.get(master):
            raise errors.JoinflowError(
                f"Cannot delete from a Part directly ({name} before its master {master}). "
                "Delete from master instead, or use part_integrity='ignore' to break "
                "integrity, or part_integrity='cascade' to also delete master.")


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
        owned = owned_by_rows(query)
        conn.query(sql, params)
        remove_after_commit(conn, owned)  # schema-addressed objects, once the delete commits
        return conn.last_rowcount


def cascade_delete(table: TableRef, *, transaction: bool = True, prompt: bool | None = None,
                   part_integrity: str = "enforce", dry_run: bool = False) -> Any:
    check_part_integrity(part_integrity)
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
    planned = None
    # a singleton table (no key attributes) cannot be referenced, so no key tables are needed
    # (and none could be made: they hold primary keys)
    if _use_subqueries(conn, {table.node_id: [table]}) or not table.primary_key:
        # Deleting leaves first, each subquery still reads its (undeleted) ancestors. Where
        # nothing is shown and the transaction is ours, the DELETEs' own row counts replace
        # a counting pass; the part check then runs before the commit.
        uncounted = transaction and not dry_run and not should_prompt(prompt, conn.config)
        planned = _plan(table, None, part_integrity, count=not uncounted)
        if planned is not None and planned[1] is None:
            return _execute_uncounted(conn, planned[0], table.full_table_name, part_integrity)
    if planned is None:
        planned = _plan(table, keysets, part_integrity)
    assert planned is not None
    engine, counts = planned
    assert counts is not None
    if part_integrity == "enforce":
        _integrity(engine, counts)
    named = {name: c for name, c in counts.items() if c}
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
    deleted = _execute(conn, engine, named, table.full_table_name, transaction)
    if prompt:
        print("Deletes committed.")
    return deleted


def _execute(conn: Any, engine: Restrictor, counts: dict[str, int], root: str,
             transaction: bool) -> int:
    """Delete leaves first; the count of rows deleted from ``root``."""
    deleted = 0
    with conn.transaction if transaction else _null():
        for name, rowcount in _delete_leaves_first(conn, engine, list(counts)):
            if name == root:
                deleted = rowcount
    return deleted


def _delete_leaves_first(conn: Any, engine: Restrictor, names: list[str]
                         ) -> Iterator[tuple[str, int]]:
    """Run each table's DELETE, children before parents: ``(name, rows deleted)``."""
    prepared = None
    for name in reversed(names):
        query = engine.table(name)
        sql, params = _delete_sql(query)
        if query.database != prepared:
            conn.backend.before_delete(conn.run, query.database)
            prepared = query.database
        owned = owned_by_rows(query)
        conn.query(sql, params)
        remove_after_commit(conn, owned)  # schema-addressed objects, once the delete commits
        yield name, conn.last_rowcount


def _execute_uncounted(conn: Any, engine: Restrictor, root: str, part_integrity: str) -> int:
    """Delete leaves first in one transaction, counting what each DELETE removed; a part
    that lost rows without its master rolls it all back (``part_integrity='enforce'``)."""
    names = engine.restricted()
    with conn.transaction:
        counts = dict.fromkeys(names, 0)
        for name, rowcount in _delete_leaves_first(conn, engine, names):
            counts[name] = max(rowcount or 0, 0)
        if part_integrity == "enforce":
            _integrity(engine, counts)
    if not counts.get(root):
        log.info("nothing to delete")
    return counts.get(root, 0)


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
    check_part_integrity(part_integrity, ("enforce", "ignore"))
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
