"""Backends by name: one small class per database."""
from __future__ import annotations

from .base import PH, Backend
from .mysql import MySQLBackend
from .postgres import PostgresBackend
from .sqlite import SQLiteBackend

BACKENDS: dict[str, type[Backend]] = {
    "sqlite": SQLiteBackend, "postgresql": PostgresBackend, "mysql": MySQLBackend}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]()
    except KeyError:
        from ..errors import ConfigError
        raise ConfigError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)}") from None


__all__ = ["PH", "Backend", "BACKENDS", "get_backend"]
