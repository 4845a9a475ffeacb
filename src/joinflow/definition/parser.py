"""Parse definition text into a ``TableSpec`` (pure: no database, no Python evaluation).

Grammar, one item per line::

    # table comment                       (first comment line before any attribute)
    name [= default] : type [# comment]   (attribute)
    -> [nullable, unique] Ref[.proj(new='old', ...)]   (foreign key)
    [unique] index(a, b)                  (secondary index)
    ---                                   (3+ dashes or underscores: end of primary key)

Errors raise ``DefinitionError`` naming the line number, the line and the offending token.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import DefinitionError
from .types import KEY_TYPES, TypeSpec, parse_type

_SEPARATOR = re.compile(r"^(-{3,}|_{3,})\s*(#.*)?$")
_IDENT = re.compile(r"[a-z][a-z0-9_]*")
_INDEX = re.compile(r"^(?P<unique>unique\s+)?index\s*\((?P<cols>[^)]*)\)\s*$", re.I)
_FK = re.compile(r"^->\s*(?:\[(?P<opts>[^\]]*)\])?\s*(?P<ref>.+?)\s*$")
_REF = re.compile(r"^(?P<name>[A-Za-z_][\w]*(?:\s*\.\s*[A-Za-z_][\w]*)*)"
                  r"(?:\s*\.\s*proj\s*\((?P<args>.*)\))?$", re.S)
_RENAME = re.compile(r"^\s*(?P<new>[a-z_]\w*)\s*=\s*(?P<q>['\"])(?P<old>[a-z_]\w*)(?P=q)\s*$")
FK_OPTIONS = {"nullable", "unique"}
SQL_DEFAULT_KEYWORDS = {"CURRENT_TIMESTAMP", "CURRENT_TIMESTAMP()", "NOW()", "CURRENT_DATE",
                        "CURRENT_TIME"}
_TIMESTAMP_DEFAULT = re.compile(r"^(CURRENT_TIMESTAMP|NOW)\s*(\(\s*\d?\s*\))?$", re.I)
_BARE_WORD = re.compile(r"^[A-Za-z_][\w.\-]*$")


@dataclass
class AttrDecl:
    name: str
    type: TypeSpec
    in_key: bool
    nullable: bool = False
    default: object = None          # python value, or SqlDefault, or None (no default)
    has_default: bool = False
    comment: str = ""
    lineno: int = 0
    autoincrement: bool = False


@dataclass(frozen=True)
class SqlDefault:
    """A default that is an SQL expression (CURRENT_TIMESTAMP)."""

    text: str


@dataclass
class ForeignKeyDecl:
    ref: str                       # dotted name of the referenced table class
    in_key: bool
    options: frozenset = frozenset()
    renames: dict = field(default_factory=dict)   # new attribute name -> parent's name
    lineno: int = 0
    line: str = ""


@dataclass
class IndexDecl:
    columns: tuple
    unique: bool = False
    lineno: int = 0
    line: str = ""


@dataclass
class TableSpec:
    comment: str = ""
    items: list = field(default_factory=list)     # AttrDecl | ForeignKeyDecl, in order
    indexes: list = field(default_factory=list)

    @property
    def attributes(self) -> list[AttrDecl]:
        return [i for i in self.items if isinstance(i, AttrDecl)]

    @property
    def foreign_keys(self) -> list[ForeignKeyDecl]:
        return [i for i in self.items if isinstance(i, ForeignKeyDecl)]


def _find_outside(text: str, target: str, skip_parens: bool) -> int:
    """Index of the first ``target`` character outside quotes (and parentheses), or -1."""
    quote, depth = None, 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif skip_parens and ch in "()":
            depth += 1 if ch == "(" else -1
        elif ch == target and depth <= 0:
            return i
    return -1


def split_comment(text: str) -> tuple[str, str]:
    """Split ``text`` at the first ``#`` outside quotes and parentheses."""
    i = _find_outside(text, "#", skip_parens=True)
    return (text.rstrip(), "") if i < 0 else (text[:i].rstrip(), text[i + 1:].strip())


def _unclosed_quote(text: str) -> int:
    """Index of a quote that is opened but never closed in ``text``, or -1."""
    quote, start = None, -1
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote, start = ch, i
    return start if quote else -1


def _find_colon(text: str) -> int:
    return _find_outside(text, ":", skip_parens=False)


def parse_default(text: str) -> tuple[bool, object, bool]:
    """Return (nullable, default value, has_default) for the text after ``=``."""
    t = text.strip()
    if not t:
        raise DefinitionError("empty default value after '='", token="=")
    if t.lower() == "null":
        return True, None, True
    if _TIMESTAMP_DEFAULT.match(t):
        return False, SqlDefault("CURRENT_TIMESTAMP"), True
    if t.upper() in SQL_DEFAULT_KEYWORDS:
        raise DefinitionError(f"default {t} is not supported: use CURRENT_TIMESTAMP with a "
                              "datetime or timestamp attribute", token=t)
    if len(t) >= 2 and t[0] == t[-1] and t[0] in "'\"":
        return False, t[1:-1].replace(t[0] * 2, t[0]), True
    low = t.lower()
    if low in ("true", "false"):
        return False, low == "true", True
    try:
        return False, int(t), True
    except ValueError:
        pass
    try:
        return False, float(t), True
    except ValueError:
        pass
    if _BARE_WORD.match(t):  # DataJoint quotes an unquoted word: = pending -> "pending"
        return False, t, True
    raise DefinitionError("default must be null, a number, a quoted string or CURRENT_TIMESTAMP",
                          token=t)


def parse_attribute(line: str, in_key: bool, lineno: int = 0) -> AttrDecl:
    body, comment = split_comment(line)
    open_quote = _unclosed_quote(body)
    if open_quote >= 0:
        raise DefinitionError(f"unclosed quote {body[open_quote]} (the string never ends)",
                              line=line, lineno=lineno, token=body[open_quote:].strip())
    colon = _find_colon(body)
    if colon < 0:
        raise DefinitionError("expected 'name : type' (missing ':')", line=line, lineno=lineno,
                              token=body.strip())
    left, type_text = body[:colon].strip(), body[colon + 1:].strip()
    name, _, default_text = left.partition("=")
    name = name.strip()
    if not _IDENT.fullmatch(name):
        raise DefinitionError("invalid attribute name: use lowercase letters, digits and '_', "
                              "starting with a letter", line=line, lineno=lineno, token=name)
    nullable, default, has_default = (False, None, False)
    auto = False
    if "=" in left:
        nullable, default, has_default = parse_default(default_text)
    if re.search(r"\bauto_increment\b", type_text, re.I):
        type_text, auto = re.sub(r"\s*\bauto_increment\b", "", type_text, flags=re.I), True
    try:
        spec = parse_type(type_text)
    except DefinitionError as exc:
        raise DefinitionError(str(exc.args[0]).split("\n")[0], line=line, lineno=lineno,
                              token=exc.token or type_text) from None
    if in_key and nullable:
        raise DefinitionError("primary key attributes cannot be nullable", line=line,
                              lineno=lineno, token=name)
    if has_default and default is not None and (spec.is_codec or spec.core == "json"):
        kind = "json" if not spec.is_codec else f"codec ({spec.render()})"
        raise DefinitionError(f"a {kind} attribute can only default to null", line=line,
                              lineno=lineno, token=default_text.strip())
    if in_key and (spec.is_codec or spec.core not in KEY_TYPES):
        raise DefinitionError(f"type {spec.render()} is not allowed in the primary key", line=line,
                              lineno=lineno, token=type_text.strip())
    if spec.core == "enum" and isinstance(default, str) and default not in spec.args:
        raise DefinitionError(f"default {default!r} is not one of the enum values", line=line,
                              lineno=lineno, token=default_text.strip())
    if spec.core in ("char", "varchar") and isinstance(default, str) and \
            len(default) > spec.args[0]:
        raise DefinitionError(f"default {default!r} is longer than {spec.render()}", line=line,
                              lineno=lineno, token=default_text.strip())
    if isinstance(default, SqlDefault) and spec.core not in ("datetime", "timestamp"):
        raise DefinitionError(f"{default.text} is a default for datetime and timestamp only",
                              line=line, lineno=lineno, token=default_text.strip())
    return AttrDecl(name, spec, in_key, nullable, default, has_default, comment, lineno, auto)


def parse_foreign_key(line: str, in_key: bool, lineno: int = 0) -> ForeignKeyDecl:
    body, _ = split_comment(line)
    m = _FK.match(body.strip())
    if not m:
        raise DefinitionError("malformed foreign key; expected '-> Table'", line=line,
                              lineno=lineno, token=body)
    opts = frozenset(o.strip().lower() for o in (m.group("opts") or "").split(",") if o.strip())
    bad = opts - FK_OPTIONS
    if bad:
        raise DefinitionError(f"unknown foreign key option; expected one of {sorted(FK_OPTIONS)}",
                              line=line, lineno=lineno, token=sorted(bad)[0])
    if "nullable" in opts and in_key:
        raise DefinitionError("a foreign key in the primary key cannot be nullable", line=line,
                              lineno=lineno, token="nullable")
    r = _REF.match(m.group("ref"))
    if not r:
        raise DefinitionError("malformed foreign key reference; expected 'Table', "
                              "'module.Table' or \"Table.proj(new='old')\"", line=line,
                              lineno=lineno, token=m.group("ref"))
    renames = _parse_renames(r.group("args"), line, lineno) if r.group("args") is not None else {}
    ref = re.sub(r"\s+", "", r.group("name"))
    return ForeignKeyDecl(ref, in_key, opts, renames, lineno, line)


def _parse_renames(args: str, line: str, lineno: int) -> dict:
    renames: dict[str, str] = {}
    for part in (p for p in args.split(",") if p.strip()):
        m = _RENAME.match(part)
        if not m:
            raise DefinitionError("a foreign key may only rename attributes: "
                                  "proj(new_name='old_name')", line=line, lineno=lineno,
                                  token=part.strip())
        renames[m.group("new")] = m.group("old")
    return renames


def parse_definition(text: str, table: str | None = None) -> TableSpec:
    """Parse a whole definition into a ``TableSpec``."""
    spec = TableSpec()
    in_key, seen_item, seen_separator = True, False, False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            if line.startswith("#"):
                if not seen_item and not spec.comment:
                    spec.comment = line.lstrip("#").strip()
                continue
            if _SEPARATOR.match(line):
                if seen_separator:
                    raise DefinitionError("more than one primary key separator '---'", line=raw,
                                          lineno=lineno, token=line)
                in_key, seen_separator = False, True
                continue
            seen_item = True
            _parse_item(spec, line, in_key, lineno)
        except DefinitionError as exc:
            if exc.lineno is None:
                raise DefinitionError(str(exc.args[0]).split("\n")[0], line=raw, lineno=lineno,
                                      token=exc.token, table=table) from None
            if table and not exc.table:
                raise DefinitionError(str(exc.args[0]).split("\n")[0], line=exc.line,
                                      lineno=exc.lineno, token=exc.token, table=table) from None
            raise
    _check(spec, table, text.splitlines())
    return spec


def _parse_item(spec: TableSpec, line: str, in_key: bool, lineno: int) -> None:
    if line.startswith("->"):
        spec.items.append(parse_foreign_key(line, in_key, lineno))
        return
    m = _INDEX.match(split_comment(line)[0])
    if m:  # an index line adds no attribute, in either section
        cols = tuple(c.strip().strip("`") for c in m.group("cols").split(",") if c.strip())
        if not cols:
            raise DefinitionError("index needs at least one attribute", line=line, lineno=lineno,
                                  token=line)
        for c in cols:
            if not _IDENT.fullmatch(c):
                raise DefinitionError("index attributes must be attribute names", line=line,
                                      lineno=lineno, token=c)
        spec.indexes.append(IndexDecl(cols, bool(m.group("unique")), lineno, line))
        return
    spec.items.append(parse_attribute(line, in_key, lineno))


def _check(spec: TableSpec, table: str | None, lines: list[str]) -> None:
    names: dict[str, int] = {}
    for a in spec.attributes:
        if a.name in names:
            raise DefinitionError(f"duplicate attribute {a.name!r} (first declared on line "
                                  f"{names[a.name]})", line=lines[a.lineno - 1].strip(),
                                  lineno=a.lineno, token=a.name, table=table)
        names[a.name] = a.lineno
    if not spec.items:
        raise DefinitionError("the definition declares no attributes", table=table)
    # nothing above '---' is a singleton table (at most one row, DataJoint 2.x): the
    # declaration gives it a hidden primary key (declare.SINGLETON)
