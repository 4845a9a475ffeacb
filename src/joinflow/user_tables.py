"""Table tiers users subclass: Manual, Lookup, Imported, Computed, Part (and the DataJoint 2.3
aliases Entry, Ingest, Compute). Table classes act like instances: ``Subject & key``,
``Subject.insert1(...)``, ``len(Subject)``."""
from __future__ import annotations

import warnings
from typing import Any

from .delete import drop as _drop
from .naming import split_tier, to_snake
from .populate import AutoPopulate
from .table import Table

# instance attributes reachable directly on table classes
FORWARDED = {
    "describe", "alter", "heading", "populate", "progress", "primary_key", "proj", "aggr",
    "aggregate", "join", "extend", "restrict", "to_dicts", "to_pandas", "to_arrays", "keys",
    "to_arrow", "to_polars",
    "fetch", "fetch1", "head", "tail", "cursor", "insert", "insert1", "insert_dataframe",
    "staged_insert1",
    "update1", "validate", "delete", "delete_quick", "drop", "drop_quick", "parents", "children",
    "ancestors", "descendants", "parts", "full_table_name", "table_name", "is_declared",
    "make_sql", "sql", "compile", "key_source", "node", "connection", "preview", "jobs",
    "size_on_disk", "node_id", "restricted", "class_name",
}


class TableMeta(type):
    def __getattribute__(cls, name: str) -> Any:
        if name in FORWARDED and type.__getattribute__(cls, "_table_name") is not None:
            return getattr(cls(), name)
        return super().__getattribute__(name)

    def __and__(cls, arg: Any) -> Any:
        return cls() & arg

    def __sub__(cls, arg: Any) -> Any:
        return cls() - arg

    def __mul__(cls, arg: Any) -> Any:
        return cls() * arg

    def __rmul__(cls, arg: Any) -> Any:
        return arg * cls()

    def __add__(cls, arg: Any) -> Any:
        return cls() + arg

    def __xor__(cls, arg: Any) -> Any:
        return cls() ^ arg

    def __matmul__(cls, arg: Any) -> Any:
        return cls() @ arg

    def __len__(cls) -> int:
        return len(cls())

    def __iter__(cls) -> Any:
        return iter(cls())

    def __contains__(cls, item: Any) -> bool:
        return item in cls()

    def __bool__(cls) -> bool:
        return True


#: a table name without tier prefix: lowercase words joined by single underscores
_WORDS = r"[a-z][a-z0-9]*(?:_[a-z][a-z0-9]*)*"


def _tier_regexp(prefix: str, group: str) -> str:
    return f"(?P<{group}>{prefix}{_WORDS})"


def class_to_table_name(name: str) -> str:
    """The SQL name (without tier prefix) of a table class. Underscores in the class name are
    dropped with a warning, as in DataJoint 2.x (``Table_With_Underscores`` ->
    ``table_with_underscores``); anything else that is not CamelCase is a DefinitionError."""
    if "_" in name and name[:1].isupper():
        warnings.warn(f"Table class name `{name}` contains underscores. CamelCase names "
                      "without underscores are recommended.", UserWarning, stacklevel=5)
        name = name.replace("_", "")
    return to_snake(name)


class UserTable(Table, metaclass=TableMeta):
    tier_prefix: str = ""
    #: a regular expression matching the SQL names of this tier's tables (DataJoint's name)
    tier_regexp: str = _tier_regexp("", "manual") + "$"
    _table_name = None  # type: ignore[assignment]  # bound by @schema

    @classmethod
    def sql_name(cls) -> str:
        return cls.tier_prefix + class_to_table_name(cls.__name__)

    def __repr__(self) -> str:
        return Table.__repr__(self)


class Manual(UserTable):
    """Rows entered by people or scripts."""


class Lookup(UserTable):
    """Small reference tables; ``contents`` are inserted when the table is declared."""

    tier_prefix = "#"
    tier_regexp = _tier_regexp("#", "lookup") + "$"
    contents: Any = ()


class Imported(UserTable, AutoPopulate):
    """Rows filled by ``populate`` from data outside the database."""

    tier_prefix = "_"
    tier_regexp = _tier_regexp("_", "imported") + "$"
    _auto_populated = True


class Computed(UserTable, AutoPopulate):
    """Rows computed by ``populate`` from other tables."""

    tier_prefix = "__"
    tier_regexp = _tier_regexp("__", "computed") + "$"
    _auto_populated = True


class Part(UserTable):
    """A part of its master (nested class); inserted and deleted with the master."""

    master: Any = None
    tier_regexp = ("(?P<master>" + "|".join(_tier_regexp(p, g) for p, g in (
        ("", "manual"), ("#", "lookup"), ("_", "imported"), ("__", "computed"))) +
        ")__" + _tier_regexp("", "part") + "$")

    @classmethod
    def sql_name(cls) -> str:
        return cls.master._table_name + "__" + class_to_table_name(cls.__name__)

    def delete(self, *args: Any, force: bool = False, **kwargs: Any) -> Any:
        if force:
            kwargs.setdefault("part_integrity", "ignore")
        return super().delete(*args, **kwargs)

    def drop(self, prompt: bool | None = None, part_integrity: str = "enforce",
             force: bool = False) -> None:
        if force:
            part_integrity = "ignore"
        _drop(self, prompt=prompt, part_integrity=part_integrity)


# DataJoint 2.3 names
Entry, Ingest, Compute = Manual, Imported, Computed

TIERS = {"#": Lookup, "__": Computed, "_": Imported, "": Manual}


def tier_of(table_name: str) -> tuple[type, str]:
    """(tier class, bare name) for an SQL table name."""
    prefix, bare = split_tier(table_name)
    return TIERS[prefix], bare
