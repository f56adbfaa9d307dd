"""Task inputs and outputs of the workflow's functions (the edge: bad input fails here, naming the field)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloudsage.core.registry import RUNTIME_ONLY_PARAMS
from cloudsage.core.resource import RESOURCE_TYPES, ResourceSpec

_RUN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,80}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResourceSpecModel(_Strict):
    resource_id: str = Field(min_length=1, max_length=256)
    resource_type: str = "other"
    namespace: str = Field(min_length=1)
    dimensions: dict[str, str] = Field(min_length=1, max_length=30)
    metrics: list[str] = Field(min_length=1, max_length=50)
    attributes: dict[str, Any] = Field(default_factory=dict)
    metric_namespaces: dict[str, str] = Field(default_factory=dict)
    metric_dimensions: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("resource_type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        if v not in RESOURCE_TYPES:
            raise ValueError(f"must be one of {RESOURCE_TYPES}")
        return v

    def to_spec(self) -> ResourceSpec:
        return ResourceSpec(
            self.resource_id,
            self.resource_type,
            self.namespace,
            dict(self.dimensions),
            tuple(self.metrics),
            dict(self.attributes),
            dict(self.metric_namespaces),
            {k: dict(v) for k, v in self.metric_dimensions.items()},
        )


class DiscoverSpec(_Strict):
    """Find resources by tag (``{"team": ["payments"], "cloudsage": []}``; an empty list means any value)."""

    tags: dict[str, list[str]] = Field(min_length=1, max_length=50)


class PlanInput(BaseModel):
    """Input of the workflow: a list of resources, tags to discover them, or the S3 key of a list of resources
    in the snapshot bucket (for lists too large for the 256 KB execution input); the window; the batch size
    (resources per child execution of the Distributed Map)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    run_id: str | None = None
    resources: list[ResourceSpecModel] | None = Field(default=None, min_length=1, max_length=10_000)
    discover: DiscoverSpec | None = None
    resources_key: str | None = Field(default=None, min_length=1, max_length=1024)
    end_time: datetime | None = None
    lookback_days: int | None = Field(default=None, ge=1, le=455)
    period: int = Field(default=300, ge=60, le=86_400)
    batch_size: int = Field(default=50, ge=1, le=500)

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, v: str | None) -> str | None:
        if v is not None and not _RUN_ID.match(v):
            raise ValueError("1-80 characters of letters, digits and . _ : -")
        return v

    @field_validator("period")
    @classmethod
    def _period(cls, v: int) -> int:
        if v % 60:
            raise ValueError("must be a multiple of 60 seconds")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> PlanInput:
        given = [n for n in ("resources", "discover", "resources_key") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'resources', 'discover' or 'resources_key'")
        return self

    def resolved_end(self) -> datetime:
        end = self.end_time or datetime.now(tz=UTC)
        end = end if end.tzinfo else end.replace(tzinfo=UTC)
        return end.replace(second=0, microsecond=0)

    def resolved_run_id(self) -> str:
        return self.run_id or "run-" + self.resolved_end().strftime("%Y%m%dT%H%MZ")


class PlannedBatch(_Strict):
    batch_key: str
    resources: int


class PlanOutput(_Strict):
    run_id: str
    window_start: float
    window_end: float
    period: int
    batches: list[PlannedBatch]
    resources: int


class CollectBatchInput(_Strict):
    """One batch of a run: the resource specs are read from S3, so only a key travels."""

    run_id: str = Field(min_length=1)
    batch_key: str = Field(min_length=1)
    window_start: float
    window_end: float
    period: int = Field(default=300, ge=60, le=86_400)

    @model_validator(mode="after")
    def _window(self) -> CollectBatchInput:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


class CollectedItem(_Strict):
    resource_id: str
    snapshot_key: str


class CollectOutput(_Strict):
    run_id: str
    items: list[CollectedItem]
    skipped: dict[str, str]


class ModelTaskInput(_Strict):
    run_id: str = Field(min_length=1)
    resource_id: str = Field(min_length=1)
    snapshot_key: str = Field(min_length=1)
    model: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _no_runtime_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        return no_runtime_params(v)


def no_runtime_params(params: dict[str, Any]) -> dict[str, Any]:
    """Reject parameters only the platform may set (see ``RUNTIME_ONLY_PARAMS``)."""
    reserved = sorted(RUNTIME_ONLY_PARAMS & set(params))
    if reserved:
        raise ValueError(f"{reserved} cannot be set in a request (the platform sets them)")
    return params


class ModelTaskOutput(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str
    resource_id: str
    result_key: str | None = None
    insight_count: int = 0
    error: str | None = None
    cause: str | None = None


class AggregateInput(_Strict):
    run_id: str = Field(min_length=1)
    results: list[list[ModelTaskOutput]]
    skipped: dict[str, str] = Field(default_factory=dict)


class AggregateOutput(_Strict):
    run_id: str
    summary_key: str
    insight_count: int
    new_count: int
    failed_models: int


class PublishInput(_Strict):
    run_id: str = Field(min_length=1)
    summary_key: str = Field(min_length=1)


class PublishOutput(_Strict):
    published: int
    digest: bool
    skipped_already_alerted: int
