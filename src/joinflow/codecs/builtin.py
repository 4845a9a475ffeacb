"""Built-in in-table codecs: ``<blob>`` (DataJoint's blob wire format), ``<attach>`` (a file's
name and bytes), ``<json>``. Store-backed forms (``@``) are resolved by the storage layer."""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import CodecError
from . import blob as blobfmt
from .base import Codec, CodecContext, FileContent


class BlobCodec(Codec):
    """Python objects and numpy arrays, serialized in DataJoint's blob format."""

    name = "blob"

    def get_dtype(self, is_store: bool) -> str:
        return "<hash>" if is_store else "bytes"

    def encode(self, value: Any, *, context: CodecContext | None = None) -> bytes | memoryview:
        policy = "auto"
        if context is not None and context.config is not None:
            policy = {"always": True, "never": False}.get(context.config["blob.compression"], "auto")
        return blobfmt.pack_buffer(value, compress=policy)

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> Any:
        squeeze = bool(context and context.squeeze)
        return blobfmt.unpack(stored, squeeze=squeeze)


class AttachFileType(str):
    """Marks a value as a path to attach (``dj.AttachFileType(path)``)."""


def safe_filename(name: str) -> str:
    """The bare file name of a stored attachment name; refuses anything that could escape."""
    if "\0" in name:
        raise CodecError(f"attachment name contains NUL: {name!r}")
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base in ("", ".", "..") or base.startswith("/"):
        raise CodecError(f"unsafe attachment file name: {name!r}")
    return base


def write_attachment(folder: str | os.PathLike, filename: str, content: bytes | memoryview) -> Path:
    """Write ``content`` as ``folder/filename``. An existing file with the same content is reused;
    one with different content is kept and the new file gets a ``_<hash>`` suffix."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_filename(filename)
    data = bytes(content)
    if target.exists():
        if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
            return target
        digest = hashlib.md5(data).hexdigest()[:8]
        stem, dot, ext = target.name.partition(".")
        target = folder / (f"{stem}_{digest}{dot}{ext}")
        if target.exists() and target.read_bytes() == data:
            return target
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".jf-", suffix=".part")  # never follows links
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


class AttachCodec(Codec):
    """A file attached to the row: stored as ``filename\\0bytes``; fetch writes it into
    ``download_path`` and returns the path."""

    name = "attach"

    def get_dtype(self, is_store: bool) -> str:
        return "<hash>" if is_store else "bytes"

    def validate(self, value: Any) -> None:
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"<attach> takes a file path, got {type(value).__name__}")
        if not Path(value).is_file():
            raise ValueError(f"attachment file not found: {value}")

    def encode(self, value: Any, *, context: CodecContext | None = None) -> bytes | FileContent:
        self.validate(value)
        path = Path(value)
        if context is not None and context.store is not None:  # to a store: streamed
            return FileContent(str(path), path.name.encode() + b"\0")
        return path.name.encode() + b"\0" + path.read_bytes()

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> Path:
        data = memoryview(stored)
        raw = bytes(data[:4096])
        end = raw.find(b"\0")
        if end < 0:
            raise CodecError("corrupt attachment: no file name terminator")
        try:
            name = raw[:end].decode("utf-8")
        except UnicodeDecodeError:
            raise CodecError("corrupt attachment: the stored file name is not UTF-8") from None
        folder = context.download_path if context else "."
        return write_attachment(folder, name, data[end + 1:])


class JsonCodec(Codec):
    """``<json>``: the json core type written as a codec."""

    name = "json"

    def get_dtype(self, is_store: bool) -> str:
        return "json"

    def encode(self, value: Any, *, context: CodecContext | None = None) -> Any:
        return value

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> Any:
        return stored


# <hash@store> (and so <blob@>, <attach@>) lives with the object stores
from ..storage import codecs as _storage_codecs  # noqa: F401  (registers <hash>)
