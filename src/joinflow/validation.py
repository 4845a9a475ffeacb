"""The result of ``Table.validate`` (``insert.validate_rows`` makes it)."""
from __future__ import annotations

from . import errors


class ValidationResult:
    """What ``Table.validate`` found: ``is_valid``, ``errors`` [(row, field, message)],
    ``rows_checked``. ``ValidationResult(is_valid=..., errors=..., rows_checked=...)``."""

    def __init__(self, is_valid: bool | None = None,
                 errors: list[tuple[int, str | None, str]] | None = None,
                 rows_checked: int = 0) -> None:
        self.errors = list(errors or [])
        self.is_valid = not self.errors if is_valid is None else bool(is_valid)
        self.rows_checked = rows_checked

    def __bool__(self) -> bool:
        return self.is_valid

    def summary(self, limit: int = 10) -> str:
        if self.is_valid:
            return f"Validation passed: {self.rows_checked} rows checked"
        failed = f"Validation failed: {len(self.errors)} error(s)"
        lines = [f"{failed} in {self.rows_checked} rows checked"]
        lines += [f"  Row {i}, {f or '-'}: {m}" for i, f, m in self.errors[:limit]]
        if len(self.errors) > limit:
            lines.append(f"  ... and {len(self.errors) - limit} more errors")
        return "\n".join(lines)

    def raise_if_invalid(self) -> None:
        if not self.is_valid:
            raise errors.DataError(self.summary())

    def __repr__(self) -> str:
        return f"ValidationResult(is_valid={self.is_valid}, errors={len(self.errors)})"
