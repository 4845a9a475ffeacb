"""The codec interface and registry.

A codec turns a Python value into a storable one (``encode``) and back (``decode``). Its
``get_dtype(is_store)`` names what it stores to: a core type (``bytes``, ``json``, ...) or another
codec (``<blob>``), so codecs chain. Subclasses register themselves by ``name`` when defined;
more are found lazily in the ``joinflow.codecs`` (and ``datajoint.codecs``) entry-point groups.

Every call receives an explicit ``CodecContext`` (table, attribute, key, store, config) — never
globals. Codecs written for DataJoint 2.x (``encode(value, *, key=None, store_name=None)``) are
called with those keyword arguments instead.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import CodecError, DefinitionError

ENTRY_POINT_GROUPS = ("joinflow.codecs", "datajoint.codecs")


@dataclass
class CodecContext:
    """What a codec may know about the value it handles."""

    table: str = ""                 # full table name
    attribute: str = ""
    store: str | None = None        # None: in-table; "" default store; else store name
    key: dict | None = None         # primary key of the row (when known)
    config: Any = None              # the connection's configuration
    connection: Any = None
    extra: dict = field(default_factory=dict)

    @property
    def download_path(self) -> str:
        return (self.config["download_path"] if self.config is not None else ".") or "."


class Codec:
    """Base class of all codecs. Set ``name`` and override ``get_dtype``/``encode``/``decode``."""

    name: ClassVar[str] = ""
    #: storage type when get_dtype is not overridden
    dtype: ClassVar[str] = "bytes"

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if register and cls.__dict__.get("name"):
            registry.add(cls())

    def get_dtype(self, is_store: bool) -> str:
        return self.dtype

    def encode(self, value: Any, *, context: CodecContext | None = None) -> Any:
        raise NotImplementedError

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> Any:
        raise NotImplementedError

    def validate(self, value: Any) -> None:
        """Raise TypeError/ValueError if ``value`` cannot be encoded."""

    def __repr__(self) -> str:
        return f"<codec {self.name}>"


def _call_style(method: Any) -> str:
    params = inspect.signature(method).parameters
    if "context" in params:
        return "context"
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return "both"
    return "datajoint"


def call_encode(codec: Codec, value: Any, ctx: CodecContext) -> Any:
    style = _call_style(codec.encode)
    if style == "context":
        return codec.encode(value, context=ctx)
    kwargs = {"key": ctx.key, "store_name": ctx.store}
    if style == "both":
        kwargs["context"] = ctx
    return codec.encode(value, **kwargs)


def call_decode(codec: Codec, stored: Any, ctx: CodecContext) -> Any:
    style = _call_style(codec.decode)
    if style == "context":
        return codec.decode(stored, context=ctx)
    kwargs: dict[str, Any] = {"key": ctx.key}
    if style == "both":
        kwargs["context"] = ctx
    return codec.decode(stored, **kwargs)


class Registry:
    """Codecs by name: built-ins, subclasses defined in this process, then entry points."""

    def __init__(self) -> None:
        self._codecs: dict[str, Codec] = {}
        self._entry_points_loaded = False

    def add(self, codec: Codec, *, replace: bool = False) -> None:
        if codec.name in self._codecs and not replace and \
                type(self._codecs[codec.name]).__qualname__ != type(codec).__qualname__:
            raise CodecError(f"codec <{codec.name}> already registered")
        self._codecs[codec.name] = codec

    def remove(self, name: str) -> None:
        self._codecs.pop(name, None)

    def _load_entry_points(self) -> None:
        self._entry_points_loaded = True
        from importlib.metadata import entry_points
        for group in ENTRY_POINT_GROUPS:
            for ep in entry_points(group=group):
                if ep.name in self._codecs:
                    continue
                obj = ep.load()
                codec = obj() if isinstance(obj, type) else obj
                self._codecs.setdefault(codec.name or ep.name, codec)

    def get(self, name: str) -> Codec:
        name = name.strip().strip("<>").split("@")[0].strip()
        if name not in self._codecs and not self._entry_points_loaded:
            self._load_entry_points()
        try:
            return self._codecs[name]
        except KeyError:
            raise CodecError(f"unknown codec <{name}>; known codecs: "
                             f"{', '.join('<' + n + '>' for n in self.names())}") from None

    def names(self) -> list[str]:
        if not self._entry_points_loaded:
            self._load_entry_points()
        return sorted(self._codecs)

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
            return True
        except CodecError:
            return False

    def chain(self, name: str, is_store: bool) -> tuple[list[Codec], str]:
        """The codecs a declared ``<name>`` goes through (outermost first) and the core type."""
        seen, codecs = set(), []
        current = name
        while True:
            if current in seen:
                raise DefinitionError(f"circular codec reference: {' -> '.join(seen)} -> {current}")
            seen.add(current)
            codec = self.get(current)
            codecs.append(codec)
            dtype = codec.get_dtype(is_store).strip()
            if dtype.startswith("<"):
                current = dtype.strip("<>").split("@")[0]
                continue
            from ..definition.types import parse_type
            spec = parse_type(dtype)
            if spec.codec:  # a 0.x spelling such as 'longblob' stores through that codec
                current, is_store = spec.codec, is_store or spec.store is not None
                continue
            return codecs, dtype


registry = Registry()


class AttributeAdapter(Codec, register=False):
    """DataJoint 0.x adapters: set ``attribute_type`` and define ``put``/``get``. An instance
    placed in the declaration context under a name is used as ``<name>``."""

    attribute_type: ClassVar[str] = "longblob"

    def get_dtype(self, is_store: bool) -> str:
        return self.attribute_type

    def put(self, obj: Any) -> Any:
        raise NotImplementedError

    def get(self, value: Any) -> Any:
        raise NotImplementedError

    def encode(self, value: Any, *, context: CodecContext | None = None) -> Any:
        return self.put(value)

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> Any:
        return self.get(stored)


def register_from_context(name: str, context: dict) -> None:
    """Register a 0.x adapter (or a codec instance) found in a declaration context."""
    obj = context.get(name)
    if isinstance(obj, Codec) and name not in registry._codecs:
        if not type(obj).name:
            type(obj).name = name
        registry._codecs[name] = obj


def get_codec(name: str) -> Codec:
    return registry.get(name)


def list_codecs() -> list[str]:
    return registry.names()
