"""Collect: fetch each resource's metrics with GetMetricData and write one snapshot per resource to S3."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cloudsage.adapters.cloudwatch import CloudWatchSource
from cloudsage.adapters.discovery import discover
from cloudsage.adapters.snapshots import SnapshotStore, snapshot_key
from cloudsage.handlers._edge import parse
from cloudsage.handlers.contracts import CollectedItem, CollectInput, CollectOutput
from cloudsage.handlers.observability import logger, metrics
from cloudsage.handlers.settings import CollectSettings, get_settings


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(CollectSettings)
    task = parse(CollectInput, event)
    run_id = task.resolved_run_id()
    end = task.resolved_end()
    start = end - timedelta(days=task.lookback_days or settings.LOOKBACK_DAYS)
    if task.discover is not None:
        specs, ignored = discover(task.discover.tags)
        logger.info("discovered", extra={"resources": len(specs), "ignored_types": ignored})
    else:
        specs = [r.to_spec() for r in task.resources or []]
    resources, skipped = CloudWatchSource().fetch(specs, start.timestamp(), end.timestamp(), task.period)
    store = SnapshotStore(settings.BUCKET_NAME)
    items = [
        CollectedItem(
            resource_id=r.resource_id, snapshot_key=store.put_json(snapshot_key(run_id, r.resource_id), r.to_dict())
        )
        for r in resources
    ]
    metrics.add_metric(name="ResourcesCollected", unit=MetricUnit.Count, value=len(items))
    logger.info("collected", extra={"run_id": run_id, "resources": len(items), "skipped": len(skipped)})
    return CollectOutput(
        run_id=run_id, items=items, skipped=skipped, window_start=start.isoformat(), window_end=end.isoformat()
    ).model_dump(mode="json")
