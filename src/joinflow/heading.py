"""Attributes and headings: names, types, keys and lineage of a relation's columns.

Lineage identifies where an attribute was born: ``schema.table.attr`` for a primary-key
attribute declared in a table; inherited through foreign keys (and kept through renames);
``None`` for secondary attributes and computed expressions. Joins and restrictions match
namesake attributes only when their lineage agrees (DataJoint 2.x semantic matching).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from .definition.types import NUMERIC_CORE, TypeSpec


@dataclass(frozen=True)
class Attribute:
    name: str
    spec: TypeSpec
    in_key: bool = False
    nullable: bool = False
    default: Any = None            # SQL text of the default, None if none
    comment: str = ""
    sql_type: str = ""
    lineage: str | None = None
    autoincrement: bool = False
    expression: str | None = None  # for computed attributes: the (MySQL-syntax) expression

    @property
    def codec(self) -> str | None:
        return self.spec.codec

    @property
    def core(self) -> str:
        return self.spec.core

    @property
    def is_blob(self) -> bool:
        return self.spec.codec == "blob"

    @property
    def numeric(self) -> bool:
        return self.spec.codec is None and self.spec.core in NUMERIC_CORE

    # DataJoint's attribute flags
    @property
    def json(self) -> bool:
        return self.spec.core == "json" and not self.spec.codec

    @property
    def uuid(self) -> bool:
        return self.spec.core == "uuid"

    @property
    def string(self) -> bool:
        return self.spec.codec is None and self.spec.core in ("char", "varchar", "text", "enum")

    @property
    def is_attachment(self) -> bool:
        return self.spec.codec == "attach"

    @property
    def is_filepath(self) -> bool:
        return self.spec.codec == "filepath"

    @property
    def is_external(self) -> bool:
        """Stored in an object store (``<codec@store>``)."""
        return self.spec.store is not None

    @property
    def store(self) -> str | None:
        return self.spec.store

    @property
    def declared(self) -> str:
        return self.spec.render()

    @property
    def type(self) -> str:
        """The declared type as text (``int32``, ``varchar(30)``, ``<blob>``), as in DataJoint."""
        return self.spec.render()

    @property
    def original_type(self) -> str:
        """The type as written in the definition (DataJoint's ``original_type``). The catalog
        keeps the canonical text, so an enum reads in the usual ``enum('a', 'b')`` spelling."""
        spec = self.spec
        if spec.core == "enum" and not spec.codec:
            return "enum(" + ", ".join("'" + v.replace("'", "''") + "'" for v in spec.args) + ")"
        return spec.declared or spec.render()

    @property
    def is_hidden(self) -> bool:
        """A platform-managed column (``_job_start_time``, ...): kept out of headings, fetches
        and joins (DataJoint 2.x)."""
        return self.name.startswith("_")

    def replace(self, **changes: Any) -> "Attribute":
        return dataclasses.replace(self, **changes)


class Heading:
    """An ordered, immutable collection of attributes."""

    __slots__ = ("_attrs", "_index", "table_comment", "hidden", "memo")

    def __init__(self, attributes: list[Attribute] | tuple[Attribute, ...] = (),
                 table_comment: str = "", hidden: tuple[Attribute, ...] = ()) -> None:
        self._attrs = tuple(attributes)
        self._index = {a.name: a for a in self._attrs}
        self.table_comment = table_comment
        #: a base table's hidden columns (names starting with ``_``, e.g. a singleton's
        #: ``_singleton`` key): never fetched, inserted or matched, but part of the table
        self.hidden = tuple(hidden)
        #: what the layers above derive from this heading and may keep while it lives (e.g.
        #: insert's value converters); a changed table gets a new heading, so nothing stales
        self.memo: dict = {}

    # mapping-like access
    def __getitem__(self, name: str) -> Attribute:
        return self._index[name]

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(a.name for a in self._attrs)

    def __len__(self) -> int:
        return len(self._attrs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Heading) and self._attrs == other._attrs

    def __hash__(self) -> int:
        return hash(self._attrs)

    @property
    def attributes(self) -> dict[str, Attribute]:
        return dict(self._index)

    def values(self) -> tuple[Attribute, ...]:
        return self._attrs

    def items(self) -> list[tuple[str, Attribute]]:
        return [(a.name, a) for a in self._attrs]

    def keys(self) -> list[str]:
        return self.names

    @property
    def _attributes(self) -> dict[str, Attribute]:
        """Every attribute, hidden ones too (DataJoint's private name)."""
        return {**self._index, **{a.name: a for a in self.hidden}}

    @property
    def table_key(self) -> list[str]:
        """The primary key the database enforces: ``primary_key``, or for a singleton table
        (nothing visible in the key) its hidden key."""
        return self.primary_key or [a.name for a in self.hidden if a.in_key]

    @property
    def names(self) -> list[str]:
        return [a.name for a in self._attrs]

    @property
    def primary_key(self) -> list[str]:
        return [a.name for a in self._attrs if a.in_key]

    @property
    def secondary_attributes(self) -> list[str]:
        return [a.name for a in self._attrs if not a.in_key]

    @property
    def as_dtype(self) -> np.dtype:
        """A numpy structured dtype for this heading's rows (DataJoint's ``as_dtype``):
        numeric types map to their numpy types, everything else to ``object``."""
        fields = []
        for a in self._attrs:
            core = a.core
            if a.codec or a.expression is not None or a.nullable and not core.startswith("float"):
                kind: Any = object
            elif core.startswith(("int", "uint")) and core[-1].isdigit() or \
                    core in ("float32", "float64"):
                kind = np.dtype(core)
            elif core == "bool":
                kind = np.dtype(bool)
            else:
                kind = object
            fields.append((a.name, kind))
        return np.dtype(fields)

    @property
    def blobs(self) -> list[str]:
        return [a.name for a in self._attrs if a.codec]

    @property
    def non_blobs(self) -> list[str]:
        return [a.name for a in self._attrs if not a.codec]

    def with_key(self, key: list[str]) -> "Heading":
        """The same attributes, primary key first, with exactly ``key`` as primary key."""
        keyset = set(key)
        attrs = [self._index[k].replace(in_key=True) for k in key]
        attrs += [a.replace(in_key=False) for a in self._attrs if a.name not in keyset]
        return Heading(attrs, self.table_comment)

    def select(self, names: list[str]) -> "Heading":
        return Heading([self._index[n] for n in names], self.table_comment)

    def __repr__(self) -> str:
        lines = [f"# {self.table_comment}"] if self.table_comment else []
        for a in self._attrs:
            if not a.in_key and (not lines or lines[-1] != "---") and \
                    all(b.in_key for b in self._attrs[: self._attrs.index(a)]):
                lines.append("---")
            lines.append(f"{a.name} : {a.declared}" + (f"  # {a.comment}" if a.comment else ""))
        return "\n".join(lines)
