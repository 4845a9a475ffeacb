"""The joinflow exception hierarchy.

    JoinflowError                       root of everything joinflow raises
    ├── ConfigError (KeyError, ValueError)
    │                                   unknown configuration key or invalid value
    ├── DefinitionError (+SyntaxError-free, ValueError)
    │   │                               malformed table definition; names line and token
    │   └── MissingDefinitionError (NotImplementedError)
    │                                   a table class to declare has no ``definition``
    ├── QueryError (ValueError)         an invalid query expression
    │   └── SemanticMatchError          join/restrict on namesake attributes of different lineage
    ├── CodecError (ValueError)         a value a codec cannot encode or decode
    │   └── BlobError                   malformed or truncated blob bytes
    ├── DataError (ValueError)          a row that does not fit the heading
    │   └── UnknownAttributeError (+QueryError, KeyError)
    │                                   a name that is not an attribute of the table or query
    ├── MissingTableError               table or schema does not exist
    ├── AccessError                     permission / authentication failure
    ├── LostConnectionError             the server connection dropped
    ├── StoreError                      an object store is unreachable, misconfigured or refused
    │   ├── MissingObjectError (FileNotFoundError)
    │   │                               an object is not in its store
    │   └── ObjectIntegrityError        a stored object does not match its content hash
    └── IntegrityError                  a database constraint refused the change
        ├── DuplicateError              primary or unique key already present
        └── ForeignKeyError             referenced row missing / row still referenced

Driver exceptions are translated once, in ``backends.base.Backend.translate_error``;
the original is kept as ``__cause__``. DataJoint's names are aliases.
"""
from __future__ import annotations


class JoinflowError(Exception):
    """Root of all joinflow errors."""


class ConfigError(JoinflowError, KeyError, ValueError):
    """An unknown configuration key (a ``KeyError``) or a value the key does not allow
    (a ``ValueError``, as DataJoint's validation error is)."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not
        return Exception.__str__(self)


class DefinitionError(JoinflowError, ValueError):
    """A table definition could not be parsed; carries the line and token."""

    def __init__(self, message: str, *, line: str | None = None, lineno: int | None = None,
                 token: str | None = None, table: str | None = None) -> None:
        self.line, self.lineno, self.token, self.table = line, lineno, token, table
        parts = [message]
        if lineno is not None or line is not None:
            where = f"line {lineno}" if lineno is not None else "line"
            parts.append(f"\n  in {where}: {line!r}" if line is not None else f" ({where})")
        if token is not None:
            parts.append(f"\n  at token: {token!r}")
        if table:
            parts.insert(0, f"[{table}] ")
        super().__init__("".join(parts))


class MissingDefinitionError(DefinitionError, NotImplementedError):
    """A table class that must be declared has no ``definition`` string (DataJoint raises
    ``NotImplementedError`` here)."""


class QueryError(JoinflowError, ValueError):
    """An invalid query expression."""


class SemanticMatchError(QueryError):
    """Namesake attributes with different lineage met in a join or restriction."""


class CodecError(JoinflowError, ValueError):
    """A codec cannot encode or decode a value."""


class BlobError(CodecError):
    """Malformed, truncated or unsupported blob bytes."""


class DataError(JoinflowError, ValueError):
    """A row or value does not fit the table heading."""


class MissingTableError(JoinflowError):
    """A table or schema does not exist."""


class AccessError(JoinflowError):
    """Authentication or permission failure."""


class LostConnectionError(JoinflowError):
    """The server connection was lost."""


class ThreadSafetyError(JoinflowError):
    """Global state (``dj.config``, ``dj.conn()``, a schema without a connection) used while
    thread-safe mode is on (``DJ_THREAD_SAFE``): use a ``dj.Instance`` instead."""


class StoreError(JoinflowError):
    """An object store failed: unreachable endpoint, missing bucket, bad credentials, ...

    The message names the store and the problem in one line; the driver's exception is
    kept as ``__cause__``.
    """


class MissingObjectError(StoreError, FileNotFoundError):
    """An object is missing from its store."""

    def __str__(self) -> str:  # OSError would format (errno, strerror)
        return Exception.__str__(self)


class ObjectIntegrityError(StoreError):
    """A stored object's contents do not match the content hash recorded for it."""


class IntegrityError(JoinflowError):
    """A database constraint refused the change."""


class DuplicateError(IntegrityError):
    """A row with the same primary (or unique) key already exists."""


class ForeignKeyError(IntegrityError):
    """A foreign key constraint refused the change."""


class UnknownAttributeError(QueryError, DataError, KeyError):
    """A name that is not an attribute of the query or table (also a ``KeyError``, as
    DataJoint raises for an insert naming an unknown attribute)."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not
        return Exception.__str__(self)


class QueryArgumentError(QueryError, TypeError):
    """An argument of the wrong type for a query operator (e.g. dj.Top(limit='5'))."""


# DataJoint's names
DataJointError = JoinflowError
MissingAttributeError = DataError
MissingExternalFile = CodecError

__all__ = [n for n in dir() if n.endswith("Error") or n == "MissingExternalFile"]
