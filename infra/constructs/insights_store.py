"""InsightsStore: the DynamoDB insights table, keyed from the shared schema."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from cloudsage.core.store_schema import TABLE_SCHEMA

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER}


def _attr(spec: dict[str, str]) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=spec["name"], type=_TYPES[spec["type"]])


class InsightsStore(Construct):
    """Insights table: on demand, customer-managed KMS key, point-in-time recovery, TTL, deletion protection,
    retained on stack deletion; keys and indexes from ``TABLE_SCHEMA``."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            description="CloudSage insights table",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_attr(TABLE_SCHEMA["partition_key"]),
            sort_key=_attr(TABLE_SCHEMA["sort_key"]),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=TABLE_SCHEMA["ttl_attribute"],
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for gsi in TABLE_SCHEMA["global_secondary_indexes"]:
            self.table.add_global_secondary_index(
                index_name=gsi["name"],
                partition_key=_attr(gsi["partition_key"]),
                sort_key=_attr(gsi["sort_key"]) if gsi.get("sort_key") else None,
            )
