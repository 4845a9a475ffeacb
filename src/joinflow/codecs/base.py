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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol

from ..errors import CodecError, DefinitionError

if TYPE_CHECKING:
    from ..storage.legacy import TrackingLookup

ENTRY_POINT_GROUPS = ("joinflow.codecs", "datajoint.codecs")


class StoreAccess(Protocol):
    """The configured stores, as codecs and the insert path see them. Implemented by
    ``joinflow.storage`` (``stores_for(config)``)."""

    def get(self, name: str | None, *, filepath: bool = False) -> Any:
        """The store called ``name`` (``None`` or ``""``: the default store; with
        ``filepath``, the one ``stores.filepath_default`` names)."""

    def put_pending(self, writes: Sequence["ObjectWrite"]) -> list["ObjectWrite"]:
        """Write objects concurrently (content-addressed ones only if missing); return the
        writes that created a new object."""

    def discard(self, writes: Sequence["ObjectWrite"], connection: Any) -> None:
        """Remove objects created for a transaction that failed, unless a committed row
        references them."""


@dataclass(frozen=True)
class CodecContext:
    """What a codec may know about the value it handles. Frozen: one per column (and per row
    for codecs that use the row's key); never a connection."""

    schema: str = ""                # schema (database) of the table the column belongs to
    table: str = ""                 # table name within the schema (unquoted)
    attribute: str = ""
    store: str | None = None        # None: in-table; "": default store; else store name
    key: Mapping[str, Any] | None = None   # primary key of the row (when known)
    config: Any = None              # the connection's configuration
    stores: StoreAccess | None = None      # the configured stores (object-store codecs)
    squeeze: bool = False           # fetch: drop singleton dimensions of arrays
    files_ok: bool = False          # fetch: the next codec takes a large object as a local file
    download_to: str | None = None  # fetch: folder for attachments (else config download_path)
    tracking: "TrackingLookup | None" = None  # DataJoint 0.x ``~external_*`` rows (read only)

    @property
    def download_path(self) -> str:
        if self.download_to is not None:
            return self.download_to
        return (self.config["download_path"] if self.config is not None else ".") or "."

    @property
    def full_table_name(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table

    def with_key(self, key: Mapping[str, Any] | None) -> "CodecContext":
        return replace(self, key=key)


@dataclass(frozen=True)
class ObjectUse:
    """How committed rows refer to an object, so that the cleanup after a failed transaction
    keeps an object another transaction has meanwhile committed a row for: a row of a table of
    ``schema`` whose stored value contains ``token`` (a content hash); or, with ``tracking``,
    a row of that tracking table (DataJoint 0.x ``~external_<store>``) whose ``hash`` is
    ``token``."""

    schema: str
    token: Any
    tracking: str | None = None


@dataclass(frozen=True)
class ObjectWrite:
    """An object an encoded value needs in a store. The insert path writes every pending
    object (concurrently) *before* the row's transaction, and removes what it created if the
    transaction fails. ``data`` is written as is; or ``prefix`` then the bytes of the local
    file ``source`` are streamed."""

    store: str | None               # store name as declared ("" / None: the default store)
    path: str                       # path relative to the store's root
    data: bytes | memoryview | None = None
    source: str | None = None
    prefix: bytes = b""
    size: int = 0
    content_addressed: bool = True  # an existing object at ``path`` is the same object: skip
    use: ObjectUse | None = None    # how rows refer to it (None: only the failed rows did)


@dataclass(frozen=True)
class FileContent:
    """``prefix`` followed by the bytes of the local file ``path``, not read into memory: what
    ``<attach@>`` hands to ``<hash@>`` so a large file is hashed and uploaded in chunks."""

    path: str
    prefix: bytes = b""

    @property
    def size(self) -> int:
        import os
        return len(self.prefix) + os.path.getsize(self.path)


@dataclass(frozen=True)
class RowWrite:
    """A row a value needs in another table before its own row is written (DataJoint 0.x
    ``~external_<store>`` tracking tables); inserted in the same transaction, duplicates
    skipped."""

    schema: str
    table: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Encoded:
    """What ``encode`` returns when a value needs more than its stored form: the value for
    the next codec (or the column) plus pending object writes and tracking rows."""

    value: Any
    writes: tuple[ObjectWrite, ...] = ()
    rows: tuple[RowWrite, ...] = ()


class Codec:
    """Base class of all codecs. Set ``name`` and override ``get_dtype``/``encode``/``decode``.

    ``encode`` may return an ``Encoded`` to ask for object writes. ``decode_column`` decodes
    a whole fetched column at once (object-store codecs override it to download in one
    concurrent batch); by default it calls ``decode`` on each non-null value."""

    name: ClassVar[str] = ""
    #: storage type when get_dtype is not overridden
    dtype: ClassVar[str] = "bytes"
    #: the codec reads ``context.key`` (the row's primary key): a context is made per row
    uses_row_key: ClassVar[bool] = False
    #: ``decode`` also takes a ``FileContent`` (a large object downloaded to a local file)
    accepts_files: ClassVar[bool] = False

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

    def decode_column(self, values: list, *, context: CodecContext) -> list:
        """Decode a column of stored values (``None`` stays ``None``)."""
        dec = decoder(self)
        return [None if v is None else dec(v, context) for v in values]

    def validate(self, value: Any) -> None:
        """Raise TypeError/ValueError if ``value`` cannot be encoded."""

    def __repr__(self) -> str:
        return f"<codec {self.name}>"


# How a codec's methods want to be called, found once per codec class (not per value):
# joinflow style ``encode(value, *, context=None)``; DataJoint 2.x style
# ``encode(value, *, key=None, store_name=None)``; or both (``**kwargs``).
_STYLES: dict[Any, str] = {}


def _call_style(method: Any) -> str:
    func = getattr(method, "__func__", method)
    style = _STYLES.get(func)
    if style is None:
        params = inspect.signature(method).parameters
        style = "context" if "context" in params else "both" if any(
            p.kind == p.VAR_KEYWORD for p in params.values()) else "datajoint"
        _STYLES[func] = style
    return style


def encoder(codec: Codec) -> Callable[[Any, CodecContext], Any]:
    """``f(value, ctx)`` calling ``codec.encode`` in the style it was written in."""
    method, style = codec.encode, _call_style(codec.encode)
    if style == "context":
        return lambda v, ctx: method(v, context=ctx)
    legacy: Callable[..., Any] = method  # older codecs take key/store_name keywords
    if style == "both":
        return lambda v, ctx: legacy(v, key=ctx.key, store_name=ctx.store, context=ctx)
    return lambda v, ctx: legacy(v, key=ctx.key, store_name=ctx.store)


def decoder(codec: Codec) -> Callable[[Any, CodecContext], Any]:
    """``f(stored, ctx)`` calling ``codec.decode`` in the style it was written in."""
    method, style = codec.decode, _call_style(codec.decode)
    if style == "context":
        return lambda v, ctx: method(v, context=ctx)
    legacy: Callable[..., Any] = method
    if style == "both":
        return lambda v, ctx: legacy(v, key=ctx.key, context=ctx)
    return lambda v, ctx: legacy(v, key=ctx.key)


def call_encode(codec: Codec, value: Any, ctx: CodecContext) -> Any:
    return encoder(codec)(value, ctx)


def call_decode(codec: Codec, stored: Any, ctx: CodecContext) -> Any:
    return decoder(codec)(stored, ctx)


class Registry:
    """Codecs by name: built-ins, subclasses defined in this process, then entry points."""

    def __init__(self) -> None:
        self._codecs: dict[str, Codec] = {}
        self._entry_points_loaded = False
        self._legacy_external: dict[str, Codec] = {}

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

    def set_legacy_external(self, codecs: Mapping[str, Codec]) -> None:
        """The codecs of DataJoint 0.x ``blob@store``/``attach@store``/``filepath@store``
        (set by ``joinflow.storage.legacy``; not listed among the named codecs)."""
        self._legacy_external = dict(codecs)

    def chain_for(self, spec: Any) -> tuple[list[Codec], str]:
        """The chain of a declared codec type (a ``TypeSpec``): 0.x ``name@store`` columns go
        through the legacy external-storage codecs, everything else through ``chain``."""
        if spec.legacy and spec.store:
            if not self._legacy_external:
                from ..storage import legacy  # noqa: F401  (registers the codecs)
            codec = self._legacy_external.get(spec.codec)
            if codec is None:
                raise CodecError(f"unknown external type {spec.codec}@{spec.store}; "
                                 "expected blob@, attach@ or filepath@")
            return [codec], codec.get_dtype(True)
        return self.chain(spec.codec, spec.store is not None)

    def chain(self, name: str, is_store: bool) -> tuple[list[Codec], str]:
        """The codecs a declared ``<name>`` goes through (outermost first) and the core type."""
        seen: set[str] = set()
        codecs: list[Codec] = []
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
