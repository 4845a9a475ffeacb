"""``dj.Instance``: a configuration and a connection of their own.

Two instances in one process talk to different databases (even different backends) without
sharing any state with each other or with the global ``dj.config``/``dj.conn()``; they keep
working in thread-safe mode (``DJ_THREAD_SAFE=true``), where the globals are refused.

    inst = dj.Instance(host="127.0.0.1", user="root", password="", backend="mysql")
    inst.config["safemode"] = False
    schema = inst.Schema("lab")
"""
from __future__ import annotations

from typing import Any

from .connection import Connection, choose_backend
from .settings import Config, make_default_config, thread_safe_mode

#: the port a server backend listens on unless told otherwise
DEFAULT_PORTS = {"mysql": 3306, "postgresql": 5432}


def _load_thread_safe() -> bool:
    """DataJoint 2.3.5's name for :func:`joinflow.settings.thread_safe_mode`."""
    return thread_safe_mode()


def _setting_key(name: str) -> str:
    """``database__reconnect`` (DataJoint's keyword form) is ``database.reconnect``."""
    return name.replace("__", ".")


def instance_config(host: str | None, user: str | None, password: str | None,
                    port: int | None, use_tls: bool | dict | None, backend: str | None,
                    settings: dict[str, Any]) -> Config:
    """A fresh configuration (files, secrets and environment, never ``dj.config``) with the
    given connection arguments and settings applied and the backend resolved."""
    cfg = make_default_config()
    for key, value in settings.items():
        cfg[_setting_key(key)] = value
    for key, value in (("host", host), ("user", user), ("password", password),
                       ("port", port), ("use_tls", use_tls), ("backend", backend)):
        if value is not None:
            cfg[f"database.{key}"] = value
    if backend is not None and port is None and "database.port" not in map(_setting_key, settings):
        cfg["database.port"] = DEFAULT_PORTS.get(cfg["database.backend"])  # not the env's
    cfg["database.backend"], _ = choose_backend(cfg)
    return cfg


class Instance:
    """An isolated joinflow context: ``inst.config`` (a ``Config`` read from the files,
    secrets and environment, never shared with ``dj.config``) and ``inst.connection``.

    ``Instance(host, user, password, port=None, use_tls=None, backend=None, **settings)``:
    the arguments name the server as ``dj.conn()`` takes them; ``backend`` is ``"mysql"``,
    ``"postgresql"`` or ``"sqlite"`` (when omitted: chosen as for ``dj.conn()``, MySQL when a
    server is named); ``settings`` are configuration values, ``database__path="lab.db"`` or
    ``safemode=False`` (``__`` stands for the dot). An unknown setting raises ``ConfigError``.

    One instance may be used from several threads at once: its connection sends one
    statement at a time, and a ``with inst.connection.transaction:`` block holds the connection
    for its thread until it ends (the other threads wait). Threads that should work in parallel
    take an ``Instance`` each.
    """

    def __init__(self, host: str | None = None, user: str | None = None,
                 password: str | None = None, port: int | None = None,
                 use_tls: bool | dict | None = None, backend: str | None = None,
                 **settings: Any) -> None:
        self.config: Config = instance_config(host, user, password, port, use_tls, backend,
                                              settings)
        cfg = self.config
        self.connection: Connection = Connection(
            cfg["database.host"], cfg["database.user"], cfg["database.password"],
            cfg["database.port"], cfg["database.use_tls"],
            backend=cfg["database.backend"], config=cfg)

    def Schema(self, schema_name: str | None = None, context: dict | None = None, *,
               create_schema: bool = True, create_tables: bool | None = None,
               add_objects: dict | None = None) -> Any:
        """A ``dj.Schema`` on this instance's connection."""
        from .schema import Schema
        options: dict[str, Any] = {} if create_tables is None else {"create_tables": create_tables}
        return Schema(schema_name, context, connection=self.connection,
                      create_schema=create_schema, add_objects=add_objects, **options)

    def FreeTable(self, full_table_name: str) -> Any:
        """The table ``schema.table`` on this instance's connection (``dj.FreeTable``)."""
        from .table import FreeTable
        return FreeTable(self.connection, full_table_name)

    def VirtualModule(self, module_name: str, schema_name: str, **kwargs: Any) -> Any:
        """``dj.VirtualModule`` over a schema of this instance's database."""
        from .schema import VirtualModule
        return VirtualModule(module_name, schema_name, connection=self.connection, **kwargs)

    def virtual_schema(self, schema_name: str, **kwargs: Any) -> Any:
        """``dj.virtual_schema`` over a schema of this instance's database."""
        from .schema import virtual_schema
        return virtual_schema(schema_name, connection=self.connection, **kwargs)

    def list_schemas(self) -> list[str]:
        """The schemas of this instance's database (``dj.list_schemas``)."""
        from .schema import list_schemas
        return list(list_schemas(connection=self.connection))

    def close(self) -> None:
        """Close the connection (it reconnects if used again)."""
        self.connection.close()

    def __enter__(self) -> "Instance":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Instance({self.connection!r})"
