"""``ObjectRef``: what fetching an ``<object@>`` attribute returns — the stored metadata plus
lazy access to the file or folder in its store (DataJoint 2.3.5's API).

Nothing is read from the store until a method asks for it; the store itself is resolved from
the configuration at first use, so a row can be fetched (and its metadata read) where the
store is not reachable.
"""
from __future__ import annotations

import json
import os
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from ..errors import JoinflowError, ObjectIntegrityError, StoreError
from .schema_addressed import MANIFEST_SUFFIX

#: DataJoint's name for the error ``verify`` raises
IntegrityError = ObjectIntegrityError


@dataclass
class ObjectRef:
    """A file or folder in an object store, as referenced by a row.

    Metadata (no I/O): ``path`` (relative to the store root), ``store`` (``None``: the default
    store), ``size`` (bytes; a folder's total), ``hash``, ``ext``, ``is_dir``, ``timestamp``,
    ``url``, ``mime_type``, ``item_count`` (files in a folder). Access: ``read``, ``open``,
    ``listdir``, ``walk``, ``download``, ``exists``, ``verify``, ``fs`` and ``fsmap`` (for
    Zarr/xarray: ``zarr.open(ref.fsmap, mode="r")``)."""

    path: str
    size: int | None
    hash: str | None
    ext: str | None
    is_dir: bool
    timestamp: datetime | None
    url: str | None = None
    store: str | None = None
    mime_type: str | None = None
    item_count: int | None = None
    _backend: Any = field(default=None, repr=False, compare=False)
    _stores: Any = field(default=None, repr=False, compare=False)

    # -- metadata ------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, json_data: Mapping[str, Any] | str | bytes, backend: Any = None, *,
                  stores: Any = None) -> ObjectRef:
        """From the stored metadata (a dict or its JSON text). ``backend``: the ``Store`` the
        object is in; or ``stores`` (the configured stores) to resolve it at first use."""
        data = json.loads(json_data) if isinstance(json_data, (str, bytes, bytearray)) \
            else json_data
        if not isinstance(data, Mapping) or not isinstance(data.get("path"), str):
            raise JoinflowError(f"not object metadata (no 'path'): {json_data!r}")
        stamp = data.get("timestamp")
        if isinstance(stamp, str):
            stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return cls(path=data["path"], size=data.get("size"), hash=data.get("hash"),
                   ext=data.get("ext"), is_dir=bool(data.get("is_dir", False)),
                   timestamp=stamp, url=data.get("url"), store=data.get("store"),
                   mime_type=data.get("mime_type"), item_count=data.get("item_count"),
                   _backend=backend, _stores=stores)

    def to_json(self) -> dict[str, Any]:
        """The metadata as a JSON-ready dict (optional keys only when set)."""
        data: dict[str, Any] = {
            "path": self.path, "size": self.size, "hash": self.hash, "ext": self.ext,
            "is_dir": self.is_dir,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
        }
        for key in ("url", "store", "mime_type"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.item_count is not None:
            data["item_count"] = self.item_count
        return data

    def __repr__(self) -> str:
        return f"ObjectRef({'folder' if self.is_dir else 'file'}: {self.path}, size={self.size})"

    def __str__(self) -> str:
        return self.path

    # -- the store -------------------------------------------------------------------------------
    @property
    def backend(self) -> Any:
        """The ``Store`` holding the object (resolved from the configuration at first use)."""
        if self._backend is None:
            if self._stores is None:
                raise JoinflowError(f"ObjectRef {self.path!r} has no store: it was not fetched "
                                    "through a table")
            self._backend = self._stores.get(self.store)
        return self._backend

    @property
    def fs(self) -> Any:
        """The store's fsspec filesystem."""
        return self.backend.fs

    @property
    def full_path(self) -> str:
        """Where the object is: a local path for a ``file`` store, else its URL."""
        store = self.backend
        return store.full_path(self.path) if store.is_local else store.url(self.path)

    @property
    def fsmap(self) -> Any:
        """An fsspec mapping over the object (a Zarr store, for example)."""
        import fsspec
        return fsspec.FSMap(self.backend.full_path(self.path), self.fs)

    def _sub(self, subpath: str | None) -> str:
        if not subpath:
            return self.path
        if not self.is_dir:
            raise JoinflowError(f"Cannot use subpath on a file object ({self.path}): a subpath "
                                f"({subpath!r}) applies to folders only")
        inner = posixpath.normpath(subpath.strip("/"))
        if inner in (".", "") or inner == ".." or inner.startswith("../"):
            raise JoinflowError(f"subpath {subpath!r} is not inside the folder {self.path}")
        return posixpath.join(self.path, inner)

    # -- reading ---------------------------------------------------------------------------------
    def read(self) -> bytes:
        """The whole file's bytes."""
        if self.is_dir:
            raise JoinflowError(f"Cannot read() a directory ({self.path}). Use listdir() or walk() "
                                "instead (or open(subpath), download())")
        return self.backend.get_bytes(self.path)

    def open(self, subpath: str | None = None, mode: str = "rb") -> IO[Any]:
        """Open the file (or a file of the folder) for reading."""
        if "w" in mode or "a" in mode or "+" in mode:
            raise JoinflowError(f"ObjectRef.open is read-only (mode {mode!r})")
        return self.backend.open(self._sub(subpath), mode)

    def listdir(self, subpath: str = "") -> list[str]:
        """Names of the entries of the folder (or of a subfolder)."""
        if not self.is_dir:
            raise JoinflowError(f"Cannot listdir() on a file ({self.path}). Use read() or open() "
                                "instead.")
        store = self.backend
        full = store.full_path(self._sub(subpath))
        try:
            entries = store.fs.ls(full, detail=False)
        except FileNotFoundError as exc:
            raise StoreError(f"folder {self._sub(subpath)} not found in store "
                             f"{store.name!r}") from exc
        return sorted(posixpath.basename(str(e).rstrip("/")) for e in entries)

    def walk(self) -> Iterator[tuple[str, list[str], list[str]]]:
        """``(folder relative to the object, subfolders, files)``, like ``os.walk``."""
        if not self.is_dir:
            raise JoinflowError(f"Cannot walk() on a file ({self.path}). Use read() or open() "
                                "instead.")
        store = self.backend
        full = store.full_path(self.path).rstrip("/")
        for root, dirs, files in store.fs.walk(full):
            yield str(root)[len(full):].strip("/"), list(dirs), list(files)

    def download(self, destination: str | os.PathLike, subpath: str | None = None) -> Path:
        """Copy the object to the local ``destination`` (DataJoint's layout): a file goes into
        ``destination`` when that is an existing folder (else to that path) and its path is
        returned; a folder goes to ``destination/<its name>/`` and ``destination`` is
        returned. ``subpath``: one file of a folder."""
        remote = self._sub(subpath)
        target = Path(destination)
        store = self.backend
        if self.is_dir and not subpath:
            base = store.full_path(remote).rstrip("/")
            into = target / posixpath.basename(remote.rstrip("/"))
            into.mkdir(parents=True, exist_ok=True)
            for root, _dirs, files in store.fs.walk(base):
                rel = str(root)[len(base):].strip("/")
                for name in files:
                    local = into.joinpath(*filter(None, rel.split("/")), name)
                    if not local.resolve().is_relative_to(into.resolve()):
                        raise JoinflowError(f"folder {self.path}: the stored name "
                                            f"{posixpath.join(rel, name)!r} would be written "
                                            f"outside {into}")
                    local.parent.mkdir(parents=True, exist_ok=True)
                    store.get_file(posixpath.join(remote, rel, name), local)
            return target
        if target.is_dir():
            target = target / posixpath.basename(remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        store.get_file(remote, target)
        return target

    def exists(self, subpath: str | None = None) -> bool:
        """Whether the object (or a path inside the folder) is in the store."""
        store = self.backend
        return bool(store.fs.exists(store.full_path(self._sub(subpath))))

    def verify(self) -> bool:
        """Check the object against its metadata: a file's existence, size (and hash when
        recorded); a folder's files against its manifest. Raises ``ObjectIntegrityError``."""
        store = self.backend
        if self.is_dir:
            return self._verify_folder(store)
        if not store.fs.exists(store.full_path(self.path)):
            raise IntegrityError(f"File does not exist: {self.path} (store {store.name!r})")
        if self.size is not None and store.size(self.path) != self.size:
            raise IntegrityError(f"Size mismatch for {self.path}: expected {self.size}, got "
                                 f"{store.size(self.path)}")
        if self.hash:
            from .hashing import content_hash
            actual = content_hash(store.get_bytes(self.path))
            if actual != self.hash:
                raise IntegrityError(f"object {self.path}: content hash {actual} differs from "
                                     f"the recorded {self.hash}")
        return True

    def _verify_folder(self, store: Any) -> bool:
        manifest_path = self.path + MANIFEST_SUFFIX
        if not store.fs.exists(store.full_path(manifest_path)):
            if not store.fs.exists(store.full_path(self.path)):
                raise IntegrityError(f"folder {self.path} is missing from store "
                                     f"{store.name!r}")
            return True  # written without a manifest (a staged insert): nothing to compare
        manifest = json.loads(store.get_bytes(manifest_path))
        problems = []
        for item in manifest.get("files", []):
            where = posixpath.join(self.path, item["path"])
            if not store.fs.exists(store.full_path(where)):
                problems.append(f"Missing file: {item['path']}")
            elif store.size(where) != item["size"]:
                problems.append(f"Size mismatch for {item['path']}: expected {item['size']}, got "
                                f"{store.size(where)}")
        if problems:
            raise IntegrityError(f"Folder verification failed ({self.path}):\n"
                                 + "\n".join(problems))
        return True


__all__ = ["IntegrityError", "ObjectRef"]
