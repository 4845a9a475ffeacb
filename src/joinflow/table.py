"""Table: a query over one base table, plus declaration, insert, update, delete and drop."""
from __future__ import annotations

import logging
from typing import Any

from . import alter as _alter, delete as _delete, describe as _describe, errors
from . import insert as _insert
from .catalog import load_heading
from .tableref import BaseTable, NamedTable
from .validation import ValidationResult

__all__ = ["Table", "FreeTable", "ValidationResult"]

log = logging.getLogger("joinflow")
OMIT = object()


class Table(BaseTable):
    """Base of all table classes; use a tier (Manual, Lookup, Imported, Computed, Part)."""

    # -- insert -------------------------------------------------------------------
    def insert1(self, row: Any, **kwargs: Any) -> None:
        """Insert one row (dict, sequence in heading order, or numpy record)."""
        self.insert((row,), **kwargs)

    @property
    def staged_insert1(self) -> Any:
        """``with table.staged_insert1 as staged:`` write ``<object@>`` content straight into
        its store, then insert the row (see ``joinflow.storage.staged``)."""
        from .objectstores import staged_insert1
        return staged_insert1(self)

    def insert(self, rows: Any, replace: bool = False, skip_duplicates: bool = False,
               ignore_extra_fields: bool = False, allow_direct_insert: bool | None = None,
               chunk_size: int | None = None) -> None:
        """Insert rows in one transaction (or one per chunk with ``chunk_size``)."""
        self._check_direct_insert(allow_direct_insert)
        _insert.insert_rows(self, rows,
                            mode="replace" if replace else "skip" if skip_duplicates else "error",
                            ignore_extra_fields=ignore_extra_fields, chunk_size=chunk_size)

    def insert_dataframe(self, df: Any, index_as_pk: bool | None = None, **kwargs: Any) -> None:
        """Insert a pandas DataFrame. ``index_as_pk=None`` (default): an index naming primary-key
        attributes (as made by ``to_pandas``) becomes columns, an unnamed index is dropped;
        ``True``: the index must name the primary key; ``False``: the index is dropped."""
        from .insert import _is_dataframe
        if not _is_dataframe(df):
            raise errors.JoinflowError(
                f"insert_dataframe requires a pandas DataFrame, got {type(df).__name__}; "
                "use insert() for other row sources")
        names = [nm for nm in df.index.names if nm is not None]
        if index_as_pk:
            if names != list(self.primary_key) and set(names) != set(self.primary_key):
                raise errors.JoinflowError(
                    f"DataFrame index columns {list(df.index.names)} do not match the primary key "
                    f"{list(self.primary_key)} of {self.full_table_name}")
            df = df.reset_index()
        elif index_as_pk is None and names and set(names) <= set(self.primary_key):
            df = df.reset_index()
        else:
            df = df.reset_index(drop=True)
        self.insert(df, **kwargs)

    def _check_direct_insert(self, allow: bool | None) -> None:
        """DataJoint 2.3.5's guard: an auto-populated (Imported/Computed) table takes rows only
        from its own ``make`` during ``populate`` (or with ``allow_direct_insert=True``); its
        Part tables are not guarded (their foreign key to the master keeps them consistent)."""
        if allow or not getattr(self, "_auto_populated", False):
            return
        populating = getattr(self.connection, "_populating", None)
        if populating is True or populating == self.full_table_name:
            return
        raise errors.JoinflowError(
            "Inserts into an auto-populated table can only be done inside its make method "
            "during a populate call. To override, set keyword argument allow_direct_insert=True.")

    def validate(self, rows: Any, *, ignore_extra_fields: bool = False) -> ValidationResult:
        return _insert.validate_rows(self, rows, ignore_extra_fields=ignore_extra_fields)

    # -- update ---------------------------------------------------------------------
    def update1(self, row: dict) -> None:
        """Update secondary attributes of one existing row identified by its full key."""
        if not isinstance(row, dict) and not hasattr(row, "keys"):
            raise errors.DataError("the argument of update1 must be dict-like")
        if self.restricted:
            raise errors.JoinflowError("update1 cannot be applied to a restricted table")
        heading = self.heading
        for k in row:
            if k not in heading:
                raise errors.DataError(f"attribute {k!r} not found in {self.full_table_name}")
        key = {k: row[k] for k in self.primary_key if k in row}
        if len(key) != len(self.primary_key):
            raise errors.DataError("the argument of update1 must supply all primary key values")
        target = self & key
        if len(target) != 1:
            raise errors.DataError("update1: the row to update must exist")
        values = {k: v for k, v in row.items() if not heading[k].in_key}
        if not values:
            return
        _insert.update_row(self, key, values)

    # -- delete ---------------------------------------------------------------------
    def delete_quick(self, get_count: bool = False) -> int | None:
        """DELETE the restricted rows without cascading or prompting."""
        count = _delete.delete_quick(self)
        return count if get_count else None

    def delete(self, transaction: bool = True, prompt: bool | None = None,
               part_integrity: str = "enforce", dry_run: bool = False,
               safemode: bool | None = None, force_parts: bool = False,
               force_masters: bool = False) -> Any:
        """Delete the rows and everything that depends on them, in one transaction."""
        if safemode is not None and prompt is None:
            prompt = safemode
        if force_masters:
            part_integrity = "cascade"
        elif force_parts:
            part_integrity = "ignore"
        return _delete.cascade_delete(self, transaction=transaction, prompt=prompt,
                                      part_integrity=part_integrity, dry_run=dry_run)

    def drop_quick(self) -> None:
        if self.is_declared:
            _delete.drop_tables(self.connection, [self.node_id])
        else:
            log.info("nothing to drop: %s is not declared", self.full_table_name)

    def drop(self, prompt: bool | None = None, part_integrity: str = "enforce",
             force: bool = False) -> None:
        """Drop this table and every table that depends on it."""
        if self.restricted:
            raise errors.JoinflowError("a restricted table cannot be dropped; call drop() on "
                                       "the unrestricted table")
        _delete.drop(self, prompt=False if force else prompt, part_integrity=part_integrity)

    # -- introspection -----------------------------------------------------------------
    def describe(self, context: dict | None = None, printout: bool = False) -> str:
        text = _describe.describe(self, context)
        if printout:
            print(text)
        return text

    def _related(self, fks: list, attr_parent: bool, primary: bool | None, as_objects: bool,
                 foreign_key_info: bool) -> list:
        backend = self.connection.backend
        out = []
        for fk in fks:
            is_primary = all(self.heading[c].in_key if attr_parent else True for c in fk.columns)
            if not attr_parent:
                child = load_heading(self.connection, fk.child_schema, fk.child_table)
                is_primary = all(child[c].in_key for c in fk.columns if c in child)
            if primary is not None and primary != is_primary:
                continue
            schema, table = ((fk.parent_schema, fk.parent_table) if attr_parent
                             else (fk.child_schema, fk.child_table))
            name = backend.full_name(schema, table)
            obj: Any = FreeTable(self.connection, f"{schema}.{table}") if as_objects else name
            if foreign_key_info:
                props = {"attr_map": dict(zip(fk.columns, fk.ref_columns)), "primary": is_primary,
                         "aliased": fk.columns != fk.ref_columns, "multi": False}
                out.append((obj, props))
            else:
                out.append(obj)
        return out

    def parents(self, primary: bool | None = None, as_objects: bool = False,
                foreign_key_info: bool = False) -> list:
        fks = self.connection.dependencies.parent_fks(self.database, self.table_name)
        return self._related(fks, True, primary, as_objects, foreign_key_info)

    def children(self, primary: bool | None = None, as_objects: bool = False,
                 foreign_key_info: bool = False) -> list:
        fks = self.connection.dependencies.child_fks(self.database, self.table_name)
        return self._related(fks, False, primary, as_objects, foreign_key_info)

    def _names(self, nodes: list[str], as_objects: bool) -> list:
        if as_objects:
            return [FreeTable(self.connection, x) for x in nodes]
        backend = self.connection.backend
        return [backend.full_name(*x.split(".", 1)) for x in nodes]

    def ancestors(self, as_objects: bool = False) -> list:
        return self._names(self.connection.dependencies.ancestors(self.database, self.table_name),
                           as_objects)

    def descendants(self, as_objects: bool = False) -> list:
        return self._names(self.connection.dependencies.descendants(self.database, self.table_name),
                           as_objects)

    def parts(self, as_objects: bool = False) -> list:
        prefix = self.table_name + "__"
        names = [t for t in self.connection.backend.list_tables(self.connection.run, self.database)
                 if t.startswith(prefix)]
        return self._names([f"{self.database}.{t}" for t in names], as_objects)

    @property
    def size_on_disk(self) -> int | None:
        """Bytes the table (data and indexes) takes in the database; None where unknown."""
        return self.connection.backend.table_size(self.connection.run, self.database,
                                                  self.table_name)

    def alter(self, prompt: bool = True, context: dict | None = None) -> None:
        _alter.alter(self, prompt=prompt, context=context)


class FreeTable(Table, NamedTable):
    """A table addressed by name, with no class: ``dj.FreeTable(conn, 'schema.table')``, or
    ``dj.FreeTable('schema.table')`` on ``dj.conn()`` (refused in thread-safe mode)."""

    def __init__(self, conn: Any, full_table_name: str | None = None) -> None:
        if full_table_name is None:  # FreeTable('schema.table'): the global connection
            from .connection import conn as global_conn
            conn, full_table_name = global_conn(), conn
        NamedTable.__init__(self, conn, full_table_name)

    def __repr__(self) -> str:
        return f"FreeTable({self.full_table_name})\n" + super().__repr__()
