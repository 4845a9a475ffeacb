"""One configured store over fsspec: placement-free object I/O with paths relative to the root.

``file`` writes are atomic (a temporary file in the same folder, then ``os.replace``), so a
killed writer never leaves a partial object under its final name; S3 PUTs and completed
multipart uploads are atomic by nature. Batch calls (``exists_many``, ``put_many``,
``get_many``) run concurrently: coroutines on fsspec's event loop for async filesystems (s3fs),
a bounded thread pool otherwise.

Every failure surfaces as :class:`~joinflow.errors.StoreError` (``MissingObjectError`` for a
missing object) naming the store and the problem in one line, with the driver's exception
chained as ``__cause__``.
"""
from __future__ import annotations

import asyncio
import builtins
import contextlib
import os
import posixpath
import shutil
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from ..errors import StoreError
from .failures import translate
from .spec import StoreSpec

T = TypeVar("T")
R = TypeVar("R")
CHUNK_SIZE = 1 << 20
TEMP_PREFIX = ".jf-tmp-"
DEFAULT_CONCURRENCY = 32
LIST_MIN_BATCH = 32  # exists_many on S3: list the common folder from this many paths on
LIST_PAGE = 1000  # keys per list_objects_v2 request (the S3 maximum)
S3_DEFAULT_CONFIG = {"connect_timeout": 10, "read_timeout": 120,
                     "retries": {"max_attempts": 3, "mode": "standard"},
                     "max_pool_connections": DEFAULT_CONCURRENCY}


@dataclass(frozen=True)
class LocalFile:
    """A local file to upload, optionally preceded by ``prefix`` bytes (``<attach@>`` stores
    ``filename + NUL + contents``)."""

    path: str | os.PathLike
    prefix: bytes = b""


Source = bytes | bytearray | memoryview | LocalFile | str | os.PathLike


def make_filesystem(spec: StoreSpec) -> Any:
    """The fsspec filesystem for ``spec`` (``storage_options`` passed through unchanged)."""
    import fsspec

    options = dict(spec.storage_options)
    if spec.protocol == "file":
        return fsspec.filesystem("file", auto_mkdir=True)
    if spec.protocol == "s3":
        options = _s3_options(spec, options)
    elif spec.protocol == "gcs":
        options = {"token": spec.token, "project": spec.project, **options}
    elif spec.protocol == "azure":
        options = {"account_name": spec.account_name, "account_key": spec.account_key,
                   "connection_string": spec.connection_string, **options}
    options = {k: v for k, v in options.items() if v is not None}
    return fsspec.filesystem(spec.fsspec_protocol, **options)


def _s3_options(spec: StoreSpec, options: dict[str, Any]) -> dict[str, Any]:
    client = {"endpoint_url": spec.endpoint_url} if spec.endpoint_url else {}
    config: dict[str, Any] = dict(S3_DEFAULT_CONFIG)
    if spec.proxy_server:
        config["proxies"] = {"http": spec.proxy_server, "https": spec.proxy_server}
    base = {"key": spec.access_key or None, "secret": spec.secret_key or None,
            "skip_instance_cache": True, "use_listings_cache": False}
    return {**base, **options,
            "client_kwargs": {**client, **options.get("client_kwargs", {})},
            "config_kwargs": {**config, **options.get("config_kwargs", {})}}


def relative(path: str | os.PathLike) -> str:
    """A normalized store-relative path; refuses absolute paths and ``..``."""
    text = os.fspath(path)
    if not isinstance(text, str) or not text or "\0" in text or "\\" in text:
        raise StoreError(f"invalid object path {text!r}")
    norm = posixpath.normpath(text)
    if text.startswith("/") or norm == "." or norm == ".." or norm.startswith("../"):
        raise StoreError(f"invalid object path {text!r}: must be relative, without '..'")
    return norm


class Store:
    """One store: object I/O with paths relative to its root (``location``, inside ``bucket``).

    The fsspec filesystem is created at first use; ``concurrency`` bounds parallel requests
    in the batch calls.
    """

    def __init__(self, spec: StoreSpec, *, concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.spec = spec
        self.concurrency = concurrency
        self._fs: Any = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"Store({self.name!r}, {self.spec.describe()})"

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (created on first use)."""
        if self._fs is None:
            with self._lock:
                if self._fs is None:
                    with self._errors("open the filesystem"):
                        self._fs = make_filesystem(self.spec)
        return self._fs

    @property
    def is_local(self) -> bool:
        return self.spec.protocol == "file"

    @property
    def is_async(self) -> bool:
        return bool(getattr(self.fs, "async_impl", False))

    # -- paths ------------------------------------------------------------------------------
    def full_path(self, path: str | os.PathLike) -> str:
        """The fsspec path (no protocol) of a store-relative path."""
        root = self.spec.root
        return f"{root.rstrip('/')}/{relative(path)}"

    def url(self, path: str | os.PathLike) -> str:
        return f"{self.spec.fsspec_protocol}://{self.full_path(path)}"

    def _relative_to_root(self, full: str) -> str:
        root, full = self.spec.root.rstrip("/"), full.rstrip("/")
        if full == root:
            return ""
        return full[len(root) + 1:] if full.startswith(root + "/") else full

    @contextlib.contextmanager
    def _errors(self, action: str, path: str = "") -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            raise translate(exc, self.spec, action, path) from exc

    # -- single objects ---------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        """True when an object (not a folder) is at ``path``."""
        return self.exists_many([path])[0]

    def size(self, path: str) -> int:
        with self._errors("stat", path):
            return int(self.fs.size(self.full_path(path)))

    def put_bytes(self, path: str, data: bytes | bytearray | memoryview) -> None:
        """Write an object whole; never leaves a partial object under ``path``."""
        full = self.full_path(path)
        with self._errors("write", path):
            if self.is_local:
                atomic_local_write(full, lambda f: f.write(data))
            else:
                self.fs.pipe_file(full, bytes(data))

    def put_file(self, path: str, local_path: str | os.PathLike, prefix: bytes = b"") -> None:
        """Upload a local file (after ``prefix`` bytes), streaming it in chunks."""
        full = self.full_path(path)
        with self._errors("upload", path), open(local_path, "rb") as src:
            if self.is_local:
                atomic_local_write(full, lambda f: _copy(prefix, src, f))
            elif not prefix:
                self.fs.put_file(os.fspath(local_path), full)
            else:
                _stream_remote(self.fs, full, prefix, src, abortable=self.spec.protocol == "s3")

    def get_bytes(self, path: str) -> bytes:
        with self._errors("read", path):
            return bytes(self.fs.cat_file(self.full_path(path)))

    def get_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of an object: one ranged read (an S3
        ``Range`` GET); fewer bytes when the object ends sooner."""
        return self.get_ranges(path, [(start, end)])[0]

    def get_ranges(self, path: str, ranges: Sequence[tuple[int, int]]) -> builtins.list[bytes]:
        """Several byte ranges ``(start, end)`` of one object, read concurrently on S3."""
        if not ranges:
            return []
        full = self.full_path(path)
        with self._errors("read", path):
            if len(ranges) == 1:
                start, end = ranges[0]
                return [bytes(self.fs.cat_file(full, start=start, end=end))]
            found = self.fs.cat_ranges([full] * len(ranges), [s for s, _ in ranges],
                                       [e for _, e in ranges], on_error="return")
            for item in found:
                if isinstance(item, BaseException):
                    raise item
            return [bytes(b) for b in found]

    def get_file(self, path: str, local_path: str | os.PathLike) -> None:
        """Download an object to a local file, streaming; the file appears complete or not at
        all."""
        full, target = self.full_path(path), os.fspath(local_path)
        with self._errors("download", path), self.fs.open(full, "rb") as src:
            atomic_local_write(target, lambda f: shutil.copyfileobj(src, f, CHUNK_SIZE))

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> IO[Any]:
        with self._errors("open", path):
            return self.fs.open(self.full_path(path), mode, **kwargs)

    def remove(self, paths: str | Iterable[str]) -> None:
        """Remove objects; a path that is already gone is not an error."""
        fulls = [self.full_path(p) for p in ([paths] if isinstance(paths, str) else paths)]
        if not fulls:
            return
        with self._errors("remove", fulls[0] if len(fulls) == 1 else f"{len(fulls)} objects"):
            if self.is_async:
                self.fs.rm(fulls)
            else:
                for full in fulls:
                    with contextlib.suppress(FileNotFoundError):
                        self.fs.rm_file(full)

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Store-relative paths of every object under ``prefix`` (recursively), sorted."""
        base = self.full_path(prefix) if prefix else self.spec.root
        with self._errors("list", prefix):
            found = self.fs.find(base)
        rels = (self._relative_to_root(p) for p in found)
        return sorted(r for r in rels if not posixpath.basename(r).startswith(TEMP_PREFIX))

    def walk(self, prefix: str = "") -> Iterator[tuple[str, builtins.list[str], builtins.list[str]]]:
        """``(relative folder, subfolders, objects)`` under ``prefix``, like ``os.walk``."""
        base = self.full_path(prefix) if prefix else self.spec.root
        with self._errors("list", prefix):
            entries = list(self.fs.walk(base))
        for folder, dirs, files in entries:
            files = [f for f in files if not f.startswith(TEMP_PREFIX)]
            yield self._relative_to_root(folder), dirs, files

    # -- batches ------------------------------------------------------------------------------
    def exists_many(self, paths: Sequence[str]) -> builtins.list[bool]:
        """``exists`` for many paths at once, concurrently; in the order given.

        On S3, a batch of at least ``LIST_MIN_BATCH`` paths is answered by listing their
        common folder (``list_objects_v2``, 1,000 keys a request) for at most
        ``ceil(n / 1000) + 1`` pages: a complete listing answers every path; otherwise the
        paths not seen get one HEAD each. A key counts only when it equals a path exactly.
        """
        fulls = [self.full_path(p) for p in paths]
        if self.is_async:
            known = self._listed(fulls)
            todo = [f for f in dict.fromkeys(fulls) if f not in known]
            for full, result in zip(todo, self._gather(self._is_object_async, todo)):
                known[full] = result
            results = [known[f] for f in fulls]
        else:
            results = self._threads(self._is_object, fulls)
        return [bool(r) for r in self._raise_first(results, paths, "check")]

    def _listed(self, fulls: builtins.list[str]) -> dict[str, bool | BaseException]:
        """What a bounded listing of the batch's common folder says about ``fulls``: every
        path when the listing completed, else only those it saw (``{}`` when not listed)."""
        wanted = set(fulls)
        if self.spec.protocol != "s3" or len(wanted) < LIST_MIN_BATCH:
            return {}
        split = [self.fs.split_path(f)[:2] for f in wanted]
        bucket = split[0][0]
        if any(b != bucket for b, _ in split):
            return {}
        keys = {k for _, k in split}
        folder = posixpath.commonprefix(sorted(keys)[:1] + sorted(keys)[-1:])
        folder = folder[:folder.rfind("/") + 1]  # a whole folder: "" or ends with "/"
        pages = -(-len(keys) // LIST_PAGE) + 1
        from fsspec.asyn import sync

        try:
            seen, complete = sync(self.fs.loop, self._list_keys, bucket, folder, keys, pages)
        except Exception:  # noqa: BLE001 - e.g. no s3:ListBucket permission: HEAD instead
            return {}
        found: dict[str, bool | BaseException] = {f: True for f, (_, k) in zip(wanted, split) if k in seen}
        if complete:
            found.update({f: False for f in wanted if f not in found})
        return found

    async def _list_keys(self, bucket: str, folder: str, keys: set[str],
                         pages: int) -> tuple[set[str], bool]:
        """The ``keys`` present under ``folder``, from at most ``pages`` listing requests,
        and whether the listing reached its end."""
        seen: set[str] = set()
        token: str | None = None
        for _ in range(pages):
            kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": folder, "MaxKeys": LIST_PAGE}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self.fs._call_s3("list_objects_v2", **kwargs)
            seen.update(k for o in page.get("Contents", ()) if (k := o.get("Key")) in keys)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return seen, True
        return seen, False

    def get_many(self, paths: Sequence[str]) -> builtins.list[bytes]:
        """The contents of many objects, fetched concurrently; in the order given."""
        if self.is_async:
            fulls = [self.full_path(p) for p in paths]
            # s3fs sizes an object (HEAD) before reading it in parallel ranges; a batch is
            # already parallel across objects, so read each with one GET
            kwargs = {"max_concurrency": 1} if self.spec.protocol == "s3" else {}
            results = self._gather(lambda f: self.fs._cat_file(f, **kwargs), fulls)
        else:
            results = self._threads(self._get_one, list(paths))
        return [bytes(r) for r in self._raise_first(results, paths, "read")]

    def put_many(self, items: Sequence[tuple[str, Source]]) -> None:
        """Write many objects concurrently: each source is bytes, a local path or a
        :class:`LocalFile`."""
        paths = [p for p, _ in items]
        if self.is_async:
            results = self._gather(self._put_async, list(items))
        else:
            results = self._threads(lambda item: self._put_one(*item), list(items))
        self._raise_first(results, paths, "write")

    def _is_object(self, full: str) -> bool:
        return os.path.isfile(full) if self.is_local else bool(self.fs.isfile(full))

    async def _is_object_async(self, full: str) -> bool:
        """One HEAD request: s3fs's own ``exists`` follows a miss with a folder listing."""
        try:
            if self.spec.protocol == "s3":
                bucket, key, _ = self.fs.split_path(full)
                await self.fs._call_s3("head_object", Bucket=bucket, Key=key)
                return True
            return (await self.fs._info(full)).get("type") == "file"
        except FileNotFoundError:
            return False

    def _get_one(self, path: str) -> bytes:
        with self._errors("read", path):
            return bytes(self.fs.cat_file(self.full_path(path)))

    def _put_one(self, path: str, source: Source) -> None:
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.put_bytes(path, source)
        else:
            local = source if isinstance(source, LocalFile) else LocalFile(source)
            self.put_file(path, local.path, local.prefix)

    async def _put_async(self, item: tuple[str, Source]) -> None:
        path, source = item
        full = self.full_path(path)
        if isinstance(source, (bytes, bytearray, memoryview)):
            await self.fs._pipe_file(full, bytes(source))
        elif not isinstance(source, LocalFile) or not source.prefix:
            local = source.path if isinstance(source, LocalFile) else source
            await self.fs._put_file(os.fspath(local), full)
        else:  # a prefixed stream: the sync writer, off the event loop
            await asyncio.get_running_loop().run_in_executor(
                None, self.put_file, path, source.path, source.prefix)

    def _gather(self, call: Callable[[T], Awaitable[R]], items: builtins.list[T]) -> builtins.list[R | BaseException]:
        if not items:
            return []
        from fsspec.asyn import sync

        async def run() -> builtins.list[R | BaseException]:
            limit = asyncio.Semaphore(self.concurrency)

            async def one(item: T) -> R | BaseException:
                async with limit:
                    try:
                        return await call(item)
                    except Exception as exc:  # noqa: BLE001 - per item; the caller raises
                        return exc

            return await asyncio.gather(*(one(i) for i in items))

        return sync(self.fs.loop, run)

    def _threads(self, call: Callable[[T], R], items: builtins.list[T]) -> builtins.list[R | BaseException]:
        def one(item: T) -> R | BaseException:
            try:
                return call(item)
            except Exception as exc:  # noqa: BLE001 - per item; the caller raises
                return exc

        if len(items) <= 1:
            return [one(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(one, items))

    def _raise_first(self, results: builtins.list[Any], paths: Sequence[str], action: str) -> builtins.list[Any]:
        for path, result in zip(paths, results):
            if isinstance(result, StoreError):
                raise result
            if isinstance(result, BaseException):
                raise translate(result, self.spec, action, path) from result
        return results


# -- local helpers ----------------------------------------------------------------------------
def _copy(prefix: bytes, src: IO[bytes], dst: IO[bytes]) -> None:
    dst.write(prefix)
    shutil.copyfileobj(src, dst, CHUNK_SIZE)


def atomic_local_write(final: str, write: Callable[[IO[bytes]], Any]) -> None:
    """Write a temporary file beside ``final``, then rename it into place."""
    folder = os.path.dirname(final) or "."
    os.makedirs(folder, exist_ok=True)
    temp = os.path.join(folder, f"{TEMP_PREFIX}{uuid.uuid4().hex}.part")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _stream_remote(fs: Any, full: str, prefix: bytes, src: IO[bytes], *,
                   abortable: bool) -> None:
    """Stream ``prefix + src`` to a remote object so that a failure leaves nothing under
    ``full``: an abortable multipart upload (S3), else a temporary object moved into place."""
    if abortable:
        f = fs.open(full, "wb")
        try:
            _copy(prefix, src, f)
        except BaseException:
            with contextlib.suppress(Exception):
                f.discard()  # s3fs: abort the multipart upload
            with contextlib.suppress(Exception):
                f.closed = True  # so close()/__del__ will not commit the partial object
            raise
        f.close()
        return
    temp = posixpath.join(posixpath.dirname(full), f"{TEMP_PREFIX}{uuid.uuid4().hex}.part")
    try:
        with fs.open(temp, "wb") as f:
            _copy(prefix, src, f)
        fs.mv(temp, full)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm_file(temp)
        raise


__all__ = ["LocalFile", "Store", "make_filesystem", "relative"]
