"""Collect: fetch one batch's metrics with GetMetricData and write one snapshot per resource to S3."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cloudsage.adapters.cloudwatch import CloudWatchSource
from cloudsage.adapters.snapshots import SnapshotStore, snapshot_key
from cloudsage.core.errors import InputValidationError
from cloudsage.handlers._edge import parse
from cloudsage.handlers.contracts import CollectBatchInput, CollectedItem, CollectOutput, ResourceSpecModel
from cloudsage.handlers.observability import logger, metrics
from cloudsage.handlers.settings import CollectSettings, get_settings


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(CollectSettings)
    task = parse(CollectBatchInput, event)
    store = SnapshotStore(settings.BUCKET_NAME)
    raw = store.get_json(task.batch_key)
    if not isinstance(raw, list):
        raise InputValidationError("batch object is not a list of resources", field="batch_key")
    specs = [parse(ResourceSpecModel, r).to_spec() for r in raw]
    resources, skipped = CloudWatchSource().fetch(specs, task.window_start, task.window_end, task.period)
    items = [
        CollectedItem(
            resource_id=r.resource_id,
            snapshot_key=store.put_json(snapshot_key(task.run_id, r.resource_id), r.to_dict()),
        )
        for r in resources
    ]
    metrics.add_metric(name="ResourcesCollected", unit=MetricUnit.Count, value=len(items))
    logger.info("collected", extra={"run_id": task.run_id, "resources": len(items), "skipped": len(skipped)})
    return CollectOutput(run_id=task.run_id, items=items, skipped=skipped).model_dump(mode="json")
