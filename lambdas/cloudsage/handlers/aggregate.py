"""Aggregate: merge the run's model outputs into ranked (composite) insights, apply the lifecycle, store them.

Parse, call the pure core (:func:`cloudsage.core.insights.aggregate`), let the store apply the lifecycle
(new / ongoing / escalated / reopened for what this run found; missed / resolved for what it did not), and
write the run summary that the publish step and the local report read.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from cloudsage.adapters.insights_store import InsightsTable
from cloudsage.adapters.snapshots import SnapshotStore, summary_key
from cloudsage.core.insights import LifecyclePolicy, aggregate
from cloudsage.core.results import SEVERITIES, ModelOutput
from cloudsage.handlers._edge import parse
from cloudsage.handlers.contracts import AggregateInput, AggregateOutput
from cloudsage.handlers.observability import logger, metrics
from cloudsage.handlers.settings import AggregateSettings, get_settings


class InsightLifecycleSettings(AggregateSettings):
    """Aggregate settings plus the lifecycle knobs (all optional, with defaults)."""

    RESOLVE_AFTER_RUNS: int = Field(default=3, ge=1, le=1000)
    RESOLVED_TTL_DAYS: float = Field(default=30.0, gt=0, le=3650)
    CLOSED_TTL_DAYS: float = Field(default=90.0, gt=0, le=3650)

    def policy(self) -> LifecyclePolicy:
        return LifecyclePolicy(self.RESOLVE_AFTER_RUNS, self.RESOLVED_TTL_DAYS, self.CLOSED_TTL_DAYS)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(InsightLifecycleSettings)
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
    summary = record_run(InsightsTable(settings.TABLE_NAME, policy=settings.policy()), task.run_id, outputs)
    key = store.put_json(
        summary_key(task.run_id, [r.resource_id for batch in task.results for r in batch]),
        {**summary, "failures": failures, "skipped": task.skipped, "model_outputs": result_keys},
    )
    records = summary["insights"]
    metrics.add_metric(name="InsightsStored", unit=MetricUnit.Count, value=len(records))
    metrics.add_metric(name="InsightsResolved", unit=MetricUnit.Count, value=len(summary["resolved"]))
    metrics.add_metric(name="ModelFailures", unit=MetricUnit.Count, value=len(failures))
    for severity in SEVERITIES:  # the dashboard's "insights by severity"
        count = sum(1 for r in records if r.get("severity") == severity)
        metrics.add_metric(name=f"Insights{severity.capitalize()}", unit=MetricUnit.Count, value=count)
    return AggregateOutput(
        run_id=task.run_id,
        summary_key=key,
        insight_count=len(records),
        new_count=sum(r["change"] in ("new", "escalated", "reopened") for r in records),
        failed_models=len(failures),
    ).model_dump(mode="json")


def record_run(
    table: InsightsTable, run_id: str, outputs: list[ModelOutput], *, now: float | None = None
) -> dict[str, Any]:
    """Aggregate ``outputs``, record every insight and sweep what this run no longer sees.

    Returns the summary body: ``{"run_id", "insights": [...ranked, with change and status], "resolved": [...]}``.
    Shared by the Lambda handler and the local API server's seeding, so both store exactly the same records.
    """
    now = time.time() if now is None else now
    ranked = aggregate(outputs)
    records = []
    absorbed: dict[str, str] = {}
    for r in ranked:
        t = table.record(r, run_id, now=now)
        absorbed.update({m: r.insight.id for m in r.members})
        records.append(
            {
                **r.insight.to_dict(),
                "rank": r.rank,
                "priority": r.priority,
                "impact": r.impact,
                "members": list(r.members),
                "change": t.change,
                "status": t.state.status,
            }
        )
    analysed: dict[str, set[str]] = {}
    for out in outputs:
        if out.error is None:
            analysed.setdefault(out.resource_id, set()).add(out.model)
    resolved = table.sweep(run_id, analysed, [r.insight.id for r in ranked], absorbed=absorbed, now=now)
    return {"run_id": run_id, "insights": records, "resolved": resolved}
