"""Interim ``StoreAccess`` over ``Stores``, used only while ``joinflow.storage`` has no
``stores_for`` of its own (remove once the storage layer provides it).

``put_pending`` writes objects concurrently per store (content-addressed ones only when
missing) and returns the writes that created an object; ``discard`` removes those objects
after a failed transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..codecs.base import ObjectWrite
from .store import LocalFile
from .stores import Stores

log = logging.getLogger("joinflow")


class InterimStoreAccess:
    """The configured stores of one configuration, as codecs and the insert path see them."""

    def __init__(self, config: Any) -> None:
        self._stores = Stores.from_config(config)

    def get(self, name: str | None) -> Any:
        return self._stores.get(name)

    def put_pending(self, writes: Sequence[ObjectWrite]) -> list[ObjectWrite]:
        unique = list({(w.store, w.path): w for w in writes}.values())
        created: list[ObjectWrite] = []
        for name in dict.fromkeys(w.store for w in unique):
            group = [w for w in unique if w.store == name]
            store = self.get(name)
            exists = store.exists_many([w.path for w in group])
            todo = [w for w, e in zip(group, exists) if not (e and w.content_addressed)]
            store.put_many([(w.path, _source(w)) for w in todo])
            created += [w for w, e in zip(group, exists) if not e]
        return created

    def discard(self, writes: Sequence[ObjectWrite], connection: Any) -> None:
        for name in dict.fromkeys(w.store for w in writes):
            try:
                self.get(name).remove([w.path for w in writes if w.store == name])
            except Exception as exc:  # noqa: BLE001  (a failed cleanup must not hide the rollback)
                log.warning("could not remove objects of a failed insert from %r: %s", name, exc)


def _source(write: ObjectWrite) -> Any:
    if write.data is not None:
        return write.data
    return LocalFile(write.source or "", write.prefix)


def stores_for(config: Any) -> InterimStoreAccess:
    return InterimStoreAccess(config)
