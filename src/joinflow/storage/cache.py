"""A local cache of hash-addressed objects: ``dj.config['cache']`` is its folder.

Objects never change (the key is their content hash), so any process may read or write them:
writes go to a temporary file renamed into place, reads verify the hash (a damaged entry is
dropped and reported as a miss). With ``dj.config['cache_size_limit']`` (bytes) the least
recently used entries are evicted when the folder grows past the limit; a hit refreshes an
entry's modification time.

Layout: ``{cache}/{hash[0:2]}/{hash}``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ObjectIntegrityError
from .hashing import check_hash, content_hash, file_hash
from .store import TEMP_PREFIX, atomic_local_write

EVICT_TO = 0.9          # evict down to this fraction of the limit
STALE_TEMP_SECONDS = 3600


class ObjectCache:
    """Content-addressed local cache, safe for concurrent threads and processes."""

    def __init__(self, folder: str | os.PathLike, size_limit: int | None = None) -> None:
        self.folder = Path(folder)
        self.size_limit = size_limit
        self._approx_size: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Any) -> ObjectCache | None:
        """The cache configured in ``config`` (``None`` when ``config['cache']`` is unset)."""
        folder = config["cache"]
        if not folder:
            return None
        return cls(folder, config.get("cache_size_limit"))

    def __repr__(self) -> str:
        return f"ObjectCache({str(self.folder)!r}, size_limit={self.size_limit})"

    def path(self, key: str) -> Path:
        check_hash(key)
        return self.folder / key[:2] / key

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.path(key).is_file()

    # -- reads ----------------------------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The cached bytes, verified against ``key``; ``None`` on a miss."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None
        if content_hash(data) != key:
            self._drop(path)
            return None
        self._touch(path)
        return data

    def get_path(self, key: str, *, verify: bool = True) -> Path | None:
        """The local path of a cached object (hash verified, streaming), or ``None``."""
        path = self.path(key)
        try:
            if verify and file_hash(path) != key:
                self._drop(path)
                return None
        except (FileNotFoundError, IsADirectoryError):
            return None
        self._touch(path)
        return path

    # -- writes ---------------------------------------------------------------------------------
    def put(self, key: str, data: bytes | bytearray | memoryview) -> None:
        """Cache ``data`` under its hash; refuses bytes that do not match ``key``."""
        if content_hash(data) != key:
            raise ObjectIntegrityError(f"refusing to cache data under hash {key!r}: the data "
                                       "hashes differently")
        self.put_verified(key, data)

    def put_verified(self, key: str, data: bytes | bytearray | memoryview) -> None:
        """Cache ``data`` the caller has just verified against ``key`` (no second hash)."""
        self._store(key, len(data), lambda f: f.write(data))

    def put_file(self, key: str, local_path: str | os.PathLike) -> None:
        """Cache a local file's contents (copied in chunks) under ``key``."""
        if file_hash(local_path) != key:
            raise ObjectIntegrityError(f"refusing to cache {os.fspath(local_path)!r} under "
                                       f"hash {key!r}: the file hashes differently")
        size = os.path.getsize(local_path)
        with open(local_path, "rb") as src:
            self._store(key, size, lambda f: shutil.copyfileobj(src, f, 1 << 20))

    def _store(self, key: str, size: int, write: Any) -> None:
        if self.size_limit is not None and size > self.size_limit:
            return  # would evict everything, itself included
        path = self.path(key)
        if path.is_file():
            self._touch(path)
            return
        atomic_local_write(str(path), write)
        self._account(size)

    def _account(self, size: int) -> None:
        if self.size_limit is None:
            return
        with self._lock:
            if self._approx_size is None:
                self._approx_size = self.size()
            else:
                self._approx_size += size
            if self._approx_size > self.size_limit:
                self._approx_size = self.evict()

    # -- housekeeping ---------------------------------------------------------------------------
    def _entries(self) -> Iterator[os.DirEntry[str]]:
        if not self.folder.is_dir():
            return
        now = time.time()
        for sub in os.scandir(self.folder):
            if not sub.is_dir():
                continue
            for entry in os.scandir(sub.path):
                if not entry.name.startswith(TEMP_PREFIX):
                    yield entry
                elif _age(entry, now) > STALE_TEMP_SECONDS:
                    self._drop(Path(entry.path))  # left by a killed process

    def size(self) -> int:
        """Total bytes of cached objects."""
        return sum(_stat_size(e) for e in self._entries())

    def evict(self, target: int | None = None) -> int:
        """Remove least recently used entries until the total is at most ``target`` (default:
        90% of the size limit); returns the new total."""
        if target is None:
            target = int((self.size_limit or 0) * EVICT_TO)
        stats = []
        for entry in self._entries():
            with contextlib.suppress(FileNotFoundError):
                st = entry.stat()
                stats.append((st.st_mtime_ns, st.st_size, entry.path))
        total = sum(s for _, s, _ in stats)
        for _, size, path in sorted(stats):
            if total <= target:
                break
            self._drop(Path(path))
            total -= size
        return total

    def clear(self) -> None:
        """Remove every cached object."""
        self.evict(0)

    @staticmethod
    def _touch(path: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(path)

    @staticmethod
    def _drop(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()


def _stat_size(entry: os.DirEntry[str]) -> int:
    try:
        return entry.stat().st_size
    except FileNotFoundError:
        return 0


def _age(entry: os.DirEntry[str], now: float) -> float:
    try:
        return now - entry.stat().st_mtime
    except FileNotFoundError:
        return 0.0
