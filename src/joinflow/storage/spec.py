"""Store specifications: ``dj.config['stores']`` checked and turned into frozen, typed values.

Pure: no filesystem access, and fsspec is imported only to recognise a protocol name that is
not one of the built-in ones.

The ``stores`` dict (DataJoint 2.x shape, also accepting DataJoint 0.14 store dicts)::

    {"default": "main",               # store used by <blob@>, <attach@>, <hash@>, ...
     "filepath_default": "raw",       # store used by <filepath@>
     "main": {"protocol": "file", "location": "/data/main"},
     "raw": {"protocol": "s3", "endpoint": "s3.example.org", "bucket": "b", "location": "p",
             "access_key": "...", "secret_key": "..."}}

Secrets (``secret_key``, ``access_key``, ``account_key``, ``connection_string``, ``token`` and
secret-looking ``storage_options``) never appear in a repr or an error message.
"""
from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError

SELECTORS = ("default", "filepath_default")
SECRET_KEYS = frozenset({"access_key", "secret_key", "account_key", "connection_string", "token"})
SECRET_OPTION_WORDS = ("key", "secret", "token", "password", "credential", "sas", "connection")

#: keys every protocol accepts (DataJoint 2.3.5's common keys, plus ``storage_options``)
COMMON_KEYS = ("protocol", "location", "subfolding", "hash_prefix", "schema_prefix",
               "filepath_prefix", "partition_pattern", "token_length", "stage", "storage_options")
#: protocol-specific keys; a protocol not listed here (any other fsspec protocol) takes ``bucket``
PROTOCOL_KEYS: dict[str, tuple[str, ...]] = {
    "file": (),
    "memory": (),
    "s3": ("endpoint", "bucket", "access_key", "secret_key", "secure", "proxy_server"),
    "gcs": ("bucket", "token", "project"),
    "azure": ("container", "account_name", "account_key", "connection_string"),
}
OTHER_PROTOCOL_KEYS = ("bucket",)
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "file": ("location",), "s3": ("bucket",), "gcs": ("bucket",), "azure": ("container",),
}
PROTOCOL_ALIASES = {"local": "file", "gs": "gcs", "abfs": "azure", "abfss": "azure", "az": "azure",
                    "s3a": "s3"}
#: the fsspec protocol name for each canonical protocol
FSSPEC_PROTOCOL = {"azure": "abfs"}
ALL_KEYS = tuple(dict.fromkeys(
    [*COMMON_KEYS, *(k for keys in PROTOCOL_KEYS.values() for k in keys)]))
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def _fail(store: str, message: str) -> ConfigError:
    return ConfigError(f"stores[{store!r}]: {message}")


# -- value checkers: (store, key, value) -> normalized value -----------------------------------
def _check_str(store: str, key: str, value: Any) -> str:
    if isinstance(value, os.PathLike) and key in ("location", "stage"):
        return os.fspath(value)
    if not isinstance(value, str):
        raise _fail(store, f"{key} must be a string, got {type(value).__name__}")
    return value


def _check_opt_str(store: str, key: str, value: Any) -> str | None:
    return None if value is None else _check_str(store, key, value)


def _check_bool(store: str, key: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false",
                                                             "0", "no", "off"):
        return value.strip().lower() in ("true", "1", "yes", "on")
    raise _fail(store, f"{key} must be true or false, got {type(value).__name__}")


def _check_subfolding(store: str, key: str, value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    if not ok:
        raise _fail(store, f"{key} must be a list of positive integers such as [2, 2], "
                           f"got {value!r}")
    return tuple(value)


def _check_positive_int(store: str, key: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _fail(store, f"{key} must be a positive integer, got {type(value).__name__}")
    return value


def _check_partition(store: str, key: str, value: Any) -> str | None:
    """``partition_pattern``: key attributes in braces, such as ``"{subject}/{session}"``."""
    value = _check_opt_str(store, key, value)
    if value and not re.search(r"\{\w+\}", value):
        raise _fail(store, f"{key} {value!r} names no attribute: write the primary-key "
                           f"attributes that lead the path in braces, such as '{{{value.strip('{}/ ')}}}'")
    return value


def _check_dict(store: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(store, f"{key} must be a dict, got {type(value).__name__}")
    return dict(value)


def _check_token(store: str, key: str, value: Any) -> Any:
    if value is None or isinstance(value, (str, Mapping)):
        return dict(value) if isinstance(value, Mapping) else value
    raise _fail(store, f"{key} must be a string or a dict, got {type(value).__name__}")


CHECKERS: dict[str, Callable[[str, str, Any], Any]] = {
    "protocol": _check_str, "location": _check_str, "endpoint": _check_opt_str,
    "bucket": _check_opt_str, "access_key": _check_opt_str, "secret_key": _check_opt_str,
    "secure": _check_bool, "proxy_server": _check_opt_str, "subfolding": _check_subfolding,
    "hash_prefix": _check_str, "schema_prefix": _check_str, "filepath_prefix": _check_opt_str,
    "partition_pattern": _check_partition, "token_length": _check_positive_int,
    "stage": _check_opt_str, "storage_options": _check_dict, "container": _check_opt_str,
    "account_name": _check_opt_str, "account_key": _check_opt_str,
    "connection_string": _check_opt_str, "token": _check_token, "project": _check_opt_str,
}


# -- protocols ----------------------------------------------------------------------------------
def _fsspec_protocols() -> tuple[str, ...]:
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec is a dependency
        return ()
    return tuple(fsspec.available_protocols())


def canonical_protocol(store: str, value: Any) -> str:
    """The canonical protocol name for ``value`` (``'gs'`` -> ``'gcs'``); ConfigError if unknown."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(store, "protocol is missing: use 'file', 's3' or another fsspec protocol")
    protocol = value.strip().lower()
    protocol = PROTOCOL_ALIASES.get(protocol, protocol)
    if protocol in PROTOCOL_KEYS:
        return protocol
    available = _fsspec_protocols()
    if protocol in available:
        return protocol
    known = sorted({*PROTOCOL_KEYS, *PROTOCOL_ALIASES})
    hint = _suggest(protocol, [*known, *available])
    raise _fail(store, f"unknown protocol {value!r}{hint}; use one of {', '.join(known)} "
                       "or another fsspec protocol")


def allowed_keys(protocol: str | None) -> tuple[str, ...]:
    """Keys a store of ``protocol`` accepts (every known key when the protocol is unknown)."""
    if protocol is None:
        return ALL_KEYS
    return (*COMMON_KEYS, *PROTOCOL_KEYS.get(protocol, OTHER_PROTOCOL_KEYS))


def _suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(store: str, raw: Mapping[str, Any], protocol: str | None) -> None:
    allowed = allowed_keys(protocol)
    for key in raw:
        if not isinstance(key, str):
            raise _fail(store, f"keys must be strings, got {type(key).__name__}")
        if key in allowed:
            continue
        hint = _suggest(key, ALL_KEYS)
        if key in ALL_KEYS:
            raise _fail(store, f"key {key!r} does not apply to protocol {protocol!r}; "
                               f"allowed: {', '.join(allowed)}")
        raise _fail(store, f"unknown key {key!r}{hint}; fsspec arguments go in "
                           "'storage_options'")


def _check_prefixes(store: str, values: Mapping[str, Any]) -> None:
    """``hash_prefix``, ``schema_prefix`` and ``filepath_prefix`` (defaults filled in) may not
    nest."""
    values = {"hash_prefix": "_hash", "schema_prefix": "_schema", **values}
    named = [(k, values[k]) for k in ("hash_prefix", "schema_prefix", "filepath_prefix")
             if values.get(k)]
    norm = [(k, v, v.strip("/") + "/") for k, v in named]
    for i, (k1, v1, p1) in enumerate(norm):
        for k2, v2, p2 in norm[i + 1:]:
            if p1.startswith(p2) or p2.startswith(p1):
                raise _fail(store, f"{k1}={v1!r} and {k2}={v2!r} overlap: the storage "
                                   "sections must not nest")
    hashed, schemed = values["hash_prefix"], values["schema_prefix"]
    if hashed.strip("/") == schemed.strip("/"):
        # both empty (the loop above skips empty prefixes): the two sections would be one
        # folder, and garbage collection could not tell schema- from hash-addressed objects
        raise _fail(store, f"hash_prefix={hashed!r} and schema_prefix={schemed!r} are the "
                           "same folder: hash- and schema-addressed objects need separate "
                           "sections")


# -- the spec -----------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class StoreSpec:
    """One configured store, validated. Build with :meth:`from_dict`."""

    name: str
    protocol: str
    location: str = ""
    endpoint: str | None = None
    bucket: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    secure: bool | None = None
    proxy_server: str | None = None
    subfolding: tuple[int, ...] | None = None
    hash_prefix: str = "_hash"
    schema_prefix: str = "_schema"
    filepath_prefix: str | None = None
    partition_pattern: str | None = None
    token_length: int = 8
    stage: str | None = None
    container: str | None = None
    account_name: str | None = None
    account_key: str | None = None
    connection_string: str | None = None
    token: Any = field(default=None, hash=False)
    project: str | None = None
    storage_options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, name: str, raw: Mapping[str, Any], *, complete: bool = True) -> StoreSpec:
        """Validate one store dict. ``complete=False`` skips the required-key check (a store
        being built key by key)."""
        if not isinstance(raw, Mapping):
            raise _fail(name, f"a store must be a dict, got {type(raw).__name__}")
        protocol = canonical_protocol(name, raw.get("protocol")) if (
            complete or "protocol" in raw) else None
        _check_keys(name, raw, protocol)
        values = {k: CHECKERS[k](name, k, v) for k, v in raw.items() if k != "protocol"}
        _check_prefixes(name, values)
        if complete:
            assert protocol is not None
            _check_required(name, protocol, values)
        values = {k: v for k, v in values.items() if v is not None}
        if "storage_options" in values:
            values["storage_options"] = MappingProxyType(dict(values["storage_options"]))
        return cls(name=name, protocol=protocol or "", **values)

    # -- derived values -------------------------------------------------------------------
    @property
    def fsspec_protocol(self) -> str:
        return FSSPEC_PROTOCOL.get(self.protocol, self.protocol)

    @property
    def endpoint_url(self) -> str | None:
        """The S3 endpoint URL; ``None`` means AWS. Without ``secure``, a loopback endpoint
        gets ``http`` (a local test server) and any other gets ``https``."""
        if not self.endpoint:
            return None
        if self.endpoint.startswith(("http://", "https://")):
            return self.endpoint
        secure = self.secure if self.secure is not None else not _is_loopback(self.endpoint)
        return ("https" if secure else "http") + "://" + self.endpoint

    @property
    def container_name(self) -> str | None:
        """The bucket (S3, GCS, others) or container (Azure) holding the store."""
        return self.container if self.protocol == "azure" and self.container else self.bucket

    @property
    def root(self) -> str:
        """The store root as an fsspec path (no protocol): objects live below it."""
        location = self.location.replace("\\", "/")
        if self.protocol == "file":
            return os.path.abspath(self.location).replace("\\", "/").rstrip("/") or "/"
        parts = [p.strip("/") for p in (self.container_name or "", location)]
        root = "/".join(p for p in parts if p)
        return "/" + root if self.protocol == "memory" else root

    def describe(self) -> str:
        """A short, secret-free description: ``s3 http://127.0.0.1:9000/bucket/location``."""
        if self.protocol == "s3":
            where = f"{self.endpoint_url or 'AWS'}/{self.root}"
        else:
            where = self.root
        return f"{self.protocol} {where}"

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in ("name", "protocol") and value == _DEFAULTS.get(f.name):
                continue
            if f.name in SECRET_KEYS and value is not None:
                value = "***"
            elif f.name == "storage_options":
                value = redact_options(value)
            shown.append(f"{f.name}={value!r}")
        return f"StoreSpec({', '.join(shown)})"

    __str__ = __repr__


_DEFAULTS = {f.name: f.default for f in fields(StoreSpec)} | {"storage_options": {}}


def redact_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """``storage_options`` with secret-looking values replaced by ``'***'`` (nested too)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if any(w in str(key).lower() for w in SECRET_OPTION_WORDS) and value is not None:
            out[key] = "***"
        else:
            out[key] = redact_options(value) if isinstance(value, Mapping) else value
    return out


def _check_required(store: str, protocol: str, values: Mapping[str, Any]) -> None:
    missing = [k for k in REQUIRED_KEYS.get(protocol, ()) if not values.get(k)]
    if missing:
        raise _fail(store, f"protocol {protocol!r} requires {', '.join(missing)}")
    if protocol == "s3" and bool(values.get("access_key")) != bool(values.get("secret_key")):
        raise _fail(store, "set both access_key and secret_key, or neither to use the ambient "
                           "AWS credentials")


def _is_loopback(endpoint: str) -> bool:
    host = endpoint.rsplit("@", 1)[-1]
    host = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0]
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the whole stores dict -----------------------------------------------------------------------
class RedactedDict(dict):  # type: ignore[type-arg]
    """A plain dict whose repr hides secrets (what ``dj.config['stores']`` returns)."""

    def __repr__(self) -> str:
        return repr({k: "***" if k in SECRET_KEYS and v is not None
                     else redact_options(v) if k == "storage_options" and isinstance(v, Mapping)
                     else v for k, v in self.items()})

    __str__ = __repr__


def validate_stores(stores: Any, *, complete: bool = True) -> dict[str, Any]:
    """Check a whole ``dj.config['stores']`` dict; returns a normalized copy.

    ``complete=False`` (a store being built key by key, ``config['stores.main.x'] = ...``)
    defers the required-key and selector checks to the first use of the store.
    """
    if not isinstance(stores, Mapping):
        raise ConfigError("'stores' must be a dict of store name -> store spec, "
                          f"got {type(stores).__name__}")
    out: dict[str, Any] = RedactedDict()
    for name, value in stores.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"store names must be non-empty strings, got {name!r}")
        if name in SELECTORS:
            out[name] = _check_opt_str(name, name, value)
            continue
        StoreSpec.from_dict(name, value, complete=complete)
        out[name] = RedactedDict({k: os.fspath(v) if isinstance(v, os.PathLike) else v
                                  for k, v in value.items()})
    if complete:
        _check_selectors(out)
    return out


def _check_selectors(stores: Mapping[str, Any]) -> None:
    names = store_names(stores)
    for selector in SELECTORS:
        target = stores.get(selector)
        if target is not None and target not in names:
            raise ConfigError(f"stores[{selector!r}] names store {target!r}, which is not "
                              f"configured; configured stores: {_listing(names)}")


def store_names(stores: Mapping[str, Any]) -> list[str]:
    """The configured store names (not the ``default``/``filepath_default`` selectors)."""
    return [n for n in stores if n not in SELECTORS]


def _listing(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "(none)"


def resolve_store_name(stores: Mapping[str, Any], name: str | None, *,
                       filepath: bool = False) -> str:
    """The store a column names: ``None``/``""`` means ``stores.default`` (or
    ``stores.filepath_default`` for filepaths); ConfigError naming the configured stores."""
    names = store_names(stores)
    if not name:
        selector = "filepath_default" if filepath else "default"
        name = stores.get(selector)
        if not name:
            raise ConfigError(f"no default store: set dj.config['stores'][{selector!r}] to one "
                              f"of the configured stores ({_listing(names)}), or name the "
                              "store in the type (<blob@name>)")
    if name not in names:
        raise ConfigError(f"store {name!r} is not configured; configured stores: "
                          f"{_listing(names)}")
    return name


# -- environment ----------------------------------------------------------------------------------
ENV_JSON_VARS = ("DJ_STORES", "JF_STORES")
ENV_KEY_PREFIXES = ("DJ_STORES__", "JF_STORES__")
_JSON_VALUED = frozenset({"secure", "subfolding", "token_length", "storage_options"})


def stores_from_environment(env: Mapping[str, str]) -> tuple[dict[str, Any] | None,
                                                              dict[str, Any]]:
    """Store settings from the environment.

    Returns ``(whole, keys)``: ``whole`` is the ``DJ_STORES``/``JF_STORES`` JSON object (as in
    DataJoint 2.3.5: it replaces the stores dict) or None; ``keys`` maps dotted keys
    (``stores.main.secret_key``) to values from ``DJ_STORES__MAIN__SECRET_KEY`` variables.
    """
    whole = None
    for var in ENV_JSON_VARS:
        if env.get(var):
            try:
                whole = json.loads(env[var])
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{var} is not valid JSON: {exc.msg}") from None
            if not isinstance(whole, dict):
                raise ConfigError(f"{var} must be a JSON object, got {type(whole).__name__}")
    keys: dict[str, Any] = {}
    for var, value in sorted(env.items()):
        prefix = next((p for p in ENV_KEY_PREFIXES if var.startswith(p)), None)
        parts = var[len(prefix):].split("__") if prefix else []
        if len(parts) != 2 or not all(parts) or value == "":
            continue
        key = parts[1].lower()
        keys[f"stores.{parts[0].lower()}.{key}"] = _env_value(key, value)
    return whole, keys


def _env_value(key: str, value: str) -> Any:
    if key in _JSON_VALUED:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def match_store_name(stores: Mapping[str, Any], lowered: str) -> str:
    """The configured store whose name equals ``lowered`` ignoring case (else ``lowered``)."""
    return next((n for n in store_names(stores) if n.lower() == lowered), lowered)
