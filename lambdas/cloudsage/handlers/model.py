"""Model task: run one registered model (``MODEL_NAME``) on one resource's snapshot; write its output to S3.

Domain errors (e.g. ``InsufficientDataError``) propagate: Lambda reports the class name as ``errorType`` and
the workflow's Catch turns it into a partial result for that model.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cloudsage.adapters.snapshots import SnapshotStore, model_output_key
from cloudsage.core import native
from cloudsage.core.errors import InputValidationError
from cloudsage.core.registry import get_spec
from cloudsage.core.resource import ResourceMetrics
from cloudsage.handlers._edge import parse
from cloudsage.handlers.contracts import ModelTaskInput, ModelTaskOutput
from cloudsage.handlers.observability import logger, metrics
from cloudsage.handlers.settings import ModelSettings, get_settings


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(ModelSettings)
    task = parse(ModelTaskInput, event)
    if task.model != settings.MODEL_NAME:
        raise InputValidationError(f"this function runs {settings.MODEL_NAME!r}, not {task.model!r}", field="model")
    spec = get_spec(settings.MODEL_NAME)
    # which compiled kernels this container runs (None: the same Python code, slower; see cloudsage.core.native)
    logger.append_keys(native_kernels=str(native.library_path() or "none"))
    store = SnapshotStore(settings.BUCKET_NAME)
    resource = ResourceMetrics.from_dict(store.get_json(task.snapshot_key))
    if resource.resource_id != task.resource_id:
        raise InputValidationError("snapshot belongs to another resource", field="snapshot_key")
    params = {**spec.defaults, **task.params}
    if spec.uses_prices and settings.PRICE_SOURCE == "live":  # (task input may not set price_path itself)
        from cloudsage.adapters.pricing import shared_live_prices  # botocore only where prices are used

        # None: the API could not be used; the model then prices from the packaged snapshot and says so
        params["price_path"] = shared_live_prices(settings.AWS_REGION, store)
    output = spec.load_analyze()(resource, **params)
    key = store.put_json(model_output_key(task.run_id, spec.name, resource.resource_id), output.to_dict())
    metrics.add_metric(name="InsightsFound", unit=MetricUnit.Count, value=len(output.insights))
    return ModelTaskOutput(
        model=spec.name, resource_id=resource.resource_id, result_key=key, insight_count=len(output.insights)
    ).model_dump(mode="json")
