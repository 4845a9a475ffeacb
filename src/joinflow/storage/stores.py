"""Store names resolved for one configuration, with ``Store`` objects shared per spec."""
from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from .spec import StoreSpec, resolve_store_name, store_names, validate_stores
from .store import Store

_SHARED: dict[StoreSpec, Store] = {}
_SHARED_LOCK = threading.Lock()


def shared_store(spec: StoreSpec) -> Store:
    """The process-wide ``Store`` for ``spec`` (one filesystem per distinct spec)."""
    with _SHARED_LOCK:
        store = _SHARED.get(spec)
        if store is None:
            store = _SHARED[spec] = Store(spec)
        return store


class Stores:
    """The stores of one ``dj.config['stores']`` dict.

    ``get(None)`` / ``get("")`` is ``stores.default``; ``get(name, filepath=True)`` falls back
    to ``stores.filepath_default``. Unknown names and a missing default raise ``ConfigError``
    listing the configured stores.
    """

    def __init__(self, stores: Mapping[str, Any] | None = None) -> None:
        self._stores = validate_stores(dict(stores or {}), complete=False)

    @classmethod
    def from_config(cls, config: Any) -> Stores:
        """From a ``joinflow.settings.Config`` (or any mapping with a ``stores`` key)."""
        return cls(config["stores"])

    def names(self) -> list[str]:
        return store_names(self._stores)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __repr__(self) -> str:
        return f"Stores({', '.join(self.names()) or 'none'})"

    def resolve(self, name: str | None = None, *, filepath: bool = False) -> str:
        """The configured store name a column refers to (``None``/``""`` = the default)."""
        return resolve_store_name(self._stores, name, filepath=filepath)

    def spec(self, name: str | None = None, *, filepath: bool = False) -> StoreSpec:
        resolved = self.resolve(name, filepath=filepath)
        return StoreSpec.from_dict(resolved, self._stores[resolved])

    def get(self, name: str | None = None, *, filepath: bool = False) -> Store:
        """The ``Store`` for a name (validated completely, shared per spec)."""
        return shared_store(self.spec(name, filepath=filepath))
