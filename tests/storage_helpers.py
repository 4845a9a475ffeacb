"""Helpers shared by the object-storage tests."""
from __future__ import annotations

from pathlib import Path


def files_under(root: Path) -> list[str]:
    """Every file below ``root``, as sorted paths relative to it (none if it does not exist)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
