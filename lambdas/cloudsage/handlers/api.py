"""The Insights HTTP API (API Gateway REST proxy -> Powertools resolver with request/response validation).

Routes: ``GET /health``, ``GET /insights`` (filters, cursor pagination), ``GET /insights/{insight_id}``,
``PATCH /insights/{insight_id}`` (acknowledge or resolve, with a note), ``POST /analyze`` (run all or chosen
models on posted metrics for one resource) and ``POST /models/{name}/predict`` (one model, with plot detail).

Errors are mapped once, here: a body naming the field, with 400 (malformed), 404 (unknown insight or model),
413 (body or series over the limits), 422 (well-formed but invalid, or too little data). Bad input never
yields a 500. The OpenAPI 3.1 document is generated from these routes (``python -m cloudsage.handlers.api``
writes it; ``docs/openapi.json`` is the committed copy and a test fails when it is stale).
"""

from __future__ import annotations

import base64
import json
import math
import os
import sys
import threading
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloudsage.adapters.insights_store import InsightFilter, InsightsTable, normalize_since
from cloudsage.core.errors import (
    CloudSageError,
    InputValidationError,
    InsufficientDataError,
    InvalidSeriesError,
    UnknownModelError,
)
from cloudsage.core.insights import LifecyclePolicy, aggregate
from cloudsage.core.registry import get_spec, model_names
from cloudsage.core.resource import RESOURCE_TYPES, ResourceMetrics
from cloudsage.core.results import ModelOutput, jsonable
from cloudsage.handlers.contracts import no_runtime_params
from cloudsage.handlers.observability import logger

API_TITLE = "CloudSage Insights API"
API_VERSION = "1.0.0"
MAX_BODY_BYTES = 2_000_000
MAX_SERIES_POINTS = 20_160  # 70 days at 5 minutes, 14 days at 1 minute
MAX_METRICS = 50
MAX_TIMESTAMP = 4_102_444_800.0  # 2100-01-01

_NAME = r"^[A-Za-z0-9_.:/#@+=-]{1,256}$"
_METRIC = r"^[A-Za-z0-9_.:/#@ +=-]{1,255}$"
Severity = Literal["info", "low", "medium", "high", "critical"]
Status = Literal["open", "ongoing", "resolved", "closed"]


class ApiSettings(BaseModel):
    """Environment of the API function (fields = env vars)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TABLE_NAME: str = Field(min_length=3)
    MAX_BODY_BYTES: int = Field(default=MAX_BODY_BYTES, ge=1024, le=10_000_000)
    MAX_SERIES_POINTS: int = Field(default=MAX_SERIES_POINTS, ge=100, le=1_000_000)
    CLOSED_TTL_DAYS: float = Field(default=90.0, gt=0, le=3650)


# ---------------------------------------------------------------------------------------------- errors
class PayloadTooLargeError(InputValidationError):
    """The request body or one series is over the limit (HTTP 413)."""


class NotFoundError(CloudSageError):
    """No such insight or model (HTTP 404); names the path parameter."""

    def __init__(self, message: str, *, field: str) -> None:
        self.field = field
        super().__init__(message)


# ---------------------------------------------------------------------------------------------- models
class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    field: str | None = Field(description="Where the problem is: a body path like series.CPUUtilization.values")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx body: what went wrong and which field."""

    error: Literal[
        "bad_request", "not_found", "payload_too_large", "validation_error", "insufficient_data", "internal_error"
    ]
    message: str
    field: str | None = None
    details: list[ErrorDetail] = Field(default_factory=list)


class Note(BaseModel):
    at: str
    action: str
    note: str
    by: str = "api"


class InsightOut(BaseModel):
    """One stored insight: the finding, its ranking and its lifecycle."""

    model_config = ConfigDict(extra="ignore")

    id: str
    resource_id: str
    model: str
    models: list[str] = Field(default_factory=list)
    kind: Literal["reactive", "proactive"]
    severity: Severity
    confidence: float
    title: str
    summary: str
    recommendation: str
    metric: str = ""
    detected_at: float
    detected_at_iso: str
    window_start: float
    window_end: float
    window_start_iso: str
    window_end_iso: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    status: Status | None = None
    priority: float | None = None
    impact: float | None = None
    rank: int | None = None
    members: list[str] = Field(default_factory=list)
    seen_count: int | None = None
    first_seen_at: float | None = None
    last_seen_at: float | None = None
    first_seen_run: str | None = None
    run_id: str | None = None
    acknowledged: bool = False
    notes: list[Note] = Field(default_factory=list)
    resolved_at: float | None = None
    expires_at: float | None = None
    superseded_by: str | None = None
    pending_alert: bool = False


class InsightPage(BaseModel):
    items: list[InsightOut]
    count: int
    next_cursor: str | None = Field(description="Pass as ?cursor= to get the next page; null on the last page")


class InsightUpdate(_In):
    """``acknowledge`` keeps the insight open and flags it; ``resolve`` closes it (a later sighting at the same
    severity stays closed)."""

    action: Literal["acknowledge", "resolve"]
    note: str = Field(default="", max_length=2000)


class SeriesIn(_In):
    """One metric's points: ``values`` with either ``timestamps`` (epoch seconds) or a ``start``; null = missing."""

    values: list[Annotated[float, Field(allow_inf_nan=False)] | None] = Field(min_length=1)
    timestamps: list[Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)]] | None = None
    start: Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)] | None = None


class AnalyzeRequest(_In):
    resource_id: str = Field(pattern=_NAME, examples=["web-api-asg"])
    resource_type: Literal["asg", "ec2", "rds", "cache", "lambda", "other"] = "other"
    period: int = Field(default=300, ge=60, le=86_400, multiple_of=60)
    series: dict[Annotated[str, Field(pattern=_METRIC)], SeriesIn] = Field(min_length=1, max_length=MAX_METRICS)
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=30)
    models: list[str] | None = Field(default=None, min_length=1, max_length=20, description="Default: every model")


class PredictRequest(_In):
    resource_id: str = Field(pattern=_NAME)
    resource_type: Literal["asg", "ec2", "rds", "cache", "lambda", "other"] = "other"
    period: int = Field(default=300, ge=60, le=86_400, multiple_of=60)
    series: dict[Annotated[str, Field(pattern=_METRIC)], SeriesIn] = Field(min_length=1, max_length=MAX_METRICS)
    attributes: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=30)
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=30)

    @field_validator("params")
    @classmethod
    def _no_runtime_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        return no_runtime_params(v)


class FindingOut(BaseModel):
    id: str
    resource_id: str
    model: str
    kind: str
    severity: Severity
    confidence: float
    title: str
    summary: str
    recommendation: str
    metric: str = ""
    detected_at: float
    window_start: float
    window_end: float
    detected_at_iso: str
    window_start_iso: str
    window_end_iso: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    rank: int | None = None
    priority: float | None = None
    members: list[str] = Field(default_factory=list)


class ModelError(BaseModel):
    model: str
    error: str
    message: str


class AnalyzeResponse(BaseModel):
    resource_id: str
    models_run: list[str]
    insights: list[FindingOut]
    errors: list[ModelError]


class PredictResponse(BaseModel):
    model: str
    resource_id: str
    insights: list[FindingOut]
    detail: dict[str, Any]


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    models: list[str]
    table: Literal["reachable", "unreachable"]


def _error_content(description: str) -> Any:
    return {"description": description, "content": {"application/json": {"model": ErrorBody}}}


def _ok(model: type[BaseModel], description: str) -> Any:
    return {200: {"description": description, "content": {"application/json": {"model": model}}}}


E400: Any = {400: _error_content("Malformed request (names the field)")}
E404: Any = {404: _error_content("No such insight or model")}
E413: Any = {413: _error_content("Body or series over the limits")}
E422: Any = {422: _error_content("Invalid values (names the field), or too little data to analyse")}

# ---------------------------------------------------------------------------------------------- app
app = APIGatewayRestResolver(enable_validation=True)
_TABLES: dict[tuple[str, str], InsightsTable] = {}
_TABLES_LOCK = threading.Lock()


def _settings() -> ApiSettings:
    return ApiSettings.model_validate({k: os.environ[k] for k in ApiSettings.model_fields if k in os.environ})


def _table() -> InsightsTable:
    """One table object per table name and endpoint (boto3 resources are costly to build per request)."""
    s = _settings()
    key = (s.TABLE_NAME, os.environ.get("AWS_ENDPOINT_URL", ""))
    with _TABLES_LOCK:
        if key not in _TABLES:
            _TABLES[key] = InsightsTable(s.TABLE_NAME, policy=LifecyclePolicy(closed_ttl_days=s.CLOSED_TTL_DAYS))
        return _TABLES[key]


def _json(status: int, body: BaseModel | dict[str, Any]) -> Response:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(data))


def error_response(status: int, error: str, message: str, field: str | None = None, details: Any = None) -> Response:
    return _json(status, ErrorBody(error=error, message=message, field=field, details=details or []))  # type: ignore[arg-type]


@app.exception_handler(RequestValidationError)
def _on_validation(exc: RequestValidationError) -> Response:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        where = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc) or "body"
        details.append({"field": where, "message": str(err.get("msg", "invalid"))})
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return error_response(400, "bad_request", "request body is not valid JSON", "body")
    return error_response(422, "validation_error", f"{first['field']}: {first['message']}", first["field"], details)


@app.exception_handler(PayloadTooLargeError)
def _on_too_large(exc: PayloadTooLargeError) -> Response:
    return error_response(413, "payload_too_large", str(exc), exc.field)


@app.exception_handler(NotFoundError)
def _on_not_found(exc: NotFoundError) -> Response:
    return error_response(404, "not_found", str(exc), exc.field)


@app.exception_handler(InsufficientDataError)
def _on_insufficient(exc: InsufficientDataError) -> Response:
    return error_response(422, "insufficient_data", str(exc), "series")


@app.exception_handler(InvalidSeriesError)
def _on_invalid_series(exc: InvalidSeriesError) -> Response:
    return error_response(422, "validation_error", str(exc), f"series.{exc.field}" if exc.field else "series")


@app.exception_handler(InputValidationError)
def _on_bad_input(exc: InputValidationError) -> Response:
    return error_response(400, "bad_request", str(exc), exc.field)


@app.not_found
def _no_route(exc: Exception) -> Response:
    event = app.current_event
    return error_response(404, "not_found", f"no route for {event.http_method} {event.path}", "path")


@app.exception_handler(Exception)
def _on_unexpected(exc: Exception) -> Response:
    logger.exception("unhandled error")
    return error_response(500, "internal_error", f"internal error ({type(exc).__name__}); see the logs")


@app.get(
    "/health",
    summary="Liveness and dependencies",
    responses={
        200: {"description": "Healthy", "content": {"application/json": {"model": Health}}},
        503: {"description": "The table is unreachable", "content": {"application/json": {"model": Health}}},
    },
    tags=["service"],
)
def health():  # type: ignore[no-untyped-def]  # no return annotation: Response bodies are documented above
    try:
        _table().get("health-probe")
        reachable = True
    except Exception:  # noqa: BLE001 - any failure means degraded, reported not raised
        reachable = False
    body = Health(status="ok" if reachable else "degraded", models=model_names(), table=_reach(reachable))
    return _json(200 if reachable else 503, body)


def _reach(ok: bool) -> Literal["reachable", "unreachable"]:
    return "reachable" if ok else "unreachable"


@app.get(
    "/insights",
    summary="List insights",
    responses={**_ok(InsightPage, "One page of insights"), **E400, **E422},
    tags=["insights"],
)
def list_insights(
    resource: Annotated[str | None, Query(min_length=1, max_length=256, description="Resource id")] = None,
    model: Annotated[str | None, Query(min_length=1, max_length=64, description="Model (composites match too)")] = None,
    severity: Annotated[Severity | None, Query(description="Exact severity")] = None,
    status: Annotated[Status | None, Query(description="Lifecycle status")] = None,
    since: Annotated[datetime | None, Query(description="Detected at or after (ISO-8601)")] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Page size")] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=2048, description="From next_cursor")] = None,
):  # type: ignore[no-untyped-def]  # returns a Response holding an InsightPage (documented in responses=)
    """Newest first; with ``status``, most severe first. ``resource`` and ``status`` use an index each."""
    flt = InsightFilter(
        resource=resource,
        model=model,
        severity=severity,
        status=status,
        since=normalize_since(since) if since is not None else None,
    )
    page = _table().find(flt, limit=limit, cursor=cursor)
    # Validated and serialised by pydantic-core in one pass (the resolver's generic encoder costs ~1 ms per
    # insight); the body is still exactly an InsightPage.
    body = InsightPage.model_validate({"items": page.items, "count": len(page.items), "next_cursor": page.cursor})
    return Response(200, content_types.APPLICATION_JSON, body.model_dump_json())


@app.get(
    "/insights/<insight_id>",
    summary="One insight",
    responses={**_ok(InsightOut, "The insight"), **E404, **E422},
    tags=["insights"],
)
def get_insight(insight_id: Annotated[str, Path(min_length=1, max_length=64)]) -> InsightOut:
    return _insight_or_404(_table().get(insight_id), insight_id)


def _insight_or_404(item: dict[str, Any] | None, insight_id: str) -> InsightOut:
    if item is None:
        raise NotFoundError(f"no insight {insight_id!r}", field="insight_id")
    return InsightOut.model_validate(item)


@app.patch(
    "/insights/<insight_id>",
    summary="Acknowledge or resolve an insight, with a note",
    responses={**_ok(InsightOut, "The updated insight"), **E400, **E404, **E413, **E422},
    tags=["insights"],
)
def update_insight(
    insight_id: Annotated[str, Path(min_length=1, max_length=64)],
    update: Annotated[InsightUpdate, Body()],
) -> InsightOut:
    return _insight_or_404(_table().apply_user_action(insight_id, update.action, update.note), insight_id)


@app.post(
    "/analyze",
    summary="Run all or chosen models on posted metrics for one resource",
    responses={**_ok(AnalyzeResponse, "Ranked insights (nothing stored)"), **E400, **E404, **E413, **E422},
    tags=["analysis"],
)
def analyze(request: Annotated[AnalyzeRequest, Body()]) -> AnalyzeResponse:
    """Nothing is stored: the ranked (composite) insights are returned. A model that cannot analyse the data
    (e.g. too little history) is listed in ``errors``; when none could, the answer is 422."""
    names = request.models or model_names()
    for n, name in enumerate(names):
        _spec_or_404(name, field=f"models.{n}")
    resource = _resource(request.resource_id, request.resource_type, request.period, request.series, request.attributes)
    outputs, errors, failures = [], [], []
    for name in dict.fromkeys(names):
        spec = get_spec(name)
        try:
            outputs.append(spec.load_analyze()(resource, **spec.defaults))
        except CloudSageError as exc:
            failures.append(exc)
            errors.append(ModelError(model=name, error=type(exc).__name__, message=str(exc)))
    if not outputs and failures:
        raise failures[0]  # no model could use the data: its own error says why (mapped to 4xx above)
    ranked = aggregate(outputs)
    return AnalyzeResponse(
        resource_id=request.resource_id,
        models_run=[o.model for o in outputs],
        insights=[_finding(r.insight.to_dict(), r.rank, r.priority, list(r.members)) for r in ranked],
        errors=errors,
    )


@app.post(
    "/models/<name>/predict",
    summary="Run one model on posted metrics (with plot-ready detail)",
    responses={**_ok(PredictResponse, "The model's insights and plot data"), **E400, **E404, **E413, **E422},
    tags=["analysis"],
)
def predict(
    name: Annotated[str, Path(min_length=1, max_length=64)], request: Annotated[PredictRequest, Body()]
) -> PredictResponse:
    spec = _spec_or_404(name, field="name")
    resource = _resource(request.resource_id, request.resource_type, request.period, request.series, request.attributes)
    params = {**spec.defaults, **request.params}
    try:
        output: ModelOutput = spec.load_analyze()(resource, **params)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, CloudSageError) or not request.params:
            raise
        raise InputValidationError(f"not accepted by {name}: {exc}", field="params") from None
    return PredictResponse(
        model=spec.name,
        resource_id=resource.resource_id,
        insights=[_finding(i.to_dict()) for i in output.insights],
        detail=_finite(jsonable(output.detail)),
    )


def _spec_or_404(name: str, *, field: str) -> Any:
    try:
        return get_spec(name)
    except UnknownModelError:
        raise NotFoundError(f"unknown model {name!r}; registered: {model_names()}", field=field) from None


def _finding(data: dict[str, Any], rank: int | None = None, prio: float | None = None, members: Any = ()) -> FindingOut:
    return FindingOut.model_validate(
        {**data, "evidence": _finite(data.get("evidence") or {}), "rank": rank, "priority": prio, "members": members}
    )


def _finite(value: Any) -> Any:
    """JSON-safe: non-finite floats become null (``jsonable`` already does; this guards model detail too)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _resource(
    resource_id: str, resource_type: str, period: int, series: dict[str, SeriesIn], attributes: dict[str, Any]
) -> ResourceMetrics:
    """Posted series -> ResourceMetrics, enforcing the series-length limit (413) before building any grid."""
    from cloudsage.core.series import MetricSeries

    limit = _settings().MAX_SERIES_POINTS
    built = {}
    for metric, s in series.items():
        where = f"series.{metric}"
        if len(s.values) > limit:
            raise PayloadTooLargeError(f"{len(s.values)} points; the limit is {limit}", field=f"{where}.values")
        if s.timestamps is not None:
            if len(s.timestamps) != len(s.values):
                raise InputValidationError(
                    f"{len(s.timestamps)} timestamps for {len(s.values)} values", field=f"{where}.timestamps"
                )
            timestamps = s.timestamps
        elif s.start is not None:
            timestamps = [s.start + period * i for i in range(len(s.values))]
        else:
            raise InputValidationError("give timestamps or start", field=f"{where}.timestamps")
        if (max(timestamps) - min(timestamps)) / period + 1 > limit:
            raise PayloadTooLargeError(
                f"the timestamps span more than {limit} periods of {period} s", field=f"{where}.timestamps"
            )
        values = [math.nan if v is None else v for v in s.values]
        try:
            built[metric] = MetricSeries.from_points(resource_id, metric, timestamps, values, period=period)
        except InsufficientDataError:
            continue  # an all-missing metric is skipped, as the models skip unusable metrics
        except InvalidSeriesError as exc:
            raise InputValidationError(str(exc), field=f"{where}.{exc.field or 'values'}") from None
    if not built:
        raise InsufficientDataError(f"{resource_id}: every posted series", needed=1, got=0)
    if resource_type not in RESOURCE_TYPES:  # guarded by the request model too
        raise InputValidationError(f"must be one of {RESOURCE_TYPES}", field="resource_type")
    return ResourceMetrics(resource_id, resource_type, built, dict(attributes))


# ---------------------------------------------------------------------------------------------- entry points
def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return len(base64.b64decode(body, validate=False))
        except ValueError:
            return len(body)
    return len(body.encode("utf-8", "surrogatepass")) if isinstance(body, str) else len(body)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    limit = _settings().MAX_BODY_BYTES
    size = _body_size(event)
    if size > limit:
        resp = error_response(413, "payload_too_large", f"request body is {size} bytes; the limit is {limit}", "body")
        return {
            "statusCode": 413,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": resp.body,
            "isBase64Encoded": False,
        }
    return app.resolve(event, context)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of this API (what ``docs/openapi.json`` holds)."""
    doc = json.loads(
        app.get_openapi_json_schema(
            title=API_TITLE,
            version=API_VERSION,
            summary="Ranked, explained insights about your AWS resources",
            description=(__doc__ or "").strip(),
        )
    )
    return dict(doc)


def write_openapi(path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":  # python -m cloudsage.handlers.api docs/openapi.json
    write_openapi(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi.json")
