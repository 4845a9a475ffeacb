"""Per-column encode/decode pipelines: backend value conversion plus the codec chain.

Built once per column per insert or fetch, applied to every value (bulk)."""
from __future__ import annotations

from typing import Any, Callable

from ..errors import CodecError, DataError
from .base import CodecContext, call_decode, call_encode, registry


def context_for(table: Any, attr: Any, **extra: Any) -> CodecContext:
    conn = table.connection
    name = getattr(table, "full_table_name", "")
    return CodecContext(table=name, attribute=attr.name, store=attr.spec.store,
                        config=conn.config, connection=conn, extra=extra)


def column_decoder(query: Any, attr: Any, download_path: str | None = None,
                   squeeze: bool = False) -> Callable[[Any], Any] | None:
    """A function decoding one fetched value of ``attr`` (None: nothing to do)."""
    backend = query.connection.backend
    convert = backend.converter(attr.core, attr.spec.args) if attr.core else None
    if not attr.codec:
        return convert
    codecs, _ = registry.chain(attr.codec, attr.spec.store is not None)
    ctx = context_for(query, attr, squeeze=squeeze)
    if download_path is not None:
        cfg = ctx.config.snapshot()
        cfg["download_path"] = download_path
        ctx.config = cfg
    inner_first = list(reversed(codecs))

    def decode(value: Any) -> Any:
        if value is None:
            return None
        if convert is not None:
            value = convert(value)
        for codec in inner_first:
            value = call_decode(codec, value, ctx)
        return value
    return decode


def column_encoder(table: Any, attr: Any) -> Callable[[Any], Any] | None:
    """A function turning a Python value into the driver parameter for ``attr``."""
    backend = table.connection.backend
    adapt = backend.adapter(attr.core, attr.spec.args)
    if not attr.codec:
        return adapt
    codecs, _ = registry.chain(attr.codec, attr.spec.store is not None)
    ctx = context_for(table, attr)

    def encode(value: Any) -> Any:
        if value is None:
            return None
        for codec in codecs:
            try:
                codec.validate(value)
                value = call_encode(codec, value, ctx)
            except (TypeError, ValueError) as exc:
                if isinstance(exc, (CodecError, DataError)):
                    raise
                raise DataError(f"attribute {attr.name!r}: <{codec.name}> cannot encode "
                                f"{type(value).__name__}: {exc}") from exc
        return adapt(value) if adapt else value
    return encode
