"""Per-column codec plans: backend value conversion plus the codec chain, resolved once per
column per insert or fetch (chain, call styles, store, context) and applied column-wise.

Encoding collects what values need beyond their stored form — object writes and tracking
rows (``Encoded``) — for the insert path to perform around its transaction. Decoding hands
each codec the whole column (``Codec.decode_column``), so object-store codecs fetch a column
in one concurrent batch."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Final, Mapping

from ..errors import CodecError, DataError
from .base import (Codec, CodecContext, Encoded, ObjectWrite, RowWrite, StoreAccess, encoder,
                   registry)


@dataclass(frozen=True)
class TableRef:
    """Where a column lives: what a codec context names (never a connection)."""

    schema: str
    table: str


def column_origin(attr: Any) -> TableRef:
    """The table an attribute of a query result was declared in (from its lineage)."""
    parts = (attr.lineage or "").split(".")
    return TableRef(parts[0], parts[1]) if len(parts) >= 3 else TableRef("", "")


def make_context(where: TableRef, attr: Any, config: Any, stores: StoreAccess | None,
                 **kw: Any) -> CodecContext:
    return CodecContext(schema=where.schema, table=where.table, attribute=attr.name,
                        store=attr.spec.store, config=config, stores=stores, **kw)


def _tracking(conn: Any, attr: Any) -> Any:
    """The read-only tracking-table lookup for a DataJoint 0.x ``name@store`` column."""
    if not (attr.spec.legacy and attr.spec.store):
        return None
    from ..objectstores import tracking_lookup
    return tracking_lookup(conn)


def chain_of(attr: Any) -> list[Codec]:
    """The codecs of a codec attribute, outermost first."""
    codecs, _ = registry.chain_for(attr.spec)
    return codecs


@dataclass
class Pending:
    """Object writes and tracking rows collected while encoding rows for one insert."""

    writes: list[ObjectWrite] = field(default_factory=list)
    rows: list[RowWrite] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.writes or self.rows)

    def add(self, enc: Encoded) -> Any:
        self.writes.extend(enc.writes)
        self.rows.extend(enc.rows)
        return enc.value


class ColumnEncoder:
    """Turns Python values into driver parameters for one attribute."""

    def __init__(self, attr: Any, adapt: Callable[[Any], Any] | None, codecs: list[Codec],
                 context: CodecContext, pending: Pending) -> None:
        self.attr, self.adapt, self.context, self.pending = attr, adapt, context, pending
        self.steps = [(c, encoder(c)) for c in codecs]
        self.uses_row_key = any(c.uses_row_key for c in codecs)

    def __call__(self, value: Any, key: Mapping[str, Any] | None = None) -> Any:
        if value is None:
            return None
        if self.steps:
            ctx = self.context if key is None else self.context.with_key(key)
            for codec, enc in self.steps:
                try:
                    codec.validate(value)
                    value = enc(value, ctx)
                except (TypeError, ValueError) as exc:
                    if isinstance(exc, (CodecError, DataError)):
                        raise
                    raise DataError(f"attribute {self.attr.name!r}: <{codec.name}> cannot encode "
                                    f"{type(value).__name__}: {exc}") from exc
                if isinstance(value, Encoded):
                    value = self.pending.add(value)
        return self.adapt(value) if self.adapt else value


#: the context of an encoder without codecs (which never reads it)
_NO_CONTEXT: Final = CodecContext()


def column_encoder(table: Any, attr: Any, pending: Pending | None = None,
                   stores: StoreAccess | None = None) -> ColumnEncoder | None:
    """The encoder of ``attr`` for inserts into ``table`` (None: values pass unchanged)."""
    conn = table.connection
    adapt = conn.backend.adapter(attr.core, attr.spec.args)
    if not attr.codec:
        return ColumnEncoder(attr, adapt, [], _NO_CONTEXT, Pending()) if adapt else None
    where = TableRef(table.database, table.table_name)
    ctx = make_context(where, attr, conn.config, stores, tracking=_tracking(conn, attr))
    return ColumnEncoder(attr, adapt, chain_of(attr), ctx, pending if pending is not None
                         else Pending())


class ColumnDecoder:
    """Turns a fetched column of driver values into Python values for one attribute."""

    def __init__(self, convert: Callable[[Any], Any] | None, codecs: list[Codec],
                 context: CodecContext | None,
                 convert_column: Callable[[list], list] | None = None) -> None:
        self.convert, self.context = convert, context
        self.convert_column = convert_column
        inner_first = list(reversed(codecs))
        # a codec whose outer neighbour takes local files may hand it large objects as files
        self.steps = [(c, replace(context, files_ok=True)
                       if context is not None and i + 1 < len(inner_first)
                       and inner_first[i + 1].accepts_files else context)
                      for i, c in enumerate(inner_first)]

    def __call__(self, column: list) -> list:
        """The decoded column. ``column`` is consumed: a codec may decode it in place."""
        if self.convert is not None:
            convert = self.convert
            if self.convert_column is not None and None not in column:  # (driver values)
                column = self.convert_column(column)
            else:
                column = [None if v is None else convert(v) for v in column]
        for codec, ctx in self.steps:
            column = codec.decode_column(column, context=ctx)  # type: ignore[arg-type]
        return column

    def one(self, value: Any) -> Any:
        return self([value])[0]


def column_decoder(query: Any, attr: Any, download_path: str | None = None,
                   squeeze: bool = False, stores: StoreAccess | None = None
                   ) -> ColumnDecoder | None:
    """The decoder of ``attr`` as fetched by ``query`` (None: nothing to do)."""
    conn = query.connection
    convert = conn.backend.converter(attr.core, attr.spec.args) if attr.core else None
    if not attr.codec:
        return None if convert is None else ColumnDecoder(
            convert, [], None, conn.backend.column_converter(attr.core, attr.spec.args))
    ctx = make_context(column_origin(attr), attr, conn.config, stores, squeeze=squeeze,
                       download_to=download_path, tracking=_tracking(conn, attr))
    return ColumnDecoder(convert, chain_of(attr), ctx)
