"""Codecs: the interface and registry (``base``), DataJoint's blob format (``blob``), the
built-in codecs (``builtin``) and the per-column plans of insert and fetch (``pipeline``).

The names DataJoint's ``datajoint.codecs`` module offers are importable from here."""
from .base import Codec, CodecContext, get_codec, list_codecs, registry


def is_codec_registered(name: str) -> bool:
    """Whether a codec of that name (``"blob"`` or ``"<blob>"``) is known."""
    return name.strip("<>") in registry


__all__ = ["Codec", "CodecContext", "get_codec", "is_codec_registered", "list_codecs"]
