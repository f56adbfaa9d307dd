"""Publish: alert over SNS on new or escalated insights at or above ``MIN_ALERT_SEVERITY``.

An insight is alerted once per severity level: the table records the alerted level only after SNS accepted
the message, so a failed publish is retried on the next run and a re-run never repeats an alert. When many
fire at once (more than ``DIGEST_THRESHOLD``), one digest goes out instead of a burst.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from cloudsage.adapters.alerts import AlertPublisher
from cloudsage.adapters.insights_store import InsightsTable
from cloudsage.adapters.snapshots import SnapshotStore
from cloudsage.core.results import severity_rank
from cloudsage.handlers._edge import parse
from cloudsage.handlers.contracts import PublishInput, PublishOutput
from cloudsage.handlers.observability import logger, metrics
from cloudsage.handlers.settings import PublishSettings, get_settings

DIGEST_THRESHOLD = 5


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings(PublishSettings)
    task = parse(PublishInput, event)
    summary = SnapshotStore(settings.BUCKET_NAME).get_json(task.summary_key)
    table = InsightsTable(settings.TABLE_NAME)
    floor = severity_rank(settings.MIN_ALERT_SEVERITY)
    candidates = [i for i in summary.get("insights", []) if severity_rank(i["severity"]) >= floor]
    due = [i for i in candidates if table.needs_alert(i["id"], i["severity"])]
    publisher = AlertPublisher(settings.TOPIC_ARN)
    if len(due) > DIGEST_THRESHOLD:
        message_id = publisher.publish_digest(due)
        for i in due:
            table.mark_alerted(i["id"], i["severity"], message_id)
    else:
        for i in due:
            table.mark_alerted(i["id"], i["severity"], publisher.publish(i))
    metrics.add_metric(name="AlertsPublished", unit=MetricUnit.Count, value=len(due))
    return PublishOutput(
        published=len(due), digest=len(due) > DIGEST_THRESHOLD, skipped_already_alerted=len(candidates) - len(due)
    ).model_dump(mode="json")
