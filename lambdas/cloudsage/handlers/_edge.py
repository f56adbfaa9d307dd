"""Parsing at the edge: pydantic errors become one typed error naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cloudsage.core.errors import InputValidationError

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], event: Any) -> M:
    """Validate ``event`` as ``model`` or raise :class:`InputValidationError` naming the first bad field."""
    if not isinstance(event, dict):
        raise InputValidationError(f"expected a JSON object, got {type(event).__name__}", field="event")
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise InputValidationError(first["msg"], field=where) from None
