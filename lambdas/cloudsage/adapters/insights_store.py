"""InsightsTable: the DynamoDB store of insights (boto3 adapter).

Writes are conditional so re-running an analysis never duplicates: a new insight is put with
``attribute_not_exists(pk)``; an existing one is updated in place (``ongoing``), keeping its first-seen time.
Alert bookkeeping (``alerted_rank``) lets the publisher alert once per insight and again only on escalation.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from cloudsage.adapters.aws import client as aws_client
from cloudsage.core.results import Insight, severity_rank
from cloudsage.core.store_schema import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE

META = "META"


def _pk(insight_id: str) -> str:
    return f"INSIGHT#{insight_id}"


def to_dynamo(value: Any) -> Any:
    """Plain JSON value to the DynamoDB resource-style value (floats become ``Decimal(str(x))``)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    return value


class InsightsTable:
    """Insight records in one DynamoDB table.

    Parameters
    ----------
    table_name : str
    dynamodb_resource : optional
        Injected ``boto3.resource("dynamodb")``; created lazily otherwise.
    """

    def __init__(self, table_name: str, dynamodb_resource: Any | None = None) -> None:
        self.table_name = table_name
        self._resource = dynamodb_resource
        self._table: Any = None

    @property
    def table(self) -> Any:
        if self._table is None:
            if self._resource is None:
                import boto3

                low = aws_client("dynamodb")
                self._resource = boto3.resource(
                    "dynamodb", region_name=low.meta.region_name, endpoint_url=low.meta.endpoint_url
                )
            self._table = self._resource.Table(self.table_name)
        return self._table

    def upsert(self, insight: Insight, run_id: str, *, priority: float, now: float | None = None) -> str:
        """Store ``insight`` for ``run_id``; returns ``"new"``, ``"escalated"`` or ``"ongoing"``."""
        from botocore.exceptions import ClientError

        now = time.time() if now is None else now
        data = insight.to_dict()
        item = {
            PARTITION_KEY: _pk(insight.id),
            SORT_KEY: META,
            **{k: v for k, v in data.items() if k != "evidence"},
            "evidence_json": json.dumps(data["evidence"], sort_keys=True),
            "status": "open",
            "status_severity": f"open#{insight.severity}",
            "detected_at": data["detected_at_iso"],
            "severity_rank": severity_rank(insight.severity),
            "run_id": run_id,
            "first_seen_run": run_id,
            "first_seen_at": now,
            "last_seen_at": now,
            "seen_count": 1,
            "priority": priority,
            "alerted_rank": -1,
        }
        try:
            self.table.put_item(Item=to_dynamo(item), ConditionExpression="attribute_not_exists(pk)")
            return "new"
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        old = self.get(insight.id) or {}
        escalated = severity_rank(insight.severity) > int(old.get("severity_rank", -1))
        status = old.get("status", "open") if old.get("status") == "closed" else "ongoing"
        expr = (
            "SET #st = :st, status_severity = :ss, last_seen_at = :now, run_id = :run, priority = :prio, "
            "seen_count = if_not_exists(seen_count, :zero) + :one"
        )
        values: dict[str, Any] = {
            ":st": status,
            ":ss": f"{status}#{insight.severity if escalated else old.get('severity', insight.severity)}",
            ":now": now,
            ":run": run_id,
            ":prio": priority,
            ":zero": 0,
            ":one": 1,
        }
        if old.get("run_id") == run_id:  # same run re-delivered: nothing changes but bookkeeping
            expr = "SET last_seen_at = :now"
            values = {":now": now}
        elif escalated:
            expr += ", severity = :sev, severity_rank = :rank, title = :title, summary = :summary, confidence = :conf"
            values.update(
                {
                    ":sev": insight.severity,
                    ":rank": severity_rank(insight.severity),
                    ":title": insight.title,
                    ":summary": insight.summary,
                    ":conf": insight.confidence,
                }
            )
        names = {"#st": "status"} if "#st" in expr else None
        kwargs: dict[str, Any] = {
            "Key": {PARTITION_KEY: _pk(insight.id), SORT_KEY: META},
            "UpdateExpression": expr,
            "ExpressionAttributeValues": to_dynamo(values),
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        self.table.update_item(**kwargs)
        return "escalated" if escalated and old.get("run_id") != run_id else "ongoing"

    def get(self, insight_id: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={PARTITION_KEY: _pk(insight_id), SORT_KEY: META}).get("Item")
        return self._public(item) if item else None

    def needs_alert(self, insight_id: str, severity: str) -> bool:
        item = self.get(insight_id)
        return item is not None and int(item.get("alerted_rank", -1)) < severity_rank(severity)

    def mark_alerted(self, insight_id: str, severity: str, message_id: str, now: float | None = None) -> bool:
        """Record that ``severity`` was alerted; False when an equal or higher alert was already recorded."""
        from botocore.exceptions import ClientError

        try:
            self.table.update_item(
                Key={PARTITION_KEY: _pk(insight_id), SORT_KEY: META},
                UpdateExpression="SET alerted_rank = :rank, alerted_at = :now, alert_message_id = :mid",
                ConditionExpression="attribute_exists(pk) AND alerted_rank < :rank",
                ExpressionAttributeValues=to_dynamo(
                    {":rank": severity_rank(severity), ":now": time.time() if now is None else now, ":mid": message_id}
                ),
            )
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def by_run(self, run_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"IndexName": "by_run", "KeyConditionExpression": Key("run_id").eq(run_id)}
        while True:
            page = self.table.query(**kwargs)
            items.extend(self._public(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def scan_all(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {}
        while True:
            page = self.table.scan(**kwargs)
            items.extend(self._public(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _public(item: dict[str, Any]) -> dict[str, Any]:
        data = from_dynamo(item)
        data["evidence"] = json.loads(data.pop("evidence_json", "{}"))
        data.pop(TTL_ATTRIBUTE, None)
        return data
