"""Configuration: a dict-like object with dotted keys and nested access.

Layering (lowest first): built-in defaults < ``joinflow.json`` / ``datajoint.json`` (working
directory, then home) < environment variables (``JF_*`` and DataJoint's ``DJ_*``) < values set in code.
``dj.config.override(...)`` changes values temporarily (used around every test).

Secrets (database password, store secret keys) never appear in ``repr``/``str``.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .storage.spec import match_store_name, stores_from_environment, validate_stores

DEFAULTS: dict[str, Any] = {
    "database.backend": None,        # None: sqlite, unless a server is named (see connection.py)
    "database.host": None,           # None: not set ("localhost" when a server is named)
    "database.port": None,
    "database.user": None,
    "database.password": None,
    "database.name": None,           # postgres database name (default "postgres")
    "database.path": "joinflow.db",  # sqlite file; ":memory:" for an in-memory database
    "database.reconnect": True,
    "database.use_tls": None,
    "connection.init_function": None,
    "connection.charset": "",
    "safemode": True,
    "loglevel": "INFO",
    "display.limit": 12,
    "display.width": 14,
    "display.show_tuple_count": True,
    "download_path": ".",
    "enable_python_native_blobs": True,
    "blob.compression": "auto",      # "auto" | "always" | "never"
    "blob.writable_arrays": False,   # fetched arrays: read-only views (DataJoint) or copies
    "populate.group_commit": 0.05,   # seconds of fast makes that share one COMMIT (0: none)
    "stores": {},
    "cache": None,                   # folder caching fetched hash-addressed objects
    "cache_size_limit": None,        # bytes; least recently used cache entries are evicted
    "query_cache": None,
    "fetch_format": "array",
    "filepath_checksum_size_limit": None,
    "add_hidden_timestamp": False,
    "display.diagram_direction": "LR",
    "display.diagram_theme": "auto",
    "jobs.auto_refresh": True,
    "jobs.keep_completed": False,
    "jobs.stale_timeout": 3600,
    "jobs.default_priority": 5,
    "jobs.version_method": None,
    "jobs.add_job_metadata": False,
    "jobs.allow_new_pk_fields_in_computed_tables": False,
}

BOOL_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, bool)} | {"database.use_tls"}
INT_KEYS = {"database.port", "display.limit", "display.width", "jobs.stale_timeout",
            "jobs.default_priority", "filepath_checksum_size_limit", "cache_size_limit"}

ENV_VARS: dict[str, str] = {
    "JF_BACKEND": "database.backend", "JF_HOST": "database.host", "JF_PORT": "database.port",
    "JF_USER": "database.user", "JF_PASS": "database.password", "JF_PASSWORD": "database.password",
    "JF_DATABASE_PATH": "database.path", "JF_DATABASE_NAME": "database.name",
    "DJ_HOST": "database.host", "DJ_PORT": "database.port", "DJ_USER": "database.user",
    "DJ_PASS": "database.password", "DJ_BACKEND": "database.backend",
    "DJ_USE_TLS": "database.use_tls", "DJ_TLS": "database.use_tls", "JF_USE_TLS": "database.use_tls",
    "DJ_LOG_LEVEL": "loglevel", "JF_LOG_LEVEL": "loglevel",
    "DJ_DIAGRAM_DIRECTION": "display.diagram_direction",
}
ENV_PREFIXES = {"DJ_JOBS_": "jobs.", "JF_JOBS_": "jobs."}

SECRET_WORDS = ("password", "secret", "token", "passwd")
VALID_BACKENDS = ("sqlite", "postgresql", "mysql")
BACKEND_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "mariadb": "mysql", "sqlite3": "sqlite"}
CONFIG_FILES = ("joinflow.json", "datajoint.json", "dj_local_conf.json")


def is_secret(key: str) -> bool:
    """True for keys whose values must never be displayed."""
    low = key.lower()
    return any(w in low for w in SECRET_WORDS)


def redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with every secret replaced by ``'***'``."""
    if is_secret(key) and value is not None:
        return "***"
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    return value


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}

# Keys with a fixed set of values (as DataJoint 2.3.5 validates them).
CHOICES: dict[str, tuple] = {
    "jobs.version_method": ("git", "none", None),
    "display.diagram_direction": ("TB", "LR"),
    "display.diagram_theme": ("light", "dark", "auto"),
}
# Integer keys with bounds (inclusive; None: unbounded); None is not a value for these.
BOUNDS: dict[str, tuple[int | None, int | None]] = {
    "jobs.default_priority": (0, 255),
    "jobs.stale_timeout": (0, None),
    "display.limit": (None, None),
    "display.width": (None, None),
}


def _choices_text(choices: tuple) -> str:
    names = [repr(c) for c in choices]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _checked_int(key: str, value: Any) -> int:
    """``value`` as an integer within the bounds of ``key`` (DataJoint 2.3.5's rules: integral
    numbers and numeric strings are accepted)."""
    low, high = BOUNDS[key]
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip()) if "." in value else int(value.strip())
        except ValueError:
            number = None
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    number = int(number)
    if (low is not None and number < low) or (high is not None and number > high):
        allowed = (f"from {low} to {high}" if high is not None else f">= {low}") \
            if low is not None else f"<= {high}"
        raise ConfigError(f"{key} must be an integer {allowed}, got {value!r}")
    return number


def _checked_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ConfigError(f"{key} must be true or false, got {value!r}")


def _normalize(key: str, value: Any) -> Any:
    if key not in DEFAULTS and not key.startswith("stores."):
        raise ConfigError(f"unknown configuration key {key!r}")
    if key == "database.backend" and value is not None:
        value = BACKEND_ALIASES.get(str(value).lower(), str(value).lower())
        if value not in VALID_BACKENDS:
            raise ConfigError(f"database.backend must be one of {VALID_BACKENDS}, got {value!r}")
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"{key} must be {_choices_text(CHOICES[key])}, got {value!r}")
    if key in BOUNDS:
        return _checked_int(key, value)
    if key in INT_KEYS and isinstance(value, str):
        try:
            value = int(value) if value.strip() else None
        except ValueError:
            raise ConfigError(f"{key} must be an integer, got {value!r}") from None
    if key in BOOL_KEYS and isinstance(value, str):
        low = value.strip().lower()
        if low not in _TRUE | _FALSE:
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        value = low in _TRUE
    if key in BOOL_KEYS and key.startswith(("jobs.", "display.")):
        value = _checked_bool(key, value)
    if key == "stores":  # completeness (required keys) is checked when a store is used
        value = validate_stores(value, complete=False)
    if key == "cache" and value is not None and not isinstance(value, (str, os.PathLike)):
        raise ConfigError(f"cache must be a folder path or None, got {type(value).__name__}")
    return value


class _Attributes:
    """``config.database.host`` is ``config['database.host']`` (reading and writing)."""

    _prefix = ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]  # type: ignore[index]
        except ConfigError:
            raise AttributeError(f"unknown configuration key {self._prefix + name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value  # type: ignore[index]


class Config(_Attributes, MutableMapping):
    """Dotted-key configuration (``config['database.host']``) with nested access
    (``config['database']['host']``)."""

    def __init__(self, values: dict[str, Any] | None = None, *,
                 parent: "Config | None" = None) -> None:
        self._parent = parent
        self._values: dict[str, Any] = {} if parent is not None else copy.deepcopy(DEFAULTS)
        if values:
            self.update(values)

    def _all(self) -> dict[str, Any]:
        """Every key: the parent's (live) values overlaid with this layer's."""
        if self._parent is None:
            return self._values
        return {**self._parent._all(), **self._values}

    def child(self) -> "Config":
        """A layer over this configuration: reads fall through, writes stay in the layer."""
        return Config(parent=self)

    # -- mapping protocol -------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        if key in self._values:
            return self._values[key]
        if self._parent is not None and key in self._parent._all():
            return self._parent[key]
        if key.startswith("stores."):  # a path into the stores dict
            value: Any = self["stores"]
            for part in key.split(".")[1:]:
                if not isinstance(value, dict) or part not in value:
                    raise ConfigError(f"unknown configuration key {key!r}")
                value = value[part]
            return value
        prefix = key + "."
        nested = {k[len(prefix):]: v for k, v in self._all().items() if k.startswith(prefix)}
        if nested:
            return _Section(self, key)
        raise ConfigError(f"unknown configuration key {key!r}")

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, dict) and key not in ("stores",) and not key.startswith("stores."):
            if any(k.startswith(key + ".") for k in self._all()):
                for sub, v in value.items():
                    self[f"{key}.{sub}"] = v
                return
        if key.startswith("stores."):  # stores.<name>[.<field>...] edits the stores dict
            stores = copy.deepcopy(self["stores"])
            *path, last = key.split(".")[1:]
            target = stores
            for part in path:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ConfigError(f"cannot set {key!r}: {part!r} is not a section")
            target[last] = value
            key, value = "stores", stores
        self._values[key] = _normalize(key, value)

    def __delitem__(self, key: str) -> None:
        del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"Config({json.dumps(self._redacted_flat(), indent=2, default=str)})"

    __str__ = __repr__

    def _redacted_flat(self) -> dict[str, Any]:
        return {k: redact(v, k) for k, v in self._all().items()}

    # -- layering -------------------------------------------------------------
    def load(self, path: str | os.PathLike, strict: bool = True) -> None:
        """Read a JSON configuration file (flat dotted keys or nested sections). Unknown keys
        raise ``ConfigError`` (with ``strict=False``: a warning, and they are skipped)."""
        with open(path) as f:
            data = json.load(f)
        for key, value in _flatten(data).items():
            try:
                self[key] = value
            except ConfigError as exc:
                if strict:
                    raise ConfigError(f"{path}: {exc}") from None
                import warnings
                warnings.warn(f"{path}: {exc} (ignored)", stacklevel=2)

    def save(self, path: str | os.PathLike, *, include_secrets: bool = False) -> None:
        """Write this layer to a JSON file; passwords and secret keys only if asked."""
        values = self._values if include_secrets else _without_secrets(self._values)
        with open(path, "w") as f:
            json.dump(values, f, indent=2, default=str)

    def load_environment(self, environ: dict[str, str] | None = None) -> None:
        """Apply ``JF_*`` / ``DJ_*`` environment variables (``DJ_JOBS_<KEY>`` for jobs.*)."""
        env = os.environ if environ is None else environ
        for var, key in ENV_VARS.items():
            if env.get(var) not in (None, ""):
                self[key] = env[var]
        for var, value in env.items():
            for prefix, section in ENV_PREFIXES.items():
                if var.startswith(prefix) and value not in (None, ""):
                    key = section + var[len(prefix):].lower()
                    if key in DEFAULTS:
                        self[key] = value
        self._load_store_environment(env)

    def _load_store_environment(self, env: Any) -> None:
        """``DJ_STORES``/``JF_STORES`` (a JSON object replacing ``stores``, as DataJoint 2.3.5)
        and ``DJ_STORES__<NAME>__<KEY>`` / ``JF_STORES__<NAME>__<KEY>`` for single keys."""
        whole, keys = stores_from_environment(env)
        if whole is not None:
            self["stores"] = whole
        for key, value in keys.items():
            _, name, attr = key.split(".")
            self[f"stores.{match_store_name(self['stores'], name)}.{attr}"] = value

    def load_secrets(self, folder: str | os.PathLike) -> None:
        """Read a secrets directory: one file per dotted key (``database.password``)."""
        folder = Path(folder)
        if not folder.is_dir():
            return
        for f in sorted(folder.iterdir()):
            if f.is_file() and (f.name in DEFAULTS or f.name.startswith("stores.")):
                self[f.name] = f.read_text().strip()

    def load_default_files(self, start: str | os.PathLike | None = None) -> Path | None:
        """Load the first config file found from ``start`` (the cwd) upward — stopping at a
        repository root (``.git``/``.hg``) — then in the home folder; then secrets."""
        found = None
        here = Path(start or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            found = next((folder / nm for nm in CONFIG_FILES if (folder / nm).is_file()), None)
            if found or (folder / ".git").exists() or (folder / ".hg").exists():
                break
        if found is None:
            home = Path.home()
            found = next((home / nm for nm in (*CONFIG_FILES, ".datajoint_config.json")
                          if (home / nm).is_file()), None)
        if found is not None:
            self.load(found, strict=False)  # a stale key must not break ``import joinflow``
        for secrets in ((found.parent / ".secrets") if found else None,
                        Path("/run/secrets/datajoint")):
            if secrets is not None:
                self.load_secrets(secrets)
        return found

    @contextlib.contextmanager
    def override(self, **kwargs: Any) -> Iterator["Config"]:
        """Temporarily set values; ``database__host='x'`` means ``database.host``."""
        saved = copy.deepcopy(self._values)
        try:
            for k, v in kwargs.items():
                self[k.replace("__", ".")] = v
            yield self
        finally:
            self._values = saved

    def __call__(self, **kwargs: Any) -> Any:
        """DataJoint 0.x: ``with dj.config(safemode=False, display__limit=5): ...``."""
        return self.override(**kwargs)

    def save_local(self, verbose: bool = False) -> None:
        """Write the configuration to ``dj_local_conf.json`` in the working directory."""
        self.save(Path.cwd() / "dj_local_conf.json")
        if verbose:
            print(f"configuration saved to {Path.cwd() / 'dj_local_conf.json'}")

    def save_global(self, verbose: bool = False) -> None:
        """Write the configuration to ``~/.datajoint_config.json``."""
        self.save(Path.home() / ".datajoint_config.json")
        if verbose:
            print(f"configuration saved to {Path.home() / '.datajoint_config.json'}")

    def snapshot(self) -> "Config":
        """An independent copy (what a connection keeps)."""
        new = Config.__new__(Config)
        new._parent = None
        new._values = copy.deepcopy(self._all())
        return new


class _Section(_Attributes, MutableMapping):
    """A live view of the keys under one prefix, e.g. ``config['database']``."""

    def __init__(self, config: Config, prefix: str) -> None:
        self._config, self._prefix = config, prefix + "."

    def _keys(self) -> list[str]:
        return [k[len(self._prefix):] for k in self._config._all() if k.startswith(self._prefix)]

    def __getitem__(self, key: str) -> Any:
        return self._config[self._prefix + key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._config[self._prefix + key] = value

    def __delitem__(self, key: str) -> None:
        del self._config[self._prefix + key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __repr__(self) -> str:
        return repr({k: redact(self[k], k) for k in self._keys()})


def _without_secrets(values: dict[str, Any]) -> dict[str, Any]:
    """A copy without any secret (nested dicts too): a saved file never holds one."""
    return {k: _without_secrets(v) if isinstance(v, dict) else v
            for k, v in values.items() if not (is_secret(str(k)) and v is not None)}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key != "stores" and not key.startswith("stores.") and any(
                d.startswith(key + ".") for d in DEFAULTS):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def make_default_config() -> Config:
    cfg = Config()
    cfg.load_default_files()
    cfg.load_environment()
    return cfg
