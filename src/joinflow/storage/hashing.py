"""Content hashes and hash-addressed paths (pure).

DataJoint 2.x: the MD5 digest of the stored bytes in lowercase RFC 4648 base32 without padding
(26 characters); objects live at ``{hash_prefix}/{schema}/[folds/]{hash}`` relative to the store
root, with no subfolding by default.

DataJoint 0.12-0.14 (legacy external storage): the same 16 MD5 bytes shown as a UUID; objects
live at ``{schema}/{h[0:2]}/{h[2:4]}/{uuidhex}[.{attachment name}]`` (subfolding (2, 2) unless
the store sets another).
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import uuid
from collections.abc import Iterable
from typing import BinaryIO

from ..errors import StoreError

HASH_LENGTH = 26
LEGACY_SUBFOLDING = (2, 2)
CHUNK_SIZE = 1 << 20
_HASH_RE = re.compile(r"^[a-z2-7]{26}$")


def digest_to_hash(digest: bytes) -> str:
    """16 digest bytes -> the 26-character lowercase base32 form."""
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def hash_to_digest(content_hash: str) -> bytes:
    """The inverse of :func:`digest_to_hash`."""
    check_hash(content_hash)
    return base64.b32decode(content_hash.upper() + "======")


def content_hash(data: bytes | bytearray | memoryview, prefix: bytes = b"") -> str:
    """The DataJoint 2.x content hash of ``prefix + data``."""
    md5 = hashlib.md5(prefix)
    md5.update(data)
    return digest_to_hash(md5.digest())


def stream_digest(stream: BinaryIO, prefix: bytes = b"", chunk_size: int = CHUNK_SIZE) -> bytes:
    """MD5 digest of ``prefix`` followed by everything read from ``stream``, in chunks."""
    md5 = hashlib.md5(prefix)
    for chunk in iter(lambda: stream.read(chunk_size), b""):
        md5.update(chunk)
    return md5.digest()


def file_hash(path: str | os.PathLike, prefix: bytes = b"") -> str:
    """The content hash of ``prefix + <file contents>``, read in chunks (never whole)."""
    with open(path, "rb") as f:
        return digest_to_hash(stream_digest(f, prefix))


def is_hash(value: object) -> bool:
    return isinstance(value, str) and bool(_HASH_RE.match(value))


def check_hash(value: object) -> str:
    if not is_hash(value):
        raise StoreError(f"invalid content hash {value!r}: expected {HASH_LENGTH} lowercase "
                         "base32 characters")
    return value  # type: ignore[return-value]


def subfold(name: str, folds: Iterable[int] | None) -> tuple[str, ...]:
    """Consecutive leading slices of ``name``: ``subfold('abcdefg', (2, 3)) == ('ab', 'cde')``."""
    out, start = [], 0
    for n in folds or ():
        out.append(name[start:start + n])
        start += n
    return tuple(out)


def hash_path(content_hash: str, schema: str, *, hash_prefix: str = "_hash",
              subfolding: Iterable[int] | None = None) -> str:
    """Where a hash-addressed object lives, relative to the store root."""
    check_hash(content_hash)
    parts = [hash_prefix.strip("/"), schema, *subfold(content_hash, subfolding), content_hash]
    return "/".join(p for p in parts if p)


# -- DataJoint 0.12-0.14 ------------------------------------------------------------------------
def legacy_uuid(data: bytes | bytearray | memoryview, init_string: str = "") -> uuid.UUID:
    """DataJoint 0.14's hash: MD5 of ``init_string`` (UTF-8) then ``data``, as a UUID."""
    md5 = hashlib.md5(init_string.encode())
    md5.update(data)
    return uuid.UUID(bytes=md5.digest())


def legacy_file_uuid(path: str | os.PathLike, init_string: str = "") -> uuid.UUID:
    """:func:`legacy_uuid` of a file's contents, read in chunks."""
    with open(path, "rb") as f:
        return uuid.UUID(bytes=stream_digest(f, init_string.encode()))


def legacy_attachment_uuid(path: str | os.PathLike, name: str | None = None) -> uuid.UUID:
    """0.14 attachment hash: MD5 of ``filename + NUL + contents``."""
    return legacy_file_uuid(path, (name or os.path.basename(path)) + "\0")


def legacy_path(uid: uuid.UUID, schema: str, *, subfolding: Iterable[int] | None = None,
                attachment_name: str | None = None) -> str:
    """0.14 object path relative to the store location:
    ``{schema}/{folds}/{uuidhex}[.{attachment_name}]``; subfolding defaults to (2, 2)."""
    folds = LEGACY_SUBFOLDING if subfolding is None else subfolding
    name = uid.hex + (f".{attachment_name}" if attachment_name else "")
    return "/".join([schema, *subfold(uid.hex, folds), name])


def legacy_to_hash(uid: uuid.UUID) -> str:
    """A 0.14 UUID hash as the equivalent DataJoint 2.x content hash (same MD5 digest)."""
    return digest_to_hash(uid.bytes)
