"""Hash-addressed transfers in batches: upload what is missing, fetch with verification.

The building blocks of the ``<hash@>`` family: ``upload_missing`` checks which objects exist
(concurrently) and writes only the others (deduplication; a retried insert never re-uploads);
``fetch_verified`` serves from the local cache when it can, downloads the rest concurrently,
verifies every content hash and fills the cache.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from ..errors import ObjectIntegrityError
from .cache import ObjectCache
from .hashing import content_hash
from .store import Source, Store


def upload_missing(store: Store, items: Sequence[tuple[str, Source]]) -> list[str]:
    """Write the objects that are not in the store yet; returns the paths written."""
    unique = list(dict(items).items())  # one write per path
    present = store.exists_many([p for p, _ in unique])
    todo = [item for item, there in zip(unique, present, strict=True) if not there]
    store.put_many(todo)
    return [p for p, _ in todo]


def fetch_verified(store: Store, objects: Sequence[tuple[str, str]],
                   cache: ObjectCache | None = None) -> list[bytes]:
    """The bytes of ``(path, content_hash)`` objects, in order; each one verified.

    Cache hits need no store access at all (the store may be offline); the misses are
    fetched in one concurrent batch. ``ObjectIntegrityError`` names the first object whose
    bytes do not match its hash.
    """
    found: dict[str, bytes] = {}
    if cache is not None:
        for _, key in objects:
            if key not in found and (data := cache.get(key)) is not None:
                found[key] = data
    misses = list({key: path for path, key in objects if key not in found}.items())
    fetched = store.get_many([path for _, path in misses])
    _verify_all(store, [(p, k, d) for (k, p), d in zip(misses, fetched, strict=True)])
    for (key, _), data in zip(misses, fetched, strict=True):
        found[key] = data
        if cache is not None:
            cache.put_verified(key, data)
    return [found[key] for _, key in objects]


def _verify_all(store: Store, items: list[tuple[str, str, bytes]]) -> None:
    """Verify in threads: MD5 releases the GIL, so large batches use every core."""
    if len(items) < 8:
        for item in items:
            verify(store, *item)
        return
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        list(pool.map(lambda item: verify(store, *item), items))


def verify(store: Store, path: str, key: str, data: bytes) -> None:
    """Raise ``ObjectIntegrityError`` unless ``data`` hashes to ``key``."""
    actual = content_hash(data)
    if actual != key:
        raise ObjectIntegrityError(
            f"store {store.name!r}: object {path!r} is corrupted: its contents hash to "
            f"{actual!r}, the row records {key!r}")
