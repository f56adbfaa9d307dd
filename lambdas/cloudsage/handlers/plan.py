"""Plan: resolve what one run analyses (a list, or discovery by tag), fix its window, and split it into batches.

Each batch's resource specs go to S3 (``runs/<run>/batches/<n>.json``); only keys travel through the state
machine, so a 10,000-resource run stays far below the 256 KB payload limit.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cloudsage.adapters.discovery import discover
from cloudsage.adapters.snapshots import SnapshotStore, batch_key
from cloudsage.core.errors import InputValidationError
from cloudsage.handlers._edge import parse
from cloudsage.handlers.contracts import PlanInput, PlannedBatch, PlanOutput, ResourceSpecModel
from cloudsage.handlers.observability import logger, metrics
from cloudsage.handlers.settings import PlanSettings, get_settings


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(PlanSettings)
    task = parse(PlanInput, event)
    run_id = task.resolved_run_id()
    end = task.resolved_end()
    start = end - timedelta(days=task.lookback_days or settings.LOOKBACK_DAYS)
    store = SnapshotStore(settings.BUCKET_NAME)
    if task.discover is not None:
        specs, ignored = discover(task.discover.tags)
        logger.info("discovered", extra={"resources": len(specs), "ignored_types": ignored})
    elif task.resources_key is not None:
        listed = store.get_json(task.resources_key)
        if not isinstance(listed, list) or not listed:
            raise InputValidationError("must name a non-empty JSON list of resources", field="resources_key")
        specs = [parse(ResourceSpecModel, r).to_spec() for r in listed]
    else:
        specs = [r.to_spec() for r in task.resources or []]
    batches = []
    for n, i in enumerate(range(0, len(specs), task.batch_size)):
        chunk = specs[i : i + task.batch_size]
        key = store.put_json(batch_key(run_id, n), [asdict(s) for s in chunk])
        batches.append(PlannedBatch(batch_key=key, resources=len(chunk)))
    metrics.add_metric(name="ResourcesPlanned", unit=MetricUnit.Count, value=len(specs))
    return PlanOutput(
        run_id=run_id,
        window_start=start.timestamp(),
        window_end=end.timestamp(),
        period=task.period,
        batches=batches,
        resources=len(specs),
    ).model_dump(mode="json")
