"""Publish: alert over SNS on new, escalated or reopened insights at or above ``MIN_ALERT_SEVERITY``.

What is due comes from the table's sparse ``by_pending`` index, not from this run's summary, so an alert that
failed (or was held by a cooldown) in an earlier run is still sent later: the pending flag is cleared only
after SNS returned a message id. Rules, in order:

* below the floor, no longer active, or already alerted at that severity: the flag is dropped, nothing is sent;
* per-resource cooldown (``ALERT_COOLDOWN_MINUTES``): a resource alerted recently is held back, unless the new
  alert is more severe than the one that started the cooldown;
* more than ``DIGEST_THRESHOLD`` due at once: one digest instead of a burst;
* each alert is claimed with a conditional write before it is sent, so the publish steps of batches running in
  parallel never send the same alert twice.

Every send is attempted; if any failed, the handler raises :class:`AlertPublishError` at the end so the
workflow's retry runs it again (what was sent is not sent twice).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from cloudsage.adapters.alerts import AlertPublisher
from cloudsage.adapters.insights_store import InsightsTable
from cloudsage.adapters.snapshots import SnapshotStore
from cloudsage.core.alerts import AlertPlan, plan_alerts
from cloudsage.core.results import severity_rank
from cloudsage.handlers._edge import parse
from cloudsage.handlers.contracts import PublishInput, PublishOutput
from cloudsage.handlers.observability import logger, metrics
from cloudsage.handlers.settings import PublishSettings, get_settings

DIGEST_THRESHOLD = 5


class AlertPublishError(RuntimeError):
    """SNS rejected at least one alert; they stay pending and are retried."""


class AlertSettings(PublishSettings):
    """Publish settings plus the alert-policy knobs (all optional, with defaults)."""

    ALERT_COOLDOWN_MINUTES: float = Field(default=60.0, ge=0, le=7 * 24 * 60)
    DIGEST_THRESHOLD: int = Field(default=DIGEST_THRESHOLD, ge=1, le=1000)
    INSIGHTS_URL: str = Field(default="", max_length=500)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(AlertSettings)
    task = parse(PublishInput, event)
    summary = SnapshotStore(settings.BUCKET_NAME).get_json(task.summary_key)
    table = InsightsTable(settings.TABLE_NAME)
    report = publish_pending(table, AlertPublisher(settings.TOPIC_ARN, insights_url=settings.INSIGHTS_URL), settings)
    floor = severity_rank(settings.MIN_ALERT_SEVERITY)
    candidates = {i["id"] for i in summary.get("insights", []) if severity_rank(i["severity"]) >= floor}
    metrics.add_metric(name="AlertsPublished", unit=MetricUnit.Count, value=len(report["sent"]))
    metrics.add_metric(name="AlertsHeld", unit=MetricUnit.Count, value=len(report["held"]))
    logger.info("alerts", extra={k: len(v) for k, v in report.items() if isinstance(v, list)})
    if report["failed"]:
        raise AlertPublishError(f"{len(report['failed'])} alert(s) not accepted by SNS: {report['errors'][:3]}")
    return PublishOutput(
        published=len(report["sent"]),
        digest=bool(report["digest"]),
        skipped_already_alerted=len(candidates - set(report["sent"])),
    ).model_dump(mode="json")


def publish_pending(
    table: InsightsTable, publisher: AlertPublisher, settings: AlertSettings, *, now: float | None = None
) -> dict[str, Any]:
    """Send every pending alert that is due; returns ids ``sent``, ``held``, ``dropped``, ``failed``."""
    now = time.time() if now is None else now
    pending = table.pending_alerts()
    cooldowns = {r: table.cooldown(r) for r in sorted({str(i["resource_id"]) for i in pending})}
    plan = plan_alerts(
        pending,
        cooldowns,
        now=now,
        min_severity=settings.MIN_ALERT_SEVERITY,
        cooldown_s=settings.ALERT_COOLDOWN_MINUTES * 60.0,
        digest_threshold=settings.DIGEST_THRESHOLD,
    )
    for item in plan.drop:
        table.clear_pending(str(item["id"]), int(item.get("pending_rank", -1)))
    token = uuid.uuid4().hex
    claimed = [i for i in plan.send if table.claim_alert(str(i["id"]), token, now=now)]
    skipped = [str(i["id"]) for i in plan.send if i not in claimed]  # another publisher is sending these
    plan = AlertPlan(tuple(claimed), plan.hold, plan.drop, digest=len(claimed) > settings.DIGEST_THRESHOLD)
    sent: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    if plan.digest:
        try:
            message_id = publisher.publish_digest(list(plan.send))
        except Exception as exc:  # noqa: BLE001 - any SNS failure leaves every alert pending for the retry
            failed = [str(i["id"]) for i in plan.send]
            errors.append(f"{type(exc).__name__}: {exc}")
            for item in plan.send:
                table.release_claim(str(item["id"]), token)
        else:
            for item in plan.send:
                table.mark_alerted(str(item["id"]), str(item["severity"]), message_id, now=now)
                sent.append(str(item["id"]))
    else:
        for item in plan.send:
            try:
                message_id = publisher.publish(item)
            except Exception as exc:  # noqa: BLE001 - stays pending; raised after the others were tried
                failed.append(str(item["id"]))
                errors.append(f"{type(exc).__name__}: {exc}")
                table.release_claim(str(item["id"]), token)
                continue
            table.mark_alerted(str(item["id"]), str(item["severity"]), message_id, now=now)
            sent.append(str(item["id"]))
    sent_set = set(sent)
    for resource_id in sorted({str(i["resource_id"]) for i in plan.send if str(i["id"]) in sent_set}):
        rank = max(severity_rank(str(i["severity"])) for i in plan.send if i["resource_id"] == resource_id)
        table.start_cooldown(resource_id, now, rank)
    return {
        "sent": sent,
        "held": [str(i["id"]) for i in plan.hold],
        "dropped": [str(i["id"]) for i in plan.drop],
        "failed": failed,
        "claimed_elsewhere": skipped,
        "errors": errors,
        "digest": plan.digest and bool(sent),
    }
