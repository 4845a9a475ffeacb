"""Translate fsspec / s3fs / botocore / OS failures into one-line ``StoreError`` messages.

The one place where driver exceptions become joinflow's: callers ``raise translate(...) from
exc`` so the original stays available as ``__cause__`` while the message names the store and
the problem without a stack trace.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..errors import MissingObjectError, StoreError
from .spec import StoreSpec

CONNECTION_ERRORS = frozenset({
    "EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError",
    "ClientConnectorError", "ClientConnectionError", "ServerDisconnectedError",
    "ReadTimeoutError", "ProxyConnectionError", "ConnectionRefusedError", "FSTimeoutError",
})
NO_CREDENTIALS = frozenset({"NoCredentialsError", "PartialCredentialsError"})
ACCESS_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden",
                "InvalidToken", "ExpiredToken")
MISSING_BUCKET = ("NoSuchBucket", "bucket does not exist")
MAX_DETAIL = 200


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < 8:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for e in _chain(exc) for c in type(e).__mro__}


def _detail(exc: BaseException, spec: StoreSpec) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for secret in (spec.secret_key, spec.access_key, spec.account_key, spec.connection_string):
        if secret:
            text = text.replace(secret, "***")
    return text[:MAX_DETAIL] + ("..." if len(text) > MAX_DETAIL else "")


def classify(exc: BaseException, spec: StoreSpec) -> tuple[type[StoreError], str]:
    """``(error class, problem)`` for a failure of an operation on ``spec``'s store."""
    texts = " | ".join(str(e) for e in _chain(exc))
    names = _names(exc)
    if any(m in texts for m in MISSING_BUCKET):
        return StoreError, f"bucket {spec.container_name!r} does not exist"
    if names & CONNECTION_ERRORS or any(isinstance(e, (ConnectionError, TimeoutError))
                                        for e in _chain(exc)):
        where = spec.endpoint_url or "the endpoint"
        return StoreError, f"cannot reach {where} ({_detail(exc, spec)})"
    if names & NO_CREDENTIALS:
        return StoreError, ("no credentials: set access_key and secret_key, or configure "
                            "ambient credentials")
    if isinstance(exc, PermissionError) and spec.protocol == "file":
        return StoreError, f"permission denied ({_detail(exc, spec)})"
    if isinstance(exc, PermissionError) or any(c in texts for c in ACCESS_CODES):
        return StoreError, ("access denied: check the credentials (access_key/secret_key) "
                            f"and the permissions ({_detail(exc, spec)})")
    if isinstance(exc, FileNotFoundError):
        return MissingObjectError, "object not found"
    if isinstance(exc, ImportError):
        return StoreError, (f"protocol {spec.protocol!r} needs a package that is not "
                            f"installed ({_detail(exc, spec)})")
    return StoreError, f"{type(exc).__name__}: {_detail(exc, spec)}"


def translate(exc: BaseException, spec: StoreSpec, action: str, path: str = "") -> StoreError:
    """A ``StoreError`` naming the store, the problem and what was being done."""
    kind, problem = classify(exc, spec)
    what = f"{action} {path!r}" if path else action
    return kind(f"store {spec.name!r} ({spec.describe()}): {problem} [{what}]")
