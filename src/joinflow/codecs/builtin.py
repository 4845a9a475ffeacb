"""Built-in in-table codecs: ``<blob>`` (DataJoint's blob wire format), ``<attach>`` (a file's
name and bytes), ``<json>``. Store-backed forms (``@``) are resolved by the storage layer."""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Final, Literal

from ..errors import CodecError
from . import blob as blobfmt
from .base import Codec, CodecContext, FileContent


#: the ``blob.compression`` setting -> `pack_buffer`'s ``compress`` (anything else: "auto")
_COMPRESS_SETTING: Final[dict[str, bool]] = {"always": True, "never": False}


class BlobCodec(Codec):
    """Python objects and numpy arrays, serialized in DataJoint's blob format."""

    name = "blob"

    def get_dtype(self, is_store: bool) -> str:
        return "<hash>" if is_store else "bytes"

    def encode(self, value: Any, *, context: CodecContext | None = None) -> bytes | memoryview:
        policy: bool | Literal["auto"] = "auto"
        if context is not None and context.config is not None:
            policy = _COMPRESS_SETTING.get(context.config["blob.compression"], "auto")
        return blobfmt.pack_buffer(value, compress=policy)

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> Any:
        squeeze = bool(context and context.squeeze)
        return blobfmt.unpack(stored, squeeze=squeeze, writable=_writable(context))

    def decode_column(self, values: list, *, context: CodecContext) -> list:
        """Decode in place. Arrays are read-only views of the fetched bytes (DataJoint's
        arrays; no copy). With ``blob.writable_arrays`` each array is a copy, and each stored
        blob is released as soon as its value exists, so a column of large blobs never holds
        both forms of every row."""
        squeeze, writable = bool(context and context.squeeze), _writable(context)
        unpack = blobfmt.unpack
        for i, stored in enumerate(values):
            if stored is not None:
                values[i] = unpack(stored, squeeze=squeeze, writable=writable)
        return values


def _writable(context: CodecContext | None) -> bool:
    return bool(context is not None and context.config is not None
                and context.config["blob.writable_arrays"])


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
        target = folder / _suffixed(target.name, hashlib.md5(data).hexdigest())
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


def _attachment_from_file(folder: str | os.PathLike, path: str) -> Path:
    """``write_attachment`` for a stored attachment (``name NUL content``) in a local file,
    copied in chunks: the content is never held in memory."""
    with open(path, "rb") as src:
        name, end = _stored_name(src.read(4096))
        src.seek(end + 1)
        folder = Path(folder)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".jf-", suffix=".part")
        md5 = hashlib.md5()
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    md5.update(chunk)
                    out.write(chunk)
            return _place(folder / safe_filename(name), Path(tmp), md5.hexdigest())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def _stored_name(head: bytes) -> tuple[str, int]:
    """The file name of a stored attachment and the position of its NUL terminator."""
    end = head.find(b"\0")
    if end < 0:
        raise CodecError("corrupt attachment: no file name terminator")
    try:
        return head[:end].decode("utf-8"), end
    except UnicodeDecodeError:
        raise CodecError("corrupt attachment: the stored file name is not UTF-8") from None


def _place(target: Path, tmp: Path, digest: str) -> Path:
    """Move a downloaded file to ``target``; an identical file there is reused, a different
    one kept (the new file then gets a ``_<hash>`` suffix), as ``write_attachment`` does."""
    for candidate in (target, target.with_name(_suffixed(target.name, digest))):
        if not candidate.exists():
            os.replace(tmp, candidate)
            return candidate
        if candidate.is_file() and candidate.stat().st_size == tmp.stat().st_size and \
                _md5_of(candidate) == digest:
            tmp.unlink()
            return candidate
    os.replace(tmp, target.with_name(_suffixed(target.name, digest)))
    return target.with_name(_suffixed(target.name, digest))


def _suffixed(name: str, digest: str) -> str:
    stem, dot, ext = name.partition(".")
    return f"{stem}_{digest[:8]}{dot}{ext}"


def _md5_of(path: Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            md5.update(chunk)
    return md5.hexdigest()


class AttachCodec(Codec):
    """A file attached to the row: stored as ``filename\\0bytes``; fetch writes it into
    ``download_path`` and returns the path."""

    name = "attach"
    accepts_files = True

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

    def decode(self, stored: Any, *, context: CodecContext | None = None) -> str:
        """The path of the written file, as a ``str`` (as DataJoint returns it)."""
        folder = context.download_path if context else "."
        if isinstance(stored, FileContent):  # a large object, downloaded to a temporary file
            try:
                return str(_attachment_from_file(folder, stored.path))
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(stored.path)
        data = memoryview(stored)
        name, end = _stored_name(bytes(data[:4096]))
        return str(write_attachment(folder, name, data[end + 1:]))


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
from ..storage import codecs as _storage_codecs  # noqa: F401,E402  (registers <hash>)
from ..storage import objects as _object_codec  # noqa: F401,E402  (registers <object>)
from ..storage import npy as _npy_codec  # noqa: F401,E402  (registers <npy>)
from ..storage import filepath as _filepath_codec  # noqa: F401,E402  (registers <filepath>)
