"""Declared attribute types: parsing the type text of a definition line into a ``TypeSpec``.

A ``TypeSpec`` names a *core* type (portable across backends) and, for codec types, the codec
and its store. Native MySQL spellings that DataJoint users write (``int unsigned``, ``double``,
``longblob``, ...) are mapped onto core types here, in one table.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import DefinitionError

INTEGER_RANGES: dict[str, tuple[int, int]] = {
    "int8": (-(2**7), 2**7 - 1), "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1),
    "uint8": (0, 2**8 - 1), "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1), "uint64": (0, 2**64 - 1),
}
NUMERIC_CORE = set(INTEGER_RANGES) | {"float32", "float64", "decimal", "bool"}
CORE_TYPES = NUMERIC_CORE | {
    "char", "varchar", "text", "enum", "date", "datetime", "time", "timestamp",
    "uuid", "json", "bytes"}
# types allowed in a primary key
KEY_TYPES = (set(INTEGER_RANGES) | {"decimal", "bool", "char", "varchar", "enum", "date",
                                    "datetime", "time", "timestamp", "uuid", "float32", "float64"})

_NATIVE_INTS = {"tinyint": "8", "smallint": "16", "mediumint": "32", "int": "32",
                "integer": "32", "bigint": "64"}
# legacy (DataJoint 0.x) spellings that mean a codec
LEGACY_CODECS = {"longblob": "blob", "blob": "blob", "mediumblob": "blob", "tinyblob": "blob",
                 "attach": "attach", "filepath": "filepath"}
_SIMPLE_ALIASES = {
    "double": "float64", "double precision": "float64", "real": "float64", "float": "float32",
    "boolean": "bool", "bool": "bool", "bytea": "bytes", "varbinary": "bytes", "binary": "bytes",
    "text": "text", "longtext": "text", "mediumtext": "text", "tinytext": "text",
    "numeric": "decimal", "dec": "decimal", "smallint unsigned": "uint16",
    "year": "int16",  # MySQL YEAR (1901..2155), kept as a small integer on every backend
}

_CODEC_RE = re.compile(r"^<\s*(?P<name>[A-Za-z_][\w]*)\s*(?:@\s*(?P<store>[\w\-]*))?\s*>$")
_LEGACY_STORE_RE = re.compile(r"^(?P<name>blob|attach|filepath)\s*@\s*(?P<store>[\w\-]+)$", re.I)
_CALL_RE = re.compile(r"^(?P<base>[a-z][a-z0-9_ ]*?)\s*(?:\((?P<args>.*)\))?\s*(?P<tail>unsigned|signed)?$",
                      re.I | re.S)


@dataclass(frozen=True)
class TypeSpec:
    """A declared attribute type.

    ``core`` is the storage core type; for codec types it is the codec's final storage type,
    filled in by the codec registry (``bytes`` for ``<blob>``, ``json`` for ``<json>``...).
    """

    core: str
    args: tuple = ()
    codec: str | None = None
    store: str | None = None      # None: in-table; "": default store; else a store name
    legacy: bool = False          # declared with a 0.x spelling (longblob, attach, blob@store)
    declared: str = field(default="", compare=False)

    @property
    def is_codec(self) -> bool:
        return self.codec is not None

    def render(self) -> str:
        """The canonical text of this type, as recorded in the column comment."""
        if self.codec:
            if self.legacy:
                return f"{self.codec}@{self.store}" if self.store else self.declared or self.codec
            return f"<{self.codec}@{self.store}>" if self.store is not None else f"<{self.codec}>"
        if self.core == "enum":
            return "enum(" + ",".join(_quote_enum(v) for v in self.args) + ")"
        if self.args:
            return f"{self.core}({','.join(str(a) for a in self.args)})"
        return self.core


def _quote_enum(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse_enum_values(text: str) -> tuple[str, ...]:
    """Parse ``'a','b' , "c"`` into ``('a', 'b', 'c')``."""
    values, i, n = [], 0, len(text)
    while i < n:
        while i < n and text[i] in " ,\t\n":
            i += 1
        if i >= n:
            break
        q = text[i]
        if q not in "'\"":
            raise DefinitionError("enum values must be quoted strings", token=text[i:])
        i += 1
        buf = []
        while True:
            if i >= n:
                raise DefinitionError("unterminated string in enum", token=text)
            if text[i] == q:
                if i + 1 < n and text[i + 1] == q:
                    buf.append(q)
                    i += 2
                    continue
                i += 1
                break
            buf.append(text[i])
            i += 1
        values.append("".join(buf))
    if not values:
        raise DefinitionError("enum needs at least one value", token=text)
    return tuple(values)


def _int_args(args: str | None, base: str) -> tuple:
    if not args:
        return ()
    try:
        return tuple(int(a.strip()) for a in args.split(","))
    except ValueError:
        raise DefinitionError(f"type {base}(...) takes integer arguments", token=args) from None


def parse_type(text: str) -> TypeSpec:
    """Parse a declared type such as ``int unsigned``, ``varchar(64)``, ``<blob@raw>``."""
    raw = text.strip()
    if not raw:
        raise DefinitionError("missing attribute type", token=text)
    if raw.startswith("<"):
        m = _CODEC_RE.match(raw)
        if not m:
            raise DefinitionError("malformed codec type; expected <name>, <name@store> or <name@>",
                                  token=raw)
        store = m.group("store")
        return TypeSpec(core="", codec=m.group("name"), store=store, declared=raw)
    m = _LEGACY_STORE_RE.match(raw)
    if m:
        return TypeSpec(core="", codec=m.group("name").lower(), store=m.group("store"),
                        legacy=True, declared=raw)
    m = _CALL_RE.match(raw)
    if not m:
        raise DefinitionError("unknown attribute type", token=raw)
    base = " ".join(m.group("base").lower().split())
    args, tail = m.group("args"), (m.group("tail") or "").lower()
    return _from_parts(raw, base, args, tail)


# spellings that take no arguments at all
_NO_ARGS = set(INTEGER_RANGES) | {"float32", "float64", "uuid", "json", "bool", "date",
                                  "boolean"}
# spellings that may carry a (MySQL) ``unsigned``
_UNSIGNED_OK = set(_NATIVE_INTS) | {"float", "double", "double precision", "real", "decimal",
                                    "numeric", "dec"}


def _from_parts(raw: str, base: str, args: str | None, tail: str) -> TypeSpec:
    if base.endswith(" unsigned"):
        base, tail = base[: -len(" unsigned")], "unsigned"
    if base in LEGACY_CODECS and not args and not tail:
        return TypeSpec(core="", codec=LEGACY_CODECS[base], legacy=True, declared=base)
    if tail and base not in _UNSIGNED_OK:
        hint = f"; use u{base}" if base in INTEGER_RANGES and not base.startswith("u") else ""
        raise DefinitionError(f"'{tail}' only applies to native numeric types (int, bigint, "
                              f"...){hint}", token=raw)
    if args is not None and base in _NO_ARGS:
        raise DefinitionError(f"type {base} takes no arguments", token=raw)
    if base in INTEGER_RANGES or base in ("float32", "float64", "uuid", "json", "bytes", "date",
                                          "time", "bool"):
        return TypeSpec(core=base, declared=raw)
    if base in _NATIVE_INTS:
        bits = _NATIVE_INTS[base]
        core = ("uint" if tail == "unsigned" else "int") + bits
        return TypeSpec(core=core, declared=raw)
    if base in ("datetime", "timestamp"):
        prec = _int_args(args, base)
        if len(prec) > 1 or (prec and not 0 <= prec[0] <= 6):
            raise DefinitionError(f"{base}(n) takes one precision n from 0 to 6", token=raw)
        return TypeSpec(core=base, args=prec, declared=raw)
    if base in ("char", "varchar"):
        size = _int_args(args, base)
        if base == "varchar" and not size:
            raise DefinitionError("varchar needs a length, e.g. varchar(255)", token=raw)
        if len(size) > 1 or (size and size[0] < 1):
            raise DefinitionError(f"{base}(n) takes one positive length n", token=raw)
        return TypeSpec(core=base, args=size or (1,), declared=raw)
    if base == "enum":
        return TypeSpec(core="enum", args=parse_enum_values(args or ""), declared=raw)
    if base in ("decimal", "numeric", "dec"):
        pa = _int_args(args, base) or (10, 0)
        if len(pa) == 1:
            pa = (pa[0], 0)
        if len(pa) != 2 or not 1 <= pa[0] <= 65 or not 0 <= pa[1] <= pa[0]:
            raise DefinitionError("decimal takes (precision, scale) with 1 <= precision <= 65 "
                                  "and 0 <= scale <= precision", token=raw)
        return TypeSpec(core="decimal", args=pa, declared=raw)
    if base in _SIMPLE_ALIASES:
        core = _SIMPLE_ALIASES[base]
        return TypeSpec(core=core, args=_int_args(args, base) if core == "bytes" else (), declared=raw)
    raise DefinitionError(
        "unknown attribute type; expected a core type (int32, float64, varchar(n), date, uuid, "
        "json, bytes, ...), a native type (int, double, longblob, ...) or a codec <name>",
        token=raw)
