"""InsightsSchedule: EventBridge Scheduler starts the analysis workflow, with retries and a dead-letter queue.

The run id is the tick's scheduled time (``<aws.scheduler.scheduled-time>``): a tick delivered twice is the
same run, whose insights and alerts are idempotent by id (see docs/architecture.md).
"""

from __future__ import annotations

import json

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


class InsightsSchedule(Construct):
    """``.schedule`` and its encrypted, SSL-only ``.dead_letter_queue``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        expression: str,
        discover_tags: tuple[tuple[str, tuple[str, ...]], ...],
        lookback_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        key = kms.Key(self, "DlqKey", enable_key_rotation=True, description="CloudSage scheduler DLQ")
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        payload = {
            "run_id": scheduler.ContextAttribute.scheduled_time,  # "<aws.scheduler.scheduled-time>"
            "discover": {"tags": {k: list(v) for k, v in discover_tags}},
            "lookback_days": lookback_days,
        }
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            schedule=scheduler.ScheduleExpression.expression(expression),
            description="CloudSage scheduled fleet analysis",
            time_window=scheduler.TimeWindow.flexible(Duration.minutes(15)),
            target=targets.StepFunctionsStartExecution(
                state_machine,
                input=scheduler.ScheduleTargetInput.from_text(json.dumps(payload)),
                dead_letter_queue=self.dead_letter_queue,
                retry_attempts=3,
                max_event_age=Duration.hours(1),
            ),
        )
