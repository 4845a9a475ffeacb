"""``stores_for(config)``: the configured stores as the codecs and the insert path see them
(``joinflow.codecs.base.StoreAccess``).

``put_pending`` writes the objects an insert needs before its transaction: per store, one
concurrent existence check, then one concurrent batch of the missing objects (content-addressed
objects that exist are never written again). ``discard`` removes what a failed transaction
created.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..codecs.base import ObjectWrite
from .cache import ObjectCache
from .store import LocalFile, Source, Store
from .pending import recorded_by_others
from .references import referenced
from .stores import Stores

log = logging.getLogger("joinflow")


class ConfiguredStores:
    """The stores of one configuration, plus its object cache."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self._stores = Stores.from_config(config)

    def __repr__(self) -> str:
        return f"ConfiguredStores({', '.join(self._stores.names()) or 'none'})"

    def get(self, name: str | None, *, filepath: bool = False) -> Store:
        """The store called ``name`` (``None``/``""``: ``stores.default``, or
        ``stores.filepath_default`` with ``filepath``)."""
        return self._stores.get(name, filepath=filepath)

    @property
    def cache(self) -> ObjectCache | None:
        return ObjectCache.from_config(self.config)

    def put_pending(self, writes: Sequence[ObjectWrite]) -> list[ObjectWrite]:
        """Write the pending objects, concurrently per store; returns the ones created."""
        unique = list({(w.store or "", w.path): w for w in writes}.values())
        created: list[ObjectWrite] = []
        try:
            for name in dict.fromkeys(w.store or "" for w in unique):
                group = [w for w in unique if (w.store or "") == name]
                created += _put_group(self.get(name), group)
        except BaseException:
            # schema-addressed objects have fresh paths: whatever of them was written goes
            # (content-addressed ones may be another writer's: left to the collector)
            self._remove_quietly([w for w in unique if not w.content_addressed])
            raise
        return created

    def _remove_quietly(self, writes: Sequence[ObjectWrite]) -> None:
        for name in dict.fromkeys(w.store or "" for w in writes):
            paths = [w.path for w in writes if (w.store or "") == name]
            try:
                self.get(name).remove(paths)
            except Exception as exc:  # noqa: BLE001 - must not hide the upload's error
                log.warning("could not remove %d object(s) of a failed upload from store "
                            "%r: %s", len(paths), name, exc)

    def discard(self, writes: Sequence[ObjectWrite], connection: Any) -> None:
        """Remove the objects a failed transaction created, except those a row visible to
        ``connection`` now uses (another writer may have committed identical content after
        finding the object present). A failure to remove is logged: it must not hide the
        error that rolled the transaction back. Objects another live writer has recorded
        (``storage.pending``) are kept too, and after the removal the records and rows are
        read again: an object a writer found present just before it went is put back."""
        try:
            keep = recorded_by_others(connection, writes) | referenced(connection, writes)
        except Exception as exc:  # noqa: BLE001 - when in doubt, keep (collectable later)
            log.warning("could not check which objects of a failed insert are in use; "
                        "keeping them: %s", exc)
            return
        removed: list[ObjectWrite] = []
        for name in dict.fromkeys(w.store or "" for w in writes):
            group = [w for w in writes if (w.store or "") == name and (name, w.path) not in keep]
            if not group:
                continue
            try:
                self.get(name).remove([w.path for w in group])
                removed += group
            except Exception as exc:  # noqa: BLE001 - see docstring
                log.warning("could not remove %d object(s) of a failed insert from store "
                            "%r: %s", len(group), name, exc)
        if removed:
            self._put_back(removed, connection)

    def _put_back(self, removed: list[ObjectWrite], connection: Any) -> None:
        """Write again the ``removed`` objects that a writer recorded, or a row committed,
        meanwhile (records first, then rows: a record released after its commit leaves the
        row visible)."""
        try:
            back = recorded_by_others(connection, removed) | referenced(connection, removed)
            for name in dict.fromkeys(w.store or "" for w in removed):
                group = [w for w in removed if (w.store or "") == name
                         and (name, w.path) in back]
                if group:
                    self.get(name).put_many([(w.path, _source(w)) for w in group])
        except Exception as exc:  # noqa: BLE001 - see docstring of discard
            log.error("objects removed after a failed insert may be in use by another "
                      "insert and could not be checked or written again: %s", exc)


def _put_group(store: Store, group: list[ObjectWrite]) -> list[ObjectWrite]:
    """Write the group; returns the writes that created their object. Content-addressed
    objects already present are skipped (dedup, checked in one batch); schema-addressed ones
    have fresh paths and are written without a check, and all count as created (a failed
    transaction then removes every one of them)."""
    hashed = [w for w in group if w.content_addressed]
    present = store.exists_many([w.path for w in hashed]) if hashed else []
    there = {w.path for w, found in zip(hashed, present, strict=True) if found}
    todo = [w for w in group if not (w.content_addressed and w.path in there)]
    store.put_many([(w.path, _source(w)) for w in todo])
    return todo


def _source(write: ObjectWrite) -> Source:
    if write.data is not None:
        return write.data
    if write.source is None:
        raise ValueError(f"object write for {write.path!r} has neither data nor a source file")
    return LocalFile(write.source, write.prefix)


def stores_for(config: Any) -> ConfiguredStores:
    """The ``StoreAccess`` of a configuration (``connection.config``)."""
    return ConfiguredStores(config)
