"""Typed errors of the pure core. Every name ends in ``Error``; Lambda reports it as ``errorType``."""

from __future__ import annotations


class CloudSageError(Exception):
    """Base class of every error CloudSage raises on purpose."""


class InvalidSeriesError(CloudSageError, ValueError):
    """A metric series cannot be used as given (wrong shape, unusable timestamps, bad period)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class InsufficientDataError(CloudSageError, ValueError):
    """Too little usable history for what was asked; names the minimum needed."""

    def __init__(self, what: str, *, needed: int, got: int, unit: str = "points") -> None:
        self.what = what
        self.needed = needed
        self.got = got
        super().__init__(f"{what}: needs at least {needed} {unit} of usable data, got {got}")


class InputValidationError(CloudSageError, ValueError):
    """Input at an edge (CSV row, task payload, API body) is malformed; names where."""

    def __init__(self, message: str, *, field: str | None = None, line: int | None = None) -> None:
        self.field = field
        self.line = line
        where = []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"column {field!r}" if line is not None else f"field {field!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class UnknownModelError(CloudSageError, KeyError):
    """No model with that name is registered."""
