"""Aggregate: merge the run's model outputs into ranked insights, store them, write the run summary."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cloudsage.adapters.insights_store import InsightsTable
from cloudsage.adapters.snapshots import SnapshotStore, summary_key
from cloudsage.core.insights import aggregate
from cloudsage.core.results import ModelOutput
from cloudsage.handlers._edge import parse
from cloudsage.handlers.contracts import AggregateInput, AggregateOutput
from cloudsage.handlers.observability import logger, metrics
from cloudsage.handlers.settings import AggregateSettings, get_settings


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(AggregateSettings)
    task = parse(AggregateInput, event)
    store = SnapshotStore(settings.BUCKET_NAME)
    outputs: list[ModelOutput] = []
    failures: list[dict[str, Any]] = []
    result_keys: dict[str, dict[str, str]] = {}
    for per_resource in task.results:
        for result in per_resource:
            if result.error or not result.result_key:
                failures.append(
                    {
                        "model": result.model,
                        "resource_id": result.resource_id,
                        "error": result.error,
                        "cause": (result.cause or "")[:500],
                    }
                )
                continue
            outputs.append(ModelOutput.from_dict(store.get_json(result.result_key)))
            result_keys.setdefault(result.resource_id, {})[result.model] = result.result_key
    ranked = aggregate(outputs)
    table = InsightsTable(settings.TABLE_NAME)
    records = []
    new_count = 0
    for r in ranked:
        change = table.upsert(r.insight, task.run_id, priority=r.priority)
        new_count += change in ("new", "escalated")
        records.append({**r.insight.to_dict(), "rank": r.rank, "priority": r.priority, "change": change})
    key = store.put_json(
        summary_key(task.run_id),
        {
            "run_id": task.run_id,
            "insights": records,
            "failures": failures,
            "skipped": task.skipped,
            "model_outputs": result_keys,
        },
    )
    metrics.add_metric(name="InsightsStored", unit=MetricUnit.Count, value=len(records))
    metrics.add_metric(name="ModelFailures", unit=MetricUnit.Count, value=len(failures))
    return AggregateOutput(
        run_id=task.run_id,
        summary_key=key,
        insight_count=len(records),
        new_count=new_count,
        failed_models=len(failures),
    ).model_dump(mode="json")
