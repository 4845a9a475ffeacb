"""Names: class names <-> SQL table names, tier prefixes, part tables, ``schema.table``.
Pure string functions (no tables, no database)."""
from __future__ import annotations

import re

from . import errors

_CAMEL = re.compile(r"^[A-Z][A-Za-z0-9]*$")
_PART = re.compile(r"^(?P<prefix>__|_|#)?(?P<master>[a-z][a-z0-9_]*?)__(?P<part>[a-z][a-z0-9_]*)$")

#: SQL name prefixes of the tiers, longest first: Computed, Imported, Lookup ('' is Manual)
TIER_PREFIXES = ("__", "_", "#")


def to_snake(name: str) -> str:
    """CamelCase class name -> SQL table name (every capital letter starts a word)."""
    if not _CAMEL.match(name):
        raise errors.DefinitionError(f"table class name {name!r} is invalid: use strict CamelCase "
                                     "(letters and digits, starting with a capital)")
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def to_camel(table_name: str) -> str:
    """SQL table name (without tier prefix) -> CamelCase class name."""
    return "".join(w[:1].upper() + w[1:] for w in table_name.split("_") if w)


def split_tier(table_name: str) -> tuple[str, str]:
    """(tier prefix, bare name) of an SQL table name; the prefix is '' for Manual."""
    for prefix in TIER_PREFIXES:
        if table_name.startswith(prefix):
            return prefix, table_name[len(prefix):]
    return "", table_name


def master_of(table_name: str) -> str | None:
    """SQL name of the master of a part table name (``__filter__unit`` -> ``__filter``)."""
    m = _PART.match(table_name)
    return (m.group("prefix") or "") + m.group("master") if m else None


def split_full_name(name: str) -> tuple[str, str]:
    """``schema.table`` (each part optionally quoted) -> (schema, table)."""
    m = re.match(r'^[`"]?([^`".]+)[`"]?\.[`"]?(.+?)[`"]?$', name.strip())
    if not m:
        raise errors.JoinflowError(f"invalid full table name {name!r}; use 'schema.table'")
    return m.group(1), m.group(2)
