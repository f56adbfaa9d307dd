"""CloudSageStack: composes the constructs; defines no resources itself."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack, Tags
from constructs import Construct

from infra.constructs.alerts import AlertsTopic
from infra.constructs.analysis_workflow import AnalysisWorkflow
from infra.constructs.functions import PipelineFunctions
from infra.constructs.insights_store import InsightsStore
from infra.constructs.snapshot_bucket import SnapshotBucket
from infra.settings import SERVICE_NAME, InfraSettings


class CloudSageStack(Stack):
    """Insights table, snapshot bucket, alert topic, pipeline functions and the analysis workflow."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: InfraSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.store = InsightsStore(self, "InsightsStore")
        self.snapshots = SnapshotBucket(self, "Snapshots", retention_days=settings.snapshot_retention_days)
        self.alerts = AlertsTopic(self, "Alerts")
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
            collect=self.functions.collect,
            models=self.functions.models,
            aggregate=self.functions.aggregate,
            publish=self.functions.publish,
            max_concurrency=settings.map_max_concurrency,
        )
        Tags.of(self).add("service", SERVICE_NAME)
