"""DataJoint's ``datajoint.blob`` module path: the blob serializer lives in ``codecs/blob.py``."""
from __future__ import annotations

from .codecs.blob import pack, unpack  # noqa: F401

__all__ = ["pack", "unpack"]
