"""Configuration: a dict-like object with dotted keys and nested access.

Layering (lowest first): built-in defaults < ``joinflow.json`` / ``datajoint.json`` (working
directory, then home) < environment variables (``JF_*`` and DataJoint's ``DJ_*``) < values set in code.
``dj.config.override(...)`` changes values temporarily (used around every test).
A ``.secrets/`` folder next to the file (or ``/run/secrets/datajoint``) fills values nothing
else set, one file per key (``database.password``, ``stores.<name>.<key>``), as DataJoint 2.3.5.

Every known key has a type: a value of the wrong type raises ``ConfigError`` naming the key when
it is assigned. Secrets (database password, store secret keys) never appear in ``repr``/``str``.

Thread-safe mode (``DJ_THREAD_SAFE=true``, read on every use) turns the global ``dj.config``
off (``ThreadSafetyError``); configurations of ``dj.Instance`` objects keep working.
"""
from __future__ import annotations

import contextlib
import copy
import json
import numbers
import os
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from .errors import ConfigError, ThreadSafetyError
from .storage.spec import (SECRET_OPTION_WORDS, StoreSpec, match_store_name,
                           redact_options, resolve_store_name, stores_from_environment,
                           validate_stores)

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
    "ignore_config_file": False,     # skip config files and secrets folders (env vars only)
}

BOOL_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, bool)} | {"database.use_tls"}
INT_KEYS = {"database.port", "display.limit", "display.width", "jobs.stale_timeout",
            "jobs.default_priority", "filepath_checksum_size_limit", "cache_size_limit"}
#: keys holding text (or None); a path object is stored as given
STR_KEYS = {"database.host", "database.user", "database.password", "database.name",
            "connection.charset"}
PATH_KEYS = {"database.path", "download_path", "query_cache"}
FLOAT_KEYS = {"populate.group_commit"}

ENV_VARS: dict[str, str] = {
    "JF_BACKEND": "database.backend", "JF_HOST": "database.host", "JF_PORT": "database.port",
    "JF_USER": "database.user", "JF_PASS": "database.password", "JF_PASSWORD": "database.password",
    "JF_DATABASE_PATH": "database.path", "JF_DATABASE_NAME": "database.name",
    "DJ_HOST": "database.host", "DJ_PORT": "database.port", "DJ_USER": "database.user",
    "DJ_PASS": "database.password", "DJ_BACKEND": "database.backend",
    "DJ_USE_TLS": "database.use_tls", "DJ_TLS": "database.use_tls", "JF_USE_TLS": "database.use_tls",
    "DJ_LOG_LEVEL": "loglevel", "JF_LOG_LEVEL": "loglevel",
    "DJ_DIAGRAM_DIRECTION": "display.diagram_direction", "DJ_DIAGRAM_THEME": "display.diagram_theme",
    "DJ_DATABASE_NAME": "database.name", "DJ_SAFEMODE": "safemode", "JF_SAFEMODE": "safemode",
    "DJ_DOWNLOAD_PATH": "download_path", "DJ_QUERY_CACHE": "query_cache",
    "DJ_IGNORE_CONFIG_FILE": "ignore_config_file", "JF_IGNORE_CONFIG_FILE": "ignore_config_file",
}
ENV_PREFIXES = {"DJ_JOBS_": "jobs.", "JF_JOBS_": "jobs."}

SECRET_WORDS = ("password", "secret", "token", "passwd")
#: store keys holding credentials whose names carry none of the words above (Azure's)
SECRET_NAMES = ("account_key", "connection_string")
#: names that carry a secret word but hold no secret
NOT_SECRET_NAMES = ("token_length",)
VALID_BACKENDS = ("sqlite", "postgresql", "mysql")
BACKEND_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "mariadb": "mysql", "sqlite3": "sqlite"}
CONFIG_FILES = ("joinflow.json", "datajoint.json", "dj_local_conf.json")
CONFIG_FILENAME = "datajoint.json"   # what save_template writes (DataJoint's name)
SECRETS_DIRNAME = ".secrets"
SYSTEM_SECRETS_DIR = Path("/run/secrets/datajoint")
#: the environment variable that turns thread-safe mode on (DataJoint 2.3.5's), read on every use
THREAD_SAFE_VAR = "DJ_THREAD_SAFE"


def thread_safe_mode(environ: Any = None) -> bool:
    """True when ``DJ_THREAD_SAFE`` is ``true``/``1``/``yes`` (any case): the global
    configuration and connection are then refused and ``dj.Instance`` must be used."""
    env = os.environ if environ is None else environ
    return str(env.get(THREAD_SAFE_VAR, "")).strip().lower() in ("true", "1", "yes")


def refuse_in_thread_safe_mode(what: str) -> None:
    """Raise ``ThreadSafetyError`` if thread-safe mode is on; ``what`` names the global used."""
    if thread_safe_mode():
        raise ThreadSafetyError(
            f"{what} is global state, disabled in thread-safe mode ({THREAD_SAFE_VAR} is set): "
            "create an isolated dj.Instance(...) and use its .config, .connection and .Schema()")


def is_secret(key: str) -> bool:
    """True for keys whose values must never be displayed."""
    low = key.lower()
    name = low.rsplit(".", 1)[-1]
    if name in NOT_SECRET_NAMES:
        return False
    return name in SECRET_NAMES or any(w in low for w in SECRET_WORDS)


def _is_secret_option(key: str) -> bool:
    """True for a ``storage_options`` entry that looks like a credential (``key``, ``secret``...)."""
    return any(w in key.lower() for w in SECRET_OPTION_WORDS)


def redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with every secret replaced by ``'***'``."""
    if is_secret(key) and value is not None:
        return "***"
    if isinstance(value, dict) and key.rsplit(".", 1)[-1] == "storage_options":
        return redact_options(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    return value


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}

# Keys with a fixed set of values (as DataJoint 2.3.5 validates them).
CHOICES: dict[str, tuple] = {
    "fetch_format": ("array", "frame"),
    "blob.compression": ("auto", "always", "never"),
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


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _checked_text(key: str, value: Any) -> Any:
    """Text keys take a string (or None); path keys also a path object."""
    if value is None or isinstance(value, str):
        return value
    if key in PATH_KEYS and isinstance(value, os.PathLike):
        return value
    kind = "a string or a path" if key in PATH_KEYS else "a string"
    shown = "" if is_secret(key) else f" {value!r}"  # a password is never echoed
    raise ConfigError(f"{key} must be {kind}, got {type(value).__name__}{shown}")


def _checked_number(key: str, value: Any) -> Any:
    """Integer keys take an int (or None; never a bool); float keys any real number >= 0."""
    if value is None:
        return None
    if key in FLOAT_KEYS:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{key} must be a number >= 0, got {value!r}")
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 3306.0, as DataJoint 2.3.5 takes it
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)  # numpy integers too
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer, got {type(value).__name__} {value!r}")
    if key == "database.port" and not 0 < value < 65536:
        raise ConfigError(f"database.port must be from 1 to 65535, got {value!r}")
    return value


def _checked_loglevel(value: Any) -> str:
    if isinstance(value, str) and value.strip().upper() in LOG_LEVELS:
        return value.strip().upper()
    raise ConfigError(f"loglevel must be {_choices_text(LOG_LEVELS)}, got {value!r}")


def _checked_tls(value: Any) -> Any:
    if value is None or isinstance(value, (bool, dict)):
        return value
    raise ConfigError(f"database.use_tls must be true, false, None or a dict of TLS options, "
                      f"got {value!r}")


def _normalize(key: str, value: Any) -> Any:
    if key not in DEFAULTS and not key.startswith("stores."):
        raise ConfigError(f"unknown configuration key {key!r}")
    if key == "loglevel":
        return _checked_loglevel(value)
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
    if key == "database.use_tls":
        return _checked_tls(value)
    if key in BOOL_KEYS:
        value = _checked_bool(key, value)
    if key in STR_KEYS or key in PATH_KEYS:
        value = _checked_text(key, value)
    if key in INT_KEYS or key in FLOAT_KEYS:
        value = _checked_number(key, value)
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
        """A layer forgets its own value (the parent's shows again); the root configuration
        goes back to the default (as DataJoint resets a deleted setting)."""
        if self._parent is None and key in DEFAULTS:
            self._values[key] = copy.deepcopy(DEFAULTS[key])
        else:
            del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        items = ",\n".join(f"  {k}={v!r}" for k, v in self._redacted_flat().items())
        return f"Config(\n{items})"

    __str__ = __repr__

    def _redacted_flat(self) -> dict[str, Any]:
        return {k: redact(v, k) for k, v in self._all().items()}

    # -- layering -------------------------------------------------------------
    def load(self, path: str | os.PathLike, strict: bool = True) -> None:
        """Read a JSON configuration file (flat dotted keys or nested sections). Unknown keys
        raise ``ConfigError`` (with ``strict=False``: a warning, and they are skipped). A key
        whose environment variable is set keeps its value: the environment wins over files
        (DataJoint 2.3.5's rule)."""
        with open(path) as f:
            data = json.load(f)
        from_env = keys_set_by_environment()
        for key, value in _flatten(data).items():
            if key in from_env:
                continue
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
        """Read a secrets directory: one file per dotted key (``database.password``,
        ``stores.<name>.<key>``). As in DataJoint 2.3.5 a secret only fills a value that the
        configuration file and the environment left unset."""
        folder = Path(folder)
        if not folder.is_dir():
            return
        for f in sorted(folder.iterdir()):
            known = f.name in DEFAULTS or f.name.startswith("stores.")
            if f.is_file() and known and not f.name.startswith(".") and not self._is_set(f.name):
                self[f.name] = f.read_text().strip()

    _load_secrets = load_secrets  # DataJoint 2.3.5's name

    def _is_set(self, key: str) -> bool:
        """``key`` holds a value other than None and its default (a missing store key is
        unset)."""
        try:
            value = self[key]
        except ConfigError:
            return False
        return value is not None and (key not in DEFAULTS or value != DEFAULTS[key])

    def load_default_files(self, start: str | os.PathLike | None = None) -> Path | None:
        """Load the first config file found from ``start`` (the cwd) upward — stopping at a
        repository root (``.git``/``.hg``) — then in the home folder; then secrets."""
        found = find_config_file(start)
        if found is None:
            home = Path.home()
            found = next((home / nm for nm in (*CONFIG_FILES, ".datajoint_config.json")
                          if (home / nm).is_file()), None)
        if found is not None:
            self.load(found, strict=False)  # a stale key must not break ``import joinflow``
        for secrets in ((found.parent / SECRETS_DIRNAME) if found else None, SYSTEM_SECRETS_DIR):
            if secrets is not None:
                self.load_secrets(secrets)
        return found

    # -- stores ---------------------------------------------------------------------
    def get_store_spec(self, store: str | None = None, *,
                       use_filepath_default: bool = False) -> dict[str, Any]:
        """The settings of one store as a dict, checked and completed with the defaults every
        store has (``hash_prefix``, ``token_length``, ...). ``store=None`` means
        ``stores.default`` (``stores.filepath_default`` with ``use_filepath_default``).
        A store that is not configured or not complete raises ``ConfigError``."""
        stores = self["stores"]
        selector = "filepath_default" if use_filepath_default else "default"
        if store is None and not stores.get(selector):
            raise ConfigError(f"stores.{selector} is not configured: set it to the name of one "
                              "of the stores, or name the store explicitly")
        name = resolve_store_name(stores, store, filepath=use_filepath_default)
        raw = stores[name]
        StoreSpec.from_dict(name, raw)  # raises ConfigError naming the store and the key
        spec = {**STORE_DEFAULTS, **raw}
        spec["protocol"] = str(spec["protocol"]).lower()
        if spec["protocol"] == "s3":
            spec.setdefault("secure", True)
        return spec

    @staticmethod
    def save_template(path: str | os.PathLike = CONFIG_FILENAME, minimal: bool = True,
                      create_secrets_dir: bool = True) -> Path:
        """Write a starting configuration file (no credentials) and return its absolute path.
        ``minimal=False`` writes every section with its default; ``create_secrets_dir`` also
        makes ``.secrets/`` beside it with placeholder ``database.user``/``database.password``
        files (existing ones are kept) and a ``.gitignore`` keeping them out of git. An existing
        file is never overwritten (``FileExistsError``). Works in thread-safe mode too."""
        target = Path(path)
        if target.exists():
            raise FileExistsError(f"{target} already exists: remove it first or choose "
                                  "another path")
        with open(target, "w") as f:
            json.dump(config_template(minimal), f, indent=2)
            f.write("\n")
        if create_secrets_dir:
            _make_secrets_dir(target.parent / SECRETS_DIRNAME)
        return target.absolute()

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


def _without_secrets(values: dict[str, Any], options: bool = False) -> dict[str, Any]:
    """A copy without any secret (nested dicts too): a saved file never holds one.
    ``options``: inside ``storage_options``, where credential-looking entries go too."""
    def secret(k: str) -> bool:
        return is_secret(k) or (options and _is_secret_option(k))
    return {k: _without_secrets(v, options or str(k) == "storage_options")
            if isinstance(v, dict) else v
            for k, v in values.items() if not (secret(str(k)) and v is not None)}


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
    """A configuration read from the files, secrets and environment (what ``dj.Instance``
    starts from). ``DJ_IGNORE_CONFIG_FILE=true`` skips files and secrets."""
    return _load_defaults(Config())


def make_global_config() -> "GlobalConfig":
    """``dj.config``: the default configuration, refused in thread-safe mode."""
    cfg = GlobalConfig()
    with cfg._unguarded():
        _load_defaults(cfg)
    return cfg


def _load_defaults(cfg: Config) -> Config:
    if not ignores_config_files():
        cfg.load_default_files()
    cfg.load_environment()
    return cfg


_create_config = make_default_config  # DataJoint 2.3.5's name


def keys_set_by_environment(environ: Any = None) -> set[str]:
    """The keys an environment variable sets (non-empty), which files must not change."""
    env = os.environ if environ is None else environ
    return {key for var, key in ENV_VARS.items() if env.get(var) not in (None, "")}


def ignores_config_files(environ: Any = None) -> bool:
    """``DJ_IGNORE_CONFIG_FILE`` (or ``JF_``) is true: configuration from the environment only."""
    env = os.environ if environ is None else environ
    raw = env.get("DJ_IGNORE_CONFIG_FILE") or env.get("JF_IGNORE_CONFIG_FILE") or ""
    return raw.strip().lower() in _TRUE


# -- files -------------------------------------------------------------------------
def find_config_file(start: str | os.PathLike | None = None) -> Path | None:
    """The first configuration file (``joinflow.json``, ``datajoint.json``,
    ``dj_local_conf.json``) in ``start`` (default: the working directory) or a folder above,
    stopping at a repository root (``.git``/``.hg``); None if there is none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        found = next((folder / nm for nm in CONFIG_FILES if (folder / nm).is_file()), None)
        if found or (folder / ".git").exists() or (folder / ".hg").exists():
            return found
    return None


def find_secrets_dir(config_path: str | os.PathLike | None = None) -> Path | None:
    """``.secrets/`` beside the configuration file, else ``/run/secrets/datajoint``, if it
    exists."""
    if config_path is not None and (Path(config_path).parent / SECRETS_DIRNAME).is_dir():
        return Path(config_path).parent / SECRETS_DIRNAME
    return SYSTEM_SECRETS_DIR if SYSTEM_SECRETS_DIR.is_dir() else None


def read_secret_file(secrets_dir: str | os.PathLike | None, name: str) -> str | None:
    """The stripped text of the secret ``name``, or None."""
    if secrets_dir is None or not (Path(secrets_dir) / name).is_file():
        return None
    return (Path(secrets_dir) / name).read_text().strip()


#: what every store has unless it says otherwise (DataJoint 2.3.5's defaults)
STORE_DEFAULTS: dict[str, Any] = {"subfolding": None, "partition_pattern": None,
                                  "token_length": 8, "hash_prefix": "_hash",
                                  "schema_prefix": "_schema", "filepath_prefix": None}


def config_template(minimal: bool = True) -> dict[str, Any]:
    """The content ``save_template`` writes: database settings (no credentials), and with
    ``minimal=False`` every section, with two example stores."""
    database: dict[str, Any] = {"host": "localhost", "port": 3306}
    if minimal:
        return {"database": database}
    return {
        "database": {**database, "reconnect": True, "use_tls": None},
        "connection": {"charset": ""},
        "display": {"limit": 12, "width": 14, "show_tuple_count": True},
        "stores": {"default": "main", "filepath_default": "raw_data",
                   "main": {"protocol": "file", "location": "/data/my-project/main",
                            "partition_pattern": None, "token_length": 8, "subfolding": None},
                   "raw_data": {"protocol": "file", "location": "/data/my-project/raw"}},
        "loglevel": "INFO", "safemode": True, "query_cache": None, "download_path": ".",
    }


def _make_secrets_dir(folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for name, placeholder in (("database.user", "your_username"),
                              ("database.password", "your_password")):
        if not (folder / name).exists():
            (folder / name).write_text(placeholder)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# never commit secrets\n*\n!.gitignore\n")


# -- the global configuration ------------------------------------------------------------
class GlobalConfig(Config):
    """``dj.config``: a ``Config`` that refuses every use in thread-safe mode
    (``ThreadSafetyError``), as DataJoint 2.3.5's global configuration does. Layers over it
    (the connections of ``dj.conn()``) are refused too; ``save_template`` still works."""

    _guard = True

    def _check(self) -> None:
        if self._guard:
            refuse_in_thread_safe_mode("dj.config")

    @contextlib.contextmanager
    def _unguarded(self) -> Iterator[None]:
        self._guard = False
        try:
            yield
        finally:
            self._guard = True

    def _all(self) -> dict[str, Any]:
        self._check()
        return super()._all()

    def __getitem__(self, key: str) -> Any:
        self._check()
        return super().__getitem__(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._check()
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._check()
        super().__delitem__(key)

    def override(self, **kwargs: Any) -> Any:
        self._check()
        return super().override(**kwargs)

    def load(self, path: str | os.PathLike, strict: bool = True) -> None:
        self._check()
        super().load(path, strict)

    def save(self, path: str | os.PathLike, *, include_secrets: bool = False) -> None:
        self._check()  # save_local/save_global come here too
        super().save(path, include_secrets=include_secrets)

    def __repr__(self) -> str:
        if self._guard and thread_safe_mode():
            return (f"Config(disabled: thread-safe mode, {THREAD_SAFE_VAR} is set; "
                    "use dj.Instance(...).config)")
        return super().__repr__()

    __str__ = __repr__
