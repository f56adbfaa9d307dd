"""Frozen result records of the pure core. ``to_dict`` is the one place numpy scalars become plain JSON types."""

from __future__ import annotations

import hashlib
import math
from dataclasses import MISSING, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from cloudsage.core.errors import InputValidationError

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")
KINDS: tuple[str, ...] = ("reactive", "proactive")


def severity_rank(severity: str) -> int:
    """0 for ``info`` up to 4 for ``critical``."""
    return SEVERITIES.index(severity)


def iso(ts: float) -> str:
    """Epoch seconds to an ISO-8601 UTC string (``2026-01-01T00:00:00Z``)."""
    return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def jsonable(value: Any) -> Any:
    """Recursively turn numpy scalars/arrays, tuples and non-finite floats into JSON-safe values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return jsonable(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


@dataclass(frozen=True, slots=True)
class Anomaly:
    """One detected anomaly span of one metric.

    ``start``/``end`` are epoch seconds of the first and last anomalous grid point; ``score`` is the peak
    anomaly score in [0, 1]; ``baseline`` and ``observed`` are the expected and the seen value at the peak.
    """

    resource_id: str
    metric: str
    start: float
    end: float
    peak_time: float
    score: float
    severity: str
    direction: str
    observed: float
    baseline: float
    deviation: float
    co_moving: tuple[str, ...] = ()
    cause: str = ""

    def to_dict(self) -> dict[str, Any]:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True, slots=True)
class Insight:
    """A ranked, explained finding about one resource (record v1).

    The ``id`` is derived from resource, model, kind and the start of the time window, so re-running the
    same analysis yields the same id and never a duplicate.
    """

    resource_id: str
    model: str
    kind: str
    severity: str
    confidence: float
    title: str
    summary: str
    recommendation: str
    detected_at: float
    window_start: float
    window_end: float
    evidence: dict[str, Any] = field(default_factory=dict)
    metric: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputValidationError(f"must be one of {KINDS}", field="kind")
        if self.severity not in SEVERITIES:
            raise InputValidationError(f"must be one of {SEVERITIES}", field="severity")
        if not 0.0 <= float(self.confidence) <= 1.0:
            raise InputValidationError("must be in [0, 1]", field="confidence")
        if not self.id:
            object.__setattr__(
                self, "id", insight_id(self.resource_id, self.model, self.kind, self.metric, self.window_start)
            )

    def to_dict(self) -> dict[str, Any]:
        data = jsonable({f.name: getattr(self, f.name) for f in fields(self)})
        data["detected_at_iso"] = iso(self.detected_at)
        data["window_start_iso"] = iso(self.window_start)
        data["window_end_iso"] = iso(self.window_end)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Insight:
        names = {f.name for f in fields(cls)}
        required = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]
        for name in required:
            if name not in data:
                raise InputValidationError("missing", field=name)
        try:
            kwargs = {k: v for k, v in data.items() if k in names}
            for key in ("confidence", "detected_at", "window_start", "window_end"):
                kwargs[key] = float(kwargs[key])
            kwargs["evidence"] = dict(kwargs.get("evidence") or {})
            return cls(**kwargs)
        except KeyError as exc:
            raise InputValidationError("missing", field=str(exc.args[0])) from None
        except TypeError as exc:
            raise InputValidationError(str(exc), field="insight") from None


def insight_id(resource_id: str, model: str, kind: str, metric: str, window_start: float) -> str:
    """Deterministic insight id: the same finding in a re-run gets the same id."""
    key = f"{resource_id}|{model}|{kind}|{metric}|{int(window_start)}"
    return hashlib.sha256(key.encode()).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class ModelOutput:
    """What one model returns for one resource: insights plus plot-ready detail for the report."""

    model: str
    resource_id: str
    insights: tuple[Insight, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "resource_id": self.resource_id,
            "insights": [i.to_dict() for i in self.insights],
            "detail": jsonable(self.detail),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelOutput:
        return cls(
            model=str(data["model"]),
            resource_id=str(data["resource_id"]),
            insights=tuple(Insight.from_dict(i) for i in data.get("insights", [])),
            detail=dict(data.get("detail") or {}),
            error=data.get("error"),
        )
