"""AlertsTopic: the KMS-encrypted, SSL-only SNS topics for insight alerts and for operations alarms."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct


class AlertsTopic(Construct):
    """``.topic`` carries insight alerts (email subscriptions from context); ``.ops_topic`` carries alarms."""

    def __init__(
        self, scope: Construct, construct_id: str, *, alert_emails: tuple[str, ...], ops_emails: tuple[str, ...]
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            description="CloudSage SNS topics",
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch alarms publish to the encrypted operations topic: they need the key.
        self.key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
        self.topic = sns.Topic(self, "Topic", display_name="CloudSage insights", enforce_ssl=True, master_key=self.key)
        self.ops_topic = sns.Topic(
            self, "OpsTopic", display_name="CloudSage operations", enforce_ssl=True, master_key=self.key
        )
        for email in alert_emails:
            self.topic.add_subscription(subs.EmailSubscription(email))
        for email in ops_emails:
            self.ops_topic.add_subscription(subs.EmailSubscription(email))
