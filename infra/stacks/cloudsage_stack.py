"""CloudSageStack: composes the constructs; defines no resources itself."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.constructs.alerts import AlertsTopic
from infra.constructs.analysis_workflow import AnalysisWorkflow
from infra.constructs.functions import PipelineFunctions, retention
from infra.constructs.insights_api import InsightsApi
from infra.constructs.insights_store import InsightsStore
from infra.constructs.operations import Operations
from infra.constructs.schedule import InsightsSchedule
from infra.constructs.snapshot_bucket import SnapshotBucket
from infra.settings import SERVICE_NAME, InfraSettings


class CloudSageStack(Stack):
    """Insights table, snapshot bucket, alert topics, pipeline functions, the analysis workflow, its schedule,
    dashboard and alarms."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: InfraSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.store = InsightsStore(self, "InsightsStore")
        self.snapshots = SnapshotBucket(self, "Snapshots", retention_days=settings.snapshot_retention_days)
        self.alerts = AlertsTopic(self, "Alerts", alert_emails=settings.alert_emails, ops_emails=settings.ops_emails)
        self.functions = PipelineFunctions(
            self,
            "Functions",
            settings=settings,
            bucket=self.snapshots.bucket,
            table=self.store.table,
            topic=self.alerts.topic,
        )
        self.workflow = AnalysisWorkflow(
            self,
            "Workflow",
            plan=self.functions.plan,
            collect=self.functions.collect,
            models=self.functions.models,
            aggregate=self.functions.aggregate,
            publish=self.functions.publish,
            max_concurrency=settings.map_max_concurrency,
            log_retention=retention(settings.log_retention_days),
            logs_key=self.functions.logs_key,
        )
        self.api = InsightsApi(
            self,
            "Api",
            make_function=self.functions.make_function,
            table=self.store.table,
            logs_key=self.functions.logs_key,
            retention=retention(settings.log_retention_days),
        )
        # Alert emails link to the insight in the API ("where to see more").
        self.functions.publish.add_environment("INSIGHTS_URL", self.api.url)
        self.schedule = InsightsSchedule(
            self,
            "Schedule",
            state_machine=self.workflow.state_machine,
            expression=settings.schedule,
            discover_tags=settings.discover_tags,
            lookback_days=settings.lookback_days,
        )
        self.operations = Operations(
            self,
            "Operations",
            state_machine=self.workflow.state_machine,
            functions={**self.functions.by_name(), "Api": self.api.function},
            ops_topic=self.alerts.ops_topic,
            dead_letter_queue=self.schedule.dead_letter_queue,
        )
        CfnOutput(self, "ApiUrl", value=self.api.url, description="Insights API (IAM auth, SigV4)")
        CfnOutput(self, "StateMachineArn", value=self.workflow.state_machine.state_machine_arn)
        CfnOutput(self, "AlertTopicArn", value=self.alerts.topic.topic_arn)
        Tags.of(self).add("service", SERVICE_NAME)
