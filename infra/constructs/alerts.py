"""AlertsTopic: the SNS topic insights are published to."""

from __future__ import annotations

from aws_cdk import aws_sns as sns
from constructs import Construct


class AlertsTopic(Construct):
    """SNS topic for insight alerts, SSL-only publishing."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(self, "Topic", display_name="CloudSage insights", enforce_ssl=True)
