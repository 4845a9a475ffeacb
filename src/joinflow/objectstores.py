"""The seam between the table operations (insert, update, fetch) and the object-store layer
(``joinflow.storage``): the configured stores of a connection, asked for only when a column
is stored in one; and the read-only lookup of DataJoint 0.x tracking tables."""
from __future__ import annotations

from typing import Any

from .codecs.base import StoreAccess


def store_access(connection: Any) -> StoreAccess:
    """The configured stores of ``connection`` (its configuration's ``stores``)."""
    from .storage import stores_for
    return stores_for(connection.config)


def stores_if_needed(connection: Any, attrs: Any) -> StoreAccess | None:
    """``store_access`` when one of ``attrs`` lives in a store, else None."""
    if any(a.spec.store is not None for a in attrs):
        return store_access(connection)
    return None


def tracking_lookup(connection: Any) -> Any:
    """Read access to the ``~external_<store>`` tracking rows through ``connection``."""
    from .storage.external import SqlTracking
    return SqlTracking(connection)


def staged_insert1(table: Any) -> Any:
    """``table.staged_insert1``: the context manager of ``joinflow.storage.staged``."""
    from .storage.staged import staged_insert1 as staged
    return staged(table)


def owned_by_rows(query: Any, attributes: Any = None) -> list:
    """The schema-addressed objects the rows of ``query`` own (read before deleting them or
    replacing the values of ``attributes``)."""
    from .storage.schema_addressed import owned_by_rows as owned
    return owned(query, attributes)


def schema_addressed_attrs(heading: Any) -> list:
    """The attributes of ``heading`` stored by a schema-addressed codec (kept per heading)."""
    from .storage.schema_addressed import kept_schema_addressed_columns
    return kept_schema_addressed_columns(heading)


def owned_by_values(attrs: list, rows: list, schema: str, table: str) -> list:
    """The schema-addressed objects that stored values of rows of ``schema.table`` own
    (``rows``: one column per attribute of ``attrs``)."""
    from .storage.schema_addressed import owned_objects
    return owned_objects(attrs, rows, schema, table)


def remove_after_commit(connection: Any, owned: list) -> None:
    """Remove ``owned`` (from ``owned_by_rows``) once the transaction commits."""
    if owned:
        from .storage.schema_addressed import remove_after_commit as remove
        remove(connection, owned)
